"""Mobile Prefix Discovery after BA status 1 (RFC 6275 §6.7/§6.8, §10.6, §11.4.2/§11.4.3,
§11.7.3, §11.8; RFC 4877 §6.3; procedures.md §1.6.3 step 2, §2.2), UE and HA through the
pair harness on the virtual clock."""

from __future__ import annotations

from ipaddress import IPv6Network

from dsmip6._mh import Bu, Route
from dsmip6._mpd import Mpa, Mps, PrefixInfo
from dsmip6._state import BceState
from dsmip6.events import BindingAccepted, DetachCompleted, MobilePrefixAdvertised
from proc_harness import (
    COA4,
    COA6,
    HA4,
    HA6,
    attach,
    capture,
    events,
    fire_timer,
    peek,
    roundtrip_until_done,
    transfer,
    ue_and_ha,
)


def _mpd_attach(p):
    """Attach with an HA that asks for prefix discovery; returns the UE events."""
    return attach(p)


def _kinds(node, sent, receiver):
    return [type(peek(node, d, s, t, receiver).message).__name__ for d, s, t in sent]


def test_ba_status_1_leads_to_mps_and_mpa_through_the_mpd_sa():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        evs = _mpd_attach(p)
        acc = [e for e in evs if isinstance(e, BindingAccepted)]
        assert [e.status for e in acc] == [1]
        mpd = [e for e in evs if isinstance(e, MobilePrefixAdvertised)]
        prefix = p.ue.home_prefix("internet")
        assert mpd == [
            MobilePrefixAdvertised("internet", prefix, "confirmed", 86400, 86400, (prefix,))
        ]
        # RFC 4877 §6.3: a child SA of its own (ICMPv6 selectors) carried the exchange.
        assert p.ue.counters["mpd-child-requested"] == 1
        assert p.ha.counters["mpd-sa-up"] == 1
        assert p.ue.counters["mps-sent"] == 1
        assert p.ha.counters["mpa-sent"] == 1
        assert p.ue.counters["mpa-accepted"] == 1
        assert p.ha.counters["ba-1"] == 1
        # The next refresh: the UE solicited, so the HA answers status 0 and no MPS follows.
        p.clock.now = p.ue.get_timer()
        p.ue.handle_timer(p.clock.now)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        acc = [e for e in events(p.ue) if isinstance(e, BindingAccepted)]
        assert [e.status for e in acc] == [0]
        assert p.ue.counters["mps-sent"] == 1
        assert p.ha.counters["ba-0"] == 1


def test_mps_carries_hao_and_mpa_rh2_and_the_identifier():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        p.ue.attach("internet", p.clock.now)
        # Run until the UE's MPS is on the wire (IKE, child, BU/BA, MPD child, MPS).
        mps = None
        for _ in range(20):
            sent = capture(p.ue, p.clock)
            for d, s, t in sent:
                if t[1] == 0 and type(peek(p.ue, d, s, t, p.ha).message) is Mps:
                    mps = (d, s, t)
                else:
                    p.ha.receive_datagram(d, s, t, p.clock.now)
            if mps is not None:
                break
            transfer(p.ha, p.ue, p.clock)
        assert mps is not None
        rx = peek(p.ue, *mps, p.ha)
        hoa = p.ue.home_address("internet")
        assert rx.route.hao == hoa and rx.route.ip6_src == COA6 and rx.route.ip6_dst == HA6
        assert rx.spi == p.ue._pdn("internet").mpd_out.spi  # the MPD SA, not the MH one
        assert rx.spi != p.ue._pdn("internet").sa_out.spi
        ident = rx.message.identifier
        p.ha.receive_datagram(*mps, p.clock.now)
        (mpa,) = capture(p.ha, p.clock)
        arx = peek(p.ha, *mpa, p.ue)
        assert arx.message == Mpa(
            ident, (PrefixInfo(p.ue.home_prefix("internet"), 86400, 86400, True, True, False),)
        )
        # RFC 6275 §10.6.3: to the solicitation's source, RH2 = HoA.
        assert arx.route.ip6_dst == COA6 and arx.route.rh2 == hoa and arx.route.ip6_src == HA6


