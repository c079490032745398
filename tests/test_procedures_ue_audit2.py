"""UE steps of the session-4 audit (round 2): BRI step 5 statuses 133/134 and the other
refusals of procedures.md §4.2, Binding Error status 2 (RFC 6275 §11.3.6) — pair harness,
doubles, virtual clock, exact datagrams."""

from __future__ import annotations

from ipaddress import IPv4Address

from dsmip6 import _mh
from dsmip6._state import UeState
from dsmip6.events import AttachFailed
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
    ue_and_ha,
)


def _to_ue(p, msg):
    """``msg`` from the HA through its signalling SA, to the UE at its IPv6 CoA (RH2 = HoA)."""
    hoa = p.ue.home_address("internet")
    session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
    route = _mh.Route((str(HA6), 0), (str(COA6), 0), HA6, COA6, rh2=hoa)
    data = p.ha.signalling.encode(msg, route, session.sa_out)
    p.ue.receive_datagram(data, route.src, route.dst, p.clock.now)


def _sent(p):
    return [(s, t, peek(p.ue, d, s, t, p.ha).message) for d, s, t in capture(p.ue, p.clock)]


# ------------------------------------------------------------------------- BRI (RFC 5846)
def test_bri_unsupported_trigger_and_g_with_per_mn_trigger_are_refused():
    """procedures.md §4.2 step 5 (RFC 5846 §6.2, §8.1): a global revocation trigger (>= 128:
    per-peer policy, MN local policy) without G=1 -> BRA 133; G=1 with a per-MN trigger
    (< 128) -> BRA 134. The BRA goes back like a BU (from the CoA, HAO = HoA) through the
    signalling SA; the binding, the user plane and the timers stay untouched."""
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        timers = list(p.ue.timers)
        refresh = p.ue.timers.get(("internet", "refresh"))
        expiry = p.ue.binding_expiry("internet")
        for msg, status in (
            (_mh.Bri(128, 11), 133),  # Per-Peer Policy, G clear
            (_mh.Bri(129, 12), 133),  # Revoking Mobility Node Local Policy, G clear
            (_mh.Bri(1, 13, g=True), 134),  # Administrative Reason with G set
        ):
            _to_ue(p, msg)
            ((s, t, bra),) = _sent(p)
            assert (s, t) == ((str(COA6), 0), (str(HA6), 0))
            assert bra == _mh.Bra(status, msg.sequence)
        # The BRA really is addressed like a BU: HAO = HoA behind the CoA.
        _to_ue(p, _mh.Bri(128, 14))
        ((d, s, t),) = capture(p.ue, p.clock)
        rx = peek(p.ue, d, s, t, p.ha)
        assert (
            rx.route.mh_src == hoa
            and rx.spi == p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi].sa_in.spi
        )
        assert events(p.ue) == []
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ue.timers.get(("internet", "refresh")) == refresh
        assert p.ue.binding_expiry("internet") == expiry
        assert list(p.ue.timers) == timers
        # The HA still holds the binding and the UE can still refresh it normally.
        assert list(p.ha.bindings()) == [hoa]
        fire_timer(p.ue, p.clock)
        ((s, t, bu),) = _sent(p)
        assert isinstance(bu, _mh.Bu) and bu.lifetime_4s == 900


def test_bri_proxy_and_v_without_option_are_refused():
    """procedures.md §4.2 steps 3-4: P=1 -> BRA 135 (proxy revocation not supported); V=1
    without the IPv4 HoA option -> BRA 129 (V copied); nothing changes."""
    with ue_and_ha() as p:
        attach(p)
        hoa4 = p.ue.ipv4_home_address("internet")
        _to_ue(p, _mh.Bri(1, 21, p=True))
        ((_, _, bra),) = _sent(p)
        assert bra == _mh.Bra(135, 21)
        _to_ue(p, _mh.Bri(1, 22, v=True))
        ((_, _, bra),) = _sent(p)
        assert bra == _mh.Bra(129, 22, v=True)
        assert events(p.ue) == [] and p.ue.ipv4_home_address("internet") == hoa4
        assert p.ue.state("internet") is UeState.REGISTERED


