"""Adapter between the procedures and IKEv2/EAP-AKA (contracts C and D).

The UE runs one ``dsmip6.ikev2.IkeInitiator`` per PDN connection and the HA one
``dsmip6.ikev2.IkeResponder`` for every UE. Both are driven exactly like the procedures
themselves (datagrams, timers, events). This module is the only place that imports
``dsmip6.ikev2``, ``dsmip6.eap`` or ``dsmip6.aka``; it also turns the IKE events into the
small internal records below, so the machines do not depend on the IKE event classes.

Factories (``initiator_factory``, ``responder_factory``) are what ``MobileNode`` and
``HomeAgent`` call by default; tests may inject other engines with the same methods.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any, Protocol

from dsmip6.dataplane_iface import SaSpec

__all__ = [
    "Addr",
    "HaAssignment",
    "IkeUp",
    "MhSaUp",
    "IkeDown",
    "IkeFailed",
    "IkeRedirected",
    "IkeEngine",
    "translate",
    "initiator_factory",
    "responder_factory",
    "MH_PROTOCOL",
    "ha_prefix",
    "ha_mh_selectors",
    "compact_mh_sas",
    "parked_at6",
    "assignment",
    "hands_over_output",
]

Addr = tuple[str, int]
#: The Mobility Header protocol number: the selector of the signalling SA (RFC 4877 §4.4).
MH_PROTOCOL = 135


@dataclass(frozen=True, slots=True)
class HaAssignment:
    """What the HA's address assigner returns for an authenticated identity and APN."""

    home_prefix: IPv6Network
    home_address: IPv6Address | None
    ha_addresses: tuple[IPv6Address | IPv4Address, ...]


@dataclass(frozen=True, slots=True)
class IkeUp:
    """IKE SA established (IKE_AUTH done)."""

    ike_sa_id: object
    identity: str
    local: Addr
    remote: Addr
    home_prefix: IPv6Network | None
    home_address: IPv6Address | None
    ha_addresses: tuple[IPv6Address | IPv4Address, ...]
    nat_detected: bool


@dataclass(frozen=True, slots=True)
class MhSaUp:
    """A child SA whose initiator selector is one IPv6 address with protocol 135: the
    HoA-keyed signalling SA (RFC 4877 §4.4). ``spec_in``/``spec_out`` as seen locally."""

    ike_sa_id: object
    home_address: IPv6Address
    spec_in: SaSpec
    spec_out: SaSpec


@dataclass(frozen=True, slots=True)
class IkeDown:
    """IKE SA deleted (by either side) or expired."""

    ike_sa_id: object
    reason: str


@dataclass(frozen=True, slots=True)
class IkeFailed:
    """IKE_SA_INIT/IKE_AUTH failed (AUTHENTICATION_FAILED, EAP failure, timeout...)."""

    ike_sa_id: object
    reason: str


@dataclass(frozen=True, slots=True)
class IkeRedirected:
    """RFC 5685 redirect to ``new_gateway``."""

    ike_sa_id: object
    new_gateway: str


Translated = IkeUp | MhSaUp | IkeDown | IkeFailed | IkeRedirected


class IkeEngine(Protocol):
    """What the procedures call on an IKE engine (contract D; both roles)."""

    def receive_datagram(self, data: bytes, src: Addr, dst: Addr, now: float) -> None: ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr, Addr]]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> object | None: ...


def _addr_tuple(value: Any) -> Addr:
    host, port = value
    return (str(host), int(port))


def _ip(value: Any) -> IPv6Address | IPv4Address:
    """An address object of ``value``: kept when it is one already (the engine's own), else
    read from its text."""
    if type(value) is IPv6Address or type(value) is IPv4Address:
        return value  # type: ignore[no-any-return]
    return ip_address(str(value))


def _single_address(ts: Any) -> IPv6Address | None:
    """The address of a traffic selector list naming exactly one IPv6 address, proto 135."""
    items = ts if isinstance(ts, (list, tuple)) else (ts,)
    for sel in items:
        if int(getattr(sel, "protocol", 0)) != MH_PROTOCOL:
            continue
        start = sel.start if isinstance(sel.start, IPv6Address) else ip_address(str(sel.start))
        end = sel.end if isinstance(sel.end, IPv6Address) else ip_address(str(sel.end))
        if isinstance(start, IPv6Address) and start == end:
            return start
    return None


