"""Everything real: IKEv2 + EAP-AKA (contracts C, D), the wire codec (A) and ESP (B) protect
and carry every MH message. Loss of each signalling message with retransmission at exact
instants, NAT, detach, revocation, HA switch and adversarial input on real bytes."""

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from dsmip6 import _mh
from dsmip6._core.mhfast import MhSaPair
from dsmip6._state import BceState, UeState
from dsmip6.dataplane_iface import Encapsulation, FakeDataPlane
from dsmip6.events import (
    AttachCompleted,
    BindingRevoked,
    DetachCompleted,
    HandoverCompleted,
    HomeAgentSwitched,
    NetworkDetached,
)
from dsmip6.sim import VirtualClock, pki
from dsmip6.sim.scenario import run_scenario
from dsmip6.sim.world import HA4, HA6, RealWorld
from proc_harness import (
    COA4,
    COA6B,
    capture,
    drop,
    events,
    fire_timer,
    nat_rewriters,
    peek,
    roundtrip_until_done,
    transfer,
)

HA6B = IPv6Address("2001:db8:b::1")  # a second HA for the switch test
HA4B = IPv4Address("198.51.100.2")


@pytest.fixture(scope="module")
def world():
    return RealWorld(64)


def pair(world, i=1, **access):
    dp = FakeDataPlane()
    ha = world.make_ha(dp)
    ue = world.make_ue(i)
    ue.set_access(**(access or {"coa6": COA6B}))
    return ue, ha, dp, VirtualClock()


def until_first_bu(ue, ha, clock, nat=None):
    """IKE_SA_INIT, IKE_AUTH x3, CREATE_CHILD_SA; returns the first BU datagram (not sent)."""
    out_rw, in_rw = nat if nat else (None, None)
    for _ in range(10):
        out = ue.datagrams_to_send(clock.now)
        bus = [d for d in out if d[2][1] in (0, 4191)]
        if bus:
            return bus
        for data, src, dst in out:
            if out_rw:
                src = out_rw(src)
            ha.receive_datagram(data, src, dst, clock.now)
        transfer(ha, ue, clock, dst_rewrite=in_rw)
    raise AssertionError(ue.state("internet"))


def test_attach_all_real_bu_is_esp_protected(world):
    ue, ha, dp, clock = pair(world)
    ue.attach("internet", 0.0)
    ((data, src, dst),) = until_first_bu(ue, ha, clock)
    # The BU on the wire: IPv6 / DestOpt(HAO) / ESP — the MH is not in clear text.
    from dsmip6 import wire

    pkt = wire.parse(data)
    assert pkt.get(wire.Esp) is not None and pkt.get(wire.BindingUpdate) is None
    hao = [
        o for o in pkt.get(wire.DestinationOptions).options if isinstance(o, wire.HomeAddressOption)
    ]
    assert hao and hao[0].address == str(ue.home_address("internet"))
    ha.receive_datagram(data, src, dst, clock.now)
    transfer(ha, ue, clock)
    assert isinstance(events(ue)[-1], AttachCompleted)
    assert ue.state("internet") is UeState.REGISTERED
    session = ha._sessions[(pki.imsi(1), "internet")]
    assert isinstance(session.sa_in, MhSaPair) and session.sa_out is session.sa_in  # real ESP


def test_loss_of_bu_and_ba_retransmission_at_exact_instants(world):
    ue, ha, dp, clock = pair(world)
    ue.attach("internet", 0.0)
    bu = until_first_bu(ue, ha, clock)
    t0 = clock.now
    assert len(bu) == 1  # BU #1 lost
    fire_timer(ue, clock)
    assert clock.now == t0 + 1.5  # InitialBindackTimeoutFirstReg
    assert transfer(ue, ha, clock) == 1
    assert drop(ha, clock) == 1  # BA #2 lost (the binding exists at the HA now)
    fire_timer(ue, clock)
    assert clock.now == t0 + 4.5  # doubled: 3 s later, new sequence number
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    assert ue.state("internet") is UeState.REGISTERED
    assert ha.binding(ue.home_address("internet")).seq == ue.sequence("internet")


