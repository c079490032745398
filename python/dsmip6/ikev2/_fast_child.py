"""The responder's straight-line path for the common CREATE_CHILD_SA request (RFC 7296 §1.3.1).

On the HA an attach ends with one: the UE learns its HoA only from the CFG_REPLY of IKE_AUTH,
so it then asks for the HoA-keyed transport-mode SA that protects its Mobility Header
signalling (RFC 5026 §5.3.2, RFC 4877 §4.4)::

    HDR, SK {N(USE_TRANSPORT_MODE), SA, Ni, TSi, TSr}  -->
    <--  HDR, SK {N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr}

``fast_create_child`` handles only a new child SA without PFS: a request (not a
retransmission) with the expected Message ID, version 2.0, one SK payload running to the end
of the message and inside it (zero flags octets) exactly one SA, one Nonce, one TSi and one TSr
payload and bare Notify payloads (no SPI, no data), each at most once, of the types
USE_TRANSPORT_MODE, ESP_TFC_PADDING_NOT_SUPPORTED and NON_FIRST_FRAGMENTS_ALSO; an ESP proposal
(not an IKE rekey) that ``choose_child`` accepts without a KE; an established responder SA
with no exchange of the peer's pending. It decodes those payloads with the general decoder's
own classes, makes the child SA with ``ChildCreate``'s own key derivation and writes the
response octets directly, with no ``Message`` and no task.

Everything else — a KE payload (PFS), N(REKEY_SA), any other notify, a Vendor ID or unknown
payload, a proposal nobody accepts, a retransmission, a Message ID out of the window,
malformed or unauthentic input — returns ``FALLBACK`` *before any state changes*, and the
caller takes the general path (``Engine._dispatch`` → ``IkeSa.receive`` → ``ChildCreate``).
The one outcome decided after state changed (the responder's ``ts_policy`` refuses the
selectors: it is called once, as on the general path) is answered here as ``ChildCreate``
answers it: N(TS_UNACCEPTABLE), the exchange failed.

The state left behind (the ``IkeSa`` fields, its child SAs and the data plane's, the exchange
manager, the engine's tables, the injected rng's call order), the events and the octets sent
are those of the general path: ``tests/test_ike_fast_child.py`` drives both with the same
seeds and compares them.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import TYPE_CHECKING, Any

from dsmip6._core import ikefast
from dsmip6.errors import MalformedPacket
from dsmip6.ikev2 import transforms  # noqa: F401 - _child_sa's (tests patch it here)
from dsmip6.ikev2._fast import (  # _child_sa and its general twin live in _fast since session 10
    _GENERIC,
    _HEAD_TAIL,
    FALLBACK,
    Fallback,
    _child_sa,
    _follow,
    _make_child,  # noqa: F401 - the twin tests' general derivation
    _Maker,  # noqa: F401
    open_sk,
)
from dsmip6.ikev2.config import Assignment, _default_ts_policy
from dsmip6.ikev2.constants import (
    IKE_HEADER_LEN,
    ExchangeType,
    Flag,
    Notify,
    PayloadType,
    ProtocolId,
)
from dsmip6.ikev2.message import NotifyPayload, SaPayload, TsPayload, _selector
from dsmip6.ikev2.sa import IkeSa, ParkedSa, SaState
from dsmip6.ikev2.tasks._proposals import choose_child, selected_child

if TYPE_CHECKING:
    from dsmip6.ikev2.config import ChildProposal
    from dsmip6.ikev2.message import IkeHeader, TrafficSelector

__all__ = ["fast_create_child"]

_X_CHILD = int(ExchangeType.CREATE_CHILD_SA)
_F_RESPONSE = int(Flag.RESPONSE)
_P_SK = int(PayloadType.SK)
_P_SA, _P_NONCE, _P_NOTIFY = int(PayloadType.SA), int(PayloadType.NONCE), int(PayloadType.NOTIFY)
_P_TSI, _P_TSR = int(PayloadType.TSI), int(PayloadType.TSR)
_PROTO_IKE = int(ProtocolId.IKE)
_ESTABLISHED = SaState.ESTABLISHED
_N_TS_UNACCEPTABLE = int(Notify.TS_UNACCEPTABLE)
# N(USE_TRANSPORT_MODE) as the request carries it and as we answer it: Protocol ID 0, SPI Size
# 0, the type, no data (RFC 7296 §3.10, §1.3.1)
_TRANSPORT_BODY = bytes((0, 0)) + int(Notify.USE_TRANSPORT_MODE).to_bytes(2, "big")
# the other bare status notifies a child request may carry that ``ChildCreate`` answers by
# ignoring them (RFC 7296 §3.10.1: our SAs use no TFC padding and no fragment policy); charon
# sends both in every child request
_IGNORED_BODIES = frozenset(
    bytes((0, 0)) + int(n).to_bytes(2, "big")
    for n in (Notify.ESP_TFC_PADDING_NOT_SUPPORTED, Notify.NON_FIRST_FRAGMENTS_ALSO)
)
_NEEDED = frozenset((_P_SA, _P_NONCE, _P_TSI, _P_TSR))
# the response's payload types: [N(USE_TRANSPORT_MODE),] SA, Nr, TSi, TSr
_CHILD_TYPES = bytes((_P_SA, _P_NONCE, _P_TSI, _P_TSR))
_TRANSPORT_TYPES = bytes((_P_NOTIFY,)) + _CHILD_TYPES
_walk = ikefast.walk
_chain = ikefast.chain


_CACHE_MAX = 64
"""Bound of each cache below (cleared when reached): a deployment sees a handful of forms."""

_CHOICES: dict[bytes, tuple[Any, ChildProposal, int, bytes]] = {}
"""The decision for a one-proposal SA payload body with a 4-octet SPI, by the body without
its SPI: (our child proposals, the one chosen, the proposal number, the response's SA body
with a zero SPI). ``SaPayload.decode_body`` and ``choose_child`` (pure given our proposals, an
immutable tuple kept in the entry and compared by identity) do not look at the SPI's value, so
every UE offering the same proposal gets the decision of the first. Only accepted ESP (or AH)
proposals without PFS are kept."""

_TS_BODIES: dict[tuple[bytes, bool], tuple[TrafficSelector, ...]] = {}
"""Decoded TSr payloads by body, and narrowed selector lists by their encoding: immutable
values shared by every UE (the HA side of the MH SA is the same for all)."""


_TS_CANONICAL: dict[tuple[bytes, bool], bytes] = {}
"""For each TSr body in ``_TS_BODIES``: itself when encoding its selectors gives it back,
else b"" (the same bound; an entry missing means b"")."""
_RESERVED = bytes(3)
# A TS payload body of one IPv6 selector (RFC 7296 §3.13, §3.13.1): Number of TSs 1, RESERVED
# 0, then TS Type 8 (TS_IPV6_ADDR_RANGE), IP Protocol ID, Selector Length 40, Start Port, End
# Port, Starting Address, Ending Address
_TS_ONE6 = struct.Struct("!4sBBHHH16s16s")
_TS_ONE6_HEAD = b"\x01\x00\x00\x00"
_NEW = object.__new__


def _a6(octets: bytes) -> IPv6Address:
    """``IPv6Address(octets)`` for 16 octets: the same object (what its ``__init__`` sets for
    packed octets), without the type dispatch."""
    a = _NEW(IPv6Address)
    a._ip = int.from_bytes(octets, "big")  # type: ignore[attr-defined]
    a._scope_id = None  # type: ignore[attr-defined]
    return a


def _one_selector6(body: bytes) -> tuple[TrafficSelector, ...] | None:
    """``TsPayload.decode_body(body).selectors`` for the body of exactly one IPv6 selector
    with zero RESERVED (what a UE's MH SA request carries): equal selectors, made without
    the general decoder's loop; None for any other body (the caller decodes it generally)."""
    if len(body) != 44:
        return None
    head, ts_type, proto, length, sp, ep, start, end = _TS_ONE6.unpack(body)
    if head != _TS_ONE6_HEAD or ts_type != 8 or length != 40:
        return None
    a = _NEW(IPv6Address)  # _a6(start) and _a6(end), inline
    a._ip = int.from_bytes(start, "big")  # type: ignore[attr-defined]
    a._scope_id = None  # type: ignore[attr-defined]
    b = _NEW(IPv6Address)
    b._ip = int.from_bytes(end, "big")  # type: ignore[attr-defined]
    b._scope_id = None  # type: ignore[attr-defined]
    return (_selector(a, b, proto, sp, ep),)


_HA_SIDE: list[Any] = [None, None]
"""(HA addresses, TSr): the last pair found to pass ``_default_narrowing``'s HA-side test
(the same tuple objects for every UE: the HA's one address tuple, the shared decoded TSr);
held here, so neither id is reused while it is remembered."""


def _default_narrowing(
    tsi: tuple[TrafficSelector, ...], tsr: tuple[TrafficSelector, ...], a: Any
) -> tuple[tuple[TrafficSelector, ...], tuple[TrafficSelector, ...]] | None:
    """``(tsi, tsr)`` themselves when ``_default_ts_policy(tsi, tsr, a)`` returns selector
    tuples equal to them (the UE proposed exactly its HoA inside its home prefix and the
    HA's IPv6 address: RFC 4877 §4.4, the narrowing of RFC 7296 §2.9 keeps both); None
    when the policy itself must be asked (it may narrow, refuse, or see other shapes)."""
    if len(tsi) != 1 or len(tsr) != 1 or type(a) is not Assignment or a.home_address is not None:
        return None
    pfx = a.home_prefix
    i, r = tsi[0], tsr[0]
    start, end = i.start, i.end
    if type(pfx) is not IPv6Network or type(start) is not IPv6Address or i.start_port > i.end_port:
        return None
    lo = pfx.network_address._ip  # type: ignore[attr-defined]
    if not lo <= start._ip <= end._ip <= lo | ((1 << (128 - pfx._prefixlen)) - 1):  # type: ignore[attr-defined, union-attr]
        return None  # TSi.intersect(the prefix) is narrower, or None
    has = a.ha_addresses
    if _HA_SIDE[0] is has and _HA_SIDE[1] is tsr:
        return tsi, tsr  # this TSr passed the HA-side test below for these addresses
    ha6 = None
    for h in has:
        if type(h) is IPv6Address:
            ha6 = h
            break
        if type(h) is not IPv4Address:
            return None
    if ha6 is not None:  # TSr.intersect(that address): r itself only when r is just that
        rs = r.start
        if (
            type(rs) is not IPv6Address
            or not rs._ip == r.end._ip == ha6._ip  # type: ignore[attr-defined, union-attr]
            or r.start_port > r.end_port
        ):
            return None
    if type(has) is tuple and type(tsr) is tuple:  # immutable: the verdict holds for them
        _HA_SIDE[0], _HA_SIDE[1] = has, tsr
    return tsi, tsr


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value


def _choose(body: bytes, ours: Any) -> tuple[int, bytes, ChildProposal, bytes | None] | None:
    """(proposal number, the peer's SPI, our chosen proposal, the response's SA body with a
    zero SPI or None) for the request's SA payload body; None when the general path must
    answer (malformed, an IKE rekey, nothing acceptable without a KE). Raises nothing."""
    n = len(body)
    key = None
    if n >= 12 and body[0] == 0 and body[6] == 4 and (body[2] << 8) | body[3] == n:
        key = body[:8] + body[12:]  # one proposal, last, 4-octet SPI: the key without it
        hit = _CHOICES.get(key)
        if hit is not None and hit[0] is ours:
            return hit[2], body[8:12], hit[1], hit[3]
    try:
        proposals = SaPayload.decode_body(body).proposals
    except (MalformedPacket, ValueError):
        return None
    if not proposals or proposals[0].protocol == _PROTO_IKE:
        return None  # IKE SA rekey (IkeRekey)
    chosen = choose_child(ours, proposals, None)
    if chosen is None or chosen[2] is not None:
        return None  # NO_PROPOSAL_CHOSEN, or we want PFS: INVALID_KE_PAYLOAD
    prop, mine, _group = chosen
    if key is None or len(proposals) != 1 or type(ours) is not tuple:
        return prop.number, prop.spi, mine, None
    template = SaPayload((selected_child(prop.number, mine, bytes(4), None),)).encode_body()
    _remember(_CHOICES, key, (ours, mine, prop.number, template))
    return prop.number, prop.spi, mine, template


def _request_inner(sa: IkeSa, header: IkeHeader, data: bytes) -> bytes | None:
    """The inner payload octets of the peer's next CREATE_CHILD_SA request (not a
    retransmission) on an established responder SA with no request of the peer pending, when
    it is one SK payload with zero flags running to the end of the message; None otherwise.
    Changes nothing (the inbound cipher object stays cached, as on the general path)."""
    mgr = sa.mgr
    mid = header.message_id
    if (
        header.version != 0x20
        or header.next_payload != _P_SK
        or header.response
        or not header.initiator
        or sa.original_initiator
        or sa.state is not _ESTABLISHED
        or sa.retired
        or sa.cp_failed
        or sa.sk is None
        or not sa.sk_d
        or sa.prf is None
        or mgr.passive is not None
        or mid != mgr.expected_mid
        or (mgr.last_response is not None and mgr.last_response[0] == mid)
    ):
        return None
    return open_sk(sa, data)


def fast_create_child(
    engine: Any, header: IkeHeader, data: bytes, src: Any, dst: Any, now: float
) -> IkeSa | Fallback:
    """Answer a common-case CREATE_CHILD_SA request for a new child SA; returns the IKE SA,
    or ``FALLBACK`` (nothing changed) when the request is not that common case. A parked SA
    is thawed first, as ``Engine._dispatch`` thaws it for any message."""
    if not header.initiator or len(data) <= IKE_HEADER_LEN:
        return FALLBACK
    sa = engine._by_spi.get(header.spi_r)
    if type(sa) is ParkedSa:
        sa = engine._thaw(sa)  # the general path's first step for this message too
    elif type(sa) is not IkeSa:
        return FALLBACK
    inner = _request_inner(sa, header, data)
    if inner is None:
        return FALLBACK
    # ---- the inner chain: SA, Nonce, TSi, TSr once each, a few bare status notifies; split
    # by ``_core.ikefast.walk`` (every flags octet zero, each length at least the generic
    # header and inside the plaintext, the chain ending exactly with it: None otherwise)
    parts = _walk(inner, 0, data[IKE_HEADER_LEN])
    if parts is None:
        return FALLBACK
    bodies: dict[int, bytes] = {}
    transport = False
    notifies: set[bytes] = set()
    for this, body in parts:
        if this == _P_NOTIFY:
            if body in notifies:
                return FALLBACK
            notifies.add(body)
            if body == _TRANSPORT_BODY:
                transport = True
            elif body not in _IGNORED_BODIES:
                return FALLBACK
        elif this in _NEEDED and this not in bodies:
            bodies[this] = body
        else:
            return FALLBACK
    if len(bodies) != 4:
        return FALLBACK
    nonce = bodies[_P_NONCE]
    if not 16 <= len(nonce) <= 256:
        return FALLBACK  # NoncePayload.decode_body's bounds: the general path answers it
    cfg = sa.config
    chosen = _choose(bodies[_P_SA], cfg.child_proposals)
    if chosen is None:
        return FALLBACK
    number, peer_spi, mine, sa_template = chosen
    tsi_body, tsr_body = bodies[_P_TSI], bodies[_P_TSR]
    tsr_key = (tsr_body, False)
    try:
        tsi = _one_selector6(tsi_body)
        if tsi is None:
            tsi_p = TsPayload.decode_body(tsi_body, True)
            tsi = tsi_p.selectors
            if tsi_p.unknown or tsi_body[1:4] != _RESERVED:
                tsi_body = b""
        tsr = _TS_BODIES.get(tsr_key)
        if tsr is None:
            tsr_p = TsPayload.decode_body(tsr_body, False)
            tsr = tsr_p.selectors
            if tsr_p.unknown or tsr_body[1:4] != _RESERVED:
                tsr_body = b""  # not what encoding its selectors gives: never echoed
            _remember(_TS_BODIES, tsr_key, tsr)
            _remember(_TS_CANONICAL, tsr_key, tsr_body)
        else:
            tsr_body = _TS_CANONICAL.get(tsr_key, b"")
    except (MalformedPacket, ValueError):
        return FALLBACK
    # ---- the common case: the state changes of IkeSa.receive, process_request and
    # ChildCreate._build_response, in their order
    _follow(sa, src, dst, now)
    mid = header.message_id
    mgr = sa.mgr
    sk = sa.sk
    head = sa.spi_i + sa.spi_r + _HEAD_TAIL.pack(_P_SK, 0x20, _X_CHILD, _F_RESPONSE, mid, 0)
    policy = getattr(cfg, "ts_policy", None)
    narrowed: tuple[tuple[TrafficSelector, ...], tuple[TrafficSelector, ...]] | None
    if policy is None:
        narrowed = (tsi, tsr)
    elif policy is not _default_ts_policy or (
        (narrowed := _default_narrowing(tsi, tsr, sa.assignment)) is None
    ):
        narrowed = policy(tsi, tsr, sa.assignment)
    pack = _GENERIC.pack
    if narrowed is None:  # ChildCreate: N(TS_UNACCEPTABLE), the exchange failed
        notify = NotifyPayload(_N_TS_UNACCEPTABLE).encode_body()
        packets = [sk.seal(head, _P_NOTIFY, pack(0, 0, 4 + len(notify)) + notify)]
        mgr.expected_mid += 1
        mgr.last_response = (mid, packets)
        sa.send(packets, sa.reply_to)
        sa.exchange_finished(_X_CHILD, failed=True, now=now, passive=True)
        engine.fast_child_hits += 1
        return sa
    # The request's TS octets are echoed when the policy kept its selectors and encoding
    # them gives those octets (no unknown selector types, zero RESERVED: TsPayload.decode_body
    # checks every known selector's exact length and refuses trailing octets). ChildCreate
    # keeps one tuple per distinct selector list (``_shared_ts``, by value); here the HA's
    # side (the same for every UE) is shared by its encoding, which the response needs
    # anyway, and the UE's own side is kept as it is (no other child holds it).
    ts_i = tuple(narrowed[0])
    if not tsi_body or ts_i != tsi:
        tsi_body = TsPayload(ts_i, True).encode_body()
    ts_r = tuple(narrowed[1])
    if not tsr_body or ts_r != tsr:
        tsr_body = TsPayload(ts_r, False).encode_body()
    shared = _TS_BODIES.get((tsr_body, True))
    if shared is None:
        _remember(_TS_BODIES, (tsr_body, True), ts_r)
    else:
        ts_r = shared
    nr = sa.rng(cfg.nonce_size)
    spi_in = sa.alloc_spi()
    spi_out = int.from_bytes(peer_spi, "big")
    child = _child_sa(
        sa, spi_in, mine, spi_out, ts_i, ts_r, "transport" if transport else "tunnel", nonce, nr
    )
    sa.install_child(child, None)
    # [N(USE_TRANSPORT_MODE),] SA, Nr, TSi, TSr
    spi = spi_in.to_bytes(4, "big")
    if sa_template is not None:  # the proposal's 8-octet header, then its SPI (RFC 7296 §3.3.1)
        sa_body = sa_template[:8] + spi + sa_template[12:]
    else:
        sa_body = SaPayload((selected_child(number, mine, spi, None),)).encode_body()
    # the chain with its generic headers (``_core.ikefast.chain``: the last Next Payload 0)
    if transport:
        chain = _chain(_TRANSPORT_TYPES, [_TRANSPORT_BODY, sa_body, nr, tsi_body, tsr_body], 0)
    else:
        chain = _chain(_CHILD_TYPES, [sa_body, nr, tsi_body, tsr_body], 0)
    packets = [sk.seal(head, _P_NOTIFY if transport else _P_SA, chain)]
    mgr.expected_mid += 1
    mgr.last_response = (mid, packets)
    sa.send(packets, sa.reply_to)
    sa.exchange_finished(_X_CHILD, failed=False, now=now, passive=True)
    engine.fast_child_hits += 1
    return sa
