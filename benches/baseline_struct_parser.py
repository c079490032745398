"""Baseline for benches/test_bench_wire.py: a careful pure-Python ``struct`` codec for the same
packets (IPv6 + Destination Options/HAO or Type 2 RH + Mobility Header with options), which
verifies the Mobility Header checksum over the pseudo-header with the home address substituted
(RFC 6275 §6.1.1) exactly as dsmip6.wire does. Written for speed: precompiled ``Struct``
objects, ``unpack_from`` without slicing, and the one's-complement sum taken as the big integer
modulo 0xffff (equivalent to end-around-carry folding)."""

from __future__ import annotations

import socket
import struct

_IPV6 = struct.Struct("!IHBB16s16s")
_EXT = struct.Struct("!BB")
_HAO = struct.Struct("!BB16s")
_RH2 = struct.Struct("!BBBBI16s")
_MH = struct.Struct("!BBBBH")
_BU = struct.Struct("!HHH")
_V4HOA = struct.Struct("!H4s")
_PSEUDO_TAIL = struct.Struct("!I3xB")

MH = 135
DSTOPTS = 60
ROUTING = 43


class Malformed(ValueError):
    pass


def _csum_ok(pseudo_src: bytes, pseudo_dst: bytes, mh: bytes) -> bool:
    data = pseudo_src + pseudo_dst + _PSEUDO_TAIL.pack(len(mh), MH) + mh
    if len(data) & 1:
        data += b"\x00"
    # One's-complement sum == integer value mod 0xffff (0 and 0xffff both mean "all ones").
    return int.from_bytes(data, "big") % 0xFFFF == 0


def parse(buf: bytes) -> dict:
    """Parse IPv6 [+ DestOpts(HAO) | + RH2] + MH(BU/BA) into a dict; raise Malformed."""
    n = len(buf)
    if n < 40:
        raise Malformed("truncated")
    vtf, plen, nh, hlim, src, dst = _IPV6.unpack_from(buf, 0)
    if vtf >> 28 != 6 or 40 + plen != n:
        raise Malformed("bad IPv6 header")
    off = 40
    psrc, pdst = src, dst
    hoa = None
    while nh in (DSTOPTS, ROUTING):
        if off + 2 > n:
            raise Malformed("truncated")
        nxt, hlen = _EXT.unpack_from(buf, off)
        end = off + (hlen + 1) * 8
        if end > n:
            raise Malformed("truncated")
        if nh == DSTOPTS:
            p = off + 2
            while p < end:
                t = buf[p]
                if t == 0:
                    p += 1
                    continue
                if p + 2 > end or p + 2 + buf[p + 1] > end:
                    raise Malformed("bad option length")
                if t == 0xC9:
                    if buf[p + 1] != 16 or (p - off) % 8 != 6:
                        raise Malformed("bad HAO")
                    hoa = buf[p + 2 : p + 18]
                    psrc = hoa
                p += 2 + buf[p + 1]
        else:
            _, _, rtype, segleft, res, home = _RH2.unpack_from(buf, off)
            if rtype != 2 or hlen != 2 or segleft != 1 or res:
                raise Malformed("bad RH2")
            pdst = home
        nh = nxt
        off = end
    if nh != MH:
        raise Malformed("not a Mobility Header")
    if off + 8 > n:
        raise Malformed("truncated")
    proto, hlen, mhtype, res, csum = _MH.unpack_from(buf, off)
    mhlen = (hlen + 1) * 8
    if off + mhlen != n or proto != 59 or res:
        raise Malformed("bad Mobility Header")
    mh = buf[off:]
    if not _csum_ok(psrc, pdst, mh):
        raise Malformed("bad checksum")
    if mhtype != 5 or mhlen < 12:
        raise Malformed("not a Binding Update")
    seq, flags, lifetime = _BU.unpack_from(mh, 6)
    options = []
    p = 12
    while p < mhlen:
        t = mh[p]
        if t == 0:
            p += 1
            continue
        if p + 2 > mhlen:
            raise Malformed("bad option")
        ln = mh[p + 1]
        if p + 2 + ln > mhlen:
            raise Malformed("bad option length")
        if t == 1:
            pass
        elif t == 3:
            if ln != 16 or p % 8 != 6:
                raise Malformed("bad Alternate CoA")
            options.append(
                ("alternate_care_of_address", socket.inet_ntop(socket.AF_INET6, mh[p + 2 : p + 18]))
            )
        elif t == 29:
            if ln != 6 or p % 4:
                raise Malformed("bad IPv4 HoA")
            w, a = _V4HOA.unpack_from(mh, p + 2)
            if w & 0x01FF:
                raise Malformed("reserved")
            options.append(
                (
                    "ipv4_home_address",
                    socket.inet_ntop(socket.AF_INET, a),
                    w >> 10,
                    bool(w & 0x0200),
                )
            )
        else:
            options.append(("unknown", t, mh[p + 2 : p + 2 + ln]))
        p += 2 + ln
    return {
        "src": socket.inet_ntop(socket.AF_INET6, src),
        "dst": socket.inet_ntop(socket.AF_INET6, dst),
        "hop_limit": hlim,
        "home_address": socket.inet_ntop(socket.AF_INET6, hoa) if hoa else None,
        "sequence": seq,
        "flags": flags,
        "lifetime_4s": lifetime,
        "options": options,
    }


_V6 = struct.Struct("!IHBB16s16s")
_DSTOPT_HAO = struct.Struct("!BB4sBB16s")
_BU_HDR = struct.Struct("!BBBBHHHH")


def _csum(pseudo_src: bytes, pseudo_dst: bytes, mh: bytes) -> int:
    v = (
        int.from_bytes(pseudo_src + pseudo_dst + _PSEUDO_TAIL.pack(len(mh), MH) + mh, "big")
        % 0xFFFF
    )
    return 0xFFFF - v if v else 0xFFFF


def build_bu(
    coa: str, ha: str, hoa: str, seq: int, flags: int, lifetime_4s: int, v4hoa: str
) -> bytes:
    """IPv6(CoA->HA) / DestOpts(PadN(4), HAO) / MH BU [IPv4 HoA @12, PadN(2), Alt-CoA @22]."""
    s = socket.inet_pton(socket.AF_INET6, coa)
    d = socket.inet_pton(socket.AF_INET6, ha)
    h = socket.inet_pton(socket.AF_INET6, hoa)
    opts = bytes([29, 6, 0x80, 0]) + socket.inet_pton(socket.AF_INET, v4hoa) + b"\x01\x00"
    opts += bytes([3, 16]) + s
    body = _BU_HDR.pack(59, 4, 5, 0, 0, seq, flags, lifetime_4s) + opts
    c = _csum(h, d, body)
    mh = body[:4] + c.to_bytes(2, "big") + body[6:]
    ext = _DSTOPT_HAO.pack(MH, 2, b"\x01\x02\x00\x00", 0xC9, 16, h)
    return _V6.pack(6 << 28, len(ext) + len(mh), DSTOPTS, 64, s, d) + ext + mh
