"""Oracle: packets written by independent encoders — scapy for what it covers (MH types 0, 5,
6, 7 and options 1-5, 8; HAO; RH2) and octets encoded by hand from the RFC diagrams for the
rest — decode with dsmip6.wire to the values the encoder was given, and tshark agrees.

scapy is GPL-2.0: it is imported by tests only, never by dsmip6.
"""

from __future__ import annotations

import struct

from dsmip6.wire import (
    AlternateCareOfAddress,
    BindingAcknowledgement,
    BindingAuthorizationData,
    BindingError,
    BindingIdentifier,
    BindingRefreshAdvice,
    BindingRefreshRequest,
    BindingRevocationIndication,
    BindingUpdate,
    DestinationOptions,
    HomeAgentSwitch,
    Ipv4AddressAcknowledgement,
    Ipv4CareOfAddress,
    Ipv4HomeAddress,
    MobileNodeIdentifier,
    NatDetection,
    NonceIndices,
    RoutingHeaderType2,
    UdpHeader,
    parse,
)
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import (
    HAO,
    MIP6MH_BA,
    MIP6MH_BE,
    MIP6MH_BRR,
    MIP6MH_BU,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrRouting,
    MIP6OptAltCoA,
    MIP6OptBindingAuthData,
    MIP6OptBRAdvice,
    MIP6OptMNID,
    MIP6OptNonceIndices,
)
from wire_oracle import tshark_fields

HOA = "2001:db8:1::1000"
COA = "2001:db8:2::100"
HA = "2001:db8:1::1"


def scapy_packets() -> list[bytes]:
    bu = (
        IPv6(src=COA, dst=HA)
        / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)])
        / MIP6MH_BU(
            seq=4242,
            flags="AHK",
            mhtime=450,
            options=[MIP6OptAltCoA(acoa=COA), MIP6OptMNID(id="ue@example.org")],
        )
    )
    ba = (
        IPv6(src=HA, dst=COA)
        / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HOA])
        / MIP6MH_BA(
            status=128, flags="K", seq=4242, mhtime=300, options=[MIP6OptBRAdvice(rinter=200)]
        )
    )
    ro = (
        IPv6(src=COA, dst=HA)
        / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)])
        / MIP6MH_BU(
            seq=1,
            flags="A",
            mhtime=10,
            options=[
                MIP6OptNonceIndices(olen=4, hni=7, coni=9),
                MIP6OptBindingAuthData(
                    olen=12, authenticator=int.from_bytes(bytes(range(1, 13)), "big")
                ),
            ],
        )
    )
    be = IPv6(src=HA, dst=COA) / MIP6MH_BE(status=2, ha=HOA)
    brr = (
        IPv6(src=HA, dst=COA) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HOA]) / MIP6MH_BRR()
    )
    udp = IP(src="198.51.100.7", dst="203.0.113.1") / UDP(sport=4191, dport=4191) / bytes(be)
    return [bytes(p) for p in (bu, ba, ro, be, brr, udp)]


def test_scapy_built_packets_decode_to_the_given_values():
    bu, ba, ro, be, brr, udp = (parse(p) for p in scapy_packets())
    assert bu.get(DestinationOptions).home_address == HOA
    assert bu.get(BindingUpdate) == BindingUpdate(
        4242,
        450,
        a=True,
        h=True,
        k=True,
        options=[AlternateCareOfAddress(COA), MobileNodeIdentifier(1, b"ue@example.org")],
    )
    assert ba.get(RoutingHeaderType2).home_address == HOA
    assert ba.get(BindingAcknowledgement) == BindingAcknowledgement(
        128, 4242, 300, k=True, options=[BindingRefreshAdvice(200)]
    )
    assert ro.get(BindingUpdate).options == (
        NonceIndices(7, 9),
        BindingAuthorizationData(bytes(range(1, 13))),
    )
    assert be.get(BindingError) == BindingError(2, HOA)
    assert brr.get(BindingRefreshRequest) == BindingRefreshRequest()
    assert udp.get(UdpHeader) == UdpHeader(4191, 4191)
    assert udp.get(BindingError) == BindingError(2, HOA)


def test_scapy_built_packets_agree_with_tshark():
    pkts = scapy_packets()
    fields = tshark_fields(pkts)
    for raw, f in zip(pkts, fields, strict=True):
        p = parse(raw)
        msg = p.layers[-1]
        assert f["mip6.mhtype"][-1] == str(msg.mh_type)
        if isinstance(msg, BindingUpdate):
            assert f["mip6.bu.seqnr"] == [str(msg.sequence)]
            assert f["mip6.bu.lifetime"] == [str(msg.lifetime_4s)]
            assert f["mip6.bu.a_flag"] == ["1"] and f["mip6.bu.m_flag"] == ["0"]
        if isinstance(msg, BindingAcknowledgement):
            assert f["mip6.ba.status"] == [str(msg.status)]
            assert f["mip6.bra.interval"] == [str(msg.options[0].refresh_interval_4s)]
        if isinstance(msg, BindingError):
            assert f["mip6.be.haddr"][-1] == msg.home_address
    assert fields[0]["mip6.mnid.identifier"] == ["ue@example.org"]
    assert fields[2]["mip6.ni.hni"] == ["7"] and fields[2]["mip6.ni.cni"] == ["9"]


