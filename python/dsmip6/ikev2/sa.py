"""One IKE SA: its keys, endpoints, children and exchange manager (shared by both roles).

Theory of operation:

1. An ``IkeSa`` is created by an engine (``IkeInitiator.connect`` or the responder on a first
   IKE_SA_INIT request) and registered under *its own* SPI; the engine demultiplexes a received
   message by the SPI that belongs to this side (SPIr if the I flag is set, else SPIi).
2. States: ``INIT`` (IKE_SA_INIT running) → ``AUTH`` (keys exist, IKE_AUTH running) →
   ``ESTABLISHED`` → ``DELETING`` → ``DEAD``. A DEAD SA is removed by its engine; nothing it
   holds (children, data-plane SAs) survives it.
3. Received messages are decoded with this SA's keys, checked against the payload rule table,
   then handed to the exchange manager as a request or a response. Decoding errors in requests
   are answered with the notify they call for; in responses, and every integrity failure, they
   are dropped silently (RFC 7296 §2.21).
4. Events go to the engine's queue through ``emit``; datagrams through ``send``.
"""

from __future__ import annotations

import enum
import functools
import struct
import weakref
from array import array
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import TYPE_CHECKING, Any, final

from dsmip6.errors import CacheError, IntegrityCheckFailed, MalformedPacket
from dsmip6.ikev2 import fragment
from dsmip6.ikev2.auth import id_to_str
from dsmip6.ikev2.child import ChildSa
from dsmip6.ikev2.constants import (
    NAT_T_PORT,
    NON_ESP_MARKER,
    ExchangeType,
    Notify,
    PayloadType,
)
from dsmip6.ikev2.events import (
    ChildSaDeleted,
    IkeAuthFailed,
    IkeEvent,
    IkeSaDeleted,
    child_sa_established,
    ike_sa_established,
)
from dsmip6.ikev2.exchange import ExchangeManager, Status, Task
from dsmip6.ikev2.message import (
    IdPayload,
    IkeDecodeError,
    IkeHeader,
    Message,
    NotifyPayload,
    TrafficSelector,
    TsPayload,
    check_rules,
    decode_chain,
    decode_message,
)
from dsmip6.ikev2.sk import SkCrypto
from dsmip6.ikev2.transforms import Rng, sha1

if TYPE_CHECKING:
    from dsmip6.ikev2.config import Assignment, InitiatorConfig, ResponderConfig
    from dsmip6.ikev2.keys import IkeKeys
    from dsmip6.ikev2.transforms import Encr, Integ, Prf

Address = tuple[str, int]


class SaState(enum.Enum):
    INIT = "init"
    AUTH = "auth"
    ESTABLISHED = "established"
    DELETING = "deleting"
    DEAD = "dead"

    __hash__ = object.__hash__  # singletons compared by identity: C-level hash


_INIT, _AUTH, _ESTABLISHED, _DELETING, _DEAD = (
    SaState.INIT,
    SaState.AUTH,
    SaState.ESTABLISHED,
    SaState.DELETING,
    SaState.DEAD,
)  # module constants: enum attribute access is slow on the per-message path
_X_IKE_SA_INIT = int(ExchangeType.IKE_SA_INIT)
_X_IKE_AUTH = int(ExchangeType.IKE_AUTH)
_P_SK = int(PayloadType.SK)
_P_SKF = int(PayloadType.SKF)


def nat_hash(spi_i: bytes, spi_r: bytes, addr: Address) -> bytes:
    """NAT_DETECTION_*_IP data: SHA-1(SPIi | SPIr | IP | port) (RFC 7296 §2.23)."""
    return sha1(spi_i + spi_r + _packed(addr[0]) + addr[1].to_bytes(2, "big"))


@functools.lru_cache(maxsize=64)  # our own addresses stay; peers' churn (memory per UE)
def _packed(host: str) -> bytes:
    """The address octets of ``host`` (IPv4 or IPv6 text). The C parser first (each UE's
    address is new to the cache: ``ipaddress`` parses it in Python, ~10x the cost), the
    ``ipaddress`` reading for anything it refuses (zone suffixes, errors: the same
    ``ValueError`` as before). Both give the same octets for every text both accept:
    ``tests/test_ike_codec.py`` compares them."""
    try:
        return inet_pton(AF_INET6 if ":" in host else AF_INET, host)
    except (OSError, ValueError, TypeError):
        return ip_address(host).packed


