"""IKEv2 message and payload codec (RFC 7296 §3), with the payload rule table per message.

Layering: this module turns bytes into :class:`Message` objects and back. It knows nothing about
keys; the SK payload is handed to an object implementing :class:`SkProtection` (see ``sk.py``)
which encrypts on the way out and verifies/decrypts on the way in.

Decoding contract: :func:`decode_message` raises only :class:`~dsmip6.errors.MalformedPacket`
(bad layout: the caller answers INVALID_SYNTAX or drops), :class:`IkeDecodeError` subclasses
carrying the notify the caller should answer with (unknown critical payload), or
:class:`~dsmip6.errors.IntegrityCheckFailed` (SK did not verify: drop silently, §2.21.2).
"""

from __future__ import annotations

import functools
import ipaddress
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Any, ClassVar, Protocol, Self, TypeVar, dataclass_transform

from dsmip6.errors import MalformedPacket, RemoteProtocolError
from dsmip6.ikev2.constants import (
    GENERIC_HEADER_LEN,
    IKE_HEADER_LEN,
    IKE_VERSION,
    KEY_LENGTH_ATTRIBUTE,
    ExchangeType,
    Flag,
    Notify,
    PayloadType,
    ProtocolId,
    TsType,
)
from dsmip6.pools import net6

__all__ = [
    "IkeDecodeError",
    "Transform",
    "Proposal",
    "SaPayload",
    "KePayload",
    "NoncePayload",
    "IdPayload",
    "CertPayload",
    "CertReqPayload",
    "AuthPayload",
    "NotifyPayload",
    "DeletePayload",
    "VendorPayload",
    "TrafficSelector",
    "TsPayload",
    "CfgAttribute",
    "CpPayload",
    "EapPayload",
    "SkfPayload",
    "UnknownPayload",
    "Payload",
    "Message",
    "IkeHeader",
    "decode_header",
    "decode_message",
    "encode_chain",
    "decode_chain",
    "MessageRule",
    "PAYLOAD_RULES",
    "check_rules",
]


_P_IDI, _P_IDR = int(PayloadType.IDI), int(PayloadType.IDR)
_P_TSI, _P_TSR = int(PayloadType.TSI), int(PayloadType.TSR)
_N_INVALID_SYNTAX = int(Notify.INVALID_SYNTAX)

_T = TypeVar("_T")


@dataclass_transform()
def _value(cls: type[_T]) -> type[_T]:
    """Codec value objects: slotted, compared and hashed by value. Not frozen: a frozen
    dataclass pays one ``object.__setattr__`` per field at construction, on the per-message
    path; nothing mutates them after construction. (A function rather than the partial
    ``dataclass(slots=True, unsafe_hash=True)`` so that type checkers see the fields as
    ``__init__`` parameters, PEP 681.)"""
    return dataclass(slots=True, unsafe_hash=True)(cls)


class IkeDecodeError(RemoteProtocolError):
    """The peer's message breaks RFC 7296 in a way that has a notify answer."""

    def __init__(self, message: str, notify: int, data: bytes = b""):
        super().__init__(message)
        self.notify = notify
        self.data = data


def _need(data: bytes, n: int, what: str, offset: int = 0) -> None:
    if len(data) < n:
        raise MalformedPacket(f"{what}: need {n} octets, have {len(data)}", offset, "truncated")


# ---------------------------------------------------------------------------------------------
# SA payload (RFC 7296 §3.3)
#
#   Proposal:  Last(1) RESERVED(1) Length(2) Num(1) Protocol(1) SPI Size(1) #Transforms(1) SPI ...
#   Transform: Last(1) RESERVED(1) Length(2) Type(1) RESERVED(1) Transform ID(2) Attributes ...


@_value
class Transform:
    type: int
    id: int
    key_length: int | None = None
    """Key Length attribute in bits (AES), None when absent."""

    def encode(self, last: bool) -> bytes:
        key = (self.type, self.id, self.key_length, last)
        data = _TRANSFORM_OCTETS.get(key)
        if data is None:
            attrs = b""
            if self.key_length is not None:
                attrs = struct.pack("!HH", KEY_LENGTH_ATTRIBUTE, self.key_length)
            data = struct.pack(
                "!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), self.type, 0, self.id
            ) + (attrs)
            if len(_TRANSFORM_OCTETS) < 4096:  # a handful of transforms in practice
                _TRANSFORM_OCTETS[key] = data
        return data


_TRANSFORM_OCTETS: dict[tuple[int, int, int | None, bool], bytes] = {}


@_value
class Proposal:
    number: int
    protocol: int
    spi: bytes
    transforms: tuple[Transform, ...]

    def encode(self, last: bool) -> bytes:
        ts = self.transforms
        n = len(ts)
        body = b"".join([t.encode(i == n - 1) for i, t in enumerate(ts)])
        head = struct.pack(
            "!BBHBBBB",
            0 if last else 2,
            0,
            8 + len(self.spi) + len(body),
            self.number,
            self.protocol,
            len(self.spi),
            len(self.transforms),
        )
        return head + self.spi + body

    def of_type(self, ttype: int) -> list[Transform]:
        return [t for t in self.transforms if t.type == ttype]


_TRANSFORMS_SEEN: dict[tuple[bytes, int], tuple[Transform, ...]] = {}
"""Decoded transform lists by their octets: peers of one deployment send the same few proposals,
and the ``Transform`` values are never mutated, so one decode serves every later message. Only
successful decodes are kept (errors keep their offsets); cleared when 256 are held."""


