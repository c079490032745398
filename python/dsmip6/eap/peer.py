"""EAP-AKA (RFC 4187) and EAP-AKA' (RFC 5448/9048) peer: the UE side, sans-I/O.

Theory of operation
===================

1. ``process(packet)`` takes one EAP packet from the authenticator (carried in IKEv2 EAP
   payloads, RADIUS EAP-Message, ...) and returns the EAP response to send, or ``None`` when
   nothing is to be sent (EAP-Success/Failure, or a packet silently discarded).
2. It never raises on input: a packet whose EAP header does not parse is discarded
   (RFC 3748 §4); an EAP-AKA request that is malformed, unexpected in the current state, or
   fails AT_MAC / AT_CHECKCODE verification is answered with AKA-Client-Error (RFC 4187
   §6.3.1) and the peer then only waits for EAP-Failure.
3. Challenge processing order (RFC 4187 §9.3 / §10.15): the USIM checks AUTN first
   (MAC-A failure → Authentication-Reject; stale SQN → Synchronization-Failure with AUTS),
   only then are the keys derived and AT_MAC checked.
4. States and transitions are the tables of ``_state.py``. ``state`` is "running",
   "success" or "failure"; ``msk``/``emsk`` are set on success only.
5. A request identical to the previous one (same octets) is a retransmission: the cached
   response is returned without reprocessing (RFC 3748 §4.1).
6. EAP-Failure ends the exchange in any state before success (RFC 4187 §6.3.3 lets a peer
   discard it outside the three failure cases; we accept it so that a peer never hangs).
7. Fast re-authentication (RFC 4187 §5): a peer built with ``reauth=`` answers
   AKA-Reauthentication (AT_MAC, fresh AT_COUNTER, MSK from NONCE_S) or reports
   AT_COUNTER_TOO_SMALL; either way the context is used once. After success,
   ``reauth_context`` holds the next one when the server sent AT_NEXT_REAUTH_ID.
"""

from __future__ import annotations

from collections.abc import Callable

from dsmip6.aka import AkaStatus, Usim
from dsmip6.errors import MalformedPacket, RemoteProtocolError

from . import _crypto
from ._packet import (
    AkaMessage,
    AkaSubtype,
    AtType,
    EapCode,
    EapPacket,
    EapType,
    build_aka,
    build_attribute,
    length_prefixed,
    parse_aka,
    res_attribute,
    reserved_attribute,
    word_attribute,
)
from ._reauth import ReauthContext, open_encr, seal_encr
from ._state import PEER_ACCEPTS, PEER_TRANSITIONS, Msg, PeerInput, PeerState, next_state

__all__ = ["EapAkaPeer", "EapAkaPrimePeer"]

_A = AtType

#: Attributes allowed in each request the peer processes: (required, optional).
#: RFC 4187 §9.1, §9.3, §9.10; RFC 5448 §3.1-3.2 and RFC 9048 §4 for AKA'.
_REQUEST_RULES: dict[tuple[int, int], tuple[frozenset[int], frozenset[int]]] = {
    (EapType.AKA, AkaSubtype.IDENTITY): (
        frozenset(),
        frozenset({_A.AT_PERMANENT_ID_REQ, _A.AT_ANY_ID_REQ, _A.AT_FULLAUTH_ID_REQ}),
    ),
    (EapType.AKA, AkaSubtype.CHALLENGE): (
        frozenset({_A.AT_RAND, _A.AT_AUTN, _A.AT_MAC}),
        frozenset({_A.AT_RESULT_IND, _A.AT_CHECKCODE, _A.AT_IV, _A.AT_ENCR_DATA, _A.AT_BIDDING}),
    ),
    (EapType.AKA, AkaSubtype.NOTIFICATION): (
        frozenset({_A.AT_NOTIFICATION}),
        frozenset({_A.AT_MAC, _A.AT_IV, _A.AT_ENCR_DATA}),
    ),
}
_REQUEST_RULES[(EapType.AKA, AkaSubtype.REAUTHENTICATION)] = (
    frozenset({_A.AT_IV, _A.AT_ENCR_DATA, _A.AT_MAC}),
    frozenset({_A.AT_RESULT_IND, _A.AT_CHECKCODE}),
)
for _sub in (AkaSubtype.IDENTITY, AkaSubtype.NOTIFICATION):
    _REQUEST_RULES[(EapType.AKA_PRIME, _sub)] = _REQUEST_RULES[(EapType.AKA, _sub)]
