"""dsmip6.wire API behaviour: constructors, to_dict names, unknown values kept, errors,
batch parsing, layer rules."""

from __future__ import annotations

import sys

import pytest
from dsmip6 import wire
from dsmip6.errors import BadChecksum, MalformedPacket
from dsmip6.wire import (
    AlternateCareOfAddress,
    BindingAcknowledgement,
    BindingError,
    BindingIdentifier,
    BindingRefreshRequest,
    BindingUpdate,
    DestinationOptions,
    Esp,
    FlowIdentification,
    FlowSummary,
    HomeAddressOption,
    HomeAgentSwitch,
    Ipv4Header,
    Ipv4HomeAddress,
    Ipv6Header,
    MobileNodeIdentifier,
    PadN,
    Raw,
    RoutingHeaderType2,
    UdpHeader,
    UnknownMobilityMessage,
    UnknownOption,
    build,
    parse,
    parse_batch,
    parse_mobility_header,
)

HOA = "2001:db8:1::1000"
COA = "2001:db8:2::100"
HA = "2001:db8:1::1"


def test_public_names_are_exported_and_not_from_core_directly():
    for name in wire.__all__:
        assert hasattr(wire, name), name
    assert BindingUpdate.__module__ == "dsmip6._core.wire"


def test_frozen_and_equal():
    bu = BindingUpdate(1, 2, a=True)
    with pytest.raises(AttributeError):
        bu.sequence = 5  # type: ignore[misc]
    assert bu == BindingUpdate(1, 2, a=True)
    assert bu != BindingUpdate(1, 2)
    assert bu.mh_type == 5 and BindingAcknowledgement(0, 1, 2).mh_type == 6
    assert BindingRefreshRequest().mh_type == 0 and HomeAgentSwitch([]).mh_type == 12


def test_to_dict_uses_rfc_field_names():
    bu = BindingUpdate(
        7,
        900,
        a=True,
        h=True,
        f=True,
        options=[Ipv4HomeAddress("192.0.2.10", prefix_len=24, p=True), AlternateCareOfAddress(COA)],
    )
    d = bu.to_dict()
    assert d["sequence"] == 7 and d["lifetime_4s"] == 900
    assert (d["a"], d["h"], d["f"], d["k"]) == (True, True, True, False)
    assert d["options"] == [
        {"option": "Ipv4HomeAddress", "address": "192.0.2.10", "prefix_len": 24, "p": True},
        {"option": "AlternateCareOfAddress", "address": COA},
    ]
    assert BindingError(1, HOA).to_dict() == {"status": 1, "home_address": HOA, "options": []}


def test_argument_validation():
    with pytest.raises(ValueError):
        Ipv4HomeAddress("not-an-address")
    with pytest.raises(ValueError):
        AlternateCareOfAddress("192.0.2.1")  # not IPv6
    with pytest.raises(OverflowError):
        BindingUpdate(70000, 1)
    with pytest.raises(ValueError):
        Ipv4HomeAddress("192.0.2.1", prefix_len=33)
    with pytest.raises(ValueError):
        MobileNodeIdentifier(1, b"")
    with pytest.raises(ValueError):
        Esp(0, 1, b"")
    with pytest.raises(TypeError):
        BindingUpdate(1, 1, options=[Ipv6Header(HOA, HA)])
    with pytest.raises(ValueError):
        DestinationOptions([HomeAddressOption(HOA), HomeAddressOption(HOA)])


def test_unknown_option_and_message_are_kept():
    bu = BindingUpdate(1, 1, options=[UnknownOption(200, b"\x01\x02\x03")])
    raw = bu.to_bytes(HOA, HA)
    back = parse_mobility_header(raw, HOA, HA)
    assert back.options == (UnknownOption(200, b"\x01\x02\x03"),)
    um = UnknownMobilityMessage(23, b"\xaa" * 10)
    raw = um.to_bytes(HOA, HA)
    assert len(raw) == 16 and raw[2] == 23
    back = parse_mobility_header(raw, HOA, HA)
    assert back == UnknownMobilityMessage(23, b"\xaa" * 10)
    # A Binding Revocation with an unknown B.R. Type is kept as an unknown message too.
    raw = UnknownMobilityMessage(16, bytes([3]) + bytes(9)).to_bytes(HOA, HA)
    assert parse_mobility_header(raw, HOA, HA) == UnknownMobilityMessage(16, bytes([3]) + bytes(9))