def mh(mh_type: int, body: bytes) -> bytes:
    """A Mobility Header encoded by hand from RFC 6275 §6.1.1 (checksum left zero)."""
    total = 6 + len(body)
    assert total % 8 == 0
    return struct.pack("!BBBBH", 59, total // 8 - 1, mh_type, 0, 0) + body


def with_checksum(src: str, dst: str, m: bytes) -> bytes:
    """Fill the checksum with an independent implementation of RFC 8200 §8.1."""
    import ipaddress

    pseudo = (
        ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + struct.pack("!I3xB", len(m), 135)
    )
    data = pseudo + m
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    c = (~s) & 0xFFFF
    return m[:4] + struct.pack("!H", c) + m[6:]


def ipv6(src: str, dst: str, nh: int, payload: bytes) -> bytes:
    import ipaddress

    return (
        struct.pack("!IHBB", 6 << 28, len(payload), nh, 64)
        + ipaddress.IPv6Address(src).packed
        + ipaddress.IPv6Address(dst).packed
        + payload
    )


def hand_encoded() -> list[tuple[bytes, object]]:
    """(packet, expected message) pairs encoded from RFC 5142 §4, RFC 5846 §5.1, RFC 5555 §3
    and RFC 5648 §6.1."""
    import ipaddress

    ha2 = ipaddress.IPv6Address("2001:db8:1::2").packed
    # HAS: # of addresses 1, reserved 0, one address, then PadN(6)... total 6+2+16+6 = 30 -> 32.
    has_body = bytes([1, 0]) + ha2 + bytes([1, 6]) + bytes(6)
    has = with_checksum(HA, HOA, mh(12, has_body))
    # BRI: B.R. Type 1, trigger 1, seq 0x0102, P|V flags 0xC000, IPv4 HoA option at 12 (4n),
    # then PadN(2)... 12 + 8 = 20 -> pad 4 to 24.
    v4hoa = bytes([29, 6, 0x80, 0x00, 192, 0, 2, 10])
    bri_body = bytes([1, 1, 1, 2, 0xC0, 0x00]) + v4hoa + bytes([1, 2, 0, 0])
    bri = with_checksum(HA, HOA, mh(16, bri_body))
    # BA with IPv4 Address Ack (status 0, pref-len 32) @12, NAT Detection F=1 refresh 0 @20,
    # BID 9 with IPv4 CoA (8n+2 -> @34 after PadN(6) @28), total 44 -> pad 4 -> 48.
    ack = bytes([30, 6, 0, 32 << 2, 192, 0, 2, 10])
    natd = bytes([31, 6, 0x80, 0, 0, 0, 0, 0])
    bid = bytes([35, 8, 0, 9, 0, 0x80, 198, 51, 100, 7])
    ba_body = (
        bytes([0, 0x80, 0, 5, 0, 100])
        + ack
        + natd
        + bytes([1, 4, 0, 0, 0, 0])
        + bid
        + bytes([1, 2, 0, 0])
    )
    ba = with_checksum(HA, HOA, mh(6, ba_body))
    # BU with IPv4 CoA @12 (4n), PadN to 20.
    bu_body = (
        bytes([0, 9, 0x41, 0x00, 0, 0]) + bytes([32, 6, 0, 0, 10, 0, 0, 7]) + bytes([1, 2, 0, 0])
    )
    bu = with_checksum(HOA, HA, mh(5, bu_body))
    return [
        (ipv6(HA, HOA, 135, has), HomeAgentSwitch(["2001:db8:1::2"])),
        (
            ipv6(HA, HOA, 135, bri),
            BindingRevocationIndication(
                1, 0x0102, p=True, v=True, options=[Ipv4HomeAddress("192.0.2.10")]
            ),
        ),
        (
            ipv6(HA, HOA, 135, ba),
            BindingAcknowledgement(
                0,
                5,
                100,
                k=True,
                options=[
                    Ipv4AddressAcknowledgement(0, 32, "192.0.2.10"),
                    NatDetection(True, 0),
                    BindingIdentifier(9, h=True, care_of_address="198.51.100.7"),
                ],
            ),
        ),
        (
            ipv6(HOA, HA, 135, bu),
            BindingUpdate(9, 0, h=True, f=True, options=[Ipv4CareOfAddress("10.0.0.7")]),
        ),
    ]


def test_hand_encoded_rfc_packets_decode():
    for raw, expected in hand_encoded():
        assert parse(raw).layers[-1] == expected


def test_hand_encoded_rfc_packets_agree_with_tshark():
    cases = hand_encoded()
    f_has, f_bri, f_ba, f_bu = tshark_fields([raw for raw, _ in cases])
    assert f_has["mip6.has.num_addrs"] == ["1"] and f_has["mip6.has.address"] == ["2001:db8:1::2"]
    assert f_bri["mip6.bri_br.type"] == ["1"] and f_bri["mip6.bri_seqnr"] == [str(0x0102)]
    assert f_bri["mip6.bri_ip"] == ["1"] and f_bri["mip6.bri_iv"] == ["1"]
    assert f_bri["mip6.bri_ig"] == ["0"]
    assert f_bri["mip6.ipv4ha.ha"] == ["192.0.2.10"]
    assert f_ba["mip6.ipv4aa.sts"] == ["0"] and f_ba["mip6.natd.f_flag"] == ["1"]
    assert f_ba["mip6.bi.bid"] == ["9"] and f_ba["mip6.bi.h_flag"] == ["1"]
    assert f_ba["mip6.bi.coa_ipv4"] == ["198.51.100.7"]
    assert f_bu["mip6.bu.f_flag"] == ["1"] and f_bu["mip6.bu.h_flag"] == ["1"]
    assert f_bu["mip6.ipv4coa.addr"] == ["10.0.0.7"]
