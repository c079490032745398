"""The Home Agent: sans-I/O DSMIPv6 procedures of the PDN GW side (TS 24.303 §5, RFC 6275
§10, RFC 5555 §4.5, RFC 4877, RFC 5846 §7, RFC 5142 §5).

Theory of operation
-------------------
One ``HomeAgent`` object serves every UE. It owns:

* one IKEv2 responder (contract D, built by ``ike_factory``) that authenticates UEs with
  EAP-AKA and asks :meth:`HomeAgent._assign` for a home network prefix (one per UE and APN,
  from :class:`~dsmip6.pools.PrefixPool`);
* per UE and APN a *signalling session*: the HoA-keyed ESP transport SA pair that the child
  SA of CREATE_CHILD_SA gives (RFC 4877 §4.4). A BU is accepted only when it arrived through
  that SA and names what the SA's identity was assigned;
* the binding cache entries (``_Bce``) whose state follows ``dsmip6._state.HA_TRANSITIONS``;
  the user plane is programmed only through the injected
  :class:`~dsmip6.dataplane_iface.DataPlane`;
* a :class:`~dsmip6._timers.TimerTable` with named timers: ``("life", hoa)`` binding
  lifetime / tombstone, ``("bri", hoa)`` revocation retransmission, ``("has", hoa)`` HA Switch
  retransmission; plus the IKE engine's own timer.

Inputs: ``receive_datagram(data, src, dst, now)`` (IKE on ports 500/4500, MH as raw IPv6 with
port 0 or UDP 4191 payload), ``handle_timer(now)``, and the API calls ``revoke``,
``withdraw_subscription``, ``switch_home_agent``. Outputs: ``datagrams_to_send(now)``,
``next_event()``, ``get_timer()``. Drops are counted in :attr:`HomeAgent.counters`.

BU processing follows procedures.md §1.6.2 in its order; each step cites its clause.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any

from dsmip6 import _ike, _mh, _mpd, _state
from dsmip6._frozen import builder
from dsmip6._mh import MIP_UDP_PORT, Addr, Ba, Be, Bra, Bri, Bu, Has, Ipv4AckOpt, NatDetectionOpt
from dsmip6._mpd import Mpa, Mps, PrefixInfo
from dsmip6._sec import EspSa, compact_esp_sa, esp_sa
from dsmip6._state import (
    HA_TRANSITIONS,
    BceState,
    BuAccepted,
    BuDeregister,
    IkeSaDeleted,
    LifetimeOver,
    RevocationDone,
    RevokeRequested,
    SwitchRequested,
)
from dsmip6._timers import IntTimerTable, backoff
from dsmip6.config import (
    BRI_MAX_RETRIES,
    INIT_MIN_DELAY_BRIS,
    INITIAL_HA_SWITCH_TIMEOUT,
    MAX_BRACK_TIMEOUT,
    MAX_HA_SWITCH_TIMEOUT,
    HomeAgentConfig,
)
from dsmip6.dataplane_iface import BindingSpec, DataPlane, Encapsulation
from dsmip6.errors import CacheError, EspError, LocalProtocolError, MalformedPacket, RateLimited
from dsmip6.events import (
    BindingDeleted,
    BindingExpired,
    BindingRevoked,
    BindingUpdateRejected,
    Event,
    binding_created,
    binding_updated,
)
from dsmip6.pools import Ipv4Pool, PoolExhausted, PrefixPool, addr6, net6

__all__ = ["HomeAgent", "BA_STATUS"]

#: BA status codes (RFC 6275 §6.1.8, RFC 3963 §6.2, RFC 5555 §4.5; procedures.md §9.4).
BA_STATUS = {
    "accepted": 0,
    "unspecified": 128,
    "prohibited": 129,
    "resources": 130,
    "home-reg-not-supported": 131,
    "not-home-subnet": 132,
    "not-ha-for-mn": 133,
    "dad-failed": 134,
    "seq-out-of-window": 135,
    "reg-type-change": 139,
    "mr-not-permitted": 140,
    "forwarding-failed": 143,
    "udp-forced-refused": 144,
    "invalid-coa": 174,
}

NAT_NO_KEEPALIVE = 0xFFFFFFFF
#: Seconds a new IKE SA stays unparked waiting for the UE's CREATE_CHILD_SA (the engine's
#: ``park_hold``): a round trip plus a few retransmissions of that request.
IKE_PARK_HOLD = 5.0
_ZERO4 = IPv4Address(0)
_BCAST4 = IPv4Address("255.255.255.255")  # RFC 5555 §3.2.2: all-ones = no keepalives needed


_V6_MAX = (1 << 128) - 1
_ICMPV6 = _mpd.ICMPV6
_MH_PROTOCOL = _ike.MH_PROTOCOL
# IKE events the HA acts on, by class name (contract D): 1 a child SA, 2 an IKE SA up, 3 an
# IKE SA deleted (0: ignored); and that meaning cached per event class.
_IKE_KIND_NAMES = {"ChildSaEstablished": 1, "IkeSaEstablished": 2, "IkeSaDeleted": 3}
_IKE_KINDS: dict[type, int] = {}
# Timer names are integers (one IntTimerTable): the HoA for the binding lifetime/tombstone,
# the HoA plus one of these kinds above bit 128 for the BRI and HAS retransmissions.
_BRI_TIMER = 1 << 128
_HAS_TIMER = 2 << 128
_TIMER_KINDS = {"life": 0, "bri": _BRI_TIMER, "has": _HAS_TIMER}
_FLAGS: dict[int, int] = {}  # interned BU flag words (BindingSpec.flags)
#: Granted lifetimes in seconds by 4-s units: one float object per value in use (a handful:
#: the policy maximum, the usual requests), shared by every BCE and BindingSpec holding it.
_LIFETIMES: dict[int, float] = {}
#: The BU flags a BindingSpec records: A, H, L, K, R (RFC 6275 §6.1.7, RFC 3963 §4.1).
_SPEC_FLAG_BITS = 0x8000 | 0x4000 | 0x2000 | 0x1000 | 0x0400
_IP_IN_IPV6 = Encapsulation.IP_IN_IPV6
_IP_IN_IPV4, _UDP_IPV4 = Encapsulation.IP_IN_IPV4, Encapsulation.UDP_IPV4
# BCE states as module constants: reading a member off an Enum class is ~10x a plain
# attribute read, and hashing a member is a Python-level call; the BU path needs neither.
_ACTIVE, _REVOKING = BceState.ACTIVE, BceState.REVOKING
_SWITCHING, _TOMBSTONE = BceState.SWITCHING, BceState.TOMBSTONE
#: HA_TRANSITIONS[state][BuAccepted], keyed by the state's name (a str hashes in C).
_ON_ACCEPTED = {s._name_: row[BuAccepted] for s, row in HA_TRANSITIONS.items() if BuAccepted in row}


def _not_unicast(addr: IPv6Address | IPv4Address) -> bool:
    """Unspecified, loopback or multicast (RFC 4291 §2.5.2/§2.5.3/§2.7; RFC 1122 §3.2.1.3)
    — the integer tests the ipaddress properties make, without their overhead."""
    i = int(addr)
    if isinstance(addr, IPv6Address):
        return i <= 1 or i >> 120 == 0xFF
    return i == 0 or i >> 24 == 127 or i >> 28 == 0xE or i == 0xFFFFFFFF


def _not_unicast6(i: int) -> bool:
    return i <= 1 or i >> 120 == 0xFF


def _not_unicast4(i: int) -> bool:
    return i == 0 or i >> 24 == 127 or i >> 28 == 0xE or i == 0xFFFFFFFF


def _i6(text: str) -> int:
    """IPv6 text (as ``dsmip6.wire`` formats it) -> int, through the C parser."""
    return int.from_bytes(inet_pton(AF_INET6, text), "big")


def _i4(text: str) -> int:
    return int.from_bytes(inet_pton(AF_INET, text), "big")


def _t6(i: int) -> str:
    """int -> IPv6 text (RFC 5952): the text of glibc's inet_ntop (the C formatter ``_mh.s6``
    uses), written by ``_core.mhfast.ntop6`` (the same text without the C library's per-word
    ``sprintf``: ~1 k instructions instead of ~5 k)."""
    ntop = _NTOP6[0] if _NTOP6 else _ntop6()
    return ntop(i.to_bytes(16, "big"))


_NTOP6: list[Callable[[bytes], str]] = []  # dsmip6._core.mhfast.ntop6, imported at first use


def _ntop6() -> Callable[[bytes], str]:
    from dsmip6._core.mhfast import ntop6

    _NTOP6.append(ntop6)
    return ntop6


def _t4(i: int) -> str:
    return inet_ntop(AF_INET, i.to_bytes(4, "big"))


_NEW = object.__new__
_ha_assignment = builder(_ike.HaAssignment)  # = HaAssignment(...), cheaper (dsmip6._frozen)


_a6 = addr6  # IPv6Address(i) for a valid address int, without the constructor's checks


def _a4(i: int) -> IPv4Address:
    """``IPv4Address(i)`` for a valid address int (as :func:`dsmip6.pools.addr6` for IPv6)."""
    a = _NEW(IPv4Address)
    a._ip = i
    return a


def _encap(bce: _Ue) -> tuple[Encapsulation, int | None]:
    """The data plane's encapsulation of ``bce`` and its UDP port: IP-in-IPv6 to an IPv6
    CoA; to an IPv4 CoA, UDP when NAT was detected or the F flag forces it (RFC 5555
    §4.1), else IP-in-IPv4."""
    udp = bce.udp_peer
    if udp is None:
        return _IP_IN_IPV6, None
    if bce.nf:
        return _UDP_IPV4, udp[1]
    return _IP_IN_IPV4, None


def _spec_of(bce: _Ue, flags: int) -> BindingSpec:
    """The :class:`BindingSpec` of ``bce`` for the data plane, built from the record's ints
    (a transient object: the HA keeps none)."""
    enc, port = _encap(bce)
    coa = _a6(bce.coa_i) if enc is _IP_IN_IPV6 else _a4(bce.coa_i)
    v4 = bce.v4_i
    return BindingSpec.of(
        _a6(bce.hoa_i),
        net6(bce.pfx, bce.plen),
        coa,
        enc,
        bce.lifetime,
        bce.expires,
        bce.seq,
        flags,
        None if v4 is None else _a4(v4),
        port,
    )


_RANGE: Any = ("range",)  # ``_mh_child``'s answer for the HNP child of IKE_AUTH
_ADDR_TYPES = (IPv6Address, IPv4Address)


def _ts_readable(ts: Any) -> bool:
    """True when ``_mpd.mpd_child``'s reading of the selector list ``ts`` cannot raise: a
    tuple or list of selectors whose protocols are plain ints and whose ICMPv6 selectors
    hold address objects. A malformed list (a protocol that is not an int, an address that
    is text or missing) is left to that reading, which refuses it (raises) as it always
    did; the shortcuts of ``_mh_child`` and ``HomeAgent._mpd_child`` are taken only when
    this holds, so they skip nothing it would have refused."""
    if type(ts) is not tuple and type(ts) is not list:
        return False
    for sel in ts:
        proto = getattr(sel, "protocol", 0)  # missing: 0, as ``_mpd._single_icmp`` reads it
        if type(proto) is not int:
            return False
        if proto == _ICMPV6 and (
            type(getattr(sel, "start", None)) not in _ADDR_TYPES
            or type(getattr(sel, "end", None)) not in _ADDR_TYPES
        ):
            return False
    return True


def _mh_child(child: Any) -> Any:
    """What the HA's child handling needs to know of a child SA, from the plain values of
    its selectors: ``_RANGE`` when TSi is one Mobility Header selector over an IPv6 range
    of more than one address (the HNP child of IKE_AUTH: neither the HoA-keyed signalling
    SA, whose TSi is one address — RFC 4877 §4.4 — nor the MPD SA, ICMPv6 — §6.3 — what
    ``_ike.ha_mh_selectors`` and ``HomeAgent._mpd_child`` conclude from such a TSi,
    whatever TSr is, once TSr is well formed: ``_ts_readable``); ``(HoA, HA address)``
    when both are one IPv6 address with protocol 135 (``ha_mh_selectors``'s answer, the
    very objects); None when they must be asked."""
    ts_i = child.ts_i
    if type(ts_i) is not tuple or len(ts_i) != 1:
        return None
    i = ts_i[0]
    start, end, proto = i.start, i.end, i.protocol
    if (
        type(start) is not IPv6Address
        or type(end) is not IPv6Address
        or type(proto) is not int
        or proto != _MH_PROTOCOL
    ):
        return None
    if start._ip != end._ip:
        # not the MH SA nor the MPD SA whatever TSr is, once TSr is well formed
        return _RANGE if _ts_readable(child.ts_r) else None
    ts_r = child.ts_r
    if start._scope_id != end._scope_id or type(ts_r) is not tuple or len(ts_r) != 1:
        return None
    r = ts_r[0]
    ha, end, proto = r.start, r.end, r.protocol
    if (
        type(ha) is IPv6Address
        and type(end) is IPv6Address
        and type(proto) is int
        and proto == _MH_PROTOCOL
        and ha._ip == end._ip
        and ha._scope_id == end._scope_id
    ):
        return start, ha
    return None


def seq_newer(received: int, last: int) -> bool:
    """RFC 6275 §9.5.1: ``received`` is newer than ``last`` modulo 2^16 (last and the 32768
    values before it are stale)."""
    return 0 < ((received - last) & 0xFFFF) < 0x8000


class _Ue:
    """One UE's PDN connection at the HA — its session (IKE SA, HNP, HoA-keyed signalling SA
    pair) and its binding cache entry (procedures.md §0.3) — in ONE slotted record, the only
    Python object the HA keeps per registered UE (the data plane keeps none: it reads the
    ``BindingSpec`` built from this record into its Rust record and drops it).

    Session part: ``owner`` is the pools' key ``(identity, apn)``, ``pfx``/``plen`` the HNP
    the IKE SA assigned as (network int, length), ``hoa_i`` the HoA the signalling SA was
    created for (RFC 4877 §4.4; also the BCE key). Binding part: the BCE fields, their state
    following ``dsmip6._state.HA_TRANSITIONS``; the record is in ``HomeAgent._bce`` exactly
    while the entry exists. Addresses are ints (``coa_i``, ``v4_i``); the properties
    ``prefix``, ``hoa``, ``coa``, ``ipv4_hoa`` and ``spec`` build the objects on demand.
    ``dpf`` is the flag word of the binding the data plane holds (None: none, or not known
    exactly), what a lifetime refresh compares to renew in place. The revocation / HA Switch
    fields (rare) live in one list, ``_aux``, only while used.

    The record serves as both roles: ``session`` is the record itself — except for a
    *detached* binding (``_home`` set): when a session's signalling SA moves to another HoA
    while a binding of the old one exists, that binding keeps a copy of the record and points
    to the session through ``_home``."""

    __slots__ = (
        "owner",
        "ike_sa_id",
        "pfx",
        "plen",
        "hoa_i",
        "sa",
        "ike_mid",
        "_home",
        "state",
        "seq",
        "coa_i",
        "udp_peer",
        "nf",
        "v4_i",
        "lifetime",
        "expires",
        "dpf",
        "_aux",
    )

    def __init__(self, owner: tuple[str, str | None], ike_sa_id: object, prefix: IPv6Network):
        self.owner = owner
        self.ike_sa_id = ike_sa_id
        #: The HNP as (network int, length): no ``IPv6Network`` per UE (``prefix`` builds one).
        self.pfx: int = prefix.network_address._ip
        self.plen: int = prefix._prefixlen
        #: The HoA of the signalling SA as an int (``hoa`` builds the address object).
        self.hoa_i: int | None = None
        #: The signalling SA pair: one object serving both directions (``MhSaPair``), or an
        #: (inbound, outbound) tuple from another ``sa_factory``; ``sa_in``/``sa_out`` read it.
        self.sa: Any = None
        #: Message ID of the IKE response that carried the signalling SA while the IKE side
        #: still caches it for retransmissions (dropped at the first BU under that SA).
        self.ike_mid: int | None = None
        self._home: _Ue | None = None
        self.clear_binding()

    def clear_binding(self) -> None:
        """The binding part of a new entry (state ABSENT)."""
        self.state = BceState.ABSENT
        self.seq = 0
        #: The CoA as an int: IPv4 exactly when ``udp_peer`` is set (RFC 5555: an IPv4 CoA
        #: only comes over UDP 4191), IPv6 otherwise; ``coa`` builds the address object.
        self.coa_i: int | None = None
        self.udp_peer: Addr | None = None
        #: NAT detected (1) | UDP forced by the F flag (2), RFC 5555 §4.1.
        self.nf = 0
        #: The IPv4 HoA as an int, or None (``ipv4_hoa`` builds the address object).
        self.v4_i: int | None = None
        self.lifetime = 0.0
        self.expires = 0.0
        #: The BU flag word of the binding the data plane holds (the record's fields are the
        #: rest of it), or None when it holds none or what it holds is not known exactly.
        self.dpf: int | None = None
        self._aux: list[Any] | None = None

    @property
    def sa_in(self) -> Any:
        sa = self.sa
        return sa[0] if type(sa) is tuple else sa

    @property
    def sa_out(self) -> Any:
        sa = self.sa
        return sa[1] if type(sa) is tuple else sa

    @property
    def nat(self) -> bool:
        return bool(self.nf & 1)

    @property
    def forced(self) -> bool:
        return bool(self.nf & 2)

    # The address objects, built on demand from the ints the record keeps.
    @property
    def prefix(self) -> IPv6Network:
        return net6(self.pfx, self.plen)

    @property
    def hoa(self) -> IPv6Address | None:
        return None if self.hoa_i is None else _a6(self.hoa_i)

    @property
    def coa(self) -> IPv6Address | IPv4Address | None:
        i = self.coa_i
        if i is None:
            return None
        return IPv4Address(i) if self.udp_peer is not None else IPv6Address(i)

    @property
    def ipv4_hoa(self) -> IPv4Address | None:
        return None if self.v4_i is None else _a4(self.v4_i)

    @property
    def spec(self) -> BindingSpec | None:
        """The binding the data plane was last handed (rebuilt), or None."""
        return None if self.dpf is None else _spec_of(self, self.dpf)

    def detached(self) -> _Ue:
        """A copy holding this record's binding (its HoA included), pointing here."""
        copy = _Ue.__new__(_Ue)
        for name in _Ue.__slots__:
            setattr(copy, name, getattr(self, name))
        copy._home = self
        return copy

    @property
    def session(self) -> _Ue:
        """The session this binding belongs to (the record itself unless detached)."""
        home = self._home
        return self if home is None else home

    @property
    def identity(self) -> str:
        return self.owner[0]

    @property
    def apn(self) -> str | None:
        return self.owner[1]

    def _aux_list(self) -> list[Any]:
        aux = self._aux
        if aux is None:
            aux = self._aux = [0, 0, 0, ()]
        return aux

    # revocation (RFC 5846) and HA Switch (RFC 5142) state: BRI sequence number, trigger,
    # retransmissions sent, the addresses offered
    @property
    def bri_seq(self) -> int:
        return 0 if self._aux is None else self._aux[0]  # type: ignore[no-any-return]

    @bri_seq.setter
    def bri_seq(self, value: int) -> None:
        self._aux_list()[0] = value

    @property
    def bri_trigger(self) -> int:
        return 0 if self._aux is None else self._aux[1]  # type: ignore[no-any-return]

    @bri_trigger.setter
    def bri_trigger(self, value: int) -> None:
        self._aux_list()[1] = value

    @property
    def retries(self) -> int:
        return 0 if self._aux is None else self._aux[2]  # type: ignore[no-any-return]

    @retries.setter
    def retries(self, value: int) -> None:
        self._aux_list()[2] = value

    @property
    def has_addresses(self) -> tuple[IPv6Address, ...]:
        return () if self._aux is None else self._aux[3]  # type: ignore[no-any-return]

    @has_addresses.setter
    def has_addresses(self, value: tuple[IPv6Address, ...]) -> None:
        self._aux_list()[3] = value


