"""The responder's straight-line path for the common IKE_SA_INIT request (RFC 7296 §1.2).

``fast_first_request`` handles only a first IKE_SA_INIT request that the general path
(``IkeResponder._first_request`` → ``IkeInit``) would answer with SAr1, KEr, Nr and the
notifies of §2.23/RFC 7427/RFC 7383: one SA, one KE and one Nonce payload plus notifies,
CERTREQs and Vendor IDs, each
with a zero flags octet, version 2.0, an IKE proposal we accept, a KE of the group we would
use and of that group's size, no cookie demand (fewer half-open SAs than the threshold) and no
redirect policy. It parses the octets directly into locals and writes the response from
cached octets, with no payload objects, no ``Message`` and no task.

Everything else — cookies, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN, redirect, critical or
unknown payloads, malformed input, retransmissions (handled before this is called) — returns
``FALLBACK`` *before any state changes*, and the caller takes the general path. The one
outcome decided only after state exists (a KE the DH computation rejects, e.g. a Curve25519
low-order point) is finished here exactly as ``IkeInit._build_response`` finishes it.

The state left behind (the ``IkeSa`` fields, the exchange manager, the engine's tables, the
injected rng's call order) and the octets sent are those of the general path:
``tests/test_ike_fastpath.py`` drives both paths with the same seeds and compares them.
"""

from __future__ import annotations

import enum
import struct
from typing import TYPE_CHECKING, Any, Final

from dsmip6._core import ikefast
from dsmip6.errors import IntegrityCheckFailed, MalformedPacket
from dsmip6.ikev2 import keys, transforms
from dsmip6.ikev2._engine import new_auth_tasks
from dsmip6.ikev2.auth import cert_der, certreq_data, make_id
from dsmip6.ikev2.child import new_child_sa
from dsmip6.ikev2.constants import (
    IKE_HEADER_LEN,
    AuthMethod,
    CertEncoding,
    CfgType,
    DhId,
    ExchangeType,
    Flag,
    Notify,
    PayloadType,
)
from dsmip6.ikev2.exchange import Status
from dsmip6.ikev2.message import (
    _DECODERS_INT,
    _TS_BODIES,
    CertPayload,
    CertReqPayload,
    CfgAttribute,
    CpPayload,
    EapPayload,
    IdPayload,
    KePayload,
    Message,
    NotifyPayload,
    Proposal,
    SaPayload,
    TsPayload,
    VendorPayload,
)
from dsmip6.ikev2.sa import IkeSa, SaState, nat_hash
from dsmip6.ikev2.tasks._proposals import (
    choose_child,
    choose_ike,
    selected_child,
    selected_ike_payload,
)
from dsmip6.ikev2.tasks.child_create import _USE_TRANSPORT_MODE, ChildCreate, _shared_ts
from dsmip6.ikev2.tasks.ike_config import IkeConfig
from dsmip6.ikev2.tasks.ike_init import _FRAG_NOTIFY, _SIG_HASHES_NOTIFY
from dsmip6.ikev2.tasks.ike_init import shared_sig_hashes as _shared_sig_hashes

if TYPE_CHECKING:
    from collections.abc import Callable

    from dsmip6.ikev2.config import ChildProposal, IkeProposal
    from dsmip6.ikev2.exchange import Task
    from dsmip6.ikev2.message import IkeHeader, TrafficSelector
    from dsmip6.ikev2.sk import SkCrypto
    from dsmip6.ikev2.tasks.ike_auth import IkeAuth


class Fallback(enum.Enum):
    """The type of ``FALLBACK`` (one member, so that type checkers narrow ``is FALLBACK``)."""

    FALLBACK = "fallback"


FALLBACK: Final = Fallback.FALLBACK
"""Returned when the request is not the common case: take the general path."""

_GENERIC = struct.Struct("!BBH")
_HEAD_TAIL = struct.Struct("!BBBBII")
_P_SA, _P_KE, _P_NONCE, _P_NOTIFY = (
    int(PayloadType.SA),
    int(PayloadType.KE),
    int(PayloadType.NONCE),
    int(PayloadType.NOTIFY),
)
_P_CERTREQ = int(PayloadType.CERTREQ)
_P_VENDOR = int(PayloadType.VENDOR)
_X_INIT = int(ExchangeType.IKE_SA_INIT)
_F_RESPONSE = int(Flag.RESPONSE)
_N_NAT_SRC = int(Notify.NAT_DETECTION_SOURCE_IP)
_N_NAT_DST = int(Notify.NAT_DETECTION_DESTINATION_IP)
_N_SIG_HASHES = int(Notify.SIGNATURE_HASH_ALGORITHMS)
_N_FRAG = int(Notify.FRAGMENTATION_SUPPORTED)
_N_REDIRECT_SUPPORTED = int(Notify.REDIRECT_SUPPORTED)
_N_INVALID_SYNTAX = int(Notify.INVALID_SYNTAX)
_CERT_X509 = int(CertEncoding.X509_SIGNATURE)
_ZERO_SPI = b"\x00" * 8
_AUTH = SaState.AUTH

_KE_SIZE = {  # octets of KE data per group (RFC 7296 §3.4; RFC 5903 §7; RFC 8031 §2)
    int(DhId.MODP_2048): 256,
    int(DhId.ECP_256): 64,
    int(DhId.ECP_384): 96,
    int(DhId.CURVE25519): 32,
}

# notify bodies that never change: Protocol 0, SPI size 0, type, data (§3.10)
_NAT_SRC_HEAD = struct.pack("!BBH", 0, 0, _N_NAT_SRC)
_NAT_DST_HEAD = struct.pack("!BBH", 0, 0, _N_NAT_DST)
_SIG_HASHES_BODY = _SIG_HASHES_NOTIFY.encode_body()
_FRAG_BODY = _FRAG_NOTIFY.encode_body()
_KE_HEAD = struct.Struct("!HH")
_CERTREQ_HEAD = bytes((_CERT_X509,))
# the response's payload types in order (the bodies vary per SA): SAr1, KEr, Nr,
# N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP), [CERTREQ,]
# N(SIGNATURE_HASH_ALGORITHMS), [N(FRAGMENTATION_SUPPORTED)] (IkeInit._build_response's order)
_INIT_TYPES = bytes((_P_SA, _P_KE, _P_NONCE, _P_NOTIFY, _P_NOTIFY, _P_NOTIFY))
_INIT_TYPES_CERTREQ = bytes((_P_SA, _P_KE, _P_NONCE, _P_NOTIFY, _P_NOTIFY, _P_CERTREQ, _P_NOTIFY))
_NOTIFY_TYPE = bytes((_P_NOTIFY,))
_CHILD_TYPES = bytes((_P_SA, int(PayloadType.TSI), int(PayloadType.TSR)))
_TRANSPORT_CHILD_TYPES = _NOTIFY_TYPE + _CHILD_TYPES
_init_request = ikefast.init_request
_message = ikefast.message
_chain = ikefast.chain
_walk = ikefast.walk


