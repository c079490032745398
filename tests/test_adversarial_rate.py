"""Per-UE rate limiting at the HA (issue 5: an HA keeps serving every other UE): one UE's
flood of BUs under its own SA, or of IKE requests on its own IKE SA, is cut before the
decryption by a token bucket on the injected clock, counted, and the other UEs' refreshes
are still answered."""

from __future__ import annotations

import pytest
from dsmip6._mh import Bu, Route
from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.errors import ConfigError
from dsmip6.events import BindingAccepted
from dsmip6.sim import VirtualClock
from dsmip6.sim.world import RealWorld
from proc_harness import (
    COA6,
    COA6B,
    HA6,
    attach,
    events,
    ha_config,
    make_ue,
    roundtrip_until_done,
    ue_and_ha,
)

TICK = 1 / 16  # exact in binary: one token per tick at 16/s


def _three(p):
    ues = [p.ue] + [make_ue(identity=f"ue{i}@nai.epc") for i in (2, 3)]
    for ue in ues[1:]:
        ue.set_access(coa6=COA6)
    attach(p)
    for ue in ues[1:]:
        ue.attach("internet", p.clock.now)
        roundtrip_until_done(ue, p.ha, p.clock)
    for ue in ues:
        events(ue)
    return ues


def test_bu_flood_from_one_ue_is_cut_before_decryption_and_others_are_served():
    with ue_and_ha(ha_kw=dict(ue_rate_limit=16.0, ue_rate_burst=40)) as p:
        a, b, c = _three(p)
        pdn = a._pdn("internet")
        hoa = pdn.hoa
        # Count the HA's decryptions under A's SA (the expensive work the budget protects).
        sa = p.ha._by_spi[pdn.sa_out.spi].sa_in
        calls = {"n": 0}
        real = sa.unprotect

        def counting(packet):
            calls["n"] += 1
            return real(packet)

        sa.unprotect = counting
        route = Route((str(COA6), 0), (str(HA6), 0), COA6, HA6, hao=hoa)
        t0 = p.clock.now = float(int(p.clock.now) + 10)  # past the attach bursts
        flood = 0
        answered = {"b": 0, "c": 0}
        for tick in range(20):
            p.clock.now = t0 + tick * TICK
            for k in range(10):
                # Valid (fresh sequence) and invalid (stale sequence) BUs alike.
                seq = (pdn.seq + 1 + flood) & 0xFFFF if k % 2 else 1
                data = a.signalling.encode(Bu(seq, 100), route, pdn.sa_out)
                p.ha.receive_datagram(data, route.src, route.dst, p.clock.now)
                flood += 1
            if tick in (7, 15):  # B and C refresh in the middle of the flood
                for name, ue in (("b", b), ("c", c)):
                    ue.move(p.clock.now, coa6=COA6B if tick == 7 else COA6)
                    roundtrip_until_done(ue, p.ha, p.clock)
                    acc = [e for e in events(ue) if isinstance(e, BindingAccepted)]
                    assert [e.status for e in acc] == [0]
                    answered[name] += 1
        assert answered == {"b": 2, "c": 2}
        # Bucket of A: 40 deep, +1 per tick: 10+10+10+10+4 in ticks 0-4, then 1 per tick.
        admitted = 10 + 10 + 10 + 10 + 4 + 15
        assert calls["n"] == admitted
        assert p.ha.counters["esp-RateLimited"] == 200 - admitted
        # Nothing of B's or C's was dropped.
        assert p.ha.bindings()[b.home_address("internet")].name == "ACTIVE"


def test_rate_state_is_a_fixed_table_not_per_ue():
    with ue_and_ha(ha_kw=dict(ue_rate_limit=16.0, ue_rate_burst=40)) as p:
        table = p.ha._rates  # mhfast.RateTable: (tokens, last refill) per slot
        before = [len(table), len(table.tokens()), len(table.last())]
        _three(p)
        assert [len(table), len(table.tokens()), len(table.last())] == before == [65536] * 3
        assert p.ha._rates is table
        assert min(table.tokens()) < 40.0  # the attaches spent tokens of this very table
    with ue_and_ha(ha_kw=dict(ue_rate_limit=None)) as p:
        assert len(p.ha._rates) == 0 == len(p.ha._rates.tokens()) == len(p.ha._rates.last())