# The two roles of the one record (names kept for readers and type hints).
_Session = _Bce = _Ue


class _BuIn:
    """A received BU reduced to what the ordered checks read: addresses as ints, flags and
    options. Built either from the flat tuple of ``dsmip6._core.mhfast.open_bu`` (the direct
    path, ``rx`` None) or from a :class:`~dsmip6._mh.Received`."""

    __slots__ = (
        "rx",
        "spi",
        "src",
        "dst",
        "udp",
        "hoa",
        "src6",
        "seq",
        "life4",
        "h",
        "k",
        "r",
        "f",
        "flags",
        "alt",
        "v4hoa",
        "v4plen",
        "v4coa",
        "hao",
    )

    rx: _mh.Received | None
    alt: int | None
    v4hoa: int | None
    v4coa: int | None

    @classmethod
    def from_received(cls, rx: _mh.Received) -> _BuIn:
        bu: Bu = rx.message  # type: ignore[assignment]
        route = rx.route
        v = cls()
        v.rx = rx
        v.spi = rx.spi
        v.src = route.src
        v.dst = route.dst
        v.udp = route.udp
        v.hoa = int(route.mh_src)
        v.hao = route.hao is not None
        v.src6 = int(route.ip6_src)
        v.seq = bu.sequence
        v.life4 = bu.lifetime_4s
        v.h, v.k, v.r, v.f = bu.h, bu.k, bu.r, bu.f
        v.flags = (bu.a << 15) | (bu.h << 14) | (bu.l << 13) | (bu.k << 12) | (bu.r << 10)
        v.alt = None if bu.alt_coa is None else int(bu.alt_coa)
        if bu.ipv4_hoa is None:
            v.v4hoa, v.v4plen = None, 32
        else:
            v.v4hoa, v.v4plen = int(bu.ipv4_hoa.address), bu.ipv4_hoa.prefix_len
        v.v4coa = None if bu.ipv4_coa is None else int(bu.ipv4_coa)
        return v


