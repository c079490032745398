"""Adversarial inputs at the HA and the UE: refused with the right status or dropped,
counted, and nothing changes for any other UE (issue #5 "Proof")."""

import copy
from ipaddress import IPv4Address

from dsmip6 import _mh
from dsmip6._state import BceState, UeState
from dsmip6.events import BindingUpdateRejected
from proc_harness import (
    COA6,
    COA6B,
    HA6,
    attach,
    capture,
    events,
    make_ue,
    peek,
    roundtrip_until_done,
    transfer,
    ue_and_ha,
)


def two_ues(p):
    """UE A (the pair's) and UE B, both registered with the same HA."""
    attach(p)
    b = make_ue("ue2@nai.epc")
    b.set_access(coa6=COA6B)
    b.attach("internet", p.clock.now)
    roundtrip_until_done(b, p.ha, p.clock)
    assert b.state("internet") is UeState.REGISTERED
    events(p.ha)
    return b


def snapshot(p):
    return copy.deepcopy(p.dp.bindings), p.ha.bindings()


def forge_bu(ue, apn, *, hoa, bu, coa=COA6B, ha=HA6):
    """A BU protected with ``ue``'s own SA but naming ``hoa``."""
    pdn = ue._pdns[apn]
    route = _mh.Route((str(coa), 0), (str(ha), 0), coa, ha, hao=hoa)
    return ue.signalling.encode(bu, route, pdn.sa_out), route.src, route.dst


def test_ue_binding_another_ues_hoa_gets_132_and_changes_nothing():
    with ue_and_ha() as p:
        b = two_ues(p)
        victim = p.ue.home_address("internet")
        before = snapshot(p)
        data, src, dst = forge_bu(b, "internet", hoa=victim, bu=_mh.Bu(60000, 900, alt_coa=COA6B))
        p.ha.receive_datagram(data, src, dst, p.clock.now)
        assert snapshot(p) == before
        (ba_pkt,) = capture(p.ha, p.clock)
        rx = peek(p.ha, *ba_pkt, b)
        assert isinstance(rx.message, _mh.Ba) and rx.message.status == 132
        rej = [e for e in events(p.ha) if isinstance(e, BindingUpdateRejected)]
        assert rej == [BindingUpdateRejected(victim, 132, "ue2@nai.epc")]
        assert p.ha.counters["ba-132"] == 1


def test_ue_claiming_another_ues_ipv4_hoa_gets_ack_130():
    with ue_and_ha() as p:
        b = two_ues(p)
        victim4 = p.ue.ipv4_home_address("internet")
        hoa_b = b.home_address("internet")
        before_a = p.dp.bindings[p.ue.home_address("internet")]
        bu = _mh.Bu(b.sequence("internet") + 1, 900, alt_coa=COA6B,
                    ipv4_hoa=_mh.Ipv4HoaOpt(victim4))  # fmt: skip
        data, src, dst = forge_bu(b, "internet", hoa=hoa_b, bu=bu)
        p.ha.receive_datagram(data, src, dst, p.clock.now)
        (ba_pkt,) = capture(p.ha, p.clock)
        ba = peek(p.ha, *ba_pkt, b).message
        assert ba.status == 0 and ba.ipv4_ack.status == 130  # RFC 5555 §3.2.1
        assert p.dp.bindings[hoa_b].ipv4_home_address is None
        assert p.dp.bindings[p.ue.home_address("internet")] == before_a
        assert p.ha.ipv4_pool.owner(victim4) == ("ue1@nai.epc", "internet")
        assert p.ha.counters["ipv4-hoa-not-owned"] == 1


def test_non_unicast_ipv4_hoa_gets_131():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        bu = _mh.Bu(p.ue.sequence("internet") + 1, 900, alt_coa=COA6,
                    ipv4_hoa=_mh.Ipv4HoaOpt(IPv4Address("224.0.0.1")))  # fmt: skip
        p.ha.receive_datagram(*forge_bu(p.ue, "internet", hoa=hoa, bu=bu, coa=COA6), p.clock.now)
        (ba_pkt,) = capture(p.ha, p.clock)
        assert peek(p.ha, *ba_pkt, p.ue).message.ipv4_ack.status == 131


