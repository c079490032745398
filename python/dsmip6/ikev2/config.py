"""IKEv2 configuration: proposals, the two role configurations and the address assignment.

Proposals are written as strongSwan writes them (``"aes128gcm16-prfsha256-x25519"``,
``"aes128-sha256-ecp256"``; child SAs ``"aes128gcm16"``, ``"aes128-sha256"``) so that the same
strings configure dsmip6 and the charon it is tested against.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import Any

from dsmip6.dataplane_iface import DataPlane
from dsmip6.errors import ConfigError
from dsmip6.ikev2.constants import DhId, EncrId, IntegId, PrfId
from dsmip6.ikev2.message import TrafficSelector, _selector
from dsmip6.pools import addr6

__all__ = [
    "IkeProposal",
    "ChildProposal",
    "parse_ike_proposal",
    "parse_child_proposal",
    "Assignment",
    "InitiatorConfig",
    "ResponderConfig",
    "DEFAULT_IKE_PROPOSALS",
    "DEFAULT_CHILD_PROPOSALS",
]

_ENCR = {
    "aes128": (EncrId.AES_CBC, 128),
    "aes192": (EncrId.AES_CBC, 192),
    "aes256": (EncrId.AES_CBC, 256),
    "aes128gcm16": (EncrId.AES_GCM_16, 128),
    "aes128gcm128": (EncrId.AES_GCM_16, 128),
    "aes256gcm16": (EncrId.AES_GCM_16, 256),
    "aes256gcm128": (EncrId.AES_GCM_16, 256),
    "chacha20poly1305": (EncrId.CHACHA20_POLY1305, None),
}
_INTEG = {
    "sha1": IntegId.HMAC_SHA1_96,
    "sha256": IntegId.HMAC_SHA2_256_128,
    "sha384": IntegId.HMAC_SHA2_384_192,
    "sha512": IntegId.HMAC_SHA2_512_256,
}
_PRF = {
    "prfsha1": PrfId.HMAC_SHA1,
    "prfsha256": PrfId.HMAC_SHA2_256,
    "prfsha384": PrfId.HMAC_SHA2_384,
    "prfsha512": PrfId.HMAC_SHA2_512,
}
_INTEG_TO_PRF = {
    IntegId.HMAC_SHA1_96: PrfId.HMAC_SHA1,
    IntegId.HMAC_SHA2_256_128: PrfId.HMAC_SHA2_256,
    IntegId.HMAC_SHA2_384_192: PrfId.HMAC_SHA2_384,
    IntegId.HMAC_SHA2_512_256: PrfId.HMAC_SHA2_512,
}
_DH = {
    "modp2048": DhId.MODP_2048,
    "ecp256": DhId.ECP_256,
    "ecp384": DhId.ECP_384,
    "x25519": DhId.CURVE25519,
    "curve25519": DhId.CURVE25519,
}


@dataclass(frozen=True)
class IkeProposal:
    """One IKE SA proposal: one cipher, one PRF, integrity (None with an AEAD), DH groups."""

    encr: int
    key_bits: int | None
    prf: int
    integ: int | None
    dh_groups: tuple[int, ...]

    @property
    def aead(self) -> bool:
        return self.encr in (EncrId.AES_GCM_16, EncrId.CHACHA20_POLY1305)


@dataclass(frozen=True)
class ChildProposal:
    """One ESP proposal (the ciphers ``dsmip6.esp`` implements)."""

    encr: int
    key_bits: int | None
    integ: int | None
    dh_groups: tuple[int, ...] = ()
    """PFS groups for CREATE_CHILD_SA (empty: no PFS)."""
    esn: bool = False

    @property
    def aead(self) -> bool:
        return self.encr in (EncrId.AES_GCM_16, EncrId.CHACHA20_POLY1305)

    @functools.cached_property
    def esp_algorithm(self) -> str:
        """The ``dsmip6.esp.SecurityAssociation`` algorithm name."""
        if self.encr == EncrId.AES_GCM_16:
            return f"aes-gcm-{self.key_bits}"
        if self.encr == EncrId.CHACHA20_POLY1305:
            return "chacha20-poly1305"
        if self.encr == EncrId.AES_CBC and self.integ == IntegId.HMAC_SHA2_256_128:
            return "aes-cbc-hmac-sha256"
        if self.encr == EncrId.NULL:
            return "null"
        raise ConfigError(f"ESP proposal {self} has no dsmip6.esp algorithm")


def _tokens(text: str) -> list[str]:
    toks = [t for t in text.strip().lower().split("-") if t]
    if not toks:
        raise ConfigError("empty proposal")
    return toks


@functools.lru_cache(maxsize=128)
def parse_ike_proposal(text: str) -> IkeProposal:
    """``"aes128gcm16-prfsha256-x25519"`` or ``"aes128-sha256-ecp256"`` → IkeProposal."""
    encr = integ = prf = None
    groups: list[int] = []
    for t in _tokens(text):
        if t in _ENCR:
            encr = _ENCR[t]
        elif t in _INTEG:
            integ = _INTEG[t]
        elif t in _PRF:
            prf = _PRF[t]
        elif t in _DH:
            groups.append(_DH[t])
        else:
            raise ConfigError(f"unknown IKE proposal token {t!r} in {text!r}")
    if encr is None or not groups:
        raise ConfigError(f"IKE proposal {text!r} needs a cipher and a DH group")
    aead = encr[0] in (EncrId.AES_GCM_16, EncrId.CHACHA20_POLY1305)
    if aead and integ is not None:
        raise ConfigError(f"AEAD proposal {text!r} must not name an integrity algorithm")
    if not aead and integ is None:
        raise ConfigError(f"proposal {text!r} needs an integrity algorithm")
    if prf is None:
        if integ is None:
            raise ConfigError(f"AEAD proposal {text!r} needs a PRF (e.g. prfsha256)")
        prf = _INTEG_TO_PRF[integ]
    return IkeProposal(encr[0], encr[1], prf, integ, tuple(groups))


@functools.lru_cache(maxsize=128)
def parse_child_proposal(text: str) -> ChildProposal:
    """``"aes128gcm16"``, ``"aes128-sha256"``, ``"aes256gcm16-x25519-esn"`` → ChildProposal."""
    encr = integ = None
    groups: list[int] = []
    esn = False
    for t in _tokens(text):
        if t in _ENCR:
            encr = _ENCR[t]
        elif t in _INTEG:
            integ = _INTEG[t]
        elif t in _DH:
            groups.append(_DH[t])
        elif t in ("esn", "noesn"):
            esn = t == "esn"
        elif t == "null":
            encr = (EncrId.NULL, None)
        else:
            raise ConfigError(f"unknown ESP proposal token {t!r} in {text!r}")
    if encr is None:
        raise ConfigError(f"ESP proposal {text!r} needs a cipher")
    p = ChildProposal(encr[0], encr[1], integ, tuple(groups), esn)
    p.esp_algorithm  # noqa: B018 - validates that dsmip6.esp implements it
    return p


DEFAULT_IKE_PROPOSALS: tuple[IkeProposal, ...] = (
    parse_ike_proposal("aes128gcm16-prfsha256-x25519-ecp256-modp2048"),
    parse_ike_proposal("aes256gcm16-prfsha384-ecp384-x25519"),
    parse_ike_proposal("aes128-sha256-ecp256-x25519-modp2048"),
    parse_ike_proposal("chacha20poly1305-prfsha256-x25519"),
)
DEFAULT_CHILD_PROPOSALS: tuple[ChildProposal, ...] = (
    parse_child_proposal("aes128gcm16"),
    parse_child_proposal("aes256gcm16"),
    parse_child_proposal("aes128-sha256"),
    parse_child_proposal("chacha20poly1305"),
)


def _proposals(value: Sequence[Any], parse: Callable[[str], Any]) -> tuple[Any, ...]:
    out = tuple(parse(v) if isinstance(v, str) else v for v in value)
    if not out:
        raise ConfigError("at least one proposal is needed")
    return out


_ADDRESS_TYPES = (IPv4Address, IPv6Address)  # kept as given (the HA's one tuple, per UE)


@dataclass(frozen=True, slots=True)  # one per UE at the HA: no instance dict
class Assignment:
    """What the HA hands to one UE in the IKE_AUTH CFG_REPLY (RFC 5026 §5.3, RFC 4877 §9)."""

    home_prefix: IPv6Network | None = None
    """The UE's home network prefix (MIP6_HOME_PREFIX, 21 octets)."""
    home_address: IPv6Address | None = None
    """An HA-assigned HoA (INTERNAL_IP6_ADDRESS), when the UE asked for one."""
    ha_addresses: tuple[IPv6Address | IPv4Address, ...] = ()
    """HA addresses (HOME_AGENT_ADDRESS: IPv6 [+ IPv4])."""
    internal_ip4: IPv4Address | None = None
    """IPv4 home address (INTERNAL_IP4_ADDRESS)."""
    prefix_lifetime: int = 86400
    """Prefix Lifetime field of MIP6_HOME_PREFIX, seconds."""

    def __init__(
        self,
        home_prefix: IPv6Network | None = None,
        home_address: IPv6Address | None = None,
        ha_addresses: tuple[IPv6Address | IPv4Address, ...] = (),
        internal_ip4: IPv4Address | None = None,
        prefix_lifetime: int = 86400,
    ) -> None:
        # the generated frozen __init__'s stores (``object.__setattr__`` per field) written
        # as direct slot stores (one Assignment per UE on the HA's attach path); values not
        # of their exact types yet go through ``__post_init__``'s conversions, as before
        _set_home_prefix(self, home_prefix)
        _set_home_address(self, home_address)
        _set_ha_addresses(self, ha_addresses)
        _set_internal_ip4(self, internal_ip4)
        _set_prefix_lifetime(self, prefix_lifetime)
        if (
            (home_prefix is None or type(home_prefix) is IPv6Network)
            and (home_address is None or type(home_address) is IPv6Address)
            and (internal_ip4 is None or type(internal_ip4) is IPv4Address)
            and type(ha_addresses) is tuple
        ):
            for a in ha_addresses:
                if type(a) is not IPv6Address and type(a) is not IPv4Address:
                    break
            else:
                return  # the usual HA assignment (pool prefix, the HA's addresses): all typed
        self.__post_init__()

    def __post_init__(self) -> None:
        if self.home_prefix is not None and not isinstance(self.home_prefix, IPv6Network):
            object.__setattr__(self, "home_prefix", IPv6Network(self.home_prefix))
        if self.home_address is not None and not isinstance(self.home_address, IPv6Address):
            object.__setattr__(self, "home_address", IPv6Address(self.home_address))
        has = self.ha_addresses
        if type(has) is not tuple or any(type(a) not in _ADDRESS_TYPES for a in has):
            object.__setattr__(self, "ha_addresses", tuple(ipaddress.ip_address(a) for a in has))
        if self.internal_ip4 is not None and not isinstance(self.internal_ip4, IPv4Address):
            object.__setattr__(self, "internal_ip4", IPv4Address(self.internal_ip4))


