"""The exchange manager: message IDs, windows, retransmission and the response cache.

Theory of operation (RFC 7296 §2.1-2.3):

1. Each side numbers its own requests 0, 1, 2, ... (``next_mid``) and expects the peer's
   requests in order (``expected_mid``). The window size is 1: one request of ours in flight.
2. Only the requester retransmits. The responder answers a retransmitted request (Message ID
   ``expected_mid - 1``) from its cache of the last response, without reprocessing it; any other
   Message ID is dropped.
3. Retransmission schedule, the one formula: the k-th send of a request (k = 0 for the first)
   waits ``RETRANSMIT_TIMEOUT * RETRANSMIT_BASE ** k`` seconds for the response; after
   ``RETRANSMIT_TRIES`` retransmissions and the last wait the IKE SA is declared dead.
   With the defaults: sends at t, t+2, t+6, t+14, t+30, t+62; give up at t+126.
4. An exchange is a list of tasks (STYLE §5.6). Requester side: every task ``build``s into the
   request, then ``process``es the response; tasks answering NEED_MORE are asked to build the
   next request of the same exchange (IKE_AUTH with EAP), with a new Message ID, except that an
   IKE_SA_INIT restarted after COOKIE or INVALID_KE_PAYLOAD keeps Message ID 0 (§2.6, §1.2).
   Responder side: tasks ``process`` the request then ``build`` the response; tasks that answered
   NEED_MORE stay for the next request of the exchange.
5. A FAILED task ends its exchange; what else it implies (the IKE SA dies, a child is refused)
   is the task's own business.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dsmip6.ikev2.constants import ExchangeType
from dsmip6.ikev2.message import Message

if TYPE_CHECKING:
    from dsmip6.ikev2.sa import IkeSa

RETRANSMIT_TIMEOUT = 2.0
"""Seconds to wait for the first response."""
RETRANSMIT_BASE = 2.0
"""Factor applied to the wait at every retransmission."""
RETRANSMIT_TRIES = 5
"""Retransmissions before giving up."""


class Status(enum.Enum):
    DONE = "done"
    NEED_MORE = "need-more"
    FAILED = "failed"

    __hash__ = object.__hash__  # singletons compared by identity: C-level hash


class Task(Protocol):
    def build(self, msg: Message) -> Status: ...

    def process(self, msg: Message) -> Status: ...


@dataclass
class _Outstanding:
    exchange: int
    tasks: list[Task]
    message_id: int
    packets: list[bytes] = field(default_factory=list)
    sends: int = 0
    deadline: float = 0.0


DONE, NEED_MORE, FAILED = Status.DONE, Status.NEED_MORE, Status.FAILED
"""The members as module constants: enum attribute access is slow on the per-message path."""
_DONE, _NEED_MORE, _FAILED = DONE, NEED_MORE, FAILED
_IKE_SA_INIT = int(ExchangeType.IKE_SA_INIT)


def run_tasks(tasks: list[Task], msg: Message) -> list[Status]:
    """``process`` each task in order, stopping after the first FAILED."""
    out: list[Status] = []
    for t in tasks:
        s = t.process(msg)
        out.append(s)
        if s is _FAILED:
            break
    return out


def retransmit_wait(k: int) -> float:
    return RETRANSMIT_TIMEOUT * RETRANSMIT_BASE**k


class ExchangeManager:
    """Owns Message IDs, the outstanding request, the retransmission timer and the response
    cache of one IKE SA. ``send(packets, to)`` is how it hands datagrams to the SA."""

    __slots__ = (
        "queue",
        "active",
        "next_mid",
        "expected_mid",
        "last_response",
        "passive",
        "on_request_failed",
    )

    def __init__(self) -> None:
        # No pointer back to the SA (it owns this manager): every call passes it, so an SA
        # and its manager form no reference cycle and are freed by reference counting.
        self.queue: list[tuple[int, list[Task]]] = []  # tiny: a list, not a deque
        self.active: _Outstanding | None = None
        self.next_mid = 0
        self.expected_mid = 0
        self.last_response: tuple[int, list[bytes]] | None = None
        self.passive: list[Task] | None = None
        self.on_request_failed: Callable[[], None] | None = None

    # --------------------------------------------------------------- requester side
    def queue_exchange(self, sa: IkeSa, exchange: int, tasks: list[Task], now: float) -> None:
        self.queue.append((exchange, tasks))
        self.initiate(sa, now)

    @property
    def busy(self) -> bool:
        return self.active is not None or bool(self.queue)

    def initiate(self, sa: IkeSa, now: float) -> None:
        if self.active is not None or not self.queue or not sa.alive:
            return
        exchange, tasks = self.queue.pop(0)
        self.active = _Outstanding(exchange, tasks, self.next_mid)
        self._build_and_send(sa, now)

    def _build_and_send(self, sa: IkeSa, now: float) -> None:
        act = self.active
        assert act is not None
        msg = sa.new_message(act.exchange, response=False, message_id=act.message_id)
        for t in act.tasks:
            t.build(msg)
        act.packets = sa.encode(msg)
        act.sends = 0
        self._send_active(sa, now)

    def _send_active(self, sa: IkeSa, now: float) -> None:
        act = self.active
        assert act is not None
        sa.send(act.packets, None)
        act.deadline = now + retransmit_wait(act.sends)
        act.sends += 1

    def process_response(self, sa: IkeSa, msg: Message, now: float) -> None:
        act = self.active
        if act is None or msg.message_id != act.message_id or msg.exchange != act.exchange:
            return  # unexpected or duplicate response: drop (§2.3)
        statuses = run_tasks(act.tasks, msg)
        if not sa.alive:
            self.active = None
            return
        if _FAILED in statuses:  # members compare by identity
            self.active = None
            self.next_mid += 1
            sa.exchange_finished(act.exchange, failed=True, now=now)
            self.initiate(sa, now)
            return
        more = [t for t, s in zip(act.tasks, statuses, strict=False) if s is _NEED_MORE]
        if more:
            if act.exchange != _IKE_SA_INIT or sa.init_done:
                self.next_mid += 1
            self.active = _Outstanding(act.exchange, more, self.next_mid)
            self._build_and_send(sa, now)
            return
        self.active = None
        self.next_mid += 1
        sa.exchange_finished(act.exchange, failed=False, now=now)
        self.initiate(sa, now)

    # --------------------------------------------------------------- responder side
    def process_request(
        self,
        sa: IkeSa,
        msg: Message,
        now: float,
        make_tasks: Callable[[IkeSa, Message], list[Task] | None],
    ) -> None:
        if self.last_response is not None and msg.message_id == self.last_response[0]:
            sa.send(self.last_response[1], sa.reply_to)  # retransmitted request
            return
        if msg.message_id != self.expected_mid:
            return  # §2.3: outside the window: drop
        tasks = self.passive if self.passive is not None else make_tasks(sa, msg)
        if tasks is None:
            return
        self.answer(sa, tasks, run_tasks(tasks, msg), msg.exchange, msg.message_id, now)

    def answer(
        self,
        sa: IkeSa,
        tasks: list[Task],
        statuses: list[Status],
        exchange: int,
        message_id: int,
        now: float,
    ) -> None:
        """Build, send and cache the response once the tasks processed the request; the
        general path's second half, also used by the fast path for its uncommon outcomes."""
        resp = sa.new_message(exchange, response=True, message_id=message_id)
        if _FAILED in statuses:
            for t, s in zip(tasks, statuses, strict=False):
                if s is _FAILED:
                    t.build(resp)
            final = [_FAILED]
        else:
            final = [t.build(resp) for t in tasks]
        self.reply(sa, tasks, final, exchange, message_id, sa.encode(resp), now)

    def reply(
        self,
        sa: IkeSa,
        tasks: list[Task],
        final: list[Status],
        exchange: int,
        message_id: int,
        packets: list[bytes],
        now: float,
    ) -> None:
        """Send and cache the encoded response ``packets``, move the window (RFC 7296 §2.3)
        and keep the tasks that need another round, or finish the exchange; the end of every
        answered request, general path and fast paths alike."""
        self.expected_mid += 1
        self.last_response = (message_id, packets)
        sa.send(packets, sa.reply_to)
        if _FAILED in final:
            self.passive = None
            sa.exchange_finished(exchange, failed=True, now=now, passive=True)
        elif _NEED_MORE in final:
            self.passive = [t for t, s in zip(tasks, final, strict=False) if s is _NEED_MORE]
        else:
            self.passive = None
            sa.exchange_finished(exchange, failed=False, now=now, passive=True)

    # --------------------------------------------------------------- timers
    def get_timer(self) -> float | None:
        return self.active.deadline if self.active is not None else None

    def handle_timer(self, sa: IkeSa, now: float) -> None:
        act = self.active
        if act is None or now < act.deadline:
            return
        if act.sends > RETRANSMIT_TRIES:
            self.active = None
            sa.retransmissions_exhausted(now)
            return
        self._send_active(sa, now)

    def resend_active(self, sa: IkeSa, now: float) -> None:
        """Retransmit the outstanding request now (after the endpoint moved)."""
        if self.active is not None:
            sa.send(self.active.packets, None)