def test_replayed_bu_is_dropped_by_esp_and_old_sequence_gets_135():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        p.ue.move(p.clock.now, coa6=COA6B)
        (bu_pkt,) = capture(p.ue, p.clock)
        p.ha.receive_datagram(*bu_pkt, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        before = snapshot(p)
        # Exact replay: the ESP anti-replay window refuses it (RFC 4303 §3.4.3).
        p.ha.receive_datagram(*bu_pkt, p.clock.now)
        assert p.ha.counters["esp-ReplayedPacket"] == 1
        # A freshly protected BU with an old sequence number: BA 135 with the last one.
        old = _mh.Bu(p.ha.binding(hoa).seq - 1, 900, alt_coa=COA6)
        p.ha.receive_datagram(*forge_bu(p.ue, "internet", hoa=hoa, bu=old, coa=COA6), p.clock.now)
        (ba_pkt,) = capture(p.ha, p.clock)
        ba = peek(p.ha, *ba_pkt, p.ue).message
        assert ba.status == 135 and ba.sequence == p.ha.binding(hoa).seq
        assert snapshot(p) == before


def test_unprotected_bu_dropped_and_counted():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        before = snapshot(p)
        route = _mh.Route((str(COA6B), 0), (str(HA6), 0), COA6B, HA6, hao=hoa)
        data = p.ue.signalling.encode(_mh.Bu(50000, 900, alt_coa=COA6B), route, None)
        p.ha.receive_datagram(data, route.src, route.dst, p.clock.now)
        assert p.ha.counters["unprotected"] == 1
        assert capture(p.ha, p.clock) == [] and snapshot(p) == before


def test_unknown_spi_and_garbage_dropped():
    with ue_and_ha() as p:
        attach(p)
        before = snapshot(p)
        counted = dict(p.ha.counters)
        for junk in (b"", b"\x00", b"\x6e" + b"\xff" * 40, b"\x60" * 7):
            p.ha.receive_datagram(junk, (str(COA6B), 0), (str(HA6), 0), p.clock.now)
        p.ha.receive_datagram(b"\x60\x00", (str(COA6B), 0), (str(HA6), 1234), p.clock.now)
        assert snapshot(p) == before and capture(p.ha, p.clock) == []
        delta = {k: v - counted.get(k, 0) for k, v in p.ha.counters.items()}
        assert {k: v for k, v in delta.items() if v} == {
            "malformed": 3,
            "esp-UnknownSpi": 1,
            "wrong-port": 1,
        }


def test_bu_with_h_clear_is_dropped():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        bu = _mh.Bu(p.ue.sequence("internet") + 1, 900, h=False, alt_coa=COA6)
        p.ha.receive_datagram(*forge_bu(p.ue, "internet", hoa=hoa, bu=bu, coa=COA6), p.clock.now)
        assert p.ha.counters["h-clear"] == 1 and capture(p.ha, p.clock) == []


def test_deregistration_without_binding_gets_133():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        p.ue.move(p.clock.now, home_prefixes=(p.dp.bindings[hoa].home_prefix,))
        roundtrip_until_done(p.ue, p.ha, p.clock)
        p.clock.now += 11.0
        p.ha.handle_timer(p.clock.now)  # tombstone gone
        bu = _mh.Bu(p.ue.sequence("internet") + 1, 0, alt_coa=COA6)
        p.ha.receive_datagram(*forge_bu(p.ue, "internet", hoa=hoa, bu=bu, coa=COA6), p.clock.now)
        (ba_pkt,) = capture(p.ha, p.clock)
        assert peek(p.ha, *ba_pkt, p.ue).message.status == 133


def test_invalid_care_of_address_gets_174():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        from ipaddress import IPv6Address

        bu = _mh.Bu(p.ue.sequence("internet") + 1, 900, alt_coa=IPv6Address("ff02::1"))
        p.ha.receive_datagram(*forge_bu(p.ue, "internet", hoa=hoa, bu=bu, coa=COA6), p.clock.now)
        (ba_pkt,) = capture(p.ha, p.clock)
        assert peek(p.ha, *ba_pkt, p.ue).message.status == 174
        assert p.dp.bindings[hoa].care_of_address == COA6


def test_policy_statuses_131_140_144():
    with ue_and_ha(ha_kw={"home_registration": False}) as p:
        attach(p)
        assert p.ha.counters["ba-131"] == 1
        assert p.ue.state("internet") is UeState.FAILED
    with ue_and_ha(ha_kw={"mobile_router": False}) as p:
        attach(p)
        assert p.ha.counters["ba-140"] == 1
    v4 = IPv4Address("192.0.2.9")
    with ue_and_ha(ha_kw={"allow_forced_udp": False}, coa6=None, coa4=v4) as p:
        p.ue.attach("internet", p.clock.now)
        p.ue._pdns["internet"].force_udp = True  # e.g. after persistent IP-in-IP losses
        roundtrip_until_done(p.ue, p.ha, p.clock)
        # 144 -> the UE retries without F (procedures.md §9.1) and gets registered.
        assert p.ha.counters["ba-144"] == 1
        assert p.ue.state("internet") is UeState.REGISTERED


def test_bri_for_unknown_binding_dropped_at_ue():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        pdn = p.ue._pdns["internet"]
        session = p.ha._by_spi[pdn.sa_out.spi]
        # A BRI for another HoA, on the right SA: silently dropped (RFC 5846 §6.2 step 2).
        other = hoa + 1
        route = _mh.Route((str(HA6), 0), (str(COA6), 0), HA6, COA6, rh2=other)
        data = p.ha.signalling.encode(_mh.Bri(1, 77), route, session.sa_out)
        p.ue.receive_datagram(data, route.src, route.dst, p.clock.now)
        assert p.ue.counters["bri-unknown-binding"] == 1
        assert capture(p.ue, p.clock) == [] and p.ue.state("internet") is UeState.REGISTERED


def test_bri_with_p_flag_answered_135_and_binding_kept():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
        route = _mh.Route((str(HA6), 0), (str(COA6), 0), HA6, COA6, rh2=hoa)
        p.ue.receive_datagram(
            p.ha.signalling.encode(_mh.Bri(1, 5, p=True), route, session.sa_out),
            route.src, route.dst, p.clock.now,
        )  # fmt: skip
        (bra_pkt,) = capture(p.ue, p.clock)
        assert peek(p.ue, *bra_pkt, p.ha).message == _mh.Bra(135, 5)
        assert p.ue.state("internet") is UeState.REGISTERED


def test_has_from_something_that_is_not_the_ha_dropped():
    with ue_and_ha() as p:
        b = two_ues(p)
        hoa = p.ue.home_address("internet")
        # UE B cannot produce anything on A's SA: its packet names A's HoA but only has B's
        # keys -> unknown SPI at A.
        route = _mh.Route((str(COA6B), 0), (str(COA6), 0), HA6, COA6, rh2=hoa)
        fake = b.signalling.encode(_mh.Has((COA6B,)), route, b._pdns["internet"].sa_out)
        p.ue.receive_datagram(fake, route.src, route.dst, p.clock.now)
        # Unprotected HAS: dropped too.
        plain = b.signalling.encode(_mh.Has((COA6B,)), route, None)
        p.ue.receive_datagram(plain, route.src, route.dst, p.clock.now)
        assert p.ue.counters["esp-UnknownSpi"] == 1 and p.ue.counters["unprotected"] == 1
        # Protected by the right SA but not from the HA address: dropped (RFC 5142 §6).
        session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
        route2 = _mh.Route((str(COA6B), 0), (str(COA6), 0), COA6B, COA6, rh2=hoa)
        p.ue.receive_datagram(
            p.ha.signalling.encode(_mh.Has((COA6B,)), route2, session.sa_out),
            route2.src, route2.dst, p.clock.now,
        )  # fmt: skip
        assert p.ue.counters["has-not-from-ha"] == 1
        assert p.ue.state("internet") is UeState.REGISTERED and capture(p.ue, p.clock) == []
        assert p.ha.bindings()[hoa] is BceState.ACTIVE


def test_unknown_mh_type_answered_with_binding_error_2():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        data, src, dst = forge_bu(p.ue, "internet", hoa=hoa, bu=_mh.UnknownMh(99), coa=COA6)
        p.ha.receive_datagram(data, src, dst, p.clock.now)
        (be_pkt,) = capture(p.ha, p.clock)
        assert peek(p.ha, *be_pkt, p.ue).message == _mh.Be(2, hoa)


def test_ue_ignores_ba_with_unmatched_sequence():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        p.ue.move(p.clock.now, coa6=COA6B)
        capture(p.ue, p.clock)
        session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
        route = _mh.Route((str(HA6), 0), (str(COA6B), 0), HA6, COA6B, rh2=hoa)
        bogus = _mh.Ba(0, (p.ue.sequence("internet") + 7) & 0xFFFF, 900)
        p.ue.receive_datagram(p.ha.signalling.encode(bogus, route, session.sa_out),
                              route.src, route.dst, p.clock.now)  # fmt: skip
        assert p.ue.counters["ba-unmatched-seq"] == 1
        assert p.ue.state("internet") is UeState.REGISTERING


def test_ba_with_r_clear_keeps_the_hoa_binding_and_is_counted():
    """procedures.md §1.6.3 step 5 (RFC 3963 §5.3, [D] for 24.303): an accepted BA with R=0
    means no implicit-prefix service; the UE keeps the HoA binding and counts it."""
    with ue_and_ha() as p:
        attach(p)
        assert "ba-r-clear" not in p.ue.counters  # the HA sets R=1 (implicit mode)
        hoa = p.ue.home_address("internet")
        p.ue.move(p.clock.now, coa6=COA6B)
        capture(p.ue, p.clock)
        session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
        route = _mh.Route((str(HA6), 0), (str(COA6B), 0), HA6, COA6B, rh2=hoa)
        ba = _mh.Ba(0, p.ue.sequence("internet"), 900, k=True, r=False)
        p.ue.receive_datagram(p.ha.signalling.encode(ba, route, session.sa_out),
                              route.src, route.dst, p.clock.now)  # fmt: skip
        assert p.ue.counters["ba-r-clear"] == 1
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ue.binding_expiry("internet") == p.clock.now + 3600.0