@final
class IkeSa:
    # __slots__: one IkeSa per UE lives on the HA; no per-instance dict (memory per UE).
    __slots__ = (
        "assignment",
        "auth_tasks",
        "authenticated",
        "children",
        "config",
        "cp_failed",
        "created_at",
        "dh_group",
        "eap_identity",
        "encr",
        "engine",
        "established_at",
        "failure_reason",
        "fragmentation",
        "fragments",
        "ha_addresses",
        "home_address",
        "home_prefix",
        "id",
        "init_done",
        "init_key",
        "init_request",
        "init_response",
        "integ",
        "internal_ip4",
        "keys",
        "last_heard",
        "local",
        "mgr",
        "my_id",
        "nat_local",
        "nat_remote",
        "ni",
        "nr",
        "original_initiator",
        "peer_certreq",
        "peer_id",
        "peer_redirect_supported",
        "peer_sig_hashes",
        "pending_children",
        "pending_death",
        "prefix_lifetime",
        "prf",
        "redirected",
        "rekey_started",
        "remote",
        "reply_to",
        "requested_idr",
        "retired",
        "rng",
        "sk",
        "sk_d",
        "spi_i",
        "spi_r",
        "state",
        "timer_at",
    )

    def __init__(
        self,
        engine: Any,
        sa_id: int,
        original_initiator: bool,
        config: InitiatorConfig | ResponderConfig,
        rng: Rng,
        local: Address,
        remote: Address,
        now: float,
    ) -> None:
        # The engine owns its SAs (``_sas``, ``_by_spi``); the SA points back through a weak
        # proxy so that a dropped engine and its SAs are freed by reference counting, not left
        # to the cyclic GC (whose collections would land inside later, unrelated calls).
        self.engine = engine if type(engine) is weakref.ProxyType else weakref.proxy(engine)
        self.id = sa_id
        self.original_initiator = original_initiator
        self.config = config
        self.rng = rng
        self.local = local
        self.remote = remote
        self.reply_to: tuple[Address, Address] | None = None
        self.created_at = now
        self.last_heard = now
        self.state = _INIT
        self.spi_i = b""
        self.spi_r = b"\x00" * 8
        self.mgr = ExchangeManager()
        # negotiated
        self.prf: Prf | None = None
        self.encr: Encr | None = None
        self.integ: Integ | None = None
        self.dh_group = 0
        self.keys: IkeKeys | None = None
        """All seven keys, kept only until the SA is established (AUTH needs SK_pi/SK_pr)."""
        self.sk: SkCrypto | None = None
        self.sk_d = b""
        """SK_d: what an established SA still needs of ``keys`` (child SAs, IKE rekey)."""
        self.ni = b""
        self.nr = b""
        self.init_request = b""
        self.init_response = b""
        self.init_done = False
        self.nat_local = False
        self.nat_remote = False
        self.fragmentation = False
        self.peer_sig_hashes: tuple[int, ...] = ()
        self.peer_certreq = False
        # authentication
        self.my_id: IdPayload | None = None
        self.peer_id: IdPayload | None = None
        self.requested_idr: IdPayload | None = None
        self.authenticated = False
        self.eap_identity: str | None = None
        # configuration
        self.assignment: Assignment | None = None
        self.home_prefix: IPv6Network | None = None
        self.prefix_lifetime: int | None = None
        self.home_address: IPv6Address | None = None
        self.ha_addresses: tuple[IPv6Address | IPv4Address, ...] = ()
        self.internal_ip4: IPv4Address | None = None
        self.cp_failed = False
        # children
        self.children: dict[int, ChildSa] = {}
        self.pending_children: list[ChildSa] | tuple[()] = ()  # a list only when needed
        self.auth_tasks: list[Task] | None = None
        self.fragments: fragment.Reassembly | None = None  # created on the first SKF
        # outcome flags (all set here so instances keep CPython's compact shared-key dict)
        self.established_at = now
        self.failure_reason: str | None = None
        self.pending_death: str | None = None
        self.retired = False  # replaced by a rekeyed IKE SA: dies without an event
        self.peer_redirect_supported = False
        self.redirected = False  # RFC 5685 §6 redirect in IKE_AUTH: ends without an event
        self.rekey_started = False
        self.init_key: tuple[bytes, Address] | None = None  # responder: first-request key
        self.timer_at: float | None = None  # deadline last pushed on the engine's timer heap

    # ------------------------------------------------------------------ basics
    @property
    def alive(self) -> bool:
        return self.state is not _DEAD

    @property
    def use_nat_t(self) -> bool:
        return self.local[1] == NAT_T_PORT

    @property
    def nat_detected(self) -> bool:
        return self.nat_local or self.nat_remote

    @property
    def our_spi(self) -> bytes:
        return self.spi_i if self.original_initiator else self.spi_r

    def emit(self, event: IkeEvent) -> None:
        self.engine._events.append(event)

    def send(self, packets: list[bytes], to: tuple[Address, Address] | None) -> None:
        local, remote = to if to is not None else (self.local, self.remote)
        # Engine._queue_datagram per packet, inline (one call through the engine's weak
        # proxy less per message): the non-ESP marker on port 4500 (RFC 3948 §2.2)
        out = self.engine._out
        if local[1] == NAT_T_PORT or remote[1] == NAT_T_PORT:
            for p in packets:
                out.append((NON_ESP_MARKER + p, local, remote))
        else:
            for p in packets:
                out.append((p, local, remote))

    def new_message(self, exchange: int, *, response: bool, message_id: int) -> Message:
        # positional (exchange, response, initiator, message_id, spi_i, spi_r, payloads,
        # encrypted): the dataclass constructor with seven keywords cost ~2.6 k instructions
        # more per response in CPython 3.11
        return Message(
            exchange,
            response,
            self.original_initiator,
            message_id,
            self.spi_i,
            self.spi_r,
            [],
            None if exchange == _X_IKE_SA_INIT else [],
        )

    def encode(self, msg: Message) -> list[bytes]:
        if msg.encrypted is None:
            data = msg.encode()
            if msg.exchange == _X_IKE_SA_INIT:
                if msg.response:
                    self.init_response = data
                else:
                    self.init_request = data
            return [data]
        assert self.sk is not None
        data = msg.encode(self.sk)
        if self.fragmentation and msg.exchange == _X_IKE_AUTH:
            limit = self.config.fragment_size - (4 if self.local[1] == NAT_T_PORT else 0)
            if len(data) > limit:
                return fragment.fragment(msg, self.sk, limit)
        return [data]

    def make_crypto(self) -> None:
        assert self.keys is not None and self.encr is not None
        k = self.keys
        self.sk_d = k.sk_d
        if self.original_initiator:
            self.sk = SkCrypto(self.encr, self.integ, k.sk_ei, k.sk_ai, k.sk_er, k.sk_ar, self.rng)
            return
        sk = self.sk = SkCrypto(self.encr, self.integ, k.sk_er, k.sk_ar, k.sk_ei, k.sk_ai, self.rng)
        engine = self.engine
        keyed = engine._keyed
        if keyed is not None and sk.encr.aead:
            # the responder's working set of keyed AEAD ciphers (IkeResponder.__init__), by
            # SA id (no reference to the SA: one gone or parked since frees its SkCrypto as
            # before): the oldest member beyond its size drops its pair, if it still works
            keyed.append(self.id)
            if len(keyed) > engine._keyed_limit:
                old = engine._sas.get(keyed.popleft())
                if type(old) is IkeSa and old.sk is not None:
                    old.sk.compact()

    def alloc_spi(self) -> int:
        return self.engine._alloc_child_spi()

    # ------------------------------------------------------------------ receive path
    def receive(
        self,
        header: IkeHeader,
        data: bytes,
        src: Address,
        dst: Address,
        now: float,
        make_tasks: Callable[[IkeSa, Message], list[Task] | None],
    ) -> None:
        if header.response and header.initiator == self.original_initiator:
            return  # a "response" claiming our own role: not for us
        try:
            msg, raw_sk = decode_message(data, None, header)
        except IkeDecodeError as e:
            if not header.response and header.exchange == _X_IKE_SA_INIT:
                self._error_reply(header, e.notify, e.data, src, dst)
            return
        except MalformedPacket:
            return
        if raw_sk is not None:
            if self.sk is None:
                return
            try:
                if raw_sk.type == _P_SKF:
                    if self.fragments is None:
                        self.fragments = fragment.Reassembly()
                    whole = self.fragments.add(header, data, raw_sk, self.sk)
                    if whole is None:
                        return
                    msg = whole
                else:
                    inner = self.sk.open(data, raw_sk.offset)
            except (IntegrityCheckFailed, MalformedPacket):
                return  # unauthenticated: drop silently (§2.21.2)
            try:
                if raw_sk.type == _P_SK:
                    msg.encrypted, _ = decode_chain(inner, raw_sk.inner_first, 0, allow_sk=False)
                check_rules(msg)
            except IkeDecodeError as e:
                if not header.response:
                    self._error_reply(header, e.notify, e.data, src, dst)
                return
            except MalformedPacket:
                if not header.response:
                    self._error_reply(header, Notify.INVALID_SYNTAX, b"", src, dst)
                return
        else:
            try:
                check_rules(msg)
            except IkeDecodeError as e:
                if not header.response and header.exchange == _X_IKE_SA_INIT:
                    self._error_reply(header, e.notify, e.data, src, dst)
                return
        self.last_heard = now
        if msg.encrypted is not None and (self.nat_detected or dst[1] == NAT_T_PORT):
            # RFC 7296 §2.23: follow the peer's NAT mapping on authenticated messages.
            if not header.response:
                self.local, self.remote = dst, src
        if header.response:
            self.mgr.process_response(self, msg, now)
        else:
            # answer where the request came from; None = our endpoints (no tuple kept per SA)
            self.reply_to = None if (dst == self.local and src == self.remote) else (dst, src)
            self.mgr.process_request(self, msg, now, make_tasks)

    def _error_reply(
        self, header: IkeHeader, notify: int, data: bytes, src: Address, dst: Address
    ) -> None:
        """Answer a request that failed to decode, with the same Message ID (§2.21.1)."""
        if header.message_id != self.mgr.expected_mid:
            return
        msg = self.new_message(header.exchange, response=True, message_id=header.message_id)
        msg.add(NotifyPayload(notify, data))
        packets = self.encode(msg) if (msg.encrypted is None or self.sk) else []
        self.mgr.expected_mid += 1
        self.mgr.last_response = (header.message_id, packets)
        self.send(packets, (dst, src))

    # ------------------------------------------------------------------ exchange outcomes
    def exchange_finished(
        self, exchange: int, *, failed: bool, now: float, passive: bool = False
    ) -> None:
        if exchange == _X_IKE_AUTH and self.state is _AUTH:
            if self.redirected:
                self.die(now, quiet=True)
            elif failed or not self.authenticated:
                self.die(now, auth_failed=self.failure_reason or "AUTHENTICATION_FAILED")
            else:
                self.established(now)
        elif exchange == _X_IKE_SA_INIT and failed and self.state is _INIT:
            self.die(now, auth_failed=self.failure_reason or "IKE_SA_INIT failed", quiet=passive)
        if self.pending_death is not None:
            self.die(now, reason=self.pending_death)

    """Replaced by a rekeyed IKE SA: dies without an event."""

    def established(self, now: float) -> None:
        self.state = _ESTABLISHED
        self.established_at = now
        assert self.peer_id is not None
        self.engine._events.append(
            ike_sa_established(  # = IkeSaEstablished(...), built cheaper (events.py)
                self.id,
                id_to_str(self.peer_id) or "?",
                self.eap_identity,
                self.local,
                self.remote,
                self.nat_local or self.nat_remote,
                self.home_prefix,
                self.home_address,
                self.ha_addresses,
                self.internal_ip4,
                self.prefix_lifetime,
            )
        )
        pending, self.pending_children = self.pending_children, ()
        for child in pending:
            self.install_child(child)
        self.engine._on_established(self)
        self.slim()

    def slim(self) -> None:
        """Drop what only the handshake needed (memory per UE on the HA): the signed
        IKE_SA_INIT octets and nonces, SK_ai..SK_pr (``sk`` and ``sk_d`` stay), our ID and the
        requested IDr, the peer's signature hashes, the IKE_AUTH tasks (EAP server, decoded
        request) and the reassembly buffer. Later exchanges bring their own nonces.

        The keyed AEAD cipher objects go too (``SkCrypto.compact``), on both sides: keeping
        them on the HA until the SA is parked saved the attach's CREATE_CHILD_SA two keyings
        (~0.7 % of its instructions) but held ~4.6 KB more per UE between IKE_AUTH and the
        park, which an attach storm pays at once (the 20 000-UE simulation's peak RSS
        667 -> 760 MB), so it was taken back in session 8."""
        self.init_request = self.init_response = b""
        self.ni = self.nr = b""
        self.keys = None
        self.my_id = self.requested_idr = None
        self.peer_sig_hashes = ()
        self.auth_tasks = None
        self.fragments = None
        self.init_key = None
        if self.sk is not None:
            self.sk.compact()

    def install_child(self, child: ChildSa, rekeyed_spi_in: int | None = None) -> None:
        if self.state is not _ESTABLISHED:
            if type(self.pending_children) is tuple:
                self.pending_children = []
            self.pending_children.append(child)  # type: ignore[union-attr]
            return
        self.children[child.spi_in] = child
        dp = self.config.dataplane
        if dp is not None:
            sa_in, sa_out = child.sa_specs(*self._child_endpoints(child))
            dp.add_sa(sa_in)
            dp.add_sa(sa_out)
        self.engine._events.append(child_sa_established(self.id, child, rekeyed_spi_in))

    def _child_endpoints(self, child: ChildSa) -> tuple[object, object]:
        if child.mode == "transport":
            loc = [t for t in child.local_ts if t.is_single_address]
            rem = [t for t in child.remote_ts if t.is_single_address]
            if loc and rem:
                return loc[0].start, rem[0].start
        return self.local[0], self.remote[0]

    def remove_child(self, spi_in: int, reason: str) -> ChildSa | None:
        child = self.children.pop(spi_in, None)
        if child is None:
            return None
        dp = self.config.dataplane
        if dp is not None:
            for spi, direction in ((child.spi_in, "in"), (child.spi_out, "out")):
                try:
                    dp.del_sa(spi, direction)
                except CacheError:
                    pass
        self.engine._release_child_spi(child.spi_in)
        self.emit(ChildSaDeleted(self.id, child.spi_in, child.spi_out, reason))
        return child

    def die(
        self,
        now: float,
        *,
        reason: str = "deleted",
        auth_failed: str | None = None,
        quiet: bool = False,
    ) -> None:
        """Remove the SA and everything under it; emit one final event (unless ``quiet``)."""
        if self.state == SaState.DEAD:
            return
        was_established = self.state in (SaState.ESTABLISHED, SaState.DELETING)
        for spi in list(self.children):
            self.remove_child(spi, reason)
        self.state = SaState.DEAD
        self.mgr.active = None
        self.mgr.queue.clear()
        self.mgr.passive = None  # tasks point at their SA: no cycle left behind
        self.auth_tasks = None
        self.pending_children = ()
        if not quiet and not self.retired:
            if was_established:
                self.emit(IkeSaDeleted(self.id, reason))
            else:
                self.emit(IkeAuthFailed(self.id, auth_failed or reason))
        self.engine._forget(self)

    def retransmissions_exhausted(self, now: float) -> None:
        self.die(now, reason="timeout", auth_failed="timeout")

    # ------------------------------------------------------------------ timers
    def get_timer(self) -> float | None:
        act = self.mgr.active
        best = act.deadline if act is not None else None
        state = self.state
        if state is _ESTABLISHED:
            dpd = getattr(self.config, "dpd_interval", None)
            if dpd and act is None and not self.mgr.queue:
                t = self.last_heard + dpd
                best = t if best is None or t < best else best
            rekey = self._rekey_deadline()
            if rekey is not None:
                best = rekey if best is None or rekey < best else best
        elif (state is _INIT or state is _AUTH) and not self.original_initiator:
            t = self.created_at + getattr(self.config, "half_open_timeout", 30.0)
            best = t if best is None or t < best else best
        return best

    def _rekey_deadline(self) -> float | None:
        life = self.config.ike_lifetime
        if not life or self.state is not _ESTABLISHED or self.rekey_started or self.retired:
            return None
        return self.established_at + life

    def _half_open_deadline(self) -> float | None:
        if self.state in (SaState.INIT, SaState.AUTH) and not self.original_initiator:
            return self.created_at + getattr(self.config, "half_open_timeout", 30.0)
        return None

    def handle_timer(self, now: float) -> None:
        ho = self._half_open_deadline()
        if ho is not None and now >= ho:
            self.die(now, quiet=True)  # half-open expiry (§2.6): no event, no trace
            return
        self.mgr.handle_timer(self, now)
        rekey = self._rekey_deadline()
        if self.alive and rekey is not None and now >= rekey:
            self.rekey_started = True  # RFC 7296 §2.18, on ike_lifetime
            self.engine._rekey_ike(self, now)
        dpd = getattr(self.config, "dpd_interval", None)
        if (
            self.alive
            and dpd
            and self.state == SaState.ESTABLISHED
            and not self.mgr.busy
            and now >= self.last_heard + dpd
        ):
            from dsmip6.ikev2.tasks.ike_dpd import IkeDpd

            self.last_heard = now
            self.mgr.queue_exchange(self, ExchangeType.INFORMATIONAL, [IkeDpd(self, True)], now)


