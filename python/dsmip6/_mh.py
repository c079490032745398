"""Adapter between the procedures and the wire codec (contract A, ``dsmip6.wire``).

The state machines reason over the small decoded dataclasses below (``Bu``, ``Ba``, ``Bri``,
...) and a :class:`Route` that says how a message travels. Turning them into bytes and back is
the job of a :class:`Signalling` codec; :class:`WireSignalling` is the real one, built on
``dsmip6.wire.build``/``parse`` and on the HoA-keyed ESP SA of :mod:`dsmip6._sec`. It is the
only place in the procedures that touches ``dsmip6.wire``.

Datagram model shared by ``MobileNode`` and ``HomeAgent``: a datagram is ``(data, src, dst)``
with ``src``/``dst`` = ``(host, port)``. Port 0 means a raw IPv6 packet (``data`` is the whole
IPv6 packet: MH over IPv6, RFC 6275 §6.1); port 4191 means the RFC 5555 UDP encapsulation
(``data`` is the UDP payload = the inner IPv6 packet, the outer IPv4/UDP header being the
socket's); ports 500/4500 carry IKEv2 (contract D).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any, Protocol

from dsmip6 import _mpd
from dsmip6._mpd import Mpa, Mps
from dsmip6._sec import InboundSa, OutboundSa
from dsmip6.errors import MalformedPacket, UnknownSpi

__all__ = [
    "Addr",
    "MIP_UDP_PORT",
    "Ipv4HoaOpt",
    "Ipv4AckOpt",
    "NatDetectionOpt",
    "Bu",
    "Ba",
    "Be",
    "Bri",
    "Bra",
    "Has",
    "Brr",
    "UnknownMh",
    "MhMessage",
    "Route",
    "Received",
    "Signalling",
    "WireSignalling",
]

Addr = tuple[str, int]
#: RFC 5555 §8: UDP port "dsmipv6".
MIP_UDP_PORT = 4191

# MH types (RFC 6275 §6.1, RFC 5142 §4, RFC 5846 §5).
MH_BRR, MH_BU, MH_BA, MH_BE, MH_HAS, MH_BR = 0, 5, 6, 7, 12, 16


@dataclass(frozen=True, slots=True)
class Ipv4HoaOpt:
    """IPv4 Home Address option (type 29, RFC 5555 §3.1.1)."""

    address: IPv4Address
    prefix_len: int = 32
    p: bool = False


@dataclass(frozen=True, slots=True)
class Ipv4AckOpt:
    """IPv4 Address Acknowledgement option (type 30, RFC 5555 §3.2.1)."""

    status: int
    prefix_len: int
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class NatDetectionOpt:
    """NAT Detection option (type 31, RFC 5555 §3.2.2); refresh time in seconds."""

    f: bool
    refresh_time: int


@dataclass(frozen=True, slots=True)
class Bu:
    """Binding Update (MH type 5, RFC 6275 §6.1.7) with the options the procedures use."""

    sequence: int
    lifetime_4s: int
    a: bool = True
    h: bool = True
    l: bool = False  # noqa: E741 - RFC 6275 flag name
    k: bool = True
    r: bool = True
    f: bool = False
    o: bool = False
    alt_coa: IPv6Address | None = None
    ipv4_hoa: Ipv4HoaOpt | None = None
    ipv4_coa: IPv4Address | None = None


@dataclass(frozen=True, slots=True)
class Ba:
    """Binding Acknowledgement (MH type 6, RFC 6275 §6.1.8)."""

    status: int
    sequence: int
    lifetime_4s: int
    k: bool = False
    r: bool = False
    refresh_advice_4s: int | None = None
    ipv4_ack: Ipv4AckOpt | None = None
    nat_detection: NatDetectionOpt | None = None


@dataclass(frozen=True, slots=True)
class Be:
    """Binding Error (MH type 7, RFC 6275 §6.1.9)."""

    status: int
    home_address: IPv6Address


@dataclass(frozen=True, slots=True)
class Bri:
    """Binding Revocation Indication (MH 16, B.R. type 1, RFC 5846 §5.1)."""

    trigger: int
    sequence: int
    p: bool = False
    v: bool = False
    g: bool = False
    ipv4_hoa: Ipv4HoaOpt | None = None


@dataclass(frozen=True, slots=True)
class Bra:
    """Binding Revocation Acknowledgement (MH 16, B.R. type 2, RFC 5846 §5.2)."""

    status: int
    sequence: int
    p: bool = False
    v: bool = False
    g: bool = False


@dataclass(frozen=True, slots=True)
class Has:
    """Home Agent Switch (MH type 12, RFC 5142 §4)."""

    addresses: tuple[IPv6Address, ...]
    refresh_advice_4s: int | None = None


@dataclass(frozen=True, slots=True)
class Brr:
    """Binding Refresh Request (MH type 0, RFC 6275 §6.1.2)."""


@dataclass(frozen=True, slots=True)
class UnknownMh:
    """A Mobility Header of a type we do not implement (answered with Binding Error 2)."""

    mh_type: int


MhMessage = Bu | Ba | Be | Bri | Bra | Has | Brr | UnknownMh


@dataclass(frozen=True, slots=True)
class Route:
    """How a signalling message travels (wire-mobility.md §2).

    ``src``/``dst`` are the transport endpoints (port 0: raw IPv6; port 4191: UDP
    encapsulation, then ``ip6_src``/``ip6_dst`` are the *inner* IPv6 addresses).
    """

    src: Addr
    dst: Addr
    ip6_src: IPv6Address
    ip6_dst: IPv6Address
    hao: IPv6Address | None = None
    rh2: IPv6Address | None = None

    @property
    def udp(self) -> bool:
        """True for the RFC 5555 UDP 4191 encapsulation."""
        return self.dst[1] == MIP_UDP_PORT or self.src[1] == MIP_UDP_PORT

    @property
    def mh_src(self) -> IPv6Address:
        """Address the MH checksum and IPsec selectors see as source (HAO wins, RFC 4877 §4.2)."""
        return self.hao if self.hao is not None else self.ip6_src

    @property
    def mh_dst(self) -> IPv6Address:
        """Address the MH checksum and IPsec selectors see as destination (RH2 wins)."""
        return self.rh2 if self.rh2 is not None else self.ip6_dst


@dataclass(frozen=True, slots=True)
class Received:
    """A decoded signalling message with its route and the SA that protected it."""

    message: MhMessage | Mps | Mpa
    route: Route
    spi: int | None


class Signalling(Protocol):
    """Encoder/decoder of MH signalling packets (real: :class:`WireSignalling`)."""

    def encode(
        self, message: MhMessage | Mps | Mpa, route: Route, sa: OutboundSa | None
    ) -> bytes: ...

    def decode(
        self,
        data: bytes,
        src: Addr,
        dst: Addr,
        find_sa: Callable[[int], InboundSa | None],
    ) -> Received: ...


def _v6(value: object) -> IPv6Address:
    """str -> IPv6Address through the C parser (ipaddress' own is ~10x slower)."""
    try:
        return IPv6Address(inet_pton(AF_INET6, value))  # type: ignore[arg-type]
    except (OSError, TypeError):
        addr = ip_address(str(value))
        if not isinstance(addr, IPv6Address):
            raise MalformedPacket(
                f"expected an IPv6 address, got {value!r}", reason="bad-address"
            ) from None
        return addr


def _v4(value: object) -> IPv4Address:
    try:
        return IPv4Address(inet_pton(AF_INET, value))  # type: ignore[arg-type]
    except (OSError, TypeError):
        addr = ip_address(str(value))
        if not isinstance(addr, IPv4Address):
            raise MalformedPacket(
                f"expected an IPv4 address, got {value!r}", reason="bad-address"
            ) from None
        return addr


def s6(addr: IPv6Address) -> str:
    """IPv6Address -> text through the C formatter (RFC 5952 form)."""
    return inet_ntop(AF_INET6, addr.packed)


def s4(addr: IPv4Address) -> str:
    return inet_ntop(AF_INET, addr.packed)


def text(addr: IPv6Address | IPv4Address) -> str:
    """Either family to text, fast."""
    if isinstance(addr, IPv6Address):
        return inet_ntop(AF_INET6, addr.packed)
    return inet_ntop(AF_INET, addr.packed)


_EXT_HEADERS = (0, 43, 60)  # Hop-by-Hop, Routing, Destination Options (RFC 8200 §4)


def esp_spi(packet: bytes) -> int | None:
    """The SPI when the IPv6 header chain reaches ESP (50) before anything else; else None.
    Malformed chains raise MalformedPacket (truncation is checked at every step)."""
    n = len(packet)
    if n < 40:
        raise MalformedPacket("IPv6 header truncated", n, "truncated")
    nh, off = packet[6], 40
    while nh in _EXT_HEADERS:
        if off + 2 > n:
            raise MalformedPacket("extension header truncated", off, "truncated")
        nh, off = packet[off], off + (packet[off + 1] + 1) * 8
    if nh != 50:
        return None
    if off + 8 > n:
        raise MalformedPacket("ESP header truncated", off, "truncated")
    return int.from_bytes(packet[off : off + 4], "big")


class WireSignalling:
    """The real codec: ``dsmip6.wire`` layers, ESP transport mode through :mod:`dsmip6._sec`."""

    def __init__(self) -> None:
        from dsmip6 import wire  # contract A; imported lazily so the tables load without it
        from dsmip6._core.mhfast import esp_spi as rust_esp_spi

        self.w = wire
        #: ``esp_spi`` for ``bytes``, in one call (the same walk, answers and exceptions)
        self._esp_spi = rust_esp_spi
        self._classes = self._mh_classes()
        self._class_set = frozenset(self._classes)

    # ------------------------------------------------------------------ encode
    def _to_wire(self, m: MhMessage) -> object:
        w = self.w
        if isinstance(m, Bu):
            opts: list[object] = []
            if m.alt_coa is not None:
                opts.append(w.AlternateCareOfAddress(s6(m.alt_coa)))
            if m.ipv4_hoa is not None:
                opts.append(
                    w.Ipv4HomeAddress(s4(m.ipv4_hoa.address), m.ipv4_hoa.prefix_len, m.ipv4_hoa.p)
                )
            if m.ipv4_coa is not None:
                opts.append(w.Ipv4CareOfAddress(s4(m.ipv4_coa)))
            return w.BindingUpdate(
                m.sequence,
                m.lifetime_4s,
                a=m.a,
                h=m.h,
                l=m.l,
                k=m.k,
                r=m.r,
                f=m.f,
                o=m.o,
                options=tuple(opts),
            )
        if isinstance(m, Ba):
            opts = []
            if m.refresh_advice_4s is not None:
                opts.append(w.BindingRefreshAdvice(m.refresh_advice_4s))
            if m.ipv4_ack is not None:
                opts.append(
                    w.Ipv4AddressAcknowledgement(
                        m.ipv4_ack.status, m.ipv4_ack.prefix_len, s4(m.ipv4_ack.address)
                    )
                )
            if m.nat_detection is not None:
                opts.append(w.NatDetection(m.nat_detection.f, m.nat_detection.refresh_time))
            return w.BindingAcknowledgement(
                m.status, m.sequence, m.lifetime_4s, k=m.k, r=m.r, options=tuple(opts)
            )
        if isinstance(m, Be):
            return w.BindingError(m.status, str(m.home_address))
        if isinstance(m, Bri):
            opts = []
            if m.ipv4_hoa is not None:
                opts.append(
                    w.Ipv4HomeAddress(s4(m.ipv4_hoa.address), m.ipv4_hoa.prefix_len, m.ipv4_hoa.p)
                )
            return w.BindingRevocationIndication(
                m.trigger, m.sequence, p=m.p, v=m.v, g=m.g, options=tuple(opts)
            )
        if isinstance(m, Bra):
            return w.BindingRevocationAcknowledgement(m.status, m.sequence, p=m.p, v=m.v, g=m.g)
        if isinstance(m, Has):
            opts = []
            if m.refresh_advice_4s is not None:
                opts.append(w.BindingRefreshAdvice(m.refresh_advice_4s))
            return w.HomeAgentSwitch(tuple(str(a) for a in m.addresses), options=tuple(opts))
        if isinstance(m, Brr):
            return w.BindingRefreshRequest()
        return w.UnknownMobilityMessage(m.mh_type, b"\x00" * 4)

    def encode(self, message: MhMessage | Mps | Mpa, route: Route, sa: OutboundSa | None) -> bytes:
        """The IPv6 packet (raw) or the UDP 4191 payload carrying ``message`` (a Mobility
        Header message, or an ICMPv6 Mobile Prefix Solicitation/Advertisement, RFC 6275
        §6.7/§6.8, whose checksum sees the HAO/RH2 addresses like the MH one)."""
        w = self.w
        layers: list[object] = [w.Ipv6Header(s6(route.ip6_src), s6(route.ip6_dst))]
        if route.rh2 is not None:
            layers.append(w.RoutingHeaderType2(s6(route.rh2)))
        if route.hao is not None:
            layers.append(w.DestinationOptions([w.HomeAddressOption(s6(route.hao))]))
        if isinstance(message, (Mps, Mpa)):
            icmp = _mpd.encode(message, route.mh_src, route.mh_dst)
            layers.append(w.Raw(icmp, protocol=_mpd.ICMPV6))
        else:
            layers.append(self._to_wire(message))
        packet: bytes = w.build(layers)
        if sa is not None:
            packet = sa.protect(packet)
        return packet

    # ------------------------------------------------------------------ decode
    def _from_wire(self, m: object) -> MhMessage:
        w = self.w
        if isinstance(m, w.BindingUpdate):
            alt = v4hoa = v4coa = None
            for o in m.options:
                if isinstance(o, w.AlternateCareOfAddress):
                    alt = _v6(o.address)
                elif isinstance(o, w.Ipv4HomeAddress) and v4hoa is None:
                    v4hoa = Ipv4HoaOpt(_v4(o.address), o.prefix_len, o.p)
                elif isinstance(o, w.Ipv4CareOfAddress):
                    v4coa = _v4(o.address)
            return Bu(
                m.sequence,
                m.lifetime_4s,
                a=m.a,
                h=m.h,
                l=m.l,
                k=m.k,
                r=m.r,
                f=m.f,
                o=m.o,
                alt_coa=alt,
                ipv4_hoa=v4hoa,
                ipv4_coa=v4coa,
            )
        if isinstance(m, w.BindingAcknowledgement):
            adv = ack = nat = None
            for o in m.options:
                if isinstance(o, w.BindingRefreshAdvice):
                    adv = o.refresh_interval_4s
                elif isinstance(o, w.Ipv4AddressAcknowledgement):
                    ack = Ipv4AckOpt(o.status, o.prefix_len, _v4(o.address))
                elif isinstance(o, w.NatDetection):
                    nat = NatDetectionOpt(o.f, o.refresh_time)
            return Ba(m.status, m.sequence, m.lifetime_4s, k=m.k, r=m.r,
                      refresh_advice_4s=adv, ipv4_ack=ack, nat_detection=nat)  # fmt: skip
        if isinstance(m, w.BindingError):
            return Be(m.status, _v6(m.home_address))
        if isinstance(m, w.BindingRevocationIndication):
            hoa4 = None
            for o in m.options:
                if isinstance(o, w.Ipv4HomeAddress):
                    hoa4 = Ipv4HoaOpt(_v4(o.address), o.prefix_len, o.p)
            return Bri(m.revocation_trigger, m.sequence, p=m.p, v=m.v, g=m.g, ipv4_hoa=hoa4)
        if isinstance(m, w.BindingRevocationAcknowledgement):
            return Bra(m.status, m.sequence, p=m.p, v=m.v, g=m.g)
        if isinstance(m, w.HomeAgentSwitch):
            adv = None
            for o in m.options:
                if isinstance(o, w.BindingRefreshAdvice):
                    adv = o.refresh_interval_4s
            return Has(tuple(_v6(a) for a in m.home_agent_addresses), adv)
        if isinstance(m, w.BindingRefreshRequest):
            return Brr()
        return UnknownMh(int(getattr(m, "mh_type", 255)))

    def _mh_classes(self) -> tuple[type, ...]:
        w = self.w
        return (
            w.BindingUpdate,
            w.BindingAcknowledgement,
            w.BindingError,
            w.BindingRevocationIndication,
            w.BindingRevocationAcknowledgement,
            w.HomeAgentSwitch,
            w.BindingRefreshRequest,
            w.UnknownMobilityMessage,
        )

    def open(
        self, data: bytes, find_sa: Callable[[int], InboundSa | None]
    ) -> tuple[int | None, Any, str | None, str | None, Any]:
        """Check, decrypt and parse one signalling packet without building the procedures'
        dataclasses: ``(spi, ipv6_header_layer, hao_text, rh2_text, mh_layer)``, the layers
        as ``dsmip6.wire`` parsed them. Raises MalformedPacket/EspError exactly like
        :meth:`decode`, which is built on it (the HA's direct BU path uses it alone).

        The SPI is found by walking the IPv6 extension-header chain (RFC 8200 §4) without a
        full parse; the codec then validates the decrypted packet completely.
        """
        spi, data = self.unprotect(data, find_sa)
        return self.open_plain(spi, data)

    def unprotect(
        self, data: bytes, find_sa: Callable[[int], InboundSa | None]
    ) -> tuple[int | None, bytes]:
        """The first half of :meth:`open`: ``(spi, packet without ESP)`` (``spi`` None when
        the packet carries no ESP). Raises MalformedPacket/EspError like :meth:`open`."""
        if not data or data[0] >> 4 != 6:
            raise MalformedPacket("signalling must be an IPv6 packet", 0, "not-ipv6")
        spi = self._esp_spi(data) if type(data) is bytes else esp_spi(data)
        if spi is not None:
            sa = find_sa(spi)
            if sa is None:
                raise UnknownSpi(f"no signalling SA with SPI {spi:#010x}")
            data = sa.unprotect(data)
        return spi, data

    def open_plain(
        self, spi: int | None, data: bytes
    ) -> tuple[int | None, Any, str | None, str | None, Any]:
        """The second half of :meth:`open`: parse the packet :meth:`unprotect` gave."""
        w = self.w
        pkt = w.parse(data)
        mh_types = self._class_set
        ip6 = hao = rh2 = mh = None
        for layer in pkt.layers:
            kind = type(layer)
            if kind in mh_types:  # the codec's classes are final: type() is isinstance()
                mh = layer
                break
            if kind is w.Raw and layer.protocol == _mpd.ICMPV6:
                mh = layer  # ICMPv6: Mobile Prefix Discovery (decoded by ``received``)
                break
            if kind is w.Ipv6Header:
                ip6 = layer
            elif kind is w.DestinationOptions:
                for o in layer.options:
                    if isinstance(o, w.HomeAddressOption):
                        hao = o.address
            elif kind is w.RoutingHeaderType2:
                rh2 = layer.home_address
            elif kind is w.Esp:
                raise MalformedPacket("nested ESP in signalling", None, "nested-esp")
        if mh is None or ip6 is None:
            raise MalformedPacket("no Mobility Header", None, "no-mh")
        return spi, ip6, hao, rh2, mh

    def received(
        self, spi: int | None, ip6: Any, hao: str | None, rh2: str | None, mh: Any,
        src: Addr, dst: Addr,
    ) -> Received:  # fmt: skip
        """The :class:`Received` record of what :meth:`open` returned."""
        route = Route(
            src,
            dst,
            _v6(ip6.src),
            _v6(ip6.dst),
            None if hao is None else _v6(hao),
            None if rh2 is None else _v6(rh2),
        )
        if type(mh) is self.w.Raw:  # ICMPv6 (open_plain admits no other Raw)
            return Received(_mpd.decode(bytes(mh.data), route.mh_src, route.mh_dst), route, spi)
        return Received(self._from_wire(mh), route, spi)

    def decode(
        self,
        data: bytes,
        src: Addr,
        dst: Addr,
        find_sa: Callable[[int], InboundSa | None],
    ) -> Received:
        """Parse (and decrypt) one signalling datagram; raises MalformedPacket/EspError."""
        return self.received(*self.open(data, find_sa), src, dst)