def _decode_transforms(data: bytes, count: int, base: int) -> tuple[Transform, ...]:
    key = (data, count)
    hit = _TRANSFORMS_SEEN.get(key)
    if hit is not None:
        return hit
    out: list[Transform] = []
    off = 0
    last = 3
    while last == 3:
        if len(data) - off < 8:  # checked without slicing; the slice only for the error
            _need(data[off:], 8, "transform", base + off)
        last, _r, length, ttype, _r2, tid = struct.unpack_from("!BBHBBH", data, off)
        if last not in (0, 3) or length < 8 or off + length > len(data):
            raise MalformedPacket("bad transform header", base + off, "bad-length")
        key_length: int | None = None
        aoff = off + 8
        while aoff < off + length:
            if off + length - aoff < 4:
                _need(data[aoff : off + length], 4, "transform attribute", base + aoff)
            atype, aval = struct.unpack_from("!HH", data, aoff)
            if atype & 0x8000:
                if atype == KEY_LENGTH_ATTRIBUTE:
                    key_length = aval
                aoff += 4
            else:  # TLV form: skip (RFC 7296 §3.3.5)
                aoff += 4 + aval
        if aoff != off + length:
            raise MalformedPacket("transform attributes overrun", base + aoff, "bad-length")
        out.append(Transform(ttype, tid, key_length))
        off += length
    if len(out) != count or off != len(data):
        raise MalformedPacket("transform count/length mismatch", base, "bad-length")
    result = tuple(out)
    if len(_TRANSFORMS_SEEN) >= 256:  # a handful of distinct proposals in practice
        _TRANSFORMS_SEEN.clear()
    _TRANSFORMS_SEEN[key] = result
    return result


@_value
class SaPayload:
    TYPE: ClassVar[int] = int(PayloadType.SA)
    proposals: tuple[Proposal, ...]
    _octets: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)
    """The encoded body, kept after the first ``encode_body`` (the object is not mutated)."""

    def encode_body(self) -> bytes:
        data = self._octets
        if data is None:
            ps = self.proposals
            data = b"".join([p.encode(i == len(ps) - 1) for i, p in enumerate(ps)])
            self._octets = data
        return data

    @classmethod
    def decode_body(cls, data: bytes) -> SaPayload:
        props: list[Proposal] = []
        off = 0
        last = 2
        while last == 2:
            if len(data) - off < 8:
                _need(data[off:], 8, "proposal", off)
            last, _r, length, num, proto, spi_size, ntrans = struct.unpack_from(
                "!BBHBBBB", data, off
            )
            if last not in (0, 2) or length < 8 + spi_size or off + length > len(data):
                raise MalformedPacket("bad proposal header", off, "bad-length")
            spi = data[off + 8 : off + 8 + spi_size]
            trans = _decode_transforms(data[off + 8 + spi_size : off + length], ntrans, off)
            props.append(Proposal(num, proto, spi, trans))
            off += length
        if off != len(data):
            raise MalformedPacket("trailing data after last proposal", off, "bad-length")
        return cls(tuple(props))


# ---------------------------------------------------------------------------------------------
# Simple payloads (RFC 7296 §3.4-3.12)


@_value
class KePayload:
    """Key Exchange: DH Group Num(2) RESERVED(2) Key Exchange Data (§3.4)."""

    TYPE: ClassVar[int] = int(PayloadType.KE)
    group: int
    data: bytes

    def encode_body(self) -> bytes:
        return struct.pack("!HH", self.group, 0) + self.data

    @classmethod
    def decode_body(cls, data: bytes) -> KePayload:
        if len(data) < 4:
            _need(data, 4, "KE")
        return cls(struct.unpack_from("!H", data)[0], data[4:])


@_value
class NoncePayload:
    """Nonce data, 16..256 octets (§3.9)."""

    TYPE: ClassVar[int] = int(PayloadType.NONCE)
    data: bytes

    def encode_body(self) -> bytes:
        return self.data

    @classmethod
    def decode_body(cls, data: bytes) -> NoncePayload:
        if not 16 <= len(data) <= 256:
            raise MalformedPacket(f"nonce of {len(data)} octets", 0, "bad-length")
        return cls(data)


@_value
class IdPayload:
    """IDi / IDr: ID Type(1) RESERVED(3) data (§3.5). ``body`` is IDx' of the AUTH computation."""

    id_type: int
    data: bytes
    initiator: bool = True

    @property
    def TYPE(self) -> int:  # noqa: N802 - same name as the other payload classes
        return _P_IDI if self.initiator else _P_IDR

    @property
    def body(self) -> bytes:
        return self.encode_body()

    def encode_body(self) -> bytes:
        return struct.pack("!B3x", self.id_type) + self.data

    @classmethod
    def decode_body(cls, data: bytes, initiator: bool = True) -> IdPayload:
        if len(data) < 5:
            _need(data, 5, "ID")
        return cls(data[0], data[4:], initiator)


class _EncodingAndData:
    """Body shared by CERT (RFC 7296 §3.6) and CERTREQ (§3.7): Encoding(1) then the data."""

    __slots__ = ()
    WHAT: ClassVar[str]
    encoding: int
    data: bytes

    def encode_body(self) -> bytes:
        return bytes([self.encoding]) + self.data

    @classmethod
    def decode_body(cls, data: bytes) -> Self:
        if len(data) < 1:
            _need(data, 1, cls.WHAT)
        return cls(data[0], data[1:])  # type: ignore[call-arg]


@_value
class CertPayload(_EncodingAndData):
    TYPE: ClassVar[int] = int(PayloadType.CERT)
    WHAT: ClassVar[str] = "CERT"
    encoding: int
    data: bytes


@_value
class CertReqPayload(_EncodingAndData):
    TYPE: ClassVar[int] = int(PayloadType.CERTREQ)
    WHAT: ClassVar[str] = "CERTREQ"
    encoding: int
    data: bytes
    """Concatenated SHA-1 hashes of trusted CAs' SubjectPublicKeyInfo (§3.7)."""


@_value
class AuthPayload:
    TYPE: ClassVar[int] = int(PayloadType.AUTH)
    method: int
    data: bytes

    def encode_body(self) -> bytes:
        return struct.pack("!B3x", self.method) + self.data

    @classmethod
    def decode_body(cls, data: bytes) -> AuthPayload:
        if len(data) < 5:
            _need(data, 5, "AUTH")
        return cls(data[0], data[4:])