__all__ = ["IkeSa", "SaState", "nat_hash", "Status"]


# ------------------------------------------------------------------------------------------
# Parking (memory per UE on the HA). An established responder IKE SA with no exchange under
# way is stored as one compact slotted record: the objects it shares with others (HNP, HA
# addresses, suite, local endpoint, identity) by reference, everything else — SPIs, Message
# IDs, AEAD IV counter, flags, times, the peer's endpoint, every key and the children — packed
# into ONE bytes object. The working objects (IkeSa, its ExchangeManager and SkCrypto) are
# rebuilt by ``thaw`` when a later message, timer or API call concerns the SA; ``park`` folds
# them up again afterwards. Nothing observable changes: the same keys, Message IDs, cached
# last response, AEAD IV counter, endpoints and configuration values carry over (values that
# do not pack losslessly are kept as they are, in ``rest``).

_F_ORIG_INITIATOR = 1
_F_NAT_LOCAL = 2
_F_NAT_REMOTE = 4
_F_FRAGMENTATION = 8
_F_REDIRECT_SUPPORTED = 16
_F_PEER_CERTREQ = 32
_F_REKEY_STARTED = 64
_F_CP_FAILED = 128
_F_PEER_ID = 256  # the peer's ID payload follows the key material
_F_REST = 512  # the loose values are in ``rest`` (not packed)
_F_ASSIGN = 1024  # an Assignment is rebuilt from home_prefix / ha_addresses / lifetime
_F_SA_PREFIX = 2048  # sa.home_prefix is the assignment's (else None)
_F_SA_HAS = 4096  # sa.ha_addresses is the assignment's (else ())
_F_SA_PLIFE = 8192  # sa.prefix_lifetime is the assignment's (else None)
_F_PEER_REALM = 16384  # the peer's ID is an NAI whose realm is in ``_REALMS``
_F_PREFIX_PACKED = 32768  # the assignment's home prefix is packed after the two times