def test_flow_options_rfc6089_encoding():
    # RFC 6089 §4.2.2 Flow Summary: type 44, length 2n, FIDs; §4.2.1 Flow Identification:
    # type 45, FID(2) FID-PRI(2) Reserved(1) Status(1) sub-options. Both 2n-aligned.
    ba = BindingAcknowledgement(
        0,
        1,
        2,
        options=[FlowSummary([1, 2, 0x0304]), FlowIdentification(5, 6, 0, b"\x02\x02\x00\x01")],
    )
    raw = ba.to_bytes(HA, HOA)
    assert raw[12:20] == bytes([44, 6, 0, 1, 0, 2, 3, 4])
    assert raw[20:32] == bytes([45, 10, 0, 5, 0, 6, 0, 0, 2, 2, 0, 1])
    assert parse_mobility_header(raw, HA, HOA) == ba


def test_binding_identifier_variants_roundtrip():
    bu = BindingUpdate(
        1,
        1,
        options=[
            BindingIdentifier(1),
            BindingIdentifier(2, status=5, h=True, care_of_address="198.51.100.1"),
            BindingIdentifier(3, care_of_address="2001:db8::3"),
        ],
    )
    raw = bu.to_bytes(HOA, HA)
    assert parse_mobility_header(raw, HOA, HA) == bu
    # 8n+2 alignment of the BID options carrying a care-of address.
    p = parse_mobility_header(raw, HOA, HA)
    assert p.options[2].care_of_address == "2001:db8::3"


def test_misaligned_option_rejected_with_offset():
    # Alternate CoA must be at 8n+6: put it at offset 12 (after the BU fixed part) by hand.
    mh = bytearray(b"\x3b\x03\x05\x00\x00\x00\x00\x01\x00\x00\x00\x01")
    mh += bytes([3, 16]) + bytes(16) + bytes([1, 0])

    raw = bytes(mh)
    with pytest.raises(MalformedPacket) as ei:
        parse_mobility_header(raw, HOA, HA)
    # Alignment is checked before the checksum is looked at.
    assert (ei.value.reason, ei.value.offset) == ("bad-alignment", 12)


def test_bad_checksum_is_reported_as_such():
    raw = bytearray(BindingRefreshRequest().to_bytes(HA, HOA))
    raw[4] ^= 0xFF
    with pytest.raises(BadChecksum):
        parse_mobility_header(bytes(raw), HA, HOA)


def test_parse_batch_and_error_index():
    a = build(
        [Ipv6Header(COA, HA), DestinationOptions([HomeAddressOption(HOA)]), BindingUpdate(1, 1)]
    )
    b = build([Ipv6Header(HA, COA), BindingError(2, HOA)])
    pkts = parse_batch([a, b, a])
    assert [p.to_bytes() for p in pkts] == [a, b, a]
    assert pkts[1].get(BindingError) == BindingError(2, HOA)
    with pytest.raises(MalformedPacket) as ei:
        parse_batch([a, b[:-1], a])
    assert "packet 1" in str(ei.value) and ei.value.reason == "truncated"


def test_packet_layers_and_dict():
    pkt = build(
        [
            Ipv4Header("198.51.100.7", "203.0.113.1"),
            UdpHeader(4500, 4500),
            Esp(0x1001, 9, b"\x01\x02\x03\x04"),
        ]
    )
    p = parse(pkt)
    assert p.get(Esp) == Esp(0x1001, 9, b"\x01\x02\x03\x04")
    assert p.get(BindingUpdate) is None
    assert p.to_dict()["layers"][2] == {
        "layer": "Esp",
        "fields": {"spi": 0x1001, "sequence": 9, "data": b"\x01\x02\x03\x04"},
    }
    assert len(p) == len(pkt)
    # IKE behind the non-ESP marker on 4500 stays raw.
    ike = build([Ipv4Header("198.51.100.7", "203.0.113.1"), UdpHeader(4500, 4500), Raw(bytes(12))])
    assert parse(ike).get(Raw) == Raw(bytes(12))


