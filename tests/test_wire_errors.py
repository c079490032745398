"""Every wire error reason reaches Python as MalformedPacket (BadChecksum for checksums) with
the offset and reason (rust/py/src/errors.rs)."""

from __future__ import annotations

import struct

import pytest
from dsmip6.errors import BadChecksum, MalformedPacket
from dsmip6.wire import (
    BindingRevocationIndication,
    Ipv4Header,
    Ipv6Header,
    Raw,
    UdpHeader,
    build,
    parse,
    parse_mobility_header,
)

HOA = "2001:db8:1::1000"
HA = "2001:db8:1::1"


def mh_packet(mh: bytes) -> bytes:
    return build([Ipv6Header(HOA, HA), Raw(mh, protocol=135)])


def bri() -> bytes:
    return BindingRevocationIndication(1, 7).to_bytes(HOA, HA)


def cases() -> list[tuple[str, bytes, int]]:
    v4 = build([Ipv4Header("192.0.2.1", "192.0.2.2"), UdpHeader(1, 2)])
    frag = bytearray(v4)
    frag[6] = 0x20  # MF
    frag[10:12] = b"\x00\x00"
    reserved = bytearray(bri())
    reserved[3] = 1
    proto = bytearray(bri())
    proto[0] = 6
    short_bu = bytes([59, 0, 5, 0, 0, 0, 0, 1])
    # BRR, then Pad1 @8 and an IPv4 Home Address option @9 (must be 4n), PadN(5) to 24.
    misaligned = bytes([59, 2, 0, 0, 0, 0, 0, 0, 0]) + bytes([29, 6, 0x80, 0, 1, 2, 3, 4])
    misaligned += bytes([1, 5]) + bytes(5)
    cksum = bytearray(bri())
    cksum[5] ^= 1
    nested = Ipv6Header(HOA, HA)
    deep = build([nested] * 16)
    deep = struct.pack("!IHBB", 6 << 28, len(deep), 41, 64) + bytes(32) + deep
    return [
        ("truncated", bri()[:7], 7),
        ("bad-version", b"\x50" + bytes(39), 0),
        ("bad-length", short_bu, 1),
        ("non-zero-reserved", bytes(reserved), 3),
        ("bad-value", bytes(proto), 0),
        ("bad-alignment", misaligned, 9),
        ("bad-checksum", bytes(cksum), 4),
        ("unsupported", bytes(frag), 6),
        ("trailing-data", v4 + b"\x00", len(v4)),
        ("too-many-layers", deep, 16 * 40),
    ]


@pytest.mark.parametrize("reason,data,offset", cases(), ids=[c[0] for c in cases()])
def test_reason_and_offset(reason, data, offset):
    if data[0] >> 4 == 3:  # a Mobility Header (Payload Proto 59 = 0x3b)
        with pytest.raises(MalformedPacket) as ei:
            parse_mobility_header(data, HOA, HA)
        assert (ei.value.reason, ei.value.offset) == (reason, offset)
        data = mh_packet(data)
        offset += 40
    elif reason in ("non-zero-reserved", "bad-value"):
        data = mh_packet(data)
        offset += 40
    with pytest.raises(MalformedPacket) as ei:
        parse(data)
    assert (ei.value.reason, ei.value.offset) == (reason, offset)
    assert isinstance(ei.value, BadChecksum) == (reason == "bad-checksum")
    assert f"offset {offset}" in str(ei.value)