@_value
class NotifyPayload:
    """Protocol ID(1) SPI Size(1) Notify Type(2) SPI Notification Data (§3.10)."""

    TYPE: ClassVar[int] = int(PayloadType.NOTIFY)
    notify_type: int
    data: bytes = b""
    protocol: int = 0
    spi: bytes = b""

    def encode_body(self) -> bytes:
        return (
            struct.pack("!BBH", self.protocol, len(self.spi), self.notify_type)
            + self.spi
            + (self.data)
        )

    @classmethod
    def decode_body(cls, data: bytes) -> NotifyPayload:
        if len(data) < 4:
            _need(data, 4, "N")
        proto, spi_size, ntype = struct.unpack_from("!BBH", data)
        if len(data) < 4 + spi_size:
            _need(data, 4 + spi_size, "N SPI")
        return cls(ntype, data[4 + spi_size :], proto, data[4 : 4 + spi_size])


@_value
class DeletePayload:
    """Protocol ID(1) SPI Size(1) Num of SPIs(2) SPIs (§3.11)."""

    TYPE: ClassVar[int] = int(PayloadType.DELETE)
    protocol: int
    spis: tuple[bytes, ...] = ()

    def encode_body(self) -> bytes:
        size = len(self.spis[0]) if self.spis else 0
        return struct.pack("!BBH", self.protocol, size, len(self.spis)) + b"".join(self.spis)

    @classmethod
    def decode_body(cls, data: bytes) -> DeletePayload:
        if len(data) < 4:
            _need(data, 4, "D")
        proto, size, num = struct.unpack_from("!BBH", data)
        if proto == ProtocolId.IKE and (size != 0 or num != 0):
            raise MalformedPacket("IKE delete must carry no SPI", 0, "bad-length")
        if len(data) != 4 + size * num:
            raise MalformedPacket("delete SPI list length", 4, "bad-length")
        return cls(proto, tuple(data[4 + i * size : 4 + (i + 1) * size] for i in range(num)))


@_value
class VendorPayload:
    TYPE: ClassVar[int] = int(PayloadType.VENDOR)
    data: bytes

    def encode_body(self) -> bytes:
        return self.data

    @classmethod
    def decode_body(cls, data: bytes) -> VendorPayload:
        return cls(data)


# ---------------------------------------------------------------------------------------------
# Traffic selectors (RFC 7296 §3.13.1; RFC 4877 §7: MH type in the high octet of the port)


_TS_HEAD = struct.Struct("!BBHHH")
_TS_V6, _TS_V4 = int(TsType.IPV6_ADDR_RANGE), int(TsType.IPV4_ADDR_RANGE)


_ANY6 = (IPv6Address(0), IPv6Address((1 << 128) - 1))
_ANY4 = (IPv4Address(0), IPv4Address((1 << 32) - 1))


def _addr(value: object) -> IPv4Address | IPv6Address:
    t = type(value)
    if t is IPv6Address or t is IPv4Address:
        return value  # type: ignore[return-value]
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    if isinstance(value, str | int | bytes):
        return ipaddress.ip_address(value)
    raise TypeError(f"not an address: {value!r}")


@_value
class TrafficSelector:
    """An address range with protocol and port range; immutable, addresses as ipaddress objects.

    For the Mobility Header (protocol 135) the port carries the MH type in its high octet
    (``start_port = mh_type << 8``), as RFC 4877 §7 and RFC 4301 §4.4.1.1 specify.
    """

    start: IPv4Address | IPv6Address
    end: IPv4Address | IPv6Address
    protocol: int = 0
    start_port: int = 0
    end_port: int = 65535

    def __init__(
        self,
        start: object,
        end: object | None = None,
        protocol: int = 0,
        start_port: int = 0,
        end_port: int = 65535,
    ) -> None:
        s = _addr(start)
        e = _addr(end) if end is not None else s
        if s.version != e.version:
            raise ValueError("traffic selector mixes IPv4 and IPv6")
        if not (0 <= protocol <= 255 and 0 <= start_port <= 65535 and 0 <= end_port <= 65535):
            raise ValueError("protocol or port out of range")
        self.start = s
        self.end = e
        self.protocol = protocol
        self.start_port = start_port
        self.end_port = end_port

    @classmethod
    def for_network(
        cls, net: str | ipaddress.IPv4Network | ipaddress.IPv6Network, **kw: int
    ) -> TrafficSelector:
        if isinstance(net, ipaddress.IPv4Network | ipaddress.IPv6Network):
            n = net
        else:
            n = ipaddress.ip_network(net, strict=False)
        # The last address from the prefix length, not ``n.broadcast_address``: that is a
        # cached property, so reading it would leave a dict, a mask and an address on the
        # caller's network object (the HA narrows against each UE's home prefix, and keeps
        # those prefixes for the life of the session).
        start = n.network_address
        end = type(start)(int(start) | ((1 << (start.max_prefixlen - n.prefixlen)) - 1))
        if kw or cls is not TrafficSelector:
            return cls(start, end, **kw)
        return _selector(start, end, 0, 0, 65535)  # both ends of one network: nothing to check

    @classmethod
    def any(cls, version: int = 6, protocol: int = 0) -> TrafficSelector:
        # the whole address range as address objects made once (every UE's default child
        # selectors, one InitiatorConfig per attach): no text to parse each time
        start, end = _ANY6 if version == 6 else _ANY4
        return cls(start, end, protocol)

    @classmethod
    def mobility_header(
        cls, address: object, mh_type: int | None = None, end: object | None = None
    ) -> TrafficSelector:
        """Protocol 135 selector; one MH type (high port octet) or all types (None)."""
        if mh_type is None:
            return cls(address, end, 135, 0, 65535)
        return cls(address, end, 135, mh_type << 8, mh_type << 8)

    @property
    def version(self) -> int:
        return self.start.version

    @property
    def ts_type(self) -> int:
        return TsType.IPV6_ADDR_RANGE if self.version == 6 else TsType.IPV4_ADDR_RANGE

    @property
    def is_single_address(self) -> bool:
        return self.start == self.end

    def mh_types(self) -> tuple[int, ...]:
        """MH types admitted (for protocol 135); empty = every type."""
        if self.protocol != 135 or (self.start_port == 0 and self.end_port == 65535):
            return ()
        if self.start_port > self.end_port:  # OPAQUE
            return ()
        return tuple(range(self.start_port >> 8, (self.end_port >> 8) + 1))

    def intersect(self, other: TrafficSelector) -> TrafficSelector | None:
        """The narrowest selector admitted by both, or None (RFC 7296 §2.9)."""
        a, b = self.start, other.start
        if type(a) is not type(b):  # IPv4Address vs IPv6Address: different versions
            return None
        if self.protocol and other.protocol and self.protocol != other.protocol:
            return None
        # compare the addresses' integer values (``_ip``, as ``int(addr)`` returns) instead of
        # going through ipaddress's Python-level ordering methods
        s = a if a._ip >= b._ip else b
        c, d = self.end, other.end
        e = c if c._ip <= d._ip else d
        if s._ip > e._ip:
            return None
        sp = max(self.start_port, other.start_port)
        ep = min(self.end_port, other.end_port)
        if sp > ep:
            return None
        # every value comes from one of two valid selectors of one IP version: no checks
        return _selector(s, e, self.protocol or other.protocol, sp, ep)

    def contains(self, other: TrafficSelector) -> bool:
        return self.intersect(other) == other

    def encode(self) -> bytes:
        start, end = self.start, self.end
        if type(start) is IPv6Address:
            head = _TS_HEAD.pack(_TS_V6, self.protocol, 40, self.start_port, self.end_port)
            return head + start._ip.to_bytes(16, "big") + end._ip.to_bytes(16, "big")  # type: ignore[union-attr]
        head = _TS_HEAD.pack(_TS_V4, self.protocol, 16, self.start_port, self.end_port)
        return head + start.packed + end.packed

    def __str__(self) -> str:
        proto = f" proto {self.protocol}" if self.protocol else ""
        ports = (
            ""
            if (self.start_port, self.end_port) == (0, 65535)
            else (f" ports {self.start_port}-{self.end_port}")
        )
        return f"{self.start}-{self.end}{proto}{ports}"