def translate(event: object, role: str = "ue") -> Translated | None:
    """Map a contract-D event to an internal record (None for events the procedures ignore).

    Dispatch is on the class *name* and attributes of contract D, so an engine only has to
    honour the contract, not share classes with this module. ``role`` (``"ue"``/``"ha"``)
    orients the signalling SA: its selectors are TSi = HoA, TSr = HA (RFC 4877 §4.4).
    """
    kind = type(event).__name__
    e: Any = event
    if kind == "IkeSaEstablished":
        hoa = e.home_address
        if hoa is not None and type(hoa) is not IPv6Address:
            hoa = IPv6Address(str(hoa))
        return IkeUp(
            ike_sa_id=e.ike_sa_id,
            identity=str(e.eap_identity or e.peer_identity),
            local=_addr_tuple(e.local),
            remote=_addr_tuple(e.remote),
            home_prefix=ha_prefix(e),
            home_address=hoa,
            ha_addresses=tuple(_ip(a) for a in (e.ha_addresses or ())),
            nat_detected=bool(e.nat_detected),
        )
    if kind == "ChildSaEstablished":
        child = e.child
        hoa = _single_address(child.ts_i)
        ha = _single_address(child.ts_r)
        if hoa is None or ha is None:
            return None
        local, remote = (hoa, ha) if role == "ue" else (ha, hoa)
        spec_in, spec_out = child.sa_specs(local, remote)
        return MhSaUp(e.ike_sa_id, hoa, spec_in, spec_out)
    if kind == "IkeSaDeleted":
        return IkeDown(e.ike_sa_id, str(getattr(e, "reason", "deleted")))
    if kind == "IkeAuthFailed":
        return IkeFailed(e.ike_sa_id, str(getattr(e, "reason", "auth-failed")))
    if kind == "Redirected":
        return IkeRedirected(e.ike_sa_id, str(e.new_gateway))
    return None


def mh_selectors(home_address: IPv6Address, ha_address: IPv6Address) -> tuple[list[Any], list[Any]]:
    """TSi = (HoA, proto 135), TSr = (HA, proto 135) for CREATE_CHILD_SA (RFC 4877 §4.4,
    RFC 5026 §5.3.2)."""
    from dsmip6.ikev2 import TrafficSelector  # contract D

    tsi = [TrafficSelector(home_address, home_address, protocol=MH_PROTOCOL)]
    tsr = [TrafficSelector(ha_address, ha_address, protocol=MH_PROTOCOL)]
    return tsi, tsr


def make_usim(k: bytes, opc: bytes, sqn: int = 0) -> Any:
    """A ``dsmip6.aka.Usim`` (contract C); keep one per UE so SQN state survives IKE SAs."""
    from dsmip6 import aka

    return aka.Usim(k, opc, sqn=sqn)


def initiator_factory(
    usim: Any,
    rng: Callable[[int], bytes],
    *,
    trust_anchors: tuple[Any, ...] = (),
    proposals: tuple[str, ...] | None = None,
    child_proposals: tuple[str, ...] | None = None,
) -> Callable[[str, str, bool, bool], Any]:
    """A factory ``(identity, apn, want_ha_address, ipv4) -> IkeInitiator`` authenticating
    with EAP-AKA over ``usim`` (contracts C and D). IDr carries the APN (procedures.md §6);
    from an IPv4 access IKE floats to UDP 4500 (RFC 5555 §5.2.1)."""

    def make(identity: str, apn: str, want_ha_address: bool, ipv4: bool) -> Any:
        from dsmip6 import eap, ikev2

        kw: dict[str, Any] = {}
        if proposals is not None:
            kw["proposals"] = proposals
        if child_proposals is not None:
            kw["child_proposals"] = child_proposals
        cfg = ikev2.InitiatorConfig(
            identity,
            eap_peer_factory=lambda: eap.EapAkaPeer(usim, identity, rng=rng),
            remote_id=apn,
            trust_anchors=trust_anchors,
            request_home_prefix=True,
            request_home_address=True,
            request_home_agent_address=want_ha_address,
            force_nat_t=ipv4,
            **kw,
        )
        return ikev2.IkeInitiator(cfg, rng=rng)

    return make