def test_mps_retransmitted_on_initial_solicit_timer_with_backoff():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        p.ue.attach("internet", p.clock.now)
        instants = []

        def deliver_ue_dropping_mps():
            for d, s, t in capture(p.ue, p.clock):
                if t[1] == 0 and type(peek(p.ue, d, s, t, p.ha).message) is Mps:
                    instants.append((p.clock.now, peek(p.ue, d, s, t, p.ha).message.identifier))
                    if len(instants) < 3:
                        continue  # lost
                p.ha.receive_datagram(d, s, t, p.clock.now)

        for _ in range(20):
            deliver_ue_dropping_mps()
            if not transfer(p.ha, p.ue, p.clock):
                break
        t0 = instants[0][0]
        # INITIAL_SOLICIT_TIMER 3 s, then doubled (RFC 6275 §11.8).
        fire_timer(p.ue, p.clock)
        deliver_ue_dropping_mps()
        assert p.clock.now == t0 + 3.0
        fire_timer(p.ue, p.clock)
        deliver_ue_dropping_mps()
        assert p.clock.now == t0 + 9.0
        assert [t for t, _ in instants] == [t0, t0 + 3.0, t0 + 9.0]
        assert len({i for _, i in instants}) == 1  # one solicitation, one Identifier
        transfer(p.ha, p.ue, p.clock)
        kinds = [type(e).__name__ for e in events(p.ue)]
        assert kinds.count("MobilePrefixAdvertised") == 1
        assert p.ue.timers.get(("internet", "mps")) is None


def _registered_with_mpd(p):
    attach(p)
    assert p.ha.counters["mpa-sent"] == 1
    hoa = p.ue.home_address("internet")
    return hoa, p.ha._mpd_by_hoa[int(hoa)]


def test_unprotected_or_wrong_sa_prefix_discovery_is_dropped_and_counted():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        hoa, rec = _registered_with_mpd(p)
        pdn = p.ue._pdn("internet")
        sig = p.ue.signalling
        to_ha = Route((str(COA6), 0), (str(HA6), 0), COA6, HA6, hao=hoa)
        before = dict(p.ha.counters)
        # Unprotected MPS: dropped like an unprotected BU (RFC 4877 §4.3).
        p.ha.receive_datagram(sig.encode(Mps(7), to_ha, None), to_ha.src, to_ha.dst, 0.0)
        # MPS through the signalling SA (selectors: MH only).
        p.ha.receive_datagram(sig.encode(Mps(7), to_ha, pdn.sa_out), to_ha.src, to_ha.dst, 0.0)
        # A BU through the MPD SA (selectors: ICMPv6 MPS only).
        p.ha.receive_datagram(
            sig.encode(Bu(pdn.seq + 1, 10), to_ha, pdn.mpd_out), to_ha.src, to_ha.dst, 0.0
        )
        assert p.ha.counters["unprotected"] == before.get("unprotected", 0) + 1
        assert p.ha.counters["mpd-wrong-sa"] == 1
        assert p.ha.counters["mpd-sa-selector-mismatch"] == 1
        assert p.ha.counters["mpa-sent"] == 1
        assert capture(p.ha, p.clock) == []
        # At the UE: an unprotected MPA, and one through the signalling SA.
        to_ue = Route((str(HA6), 0), (str(COA6), 0), HA6, COA6, rh2=hoa)
        mpa = Mpa(1, (PrefixInfo(p.ue.home_prefix("internet"), 0, 0),))
        p.ue.receive_datagram(sig.encode(mpa, to_ue, None), to_ue.src, to_ue.dst, 0.0)
        sa_out = p.ha._by_spi[pdn.sa_out.spi].sa_out
        p.ue.receive_datagram(sig.encode(mpa, to_ue, sa_out), to_ue.src, to_ue.dst, 0.0)
        assert p.ue.counters["unprotected"] == 1
        assert p.ue.counters["mpd-wrong-sa"] == 1
        assert events(p.ue) == []


def _solicit_again(p, hoa, rec, valid, preferred, *, other=()):
    """An unsolicited MPA makes the UE solicit (RFC 6275 §11.4.3); the MPS is answered by an
    MPA built here with the HA's MPD SA (prefix renumbering by the network)."""
    sig = p.ha.signalling
    to_ue = Route((str(HA6), 0), (str(COA6), 0), HA6, COA6, rh2=hoa)
    prefix = p.ue.home_prefix("internet")
    p.ue.receive_datagram(
        sig.encode(Mpa(0xFFFF ^ 1, ()), to_ue, rec.sa_out), to_ue.src, to_ue.dst, p.clock.now
    )
    assert p.ue.counters["mpa-unsolicited"] >= 1
    (mps,) = capture(p.ue, p.clock)
    ident = peek(p.ue, *mps, p.ha).message.identifier
    infos = tuple(other)
    if valid is not None:
        infos = (PrefixInfo(prefix, valid, preferred),) + infos
    data = sig.encode(Mpa(ident, infos), to_ue, rec.sa_out)
    p.ue.receive_datagram(data, to_ue.src, to_ue.dst, p.clock.now)
    return [e for e in events(p.ue) if isinstance(e, MobilePrefixAdvertised)]


