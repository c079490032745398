"""The HA side: ``IkeResponder`` (contract D), one object serving every UE.

Theory of operation:

1. A first IKE_SA_INIT request (SPIr = 0) is handled before any state exists: rule check,
   half-open limit (drop beyond ``half_open_limit``), cookie demand beyond ``cookie_threshold``
   (stateless: RFC 7296 §2.6). Then an IkeSa is created with our SPIr and answers it.
   A retransmitted first request (same SPIi and source) gets the cached response.
2. Every later message is demultiplexed by our SPI (SPIr when the I flag is set).
3. Half-open SAs (not authenticated within ``half_open_timeout``) disappear silently.
4. IKE_AUTH: peer authenticated by PSK, certificate, or EAP through ``eap_server_factory``;
   CFG_REPLY from ``address_assigner``; child selectors narrowed by ``ts_policy``.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, hmac

from dsmip6.errors import MalformedPacket
from dsmip6.ikev2._engine import Engine
from dsmip6.ikev2._fast import (
    FALLBACK,
    ProposalChoices,
    fast_eap_round,
    fast_first_auth,
    fast_first_request,
    fast_msk_auth,
)
from dsmip6.ikev2._fast_child import fast_create_child
from dsmip6.ikev2.child import ChildSa
from dsmip6.ikev2.config import ResponderConfig
from dsmip6.ikev2.constants import ExchangeType, Notify, PayloadType
from dsmip6.ikev2.message import (
    IkeDecodeError,
    IkeHeader,
    Message,
    NoncePayload,
    NotifyPayload,
    check_rules,
    decode_message,
)
from dsmip6.ikev2.sa import IkeSa, ParkedSa, SaState
from dsmip6.ikev2.tasks.ike_init import IkeInit
from dsmip6.ikev2.transforms import Rng

if TYPE_CHECKING:
    from dsmip6.ikev2.exchange import Task

_X_INIT = int(ExchangeType.IKE_SA_INIT)
_X_AUTH = int(ExchangeType.IKE_AUTH)
_X_CHILD = int(ExchangeType.CREATE_CHILD_SA)
_AUTH_FAST = {
    int(PayloadType.EAP): fast_eap_round,
    int(PayloadType.AUTH): fast_msk_auth,
    int(PayloadType.IDI): fast_first_auth,
}
"""The IKE_AUTH fast paths by the type of the first payload inside SK (the octet after the
IKE header: the SK payload's Next Payload), which each of them requires."""

__all__ = ["IkeResponder"]

Address = tuple[str, int]


def _init_tasks(sa: IkeSa, msg: Message) -> list[Task] | None:
    """The responder's IKE_SA_INIT exchange: one task (no closure per request)."""
    return [IkeInit(sa, False)]


class IkeResponder(Engine):
    """IKEv2 responder (HA), many IKE SAs. Sans-I/O."""

    _parking = True  # idle established SAs are kept as compact records (memory per UE)

    fast_path = True
    """Answer common-case IKE_SA_INIT requests, the first IKE_AUTH request of an EAP
    bootstrap, its EAP rounds and its final MSK AUTH on the straight-line paths of
    ``_fast.py``, and a common CREATE_CHILD_SA on ``_fast_child.py``'s (same octets and
    state as the general path; False forces the general path, also in the EAP servers this
    responder starts: their ``fast_path`` is set False too)."""

    def __init__(self, config: ResponderConfig, *, rng: Rng) -> None:
        super().__init__(config, rng)
        self._by_init: dict[tuple[bytes, Address], IkeSa] = {}
        self._cookie_secret: bytes | None = None
        self._half_open: set[int] = set()
        self._choices = ProposalChoices()
        # Keyed AEAD cipher objects (~2.3 KB of OpenSSL memory each, two per SA) are kept for
        # the SAs made last: ``ResponderConfig.keyed_cipher_sas`` of them, by default as many
        # as may be half-open without cookies; an SA pushed out of that working set keys one
        # per message until it is established (as an established SA always does). An attach
        # storm's memory per UE in flight then holds none of them, and an HA attaching fewer
        # UEs at once keys each SA's pair once.
        self._keyed = deque()
        self._locals: dict[Address, Address] = {}
        """Our own addresses as the runtime gave them, one tuple each: an SA in flight
        refers to the shared one (``_fast.fast_first_request``; ~146 B per SA before)."""
        limit = config.keyed_cipher_sas
        self._keyed_limit = max(1, config.cookie_threshold) if limit is None else limit
        self.fast_path_hits = 0
        """IKE_SA_INIT requests answered by the fast path (introspection, tests)."""
        self.fast_auth_hits = 0
        """IKE_AUTH requests (the first one, EAP rounds, the final MSK AUTH) taken by the fast
        path."""
        self.fast_child_hits = 0
        """CREATE_CHILD_SA requests taken by ``_fast_child.py``."""

    # ------------------------------------------------------------------ introspection
    def half_open_count(self) -> int:
        """IKE SAs not yet authenticated (O(1): a set kept by creation/establishment)."""
        return len(self._half_open)

    def ike_sa_ids(self) -> list[int]:
        return [i for i, sa in self._sas.items() if sa.state == SaState.ESTABLISHED]

    def children(self, ike_sa_id: int) -> dict[int, ChildSa]:
        sa = self._sas.get(ike_sa_id)
        if type(sa) is ParkedSa:  # read without thawing
            return sa.children_dict()
        return dict(self._sa(ike_sa_id).children)

    def endpoints(self, ike_sa_id: int) -> tuple[Address, Address]:
        sa = self._sas.get(ike_sa_id)
        if type(sa) is ParkedSa:
            return sa.local, sa.remote
        sa = self._sa(ike_sa_id)
        return sa.local, sa.remote

    # ------------------------------------------------------------------ API (contract D)
    def delete_ike_sa(self, ike_sa_id: int, now: float) -> None:
        self._delete_ike(self._sa(ike_sa_id), now)

    def move(self, ike_sa_id: int, local: Any, remote: Any) -> None:
        """Move one IKE SA to the UE's new CoA after an accepted K=1 BU (RFC 4877 §7.4)."""
        self._move(self._sa(ike_sa_id), local, remote)

    def create_child_sa(
        self, ike_sa_id: int, ts_i: Any, ts_r: Any, *, mode: str = "tunnel", now: float
    ) -> None:
        """HA-initiated CREATE_CHILD_SA (e.g. user-plane tunnel SA, TS 24.303 §5.5A)."""
        self._create_child(self._sa(ike_sa_id), ts_i, ts_r, mode, now)

    def delete_child_sa(self, ike_sa_id: int, spi_in: int, now: float) -> None:
        self._delete_child(self._sa(ike_sa_id), spi_in, now)

    def rekey_child_sa(self, ike_sa_id: int, spi_in: int, now: float) -> None:
        self._rekey_child(self._sa(ike_sa_id), spi_in, now)

    def rekey_ike_sa(self, ike_sa_id: int, now: float) -> None:
        self._rekey_ike(self._sa(ike_sa_id), now)

    def liveness_check(self, ike_sa_id: int, now: float) -> None:
        self._liveness(self._sa(ike_sa_id), now)

    # ------------------------------------------------------------------ IKE_SA_INIT front door
    def _dispatch(
        self, header: IkeHeader, data: bytes, src: Address, dst: Address, now: float
    ) -> IkeSa | None:
        if (
            header.exchange == _X_INIT
            and not header.response
            and header.initiator
            and header.spi_r == b"\x00" * 8
        ):
            return self._first_request(header, data, src, dst, now)
        if self.fast_path and header.exchange == _X_AUTH:
            sa = self._by_spi.get(header.spi_r)
            # the one IKE_AUTH fast path that can take the request, by the first inner
            # payload's type (each checks it again: EAP, AUTH or IDi)
            fast = _AUTH_FAST.get(data[28]) if len(data) > 28 else None
            if (
                type(sa) is IkeSa
                and fast is not None
                and fast(self, sa, header, data, src, dst, now) is sa
            ):
                return sa
        if self.fast_path and header.exchange == _X_CHILD:
            done = fast_create_child(self, header, data, src, dst, now)
            if done is not FALLBACK:
                return done
        return super()._dispatch(header, data, src, dst, now)

    def _stateless_reply(
        self, header: IkeHeader, notify: NotifyPayload, src: Address, dst: Address
    ) -> None:
        msg = Message(ExchangeType.IKE_SA_INIT, True, False, 0, header.spi_i, b"\x00" * 8, [notify])
        self._queue_datagram(msg.encode(), dst, src)

    def _cookie(self, ni: bytes, src: Address, spi_i: bytes) -> bytes:
        """<version> | HMAC-SHA-256(secret, Ni | IPi | SPIi)[:16] (RFC 7296 §2.6)."""
        if self._cookie_secret is None:
            self._cookie_secret = self._rng(32)
        from ipaddress import ip_address

        h = hmac.HMAC(self._cookie_secret, hashes.SHA256())
        h.update(ni + ip_address(src[0]).packed + spi_i)
        return b"\x01" + h.finalize()[:16]

    def _first_request(
        self, header: IkeHeader, data: bytes, src: Address, dst: Address, now: float
    ) -> IkeSa | None:
        key = (header.spi_i, src)
        old = self._by_init.get(key)
        if old is not None and old.alive:
            if header.message_id == 0 and old.mgr.last_response is not None:
                old.send(old.mgr.last_response[1], (dst, src))  # retransmission
            return old
        if header.message_id != 0:
            return None
        if self.fast_path:
            sa = fast_first_request(self, header, data, src, dst, now)
            if sa is not FALLBACK:
                return sa
        try:
            msg, sk = decode_message(data, None, header)
            if sk is not None:
                return None
            check_rules(msg)
        except IkeDecodeError as e:
            if e.notify in (Notify.UNSUPPORTED_CRITICAL_PAYLOAD, Notify.INVALID_MAJOR_VERSION):
                self._stateless_reply(header, NotifyPayload(e.notify, e.data), src, dst)
            return None
        except MalformedPacket:
            return None
        cfg = self.config
        half_open = self.half_open_count()
        if half_open >= cfg.half_open_limit:
            return None  # under attack: drop silently
        if half_open >= cfg.cookie_threshold:
            nonce = msg.get(NoncePayload)
            assert nonce is not None
            want = self._cookie(nonce.data, src, header.spi_i)  # type: ignore[union-attr]
            first = msg.payloads[0] if msg.payloads else None
            if not (
                isinstance(first, NotifyPayload)
                and first.notify_type == Notify.COOKIE
                and first.data == want
            ):
                self._stateless_reply(header, NotifyPayload(Notify.COOKIE, want), src, dst)
                return None
        sa = IkeSa(self, self._next_id, False, cfg, self._rng, dst, src, now)
        self._next_id += 1
        sa.spi_i = header.spi_i
        sa.spi_r = self._new_ike_spi()
        sa.init_key = key
        self._register(sa)
        self._by_init[key] = sa
        self._half_open.add(sa.id)
        sa.reply_to = None  # = (sa.local, sa.remote) = (dst, src)
        sa.mgr.process_request(sa, msg, now, _init_tasks)
        return sa

    def _forget(self, sa: IkeSa) -> None:
        super()._forget(sa)
        if self._sas.get(sa.id) is None:
            self._half_open.discard(sa.id)
        key = sa.init_key
        if key is not None and self._by_init.get(key) is sa:
            del self._by_init[key]

    def _on_established(self, sa: IkeSa) -> None:
        self._half_open.discard(sa.id)
        keyed = self._keyed
        if keyed and keyed[-1] == sa.id:  # attaches one at a time: the set stays empty
            keyed.pop()
        key = sa.init_key
        if key is not None and self._by_init.get(key) is sa:
            del self._by_init[key]