def responder_factory(
    identity: str,
    store: Any,
    rng: Callable[[int], bytes],
    *,
    certificate: Any,
    private_key: Any,
    proposals: tuple[str, ...] | None = None,
    child_proposals: tuple[str, ...] | None = None,
    **extra: Any,
) -> Callable[[Callable[[str, str | None], HaAssignment]], Any]:
    """A factory ``(assigner) -> IkeResponder``: certificate AUTH for the HA (RFC 5026 §5.2,
    RFC 7296 §2.16) and an embedded EAP-AKA server over ``store``."""

    def make(assign: Callable[[str, str | None], HaAssignment]) -> Any:
        from dsmip6 import eap, ikev2

        def assigner(peer_identity: str, apn: str | None) -> Any:
            a = assign(peer_identity, apn)
            return assignment(a.home_prefix, a.home_address, a.ha_addresses)

        kw: dict[str, Any] = dict(extra)
        if proposals is not None:
            kw["proposals"] = proposals
        if child_proposals is not None:
            kw["child_proposals"] = child_proposals
        cfg = ikev2.ResponderConfig(
            identity,
            certificate=certificate,
            private_key=private_key,
            eap_server_factory=lambda peer: eap.EapAkaServer(store, rng=rng, identity=peer),
            address_assigner=assigner,
            **kw,
        )
        return ikev2.IkeResponder(cfg, rng=rng)

    return make


_ASSIGNMENT: list[Any] = []  # (Assignment, its slot setters, default prefix lifetime)
_CHECKED_HAS: list[Any] = [None]  # the last HA address tuple found to need no conversion
_ASSIGNMENT_FIELDS = ("home_prefix", "home_address", "ha_addresses", "internal_ip4",
                      "prefix_lifetime")  # fmt: skip


def _assignment_class() -> tuple[Any, Any, int]:
    if not _ASSIGNMENT:
        from dataclasses import fields

        from dsmip6.ikev2 import Assignment

        if tuple(f.name for f in fields(Assignment)) != _ASSIGNMENT_FIELDS:
            raise ImportError("_ike: the Assignment field list is out of date")  # drift guard
        setters = tuple(Assignment.__dict__[n].__set__ for n in _ASSIGNMENT_FIELDS)
        default = next(f.default for f in fields(Assignment) if f.name == "prefix_lifetime")
        _ASSIGNMENT.append((Assignment, setters, default))
    return _ASSIGNMENT[0]  # type: ignore[no-any-return]


def assignment(prefix: Any, hoa: Any, has: Any) -> Any:
    """``ikev2.Assignment(home_prefix=prefix, home_address=hoa, ha_addresses=has)``. For the
    HA's usual values — an ``IPv6Network``, no HoA, a tuple of ``IPv6Address``/
    ``IPv4Address`` objects (the HA's one tuple: checked once per tuple object) — where its
    ``__post_init__`` converts nothing, the slots are stored directly (the generated
    ``__init__`` stores each through ``object.__setattr__``): an equal object. Any other
    values go through the constructor."""
    cls, setters, plife = _assignment_class()
    if type(prefix) is not IPv6Network or hoa is not None or type(has) is not tuple:
        return cls(home_prefix=prefix, home_address=hoa, ha_addresses=has)
    if has is not _CHECKED_HAS[0]:
        if not has or any(type(x) is not IPv6Address and type(x) is not IPv4Address for x in has):
            return cls(home_prefix=prefix, home_address=hoa, ha_addresses=has)
        _CHECKED_HAS[0] = has  # a tuple is immutable and its items are too
    a = object.__new__(cls)
    s_prefix, s_hoa, s_has, s_v4, s_plife = setters
    s_prefix(a, prefix)
    s_hoa(a, None)
    s_has(a, has)
    s_v4(a, None)
    s_plife(a, plife)
    return a


def ha_prefix(event: Any) -> IPv6Network | None:
    """The home network prefix of an ``IkeSaEstablished`` (the HA's view: the very object
    its assigner handed out when the engine kept it, so nothing new is allocated)."""
    prefix = event.home_prefix
    if prefix is None or isinstance(prefix, IPv6Network):
        return prefix
    return IPv6Network(str(prefix), strict=False)