class _Mpd:
    """The Mobile Prefix Discovery SA pair of one UE (RFC 4877 §6.3): allocated only when the
    UE negotiates it (after a BA with status 1), so it costs nothing in the steady state."""

    __slots__ = ("session", "sa_in", "sa_out", "last_mpa", "answered")

    def __init__(self, session: _Session, sa_in: Any, sa_out: Any) -> None:
        self.session = session
        self.sa_in = sa_in
        self.sa_out = sa_out
        #: When the last MPA left (RFC 6275 §6.8: at most one per second per UE).
        self.last_mpa: float | None = None
        #: True once an MPA answered a solicitation of this UE: BAs stop asking (status 1).
        self.answered = False


class HomeAgent:
    """The HA; see the module docstring."""

    def __init__(
        self,
        config: HomeAgentConfig,
        *,
        dataplane: DataPlane,
        ike_factory: Callable[[Callable[[str, str | None], _ike.HaAssignment]], Any],
        signalling: _mh.Signalling | None = None,
        sa_factory: Callable[[Any], Any] = esp_sa,
    ) -> None:
        self.config = config
        self.dataplane = dataplane
        # Optional DataPlane method for lifetime refreshes (RustDataPlane has it).
        self._renew: Callable[[BindingSpec], None] | None = getattr(
            dataplane, "renew_binding", None
        )
        # ... the spec-less form of add_binding (RustDataPlane.add_fields) ...
        self._add_fields: Callable[..., None] | None = getattr(dataplane, "add_fields", None)
        # ... and of renew_binding (RustDataPlane.renew_fields).
        self._renew_fields: Callable[[int, float, float, int], None] | None = getattr(
            dataplane, "renew_fields", None
        )
        self.signalling: _mh.Signalling = signalling or _mh.WireSignalling()
        # The real codec gets the direct BU path (parse once, no dataclasses, BA in one build).
        self._wire = self.signalling if isinstance(self.signalling, _mh.WireSignalling) else None
        self._open_bu: Callable[[bytes], Any] | None = None
        if self._wire is not None:
            from dsmip6._core import mhfast  # the Rust codec's BU/BA fast path

            self._open_bu = mhfast.open_bu
            self._ba_packet = mhfast.ba_packet
        # The HA never re-creates an SA from its spec: keep only the Rust SA per direction.
        self.sa_factory = compact_esp_sa if sa_factory is esp_sa else sa_factory
        self._apns = {a: a for a in config.apns}
        self.hnp_pool = PrefixPool(config.home_pool, config.home_prefix_len)
        self.ipv4_pool = Ipv4Pool(config.ipv4_pool) if config.ipv4_pool is not None else None
        self.ike = ike_factory(self._assign)
        # Optional engine methods (contract D extensions of our IkeResponder), looked up once.
        self._last_response_id: Callable[[object], int | None] | None = getattr(
            self.ike, "last_response_id", None
        )
        self._endpoints: Callable[[object], Any] | None = getattr(self.ike, "endpoints", None)
        self._ike_next_event: Callable[[], Any] = self.ike.next_event
        # Our engines queue their events in a deque (``Engine._events``) that ``next_event``
        # pops: the HA reads that deque itself (empty after most IKE_AUTH rounds: nothing to
        # drain; a pop per event, no call). Any other engine is asked through ``next_event``.
        self._ike_events: deque[Any] | None = _ike.event_queue(self.ike)
        # Our engine hands its output over in a fresh list (passed on as ours when we have
        # nothing to add); any other engine's list is copied into ours.
        self._ike_hands_over = _ike.hands_over_output(self.ike)
        if hasattr(self.ike, "park_hold"):
            # After IKE_AUTH the UE asks at once for the HoA-keyed MH SA (RFC 5026 §5.3.2):
            # the engine keeps a new IKE SA working until that exchange (or this long).
            self.ike.park_hold = IKE_PARK_HOLD
        self.timers = IntTimerTable()
        self.counters: dict[str, int] = {}
        self._out: list[tuple[bytes, Addr, Addr]] = []
        self._events: deque[Event] = deque()
        self._sessions: dict[tuple[str, str | None], _Session] = {}
        # ike_sa_id -> its session (a list in the rare case of several).
        self._by_ike: dict[object, _Session | list[_Session]] = {}
        self._by_spi: dict[int, _Session] = {}
        self._bce: dict[int, _Bce] = {}
        # Mobile Prefix Discovery SAs (RFC 4877 §6.3), by inbound SPI and by HoA: empty
        # unless a UE negotiated one (see _mpd_child).
        self._mpd: dict[int, _Mpd] = {}
        self._mpd_by_hoa: dict[int, _Mpd] = {}
        self._bri_seq = 0
        # HA Switch (RFC 5142 §5): HoA -> (deletion time, first retransmission wait) for the
        # switches that carry a Binding Refresh Advice; HoAs whose HAS timer is a reserved
        # transmission slot; the next free slot of MAX-HA-SWITCH-TRANSMIT-RATE (§8, all UEs).
        self._has_advice: dict[int, tuple[float, float]] = {}
        self._has_reserved: set[int] = set()
        self._has_free = 0.0
        # Per-UE budget (token buckets on the injected clock, see _admit): a fixed table of
        # ue_rate_slots (tokens, last update) pairs, full at start, held by the Rust
        # ``mhfast.RateTable`` (the same arithmetic as the Python buckets it replaced, one
        # call per packet). Off (no slots) when ue_rate_limit is None.
        from dsmip6._core.mhfast import RateTable

        self._rate = config.ue_rate_limit or 0.0
        slots = config.ue_rate_slots if self._rate else 0
        self._rates = RateTable(slots, self._rate, float(config.ue_rate_burst))
        self._now = 0.0
        self._ha6_i = int(config.address6)
        self._ike6: Addr = (str(config.address6), 500)
        # Step 9 bound: policy maximum and the prefix valid lifetime, in 4-s units.
        self._max_life4 = min(config.max_lifetime_4s, int(config.prefix_valid_lifetime) >> 2)
        has: tuple[IPv6Address | IPv4Address, ...] = (config.address6,)
        if config.address4 is not None:
            has = has + (config.address4,)
        self._ha_addresses = has
        self._local6: Addr = (str(config.address6), 0)
        self._local4: Addr | None = (
            (str(config.address4), MIP_UDP_PORT) if config.address4 is not None else None
        )

    # ------------------------------------------------------------------ sans-I/O surface
    def receive_datagram(self, data: bytes, src: Addr, dst: Addr, now: float) -> None:
        """Feed one received datagram (see :mod:`dsmip6._mh` for the addressing model)."""
        port = dst[1]
        if port in (500, 4500):
            # this UE's budget spent: dropped before the IKE decryption. The budget is the
            # one of the IKE SA the request names by our SPI (RFC 7296 §3.1: the responder's
            # SPI when the original initiator sent it, else the initiator's), established
            # SAs only (IKE_SA_INIT, with a zero responder SPI, is the engine's business:
            # cookies, §2.6): ``RateTable.admit_ike`` reads the header (any buffer: as bytes)
            if self._rate and not self._rates.admit_ike(
                data if type(data) is bytes else bytes(data), port, now
            ):
                self._count("ike-rate-limited")
                return
            self.ike.receive_datagram(data, src, dst, now)
            events = self._ike_events
            if events is None or events:
                self._drain_ike(now)
            return
        if port not in (0, MIP_UDP_PORT):
            self._count("wrong-port")
            return
        if port == MIP_UDP_PORT and data[:1] and data[0] >> 4 == 4:
            self._count("udp-user-plane")  # IPv4 user data in UDP: the data plane's job
            return
        wire = self._wire
        direct: _BuIn | None = None
        self._now = now  # for the per-UE budget checked in _find_sa_in, before decryption
        try:
            if wire is not None:
                spi, plain = wire.unprotect(data, self._find_sa_in)
                # A BU (the common case) is read by one Rust call; anything else (or a BU
                # while a handler override is installed) walks the parsed layers.
                bu = None
                if (
                    type(plain) is bytes
                    and self._HANDLERS.get(Bu) is _ON_BU
                    and not (self._mpd and spi in self._mpd)
                ):
                    bu = self._open_bu(plain)  # type: ignore[misc]
                if bu is not None:
                    direct = self._bu_in(spi, bu, src, dst)
                else:
                    ip6, hao, rh2, mh = wire.open_plain(spi, plain)[1:]
                    rx = wire.received(spi, ip6, hao, rh2, mh, src, dst)
            else:
                rx = self.signalling.decode(data, src, dst, self._find_sa_in)
        except MalformedPacket as exc:
            self._count("bad-checksum" if type(exc).__name__ == "BadChecksum" else "malformed")
            return
        except EspError as exc:
            self._count(f"esp-{type(exc).__name__}")
            return
        if direct is not None:
            self._bu(direct, now)
            return
        if self._mpd and rx.spi in self._mpd and type(rx.message) is not Mps:
            # RFC 4877 §6.3: the MPD SA's selectors admit MPS only (in): anything else that
            # came through it is a selector mismatch (RFC 4301 §5.2).
            self._count("mpd-sa-selector-mismatch")
            return
        handler = self._HANDLERS.get(type(rx.message))
        if handler is None:
            self._count("unexpected-mh")
            return
        handler(self, rx, now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr, Addr]]:
        """Everything to transmit now: ``(data, src, dst)``."""
        out = self._out
        if not out and self._ike_hands_over:
            return self.ike.datagrams_to_send(now)  # (IKE's own fresh list: nothing of ours)
        self._out = []
        out.extend(self.ike.datagrams_to_send(now))
        return out

    def next_event(self) -> Event | None:
        """The next procedure event, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest deadline of the HA and its IKE engine."""
        mine = self.timers.next_deadline()
        ike = self.ike.get_timer()
        if mine is None:
            return ike
        return mine if ike is None else min(mine, ike)

    def timer_deadline(self, kind: str, hoa: IPv6Address) -> float | None:
        """The deadline of one of the HA's timers of ``hoa``: ``"life"`` (binding lifetime or
        tombstone), ``"bri"`` (revocation retransmission) or ``"has"`` (HA Switch)."""
        return self.timers.get(_TIMER_KINDS[kind] | int(hoa))

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now``."""
        ike = self.ike.get_timer()
        if ike is not None and ike <= now:
            self.ike.handle_timer(now)
            self._drain_ike(now)
        for name in self.timers.pop_due(now):
            hoa = name & _V6_MAX
            bce = self._bce.get(hoa)
            if bce is None:
                continue
            kind = name >> 128
            if kind == 0:
                self._on_lifetime(hoa, bce, now)
            elif kind == 1:
                self._on_bri_timer(hoa, bce, now)
            else:
                self._on_has_timer(hoa, bce, now)

    # ------------------------------------------------------------------ API
    def bindings(self) -> dict[IPv6Address, BceState]:
        """HoA -> state of every BCE (tombstones included)."""
        return {bce.hoa: bce.state for bce in self._bce.values()}

    def binding(self, hoa: IPv6Address) -> _Bce | None:
        """The BCE for ``hoa`` (read-only use)."""
        return self._bce.get(int(hoa))

    def session_count(self) -> int:
        """Number of authenticated PDN connections (IKE SAs with an HNP)."""
        return len(self._sessions)

    def ike_sas_in_flight(self) -> int:
        """IKE SAs not yet authenticated (attaches between IKE_SA_INIT and the MSK AUTH):
        what an attach storm holds per UE beyond its sessions. 0 for an IKE engine that
        does not count them."""
        count = getattr(self.ike, "half_open_count", None)
        return count() if count is not None else 0

    def revoke(self, hoa: IPv6Address, now: float, *, trigger: int = 1) -> None:
        """Network-initiated detach (RFC 5846 §7; TS 24.303 Annex A.6: trigger 1
        Administrative Reason). Without an active binding, only the IKE SA is deleted."""
        key = int(hoa)
        bce = self._bce.get(key)
        if bce is None or bce.state in (BceState.TOMBSTONE, BceState.REVOKING):
            for s in self._sessions.values():
                if s.hoa_i == key:
                    self._delete_ike(s.ike_sa_id, now)
                    return
            raise LocalProtocolError(f"HA: no binding or session for {hoa}")
        self._move(bce, RevokeRequested)
        self._bri_seq = (self._bri_seq + 1) & 0xFFFF
        bce.bri_seq = self._bri_seq
        bce.bri_trigger = trigger
        bce.retries = 0
        self._send_bri(bce)
        # RFC 5846 §11: InitMINDelayBRIs before the first retransmission.
        self.timers.set(_BRI_TIMER | key, now + INIT_MIN_DELAY_BRIS)

    def withdraw_subscription(self, identity: str, now: float) -> int:
        """Revoke every PDN connection of ``identity`` (subscription withdrawn); returns how
        many were revoked."""
        n = 0
        for s in [s for s in self._sessions.values() if s.owner[0] == identity]:
            if s.hoa_i is not None:
                self.revoke(IPv6Address(s.hoa_i), now)
            else:
                self._delete_ike(s.ike_sa_id, now)
            n += 1
        return n

    def switch_home_agent(
        self,
        hoa: IPv6Address,
        now: float,
        addresses: tuple[IPv6Address, ...] | None = None,
        *,
        refresh_advice: float | None = None,
    ) -> None:
        """Move a registered UE to other HAs with a Home Agent Switch (RFC 5142 §5).

        ``refresh_advice`` (seconds, at least 4): how long this HA keeps serving; the HAS then
        carries a Binding Refresh Advice (§5.1: time until the binding is deleted, 4-s units,
        never beyond the binding's lifetime) and the binding is deleted at that time. Without
        it the binding is served until its lifetime ends; refreshes meanwhile get BA 129.
        HAS messages leave at most ``max_ha_switch_transmit_rate`` per second across UEs
        (MAX-HA-SWITCH-TRANSMIT-RATE, §8): a switch over the rate is sent at the next slot."""
        key = int(hoa)
        bce = self._bce.get(key)
        if bce is None or bce.state is not BceState.ACTIVE:
            raise LocalProtocolError(f"HA: no active binding for {hoa}")
        if refresh_advice is not None and not 4.0 <= refresh_advice:
            raise LocalProtocolError(f"HA: refresh_advice {refresh_advice!r} is below 4 s")
        self._move(bce, SwitchRequested)
        bce.has_addresses = (
            tuple(addresses) if addresses is not None else self.config.extra_ha_addresses
        )
        bce.retries = 0
        self._has_reserved.discard(key)
        self._has_advice.pop(key, None)
        if refresh_advice is not None:
            until = min(now + refresh_advice, bce.expires)
            if until < bce.expires:
                bce.expires = until  # §5.1: the advice is when the binding goes
                self.timers.set(key, until)
            # §5.2: with the advice, retransmit after min(half its period, INITIAL) at the
            # earliest (then doubling up to MAX-HA-SWITCH-TIMEOUT).
            first = min((until - now) / 2.0, INITIAL_HA_SWITCH_TIMEOUT)
            self._has_advice[key] = (until, first)
        self._has_transmit(key, bce, now)

    # ------------------------------------------------------------------ IKE side
    def _assign(self, identity: str, apn: str | None) -> _ike.HaAssignment:
        """The IKEv2 address assigner: one HNP per (identity, APN) (TS 24.303 §4.1);
        raising refuses the CP request (INTERNAL_ADDRESS_FAILURE, RFC 4877 §9)."""
        if apn is not None:
            served = self._apns.get(apn)
            if served is None:
                raise LocalProtocolError(f"HA does not serve APN {apn!r}")
            apn = served  # the configuration's string object: one per APN, not one per UE
        try:
            prefix = self.hnp_pool.allocate((identity, apn))
        except PoolExhausted as exc:
            self._count("hnp-pool-exhausted")
            raise LocalProtocolError(str(exc)) from None
        return _ha_assignment(prefix, None, self._ha_addresses)

    def _drain_ike(self, now: float) -> None:
        """The IKE events the HA acts on (contract D, by class name like ``_ike.translate``;
        the name's meaning is looked up once per event class)."""
        events = self._ike_events
        next_event = self._ike_next_event
        while True:
            if events is None:
                ev = next_event()
                if ev is None:
                    return
            elif events:
                ev = events.popleft()  # Engine.next_event, inline
            else:
                return
            kind = _IKE_KINDS.get(type(ev))
            if kind is None:
                kind = _IKE_KINDS[type(ev)] = _IKE_KIND_NAMES.get(type(ev).__name__, 0)
            if kind == 1:
                self._on_child(ev, now)
            elif kind == 2:
                self._on_ike_up(ev)
            elif kind == 3:
                self._on_ike_down(ev.ike_sa_id, now)

    def _on_ike_up(self, ev: Any) -> None:
        prefix = _ike.ha_prefix(ev)
        if prefix is None:
            return
        owner = self.hnp_pool.owner(prefix)
        if owner is None:
            self._count("ike-unknown-prefix")
            return
        ike_sa_id = ev.ike_sa_id
        session = _Session(owner, ike_sa_id, prefix)  # type: ignore[arg-type]
        old = self._sessions.get(session.owner)
        if old is not None and old.ike_sa_id != ike_sa_id:
            self._forget_session(old)
        self._sessions[session.owner] = session
        known = self._by_ike.get(ike_sa_id)
        if known is None:
            self._by_ike[ike_sa_id] = session
        elif isinstance(known, list):
            known.append(session)
        else:
            self._by_ike[ike_sa_id] = [known, session]

    def _on_child(self, ev: Any, now: float) -> None:
        sessions = self._by_ike.get(ev.ike_sa_id)
        if not sessions:
            return
        session = sessions[-1] if isinstance(sessions, list) else sessions
        found = _mh_child(ev.child)
        if found is _RANGE:
            return  # the HNP child of IKE_AUTH: neither the MH SA nor the MPD SA
        if found is None:
            found = _ike.ha_mh_selectors(ev)
        if found is None:
            self._mpd_child(session, ev)  # the MPD SA, or a user-plane child SA
            return
        hoa_obj, ha_obj = found
        hoa = hoa_obj._ip  # int(hoa_obj)
        if (hoa ^ session.pfx) >> (128 - session.plen):  # the HoA must lie in the HNP
            self._count("child-hoa-outside-hnp")
            return
        sa = session.sa
        if sa is not None:
            self._by_spi.pop((sa[0] if type(sa) is tuple else sa).spi, None)
        old = session.hoa_i
        if old is not None and old != hoa and self._bce.get(old) is session:
            # A binding of the previous HoA stays as it was (its own HoA, this session).
            self._bce[old] = session.detached()
            session.clear_binding()
        session.hoa_i = hoa
        if self.sa_factory is compact_esp_sa:
            # The HA's own SAs straight from the child's keys (no SaSpec needed).
            sa = session.sa = _ike.compact_mh_sas(ev.child)[0]  # one pair, both directions
        else:
            spec_in, spec_out = ev.child.sa_specs(ha_obj, hoa_obj)
            sa = self.sa_factory(spec_in)
            session.sa = (sa, self.sa_factory(spec_out))
        self._by_spi[sa.spi] = session
        # The response that carried this SA (the UE asked for it: our response is the last
        # one cached) is kept by the IKE side for retransmitted requests (RFC 7296 §2.1);
        # remember which one, to release it at the first BU.
        last_id = self._last_response_id
        session.ike_mid = (
            None if last_id is None or ev.child.initiator else last_id(session.ike_sa_id)
        )

    def _ike_ends(self, ike_sa_id: object) -> tuple[Addr, Addr] | None:
        """The IKE SA's (local, remote) endpoints when the engine tells them (None if not):
        a K=1 move to the endpoints the SA already has changes nothing (RFC 4877 §7.4), so
        it is skipped — the attach's first BU names the CoA the IKE SA already runs on."""
        ends = self._endpoints
        if ends is None:
            return None
        try:
            found = ends(ike_sa_id)
        except LocalProtocolError:
            return None  # the move raises as it always did
        return found if type(found) is tuple else None

    def _response_delivered(self, session: _Session) -> None:
        """A BU authenticated by the session's signalling SA arrived: the UE knows that SA's
        inbound SPI (ours), which travelled only in the IKE response that created it, so it
        has that response and will not retransmit its request (RFC 7296 §2.1): the IKE side
        may drop the cached copy. The session then keeps no Message ID either."""
        mid, session.ike_mid = session.ike_mid, None
        self.ike.response_delivered(session.ike_sa_id, mid)

    def _forget_session(self, session: _Session) -> None:
        if self._mpd:
            self._mpd_forget(session)
        if session.sa_in is not None:
            self._by_spi.pop(session.sa_in.spi, None)
        if self._sessions.get(session.owner) is session:
            del self._sessions[session.owner]

    def _on_ike_down(self, ike_sa_id: object, now: float) -> None:
        """RFC 4877 §9: the HoA lives as long as the IKE SA; bindings go with it."""
        found = self._by_ike.pop(ike_sa_id, None)
        if found is None:
            return
        for session in found if isinstance(found, list) else (found,):
            if session.hoa_i is not None:
                bce = self._bce.get(session.hoa_i)
                if bce is not None and (bce is session or bce._home is session):
                    self._remove_bce(session.hoa_i, bce, IkeSaDeleted)
            self._forget_session(session)
            if self._sessions.get(session.owner) is None:
                self.hnp_pool.release(session.owner)
                if self.ipv4_pool is not None:
                    self.ipv4_pool.release(session.owner)

    def _delete_ike(self, ike_sa_id: object, now: float) -> None:
        delete = getattr(self.ike, "delete_ike_sa", None)
        if delete is not None:
            delete(ike_sa_id, now)
            self._drain_ike(now)

    # ------------------------------------------------------------------ MH side
    def _find_sa(self, spi: int) -> Any:
        session = self._by_spi.get(spi)
        if session is None:
            mpd = self._mpd.get(spi) if self._mpd else None
            return None if mpd is None else mpd.sa_in
        return session.sa_in

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _move(self, bce: _Bce, event: type[_state.Input]) -> None:
        bce.state = _state.transition("HA", HA_TRANSITIONS, bce.state, event)  # type: ignore[assignment]

    def _reply_route(self, rx: _mh.Received, hoa: IPv6Address) -> _mh.Route:
        """Back to where the BU came from (RFC 5555 §5.1: rejecting BAs too)."""
        r = rx.route
        if r.udp:
            # RFC 5555 §4.5.1: IPv4/UDP to the observed source; inner IPv6 HA -> HoA, no RH2.
            return _mh.Route(r.dst, r.src, self.config.address6, hoa)
        rh2 = None if r.ip6_src == hoa else hoa
        return _mh.Route(r.dst, r.src, self.config.address6, r.ip6_src, rh2=rh2)

    def _send(self, message: _mh.MhMessage, route: _mh.Route, sa_out: EspSa | Any) -> None:
        data = self.signalling.encode(message, route, sa_out)
        self._out.append((data, route.src, route.dst))

    def _send_ba(
        self, v: _BuIn, sa_out: Any, status: int, seq: int, lifetime_4s: int, *,
        k: bool = False, r: bool = False, advice: int | None = None,
        ack: tuple[int, int, int] | None = None, nat: tuple[bool, int] | None = None,
        coa: int | None = None,
    ) -> None:  # fmt: skip
        """The BA for ``v``: back where it came from, or (``coa`` given, an accepted IPv6
        registration) to the CoA with an RH2 carrying the HoA (RFC 6275 §6.1.8, §9.5.4;
        RFC 5555 §4.5.1 for the UDP case). ``ack`` is (status, prefix length, IPv4 address)."""
        rx = v.rx
        if rx is None:
            # Direct path: addresses as ints, one Rust call builds the packet.
            hoa = v.hoa
            if v.udp:
                src, dst, ip_dst, rh2 = v.dst, v.src, hoa, None
            elif coa is None:
                src, dst, ip_dst = v.dst, v.src, v.src6
                rh2 = None if v.src6 == hoa else hoa
            else:
                # The datagram address in the C formatter's form (``_mh.s6``).
                src, dst, ip_dst, rh2 = self._local6, (_t6(coa), 0), coa, hoa
            data = self._ba_packet(
                self._ha6_i, ip_dst, rh2, status, seq, lifetime_4s, k, r, advice, ack, nat
            )
            if sa_out is not None:
                data = sa_out.protect(data)
            self._out.append((data, src, dst))
            return
        hoa = IPv6Address(v.hoa)
        if coa is None or v.udp:
            route = self._reply_route(rx, hoa)
        else:
            coa6 = IPv6Address(coa)
            route = _mh.Route(self._local6, (_mh.s6(coa6), 0), self.config.address6, coa6, rh2=hoa)
        ack_opt = None if ack is None else Ipv4AckOpt(ack[0], ack[1], IPv4Address(ack[2]))
        nat_opt = None if nat is None else NatDetectionOpt(*nat)
        ba = Ba(status, seq, lifetime_4s, k=k, r=r, refresh_advice_4s=advice,
                ipv4_ack=ack_opt, nat_detection=nat_opt)  # fmt: skip
        self._send(ba, route, sa_out)

    def _reject(self, rx: _mh.Received, session: _Session, hoa: IPv6Address, status: int,
                seq: int) -> None:  # fmt: skip
        """Refuse the BU of ``rx`` with ``status`` (kept for callers holding a Received)."""
        v = _BuIn.from_received(rx)
        v.hoa = int(hoa)
        self._refuse(v, session, status, seq)

    def _refuse(self, v: _BuIn, session: _Session, status: int, seq: int) -> None:
        self._count(f"ba-{status}")
        self._send_ba(v, session.sa_out, status, seq, 0)
        bce = self._bce.get(v.hoa)
        hoa = bce.hoa if bce is not None else IPv6Address(v.hoa)
        self._events.append(BindingUpdateRejected(hoa, status, session.owner[0]))

    def _bu_in(self, spi: int | None, f: tuple[Any, ...], src: Addr, dst: Addr) -> _BuIn:
        """The BU of the direct path from the flat tuple of ``mhfast.open_bu`` (the fields
        ``WireSignalling.received`` reads: last Alternate-CoA / IPv4 CoA, first IPv4 HoA
        option; the flags word of RFC 6275 §6.1.7)."""
        src6, hao, seq, life4, flags, alt, v4hoa, v4plen, v4coa = f
        v = _BuIn()
        v.rx = None
        v.spi = spi
        v.src = src
        v.dst = dst
        v.udp = dst[1] == MIP_UDP_PORT or src[1] == MIP_UDP_PORT
        v.src6 = src6
        v.hao = hao is not None
        v.hoa = src6 if hao is None else hao
        v.seq = seq
        v.life4 = life4
        v.h = flags & 0x4000 != 0
        v.k = flags & 0x1000 != 0
        v.r = flags & 0x0400 != 0
        v.f = flags & 0x0100 != 0
        v.flags = flags & _SPEC_FLAG_BITS
        v.alt = alt
        v.v4hoa = v4hoa
        v.v4plen = v4plen
        v.v4coa = v4coa
        return v

    def _on_bu(self, rx: _mh.Received, now: float) -> None:
        self._bu(_BuIn.from_received(rx), now)

    def _bu(self, v: _BuIn, now: float) -> None:
        """BU processing, procedures.md §1.6.2 in its order."""
        cfg = self.config
        # §1.6.2 step 2 — IPsec: only BUs protected by a HoA-keyed SA (RFC 4877 §4.4,
        # RFC 6275 §10.3.1). ESP with an unknown SPI never reaches here (decode raised).
        if v.spi is None:
            self._count("unprotected")
            return
        session = self._by_spi[v.spi]
        if session.ike_mid is not None:
            self._response_delivered(session)
        # Step 3 — addresses: HoA = HAO, else the (inner) IPv6 source.
        hoa = v.hoa
        if hoa <= 1 or hoa >> 120 == 0xFF:  # _not_unicast6, inline
            self._count("bad-hoa")
            return
        # RFC 6275 §9.5.1 / procedures.md §10 rule 9: BUs without H to an HA are dropped.
        if not v.h:
            self._count("h-clear")
            return
        # RFC 4877 §4.4: the HoA in the BU must be the one the SA was created for. An
        # address inside the UE's own HNP but another SA is a selector mismatch (drop); an
        # address outside it (e.g. another UE's HoA) is "not home subnet" (step 6 below).
        in_hnp = (hoa ^ session.pfx) >> (128 - session.plen) == 0
        if in_hnp and hoa != session.hoa_i:
            self._count("sa-mismatch")
            return
        bce = self._bce.get(hoa)
        if bce is not None and bce is not session and bce._home is not session:
            # The HoA is bound through another SA: nothing of it may change here.
            self._refuse(v, session, BA_STATUS["not-home-subnet"], v.seq)
            return
        # Step 4 — sequence number (RFC 6275 §9.5.1): BA 135 carries the last accepted one.
        if bce is not None and not 0 < ((v.seq - bce.seq) & 0xFFFF) < 0x8000:  # seq_newer
            self._refuse(v, session, BA_STATUS["seq-out-of-window"], bce.seq)
            return
        # Step 5 — registration type: H=0 never reaches this point, so a home registration
        # BCE can never be turned into a correspondent one (status 139 not reachable).
        # Step 6 — HA role and home subnet (RFC 6275 §10.3.1, RFC 3963 §6).
        if not cfg.home_registration:
            self._refuse(v, session, BA_STATUS["home-reg-not-supported"], v.seq)
            return
        if not in_hnp:
            self._refuse(v, session, BA_STATUS["not-home-subnet"], v.seq)
            return
        # The same value; this int object is the one kept (dict keys, timers).
        hoa = session.hoa_i  # type: ignore[assignment]
        if v.life4 == 0:
            self._deregister(v, session, bce, now)
            return
        if bce is not None and bce.state is _SWITCHING:
            # RFC 5142 §5.3: refreshes after an HA Switch are refused.
            self._refuse(v, session, BA_STATUS["prohibited"], v.seq)
            return
        if v.r and not cfg.mobile_router:
            self._refuse(v, session, BA_STATUS["mr-not-permitted"], v.seq)
            return
        is_new = bce is None or bce.state is _TOMBSTONE
        if is_new and len(self._bce) >= cfg.max_bindings:
            self._refuse(v, session, BA_STATUS["resources"], v.seq)
            return
        # Care-of address: Alternate-CoA, else the IPv6 source; IPv4 CoA option over UDP.
        nat = False
        if v.udp:
            coa = v.v4coa
            if coa is None:  # RFC 5555 §4.2: mandatory from IPv4 accesses
                self._refuse(v, session, BA_STATUS["invalid-coa"], v.seq)
                return
            # Step 7 — RFC 5555 §4.5: NAT iff the option differs from the outer source.
            nat = _t4(coa) != v.src[0]
            if v.f and not cfg.allow_forced_udp:
                self._refuse(v, session, BA_STATUS["udp-forced-refused"], v.seq)
                return
            bad_coa = _not_unicast4(coa)
        else:
            coa = v.alt if v.alt is not None else v.src6
            if not v.hao and coa == hoa:
                # A lifetime > 0 from the home link itself makes no binding (RFC 6275 §10.3.1).
                self._refuse(v, session, BA_STATUS["invalid-coa"], v.seq)
                return
            bad_coa = _not_unicast6(coa)
        if bad_coa or (coa == hoa and not v.udp):
            self._refuse(v, session, BA_STATUS["invalid-coa"], v.seq)
            return
        # Step 7 (cont.) — IPv4 HoA option: verify ownership or allocate (RFC 5555 §4.5).
        ack: tuple[int, int, int] | None = None
        v4_i: int | None = None
        if v.v4hoa is not None:
            if bce is not None and v.v4hoa == bce.v4_i:
                v4_i = bce.v4_i  # a refresh keeping its IPv4 HoA (already verified)
                ack = (0, 32, v.v4hoa)
            else:
                ack, v4_i = self._ipv4_hoa(session, v.v4hoa, v.v4plen)
        # Step 8 — DAD: the HNP is this UE's alone (pool ownership checked above).
        # Step 9 — lifetime = min(requested, policy, prefix valid lifetime in 4-s units).
        lifetime_4s = v.life4 if v.life4 < self._max_life4 else self._max_life4
        lifetime = _LIFETIMES.get(lifetime_4s)
        if lifetime is None:
            lifetime = lifetime_4s * 4.0
            if len(_LIFETIMES) < 64:
                _LIFETIMES[lifetime_4s] = lifetime
        # Step 10 — create/update the BCE and program the data plane.
        if bce is None:
            # hoa == session.hoa_i here (checked above): the session's record takes the
            # binding (not in ``_bce`` now, so its binding part is a leftover or new).
            bce = session
            bce.clear_binding()
            self._bce[hoa] = bce
        old_coa, old_udp, old_nf = bce.coa_i, bce.udp_peer, bce.nf
        old_v4 = bce.v4_i
        was = bce.state
        was_active = was is _ACTIVE or was is _REVOKING or was is _SWITCHING
        nxt = _ON_ACCEPTED.get(was._name_)
        if nxt is None:
            self._move(bce, BuAccepted)  # not allowed in this state: LocalProtocolError
        else:
            bce.state = nxt
        if was is _REVOKING and bce.state is _ACTIVE:
            # RFC 5846 §7: accepting a BU ends revocation (a BRI timer runs only in REVOKING).
            self.timers.cancel(_BRI_TIMER | hoa)
        bce.seq = v.seq
        # The CoA int (the CoA's family is the transport's: IPv4 exactly over UDP).
        same = old_coa == coa and (old_udp is not None) == v.udp
        if not same:
            bce.coa_i = coa
        coa_obj: IPv6Address | IPv4Address = _a4(coa) if v.udp else _a6(coa)
        nf = (1 if nat else 0) | (2 if v.f else 0)
        bce.nf = nf
        bce.udp_peer = v.src if v.udp else None
        bce.v4_i = v4_i
        if old_v4 is not None and v4_i is None and v.v4hoa is None:
            # RFC 5555 §4.4.2.1: a BU without the option releases the IPv4 HoA.
            if self.ipv4_pool is not None:
                self.ipv4_pool.release(session.owner)
        bce.lifetime = lifetime
        bce.expires = now + lifetime
        self.timers.set(hoa, bce.expires)
        flags = v.flags
        # A lifetime refresh changes only lifetime/expiry/sequence of what the data plane
        # holds: the same flags, CoA, UDP mapping, NAT/forced state and IPv4 HoA.
        renewed = (
            bce.dpf == flags
            and same
            and old_udp == bce.udp_peer
            and old_nf == nf
            and old_v4 == v4_i
        )
        flags = _FLAGS.setdefault(flags, flags)  # one int object per flag word, shared
        try:
            if not was_active:
                add = self._add_fields
                if add is not None:
                    # No spec object: the values (the spec's checks run on them there).
                    enc, port = _encap(bce)
                    add(hoa, bce.pfx, bce.plen, coa, enc, lifetime, bce.expires, v.seq, flags,
                        v4_i, port)  # fmt: skip
                else:
                    self.dataplane.add_binding(_spec_of(bce, flags))
            elif renewed and self._renew_fields is not None:
                # No spec object at all: the values go straight to the Rust record.
                self._renew_fields(hoa, lifetime, bce.expires, v.seq)
            elif renewed and self._renew is not None:
                self._renew(_spec_of(bce, flags))
            else:
                self.dataplane.update_binding(_spec_of(bce, flags))
            bce.dpf = flags
        except CacheError:
            bce.dpf = None  # what the data plane holds is not known exactly
            self._count("dataplane-error")
            self._refuse(v, session, BA_STATUS["forwarding-failed"], v.seq)
            return
        moved = not same or old_udp != bce.udp_peer
        if was_active:
            self._events.append(binding_updated(_a6(hoa), coa_obj, moved, lifetime))
        else:
            v4 = bce.v4_i
            self._events.append(
                binding_created(
                    _a6(hoa), coa_obj, session.owner[0], None if v4 is None else _a4(v4), lifetime
                )
            )
        # Step 11 — BA (sent whatever the A bit says).
        k = v.k and cfg.support_k
        advice = cfg.refresh_advice_4s
        if advice is not None and advice >= lifetime_4s:
            advice = None
        nat_opt = None
        if v.udp:
            nat_opt = (nat, cfg.nat_refresh_time if nat else NAT_NO_KEEPALIVE)
        # RFC 6275 §6.1.8 status 1 / §10.6: "accepted but prefix discovery necessary".
        status = self._mpd_ba_status(hoa) if cfg.prefix_discovery_required else 0
        counters = self.counters
        name = "ba-0" if status == 0 else "ba-1"
        counters[name] = counters.get(name, 0) + 1
        sa_out = session.sa
        if type(sa_out) is tuple:
            sa_out = sa_out[1]
        self._send_ba(v, sa_out, status, v.seq, lifetime_4s, k=k, r=v.r, advice=advice,
                      ack=ack, nat=nat_opt, coa=coa)  # fmt: skip
        # Step 12 — K=1: move the IKE peer endpoint with the CoA (RFC 6275 §10.3.1; the
        # NAT-mapped 4500 port is learnt from the UE's next INFORMATIONAL, RFC 5555 §5.1).
        if k and moved:
            mover = getattr(self.ike, "move", None)
            if mover is not None:
                if v.udp:
                    local = (str(cfg.address4), 4500)
                    remote = (v.src[0], 4500)
                else:
                    # str() of the CoA; the C formatter gives the same RFC 5952 text outside
                    # ::/96 and ::ffff:0:0/96 (where it writes a dotted quad).
                    high = coa >> 32
                    if high == 0 or high == 0xFFFF:
                        coa_t = str(coa_obj)
                    elif _ike.parked_at6(self.ike, session.ike_sa_id, self._ike6, coa):
                        return  # already there (the attach's first BU): what the test below says
                    else:
                        coa_t = _t6(coa)
                    local, remote = self._ike6, (coa_t, 500)
                if self._ike_ends(session.ike_sa_id) != (local, remote):
                    mover(session.ike_sa_id, local, remote)

    def _ipv4_hoa(
        self, session: _Session, requested_i: int, prefix_len: int
    ) -> tuple[tuple[int, int, int], int | None]:
        """RFC 5555 §4.5 / §3.2.1: Ack status 0, 130 (not this UE's), 131 (not unicast),
        132 (no dynamic assignment available). The Ack is (status, prefix length, address)."""
        pool = self.ipv4_pool
        if pool is None:
            return (132, prefix_len, 0), None
        if requested_i == 0:
            try:
                addr = pool.allocate_int(session.owner)
            except PoolExhausted:
                self._count("ipv4-pool-exhausted")
                return (132, prefix_len, 0), None
            return (0, 32, addr), addr
        requested = IPv4Address(requested_i)
        if requested.is_multicast or requested.is_loopback or requested.is_reserved:
            return (131, prefix_len, requested_i), None
        if requested == _BCAST4:
            return (131, prefix_len, requested_i), None
        if pool.owner(requested) != session.owner:
            self._count("ipv4-hoa-not-owned")
            return (130, prefix_len, requested_i), None
        return (0, 32, requested_i), requested_i

    def _deregister(self, v: _BuIn, session: _Session, bce: _Bce | None, now: float) -> None:
        """RFC 6275 §10.3.2 / procedures.md §2.4, §3: lifetime 0."""
        if bce is None or bce.state is BceState.TOMBSTONE:
            self._refuse(v, session, BA_STATUS["not-ha-for-mn"], v.seq)
            return
        hoa: int = session.hoa_i  # type: ignore[assignment]
        self._move(bce, BuDeregister)
        bce.seq = v.seq
        self.timers.cancel(_BRI_TIMER | hoa)
        self.timers.cancel(_HAS_TIMER | hoa)
        if self._has_advice or self._has_reserved:
            self._has_forget(hoa)
        bce.dpf = None
        try:
            self.dataplane.del_binding(bce.hoa)
        except CacheError:
            self._count("dataplane-error")
        if bce.v4_i is not None and self.ipv4_pool is not None:
            self.ipv4_pool.release(session.owner)
        bce.v4_i = None
        # Tombstone so a delayed BU from the old CoA gets 135 (MAX_DELETE_BCE_TIMEOUT).
        self.timers.set(hoa, now + self.config.delete_bce_timeout)
        self._events.append(BindingDeleted(bce.hoa))
        # Step 12 with the HoA as the new CoA (RFC 6275 §10.3.2, procedures.md §2.4).
        k = v.k and self.config.support_k
        if k and v.src6 == hoa:
            mover = getattr(self.ike, "move", None)
            if mover is not None:
                mover(session.ike_sa_id, (str(self.config.address6), 500), (str(bce.hoa), 500))
        self._count("ba-0")
        self._send_ba(v, session.sa_out, 0, v.seq, 0, k=k)

    def _remove_bce(self, hoa: int, bce: _Bce, event: type[_state.Input]) -> None:
        active = bce.state in (BceState.ACTIVE, BceState.REVOKING, BceState.SWITCHING)
        self._move(bce, event)
        del self._bce[hoa]
        for kind in (0, _BRI_TIMER, _HAS_TIMER):
            self.timers.cancel(kind | hoa)
        if self._has_advice or self._has_reserved:
            self._has_forget(hoa)
        bce.dpf = None
        if active:
            try:
                self.dataplane.del_binding(bce.hoa)
            except CacheError:
                self._count("dataplane-error")
            if bce.v4_i is not None and self.ipv4_pool is not None:
                self.ipv4_pool.release(bce.owner)

    def _on_lifetime(self, hoa: int, bce: _Bce, now: float) -> None:
        was = bce.state
        self._remove_bce(hoa, bce, LifetimeOver)
        if was is not BceState.TOMBSTONE:
            self._events.append(BindingExpired(bce.hoa))

    # ---- revocation (RFC 5846)
    def _route_to(self, bce: _Bce) -> _mh.Route:
        hoa = bce.hoa
        if bce.udp_peer is not None and self._local4 is not None:
            return _mh.Route(self._local4, bce.udp_peer, self.config.address6, hoa)
        coa = bce.coa
        return _mh.Route(self._local6, (str(coa), 0), self.config.address6, coa, rh2=hoa)  # type: ignore[arg-type]

    def _send_bri(self, bce: _Bce) -> None:
        bri = Bri(bce.bri_trigger, bce.bri_seq)
        self._count("bri-sent")
        self._send(bri, self._route_to(bce), bce.session.sa_out)

    def _on_bri_timer(self, hoa: int, bce: _Bce, now: float) -> None:
        if bce.retries < BRI_MAX_RETRIES:
            bce.retries += 1
            self._send_bri(bce)
            wait = backoff(INIT_MIN_DELAY_BRIS, bce.retries, MAX_BRACK_TIMEOUT)
            self.timers.set(_BRI_TIMER | hoa, now + wait)
            return
        self._finish_revocation(hoa, bce, acknowledged=False, now=now)

    def _finish_revocation(self, hoa: int, bce: _Bce, *, acknowledged: bool,
                           now: float) -> None:  # fmt: skip
        session = bce.session
        trigger = bce.bri_trigger
        self._remove_bce(hoa, bce, RevocationDone)
        self._events.append(BindingRevoked(bce.hoa, trigger, acknowledged))
        # procedures.md §4.1 step 6: then delete the IKE SA and release HNP / IPv4 HoA.
        self._delete_ike(session.ike_sa_id, now)

    def _on_bra(self, rx: _mh.Received, now: float) -> None:
        bra: Bra = rx.message  # type: ignore[assignment]
        if rx.spi is None:
            self._count("unprotected")
            return
        session = self._by_spi[rx.spi]
        hoa = int(rx.route.mh_src)
        bce = self._bce.get(hoa)
        # RFC 5846 §6.2.2: only a BRA matching an outstanding BRI, from that UE's SA.
        if (
            bce is None
            or (bce is not session and bce._home is not session)
            or bce.state is not BceState.REVOKING
            or bra.sequence != bce.bri_seq
        ):
            self._count("bra-unmatched")
            return
        self._finish_revocation(hoa, bce, acknowledged=bra.status < 128, now=now)

    # ---- HA switch (RFC 5142)
    def _send_has(self, bce: _Bce, now: float | None = None) -> None:
        self._count("has-sent")
        advice = self._has_advice.get(int(bce.hoa)) if self._has_advice else None
        advice_4s = None
        if advice is not None and now is not None:
            # RFC 5142 §5.1: the time left until the binding is deleted, in 4-s units.
            advice_4s = min(max(int((advice[0] - now) // 4.0), 0), 0xFFFF)
        has = Has(bce.has_addresses, advice_4s)
        self._send(has, self._route_to(bce), bce.session.sa_out)

    def _has_slot(self, now: float) -> float:
        """The next HAS transmission instant allowed by MAX-HA-SWITCH-TRANSMIT-RATE (RFC 5142
        §8), reserved."""
        t = self._has_free if self._has_free > now else now
        self._has_free = t + 1.0 / self.config.max_ha_switch_transmit_rate
        return t

    def _has_transmit(self, hoa: int, bce: _Bce, now: float) -> None:
        """Send the HAS now if the rate allows, else at the reserved slot (timer)."""
        t = self._has_slot(now)
        if t > now:
            self._count("has-rate-limited")
            self._has_reserved.add(hoa)
            self.timers.set(_HAS_TIMER | hoa, t)
            return
        self._has_fire(hoa, bce, now)

    def _has_fire(self, hoa: int, bce: _Bce, now: float) -> None:
        # RFC 5142 §5.2: INITIAL-HA-SWITCH-TIMEOUT (or the advice's half period), doubling
        # up to MAX-HA-SWITCH-TIMEOUT; ``retries`` counts the transmissions so far.
        advice = self._has_advice.get(hoa) if self._has_advice else None
        first = INITIAL_HA_SWITCH_TIMEOUT if advice is None else advice[1]
        self._send_has(bce, now)
        wait = backoff(first, bce.retries, MAX_HA_SWITCH_TIMEOUT)
        bce.retries += 1
        self.timers.set(_HAS_TIMER | hoa, now + wait)

    def _on_has_timer(self, hoa: int, bce: _Bce, now: float) -> None:
        if bce.state is not BceState.SWITCHING:
            self._has_forget(hoa)
            return
        if hoa in self._has_reserved:
            self._has_reserved.discard(hoa)  # this instant's slot is already ours
            self._has_fire(hoa, bce, now)
            return
        self._has_transmit(hoa, bce, now)

    def _has_forget(self, hoa: int) -> None:
        self._has_advice.pop(hoa, None)
        self._has_reserved.discard(hoa)

    def _on_unknown(self, rx: _mh.Received, now: float) -> None:
        # RFC 6275 §9.2: unknown MH type -> Binding Error status 2 (to the source).
        self._count("unknown-mh-type")
        if rx.spi is None:
            return
        session = self._by_spi[rx.spi]
        self._send(Be(2, rx.route.mh_src), self._reply_route(rx, rx.route.mh_src), session.sa_out)

    def _on_unexpected(self, rx: _mh.Received, now: float) -> None:
        self._count("unexpected-mh")

    # ---- per-UE rate limiting (issue 5: one UE's flood must not take the others' CPU)
    def _find_sa_in(self, spi: int) -> Any:
        """:meth:`_find_sa` for received packets: also spends one token of the budget of
        the SA the packet names (its SPI: ours, random, not chosen by the UE), before the
        ESP decryption and everything after it. Over budget: :class:`RateLimited`."""
        session = self._by_spi.get(spi)
        if session is None:
            mpd = self._mpd.get(spi) if self._mpd else None
            if mpd is None:
                return None
            session = mpd.session
            sa_in = mpd.sa_in
        else:
            sa_in = session.sa_in
        if self._rate and not self._rates.admit(spi, self._now):
            raise RateLimited(f"per-UE budget of {session.owner[0]!r} spent")
        return sa_in

    def _admit(self, key: int, now: float) -> bool:
        """Token buckets (``ue_rate_burst`` deep, refilled at ``ue_rate_limit`` per second of
        the injected clock) in a fixed table of ``ue_rate_slots`` pairs, not per UE
        (``mhfast.RateTable``). A key is one of our SPIs (ESP: the UE's SA; IKE: its IKE SA),
        random values the UE does not choose; it owns two slots taken from different bits
        (0-15, and 16-31 xor 40-55; the next slot when they coincide), is admitted while
        either slot has a token, and spends one from each that has. A flooding key empties
        its own two slots; another key is refused only if both of its slots are shared with
        flooders (about 1 in ue_rate_slots**2 per pair, and not steerable by a UE). Constant
        memory: nothing is kept per UE (issue 5's per-UE memory target)."""
        return self._rates.admit(key, now)  # type: ignore[no-any-return]

    # ---- Mobile Prefix Discovery (RFC 6275 §10.6, §6.8; RFC 4877 §6.3)
    def _mpd_child(self, session: _Session, ev: Any) -> None:
        """A child SA whose selectors are ``HoA <-> HA, proto ICMPv6`` is the UE's MPD SA
        (RFC 4877 §6.3, §7.2.3); anything else is a user-plane child (the data plane's)."""
        ts_i = ev.child.ts_i
        if type(ts_i) is tuple and len(ts_i) == 1:
            proto = ts_i[0].protocol
            if type(proto) is int and proto != _ICMPV6 and _ts_readable(ev.child.ts_r):
                # TSi names no ICMPv6 selector and TSr is well formed: ``mpd_child`` is
                # None (e.g. the HNP child); a malformed TSr is refused there (raises).
                return
        found = _mpd.mpd_child(ev)
        if found is None:
            return
        hoa_obj, ha_obj = found
        if int(hoa_obj) != session.hoa_i:
            self._count("mpd-child-not-hoa")  # keyed on the signalling SA's HoA only
            return
        spec_in, spec_out = ev.child.sa_specs(ha_obj, hoa_obj)
        self._mpd_forget(session)  # a renegotiated MPD SA replaces the old one
        rec = _Mpd(session, self.sa_factory(spec_in), self.sa_factory(spec_out))
        self._mpd[rec.sa_in.spi] = rec
        self._mpd_by_hoa[session.hoa_i] = rec
        self._count("mpd-sa-up")

    def _mpd_forget(self, session: _Session) -> None:
        rec = self._mpd_by_hoa.get(session.hoa_i) if session.hoa_i is not None else None
        if rec is not None and rec.session is session:
            del self._mpd_by_hoa[session.hoa_i]  # type: ignore[arg-type]
            self._mpd.pop(rec.sa_in.spi, None)

    def _mpd_ba_status(self, hoa: int) -> int:
        """With ``prefix_discovery_required``: BA status 1 until the UE solicited (§10.6.2)."""
        rec = self._mpd_by_hoa.get(hoa)
        return 0 if rec is not None and rec.answered else 1

    def _on_mps(self, rx: _mh.Received, now: float) -> None:
        """RFC 6275 §10.6.2/§10.6.3: answer a registered UE's solicitation right away with an
        MPA carrying its home network prefix, through the MPD SA (RFC 4877 §6.3)."""
        mps: Mps = rx.message  # type: ignore[assignment]
        if rx.spi is None:
            self._count("unprotected")  # RFC 4877 §4.3: like an unprotected BU
            return
        rec = self._mpd.get(rx.spi)
        if rec is None:
            # Through the signalling SA, whose selectors admit the Mobility Header only.
            self._count("mpd-wrong-sa")
            return
        session = rec.session
        hoa = int(rx.route.mh_src)
        if hoa != session.hoa_i:
            self._count("mpd-sa-mismatch")  # RFC 4877 §4.4: HoA must be the SA's
            return
        bce = self._bce.get(hoa)
        if bce is None or bce.session is not session or bce.state is BceState.TOMBSTONE:
            self._count("mps-not-registered")
            return
        if rec.last_mpa is not None and now - rec.last_mpa < 1.0:
            self._count("mpa-rate-limited")  # RFC 6275 §6.8: at most one MPA per second
            return
        rec.last_mpa = now
        rec.answered = True
        life = int(self.config.prefix_valid_lifetime)
        info = PrefixInfo(session.prefix, life, life, l=True, a=True, r=False)
        mpa = Mpa(mps.identifier, (info,))
        self._count("mpa-sent")
        # §10.6.3: to the solicitation's source, with a type 2 routing header carrying the HoA.
        self._send(mpa, self._reply_route(rx, bce.hoa), rec.sa_out)

    _HANDLERS: dict[type, Callable[[HomeAgent, _mh.Received, float], None]] = {
        Bu: _on_bu,
        Mps: _on_mps,
        Mpa: _on_unexpected,
        Bra: _on_bra,
        _mh.UnknownMh: _on_unknown,
        Ba: _on_unexpected,
        Bri: _on_unexpected,
        Has: _on_unexpected,
        Be: _on_unexpected,
        _mh.Brr: _on_unexpected,
    }


_ON_BU = HomeAgent._on_bu