(
    _set_home_prefix,
    _set_home_address,
    _set_ha_addresses,
    _set_internal_ip4,
    _set_prefix_lifetime,
) = (
    Assignment.__dict__[n].__set__
    for n in ("home_prefix", "home_address", "ha_addresses", "internal_ip4", "prefix_lifetime")
)


@dataclass
class _Common:
    """Fields both roles share (keyword-only in the public constructors)."""

    identity: str | bytes | Any
    psk: bytes | None = None
    """Pre-shared key (AUTH method 2) for authenticating *this* side."""
    peer_psk: bytes | None = None
    """Pre-shared key expected from the peer (defaults to ``psk``)."""
    certificate: Any = None
    """This side's X.509 certificate (``cryptography.x509.Certificate``)."""
    private_key: Any = None
    """Its private key (RSA, EC or Ed25519)."""
    trust_anchors: tuple[Any, ...] = ()
    """CA certificates that may sign the peer's certificate."""
    wall_clock: Callable[[], float] | None = None
    """UNIX-time source for certificate validity checks (injected: the core reads no clock);
    None: validity periods are not checked."""
    rsa_auth_method: int = 14
    """AUTH method for RSA keys: 14 (RFC 7427 Digital Signature) or 1 (RSA, SHA-1)."""
    proposals: Sequence[IkeProposal | str] = DEFAULT_IKE_PROPOSALS
    child_proposals: Sequence[ChildProposal | str] = DEFAULT_CHILD_PROPOSALS
    dataplane: DataPlane | None = None
    fragment_size: int = 1280
    """Largest IKE message (UDP payload) sent unfragmented once RFC 7383 is agreed."""
    enable_fragmentation: bool = True
    ike_lifetime: float | None = None
    """Seconds after which this side rekeys the IKE SA (None: never)."""
    dpd_interval: float | None = None
    """Seconds of silence after which a liveness check is sent (None: never)."""
    nonce_size: int = 32