def test_bri_for_another_home_address_is_silently_dropped():
    """procedures.md §4.2 step 2 / step 8: the RH2 address is not a HoA with a BUL entry ->
    no BRA at all (RFC 5846 §6.2: the HA retransmits once, then acts alone)."""
    with ue_and_ha() as p:
        attach(p)
        session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
        other = p.ue.home_address("internet") + 1
        route = _mh.Route((str(HA6), 0), (str(COA6), 0), HA6, COA6, rh2=other)
        data = p.ha.signalling.encode(_mh.Bri(1, 31), route, session.sa_out)
        p.ue.receive_datagram(data, route.src, route.dst, p.clock.now)
        assert capture(p.ue, p.clock) == [] and events(p.ue) == []
        assert p.ue.counters["bri-unknown-binding"] == 1
        assert p.ue.state("internet") is UeState.REGISTERED


# ----------------------------------------------------------------- Binding Error status 2
def test_binding_error_2_with_nothing_outstanding_is_ignored():
    """RFC 6275 §11.3.6 first case: no acknowledgement or response expected (registered, no
    BU outstanding; the UE's BRA expects none either) -> ignore: nothing sent, no state
    change, counted."""
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        refresh = p.ue.timers.get(("internet", "refresh"))
        _to_ue(p, _mh.Be(2, hoa))
        assert capture(p.ue, p.clock) == [] and events(p.ue) == []
        assert p.ue.counters["be-2"] == 1 and p.ue.counters["be-2-ignored"] == 1
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ue.timers.get(("internet", "refresh")) == refresh
        fire_timer(p.ue, p.clock)  # later BUs keep every extension (R, IPv4 HoA)
        ((_, _, bu),) = _sent(p)
        assert bu.r and bu.ipv4_hoa is not None


def _bu_then_be2(p):
    """Attach up to the first BU, hold it, answer it with Binding Error 2."""
    p.ue.attach("internet", p.clock.now)
    for _ in range(20):
        out = capture(p.ue, p.clock)
        bus = [x for x in out if x[2][1] in (0, 4191)]
        for d, s, t in out:
            if (d, s, t) not in bus:
                p.ha.receive_datagram(d, s, t, p.clock.now)
        for d, s, t in p.ha.datagrams_to_send(p.clock.now):
            p.ue.receive_datagram(d, s, t, p.clock.now)
        if bus:
            ((d, s, t),) = bus
            return peek(p.ue, d, s, t, p.ha).message
    raise AssertionError("no BU")


def test_binding_error_2_on_a_bu_drops_the_extensions_once_then_gives_up():
    """RFC 6275 §11.3.6 second case: a BU (a response expected) drew Binding Error 2 ->
    cease the extensions: the BU again at once with a new sequence number, without R (RFC
    3963), O (RFC 5648) and the IPv4 HoA request (RFC 5555). A second Binding Error 2: this
    node does not process BUs (as BA 131); no other HA known -> the attach fails."""
    with ue_and_ha() as p:
        first = _bu_then_be2(p)
        assert first.r and first.o and first.ipv4_hoa == _mh.Ipv4HoaOpt(IPv4Address(0))
        hoa = p.ue.home_address("internet")
        _to_ue(p, _mh.Be(2, hoa))
        ((s, t, bu),) = _sent(p)
        assert (s, t) == ((str(COA6), 0), (str(HA6), 0))
        assert bu.sequence == first.sequence + 1 and bu.lifetime_4s == first.lifetime_4s
        assert (bu.a, bu.h, bu.k, bu.r, bu.o, bu.f) == (True, True, True, False, False, False)
        assert bu.ipv4_hoa is None and bu.alt_coa == COA6
        assert p.ue.counters["be-2-plain-bu"] == 1
        assert p.ue.state("internet") is UeState.REGISTERING
        _to_ue(p, _mh.Be(2, hoa))
        assert capture(p.ue, p.clock) == []
        assert events(p.ue)[-1] == AttachFailed(
            "internet", "binding error 2: the home agent does not process the BU"
        )
        assert p.ue.state("internet") is UeState.FAILED
        assert p.ue.timers.get(("internet", "bu")) is None