_REQUEST_RULES[(EapType.AKA_PRIME, AkaSubtype.REAUTHENTICATION)] = _REQUEST_RULES[
    (EapType.AKA, AkaSubtype.REAUTHENTICATION)
]
_REQUEST_RULES[(EapType.AKA_PRIME, AkaSubtype.CHALLENGE)] = (
    frozenset({_A.AT_RAND, _A.AT_AUTN, _A.AT_MAC, _A.AT_KDF, _A.AT_KDF_INPUT}),
    frozenset({_A.AT_RESULT_IND, _A.AT_CHECKCODE, _A.AT_IV, _A.AT_ENCR_DATA}),
)

_ID_REQ_ORDER = {_A.AT_ANY_ID_REQ: 0, _A.AT_FULLAUTH_ID_REQ: 1, _A.AT_PERMANENT_ID_REQ: 2}

#: Notification code bits (RFC 4187 §10.19).
NOTIFICATION_S = 0x8000
NOTIFICATION_P = 0x4000
KDF_AKA_PRIME = 1  # RFC 5448 §3.2: HMAC-SHA-256 based CK'/IK' derivation
BIDDING_D = 0x8000  # RFC 5448 §4: the sender supports and prefers EAP-AKA'


class _Reject(Exception):
    """Internal: answer the current request with Client-Error (RFC 4187 §6.3.1)."""


