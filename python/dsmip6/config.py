"""Configuration: one dataclass per role (STYLE §5.4), plus the protocol constants.

Constants carry the RFC name and clause they come from (procedures.md §8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from dsmip6.errors import ConfigError

__all__ = [
    "INITIAL_BINDACK_TIMEOUT_FIRST_REG",
    "INITIAL_BINDACK_TIMEOUT",
    "MAX_BINDACK_TIMEOUT",
    "MAX_DELETE_BCE_TIMEOUT",
    "NATKATIMEOUT",
    "INIT_MIN_DELAY_BRIS",
    "MAX_BRACK_TIMEOUT",
    "BRI_MAX_RETRIES",
    "INITIAL_HA_SWITCH_TIMEOUT",
    "MAX_HA_SWITCH_TIMEOUT",
    "MAX_LIFETIME_4S",
    "INITIAL_SOLICIT_TIMER",
    "MAX_HA_SWITCH_TRANSMIT_RATE",
    "PdnConfig",
    "MobileNodeConfig",
    "HomeAgentConfig",
]

#: RFC 6275 §13: first BU when no binding exists yet (configurable, default 1.5 s).
INITIAL_BINDACK_TIMEOUT_FIRST_REG = 1.5
#: RFC 6275 §12: every other BU.
INITIAL_BINDACK_TIMEOUT = 1.0
#: RFC 6275 §12: back-off cap.
MAX_BINDACK_TIMEOUT = 32.0
#: RFC 6275 §12: how long the HA keeps a de-registered BCE (tombstone against stale BUs).
MAX_DELETE_BCE_TIMEOUT = 10.0
#: RFC 5555 §6: default NAT binding refresh.
NATKATIMEOUT = 110.0
#: RFC 5846 §11: first BRA wait.
INIT_MIN_DELAY_BRIS = 1.0
#: RFC 5846 §11: back-off cap for BRI retransmission.
MAX_BRACK_TIMEOUT = 2.0
#: RFC 5846 §11: retransmissions of a BRI.
BRI_MAX_RETRIES = 1
#: RFC 5142 §8.
INITIAL_HA_SWITCH_TIMEOUT = 5.0
#: RFC 5142 §8.
MAX_HA_SWITCH_TIMEOUT = 20.0
#: RFC 6275 §6.1.7: lifetime field is 16 bits of 4-second units.
MAX_LIFETIME_4S = 0xFFFF
#: RFC 6275 §12 / §11.8: first retransmission of a Mobile Prefix Solicitation.
INITIAL_SOLICIT_TIMER = 3.0
#: RFC 5142 §8: Home Agent Switch messages per second (across UEs).
MAX_HA_SWITCH_TRANSMIT_RATE = 1.0


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, not {value!r}")


@dataclass(frozen=True)
class PdnConfig:
    """One PDN connection of the UE (TS 24.303 §4.3: an independent DSMIPv6 instance)."""

    apn: str
    """APN Network Identifier, e.g. ``internet``."""
    ha_address6: IPv6Address | None = None
    """Statically configured HA IPv6 address (discovery method a, RFC 5026 §5.1.1)."""
    ha_address4: IPv4Address | None = None
    """Statically configured HA IPv4 address."""
    discovery: str = "static"
    """``static``, ``dns`` (HA-APN FQDN, TS 23.003 §21), ``dns-srv`` (RFC 5026 §5.1.2),
    ``dhcpv6`` (RFC 6610) or ``ikev2`` (HOME_AGENT_ADDRESS through the gateway)."""
    request_ipv4_home_address: bool = True
    """Ask for an IPv4 HoA with 0.0.0.0 in the first BU (TS 24.303 Annex A.2, RFC 5555 §3.1.1)."""
    lifetime_4s: int = 900
    """Requested binding lifetime in 4-s units ([D] 900 = 3600 s)."""
    ha_alternates: tuple[tuple[IPv6Address | None, IPv4Address | None], ...] = ()
    """Further statically configured HAs, ``(IPv6, IPv4)`` pairs in order of preference,
    tried when the HA refuses the home registration (BA 131/143) or does not answer IKE
    (procedures.md §1.1c, §9.1; RFC 5026 §5.1.2)."""

    def __post_init__(self) -> None:
        if not self.apn or len(self.apn) > 63:
            raise ConfigError(f"bad APN {self.apn!r}")
        if self.discovery not in ("static", "dns", "dns-srv", "dhcpv6", "ikev2"):
            raise ConfigError(f"unknown discovery method {self.discovery!r}")
        if self.discovery == "static" and self.ha_address6 is None:
            raise ConfigError(f"PDN {self.apn}: static discovery needs ha_address6")
        if not 0 < self.lifetime_4s <= MAX_LIFETIME_4S:
            raise ConfigError(f"lifetime_4s {self.lifetime_4s} out of 1..65535")
        for alt in self.ha_alternates:
            if (
                not isinstance(alt, tuple)
                or len(alt) != 2
                or not isinstance(alt[0], (IPv6Address, type(None)))
                or not isinstance(alt[1], (IPv4Address, type(None)))
                or alt == (None, None)
            ):
                raise ConfigError(f"PDN {self.apn}: bad alternate HA {alt!r}")


@dataclass(frozen=True)
class MobileNodeConfig:
    """The UE."""

    identity: str
    """The NAI used as IKEv2 IDi / EAP identity (e.g. ``0<IMSI>@nai.epc...``)."""
    pdns: tuple[PdnConfig, ...]
    """One entry per PDN connection."""
    mcc: str = "001"
    """Mobile country code (for the HA-APN FQDN, TS 23.003 §21)."""
    mnc: str = "01"
    """Mobile network code (2 or 3 digits)."""
    dns_server: tuple[str, int] | None = None
    """Resolver for DNS discovery (host, port)."""
    dhcpv6_server: tuple[str, int] | None = None
    """DHCPv6 server/relay for RFC 6610 discovery (host, port)."""
    initial_bindack_timeout_first_reg: float = INITIAL_BINDACK_TIMEOUT_FIRST_REG
    """RFC 6275 §13."""
    initial_bindack_timeout: float = INITIAL_BINDACK_TIMEOUT
    """RFC 6275 §12."""
    max_bindack_timeout: float = MAX_BINDACK_TIMEOUT
    """RFC 6275 §12."""
    max_bu_attempts: int = 0
    """Give up a BU after this many transmissions (0 = keep trying at the capped rate)."""
    detach_bu_attempts: int = 3
    """Transmissions of the de-registration BU before state is removed anyway ([D] §3)."""
    refresh_fraction: float = 0.75
    """Refresh the binding at this fraction of the granted lifetime ([D] procedures.md §2.2)."""
    discovery_timeout: float = 2.0
    """Retransmission interval for DNS / DHCPv6 discovery queries."""
    discovery_attempts: int = 3
    """Queries before discovery fails."""
    ike_attempts: int = 3
    """IKE SA set-ups tried before attach fails when the HA does not answer (RFC 5026 §5.1.2)."""
    ike_retry_backoff: float = 5.0
    """Back-off before the next IKE attempt ([D] configurable per RFC 5026 §5.1.2)."""
    ipv6_attempts_before_ipv4: int = 3
    """RFC 5555 §4.4.1: BUs from the IPv6 CoA without BA before trying the IPv4 CoA."""
    max_dad_retries: int = 3
    """BA status 134 (DAD failed, RFC 5026 §5.3.2): new HoAs tried per attach before failing."""
    max_update_rate: int = 3
    """RFC 6275 §12 MAX_UPDATE_RATE: at most this many BUs to the HA per second."""
    initial_solicit_timer: float = INITIAL_SOLICIT_TIMER
    """RFC 6275 §11.8: first Mobile Prefix Solicitation retransmission (then doubling up to
    ``max_bindack_timeout``)."""
    max_home_agents: int = 4
    """HAs tried per attach (the first one included) when one refuses the home registration
    (BA 131/143) or fails IKE (procedures.md §1.1c, §9.1): the bound on "try the next HA"."""

    def __post_init__(self) -> None:
        if not self.identity:
            raise ConfigError("identity must not be empty")
        if not self.pdns:
            raise ConfigError("at least one PDN connection is needed")
        apns = [p.apn for p in self.pdns]
        if len(set(apns)) != len(apns):
            raise ConfigError(f"duplicate APN in {apns}")
        if not (self.mcc.isdigit() and len(self.mcc) == 3):
            raise ConfigError(f"MCC {self.mcc!r} is not 3 digits")
        if not (self.mnc.isdigit() and len(self.mnc) in (2, 3)):
            raise ConfigError(f"MNC {self.mnc!r} is not 2 or 3 digits")
        for name in (
            "initial_bindack_timeout_first_reg",
            "initial_bindack_timeout",
            "max_bindack_timeout",
            "discovery_timeout",
            "initial_solicit_timer",
        ):
            _check_positive(name, getattr(self, name))
        if not 0 < self.refresh_fraction < 1:
            raise ConfigError("refresh_fraction must be in (0, 1)")
        if self.max_dad_retries < 0:
            raise ConfigError("max_dad_retries must not be negative")
        if self.max_update_rate < 1:
            raise ConfigError("max_update_rate must be at least 1")
        if self.max_home_agents < 1:
            raise ConfigError("max_home_agents must be at least 1")

    def pdn(self, apn: str) -> PdnConfig:
        """The PDN configuration for ``apn`` (ConfigError when unknown)."""
        for p in self.pdns:
            if p.apn == apn:
                return p
        raise ConfigError(f"no PDN connection configured for APN {apn!r}")


@dataclass(frozen=True)
class HomeAgentConfig:
    """The HA (the DSMIPv6 function of a PDN GW)."""

    address6: IPv6Address
    """The HA IPv6 address (MH and IKE endpoint)."""
    address4: IPv4Address | None
    """The HA IPv4 address (RFC 5555 access), or None."""
    home_pool: IPv6Network
    """The aggregate from which one HNP per UE per PDN is carved."""
    home_prefix_len: int = 64
    """Length of each HNP."""
    ipv4_pool: IPv4Network | None = None
    """IPv4 HoA pool (RFC 5555 §3.1.1), or None for no IPv4 HoA service."""
    apns: tuple[str, ...] = ("internet",)
    """APNs this HA serves."""
    max_lifetime_4s: int = 900
    """Upper bound on granted lifetimes (policy, RFC 6275 §10.3.1 step 9)."""
    prefix_valid_lifetime: float = 86400.0
    """Valid lifetime of assigned HNPs (bounds the binding lifetime)."""
    nat_refresh_time: int = 0
    """NAT Detection option refresh time in seconds (0 = UE uses NATKATIMEOUT)."""
    allow_forced_udp: bool = True
    """Accept F=1 (RFC 5555 §4.5); otherwise answer status 144 (see spec README #1)."""
    home_registration: bool = True
    """Offer home registration at all (else status 131)."""
    mobile_router: bool = True
    """Offer the implicit-prefix service R=1 (RFC 3963; else status 140)."""
    support_k: bool = True
    """Move the IKE endpoint on K=1 BUs (RFC 6275 §10.3.1)."""
    refresh_advice_4s: int | None = None
    """Binding Refresh Advice to include in BAs (must be < lifetime), or None."""
    max_bindings: int = 1_000_000
    """Refuse new bindings beyond this count (status 130)."""
    delete_bce_timeout: float = MAX_DELETE_BCE_TIMEOUT
    """Tombstone time after de-registration."""
    extra_ha_addresses: tuple[IPv6Address, ...] = field(default_factory=tuple)
    """Other HAs to list in Home Agent Switch messages (RFC 5142)."""
    max_ha_switch_transmit_rate: float = MAX_HA_SWITCH_TRANSMIT_RATE
    """Home Agent Switch messages per second across all UEs (RFC 5142 §8)."""
    ue_rate_limit: float | None = 20.0
    """Per-UE budget: signalling packets (MH/ICMPv6 under the UE's SAs, and IKE requests
    per IKE SA) per second admitted before any decryption; None disables it."""
    ue_rate_burst: int = 40
    """Depth of that token bucket (packets a UE may send at once)."""
    ue_rate_slots: int = 65536
    """Slots of the fixed token-bucket table (a power of two, 64..65536; 16 octets each):
    enough that the UEs' own traffic at one instant (e.g. every UE handing over at once)
    does not fill a slot pair, so size it above twice the UE count."""
    prefix_discovery_required: bool = False
    """Answer accepted BUs with status 1 ("accepted but prefix discovery necessary", RFC 6275
    §6.1.8) until the UE has solicited a Mobile Prefix Advertisement (off by default)."""

    def __post_init__(self) -> None:
        if not 0 < self.home_prefix_len <= 128 or self.home_prefix_len < self.home_pool.prefixlen:
            raise ConfigError(f"home_prefix_len {self.home_prefix_len} vs pool {self.home_pool}")
        if not 0 < self.max_lifetime_4s <= MAX_LIFETIME_4S:
            raise ConfigError("max_lifetime_4s out of 1..65535")
        if self.refresh_advice_4s is not None and not (
            0 < self.refresh_advice_4s < self.max_lifetime_4s
        ):
            raise ConfigError("refresh_advice_4s must be below max_lifetime_4s")
        if self.ipv4_pool is not None and self.address4 is None:
            raise ConfigError("an IPv4 HoA pool needs an HA IPv4 address")
        _check_positive("max_ha_switch_transmit_rate", self.max_ha_switch_transmit_rate)
        if self.ue_rate_limit is not None:
            _check_positive("ue_rate_limit", self.ue_rate_limit)
            if self.ue_rate_limit == float("inf"):
                raise ConfigError("ue_rate_limit must be finite (None disables it)")
        if isinstance(self.ue_rate_burst, bool) or not (
            isinstance(self.ue_rate_burst, int) and self.ue_rate_burst >= 1
        ):
            raise ConfigError(f"ue_rate_burst must be an int >= 1, not {self.ue_rate_burst!r}")
        slots = self.ue_rate_slots
        if (
            isinstance(slots, bool)
            or not isinstance(slots, int)
            or not 64 <= slots <= 65536
            or slots & (slots - 1)
        ):
            raise ConfigError(f"ue_rate_slots must be a power of two in 64..65536, not {slots!r}")