_SUITES: dict[tuple[int, int, int, int], tuple[Any, ...]] = {}
_REALMS: list[bytes] = []  # NAI realms of parked peer IDs, at most 255 of <= 128 octets
_REALM_INDEX: dict[bytes, int] = {}
_LOCALS: dict[Address, Address] = {}  # local endpoints, at most 16 (the HA's own addresses)

# The packed part (``ParkedSa.blob``): this header, then the key material (SK_d, the SK_e/SK_a
# of both directions, the peer's ID), then — unless ``_F_REST`` — the peer's endpoint (4 or 16
# octets of address, 2 of port) and the two times as IEEE doubles, then — with
# ``_F_PREFIX_PACKED`` — the assignment's IPv6 home prefix (16 octets of network address, 1 of
# length: no ``IPv6Network`` object per parked SA), then the child records.
#   spi_i(8) spi_r(8) next_mid(4) expected_mid(4) iv(8) flags(2) len(keys)(2)
#   family(1: 4, 6, or 0 with _F_REST) prefix_lifetime(4)
_HEAD = struct.Struct("!8s8sIIQHHBI")
_HEAD_KEYS_AT = struct.calcsize("!8s8sIIQH")  # where the key length and the family sit
_HEAD_KEYS_FAMILY = struct.Struct("!HB")
_U32, _U16 = struct.Struct("!I"), struct.Struct("!H")
if struct.calcsize("!8s8s") != 16 or struct.calcsize("!8s8sIIQ") != 32:  # pragma: no cover
    raise ImportError("sa: the parked head's field offsets are out of date")
_PLEN = [bytes((n,)) for n in range(129)]  # a prefix length octet
# what park's inline common case always sets: an Assignment rebuilt from the packed prefix,
# the shared HA addresses and the lifetime (the _F_SA_* flags as the SA's own values say)
_NEW_PARKED = object.__new__
_TIMES = struct.Struct("!dd")


@final
class ParkedSa:
    """An established IKE SA at rest (see ``park``). Read-only for everything but the engine
    (which re-arms ``timer_at`` and may drop ``last_packets``)."""

    __slots__ = (
        "id",
        "timer_at",
        "last_packets",
        "suite",
        "blob",
        "eap_identity",
        "home_prefix",
        "ha_addresses",
        "local",
        "rest",
    )
    state = SaState.ESTABLISHED
    alive = True  # its heap entries are invalidated through ``timer_at`` once thawed

    id: int
    timer_at: float | None
    last_packets: bytes | tuple[bytes, ...] | None
    suite: tuple[Any, ...]
    blob: bytes
    eap_identity: str | None
    home_prefix: IPv6Network | None
    ha_addresses: tuple[IPv6Address | IPv4Address, ...]
    local: Address
    rest: tuple[Any, ...] | None

    def _head(self) -> tuple[Any, ...]:
        return _HEAD.unpack_from(self.blob)

    @property
    def spi_i(self) -> bytes:
        return self.blob[0:8]

    @property
    def spi_r(self) -> bytes:
        return self.blob[8:16]

    @property
    def our_spi(self) -> bytes:
        return self.blob[0:8] if self.flags & _F_ORIG_INITIATOR else self.blob[8:16]

    # single head fields at their offsets (``_HEAD``: 8s 8s I I Q H ...), not the whole head
    @property
    def next_mid(self) -> int:
        return _U32.unpack_from(self.blob, 16)[0]  # type: ignore[no-any-return]

    @property
    def expected_mid(self) -> int:
        return _U32.unpack_from(self.blob, 20)[0]  # type: ignore[no-any-return]

    @property
    def iv(self) -> int:
        return self._head()[4]

    @property
    def flags(self) -> int:
        return _U16.unpack_from(self.blob, 32)[0]  # type: ignore[no-any-return]

    def _tail(self) -> int:
        """Offset of the peer's endpoint (or, with ``_F_REST``, of the child records)."""
        return _HEAD.size + self._head()[6]

    def _loose(self) -> tuple[Any, ...]:
        """(last_heard, established_at, remote, reply_to, home_address, internal_ip4,
        failure_reason, home_prefix, ha_addresses, prefix_lifetime, assignment) — the SA's
        own values."""
        rest = self.rest
        if rest is not None:
            return rest
        _, _, _, _, _, flags, nkeys, family, plife = self._head()
        b, o = self.blob, _HEAD.size + nkeys
        n = 4 if family == 4 else 16
        host = inet_ntop(AF_INET if family == 4 else AF_INET6, b[o : o + n])
        remote = (host, int.from_bytes(b[o + n : o + n + 2], "big"))
        last_heard, established_at = _TIMES.unpack_from(b, o + n + 2)
        assignment = None
        prefix, has = self.home_prefix, self.ha_addresses
        if flags & _F_PREFIX_PACKED:
            o += n + 2 + _TIMES.size
            prefix = IPv6Network((int.from_bytes(b[o : o + 16], "big"), b[o + 16]))
        if flags & _F_ASSIGN:
            assignment = _assignment(prefix, has, plife)
        return (
            last_heard,
            established_at,
            remote,
            None,
            None,
            None,
            None,
            prefix if flags & _F_SA_PREFIX else None,
            has if flags & _F_SA_HAS else (),
            plife if flags & _F_SA_PLIFE else None,
            assignment,
        )

    @property
    def remote(self) -> Address:
        rest = self.rest
        if rest is not None:
            return rest[2]  # type: ignore[no-any-return]
        # only the endpoint (what ``_loose`` reads first): no prefix or Assignment rebuilt,
        # and of the head only the key length and the family (_HEAD's fields 6 and 7)
        b = self.blob
        nkeys, family = _HEAD_KEYS_FAMILY.unpack_from(b, _HEAD_KEYS_AT)
        o = _HEAD.size + nkeys
        n = 4 if family == 4 else 16
        host = inet_ntop(AF_INET if family == 4 else AF_INET6, b[o : o + n])
        return (host, int.from_bytes(b[o + n : o + n + 2], "big"))

    def remote_octets6(self) -> bytes | None:
        """The peer's endpoint as packed (16 octets of IPv6 address, 2 of port) when it is
        an IPv6 endpoint kept in the blob — then ``remote`` is ``(inet_ntop(AF_INET6,
        address), port)`` of these very octets — else None (IPv4, or kept in ``rest``)."""
        if self.rest is not None:
            return None
        b = self.blob
        nkeys, family = _HEAD_KEYS_FAMILY.unpack_from(b, _HEAD_KEYS_AT)
        if family != 6:
            return None
        o = _HEAD.size + nkeys
        return b[o : o + 18]

    @property
    def reply_to(self) -> tuple[Address, Address] | None:
        return self._loose()[3]  # type: ignore[no-any-return]

    @property
    def last_heard(self) -> float:
        return self._loose()[0]  # type: ignore[no-any-return]

    @property
    def established_at(self) -> float:
        return self._loose()[1]  # type: ignore[no-any-return]

    @property
    def assignment(self) -> Assignment | None:
        return self._loose()[10]  # type: ignore[no-any-return]

    def _children_offset(self) -> int:
        _, _, _, _, _, flags, nkeys, family, _ = self._head()
        o = _HEAD.size + nkeys
        if not flags & _F_REST:
            o += (4 if family == 4 else 16) + 2 + _TIMES.size
            if flags & _F_PREFIX_PACKED:
                o += 17
        return o

    @property
    def children(self) -> bytes:
        """The child records, a 2-octet length before each."""
        return self.blob[self._children_offset() :]

    def children_dict(self) -> dict[int, ChildSa]:
        out = {}
        b, o = self.blob, self._children_offset()
        while o < len(b):  # records, each after its 2-octet length
            n = int.from_bytes(b[o : o + 2], "big")
            c = _unpack_child(b[o + 2 : o + 2 + n])
            out[c.spi_in] = c
            o += 2 + n
        return out


