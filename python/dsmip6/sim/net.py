"""Virtual clock, network and NAT boxes (see the package docstring)."""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any, Protocol

__all__ = ["VirtualClock", "Node", "NatBox", "VirtualNetwork", "Datagram"]

Addr = tuple[str, int]
Datagram = tuple[bytes, Addr, Addr]


def canonical(host: str) -> str:
    """The RFC 5952 text of an IPv4/IPv6 address (the C parser and formatter; ValueError when
    ``host`` is not an address). Host tables are keyed by this form."""
    try:
        return inet_ntop(AF_INET6, inet_pton(AF_INET6, host))
    except OSError:
        pass
    try:
        return inet_ntop(AF_INET, inet_pton(AF_INET, host))
    except OSError:
        raise ValueError(f"{host!r} is not an IP address") from None


class VirtualClock:
    """The only clock of a simulation: advanced by the network, read by everyone."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now


class Node(Protocol):
    """Anything sans-I/O (MobileNode, HomeAgent, the server doubles)."""

    def receive_datagram(self, data: bytes, src: Addr, dst: Addr, now: float) -> None: ...

    def datagrams_to_send(self, now: float) -> list[Datagram]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


@dataclass
class NatBox:
    """An endpoint-independent IPv4 NAPT: datagrams from ``inside`` hosts to the outside get
    source ``(public, port)``; answers to that port go back (RFC 4787 behaviour)."""

    public: str
    inside: set[str] = field(default_factory=set)
    next_port: int = 40000
    _out: dict[Addr, int] = field(default_factory=dict)
    _in: dict[int, Addr] = field(default_factory=dict)
    translations: int = 0

    def outbound(self, src: Addr) -> Addr | None:
        """The public endpoint for ``src``; None when the port space is exhausted (the
        datagram is dropped, as a real NAPT would)."""
        port = self._out.get(src)
        if port is None:
            if self.next_port > 0xFFFF:
                return None
            port = self.next_port
            self.next_port += 1
            self._out[src] = port
            self._in[port] = src
        self.translations += 1
        return (self.public, port)

    def inbound(self, dst: Addr) -> Addr | None:
        return self._in.get(dst[1])


class VirtualNetwork:
    """Discrete-event delivery between nodes, addressed by host string.

    ``send`` queues a datagram for delivery after ``delay``; ``loss``/``duplicate``/
    ``reorder`` are probabilities drawn from a seeded PRNG; ``drop_rules`` are predicates
    ``(data, src, dst) -> bool`` that drop matching datagrams (for "lose exactly this
    message" tests). ``run_until`` alternates deliveries and timers in time order.
    """

    def __init__(
        self,
        clock: VirtualClock,
        *,
        delay: float = 0.01,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.delay = delay
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.rand = random.Random(seed)
        self.hosts: dict[str, Node] = {}
        self.nats: list[NatBox] = []
        self.drop_rules: list[Callable[[bytes, Addr, Addr], bool]] = []
        self.trace: list[tuple[float, str, Datagram]] | None = None
        self.stats: dict[str, int] = {"sent": 0, "delivered": 0, "dropped": 0, "unroutable": 0}
        self._queue: list[tuple[float, int, bytes, Addr, Addr]] = []
        self._timers: list[tuple[float, int, int]] = []
        self._nodes: dict[int, Node] = {}
        self._armed: dict[int, float] = {}
        self._n = 0
        self.on_node_call: Callable[[Node, Callable[[], None]], None] | None = None
        #: The node whose CPU time (``time.process_time``) is summed into ``timed_cpu``:
        #: every call into it (receive, timer, output collection), nothing else.
        self.timed: Node | None = None
        self.timed_cpu = 0.0
        #: ``id()`` of every node the network called since the caller last cleared it (a
        #: harness collects events from those nodes only, not from every node).
        self.touched: set[int] = set()

    # ---------------------------------------------------------------- topology
    def add_node(self, node: Node, *hosts: str) -> None:
        self._nodes[id(node)] = node
        for h in hosts:
            self.hosts[canonical(h)] = node
        self._poll(node)

    def set_hosts(self, node: Node, old: tuple[str, ...], new: tuple[str, ...]) -> None:
        for h in old:
            key = canonical(h)
            if self.hosts.get(key) is node:
                del self.hosts[key]
        for h in new:
            self.hosts[canonical(h)] = node

    def add_nat(self, nat: NatBox) -> NatBox:
        self.nats.append(nat)
        return nat

    def _nat_for_inside(self, host: str) -> NatBox | None:
        for nat in self.nats:
            if host in nat.inside:
                return nat
        return None

    # ---------------------------------------------------------------- traffic
    def send(self, data: bytes, src: Addr, dst: Addr) -> None:
        self.stats["sent"] += 1
        for rule in self.drop_rules:
            if rule(data, src, dst):
                self.stats["dropped"] += 1
                self._log("drop", (data, src, dst))
                return
        if self.loss and self.rand.random() < self.loss:
            self.stats["dropped"] += 1
            return
        # NAT on the way out: only IPv4 UDP from an inside host to a non-inside host.
        nat = self._nat_for_inside(src[0])
        if nat is not None and src[1] != 0 and dst[0] not in nat.inside:
            mapped = nat.outbound(src)
            if mapped is None:
                self.stats["dropped"] += 1
                self._log("drop", (data, src, dst))
                return
            src = mapped
        copies = 2 if self.duplicate and self.rand.random() < self.duplicate else 1
        for _ in range(copies):
            at = self.clock.now + self.delay
            if self.reorder and self.rand.random() < self.reorder:
                at += self.delay * (1 + 4 * self.rand.random())
            self._n += 1
            heapq.heappush(self._queue, (at, self._n, data, src, dst))

    def _log(self, what: str, d: Datagram) -> None:
        if self.trace is not None:
            self.trace.append((self.clock.now, what, d))

    def _deliver(self, data: bytes, src: Addr, dst: Addr) -> None:
        host = dst[0]
        for nat in self.nats:
            if nat.public == host:
                inner = nat.inbound(dst)
                if inner is None:
                    self.stats["unroutable"] += 1
                    return
                dst = inner
                host = dst[0]
                break
        node = self.hosts.get(host)
        if node is None:
            try:
                node = self.hosts.get(canonical(host))
            except ValueError:
                node = None
        if node is None:
            self.stats["unroutable"] += 1
            self._log("unroutable", (data, src, dst))
            return
        self.stats["delivered"] += 1
        self._log("deliver", (data, src, dst))
        now = self.clock.now
        if node is self.timed:
            t0 = time.process_time()
            node.receive_datagram(data, src, dst, now)
            self._poll(node)
            self.timed_cpu += time.process_time() - t0
        else:
            if self.on_node_call is not None:
                self.on_node_call(node, lambda: node.receive_datagram(data, src, dst, now))
            else:
                node.receive_datagram(data, src, dst, now)
            self._poll(node)
        self.touched.add(id(node))

    def _poll(self, node: Node) -> None:
        """Collect a node's output and (re-)arm its timer."""
        for data, src, dst in node.datagrams_to_send(self.clock.now):
            self.send(data, src, dst)
        t = node.get_timer()
        key = id(node)
        if t is not None and self._armed.get(key) != t:
            self._armed[key] = t
            self._n += 1
            heapq.heappush(self._timers, (t, self._n, key))

    def poll(self, node: Node) -> None:
        """Call after driving a node through its API (attach, move, detach...)."""
        self._poll(node)

    def step(self) -> bool:
        """Process the earliest delivery or timer; False when nothing is left."""
        return self._step(float("inf"))

    def _step(self, deadline: float) -> bool:
        """Process the earliest delivery or timer due at or before ``deadline``; False when
        there is none."""
        timers, armed, queue = self._timers, self._armed, self._queue
        while timers:
            t, _, key = timers[0]
            if armed.get(key) != t:
                heapq.heappop(timers)
                continue
            break
        tq = queue[0][0] if queue else None
        tt = timers[0][0] if timers else None
        if tq is not None and (tt is None or tq <= tt):
            if tq > deadline:
                return False
            at, _, data, src, dst = heapq.heappop(queue)
            if at > self.clock.now:
                self.clock.now = at
            self._deliver(data, src, dst)
            return True
        if tt is None or tt > deadline:
            return False
        _, _, key = heapq.heappop(timers)
        del armed[key]
        node = self._nodes[key]
        if tt > self.clock.now:
            self.clock.now = tt
        now = self.clock.now
        if node is self.timed:
            t0 = time.process_time()
            node.handle_timer(now)
            self._poll(node)
            self.timed_cpu += time.process_time() - t0
        else:
            if self.on_node_call is not None:
                self.on_node_call(node, lambda: node.handle_timer(now))
            else:
                node.handle_timer(now)
            self._poll(node)
        self.touched.add(key)
        return True

    def run_until(self, deadline: float, *, max_steps: int = 10_000_000) -> int:
        """Run every event up to ``deadline`` (bounded); the clock ends at ``deadline``."""
        steps = 0
        step = self._step
        while steps < max_steps and step(deadline):
            steps += 1
        self.clock.now = max(self.clock.now, deadline)
        return steps

    def run_until_idle(self, *, limit: float = 1e9, max_steps: int = 10_000_000) -> int:
        """Run until only timers beyond ``limit`` remain (or none)."""
        return self.run_until(limit, max_steps=max_steps)

    def next_time(self) -> float | None:
        while self._timers and self._armed.get(self._timers[0][2]) != self._timers[0][0]:
            heapq.heappop(self._timers)
        tq = self._queue[0][0] if self._queue else None
        tt = self._timers[0][0] if self._timers else None
        if tq is None:
            return tt
        return tq if tt is None else min(tq, tt)


def is_ipv4(host: str) -> bool:
    return isinstance(ip_address(host), IPv4Address)


def _unused(*_: Any) -> None:  # pragma: no cover
    pass