def test_ipv4_nat_handover_and_back_home_real(world):
    ue, ha, dp, clock = pair(world)
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    hoa = ue.home_address("internet")
    nat = nat_rewriters((str(COA4), 4191), ("203.0.113.5", 40500))
    ue.move(clock.now, coa4=COA4)
    roundtrip_until_done(ue, ha, clock, nat=nat)
    assert isinstance(events(ue)[-1], HandoverCompleted)
    assert dp.bindings[hoa].encapsulation is Encapsulation.UDP_IPV4
    assert ue.nat_detected("internet")
    ue.move(clock.now, home_prefixes=(ue.home_prefix("internet"),))
    roundtrip_until_done(ue, ha, clock)
    assert ue.state("internet") is UeState.AT_HOME and hoa not in dp.bindings
    ue.detach("internet", clock.now)
    roundtrip_until_done(ue, ha, clock)
    assert isinstance(events(ue)[-1], DetachCompleted)
    assert ha.ike.ike_sa_ids() == []


def test_revocation_and_switch_real(world):
    ue, ha, dp, clock = pair(world)
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    hoa = ue.home_address("internet")
    # A second real HA (same subscriber store and certificate, own addresses and pools).
    dp2, saved = FakeDataPlane(), world.ha_kw
    world.ha_kw = dict(
        saved,
        address6=HA6B,
        address4=HA4B,
        home_pool=IPv6Network("2001:db8:c000::/40"),
        ipv4_pool=IPv4Network("10.64.0.0/16"),
    )
    try:
        ha2 = world.make_ha(dp2)
    finally:
        world.ha_kw = saved
    ha.switch_home_agent(hoa, clock.now, (HA6B,))
    route = {str(HA6): ha, str(HA4): ha, str(HA6B): ha2, str(HA4B): ha2}
    for _ in range(50):  # UE <-> both HAs, routed by destination, until quiet
        moved = 0
        for data, src, dst in ue.datagrams_to_send(clock.now):
            route[dst[0]].receive_datagram(data, src, dst, clock.now)
            moved += 1
        moved += transfer(ha, ue, clock) + transfer(ha2, ue, clock)
        if not moved:
            break
    kinds = [type(e) for e in events(ue)]
    # RFC 5142 §6 make before break: attach to the new HA, then leave the old.
    assert kinds[-1] is HomeAgentSwitched and AttachCompleted in kinds
    hoa2 = ue.home_address("internet")
    assert ha2.bindings().get(hoa2) is BceState.ACTIVE and hoa not in ha.bindings()
    assert dp.bindings == {} and ha.ike.ike_sa_ids() == []
    ha2.revoke(hoa2, clock.now)
    roundtrip_until_done(ue, ha2, clock)
    assert any(isinstance(e, NetworkDetached) for e in events(ue))
    assert BindingRevoked(hoa2, 1, True) in events(ha2)
    assert ue.state("internet") is UeState.DETACHED and dp2.bindings == {}


def test_adversarial_real_esp(world):
    dp = FakeDataPlane()
    ha = world.make_ha(dp)
    a, b = world.make_ue(1), world.make_ue(2)
    a.set_access(coa6=COA6B)
    b.set_access(coa6=COA6B + 1)
    clock = VirtualClock()
    for ue in (a, b):
        ue.attach("internet", 0.0)
        roundtrip_until_done(ue, ha, clock)
    events(ha)
    victim = a.home_address("internet")
    before = dict(dp.bindings)
    # B binds A's HoA with B's own SA: BA 132, nothing changes.
    pdn = b._pdns["internet"]
    route = _mh.Route((str(COA6B + 1), 0), (str(HA6), 0), COA6B + 1, HA6, hao=victim)
    forged = b.signalling.encode(_mh.Bu(60000, 900, alt_coa=COA6B + 1), route, pdn.sa_out)
    ha.receive_datagram(forged, route.src, route.dst, clock.now)
    ((ba, s, d),) = capture(ha, clock)
    assert peek(ha, ba, s, d, b).message.status == 132
    # Replaying B's forged packet: the ESP window refuses it.
    ha.receive_datagram(forged, route.src, route.dst, clock.now)
    assert ha.counters["esp-ReplayedPacket"] == 1
    # Flipping a bit of the ciphertext: ICV fails.
    tampered = bytearray(b.signalling.encode(_mh.Bu(60001, 900, alt_coa=COA6B + 1), route,
                                             pdn.sa_out))  # fmt: skip
    tampered[-20] ^= 1
    ha.receive_datagram(bytes(tampered), route.src, route.dst, clock.now)
    assert ha.counters["esp-IntegrityCheckFailed"] == 1
    # Unprotected BU: dropped.
    ha.receive_datagram(b.signalling.encode(_mh.Bu(60002, 900, alt_coa=COA6B), route, None),
                        route.src, route.dst, clock.now)  # fmt: skip
    assert ha.counters["unprotected"] == 1
    assert dp.bindings == before and capture(ha, clock) == []


