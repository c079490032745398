"""UE steps of procedures.md that had no test of their own (audit of mn.py, session 4):
CoA family fallback, Binding Error 1, IPv4-only revocation, Binding Refresh Advice in the
BA — pair harness, doubles, virtual clock, exact datagrams."""

from __future__ import annotations

from ipaddress import IPv4Address

from dsmip6 import _mh
from dsmip6._state import UeState
from dsmip6.events import BindingAccepted, NetworkDetached
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
    transfer,
    ue_and_ha,
)


def _mh_datagram(dst) -> bool:
    return dst[1] in (0, 4191)


def test_dual_stack_access_falls_back_to_the_ipv4_coa_after_three_bus():
    """RFC 5555 §4.4.1 (procedures.md §1.7): IPv6 CoA first; after three transmissions
    without a BA the next BU leaves from the IPv4 CoA (UDP 4191, IPv4 CoA option)."""
    with ue_and_ha(coa6=COA6, coa4=COA4) as p:
        p.ue.attach("internet", p.clock.now)
        bus = []
        for _ in range(40):
            for _ in range(20):  # settle this instant
                moved = 0
                for d, s, t in capture(p.ue, p.clock):
                    moved += 1
                    if _mh_datagram(t):
                        bus.append((p.clock.now, s, t, peek(p.ue, d, s, t, p.ha).message))
                        if len(bus) <= 3:
                            continue  # the first three BUs (IPv6 CoA) are lost
                    p.ha.receive_datagram(d, s, t, p.clock.now)
                moved += transfer(p.ha, p.ue, p.clock)
                if not moved:
                    break
            if p.ue.state("internet") is UeState.REGISTERED:
                break
            fire_timer(p.ue, p.clock)
        t0 = bus[0][0]
        # InitialBindackTimeoutFirstReg 1.5 s doubling (RFC 6275 §11.8).
        assert [t - t0 for t, *_ in bus] == [0.0, 1.5, 4.5, 10.5]
        for _, s, t, bu in bus[:3]:
            assert (s, t) == ((str(COA6), 0), (str(HA6), 0)) and bu.alt_coa == COA6
        _, s, t, bu = bus[3]
        assert (s, t) == ((str(COA4), 4191), (str(HA4), 4191))
        assert bu.ipv4_coa == COA4 and bu.alt_coa is None
        assert [b.sequence for *_, b in bus] == [1, 2, 3, 4]  # new number each time
        acc = [e for e in events(p.ue) if isinstance(e, BindingAccepted)]
        assert [e.care_of_address for e in acc] == [COA4]


