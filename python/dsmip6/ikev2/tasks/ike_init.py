"""IKE_SA_INIT (RFC 7296 §1.2, §2.6 cookies, §1.2 INVALID_KE_PAYLOAD, §2.23 NAT detection;
RFC 5685 redirect; RFC 7383 fragmentation support; RFC 7427 signature hashes).

::

    HDR, [N(COOKIE),] SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP),
         N(SIGNATURE_HASH_ALGORITHMS), [N(FRAGMENTATION_SUPPORTED)], [N(REDIRECT_SUPPORTED)]  -->
    <--  HDR, SAr1, KEr, Nr, N(NAT-D src), N(NAT-D dst), [CERTREQ], N(...)
"""

from __future__ import annotations

import struct
from ipaddress import ip_address
from typing import TYPE_CHECKING

from dsmip6.errors import MalformedPacket
from dsmip6.ikev2 import keys, transforms
from dsmip6.ikev2.auth import certreq_data
from dsmip6.ikev2.constants import (
    NAT_T_PORT,
    CertEncoding,
    GatewayIdType,
    HashAlgorithm,
    Notify,
)
from dsmip6.ikev2.events import Redirected
from dsmip6.ikev2.exchange import DONE, FAILED, NEED_MORE, Status
from dsmip6.ikev2.message import (
    CertReqPayload,
    KePayload,
    Message,
    NoncePayload,
    NotifyPayload,
    SaPayload,
)
from dsmip6.ikev2.sa import SaState, nat_hash
from dsmip6.ikev2.tasks._proposals import (
    choose_ike,
    ike_proposals,
    match_selected_ike,
    selected_ike_payload,
)

if TYPE_CHECKING:
    from dsmip6.ikev2.config import IkeProposal
    from dsmip6.ikev2.sa import IkeSa

MAX_INIT_RETRIES = 3
"""COOKIE / INVALID_KE_PAYLOAD restarts accepted before giving up."""
SIG_HASHES = (
    HashAlgorithm.SHA2_256,
    HashAlgorithm.SHA2_384,
    HashAlgorithm.SHA2_512,
    HashAlgorithm.IDENTITY,
)
_SIG_HASHES_DATA = b"".join(struct.pack("!H", h) for h in SIG_HASHES)  # the same every time
# Plain ints on the per-handshake path (enum attribute access is slow).
_N_NAT_SRC = int(Notify.NAT_DETECTION_SOURCE_IP)
_N_NAT_DST = int(Notify.NAT_DETECTION_DESTINATION_IP)
_N_SIG_HASHES = int(Notify.SIGNATURE_HASH_ALGORITHMS)
_N_FRAG = int(Notify.FRAGMENTATION_SUPPORTED)
_N_REDIRECT_SUPPORTED = int(Notify.REDIRECT_SUPPORTED)
_CERT_X509 = int(CertEncoding.X509_SIGNATURE)
_SIG_HASHES_NOTIFY = NotifyPayload(_N_SIG_HASHES, _SIG_HASHES_DATA)  # immutable: shared
_FRAG_NOTIFY = NotifyPayload(_N_FRAG)
_ZERO_SPI = b"\x00" * 8


def encode_gateway(address: str, nonce: bytes = b"") -> bytes:
    """REDIRECT / REDIRECTED_FROM data: GW Ident Type | Len | identity [| nonce] (RFC 5685 §9)."""
    try:
        a = ip_address(address)
        kind, raw = (GatewayIdType.IPV4 if a.version == 4 else GatewayIdType.IPV6), a.packed
    except ValueError:
        kind, raw = GatewayIdType.FQDN, address.encode()
    return bytes([kind, len(raw)]) + raw + nonce


