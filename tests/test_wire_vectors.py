"""Byte-exact tests of dsmip6.wire against shared/spec/test-vectors.md §6 (TS 24.303 Annex A
field settings, checksums cross-checked with an independent pseudo-header implementation)."""

from __future__ import annotations

import ipaddress

import pytest
from dsmip6.errors import BadChecksum, MalformedPacket
from dsmip6.wire import (
    AlternateCareOfAddress,
    BindingAcknowledgement,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    BindingUpdate,
    DestinationOptions,
    HomeAddressOption,
    Ipv4AddressAcknowledgement,
    Ipv4CareOfAddress,
    Ipv4Header,
    Ipv4HomeAddress,
    Ipv6Header,
    NatDetection,
    RoutingHeaderType2,
    UdpHeader,
    build,
    parse,
    parse_mobility_header,
)

HOA = "2001:db8:1::1000"
COA = "2001:db8:2::100"
HA = "2001:db8:1::1"
V4HOA = "192.0.2.10"
V4COA = "198.51.100.7"
HA4 = "203.0.113.1"


def h(s: str) -> bytes:
    return bytes.fromhex("".join(s.split()))


E1 = h("3b040500ac3f0001d44003841d068000000000000100031020010db8000200000000000000000100")
E2 = h("3b0206006d1100c0000103841e060080c000020a01020000")
E3 = h("3b030500d2040002d40003841d068000c000020a20060000c633640701020000")
E4 = h("3b0306004d9300c0000203841e060080c000020a1f0600000000006e01020000")
E5 = h("3b040500f1f60003d00000001d068000c000020a0100031020010db8000200000000000000000100")
E6 = h("3b01100046e801010007000001020000")
E7 = h("3b01100045e902000007000001020000")

E1_PACKET = h(
    """6000000000403c4020010db800020000000000000000010020010db8000100000000000000000001
    870201020000c91020010db80001000000000000000010003b040500ac3f0001d44003841d068000
    000000000100031020010db8000200000000000000000100"""
)
E2_PACKET = h(
    """6000000000302b4020010db800010000000000000000000120010db8000200000000000000000100
    870202010000000020010db80001000000000000000010003b0206006d1100c0000103841e060080
    c000020a01020000"""
)
E3_PACKET = h(
    """45000064000000004011144dc6336407cb007101105f105f00509199600000000020874020010db8
    00010000000000000000100020010db80001000000000000000000013b030500d2040002d4000384
    1d068000c000020a20060000c633640701020000"""
)

# (message as built from the Annex A field values, expected MH octets, pseudo src, pseudo dst)
VECTORS = [
    (
        BindingUpdate(
            1,
            900,
            a=True,
            h=True,
            k=True,
            r=True,
            o=True,
            options=[Ipv4HomeAddress("0.0.0.0"), AlternateCareOfAddress(COA)],
        ),
        E1,
        HOA,
        HA,
    ),
    (
        BindingAcknowledgement(
            0, 1, 900, k=True, r=True, options=[Ipv4AddressAcknowledgement(0, 32, V4HOA)]
        ),
        E2,
        HA,
        HOA,
    ),
    (
        BindingUpdate(
            2,
            900,
            a=True,
            h=True,
            k=True,
            r=True,
            options=[Ipv4HomeAddress(V4HOA), Ipv4CareOfAddress(V4COA)],
        ),
        E3,
        HOA,
        HA,
    ),
    (
        BindingAcknowledgement(
            0,
            2,
            900,
            k=True,
            r=True,
            options=[Ipv4AddressAcknowledgement(0, 32, V4HOA), NatDetection(False, 110)],
        ),
        E4,
        HA,
        HOA,
    ),
    (
        BindingUpdate(
            3,
            0,
            a=True,
            h=True,
            k=True,
            options=[Ipv4HomeAddress(V4HOA), AlternateCareOfAddress(COA)],
        ),
        E5,
        HOA,
        HA,
    ),
    (BindingRevocationIndication(1, 7), E6, HA, HOA),
    (BindingRevocationAcknowledgement(0, 7), E7, HOA, HA),
]


@pytest.mark.parametrize("msg,octets,src,dst", VECTORS)
def test_build_message_matches_vector(msg, octets, src, dst):
    assert msg.to_bytes(src, dst) == octets


@pytest.mark.parametrize("msg,octets,src,dst", VECTORS)
def test_parse_message_matches_vector(msg, octets, src, dst):
    assert parse_mobility_header(octets, src, dst) == msg
    # ipaddress objects are accepted too.
    assert (
        parse_mobility_header(octets, ipaddress.ip_address(src), ipaddress.ip_address(dst)) == msg
    )