def _bus(p, sent):
    """The BUs among ``sent`` as (lifetime in 4-s units, sequence, source, destination)."""
    out = []
    for d, s, t in sent:
        msg = peek(p.ue, d, s, t, p.ha).message
        if type(msg) is Bu:
            out.append((msg.lifetime_4s, msg.sequence, s, t))
    return out


def test_changed_home_prefix_is_an_event_and_caps_the_binding_lifetime():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        hoa, rec = _registered_with_mpd(p)
        events(p.ue)
        prefix = p.ue.home_prefix("internet")
        seq = p.ue.sequence("internet")
        assert p.ue.binding_expiry("internet") > p.clock.now + 3000  # 900 units granted
        other = PrefixInfo(IPv6Network("2001:db8:9999::/64"), 100, 50)
        (ev,) = _solicit_again(p, hoa, rec, 600, 300, other=(other,))
        assert ev == MobilePrefixAdvertised(
            "internet", prefix, "changed", 600, 300, (prefix, other.prefix)
        )
        # RFC 6275 §11.4.2/§11.7.1: the registered binding (3600 s) would outlive the HoA
        # (valid 600 s): a refresh leaves at once with 600 s = 150 units, the next number.
        sent = capture(p.ue, p.clock)
        assert _bus(p, sent) == [(150, seq + 1, (str(COA6), 0), (str(HA6), 0))]
        assert p.ue.state("internet").value == "registering"
        for d, s, t in sent:
            p.ha.receive_datagram(d, s, t, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        (acc,) = events(p.ue)
        assert isinstance(acc, BindingAccepted) and acc.lifetime == 600.0
        assert p.ue.binding_expiry("internet") == p.clock.now + 600.0
        # The same answer again is not solicited any more (one advertisement per Identifier):
        # discarded, and the UE solicits afresh (RFC 6275 §11.4.3).
        n = p.ue.counters["mpa-unsolicited"]
        to_ue = Route((str(HA6), 0), (str(COA6), 0), HA6, COA6, rh2=hoa)
        again = Mpa(0, (PrefixInfo(prefix, 600, 300),))
        p.ue.receive_datagram(p.ha.signalling.encode(again, to_ue, rec.sa_out), to_ue.src,
                              to_ue.dst, p.clock.now)  # fmt: skip
        assert p.ue.counters["mpa-unsolicited"] == n + 1
        assert events(p.ue) == []
        (mps,) = capture(p.ue, p.clock)
        p.ha.receive_datagram(*mps, p.clock.now + 5)  # the HA answers (no change): confirmed
        p.clock.now += 5
        transfer(p.ha, p.ue, p.clock)
        (ev,) = events(p.ue)
        assert ev.outcome == "changed" and ev.valid_lifetime == 86400  # back to the HA's own
        # The binding (595 s left) does not outlive the HoA any more: no BU, cap lifted.
        assert capture(p.ue, p.clock) == []
        assert p.ue._pdn("internet").prefix_until == p.clock.now + 86400


def test_refresh_under_a_shortened_prefix_is_capped_and_solicits():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        hoa, rec = _registered_with_mpd(p)
        events(p.ue)
        _solicit_again(p, hoa, rec, 1000, 500)
        t0 = p.clock.now
        roundtrip_until_done(p.ue, p.ha, p.clock)  # the capped refresh: 250 units
        (acc,) = [e for e in events(p.ue) if isinstance(e, BindingAccepted)]
        assert acc.lifetime == 1000.0
        # The refresh at 75 % (750 s): 250 s of the prefix left -> 62 units (248 s), and an
        # MPS (RFC 6275 §11.4.2: the HoA is about to become invalid).
        mps_before = p.ue.counters["mps-sent"]
        assert fire_timer(p.ue, p.clock) == t0 + 750.0
        sent = capture(p.ue, p.clock)
        seq = p.ue.sequence("internet")
        assert _bus(p, sent) == [(62, seq, (str(COA6), 0), (str(HA6), 0))]
        kinds = [type(peek(p.ue, d, s, t, p.ha).message).__name__ for d, s, t in sent]
        assert kinds == ["Bu", "Mps"]
        assert p.ue.counters["mps-sent"] == mps_before + 1


def _detach_after_withdrawal(p):
    """The lifetime-0 BU, then the IKE delete, as for detach() (Annex A.5)."""
    sent = capture(p.ue, p.clock)
    bus = _bus(p, sent)
    assert [(life, src, dst) for life, _, src, dst in bus] == [(0, (str(COA6), 0), (str(HA6), 0))]
    assert p.ue.state("internet").value == "detaching"
    for d, s, t in sent:
        p.ha.receive_datagram(d, s, t, p.clock.now)
    roundtrip_until_done(p.ue, p.ha, p.clock)
    assert p.ue.state("internet").value == "detached"
    assert p.ue.counters["home-prefix-gone"] == 1
    return events(p.ue)


def test_withdrawn_home_prefix_deregisters_and_detaches():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        hoa, rec = _registered_with_mpd(p)
        events(p.ue)
        prefix = p.ue.home_prefix("internet")
        (ev,) = _solicit_again(p, hoa, rec, 0, 0)
        assert ev == MobilePrefixAdvertised("internet", prefix, "withdrawn", 0, 0, (prefix,))
        events(p.ha)
        assert _detach_after_withdrawal(p) == [DetachCompleted("internet", acknowledged=True)]
        # The HA removed the binding on the lifetime-0 BU (its tombstone aside).
        assert [type(e).__name__ for e in events(p.ha)][:1] == ["BindingDeleted"]
        assert p.ha.bindings().get(hoa) in (None, BceState.TOMBSTONE)


def test_home_prefix_absent_from_the_advertisement_is_withdrawn():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        hoa, rec = _registered_with_mpd(p)
        events(p.ue)
        prefix = p.ue.home_prefix("internet")
        other = PrefixInfo(IPv6Network("2001:db8:9999::/64"), 100, 50)
        (ev,) = _solicit_again(p, hoa, rec, None, None, other=(other,))
        assert ev == MobilePrefixAdvertised(
            "internet", prefix, "withdrawn", None, None, (other.prefix,)
        )
        assert _detach_after_withdrawal(p) == [DetachCompleted("internet", acknowledged=True)]


def test_ha_answers_at_most_one_mpa_per_second_and_only_registered_ues():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        hoa, rec = _registered_with_mpd(p)
        pdn = p.ue._pdn("internet")
        sig = p.ue.signalling
        to_ha = Route((str(COA6), 0), (str(HA6), 0), COA6, HA6, hao=hoa)
        t = rec.last_mpa
        p.ha.receive_datagram(sig.encode(Mps(9), to_ha, pdn.mpd_out), to_ha.src, to_ha.dst, t + 0.5)
        assert p.ha.counters["mpa-rate-limited"] == 1
        assert capture(p.ha, p.clock) == []
        p.ha.receive_datagram(sig.encode(Mps(9), to_ha, pdn.mpd_out), to_ha.src, to_ha.dst, t + 1.0)
        assert p.ha.counters["mpa-sent"] == 2
        (mpa,) = capture(p.ha, p.clock)
        assert peek(p.ha, *mpa, p.ue).message.identifier == 9


def test_prefix_discovery_is_off_by_default():
    with ue_and_ha() as p:
        evs = attach(p)
        assert [e.status for e in evs if isinstance(e, BindingAccepted)] == [0]
        assert "mps-sent" not in p.ue.counters
        assert "mpd-child-requested" not in p.ue.counters


def test_prefix_discovery_from_an_ipv4_access_rides_udp_4191():
    with ue_and_ha(coa6=None, coa4=COA4, ha_kw=dict(prefix_discovery_required=True)) as p:
        p.ue.attach("internet", p.clock.now)
        mps = []
        for _ in range(20):
            moved = 0
            for d, s, t in capture(p.ue, p.clock):
                if t[1] == 4191 and type(peek(p.ue, d, s, t, p.ha).message) is Mps:
                    mps.append((d, s, t))
                p.ha.receive_datagram(d, s, t, p.clock.now)
                moved += 1
            moved += transfer(p.ha, p.ue, p.clock)
            if not moved:
                break
        (m,) = mps
        rx = peek(p.ue, *m, p.ha)
        hoa = p.ue.home_address("internet")
        # RFC 5555 §4.1: inner IPv6 from the HoA (no HAO needed), outer IPv4/UDP 4191.
        assert m[1] == (str(COA4), 4191) and m[2] == (str(HA4), 4191)
        assert rx.route.ip6_src == hoa and rx.route.hao is None
        prefix = p.ue.home_prefix("internet")
        evs = [e for e in events(p.ue) if isinstance(e, MobilePrefixAdvertised)]
        assert evs == [MobilePrefixAdvertised("internet", prefix, "confirmed", 86400, 86400,
                                              (prefix,))]  # fmt: skip


def _run_dropping_mps(p, until, *, let_through=False):
    """Fire the UE's timers up to ``until`` delivering everything but MPSs (unless
    ``let_through``); returns the BUs (lifetime, sequence, instant) the UE sent."""
    bus = []
    for _ in range(200):
        for _ in range(50):  # settle every exchange at this instant
            moved = 0
            for d, s, t in capture(p.ue, p.clock):
                msg = peek(p.ue, d, s, t, p.ha).message if t[1] in (0, 4191) else None
                if type(msg) is Bu:
                    bus.append((msg.lifetime_4s, msg.sequence, p.clock.now))
                moved += 1
                if type(msg) is Mps and not let_through:
                    continue  # lost
                p.ha.receive_datagram(d, s, t, p.clock.now)
            moved += transfer(p.ha, p.ue, p.clock)
            if not moved:
                break
        nxt = p.ue.get_timer()
        if nxt is None or nxt > until:
            return bus
        fire_timer(p.ue, p.clock)
    raise AssertionError("did not reach the instant")


def test_refresh_is_held_until_prefix_discovery_answers_after_status_1():
    """RFC 6275 §11.7.1: after a BA with status 1 the UE "should not try to register again"
    before prefix discovery has answered: the refresh at 75 % waits for the MPA."""
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        p.ue.attach("internet", p.clock.now)
        bus = _run_dropping_mps(p, 100.0)
        ((life, seq, t_bu),) = bus
        assert life == 900 and p.ue.binding_expiry("internet") == t_bu + 3600.0
        assert [e.status for e in events(p.ue) if isinstance(e, BindingAccepted)] == [1]
        # Past the refresh point (t_bu + 2700 s) with every MPS lost: no BU.
        assert _run_dropping_mps(p, t_bu + 2800.0) == []
        assert p.ue.counters["refresh-held-for-mpd"] == 1
        assert p.ue.timers.get(("internet", "refresh")) == t_bu + 3600.0 - 64.0
        # The next MPS gets through: the MPA releases the held refresh at once.
        fire_timer(p.ue, p.clock)
        t_mpa = p.clock.now
        bus = _run_dropping_mps(p, t_mpa, let_through=True)
        assert bus == [(900, seq + 1, t_mpa)]
        acc = [e for e in events(p.ue) if isinstance(e, BindingAccepted)]
        assert [e.status for e in acc] == [0]  # the HA saw the solicitation


def test_held_refresh_still_leaves_before_the_binding_lapses():
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        p.ue.attach("internet", p.clock.now)
        ((_, seq, t_bu),) = _run_dropping_mps(p, 100.0)
        # No MPA ever: the refresh leaves 2 x MAX_BINDACK_TIMEOUT before the expiry.
        bus = _run_dropping_mps(p, t_bu + 3600.0 - 64.0)
        assert bus == [(900, seq + 1, t_bu + 3600.0 - 64.0)]
        assert p.ue.counters["refresh-held-for-mpd"] == 1


def test_bu_in_flight_when_the_prefix_shrinks_is_followed_by_a_capped_refresh():
    """A BU that left before the advertisement asked for more than the HoA's valid lifetime:
    once it is acknowledged the UE refreshes at once with the capped lifetime (RFC 6275
    §11.7.1); the retransmissions in between would have been capped already."""
    with ue_and_ha(ha_kw=dict(prefix_discovery_required=True)) as p:
        hoa, rec = _registered_with_mpd(p)
        events(p.ue)
        fire_timer(p.ue, p.clock)  # the refresh at 75 %
        (old_bu,) = capture(p.ue, p.clock)
        assert _bus(p, [old_bu])[0][0] == 900
        (ev,) = _solicit_again(p, hoa, rec, 1000, 1000)
        assert ev.outcome == "changed" and capture(p.ue, p.clock) == []  # BU outstanding
        p.ha.receive_datagram(*old_bu, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        (acc,) = [e for e in events(p.ue) if isinstance(e, BindingAccepted)]
        assert acc.lifetime == 3600.0  # granted as asked, but beyond the HoA's validity
        t = p.clock.now
        assert fire_timer(p.ue, p.clock) == t  # refresh due at once
        assert _bus(p, capture(p.ue, p.clock)) == [
            (250, p.ue.sequence("internet"), (str(COA6), 0), (str(HA6), 0))
        ]