def test_raw_protocol_roundtrip_and_layer_rules():
    icmp = build([Ipv6Header(HOA, HA), Raw(b"\x80\x00\x00\x00", protocol=58)])
    assert icmp[6] == 58
    assert build(parse(icmp).layers) == icmp
    with pytest.raises(ValueError):
        build([BindingUpdate(1, 1)])
    with pytest.raises(ValueError):
        build([Ipv4Header("192.0.2.1", "192.0.2.2"), BindingUpdate(1, 1)])
    with pytest.raises(ValueError):
        build([Ipv6Header(HOA, HA), BindingUpdate(1, 1), Raw(b"x")])


def test_padding_is_layout_not_content():
    bu = BindingUpdate(1, 1, options=[Ipv4HomeAddress("0.0.0.0"), AlternateCareOfAddress(COA)])
    raw = bu.to_bytes(HOA, HA)
    assert raw[20:22] == b"\x01\x00"  # PadN(0) before the 8n+6 Alternate CoA
    parsed = parse_mobility_header(raw, HOA, HA)
    assert parsed.options == bu.options
    assert not any(isinstance(o, PadN) for o in parsed.options)


def test_address_text_parsing_is_exact_across_many_addresses():
    # Parsed IPv6 addresses are cached per thread; cycling through more addresses than the
    # cache holds must still give each one back exactly.
    import ipaddress

    for _ in range(3):
        for i in range(40):
            text = f"2001:db8:{i:x}::{i * 7:x}"
            want = str(ipaddress.IPv6Address(text))
            assert AlternateCareOfAddress(text).address == want
            assert BindingIdentifier(1, care_of_address=text).care_of_address == want
            raw = BindingError(1, text).to_bytes(text, HA)
            assert raw[8:24] == ipaddress.IPv6Address(text).packed
    with pytest.raises(ValueError):
        AlternateCareOfAddress("2001:db8::zz")


def _expected_mh(chain):
    """The Mobility Header the chain must end with: the message's own encoder fed the pseudo
    addresses by hand (RFC 6275 §6.1.7: source = last HAO, destination = last RH2)."""
    src, dst = chain[0].src, chain[0].dst
    for layer in chain[1:-1]:
        if isinstance(layer, RoutingHeaderType2):
            dst = layer.home_address
        for o in getattr(layer, "options", ()):
            if isinstance(o, HomeAddressOption):
                src = o.address
    return chain[-1].to_bytes(src, dst)


