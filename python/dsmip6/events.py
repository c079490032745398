"""Events the UE (:class:`dsmip6.mn.MobileNode`) and the HA (:class:`dsmip6.ha.HomeAgent`)
hand to the embedding program through ``next_event()`` (STYLE §5.4).

Every event is a frozen dataclass; each field carries a docstring. Events are *results*: the
machines have already acted (sent the BA, programmed the data plane) when they queue one.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network

__all__ = [
    "Event",
    "HomeAgentDiscovered",
    "DiscoveryFailed",
    "IkeEstablished",
    "AttachCompleted",
    "AttachFailed",
    "AtHome",
    "BindingAccepted",
    "BindingRejected",
    "HandoverCompleted",
    "DetachCompleted",
    "NetworkDetached",
    "HomeAgentSwitched",
    "Ipv4HomeAddressAssigned",
    "Ipv4HomeAddressReleased",
    "BindingCreated",
    "BindingUpdated",
    "BindingDeleted",
    "BindingExpired",
    "BindingRevoked",
    "BindingUpdateRejected",
    "MessageDropped",
    "Redirected",
    "MobilePrefixAdvertised",
]


@dataclass(frozen=True)
class Event:
    """Base class of every dsmip6 procedure event."""


# --------------------------------------------------------------------------- UE events


@dataclass(frozen=True)
class HomeAgentDiscovered(Event):
    """HA discovery finished for one PDN connection (TS 24.303 §5.1.2.1)."""

    apn: str
    """The APN (PDN connection) the HA serves."""
    address6: IPv6Address | None
    """The HA IPv6 address."""
    address4: IPv4Address | None
    """The HA IPv4 address (needed on IPv4-only accesses, TS 24.303 §5.1.1)."""
    source: str
    """How it was learnt: ``static``, ``dns``, ``dhcpv6`` or ``ikev2``."""


@dataclass(frozen=True)
class DiscoveryFailed(Event):
    """No HA address could be learnt for the PDN connection."""

    apn: str
    """The APN."""
    reason: str
    """Why (e.g. ``dns-nxdomain``, ``timeout``)."""


@dataclass(frozen=True)
class IkeEstablished(Event):
    """The IKEv2 SA with the HA is up and the home prefix is known (RFC 5026 §5.3)."""

    apn: str
    """The APN."""
    home_prefix: IPv6Network
    """The HNP from MIP6_HOME_PREFIX."""
    home_address: IPv6Address
    """The HoA formed in (or assigned from) that prefix."""


@dataclass(frozen=True)
class AttachCompleted(Event):
    """Initial attach done: registered with the HA, or at home (TS 24.303 §5.1)."""

    apn: str
    """The APN."""
    home_address: IPv6Address
    """The IPv6 HoA."""
    ipv4_home_address: IPv4Address | None
    """The IPv4 HoA assigned by the HA (RFC 5555 §3.1), if requested and granted."""
    at_home: bool
    """True when home link detection found the UE at home (no binding, §5.1.2.3)."""


@dataclass(frozen=True)
class AttachFailed(Event):
    """Initial attach gave up (IKE failure, discovery failure, fatal BA status)."""

    apn: str
    """The APN."""
    reason: str
    """Why."""
    status: int | None = None
    """The BA status when a BA caused the failure."""


@dataclass(frozen=True)
class AtHome(Event):
    """Home link detection says the UE is on the home link of this PDN (no binding needed)."""

    apn: str
    """The APN."""


@dataclass(frozen=True)
class BindingAccepted(Event):
    """A BA with status < 128 acknowledged the outstanding BU (RFC 6275 §11.7.3)."""

    apn: str
    """The APN."""
    sequence: int
    """The acknowledged sequence number."""
    lifetime: float
    """Remaining binding lifetime in seconds, counted from the BU transmission time."""
    care_of_address: IPv6Address | IPv4Address
    """The CoA now registered."""
    nat_detected: bool
    """True when the BA's NAT Detection option said a NAT is on the path (RFC 5555 §4.3)."""
    status: int = 0
    """The BA status (0 or 1)."""


