"""Named timers on the caller's clock (STYLE §1.4).

A :class:`TimerTable` maps a timer *name* (any hashable key: ``"bu_retransmit"``,
``("bce_expiry", hoa)``) to an absolute deadline in seconds on the injected clock. The next
deadline of a machine is the minimum over its table; the machine never reads a clock itself.

The HA holds one table for up to 10^5 bindings, so the minimum is kept in a lazy heap:
``set``/``cancel`` are O(log n) and stale heap entries are skipped on ``pop_due``.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterator

__all__ = ["TimerTable", "IntTimerTable", "backoff"]


def backoff(initial: float, attempt: int, maximum: float) -> float:
    """Retransmission interval for ``attempt`` (0 = first transmission): ``initial·2^attempt``
    capped at ``maximum`` (RFC 6275 §11.8: double on each retransmission up to
    MAX_BINDACK_TIMEOUT; RFC 5846 §11 and RFC 5142 §8 use the same shape)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if attempt > 30:
        return maximum
    return min(initial * (2**attempt), maximum)


class TimerTable:
    """Deadlines by name; the earliest one is what ``get_timer()`` returns."""

    __slots__ = ("_deadline", "_heap", "_counter")

    def __init__(self) -> None:
        self._deadline: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._counter = 0

    def set(self, name: Hashable, deadline: float) -> None:
        """Arm (or re-arm) ``name`` to fire at ``deadline``."""
        self._deadline[name] = deadline
        self._counter += 1
        heapq.heappush(self._heap, (deadline, self._counter, name))

    def cancel(self, name: Hashable) -> None:
        """Disarm ``name`` (no error when it is not armed)."""
        self._deadline.pop(name, None)

    def get(self, name: Hashable) -> float | None:
        """The deadline of ``name``, or None when it is not armed."""
        return self._deadline.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._deadline

    def __len__(self) -> int:
        return len(self._deadline)

    def __iter__(self) -> Iterator[tuple[Hashable, float]]:
        return iter(sorted(self._deadline.items(), key=lambda kv: kv[1]))

    def _clean(self) -> None:
        heap = self._heap
        while heap:
            deadline, _, name = heap[0]
            if self._deadline.get(name) == deadline:
                return
            heapq.heappop(heap)
        # Compact when the heap holds mostly stale entries (re-armed timers).
        if len(heap) > 4 * len(self._deadline) + 64:  # pragma: no cover - housekeeping
            self._heap = [(d, i, n) for i, (n, d) in enumerate(self._deadline.items())]
            heapq.heapify(self._heap)

    def next_deadline(self) -> float | None:
        """The earliest armed deadline, or None when nothing is armed."""
        self._clean()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[Hashable]:
        """Disarm and return, earliest first, every timer whose deadline is ``<= now``."""
        due: list[Hashable] = []
        heap = self._heap
        while heap:
            deadline, _, name = heap[0]
            if self._deadline.get(name) != deadline:
                heapq.heappop(heap)
                continue
            if deadline > now:
                break
            heapq.heappop(heap)
            del self._deadline[name]
            due.append(name)
        if len(heap) > 4 * len(self._deadline) + 64:
            self._heap = [(d, i, n) for i, (n, d) in enumerate(self._deadline.items())]
            heapq.heapify(self._heap)
        return due


class IntTimerTable:
    """:class:`TimerTable` for *integer* names (the HA: one per binding, up to 10^5), with
    the same methods. Names order among themselves, so a heap entry is a bare
    ``(deadline, name)`` pair: per armed timer one dict entry and one 2-tuple, nothing else
    (the deadline float is shared by both)."""

    __slots__ = ("_deadline", "_heap")

    def __init__(self) -> None:
        self._deadline: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []

    def set(self, name: int, deadline: float) -> None:
        """Arm (or re-arm) ``name`` to fire at ``deadline``."""
        self._deadline[name] = deadline
        heap = self._heap
        heapq.heappush(heap, (deadline, name))
        if len(heap) > 2 * len(self._deadline) + 64:
            self._compact()

    def cancel(self, name: int) -> None:
        """Disarm ``name`` (no error when it is not armed)."""
        self._deadline.pop(name, None)

    def get(self, name: int) -> float | None:
        """The deadline of ``name``, or None when it is not armed."""
        return self._deadline.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._deadline

    def __len__(self) -> int:
        return len(self._deadline)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        return iter(sorted(self._deadline.items(), key=lambda kv: kv[1]))

    def _compact(self) -> None:
        """Drop the stale entries re-arming left behind (amortised O(1) per ``set``)."""
        self._heap = [(d, n) for n, d in self._deadline.items()]
        heapq.heapify(self._heap)

    def next_deadline(self) -> float | None:
        """The earliest armed deadline, or None when nothing is armed."""
        heap = self._heap
        live = self._deadline
        while heap:
            deadline, name = heap[0]
            if live.get(name) == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> list[int]:
        """Disarm and return, earliest first, every timer whose deadline is ``<= now``."""
        due: list[int] = []
        heap = self._heap
        live = self._deadline
        while heap:
            deadline, name = heap[0]
            if live.get(name) != deadline:
                heapq.heappop(heap)
                continue
            if deadline > now:
                break
            heapq.heappop(heap)
            del live[name]
            due.append(name)
        return due