class ProposalChoices:
    """Per responder: the proposal choice for an SA payload body seen before (``choose_ike``
    over the decoded proposals is pure given our configured proposals, which are the key's
    other half). Only accepted proposals are kept; cleared when 64 are held."""

    __slots__ = ("_by_body",)

    def __init__(self) -> None:
        self._by_body: dict[
            tuple[bytes, int], tuple[Any, tuple[int, IkeProposal, tuple[int, ...]]]
        ] = {}

    def choose(self, body: bytes, ours: Any) -> tuple[int, IkeProposal, tuple[int, ...]] | None:
        key = (body, id(ours))
        hit = self._by_body.get(key)
        if hit is not None and hit[0] is ours:  # the entry keeps ``ours`` alive: no id reuse
            return hit[1]
        try:
            proposals = SaPayload.decode_body(body).proposals
        except (MalformedPacket, ValueError):
            return None
        chosen = choose_ike(ours, proposals)
        if chosen is not None:
            if len(self._by_body) >= 64:
                self._by_body.clear()
            self._by_body[key] = (ours, chosen)
        return chosen


def fast_first_request(
    engine: Any, header: IkeHeader, data: bytes, src: Any, dst: Any, now: float
) -> IkeSa | Fallback:
    """Answer a common-case first IKE_SA_INIT request; ``FALLBACK`` when it is not one."""
    cfg = engine.config
    if header.version != 0x20 or cfg.redirect is not None or header.message_id != 0:
        return FALLBACK
    half_open = len(engine._half_open)
    if half_open >= cfg.half_open_limit or half_open >= cfg.cookie_threshold:
        return FALLBACK
    # ---- parse (``_core.ikefast.init_request``): SA, KE, Nonce once each, notifies,
    # CERTREQs, Vendor IDs, zero flags octets; anything else is not the common case
    scan = _init_request(data)
    if scan is None:
        return FALLBACK
    sa_body, group, peer_ke, nonce, nat_src, nat_dst, hashes, redirect_ok, frag_ok, certreq = scan
    chosen = engine._choices.choose(sa_body, cfg.proposals)
    if chosen is None:
        return FALLBACK
    number, mine, groups = chosen
    if group not in groups or _KE_SIZE.get(group) != len(peer_ke):
        return FALLBACK
    # ---- the common case: from here on the general path's state changes, in its order
    local = engine._locals.get(dst)  # our own address: one tuple for every SA
    if local is None:
        if len(engine._locals) >= 16:
            engine._locals.clear()
        local = engine._locals[dst] = dst
    sa = IkeSa(engine, engine._next_id, False, cfg, engine._rng, local, src, now)
    engine._next_id += 1
    spi_i = header.spi_i
    sa.spi_i = spi_i
    spi_r = sa.spi_r = engine._new_ike_spi()
    key = (spi_i, src)
    sa.init_key = key
    engine._register(sa)
    engine._by_init[key] = sa
    engine._half_open.add(sa.id)
    sa.reply_to = None
    sa.ni = nonce
    sa.init_request = data
    # what the request tells about the peer (IkeInit._learn_peer, with SPIr still zero)
    sa.peer_redirect_supported = redirect_ok
    # (the notifies' data as a list of bytes: "no datum equals the hash" is ``not in``, with
    # no generator, which ``all`` left unfinished, closing with a GeneratorExit, per notify)
    if nat_src:
        sa.nat_remote = nat_hash(spi_i, _ZERO_SPI, src) not in nat_src
    if nat_dst:
        sa.nat_local = nat_hash(spi_i, _ZERO_SPI, dst) not in nat_dst
    sa.fragmentation = cfg.enable_fragmentation and frag_ok
    if hashes is not None:
        sa.peer_sig_hashes = _shared_sig_hashes(hashes)  # every UE sends the same list
    sa.peer_certreq = certreq
    # ---- the response (IkeInit._use, _build_response, _derive)
    prf = sa.prf = transforms.PRFS[mine.prf]
    encr = sa.encr = transforms.encr_cached(mine.encr, mine.key_bits)
    integ = sa.integ = transforms.INTEGS[mine.integ] if mine.integ is not None else None
    sa.dh_group = group
    rng = sa.rng
    dh = transforms.dh_generate(group, rng)
    nr = sa.nr = rng(cfg.nonce_size)
    mgr = sa.mgr
    try:
        g_ir = dh.shared(peer_ke)
    except MalformedPacket:
        return _refuse_ke(sa, now)
    assert encr is not None
    sa.keys = keys.derive_ike_keys(
        prf, encr, integ, keys.skeyseed(prf, nonce, nr, g_ir), nonce, nr, spi_i, spi_r
    )
    sa.make_crypto()
    sa.init_done = True
    sa.state = _AUTH
    # SAr1, KEr, Nr, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP), [CERTREQ],
    # N(SIGNATURE_HASH_ALGORITHMS), [N(FRAGMENTATION_SUPPORTED)]
    bodies = [
        selected_ike_payload(number, mine, group).encode_body(),
        _KE_HEAD.pack(group, 0) + dh.public,
        nr,
        _NAT_SRC_HEAD + nat_hash(spi_i, spi_r, dst),
        _NAT_DST_HEAD + nat_hash(spi_i, spi_r, src),
    ]
    if cfg.trust_anchors:
        bodies.append(_CERTREQ_HEAD + certreq_data(cfg.trust_anchors))
        bodies.append(_SIG_HASHES_BODY)
        types = _INIT_TYPES_CERTREQ
    else:
        bodies.append(_SIG_HASHES_BODY)
        types = _INIT_TYPES
    if cfg.enable_fragmentation:
        bodies.append(_FRAG_BODY)
        types += _NOTIFY_TYPE
    out = _message(spi_i + spi_r, _X_INIT, _F_RESPONSE, 0, types, bodies)
    sa.init_response = out
    packets = [out]
    mgr.expected_mid += 1
    mgr.last_response = (0, packets)
    sa.send(packets, sa.reply_to)
    mgr.passive = None
    sa.exchange_finished(_X_INIT, failed=False, now=now, passive=True)
    engine.fast_path_hits += 1
    return sa


# ---------------------------------------------------------------------------------------------
# IKE_AUTH: the EAP rounds (RFC 7296 §2.16; RFC 4877 §8): HDR, SK {EAP(Response)} -->
# <-- HDR, SK {EAP(Request | Success)}

_X_AUTH = int(ExchangeType.IKE_AUTH)
_P_SK = int(PayloadType.SK)
_P_EAP = int(PayloadType.EAP)
_F_INITIATOR = int(Flag.INITIATOR)
_NAT_T_PORT = 4500
_EAP_RESPONSE = 2
_EAP_IDENTITY, _EAP_AKA, _EAP_AKA_PRIME = 1, 23, 50
_AKA_CHALLENGE, _AKA_IDENTITY = 1, 5  # RFC 4187 §11: the subtypes of a smooth run
_NEED_MORE = Status.NEED_MORE
_FAILED = Status.FAILED
_P_AUTH = int(PayloadType.AUTH)
_SKM = int(AuthMethod.SHARED_KEY_MIC)


