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
    the same methods and the same order (earliest first, equal deadlines by name).

    Layout: ``_deadline`` maps each armed name to its deadline; ``_at`` maps a deadline that
    has an armed name to that name (an int) or, when several share that very instant, to a
    list ``[live, name, name, ...]`` whose first item counts the names still armed for it;
    ``_heap`` is a heap of deadlines. Per armed timer that is a dict entry, a heap slot (or a
    list slot when the instant is shared) and a share of ``_at`` — no tuple per timer (the
    earlier heap of ``(deadline, name)`` pairs cost a 2-tuple each). A re-armed or cancelled
    name is dropped from ``_at`` when it was alone at its old instant; in a shared list it
    stays as a stale slot and the count goes down (the instant leaves ``_at`` when it reaches
    zero), so an instant in ``_at`` always has an armed name and ``next_deadline`` never scans
    a list: with a virtual clock thousands of UEs share one instant, and re-arming them one by
    one must not cost a scan each. Stale heap deadlines are skipped and compacted away
    (amortised O(1) per ``set``); stale list slots go when their instant fires."""

    __slots__ = ("_deadline", "_at", "_heap")

    def __init__(self) -> None:
        self._deadline: dict[int, float] = {}
        self._at: dict[float, int | list[int]] = {}
        self._heap: list[float] = []

    def _unlink(self, name: int, deadline: float) -> None:
        """``name`` (armed for ``deadline`` until now) is no longer: one live name fewer."""
        at = self._at
        held = at.get(deadline)
        if type(held) is list:
            if held[0] > 1:
                held[0] -= 1  # its slot stays, stale (skipped when the instant fires)
            else:
                del at[deadline]
        elif held == name:
            del at[deadline]

    def set(self, name: int, deadline: float) -> None:
        """Arm (or re-arm) ``name`` to fire at ``deadline``."""
        live = self._deadline
        old = live.get(name)
        live[name] = deadline
        if old is not None:
            if old == deadline:
                return  # armed for that instant already
            self._unlink(name, old)
        at = self._at
        held = at.get(deadline)
        if held is None:
            at[deadline] = name
            heap = self._heap
            heapq.heappush(heap, deadline)
            if len(heap) > 2 * len(at) + 64:
                self._compact()
        elif type(held) is list:
            held.append(name)
            held[0] += 1
        else:  # one name there (not ``name``: it was unlinked above or never armed)
            at[deadline] = [2, held, name]

    def cancel(self, name: int) -> None:
        """Disarm ``name`` (no error when it is not armed)."""
        old = self._deadline.pop(name, None)
        if old is not None:
            self._unlink(name, old)

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
        """Drop the stale heap deadlines re-arming left behind."""
        self._heap = list(self._at)
        heapq.heapify(self._heap)

    def next_deadline(self) -> float | None:
        """The earliest armed deadline, or None when nothing is armed."""
        heap, at = self._heap, self._at
        while heap:
            deadline = heap[0]
            if deadline in at:  # an instant in ``_at`` has an armed name (see the layout)
                return deadline
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> list[int]:
        """Disarm and return, earliest first, every timer whose deadline is ``<= now``."""
        due: list[int] = []
        heap, at, live = self._heap, self._at, self._deadline
        while heap and heap[0] <= now:
            deadline = heapq.heappop(heap)
            held = at.pop(deadline, None)
            if held is None:
                continue  # a stale heap entry
            for name in sorted(set(held[1:])) if type(held) is list else (held,):
                if live.get(name) == deadline:  # still armed for this instant
                    del live[name]
                    due.append(name)
        return due
