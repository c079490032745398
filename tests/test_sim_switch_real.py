"""Aborted HA switch with the real IKEv2 engine: the Delete of the new session's IKE SA is an
INFORMATIONAL request retransmitted by the engine's own timer (RFC 7296 §2.1) until the new
HA answers, instead of one datagram sent and forgotten."""

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from dsmip6._state import BceState, UeState
from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.events import AttachFailed
from dsmip6.sim import VirtualClock
from dsmip6.sim.world import HA4, HA6, RealWorld
from proc_harness import COA6B, events, roundtrip_until_done

HA6B = IPv6Address("2001:db8:b::1")
HA4B = IPv4Address("198.51.100.2")


def test_real_aborted_switch_ike_delete_is_retransmitted():
    world = RealWorld(4)
    ha = world.make_ha(FakeDataPlane())
    saved = world.ha_kw
    world.ha_kw = dict(
        saved,
        address6=HA6B,
        address4=HA4B,
        home_pool=IPv6Network("2001:db8:c000::/40"),
        ipv4_pool=IPv4Network("10.64.0.0/16"),
        home_registration=False,  # the new HA refuses the BU (131): the switch fails
    )
    try:
        ha2 = world.make_ha(FakeDataPlane())
    finally:
        world.ha_kw = saved
    ue = world.make_ue(1)
    ue.set_access(coa6=COA6B)
    clock = VirtualClock()
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    events(ue)
    hoa = ue.home_address("internet")
    ha.switch_home_agent(hoa, clock.now, (HA6B,))
    route = {str(HA6): ha, str(HA4): ha, str(HA6B): ha2, str(HA4B): ha2}
    lost = []
    for _ in range(50):
        moved = 0
        for data, src, dst in ue.datagrams_to_send(clock.now):
            if ue._draining and dst[0] == str(HA6B):
                lost.append((clock.now, data))  # the Delete (first transmission): lost
                continue
            route[dst[0]].receive_datagram(data, src, dst, clock.now)
            moved += 1
        for h in (ha, ha2):
            for data, src, dst in h.datagrams_to_send(clock.now):
                ue.receive_datagram(data, src, dst, clock.now)
                moved += 1
        if not moved:
            break
    reasons = [e.reason for e in events(ue) if isinstance(e, AttachFailed)]
    assert reasons == ["ha-switch: binding refused (next-ha)"]
    assert len(lost) == 1 and len(ha2.ike.ike_sa_ids()) == 1
    t0 = lost[0][0]
    # The engine's retransmission timer: the same request again, later.
    nxt = ue.get_timer()
    assert nxt is not None and nxt > t0
    clock.now = nxt
    ue.handle_timer(clock.now)
    again = [(d, s, t) for d, s, t in ue.datagrams_to_send(clock.now) if t[0] == str(HA6B)]
    assert [d for d, _, _ in again] == [lost[0][1]]  # byte-identical retransmission
    for data, src, dst in again:
        ha2.receive_datagram(data, src, dst, clock.now)
    for data, src, dst in ha2.datagrams_to_send(clock.now):
        ue.receive_datagram(data, src, dst, clock.now)
    assert ha2.ike.ike_sa_ids() == [] and ha2.session_count() == 0
    assert ue._draining == [] and ue.counters["ha-switch-ike-deleted"] == 1
    # The UE stays with the old HA, whose binding is still there (switching).
    assert ue.state("internet") is UeState.REGISTERED
    assert ha.bindings()[hoa] is BceState.SWITCHING