def ha_mh_selectors(event: Any) -> tuple[IPv6Address, IPv6Address] | None:
    """The HA's view of a ``ChildSaEstablished``: ``(HoA, HA address)`` when it is the
    HoA-keyed MH SA (the selectors ``translate`` checks), else None."""
    child = event.child
    ts_i, ts_r = child.ts_i, child.ts_r
    if type(ts_i) is tuple and type(ts_r) is tuple and len(ts_i) == 1 and len(ts_r) == 1:
        # one selector each (what a UE sends): ``_single_address`` on plain values, inline,
        # TSi first (it alone decides when it is not one address with protocol 135, as the
        # general reading below returns None then whatever TSr is)
        i = ts_i[0]
        hoa, end_i, proto = i.start, i.end, i.protocol
        if type(hoa) is IPv6Address and type(end_i) is IPv6Address and type(proto) is int:
            # ``==`` of IPv6Address (value and scope), without its Python-level method
            if proto != MH_PROTOCOL or hoa._ip != end_i._ip or hoa._scope_id != end_i._scope_id:
                return None  # e.g. the HNP-wide child of IKE_AUTH
            r = ts_r[0]
            ha, end_r, proto = r.start, r.end, r.protocol
            if type(ha) is IPv6Address and type(end_r) is IPv6Address and type(proto) is int:
                if proto != MH_PROTOCOL or ha._ip != end_r._ip or ha._scope_id != end_r._scope_id:
                    return None
                return hoa, ha
    hoa = _single_address(ts_i)
    if hoa is None:
        return None
    ha = _single_address(ts_r)
    if ha is None:
        return None
    return hoa, ha


def hands_over_output(engine: Any) -> bool:
    """True when ``engine.datagrams_to_send`` is our IKEv2 engine's (``ikev2._engine.Engine``):
    each call hands over a fresh list the engine keeps no reference to, so the caller may
    pass that very list on as its own (any other engine's list is copied)."""
    from dsmip6.ikev2._engine import Engine

    return getattr(type(engine), "datagrams_to_send", None) is Engine.datagrams_to_send


def event_queue(engine: Any) -> deque[Any] | None:
    """The deque ``engine.next_event`` pops when that method is our IKEv2 engine's
    (``ikev2._engine.Engine``: its ``_events``, never replaced), so the caller may pop it
    itself; None for any other engine (asked through ``next_event``)."""
    from dsmip6.ikev2._engine import Engine

    events = getattr(engine, "_events", None)
    if getattr(type(engine), "next_event", None) is Engine.next_event and type(events) is deque:
        return events
    return None


_PARKED: list[Any] = []  # (ParkedSa, IkeResponder.endpoints), imported at first use
_PORT_500 = (500).to_bytes(2, "big")


def parked_at6(engine: Any, ike_sa_id: object, local: Addr, address: int) -> bool:
    """True when ``engine.endpoints(ike_sa_id) == (local, (text, 500))``, ``text`` the
    RFC 5952 form of the IPv6 ``address`` (an int outside ::/96 and ::ffff:0:0/96, where
    ``inet_ntop`` writes that form), answered from a parked SA's packed endpoint without
    formatting it; False when it does not hold or cannot be answered so (not our
    responder, not parked, an endpoint not packed): the caller then asks ``endpoints``."""
    if not _PARKED:
        from dsmip6.ikev2 import IkeResponder
        from dsmip6.ikev2.sa import ParkedSa

        _PARKED.append((ParkedSa, IkeResponder.endpoints))
    parked_cls, endpoints = _PARKED[0]
    if getattr(type(engine), "endpoints", None) is not endpoints:
        return False
    sas = getattr(engine, "_sas", None)
    p = sas.get(ike_sa_id) if type(sas) is dict else None
    if type(p) is not parked_cls or p.local != local:
        return False
    return p.remote_octets6() == address.to_bytes(16, "big") + _PORT_500  # type: ignore[no-any-return]


_MH_SA_PAIR: list[Any] = []  # dsmip6._core.mhfast.MhSaPair, imported at first use


def _mh_sa_pair() -> Any:
    if not _MH_SA_PAIR:
        from dsmip6._core.mhfast import MhSaPair

        _MH_SA_PAIR.append(MhSaPair)
    return _MH_SA_PAIR[0]


def compact_mh_sas(child: Any) -> tuple[Any, Any]:
    """The HA's (inbound, outbound) MH SAs straight from the child SA's keys (contract D
    ``ChildSa`` fields): the same SAs as ``compact_esp_sa`` of ``child.sa_specs(...)``
    (same packets, same checks), held by one ``dsmip6._core.mhfast.MhSaPair`` — returned
    twice: it ``unprotect``s with the inbound SA (its ``spi`` is the inbound SPI) and
    ``protect``s with the outbound one."""
    make = _MH_SA_PAIR[0] if _MH_SA_PAIR else _mh_sa_pair()
    pair = make(child.mode, child.algorithm, child.esn, child.spi_in, child.key_in,
                child.integrity_key_in, child.spi_out, child.key_out,
                child.integrity_key_out)  # fmt: skip
    return pair, pair
