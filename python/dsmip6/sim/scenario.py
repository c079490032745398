"""N UEs through attach → handovers (IPv6, IPv4 behind NAT, IPv4 without NAT, home) →
detach against one HA, in one process on the virtual network (``dsmip6 sim``).

The scenario is parametrised by two factories so that it runs the real pieces (the CLI) or
test doubles (tests). HA CPU is measured per procedure with ``time.process_time`` around
every call into the HA — in the harness, never inside the machines.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from dsmip6.dataplane_iface import DataPlane
from dsmip6.errors import LocalProtocolError
from dsmip6.events import (
    AttachCompleted,
    DetachCompleted,
    HandoverCompleted,
    MobilePrefixAdvertised,
)
from dsmip6.ha import HomeAgent
from dsmip6.mn import MobileNode
from dsmip6.sim.net import Datagram, NatBox, VirtualClock, VirtualNetwork

__all__ = ["PhaseResult", "SimResult", "run_scenario", "PHASES", "NAT_PUBLIC"]

NAT_PUBLIC = "203.0.113.{}"
#: UEs behind one NAT box: each maps two endpoints (IKE on 4500, MIP on 4191) from port 40000,
#: so 10 000 UEs stay inside the 16-bit port space.
UES_PER_NAT = 10000
#: Attach arrivals per virtual second: 2000/s keeps the HA's half-open IKE SAs (about 40 ms
#: of virtual time each) below its COOKIE threshold.
ATTACH_RATE = 2000.0

#: (name, what the UE does, event that proves success)
PHASES: tuple[str, ...] = (
    "attach",
    "handover-v6",
    "handover-v4-nat",
    "handover-v4",
    "return-home",
    "leave-home-v6",
    "detach",
)


@dataclass
class PhaseResult:
    """Outcome of one procedure across all UEs."""

    name: str
    ues: int
    succeeded: int = 0
    ha_cpu_s: float = 0.0
    virtual_s: float = 0.0
    wall_s: float = 0.0
    refused: int = 0

    @property
    def ha_cpu_per_ue_us(self) -> float:
        return 1e6 * self.ha_cpu_s / self.ues if self.ues else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "procedure": self.name,
            "ues": self.ues,
            "succeeded": self.succeeded,
            "ha_cpu_s": round(self.ha_cpu_s, 6),
            "ha_cpu_per_ue_us": round(self.ha_cpu_per_ue_us, 2),
            "virtual_s": round(self.virtual_s, 3),
            "wall_s": round(self.wall_s, 3),
            "refused": self.refused,
        }


@dataclass
class SimResult:
    """Everything ``dsmip6 sim`` prints."""

    ues: int
    phases: list[PhaseResult] = field(default_factory=list)
    ha_counters: dict[str, int] = field(default_factory=dict)
    network: dict[str, int] = field(default_factory=dict)
    bindings_left: int = 0
    #: Mobile Prefix Advertisements the UEs accepted (RFC 6275 §11.4.3), and whether every
    #: UE had to get one (the HA answered BUs with status 1: ``prefix_discovery``).
    prefix_advertised: int = 0
    prefix_discovery: bool = False

    @property
    def ok(self) -> bool:
        if self.prefix_discovery and self.prefix_advertised != self.ues:
            return False
        return all(p.succeeded == p.ues for p in self.phases) and self.bindings_left == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ues": self.ues,
            "ok": self.ok,
            "procedures": [p.to_dict() for p in self.phases],
            "ha_counters": self.ha_counters,
            "network": self.network,
            "bindings_left": self.bindings_left,
            "prefix_advertised": self.prefix_advertised,
        }


_COA6 = int(IPv6Address("2001:db8:100::"))
_COA4 = int(IPv4Address("10.0.0.0"))
_COA4_PUBLIC = int(IPv4Address("100.64.0.0"))


def coa6(i: int, gen: int) -> IPv6Address:
    """UE ``i``'s IPv6 CoA on its ``gen``-th IPv6 access: 2001:db8:(100+gen)::(i+1)."""
    return IPv6Address(_COA6 + (gen << 80) + i + 1)


def coa4(i: int) -> IPv4Address:
    return IPv4Address(_COA4 + i + 1)


def coa4_public(i: int) -> IPv4Address:
    return IPv4Address(_COA4_PUBLIC + i + 1)


