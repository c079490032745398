"""Mobile Prefix Discovery with everything real: IKEv2 negotiates the MPD child SA (ICMPv6
selectors, RFC 4877 §6.3/§7.2.3), ESP protects MPS/MPA, the wire codec carries them."""

from dsmip6 import _mh, wire
from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.events import BindingAccepted, MobilePrefixAdvertised
from dsmip6.sim import VirtualClock
from dsmip6.sim.world import HA6, RealWorld
from proc_harness import COA6B, events, peek


def test_real_stack_prefix_discovery_after_status_1():
    world = RealWorld(4, ha_kw=dict(prefix_discovery_required=True))
    ha = world.make_ha(FakeDataPlane())
    ue = world.make_ue(1)
    ue.set_access(coa6=COA6B)
    clock = VirtualClock()
    ue.attach("internet", 0.0)
    seen: list[tuple[int, bytes]] = []
    for _ in range(30):
        moved = 0
        for data, src, dst in ue.datagrams_to_send(clock.now):
            if dst[1] == 0:
                seen.append((0, data))
            ha.receive_datagram(data, src, dst, clock.now)
            moved += 1
        for data, src, dst in ha.datagrams_to_send(clock.now):
            if dst[1] == 0:
                seen.append((1, data))
            ue.receive_datagram(data, src, dst, clock.now)
            moved += 1
        if not moved:
            break
    evs = events(ue)
    assert [e.status for e in evs if isinstance(e, BindingAccepted)] == [1]
    prefix = ue.home_prefix("internet")
    mpd = [e for e in evs if isinstance(e, MobilePrefixAdvertised)]
    assert mpd == [MobilePrefixAdvertised("internet", prefix, "confirmed", 86400, 86400, (prefix,))]
    assert ha.counters["mpd-sa-up"] == 1 and ha.counters["mpa-sent"] == 1
    # On the wire both were ESP (no ICMPv6 in clear) through the MPD SA pair, which IKEv2
    # negotiated with ICMPv6 selectors (the HA keys an MPD SA only on those: mpd-sa-up).
    pdn = ue._pdn("internet")
    mps = [d for way, d in seen if way == 0 and _mh.esp_spi(d) == pdn.mpd_out.spi]
    mpa = [d for way, d in seen if way == 1 and _mh.esp_spi(d) == pdn.mpd_in.spi]
    assert len(mps) == 1 and len(mpa) == 1
    assert pdn.mpd_out.spi != pdn.sa_out.spi and pdn.mpd_in.spi != pdn.sa_in.spi
    pkt = wire.parse(mps[0])
    assert pkt.get(wire.Esp) is not None and pkt.get(wire.Raw) is None
    (hao,) = pkt.get(wire.DestinationOptions).options
    assert hao.address == str(pdn.hoa)
    pkt = wire.parse(mpa[0])
    assert pkt.get(wire.Esp) is not None and pkt.get(wire.RoutingHeaderType2) is not None
    rx = peek(ha, mpa[0], (str(HA6), 0), (str(COA6B), 0), ue)
    assert rx.message.identifier is not None and rx.message.prefixes[0].prefix == prefix
    assert rx.route.rh2 == pdn.hoa and rx.route.ip6_src == HA6 and rx.spi == pdn.mpd_in.spi
    assert type(rx.message).__name__ == "Mpa"