@pytest.mark.parametrize("msg,octets,src,dst", VECTORS)
def test_wrong_pseudo_header_is_a_bad_checksum(msg, octets, src, dst):
    # The classic bug: the packet's source (CoA) instead of the home address.
    with pytest.raises(BadChecksum) as ei:
        parse_mobility_header(octets, COA, dst)
    assert ei.value.offset == 4 and ei.value.reason == "bad-checksum"
    assert isinstance(ei.value, MalformedPacket) and isinstance(ei.value, ValueError)


@pytest.mark.parametrize("msg,octets,src,dst", VECTORS)
def test_every_strict_prefix_is_truncated(msg, octets, src, dst):
    for n in range(len(octets)):
        with pytest.raises(MalformedPacket) as ei:
            parse_mobility_header(octets[:n], src, dst)
        assert ei.value.reason == "truncated", n


def test_full_packet_e1_bu_with_hao():
    built = build(
        [Ipv6Header(COA, HA), DestinationOptions([HomeAddressOption(HOA)]), VECTORS[0][0]]
    )
    assert built == E1_PACKET
    p = parse(E1_PACKET)
    assert [type(x).__name__ for x in p.layers] == [
        "Ipv6Header",
        "DestinationOptions",
        "BindingUpdate",
    ]
    assert p.get(DestinationOptions).home_address == HOA
    assert p.get(BindingUpdate) == VECTORS[0][0]
    assert p.to_bytes() == E1_PACKET
    assert build(p.layers) == E1_PACKET


def test_full_packet_e2_ba_with_rh2():
    built = build([Ipv6Header(HA, COA), RoutingHeaderType2(HOA), VECTORS[1][0]])
    assert built == E2_PACKET
    p = parse(E2_PACKET)
    assert p.get(RoutingHeaderType2).home_address == HOA
    assert p.get(BindingAcknowledgement) == VECTORS[1][0]
    assert build(p.layers) == E2_PACKET


def test_full_packet_e3_bu_over_ipv4_udp_4191():
    built = build(
        [Ipv4Header(V4COA, HA4), UdpHeader(4191, 4191), Ipv6Header(HOA, HA), VECTORS[2][0]]
    )
    assert built == E3_PACKET
    p = parse(E3_PACKET)
    assert p.get(Ipv4Header) == Ipv4Header(V4COA, HA4)
    assert p.get(UdpHeader) == UdpHeader(4191, 4191)
    assert p.get(Ipv6Header) == Ipv6Header(HOA, HA)
    assert p.get(BindingUpdate) == VECTORS[2][0]
    assert build(p.layers) == E3_PACKET


@pytest.mark.parametrize("pkt", [E1_PACKET, E2_PACKET, E3_PACKET])
def test_full_packet_prefixes_and_trailing_data(pkt):
    for n in range(len(pkt)):
        with pytest.raises(MalformedPacket) as ei:
            parse(pkt[:n])
        assert ei.value.reason == "truncated", n
    with pytest.raises(MalformedPacket) as ei:
        parse(pkt + b"\x00")
    assert ei.value.reason == "trailing-data" and ei.value.offset == len(pkt)


def test_hao_substitution_in_packet_checksum():
    # Change the HAO's address: the MH checksum (over the HoA) no longer verifies.
    bad = bytearray(E1_PACKET)
    bad[40 + 23] ^= 0x01
    with pytest.raises(BadChecksum) as ei:
        parse(bytes(bad))
    assert ei.value.offset == 64 + 4
    # Changing the IPv6 source (the CoA) instead does not matter to the MH checksum.
    ok = bytearray(E1_PACKET)
    ok[23] ^= 0x01
    assert parse(bytes(ok)).get(BindingUpdate) == VECTORS[0][0]


def test_rh2_substitution_in_packet_checksum():
    bad = bytearray(E2_PACKET)
    bad[40 + 23] ^= 0x01
    with pytest.raises(BadChecksum):
        parse(bytes(bad))
    ok = bytearray(E2_PACKET)
    ok[39] ^= 0x01  # IPv6 destination (CoA)
    assert parse(bytes(ok)).get(BindingAcknowledgement) == VECTORS[1][0]


def test_ipv4_and_udp_checksums_checked():
    bad = bytearray(E3_PACKET)
    bad[10] ^= 1
    with pytest.raises(MalformedPacket) as ei:
        parse(bytes(bad))
    assert (ei.value.offset, ei.value.reason) == (10, "bad-checksum")
    bad = bytearray(E3_PACKET)
    bad[26] ^= 1
    with pytest.raises(MalformedPacket) as ei:
        parse(bytes(bad))
    assert (ei.value.offset, ei.value.reason) == (26, "bad-checksum")
