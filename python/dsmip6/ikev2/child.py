"""Child SAs (RFC 7296 §1.3, §2.17) as handed to the procedures and the data plane."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from ipaddress import IPv4Address, IPv6Address

from dsmip6.dataplane_iface import SaSpec
from dsmip6.ikev2.message import TrafficSelector

__all__ = ["ChildSa"]


@dataclass(frozen=True, slots=True)
class ChildSa:
    """One negotiated ESP child SA pair, from this side's point of view."""

    spi_in: int
    """SPI of the inbound SA (chosen by us)."""
    spi_out: int
    """SPI of the outbound SA (chosen by the peer)."""
    mode: str
    """``"transport"`` or ``"tunnel"``."""
    algorithm: str
    """The ``dsmip6.esp.SecurityAssociation`` algorithm name."""
    key_in: bytes
    key_out: bytes
    integrity_key_in: bytes | None
    integrity_key_out: bytes | None
    ts_i: tuple[TrafficSelector, ...]
    """TSi as agreed (initiator of the CREATE_CHILD_SA / IKE_AUTH exchange)."""
    ts_r: tuple[TrafficSelector, ...]
    initiator: bool
    """True when this side was the initiator of the exchange that created the SA
    (then its local selectors are ``ts_i``)."""
    esn: bool = False
    udp_encap: tuple[int, int] | None = None
    """(local port, remote port) when ESP must be UDP-encapsulated (NAT-T, tunnel mode)."""

    @property
    def local_ts(self) -> tuple[TrafficSelector, ...]:
        return self.ts_i if self.initiator else self.ts_r

    @property
    def remote_ts(self) -> tuple[TrafficSelector, ...]:
        return self.ts_r if self.initiator else self.ts_i

    def sa_specs(
        self, local: object | None = None, remote: object | None = None
    ) -> tuple[SaSpec, SaSpec]:
        """(inbound SaSpec, outbound SaSpec) for ``DataPlane.add_sa``.

        ``local``/``remote``: transport mode: the protected endpoints (HoA / HA), defaulting to
        single-address selectors; tunnel mode: the outer addresses (CoA / HA). Addresses may be
        ``str``, ipaddress objects or ``(host, port)`` tuples.
        """
        loc = _host(local) if local is not None else _single(self.local_ts)
        rem = _host(remote) if remote is not None else _single(self.remote_ts)
        proto = None
        in_types: tuple[int, ...] = ()
        out_types: tuple[int, ...] = ()
        if self.local_ts and all(t.protocol == 135 for t in self.local_ts + self.remote_ts):
            proto = 135
            out_types = tuple(sorted({m for t in self.local_ts for m in t.mh_types()}))
            in_types = tuple(sorted({m for t in self.remote_ts for m in t.mh_types()}))
        enc_in = self.udp_encap[::-1] if self.udp_encap else None
        sa_in = SaSpec(
            spi=self.spi_in,
            direction="in",
            mode=self.mode,
            algorithm=self.algorithm,
            key=self.key_in,
            src=rem,
            dst=loc,
            integrity_key=self.integrity_key_in,
            esn=self.esn,
            udp_encap=enc_in,
            protocol=proto,
            mh_types=in_types,
        )
        sa_out = SaSpec(
            spi=self.spi_out,
            direction="out",
            mode=self.mode,
            algorithm=self.algorithm,
            key=self.key_out,
            src=loc,
            dst=rem,
            integrity_key=self.integrity_key_out,
            esn=self.esn,
            udp_encap=self.udp_encap,
            protocol=proto,
            mh_types=out_types,
        )
        return sa_in, sa_out


def _host(value: object) -> IPv4Address | IPv6Address:
    if isinstance(value, tuple):
        value = value[0]
    if isinstance(value, IPv4Address | IPv6Address):
        return value
    return ipaddress.ip_address(value)  # type: ignore[arg-type]


def _single(ts: tuple[TrafficSelector, ...]) -> IPv4Address | IPv6Address:
    for t in ts:
        if t.is_single_address:
            return t.start
    raise ValueError("selectors are ranges: pass local/remote addresses to sa_specs()")


# The responder makes one ChildSa per UE on the handshake path: ``new_child_sa`` builds the
# same value as ``ChildSa(...)`` (every field, in declaration order) by storing into the slots
# directly instead of through the generated frozen ``__init__`` (``object.__setattr__`` per
# field). The slot list is checked against the dataclass at import; the equality with the
# dataclass's own construction is tested in tests/test_ike_events.py.
_CHILD_SA_FIELDS = (
    "spi_in",
    "spi_out",
    "mode",
    "algorithm",
    "key_in",
    "key_out",
    "integrity_key_in",
    "integrity_key_out",
    "ts_i",
    "ts_r",
    "initiator",
    "esn",
    "udp_encap",
)
if tuple(f.name for f in fields(ChildSa)) != _CHILD_SA_FIELDS:  # pragma: no cover - drift guard
    raise ImportError("child: new_child_sa's field list is out of date")
(
    _s_spi_in,
    _s_spi_out,
    _s_mode,
    _s_algorithm,
    _s_key_in,
    _s_key_out,
    _s_integ_in,
    _s_integ_out,
    _s_ts_i,
    _s_ts_r,
    _s_initiator,
    _s_esn,
    _s_udp_encap,
) = (ChildSa.__dict__[n].__set__ for n in _CHILD_SA_FIELDS)
_new = object.__new__


def new_child_sa(
    spi_in: int,
    spi_out: int,
    mode: str,
    algorithm: str,
    key_in: bytes,
    key_out: bytes,
    integrity_key_in: bytes | None,
    integrity_key_out: bytes | None,
    ts_i: tuple[TrafficSelector, ...],
    ts_r: tuple[TrafficSelector, ...],
    initiator: bool,
    esn: bool,
    udp_encap: tuple[int, int] | None,
) -> ChildSa:
    """``ChildSa(...)`` of these values."""
    c = _new(ChildSa)
    _s_spi_in(c, spi_in)
    _s_spi_out(c, spi_out)
    _s_mode(c, mode)
    _s_algorithm(c, algorithm)
    _s_key_in(c, key_in)
    _s_key_out(c, key_out)
    _s_integ_in(c, integrity_key_in)
    _s_integ_out(c, integrity_key_out)
    _s_ts_i(c, ts_i)
    _s_ts_r(c, ts_r)
    _s_initiator(c, initiator)
    _s_esn(c, esn)
    _s_udp_encap(c, udp_encap)
    return c
