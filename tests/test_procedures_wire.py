"""The MH adapter (_mh.WireSignalling) over the real dsmip6.wire codec: what the procedures
send is read back by scapy (an independent decoder) with the fields TS 24.303 Annex A.2 and
RFC 5555 require, and malformed/unprotected bytes are dropped and counted by the HA."""

from ipaddress import IPv4Address, IPv6Address

import pytest
from dsmip6 import _mh
from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.errors import BadChecksum, MalformedPacket
from dsmip6.ha import HomeAgent
from proc_doubles import SaDouble
from proc_harness import HA4, HA6, ha_config

HOA = IPv6Address("2001:db8:8000::5")
COA = IPv6Address("2001:db8:100::10")


@pytest.fixture(scope="module")
def sig():
    return _mh.WireSignalling()


def bu_v6(sig):
    bu = _mh.Bu(7, 900, o=True, alt_coa=COA, ipv4_hoa=_mh.Ipv4HoaOpt(IPv4Address(0)))
    route = _mh.Route((str(COA), 0), (str(HA6), 0), COA, HA6, hao=HOA)
    return bu, route, sig.encode(bu, route, None)


def test_bu_from_ipv6_access_scapy_oracle(sig):
    from scapy.layers.inet6 import MIP6MH_BU, IPv6, IPv6ExtHdrDestOpt

    _, _, data = bu_v6(sig)
    pkt = IPv6(data)
    assert pkt.src == str(COA) and pkt.dst == str(HA6)
    dopt = pkt[IPv6ExtHdrDestOpt]
    hao = dopt.options[-1]
    assert hao.otype == 201 and hao.hoa == str(HOA)
    bu = pkt[MIP6MH_BU]
    assert (bu.seq, bu.mhtime) == (7, 900)
    flags = bu.flags
    assert (flags.A, flags.H, flags.K, flags.R, flags.M, flags.L) == (1, 1, 1, 1, 0, 0)
    # scapy recomputes the MH checksum over the HAO pseudo-header: it must match ours.
    again = IPv6(src=str(HOA), dst=str(HA6)) / MIP6MH_BU(bytes(bu))
    again[MIP6MH_BU].cksum = None
    assert bu.cksum == IPv6(bytes(again))[MIP6MH_BU].cksum
    opt_types = [o.otype for o in bu.options]
    assert 3 in opt_types and 29 in opt_types  # Alternate CoA, IPv4 Home Address


def test_ba_and_bri_round_trip(sig):
    ba = _mh.Ba(135, 9, 0)
    route = _mh.Route((str(HA6), 0), (str(COA), 0), HA6, COA, rh2=HOA)
    rx = sig.decode(sig.encode(ba, route, None), route.src, route.dst, lambda s: None)
    assert rx.message == ba and rx.route.rh2 == HOA and rx.spi is None
    udp = _mh.Route((str(HA4), 4191), ("203.0.113.1", 40000), HA6, HOA)
    bri = _mh.Bri(1, 3)
    rx = sig.decode(sig.encode(bri, udp, None), udp.src, udp.dst, lambda s: None)
    assert rx.message == bri and rx.route.udp and rx.route.mh_dst == HOA


def make_real_wire_ha():
    return HomeAgent(
        ha_config(),
        dataplane=FakeDataPlane(),
        ike_factory=lambda assign: _NoIke(),
        signalling=_mh.WireSignalling(),
        sa_factory=SaDouble,
    )


class _NoIke:
    def receive_datagram(self, *a):
        pass

    def datagrams_to_send(self, now):
        return []

    def get_timer(self):
        return None

    def handle_timer(self, now):
        pass

    def next_event(self):
        return None


def test_ha_drops_unprotected_and_corrupted_bus_real_bytes(sig):
    ha = make_real_wire_ha()
    _, route, data = bu_v6(sig)
    ha.receive_datagram(data, route.src, route.dst, 0.0)
    assert ha.counters == {"unprotected": 1}
    corrupt = bytearray(data)
    corrupt[-3] ^= 0xFF  # inside the MH: checksum no longer verifies
    with pytest.raises(BadChecksum):
        sig.decode(bytes(corrupt), route.src, route.dst, lambda s: None)
    ha.receive_datagram(bytes(corrupt), route.src, route.dst, 0.0)
    assert ha.counters["bad-checksum"] == 1
    for cut in (1, 10, 40, 47, len(data) - 1):
        ha.receive_datagram(data[:cut], route.src, route.dst, 0.0)
    assert ha.counters["malformed"] == 5
    # A BU whose option overruns its header (malformed option): dropped.
    bad_opt = bytearray(data)
    bad_opt[-7] = 0xFF  # an option length far past the end
    with pytest.raises(MalformedPacket):
        sig.decode(bytes(bad_opt), route.src, route.dst, lambda s: None)
    assert ha.datagrams_to_send(0.0) == []
    assert ha.bindings() == {}