MIN_FRAGMENT_SIZE = 28 + 8 + 68 + 4 + 64
"""Smallest ``fragment_size`` accepted: room for one fragment's headers, worst-case cipher
overhead, the NAT-T marker and 64 octets of data."""


_DEFAULTS: dict[type, dict[str, Any]] = {}
"""Each config class's field defaults but ``identity``'s, in field order (read once)."""


def _fill(c: _Common, identity: Any, kw: dict[str, Any], what: str) -> None:
    """Every field of ``c``: from ``kw``, else its default; ``identity`` last. The instance
    dict takes the defaults and then ``kw`` in one update each (the class has no descriptors
    for its fields: the same dict, in the same order, as one ``setattr`` per field; a UE
    builds one InitiatorConfig per attach)."""
    cls = type(c)
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = {n: f.default for n, f in cls.__dataclass_fields__.items() if n != "identity"}
        _DEFAULTS[cls] = defaults
    if "cert" in kw:  # contract D spells it ``cert``
        kw["certificate"] = kw.pop("cert")
    if not kw.keys() <= defaults.keys():
        bad = set(kw) - set(cls.__dataclass_fields__)
        if bad:
            raise ConfigError(f"unknown {what} fields {sorted(bad)}")
        kw = {n: v for n, v in kw.items() if n != "identity"}  # ignored, as before
    d = c.__dict__
    d.update(defaults)
    d.update(kw)
    c.identity = identity