@dataclass(frozen=True)
class BindingRejected(Event):
    """A BA with status >= 128 (other than a resolved 135) refused the BU."""

    apn: str
    """The APN."""
    status: int
    """The BA status (procedures.md §9.1)."""
    action: str
    """What the UE does about it (``retry``, ``stop``, ``next-ha``, ``resync``...)."""


@dataclass(frozen=True)
class HandoverCompleted(Event):
    """The binding now points at the new CoA (TS 24.303 §5.2)."""

    apn: str
    """The APN."""
    care_of_address: IPv6Address | IPv4Address | None
    """The new CoA, or None after returning home."""
    udp_encapsulation: bool
    """True when user data now rides UDP 4191 (RFC 5555 §4.4.2)."""


@dataclass(frozen=True)
class DetachCompleted(Event):
    """UE-initiated detach finished: binding removed and IKE SA deleted (TS 24.303 §5.3)."""

    apn: str
    """The APN."""
    acknowledged: bool
    """False when the de-registration BU was never acknowledged (state removed anyway)."""


@dataclass(frozen=True)
class NetworkDetached(Event):
    """The HA revoked the binding (BRI, RFC 5846) or deleted the IKE SA."""

    apn: str
    """The APN."""
    trigger: int | None
    """The BRI Revocation Trigger, or None when only the IKE SA was deleted."""
    ipv4_only: bool = False
    """True when only the IPv4 HoA was revoked (V=1)."""


@dataclass(frozen=True)
class HomeAgentSwitched(Event):
    """An HA Switch (RFC 5142) moved this PDN connection to another HA."""

    apn: str
    """The APN."""
    new_home_agents: tuple[IPv6Address, ...]
    """The candidates the old HA listed (empty: discovery runs again)."""


@dataclass(frozen=True)
class Ipv4HomeAddressAssigned(Event):
    """The BA carried an IPv4 Address Acknowledgement (RFC 5555 §4.4.2)."""

    apn: str
    """The APN."""
    status: int
    """The IPv4 Address Ack status (< 128 = success)."""
    address: IPv4Address | None
    """The IPv4 HoA, on success."""
    prefix_len: int
    """Its prefix length."""


@dataclass(frozen=True)
class Ipv4HomeAddressReleased(Event):
    """The UE released its IPv4 HoA only (``MobileNode.release_ipv4_home_address``): the HA
    accepted a BU without the IPv4 Home Address option (RFC 5555 §4.4.2.1); the IPv6 binding
    stays."""

    apn: str
    """The APN."""
    address: IPv4Address
    """The IPv4 HoA that was released."""


@dataclass(frozen=True)
class Redirected(Event):
    """IKEv2 redirect (RFC 5685) sent the UE to another HA at attach time."""

    apn: str
    """The APN."""
    new_gateway: str
    """The HA address the UE now bootstraps with."""


@dataclass(frozen=True)
class MobilePrefixAdvertised(Event):
    """A solicited Mobile Prefix Advertisement was accepted (RFC 6275 §11.4.3): what it says
    about the HNP of the connection."""

    apn: str
    """The APN."""
    home_prefix: IPv6Network
    """The HNP of the PDN connection (MIP6_HOME_PREFIX)."""
    outcome: str
    """``confirmed`` (advertised as before, or for the first time), ``changed`` (advertised
    with other lifetimes or flags than in the previous advertisement) or ``withdrawn``
    (absent from the advertisement, or with a valid lifetime of 0: the HoA is going away).
    A finite valid lifetime caps the UE's later BU lifetimes (RFC 6275 §11.7.1); on
    ``withdrawn`` the UE de-registers and deletes the IKE SA: ``DetachCompleted`` follows."""
    valid_lifetime: int | None
    """The HNP's valid lifetime in seconds (0xFFFFFFFF = infinite); None when absent."""
    preferred_lifetime: int | None
    """Its preferred lifetime in seconds; None when absent."""
    prefixes: tuple[IPv6Network, ...]
    """Every prefix the advertisement listed (RFC 6275 §10.6.1: the whole list each time)."""