def _sk_request(sa: IkeSa, header: IkeHeader, data: bytes) -> bytes | None:
    """The inner payload octets of the next IKE_AUTH request (not a retransmission) on a
    responder SA still authenticating, when it is one SK payload (RFC 7296 §3.14) with zero
    flags running to the end of the message; None otherwise. Changes nothing: the SK payload
    is verified and decrypted with the SA's inbound cipher object, which stays cached
    (``SkCrypto``), but no state moves."""
    mgr = sa.mgr
    mid = header.message_id
    if (
        header.version != 0x20
        or header.next_payload != _P_SK
        or header.response
        or not header.initiator
        or sa.original_initiator
        or sa.state is not _AUTH
        or sa.authenticated
        or mid != mgr.expected_mid
        or (mgr.last_response is not None and mgr.last_response[0] == mid)
    ):
        return None
    return open_sk(sa, data)


def open_sk(sa: IkeSa, data: bytes) -> bytes | None:
    """The inner payloads of a request whose header and SA state were checked: the SK
    payload's generic header (critical bit clear, its length the rest of the message), then
    decryption and integrity; None when any of that fails (the general path then drops or
    answers it, §2.21.2). Shared by every responder fast path."""
    size = len(data)
    if size < IKE_HEADER_LEN + 4 or data[IKE_HEADER_LEN + 1]:
        return None
    if (data[IKE_HEADER_LEN + 2] << 8) | data[IKE_HEADER_LEN + 3] != size - IKE_HEADER_LEN:
        return None
    try:
        return sa.sk.open(data, IKE_HEADER_LEN)  # type: ignore[union-attr]  # keyed by now
    except (IntegrityCheckFailed, MalformedPacket):
        return None  # the general path drops it (§2.21.2)


def _auth_inner(sa: IkeSa, header: IkeHeader, data: bytes, phase: str) -> bytes | None:
    """``_sk_request`` for an SA whose IKE_AUTH tasks wait in ``phase`` (the EAP rounds and
    the final AUTH of every attach); None when anything is uncommon."""
    tasks = sa.mgr.passive
    if tasks is None or tasks != sa.auth_tasks:
        return None
    auth: IkeAuth = tasks[0]  # type: ignore[assignment]  # IkeAuth first (new_auth_tasks)
    if auth.phase != phase or auth.error is not None:
        return None
    return _sk_request(sa, header, data)


def _follow(sa: IkeSa, src: Any, dst: Any, now: float) -> None:
    """What ``IkeSa.receive`` records of an authenticated request before the manager runs."""
    sa.last_heard = now
    # RFC 7296 §2.23: follow the peer's NAT (``sa.nat_detected``, inline)
    if sa.nat_local or sa.nat_remote or dst[1] == _NAT_T_PORT:
        sa.local, sa.remote = dst, src
    sa.reply_to = None if (dst == sa.local and src == sa.remote) else (dst, src)


def fast_eap_round(
    engine: Any, sa: IkeSa, header: IkeHeader, data: bytes, src: Any, dst: Any, now: float
) -> IkeSa | Fallback:
    """Answer one EAP round of IKE_AUTH on a responder SA waiting for it; ``FALLBACK`` when
    the request is not that common case (checked before any state changes).

    The common case: a request (not a retransmission) with the expected Message ID, version
    2.0, one SK payload and inside it exactly one EAP payload (zero flags octets) holding an
    EAP-Response of type Identity, or AKA/AKA' Identity or Challenge, on an SA whose IKE_AUTH
    tasks are in their EAP phase. The EAP server decides (``IkeAuth.eap_response``,
    ``IkeAuth.eap_going``, the general path's code); the response HDR, SK {EAP} is written
    here. An EAP error or failure after the server ran is answered by the general path's
    second half (``ExchangeManager.answer``) with the same tasks and statuses."""
    if len(data) <= IKE_HEADER_LEN or data[IKE_HEADER_LEN] != _P_EAP:
        return FALLBACK
    inner = _auth_inner(sa, header, data, "eap")
    if inner is None:
        return FALLBACK
    n = len(inner)
    if n < 9 or inner[0] or inner[1] or (inner[2] << 8) | inner[3] != n:
        return FALLBACK
    eap = inner[4:]
    if (eap[2] << 8) | eap[3] != n - 4 or eap[0] != _EAP_RESPONSE:
        return FALLBACK
    kind = eap[4]
    if kind != _EAP_IDENTITY and not (
        (kind == _EAP_AKA or kind == _EAP_AKA_PRIME)
        and n >= 12
        and (eap[5] == _AKA_CHALLENGE or eap[5] == _AKA_IDENTITY)
    ):
        return FALLBACK
    mgr = sa.mgr
    mid = header.message_id
    # checked by ``_auth_inner``: the SA's IKE_AUTH tasks (IkeAuth first), keyed
    tasks: list[Task] = mgr.passive  # type: ignore[assignment]
    auth: IkeAuth = tasks[0]  # type: ignore[assignment]
    sk: SkCrypto = sa.sk  # type: ignore[assignment]
    # ---- the common case: the state changes of IkeSa.receive and process_request, in order
    _follow(sa, src, dst, now)
    engine.fast_auth_hits += 1
    # IkeConfig and ChildCreate see no CP / SA payload here: both stay NEED_MORE untouched
    status = auth.eap_response(eap)
    out = auth.eap_out
    if status is not _NEED_MORE or out is None or not auth.eap_going():
        mgr.answer(
            sa, tasks, [status] if status is not _NEED_MORE else [_NEED_MORE] * 3, _X_AUTH, mid, now
        )
        return sa
    # IkeConfig and ChildCreate build nothing before the SA is authenticated: HDR, SK {EAP}
    inner_out = _GENERIC.pack(0, 0, 4 + len(out)) + out
    head = sa.spi_i + sa.spi_r + _HEAD_TAIL.pack(_P_SK, 0x20, _X_AUTH, _F_RESPONSE, mid, 0)
    if sa.fragmentation:
        limit = sa.config.fragment_size - (4 if sa.local[1] == _NAT_T_PORT else 0)
        if sk.sealed_size(IKE_HEADER_LEN, len(inner_out)) > limit:
            resp = sa.new_message(_X_AUTH, response=True, message_id=mid)
            resp.add(EapPayload(out))
            packets = sa.encode(resp)
        else:
            packets = [sk.seal(head, _P_EAP, inner_out)]
    else:
        packets = [sk.seal(head, _P_EAP, inner_out)]
    mgr.expected_mid += 1
    mgr.last_response = (mid, packets)
    sa.send(packets, sa.reply_to)
    mgr.passive = [tasks[0], tasks[1], tasks[2]]
    return sa


