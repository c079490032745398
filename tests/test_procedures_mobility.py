"""Handover (TS 24.303 §5.2), return home, UE- and network-initiated detach (§5.3, §5.4,
RFC 5846), HA switch (RFC 5142), multiple PDN connections (§4.3) — pair harness, doubles."""

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from dsmip6 import _mh
from dsmip6._state import BceState, UeState
from dsmip6.config import PdnConfig
from dsmip6.dataplane_iface import Encapsulation, FakeDataPlane
from dsmip6.errors import LocalProtocolError
from dsmip6.events import (
    AttachCompleted,
    AttachFailed,
    BindingAccepted,
    BindingDeleted,
    BindingRevoked,
    BindingUpdated,
    DetachCompleted,
    DiscoveryFailed,
    HandoverCompleted,
    HomeAgentDiscovered,
    HomeAgentSwitched,
    IkeEstablished,
    Ipv4HomeAddressAssigned,
    Ipv4HomeAddressReleased,
    NetworkDetached,
)
from proc_harness import (
    COA4,
    COA6,
    COA6B,
    HA4,
    HA6,
    attach,
    capture,
    drop,
    events,
    fire_timer,
    make_ha,
    make_ue,
    nat_rewriters,
    peek,
    roundtrip_until_done,
    transfer,
    ue_and_ha,
)