def test_scenario_all_real_with_loss(world):
    w = RealWorld(20)
    res = run_scenario(
        20,
        make_ha=w.make_ha,
        make_ue=w.make_ue,
        dataplane=FakeDataPlane(),
        ha_hosts=(str(HA6), str(HA4)),
        loss=0.05,
        seed=11,
        phase_timeout=900.0,
    )
    assert all(p.succeeded == 20 for p in res.phases), [p.to_dict() for p in res.phases]
    assert res.ok


def attach_on_network(world, drop_index=None):
    """Attach one UE over the virtual network (5 ms one-way delay); optionally lose the
    ``drop_index``-th datagram of the exchange. Returns (completion time, datagram log)."""
    from dsmip6.sim.net import VirtualNetwork

    clock = VirtualClock()
    net = VirtualNetwork(clock, delay=0.005)
    ha = world.make_ha(FakeDataPlane())
    ue = world.make_ue(1)
    ue.set_access(coa6=COA6B)
    net.add_node(ha, str(HA6), str(HA4))
    net.add_node(ue, str(COA6B))
    log = []

    def rule(data, src, dst):
        log.append((src, dst))
        return len(log) - 1 == drop_index

    net.drop_rules.append(rule)
    ue.attach("internet", 0.0)
    net.poll(ue)
    done = None
    while done is None and net.next_time() is not None and clock.now < 60:
        net.step()
        for ev in events(ue):
            if isinstance(ev, AttachCompleted):
                done = clock.now
    return done, log


def test_attach_exchange_has_twelve_datagrams(world):
    done, log = attach_on_network(world)
    # IKE_SA_INIT, IKE_AUTH x3, CREATE_CHILD_SA (5 round trips) + BU/BA: 12 datagrams,
    # 6 round trips of 10 ms.
    assert len(log) == 12 and done == pytest.approx(0.06, abs=1e-9)
    assert [d[1] for d in log[-2:]] == [(str(HA6), 0), (str(COA6B), 0)]


@pytest.mark.parametrize("k", range(12))
def test_loss_of_each_attach_message_recovered_at_exact_instant(world, k):
    """Lose exactly the k-th datagram: IKE recovers after its 2 s retransmission timer
    (RFC 7296 §2.1, the initiator retransmits, the responder resends its cached answer); the
    BU or BA after InitialBindackTimeoutFirstReg = 1.5 s (RFC 6275 §11.8)."""
    done, log = attach_on_network(world, drop_index=k)
    wait = 1.5 if k >= 10 else 2.0
    # Request lost or answer lost: the request goes again `wait` seconds after it was first
    # sent, so the whole attach ends exactly `wait` later than without loss.
    assert done == pytest.approx(0.06 + wait, abs=1e-9)
    assert len(log) == 13 + k % 2  # a lost answer costs a retransmitted request too


def test_two_pdn_connections_real_ike_each_with_own_ike_sa_and_hnp():
    w = RealWorld(4, apns=("internet", "ims"))
    dp = FakeDataPlane()
    ha = w.make_ha(dp)
    ue = w.make_ue(1)
    ue.set_access(coa6=COA6B)
    clock = VirtualClock()
    ue.attach("internet", 0.0)
    ue.attach("ims", 0.0)
    roundtrip_until_done(ue, ha, clock)
    h1, h2 = ue.home_address("internet"), ue.home_address("ims")
    assert ue.home_prefix("internet") != ue.home_prefix("ims")
    assert set(dp.bindings) == {h1, h2}
    assert len(ha.ike.ike_sa_ids()) == 2  # TS 23.402: one S2c IKE SA per PDN connection
    assert ha.hnp_pool.owner(h2) == (pki.imsi(1), "ims")  # the APN travelled in IDr
    ue.detach("ims", clock.now)
    roundtrip_until_done(ue, ha, clock)
    assert set(dp.bindings) == {h1} and len(ha.ike.ike_sa_ids()) == 1
    assert ue.state("internet") is UeState.REGISTERED