def decode_gateway(data: bytes) -> tuple[str, bytes]:
    if len(data) < 2 or len(data) < 2 + data[1]:
        raise MalformedPacket("gateway identity truncated", 0, "truncated")
    kind, n = data[0], data[1]
    raw = data[2 : 2 + n]
    if kind == GatewayIdType.FQDN:
        gw = raw.decode("ascii", "replace")
    elif (kind, n) in ((GatewayIdType.IPV4, 4), (GatewayIdType.IPV6, 16)):
        gw = str(ip_address(raw))
    else:
        raise MalformedPacket("bad gateway identity", 0, "bad-value")
    return gw, data[2 + n :]


_SIG_HASHES_SEEN: dict[bytes, tuple[int, ...]] = {}
"""N(SIGNATURE_HASH_ALGORITHMS) data → its decoded tuple (shared by the SAs of its peers)."""


def shared_sig_hashes(data: bytes) -> tuple[int, ...]:
    """The peer's N(SIGNATURE_HASH_ALGORITHMS) list (RFC 7427 §4) as a tuple of hash
    identifiers. Every peer of a deployment sends the same list, so the tuple is shared by
    every SA that read the same octets (an SA in flight would otherwise hold its own: ~72 B
    in an attach storm); tuples are never changed. The table is cleared at 8 entries."""
    sig = _SIG_HASHES_SEEN.get(data)
    if sig is None:
        sig = struct.unpack(f"!{len(data) // 2}H", data[: len(data) & ~1])
        if len(_SIG_HASHES_SEEN) >= 8:
            _SIG_HASHES_SEEN.clear()
        _SIG_HASHES_SEEN[bytes(data)] = sig
    return sig


