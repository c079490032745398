"""Timers, back-off, sequence arithmetic and the address pools."""

from ipaddress import IPv4Address, IPv4Network, IPv6Network

import pytest
from dsmip6._timers import TimerTable, backoff
from dsmip6.errors import ConfigError
from dsmip6.ha import seq_newer
from dsmip6.pools import Ipv4Pool, PoolExhausted, PrefixPool


def test_backoff_schedules_rfc6275():
    """test-vectors.md §9.2."""
    assert [backoff(1.5, i, 32.0) for i in range(7)] == [1.5, 3, 6, 12, 24, 32, 32]
    assert [backoff(1.0, i, 32.0) for i in range(7)] == [1, 2, 4, 8, 16, 32, 32]
    assert backoff(1.0, 1000, 32.0) == 32.0
    with pytest.raises(ValueError):
        backoff(1.0, -1, 2.0)


def test_sequence_comparison_vectors():
    """test-vectors.md §9.1 (RFC 6275 §9.5.1)."""
    last = 15
    for stale in list(range(0, 16)) + [32783, 40000, 65535]:
        assert not seq_newer(stale, last), stale
    for newer in (16, 1000, 32782):
        assert seq_newer(newer, last), newer
    assert seq_newer(0, 65535)
    assert not seq_newer(65535, 0)


def test_timer_table_earliest_first_and_rearm():
    t = TimerTable()
    assert t.next_deadline() is None and t.pop_due(100.0) == []
    t.set("a", 5.0)
    t.set("b", 3.0)
    t.set("a", 1.0)  # re-arm earlier
    assert t.next_deadline() == 1.0
    assert t.pop_due(2.0) == ["a"]
    t.cancel("b")
    assert t.next_deadline() is None and len(t) == 0
    for i in range(1000):
        t.set(("x", i), float(i))
        t.set(("x", i), float(i) + 0.5)
    assert t.pop_due(10.0) == [("x", i) for i in range(10)]
    assert len(t) == 990


def test_prefix_pool_never_assigns_twice():
    pool = PrefixPool(IPv6Network("2001:db8::/62"), 64)
    got = {pool.allocate(("ue", i)) for i in range(4)}
    assert len(got) == 4 and all(p.prefixlen == 64 for p in got)
    assert pool.allocate(("ue", 2)) in got  # same owner, same prefix
    with pytest.raises(PoolExhausted):
        pool.allocate(("ue", 99))
    p2 = pool.prefix_of(("ue", 2))
    assert pool.owner(p2.network_address + 7) == ("ue", 2)
    pool.release(("ue", 2))
    assert pool.owner(p2) is None
    assert pool.allocate(("ue", 99)) == p2
    assert len(pool) == 4
    with pytest.raises(ConfigError):
        PrefixPool(IPv6Network("2001:db8::/64"), 48)


def test_ipv4_pool_skips_network_and_broadcast():
    pool = Ipv4Pool(IPv4Network("10.0.0.0/30"))
    a, b = pool.allocate("a"), pool.allocate("b")
    assert {a, b} == {IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")}
    with pytest.raises(PoolExhausted):
        pool.allocate("c")
    assert pool.owner(IPv4Address("10.0.0.3")) is None
    pool.release("a")
    assert pool.allocate("c") == a and pool.owner(a) == "c"
