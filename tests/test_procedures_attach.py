"""Initial attach, registration timers and BA handling with the pair harness (STYLE §6).

IKE, wire and ESP are the test doubles of tests/proc_doubles.py here; the same scenarios run
on the real pieces in tests/test_sim_*.py."""

from ipaddress import IPv4Address

from dsmip6 import _mh
from dsmip6._state import BceState, UeState
from dsmip6.dataplane_iface import Encapsulation
from dsmip6.events import (
    AttachCompleted,
    BindingAccepted,
    BindingCreated,
    BindingRejected,
    HomeAgentDiscovered,
    IkeEstablished,
    Ipv4HomeAddressAssigned,
)
from proc_harness import (
    COA4,
    COA6,
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


def ike_and_child(p):
    """Run discovery + IKE + CREATE_CHILD_SA; stop before the first BU is delivered."""
    p.ue.attach("internet", p.clock.now)
    for _ in range(4):  # IKE init, child
        transfer(p.ue, p.ha, p.clock)
        transfer(p.ha, p.ue, p.clock)
        if p.ue.state("internet") is UeState.REGISTERING:
            return
    raise AssertionError(p.ue.state("internet"))


def test_initial_attach_ipv6_access():
    with ue_and_ha() as p:
        evs = attach(p)
        kinds = [type(e) for e in evs]
        assert kinds == [
            HomeAgentDiscovered,
            IkeEstablished,
            Ipv4HomeAddressAssigned,
            BindingAccepted,
            AttachCompleted,
        ]
        hoa = p.ue.home_address("internet")
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ha.bindings() == {hoa: BceState.ACTIVE}
        spec = p.dp.bindings[hoa]
        assert spec.care_of_address == COA6
        assert spec.encapsulation is Encapsulation.IP_IN_IPV6
        assert spec.ipv4_home_address == p.ue.ipv4_home_address("internet")
        assert spec.ipv4_home_address in p.ha.config.ipv4_pool
        assert hoa in spec.home_prefix and spec.home_prefix.prefixlen == 64
        (created,) = [e for e in events(p.ha) if isinstance(e, BindingCreated)]
        assert created.identity == "ue1@nai.epc"


def test_first_bu_fields_annex_a2():
    with ue_and_ha() as p:
        ike_and_child(p)
        ((data, src, dst),) = capture(p.ue, p.clock)
        rx = peek(p.ue, data, src, dst, p.ha)
        bu = rx.message
        assert isinstance(bu, _mh.Bu)
        # TS 24.303 Annex A.2.1: A=1 H=1 K=1 R=1 O=1 F=0; Alt-CoA = CoA; IPv4 HoA 0.0.0.0/32.
        assert (bu.a, bu.h, bu.k, bu.r, bu.o, bu.f) == (True, True, True, True, True, False)
        assert bu.alt_coa == COA6
        assert bu.ipv4_hoa == _mh.Ipv4HoaOpt(IPv4Address(0), 32, False)
        assert bu.lifetime_4s == 900
        # RFC 6275 §11.7.1: from the CoA with HAO = HoA, to the HA.
        assert rx.route.ip6_src == COA6 and rx.route.hao == p.ue.home_address("internet")
        assert rx.route.ip6_dst == HA6 and rx.spi is not None


def test_bu_loss_retransmits_at_exact_instants_first_registration():
    """RFC 6275 §11.8/§13: 1.5 s, then 3, 6, 12, 24, 32, 32 ...; new seq each time."""
    with ue_and_ha() as p:
        ike_and_child(p)
        t0 = p.clock.now
        seqs = [p.ue.sequence("internet")]
        assert drop(p.ue, p.clock) == 1
        expected = [1.5, 4.5, 10.5, 22.5, 46.5, 78.5, 110.5]
        for at in expected:
            fire_timer(p.ue, p.clock)
            assert p.clock.now == t0 + at
            assert drop(p.ue, p.clock) == 1
            seqs.append(p.ue.sequence("internet"))
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # The 8th BU gets through.
        fire_timer(p.ue, p.clock)
        assert p.clock.now == t0 + 142.5
        assert transfer(p.ue, p.ha, p.clock) == 1
        assert transfer(p.ha, p.ue, p.clock) == 1
        assert p.ue.state("internet") is UeState.REGISTERED


def test_lifetime_counted_from_bu_transmission():
    """RFC 6275 §11.7.3 (test-vectors.md §9.3): BU at t=0 with 900 units, BA at t=2 with
    600 units -> remaining 2398 s."""
    with ue_and_ha(ha_kw={"max_lifetime_4s": 600}) as p:
        ike_and_child(p)
        sent = p.clock.now
        bu_pkts = capture(p.ue, p.clock)
        p.clock.now = sent + 2.0
        for data, src, dst in bu_pkts:
            p.ha.receive_datagram(data, src, dst, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        acc = [e for e in events(p.ue) if isinstance(e, BindingAccepted)]
        assert acc[-1].lifetime == 2398.0
        assert p.ue.binding_expiry("internet") == sent + 2400.0
        # Refresh at 75 % of the granted lifetime from the BU send time.
        assert p.ue.timers.get(("internet", "refresh")) == sent + 1800.0


def test_refresh_uses_one_second_timer_and_o_flag_clear():
    with ue_and_ha() as p:
        attach(p)
        seq = p.ue.sequence("internet")
        fire_timer(p.ue, p.clock)  # refresh point
        assert p.clock.now == p.ue.timers.get(("internet", "expire")) - 900
        ((data, src, dst),) = capture(p.ue, p.clock)
        rx = peek(p.ue, data, src, dst, p.ha)
        assert rx.message.sequence == seq + 1 and rx.message.o is False
        # Lost: the retransmission comes 1 s later (binding exists, RFC 6275 §12).
        t = p.clock.now
        fire_timer(p.ue, p.clock)
        assert p.clock.now == t + 1.0
        transfer(p.ue, p.ha, p.clock)
        transfer(p.ha, p.ue, p.clock)
        assert p.ue.state("internet") is UeState.REGISTERED


def test_sequence_resync_on_135():
    """RFC 6275 §11.7.3: the UE adopts the HA's sequence number and retries with the next."""
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        last = p.ha.binding(hoa).seq
        # The UE loses its counter (e.g. reboot of the BUL): pretend it is 100 behind.
        p.ue._pdns["internet"].seq = (last - 100) & 0xFFFF
        p.ue.move(p.clock.now, coa6=COA6)  # same CoA, new BU
        events(p.ue)
        transfer(p.ue, p.ha, p.clock)
        transfer(p.ha, p.ue, p.clock)  # BA 135 carrying `last`
        evs = events(p.ue)
        assert any(isinstance(e, BindingRejected) and e.status == 135 for e in evs)
        assert p.ue.sequence("internet") == (last + 1) & 0xFFFF
        transfer(p.ue, p.ha, p.clock)
        transfer(p.ha, p.ue, p.clock)
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.ha.binding(hoa).seq == (last + 1) & 0xFFFF


def test_ipv4_access_with_nat():
    """RFC 5555: UDP 4191 from IPv4 access, IPv4 CoA option, NAT detected because the outer
    source differs from the option; BA carries NAT Detection (F=1)."""
    nat = nat_rewriters((str(COA4), 4191), ("203.0.113.7", 40001))
    with ue_and_ha(coa6=None, coa4=COA4) as p:
        evs = attach(p, nat=nat)
        assert any(isinstance(e, AttachCompleted) for e in evs)
        hoa = p.ue.home_address("internet")
        spec = p.dp.bindings[hoa]
        assert spec.encapsulation is Encapsulation.UDP_IPV4
        assert spec.care_of_address == COA4 and spec.udp_port == 40001
        assert p.ue.nat_detected("internet")
        # The refresh doubles as NAT keepalive: NATKATIMEOUT 110 s after the BA.
        assert p.ue.timers.get(("internet", "refresh")) == p.clock.now + 110.0


def test_ipv4_access_without_nat_uses_ipv4_in_ipv4():
    with ue_and_ha(coa6=None, coa4=COA4) as p:
        attach(p)
        spec = p.dp.bindings[p.ue.home_address("internet")]
        assert spec.encapsulation is Encapsulation.IP_IN_IPV4
        assert not p.ue.nat_detected("internet")
        assert p.ha.binding(p.ue.home_address("internet")).udp_peer == (str(COA4), 4191)


def test_ba_goes_back_through_udp_to_observed_port():
    nat = ("203.0.113.7", 40001)
    with ue_and_ha(coa6=None, coa4=COA4) as p:
        p.ue.attach("internet", p.clock.now)
        for _ in range(3):
            transfer(p.ue, p.ha, p.clock, src_rewrite=lambda s: nat if s[1] == 4191 else s)
            out = capture(p.ha, p.clock)
            for data, src, dst in out:
                if dst[1] == 4191 or src[1] == 4191:
                    assert src == (str(HA4), 4191) and dst == nat
                    return
                p.ue.receive_datagram(data, src, dst, p.clock.now)
        raise AssertionError("no BA seen")


def test_roundtrip_settles():
    with ue_and_ha() as p:
        p.ue.attach("internet", 0.0)
        assert roundtrip_until_done(p.ue, p.ha, p.clock) <= 4