def test_binding_error_1_makes_the_ue_register_afresh():
    """procedures.md §9.3: Binding Error status 1 (the HA has no binding for the HoA) -> a
    full registration again: new sequence number, O=1 (no binding), 1.5 s first timeout."""
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        seq = p.ue.sequence("internet")
        session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
        route = _mh.Route((str(HA6), 0), (str(COA6), 0), HA6, COA6, rh2=hoa)
        data = p.ha.signalling.encode(_mh.Be(1, hoa), route, session.sa_out)
        p.ue.receive_datagram(data, route.src, route.dst, p.clock.now)
        ((d, s, t),) = capture(p.ue, p.clock)
        bu = peek(p.ue, d, s, t, p.ha).message
        assert (s, t) == ((str(COA6), 0), (str(HA6), 0))
        assert (bu.sequence, bu.lifetime_4s, bu.o, bu.a, bu.h, bu.k, bu.r) == (
            seq + 1, 900, True, True, True, True, True,
        )  # fmt: skip
        assert p.ue.timers.get(("internet", "bu")) == p.clock.now + 1.5
        assert p.ue.counters["be-1"] == 1
        p.ha.receive_datagram(d, s, t, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        assert p.ue.state("internet") is UeState.REGISTERED


def test_bri_with_v_revokes_only_the_ipv4_hoa():
    """RFC 5846 §6.2 / procedures.md §4.2 step 4: V=1 with the UE's IPv4 HoA -> BRA status 0
    with V, only the IPv4 HoA goes (the IPv6 binding stays, later BUs do not ask again);
    V=1 naming another address -> BRA 128 and nothing changes."""
    from dsmip6.dataplane_iface import FakeDataPlane
    from proc_harness import make_ue

    with ue_and_ha() as p:
        ue_dp = FakeDataPlane()
        p.ue = make_ue(dataplane=ue_dp)
        p.ue.set_access(coa6=COA6)
        attach(p)
        hoa, hoa4 = p.ue.home_address("internet"), p.ue.ipv4_home_address("internet")
        assert hoa4 is not None and ue_dp.bindings[hoa].ipv4_home_address == hoa4
        session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
        route = _mh.Route((str(HA6), 0), (str(COA6), 0), HA6, COA6, rh2=hoa)

        def bri(seq, addr):
            msg = _mh.Bri(1, seq, v=True, ipv4_hoa=_mh.Ipv4HoaOpt(addr))
            p.ue.receive_datagram(p.ha.signalling.encode(msg, route, session.sa_out),
                                  route.src, route.dst, p.clock.now)  # fmt: skip
            ((d, s, t),) = capture(p.ue, p.clock)
            assert (s, t) == ((str(COA6), 0), (str(HA6), 0))
            return peek(p.ue, d, s, t, p.ha).message

        assert bri(7, IPv4Address("10.9.9.9")) == _mh.Bra(128, 7, v=True)
        assert p.ue.ipv4_home_address("internet") == hoa4 and events(p.ue) == []
        assert bri(8, hoa4) == _mh.Bra(0, 8, v=True)
        assert events(p.ue) == [NetworkDetached("internet", 1, ipv4_only=True)]
        assert p.ue.ipv4_home_address("internet") is None
        assert p.ue.state("internet") is UeState.REGISTERED
        assert ue_dp.bindings[hoa].ipv4_home_address is None  # the UE's tunnel follows
        assert ue_dp.bindings[hoa].care_of_address == COA6
        fire_timer(p.ue, p.clock)  # the refresh: no IPv4 HoA option any more
        ((d, s, t),) = capture(p.ue, p.clock)
        assert peek(p.ue, d, s, t, p.ha).message.ipv4_hoa is None


def test_binding_refresh_advice_in_the_ba_brings_the_refresh_forward():
    """RFC 6275 §11.7.3 (procedures.md §1.6.3 step 7): the refresh at the advice (counted from
    the BU transmission) when it is sooner than 75 % of the granted lifetime."""
    with ue_and_ha(ha_kw=dict(refresh_advice_4s=100)) as p:
        p.ue.attach("internet", p.clock.now)
        sent_at = None
        for _ in range(20):
            for d, s, t in capture(p.ue, p.clock):
                if _mh_datagram(t) and sent_at is None:
                    sent_at = p.clock.now
                p.ha.receive_datagram(d, s, t, p.clock.now)
            if not transfer(p.ha, p.ue, p.clock):
                break
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ue.timers.get(("internet", "refresh")) == sent_at + 400.0
        assert p.ue.binding_expiry("internet") == sent_at + 3600.0
        events(p.ue)
        assert fire_timer(p.ue, p.clock) == sent_at + 400.0
        ((d, s, t),) = capture(p.ue, p.clock)
        assert peek(p.ue, d, s, t, p.ha).message.o is False  # Annex A.3 refresh
        p.ha.receive_datagram(d, s, t, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        (acc,) = events(p.ue)  # a refresh: no HandoverCompleted (same CoA)
        assert isinstance(acc, BindingAccepted) and acc.lifetime == 3600.0


def test_unanswered_ike_is_retried_after_the_back_off_then_the_attach_fails():
    """RFC 5026 §5.1.2 (procedures.md §1.1 c): no answer to IKE_SA_INIT -> retry after a
    configurable back-off (``ike_retry_backoff`` 5 s, ``ike_attempts`` 3), then give up with
    AttachFailed; each attempt is a new IKE SA retransmitted by the engine (RFC 7296 §2.1)."""
    with ue_and_ha() as p:
        p.ue.attach("internet", p.clock.now)
        sent = []
        for _ in range(60):
            for d, s, t in capture(p.ue, p.clock):
                assert (s, t) == ((str(COA6), 500), (str(HA6), 500))
                sent.append((p.clock.now, d))  # all lost
            if p.ue.state("internet") is UeState.FAILED or p.ue.get_timer() is None:
                break
            fire_timer(p.ue, p.clock)
        # Each engine: 0, +0.5, +1.5, +3.5, +7.5, gives up at +15.5; the next starts 5 s later.
        one = [0.0, 0.5, 1.5, 3.5, 7.5]
        assert [t for t, _ in sent] == one + [20.5 + x for x in one] + [41.0 + x for x in one]
        assert len({d for _, d in sent}) == 3  # three IKE SAs (SPIs), each retransmitted as is
        assert p.ue.state("internet") is UeState.FAILED and p.clock.now == 56.5
        failed = [e for e in events(p.ue) if type(e).__name__ == "AttachFailed"]
        assert [e.reason for e in failed] == ["ike: timeout"]


def test_ba_140_falls_back_to_a_registration_without_r():
    """procedures.md §9.1: 140 (mobile router operation not permitted) -> try another HA,
    else ([D]) register without R; no other HA is kept, so the next BU has R=0, a new
    sequence number, and is accepted; the UE's tunnel flags drop R."""
    from dsmip6.dataplane_iface import FakeDataPlane
    from dsmip6.events import BindingRejected
    from proc_harness import make_ue

    with ue_and_ha(ha_kw={"mobile_router": False}) as p:
        ue_dp = FakeDataPlane()
        p.ue = make_ue(dataplane=ue_dp)
        p.ue.set_access(coa6=COA6)
        p.ue.attach("internet", p.clock.now)
        seen = []
        for _ in range(20):
            moved = 0
            for d, s, t in capture(p.ue, p.clock):
                if _mh_datagram(t):
                    bu = peek(p.ue, d, s, t, p.ha).message
                    seen.append((p.clock.now, bu.sequence, bu.r, bu.o))
                p.ha.receive_datagram(d, s, t, p.clock.now)
                moved += 1
            moved += transfer(p.ha, p.ue, p.clock)
            if not moved:
                break
        assert [(seq, r, o) for _, seq, r, o in seen] == [(1, True, True), (2, False, True)]
        assert seen[0][0] == seen[1][0]  # at once (within MAX_UPDATE_RATE)
        assert p.ha.counters["ba-140"] == 1 and p.ha.counters["ba-0"] == 1
        evs = events(p.ue)
        assert BindingRejected("internet", 140, "retry-without-r") in evs
        assert p.ue.state("internet") is UeState.REGISTERED
        hoa = p.ue.home_address("internet")
        assert ue_dp.bindings[hoa].flags == 0xD000  # A, H, K without R
        assert "ba-r-clear" not in p.ue.counters  # R=0 in the BA was expected
        fire_timer(p.ue, p.clock)  # the refresh keeps R=0
        ((d, s, t),) = capture(p.ue, p.clock)
        assert peek(p.ue, d, s, t, p.ha).message.r is False


def test_ba_with_k_clear_leaves_the_ike_endpoint_and_is_counted():
    """RFC 6275 §10.3.1/§11.7.3: an HA that cannot move its IKE endpoint answers K=0; the UE
    does not move its own either (nor sends the post-move INFORMATIONAL) and counts it. Its
    old address is gone, so (session 4 round 2, RFC 4877 §7.4) the only thing it sends is the
    IKE_SA_INIT of a new IKE SA from the new CoA (the rest: test_procedures_ue_audit2.py)."""
    with ue_and_ha(ha_kw={"support_k": False}) as p:
        attach(p)
        ike = p.ue._pdns["internet"].ike
        p.ue.move(p.clock.now, coa4=COA4)
        (bu,) = capture(p.ue, p.clock)
        p.ha.receive_datagram(*bu, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        assert p.ue.state("internet") is UeState.REGISTERED
        assert ike.moves == [] and ike.infos == 0 and p.ha.ike.moves == []
        assert p.ue.counters["ba-k-clear"] == 1
        ((d, src, dst),) = capture(p.ue, p.clock)
        assert (src, dst) == ((str(COA4), 500), (str(HA4), 500)) and b'"t": "init"' in d
        assert p.ue._pdns["internet"].ike is not ike


def test_home_prefix_lifetime_from_ikev2_caps_the_first_bu():
    """RFC 6275 §11.7.1 (Lifetime SHOULD be <= the remaining valid lifetime of the HoA) with
    the MIP6_HOME_PREFIX Prefix Lifetime of the CFG_REPLY (RFC 5026 §8.2) as that lifetime."""
    with ue_and_ha() as p:
        p.ha.ike.prefix_lifetime = 1000
        p.ue.attach("internet", p.clock.now)
        bus = []
        for _ in range(20):
            moved = 0
            for d, s, t in capture(p.ue, p.clock):
                if _mh_datagram(t):
                    bus.append((p.clock.now, peek(p.ue, d, s, t, p.ha).message.lifetime_4s))
                p.ha.receive_datagram(d, s, t, p.clock.now)
                moved += 1
            moved += transfer(p.ha, p.ue, p.clock)
            if not moved:
                break
        ((t_bu, life),) = bus
        assert life == 250  # 1000 s, not the configured 900 units
        assert p.ue.binding_expiry("internet") == t_bu + 1000.0
        # A cap on every BU, not a countdown (RFC 4877 §9: valid while the IKE SA lives).
        assert fire_timer(p.ue, p.clock) == t_bu + 750.0
        ((d, s, t),) = capture(p.ue, p.clock)
        assert peek(p.ue, d, s, t, p.ha).message.lifetime_4s == 250
    with ue_and_ha() as p:
        p.ha.ike.prefix_lifetime = 0xFFFFFFFF  # all ones: no limit
        attach(p)
        assert p.ue.binding_expiry("internet") == p.clock.now + 3600.0


def test_attach_on_the_home_link_sends_no_bu_and_leaving_home_registers_with_o_set():
    """procedures.md §1.5 (home link detection: at home, no BU) and §2.5 (home -> foreign:
    a registration with the A.2 settings, O=1, since the HA holds no binding)."""
    from ipaddress import IPv6Network

    from dsmip6.events import AtHome, AttachCompleted

    home = IPv6Network("2001:db8:8000::/64")  # the first HNP the harness HA assigns
    with ue_and_ha(coa6=None) as p:
        p.ue.set_access(home_prefixes=(home,))
        evs = []
        p.ue.attach("internet", p.clock.now)
        mh = []
        for _ in range(20):
            moved = 0
            for d, s, t in capture(p.ue, p.clock):
                moved += 1
                if _mh_datagram(t):
                    mh.append((d, s, t))
                p.ha.receive_datagram(d, s, t, p.clock.now)
            moved += transfer(p.ha, p.ue, p.clock)
            if not moved:
                break
        evs = events(p.ue)
        assert p.ue.home_prefix("internet") == home
        assert mh == [] and p.ha.bindings() == {}
        assert p.ue.state("internet") is UeState.AT_HOME
        hoa = p.ue.home_address("internet")
        assert [e for e in evs if type(e) in (AtHome, AttachCompleted)] == [
            AtHome("internet"),
            AttachCompleted("internet", hoa, None, at_home=True),
        ]
        p.ue.move(p.clock.now, coa6=COA6)
        ((d, s, t),) = capture(p.ue, p.clock)
        bu = peek(p.ue, d, s, t, p.ha).message
        assert (s, t) == ((str(COA6), 0), (str(HA6), 0))
        assert (bu.o, bu.r, bu.lifetime_4s, bu.alt_coa) == (True, True, 900, COA6)
        assert p.ue.timers.get(("internet", "bu")) == p.clock.now + 1.5  # first registration
        p.ha.receive_datagram(d, s, t, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        assert p.ue.state("internet") is UeState.REGISTERED
