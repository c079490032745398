"""Minimal pcap / pcapng reader for ``dsmip6 decode`` (no third-party dependency).

Yields the IP packet inside each frame for the link types a capture of DSMIPv6 traffic uses:
Ethernet (1, with 802.1Q/802.1ad tags), BSD loopback (0), raw IP (101, 228, 229), Linux cooked
capture v1 (113) and v2 (276). Ethernet padding after the IP datagram is trimmed using the IP
length fields. Anything unreadable raises :class:`dsmip6.errors.MalformedPacket`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from dsmip6.errors import MalformedPacket

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_VLAN = (0x8100, 0x88A8)

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",  # nanosecond resolution
    b"\xa1\xb2\x3c\x4d": ">",
}
_PCAPNG_SHB = 0x0A0D0D0A


@dataclass(frozen=True)
class Frame:
    """One captured frame: its link type and octets."""

    linktype: int
    data: bytes


def read_frames(blob: bytes) -> Iterator[Frame]:
    """Iterate over the frames of a pcap or pcapng file held in ``blob``."""
    if blob[:4] in _PCAP_MAGICS:
        yield from _read_pcap(blob)
    elif len(blob) >= 4 and struct.unpack("<I", blob[:4])[0] == _PCAPNG_SHB:
        yield from _read_pcapng(blob)
    else:
        raise MalformedPacket("not a pcap or pcapng file", 0, "bad-file-format")


def _read_pcap(blob: bytes) -> Iterator[Frame]:
    e = _PCAP_MAGICS[blob[:4]]
    if len(blob) < 24:
        raise MalformedPacket("pcap header truncated", len(blob), "truncated")
    linktype = struct.unpack(e + "I", blob[20:24])[0] & 0x0FFFFFFF
    off = 24
    while off < len(blob):
        if off + 16 > len(blob):
            raise MalformedPacket("pcap record header truncated", off, "truncated")
        incl = struct.unpack(e + "I", blob[off + 8 : off + 12])[0]
        start = off + 16
        if start + incl > len(blob):
            raise MalformedPacket("pcap record truncated", off, "truncated")
        yield Frame(linktype, blob[start : start + incl])
        off = start + incl


def _read_pcapng(blob: bytes) -> Iterator[Frame]:
    e = "<"
    linktypes: list[int] = []
    off = 0
    while off < len(blob):
        if off + 12 > len(blob):
            raise MalformedPacket("pcapng block truncated", off, "truncated")
        btype = struct.unpack(e + "I", blob[off : off + 4])[0]
        if btype == _PCAPNG_SHB:
            bom = blob[off + 8 : off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            linktypes = []  # a new section restarts interface numbering
        blen = struct.unpack(e + "I", blob[off + 4 : off + 8])[0]
        if blen < 12 or blen % 4 or off + blen > len(blob):
            raise MalformedPacket("pcapng block length invalid", off + 4, "bad-length")
        body = blob[off + 8 : off + blen - 4]
        if btype == 1:  # Interface Description Block
            linktypes.append(struct.unpack(e + "H", body[0:2])[0])
        elif btype == 6:  # Enhanced Packet Block
            iface, _, _, caplen, _ = struct.unpack(e + "IIIII", body[:20])
            if iface >= len(linktypes) or 20 + caplen > len(body):
                raise MalformedPacket("pcapng packet block invalid", off, "bad-length")
            yield Frame(linktypes[iface], body[20 : 20 + caplen])
        elif btype == 3:  # Simple Packet Block
            if not linktypes:
                raise MalformedPacket("pcapng packet before any interface", off, "bad-value")
            yield Frame(linktypes[0], body[4:])
        off += blen


def ip_packet(frame: Frame) -> bytes:
    """The IP packet carried by ``frame`` (link-layer header removed, padding trimmed)."""
    d = frame.data
    lt = frame.linktype
    if lt == LINKTYPE_ETHERNET:
        off, etype = 12, None
        while True:
            if len(d) < off + 2:
                raise MalformedPacket("Ethernet header truncated", len(d), "truncated")
            etype = struct.unpack("!H", d[off : off + 2])[0]
            if etype in _ETHERTYPE_VLAN:
                off += 4
                continue
            break
        if etype not in (_ETHERTYPE_IPV4, _ETHERTYPE_IPV6):
            raise MalformedPacket(f"EtherType 0x{etype:04x} is not IP", off, "unsupported")
        payload = d[off + 2 :]
    elif lt in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        payload = d
    elif lt == LINKTYPE_LINUX_SLL:
        if len(d) < 16:
            raise MalformedPacket("Linux cooked header truncated", len(d), "truncated")
        payload = d[16:]
    elif lt == LINKTYPE_LINUX_SLL2:
        if len(d) < 20:
            raise MalformedPacket("Linux cooked v2 header truncated", len(d), "truncated")
        payload = d[20:]
    elif lt == LINKTYPE_NULL:
        if len(d) < 4:
            raise MalformedPacket("loopback header truncated", len(d), "truncated")
        payload = d[4:]
    else:
        raise MalformedPacket(f"link type {lt} not supported", 0, "unsupported")
    return _trim(payload)


def _trim(p: bytes) -> bytes:
    """Drop link-layer padding after the IP datagram."""
    if len(p) >= 20 and p[0] >> 4 == 4:
        total = struct.unpack("!H", p[2:4])[0]
        if 20 <= total < len(p):
            return p[:total]
    elif len(p) >= 40 and p[0] >> 4 == 6:
        total = 40 + struct.unpack("!H", p[4:6])[0]
        if total < len(p):
            return p[:total]
    return p


def write_pcap(
    path: str,
    packets: list[bytes],
    linktype: int = LINKTYPE_RAW,
    times: list[float] | None = None,
) -> None:
    """Write ``packets`` (already framed for ``linktype``) as a classic little-endian pcap.

    ``times`` gives each packet's time in seconds from the start of the capture (default:
    one second apart)."""
    if times is not None and len(times) != len(packets):
        raise ValueError("one time per packet")
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for i, p in enumerate(packets):
            usec = round((times[i] if times is not None else i) * 1_000_000)
            sec, usec = divmod(usec, 1_000_000)
            f.write(struct.pack("<IIII", 1_700_000_000 + sec, usec, len(p), len(p)))
            f.write(p)