def _selector_hash(self: TrafficSelector) -> int:
    """The dataclass's hash of the five fields, with each address's integer in place of the
    address (``ipaddress`` hashes the hex string of that integer, in Python): equal selectors
    have equal integers, so they still hash alike. Selector tuples are dictionary keys on
    the responder's path (``child_create._shared_ts``)."""
    return hash((self.start._ip, self.end._ip, self.protocol, self.start_port, self.end_port))


TrafficSelector.__hash__ = _selector_hash  # type: ignore[method-assign]

_new = object.__new__
(_set_start, _set_end, _set_protocol, _set_start_port, _set_end_port) = (
    TrafficSelector.__dict__[n].__set__
    for n in ("start", "end", "protocol", "start_port", "end_port")
)


def _selector(
    start: IPv4Address | IPv6Address,
    end: IPv4Address | IPv6Address,
    protocol: int,
    sp: int,
    ep: int,
) -> TrafficSelector:
    """``TrafficSelector(start, end, protocol, sp, ep)`` for values already known valid (two
    address objects of one version, protocol and ports in range), without ``__init__``'s
    conversions and checks: the responder narrows every UE's selectors on its handshake path."""
    ts = _new(TrafficSelector)
    _set_start(ts, start)
    _set_end(ts, end)
    _set_protocol(ts, protocol)
    _set_start_port(ts, sp)
    _set_end_port(ts, ep)
    return ts


_TS_BODIES: dict[int, tuple[tuple[TrafficSelector, ...], bytes]] = {}
"""Encoded TS payload bodies by selector tuple (identity; selectors are immutable values):
the HA-side selectors every UE's signalling SA shares (``child_create._shared_ts``) are
encoded once, a UE's own narrowed selectors once for its response and its parked record.
Cleared when ``_TS_BODIES_MAX`` are held: a UE's own entries are only reused within its
exchange, so a large table would just keep other UEs' selectors and octets alive (at 256
entries that was ~150 B per UE in the 300-UE heap benchmark)."""
_TS_BODIES_MAX = 16


@_value
class TsPayload:
    """TSi / TSr: Number of TSs(1) RESERVED(3) selectors (§3.13)."""

    selectors: tuple[TrafficSelector, ...]
    initiator: bool = True
    unknown: int = 0
    """Count of selectors of unknown type that were skipped."""

    @property
    def TYPE(self) -> int:  # noqa: N802
        return _P_TSI if self.initiator else _P_TSR

    def encode_body(self) -> bytes:
        sels = self.selectors
        hit = _TS_BODIES.get(id(sels))
        if hit is not None and hit[0] is sels:  # the entry keeps the tuple alive: no id reuse
            return hit[1]
        body = struct.pack("!B3x", len(sels)) + b"".join([s.encode() for s in sels])
        if len(_TS_BODIES) >= _TS_BODIES_MAX:
            _TS_BODIES.clear()
        _TS_BODIES[id(sels)] = (sels, body)
        return body

    @classmethod
    def decode_body(cls, data: bytes, initiator: bool = True) -> TsPayload:
        if len(data) < 4:
            _need(data, 4, "TS")
        count = data[0]
        off = 4
        sels: list[TrafficSelector] = []
        unknown = 0
        for _ in range(count):
            if len(data) - off < 8:
                _need(data[off:], 8, "traffic selector", off)
            ts_type, proto, length, sport, eport = struct.unpack_from("!BBHHH", data, off)
            if length < 8 or off + length > len(data):
                raise MalformedPacket("bad selector length", off, "bad-length")
            body = data[off + 8 : off + length]
            # ``_selector``: what ``TrafficSelector.__init__`` checks holds by construction
            # (two addresses of one version, a one-octet protocol, two-octet ports)
            if ts_type == _TS_V4:
                if length != 16:
                    raise MalformedPacket("IPv4 selector length", off, "bad-length")
                sels.append(
                    _selector(IPv4Address(body[:4]), IPv4Address(body[4:]), proto, sport, eport)
                )
            elif ts_type == _TS_V6:
                if length != 40:
                    raise MalformedPacket("IPv6 selector length", off, "bad-length")
                sels.append(
                    _selector(IPv6Address(body[:16]), IPv6Address(body[16:]), proto, sport, eport)
                )
            else:
                unknown += 1
            off += length
        if off != len(data):
            raise MalformedPacket("trailing data in TS payload", off, "bad-length")
        return cls(tuple(sels), initiator, unknown)