def fast_msk_auth(
    engine: Any, sa: IkeSa, header: IkeHeader, data: bytes, src: Any, dst: Any, now: float
) -> IkeSa | Fallback:
    """The last IKE_AUTH request of an EAP bootstrap, HDR, SK {AUTH}, with one shared-key
    AUTH payload (zero flags octets) on an SA whose IKE_AUTH tasks wait for it; ``FALLBACK``
    otherwise (before any state changes). The MSK AUTH is checked by the general path's
    ``IkeAuth.msk_request``; a failure is answered by ``ExchangeManager.answer``. On success
    the response is ``answer``'s: ``IkeAuth`` and ``IkeConfig`` build the AUTH and CFG_REPLY
    payloads, the child SA is ``_auth_child``'s (or ``ChildCreate.build``'s when uncommon),
    and the chain is written by ``_core.ikefast.chain``."""
    if len(data) <= IKE_HEADER_LEN or data[IKE_HEADER_LEN] != _P_AUTH:
        return FALLBACK
    inner = _auth_inner(sa, header, data, "msk")
    if inner is None:
        return FALLBACK
    n = len(inner)
    if n < 9 or inner[0] or inner[1] or (inner[2] << 8) | inner[3] != n or inner[4] != _SKM:
        return FALLBACK
    mid = header.message_id
    _follow(sa, src, dst, now)
    engine.fast_auth_hits += 1
    mgr = sa.mgr
    tasks: list[Task] = mgr.passive  # type: ignore[assignment]  # checked by _auth_inner
    # run_tasks over the request HDR, SK {AUTH}: IkeAuth checks the MSK AUTH; IkeConfig and
    # ChildCreate find no CP / SA payload in it and stay NEED_MORE without a change
    status = tasks[0].msk_request(_SKM, inner[8:])  # type: ignore[attr-defined]  # IkeAuth
    if status is not _NEED_MORE:
        mgr.answer(sa, tasks, [status], _X_AUTH, mid, now)
        return sa
    # ExchangeManager.answer with statuses NEED_MORE x 3: every task builds its part (the
    # MSK AUTH, CFG_REPLY, the child SA's payloads), the chain is written by
    # ``_core.ikefast.chain`` instead of ``Message.encode`` (same octets: our responses hold
    # no unknown payload, so every flags octet is zero)
    resp = sa.new_message(_X_AUTH, response=True, message_id=mid)
    child_task = tasks[2]
    final = [tasks[0].build(resp)]
    cfg_task = tasks[1]
    values = None
    if type(cfg_task) is IkeConfig:
        # IkeConfig._build_response's decision, its CP payload written as octets below
        status, values = cfg_task.reply(resp)
        final.append(status)
    else:
        final.append(cfg_task.build(resp))
    enc = resp.encrypted
    assert enc is not None
    cp_at = len(enc)  # the CP payload's place: after the AUTH (or a refusal's) payloads
    made = _auth_child(sa, child_task) if type(child_task) is ChildCreate else None
    if made is None:
        final.append(child_task.build(resp))
        child_types, child_bodies = b"", []
    else:
        status, child_types, child_bodies, objects = made
        final.append(status)
    # the AUTH (and CP) payloads' types and bodies, then the child's (one loop, no
    # comprehension frames)
    kinds = []
    bodies = []
    for p in enc:
        kinds.append(p.TYPE)
        bodies.append(p.encode_body())
    if values:  # CP(CFG_REPLY): CpPayload.encode_body's octets (RFC 7296 §3.15)
        body = _CP_REPLY_HEAD
        for t, v in values:
            body += _ATTR_HEAD.pack(t & 0x7FFF, len(v)) + v
        kinds.insert(cp_at, _P_CP)
        bodies.insert(cp_at, body)
    types = bytes(kinds) + child_types
    bodies += child_bodies
    first = types[0] if types else 0
    inner_out = _chain(types, bodies, 0)
    sk: SkCrypto = sa.sk  # type: ignore[assignment]  # keyed by now
    packets = None
    if sa.fragmentation:
        limit = sa.config.fragment_size - (4 if sa.local[1] == _NAT_T_PORT else 0)
        if sk.sealed_size(IKE_HEADER_LEN, len(inner_out)) > limit:
            if values:
                attrs = tuple(CfgAttribute(t, v) for t, v in values)
                enc.insert(cp_at, CpPayload(_CFG_REPLY, attrs))
            if made is not None:
                enc.extend(_ts_refused() if objects is None else _child_objects(*objects))
            packets = sa.encode(resp)
    if packets is None:
        head = sa.spi_i + sa.spi_r + _HEAD_TAIL.pack(_P_SK, 0x20, _X_AUTH, _F_RESPONSE, mid, 0)
        packets = [sk.seal(head, first, inner_out)]
    mgr.reply(sa, tasks, final, _X_AUTH, mid, packets, now)
    return sa


class _Maker:
    """What ``ChildCreate._make_child`` reads of its task (the responder's side), so the key
    derivation and the ``ChildSa`` are the general path's own code, without a whole task."""

    __slots__ = ("sa", "spi_in")
    initiator = False

    def __init__(self, sa: IkeSa, spi_in: int) -> None:
        self.sa = sa
        self.spi_in = spi_in


_make_child = ChildCreate._make_child


_KM_SIZES: dict[int, tuple[Any, int, int]] = {}
"""id of a child proposal -> (that proposal, its encryption key octets, its integrity key
octets): what ``_make_child`` looks up per child, once per proposal object (an entry counts
only while it holds that very object; at most 16 entries)."""


def _child_sa(
    sa: IkeSa,
    spi_in: int,
    mine: ChildProposal,
    spi_out: int,
    ts_i: tuple[TrafficSelector, ...],
    ts_r: tuple[TrafficSelector, ...],
    mode: str,
    ni: bytes,
    nr: bytes,
) -> Any:
    """``_make_child(_Maker(sa, spi_in), mine, spi_out, ts_i, ts_r, mode, ni, nr, b"")``:
    the responder's child SA of a CREATE_CHILD_SA without PFS (``_fast_child``) or of
    IKE_AUTH (``_auth_child``, where the nonces are IKE_SA_INIT's). When KEYMAT fits in two prf
    blocks (every AEAD suite: 2 x (key + salt) octets) prf+ (RFC 7296 §2.13) is written out
    for those two blocks — T1 = prf(SK_d, Ni | Nr | 0x01), T2 = prf(SK_d, T1 | Ni | Nr | 0x02),
    the same keyed HMAC of ``cryptography`` as ``Prf.plus`` — and KEYMAT is split as
    ``keys.derive_child_keys`` splits it (RFC 7296 §2.17: the I->R keys first); anything
    longer goes through ``_make_child`` itself."""
    hit = _KM_SIZES.get(id(mine))
    if hit is None or hit[0] is not mine:
        enc = transforms.encr_cached(mine.encr, mine.key_bits)
        esize = enc.key_size if enc is not None else 0
        isize = transforms.INTEGS[mine.integ].key_size if mine.integ is not None else 0
        if len(_KM_SIZES) >= 16:
            _KM_SIZES.clear()
        hit = _KM_SIZES[id(mine)] = (mine, esize, isize)
    e, a = hit[1], hit[2]
    prf = sa.prf
    need = 2 * (e + a)
    if prf is None or not sa.sk_d or need > 2 * prf.key_size:
        return _make_child(_Maker(sa, spi_in), mine, spi_out, ts_i, ts_r, mode, ni, nr, b"")  # type: ignore[arg-type]
    seed = ni + nr
    keyed = prf.keyed(sa.sk_d)
    h = keyed.copy()
    h.update(seed + b"\x01")
    km = h.finalize()
    if need > len(km):
        keyed.update(km + seed + b"\x02")  # the keyed HMAC itself serves the last block
        km += keyed.finalize()
    udp = None
    if mode == "tunnel" and sa.local[1] == _NAT_T_PORT:  # (``sa.use_nat_t``, the same test)
        udp = (sa.local[1], sa.remote[1])
    return new_child_sa(
        spi_in,
        spi_out,
        mode,
        mine.esp_algorithm,
        km[:e],  # encr_i: the responder's inbound key
        km[e + a : 2 * e + a],  # encr_r
        km[e : e + a] or None,  # integ_i
        km[2 * e + a : need] or None,  # integ_r
        ts_i,
        ts_r,
        False,
        mine.esn,
        udp,
    )