def test_binding_error_2_from_an_ipv4_coa_has_no_extension_to_drop():
    """From an IPv4 CoA the BU needs the RFC 5555 IPv4 CoA option (UDP 4191): Binding Error 2
    there means no BU service at all -> the attach fails at once."""
    with ue_and_ha(coa6=None, coa4=COA4) as p:
        first = _bu_then_be2(p)
        assert first.ipv4_coa == COA4
        hoa = p.ue.home_address("internet")
        session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
        route = _mh.Route((str(HA4), 4191), (str(COA4), 4191), HA6, hoa)
        data = p.ha.signalling.encode(_mh.Be(2, hoa), route, session.sa_out)
        p.ue.receive_datagram(data, route.src, route.dst, p.clock.now)
        assert capture(p.ue, p.clock) == []
        assert isinstance(events(p.ue)[-1], AttachFailed)
        assert p.ue.counters["be-2-no-bu-service"] == 1


# ------------------------------------------------------------- K=0 after a move (step 6)
def _log_round(p, log):
    """Deliver everything both ways until quiet, logging the UE's datagrams."""
    from proc_doubles import _dec

    for _ in range(30):
        moved = 0
        for d, s, t in capture(p.ue, p.clock):
            moved += 1
            if t[1] in (500, 4500):
                m = _dec(d)
                log.append((p.clock.now, s, t, m["t"], m["spi"]))
            else:
                msg = peek(p.ue, d, s, t, p.ha).message
                log.append((p.clock.now, s, t, type(msg).__name__, msg))
            p.ha.receive_datagram(d, s, t, p.clock.now)
        for d, s, t in p.ha.datagrams_to_send(p.clock.now):
            moved += 1
            p.ue.receive_datagram(d, s, t, p.clock.now)
        if not moved:
            return
    raise AssertionError("did not settle")


def test_k_clear_after_a_move_re_establishes_ike_from_the_new_coa():
    """RFC 4877 §7.4 (no way to update the IKE addresses -> "an IKEv2 exchange MUST be
    initiated to re-establish a new IKE SA"), RFC 6275 §11.7.3 (K=0: SHOULD discard the old
    one): moved from the IPv6 CoA to an IPv4-only access, BA K=0. The UE keeps the binding
    while a new IKE SA comes up from the new CoA with the same HNP, gets a new MH SA for the
    same HoA, deletes the old IKE SA (request sent from the new CoA), and on the Delete's
    answer registers the HoA again through the new SA (O=1: the HA's binding went with the
    old IKE SA, RFC 4877 §9). Exact datagrams, one instant."""
    with ue_and_ha(ha_kw={"support_k": False}) as p:
        attach(p)
        pdn = p.ue._pdns["internet"]
        old_ike, old_sa = pdn.ike, pdn.sa_in.spi
        hoa, prefix = p.ue.home_address("internet"), p.ue.home_prefix("internet")
        seq = p.ue.sequence("internet")
        p.ue.move(p.clock.now, coa4=COA4)
        log = []
        _log_round(p, log)
        new_ike = pdn.ike
        assert new_ike is not old_ike
        c4 = str(COA4)
        ike_ep = ((c4, 500), (str(HA4), 500))
        mh_ep = ((c4, 4191), (str(HA4), 4191))
        got = [(s, t, kind, x if kind in ("init", "child", "del") else None)
               for _, s, t, kind, x in log]  # fmt: skip
        assert got == [
            (*mh_ep, "Bu", None),  # the move's BU (K=1), answered K=0
            (*ike_ep, "init", new_ike.spi),  # a new IKE SA from the new CoA
            (*ike_ep, "child", new_ike.spi),  # the MH SA for the same HoA on it
            (*ike_ep, "del", old_ike.spi),  # the old IKE SA deleted, from the new CoA
            (*mh_ep, "Bu", None),  # the HoA registered again through the new SA
        ]
        assert {t for t, *_ in log} == {p.clock.now}
        first_bu, again = log[0][4], log[-1][4]
        assert first_bu.k and first_bu.sequence == seq + 1
        assert again.o and again.sequence == seq + 2 and again.ipv4_coa == COA4
        # The IPv4 HoA went with the old binding (RFC 5555 §3.1): requested again.
        assert first_bu.ipv4_hoa is not None and first_bu.ipv4_hoa.address != IPv4Address(0)
        assert again.ipv4_hoa == _mh.Ipv4HoaOpt(IPv4Address(0))
        assert old_ike.moves == [ike_ep] and old_ike.infos == 0  # moved locally, no probe
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ue.home_address("internet") == hoa and p.ue.home_prefix("internet") == prefix
        assert pdn.sa_in.spi != old_sa and p.ue._by_spi == {pdn.sa_in.spi: pdn}
        assert list(p.ha.ike.sas) == [new_ike.spi]
        assert list(p.ha.bindings()) == [hoa]
        session = p.ha._by_spi[pdn.sa_out.spi]
        assert p.ha.binding(hoa) is session or p.ha.binding(hoa)._home is session
        assert p.ue.counters["ike-renew-started"] == 1 and p.ue.counters["ike-renewed"] == 1
        # The HA's IKE SA now points at the new CoA: a later HA-initiated delete reaches it.
        p.ha.ike.delete_ike_sa(new_ike.spi, p.clock.now)
        ((_, dst),) = [(d, t) for d, _, t in p.ha.ike.datagrams_to_send(p.clock.now)]
        assert dst == (c4, 500)