# ---------------------------------------------------------------------------------------------
# Configuration payload (§3.15; RFC 5026 §8.2 MIP6_HOME_PREFIX; TS 24.302 HOME_AGENT_ADDRESS)


@_value
class CfgAttribute:
    type: int
    value: bytes = b""

    def encode(self) -> bytes:
        return struct.pack("!HH", self.type & 0x7FFF, len(self.value)) + self.value


@_value
class CpPayload:
    TYPE: ClassVar[int] = int(PayloadType.CP)
    cfg_type: int
    attributes: tuple[CfgAttribute, ...] = ()

    def encode_body(self) -> bytes:
        return struct.pack("!B3x", self.cfg_type) + b"".join(a.encode() for a in self.attributes)

    @classmethod
    def decode_body(cls, data: bytes) -> CpPayload:
        if len(data) < 4:
            _need(data, 4, "CP")
        off = 4
        attrs: list[CfgAttribute] = []
        while off < len(data):
            if len(data) - off < 4:
                _need(data[off:], 4, "CP attribute", off)
            atype, length = struct.unpack_from("!HH", data, off)
            if off + 4 + length > len(data):
                raise MalformedPacket("CP attribute overruns payload", off, "truncated")
            attrs.append(CfgAttribute(atype & 0x7FFF, data[off + 4 : off + 4 + length]))
            off += 4 + length
        return cls(data[0], tuple(attrs))

    def values(self, attr: int) -> list[bytes]:
        return [a.value for a in self.attributes if a.type == attr]


def encode_home_prefix(prefix: ipaddress.IPv6Network, lifetime: int) -> bytes:
    """MIP6_HOME_PREFIX reply value: Prefix Lifetime(4) ‖ Home Prefix(16) ‖ Prefix Length(1)."""
    return struct.pack("!I", lifetime) + prefix.network_address.packed + bytes([prefix.prefixlen])


def decode_home_prefix(value: bytes) -> tuple[ipaddress.IPv6Network, int | None]:
    """Decode attribute 16. 21 octets: RFC 5026 §8.2 (lifetime, prefix, length).

    17 octets: strongSwan 5.9 sends the pool prefix without the lifetime (prefix ‖ length);
    dsmip6 accepts it deliberately, with the lifetime reported as unknown (None). Other lengths
    raise MalformedPacket (the caller ignores that attribute).
    """
    if len(value) == 21:
        lifetime = struct.unpack_from("!I", value)[0]
        raw, plen = value[4:20], value[20]
    elif len(value) == 17:
        lifetime, raw, plen = None, value[:16], value[16]
    else:
        raise MalformedPacket(f"MIP6_HOME_PREFIX of {len(value)} octets", 0, "bad-length")
    if plen > 128:
        raise MalformedPacket("prefix length > 128", 0, "bad-length")
    # ``IPv6Network((IPv6Address(raw), plen), strict=False)``: host bits cleared here, the
    # object built as the constructor builds it (``pools.net6``) without its parsing
    host = (1 << (128 - plen)) - 1
    return net6(int.from_bytes(raw, "big") & ~host, plen), lifetime


@_value
class EapPayload:
    """One complete EAP packet (§3.16)."""

    TYPE: ClassVar[int] = int(PayloadType.EAP)
    data: bytes

    def encode_body(self) -> bytes:
        return self.data

    @classmethod
    def decode_body(cls, data: bytes) -> EapPayload:
        if len(data) < 4:
            _need(data, 4, "EAP")
        if struct.unpack_from("!H", data, 2)[0] != len(data):
            raise MalformedPacket("EAP length does not match payload", 2, "bad-length")
        return cls(data)


@_value
class SkfPayload:
    """Encrypted Fragment (RFC 7383 §2.5): Fragment Number(2) Total Fragments(2) IV/data/ICV."""

    TYPE: ClassVar[int] = int(PayloadType.SKF)
    number: int
    total: int
    raw: bytes = b""


@_value
class UnknownPayload:
    """A payload type we do not implement, non-critical: kept and skipped (§3.2)."""

    type: int
    data: bytes
    critical: bool = False

    @property
    def TYPE(self) -> int:  # noqa: N802
        return self.type

    def encode_body(self) -> bytes:
        return self.data


Payload = (
    SaPayload
    | KePayload
    | NoncePayload
    | IdPayload
    | CertPayload
    | CertReqPayload
    | AuthPayload
    | NotifyPayload
    | DeletePayload
    | VendorPayload
    | TsPayload
    | CpPayload
    | EapPayload
    | UnknownPayload
)

_DECODERS: dict[int, Callable[[bytes], Any]] = {
    PayloadType.SA: SaPayload.decode_body,
    PayloadType.KE: KePayload.decode_body,
    PayloadType.IDI: functools.partial(IdPayload.decode_body, initiator=True),
    PayloadType.IDR: functools.partial(IdPayload.decode_body, initiator=False),
    PayloadType.CERT: CertPayload.decode_body,
    PayloadType.CERTREQ: CertReqPayload.decode_body,
    PayloadType.AUTH: AuthPayload.decode_body,
    PayloadType.NONCE: NoncePayload.decode_body,
    PayloadType.NOTIFY: NotifyPayload.decode_body,
    PayloadType.DELETE: DeletePayload.decode_body,
    PayloadType.VENDOR: VendorPayload.decode_body,
    PayloadType.TSI: functools.partial(TsPayload.decode_body, initiator=True),
    PayloadType.TSR: functools.partial(TsPayload.decode_body, initiator=False),
    PayloadType.CP: CpPayload.decode_body,
    PayloadType.EAP: EapPayload.decode_body,
}