def _norm_common(c: _Common) -> None:
    c.proposals = _proposals(c.proposals, parse_ike_proposal)
    c.child_proposals = _proposals(c.child_proposals, parse_child_proposal)
    if c.psk is None and c.certificate is None and not _has_eap(c):
        raise ConfigError("no authentication configured (psk, certificate or EAP)")
    if c.certificate is not None and c.private_key is None:
        raise ConfigError("certificate without private key")
    if c.peer_psk is None:
        c.peer_psk = c.psk
    c.trust_anchors = tuple(c.trust_anchors)
    if not 16 <= c.nonce_size <= 256:
        raise ConfigError("nonce_size must be 16..256")
    # RFC 7383 §2.5: each fragment carries the IKE header (28), the SKF header (8), the
    # cipher's IV, ICV and padding (at most 68 octets with AES-CBC + HMAC-SHA-512-256) and,
    # behind NAT-T, the 4-octet non-ESP marker; 64 octets of data must still fit (fragment.py).
    if type(c.fragment_size) is not int or not MIN_FRAGMENT_SIZE <= c.fragment_size <= 65535:
        raise ConfigError(f"fragment_size must be an integer {MIN_FRAGMENT_SIZE}..65535")


def _has_eap(c: _Common) -> bool:
    return (
        getattr(c, "eap_peer", None) is not None or getattr(c, "eap_peer_factory", None) is not None
    )


