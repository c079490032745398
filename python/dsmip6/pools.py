"""Address pools of the HA: one home network prefix per UE per PDN connection, and IPv4 HoAs.

TS 24.303 §4.1 / procedures.md §0.1: the HNP is allocated uniquely to one UE. Both pools hand
out addresses in order from a counter and reuse released ones first (a FIFO free list, so a
just-released prefix is not immediately given to someone else while stale packets may still
be in flight). An owner (any hashable: ``(identity, apn)``) holds at most one entry per pool;
asking again returns the same entry. Nothing is ever assigned to two owners.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from dsmip6.errors import ConfigError

__all__ = ["PoolExhausted", "PrefixPool", "Ipv4Pool", "addr6", "net6"]

_NEW = object.__new__
_NETMASK6 = IPv6Network._make_netmask  # (netmask, length) per length, cached by ipaddress
_NETMASKS: dict[int, tuple[IPv6Address, int]] = {}  # _NETMASK6's values, no call per read


def addr6(i: int) -> IPv6Address:
    """``IPv6Address(i)`` for an int already known to be a valid address: the same object
    (the slots ``__init__`` sets for an int), without its type and range checks."""
    a = _NEW(IPv6Address)
    a._ip = i
    a._scope_id = None
    return a


def net6(network: int, prefix_len: int) -> IPv6Network:
    """``IPv6Network((network, prefix_len))`` for a network int without host bits and a
    length below 127: the object the constructor builds (its address, its cached netmask and
    length), without the constructor's argument parsing and checks (~4x faster; the HA
    builds one per attach and per binding it hands to the data plane)."""
    if prefix_len >= 127:
        return IPv6Network((network, prefix_len))  # /127 and /128 get a ``hosts`` method
    n = _NEW(IPv6Network)
    n.network_address = addr6(network)
    mask = _NETMASKS.get(prefix_len)
    if mask is None:  # at most 127 lengths
        mask = _NETMASKS[prefix_len] = _NETMASK6(prefix_len)
    n.netmask, n._prefixlen = mask
    return n


class PoolExhausted(Exception):
    """No free entry is left (the HA answers 130 / INTERNAL_ADDRESS_FAILURE / Ack 132)."""


def _put(owners: list[Hashable | None], index: int, owner: Hashable) -> None:
    """Indices are handed out in order (a new one is always ``len(owners)``) or reused."""
    if index == len(owners):
        owners.append(owner)
    else:
        owners[index] = owner


def _get(owners: list[Hashable | None], index: int) -> Hashable | None:
    return owners[index] if index < len(owners) else None


class PrefixPool:
    """``/plen`` prefixes carved from ``aggregate``."""

    def __init__(self, aggregate: IPv6Network, prefix_len: int = 64) -> None:
        if not aggregate.prefixlen <= prefix_len <= 128:
            raise ConfigError(f"cannot carve /{prefix_len} prefixes from {aggregate}")
        self.aggregate = aggregate
        self.prefix_len = prefix_len
        self._size = 1 << (prefix_len - aggregate.prefixlen)
        self._step = 1 << (128 - prefix_len)
        self._base = int(aggregate.network_address)
        self._next = 0
        self._free: deque[int] = deque()
        # index -> owner (None: free) as a plain list: one pointer per prefix ever handed out.
        self._owner_of: list[Hashable | None] = []
        self._by_owner: dict[Hashable, int] = {}

    def __len__(self) -> int:
        """Number of assigned prefixes."""
        return len(self._by_owner)

    def _prefix(self, index: int) -> IPv6Network:
        return net6(self._base + index * self._step, self.prefix_len)

    def allocate(self, owner: Hashable) -> IPv6Network:
        """The prefix of ``owner``, assigning a free one if it has none."""
        index = self._by_owner.get(owner)
        if index is None:
            if self._free:
                index = self._free.popleft()
            elif self._next < self._size:
                index = self._next
                self._next += 1
            else:
                raise PoolExhausted(f"no free /{self.prefix_len} left in {self.aggregate}")
            _put(self._owner_of, index, owner)
            self._by_owner[owner] = index
        return self._prefix(index)

    def _index(self, prefix: IPv6Network | IPv6Address) -> int | None:
        kind = type(prefix)
        if kind is IPv6Network:
            value = prefix.network_address._ip  # type: ignore[union-attr]
        elif kind is IPv6Address:
            value = prefix._ip  # type: ignore[union-attr]
        else:
            value = int(prefix.network_address if isinstance(prefix, IPv6Network) else prefix)
        offset = value - self._base
        if not 0 <= offset < self._size * self._step:
            return None
        return offset // self._step

    def owner(self, address: IPv6Address | IPv6Network) -> Hashable | None:
        """Who holds the prefix containing ``address`` (None when unassigned)."""
        if type(address) is IPv6Network:  # the HA's question at every IKE SA: inline
            offset = address.network_address._ip - self._base
            step = self._step
            if not 0 <= offset < self._size * step:
                return None
            index = offset // step
        else:
            found = self._index(address)
            if found is None:
                return None
            index = found
        owners = self._owner_of
        return owners[index] if index < len(owners) else None  # _get, inline

    def prefix_of(self, owner: Hashable) -> IPv6Network | None:
        """The prefix ``owner`` holds, if any."""
        index = self._by_owner.get(owner)
        return None if index is None else self._prefix(index)

    def release(self, owner: Hashable) -> None:
        """Give ``owner``'s prefix back (no-op when it holds none)."""
        index = self._by_owner.pop(owner, None)
        if index is not None:
            self._owner_of[index] = None
            self._free.append(index)


class Ipv4Pool:
    """IPv4 HoAs (RFC 5555 §3.1.1) from ``network``, skipping network/broadcast addresses."""

    def __init__(self, network: IPv4Network) -> None:
        self.network = network
        hosts = network.num_addresses - (2 if network.prefixlen < 31 else 0)
        if hosts <= 0:
            raise ConfigError(f"no host addresses in {network}")
        self._first = int(network.network_address) + (1 if network.prefixlen < 31 else 0)
        self._size = hosts
        self._next = 0
        self._free: deque[int] = deque()
        self._owner_of: list[Hashable | None] = []
        self._by_owner: dict[Hashable, int] = {}

    def __len__(self) -> int:
        return len(self._by_owner)

    def allocate(self, owner: Hashable) -> IPv4Address:
        """The address of ``owner``, assigning a free one if it has none."""
        return IPv4Address(self.allocate_int(owner))

    def allocate_int(self, owner: Hashable) -> int:
        """:meth:`allocate` as the address's int (no address object)."""
        index = self._by_owner.get(owner)
        if index is None:
            if self._free:
                index = self._free.popleft()
            elif self._next < self._size:
                index = self._next
                self._next += 1
            else:
                raise PoolExhausted(f"no free IPv4 HoA left in {self.network}")
            _put(self._owner_of, index, owner)
            self._by_owner[owner] = index
        return self._first + index

    def owner(self, address: IPv4Address) -> Hashable | None:
        """Who holds ``address`` (None when unassigned or outside the pool)."""
        index = int(address) - self._first
        return _get(self._owner_of, index) if 0 <= index < self._size else None

    def address_of(self, owner: Hashable) -> IPv4Address | None:
        """The address ``owner`` holds, if any."""
        index = self._by_owner.get(owner)
        return None if index is None else IPv4Address(self._first + index)

    def release(self, owner: Hashable) -> None:
        """Give ``owner``'s address back (no-op when it holds none)."""
        index = self._by_owner.pop(owner, None)
        if index is not None:
            self._owner_of[index] = None
            self._free.append(index)