_DECODERS_INT = {int(k): v for k, v in _DECODERS.items()}


def encode_chain(payloads: Sequence[Payload], next_after: int = 0) -> tuple[int, bytes]:
    """Encode a payload chain; returns (type of the first payload, bytes).

    ``next_after`` is the Next Payload value of the last payload (SK when an SK payload follows).
    """
    if not payloads:
        return next_after, b""
    parts: list[bytes] = []
    pack = _GENERIC.pack
    prev: Payload | None = None
    prev_body = b""
    for p in payloads:
        body = p.encode_body()
        if prev is not None:
            crit = 0x80 if type(prev) is UnknownPayload and prev.critical else 0  # type: ignore[union-attr]
            parts.append(pack(p.TYPE, crit, 4 + len(prev_body)))
            parts.append(prev_body)
        prev, prev_body = p, body
    crit = 0x80 if type(prev) is UnknownPayload and prev.critical else 0  # type: ignore[union-attr]
    parts.append(pack(next_after, crit, 4 + len(prev_body)))
    parts.append(prev_body)
    return payloads[0].TYPE, b"".join(parts)


_GENERIC = struct.Struct("!BBH")
_GENERIC_ZERO = bytes(GENERIC_HEADER_LEN)
_P_NONE = int(PayloadType.NONE)  # plain ints on the per-payload path (enum access is slow)
_P_SK = int(PayloadType.SK)
_P_SKF = int(PayloadType.SKF)
_SK_TYPES = frozenset((_P_SK, _P_SKF))


@dataclass(slots=True)
class RawSk:
    """Where the SK (or SKF) payload sits in a received message."""

    type: int
    offset: int
    """Offset of the SK generic header in the message."""
    inner_first: int
    """Next Payload of the SK header = type of the first inner payload."""
    body: bytes


def decode_chain(
    data: bytes, first: int, base: int = 0, allow_sk: bool = True
) -> tuple[list[Payload], RawSk | None]:
    """Decode a payload chain. Stops at SK/SKF (must be last) and returns it raw."""
    payloads: list[Payload] = []
    append = payloads.append
    off = 0
    nxt = first
    size = len(data)
    unpack = _GENERIC.unpack_from
    decoders = _DECODERS_INT
    while nxt:  # Next Payload 0 (NONE) ends the chain
        if size - off < 4:
            _need(data[off:], 4, "generic payload header", base + off)
        this = nxt
        nxt, flags, length = unpack(data, off)
        end = off + length
        if length < 4 or end > size:
            raise MalformedPacket(f"payload {this} length {length}", base + off, "bad-length")
        if this in _SK_TYPES:
            if not allow_sk:
                raise MalformedPacket("SK inside SK", base + off, "bad-nesting")
            if end != size:
                raise MalformedPacket("SK payload is not the last payload", base + off, "trailing")
            return payloads, RawSk(this, base + off, nxt, data[off + 4 : end])
        decoder = decoders.get(this)
        if decoder is None:
            if flags & 0x80:
                raise IkeDecodeError(
                    f"unsupported critical payload {this}",
                    Notify.UNSUPPORTED_CRITICAL_PAYLOAD,
                    bytes([this]),
                )
            append(UnknownPayload(this, data[off + 4 : end], False))
        else:
            try:
                append(decoder(data[off + 4 : end]))
            except MalformedPacket as e:
                raise MalformedPacket(f"payload {this}: {e}", base + off + 4, e.reason) from None
            except ValueError as e:
                raise MalformedPacket(f"payload {this}: {e}", base + off + 4, "bad-value") from None
        off = end
    if off != len(data):
        raise MalformedPacket("trailing octets after last payload", base + off, "trailing")
    return payloads, None


# ---------------------------------------------------------------------------------------------
# Header and message (§3.1)
#
#   0 SPIi(8) | 8 SPIr(8) | 16 Next Payload | 17 Version | 18 Exchange | 19 Flags |
#   20 Message ID(4) | 24 Length(4)


_F_RESPONSE = int(Flag.RESPONSE)  # plain ints on the per-message path
_F_INITIATOR = int(Flag.INITIATOR)


class IkeHeader:
    """The fixed IKE header of a received message (``response``/``initiator``: the R and I
    flags, computed once)."""

    __slots__ = (
        "spi_i",
        "spi_r",
        "next_payload",
        "version",
        "exchange",
        "flags",
        "message_id",
        "length",
        "response",
        "initiator",
    )

    def __init__(
        self,
        spi_i: bytes,
        spi_r: bytes,
        next_payload: int,
        version: int,
        exchange: int,
        flags: int,
        message_id: int,
        length: int,
    ) -> None:
        self.spi_i = spi_i
        self.spi_r = spi_r
        self.next_payload = next_payload
        self.version = version
        self.exchange = exchange
        self.flags = flags
        self.message_id = message_id
        self.length = length
        self.response = flags & _F_RESPONSE != 0
        self.initiator = flags & _F_INITIATOR != 0

    def __repr__(self) -> str:
        return (
            f"IkeHeader(exchange={self.exchange}, flags={self.flags:#x}, "
            f"message_id={self.message_id}, length={self.length})"
        )


_HEADER_TAIL = struct.Struct("!BBBBII")
_HEADER = struct.Struct("!8s8sBBBBII")  # SPIi, SPIr, then _HEADER_TAIL (RFC 7296 §3.1)


class ReceivedHeader(IkeHeader):
    """An ``IkeHeader`` read from the first 28 octets of ``data`` in one step (the same
    fields; ``decode_header`` checks the length). Every received message makes one: one
    ``struct`` unpack into the slots and one Python frame instead of two slices, an unpack
    and an eight-argument constructor (~2.5 k instructions less per message in CPython
    3.11)."""

    __slots__ = ()

    def __init__(self, data: bytes) -> None:  # noqa: D107 - see the class
        (
            self.spi_i,
            self.spi_r,
            self.next_payload,
            self.version,
            self.exchange,
            flags,
            self.message_id,
            self.length,
        ) = _HEADER.unpack_from(data)
        self.flags = flags
        self.response = flags & _F_RESPONSE != 0
        self.initiator = flags & _F_INITIATOR != 0


