"""Handover (TS 24.303 §5.2), return home, UE- and network-initiated detach (§5.3, §5.4,
RFC 5846), HA switch (RFC 5142), multiple PDN connections (§4.3) — pair harness, doubles."""

from ipaddress import IPv6Network

from dsmip6 import _mh
from dsmip6._state import BceState, UeState
from dsmip6.config import PdnConfig
from dsmip6.dataplane_iface import Encapsulation
from dsmip6.events import (
    AttachCompleted,
    BindingAccepted,
    BindingDeleted,
    BindingRevoked,
    BindingUpdated,
    DetachCompleted,
    HandoverCompleted,
    HomeAgentSwitched,
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


def test_home_agent_switch_deregisters_then_attaches_to_new_ha():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        new_ha = HA6  # the same HA object plays the new HA (its pools give a new HNP)
        p.ha.switch_home_agent(hoa, p.clock.now, (new_ha,))
        ((data, src, dst),) = capture(p.ha, p.clock)
        p.ue.receive_datagram(data, src, dst, p.clock.now)
        assert p.ue.state("internet") is UeState.DETACHING
        roundtrip_until_done(p.ue, p.ha, p.clock)
        evs = events(p.ue)
        kinds = [type(e) for e in evs]
        assert HomeAgentSwitched in kinds and kinds[-1] is AttachCompleted
        assert p.ue.state("internet") is UeState.REGISTERED


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