def run_scenario(
    n: int,
    *,
    make_ha: Callable[[DataPlane], HomeAgent],
    make_ue: Callable[[int], MobileNode],
    dataplane: DataPlane,
    ha_hosts: tuple[str, ...],
    apn: str = "internet",
    loss: float = 0.0,
    seed: int = 0,
    phase_timeout: float = 600.0,
    settle: float = 15.0,
    attach_rate: float = ATTACH_RATE,
    progress: Callable[[str], None] | None = None,
    trace: list[tuple[float, str, Datagram]] | None = None,
    prefix_discovery: bool = False,
) -> SimResult:
    """Run the scenario; every UE goes through every phase in lockstep.

    ``trace``, when given, receives every network event ``(time, what, (data, src, dst))``
    (``what`` is ``"deliver"``, ``"drop"`` or ``"unroutable"``): ``dsmip6 sim --pcap``
    turns the deliveries into a capture. ``prefix_discovery``: the HA was built to answer
    BUs with status 1 until prefix discovery (``HomeAgentConfig.prefix_discovery_required``),
    so every UE must accept one Mobile Prefix Advertisement for the run to be ok.
    """
    clock = VirtualClock()
    net = VirtualNetwork(clock, delay=0.005, loss=loss, seed=seed)
    net.trace = trace
    ha = make_ha(dataplane)
    net.timed = ha
    net.add_node(ha, *ha_hosts)
    nats: list[NatBox] = []
    for k in range((n + UES_PER_NAT - 1) // UES_PER_NAT):
        nats.append(net.add_nat(NatBox(NAT_PUBLIC.format(k + 1))))
    ues: list[MobileNode] = []
    hosts: list[tuple[str, ...]] = []
    for i in range(n):
        ue = make_ue(i)
        h = (str(coa6(i, 0)),)
        ue.set_access(coa6=coa6(i, 0))
        net.add_node(ue, *h)
        ues.append(ue)
        hosts.append(h)
        nats[i // UES_PER_NAT].inside.add(str(coa4(i)))
    result = SimResult(n, prefix_discovery=prefix_discovery)

    def relocate(i: int, new: tuple[str, ...]) -> None:
        net.set_hosts(ues[i], hosts[i], new)
        hosts[i] = new

    def act(phase: str, i: int, now: float) -> None:
        ue = ues[i]
        if phase == "attach":
            ue.attach(apn, now)
        elif phase == "handover-v6":
            relocate(i, (str(coa6(i, 1)),))
            ue.move(now, coa6=coa6(i, 1))
        elif phase == "handover-v4-nat":
            relocate(i, (str(coa4(i)),))
            ue.move(now, coa4=coa4(i))
        elif phase == "handover-v4":
            relocate(i, (str(coa4_public(i)),))
            ue.move(now, coa4=coa4_public(i))
        elif phase == "return-home":
            prefix = ue.home_prefix(apn)
            assert prefix is not None
            home = str(ue.home_address(apn))
            relocate(i, (home,))
            ue.move(now, home_prefixes=(prefix,))
        elif phase == "leave-home-v6":
            relocate(i, (str(coa6(i, 2)),))
            ue.move(now, coa6=coa6(i, 2))
        elif phase == "detach":
            ue.detach(apn, now)

    want: dict[str, type] = {
        "attach": AttachCompleted,
        "handover-v6": HandoverCompleted,
        "handover-v4-nat": HandoverCompleted,
        "handover-v4": HandoverCompleted,
        "return-home": HandoverCompleted,
        "leave-home-v6": AttachCompleted,
        "detach": DetachCompleted,
    }
    index = {id(ue): i for i, ue in enumerate(ues)}
    touched = net.touched

    def collect(ok: int, done: bytearray, wanted: type | tuple[type, ...]) -> int:
        """Count the success events of the UEs the network (or the harness) called since the
        last collection; the HA's events are drained (the harness does not need them)."""
        for key in touched:
            i = index.get(key)
            if i is None:
                continue
            ue = ues[i]
            while (ev := ue.next_event()) is not None:
                if not done[i] and isinstance(ev, wanted):
                    done[i] = 1
                    ok += 1
                elif type(ev) is MobilePrefixAdvertised and ev.outcome == "confirmed":
                    result.prefix_advertised += 1
        touched.clear()
        while ha.next_event() is not None:
            pass
        return ok

    gc_enabled = gc.isenabled()
    try:
        for phase in PHASES:
            # Harness housekeeping: long-lived UE/HA objects go to the permanent GC generation so
            # that collections do not rescan 10^5 sessions, and the cycle collector runs between
            # phases only (measured: no cyclic garbage worth collecting builds up within a phase;
            # the machines are unaffected).
            gc.enable()
            gc.collect()
            gc.freeze()
            gc.disable()
            pr = PhaseResult(phase, n)
            net.timed_cpu = 0.0
            start_v, start_w = clock.now, time.perf_counter()
            done = bytearray(n)
            ok = 0
            wanted: type | tuple[type, ...] = want[phase]
            if phase == "leave-home-v6":
                wanted = (AttachCompleted, HandoverCompleted)

            # Attach arrivals are spread at ``attach_rate`` per virtual second (the HA's IKEv2
            # front door drops IKE_SA_INITs beyond its half-open limit, RFC 7296 §2.6, as it
            # should under a flood); the other procedures start at the same instant for all.
            spread = phase == "attach" and attach_rate > 0
            for i in range(n):
                if spread:
                    at = start_v + i / attach_rate
                    if at > clock.now:
                        net.run_until(at)
                try:
                    act(phase, i, clock.now)
                except (LocalProtocolError, AssertionError):
                    pr.refused += 1  # this UE is not in a state for the procedure (earlier failure)
                touched.add(id(ues[i]))
                net.poll(ues[i])
            # Run in 1-s slices until every UE has reported success (or the phase times out),
            # then let in-flight signalling settle for a few seconds; the phase's HA CPU is what
            # the procedure cost, not the idle keepalive traffic of a fixed long window.
            ok = collect(ok, done, wanted)
            deadline = clock.now + phase_timeout
            while ok < n and clock.now < deadline:
                net.run_until(min(clock.now + 1.0, deadline))
                ok = collect(ok, done, wanted)
            if ok == n:
                net.run_until(clock.now + settle)
                collect(ok, done, wanted)
            pr.succeeded = ok
            pr.ha_cpu_s = net.timed_cpu
            pr.virtual_s = clock.now - start_v
            pr.wall_s = time.perf_counter() - start_w
            result.phases.append(pr)
            if progress is not None:
                progress(f"{phase}: {ok}/{n} ({pr.wall_s:.1f} s wall)")
    finally:
        gc.unfreeze()
        if gc_enabled:
            gc.enable()
    result.ha_counters = dict(ha.counters)
    result.network = dict(net.stats)
    result.bindings_left = sum(1 for _ in ha.bindings().values())
    return result