def test_k_clear_keeps_the_ike_sa_while_its_address_is_still_there():
    """[D] RFC 6275 §11.7.3 / RFC 4877 §7.4: the IKE SA need not be re-established when its
    endpoint did not go away: a dual-stack access where the BU left from the IPv4 CoA (RFC
    5555 §4.4.1 fallback) while the IKE SA runs from the IPv6 CoA still present. Kept as
    is, unmoved; nothing else sent."""
    with ue_and_ha(ha_kw={"support_k": False}) as p:
        attach(p)
        pdn = p.ue._pdns["internet"]
        ike = pdn.ike
        fire_timer(p.ue, p.clock)  # the refresh, on a dual-stack access now
        p.ue.set_access(coa6=COA6, coa4=COA4)
        for _ in range(3):  # three BUs from the IPv6 CoA lost (RFC 5555 §4.4.1)
            ((_, s, _),) = capture(p.ue, p.clock)
            assert s == (str(COA6), 0)
            fire_timer(p.ue, p.clock)
        log = []
        _log_round(p, log)
        assert [kind for *_, kind, _ in log] == ["Bu"]
        assert log[0][1:3] == ((str(COA4), 4191), (str(HA4), 4191))
        assert pdn.ike is ike and ike.moves == [] and ike.infos == 0
        assert p.ue.counters["ba-k-clear"] == 1
        assert p.ue.counters["ike-kept-after-k-clear"] == 1
        assert p.ue.state("internet") is UeState.REGISTERED


def test_k_clear_renewal_that_fails_keeps_the_old_ike_sa():
    """The new IKE SA never comes up (no answer): the UE keeps the old IKE SA and the binding
    (registered through the old MH SA) rather than lose the HoA; counted."""
    with ue_and_ha(ha_kw={"support_k": False}) as p:
        attach(p)
        pdn = p.ue._pdns["internet"]
        old_ike, old_sa = pdn.ike, pdn.sa_in
        p.ue.move(p.clock.now, coa4=COA4)
        (bu,) = capture(p.ue, p.clock)
        p.ha.receive_datagram(*bu, p.clock.now)
        for d, s, t in p.ha.datagrams_to_send(p.clock.now):
            p.ue.receive_datagram(d, s, t, p.clock.now)
        assert p.ue.counters["ike-renew-started"] == 1
        for _ in range(10):  # every IKE datagram is lost
            capture(p.ue, p.clock)
            if pdn.ike is old_ike:
                break
            fire_timer(p.ue, p.clock)
        assert pdn.ike is old_ike and pdn.sa_in is old_sa
        assert p.ue.counters["ike-renew-failed"] == 1
        assert p.ue.state("internet") is UeState.REGISTERED
        assert list(p.ha.bindings()) == [p.ue.home_address("internet")]


# ------------------------------------------------------------- F=1 after losses (§1.7)
def _attach_v4_without_nat_option(p):
    """Attach from the IPv4 CoA; the HA's BAs reach the UE without the NAT Detection option
    (an HA that sends it only when it saw a NAT, RFC 5555 §4.2 read that way): plain
    IP-in-IPv4 user data."""
    from dataclasses import replace

    p.ue.attach("internet", p.clock.now)
    for _ in range(30):
        moved = transfer_all(p.ue, p.ha, p.clock)
        for d, s, t in p.ha.datagrams_to_send(p.clock.now):
            moved += 1
            if t[1] == 4191:
                rx = peek(p.ha, d, s, t, p.ue)
                if isinstance(rx.message, _mh.Ba):
                    session = p.ha._by_spi[p.ue._pdns["internet"].sa_out.spi]
                    ba = replace(rx.message, nat_detection=None)
                    d = p.ha.signalling.encode(ba, rx.route, session.sa_out)
            p.ue.receive_datagram(d, s, t, p.clock.now)
        if not moved:
            return
    raise AssertionError("did not settle")


