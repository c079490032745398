"""Simulation throughput (issue #5, ``dsmip6 sim``): N UEs through attach → handovers (IPv6,
IPv4 behind NAT, IPv4, home) → detach against one HA, everything real (IKEv2/EAP-AKA, wire
codec, ESP, Rust data plane), on the virtual network.

Figure: UEs per second of wall time for the whole scenario, and process CPU per UE.
Baseline (same run): the HA's own CPU per UE over all procedures, as the scenario prints it;
the ratio says how much of the run is the HA (the rest: the N UEs' IKEv2 initiators and
procedures, and the harness). A second, smaller run in the same process checks that the cost
per UE does not grow with N (no super-linear term).
"""

from __future__ import annotations

import time

from dsmip6.dataplane import RustDataPlane
from dsmip6.sim.scenario import run_scenario
from dsmip6.sim.world import HA4, HA6, RealWorld

N_SMALL = 250
N_LARGE = 1000


def run(n: int) -> tuple[float, float, float]:
    """(wall s, process CPU s, HA CPU s) of one complete scenario of ``n`` UEs."""
    world = RealWorld(n)
    w0, c0 = time.perf_counter(), time.process_time()
    res = run_scenario(
        n,
        make_ha=world.make_ha,
        make_ue=world.make_ue,
        dataplane=RustDataPlane(),
        ha_hosts=(str(HA6), str(HA4)),
    )
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    assert res.ok and all(p.succeeded == n for p in res.phases), res.to_dict()
    return wall, cpu, sum(p.ha_cpu_s for p in res.phases)


def test_bench_sim_throughput(benchmark):
    small = run(N_SMALL)
    out: list[tuple[float, float, float]] = []
    benchmark.pedantic(lambda: out.append(run(N_LARGE)), rounds=1, iterations=1)
    wall, cpu, ha = out[0]
    per_small, per_large = small[1] / N_SMALL, cpu / N_LARGE
    benchmark.extra_info.update(
        ues=N_LARGE,
        ues_per_wall_s=N_LARGE / wall,
        cpu_per_ue_s=per_large,
        ha_cpu_per_ue_s=ha / N_LARGE,
        cpu_per_ue_small_s=per_small,
    )
    print(
        f"\nsim, {N_LARGE} UEs, whole scenario: {N_LARGE / wall:.1f} UEs/s wall"
        f" ({wall / N_LARGE * 1e3:.2f} ms wall, {per_large * 1e3:.2f} ms CPU per UE)"
        f"  (baseline HA CPU per UE, all procedures: {ha / N_LARGE * 1e3:.2f} ms;"
        f" process/HA {cpu / ha:.2f}x); CPU per UE at {N_SMALL} UEs:"
        f" {per_small * 1e3:.2f} ms (large/small {per_large / per_small:.2f}x)"
    )