def _auth_child(sa: IkeSa, task: ChildCreate) -> Any:
    """``ChildCreate._build_response`` for the child SA requested in IKE_AUTH (responder,
    peer authenticated), with the payloads written as octets: ``(status, payload types,
    bodies, what ``_child_objects`` makes the equal payload objects from, None for
    N(TS_UNACCEPTABLE))``; None, before any state changes, when
    the request is not the common case (no child requested, a CP failure, N(REKEY_SA) or a
    KE payload, TSi or TSr missing, no acceptable proposal) and ``task.build`` answers it.

    The decisions are the general path's own, in its order: ``choose_child`` over our
    proposals, the responder's ``ts_policy`` (called once; a refusal is answered with
    N(TS_UNACCEPTABLE) as ``ChildCreate`` does), ``_shared_ts``, the SPI, ``_make_child``'s
    keys, then ``install_child``. The SA body of a chosen proposal is written once per
    (number, proposal) with the SPI spliced in; TS bodies come from the encoding table of
    ``TsPayload.encode_body``."""
    req = task.request
    if req is None or task.initiator or not task.in_ike_auth or not sa.authenticated:
        return None
    if sa.cp_failed:
        return None
    # one pass over the kept request's payloads instead of its index (``Message._index``,
    # which fast_first_auth drops from the kept request: ~0.4 KB per SA in flight), read as
    # the index reads them: payloads by exact class, the first SA payload, the first TSi and
    # TSr (Message.get(TsPayload, initiator=...)), N(REKEY_SA) / N(USE_TRANSPORT_MODE) anywhere
    ix = req._ix
    enc = req.encrypted
    if ix is not None and ix[0] == -1 and enc is not None and len(enc) == ix[1]:
        # a chain hit of fast_first_auth: the chain's summary (``_child_summary``), read
        # at its places in the kept payloads (no clear payloads in an IKE_AUTH request)
        sap, tsi, tsr, transport = enc[ix[2]], enc[ix[3]], enc[ix[4]], ix[5] == 1
        return _auth_child_made(sa, task, sap, tsi, tsr, transport)
    # any other request: the same summary, worked out for this one
    payloads = req.all_payloads()
    found = _child_summary(payloads)
    if found is None:
        return None
    _, _, sa_at, tsi_at, tsr_at, transport_mode = found
    return _auth_child_made(
        sa, task, payloads[sa_at], payloads[tsi_at], payloads[tsr_at], transport_mode == 1
    )


def _auth_child_made(
    sa: IkeSa, task: ChildCreate, sap: Any, tsi: Any, tsr: Any, transport: bool
) -> Any:
    """``_auth_child`` from the request's first SA, TSi and TSr payloads and whether it
    asked for transport mode."""
    cfg = sa.config
    # config._norm_common parsed every proposal string into a ChildProposal
    chosen = choose_child(cfg.child_proposals, sap.proposals, None)  # type: ignore[arg-type]
    if chosen is None:
        return None
    prop, mine, _group = chosen  # no PFS inside IKE_AUTH (§1.2)
    # ---- committed: the general path's state changes from here, in its order
    policy = getattr(cfg, "ts_policy", None)
    if policy is not None and not sa.original_initiator:
        narrowed = policy(tsi.selectors, tsr.selectors, sa.assignment)
    else:
        narrowed = (tsi.selectors, tsr.selectors)
    if narrowed is None:
        return _DONE, _NOTIFY_TYPE, [_TS_UNACCEPTABLE_BODY], None
    ts_i, ts_r = _shared_ts(tuple(narrowed[0])), _shared_ts(tuple(narrowed[1]))
    spi_in = task.spi_in = sa.alloc_spi()
    # task._make_child(mine, spi_out, ts_i, ts_r, mode, Ni, Nr, b"") of a responder's task
    # whose spi_in was just set: ``_child_sa``, the same keys and ChildSa (RFC 7296 §2.17)
    child = _child_sa(
        sa,
        spi_in,
        mine,
        int.from_bytes(prop.spi, "big"),
        ts_i,
        ts_r,
        "transport" if transport else "tunnel",
        sa.ni,
        sa.nr,
    )
    spi = spi_in.to_bytes(4, "big")
    number = prop.number
    key = (number, id(mine))
    hit = _CHILD_SA_BODIES.get(key)
    if hit is not None and hit[0] is mine:
        template = hit[1]
        sa_body = template[:8] + spi + template[12:]
    else:
        sa_body = SaPayload((selected_child(number, mine, spi, None),)).encode_body()
        if len(_CHILD_SA_BODIES) >= 16:
            _CHILD_SA_BODIES.clear()
        _CHILD_SA_BODIES[key] = (mine, sa_body[:8] + bytes(4) + sa_body[12:])

    task.child = child
    sa.install_child(child, None)
    if transport:
        types = _TRANSPORT_CHILD_TYPES
        bodies = [_TRANSPORT_BODY, sa_body, _ts_body(ts_i), _ts_body(ts_r)]
    else:
        types = _CHILD_TYPES
        bodies = [sa_body, _ts_body(ts_i), _ts_body(ts_r)]
    return _DONE, types, bodies, (transport, number, mine, spi, ts_i, ts_r)


def _child_objects(
    transport: bool, number: int, mine: Any, spi: bytes, ts_i: Any, ts_r: Any
) -> list[Any]:
    """The payload objects equal to ``_auth_child``'s octets (a fragmented response is
    written from objects)."""
    out: list[Any] = [_USE_TRANSPORT_MODE] if transport else []
    out.append(SaPayload((selected_child(number, mine, spi, None),)))
    out.append(TsPayload(ts_i, True))
    out.append(TsPayload(ts_r, False))
    return out


def _ts_refused() -> list[Any]:
    return [NotifyPayload(_N_TS_UNACCEPTABLE)]


def _ts_body(sels: Any) -> bytes:
    """``TsPayload(sels).encode_body()`` (its table first: no payload object on a hit)."""
    hit = _TS_BODIES.get(id(sels))
    if hit is not None and hit[0] is sels:
        return hit[1]
    return TsPayload(sels).encode_body()


_CHILD_SA_BODIES: dict[tuple[int, int], tuple[Any, bytes]] = {}
"""The SA payload body answering an IKE_AUTH child request, by (proposal number, our chosen
proposal), with a zero SPI: the SPI (octets 8-11: one proposal's header, then its 4-octet
SPI, RFC 7296 §3.3.1) is spliced in per SA. The entry keeps the proposal alive (no id reuse).
Cleared when 16 are held."""
_N_REKEY_SA = int(Notify.REKEY_SA)
_CFG_REPLY = int(CfgType.REPLY)
_CP_REPLY_HEAD = struct.pack("!B3x", _CFG_REPLY)  # CFG Type, RESERVED (§3.15)
_ATTR_HEAD = struct.Struct("!HH")  # R | Attribute Type, Length (§3.15.1)
_N_USE_TRANSPORT_MODE = int(Notify.USE_TRANSPORT_MODE)
_N_TS_UNACCEPTABLE = int(Notify.TS_UNACCEPTABLE)
_TRANSPORT_BODY = _USE_TRANSPORT_MODE.encode_body()
_TS_UNACCEPTABLE_BODY = NotifyPayload(_N_TS_UNACCEPTABLE).encode_body()
_DONE = Status.DONE