@dataclass
class InitiatorConfig(_Common):
    """UE configuration (contract D). Authenticate with ``eap_peer`` (EAP-AKA), ``psk`` or a
    certificate; the HA is authenticated by ``trust_anchors`` (certificate) or ``peer_psk``."""

    eap_peer: Any = None
    """An EAP peer (contract C ``eap.EapAkaPeer``): ``process(bytes) -> bytes | None``,
    ``state``, ``msk``. Used once; for a new IKE SA set ``eap_peer_factory``."""
    eap_peer_factory: Callable[[], Any] | None = None
    """Builds a fresh EAP peer for each IKE SA (preferred over ``eap_peer`` when set)."""
    remote_id: str | bytes | Any = None
    """IDr to send (e.g. the HA-APN FQDN) and to require of the HA; None: not sent/not checked."""
    request_home_prefix: bool = True
    request_home_address: bool = False
    request_home_agent_address: bool = False
    request_internal_ip4: bool = False
    child_ts_i: Sequence[TrafficSelector] | None = None
    """TSi of the child SA negotiated in IKE_AUTH; default: any IPv6, protocol MH."""
    child_ts_r: Sequence[TrafficSelector] | None = None
    """TSr of that child SA; default: any IPv6, protocol MH (the HA narrows both)."""
    child_mode: str = "transport"
    force_nat_t: bool = False
    """Float to UDP 4500 after IKE_SA_INIT even without a NAT (RFC 5555 §5 on IPv4 access)."""
    redirect_supported: bool = True
    redirected_from: Any = None
    """Address of the HA that redirected us (sent as REDIRECTED_FROM), set by the caller."""
    initial_contact: bool = True

    def __init__(self, identity: Any, **kw: Any) -> None:
        _fill(self, identity, kw, "InitiatorConfig")
        _norm_common(self)
        if self.child_mode not in ("transport", "tunnel"):
            raise ConfigError("child_mode must be 'transport' or 'tunnel'")
        if self.child_ts_i is None:
            self.child_ts_i = (TrafficSelector.any(6, 135),)
        if self.child_ts_r is None:
            self.child_ts_r = (TrafficSelector.any(6, 135),)
        self.child_ts_i = tuple(self.child_ts_i)
        self.child_ts_r = tuple(self.child_ts_r)


def _default_ts_policy(
    ts_i: Sequence[TrafficSelector], ts_r: Sequence[TrafficSelector], assignment: Assignment | None
) -> tuple[tuple[TrafficSelector, ...], tuple[TrafficSelector, ...]] | None:
    """HA narrowing (RFC 7296 §2.9): TSi to the assigned HoA (or home prefix), TSr to the HA's
    IPv6 address, when the UE proposed wider ranges; otherwise accept what was proposed."""
    out_i: list[TrafficSelector] = []
    for ts in ts_i:
        narrowed: TrafficSelector | None = ts
        # (``ts.version`` is its start address's: an IPv6Address is read without the two
        # property calls)
        if assignment is not None and (type(ts.start) is IPv6Address or ts.version == 6):
            if assignment.home_address is not None:
                narrowed = ts.intersect(TrafficSelector(assignment.home_address))
            elif assignment.home_prefix is not None:
                narrowed = _in_prefix(ts, assignment.home_prefix)
        if narrowed is not None:
            out_i.append(narrowed)
    if not out_i:
        return None
    has = assignment.ha_addresses if assignment else ()
    if type(ts_r) is tuple and type(has) is tuple:
        # the HA side is the same for every UE (its own addresses; the TSr tuple of the
        # request, decoded once per distinct body by the IKE_AUTH fast path): narrowed once
        key = (ts_r, id(has))
        hit = _HA_SIDE.get(key)
        if hit is not None and hit[0] is has:  # the entry keeps ``has`` alive: no id reuse
            out_r = hit[1]
        else:
            out_r = _ha_side(ts_r, has)
            if len(_HA_SIDE) >= 16:
                _HA_SIDE.clear()
            _HA_SIDE[key] = (has, out_r)
    else:
        out_r = _ha_side(ts_r, has)
    if not out_r:
        return None
    return tuple(out_i), out_r


def _in_prefix(ts: TrafficSelector, prefix: Any) -> TrafficSelector | None:
    """``ts.intersect(TrafficSelector.for_network(prefix))``: for an IPv6 selector and an
    ``IPv6Network`` the bounds are compared as integers and only the prefix's last address
    is made, when it bounds the result (the same values; ``for_network``'s selector spans
    protocol 0 and ports 0-65535, so ``ts`` keeps its own)."""
    start, end = ts.start, ts.end
    if type(prefix) is not IPv6Network or type(start) is not IPv6Address:
        return ts.intersect(TrafficSelector.for_network(prefix))
    first = prefix.network_address
    lo = first._ip
    hi = lo | ((1 << (128 - prefix._prefixlen)) - 1)
    s = start if start._ip >= lo else first
    if end._ip <= hi:
        e = end
    else:  # IPv6Address(hi) without the constructor's checks (hi is a 128-bit value)
        e = addr6(hi)
    if s._ip > e._ip:
        return None
    sp, ep = ts.start_port, ts.end_port
    if sp < 0:
        sp = 0
    if ep > 65535:
        ep = 65535
    if sp > ep:
        return None
    return _selector(s, e, ts.protocol, sp, ep)