def test_ha_ipv4_address_learnt_from_ikev2_home_agent_address():
    from dsmip6.config import PdnConfig

    w = RealWorld(4)
    ha = w.make_ha(FakeDataPlane())
    ue = w.make_ue(1, pdns=(PdnConfig("internet", ha_address6=HA6, discovery="ikev2"),))
    ue.set_access(coa6=COA6B)
    clock = VirtualClock()
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    assert ue.state("internet") is UeState.REGISTERED
    assert ue._pdns["internet"].ha4 == HA4  # from the CFG_REPLY, usable on IPv4 access later
    nat = nat_rewriters((str(COA4), 4191), ("203.0.113.5", 40500))
    ue.move(clock.now, coa4=COA4)
    roundtrip_until_done(ue, ha, clock, nat=nat)
    assert isinstance(events(ue)[-1], HandoverCompleted)


def test_dad_failed_new_hoa_over_real_create_child_sa(world):
    """RFC 5026 §5.3.2 with the real IKEv2 engines and ESP: BA 134 once -> new HoA in the
    HNP, CREATE_CHILD_SA on the same IKE SA, old MH child SA deleted, attach completes."""
    from dsmip6._mh import Bu
    from dsmip6.events import BindingRejected
    from dsmip6.ha import HomeAgent

    ue, ha, dp, clock = pair(world, 2)
    refused: list = []
    on_bu = HomeAgent._HANDLERS[Bu]

    def once_134(self, rx, now):
        if not refused:
            refused.append(rx.route.mh_src)
            self._reject(rx, self._by_spi[rx.spi], rx.route.mh_src, 134, rx.message.sequence)
            return
        on_bu(self, rx, now)

    ha._HANDLERS = {**HomeAgent._HANDLERS, Bu: once_134}
    ue.attach("internet", 0.0)
    ike_before = None
    for _ in range(10):
        roundtrip_until_done(ue, ha, clock)
        if ike_before is None:
            ike_before = ue._pdns["internet"].ike
        if ue.state("internet") is UeState.REGISTERED:
            break
        fire_timer(ue, clock)
    assert ue.state("internet") is UeState.REGISTERED
    new_hoa = ue.home_address("internet")
    assert refused and new_hoa != refused[0] and new_hoa in ue.home_prefix("internet")
    assert ue._pdns["internet"].ike is ike_before  # no second IKE SA
    assert "old-child-sa-unknown" not in ue.counters  # the real engine deleted the old SA
    session = ha._sessions[(pki.imsi(2), "internet")]
    assert session.hoa == new_hoa and isinstance(session.sa_in, MhSaPair)
    assert new_hoa in dp.bindings and refused[0] not in dp.bindings
    evs = events(ue)
    assert [e.status for e in evs if isinstance(e, BindingRejected)] == [134]
    assert isinstance(evs[-1], AttachCompleted) and evs[-1].home_address == new_hoa


def test_seeded_rng_is_the_sha256_counter_stream():
    """``seeded_rng`` (the simulations' injected randomness): each call takes the next blocks
    SHA-256("<seed>/<k>"), k = 1, 2, ..., as many as the length needs, and returns their
    first ``n`` octets; a call for nothing takes no block."""
    import hashlib

    from dsmip6.sim.world import seeded_rng

    rng = seeded_rng("s")
    k = 0

    def blocks(count: int) -> bytes:
        nonlocal k
        out = b""
        for _ in range(count):
            k += 1
            out += hashlib.sha256(f"s/{k}".encode()).digest()
        return out

    for n in (4, 0, 8, 32, 33, 1, 64, 65, 200, 16):
        assert rng(n) == blocks(-(-n // 32))[:n]
    assert seeded_rng("t")(8) != seeded_rng("s")(8)