def _refuse_ke(sa: IkeSa, now: float) -> IkeSa:
    """The DH computation rejected the peer's KE after the SA exists: INVALID_SYNTAX and the
    SA dies, as ``IkeInit._build_response`` and ``ExchangeManager.process_request`` do."""
    resp = sa.new_message(_X_INIT, response=True, message_id=0)
    resp.add(NotifyPayload(_N_INVALID_SYNTAX))
    sa.failure_reason = "INVALID_SYNTAX"
    packets = sa.encode(resp)
    mgr = sa.mgr
    mgr.expected_mid += 1
    mgr.last_response = (0, packets)
    sa.send(packets, sa.reply_to)
    mgr.passive = None
    sa.exchange_finished(_X_INIT, failed=True, now=now, passive=True)
    return sa


# ---------------------------------------------------------------------------------------------
# IKE_AUTH: the first request of an EAP bootstrap (RFC 7296 §1.2, §2.16; RFC 4877 §8; RFC 5026):
# HDR, SK {IDi, [CERTREQ,] [IDr,] [CP(CFG_REQUEST),] [SAi2, TSi, TSr,] [N...]}  -->
# <-- HDR, SK {IDr, [CERT,] AUTH, EAP(Request)}

_P_IDI, _P_IDR = int(PayloadType.IDI), int(PayloadType.IDR)
_P_CP = int(PayloadType.CP)
_P_TSI, _P_TSR = int(PayloadType.TSI), int(PayloadType.TSR)
_P_CERT = int(PayloadType.CERT)
# what the first request may carry on this path, and how often (the rule table's bounds for
# an IKE_AUTH request, RFC 7296 §1.2; Notify, Vendor ID and CERTREQ any number of times)
_FIRST_AUTH_ONCE = frozenset((_P_IDI, _P_IDR, _P_CP, _P_SA, _P_TSI, _P_TSR))
_FIRST_AUTH_MANY = frozenset((_P_NOTIFY, _P_VENDOR, _P_CERTREQ))
_CHILD_SA_SEEN: dict[bytes, tuple[int, int, tuple[Any, ...]]] = {}
"""A one-proposal, 4-octet-SPI SA body (an IKE_AUTH child request) with its SPI left out,
mapped to its decoded proposal's number, protocol and transforms: what the general decoder
makes of such a body depends on the SPI's octets only for the proposal's ``spi`` (every
length, count and transform check reads the other octets), so every UE's request with the
same proposal is decoded once. Only successful decodes are kept. Cleared when 16 are held."""


def _child_sa_decode(body: bytes) -> SaPayload:
    """``SaPayload.decode_body(body)``, from ``_CHILD_SA_SEEN`` when the body without its
    SPI (octets 8-11 after the proposal header, RFC 7296 §3.3.1) was decoded before."""
    one = len(body) > 12 and body[0] == 0 and body[6] == 4  # last (only) proposal, SPI of 4
    if one:
        key = body[:8] + body[12:]
        hit = _CHILD_SA_SEEN.get(key)
        if hit is not None:
            return SaPayload((Proposal(hit[0], hit[1], body[8:12], hit[2]),))
    decoded = SaPayload.decode_body(body)
    if one:
        p = decoded.proposals[0]
        if len(_CHILD_SA_SEEN) >= 16:
            _CHILD_SA_SEEN.clear()
        _CHILD_SA_SEEN[key] = (p.number, p.protocol, p.transforms)
    return decoded


_FIRST_AUTH_DECODERS: dict[int, Callable[[bytes], Any]] = {
    t: _DECODERS_INT[t] for t in _FIRST_AUTH_ONCE | _FIRST_AUTH_MANY
}
"""The payload types this path takes, with the general decoder's own decoding functions
(the SA payload's through ``_child_sa_decode``).
How often each may come (§1.2's bounds: IDi, IDr, CP, SA, TSi, TSr once; Notify, Vendor
ID, CERTREQ any number) is checked by payload class as the request is read: IDi/IDr and
TSi/TSr share a class each and differ by ``initiator``."""
_FIRST_AUTH_DECODERS[_P_SA] = _child_sa_decode
_ONE_OF_EACH = (IdPayload, TsPayload)
_MANY_CLASSES = (NotifyPayload, VendorPayload, CertReqPayload)
_SHAREABLE = frozenset((_P_NOTIFY, _P_CERTREQ, _P_CP, _P_TSI, _P_TSR))
_SHARED: dict[tuple[int, bytes], Any] = {}
"""Decoded Notify, CERTREQ, CP and TS payloads of first IKE_AUTH requests by (type, body),
the pairs ``_core.ikefast.walk`` returns: value objects nobody mutates, so the usual
INITIAL_CONTACT, USE_TRANSPORT_MODE, CERTREQ, CFG_REQUEST and bootstrap selectors (MH, any
address) of every UE are decoded once — building a selector's ``ipaddress`` objects costs
more than the rest of the request's decoding. Only this responder path fills it (the UE
side's decoding of per-UE selectors does not). Cleared when 64 are held; the payload alone
is kept (its class is read again on a hit: a (payload, class) pair per entry cost ~12 B per
UE in the 300-UE heap benchmark)."""