def _ha_side(
    ts_r: Sequence[TrafficSelector], has: Sequence[IPv4Address | IPv6Address]
) -> tuple[TrafficSelector, ...]:
    """TSr narrowed to the HA's first IPv6 address (when it has one)."""
    ha6 = [a for a in has if a.version == 6]
    out_r: list[TrafficSelector] = []
    for ts in ts_r:
        narrowed: TrafficSelector | None = ts
        if ha6 and ts.version == 6:
            narrowed = ts.intersect(TrafficSelector(ha6[0]))
        if narrowed is not None:
            out_r.append(narrowed)
    return tuple(out_r)


_HA_SIDE: dict[tuple[Any, int], tuple[Any, tuple[TrafficSelector, ...]]] = {}
"""``_ha_side`` by the TSr selectors (by value: equal selector tuples from every UE find one
entry, which keeps no UE's own tuple alive) and the identity of the assignment's HA address
tuple (the HA's one tuple; the entry keeps it alive): every UE's HA-side selectors are one
shared tuple. Cleared when 16 are held."""


TsPolicy = Callable[
    [Sequence[TrafficSelector], Sequence[TrafficSelector], Assignment | None],
    tuple[tuple[TrafficSelector, ...], tuple[TrafficSelector, ...]] | None,
]


@dataclass
class ResponderConfig(_Common):
    """HA configuration (contract D): one object serves every UE."""

    eap_server_factory: Callable[[str], Any] | None = None
    """``factory(peer_identity) -> EapAkaServer``-like (``start()``, ``process()``, ``state``,
    ``msk``, ``permanent_identity``). When set, initiators without AUTH get EAP."""
    address_assigner: Callable[[str, str | None], Assignment] | None = None
    """``assigner(peer_identity, apn)`` → Assignment, or raise to refuse
    (INTERNAL_ADDRESS_FAILURE). ``apn`` is the IDr FQDN the UE sent, if any."""
    ts_policy: TsPolicy = _default_ts_policy
    half_open_limit: int = 1000
    """Half-open IKE SAs beyond which new IKE_SA_INIT requests are dropped."""
    cookie_threshold: int = 100
    """Half-open IKE SAs from which a COOKIE is demanded (RFC 7296 §2.6)."""
    half_open_timeout: float = 30.0
    """Seconds an IKE SA may stay not yet authenticated."""
    keyed_cipher_sas: int | None = None
    """How many of the newest IKE SAs keep their SK payload's keyed AEAD cipher objects
    (two per SA, ~2.3 KB of OpenSSL memory each) until they are established; an SA beyond
    that keys one per message (~9 k instructions each). None: ``cookie_threshold`` (more
    attaches in flight than that is a storm; memory is bounded, the HA's instructions per
    attach of a 1000-UE storm rise 1.8 %)."""
    redirect: Callable[[str, str | None], str | None] | None = None
    """``redirect(peer_address, peer_identity_or_None)`` → new gateway address to send the UE
    to (RFC 5685), or None. Called at IKE_SA_INIT (identity None) and IKE_AUTH."""
    require_eap: bool = False
    """Refuse initiators that authenticate without EAP."""

    def __init__(self, identity: Any, **kw: Any) -> None:
        _fill(self, identity, kw, "ResponderConfig")
        _norm_common(self)
        if self.keyed_cipher_sas is not None and self.keyed_cipher_sas < 1:
            raise ConfigError("keyed_cipher_sas must be at least 1 (or None)")
        if self.peer_psk is None and self.eap_server_factory is None and not self.trust_anchors:
            raise ConfigError("no way to authenticate initiators (peer_psk, EAP or trust_anchors)")