def decode_header(data: bytes) -> IkeHeader:
    if len(data) < IKE_HEADER_LEN:
        _need(data, IKE_HEADER_LEN, "IKE header")
    header = ReceivedHeader(data)
    if header.length != len(data):
        raise MalformedPacket(
            f"IKE length {header.length} != datagram {len(data)}", 24, "bad-length"
        )
    return header


class SkProtection(Protocol):
    """Encrypts/decrypts the SK payload for one IKE SA (implemented in ``sk.py``)."""

    def seal(self, head: bytes, inner_first: int, inner: bytes) -> bytes: ...

    def open(self, message: bytes, sk_offset: int) -> bytes: ...


@dataclass(slots=True)
class Message:
    """An IKE message: header fields, clear payloads, and the payloads inside SK.

    ``encrypted`` is None for messages without SK (IKE_SA_INIT), else the inner payload list.
    """

    exchange: int
    response: bool
    initiator: bool
    message_id: int
    spi_i: bytes = b"\x00" * 8
    spi_r: bytes = b"\x00" * 8
    payloads: list[Payload] = field(default_factory=list)
    encrypted: list[Payload] | None = None
    raw: bytes = field(default=b"", compare=False, repr=False)
    """The received octets (IKE header onwards), set by ``decode_message``."""
    _ix: tuple | None = field(default=None, init=False, compare=False, repr=False)  # type: ignore[type-arg]

    # ------------------------------------------------------------------ access helpers
    def all_payloads(self) -> list[Payload]:
        if not self.payloads:  # the usual cases: no clear payloads, or nothing encrypted
            return self.encrypted or []
        if not self.encrypted:
            return self.payloads
        return self.payloads + self.encrypted

    def _index(self) -> tuple[dict[type, list[Payload]], dict[int, NotifyPayload]]:
        """Payloads by class and the first notify of each type, built once per message
        contents (the tasks of one exchange ask a received message a dozen questions)."""
        enc = self.encrypted
        key = len(self.payloads) << 16 | (0xFFFF if enc is None else len(enc))
        ix = self._ix
        if ix is not None and ix[0] == key:
            return ix[1], ix[2]
        by_cls: dict[type, list[Payload]] = {}
        notifies: dict[int, NotifyPayload] = {}
        for p in self.payloads + enc if enc else self.payloads:
            t = type(p)
            if t in by_cls:
                by_cls[t].append(p)
            else:
                by_cls[t] = [p]
            if t is NotifyPayload and p.notify_type not in notifies:  # type: ignore[union-attr]
                notifies[p.notify_type] = p  # type: ignore[union-attr,index]
        self._ix = (key, by_cls, notifies)
        return by_cls, notifies

    def get(self, cls: type, *, initiator: bool | None = None) -> Payload | None:
        ix = self._ix  # the index check of _index() inlined: get() is asked ~16x per handshake
        enc = self.encrypted
        if ix is not None and ix[0] == len(self.payloads) << 16 | (
            0xFFFF if enc is None else len(enc)
        ):
            lst = ix[1].get(cls)
        else:
            lst = self._index()[0].get(cls)
        if lst is None:
            return None
        if initiator is None:
            return lst[0]
        for p in lst:
            if getattr(p, "initiator", None) == initiator:
                return p
        return None

    def get_all(self, cls: type) -> list[Payload]:
        return list(self._index()[0].get(cls, ()))

    def notify(self, ntype: int) -> NotifyPayload | None:
        return self._index()[1].get(ntype)

    def notifies(self, ntype: int) -> list[NotifyPayload]:
        return [p for p in self._index()[0].get(NotifyPayload, ()) if p.notify_type == ntype]  # type: ignore[union-attr,misc]

    def error_notifies(self) -> list[NotifyPayload]:
        return [
            p
            for p in self._index()[0].get(NotifyPayload, ())
            if p.notify_type < 16384  # type: ignore[union-attr]
        ]  # type: ignore[misc]

    def add(self, payload: Payload) -> None:
        """Append to the encrypted list when the message has one, else to the clear list."""
        if self.encrypted is not None:
            self.encrypted.append(payload)
        else:
            self.payloads.append(payload)

    # ------------------------------------------------------------------ encoding
    def flags(self) -> int:
        return (_F_RESPONSE if self.response else 0) | (_F_INITIATOR if self.initiator else 0)

    def header_bytes(self, first: int, length: int) -> bytes:
        flags = (_F_RESPONSE if self.response else 0) | (_F_INITIATOR if self.initiator else 0)
        return (
            self.spi_i
            + self.spi_r
            + _HEADER_TAIL.pack(first, IKE_VERSION, self.exchange, flags, self.message_id, length)
        )

    def encode(self, protection: SkProtection | None = None) -> bytes:
        if self.encrypted is None:
            first, body = encode_chain(self.payloads)
            return self.header_bytes(first, IKE_HEADER_LEN + len(body)) + body
        if protection is None:
            raise ValueError("message has an SK payload but no keys")
        inner_first, inner = encode_chain(self.encrypted)
        if self.payloads:
            first, clear = encode_chain(self.payloads, _P_SK)
        else:
            first, clear = _P_SK, b""
        head = self.header_bytes(first, 0) + clear
        return protection.seal(head, inner_first, inner)


def decode_message(
    data: bytes, protection: SkProtection | None, header: IkeHeader | None = None
) -> tuple[Message, RawSk | None]:
    """Decode a whole message. With SK and ``protection``: verify, decrypt, decode the inner chain.

    Returns the message and the raw SK info (for SKF reassembly the caller inspects it).
    Without ``protection`` an SK payload is returned raw and ``encrypted`` stays None.
    ``header``: ``decode_header(data)`` when the caller already has it (not decoded twice).
    """
    h = header if header is not None else decode_header(data)
    if h.version >> 4 != 2:
        raise IkeDecodeError(f"major version {h.version >> 4}", Notify.INVALID_MAJOR_VERSION)
    payloads, sk = decode_chain(data[IKE_HEADER_LEN:], h.next_payload, IKE_HEADER_LEN)
    msg = Message(h.exchange, h.response, h.initiator, h.message_id, h.spi_i, h.spi_r, payloads)
    msg.raw = data
    if sk is not None and sk.type == _P_SK and protection is not None:
        inner = protection.open(data, sk.offset)
        msg.encrypted, nested = decode_chain(inner, sk.inner_first, 0, allow_sk=False)
    return msg, sk


