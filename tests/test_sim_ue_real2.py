"""UE behaviour of session 4 round 2 with everything real (IKEv2 + EAP-AKA, wire codec, ESP):
the IKE SA re-established from the new CoA after a BA with K=0 (RFC 4877 §7.4)."""

from dsmip6._state import UeState
from dsmip6.dataplane_iface import Encapsulation, FakeDataPlane
from dsmip6.events import HandoverCompleted, Ipv4HomeAddressAssigned
from dsmip6.sim import VirtualClock
from dsmip6.sim.world import RealWorld
from proc_harness import COA4, COA6B, events, roundtrip_until_done


def test_k_clear_after_move_renews_the_ike_sa_with_real_ikev2():
    """An HA that cannot move its IKE endpoint (K=0, RFC 6275 §10.3.1): after a move to an
    IPv4-only access the UE brings up a new IKE SA from the IPv4 CoA (real IKE_SA_INIT,
    IKE_AUTH with EAP-AKA, CREATE_CHILD_SA for the same HoA), deletes the old IKE SA from
    there and registers the same HoA again through the new ESP SA. The HA ends with exactly
    one IKE SA, the binding at the new CoA, and the UE stays registered throughout."""
    world = RealWorld(8, ha_kw={"support_k": False})
    dp = FakeDataPlane()
    ha = world.make_ha(dp)
    ue = world.make_ue(1)
    ue.set_access(coa6=COA6B)
    clock = VirtualClock()
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    assert ue.state("internet") is UeState.REGISTERED
    hoa, prefix = ue.home_address("internet"), ue.home_prefix("internet")
    hoa4 = ue.ipv4_home_address("internet")
    (old_id,) = ha.ike.ike_sa_ids()
    events(ue)
    ue.move(clock.now, coa4=COA4)
    roundtrip_until_done(ue, ha, clock, max_rounds=80)
    evs = events(ue)
    assert any(isinstance(e, HandoverCompleted) for e in evs)
    assert ue.state("internet") is UeState.REGISTERED
    assert ue.home_address("internet") == hoa and ue.home_prefix("internet") == prefix
    # The IPv4 HoA went with the old binding at the HA (RFC 5555 §3.1): asked for again
    # with 0.0.0.0 in the re-registration and reported through the IPv4 Address Ack.
    (ack,) = [e for e in evs if isinstance(e, Ipv4HomeAddressAssigned)]
    assert ack.status == 0 and ack.address == ue.ipv4_home_address("internet") is not None
    assert hoa4 is not None
    ids = ha.ike.ike_sa_ids()
    assert len(ids) == 1 and ids != [old_id]
    assert ue.counters["ike-renew-started"] == 1 and ue.counters["ike-renewed"] == 1
    assert dp.bindings[hoa].care_of_address == COA4
    # No NAT on this path: the HA tunnels IP-in-IPv4 (RFC 5555 §4.1).
    assert dp.bindings[hoa].encapsulation is Encapsulation.IP_IN_IPV4
    assert dp.bindings[hoa].ipv4_home_address == ue.ipv4_home_address("internet")
    assert ha.binding(hoa).seq == ue.sequence("internet")
