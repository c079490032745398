"""A thin asyncio adapter (STYLE §1.2): feeds datagrams and one timer into a sans-I/O node
(``MobileNode``, ``HomeAgent``) and sends what it asks to send.

The core never imports this module. Sockets are the caller's: :class:`Driver` takes a
``send(data, src, dst)`` callable (e.g. wrapping per-port UDP/raw sockets) and exposes
``datagram_received(data, src, dst)`` for the receive side. Time is ``loop.time()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Driver", "SansIoNode"]

Addr = tuple[str, int]


class SansIoNode(Protocol):
    def receive_datagram(self, data: bytes, src: Addr, dst: Addr, now: float) -> None: ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr, Addr]]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> Any: ...


class Driver:
    """Runs one node on an asyncio loop; ``on_event`` receives every procedure event."""

    def __init__(
        self,
        node: SansIoNode,
        send: Callable[[bytes, Addr, Addr], None],
        *,
        on_event: Callable[[Any], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.node = node
        self._send = send
        self._on_event = on_event
        self._loop = loop or asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    def now(self) -> float:
        return self._loop.time()

    def datagram_received(self, data: bytes, src: Addr, dst: Addr) -> None:
        """Feed one received datagram."""
        self.node.receive_datagram(data, src, dst, self.now())
        self.transmit()

    def call(self, fn: Callable[[float], None]) -> None:
        """Run an API call (``lambda now: ue.attach("internet", now)``) then transmit."""
        fn(self.now())
        self.transmit()

    def transmit(self) -> None:
        """Send everything pending, deliver events and re-arm the single timer."""
        now = self.now()
        for data, src, dst in self.node.datagrams_to_send(now):
            self._send(data, src, dst)
        if self._on_event is not None:
            while (ev := self.node.next_event()) is not None:
                self._on_event(ev)
        at = self.node.get_timer()
        if at != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._timer_at = at
            if at is not None:
                self._timer = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.node.handle_timer(self.now())
        self.transmit()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