# config.Assignment, imported once (config imports this module)
_ASSIGNMENT: list[type[Assignment]] = []


def _assignment_class() -> type[Assignment]:
    if not _ASSIGNMENT:
        from dsmip6.ikev2.config import Assignment

        _ASSIGNMENT.append(Assignment)
    return _ASSIGNMENT[0]


def _assignment(prefix: Any, has: Any, plife: int) -> Assignment:
    """The Assignment a parked SA folded away: its fields set directly (the values were
    checked when it was first built), so the rebuilt object equals the original."""
    a: Assignment = object.__new__(_assignment_class())
    for name, value in (("home_prefix", prefix), ("home_address", None), ("ha_addresses", has),
                        ("internal_ip4", None), ("prefix_lifetime", plife)):  # fmt: skip
        object.__setattr__(a, name, value)
    return a


# The children of a parked SA are records in ``blob``, a 2-octet length before each (a
# ChildSa with its four key strings and selector objects costs about 500 octets at the HA;
# a record about 90). A record:
#   spi_in(4) spi_out(4) flags(1) algorithm(1) len(key_in) len(key_out) len(ik_in) len(ik_out)
#   udp local port(2) udp remote port(2) | keys | TSi | TSr
# and a selector list is one octet < 254, the index of a list in ``_TS_TABLE`` (lists seen in
# two children are put there: the HA-side TSr of every UE's SAs is one entry); or 254 and one
# IPv6 selector whose range is a prefix (the HNP; or one address, the HoA-keyed MH selector of
# RFC 4877 §4.4) as protocol(1) start port(2) end port(2) start address(16) prefix length(1);
# or 255, a 2-octet length and the TS payload body of RFC 7296 §3.13 (``TsPayload``). Both
# short forms stand for exact bodies.
_CHILD = struct.Struct("!IIBBBBBBHH")
_C_TUNNEL, _C_INITIATOR, _C_ESN, _C_UDP, _C_IK_IN, _C_IK_OUT = 1, 2, 4, 8, 16, 32
_CHILD_ALGS: list[str] = []  # algorithm names by index (a handful: the suites in use)
_TS_ONE6 = b"\x01\x00\x00\x00\x08"  # one selector, TS_IPV6_ADDR_RANGE (RFC 7296 §3.13.1)


def _pack_child(c: ChildSa) -> bytes:
    alg = c.algorithm
    try:
        a = _CHILD_ALGS.index(alg)
    except ValueError:
        a = len(_CHILD_ALGS)
        _CHILD_ALGS.append(alg)
    ik_in, ik_out, udp = c.integrity_key_in, c.integrity_key_out, c.udp_encap
    flags = (
        (_C_TUNNEL if c.mode == "tunnel" else 0)
        | (_C_INITIATOR if c.initiator else 0)
        | (_C_ESN if c.esn else 0)
        | (_C_UDP if udp is not None else 0)
        | (_C_IK_IN if ik_in is not None else 0)
        | (_C_IK_OUT if ik_out is not None else 0)
    )
    ik_in, ik_out = ik_in or b"", ik_out or b""
    return b"".join((
        _CHILD.pack(c.spi_in, c.spi_out, flags, a, len(c.key_in), len(c.key_out), len(ik_in),
                    len(ik_out), *(udp or (0, 0))),
        c.key_in, c.key_out, ik_in, ik_out, _pack_ts(c.ts_i, c.spi_in),
        _pack_ts(c.ts_r, c.spi_in),
    ))  # fmt: skip


_CHILD_REC = struct.Struct("!HIIBBBBBBHH")  # a record's 2-octet length, then _CHILD
_CHILD_ALG_INDEX: dict[str, int] = {}  # algorithm name -> its index in _CHILD_ALGS
_TUNNEL = "tunnel"


_RECORD: list[Any] = []  # dsmip6._core.mhfast.child_record, imported at first use


def _child_parts(c: ChildSa) -> tuple[int, bytes, bytes]:
    """A child's algorithm index and its packed TSi and TSr lists (``_pack_ts``, TSi first);
    a selector list already in ``_TS_TABLE`` by identity (the HA-side TSr every child
    shares) is found here without the call."""
    alg = c.algorithm
    a = _CHILD_ALG_INDEX.get(alg)
    if a is None or a >= len(_CHILD_ALGS) or _CHILD_ALGS[a] != alg:
        a = _alg_index(alg)
    ts_i = _pack_ts(c.ts_i, c.spi_in)
    ts = c.ts_r
    hit = _TS_SHARED.get(id(ts))
    if hit is not None and hit[0] is ts and hit[1] < len(_TS_TABLE) and _TS_TABLE[hit[1]] is hit[2]:
        return a, ts_i, _TS_REFS[hit[1]]  # _pack_ts's first test, inline
    return a, ts_i, _pack_ts(ts, c.spi_in)


def _child_record(c: ChildSa) -> bytes:
    """``len(_pack_child(c)).to_bytes(2, "big") + _pack_child(c)``: the same octets and the
    same calls of ``_pack_ts``. The record's head and keys are written by
    ``_core.mhfast.child_record`` (the same layout); values it refuses (what ``struct``
    would refuse) go to ``_child_record_tail``, which raises as the Python writer always
    did. What ``park`` writes per child."""
    # _child_parts(c), inline (one call less per parked child)
    alg = c.algorithm
    a = _CHILD_ALG_INDEX.get(alg)
    if a is None or a >= len(_CHILD_ALGS) or _CHILD_ALGS[a] != alg:
        a = _alg_index(alg)
    spi_in = c.spi_in
    ts_i = _pack_ts(c.ts_i, spi_in)
    ts = c.ts_r
    hit = _TS_SHARED.get(id(ts))
    if hit is not None and hit[0] is ts and hit[1] < len(_TS_TABLE) and _TS_TABLE[hit[1]] is hit[2]:
        ts_r = _TS_REFS[hit[1]]
    else:
        ts_r = _pack_ts(ts, spi_in)
    record = _RECORD[0] if _RECORD else _record_writer()
    try:
        return record(c, a, ts_i, ts_r)  # type: ignore[no-any-return]
    except (TypeError, ValueError, OverflowError):
        return _child_record_tail(c, a, ts_i, ts_r)


def _record_writer() -> Any:
    from dsmip6._core import mhfast

    _RECORD.append(mhfast.child_record)
    return mhfast.child_record


def _alg_index(alg: str) -> int:
    try:
        a = _CHILD_ALGS.index(alg)
    except ValueError:
        a = len(_CHILD_ALGS)
        _CHILD_ALGS.append(alg)
    _CHILD_ALG_INDEX[alg] = a
    return a


def _child_record_py(c: ChildSa) -> bytes:
    """``_child_record`` all in Python (the record written by ``_child_record_tail``): the
    twin the tests compare the Rust head with."""
    return _child_record_tail(c, *_child_parts(c))


