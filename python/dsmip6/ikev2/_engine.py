"""What both engines share: datagram framing, SPI demultiplexing, the request dispatch table,
timers and the event queue (STYLE §1.1: bytes and ``now`` in; datagrams, timers, events out).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import Any

from dsmip6.ikev2.constants import (
    IKE_HEADER_LEN,
    NAT_T_PORT,
    NON_ESP_MARKER,
    ExchangeType,
    ProtocolId,
)
from dsmip6.ikev2.events import IkeEvent
from dsmip6.ikev2.exchange import Task
from dsmip6.ikev2.message import (
    DeletePayload,
    IkeHeader,
    Message,
    ReceivedHeader,
    SaPayload,
)
from dsmip6.ikev2.sa import (
    IkeSa,
    ParkedSa,
    SaState,
    SpiSet,
    cached_response_id,
    drop_cached_response,
    park,
    parkable,
    thaw,
)
from dsmip6.ikev2.tasks.child_create import ChildCreate
from dsmip6.ikev2.tasks.child_delete import ChildDelete
from dsmip6.ikev2.tasks.ike_auth import IkeAuth
from dsmip6.ikev2.tasks.ike_config import IkeConfig
from dsmip6.ikev2.tasks.ike_delete import IkeDelete
from dsmip6.ikev2.tasks.ike_dpd import IkeDpd
from dsmip6.ikev2.tasks.ike_rekey import IkeRekey
from dsmip6.ikev2.transforms import Rng

Address = tuple[str, int]
_DEAD = SaState.DEAD
_AUTH = SaState.AUTH
_ESTABLISHED = SaState.ESTABLISHED
Datagram = tuple[bytes, Address, Address]


def _auth_tasks(sa: IkeSa, msg: Message) -> list[Task] | None:
    if sa.auth_tasks is None:
        sa.auth_tasks = new_auth_tasks(sa)
    return None  # the manager keeps NEED_MORE tasks itself; first round comes from here


def new_auth_tasks(sa: IkeSa) -> list[Task]:
    """A responder's IKE_AUTH tasks, kept in ``sa.auth_tasks`` for every round."""
    return [IkeAuth(sa, False), IkeConfig(sa, False), ChildCreate(sa, False, in_ike_auth=True)]


def _create_child_tasks(sa: IkeSa, msg: Message) -> list[Task] | None:
    sap = msg.get(SaPayload)
    if sap is not None and sap.proposals and sap.proposals[0].protocol == ProtocolId.IKE:  # type: ignore[union-attr]
        return [IkeRekey(sa, False)]
    return [ChildCreate(sa, False)]


def _informational_tasks(sa: IkeSa, msg: Message) -> list[Task] | None:
    deletes = msg.get_all(DeletePayload)
    if any(d.protocol == ProtocolId.IKE for d in deletes):  # type: ignore[union-attr]
        return [IkeDelete(sa, False)]
    if deletes:
        return [ChildDelete(sa, False)]
    return [IkeDpd(sa, False)]


# STYLE §5.3: which requests are served in which IKE SA states, and by which tasks.
REQUEST_TABLE: dict[
    int, tuple[frozenset[SaState], Callable[[IkeSa, Message], list[Task] | None]]
] = {
    ExchangeType.IKE_AUTH: (frozenset({SaState.AUTH}), _auth_tasks),
    ExchangeType.CREATE_CHILD_SA: (frozenset({SaState.ESTABLISHED}), _create_child_tasks),
    ExchangeType.INFORMATIONAL: (
        frozenset({SaState.AUTH, SaState.ESTABLISHED, SaState.DELETING}),
        _informational_tasks,
    ),
}


def request_tasks(sa: IkeSa, msg: Message) -> list[Task] | None:
    entry = REQUEST_TABLE.get(msg.exchange)
    if entry is None or sa.state not in entry[0]:
        return None
    if msg.exchange == ExchangeType.IKE_AUTH:
        if sa.original_initiator:
            return None
        _auth_tasks(sa, msg)
        return sa.auth_tasks
    return entry[1](sa, msg)


def norm_address(addr: Any) -> Address:
    if type(addr) is tuple and len(addr) == 2:
        host, port = addr
        if type(host) is str and type(port) is int:
            return addr  # already (str, int): the usual case, no new tuple
    host, port = addr[0], int(addr[1])
    return (str(host), port)


