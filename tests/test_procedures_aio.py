"""The asyncio adapter drives a UE and an HA over an in-memory 'socket' on a real loop."""

import asyncio

import pytest
from dsmip6._state import UeState
from dsmip6.aio import Driver
from dsmip6.events import AttachCompleted
from proc_harness import COA6, make_ha, make_ue


async def _attach_over_drivers(ue, ha, *, ha_trim=None, ue_trim=None) -> tuple[list, dict]:
    """Attach ``ue`` to ``ha``, each on its own Driver of the running loop, their datagrams
    handed over by ``call_soon``; returns the UE's events and the drivers (closed)."""
    seen: list = []
    drivers: dict = {}

    def deliver(to):
        def send(data, src, dst):
            asyncio.get_running_loop().call_soon(drivers[to].datagram_received, data, src, dst)

        return send

    drivers["ue"] = Driver(ue, deliver("ha"), on_event=seen.append, trim=ue_trim)
    drivers["ha"] = Driver(ha, deliver("ue"), trim=ha_trim)
    drivers["ue"].call(lambda now: ue.attach("internet", now))
    for _ in range(200):
        if any(isinstance(e, AttachCompleted) for e in seen):
            break
        await asyncio.sleep(0.001)
    for d in drivers.values():
        d.close()
    return seen, drivers


def test_driver_attaches_on_a_real_event_loop():
    async def main():
        ue, ha = make_ue(), make_ha()
        ue.set_access(coa6=COA6)
        seen, _ = await _attach_over_drivers(ue, ha)
        return ue, seen

    ue, seen = asyncio.run(main())
    assert ue.state("internet") is UeState.REGISTERED
    assert any(isinstance(e, AttachCompleted) for e in seen)


def test_driver_rearms_timer_for_retransmission():
    async def main():
        ue = make_ue()
        ue.set_access(coa6=COA6)
        sent = []
        d = Driver(ue, lambda data, src, dst: sent.append(dst))
        d.call(lambda now: ue.attach("internet", now))
        first = len(sent)
        # IKE double retransmits after 0.5 s when nothing answers.
        await asyncio.sleep(0.6)
        d.close()
        return first, len(sent)

    first, total = asyncio.run(main())
    assert first == 1 and total == 2


# ------------------------------------------------------------------ memory after a storm
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_release_free_memory_returns_freed_heap_pages_to_the_os():
    """glibc keeps freed heap memory (here 40 MB of 2000-octet objects, malloc'd by
    CPython) in the process; ``malloc_trim(0)`` gives the free pages back. The last object
    stays alive so that the heap's top cannot shrink by itself."""
    import sys

    from dsmip6 import aio

    assert sys.platform.startswith("linux") and aio._MALLOC_TRIM is not None  # glibc here
    aio.release_free_memory()
    blocks = [bytes(2000) + i.to_bytes(4, "big") for i in range(20_000)]
    keep = blocks[-1]
    held = _rss()
    del blocks
    before = _rss()
    assert aio.release_free_memory() is True
    after = _rss()
    assert held - before < 8 << 20  # free() alone left most of it resident
    assert before - after > 30 << 20  # malloc_trim returned it
    assert keep[-4:] == (19_999).to_bytes(4, "big")


def test_release_free_memory_is_a_no_op_without_malloc_trim(monkeypatch):
    from dsmip6 import aio

    monkeypatch.setattr(aio, "_MALLOC_TRIM", None)
    assert aio.release_free_memory() is False


def test_storm_trim_releases_once_the_storm_has_passed():
    from dsmip6.aio import StormTrim

    calls = []
    trim = StormTrim(high=100, low=10, interval=5.0, release=lambda: calls.append(1) or True)
    # a storm: in flight rises to 300, stays, falls back; one release at the fall
    seen = [trim.observe(n, t) for t, n in [(0, 50), (1, 300), (2, 250), (3, 40), (4, 10)]]
    assert seen == [False, False, False, False, True] and calls == [1]
    # nothing new in flight: no more releases
    assert not trim.observe(0, 20.0) and trim.releases == 1
    # a second wave within the interval: its fall waits for the interval's end
    assert not trim.observe(200, 6.0) and not trim.observe(5, 7.0)
    assert trim.observe(3, 9.5) and trim.releases == 2
    # a small rise (never reaching ``high``) is not a storm
    assert not trim.observe(60, 30.0) and not trim.observe(0, 31.0) and trim.releases == 2
    with pytest.raises(ValueError):
        StormTrim(high=5, low=5)


def test_driver_trims_after_the_ha_s_attaches_in_flight_fall_back():
    """The HA node counts its IKE SAs in flight; the Driver hands that count to its
    ``StormTrim`` after every transmit: one attach (high=1, low=0) rises to one SA in flight
    at IKE_SA_INIT and falls to none at the MSK AUTH: one release. A UE's driver has no
    count to watch. Real IKEv2/EAP-AKA on both sides (the simulation's world)."""
    from ipaddress import IPv6Address

    from dsmip6.aio import StormTrim
    from dsmip6.dataplane_iface import FakeDataPlane
    from dsmip6.sim.world import RealWorld

    released = []

    async def main():
        world = RealWorld(1)
        ha, ue = world.make_ha(FakeDataPlane()), world.make_ue(0)
        ue.set_access(coa6=IPv6Address("2001:db8:100::1"))
        trim = StormTrim(high=1, low=0, interval=0.0, release=lambda: released.append(1) or True)
        seen, drivers = await _attach_over_drivers(ue, ha, ha_trim=trim, ue_trim=StormTrim())
        assert drivers["ue"]._trim is None and drivers["ha"]._trim is trim
        return ha, seen

    ha, seen = asyncio.run(main())
    assert any(isinstance(e, AttachCompleted) for e in seen)
    assert ha.session_count() == 1 and ha.ike_sas_in_flight() == 0
    assert released == [1]
