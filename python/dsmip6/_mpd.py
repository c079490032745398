"""Mobile Prefix Discovery (RFC 6275 §6.7, §6.8, §7.2, §10.6, §11.4; RFC 4877 §6.3, §7.2.3).

The two ICMPv6 messages (Mobile Prefix Solicitation, type 146; Mobile Prefix Advertisement,
type 147) as small frozen dataclasses, their wire form, and the IKEv2 traffic selectors of
the ESP transport SA that protects them.

Protection (design, docs/architecture.md "Mobile Prefix Discovery"): RFC 4877 §6.3 keys MPS/MPA
on an SA of their own whose selectors are ``HoA <-> HA, proto ICMPv6`` with the ICMPv6 type in
the high octet of the port selector (RFC 4301 §4.4.1.1, RFC 7296 §3.13.1): local type MPS (146)
at the UE, MPA (147) at the HA. The UE negotiates that child SA with CREATE_CHILD_SA on the
IKE SA it already has, the first time it needs prefix discovery (BA status 1). Both sides
accept MPS/MPA only through that SA: unprotected ones, and ones that arrive through the
signalling SA (whose selectors admit the Mobility Header only), are dropped and counted.

Wire layout (RFC 6275 §6.7/§6.8, options in the RFC 4861 §4.6 TLV format, 8-octet units):

* MPS: type 146, code 0, checksum, identifier (16), reserved (16).
* MPA: type 147, code 0, checksum, identifier (16), M (bit 15) O (bit 14) reserved, options;
  the Prefix Information option (type 3, length 4; RFC 4861 §4.6.2 with the R bit of RFC 6275
  §7.2): prefix length, L A R flags, valid lifetime, preferred lifetime, reserved, prefix.

The checksum is the ICMPv6 one (RFC 4443 §2.3) over the RFC 8200 §8.1 pseudo-header, whose
addresses are the ones the upper layer sees: the home address of the Home Address option as
source (RFC 6275 §6.3) and the final destination of a type 2 routing header (RFC 8200 §8.1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network, ip_address
from typing import Any

from dsmip6.errors import MalformedPacket

__all__ = [
    "ICMPV6",
    "MPS_TYPE",
    "MPA_TYPE",
    "PrefixInfo",
    "Mps",
    "Mpa",
    "encode",
    "decode",
    "mpd_selectors",
    "mpd_child",
    "INFINITE_LIFETIME",
]

#: IPv6 next header of ICMPv6 (the selector protocol of the MPD SA).
ICMPV6 = 58
#: RFC 6275 §6.7 / §6.8.
MPS_TYPE, MPA_TYPE = 146, 147
_PREFIX_INFO = 3  # RFC 4861 §4.6.2
#: RFC 4861 §4.6.2: a valid/preferred lifetime of all ones is infinite.
INFINITE_LIFETIME = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class PrefixInfo:
    """A Prefix Information option (RFC 4861 §4.6.2 with the R flag of RFC 6275 §7.2)."""

    prefix: IPv6Network
    valid_lifetime: int
    """Seconds; 0xFFFFFFFF is infinite, 0 withdraws the prefix."""
    preferred_lifetime: int
    l: bool = True  # noqa: E741 - RFC 4861 flag name
    a: bool = True
    r: bool = False


@dataclass(frozen=True, slots=True)
class Mps:
    """Mobile Prefix Solicitation (ICMPv6 146, RFC 6275 §6.7)."""

    identifier: int


@dataclass(frozen=True, slots=True)
class Mpa:
    """Mobile Prefix Advertisement (ICMPv6 147, RFC 6275 §6.8)."""

    identifier: int
    prefixes: tuple[PrefixInfo, ...]
    m: bool = False
    o: bool = False


def _checksum(src: IPv6Address, dst: IPv6Address, body: bytes) -> int:
    """RFC 4443 §2.3 over the RFC 8200 §8.1 pseudo-header (next header 58)."""
    data = src.packed + dst.packed + struct.pack("!I3xB", len(body), ICMPV6) + body
    if len(data) & 1:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def encode(message: Mps | Mpa, src: IPv6Address, dst: IPv6Address) -> bytes:
    """The ICMPv6 message (header and body) with its checksum for ``src`` -> ``dst`` (the
    pseudo-header addresses: HoA of the HAO / final destination of the RH2)."""
    if isinstance(message, Mps):
        if not 0 <= message.identifier <= 0xFFFF:
            raise ValueError("identifier out of 16 bits")
        body = struct.pack("!BBHHH", MPS_TYPE, 0, 0, message.identifier, 0)
    else:
        if not 0 <= message.identifier <= 0xFFFF:
            raise ValueError("identifier out of 16 bits")
        flags = (message.m << 15) | (message.o << 14)
        parts = [struct.pack("!BBHHH", MPA_TYPE, 0, 0, message.identifier, flags)]
        for p in message.prefixes:
            pflags = (p.l << 7) | (p.a << 6) | (p.r << 5)
            parts.append(
                struct.pack(
                    "!BBBBIII16s",
                    _PREFIX_INFO,
                    4,
                    p.prefix.prefixlen,
                    pflags,
                    p.valid_lifetime,
                    p.preferred_lifetime,
                    0,
                    p.prefix.network_address.packed,
                )
            )
        body = b"".join(parts)
    csum = _checksum(src, dst, body)
    return body[:2] + csum.to_bytes(2, "big") + body[4:]


def decode(data: bytes, src: IPv6Address, dst: IPv6Address) -> Mps | Mpa:
    """Parse and verify one MPS/MPA (``src``/``dst`` as for :func:`encode`). Raises
    :class:`MalformedPacket` (reason ``bad-checksum``, ``truncated``, ``bad-option``,
    ``not-mpd``) on anything invalid; unknown options are skipped (RFC 6275 §6.7/§6.8)."""
    if len(data) < 8:
        raise MalformedPacket("ICMPv6 message truncated", len(data), "truncated")
    kind, code = data[0], data[1]
    if kind not in (MPS_TYPE, MPA_TYPE):
        raise MalformedPacket(f"ICMPv6 type {kind} is not prefix discovery", 0, "not-mpd")
    if code != 0:
        raise MalformedPacket(f"ICMPv6 code {code} is not 0", 1, "bad-code")
    if _checksum(src, dst, data[:2] + b"\x00\x00" + data[4:]) != int.from_bytes(data[2:4], "big"):
        raise MalformedPacket("ICMPv6 checksum mismatch", 2, "bad-checksum")
    ident = int.from_bytes(data[4:6], "big")
    if kind == MPS_TYPE:
        return Mps(ident)  # options: none defined; ignored (RFC 6275 §6.7)
    flags = int.from_bytes(data[6:8], "big")
    prefixes: list[PrefixInfo] = []
    off = 8
    while off < len(data):
        if off + 2 > len(data):
            raise MalformedPacket("option header truncated", off, "truncated")
        otype, olen = data[off], data[off + 1] * 8
        if olen == 0:  # RFC 4861 §4.6: a zero length is invalid (and would loop)
            raise MalformedPacket("option of length 0", off + 1, "bad-option")
        if off + olen > len(data):
            raise MalformedPacket("option truncated", off, "truncated")
        if otype == _PREFIX_INFO:
            if olen != 32:
                raise MalformedPacket("Prefix Information length not 4", off + 1, "bad-option")
            plen, pflags, valid, preferred, _, raw = struct.unpack_from("!BBIII16s", data, off + 2)
            if plen > 128:
                raise MalformedPacket("prefix length over 128", off + 2, "bad-option")
            net = IPv6Network((int.from_bytes(raw, "big") >> (128 - plen) << (128 - plen), plen))
            prefixes.append(
                PrefixInfo(
                    net,
                    valid,
                    preferred,
                    bool(pflags & 0x80),
                    bool(pflags & 0x40),
                    bool(pflags & 0x20),
                )  # fmt: skip
            )
        off += olen
    return Mpa(ident, tuple(prefixes), bool(flags & 0x8000), bool(flags & 0x4000))


def mpd_selectors(
    home_address: IPv6Address, ha_address: IPv6Address
) -> tuple[list[Any], list[Any]]:
    """TSi = (HoA, ICMPv6, type MPS), TSr = (HA, ICMPv6, type MPA) for the CREATE_CHILD_SA
    of the MPD SA (RFC 4877 §6.3, §7.2.3; type in the port's high octet, any code)."""
    from dsmip6.ikev2 import TrafficSelector  # contract D

    tsi = [TrafficSelector(str(home_address), str(home_address), ICMPV6,
                           MPS_TYPE << 8, (MPS_TYPE << 8) | 0xFF)]  # fmt: skip
    tsr = [TrafficSelector(str(ha_address), str(ha_address), ICMPV6,
                           MPA_TYPE << 8, (MPA_TYPE << 8) | 0xFF)]  # fmt: skip
    return tsi, tsr


def _single_icmp(ts: Any) -> IPv6Address | None:
    items = ts if isinstance(ts, (list, tuple)) else (ts,)
    for sel in items:
        if int(getattr(sel, "protocol", 0)) != ICMPV6:
            continue
        start, end = ip_address(str(sel.start)), ip_address(str(sel.end))
        if isinstance(start, IPv6Address) and start == end:
            return start
    return None


def mpd_child(event: Any) -> tuple[IPv6Address, IPv6Address] | None:
    """``(HoA, HA address)`` when a contract-D ``ChildSaEstablished`` is an MPD SA (both
    selector lists name one IPv6 address with protocol ICMPv6), else None."""
    if type(event).__name__ != "ChildSaEstablished":
        return None
    child = event.child
    hoa = _single_icmp(child.ts_i)
    ha = _single_icmp(child.ts_r)
    if hoa is None or ha is None:
        return None
    return hoa, ha