def fast_first_auth(
    engine: Any, sa: IkeSa, header: IkeHeader, data: bytes, src: Any, dst: Any, now: float
) -> IkeSa | Fallback:
    """The first IKE_AUTH request of an EAP bootstrap on a responder SA just out of
    IKE_SA_INIT; ``FALLBACK`` when it is not the common case (checked before any state
    changes).

    The common case: version 2.0, one SK payload, and inside it (zero flags octets) exactly
    one IDi, at most one each of IDr, CP, SA, TSi, TSr, any Notify, Vendor ID and CERTREQ
    payloads, and no AUTH (the peer authenticates with EAP), each payload decoded by the
    general decoder's own payload classes; the responder has an EAP server factory. The
    decoded request goes to the same three tasks as on the general path (``IkeAuth`` starts
    the EAP server, ``IkeConfig`` keeps the CFG_REQUEST, ``ChildCreate`` keeps the request);
    when all three wait for more, the response HDR, SK {IDr, [CERT,] AUTH, EAP} is written
    here with ``IkeAuth``'s own AUTH computation. Any other outcome (an unknown subscriber,
    a failing EAP start) is answered by ``ExchangeManager.answer`` with the same tasks and
    statuses."""
    if (
        len(data) <= IKE_HEADER_LEN
        or data[IKE_HEADER_LEN] != _P_IDI
        or sa.auth_tasks is not None
        or sa.mgr.passive is not None
        or sa.config.eap_server_factory is None  # type: ignore[union-attr]  # a responder's
    ):
        return FALLBACK
    spi_i = sa.spi_i
    if header.spi_i != spi_i:  # the kept request names the SA's own SPI objects (below)
        return FALLBACK
    inner = _sk_request(sa, header, data)
    if inner is None:
        return FALLBACK
    mgr = sa.mgr
    mid = header.message_id
    # ---- the inner chain (split by ``_core.ikefast.walk``: zero flags octets, lengths that
    # fit and end with the plaintext), decoded payload by payload with the general decoder's
    # classes
    parts = _walk(inner, 0, _P_IDI)
    if parts is None:
        return FALLBACK
    # the payloads after IDi as another UE's first request had them (every UE of a
    # deployment sends the same chain but for IDi and the SA payload's SPI): decoded once
    # (``_FIRST_CHAINS``), IDi, IDr and the SA payload decoded per request
    tail = inner[4 + len(parts[0][1]) :]
    second = parts[1][0] if len(parts) > 1 else 0  # its type is in IDi's header
    size = len(tail)
    chain = None
    for at in _FIRST_SPI_AT:
        chain = _FIRST_CHAINS.get(
            (at, second, size, tail if at < 0 else tail[:at] + tail[at + 4 :])
        )
        if chain is not None:
            break
    try:
        if chain is not None:
            payloads = list(chain[0])
            idi = payloads[0] = _decode_idi(parts[0][1])
            # the payloads by class: the chain's lists (shared payloads, never changed) but
            # for IDi / IDr and the SA payload, this request's own
            by_cls = chain[1].copy()
            at = chain[5]
            if at >= 0:
                # IDr's octets are part of the chain's key: the chain's decoded IDr, shared
                # (an IdPayload is never changed; one per SA in flight cost ~97 B)
                by_cls[IdPayload] = [idi, payloads[at]]
            else:
                by_cls[IdPayload] = [idi]
            sa_form = chain[3]
            if sa_form is not None:
                at, number, protocol, transforms = sa_form
                payloads[at] = sap = SaPayload(
                    (Proposal(number, protocol, parts[at][1][8:12], transforms),)
                )
                by_cls[SaPayload] = [sap]
            notifies = chain[2]  # read only, as every reader of ``Message._index``
        else:
            made = _first_decode(parts)
            if made is None:
                return FALLBACK
            payloads, by_cls, notifies = made
            _remember_chain(parts, second, tail, payloads, by_cls, notifies)
    except (MalformedPacket, ValueError):
        return FALLBACK
    # no ``raw``: ChildCreate keeps this request until the MSK AUTH, and nothing reads the
    # octets of an IKE_AUTH request once decrypted (only IKE_SA_INIT's are signed, §2.15)
    msg = Message(_X_AUTH, False, True, mid, spi_i, sa.spi_r, [], payloads)
    msg._ix = (len(payloads), by_cls, notifies)  # the key _index() gives: no clear payloads
    # ---- the common case: the state changes of IkeSa.receive and process_request, in order
    _follow(sa, src, dst, now)
    engine.fast_auth_hits += 1
    tasks = sa.auth_tasks = new_auth_tasks(sa)  # as _auth_tasks does (None before: tested above)
    # run_tasks(tasks, msg) written out: each task's process in order, none after a FAILED
    auth: IkeAuth = tasks[0]  # type: ignore[assignment]  # IkeAuth first (new_auth_tasks)
    first = auth.process(msg)
    if first is _FAILED:
        statuses = [first]
    else:
        then = tasks[1].process(msg)
        statuses = [first, then] if then is _FAILED else [first, then, tasks[2].process(msg)]
    out = auth.eap_out
    if (
        statuses != _WAITING
        or auth.phase != "start"
        or auth.eap is None
        or out is None
        or auth.error is not None
    ):
        mgr.answer(sa, tasks, statuses, _X_AUTH, mid, now)
        return sa
    # IkeAuth._build_response, phase "start" with EAP; IkeConfig and ChildCreate build
    # nothing before the SA is authenticated
    cfg = sa.config
    identity = cfg.identity
    mine = _MY_IDS.get(id(identity))
    if mine is None or mine[0] is not identity:
        mine = _my_id(identity)
    my_id = sa.my_id = mine[1]
    cert = cfg.certificate
    auth_payload = auth._my_auth()
    auth.phase = "eap"
    if cert is not None:
        inner_out = _chain(
            _FIRST_OUT_CERT,
            [mine[2], _cert_body(cert_der(cert)), auth_payload.encode_body(), out],
            0,
        )
    else:
        inner_out = _chain(_FIRST_OUT, [mine[2], auth_payload.encode_body(), out], 0)
    head = sa.spi_i + sa.spi_r + _HEAD_TAIL.pack(_P_SK, 0x20, _X_AUTH, _F_RESPONSE, mid, 0)
    sk: SkCrypto = sa.sk  # type: ignore[assignment]  # keyed by now
    packets = None
    if sa.fragmentation:
        limit = cfg.fragment_size - (4 if sa.local[1] == _NAT_T_PORT else 0)
        if sk.sealed_size(IKE_HEADER_LEN, len(inner_out)) > limit:
            resp = sa.new_message(_X_AUTH, response=True, message_id=mid)
            resp.add(my_id)
            if cert is not None:
                resp.add(CertPayload(_CERT_X509, cert_der(cert)))
            resp.add(auth_payload)
            resp.add(EapPayload(out))
            packets = sa.encode(resp)
    if packets is None:
        packets = [sk.seal(head, _P_IDR, inner_out)]
    mgr.expected_mid += 1
    mgr.last_response = (mid, packets)
    sa.send(packets, sa.reply_to)
    mgr.passive = [tasks[0], tasks[1], tasks[2]]
    # ChildCreate keeps the request until the MSK AUTH (two round trips or more away): its
    # lookup dicts (~0.4 KB: a by-class dict, the per-request IDi/IDr and SA lists) are
    # dropped here. In their place a chain hit leaves the chain's shared child summary
    # (``_child_summary``: no object per SA), whose places ``_auth_child`` reads; else
    # ``_auth_child`` reads the kept payloads in one pass. Either is no index for
    # ``Message._index`` (its key is never -1), which rebuilds one if the general
    # ChildCreate asks
    msg._ix = chain[6] if chain is not None else None
    return sa


_WAITING = [_NEED_MORE, _NEED_MORE, _NEED_MORE]
_MY_IDS: dict[int, tuple[Any, IdPayload, bytes]] = {}
"""The responder's IDr (``make_id(identity, False)``) and its encoded body by the configured
identity object (the entry keeps it alive: no id reuse): the same value for every UE, made
once (round 11). ``IdPayload`` values are never changed after decoding or making. Cleared
at 8 entries."""


def _my_id(identity: Any) -> tuple[Any, IdPayload, bytes]:
    made = make_id(identity, False)
    if len(_MY_IDS) >= 8:
        _MY_IDS.clear()
    entry = _MY_IDS[id(identity)] = (identity, made, made.encode_body())
    return entry


_CERT_ENCODING = bytes((_CERT_X509,))
_FIRST_OUT_CERT = bytes((_P_IDR, _P_CERT, _P_AUTH, _P_EAP))  # IDr, CERT, AUTH, EAP
_FIRST_OUT = bytes((_P_IDR, _P_AUTH, _P_EAP))
_CERT_BODIES: dict[bytes, bytes] = {}


