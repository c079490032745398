"""Events the IKEv2 engines emit (``next_event()``); frozen dataclasses (STYLE §5.4).

``ike_sa_id`` is an opaque int chosen by the engine, stable for the life of the IKE SA
(including IKE SA rekeys), unique per engine object.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from ipaddress import IPv4Address, IPv6Address, IPv6Network

from dsmip6.ikev2.child import ChildSa

__all__ = [
    "IkeEvent",
    "IkeSaEstablished",
    "ChildSaEstablished",
    "ChildSaDeleted",
    "ChildSaFailed",
    "IkeSaDeleted",
    "IkeAuthFailed",
    "IkeSaRekeyed",
    "Redirected",
    "ChildSa",
]

Address = tuple[str, int]


@dataclass(frozen=True)
class IkeEvent:
    ike_sa_id: int
    """Which IKE SA this is about."""


@dataclass(frozen=True)
class IkeSaEstablished(IkeEvent):
    """IKE_AUTH completed: both sides are authenticated (RFC 7296 §1.2)."""

    peer_identity: str
    """The peer's IDi/IDr as a string (NAI, FQDN, address)."""
    eap_identity: str | None
    """HA side: the identity the AAA (EAP server) authenticated, e.g. the IMSI; else None."""
    local: Address
    """Our IKE endpoint (host, port) at establishment."""
    remote: Address
    """The peer's IKE endpoint."""
    nat_detected: bool
    """A NAT sits between the two (RFC 7296 §2.23)."""
    home_prefix: IPv6Network | None = None
    """Home network prefix from MIP6_HOME_PREFIX (UE: received; HA: assigned)."""
    home_address: IPv6Address | None = None
    """HoA from INTERNAL_IP6_ADDRESS, when assigned."""
    ha_addresses: tuple[IPv6Address | IPv4Address, ...] = ()
    """HOME_AGENT_ADDRESS values."""
    internal_ip4: IPv4Address | None = None
    """IPv4 home address from INTERNAL_IP4_ADDRESS."""
    prefix_lifetime: int | None = None
    """Prefix lifetime (s) from MIP6_HOME_PREFIX; None when the peer sent strongSwan's
    17-octet form without one."""

    def __post_init__(self) -> None:
        if not self.peer_identity:
            raise ValueError("peer_identity must not be empty")


@dataclass(frozen=True)
class ChildSaEstablished(IkeEvent):
    """A child SA is installed (keys in ``child``; also handed to the DataPlane if configured)."""

    child: ChildSa
    """SPIs, mode, algorithm, keys and selectors."""
    rekeyed_spi_in: int | None = None
    """When this child replaces another (rekey), the old inbound SPI."""


@dataclass(frozen=True)
class ChildSaDeleted(IkeEvent):
    """A child SA is gone (deleted by either side, or with its IKE SA)."""

    spi_in: int
    """Our inbound SPI."""
    spi_out: int
    """The peer's inbound SPI (our outbound)."""
    reason: str = "deleted"


@dataclass(frozen=True)
class ChildSaFailed(IkeEvent):
    """A CREATE_CHILD_SA (or the child part of IKE_AUTH) was refused; ``notify`` names why."""

    notify: int
    reason: str


@dataclass(frozen=True)
class IkeSaDeleted(IkeEvent):
    """The IKE SA is gone: ``reason`` in {"deleted", "peer-deleted", "timeout", "expired",
    "rekeyed-away", "error"}."""

    reason: str


@dataclass(frozen=True)
class IkeAuthFailed(IkeEvent):
    """IKE_SA_INIT or IKE_AUTH failed: no IKE SA. ``reason`` is a notify name or a short text."""

    reason: str


@dataclass(frozen=True)
class IkeSaRekeyed(IkeEvent):
    """The IKE SA was rekeyed (RFC 7296 §2.18); ``ike_sa_id`` is unchanged."""

    spi_i: bytes
    spi_r: bytes


@dataclass(frozen=True)
class Redirected(IkeEvent):
    """The HA asked the UE to use another HA (RFC 5685). The caller connects there, setting
    ``InitiatorConfig.redirected_from`` if it wants REDIRECTED_FROM sent."""

    new_gateway: str
    """IPv4/IPv6 address or FQDN of the new HA."""


# ---------------------------------------------------------------------------------------------
# The two events every bootstrap emits, built without the generated frozen ``__init__`` (one
# ``object.__setattr__`` call per field, ~3x the cost of storing into the instance dict): on
# the HA they are created once per UE on the handshake path. The result is the object the
# dataclass's own ``__init__`` makes from the same values (same class, same ``__dict__``, so
# equal and hashing alike); ``tests/test_ike_events.py`` compares them field by field, and
# the field lists below are checked against the dataclasses at import, so a field added to
# either class cannot be forgotten here.

_new = object.__new__
_ESTABLISHED_FIELDS = (
    "ike_sa_id",
    "peer_identity",
    "eap_identity",
    "local",
    "remote",
    "nat_detected",
    "home_prefix",
    "home_address",
    "ha_addresses",
    "internal_ip4",
    "prefix_lifetime",
)
_CHILD_FIELDS = ("ike_sa_id", "child", "rekeyed_spi_in")
if (
    tuple(f.name for f in fields(IkeSaEstablished)) != _ESTABLISHED_FIELDS
    or tuple(f.name for f in fields(ChildSaEstablished)) != _CHILD_FIELDS
):  # pragma: no cover - a guard against drift, exercised by the tests
    raise ImportError("events: the fast constructors' field lists are out of date")


def ike_sa_established(
    ike_sa_id: int,
    peer_identity: str,
    eap_identity: str | None,
    local: Address,
    remote: Address,
    nat_detected: bool,
    home_prefix: IPv6Network | None,
    home_address: IPv6Address | None,
    ha_addresses: tuple[IPv6Address | IPv4Address, ...],
    internal_ip4: IPv4Address | None,
    prefix_lifetime: int | None,
) -> IkeSaEstablished:
    """``IkeSaEstablished(...)`` of these values (every field, in declaration order),
    including ``__post_init__``'s check."""
    if not peer_identity:
        raise ValueError("peer_identity must not be empty")
    ev = _new(IkeSaEstablished)
    d = ev.__dict__
    d["ike_sa_id"] = ike_sa_id
    d["peer_identity"] = peer_identity
    d["eap_identity"] = eap_identity
    d["local"] = local
    d["remote"] = remote
    d["nat_detected"] = nat_detected
    d["home_prefix"] = home_prefix
    d["home_address"] = home_address
    d["ha_addresses"] = ha_addresses
    d["internal_ip4"] = internal_ip4
    d["prefix_lifetime"] = prefix_lifetime
    return ev


def child_sa_established(
    ike_sa_id: int, child: ChildSa, rekeyed_spi_in: int | None
) -> ChildSaEstablished:
    """``ChildSaEstablished(ike_sa_id, child, rekeyed_spi_in)``."""
    ev = _new(ChildSaEstablished)
    d = ev.__dict__
    d["ike_sa_id"] = ike_sa_id
    d["child"] = child
    d["rekeyed_spi_in"] = rekeyed_spi_in
    return ev
