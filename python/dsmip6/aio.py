"""A thin asyncio adapter (STYLE §1.2): feeds datagrams and one timer into a sans-I/O node
(``MobileNode``, ``HomeAgent``) and sends what it asks to send.

The core never imports this module. Sockets are the caller's: :class:`Driver` takes a
``send(data, src, dst)`` callable (e.g. wrapping per-port UDP/raw sockets) and exposes
``datagram_received(data, src, dst)`` for the receive side. Time is ``loop.time()``.

After an attach storm (session 9): the sans-I/O core never calls into the allocator, but the
runtime may. An HA's process keeps the C allocator's free memory (OpenSSL objects behind
``cryptography``, Rust buffers, large Python objects) once the storm's handshakes are over;
:class:`StormTrim` hands it back to the OS with glibc's ``malloc_trim(0)`` when the number of
IKE SAs in flight has fallen back, at most once per interval (:func:`release_free_memory`
alone does it once: Linux/glibc only, a no-op elsewhere).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Driver", "SansIoNode", "StormTrim", "release_free_memory"]

Addr = tuple[str, int]


class SansIoNode(Protocol):
    def receive_datagram(self, data: bytes, src: Addr, dst: Addr, now: float) -> None: ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr, Addr]]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def next_event(self) -> Any: ...


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``int malloc_trim(size_t pad)``; None off Linux or without it (musl, ...)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_MALLOC_TRIM = _load_malloc_trim()


def release_free_memory() -> bool:
    """Return the C allocator's free memory to the OS now (glibc ``malloc_trim(0)``: the
    top of the heap and every free page inside it). True when memory was released; False
    when there was none to release, or on a platform without it. It walks the free pages
    (measured here: ~30 ms to give back ~100 MB, ~0.03 ms with nothing free): for after a
    storm, not per datagram."""
    if _MALLOC_TRIM is None:
        return False
    return bool(_MALLOC_TRIM(0))


class StormTrim:
    """When to call :func:`release_free_memory` for a node that counts its IKE SAs in flight
    (``HomeAgent.ike_sas_in_flight``): once that count has reached ``high`` since the last
    release and has fallen back to ``low`` or below, at most once per ``interval`` seconds
    (a storm's tail, arriving in waves, does not trim at every wave). ``release`` is the
    function called (injectable for tests); ``releases`` counts its calls."""

    def __init__(
        self,
        *,
        high: int = 64,
        low: int = 8,
        interval: float = 10.0,
        release: Callable[[], bool] = release_free_memory,
    ) -> None:
        if not 0 <= low < high:
            raise ValueError("StormTrim needs 0 <= low < high")
        self.high = high
        self.low = low
        self.interval = interval
        self._release = release
        self._peak = 0
        self._last: float | None = None
        self.releases = 0

    def observe(self, in_flight: int, now: float) -> bool:
        """Note the count of IKE SAs in flight at ``now``; True when it released memory."""
        if in_flight > self._peak:
            self._peak = in_flight
            return False
        if self._peak < self.high or in_flight > self.low:
            return False
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        self._peak = in_flight
        self.releases += 1
        self._release()
        return True


class Driver:
    """Runs one node on an asyncio loop; ``on_event`` receives every procedure event.
    ``trim``: a :class:`StormTrim` consulted after every transmit with the node's
    ``ike_sas_in_flight()`` (an HA; ignored for a node without it)."""

    def __init__(
        self,
        node: SansIoNode,
        send: Callable[[bytes, Addr, Addr], None],
        *,
        on_event: Callable[[Any], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        trim: StormTrim | None = None,
    ) -> None:
        self.node = node
        self._send = send
        self._on_event = on_event
        self._loop = loop or asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        in_flight = getattr(node, "ike_sas_in_flight", None)
        self._trim = trim if in_flight is not None else None
        self._in_flight: Callable[[], int] | None = in_flight

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
        if self._trim is not None:
            self._trim.observe(self._in_flight(), now)  # type: ignore[misc]

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self.node.handle_timer(self.now())
        self.transmit()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