def transfer_all(a, b, clock):
    n = 0
    for d, s, t in a.datagrams_to_send(clock.now):
        b.receive_datagram(d, s, t, clock.now)
        n += 1
    return n


def test_persistent_losses_on_ip_in_ipv4_re_register_with_f():
    """RFC 5555 §4.4.1 (procedures.md §1.7): told of persistent losses on an IPv4 CoA with
    IP-in-IP, the UE re-registers at once with F=1 from UDP 4191; the HA's BA (with NAT
    Detection for the UDP BU) moves the UE's user plane to UDP 4191; the refresh keeps F."""
    from dsmip6.dataplane_iface import Encapsulation, FakeDataPlane
    from proc_harness import make_ue

    with ue_and_ha(coa6=None, coa4=COA4) as p:
        ue_dp = FakeDataPlane()
        p.ue = make_ue(dataplane=ue_dp)
        p.ue.set_access(coa4=COA4)
        _attach_v4_without_nat_option(p)
        hoa = p.ue.home_address("internet")
        assert p.ue.state("internet") is UeState.REGISTERED
        assert ue_dp.bindings[hoa].encapsulation is Encapsulation.IP_IN_IPV4
        events(p.ue)
        seq = p.ue.sequence("internet")
        assert p.ue.report_persistent_losses("internet", p.clock.now) is True
        ((s, t, bu),) = _sent_keep(p)
        assert (s, t) == ((str(COA4), 4191), (str(HA4), 4191))
        assert bu.f and bu.sequence == seq + 1 and bu.lifetime_4s == 900 and not bu.o
        assert bu.ipv4_coa == COA4
        transfer_all(p.ha, p.ue, p.clock)
        assert p.ue.state("internet") is UeState.REGISTERED
        assert ue_dp.bindings[hoa].encapsulation is Encapsulation.UDP_IPV4
        assert ue_dp.bindings[hoa].udp_port == 4191
        assert p.ha.binding(hoa) is not None
        # Not applicable any more (already UDP): nothing sent, False.
        assert p.ue.report_persistent_losses("internet", p.clock.now) is False
        assert capture(p.ue, p.clock) == []
        fire_timer(p.ue, p.clock)  # the refresh keeps F
        ((_, _, bu),) = _sent(p)
        assert bu.f


def _sent_keep(p):
    """The UE's datagrams, decoded, and delivered to the HA."""
    out = []
    for d, s, t in capture(p.ue, p.clock):
        out.append((s, t, peek(p.ue, d, s, t, p.ha).message))
        p.ha.receive_datagram(d, s, t, p.clock.now)
    return out


def test_persistent_losses_do_not_force_udp_from_ipv6_or_when_already_udp():
    """procedures.md §1.7: from an IPv6 access no UDP encapsulation; an IPv4 binding whose BA
    carried NAT Detection already uses UDP 4191: nothing to do (False, nothing sent)."""
    with ue_and_ha() as p:
        attach(p)
        assert p.ue.report_persistent_losses("internet", p.clock.now) is False
        assert capture(p.ue, p.clock) == []
    with ue_and_ha(coa6=None, coa4=COA4) as p:
        attach(p)
        assert p.ue.report_persistent_losses("internet", p.clock.now) is False
        assert capture(p.ue, p.clock) == []
        assert p.ue.counters["force-udp-not-applicable"] == 1


def test_forced_udp_is_dropped_when_the_ue_moves_to_ipv6():
    """RFC 5555 §4.4.1: no UDP encapsulation from an IPv6 CoA: the BU from the IPv6 CoA goes
    without F even after F was requested on IPv4."""
    with ue_and_ha(coa6=None, coa4=COA4) as p:
        _attach_v4_without_nat_option(p)
        assert p.ue.report_persistent_losses("internet", p.clock.now) is True
        transfer_all(p.ue, p.ha, p.clock)
        transfer_all(p.ha, p.ue, p.clock)
        p.ue.move(p.clock.now, coa6=COA6)
        ((s, _, bu),) = _sent(p)
        assert s == (str(COA6), 0) and not bu.f and bu.alt_coa == COA6