def test_a_key_sharing_one_slot_with_a_flooder_is_still_admitted():
    with ue_and_ha(ha_kw=dict(ue_rate_limit=16.0, ue_rate_burst=4)) as p:
        ha = p.ha
        flooder, victim = 0x00000001, 0x00AB0001  # same low 16 bits: same first slot
        assert all(ha._admit(flooder, 1.0) for _ in range(4))
        assert not ha._admit(flooder, 1.0)
        assert all(ha._admit(victim, 1.0) for _ in range(4))  # its second slot is its own
        assert not ha._admit(victim, 1.0)
        # Refill: 16 per second -> one token after 1/16 s, for each.
        assert ha._admit(flooder, 1.0 + TICK) and not ha._admit(flooder, 1.0 + TICK)


def test_rate_limit_config_is_validated():
    bads = [dict(ue_rate_limit=v) for v in (0.0, -1.0, float("nan"), float("inf"))]
    bads += [dict(ue_rate_burst=v) for v in (0, 2.5, True)]
    bads += [dict(ue_rate_slots=v) for v in (0, 32, 100, 1 << 17, 4096.0, True)]
    for bad in bads:
        with pytest.raises(ConfigError):
            ha_config(**bad)
    # None disables it: a flood is then decrypted in full (the previous behaviour).
    with ue_and_ha(ha_kw=dict(ue_rate_limit=None)) as p:
        attach(p)
        pdn = p.ue._pdn("internet")
        route = Route((str(COA6), 0), (str(HA6), 0), COA6, HA6, hao=pdn.hoa)
        for _ in range(100):
            data = p.ue.signalling.encode(Bu(1, 100), route, pdn.sa_out)
            p.ha.receive_datagram(data, route.src, route.dst, p.clock.now)
        assert "esp-RateLimited" not in p.ha.counters
        assert p.ha.counters["ba-135"] == 100


def test_ike_request_flood_on_one_sa_is_cut_before_the_engine():
    world = RealWorld(4, ha_kw=dict(ue_rate_limit=16.0, ue_rate_burst=40))
    ha = world.make_ha(FakeDataPlane())
    clock = VirtualClock()
    ues = []
    for i in (1, 2):
        ue = world.make_ue(i)
        ue.set_access(coa6=COA6 if i == 1 else COA6B)
        ue.attach("internet", clock.now)
        roundtrip_until_done(ue, ha, clock)
        ues.append(ue)
    a, b = ues
    clock.now += 10.0
    # A asks for a child SA: capture that IKE request and flood the HA with copies.
    pa = a._pdn("internet")
    tsi, tsr = a.mpd_selectors(pa.hoa, pa.ha6)
    pa.ike.create_child_sa(tsi, tsr, mode="transport", now=clock.now)
    ((req, src, dst),) = [d for d in a.datagrams_to_send(clock.now) if d[2][1] in (500, 4500)]
    seen = {"n": 0}
    real = ha.ike.receive_datagram

    def counting(data, s, d, now):
        if data == req:
            seen["n"] += 1
        return real(data, s, d, now)

    ha.ike.receive_datagram = counting
    for _ in range(100):
        ha.receive_datagram(req, src, dst, clock.now)
    assert seen["n"] == 40 and ha.counters["ike-rate-limited"] == 60
    ha.datagrams_to_send(clock.now)
    # B's IKE request on its own SA, meanwhile, is processed and answered.
    pb = b._pdn("internet")
    tsi, tsr = b.mpd_selectors(pb.hoa, pb.ha6)
    pb.ike.create_child_sa(tsi, tsr, mode="transport", now=clock.now)
    roundtrip_until_done(b, ha, clock)
    assert ha.counters["mpd-sa-up"] == 2  # A's (its first request) and B's
    assert ha.counters["ike-rate-limited"] == 60
