"""The procedures over the real IKEv2 (contract D) with EAP-AKA (contract C): attach, K=1
endpoint moves, detach with IKE delete, network-initiated IKE delete, redirect — and the
whole scenario for many UEs. The MH codec and the signalling SA are the test doubles here
until the dsmip6.wire / dsmip6.esp Python bindings exist (see test_sim_real.py)."""

from dsmip6._state import BceState, UeState
from dsmip6.dataplane_iface import Encapsulation, FakeDataPlane
from dsmip6.events import (
    AttachCompleted,
    DetachCompleted,
    HandoverCompleted,
    NetworkDetached,
    Redirected,
)
from dsmip6.sim import VirtualClock, pki
from dsmip6.sim.scenario import run_scenario
from dsmip6.sim.world import HA4, HA6, RealWorld
from proc_doubles import SaDouble, SignallingDouble
from proc_harness import COA4, COA6B, events, nat_rewriters, roundtrip_until_done


def world(**kw):
    return RealWorld(64, signalling_factory=SignallingDouble, sa_factory=SaDouble, **kw)


def pair(w, i=1, coa6=None, coa4=None):
    dp = FakeDataPlane()
    ha = w.make_ha(dp)
    ue = w.make_ue(i)
    ue.set_access(coa6=coa6 if coa6 is not None or coa4 is not None else COA6B, coa4=coa4)
    return ue, ha, dp, VirtualClock()


def test_attach_with_real_ikev2_eap_aka():
    w = world()
    ue, ha, dp, clock = pair(w)
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    evs = events(ue)
    assert isinstance(evs[-1], AttachCompleted)
    hoa = ue.home_address("internet")
    assert ha.bindings() == {hoa: BceState.ACTIVE}
    # The HoA-keyed MH SA came from CREATE_CHILD_SA with TSi = HoA (RFC 5026 §5.3.2).
    ike = ue._pdns["internet"].ike
    assert any(c.ts_i[0].start == hoa and c.ts_i[0].protocol == 135 for c in ike.children.values())
    # The HA keys the HNP by the authenticated permanent identity (IMSI, RFC 4877 §8).
    assert ha.hnp_pool.owner(hoa) == (pki.imsi(1), "internet")


def test_ike_endpoint_moves_with_k_flag():
    w = world()
    ue, ha, dp, clock = pair(w)
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    hoa = ue.home_address("internet")
    ike_id = ha._sessions[(pki.imsi(1), "internet")].ike_sa_id
    # A NAPT with one mapping for UDP 4191 and another (other port) for IKE on 4500.
    mip_out, mip_in = nat_rewriters((str(COA4), 4191), ("203.0.113.5", 40500))
    ike_out, ike_in = nat_rewriters((str(COA4), 4500), ("203.0.113.5", 40501))
    nat = (lambda s: ike_out(mip_out(s)), lambda d: ike_in(mip_in(d)))
    ue.move(clock.now, coa4=COA4)
    roundtrip_until_done(ue, ha, clock, nat=nat)
    assert isinstance(events(ue)[-1], HandoverCompleted)
    assert dp.bindings[hoa].encapsulation is Encapsulation.UDP_IPV4
    # RFC 5555 §5.1: after the K=1 BA the UE sends an empty INFORMATIONAL from the new CoA,
    # from which the HA's IKE learns the NAT-mapped 4500 address and port (RFC 7296 §2.23).
    assert ue.counters["ike-liveness-after-move"] == 1
    local, remote = ha.ike.endpoints(ike_id)
    assert local == (str(HA4), 4500) and remote == ("203.0.113.5", 40501)
    assert ue._pdns["internet"].ike.remote == (str(HA4), 4500)


def test_detach_deletes_ike_sa_at_both_ends():
    w = world()
    ue, ha, dp, clock = pair(w)
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    ue.detach("internet", clock.now)
    roundtrip_until_done(ue, ha, clock)
    assert isinstance(events(ue)[-1], DetachCompleted)
    assert ue.state("internet") is UeState.DETACHED
    assert ha.ike.ike_sa_ids() == [] and ha.session_count() == 0 and dp.bindings == {}


def test_ha_deleting_the_ike_sa_detaches_the_ue():
    w = world()
    ue, ha, dp, clock = pair(w)
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    hoa = ue.home_address("internet")
    ha.revoke(hoa, clock.now)
    roundtrip_until_done(ue, ha, clock)
    assert any(isinstance(e, NetworkDetached) and e.trigger == 1 for e in events(ue))
    assert ue.state("internet") is UeState.DETACHED
    assert ha.ike.ike_sa_ids() == [] and dp.bindings == {}


def test_redirect_at_ike_sa_init():
    other = "2001:db8:b::1"
    w = world(responder_kw={"redirect": lambda addr, ident: other if ident is None else None})
    ue, ha, dp, clock = pair(w)
    ue.attach("internet", 0.0)
    for _ in range(3):
        for data, src, dst in ue.datagrams_to_send(clock.now):
            if dst[0] == other:
                break
            ha.receive_datagram(data, src, dst, clock.now)
        for data, src, dst in ha.datagrams_to_send(clock.now):
            ue.receive_datagram(data, src, dst, clock.now)
    evs = events(ue)
    assert Redirected("internet", other) in evs
    assert ue._pdns["internet"].ike_remote == (other, 500)


def test_scenario_with_real_ike_and_loss():
    w = world()
    res = run_scenario(
        12,
        make_ha=w.make_ha,
        make_ue=w.make_ue,
        dataplane=FakeDataPlane(),
        ha_hosts=(str(HA6), str(HA4)),
        loss=0.05,
        seed=3,
        phase_timeout=900.0,
    )
    assert all(p.succeeded == 12 for p in res.phases), [p.to_dict() for p in res.phases]
    assert res.ok