class IkeInit:
    def __init__(self, sa: IkeSa, initiator: bool) -> None:
        self.sa = sa
        self.initiator = initiator
        self.cookie: bytes | None = None
        self.retries = 0
        self.dh: transforms.DhPrivate | None = None
        self.group = 0
        self.error: tuple[int, bytes] | None = None
        self.redirect_to: str | None = None
        self.chosen: tuple[int, IkeProposal, int] | None = None
        self.peer_ke = b""

    # -------------------------------------------------------------- shared helpers
    def _notifies_common(self, msg: Message) -> None:
        sa = self.sa
        cfg = sa.config
        spi_r = sa.spi_r if not self.initiator else _ZERO_SPI
        add = msg.add
        add(NotifyPayload(_N_NAT_SRC, nat_hash(sa.spi_i, spi_r, sa.local)))
        add(NotifyPayload(_N_NAT_DST, nat_hash(sa.spi_i, spi_r, sa.remote)))
        if cfg.trust_anchors and not self.initiator:  # §1.2: responder only; the
            # initiator sends its CERTREQ in IKE_AUTH
            add(CertReqPayload(_CERT_X509, certreq_data(cfg.trust_anchors)))
        add(_SIG_HASHES_NOTIFY)
        if cfg.enable_fragmentation:
            add(_FRAG_NOTIFY)

    def _learn_peer(
        self, msg: Message, spi_r: bytes, peer_addr: tuple[str, int], my_addr: tuple[str, int]
    ) -> None:
        sa = self.sa
        # one pass over the payloads instead of one scan per notify type
        src: list[bytes] = []
        dst: list[bytes] = []
        seen: set[int] = set()
        hashes: bytes | None = None
        certreq = False
        for p in msg.all_payloads():
            if type(p) is NotifyPayload:
                nt = p.notify_type
                if nt == _N_NAT_SRC:
                    src.append(p.data)
                elif nt == _N_NAT_DST:
                    dst.append(p.data)
                elif nt == _N_SIG_HASHES and hashes is None:
                    hashes = p.data
                seen.add(nt)
            elif type(p) is CertReqPayload:
                certreq = True
        sa.peer_redirect_supported = _N_REDIRECT_SUPPORTED in seen
        if src:
            mine = nat_hash(sa.spi_i, spi_r, peer_addr)
            sa.nat_remote = mine not in src  # no generator closed early at a match
        if dst:
            mine = nat_hash(sa.spi_i, spi_r, my_addr)
            sa.nat_local = mine not in dst
        sa.fragmentation = sa.config.enable_fragmentation and _N_FRAG in seen
        if hashes is not None:  # a cookie-retried request in a storm comes here
            sa.peer_sig_hashes = shared_sig_hashes(hashes)
        sa.peer_certreq = certreq

    def _derive(self, peer_ke: bytes) -> None:
        sa = self.sa
        assert self.dh is not None and sa.prf is not None and sa.encr is not None
        g_ir = self.dh.shared(peer_ke)
        seed = keys.skeyseed(sa.prf, sa.ni, sa.nr, g_ir)
        sa.keys = keys.derive_ike_keys(
            sa.prf, sa.encr, sa.integ, seed, sa.ni, sa.nr, sa.spi_i, sa.spi_r
        )
        sa.make_crypto()
        sa.init_done = True
        sa.state = SaState.AUTH

    def _use(self, mine: IkeProposal, group: int) -> None:
        sa = self.sa
        sa.prf = transforms.PRFS[mine.prf]
        sa.encr = transforms.encr_cached(mine.encr, mine.key_bits)
        sa.integ = transforms.INTEGS[mine.integ] if mine.integ is not None else None
        sa.dh_group = group

    # -------------------------------------------------------------- requester
    def build(self, msg: Message) -> Status:
        return self._build_request(msg) if self.initiator else self._build_response(msg)

    def process(self, msg: Message) -> Status:
        return self._process_response(msg) if self.initiator else self._process_request(msg)

    def _build_request(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        if self.cookie is not None:
            msg.add(NotifyPayload(Notify.COOKIE, self.cookie))
        if self.dh is None or self.dh.group != self.group:
            self.group = self.group or cfg.proposals[0].dh_groups[0]
            self.dh = transforms.dh_generate(self.group, sa.rng)
        if not sa.ni:
            sa.ni = sa.rng(cfg.nonce_size)
        msg.add(SaPayload(ike_proposals(cfg.proposals)))
        msg.add(KePayload(self.group, self.dh.public))
        msg.add(NoncePayload(sa.ni))
        self._notifies_common(msg)
        if getattr(cfg, "redirected_from", None):
            msg.add(NotifyPayload(Notify.REDIRECTED_FROM, encode_gateway(str(cfg.redirected_from))))
        elif getattr(cfg, "redirect_supported", False):
            msg.add(NotifyPayload(Notify.REDIRECT_SUPPORTED))
        return NEED_MORE

    def _fail(self, reason: str) -> Status:
        self.sa.failure_reason = reason
        return FAILED

    def _process_response(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        cookie = msg.notify(Notify.COOKIE)
        if cookie is not None and msg.get(SaPayload) is None:
            self.retries += 1
            if self.retries > MAX_INIT_RETRIES or not 1 <= len(cookie.data) <= 64:
                return self._fail("COOKIE")
            self.cookie = cookie.data
            return NEED_MORE  # §2.6: resend message 1 with the cookie first
        invalid_ke = msg.notify(Notify.INVALID_KE_PAYLOAD)
        if invalid_ke is not None:
            self.retries += 1
            wanted = struct.unpack("!H", invalid_ke.data[:2])[0] if len(invalid_ke.data) >= 2 else 0
            offered = {g for p in cfg.proposals for g in p.dh_groups}
            if self.retries > MAX_INIT_RETRIES or wanted not in offered or wanted == self.group:
                return self._fail("INVALID_KE_PAYLOAD")
            self.group = wanted
            return NEED_MORE  # §1.3: retry with the group the responder wants
        redirect = msg.notify(Notify.REDIRECT)
        if redirect is not None:
            try:
                gw, nonce = decode_gateway(redirect.data)
            except MalformedPacket:
                return self._fail("bad REDIRECT")
            if nonce != sa.ni:  # RFC 5685 §4.2: the response echoes our Ni
                return self._fail("REDIRECT with a wrong nonce")
            sa.emit(Redirected(sa.id, gw))
            sa.die(0.0, quiet=True)
            return FAILED
        errors = msg.error_notifies()
        if errors:
            return self._fail(_notify_name(errors[0].notify_type))
        sap = msg.get(SaPayload)
        kep = msg.get(KePayload)
        nrp = msg.get(NoncePayload)
        if sap is None or kep is None or nrp is None or len(sap.proposals) != 1:  # type: ignore[union-attr]
            return self._fail("INVALID_SYNTAX")
        mine = match_selected_ike(cfg.proposals, sap.proposals[0])  # type: ignore[union-attr]
        if mine is None or kep.group != self.group:  # type: ignore[union-attr]
            return self._fail("NO_PROPOSAL_CHOSEN")
        if msg.spi_r == b"\x00" * 8:
            return self._fail("INVALID_SYNTAX")
        sa.spi_r = msg.spi_r
        sa.init_response = msg.raw
        sa.nr = nrp.data  # type: ignore[union-attr]
        self._use(mine, self.group)
        self._learn_peer(msg, sa.spi_r, sa.remote, sa.local)
        try:
            self._derive(kep.data)  # type: ignore[union-attr]
        except MalformedPacket:
            return self._fail("INVALID_KE_PAYLOAD")
        if (sa.nat_detected or getattr(cfg, "force_nat_t", False)) and sa.local[1] != NAT_T_PORT:
            # §2.23: float to 4500 for everything after IKE_SA_INIT
            sa.local = (sa.local[0], NAT_T_PORT)
            sa.remote = (sa.remote[0], NAT_T_PORT)
        return DONE

    # -------------------------------------------------------------- responder
    def _process_request(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        sap = msg.get(SaPayload)
        kep = msg.get(KePayload)
        nip = msg.get(NoncePayload)
        assert sap is not None and kep is not None and nip is not None  # rule table
        sa.ni = nip.data  # type: ignore[union-attr]
        sa.init_request = msg.raw
        chosen = choose_ike(cfg.proposals, sap.proposals)  # type: ignore[union-attr]
        if chosen is None:
            self.error = (Notify.NO_PROPOSAL_CHOSEN, b"")
            return FAILED
        number, mine, groups = chosen
        if kep.group not in groups:  # type: ignore[union-attr]
            preferred = next(g for g in mine.dh_groups if g in groups)
            self.error = (Notify.INVALID_KE_PAYLOAD, struct.pack("!H", preferred))
            return FAILED
        self._learn_peer(msg, _ZERO_SPI, sa.remote, sa.local)
        redirect = getattr(cfg, "redirect", None)
        if redirect is not None and sa.peer_redirect_supported:
            target = redirect(sa.remote[0], None)
            if target:
                self.error = (Notify.REDIRECT, encode_gateway(target, sa.ni))
                return FAILED
        self.chosen = (number, mine, kep.group)  # type: ignore[union-attr]
        self.peer_ke = kep.data  # type: ignore[union-attr]
        return NEED_MORE

    def _build_response(self, msg: Message) -> Status:
        sa = self.sa
        if self.error is not None:
            msg.spi_r = b"\x00" * 8  # no state kept: SPIr 0 as in COOKIE replies (§1.3, §2.6)
            msg.add(NotifyPayload(self.error[0], self.error[1]))
            sa.failure_reason = _notify_name(self.error[0])
            return FAILED
        assert self.chosen is not None
        number, mine, group = self.chosen
        self._use(mine, group)
        self.dh = transforms.dh_generate(group, sa.rng)
        sa.nr = sa.rng(sa.config.nonce_size)
        try:
            self._derive(self.peer_ke)
        except MalformedPacket:
            msg.payloads.clear()
            msg.add(NotifyPayload(Notify.INVALID_SYNTAX))
            sa.failure_reason = "INVALID_SYNTAX"
            return FAILED
        msg.add(selected_ike_payload(number, mine, group))
        msg.add(KePayload(group, self.dh.public))
        msg.add(NoncePayload(sa.nr))
        self._notifies_common(msg)
        return DONE


def _notify_name(n: int) -> str:
    try:
        return Notify(n).name
    except ValueError:
        return f"NOTIFY_{n}"
