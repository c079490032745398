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

import struct
from typing import TYPE_CHECKING, Any

from dsmip6.errors import MalformedPacket
from dsmip6.ikev2 import keys, transforms
from dsmip6.ikev2.auth import certreq_data
from dsmip6.ikev2.constants import (
    IKE_HEADER_LEN,
    CertEncoding,
    DhId,
    ExchangeType,
    Flag,
    Notify,
    PayloadType,
)
from dsmip6.ikev2.message import NotifyPayload, SaPayload
from dsmip6.ikev2.sa import IkeSa, SaState, nat_hash
from dsmip6.ikev2.tasks._proposals import choose_ike, selected_ike_payload
from dsmip6.ikev2.tasks.ike_init import _FRAG_NOTIFY, _SIG_HASHES_NOTIFY

if TYPE_CHECKING:
    from dsmip6.ikev2.config import IkeProposal
    from dsmip6.ikev2.message import IkeHeader

FALLBACK: Any = object()
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
) -> IkeSa | None:
    """Answer a common-case first IKE_SA_INIT request; ``FALLBACK`` when it is not one."""
    cfg = engine.config
    if header.version != 0x20 or cfg.redirect is not None or header.message_id != 0:
        return FALLBACK
    half_open = len(engine._half_open)
    if half_open >= cfg.half_open_limit or half_open >= cfg.cookie_threshold:
        return FALLBACK
    # ---- parse: SA, KE, Nonce once each, notifies; anything else is not the common case
    size = len(data)
    off = IKE_HEADER_LEN
    nxt = header.next_payload
    unpack = _GENERIC.unpack_from
    sa_body = ke_body = nonce = None
    certreq = False
    notifies: list[tuple[int, bytes]] = []
    while nxt:
        if size - off < 4:
            return FALLBACK
        this = nxt
        nxt, flags, length = unpack(data, off)
        end = off + length
        if flags or length < 4 or end > size:
            return FALLBACK
        if this == _P_NOTIFY:
            if length < 8:
                return FALLBACK
            spi_size = data[off + 5]
            if length < 8 + spi_size:
                return FALLBACK
            notifies.append(((data[off + 6] << 8) | data[off + 7], data[off + 8 + spi_size : end]))
        elif this == _P_SA and sa_body is None:
            sa_body = data[off + 4 : end]
        elif this == _P_KE and ke_body is None:
            ke_body = data[off + 4 : end]
        elif this == _P_NONCE and nonce is None:
            nonce = data[off + 4 : end]
        elif this == _P_CERTREQ and length >= 5:
            certreq = True
        elif this != _P_VENDOR:  # a Vendor ID is ignored, as the general path does
            return FALLBACK
        off = end
    if off != size or sa_body is None or ke_body is None or nonce is None:
        return FALLBACK
    if not 16 <= len(nonce) <= 256 or len(ke_body) < 4:
        return FALLBACK
    chosen = engine._choices.choose(sa_body, cfg.proposals)
    if chosen is None:
        return FALLBACK
    number, mine, groups = chosen
    group = (ke_body[0] << 8) | ke_body[1]
    peer_ke = ke_body[4:]
    if group not in groups or _KE_SIZE.get(group) != len(peer_ke):
        return FALLBACK
    # ---- the common case: from here on the general path's state changes, in its order
    sa = IkeSa(engine, engine._next_id, False, cfg, engine._rng, dst, src, now)
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
    nat_src: list[bytes] = []
    nat_dst: list[bytes] = []
    seen: set[int] = set()
    hashes: bytes | None = None
    for nt, nd in notifies:
        if nt == _N_NAT_SRC:
            nat_src.append(nd)
        elif nt == _N_NAT_DST:
            nat_dst.append(nd)
        elif nt == _N_SIG_HASHES and hashes is None:
            hashes = nd
        seen.add(nt)
    sa.peer_redirect_supported = _N_REDIRECT_SUPPORTED in seen
    if nat_src:
        h = nat_hash(spi_i, _ZERO_SPI, src)
        sa.nat_remote = all(d != h for d in nat_src)
    if nat_dst:
        h = nat_hash(spi_i, _ZERO_SPI, dst)
        sa.nat_local = all(d != h for d in nat_dst)
    sa.fragmentation = cfg.enable_fragmentation and _N_FRAG in seen
    if hashes is not None:
        sa.peer_sig_hashes = struct.unpack(f"!{len(hashes) // 2}H", hashes[: len(hashes) & ~1])
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
    pack = _GENERIC.pack
    sa_out = selected_ike_payload(number, mine, group).encode_body()
    ke_out = struct.pack("!HH", group, 0) + dh.public
    src_out = _NAT_SRC_HEAD + nat_hash(spi_i, spi_r, dst)
    dst_out = _NAT_DST_HEAD + nat_hash(spi_i, spi_r, src)
    tail: list[tuple[int, bytes]] = []
    if cfg.trust_anchors:
        tail.append((_P_CERTREQ, bytes((_CERT_X509,)) + certreq_data(cfg.trust_anchors)))
    tail.append((_P_NOTIFY, _SIG_HASHES_BODY))
    if cfg.enable_fragmentation:
        tail.append((_P_NOTIFY, _FRAG_BODY))
    parts = [
        pack(_P_KE, 0, 4 + len(sa_out)),
        sa_out,
        pack(_P_NONCE, 0, 4 + len(ke_out)),
        ke_out,
        pack(_P_NOTIFY, 0, 4 + len(nr)),
        nr,
        pack(_P_NOTIFY, 0, 4 + len(src_out)),
        src_out,
        pack(tail[0][0], 0, 4 + len(dst_out)),
        dst_out,
    ]
    for i, (_t, body) in enumerate(tail):
        parts.append(pack(tail[i + 1][0] if i + 1 < len(tail) else 0, 0, 4 + len(body)))
        parts.append(body)
    body_out = b"".join(parts)
    out = (
        spi_i
        + spi_r
        + _HEAD_TAIL.pack(_P_SA, 0x20, _X_INIT, _F_RESPONSE, 0, IKE_HEADER_LEN + len(body_out))
        + body_out
    )
    sa.init_response = out
    packets = [out]
    mgr.expected_mid += 1
    mgr.last_response = (0, packets)
    sa.send(packets, sa.reply_to)
    mgr.passive = None
    sa.exchange_finished(_X_INIT, failed=False, now=now, passive=True)
    engine.fast_path_hits += 1
    return sa


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
