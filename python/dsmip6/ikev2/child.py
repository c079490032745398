"""Child SAs (RFC 7296 §1.3, §2.17) as handed to the procedures and the data plane."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
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