def _child_record_tail(c: ChildSa, a: int, ts_i: bytes, ts_r: bytes) -> bytes:
    """The record of ``c`` around its algorithm index and packed selector lists."""
    spi_in = c.spi_in
    key_in, key_out = c.key_in, c.key_out
    ik_in, ik_out, udp = c.integrity_key_in, c.integrity_key_out, c.udp_encap
    flags = _C_TUNNEL if c.mode == _TUNNEL else 0
    if c.initiator:
        flags |= _C_INITIATOR
    if c.esn:
        flags |= _C_ESN
    if udp is None:
        u0 = u1 = 0
    else:
        flags |= _C_UDP
        u0, u1 = udp
    if ik_in is None:
        ik_in = b""
    else:
        flags |= _C_IK_IN
    if ik_out is None:
        ik_out = b""
    else:
        flags |= _C_IK_OUT
    lk_in, lk_out, li_in, li_out = len(key_in), len(key_out), len(ik_in), len(ik_out)
    n = _CHILD.size + lk_in + lk_out + li_in + li_out + len(ts_i) + len(ts_r)
    return b"".join((
        _CHILD_REC.pack(n, spi_in, c.spi_out, flags, a, lk_in, lk_out, li_in, li_out, u0, u1),
        key_in, key_out, ik_in, ik_out, ts_i, ts_r,
    ))  # fmt: skip


_TS_TABLE: list[tuple[TrafficSelector, ...]] = []  # shared selector lists, at most 254
_TS_INDEX: dict[bytes, int] = {}  # their exact forms (short record or body) -> index
_TS_SEEN: dict[bytes, int] = {}  # exact form -> the child (spi_in) it was first in; <= 32


_TS_SHORT = struct.Struct("!BBHH16sB")  # 254, protocol, ports, start address, prefix length
_TS_REFS = [bytes((i,)) for i in range(254)]  # the one-octet records of _TS_TABLE's lists


_TS_SHARED: dict[int, tuple[tuple[TrafficSelector, ...], int, tuple[TrafficSelector, ...]]] = {}
"""id of a selector tuple found in ``_TS_TABLE`` -> (that tuple, its index, the table's tuple
at that index): the HA-side selectors every UE's SAs share are a few tuple objects, found
without re-deriving their exact form. An entry counts only while the table still holds that
same object at that index; at most ``_TS_SHARED_MAX`` entries (each keeps its tuple alive, so
an id is not reused while its entry exists)."""
_TS_SHARED_MAX = 64


def _pack_ts(ts: tuple[TrafficSelector, ...], spi_in: int) -> bytes:
    hit = _TS_SHARED.get(id(ts))
    if hit is not None and hit[0] is ts:
        h = hit[1]
        if h < len(_TS_TABLE) and _TS_TABLE[h] is hit[2]:
            return _TS_REFS[h]
    rec = None
    if len(ts) == 1:  # one IPv6 selector whose range is a prefix: the 23-octet form
        sel = ts[0]
        start = sel.start
        if type(start) is IPv6Address:
            # ipaddress's private integer attributes (no typeshed entry): a property call less
            s = start._ip  # type: ignore[attr-defined]
            span = sel.end._ip - s  # type: ignore[union-attr]  # a prefix: 2^k - 1, start aligned
            if span >= 0 and span & (span + 1) == 0 and s & span == 0:
                rec = _TS_SHORT.pack(254, sel.protocol, sel.start_port, sel.end_port,
                                     s.to_bytes(16, "big"), 128 - span.bit_length())  # fmt: skip
    # the exact form of the list (the key of the shared table): that record, or the body
    key = rec if rec is not None else TsPayload(ts).encode_body()
    i = _TS_INDEX.get(key)
    if i is not None:
        if len(_TS_SHARED) >= _TS_SHARED_MAX:
            _TS_SHARED.clear()
        _TS_SHARED[id(ts)] = (ts, i, _TS_TABLE[i])  # found by identity from now on
        return _TS_REFS[i]
    if len(_TS_TABLE) < 254:
        first = _TS_SEEN.get(key)
        if first is not None and first != spi_in:  # in two children: worth sharing
            del _TS_SEEN[key]
            i = _TS_INDEX[key] = len(_TS_TABLE)
            kept = tuple(ts)
            _TS_TABLE.append(kept)
            return _TS_REFS[i]
        if first is None:
            if len(_TS_SEEN) >= 32:
                _TS_SEEN.clear()
            _TS_SEEN[key] = spi_in
    if rec is not None:
        return rec
    return b"\xff" + len(key).to_bytes(2, "big") + key


def _unpack_ts(b: bytes, o: int) -> tuple[tuple[TrafficSelector, ...], int]:
    """The selector list at ``b[o:]`` and the offset after it."""
    i = b[o]
    if i < 254:
        return _TS_TABLE[i], o + 1
    if i == 254:
        start = b[o + 6 : o + 22]
        end = (int.from_bytes(start, "big") | ((1 << (128 - b[o + 22])) - 1)).to_bytes(16, "big")
        body = _TS_ONE6 + b[o + 1 : o + 2] + b"\x00\x28" + b[o + 2 : o + 6] + start + end
        return TsPayload.decode_body(body).selectors, o + 23
    n = int.from_bytes(b[o + 1 : o + 3], "big")
    return TsPayload.decode_body(b[o + 3 : o + 3 + n]).selectors, o + 3 + n


def _unpack_child(b: bytes) -> ChildSa:
    spi_in, spi_out, flags, a, lk_in, lk_out, li_in, li_out, up0, up1 = _CHILD.unpack_from(b)
    o = _CHILD.size
    key_in, o = b[o : o + lk_in], o + lk_in
    key_out, o = b[o : o + lk_out], o + lk_out
    ik_in, o = b[o : o + li_in], o + li_in
    ik_out, o = b[o : o + li_out], o + li_out
    ts_i, o = _unpack_ts(b, o)
    ts_r, o = _unpack_ts(b, o)
    return ChildSa(
        spi_in=spi_in,
        spi_out=spi_out,
        mode="tunnel" if flags & _C_TUNNEL else "transport",
        algorithm=_CHILD_ALGS[a],
        key_in=key_in,
        key_out=key_out,
        integrity_key_in=ik_in if flags & _C_IK_IN else None,
        integrity_key_out=ik_out if flags & _C_IK_OUT else None,
        ts_i=ts_i,
        ts_r=ts_r,
        initiator=bool(flags & _C_INITIATOR),
        esn=bool(flags & _C_ESN),
        udp_encap=(up0, up1) if flags & _C_UDP else None,
    )


def parkable(sa: IkeSa) -> bool:
    """Established, idle (no exchange in flight, queued or half-received), not retired."""
    mgr = sa.mgr
    return (
        sa.state is _ESTABLISHED
        and mgr.active is None
        and not mgr.queue
        and mgr.passive is None
        and not sa.retired
        and sa.fragments is None
        and sa.pending_death is None
        and not sa.pending_children
        and sa.sk is not None
        and sa.prf is not None
        and sa.auth_tasks is None
        and (mgr.last_response is None or mgr.last_response[0] == mgr.expected_mid - 1)
    )


_CANON6: list[Any] = []  # dsmip6._core.mhfast.canonical6, imported at first use


def _canonical6() -> Any:
    from dsmip6._core import mhfast

    _CANON6.append(mhfast.canonical6)
    return mhfast.canonical6


def _packed_endpoint(addr: Any) -> tuple[int, bytes] | None:
    """(4 or 6, address octets + port) when ``addr`` comes back equal (same text, same
    port) from them; else None."""
    if type(addr) is not tuple or len(addr) != 2:
        return None
    host, port = addr
    if type(host) is not str or type(port) is not int or not 0 <= port <= 0xFFFF:
        return None
    if ":" in host:
        # ``_core.mhfast.canonical6``: the octets when inet_ntop(inet_pton(host)) is host
        # (glibc's RFC 5952 text written in Rust; inet_ntop costs ~4.8 k instructions)
        octets = (_CANON6[0] if _CANON6 else _canonical6())(host)
        return None if octets is None else (6, octets + port.to_bytes(2, "big"))
    try:
        octets = inet_pton(AF_INET, host)
    except (OSError, ValueError):
        return None
    if inet_ntop(AF_INET, octets) != host:
        return None
    return 4, octets + port.to_bytes(2, "big")


