"""EAP-AKA (RFC 4187) and EAP-AKA' (RFC 5448/9048) server: the HA's embedded AAA, sans-I/O.

Theory of operation
===================

1. ``start()`` returns the first EAP-Request: an AKA-Challenge straight away when the
   identity given at construction (in IKEv2: IDi) is a permanent identity of a known
   subscriber, else an AKA-Identity request (RFC 4187 §4.1.6).
2. ``process(response)`` returns the next packet to send: another request, EAP-Success or
   EAP-Failure. It never raises on input. A response that is malformed, unexpected, or fails
   AT_MAC / AT_CHECKCODE / RES verification is answered with an AKA-Notification "General
   failure" (16384, RFC 4187 §6.3.2) and the response to that with EAP-Failure. Client-Error
   and Authentication-Reject are answered with EAP-Failure directly (§6.3.3). A response
   whose EAP header does not parse, or whose Identifier is not the one of the outstanding
   request, is discarded and the request returned again (RFC 3748 §4, §4.1). After the end,
   the final packet is returned again.
3. Synchronization-Failure: AUTS goes to the subscriber store (``resynchronise``); if MAC-S
   verifies a new vector is fetched and a new challenge sent, at most ``max_resync`` times.
4. Identity rounds: the server asks ANY → FULLAUTH → PERMANENT as configured, escalating when
   the peer's answer is neither a known permanent identity, nor a known pseudonym, nor a
   known re-authentication identity.
5. The transition table is ``SERVER_TRANSITIONS`` of ``_state.py``; ``state`` is "running",
   "success" or "failure"; ``msk``, ``emsk``, ``permanent_identity`` (IMSI) and
   ``subscriber`` are set on success.
6. Optional identity privacy and fast re-authentication (RFC 4187 §4.1.1.7, §5): with a
   ``pseudonym_store`` / ``reauth_store`` every challenge carries, encrypted, the next
   pseudonym / re-authentication identity (stored on success only); a re-authentication
   identity found in the store is answered with AKA-Reauthentication (one-time identities,
   counter up to ``reauth_limit``; AT_COUNTER_TOO_SMALL falls back to a full challenge).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import constant_time

from dsmip6.aka import AuthenticationVector
from dsmip6.errors import MalformedPacket

from . import _crypto
from ._identity import PREFIX_AKA, PREFIX_AKA_PRIME, imsi_from_identity
from ._packet import (
    AkaMessage,
    AkaSubtype,
    AtType,
    EapCode,
    EapPacket,
    EapType,
    build_aka,
    length_prefixed,
    parse_aka,
    reserved_attribute,
    word_attribute,
)
from ._reauth import (
    MAX_REAUTH_COUNTER,
    PseudonymStore,
    ReauthContext,
    ReauthStore,
    open_encr,
    seal_encr,
)
from ._state import SERVER_ACCEPTS, SERVER_TRANSITIONS, Msg, ServerInput, ServerState, next_state
from ._subscribers import Subscriber, SubscriberStore

__all__ = ["EapAkaPrimeServer", "EapAkaServer"]

_A = AtType

NOTIFICATION_GENERAL_FAILURE_AFTER_AUTH = 0
NOTIFICATION_GENERAL_FAILURE = 16384
NOTIFICATION_SUCCESS = 32768

_ID_REQ = {
    "any": _A.AT_ANY_ID_REQ,
    "fullauth": _A.AT_FULLAUTH_ID_REQ,
    "permanent": _A.AT_PERMANENT_ID_REQ,
}
_ESCALATE = {
    _A.AT_ANY_ID_REQ: _A.AT_FULLAUTH_ID_REQ,
    _A.AT_FULLAUTH_ID_REQ: _A.AT_PERMANENT_ID_REQ,
}

#: Attributes of each response the server processes: (required, optional). RFC 4187 §9.2,
#: §9.4-9.6, §9.9; RFC 5448 §3.2 (AT_KDF in the challenge response for KDF negotiation).
_RESPONSE_RULES: dict[int, tuple[frozenset[int], frozenset[int]]] = {
    AkaSubtype.IDENTITY: (frozenset({_A.AT_IDENTITY}), frozenset()),
    AkaSubtype.CHALLENGE: (
        frozenset({_A.AT_RES, _A.AT_MAC}),
        frozenset({_A.AT_CHECKCODE, _A.AT_RESULT_IND}),
    ),
    AkaSubtype.SYNCHRONIZATION_FAILURE: (frozenset({_A.AT_AUTS}), frozenset({_A.AT_KDF})),
    AkaSubtype.AUTHENTICATION_REJECT: (frozenset(), frozenset()),
    AkaSubtype.CLIENT_ERROR: (frozenset({_A.AT_CLIENT_ERROR_CODE}), frozenset()),
    AkaSubtype.REAUTHENTICATION: (
        frozenset({_A.AT_IV, _A.AT_ENCR_DATA, _A.AT_MAC}),
        frozenset({_A.AT_CHECKCODE}),
    ),
}
_KIND = {
    AkaSubtype.IDENTITY: Msg.AKA_IDENTITY,
    AkaSubtype.CHALLENGE: Msg.CHALLENGE,
    AkaSubtype.SYNCHRONIZATION_FAILURE: Msg.SYNC_FAILURE,
    AkaSubtype.AUTHENTICATION_REJECT: Msg.AUTH_REJECT,
    AkaSubtype.CLIENT_ERROR: Msg.CLIENT_ERROR,
    AkaSubtype.REAUTHENTICATION: Msg.REAUTHENTICATION,
}


_CHALLENGE = ServerState.CHALLENGE
_EAP_RESPONSE = int(EapCode.RESPONSE)
_SUB_CHALLENGE = int(AkaSubtype.CHALLENGE)
_AT_RES, _AT_MAC = int(_A.AT_RES), int(_A.AT_MAC)
_AT_CHECKCODE = int(_A.AT_CHECKCODE)
_METHOD_AKA_PRIME = int(EapType.AKA_PRIME)
# reserved_attribute(...) of the challenge's fixed-size attributes, headers written once
_RAND_HEAD = reserved_attribute(_A.AT_RAND, bytes(16))[:4]
_AUTN_HEAD = reserved_attribute(_A.AT_AUTN, bytes(16))[:4]
_MAC_ZERO = reserved_attribute(_A.AT_MAC, bytes(16))
# An EAP-Request's Code and Identifier octets (RFC 3748 §4), per Identifier value
_REQUEST_IDS = tuple(bytes((EapCode.REQUEST, i)) for i in range(256))
_CHECKCODE_EMPTY = reserved_attribute(_A.AT_CHECKCODE)
_TAILS: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
"""``EapAkaServer._challenge_tail`` by (method, extra attributes, bidding, checkcode,
result indication): the Length/method/subtype octets and the attributes after AT_AUTN of a
plain challenge. Cleared when 16 are held."""


def challenge_layout(
    data: bytes, identifier: int, method: int, empty_checkcode: bool
) -> tuple[int, int, bytes] | None:
    """``(res_len, mac_offset, zeroed)`` of an EAP-Response/AKA-Challenge laid out as peers
    send it (RFC 4187 §9.4; see ``EapAkaServer._fast_challenge``): the EAP header with
    Length = the whole packet, ``identifier``, ``method``, subtype Challenge, then exactly
    AT_RES (a bit length that is a multiple of 8 in 32..128, its value padded with fewer
    than 4 octets), an empty AT_CHECKCODE only when ``empty_checkcode``, and AT_MAC ending
    the packet; ``zeroed`` is the packet with the AT_MAC value zeroed (RFC 4187 §10.15).
    None for any other packet. ``_core.aka.challenge_response`` gives the same answer for
    ``bytes`` in one call."""
    n = len(data)
    if (
        n < 40
        or data[0] != _EAP_RESPONSE
        or data[1] != identifier
        or (data[2] << 8) | data[3] != n
        or data[4] != method
        or data[5] != _SUB_CHALLENGE
        or data[8] != _AT_RES
    ):
        return None
    mac_at = 8 + 4 * data[9]  # AT_MAC's header follows AT_RES (or AT_CHECKCODE)
    bits = (data[10] << 8) | data[11]
    res_len = bits >> 3
    room = mac_at - 12  # AT_RES's value after its 2-octet bit length (§10.8)
    if mac_at + 24 == n and data[mac_at] == _AT_CHECKCODE and data[mac_at + 1] == 1:
        # an empty AT_CHECKCODE (§10.13): what we sent when no AKA-Identity round ran
        if not empty_checkcode:
            return None
        mac_at += 4
    if (
        mac_at + 20 != n
        or data[mac_at] != _AT_MAC
        or data[mac_at + 1] != 5
        or bits & 7
        or not 32 <= bits <= 128
        or res_len > room
        or room - res_len >= 4
    ):
        return None
    raw = bytes(data)
    mac = mac_at + 4
    return res_len, mac, raw[:mac] + bytes(16) + raw[mac + 16 :]


def _load_challenge_response() -> Callable[..., tuple[int, int, bytes] | None] | None:
    try:
        from dsmip6._core.aka import challenge_response
    except ImportError:  # pragma: no cover - an extension built before the function existed
        return None
    return challenge_response  # type: ignore[no-any-return]


_CHALLENGE_RESPONSE = _load_challenge_response()


class _Fail(Exception):
    """Internal: answer with a failure notification."""


class EapAkaServer:
    """EAP-AKA server backed by a ``SubscriberStore``.

    * ``identity``: the identity already known (IKEv2 IDi, or RADIUS EAP-Response/Identity);
      None makes the server ask with AKA-Identity.
    * ``rng(n)``: n random octets (RAND, EAP Identifier).
    * ``identity_request``: "permanent" (default), "fullauth" or "any" — the first identity
      request to send when one is needed.
    * ``checkcode``: include AT_CHECKCODE in the challenge (RFC 4187 §10.13).
    * ``result_indication``: offer AT_RESULT_IND (protected success indication, §6.2).
    * ``max_resync``: resynchronisations allowed in one exchange.
    * ``reauth_store``: enables fast re-authentication (RFC 4187 §5, EAP-AKA only): full
      authentications hand out an encrypted AT_NEXT_REAUTH_ID, and an identity found in the
      store gets AKA-Reauthentication instead of a challenge. ``reauth_limit`` caps the
      counter before full authentication is required again.
    * ``pseudonym_store``: enables pseudonyms (RFC 4187 §4.1.1.7): full authentications hand
      out an encrypted AT_NEXT_PSEUDONYM (a username; the peer adds its realm), and an
      identity whose username is a known pseudonym is resolved to its IMSI.
    * ``bidding``: this server also offers and prefers EAP-AKA'; its EAP-AKA challenges carry
      AT_BIDDING with the D bit (RFC 5448 §4).
    """

    method: int = EapType.AKA
    _prefix: str = PREFIX_AKA
    _reauth_prefix: str = "4"  # 3GPP convention for EAP-AKA re-auth identities (as hostap)
    _pseudonym_prefix: str = "2"  # likewise for EAP-AKA pseudonyms

    def __init__(
        self,
        store: SubscriberStore,
        *,
        rng: Callable[[int], bytes],
        identity: str | None = None,
        identity_request: str = "permanent",
        checkcode: bool = True,
        result_indication: bool = False,
        max_resync: int = 1,
        reauth_store: ReauthStore | None = None,
        reauth_limit: int = 16,
        pseudonym_store: PseudonymStore | None = None,
        bidding: bool = False,
    ) -> None:
        if identity_request not in _ID_REQ:
            raise ValueError(f"identity_request must be one of {sorted(_ID_REQ)}")
        # Only what differs per server is set here; everything that starts out the same for
        # every server (the run's state, below) is a class attribute until a run sets it: one
        # server per UE attach, so its creation and its dict stay small.
        self.store = store
        self._rng = rng
        self.identity = identity
        self._first_id_req = _ID_REQ[identity_request]
        self.checkcode = checkcode
        self.result_indication = result_indication
        self.max_resync = max_resync
        self._identifier = rng(1)[0]
        self.reauth_store = reauth_store
        self.pseudonym_store = pseudonym_store
        self.bidding = bidding
        self.reauth_limit = min(reauth_limit, MAX_REAUTH_COUNTER)

    # -- the run's state: class-level starting values (all immutable), set per instance as
    # the run goes
    _state: ServerState = ServerState.IDLE
    _id_req: int | None = None
    _last_request: bytes = b""
    _identity_packets: tuple[bytes, ...] = ()
    """The AKA-Identity requests and responses so far, in order (AT_CHECKCODE's input)."""
    _imsi: str | None = None
    _vector: AuthenticationVector | None = None
    _keys: _crypto.EapAkaKeys | None = None
    _resyncs: int = 0
    _next_pseudonym: str | None = None
    _reauth: ReauthContext | None = None
    _nonce_s: bytes = b""
    _counter: int = 0
    _next_reauth_id: str | None = None
    reauthenticated: bool = False
    """True after a successful fast re-authentication."""
    msk: bytes | None = None
    permanent_identity: str | None = None
    """The IMSI, after success."""
    subscriber: Subscriber | None = None
    """The subscriber record, after success (APNs for authorisation)."""
    failure_reason: str | None = None

    # -- public -----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """ "running", "success" or "failure"."""
        if self._state is ServerState.SUCCESS:
            return "success"
        if self._state is ServerState.FAILURE:
            return "failure"
        return "running"

    @property
    def emsk(self) -> bytes | None:
        """The 64-octet EMSK after success, else None (derived when first read: IKEv2 needs
        only the MSK)."""
        if self.msk is None or self._keys is None:
            return None
        return self._keys.emsk

    @property
    def machine_state(self) -> ServerState:
        return self._state

    def start(self) -> bytes:
        """The first EAP-Request. Calling it again returns the same packet."""
        if self._state is not ServerState.IDLE:
            return self._last_request
        identity = self.identity
        if (
            identity is not None
            and self.reauth_store is not None  # ``_take_reauth``'s own first test
            and (ctx := self._take_reauth(identity)) is not None
        ):
            return self._reauthenticate(ctx, new_identifier=False)
        imsi = self._resolve(identity) if identity is not None else None
        if imsi is not None:
            return self._challenge(imsi, new_identifier=False)
        if self.identity is not None and imsi_from_identity(self.identity, self._prefix):
            # A well-formed permanent identity we do not know: no point in asking again.
            return self._notify_failure("unknown subscriber", new_identifier=False)
        return self._ask_identity(self._first_id_req, new_identifier=False)

    fast_path = True
    """Answer the common AKA-Challenge response (``_fast_challenge``) without the general
    parse, and send a plain challenge (``_plain_challenge``) from its configuration's
    precomputed tail; False on an instance or the class: always the general path (the
    tests' twin)."""

    def process(self, eap_response: bytes) -> bytes:
        """Process one EAP-Response; return the next packet to send (never raises)."""
        if self._state is _CHALLENGE and self.fast_path:
            out = self._fast_challenge(eap_response)
            if out is not None:
                return out
        if self._state is ServerState.IDLE:
            return self.start()
        if self._state in (ServerState.SUCCESS, ServerState.FAILURE):
            return self._last_request
        try:
            pkt = EapPacket.parse(eap_response)
        except MalformedPacket:
            return self._last_request  # RFC 3748 §4: silently discarded; the request stands
        if pkt.code != EapCode.RESPONSE or pkt.identifier != self._identifier:
            return self._last_request  # RFC 3748 §4.1: not an answer to our request
        if self._state is ServerState.NOTIFICATION:
            return self._final(ServerInput.SEND_FAILURE, EapCode.FAILURE)
        if self._state is ServerState.RESULT:
            # RFC 4187 §6.2: the response to a success notification is not inspected.
            return self._succeed()
        if pkt.type == EapType.NAK:
            self.failure_reason = "peer refused the method (Nak)"
            return self._final(ServerInput.SEND_FAILURE, EapCode.FAILURE)
        if pkt.type != self.method:
            return self._error(f"response of EAP type {pkt.type}")
        raw = bytes(eap_response[: 5 + len(pkt.type_data)])
        try:
            msg = parse_aka(raw, pkt)
            return self._on_aka(msg)
        except (ValueError, _Fail) as exc:  # MalformedPacket is a ValueError
            return self._error(str(exc))

    def _fast_challenge(self, data: bytes) -> bytes | None:
        """The EAP-Success for a Response/AKA-Challenge (RFC 4187 §9.4) laid out as peers
        send it — EAP header whose Length is the whole packet, our identifier and method,
        subtype Challenge, then exactly AT_RES, an empty AT_CHECKCODE if we sent one without
        an AKA-Identity round, and AT_MAC (no AT_RESULT_IND) — whose AT_MAC verifies and
        whose RES equals XRES; None for anything else, before any state changes, and
        ``process`` takes the general path (which then answers it, e.g. with a failure
        notification). Every check of the general path (``EapPacket.parse``,
        ``parse_aka``'s attribute checks, ``_on_aka``'s rules for the CHALLENGE state,
        ``_on_challenge``) holds for such a packet; the success itself is ``_succeed``, the
        general path's own. The layout is read by ``_core.aka.challenge_response`` for
        ``bytes`` (``challenge_layout`` otherwise: the same answer)."""
        empty_checkcode = not self._identity_packets if self.checkcode else False
        if type(data) is bytes and _CHALLENGE_RESPONSE is not None:
            found = _CHALLENGE_RESPONSE(data, self._identifier, self.method, empty_checkcode)
        else:
            found = challenge_layout(data, self._identifier, self.method, empty_checkcode)
        if found is None:
            return None
        keys, vector = self._keys, self._vector
        if keys is None or vector is None:
            return None
        if type(data) is not bytes:
            data = bytes(data)
        res_len, mac_at, zeroed = found
        mac = _crypto.compute_mac(keys.k_aut, zeroed, prime=self.method == _METHOD_AKA_PRIME)
        if not constant_time.bytes_eq(mac, data[mac_at : mac_at + 16]) or not (
            constant_time.bytes_eq(data[12 : 12 + res_len], vector.xres)
        ):
            return None  # the general path fails it the same way
        return self._succeed()

    # -- helpers ----------------------------------------------------------------------

    def _fire(self, event: ServerInput) -> None:
        self._state = next_state("server", SERVER_TRANSITIONS, self._state, event)  # type: ignore[assignment]

    def _next_identifier(self) -> int:
        self._identifier = (self._identifier + 1) & 0xFF
        return self._identifier

    def _resolve(self, identity: str) -> str | None:
        """IMSI of a permanent identity or of a known pseudonym, when the subscriber exists."""
        imsi = imsi_from_identity(identity, self._prefix)
        if imsi is None and self.pseudonym_store is not None:
            imsi = self.pseudonym_store.lookup(identity.split("@", 1)[0])
        sub = self.store.subscriber(imsi) if imsi is not None else None
        if sub is None:
            return None
        # The store's own string (equal to ``imsi``): what this run keeps for the session
        # does not hold a second copy per UE.
        return sub.imsi if sub.imsi == imsi else imsi

    def _error(self, reason: str) -> bytes:
        if self._state is ServerState.NOTIFICATION:
            return self._final(ServerInput.SEND_FAILURE, EapCode.FAILURE)
        return self._notify_failure(reason)

    def _final(self, event: ServerInput, code: EapCode) -> bytes:
        self._fire(event)
        # EapPacket(code, identifier).to_bytes() of a Success/Failure: 4 octets (RFC 3748 §4.2)
        self._last_request = bytes((code, self._identifier, 0, 4))
        return self._last_request

    def _send(
        self, subtype: int, attrs: bytes, event: ServerInput, *, new_identifier: bool = True
    ) -> bytes:
        ident = self._next_identifier() if new_identifier else self._identifier
        packet = build_aka(EapCode.REQUEST, ident, self.method, subtype, attrs)
        self._fire(event)
        self._last_request = packet
        return packet

    def _with_mac(
        self, subtype: int, attrs: bytes, event: ServerInput, *, new_identifier: bool = True
    ) -> bytes:
        assert self._keys is not None
        body = attrs + _MAC_ZERO
        ident = self._next_identifier() if new_identifier else self._identifier
        packet = build_aka(EapCode.REQUEST, ident, self.method, subtype, body)
        prime = self.method == EapType.AKA_PRIME
        packet = packet[:-16] + _crypto.compute_mac(self._keys.k_aut, packet, prime=prime)
        self._fire(event)
        self._last_request = packet
        return packet

    def _notify_failure(self, reason: str, *, new_identifier: bool = True) -> bytes:
        if self.failure_reason is None:
            self.failure_reason = reason
        # Before a successful challenge round: P bit set, no AT_MAC (RFC 4187 §6.1, §9.10).
        return self._send(
            AkaSubtype.NOTIFICATION,
            word_attribute(_A.AT_NOTIFICATION, NOTIFICATION_GENERAL_FAILURE),
            ServerInput.NOTIFY_FAILURE,
            new_identifier=new_identifier,
        )

    def _ask_identity(self, request: int, *, new_identifier: bool = True) -> bytes:
        self._id_req = request
        packet = self._send(
            AkaSubtype.IDENTITY,
            reserved_attribute(request),
            ServerInput.ASK_IDENTITY,
            new_identifier=new_identifier,
        )
        self._identity_packets = (*self._identity_packets, packet)
        return packet

    def _derive(self, identity: bytes, vector: AuthenticationVector) -> _crypto.EapAkaKeys:
        return _crypto.derive_keys(identity, vector.ik, vector.ck)

    def _challenge_extra(self) -> bytes:
        return b""

    def _take_reauth(self, identity: str) -> ReauthContext | None:
        if self.reauth_store is None:
            return None
        ctx = self.reauth_store.take(identity)
        if ctx is None or ctx.counter >= self.reauth_limit:
            return None  # unknown or used up: full authentication (RFC 4187 §5.3)
        return ctx

    def _new_reauth_id(self) -> str:
        # A one-time NAI in the realm of the identity in use (RFC 4187 §5.3).
        realm = self.identity.split("@", 1)[1] if self.identity and "@" in self.identity else ""
        name = self._reauth_prefix + self._rng(8).hex()
        return f"{name}@{realm}" if realm else name

    def _reauthenticate(self, ctx: ReauthContext, *, new_identifier: bool = True) -> bytes:
        """Request/AKA-Reauthentication (RFC 4187 §5.4, §9.7)."""
        assert self.identity is not None
        self._reauth = ctx
        self._imsi = ctx.imsi
        self._counter = ctx.counter + 1
        self._nonce_s = self._rng(16)
        iv = self._rng(16)
        inner = word_attribute(_A.AT_COUNTER, self._counter) + reserved_attribute(
            _A.AT_NONCE_S, self._nonce_s
        )
        self._next_reauth_id = None
        if self._counter < self.reauth_limit:
            self._next_reauth_id = self._new_reauth_id()
            inner += length_prefixed(_A.AT_NEXT_REAUTH_ID, self._next_reauth_id.encode())
        prime = self.method == EapType.AKA_PRIME
        msk, emsk = ctx.reauth_keys(
            self.identity.encode(), self._counter, self._nonce_s, prime=prime
        )
        self._keys = _crypto.EapAkaKeys(
            mk=ctx.mk, k_encr=ctx.k_encr, k_aut=ctx.k_aut, msk=msk, emsk=emsk, k_re=ctx.k_re
        )
        attrs = reserved_attribute(_A.AT_IV, iv) + reserved_attribute(
            _A.AT_ENCR_DATA, seal_encr(ctx.k_encr, iv, inner)
        )
        if self.checkcode:
            attrs += reserved_attribute(
                _A.AT_CHECKCODE, _crypto.checkcode(self._identity_packets, prime=prime)
            )
        return self._with_mac(
            AkaSubtype.REAUTHENTICATION,
            attrs,
            ServerInput.SEND_REAUTH,
            new_identifier=new_identifier,
        )

    def _challenge(self, imsi: str, *, new_identifier: bool = True) -> bytes:
        vector = self.store.authentication_vector(imsi, self._rng(16))
        if vector is None:
            return self._notify_failure("no authentication vector", new_identifier=new_identifier)
        assert self.identity is not None
        self._imsi = imsi
        self._vector = vector
        self._keys = self._derive(self.identity.encode(), vector)
        rand, autn = vector.rand, vector.autn
        if (
            self.fast_path
            and len(rand) == 16
            and len(autn) == 16
            and not self._identity_packets
            and self.pseudonym_store is None
            and self.reauth_store is None
        ):
            return self._plain_challenge(rand, autn, new_identifier)
        if len(rand) == 16 and len(autn) == 16:  # as always: the headers written out
            attrs = bytearray(_RAND_HEAD + rand + _AUTN_HEAD + autn)
        else:  # (a store's malformed vector: reserved_attribute's error)
            attrs = bytearray(reserved_attribute(_A.AT_RAND, rand))
            attrs += reserved_attribute(_A.AT_AUTN, autn)
        attrs += self._challenge_extra()
        if self.bidding and self.method == EapType.AKA:
            # RFC 5448 §4: tell the peer we support and prefer EAP-AKA' (D bit).
            attrs += word_attribute(_A.AT_BIDDING, 0x8000)
        if self.checkcode:
            if self._identity_packets:
                prime = self.method == EapType.AKA_PRIME
                attrs += reserved_attribute(
                    _A.AT_CHECKCODE, _crypto.checkcode(self._identity_packets, prime=prime)
                )
            else:
                attrs += _CHECKCODE_EMPTY  # no AKA-Identity round: empty (RFC 4187 §10.13)
        if self.result_indication:
            attrs += reserved_attribute(_A.AT_RESULT_IND)
        self._reauth = None
        self._counter = 0
        self._next_reauth_id = self._next_pseudonym = None
        inner = b""
        if self.pseudonym_store is not None:
            self._next_pseudonym = self._pseudonym_prefix + self._rng(8).hex()
            inner += length_prefixed(_A.AT_NEXT_PSEUDONYM, self._next_pseudonym.encode())
        if self.reauth_store is not None:
            self._next_reauth_id = self._new_reauth_id()
            inner += length_prefixed(_A.AT_NEXT_REAUTH_ID, self._next_reauth_id.encode())
        if inner:
            iv = self._rng(16)
            attrs += reserved_attribute(_A.AT_IV, iv)
            attrs += reserved_attribute(_A.AT_ENCR_DATA, seal_encr(self._keys.k_encr, iv, inner))
        return self._with_mac(
            AkaSubtype.CHALLENGE,
            bytes(attrs),
            ServerInput.SEND_CHALLENGE,
            new_identifier=new_identifier,
        )

    def _challenge_tail(self, key: tuple[Any, ...]) -> tuple[bytes, bytes]:
        """What follows AT_AUTN in a challenge sent without an AKA-Identity round and without
        pseudonym or re-authentication stores — the method's extra attributes (``key[1]``),
        AT_BIDDING, the empty AT_CHECKCODE, AT_RESULT_IND, the zeroed AT_MAC — with the
        packet's Length, method and subtype octets: the same octets for every such challenge
        of one server configuration, laid out once per configuration (``_TAILS``) as
        ``_challenge`` and ``_with_mac`` lay them out. Nothing secret or random is in it."""
        attrs = bytearray(key[1])
        if self.bidding and self.method == EapType.AKA:
            attrs += word_attribute(_A.AT_BIDDING, 0x8000)
        if self.checkcode:
            attrs += _CHECKCODE_EMPTY
        if self.result_indication:
            attrs += reserved_attribute(_A.AT_RESULT_IND)
        attrs += _MAC_ZERO
        length = 8 + 40 + len(attrs)  # EAP + AKA headers, AT_RAND, AT_AUTN, the rest
        if len(_TAILS) >= 16:
            _TAILS.clear()
        hit = _TAILS[key] = (
            length.to_bytes(2, "big") + bytes((self.method, AkaSubtype.CHALLENGE, 0, 0)),
            bytes(attrs),
        )
        return hit

    def _plain_challenge(self, rand: bytes, autn: bytes, new_identifier: bool) -> bytes:
        """``_challenge``'s packet when no AKA-Identity round ran and no pseudonym or
        re-authentication identity goes with it (the IKEv2 attach): the configuration's
        tail (``_challenge_tail``) around this run's RAND and AUTN, AT_MAC over it keyed
        with the run's own K_aut (RFC 4187 §10.15, RFC 5448 §3.1), and the state changes
        ``_challenge`` and ``_with_mac`` make, in the same order."""
        method = self.method
        key = (
            method,
            self._challenge_extra(),
            self.bidding,
            self.checkcode,
            self.result_indication,
        )
        hit = _TAILS.get(key)
        head, tail = hit if hit is not None else self._challenge_tail(key)
        self._reauth = None
        self._counter = 0
        self._next_reauth_id = self._next_pseudonym = None
        ident = self._next_identifier() if new_identifier else self._identifier
        zeroed = b"".join((_REQUEST_IDS[ident], head, _RAND_HEAD, rand, _AUTN_HEAD, autn, tail))
        k_aut = self._keys.k_aut  # type: ignore[union-attr]
        # keyed for this one MAC: no keyed HMAC is held between messages (session 9: ~0.6 KB
        # of OpenSSL memory per attach in flight, against ~4 k instructions of the
        # response's one-shot MAC, which copied the held one before)
        h = _crypto.mac_context(k_aut, prime=method == _METHOD_AKA_PRIME)
        h.update(zeroed)
        packet = zeroed[:-16] + h.finalize()[:16]
        self._fire(ServerInput.SEND_CHALLENGE)
        self._last_request = packet
        return packet

    def _succeed(self) -> bytes:
        assert self._keys is not None and self._imsi is not None
        self.msk = self._keys.msk
        self.permanent_identity = self._imsi
        if self.pseudonym_store is not None and self._next_pseudonym is not None:
            self.pseudonym_store.add(self._next_pseudonym, self._imsi)
        if self.reauth_store is not None and self._next_reauth_id is not None:
            k = self._keys
            self.reauth_store.put(
                ReauthContext(
                    self._next_reauth_id,
                    k.mk,
                    k.k_encr,
                    k.k_aut,
                    self._counter,
                    self._imsi,
                    k_re=k.k_re,
                )
            )
        self.subscriber = self.store.subscriber(self._imsi)
        return self._final(ServerInput.SEND_SUCCESS, EapCode.SUCCESS)

    # -- handlers ---------------------------------------------------------------------

    def _on_aka(self, msg: AkaMessage) -> bytes:
        kind = _KIND.get(msg.subtype)  # type: ignore[call-overload]
        if kind is None or kind not in SERVER_ACCEPTS[self._state]:
            raise _Fail(f"unexpected subtype {msg.subtype} in state {self._state.value}")
        required, optional = _RESPONSE_RULES[msg.subtype]
        types = msg.types()
        if not required <= types:
            raise _Fail(f"missing attributes {sorted(required - types)}")
        if types - required - optional:
            raise _Fail(f"attributes not allowed here {sorted(types - required - optional)}")
        if kind is Msg.CLIENT_ERROR:
            code = msg.get(_A.AT_CLIENT_ERROR_CODE).word  # type: ignore[union-attr]
            self.failure_reason = f"peer sent Client-Error {code}"
            return self._final(ServerInput.SEND_FAILURE, EapCode.FAILURE)
        if kind is Msg.AUTH_REJECT:
            self.failure_reason = "peer rejected AUTN (Authentication-Reject)"
            return self._final(ServerInput.SEND_FAILURE, EapCode.FAILURE)
        if kind is Msg.AKA_IDENTITY:
            return self._on_identity(msg)
        if kind is Msg.SYNC_FAILURE:
            return self._on_sync_failure(msg)
        if kind is Msg.REAUTHENTICATION:
            return self._on_reauthentication(msg)
        return self._on_challenge(msg)

    def _on_identity(self, msg: AkaMessage) -> bytes:
        self._identity_packets = (*self._identity_packets, msg.raw)
        try:
            identity = msg.get(_A.AT_IDENTITY).payload.decode("utf-8")  # type: ignore[union-attr]
        except UnicodeDecodeError:
            raise _Fail("AT_IDENTITY is not UTF-8") from None
        if not identity:
            raise _Fail("empty AT_IDENTITY")
        self.identity = identity
        if (ctx := self._take_reauth(identity)) is not None:
            return self._reauthenticate(ctx)
        imsi = self._resolve(identity)
        if imsi is not None:
            return self._challenge(imsi)
        if imsi_from_identity(identity, self._prefix) is not None:
            raise _Fail("unknown subscriber")
        if self._id_req is not None and self._id_req in _ESCALATE:
            return self._ask_identity(_ESCALATE[self._id_req])
        raise _Fail("peer gave no usable permanent identity")

    def _on_sync_failure(self, msg: AkaMessage) -> bytes:
        assert self._vector is not None and self._imsi is not None
        auts = msg.get(_A.AT_AUTS).payload  # type: ignore[union-attr]
        if self._resyncs >= self.max_resync:
            raise _Fail("too many resynchronisations")
        self._resyncs += 1
        if not self.store.resynchronise(self._imsi, self._vector.rand, auts):
            raise _Fail("AUTS did not verify")
        return self._challenge(self._imsi)

    def _on_reauthentication(self, msg: AkaMessage) -> bytes:
        """Response/AKA-Reauthentication (RFC 4187 §5.4-5.5, §9.8)."""
        assert self._keys is not None and self._reauth is not None
        mac = msg.get(_A.AT_MAC)
        assert mac is not None
        prime = self.method == EapType.AKA_PRIME
        if not _crypto.verify_mac(
            self._keys.k_aut, msg.raw, mac.offset + 4, self._nonce_s, prime=prime
        ):
            raise _Fail("AT_MAC of the re-authentication response does not verify")
        iv, encr = msg.get(_A.AT_IV), msg.get(_A.AT_ENCR_DATA)
        assert iv is not None and encr is not None
        allowed = frozenset({_A.AT_COUNTER, _A.AT_COUNTER_TOO_SMALL})
        inner = open_encr(self._keys.k_encr, iv.payload, encr.payload, allowed)
        counter = inner.get(_A.AT_COUNTER)
        if counter is None or counter.word != self._counter:
            raise _Fail("AT_COUNTER does not echo the server's counter")
        if _A.AT_COUNTER_TOO_SMALL in inner:
            # RFC 4187 §5.5: fall back to full authentication with a challenge.
            return self._challenge(self._reauth.imsi)
        cc = msg.get(_A.AT_CHECKCODE)
        if cc is not None and cc.payload != _crypto.checkcode(self._identity_packets, prime=prime):
            raise _Fail("AT_CHECKCODE mismatch")
        self.reauthenticated = True
        return self._succeed()

    def _on_challenge(self, msg: AkaMessage) -> bytes:
        assert self._keys is not None and self._vector is not None
        prime = self.method == EapType.AKA_PRIME
        mac = msg.get(_A.AT_MAC)
        assert mac is not None
        if not _crypto.verify_mac(self._keys.k_aut, msg.raw, mac.offset + 4, prime=prime):
            raise _Fail("AT_MAC of the challenge response does not verify")
        cc = msg.get(_A.AT_CHECKCODE)
        if cc is not None:
            if not self.checkcode:
                raise _Fail("AT_CHECKCODE in the response but not in the request")
            if cc.payload != _crypto.checkcode(self._identity_packets, prime=prime):
                raise _Fail("AT_CHECKCODE mismatch")
        res = msg.get(_A.AT_RES).payload  # type: ignore[union-attr]
        if not constant_time.bytes_eq(res, self._vector.xres):
            raise _Fail("RES does not match XRES")
        if self.result_indication and msg.get(_A.AT_RESULT_IND) is not None:
            return self._with_mac(
                AkaSubtype.NOTIFICATION,
                word_attribute(_A.AT_NOTIFICATION, NOTIFICATION_SUCCESS),
                ServerInput.NOTIFY_SUCCESS,
            )
        return self._succeed()


class EapAkaPrimeServer(EapAkaServer):
    """EAP-AKA' server (RFC 5448 / RFC 9048): sends AT_KDF_INPUT with ``network_name`` and
    AT_KDF = 1; derives CK'/IK' and keys with PRF'. Permanent identities start with "6"."""

    method: int = EapType.AKA_PRIME
    _prefix: str = PREFIX_AKA_PRIME
    _reauth_prefix: str = "8"  # as hostap uses for EAP-AKA' re-auth identities
    _pseudonym_prefix: str = "7"  # and for EAP-AKA' pseudonyms

    def __init__(
        self,
        store: SubscriberStore,
        *,
        rng: Callable[[int], bytes],
        network_name: str,
        identity: str | None = None,
        identity_request: str = "permanent",
        checkcode: bool = True,
        result_indication: bool = False,
        max_resync: int = 1,
        reauth_store: ReauthStore | None = None,
        reauth_limit: int = 16,
        pseudonym_store: PseudonymStore | None = None,
    ) -> None:
        super().__init__(
            store,
            rng=rng,
            identity=identity,
            identity_request=identity_request,
            checkcode=checkcode,
            result_indication=result_indication,
            max_resync=max_resync,
            reauth_store=reauth_store,
            reauth_limit=reauth_limit,
            pseudonym_store=pseudonym_store,
        )
        self.network_name = network_name.encode()

    def _challenge_extra(self) -> bytes:
        return length_prefixed(_A.AT_KDF_INPUT, self.network_name) + word_attribute(_A.AT_KDF, 1)

    def _derive(self, identity: bytes, vector: AuthenticationVector) -> _crypto.EapAkaKeys:
        ck_p, ik_p = _crypto.aka_prime_ck_ik(
            vector.ck, vector.ik, self.network_name, vector.autn[:6]
        )
        return _crypto.derive_keys_prime(identity, ik_p, ck_p)