# --------------------------------------------------------------------------- HA events


@dataclass(frozen=True)
class BindingCreated(Event):
    """A new binding cache entry (RFC 6275 §10.3.1)."""

    home_address: IPv6Address
    """The HoA (key of the BCE)."""
    care_of_address: IPv6Address | IPv4Address
    """The registered CoA."""
    identity: str
    """The IKE/EAP identity that owns the HoA."""
    ipv4_home_address: IPv4Address | None
    """The IPv4 HoA bound alongside, if any."""
    lifetime: float
    """Granted lifetime in seconds."""


@dataclass(frozen=True)
class BindingUpdated(Event):
    """An existing BCE was refreshed or moved to a new CoA."""

    home_address: IPv6Address
    """The HoA."""
    care_of_address: IPv6Address | IPv4Address
    """The (possibly new) CoA."""
    moved: bool
    """True when the CoA (or encapsulation) changed."""
    lifetime: float
    """Granted lifetime in seconds."""


@dataclass(frozen=True)
class BindingDeleted(Event):
    """A BU with lifetime 0 de-registered the binding (RFC 6275 §10.3.2)."""

    home_address: IPv6Address
    """The HoA."""


@dataclass(frozen=True)
class BindingExpired(Event):
    """A binding reached its lifetime without refresh."""

    home_address: IPv6Address
    """The HoA."""


@dataclass(frozen=True)
class BindingRevoked(Event):
    """A revocation (RFC 5846) finished, acknowledged or not."""

    home_address: IPv6Address
    """The HoA."""
    trigger: int
    """The Revocation Trigger sent."""
    acknowledged: bool
    """True when a matching BRA came back."""


@dataclass(frozen=True)
class BindingUpdateRejected(Event):
    """The HA answered a BU with a BA status >= 128 (procedures.md §9.4)."""

    home_address: IPv6Address
    """The HoA the BU named."""
    status: int
    """The BA status sent."""
    identity: str | None
    """The identity of the SA it arrived on."""


@dataclass(frozen=True)
class MessageDropped(Event):
    """A signalling packet was silently discarded (counted too)."""

    reason: str
    """The drop counter incremented (e.g. ``unprotected``, ``bad-checksum``)."""


def binding_updated(
    home_address: IPv6Address,
    care_of_address: IPv6Address | IPv4Address,
    moved: bool,
    lifetime: float,
) -> BindingUpdated:
    """``BindingUpdated(home_address, care_of_address, moved, lifetime)``, the same event
    (equal, same repr and hash), for the HA's per-refresh path: its fields are stored by one
    ``__dict__`` update instead of the frozen dataclass ``__init__``'s four
    ``object.__setattr__`` calls (about half the instructions). An event is short-lived, so
    the materialised ``__dict__`` costs no lasting memory."""
    event = object.__new__(BindingUpdated)
    event.__dict__.update(
        home_address=home_address, care_of_address=care_of_address, moved=moved, lifetime=lifetime
    )
    return event


def binding_created(
    home_address: IPv6Address,
    care_of_address: IPv6Address | IPv4Address,
    identity: str,
    ipv4_home_address: IPv4Address | None,
    lifetime: float,
) -> BindingCreated:
    """``BindingCreated(...)`` with these fields, the same event (equal, same repr and hash),
    built like :func:`binding_updated` (one ``__dict__`` update): the HA's first-registration
    path of every attach."""
    event = object.__new__(BindingCreated)
    event.__dict__.update(
        home_address=home_address,
        care_of_address=care_of_address,
        identity=identity,
        ipv4_home_address=ipv4_home_address,
        lifetime=lifetime,
    )
    return event