class Engine:
    """Base of IkeInitiator and IkeResponder."""

    _parking = False
    """Whether idle established SAs are kept as compact ``ParkedSa`` records (the HA side)."""

    def __init__(self, config: Any, rng: Rng) -> None:
        self.config = config
        self._rng = rng
        self._events: deque[IkeEvent] = deque()
        self._out: list[Datagram] = []
        self._by_spi: dict[bytes, IkeSa | ParkedSa] = {}
        self._sas: dict[int, IkeSa | ParkedSa] = {}
        self._child_spis = SpiSet()  # compact: every inbound child SPI, ~4 octets each
        self._next_id = 1
        self._retired: list[IkeSa] = []
        self._timers: list[tuple[float, int, IkeSa | ParkedSa]] = []
        self._timer_seq = 0
        self._keyed: deque[int] | None = None
        """The responder's working set of SAs (ids) whose SK protection holds keyed AEAD
        cipher objects (``IkeSa.make_crypto``); None on the initiator (its few SAs keep
        theirs until they are established)."""
        self._keyed_limit = 0

    # ------------------------------------------------------------------ helpers for IkeSa
    def _queue_datagram(self, data: bytes, local: Address, remote: Address) -> None:
        if local[1] == NAT_T_PORT or remote[1] == NAT_T_PORT:
            data = NON_ESP_MARKER + data
        self._out.append((data, local, remote))

    def _alloc_child_spi(self) -> int:
        for _ in range(64):
            spi = int.from_bytes(self._rng(4), "big")
            if spi >= 256 and self._child_spis.add_new(spi):  # 1-255 reserved (RFC 4303 §2.1)
                return spi
        raise RuntimeError("rng produced no usable SPI")

    def _release_child_spi(self, spi: int) -> None:
        self._child_spis.discard(spi)

    def _new_ike_spi(self) -> bytes:
        for _ in range(64):
            spi = self._rng(8)
            if spi != b"\x00" * 8 and spi not in self._by_spi:
                return spi
        raise RuntimeError("rng produced no usable IKE SPI")

    def _register(self, sa: IkeSa) -> None:
        self._by_spi[sa.our_spi] = sa
        self._sas[sa.id] = sa

    def _forget(self, sa: IkeSa) -> None:
        if self._by_spi.get(sa.our_spi) is sa:
            del self._by_spi[sa.our_spi]
        if self._sas.get(sa.id) is sa:
            del self._sas[sa.id]
        if sa in self._retired:
            self._retired.remove(sa)

    def _all_sas(self) -> list[IkeSa | ParkedSa]:
        return list(self._sas.values()) + self._retired

    def _rekeyed(
        self,
        old: IkeSa,
        proposal: Any,
        group: int,
        g_ir: bytes,
        ni: bytes,
        nr: bytes,
        spi_i: bytes,
        spi_r: bytes,
        *,
        we_initiated: bool,
    ) -> None:
        """Replace ``old`` by a new IKE SA with the same id (RFC 7296 §2.18)."""
        from dsmip6.ikev2 import transforms
        from dsmip6.ikev2.events import IkeSaRekeyed
        from dsmip6.ikev2.tasks.ike_rekey import derive_rekeyed

        new = IkeSa(
            self, old.id, we_initiated, old.config, self._rng, old.local, old.remote, old.last_heard
        )
        new.spi_i, new.spi_r = spi_i, spi_r
        new.prf = transforms.PRFS[proposal.prf]
        new.encr = transforms.encr_cached(proposal.encr, proposal.key_bits)
        new.integ = transforms.INTEGS[proposal.integ] if proposal.integ is not None else None
        new.dh_group = group
        new.ni, new.nr = ni, nr
        derive_rekeyed(old, new, g_ir, ni, nr)
        for attr in (
            "my_id",
            "peer_id",
            "requested_idr",
            "eap_identity",
            "assignment",
            "home_prefix",
            "prefix_lifetime",
            "home_address",
            "ha_addresses",
            "internal_ip4",
            "nat_local",
            "nat_remote",
            "fragmentation",
            "peer_sig_hashes",
            "established_at",
        ):
            setattr(new, attr, getattr(old, attr, None))
        new.established_at = old.last_heard  # lifetime of the new SA starts now
        new.init_done = True
        new.authenticated = True
        new.state = SaState.ESTABLISHED
        new.children, old.children = old.children, {}
        new.slim()  # born established: keep only what later exchanges need
        old.retired = True
        self._sas[new.id] = new
        self._by_spi[new.our_spi] = new
        self._retired.append(old)
        self._events.append(IkeSaRekeyed(new.id, spi_i, spi_r))
        if we_initiated:
            old.mgr.queue.insert(
                0, (ExchangeType.INFORMATIONAL, [IkeDelete(old, True, reason="rekeyed-away")])
            )
        self._touch(new)

    def _on_established(self, sa: IkeSa) -> None:
        pass

    # ------------------------------------------------------------------ public API
    def _unframe(self, data: bytes, dst: Address) -> bytes | None:
        """Strip the non-ESP marker on port 4500; None for ESP-in-UDP and keepalives."""
        if dst[1] == NAT_T_PORT:
            if len(data) < 4 or data[:4] != NON_ESP_MARKER:
                return None  # ESP (non-zero SPI) or a NAT keepalive (0xFF): not IKE
            return data[4:]
        return data

    def receive_datagram(self, data: bytes, src: Any, dst: Any, now: float) -> None:
        """Feed one UDP payload received on ``dst`` from ``src``. Never raises on bad input:
        malformed, unauthenticated or unexpected messages are answered or dropped per RFC 7296.
        Call ``datagrams_to_send``, ``next_event`` and ``get_timer`` afterwards."""
        if not (
            type(src) is tuple
            and type(dst) is tuple
            and len(src) == 2
            and len(dst) == 2
            and type(src[0]) is str
            and type(src[1]) is int
            and type(dst[0]) is str
            and type(dst[1]) is int
        ):
            src, dst = norm_address(src), norm_address(dst)
        if type(data) is not bytes:
            data = bytes(data)
        if dst[1] == NAT_T_PORT:  # the usual UDP 500 case skips _unframe's call
            raw = self._unframe(data, dst)
        else:
            raw = data
        if raw is None or len(raw) < IKE_HEADER_LEN:
            return
        # decode_header(raw), inline: the header (its 28 octets are there), then the length
        # check whose MalformedPacket was dropped here
        header = ReceivedHeader(raw)
        if header.length != len(raw):
            return
        sa = self._dispatch(header, raw, src, dst, now)
        if sa is not None:
            self._touch(sa)

    def _dispatch(
        self, header: IkeHeader, data: bytes, src: Address, dst: Address, now: float
    ) -> IkeSa | None:
        """Hand the message to the IKE SA owning our SPI; returns that SA (or None)."""
        ours = header.spi_r if header.initiator else header.spi_i
        sa = self._by_spi.get(ours)
        if sa is None:
            return None
        if type(sa) is ParkedSa:
            sa = self._thaw(sa)
        sa.receive(header, data, src, dst, now, request_tasks)
        return sa

    def _thaw(self, parked: ParkedSa) -> IkeSa:
        """The working IkeSa of a parked SA, registered in its place."""
        sa = thaw(parked, self)
        self._by_spi[sa.our_spi] = sa
        self._sas[sa.id] = sa
        if self.park_hold:
            self._held_sas().add(sa.id)  # was parked: parks again when idle, no hold
        return sa

    def datagrams_to_send(self, now: float) -> list[Datagram]:
        """Datagrams to transmit: ``(udp_payload, local, remote)``; on port 4500 the payload
        already starts with the non-ESP marker. Call after every API call, receive or timer."""
        out, self._out = self._out, []
        return out

    # Timers: one heap of (deadline, seq, sa) with lazy invalidation. An SA's deadline can only
    # change when it is touched (a datagram, an API call, its own timer), so every entry point
    # re-computes the deadline of the SA it touched; entries whose deadline is no longer the SA's
    # current one are skipped. get_timer/handle_timer cost O(log n) in the number of IKE SAs.

    park_hold = 0.0
    """Seconds an SA that has just become idle for the first time (a new SA, out of the
    exchange that established it) stays a working object before it is parked: parked at its
    next idle moment (the end of its next exchange, or any later touch) or once this time
    has passed (its timer), whichever comes first. 0: parked at once. The HA sets it: after
    IKE_AUTH the UE asks at once for the HoA-keyed MH SA (CREATE_CHILD_SA, RFC 5026
    §5.3.2), and parking in between only to thaw for that request costs a park and a thaw
    per attach. SAs coming out of ``_thaw`` are parked at their first idle moment as ever."""
    _held: set[int] | None = None
    """While ``park_hold``: the ids of the working SAs that are parked at their next idle
    touch (held new SAs, and thawed ones); an id leaves when its SA is parked or dies."""

    def _held_sas(self) -> set[int]:
        held = self._held
        if held is None:
            held = self._held = set()
        return held

    def _touch(self, sa: IkeSa) -> None:
        state = sa.state
        alive = state is not _DEAD  # IkeSa.alive (ParkedSa's is a class attribute)
        if state is _AUTH and not sa.original_initiator and sa.mgr.active is None:
            # IkeSa.get_timer of a responder's half-open SA with no request of its own out
            # (every IKE_AUTH round of an attach), inline: the half-open deadline (§2.6)
            t: float | None = sa.created_at + getattr(sa.config, "half_open_timeout", 30.0)
        else:
            t = sa.get_timer() if alive else None
        parking = self._parking
        # parkable's first test inline: the half-open rounds of an attach (IKE_SA_INIT, the
        # IKE_AUTH rounds before the last) skip its call
        idle = parking and state is _ESTABLISHED and parkable(sa) and self._sas.get(sa.id) is sa
        if parking and self.park_hold:
            held = self._held
            if held is None:
                held = self._held = set()
            if not alive:
                held.discard(sa.id)
            elif idle:
                if sa.id not in held:
                    # idle for the first time: held until its next idle touch, at the latest
                    # until this deadline (a busy SA parks when its exchange ends)
                    held.add(sa.id)
                    until = sa.last_heard + self.park_hold
                    if t is None or until < t:
                        t = until
                    idle = False
                else:
                    held.discard(sa.id)  # idle again, or its hold is over: parked now
        entry: IkeSa | ParkedSa = sa  # what the timer heap holds for it
        if idle:
            # the parked SA's SPI (the same SPIs and role, packed): IkeSa.our_spi, inline
            our_spi = sa.spi_i if sa.original_initiator else sa.spi_r
            parked = park(sa, None)
            self._by_spi[our_spi] = parked
            self._sas[parked.id] = parked
            heap = self._timers  # drop stale entries at the top now (they may hold the SA)
            # (``.alive`` read as ``state is not DEAD``: IkeSa's property, ParkedSa's class
            # attributes ESTABLISHED / True, without a property call per entry)
            while heap and (heap[0][2].state is _DEAD or heap[0][2].timer_at != heap[0][0]):
                heapq.heappop(heap)
            entry = parked
        if t != entry.timer_at:
            entry.timer_at = t
            if t is not None:
                self._timer_seq += 1
                heapq.heappush(self._timers, (t, self._timer_seq, entry))

    def get_timer(self) -> float | None:
        """The earliest instant ``handle_timer`` must be called at, or None."""
        heap = self._timers
        while heap:
            t, _, sa = heap[0]
            if sa.state is not _DEAD and sa.timer_at == t:  # sa.alive, without the property
                return t
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now`` (retransmissions, half-open expiry, liveness)."""
        heap = self._timers
        due: list[IkeSa | ParkedSa] = []
        while heap and heap[0][0] <= now:
            t, _, sa = heapq.heappop(heap)
            if sa.alive and sa.timer_at == t:
                due.append(sa)
        for sa in due:
            if type(sa) is ParkedSa:
                if self._sas.get(sa.id) is not sa:
                    continue
                sa = self._thaw(sa)
            sa.timer_at = None
            sa.handle_timer(now)
            self._touch(sa)

    def next_event(self) -> IkeEvent | None:
        """The next event, or None. Drain after every call that may have produced some."""
        return self._events.popleft() if self._events else None

    # the cached last response (RFC 7296 §2.1); see ``sa.drop_cached_response``
    def last_response_id(self, ike_sa_id: int) -> int | None:
        """Message ID of the response cached for retransmissions on that SA, or None."""
        sa = self._sas.get(ike_sa_id)
        return None if sa is None else cached_response_id(sa)

    def response_delivered(self, ike_sa_id: int, message_id: int) -> bool:
        """The peer provably received the response to ``message_id``: drop it from the
        cache (nothing else changes). True if it was dropped."""
        sa = self._sas.get(ike_sa_id)
        return sa is not None and drop_cached_response(sa, message_id)

    # shared operations on an established SA
    def _sa(self, ike_sa_id: int) -> IkeSa:
        from dsmip6.errors import LocalProtocolError

        sa = self._sas.get(ike_sa_id)
        if sa is None or not sa.alive:
            raise LocalProtocolError(f"no IKE SA {ike_sa_id}")
        if type(sa) is ParkedSa:
            return self._thaw(sa)
        return sa

    def _create_child(self, sa: IkeSa, ts_i: Any, ts_r: Any, mode: str, now: float) -> None:
        from dsmip6.errors import LocalProtocolError
        from dsmip6.ikev2.message import TrafficSelector

        if sa.state != SaState.ESTABLISHED:
            raise LocalProtocolError("CREATE_CHILD_SA needs an established IKE SA")
        if mode not in ("transport", "tunnel"):
            raise LocalProtocolError(f"mode {mode!r}")
        tsi = (ts_i,) if isinstance(ts_i, TrafficSelector) else tuple(ts_i)
        tsr = (ts_r,) if isinstance(ts_r, TrafficSelector) else tuple(ts_r)
        if not tsi or not tsr:
            raise LocalProtocolError("empty traffic selectors")
        task = ChildCreate(sa, True, ts_i=tsi, ts_r=tsr, mode=mode)
        sa.mgr.queue_exchange(sa, ExchangeType.CREATE_CHILD_SA, [task], now)
        self._touch(sa)

    def _delete_child(self, sa: IkeSa, spi_in: int, now: float) -> None:
        from dsmip6.errors import LocalProtocolError

        if spi_in not in sa.children:
            raise LocalProtocolError(f"no child SA with inbound SPI {spi_in:#x}")
        sa.mgr.queue_exchange(
            sa, ExchangeType.INFORMATIONAL, [ChildDelete(sa, True, spi_in=spi_in)], now
        )
        self._touch(sa)

    def _rekey_child(self, sa: IkeSa, spi_in: int, now: float) -> None:
        from dsmip6.errors import LocalProtocolError

        child = sa.children.get(spi_in)
        if child is None:
            raise LocalProtocolError(f"no child SA with inbound SPI {spi_in:#x}")
        task = ChildCreate(
            sa,
            True,
            ts_i=child.local_ts,
            ts_r=child.remote_ts,
            mode=child.mode,
            rekey_spi_in=spi_in,
        )
        sa.mgr.queue_exchange(sa, ExchangeType.CREATE_CHILD_SA, [task], now)
        self._touch(sa)

    def _delete_ike(self, sa: IkeSa, now: float) -> None:
        if sa.state == SaState.ESTABLISHED:
            sa.mgr.queue_exchange(sa, ExchangeType.INFORMATIONAL, [IkeDelete(sa, True)], now)
        else:
            sa.die(now, reason="deleted", auth_failed="deleted")
        self._touch(sa)

    def _rekey_ike(self, sa: IkeSa, now: float) -> None:
        from dsmip6.errors import LocalProtocolError

        if sa.state != SaState.ESTABLISHED:
            raise LocalProtocolError("IKE rekey needs an established IKE SA")
        sa.mgr.queue_exchange(sa, ExchangeType.CREATE_CHILD_SA, [IkeRekey(sa, True)], now)
        self._touch(sa)

    def _liveness(self, sa: IkeSa, now: float) -> None:
        sa.mgr.queue_exchange(sa, ExchangeType.INFORMATIONAL, [IkeDpd(sa, True)], now)
        self._touch(sa)

    def _move(self, sa: IkeSa, local: Any, remote: Any) -> None:
        sa.local, sa.remote = norm_address(local), norm_address(remote)
        for child in list(sa.children.values()):
            _ = child  # child SAs are keyed on the HoA: nothing to change (RFC 4877 §4.4)
        self._touch(sa)