def _first_decode(
    parts: list[Any],
) -> tuple[list[Any], dict[type, list[Any]], dict[int, Any]] | None:
    """The first request's inner payloads (``parts``: ``walk``'s (type, body) pairs) decoded
    by the general decoder's classes, with ``Message._index`` (payloads by class, the first
    Notify of each type: the three tasks' questions find it made) built along; None when a
    payload is not one this path takes or breaks the once-each rule. Raises
    MalformedPacket / ValueError for a malformed payload."""
    payloads: list[Any] = []
    by_cls: dict[type, list[Any]] = {}
    notifies: dict[int, Any] = {}
    shared = _SHARED
    for part in parts:
        # a Notify, CERTREQ, CP or TS body seen before: its decoded payload
        hit = shared.get(part)
        if hit is None:
            this = part[0]
            decode = _FIRST_AUTH_DECODERS.get(this)
            if decode is None:  # a type this path does not take (AUTH, EAP, CERT, ...)
                return None
            decoded = decode(part[1])
            cls = type(decoded)
            if this in _SHAREABLE:  # the same octets from every UE: decoded once
                if len(shared) >= 64:
                    shared.clear()
                shared[part] = decoded
        else:
            decoded = hit
            cls = type(decoded)
        payloads.append(decoded)
        same = by_cls.get(cls)
        if same is None:
            by_cls[cls] = [decoded]
        else:
            same.append(decoded)
            # IDi / IDr, TSi / TSr at most once each (IDi is the first payload), CP and
            # SA at most once: a second payload of those classes must be the other
            # direction's one and the only other one
            if cls in _ONE_OF_EACH:
                if len(same) > 2 or same[0].initiator is decoded.initiator:
                    return None
            elif cls not in _MANY_CLASSES:
                return None
        if part[0] == _P_NOTIFY and decoded.notify_type not in notifies:
            notifies[decoded.notify_type] = decoded
    return payloads, by_cls, notifies


_decode_idi = _FIRST_AUTH_DECODERS[_P_IDI]
_FIRST_CHAINS: dict[tuple[int, int, int, bytes], tuple[Any, ...]] = {}
"""First IKE_AUTH requests' inner chains after IDi, decoded once for every UE (session 8,
round 11). Key: (where the SA payload's SPI lies in the chain after IDi, -1 without an SA
payload; the second payload's type, which IDi's header carries; the chain's length; its
octets without the SPI's four). Value: the decoded payloads (IDi's and the SA payload's
places are filled per request; IDr, whose octets are in the key, is shared since session
9), the payloads by class (the IdPayload and
SaPayload lists made per request), the first Notify of each type, the SA payload's place
and its proposal's number, protocol and transforms, the SPI's place, IDr's place. Two
chains equal but for the SPI octets split and decode alike but for the proposal's SPI
(every type and length lies outside it; ``_child_sa_decode`` relies on the same), and the
once-each rule held for the first. Kept only when an SA payload, if any, is of one
proposal with a 4-octet SPI; other chains are decoded per request. Cleared at 16 entries
(with ``_FIRST_SPI_AT``)."""
_FIRST_SPI_AT: list[int] = []
"""The SPI places of the chains in ``_FIRST_CHAINS`` (usually one for all UEs)."""


def _remember_chain(
    parts: list[Any],
    second: int,
    tail: bytes,
    payloads: list[Any],
    by_cls: dict[type, list[Any]],
    notifies: dict[int, Any],
) -> None:
    """Keep a freshly decoded first request's chain after IDi (``tail``, its octets) in
    ``_FIRST_CHAINS``."""
    spi_at = sa_index = idr_index = -1
    pos = 0  # where the current part's generic header starts in ``tail``
    for i in range(1, len(parts)):
        kind, body = parts[i]
        if kind == _P_SA:
            if not (len(body) > 12 and body[0] == 0 and body[6] == 4):
                return  # not the one-proposal, 4-octet-SPI form: decoded per request
            spi_at, sa_index = pos + 4 + 8, i  # generic header, proposal header, SPI
        elif kind == _P_IDR:
            idr_index = i
        pos += 4 + len(body)
    if pos != len(tail):  # not a chain of exactly these parts: nothing kept
        return
    # by class: the lists of shared payloads as they are (read only, as every reader of
    # ``Message._index`` treats them); IDi / IDr and the SA payload are set per request
    classes = {
        cls: ([] if cls is IdPayload or cls is SaPayload else same) for cls, same in by_cls.items()
    }
    sa_form = None
    if sa_index >= 0:
        prop = payloads[sa_index].proposals[0]
        sa_form = (sa_index, prop.number, prop.protocol, prop.transforms)
    if len(_FIRST_CHAINS) >= 16:
        _FIRST_CHAINS.clear()
        _FIRST_SPI_AT.clear()
    key = (
        spi_at,
        second,
        len(tail),
        tail if spi_at < 0 else tail[:spi_at] + tail[spi_at + 4 :],
    )
    # the places filled per request hold None (no UE's own objects kept alive here); IDr
    # stays (its octets are in the key: every request of this chain names the same IDr)
    template = [None if i in (0, sa_index) else p for i, p in enumerate(payloads)]
    _FIRST_CHAINS[key] = (
        tuple(template),
        classes,
        notifies.copy(),
        sa_form,
        spi_at,
        idr_index,
        _child_summary(payloads),
    )
    if spi_at not in _FIRST_SPI_AT:
        _FIRST_SPI_AT.append(spi_at)


def _child_summary(payloads: list[Any]) -> tuple[int, ...] | None:
    """What ``_auth_child`` reads of a first request's payloads, found once per chain:
    ``(-1, the number of payloads, the places of the first SA payload, the first TSi, the
    first TSr, 1 with N(USE_TRANSPORT_MODE) else 0)`` — the same for every request of the
    chain (each payload's place and class, and every Notify, come from the chain's octets);
    None when ``_auth_child`` would not take the request (no SA, TSi or TSr payload, an
    N(REKEY_SA) or a KE payload), whose requests keep the one-pass reading. The leading -1
    is no ``Message._index`` key (those are never negative)."""
    sa_at = tsi_at = tsr_at = -1
    transport = 0
    for i, p in enumerate(payloads):
        t = type(p)
        if t is NotifyPayload:
            n = p.notify_type
            if n == _N_REKEY_SA:
                return None
            if n == _N_USE_TRANSPORT_MODE:
                transport = 1
        elif t is TsPayload:
            if p.initiator:
                if tsi_at < 0:
                    tsi_at = i
            elif tsr_at < 0:
                tsr_at = i
        elif t is SaPayload:
            if sa_at < 0:
                sa_at = i
        elif t is KePayload:
            return None
    if sa_at < 0 or tsi_at < 0 or tsr_at < 0:
        return None
    return (-1, len(payloads), sa_at, tsi_at, tsr_at, transport)


def _cert_body(der: bytes) -> bytes:
    """The CERT payload body (encoding octet, DER) of our certificate, built once."""
    body = _CERT_BODIES.get(der)
    if body is None:
        if len(_CERT_BODIES) >= 8:
            _CERT_BODIES.clear()
        body = _CERT_BODIES[der] = _CERT_ENCODING + der
    return body