def test_signalling_chains_front_to_back_and_long_ones():
    """Ipv6Header + Destination Options / RH2 headers + one message, short (one-pass emitter)
    and longer than 512 octets or with more layers / options than the one-pass emitter keeps on
    its stack (the general path): lengths, next headers, checksum."""
    hao = DestinationOptions([HomeAddressOption(HOA)])
    other = "2001:db8:9::9"
    long_opt = DestinationOptions([UnknownOption(0x1E, bytes(250)), HomeAddressOption(other)])
    bu = BindingUpdate(7, 100, a=True, options=[AlternateCareOfAddress(COA)])
    big_bu = BindingUpdate(7, 100, options=[MobileNodeIdentifier(1, b"u" * 200)])
    ba = BindingAcknowledgement(0, 7, 100)
    chains = [
        [Ipv6Header(COA, HA), bu],
        [Ipv6Header(COA, HA), hao, bu],
        [Ipv6Header(HA, COA), RoutingHeaderType2(HOA), ba],
        [Ipv6Header(HA, COA), RoutingHeaderType2(other), hao, RoutingHeaderType2(HOA), ba],
        [Ipv6Header(COA, HA), DestinationOptions([HomeAddressOption(other)]), hao, bu],
        [Ipv6Header(COA, HA, hop_limit=3, flow_label=5), long_opt, hao, big_bu],
        [
            Ipv6Header(COA, HA),
            long_opt,
            big_bu,
        ],
        # More extension headers, IPv6 options and mobility options than the fast path's lists.
        [Ipv6Header(HA, COA)] + [RoutingHeaderType2(other)] * 4 + [RoutingHeaderType2(HOA), ba],
        [
            Ipv6Header(COA, HA),
            DestinationOptions([UnknownOption(0x1E, b"x")] * 5 + [HomeAddressOption(other)]),
            bu,
        ],
        [
            Ipv6Header(COA, HA),
            hao,
            BindingUpdate(7, 100, options=[AlternateCareOfAddress(COA)] * 7),
        ],
    ]
    protos = {DestinationOptions: 60, RoutingHeaderType2: 43}
    for chain in chains:
        pkt = build(chain)
        assert pkt == build(tuple(chain))
        assert int.from_bytes(pkt[4:6], "big") == len(pkt) - 40
        mh = _expected_mh(chain)
        assert pkt.endswith(mh)
        off, nh = 40, pkt[6]
        for layer in chain[1:-1]:
            assert nh == protos[type(layer)]
            nh, off = pkt[off], off + (pkt[off + 1] + 1) * 8
        assert (nh, off) == (135, len(pkt) - len(mh))
        assert parse(pkt).layers[-1] == chain[-1]
    assert len(build(chains[5])) > 512
    with pytest.raises(ValueError, match="2048"):
        build([Ipv6Header(COA, HA), BindingUpdate(1, 1, options=[PadN(250)] * 9)])


def test_entry_points_serve_bytes_and_lists_and_forward_the_rest():
    """`parse`/`build` serve one positional `bytes` / `list` themselves and hand every other call
    (keywords, other argument types, errors) to the general functions: same results, same
    errors, and the parsed packet keeps (not copies) the input object."""
    chain = [
        Ipv6Header(COA, HA),
        DestinationOptions([HomeAddressOption(HOA)]),
        BindingUpdate(1, 900, options=[Ipv4HomeAddress("0.0.0.0"), AlternateCareOfAddress(COA)]),
    ]
    pkt = build(chain)
    assert build(layers=chain) == build(tuple(chain)) == build(iter(chain)) == pkt

    class Octets(bytes):
        pass

    layers = parse(pkt).layers
    assert layers == chain
    for data in (bytearray(pkt), memoryview(pkt), Octets(pkt)):
        assert parse(data).layers == layers
    assert parse(data=pkt).to_bytes() is pkt
    for call in (lambda: parse(), lambda: parse(pkt, pkt), lambda: parse(pkt, data=pkt)):
        with pytest.raises(TypeError):
            call()
    with pytest.raises(TypeError):
        build()
    with pytest.raises(TypeError):
        build([Ipv6Header(COA, HA), 1])
    # Errors: the same exception, offset and reason whichever way the octets come.
    seen = set()
    for bad in (pkt[:-1], bytearray(pkt[:-1]), Octets(pkt[:-1])):
        with pytest.raises(MalformedPacket) as ei:
            parse(bad)
        seen.add((type(ei.value), ei.value.offset, ei.value.reason))
    assert len(seen) == 1 and seen.pop()[2] == "truncated"
    corrupt = bytearray(pkt)
    corrupt[-1] ^= 0x01
    with pytest.raises(BadChecksum):
        parse(bytes(corrupt))
    # Each packet holds one reference to its input and releases it.
    before = sys.getrefcount(pkt)
    kept = [parse(pkt) for _ in range(100)]
    assert sys.getrefcount(pkt) == before + 100
    assert len({id(p) for p in kept}) == 100
    del kept
    for _ in range(1000):
        parse(pkt)
    assert sys.getrefcount(pkt) == before
