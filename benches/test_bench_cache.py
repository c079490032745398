"""Binding-cache lookups from Python beside a ``dict`` of the same entries (same run).

Target: ``BindingCache.lookup`` at least as fast as ``dict.get`` with the same key objects
(``ipaddress.IPv6Address``, as the control plane holds them); also shown with ``str`` keys.
Both sides are timed the same way, interleaved (best of several rounds of 1000 lookups), on
the thread's CPU clock: the machine is shared, and time spent preempted is nobody's cost.
Disabled by default; run with ``make bench``.
"""

from __future__ import annotations

import time
import timeit
from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest
from dsmip6.dataplane import BindingCache
from dsmip6.dataplane_iface import BindingSpec, Encapsulation

N = 100_000


@pytest.fixture(scope="module")
def filled():
    cache = BindingCache()
    by_addr: dict[IPv6Address, BindingSpec] = {}
    by_str: dict[str, BindingSpec] = {}
    for i in range(N):
        prefix = IPv6Network(f"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::/64")
        s = BindingSpec(
            home_address=prefix[0x1000],
            home_prefix=prefix,
            care_of_address=IPv6Address(f"2001:db8:ffff:{i & 0xFFFF:x}::{i >> 16:x}:1"),
            encapsulation=Encapsulation.IP_IN_IPV6,
            lifetime=3600.0,
            expires_at=3600.0,
            sequence=1,
            ipv4_home_address=IPv4Address(0x0A000000 + i),
        )
        cache.add(s)
        by_addr[s.home_address] = s
        by_str[str(s.home_address)] = s
    keys = list(by_addr)[:: N // 1000]
    return cache, by_addr, by_str, keys


def per_lookup(fn, keys) -> float:
    n = 20
    runs = timeit.repeat(lambda: [fn(k) for k in keys], number=n, repeat=5, timer=time.thread_time)
    return min(runs) / (n * len(keys))


def ours_and_base(ours_fn, base_fn, keys) -> tuple[float, float]:
    """Best per-lookup CPU time of each, measured in alternation (same conditions)."""
    ours, base = [], []
    for _ in range(3):
        ours.append(per_lookup(ours_fn, keys))
        base.append(per_lookup(base_fn, keys))
    return min(ours), min(base)


def test_lookup_ipv6address_vs_dict(benchmark, filled):
    cache, by_addr, _, keys = filled
    assert all(cache.lookup(k) is by_addr[k] for k in keys)
    benchmark(lambda: [cache.lookup(k) for k in keys])
    ours, base = ours_and_base(cache.lookup, by_addr.get, keys)
    print(
        f"\n[bench] BindingCache.lookup(IPv6Address), {N} entries: {ours * 1e9:.0f} ns | baseline "
        f"dict.get(IPv6Address): {base * 1e9:.0f} ns -> ratio {base / ours:.2f}x"
    )


def test_lookup_str_vs_dict(benchmark, filled):
    cache, _, by_str, keys = filled
    skeys = [str(k) for k in keys]
    assert all(cache.lookup(k) is by_str[k] for k in skeys)
    benchmark(lambda: [cache.lookup(k) for k in skeys])
    ours, base = ours_and_base(cache.lookup, by_str.get, skeys)
    print(
        f"\n[bench] BindingCache.lookup(str), {N} entries: {ours * 1e9:.0f} ns | baseline "
        f"dict.get(str): {base * 1e9:.0f} ns -> ratio {base / ours:.2f}x"
    )


def test_lookup_many_vs_dict(benchmark, filled):
    cache, by_addr, _, keys = filled
    assert cache.lookup_many(keys) == [by_addr[k] for k in keys]
    benchmark(cache.lookup_many, keys)
    ours, base = [], []
    for _ in range(3):
        n = 20
        runs = timeit.repeat(
            lambda: cache.lookup_many(keys), number=n, repeat=5, timer=time.thread_time
        )
        ours.append(min(runs) / (n * len(keys)))
        base.append(per_lookup(by_addr.get, keys))
    ours, base = min(ours), min(base)
    print(
        f"\n[bench] BindingCache.lookup_many(IPv6Address list): {ours * 1e9:.0f} ns/lookup | "
        f"baseline dict.get(IPv6Address): {base * 1e9:.0f} ns -> ratio {base / ours:.2f}x"
    )


def test_lookup_fresh_str_vs_dict(filled):
    """As the str row, but every lookup gets a new str object (as text parsed from a message
    would be): no per-object memo helps us, no cached hash helps the dict."""
    cache, _, by_str, keys = filled
    texts = [str(k) for k in keys]

    def one_pass(fn) -> float:
        fresh = [t.encode().decode() for t in texts]  # new objects, made outside the timing
        t0 = time.thread_time()
        for k in fresh:
            fn(k)
        return (time.thread_time() - t0) / len(fresh)

    ours = min(one_pass(cache.lookup) for _ in range(30))
    base = min(one_pass(by_str.get) for _ in range(30))
    ours = min(ours, *(one_pass(cache.lookup) for _ in range(30)))
    base = min(base, *(one_pass(by_str.get) for _ in range(30)))
    print(
        f"\n[bench] BindingCache.lookup(new str each time), {N} entries: {ours * 1e9:.0f} ns | "
        f"baseline dict.get(new str each time): {base * 1e9:.0f} ns -> ratio {base / ours:.2f}x"
    )