class EapAkaPeer:
    """EAP-AKA peer (RFC 4187) driven by a ``Usim``.

    ``identity`` is the NAI the peer uses (normally the permanent ``0<IMSI>@realm``, or a
    pseudonym / re-authentication identity); it is the Identity of the key derivation unless
    an AKA-Identity round changes it. ``rng(n)`` returns n random octets (the AT_IV of
    re-authentication responses). ``result_indication`` makes the peer answer AT_RESULT_IND
    (RFC 4187 §6.2) when the server offers it. ``reauth`` is the ``reauth_context`` of an
    earlier successful exchange: with it (and ``identity`` = its ``reauth_id``) the peer
    answers AKA-Reauthentication (RFC 4187 §5). ``permanent_identity`` (default: ``identity``)
    answers AT_FULLAUTH_ID_REQ and AT_PERMANENT_ID_REQ, while AT_ANY_ID_REQ gets ``identity``
    (§4.1.5). ``prefer_aka_prime`` says this UE would rather run EAP-AKA': an EAP-AKA challenge
    whose AT_BIDDING has the D bit is then refused as a bidding-down attack (RFC 5448 §4).
    """

    method: int = EapType.AKA

    def __init__(
        self,
        usim: Usim,
        identity: str,
        *,
        rng: Callable[[int], bytes],
        result_indication: bool = False,
        reauth: ReauthContext | None = None,
        permanent_identity: str | None = None,
        prefer_aka_prime: bool = False,
    ) -> None:
        self.usim = usim
        self.prefer_aka_prime = prefer_aka_prime
        self.identity = identity
        self.permanent_identity = permanent_identity or identity
        self._rng = rng
        self.result_indication = result_indication
        self._state = PeerState.START
        self._mk_identity = identity.encode()
        self._identity_packets: list[bytes] = []
        self._id_round = -1
        self._keys: _crypto.EapAkaKeys | None = None
        self._result_ind_used = False
        self._notification_seen = False
        self._last_request: bytes | None = None
        self._last_response: bytes | None = None
        self.msk: bytes | None = None
        self.emsk: bytes | None = None
        self.next_pseudonym: str | None = None
        """AT_NEXT_PSEUDONYM (a username) from the server, for a later ``pseudonym@realm``."""
        self.next_reauth_id: str | None = None
        """AT_NEXT_REAUTH_ID from the server (also in ``reauth_context`` after success)."""
        self.failure_reason: str | None = None
        self.notification_code: int | None = None
        self._reauth = reauth
        self._pending_reauth: ReauthContext | None = None
        self.reauth_context: ReauthContext | None = None
        """After success: what a next ``EapAkaPeer(usim, ctx.reauth_id, rng=..., reauth=ctx)``
        needs for fast re-authentication (RFC 4187 §5); None when the server offered none."""
        self.reauthenticated = False
        """True when this exchange was a fast re-authentication."""

    # -- public -----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "running", "success" or "failure"."""
        if self._state is PeerState.SUCCESS:
            return "success"
        if self._state is PeerState.FAILURE:
            return "failure"
        return "running"

    @property
    def machine_state(self) -> PeerState:
        """The detailed state of the transition table."""
        return self._state

    def process(self, eap_packet: bytes) -> bytes | None:
        """Process one EAP packet from the authenticator; return the response or None.

        Never raises on any input (see the module docstring).
        """
        try:
            pkt = EapPacket.parse(eap_packet)
        except MalformedPacket:
            return None
        if pkt.code == EapCode.SUCCESS:
            return self._on_result(Msg.EAP_SUCCESS)
        if pkt.code == EapCode.FAILURE:
            return self._on_result(Msg.EAP_FAILURE)
        if pkt.code != EapCode.REQUEST:
            return None
        raw = bytes(eap_packet[: 5 + len(pkt.type_data)])
        if raw == self._last_request and self._last_response is not None:
            return self._last_response
        response = self._on_request(pkt, raw)
        if response is not None:
            self._last_request, self._last_response = raw, response
        return response

    # -- dispatch ---------------------------------------------------------------------

    def _fire(self, event: PeerInput) -> None:
        self._state = next_state("peer", PEER_TRANSITIONS, self._state, event)  # type: ignore[assignment]

    def _on_result(self, kind: Msg) -> None:
        if kind not in PEER_ACCEPTS[self._state]:
            return None  # RFC 4187 §6.3.4: silently discard
        if kind is Msg.EAP_SUCCESS:
            assert self._keys is not None
            self.msk, self.emsk = self._keys.msk, self._keys.emsk
            self.reauth_context = self._pending_reauth
            self._fire(PeerInput.EAP_SUCCESS)
        else:
            if self.failure_reason is None:
                self.failure_reason = "EAP-Failure received"
            self._fire(PeerInput.EAP_FAILURE)
        return None

    def _on_request(self, pkt: EapPacket, raw: bytes) -> bytes | None:
        ident = pkt.identifier
        if pkt.type == EapType.IDENTITY:
            if Msg.IDENTITY_REQUEST not in PEER_ACCEPTS[self._state]:
                return None
            self._fire(PeerInput.IDENTITY_ANSWERED)
            return EapPacket(
                EapCode.RESPONSE, ident, EapType.IDENTITY, self.identity.encode()
            ).to_bytes()
        if pkt.type == EapType.NOTIFICATION:
            # RFC 3748 §5.2: always answered with an empty Notification response.
            return EapPacket(EapCode.RESPONSE, ident, EapType.NOTIFICATION).to_bytes()
        if pkt.type != self.method:
            # RFC 3748 §5.3.1: legacy Nak proposing our method.
            return EapPacket(EapCode.RESPONSE, ident, EapType.NAK, bytes((self.method,))).to_bytes()
        if self._state is PeerState.SUCCESS or self._state is PeerState.FAILURE:
            return None
        try:
            msg = parse_aka(raw, pkt)
            return self._on_aka(msg)
        except (ValueError, RemoteProtocolError, _Reject) as exc:  # MalformedPacket too
            return self._client_error(ident, str(exc))

    def _on_aka(self, msg: AkaMessage) -> bytes:
        kind = {
            AkaSubtype.IDENTITY: Msg.AKA_IDENTITY,
            AkaSubtype.CHALLENGE: Msg.CHALLENGE,
            AkaSubtype.REAUTHENTICATION: Msg.REAUTHENTICATION,
            AkaSubtype.NOTIFICATION: Msg.NOTIFICATION,
        }.get(msg.subtype)  # type: ignore[call-overload]
        if kind is None:
            raise _Reject(f"unexpected subtype {msg.subtype}")
        if kind not in PEER_ACCEPTS[self._state]:
            raise _Reject(f"{kind.value} not expected in state {self._state.value}")
        required, optional = _REQUEST_RULES[(msg.method, msg.subtype)]
        types = msg.types()
        if not required <= types:
            raise _Reject(f"missing attributes {sorted(required - types)}")
        if types - required - optional:
            raise _Reject(f"attributes not allowed here {sorted(types - required - optional)}")
        if kind is Msg.AKA_IDENTITY:
            return self._on_identity(msg)
        if kind is Msg.CHALLENGE:
            return self._on_challenge(msg)
        if kind is Msg.REAUTHENTICATION:
            return self._on_reauthentication(msg)
        return self._on_notification(msg)

    # -- handlers ---------------------------------------------------------------------

    def _on_identity(self, msg: AkaMessage) -> bytes:
        reqs = [a.type for a in msg.attributes if a.type in _ID_REQ_ORDER]
        if len(reqs) != 1:
            raise _Reject("AKA-Identity must carry exactly one identity request")
        order = _ID_REQ_ORDER[reqs[0]]
        # RFC 4187 §4.1.5-4.1.6: at most one of each, in the order ANY, FULLAUTH, PERMANENT.
        if order <= self._id_round:
            raise _Reject("identity requests out of order")
        self._id_round = order
        if reqs[0] == _A.AT_ANY_ID_REQ:
            identity = self.identity.encode()
        else:
            identity = self.permanent_identity.encode()
            self._reauth = None  # full authentication asked for: the context is not used
        response = build_aka(
            EapCode.RESPONSE,
            msg.identifier,
            self.method,
            AkaSubtype.IDENTITY,
            length_prefixed(_A.AT_IDENTITY, identity),
        )
        self._identity_packets += [msg.raw, response]
        self._mk_identity = identity
        self._fire(PeerInput.AKA_IDENTITY_ANSWERED)
        return response

    def _derive(self, msg: AkaMessage, ck: bytes, ik: bytes, autn: bytes) -> _crypto.EapAkaKeys:
        return _crypto.derive_keys(self._mk_identity, ik, ck)

    def _kdf_check(self, msg: AkaMessage) -> bytes | None:
        """AKA' hook: None to go on, or a response to send instead (KDF negotiation)."""
        return None

    def _on_challenge(self, msg: AkaMessage) -> bytes:
        prime = self.method == EapType.AKA_PRIME
        negotiation = self._kdf_check(msg)
        if negotiation is not None:
            return negotiation
        rand = msg.get(_A.AT_RAND).payload  # type: ignore[union-attr]
        autn = msg.get(_A.AT_AUTN).payload  # type: ignore[union-attr]
        result = self.usim.authenticate(rand, autn)
        if result.status is AkaStatus.SYNC_FAILURE:
            assert result.auts is not None
            response = build_aka(
                EapCode.RESPONSE,
                msg.identifier,
                self.method,
                AkaSubtype.SYNCHRONIZATION_FAILURE,
                self._sync_failure_attributes(result.auts),
            )
            self._fire(PeerInput.SYNC_FAILURE_SENT)
            return response
        if not result.ok:
            self.failure_reason = f"AUTN rejected by the USIM ({result.status.value})"
            response = build_aka(
                EapCode.RESPONSE, msg.identifier, self.method, AkaSubtype.AUTHENTICATION_REJECT, b""
            )
            self._fire(PeerInput.REJECTED)
            return response
        assert result.ck is not None and result.ik is not None and result.res is not None
        keys = self._derive(msg, result.ck, result.ik, autn)
        mac = msg.get(_A.AT_MAC)
        assert mac is not None
        if not _crypto.verify_mac(keys.k_aut, msg.raw, mac.offset + 4, prime=prime):
            raise _Reject("AT_MAC of AKA-Challenge does not verify")
        bidding = msg.get(_A.AT_BIDDING)
        if (
            self.prefer_aka_prime
            and self.method == EapType.AKA
            and bidding is not None
            and bidding.word & BIDDING_D
        ):
            # RFC 5448 §4: both sides prefer EAP-AKA' yet we run EAP-AKA: a bidding-down
            # attack may have happened; behave as if AUTN were wrong.
            self.failure_reason = "bidding down: the server prefers EAP-AKA' (AT_BIDDING D)"
            response = build_aka(
                EapCode.RESPONSE, msg.identifier, self.method, AkaSubtype.AUTHENTICATION_REJECT, b""
            )
            self._fire(PeerInput.REJECTED)
            return response
        attrs = bytearray(res_attribute(result.res))
        if (cc := msg.get(_A.AT_CHECKCODE)) is not None:
            mine = _crypto.checkcode(self._identity_packets, prime=prime)
            if cc.payload != mine:
                raise _Reject("AT_CHECKCODE mismatch")
            attrs += reserved_attribute(_A.AT_CHECKCODE, mine)
        self._decrypt_extras(msg, keys)
        if msg.get(_A.AT_RESULT_IND) is not None and self.result_indication:
            attrs += reserved_attribute(_A.AT_RESULT_IND)
            self._result_ind_used = True
        self._keys = keys
        response = self._with_mac(msg.identifier, AkaSubtype.CHALLENGE, bytes(attrs))
        self._fire(PeerInput.CHALLENGE_ANSWERED)
        return response

    def _sync_failure_attributes(self, auts: bytes) -> bytes:
        return build_attribute(_A.AT_AUTS, auts)

    def _decrypt_extras(self, msg: AkaMessage, keys: _crypto.EapAkaKeys) -> None:
        """Open AT_ENCR_DATA (RFC 4187 §10.12) and keep next pseudonym / re-auth identity."""
        iv, encr = msg.get(_A.AT_IV), msg.get(_A.AT_ENCR_DATA)
        if iv is None and encr is None:
            return
        if iv is None or encr is None:
            raise _Reject("AT_IV and AT_ENCR_DATA must come together")
        allowed = frozenset({_A.AT_NEXT_PSEUDONYM, _A.AT_NEXT_REAUTH_ID})
        inner = open_encr(keys.k_encr, iv.payload, encr.payload, allowed)
        if (pseudonym := inner.get(_A.AT_NEXT_PSEUDONYM)) is not None:
            self.next_pseudonym = pseudonym.payload.decode("utf-8", "replace")
        if (reauth_id := inner.get(_A.AT_NEXT_REAUTH_ID)) is not None:
            self.next_reauth_id = reauth_id.payload.decode("utf-8", "replace")
            if self.next_reauth_id:
                self._pending_reauth = ReauthContext(
                    self.next_reauth_id, keys.mk, keys.k_encr, keys.k_aut, 0, k_re=keys.k_re
                )

    def _on_reauthentication(self, msg: AkaMessage) -> bytes:
        """Request/AKA-Reauthentication (RFC 4187 §5.4, §9.7)."""
        ctx = self._reauth
        prime = self.method == EapType.AKA_PRIME
        if ctx is None:
            raise _Reject("no fast re-authentication context")
        mac = msg.get(_A.AT_MAC)
        assert mac is not None
        if not _crypto.verify_mac(ctx.k_aut, msg.raw, mac.offset + 4, prime=prime):
            raise _Reject("AT_MAC of AKA-Reauthentication does not verify")
        iv, encr = msg.get(_A.AT_IV), msg.get(_A.AT_ENCR_DATA)
        assert iv is not None and encr is not None
        allowed = frozenset({_A.AT_COUNTER, _A.AT_NONCE_S, _A.AT_NEXT_REAUTH_ID})
        inner = open_encr(ctx.k_encr, iv.payload, encr.payload, allowed)
        counter_attr, nonce_attr = inner.get(_A.AT_COUNTER), inner.get(_A.AT_NONCE_S)
        if counter_attr is None or nonce_attr is None:
            raise _Reject("AKA-Reauthentication without AT_COUNTER or AT_NONCE_S")
        counter, nonce_s = counter_attr.word, nonce_attr.payload
        out_iv = self._rng(16)
        self._reauth = None  # one-time: whatever happens, this context is spent
        self._keys = _crypto.EapAkaKeys(
            mk=ctx.mk, k_encr=ctx.k_encr, k_aut=ctx.k_aut, msk=b"", emsk=b"", k_re=ctx.k_re
        )
        if counter <= ctx.counter:
            # RFC 4187 §5.5: tell the server; it falls back to full authentication.
            sealed = seal_encr(
                ctx.k_encr,
                out_iv,
                word_attribute(_A.AT_COUNTER, counter)
                + reserved_attribute(_A.AT_COUNTER_TOO_SMALL),
            )
            attrs = reserved_attribute(_A.AT_IV, out_iv) + reserved_attribute(
                _A.AT_ENCR_DATA, sealed
            )
            response = self._with_mac(msg.identifier, AkaSubtype.REAUTHENTICATION, attrs, nonce_s)
            self._keys = None
            self._fire(PeerInput.COUNTER_TOO_SMALL_SENT)
            return response
        attrs = bytearray(reserved_attribute(_A.AT_IV, out_iv))
        attrs += reserved_attribute(
            _A.AT_ENCR_DATA,
            seal_encr(ctx.k_encr, out_iv, word_attribute(_A.AT_COUNTER, counter)),
        )
        if (cc := msg.get(_A.AT_CHECKCODE)) is not None:
            mine = _crypto.checkcode(self._identity_packets, prime=prime)
            if cc.payload != mine:
                raise _Reject("AT_CHECKCODE mismatch")
            attrs += reserved_attribute(_A.AT_CHECKCODE, mine)
        if msg.get(_A.AT_RESULT_IND) is not None and self.result_indication:
            attrs += reserved_attribute(_A.AT_RESULT_IND)
            self._result_ind_used = True
        msk, emsk = ctx.reauth_keys(self._mk_identity, counter, nonce_s, prime=prime)
        self._keys = _crypto.EapAkaKeys(
            mk=ctx.mk, k_encr=ctx.k_encr, k_aut=ctx.k_aut, msk=msk, emsk=emsk, k_re=ctx.k_re
        )
        if (next_id := inner.get(_A.AT_NEXT_REAUTH_ID)) is not None and next_id.payload:
            self.next_reauth_id = next_id.payload.decode("utf-8", "replace")
            self._pending_reauth = ReauthContext(
                self.next_reauth_id, ctx.mk, ctx.k_encr, ctx.k_aut, counter, k_re=ctx.k_re
            )
        self.reauthenticated = True
        response = self._with_mac(
            msg.identifier, AkaSubtype.REAUTHENTICATION, bytes(attrs), nonce_s
        )
        self._fire(PeerInput.REAUTH_ANSWERED)
        return response

    def _with_mac(self, identifier: int, subtype: int, attrs: bytes, extra: bytes = b"") -> bytes:
        assert self._keys is not None
        prime = self.method == EapType.AKA_PRIME
        body = attrs + reserved_attribute(_A.AT_MAC, bytes(16))
        packet = build_aka(EapCode.RESPONSE, identifier, self.method, subtype, body)
        mac = _crypto.compute_mac(self._keys.k_aut, packet, extra, prime=prime)
        return packet[:-16] + mac

    def _on_notification(self, msg: AkaMessage) -> bytes:
        code = msg.get(_A.AT_NOTIFICATION).word  # type: ignore[union-attr]
        s_bit, p_bit = bool(code & NOTIFICATION_S), bool(code & NOTIFICATION_P)
        if self._notification_seen:
            raise _Reject("more than one notification round")
        if s_bit and p_bit:
            raise _Reject("notification with both S and P bits")
        # P = 0 ("after authentication", MAC-protected) needs a challenge round we answered.
        # P = 1 failure codes may also follow our challenge response: the server did not
        # authenticate us (e.g. RES wrong) and says so before success (RFC 4187 §6.3.2;
        # hostapd and our server send 16384 there).
        if not p_bit and self._state is not PeerState.CHALLENGE:
            raise _Reject("notification after authentication outside the challenge phase")
        if s_bit and not self._result_ind_used:
            raise _Reject("success notification without result indication")
        mac = msg.get(_A.AT_MAC)
        if not p_bit:
            prime = self.method == EapType.AKA_PRIME
            if mac is None or self._keys is None:
                raise _Reject("notification after authentication without AT_MAC")
            if not _crypto.verify_mac(self._keys.k_aut, msg.raw, mac.offset + 4, prime=prime):
                raise _Reject("AT_MAC of AKA-Notification does not verify")
        elif mac is not None:
            raise _Reject("AT_MAC in a notification before authentication")
        self._notification_seen = True
        self.notification_code = code
        if p_bit:
            response = build_aka(
                EapCode.RESPONSE, msg.identifier, self.method, AkaSubtype.NOTIFICATION, b""
            )
        else:
            response = self._with_mac(msg.identifier, AkaSubtype.NOTIFICATION, b"")
        if s_bit:
            self._fire(PeerInput.SUCCESS_NOTIFIED)
        else:
            self.failure_reason = f"failure notification {code}"
            self._fire(PeerInput.FAILURE_NOTIFIED)
        return response

    def _client_error(self, identifier: int, reason: str) -> bytes:
        if self.failure_reason is None:
            self.failure_reason = reason
        if self._state not in (PeerState.SUCCESS, PeerState.FAILURE):
            self._fire(PeerInput.REJECTED)
        return build_aka(
            EapCode.RESPONSE,
            identifier,
            self.method,
            AkaSubtype.CLIENT_ERROR,
            word_attribute(_A.AT_CLIENT_ERROR_CODE, 0),
        )


