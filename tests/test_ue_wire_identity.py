"""The UE's datagrams across a seeded run of attaches (IPv6 and IPv4 CoA, two PDNs), a
handover, a NAT'd IPv4 handover and a detach are byte-for-byte those recorded on main before
the UE's attach path was made leaner (session 11): every fast path on the UE side must keep
the bytes on the wire. The HA's own datagrams are not compared (its ECDSA signature is
randomised); the UE's do not depend on them beyond what the exchange fixes.

Regenerate (only for a deliberate change on the wire) with
``PYTHONPATH=python python tests/test_ue_wire_identity.py --record``."""

from __future__ import annotations

import hashlib
import json
import sys
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.events import AttachCompleted, DetachCompleted, HandoverCompleted
from dsmip6.sim import VirtualClock
from dsmip6.sim.world import RealWorld

FIXTURE = Path(__file__).parent / "data" / "ue_wire_run.json"
COA = IPv6Address("2001:db8:100::")
COA4 = IPv4Address("192.0.2.10")


def _exchange(ue, ha, clock, log, tag) -> None:
    """Exchange until quiet, logging every UE datagram."""
    for _ in range(40):
        moved = 0
        for d, s, t in ue.datagrams_to_send(clock.now):
            log.append([tag, d.hex(), str(s[0]), s[1], str(t[0]), t[1]])
            ha.receive_datagram(d, s, t, clock.now)
            moved += 1
        for d, s, t in ha.datagrams_to_send(clock.now):
            ue.receive_datagram(d, s, t, clock.now)
            moved += 1
        while ha.next_event() is not None:
            pass
        if not moved:
            return
    raise AssertionError("did not settle")


def _events(ue) -> list[str]:
    out = []
    while (e := ue.next_event()) is not None:
        out.append(type(e).__name__)
    return out


def run() -> dict[str, list]:
    world = RealWorld(8, apns=("internet", "ims"))
    ha = world.make_ha(FakeDataPlane())
    clock = VirtualClock()
    log: list[list] = []
    ues = []
    for i in range(5):
        ue = world.make_ue(i)
        if i == 4:
            ue.set_access(coa4=COA4)
        else:
            ue.set_access(coa6=COA + i + 1)
        ues.append(ue)
        ue.attach("internet", clock.now)
        _exchange(ue, ha, clock, log, f"attach{i}")
        assert ue.home_address("internet") is not None
    ues[1].attach("ims", clock.now)  # a second PDN connection: a second IKE SA
    _exchange(ues[1], ha, clock, log, "attach1-ims")
    clock.now += 5.0
    ues[0].move(clock.now, coa6=COA + 100)
    _exchange(ues[0], ha, clock, log, "handover0")
    ues[2].move(clock.now, coa4=COA4)  # to an IPv4 CoA
    _exchange(ues[2], ha, clock, log, "handover2-v4")
    ues[3].detach("internet", clock.now)
    _exchange(ues[3], ha, clock, log, "detach3")
    events = {f"ue{i}": _events(ue) for i, ue in enumerate(ues)}
    homes = {
        f"ue{i}": [str(ue.home_address(apn)) for apn in ("internet", "ims")]
        for i, ue in enumerate(ues)
    }
    return {"datagrams": log, "events": events, "homes": homes}


def test_ue_datagrams_match_recording() -> None:
    got = run()
    want = json.loads(FIXTURE.read_text())
    assert got["events"] == want["events"]
    assert got["homes"] == want["homes"]
    assert len(got["datagrams"]) == len(want["datagrams"])
    for g, w in zip(got["datagrams"], want["datagrams"], strict=True):
        assert g == w, f"{g[0]}: UE datagram differs from the recording"
    # the run covers what it claims to cover
    seen = {e for es in got["events"].values() for e in es}
    assert {c.__name__ for c in (AttachCompleted, HandoverCompleted, DetachCompleted)} <= seen


if __name__ == "__main__" and "--record" in sys.argv:
    data = run()
    FIXTURE.write_text(json.dumps(data, indent=0) + "\n")
    digest = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()[:16]
    print(f"recorded {len(data['datagrams'])} UE datagrams to {FIXTURE} ({digest})")