def _folded_assignment(sa: IkeSa) -> int | None:
    """The ``_F_ASSIGN``/``_F_SA_*`` flags when the SA's configuration values are exactly
    what ``_loose`` rebuilds from home_prefix, ha_addresses and the prefix lifetime; None if
    they must be kept as they are."""
    if sa.home_address is not None or sa.internal_ip4 is not None:
        return None
    a = sa.assignment
    if a is None:
        ok = sa.home_prefix is None and sa.ha_addresses == () and sa.prefix_lifetime is None
        return 0 if ok else None
    plife = a.prefix_lifetime
    if (
        type(a) is not _assignment_class()
        or a.home_address is not None
        or a.internal_ip4 is not None
        or type(plife) is not int
        or not 0 <= plife <= 0xFFFFFFFF
        or type(a.ha_addresses) is not tuple
    ):
        return None
    flags = _F_ASSIGN
    if sa.home_prefix is a.home_prefix:
        flags |= _F_SA_PREFIX
    elif sa.home_prefix is not None:
        return None
    if sa.ha_addresses is a.ha_addresses:
        flags |= _F_SA_HAS
    elif sa.ha_addresses != ():
        return None
    if sa.prefix_lifetime is not None:
        if sa.prefix_lifetime is not plife and not (
            type(sa.prefix_lifetime) is int and sa.prefix_lifetime == plife
        ):
            return None
        flags |= _F_SA_PLIFE
    return flags


def park(sa: IkeSa, timer_at: float | None) -> ParkedSa:
    """Fold an idle established SA (``parkable``) into a ``ParkedSa``; ``sa`` is then stale.

    The loose values (endpoint, times, the assignment) are packed by ``_park_loose``. The
    octets and fields are those of ``_park_reference`` (tests/test_ha_compact.py)."""
    sk = sa.sk
    assert sk is not None
    p = _NEW_PARKED(ParkedSa)
    p.id = sa.id
    # our own endpoint: one of the engine's few local addresses, one shared tuple each
    local = sa.local
    shared = _LOCALS.get(local)
    if shared is None:
        if len(_LOCALS) < 16 and type(local) is tuple:
            shared = _LOCALS[local] = local
        else:
            shared = local
    p.local = shared
    p.timer_at = timer_at
    mgr = sa.mgr
    last = mgr.last_response
    if last is None:
        p.last_packets = None
    else:
        packets = last[1]
        p.last_packets = packets[0] if len(packets) == 1 else tuple(packets)
    # one shared tuple per negotiated suite; keyed by identity (the Prf/Encr/Integ objects are
    # shared per algorithm and kept alive by the cached tuple itself)
    prf, encr, integ = sa.prf, sa.encr, sa.integ
    key = (id(prf), id(encr), id(integ), sa.dh_group)
    suite = _SUITES.get(key)
    if suite is None:
        suite = _SUITES[key] = (prf, encr, integ, sa.dh_group)
    p.suite = suite
    if sk.encr.aead:  # keyed cipher objects were dropped by compact(): keymat only
        keys = sa.sk_d + sk._out_a + sk._in_a
    else:
        keys = sa.sk_d + sk._out_e + sk._out_a + sk._in_e + sk._in_a  # type: ignore[operator]
    pid = sa.peer_id
    # the payload object is rebuilt from the octets after the key material:
    # ID Type | IDi flag | data, or with _F_PEER_REALM (an NAI whose realm, the part after the
    # first "@", is one of a few shared ones: TS 23.003 §19.3) ID Type | IDi flag | realm
    # index | the part before the "@"
    flags = 0
    if pid is not None:
        user, at, name = pid.data.partition(b"@")
        realm = -1
        if at and len(name) <= 128:  # a realm a peer sends stays small in the shared table
            realm = _REALM_INDEX.get(name, -1)
            if realm < 0 and len(_REALMS) < 255:
                realm = _REALM_INDEX[name] = len(_REALMS)
                _REALMS.append(name)
        if realm >= 0:
            keys += bytes((pid.id_type, pid.initiator, realm)) + user
            flags = _F_PEER_ID | _F_PEER_REALM
        else:
            keys += bytes((pid.id_type, pid.initiator)) + pid.data
            flags = _F_PEER_ID
    p.eap_identity = sa.eap_identity
    if sa.original_initiator:
        flags |= _F_ORIG_INITIATOR
    if sa.nat_local:
        flags |= _F_NAT_LOCAL
    if sa.nat_remote:
        flags |= _F_NAT_REMOTE
    if sa.fragmentation:
        flags |= _F_FRAGMENTATION
    if sa.peer_redirect_supported:
        flags |= _F_REDIRECT_SUPPORTED
    if sa.peer_certreq:
        flags |= _F_PEER_CERTREQ
    if sa.rekey_started:
        flags |= _F_REKEY_STARTED
    if sa.cp_failed:
        flags |= _F_CP_FAILED
    flags, family, loose, plife = _park_loose(sa, p, flags)
    p.blob = b"".join((
        _HEAD.pack(sa.spi_i, sa.spi_r, mgr.next_mid, mgr.expected_mid, sk._iv_counter, flags,
                   len(keys), family, plife),
        keys, loose, *map(_child_record, sa.children.values()),
    ))  # fmt: skip
    sa.timer_at = None  # any heap entry of the working object is stale from now on
    return p


def _park_loose(sa: IkeSa, p: ParkedSa, flags: int) -> tuple[int, int, bytes, int]:
    """``park``'s loose values: (flags, family, the loose octets, the prefix lifetime of the
    head); sets ``p``'s home_prefix, ha_addresses and rest."""
    folded = _folded_assignment(sa)
    endpoint = _packed_endpoint(sa.remote)
    lh, est = sa.last_heard, sa.established_at
    if (
        folded is not None
        and endpoint is not None
        and sa.reply_to is None
        and sa.failure_reason is None
        and type(lh) is float
        and type(est) is float
    ):
        flags |= folded
        family, loose = endpoint[0], endpoint[1] + _TIMES.pack(lh, est)
        a = sa.assignment
        p.home_prefix = a.home_prefix if a is not None else None
        p.ha_addresses = a.ha_addresses if a is not None else ()
        pfx = p.home_prefix
        if type(pfx) is IPv6Network:
            # 17 octets in the blob instead of an IPv6Network object (~210 B with its dict)
            loose += pfx.network_address._ip.to_bytes(16, "big") + _PLEN[pfx._prefixlen]  # type: ignore[attr-defined]
            flags |= _F_PREFIX_PACKED
            p.home_prefix = None
        plife = a.prefix_lifetime if a is not None else 0
        p.rest = None
        return flags, family, loose, plife
    p.home_prefix, p.ha_addresses = None, ()
    p.rest = (lh, est, sa.remote, sa.reply_to, sa.home_address, sa.internal_ip4,
              sa.failure_reason, sa.home_prefix, sa.ha_addresses, sa.prefix_lifetime,
              sa.assignment)  # fmt: skip
    return flags | _F_REST, 0, b"", 0