class EapAkaPrimePeer(EapAkaPeer):
    """EAP-AKA' peer (RFC 5448, RFC 9048): CK'/IK' from the access network name, PRF',
    HMAC-SHA-256 AT_MAC, SHA-256 AT_CHECKCODE.

    ``network_name``: when given, the AT_KDF_INPUT of the challenge must equal it (TS 33.402
    §6.1 requires the peer to check the name it uses itself); None accepts the server's.
    """

    method: int = EapType.AKA_PRIME

    def __init__(
        self,
        usim: Usim,
        identity: str,
        *,
        rng: Callable[[int], bytes],
        network_name: str | None = None,
        result_indication: bool = False,
        reauth: ReauthContext | None = None,
        permanent_identity: str | None = None,
    ) -> None:
        super().__init__(
            usim,
            identity,
            rng=rng,
            result_indication=result_indication,
            reauth=reauth,
            permanent_identity=permanent_identity,
        )
        self.network_name = network_name
        self._kdf_negotiated = False

    def _kdf_check(self, msg: AkaMessage) -> bytes | None:
        kdfs = [a.word for a in msg.all(_A.AT_KDF)]
        if kdfs[0] == KDF_AKA_PRIME:
            return None
        # RFC 5448 §3.2: propose the one we support if the server offered it.
        if KDF_AKA_PRIME not in kdfs or self._kdf_negotiated:
            raise _Reject(f"no acceptable KDF in {kdfs}")
        self._kdf_negotiated = True
        return build_aka(
            EapCode.RESPONSE,
            msg.identifier,
            self.method,
            AkaSubtype.CHALLENGE,
            word_attribute(_A.AT_KDF, KDF_AKA_PRIME),
        )

    def _derive(self, msg: AkaMessage, ck: bytes, ik: bytes, autn: bytes) -> _crypto.EapAkaKeys:
        name = msg.get(_A.AT_KDF_INPUT).payload  # type: ignore[union-attr]
        if not name:
            raise _Reject("empty AT_KDF_INPUT")
        if self.network_name is not None and name != self.network_name.encode():
            raise _Reject("AT_KDF_INPUT does not match the access network name")
        ck_p, ik_p = _crypto.aka_prime_ck_ik(ck, ik, name, autn[:6])
        return _crypto.derive_keys_prime(self._mk_identity, ik_p, ck_p)
