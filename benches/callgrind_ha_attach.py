"""HA-side instruction count per attach, for valgrind's callgrind (deterministic, load-free).

Each call into the HA (``receive_datagram``, ``datagrams_to_send``) of the measured attaches is
bracketed by ``zlib.crc32`` calls, and callgrind dumps its counters before every call of
zlib's C ``crc32`` (the libz symbol: Debian's static, stripped python3.11 has no
``zlib_crc32`` symbol to match), so each HA call lands in a dump of its own::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-before=crc32 \\
        --callgrind-out-file=/tmp/cg.out .venv/bin/python benches/callgrind_ha_attach.py run 3 6
    .venv/bin/python benches/callgrind_ha_attach.py sum /tmp/cg.out 6

``run WARM N`` attaches WARM UEs unmeasured, then N measured (the benchmark's world: RealWorld,
RustDataPlane, events drained) and writes the call labels next to the dumps; ``sum PREFIX N``
prints the HA instructions per attach and per message position.
"""

from __future__ import annotations

import glob
import sys
import zlib
from ipaddress import IPv6Address


def run(warm: int, n: int, labels_path: str) -> None:
    from dsmip6.dataplane import RustDataPlane
    from dsmip6.sim import VirtualClock
    from dsmip6.sim.world import RealWorld

    coa = IPv6Address("2001:db8:100::")
    world = RealWorld(warm + n)
    ha = world.make_ha(RustDataPlane())
    clock = VirtualClock()
    labels: list[str] = []

    def drive(ue, mark: bool) -> None:
        for _ in range(30):
            moved = 0
            for d, s, t in ue.datagrams_to_send(clock.now):
                if mark:
                    zlib.crc32(b"a")
                    labels.append(f"rx:{t[1]}:{len(d)}")
                ha.receive_datagram(d, s, t, clock.now)
                if mark:
                    zlib.crc32(b"b")
                moved += 1
            if mark:
                zlib.crc32(b"a")
                labels.append("tx")
            out = ha.datagrams_to_send(clock.now)
            if mark:
                zlib.crc32(b"b")
            for d, s, t in out:
                ue.receive_datagram(d, s, t, clock.now)
                moved += 1
            while ha.next_event() is not None:
                pass
            if not moved:
                return
        raise AssertionError("did not settle")

    ues = []
    for i in range(warm + n):
        ue = world.make_ue(i)
        ue.set_access(coa6=coa + i + 1)
        ues.append(ue)
    for ue in ues[:warm]:
        ue.attach("internet", clock.now)
        drive(ue, False)
    zlib.crc32(b"start")
    for ue in ues[warm:]:
        ue.attach("internet", clock.now)
        drive(ue, True)
    zlib.crc32(b"end")
    assert ha.session_count() == warm + n and len(ha.bindings()) == warm + n
    with open(labels_path, "w") as f:
        f.write("\n".join(labels))


def summarise(prefix: str, n: int, labels_path: str) -> None:
    labels = open(labels_path).read().split("\n")
    dumps = [p for p in glob.glob(prefix + ".*") if p.rsplit(".", 1)[1].isdigit()]
    dumps.sort(key=lambda p: int(p.rsplit(".", 1)[1]))
    totals = []
    for path in dumps:
        with open(path) as f:
            totals.append(next(int(x.split()[1]) for x in f if x.startswith("totals:")))
    # dump 0: up to 'start'; then per HA call one dump of UE work, one of the HA call
    ha = totals[2::2][: len(labels)]
    per_attach = len(labels) // n
    medians = []
    print(f"HA instructions per attach: {sum(ha) / n / 1e6:.3f} M ({n} attaches)")
    for i in range(per_attach):
        vals = sorted(ha[k * per_attach + i] for k in range(n))
        med = (vals[(n - 1) // 2] + vals[n // 2]) / 2
        medians.append(med)
        print(f"  {i:2d} {labels[i]:>14} {sum(vals) / n / 1e3:9.1f} k   median {med / 1e3:9.1f} k")
    # A cyclic-GC collection landing in one HA call of the window adds ~0.3 M to that call
    # (and ~0.05 M to the mean of 6): the sum of the per-message medians does not see it.
    print(f"sum of the per-message medians: {sum(medians) / 1e6:.3f} M")


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "labels.txt")
    else:
        summarise(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "labels.txt")