def thaw(p: ParkedSa, engine: Any) -> IkeSa:
    """Rebuild the working IkeSa of a parked SA; ``p`` is then stale."""
    spi_i, spi_r, next_mid, expected_mid, iv, flags, nkeys, _, _ = p._head()
    (last_heard, established_at, remote, reply_to, home_address, internal_ip4, failure_reason,
     home_prefix, ha_addresses, prefix_lifetime, assignment) = p._loose()  # fmt: skip
    sa = IkeSa(
        engine,
        p.id,
        bool(flags & _F_ORIG_INITIATOR),
        engine.config,
        engine._rng,
        p.local,
        remote,
        established_at,
    )
    sa.reply_to = reply_to
    sa.last_heard = last_heard
    sa.state = _ESTABLISHED
    sa.spi_i, sa.spi_r = spi_i, spi_r
    mgr = sa.mgr
    mgr.next_mid, mgr.expected_mid = next_mid, expected_mid
    last = p.last_packets
    if last is not None:
        mgr.last_response = (expected_mid - 1, [last] if isinstance(last, bytes) else list(last))
    prf, encr, integ, group = p.suite
    sa.prf, sa.encr, sa.integ, sa.dh_group = prf, encr, integ, group
    blob = p.blob
    keys = blob[_HEAD.size : _HEAD.size + nkeys]
    d = prf.key_size
    sa.sk_d = keys[:d]
    sk = SkCrypto.__new__(SkCrypto)
    sk.encr, sk.integ, sk._rng, sk._iv_counter = encr, integ, engine._rng, iv
    e = encr.key_size
    if encr.aead:
        sk._out_e = sk._in_e = None
        sk._out_a, sk._in_a = keys[d : d + e], keys[d + e : d + 2 * e]
        end = d + 2 * e
    else:
        a = integ.key_size if integ is not None else 0
        o = d
        sk._out_e, sk._out_a = keys[o : o + e], keys[o + e : o + e + a]
        o += e + a
        sk._in_e, sk._in_a = keys[o : o + e], keys[o + e : o + e + a]
        end = o + e + a
    sa.sk = sk
    sa.init_done = True
    sa.authenticated = True
    if flags & _F_PEER_REALM:
        data = keys[end + 3 :] + b"@" + _REALMS[keys[end + 2]]
        sa.peer_id = IdPayload(keys[end], data, bool(keys[end + 1]))
    elif flags & _F_PEER_ID:
        sa.peer_id = IdPayload(keys[end], keys[end + 2 :], bool(keys[end + 1]))
    sa.eap_identity, sa.assignment = p.eap_identity, assignment
    sa.home_prefix, sa.prefix_lifetime = home_prefix, prefix_lifetime
    sa.home_address, sa.ha_addresses, sa.internal_ip4 = home_address, ha_addresses, internal_ip4
    sa.children = p.children_dict()
    sa.nat_local = bool(flags & _F_NAT_LOCAL)
    sa.nat_remote = bool(flags & _F_NAT_REMOTE)
    sa.fragmentation = bool(flags & _F_FRAGMENTATION)
    sa.peer_redirect_supported = bool(flags & _F_REDIRECT_SUPPORTED)
    sa.peer_certreq = bool(flags & _F_PEER_CERTREQ)
    sa.rekey_started = bool(flags & _F_REKEY_STARTED)
    sa.cp_failed = bool(flags & _F_CP_FAILED)
    sa.failure_reason = failure_reason
    p.timer_at = None  # its heap entries are stale from now on
    return sa


class SpiSet:
    """A set of child SA SPIs (32-bit, never 0-255: RFC 4303 §2.1 reserves them) in one
    ``array`` of 4-octet slots, open addressing with linear probing, at most half full: 8-12
    octets per SPI instead of a ``set`` entry and an ``int`` object (~80 octets). The engine
    holds every inbound child SPI of every IKE SA here (two per UE at the HA). Slot 0 is
    empty, slot 1 a deleted entry."""

    __slots__ = ("_t", "_bits", "_live", "_used")

    def __init__(self) -> None:
        self._bits = 6
        self._t = array("I", bytes(4 << self._bits))
        self._live = 0  # SPIs held
        self._used = 0  # slots not empty (SPIs and deleted marks)

    def _slot(self, spi: int) -> int:
        # Fibonacci hashing: the top bits of spi * 2^32/phi spread sequential SPIs too
        return ((spi * 2654435769) & 0xFFFFFFFF) >> (32 - self._bits)

    def _find(self, spi: int) -> int:
        """The slot holding ``spi``, or -1."""
        t, mask = self._t, (1 << self._bits) - 1
        i = self._slot(spi)
        while True:
            v = t[i]
            if v == spi:
                return i
            if v == 0:
                return -1
            i = (i + 1) & mask

    def __contains__(self, spi: object) -> bool:
        return type(spi) is int and 256 <= spi <= 0xFFFFFFFF and self._find(spi) >= 0

    def __len__(self) -> int:
        return self._live

    def __iter__(self) -> Iterator[int]:
        return (v for v in self._t if v > 1)

    def add(self, spi: int) -> None:
        self.add_new(spi)

    def add_new(self, spi: int) -> bool:
        """Add ``spi`` unless held already; True when it was added (one probe sequence for
        the engine's "unused SPI?" check and the insertion)."""
        if not 256 <= spi <= 0xFFFFFFFF:
            raise ValueError(f"SPI {spi} is not a 32-bit value above 255")
        bits = self._bits
        t, mask = self._t, (1 << bits) - 1
        i = ((spi * 2654435769) & 0xFFFFFFFF) >> (32 - bits)  # _slot, inlined
        free = -1  # the first deleted mark on the way: where the SPI goes
        while True:  # _find, inlined
            v = t[i]
            if v == spi:
                return False
            if v == 0:
                break
            if v == 1 and free < 0:
                free = i
            i = (i + 1) & mask
        if 2 * (self._used + 1) > len(t):
            self._rehash()  # no deleted marks after it: the first empty slot on the way
            t, mask = self._t, (1 << self._bits) - 1
            i = self._slot(spi)
            while t[i] > 1:
                i = (i + 1) & mask
            self._used += 1
        elif free >= 0:
            i = free  # a deleted mark is reused: no slot more in use
        else:
            self._used += 1
        t[i] = spi
        self._live += 1
        return True

    def discard(self, spi: int) -> None:
        if not 256 <= spi <= 0xFFFFFFFF:
            return
        i = self._find(spi)
        if i >= 0:
            self._t[i] = 1
            self._live -= 1

    def _rehash(self) -> None:
        """Drop the deleted marks; grow so that the SPIs fill at most a third (the next
        rehash comes after at least a sixth of the slots more: amortised O(1) per add)."""
        live = [v for v in self._t if v > 1]
        bits = 6
        while (3 * (len(live) + 1)) > (1 << bits):
            bits += 1
        self._bits = bits
        t = self._t = array("I", bytes(4 << bits))
        # add_new per SPI, inline (one call per live SPI was ~20 % of a rehash): the SPIs
        # are distinct and the new table has no deleted marks, so each goes to the first
        # empty slot from its home slot, in the old table's order (the same layout)
        mask, shift = (1 << bits) - 1, 32 - bits
        for v in live:
            i = ((v * 2654435769) & 0xFFFFFFFF) >> shift
            while t[i]:
                i = (i + 1) & mask
            t[i] = v
        self._live = self._used = len(live)


def cached_response_id(sa: IkeSa | ParkedSa) -> int | None:
    """Message ID of the last response ``sa`` keeps for retransmitted requests, or None."""
    if type(sa) is ParkedSa:
        return None if sa.last_packets is None else sa.expected_mid - 1
    last = sa.mgr.last_response
    return None if last is None else last[0]


def drop_cached_response(sa: IkeSa | ParkedSa, message_id: int) -> bool:
    """Forget the cached response to request ``message_id`` once the peer provably has it.

    RFC 7296 §2.1 has a responder answer a retransmitted request with the same response,
    because it cannot know whether its response arrived; it may forget the response once it
    knows. The caller supplies that knowledge, e.g. a packet authenticated with a child SA
    whose responder SPI travelled only in that response. Without the cache a late copy of
    the request is outside the window (§2.3: its Message ID is below the expected one) and
    is dropped. Only the response to ``message_id`` is dropped (a later exchange's response
    stays). True if something was dropped."""
    if cached_response_id(sa) != message_id:
        return False
    if type(sa) is ParkedSa:
        sa.last_packets = None
    else:
        sa.mgr.last_response = None
    return True


__all__ += [
    "ParkedSa",
    "park",
    "parkable",
    "thaw",
    "cached_response_id",
    "drop_cached_response",
    "SpiSet",
]