# ---------------------------------------------------------------------------------------------
# Payload rule table (STYLE §5.6; RFC 7296 §1.2-1.5): per (exchange, response) which payloads may
# appear and how often. Anything beyond these bounds is INVALID_SYNTAX. Notify, Vendor ID and
# unknown non-critical payloads are always allowed.


@_value
class MessageRule:
    encrypted: bool
    counts: dict[int, tuple[int, int]]
    """payload type -> (min, max); min applies only to non-error messages."""


_P = PayloadType
_MANY = 255
PAYLOAD_RULES: dict[tuple[int, bool], MessageRule] = {
    (ExchangeType.IKE_SA_INIT, False): MessageRule(
        False, {_P.SA: (1, 1), _P.KE: (1, 1), _P.NONCE: (1, 1), _P.CERTREQ: (0, _MANY)}
    ),
    (ExchangeType.IKE_SA_INIT, True): MessageRule(
        False, {_P.SA: (1, 1), _P.KE: (1, 1), _P.NONCE: (1, 1), _P.CERTREQ: (0, _MANY)}
    ),
    (ExchangeType.IKE_AUTH, False): MessageRule(
        True,
        {
            _P.IDI: (0, 1),
            _P.CERT: (0, 4),
            _P.CERTREQ: (0, _MANY),
            _P.IDR: (0, 1),
            _P.AUTH: (0, 1),
            _P.EAP: (0, 1),
            _P.CP: (0, 1),
            _P.SA: (0, 1),
            _P.TSI: (0, 1),
            _P.TSR: (0, 1),
        },
    ),
    (ExchangeType.IKE_AUTH, True): MessageRule(
        True,
        {
            _P.IDR: (0, 1),
            _P.CERT: (0, 4),
            _P.AUTH: (0, 1),
            _P.EAP: (0, 1),
            _P.CP: (0, 1),
            _P.SA: (0, 1),
            _P.TSI: (0, 1),
            _P.TSR: (0, 1),
        },
    ),
    (ExchangeType.CREATE_CHILD_SA, False): MessageRule(
        True, {_P.SA: (1, 1), _P.NONCE: (1, 1), _P.KE: (0, 1), _P.TSI: (0, 1), _P.TSR: (0, 1)}
    ),
    (ExchangeType.CREATE_CHILD_SA, True): MessageRule(
        True, {_P.SA: (1, 1), _P.NONCE: (1, 1), _P.KE: (0, 1), _P.TSI: (0, 1), _P.TSR: (0, 1)}
    ),
    (ExchangeType.INFORMATIONAL, False): MessageRule(True, {_P.DELETE: (0, _MANY), _P.CP: (0, 1)}),
    (ExchangeType.INFORMATIONAL, True): MessageRule(True, {_P.DELETE: (0, _MANY), _P.CP: (0, 1)}),
}
_ALWAYS = {_P.NOTIFY, _P.VENDOR}
# The same table with plain-int keys for the per-message check (enum hashing/compare is slower).
_RULES: dict[tuple[int, bool], tuple[bool, dict[int, tuple[int, int]], tuple[int, ...]]] = {
    (int(x), bool(r)): (
        rule.encrypted,
        {int(k): v for k, v in rule.counts.items()},
        tuple(int(k) for k, (lo, _hi) in rule.counts.items() if lo > 0),
    )
    for (x, r), rule in PAYLOAD_RULES.items()
}


def check_rules(msg: Message) -> None:
    """Raise IkeDecodeError(INVALID_SYNTAX) when ``msg`` breaks the rule table.

    Messages carrying an error notify (a refusal) need not have the mandatory payloads.
    """
    rule = _RULES.get((msg.exchange, msg.response))
    if rule is None:
        raise IkeDecodeError(f"unknown exchange type {msg.exchange}", _N_INVALID_SYNTAX)
    encrypted, bounds_of, mandatory = rule
    if encrypted and msg.encrypted is None:
        raise IkeDecodeError("exchange must be encrypted", _N_INVALID_SYNTAX)
    if not encrypted and msg.encrypted is not None:
        raise IkeDecodeError("IKE_SA_INIT must not be encrypted", _N_INVALID_SYNTAX)
    plist = msg.encrypted if encrypted else msg.payloads
    if encrypted and msg.payloads:
        # Only SK may appear in the clear in an encrypted exchange (§3.14).
        if any(type(p) is not UnknownPayload for p in msg.payloads):
            raise IkeDecodeError("cleartext payload beside SK", _N_INVALID_SYNTAX)
    counts: dict[int, int] = {}
    for p in plist or ():
        t = type(p)
        if t is NotifyPayload or t is UnknownPayload or t is VendorPayload:
            continue  # always allowed (notify, vendor ID, unknown non-critical)
        pt = p.TYPE
        if pt in counts:
            counts[pt] += 1
        else:
            counts[pt] = 1
    for ptype, n in counts.items():
        bounds = bounds_of.get(ptype)
        if bounds is None or n > bounds[1]:
            raise IkeDecodeError(f"payload {ptype} not allowed here ({n}x)", _N_INVALID_SYNTAX)
    for ptype in mandatory:
        lo = bounds_of[ptype][0]
        if counts.get(ptype, 0) < lo:
            # only now ask whether the message is a refusal (the scan is not needed otherwise)
            refusal = (
                bool(msg.error_notifies())
                or msg.notify(Notify.COOKIE) is not None
                or (msg.notify(Notify.REDIRECT) is not None)
            )
            if not refusal:
                raise IkeDecodeError(f"payload {ptype} missing", Notify.INVALID_SYNTAX)
            break