def test_handover_ipv6_to_ipv6_moves_ike_endpoint():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        p.ue.move(p.clock.now, coa6=COA6B)
        ((data, src, dst),) = capture(p.ue, p.clock)
        assert src == (str(COA6B), 0)  # BU from the new CoA (RFC 5555 §5.1)
        rx = peek(p.ue, data, src, dst, p.ha)
        assert rx.message.o is False and rx.message.alt_coa == COA6B  # Annex A.3
        p.ha.receive_datagram(data, src, dst, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        evs = events(p.ue)
        assert [type(e) for e in evs] == [BindingAccepted, HandoverCompleted]
        assert evs[1].care_of_address == COA6B
        assert p.dp.bindings[hoa].care_of_address == COA6B
        ha_evs = [e for e in events(p.ha) if isinstance(e, BindingUpdated)]
        assert ha_evs[-1].moved is True
        # K=1 both ways: the IKE endpoints follow the CoA (RFC 4877 §4.3, RFC 6275 §10.3.1).
        assert p.ha.ike.moves[-1][2] == (str(COA6B), 500)
        assert p.ue._pdns["internet"].ike.moves[-1] == ((str(COA6B), 500), (str(HA6), 500))
        # No NAT on an IPv6 CoA: no INFORMATIONAL follows the move (RFC 5555 §5.1 is IPv4).
        assert p.ue._pdns["internet"].ike.infos == 0 and capture(p.ue, p.clock) == []


def test_k_flag_ba_is_followed_by_an_empty_informational_from_the_new_coa():
    """RFC 5555 §5.1, procedures.md §1.6.3 step 6 / §2.3 step 4: after the BA with K=1 (and
    only after it) the UE sends an empty INFORMATIONAL from the new IPv4 CoA, so the HA's IKE
    learns the NAT-mapped address and port of 4500 (RFC 7296 §2.23)."""
    nat = nat_rewriters((str(COA4), 4500), ("203.0.113.9", 40078))
    with ue_and_ha() as p:
        attach(p)
        ike = p.ue._pdns["internet"].ike
        assert ike.infos == 0  # none on the initial registration (no move)
        p.ue.move(p.clock.now, coa4=COA4)
        (bu,) = capture(p.ue, p.clock)
        assert bu[1] == (str(COA4), 4191) and ike.infos == 0  # nothing before the BA
        p.ha.receive_datagram(*bu, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        assert ike.moves[-1] == ((str(COA4), 4500), (str(HA4), 4500))
        ((data, src, dst),) = capture(p.ue, p.clock)
        assert (src, dst) == ((str(COA4), 4500), (str(HA4), 4500))
        assert ike.infos == 1 and p.ue.counters["ike-liveness-after-move"] == 1
        # Through the NAT the HA sees the mapped port and moves the IKE peer there.
        p.ha.receive_datagram(data, nat[0](src), dst, p.clock.now)
        assert p.ha.ike.infos == [(ike.spi, ("203.0.113.9", 40078))]
        assert p.ha.ike.sas[ike.spi].remote == ("203.0.113.9", 40078)
        transfer(p.ha, p.ue, p.clock, dst_rewrite=nat[1])
        assert ike.pending is None  # answered
        # A refresh from the same CoA does not move anything: no second INFORMATIONAL.
        fire_timer(p.ue, p.clock)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert ike.infos == 1


def test_handover_ipv6_to_ipv4_nat_and_back():
    nat = nat_rewriters((str(COA4), 4191), ("203.0.113.9", 40077))
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        p.ue.move(p.clock.now, coa4=COA4)
        roundtrip_until_done(p.ue, p.ha, p.clock, nat=nat)
        evs = events(p.ue)
        assert isinstance(evs[-1], HandoverCompleted) and evs[-1].udp_encapsulation
        spec = p.dp.bindings[hoa]
        assert spec.encapsulation is Encapsulation.UDP_IPV4 and spec.udp_port == 40077
        assert p.ha.ike.moves[-1][1:] == ((str(HA4), 4500), ("203.0.113.9", 4500))
        p.ue.move(p.clock.now, coa6=COA6)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert p.dp.bindings[hoa].encapsulation is Encapsulation.IP_IN_IPV6
        assert p.dp.bindings[hoa].udp_port is None


def test_return_home_deregisters_from_hoa():
    """RFC 6275 §11.5.5: lifetime 0, from the HoA, no HAO, no Alternate-CoA."""
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        hnp = p.dp.bindings[hoa].home_prefix
        p.ue.move(p.clock.now, home_prefixes=(hnp,))
        assert p.ue.state("internet") is UeState.RETURNING_HOME
        ((data, src, dst),) = capture(p.ue, p.clock)
        rx = peek(p.ue, data, src, dst, p.ha)
        assert rx.message.lifetime_4s == 0 and rx.message.alt_coa is None
        assert rx.route.hao is None and rx.route.ip6_src == hoa
        p.ha.receive_datagram(data, src, dst, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        assert p.ue.state("internet") is UeState.AT_HOME
        assert isinstance(events(p.ue)[-1], HandoverCompleted)
        assert hoa not in p.dp.bindings
        assert p.ha.bindings()[hoa] is BceState.TOMBSTONE
        assert any(isinstance(e, BindingDeleted) for e in events(p.ha))
        # MAX_DELETE_BCE_TIMEOUT: the tombstone disappears 10 s later.
        t = p.clock.now
        fire_timer(p.ha, p.clock)
        assert p.clock.now == t + 10.0 and hoa not in p.ha.bindings()
        # Leaving home again: a fresh registration (O=1, 1.5 s first timer).
        p.ue.move(p.clock.now, coa6=COA6B)
        ((data, src, dst),) = capture(p.ue, p.clock)
        assert peek(p.ue, data, src, dst, p.ha).message.o is True
        assert p.ue.timers.get(("internet", "bu")) == p.clock.now + 1.5


def test_delayed_bu_after_deregistration_gets_135():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        p.ue.move(p.clock.now, coa6=COA6B)
        old_bu = capture(p.ue, p.clock)  # delayed in the network
        p.ue.move(p.clock.now, home_prefixes=(p.dp.bindings[hoa].home_prefix,))
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert p.ha.bindings()[hoa] is BceState.TOMBSTONE
        for data, src, dst in old_bu:
            p.ha.receive_datagram(data, src, dst, p.clock.now)
        assert p.ha.counters.get("ba-135") == 1
        assert hoa not in p.dp.bindings


def test_ue_detach_bu_then_ike_delete():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        v4 = p.ue.ipv4_home_address("internet")
        p.ue.detach("internet", p.clock.now)
        ((data, src, dst),) = capture(p.ue, p.clock)
        bu = peek(p.ue, data, src, dst, p.ha).message
        # Annex A.5: lifetime 0, IPv4 HoA option with the registered address.
        assert bu.lifetime_4s == 0 and bu.ipv4_hoa == _mh.Ipv4HoaOpt(v4)
        p.ha.receive_datagram(data, src, dst, p.clock.now)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert p.ue.state("internet") is UeState.DETACHED
        assert isinstance(events(p.ue)[-1], DetachCompleted)
        assert hoa not in p.dp.bindings
        assert p.ha.session_count() == 0
        assert len(p.ha.hnp_pool) == 0 and len(p.ha.ipv4_pool) == 0


def test_detach_with_lost_bus_gives_up_and_still_deletes_ike():
    with ue_and_ha() as p:
        attach(p)
        p.ue.detach("internet", p.clock.now)
        for _ in range(3):
            assert drop(p.ue, p.clock) == 1
            fire_timer(p.ue, p.clock)
        assert p.ue.state("internet") is UeState.IKE_DELETING
        roundtrip_until_done(p.ue, p.ha, p.clock)
        evs = events(p.ue)
        assert isinstance(evs[-1], DetachCompleted) and evs[-1].acknowledged is False


def test_network_initiated_detach_bri_bra():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        p.ha.revoke(hoa, p.clock.now)
        assert p.ha.bindings()[hoa] is BceState.REVOKING
        ((data, src, dst),) = capture(p.ha, p.clock)
        rx = peek(p.ha, data, src, dst, p.ue)
        assert isinstance(rx.message, _mh.Bri) and rx.message.trigger == 1  # Annex A.6
        assert rx.route.rh2 == hoa and rx.route.ip6_dst == COA6
        p.ue.receive_datagram(data, src, dst, p.clock.now)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        ue_evs = events(p.ue)
        assert any(isinstance(e, NetworkDetached) and e.trigger == 1 for e in ue_evs)
        assert p.ue.state("internet") is UeState.DETACHED
        revoked = [e for e in events(p.ha) if isinstance(e, BindingRevoked)]
        assert revoked == [BindingRevoked(hoa, 1, True)]
        assert hoa not in p.dp.bindings and p.ha.session_count() == 0


def test_bri_retransmitted_once_then_binding_removed():
    """RFC 5846 §6.3/§11: InitMINDelayBRIs 1 s, one retransmission, then clean up."""
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        t0 = p.clock.now
        p.ha.revoke(hoa, t0)
        assert drop(p.ha, p.clock) == 1
        fire_timer(p.ha, p.clock)
        assert p.clock.now == t0 + 1.0
        assert drop(p.ha, p.clock) == 1
        fire_timer(p.ha, p.clock)
        assert p.clock.now == t0 + 3.0
        revoked = [e for e in events(p.ha) if isinstance(e, BindingRevoked)]
        assert revoked == [BindingRevoked(hoa, 1, False)]
        assert hoa not in p.dp.bindings


HA6B = IPv6Address("2001:db8:b::1")
HA4B = IPv4Address("198.51.100.2")


def _second_ha(**kw):
    """Another HA (own pools, own binding cache) for the RFC 5142 switch tests."""
    dp2 = FakeDataPlane()
    base = dict(
        address6=HA6B,
        address4=HA4B,
        home_pool=IPv6Network("2001:db8:c000::/40"),
        ipv4_pool=IPv4Network("10.201.0.0/16"),
    )
    base.update(kw)
    ha2 = make_ha(dp2, **base)
    # The toy IKE lets the responder pick the UE's inbound SPI (real IKEv2: the UE does);
    # keep the two HAs' choices apart.
    ha2.ike.spi_counter = 0x80000
    return ha2, dp2


def _mh_kind(node, data, src, dst, receiver):
    """``(type name, lifetime or status)`` of a mobility datagram, None for IKE."""
    if src[1] in (500, 4500) or dst[1] in (500, 4500):
        return None
    m = peek(node, data, src, dst, receiver).message
    if isinstance(m, _mh.Bu):
        return "Bu", m.lifetime_4s
    return type(m).__name__, getattr(m, "status", None)


def _switch_exchange(ue, has, clock, log, *, before_deliver=None, max_rounds=60):
    """Run UE <-> two HAs (routed by destination host) until quiet; ``log`` records
    ``(direction, peer host, mh kind)`` in delivery order."""
    for _ in range(max_rounds):
        moved = 0
        for data, src, dst in ue.datagrams_to_send(clock.now):
            ha = has.get(dst[0])
            if ha is None:
                continue  # unreachable HA: lost
            kind = _mh_kind(ue, data, src, dst, ha)
            if before_deliver is not None:
                before_deliver("up", dst[0], kind)
            log.append(("up", dst[0], kind))
            ha.receive_datagram(data, src, dst, clock.now)
            moved += 1
        for ha in dict.fromkeys(has.values()):
            for data, src, dst in ha.datagrams_to_send(clock.now):
                kind = _mh_kind(ha, data, src, dst, ue)
                if before_deliver is not None:
                    before_deliver("down", src[0], kind)
                log.append(("down", src[0], kind))
                ue.receive_datagram(data, src, dst, clock.now)
                moved += 1
        if not moved:
            return
    raise AssertionError("exchange did not settle")


def _attach_with_dp(p):
    """A UE with its own FakeDataPlane (its tunnel end), attached to ``p.ha``."""
    ue_dp = FakeDataPlane()
    p.ue = make_ue(dataplane=ue_dp)
    p.ue.set_access(coa6=COA6)
    attach(p)
    events(p.ha)
    return ue_dp


def test_home_agent_switch_attaches_to_new_ha_then_deregisters_from_old():
    """Issue 5 / RFC 5142 §6 make before break: the new HA's BA comes before the old HA's
    de-registration BU; the old binding and user plane stay until then."""
    with ue_and_ha() as p:
        ue_dp = _attach_with_dp(p)
        ha2, dp2 = _second_ha()
        has = {str(HA6): p.ha, str(HA4): p.ha, str(HA6B): ha2, str(HA4B): ha2}
        old_hoa = p.ue.home_address("internet")
        p.ha.switch_home_agent(old_hoa, p.clock.now, (HA6B,))
        ((data, src, dst),) = capture(p.ha, p.clock)
        p.ue.receive_datagram(data, src, dst, p.clock.now)
        # The old binding stays registered while the second session bootstraps.
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ue.home_address("internet") == old_hoa
        log: list = []
        seen: list = []

        def check(direction, host, kind):
            # Traffic continuity: the UE always has a tunnel programmed; the old one until the
            # new HA acknowledged, and the old HA keeps the binding until the de-registration.
            assert ue_dp.bindings, "user plane gap"
            if kind == ("Bu", 0) and host == str(HA6):
                assert p.ha.bindings()[old_hoa] is BceState.SWITCHING
                assert p.dp.bindings[old_hoa].care_of_address == COA6
            seen.append(set(ue_dp.bindings))

        _switch_exchange(p.ue, has, p.clock, log, before_deliver=check)
        mh = [(d, h, k) for d, h, k in log if k is not None]
        # Exactly: BU/BA with the new HA, then the lifetime-0 BU/BA with the old one.
        assert [(d, h, k[0]) for d, h, k in mh] == [
            ("up", str(HA6B), "Bu"),
            ("down", str(HA6B), "Ba"),
            ("up", str(HA6), "Bu"),
            ("down", str(HA6), "Ba"),
        ]
        assert mh[0][2][1] > 0 and mh[1][2][1] == 0  # registration accepted (status 0)
        assert mh[2][2][1] == 0  # then the de-registration (lifetime 0)
        # IKE with the new HA ran before any BU to it; the old IKE SA was deleted at the end.
        ike = [(d, h) for d, h, k in log if k is None]
        assert ike[0] == ("up", str(HA6B)) and ike[-1] == ("down", str(HA6))
        assert log.index(("up", str(HA6B), mh[0][2])) > log.index(("up", str(HA6B), None))
        new_hoa = p.ue.home_address("internet")
        assert new_hoa != old_hoa and p.ue.state("internet") is UeState.REGISTERED
        # User plane: old tunnel until the new BA, then only the new one (HA side likewise).
        assert seen[0] == {old_hoa} and seen[-1] == {new_hoa}
        assert all(s for s in seen)
        assert set(ue_dp.bindings) == {new_hoa} and ue_dp.bindings[new_hoa].care_of_address == COA6
        assert dp2.bindings[new_hoa].care_of_address == COA6
        assert old_hoa not in p.dp.bindings and old_hoa not in p.ha.bindings()
        assert p.ha.session_count() == 0 and ha2.session_count() == 1
        kinds = [type(e) for e in events(p.ue)]
        assert kinds == [
            HomeAgentDiscovered,
            IkeEstablished,
            Ipv4HomeAddressAssigned,
            BindingAccepted,
            AttachCompleted,
            HomeAgentSwitched,
        ]
        assert p.ue._sessions.keys() == {"internet"} and p.ue._switch == {}
        # The UE keeps working with the new HA: refresh at its refresh point goes to HA6B.
        fire_timer(p.ue, p.clock)
        ((data, src, dst),) = capture(p.ue, p.clock)
        assert dst[0] == str(HA6B) and peek(p.ue, data, src, dst, ha2).message.lifetime_4s > 0


def test_home_agent_switch_failure_keeps_old_ha_until_binding_would_expire():
    """The new attach fails (the new HA only redirects, RFC 5685 loop): the UE stays
    registered with the old HA, reports the failure, ignores the retransmitted HAS and
    de-registers from the old HA only at its refresh point, before the binding expires."""
    with ue_and_ha() as p:
        ue_dp = _attach_with_dp(p)
        ha2, _ = _second_ha()
        ha2.ike.redirect_to = str(HA6B)
        old_hoa = p.ue.home_address("internet")
        refresh_at = p.ue.timers.get(("internet", "refresh"))
        expires = p.ue.binding_expiry("internet")
        p.ha.switch_home_agent(old_hoa, p.clock.now, (HA6B,))
        transfer(p.ha, p.ue, p.clock)
        log: list = []
        _switch_exchange(p.ue, {str(HA6): p.ha, str(HA6B): ha2}, p.clock, log)
        assert p.ue._switch == {} and p.ue._sessions.keys() == {"internet"}
        evs = events(p.ue)
        kinds = [type(e).__name__ for e in evs]
        assert kinds == ["HomeAgentDiscovered"] + ["Redirected"] * 5 + ["AttachFailed"]
        assert evs[-1].reason == "ha-switch: redirect-loop"
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ue.home_address("internet") == old_hoa and set(ue_dp.bindings) == {old_hoa}
        assert p.ha.bindings()[old_hoa] is BceState.SWITCHING
        assert [k for _, _, k in log if k is not None] == []  # no BU to anyone
        # Retransmitted HAS (5 s, 15 s, 35 s ...) are ignored, counted.
        while (t := p.ha.get_timer()) is not None and t < refresh_at:
            fire_timer(p.ha, p.clock)
            transfer(p.ha, p.ue, p.clock)
        assert p.ue.counters["has-while-switching"] >= 3
        assert p.ue.state("internet") is UeState.REGISTERED and capture(p.ue, p.clock) == []
        # At the refresh point: the de-registration BU (not a refresh), before the expiry.
        assert p.ue.get_timer() == refresh_at < expires
        fire_timer(p.ue, p.clock)
        ((data, src, dst),) = capture(p.ue, p.clock)
        assert dst[0] == str(HA6) and peek(p.ue, data, src, dst, p.ha).message.lifetime_4s == 0
        assert p.ha.bindings()[old_hoa] is BceState.SWITCHING
        p.ha.receive_datagram(data, src, dst, p.clock.now)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert [type(e) for e in events(p.ue)] == [NetworkDetached]
        assert p.ue.state("internet") is UeState.DETACHED and ue_dp.bindings == {}
        assert old_hoa not in p.dp.bindings and p.ha.session_count() == 0


def test_has_retransmission_while_switching_is_ignored_and_counted():
    with ue_and_ha() as p:
        ue_dp = _attach_with_dp(p)
        ha2, dp2 = _second_ha()
        old_hoa = p.ue.home_address("internet")
        t0 = p.clock.now
        p.ha.switch_home_agent(old_hoa, t0, (HA6B,))
        transfer(p.ha, p.ue, p.clock)
        first = capture(p.ue, p.clock)  # IKE_SA_INIT to the new HA, held back
        assert [d[2][0] for d in first] == [str(HA6B)]
        fire_timer(p.ha, p.clock)  # the HAS again at 5 s (RFC 5142 §8)
        assert p.clock.now == t0 + 5.0
        transfer(p.ha, p.ue, p.clock)
        assert p.ue.counters["has-while-switching"] == 1
        assert len(p.ue._switch) == 1 and len(p.ue._sessions) == 2  # no second new session
        for data, src, dst in first:
            ha2.receive_datagram(data, src, dst, p.clock.now)
        has = {str(HA6): p.ha, str(HA4): p.ha, str(HA6B): ha2, str(HA4B): ha2}
        _switch_exchange(p.ue, has, p.clock, [])
        assert isinstance(events(p.ue)[-1], HomeAgentSwitched)
        assert set(ue_dp.bindings) == {p.ue.home_address("internet")} != {old_hoa}
        assert old_hoa not in p.ha.bindings() and ha2.session_count() == 1


def test_refresh_refused_129_while_switching_keeps_the_old_binding():
    """A refresh in flight when the HAS arrives is refused with BA 129 by the switching HA
    (RFC 5142 §5.3): the UE keeps the old binding (no failure) and completes the switch."""
    with ue_and_ha() as p:
        ue_dp = _attach_with_dp(p)
        ha2, _ = _second_ha()
        old_hoa = p.ue.home_address("internet")
        fire_timer(p.ue, p.clock)  # the refresh point: a refresh BU leaves ...
        assert p.ue.state("internet") is UeState.REGISTERING
        refresh = capture(p.ue, p.clock)  # ... and is still in the network
        p.ha.switch_home_agent(old_hoa, p.clock.now, (HA6B,))
        transfer(p.ha, p.ue, p.clock)
        assert p.ue.state("internet") is UeState.REGISTERING and len(p.ue._switch) == 1
        for data, src, dst in refresh:
            p.ha.receive_datagram(data, src, dst, p.clock.now)
        transfer(p.ha, p.ue, p.clock)  # BA 129
        assert p.ue.counters["ba-129-switching"] == 1
        assert p.ue.state("internet") is UeState.REGISTERED and set(ue_dp.bindings) == {old_hoa}
        assert not any(type(e).__name__ in ("AttachFailed", "BindingRejected") for e in
                       events(p.ue))  # fmt: skip
        has = {str(HA6): p.ha, str(HA4): p.ha, str(HA6B): ha2, str(HA4B): ha2}
        _switch_exchange(p.ue, has, p.clock, [])
        assert type(events(p.ue)[-1]) is HomeAgentSwitched
        assert old_hoa not in p.ha.bindings() and ha2.session_count() == 1


def test_has_refresh_advice_brings_the_old_de_registration_forward():
    """RFC 5142 §6: with Binding Refresh Advice the old HA drops the binding at that time;
    a UE whose switch failed de-registers before it (at 75 % of the advice)."""
    with ue_and_ha() as p:
        _attach_with_dp(p)
        old_hoa = p.ue.home_address("internet")
        refresh_at = p.ue.timers.get(("internet", "refresh"))
        t0 = p.clock.now
        bce = p.ha._bce[int(old_hoa)]
        p.ha.switch_home_agent(old_hoa, t0, ())
        drop(p.ha, p.clock)
        # The same HAS with a 40 s advice (10 x 4 s), as an HA may send it.
        p.ha._send(_mh.Has((), refresh_advice_4s=10), p.ha._route_to(bce), bce.session.sa_out)
        transfer(p.ha, p.ue, p.clock)  # no address, static config: the switch fails at once
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ue.timers.get(("internet", "refresh")) == t0 + 30.0 < refresh_at
        assert p.ue.get_timer() == t0 + 30.0
        fire_timer(p.ue, p.clock)
        ((data, src, dst),) = capture(p.ue, p.clock)
        assert p.clock.now == t0 + 30.0
        assert peek(p.ue, data, src, dst, p.ha).message.lifetime_4s == 0


def test_has_without_addresses_discovers_the_new_ha():
    """RFC 5142 §6: no address in the HAS -> HA discovery (here DNS, the HA-APN FQDN now
    naming another HA); with only the static address of the old HA the switch fails."""
    import dns.name
    from dsmip6 import discovery
    from dsmip6.sim import DnsServer, VirtualClock, VirtualNetwork

    dns_addr = ("2001:db8:53::53", 53)
    clock = VirtualClock()
    net = VirtualNetwork(clock, delay=0.005)
    ha1 = make_ha()
    ha2, dp2 = _second_ha()
    net.add_node(ha1, str(HA6), str(HA4))
    net.add_node(ha2, str(HA6B), str(HA4B))
    fqdn = discovery.ha_apn_fqdn("internet", "001", "01")
    server = DnsServer(dns_addr[0], {fqdn: {"AAAA": [str(HA6)], "A": [str(HA4)]}})
    net.add_node(server, dns_addr[0])
    ue = make_ue(pdns=(PdnConfig("internet", discovery="dns"),), dns_server=dns_addr)
    ue.set_access(coa6=COA6)
    net.add_node(ue, str(COA6))
    ue.attach("internet", 0.0)
    net.poll(ue)
    net.run_until(5.0)
    old_hoa = ue.home_address("internet")
    assert ue.state("internet") is UeState.REGISTERED and old_hoa in ha1.bindings()
    events(ue)
    server.zone[dns.name.from_text(fqdn)] = {"AAAA": [str(HA6B)], "A": [str(HA4B)]}
    ha1.switch_home_agent(old_hoa, clock.now, ())
    net.poll(ha1)
    net.run_until(clock.now + 5.0)
    evs = events(ue)
    assert HomeAgentDiscovered("internet", HA6B, HA4B, "dns") in evs
    assert type(evs[-1]) is HomeAgentSwitched and evs[-1].new_home_agents == ()
    new_hoa = ue.home_address("internet")
    assert ha2.bindings()[new_hoa] is BceState.ACTIVE
    assert old_hoa not in ha1.bindings() and ha1.session_count() == 0


def test_has_without_addresses_and_only_the_old_static_ha_stays():
    with ue_and_ha() as p:
        ue_dp = _attach_with_dp(p)
        old_hoa = p.ue.home_address("internet")
        p.ha.switch_home_agent(old_hoa, p.clock.now, ())
        transfer(p.ha, p.ue, p.clock)
        evs = events(p.ue)
        assert [type(e) for e in evs] == [DiscoveryFailed, AttachFailed]
        assert evs[1].reason == "ha-switch: discovery: no-other-home-agent"
        assert p.ue.state("internet") is UeState.REGISTERED and set(ue_dp.bindings) == {old_hoa}
        assert capture(p.ue, p.clock) == []  # no BU, no IKE: the old binding is kept


def test_has_retransmission_schedule_and_refresh_refused():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        t0 = p.clock.now
        p.ha.switch_home_agent(hoa, t0, ())
        drop(p.ha, p.clock)
        times = []
        for _ in range(3):
            nxt = p.ha.get_timer()
            if nxt == p.ha.timer_deadline("life", hoa):
                break
            fire_timer(p.ha, p.clock)
            times.append(p.clock.now - t0)
            drop(p.ha, p.clock)
        assert times == [5.0, 15.0, 35.0]  # 5 s, doubling, capped at 20 s (RFC 5142 §8)
        # A refresh meanwhile is refused with 129 (RFC 5142 §5.3).
        p.ue.move(p.clock.now, coa6=COA6)
        transfer(p.ue, p.ha, p.clock)
        assert p.ha.counters.get("ba-129") == 1


def test_multiple_pdn_connections_are_independent():
    pdns = (
        PdnConfig("internet", ha_address6=HA6, ha_address4=HA4),
        PdnConfig("ims", ha_address6=HA6, ha_address4=HA4, request_ipv4_home_address=False),
    )
    with ue_and_ha(ue_kw={"pdns": pdns}) as p:
        p.ue.attach("internet", 0.0)
        p.ue.attach("ims", 0.0)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        h1, h2 = p.ue.home_address("internet"), p.ue.home_address("ims")
        assert h1 != h2
        assert IPv6Network((h1, 64), strict=False) != IPv6Network((h2, 64), strict=False)
        assert p.ue.ipv4_home_address("ims") is None
        assert set(p.dp.bindings) == {h1, h2}
        p.ue.detach("ims", p.clock.now)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert set(p.dp.bindings) == {h1}
        assert p.ue.state("internet") is UeState.REGISTERED
        # A handover moves every remaining PDN connection (one BU per HoA).
        p.ue.move(p.clock.now, coa6=COA6B)
        assert len(capture(p.ue, p.clock)) == 1


def test_binding_expires_at_the_ha_when_not_refreshed():
    from dsmip6.events import BindingExpired

    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        expiry = p.ha.binding(hoa).expires
        events(p.ha)
        # The UE goes silent (its refreshes are lost); the HA fires at exactly the expiry.
        while p.ha.get_timer() is not None and p.ha.get_timer() <= expiry:
            fire_timer(p.ha, p.clock)
        assert p.clock.now == expiry
        assert events(p.ha) == [BindingExpired(hoa)]
        assert hoa not in p.dp.bindings and hoa not in p.ha.bindings()


def test_withdraw_subscription_revokes_every_pdn_of_the_identity():
    pdns = (
        PdnConfig("internet", ha_address6=HA6, ha_address4=HA4),
        PdnConfig("ims", ha_address6=HA6, ha_address4=HA4),
    )
    with ue_and_ha(ue_kw={"pdns": pdns}) as p:
        p.ue.attach("internet", 0.0)
        p.ue.attach("ims", 0.0)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert p.ha.withdraw_subscription("ue1@nai.epc", p.clock.now) == 2
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert p.ue.state("internet") is UeState.DETACHED
        assert p.ue.state("ims") is UeState.DETACHED
        assert p.dp.bindings == {} and p.ha.session_count() == 0


def test_ue_programs_its_own_tunnel_after_each_ba():
    """STYLE §1.3: the UE's BUL entry goes to its DataPlane, switched only after the BA
    (RFC 5555 §5.1), removed on return home and detach."""
    from dsmip6.dataplane_iface import FakeDataPlane
    from proc_harness import make_ue

    with ue_and_ha() as p:
        ue_dp = FakeDataPlane()
        p.ue = make_ue(dataplane=ue_dp)
        p.ue.set_access(coa6=COA6)
        attach(p)
        hoa = p.ue.home_address("internet")
        assert ue_dp.bindings[hoa].care_of_address == COA6
        nat = nat_rewriters((str(COA4), 4191), ("203.0.113.9", 40077))
        p.ue.move(p.clock.now, coa4=COA4)
        transfer(p.ue, p.ha, p.clock, src_rewrite=nat[0])
        assert ue_dp.bindings[hoa].care_of_address == COA6  # not before the BA
        transfer(p.ha, p.ue, p.clock, dst_rewrite=nat[1])
        spec = ue_dp.bindings[hoa]
        assert spec.care_of_address == COA4 and spec.encapsulation is Encapsulation.UDP_IPV4
        p.ue.move(p.clock.now, home_prefixes=(p.ue.home_prefix("internet"),))
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert ue_dp.bindings == {}
        p.clock.now += 1.0  # RFC 6275 §12 MAX_UPDATE_RATE: three BUs already went this second
        p.ue.move(p.clock.now, coa6=COA6B)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert ue_dp.bindings[hoa].care_of_address == COA6B
        p.ue.detach("internet", p.clock.now)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        assert ue_dp.bindings == {}


def test_network_detach_reports_once():
    with ue_and_ha() as p:
        attach(p)
        p.ha.revoke(p.ue.home_address("internet"), p.clock.now)
        roundtrip_until_done(p.ue, p.ha, p.clock)
        kinds = [type(e) for e in events(p.ue)]
        assert kinds == [NetworkDetached]


def test_ue_releases_only_its_ipv4_home_address():
    """procedures.md §3 partial detach; RFC 5555 §4.4.2.1; TS 23.402 UE-initiated IPv4 HoA
    release: a lifetime > 0 BU without the IPv4 Home Address option; the IPv6 binding stays
    and later BUs do not ask for an IPv4 HoA again."""
    with ue_and_ha() as p:
        ue_dp = FakeDataPlane()
        p.ue = make_ue(dataplane=ue_dp)
        p.ue.set_access(coa6=COA6)
        attach(p)
        hoa, hoa4 = p.ue.home_address("internet"), p.ue.ipv4_home_address("internet")
        assert hoa4 is not None and p.ha.ipv4_pool.owner(hoa4) is not None
        assert ue_dp.bindings[hoa].ipv4_home_address == hoa4
        seq = p.ue.sequence("internet")
        p.clock.now += 10.0
        p.ue.release_ipv4_home_address("internet", p.clock.now)
        ((data, src, dst),) = capture(p.ue, p.clock)
        assert (src, dst) == ((str(COA6), 0), (str(HA6), 0))
        bu = peek(p.ue, data, src, dst, p.ha).message
        assert (bu.sequence, bu.lifetime_4s, bu.ipv4_hoa, bu.alt_coa) == (seq + 1, 900, None, COA6)
        assert (bu.a, bu.h, bu.k, bu.r, bu.o) == (True, True, True, True, False)  # Annex A.3
        p.ha.receive_datagram(data, src, dst, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        evs = events(p.ue)
        assert [type(e) for e in evs] == [Ipv4HomeAddressReleased, BindingAccepted]
        assert evs[0] == Ipv4HomeAddressReleased("internet", hoa4)
        assert p.ue.ipv4_home_address("internet") is None
        assert p.ha.ipv4_pool.owner(hoa4) is None  # the HA released it
        assert p.ha.bindings() == {hoa: BceState.ACTIVE}
        assert ue_dp.bindings[hoa].ipv4_home_address is None
        # The next refresh neither names nor requests an IPv4 HoA.
        fire_timer(p.ue, p.clock)
        ((data, src, dst),) = capture(p.ue, p.clock)
        assert peek(p.ue, data, src, dst, p.ha).message.ipv4_hoa is None


def test_ipv4_home_address_release_needs_one_and_a_binding():
    import pytest

    pdn = PdnConfig("internet", ha_address6=HA6, ha_address4=HA4, request_ipv4_home_address=False)
    with ue_and_ha(ue_kw=dict(pdns=(pdn,))) as p:
        with pytest.raises(LocalProtocolError, match="no IPv4 home address"):
            p.ue.release_ipv4_home_address("internet", 0.0)
        attach(p)
        assert p.ue.ipv4_home_address("internet") is None
        with pytest.raises(LocalProtocolError, match="no IPv4 home address"):
            p.ue.release_ipv4_home_address("internet", p.clock.now)
        assert capture(p.ue, p.clock) == []
    with ue_and_ha() as p:
        p.ue.attach("internet", 0.0)  # an IPv4 HoA is only known from a BA
        with pytest.raises(LocalProtocolError, match="no IPv4 home address"):
            p.ue.release_ipv4_home_address("internet", 0.0)


def test_ipv4_hoa_ack_132_is_retried_in_the_next_bu():
    """procedures.md §9.2 ([D]): IPv4 Address Ack 132 (dynamic assignment not available, RFC
    5555 §3.2.1) -> run without an IPv4 HoA, ask again (0.0.0.0) in the next BU."""
    with ue_and_ha(ha_kw=dict(ipv4_pool=IPv4Network("10.200.0.0/30"))) as p:
        others = []
        for i in (2, 3):  # the two usable addresses of the /30 go to other UEs
            o = make_ue(identity=f"ue{i}@nai.epc")
            o.set_access(coa6=COA6B)
            o.attach("internet", p.clock.now)
            roundtrip_until_done(o, p.ha, p.clock)
            assert o.ipv4_home_address("internet") is not None
            others.append(o)
        evs = attach(p)
        assert [e for e in evs if isinstance(e, Ipv4HomeAddressAssigned)] == [
            Ipv4HomeAddressAssigned("internet", 132, None, 32)
        ]
        assert p.ue.ipv4_home_address("internet") is None
        others[0].detach("internet", p.clock.now)  # frees one address
        roundtrip_until_done(others[0], p.ha, p.clock)
        fire_timer(p.ue, p.clock)  # the refresh
        ((data, src, dst),) = capture(p.ue, p.clock)
        bu = peek(p.ue, data, src, dst, p.ha).message
        assert bu.ipv4_hoa == _mh.Ipv4HoaOpt(IPv4Address(0))
        p.ha.receive_datagram(data, src, dst, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        (ev,) = [e for e in events(p.ue) if isinstance(e, Ipv4HomeAddressAssigned)]
        assert ev.status == 0 and ev.address in IPv4Network("10.200.0.0/30")
        assert p.ue.ipv4_home_address("internet") == ev.address
