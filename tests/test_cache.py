"""dsmip6.dataplane.BindingCache: indexes, expiry on an injected clock, errors."""

from __future__ import annotations

import threading
from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest
from dsmip6.dataplane import BindingCache
from dsmip6.dataplane_iface import BindingSpec, Encapsulation
from dsmip6.errors import CacheError


def spec(i: int, *, coa=None, expires_at=3600.0, sequence=1, v4=True, sa_in=None) -> BindingSpec:
    prefix = IPv6Network(f"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::/64")
    if coa is None:
        coa = IPv4Address(0xC6336400 + i)
    encap = Encapsulation.UDP_IPV4 if isinstance(coa, IPv4Address) else Encapsulation.IP_IN_IPV6
    return BindingSpec(
        home_address=prefix[0x1000],
        home_prefix=prefix,
        care_of_address=coa,
        encapsulation=encap,
        lifetime=3600.0,
        expires_at=expires_at,
        sequence=sequence,
        flags=0xD400,
        ipv4_home_address=IPv4Address(0x0A000000 + i) if v4 else None,
        udp_port=4191 if encap is Encapsulation.UDP_IPV4 else None,
        sa_in=sa_in,
    )


def test_add_lookup_by_every_key():
    c = BindingCache()
    specs = [spec(i, sa_in=0x1000 + i) for i in range(50)]
    for s in specs:
        c.add(s)
    assert len(c) == 50
    s7 = specs[7]
    assert c.lookup(s7.home_address) is s7  # the very object
    assert c.lookup(str(s7.home_address)) is s7
    assert c.lookup(s7.home_address.packed) is s7
    assert c.lookup(int(s7.home_address)) is s7
    assert c.get(s7.home_address) is s7
    inside = s7.home_prefix[0x55]
    assert c.lookup(inside) is s7  # longest-prefix match on the HNP
    assert c.get(inside) is None  # exact HoA only
    assert c.lookup(IPv6Address("2001:db8:ffff::1")) is None
    assert c.lookup(IPv4Address(0x0A000007)) is s7
    assert c.lookup("10.0.0.7") is s7
    assert c.lookup("10.9.9.9") is None
    coa = s7.care_of_address
    assert c.lookup_inbound(coa, udp_port=4191) is s7
    assert c.lookup_inbound(coa, spi=0x1007) is s7
    assert c.lookup_inbound(coa, udp_port=4192) is None
    assert c.lookup_inbound(coa, spi=0x1008) is None
    assert c.lookup_many([s7.home_address, "2001:db8:ffff::1", "10.0.0.8"]) == [
        s7,
        None,
        specs[8],
    ]
    assert s7.home_address in c and IPv6Address("2001:db8:ffff::1") not in c
    assert sorted(iter(c), key=lambda s: s.home_address) == sorted(
        specs, key=lambda s: s.home_address
    )
    with pytest.raises(TypeError):
        c.lookup(1.5)
    with pytest.raises(ValueError):
        c.lookup("not-an-address")


def test_str_lookup_every_text_form():
    """Address text in any RFC 4291 section 2.2 form (case, zero runs, embedded IPv4) finds
    the binding that ``ipaddress`` parses it to; malformed text raises ValueError."""
    c = BindingCache()
    specs = [spec(i) for i in range(20)]
    for s in specs:
        c.add(s)
    s7 = specs[7]
    for text in (
        s7.home_address.exploded,
        s7.home_address.exploded.upper(),
        s7.home_address.compressed,
        "2001:db8::7:0:0:0:1000",
        "2001:db8:0:7::0.0.16.0",
    ):
        assert IPv6Address(text) == s7.home_address
        assert c.lookup(text) is s7, text
    assert c.lookup("2001:db8:0:7:1:2:3:4") is s7  # inside the /64
    assert c.lookup("::ffff:10.0.0.7") is None  # an IPv4-mapped IPv6 address, not the IPv4 HoA
    for bad in ("2001:db8::7::1000", "2001:db8:0:7:0:0:0:1000:1", "2001:db8:0:7:0:0:1000", ":::"):
        with pytest.raises(ValueError):
            c.lookup(bad)


def test_add_update_remove_errors():
    c = BindingCache()
    c.add(spec(1))
    with pytest.raises(CacheError):
        c.add(spec(1))
    with pytest.raises(CacheError):
        c.update(spec(2))
    with pytest.raises(CacheError):
        c.remove(spec(2).home_address)
    thief = BindingSpec(**{**spec(3).__dict__, "ipv4_home_address": IPv4Address(0x0A000001)})
    with pytest.raises(CacheError):
        c.add(thief)
    assert thief.home_address not in c and len(c) == 1
    moved = spec(1, coa=IPv6Address("2001:db8:ffff::1"), sequence=2)
    c.update(moved)
    assert c.lookup(moved.home_address) is moved
    assert c.lookup_inbound(spec(1).care_of_address, udp_port=4191) is None
    assert c.lookup_inbound("2001:db8:ffff::1") is moved
    assert c.remove(moved.home_address) is moved
    assert len(c) == 0 and c.lookup(moved.home_prefix[5]) is None


def test_expiry_on_injected_clock():
    c = BindingCache()
    for i in range(10):
        c.add(spec(i, expires_at=10.0 * i))
    assert [s.home_address for s in c.expire(0.0)] == [spec(0).home_address]
    gone = sorted(s.home_address for s in c.expire(35.0))
    assert gone == [spec(i).home_address for i in (1, 2, 3)]
    assert len(c) == 6 and c.expire(35.0) == []


def test_per_binding_counters():
    c = BindingCache()
    c.add(spec(1))
    assert c.count(spec(1).home_address, True, 1400)
    assert c.count(spec(1).home_address, False, 100)
    assert not c.count(spec(2).home_address, True, 1)
    assert c.counters(spec(1).home_address) == {
        "packets_to_ue": 1,
        "bytes_to_ue": 1400,
        "packets_from_ue": 1,
        "bytes_from_ue": 100,
    }
    assert c.counters(spec(2).home_address) is None


def test_threads_update_while_looking_up():
    c = BindingCache()
    stable = [spec(i) for i in range(200)]
    for s in stable:
        c.add(s)
    errors: list[str] = []

    def reader():
        for _ in range(20):
            for s in stable:
                got = c.lookup(s.home_address)
                if got is None or got.home_address != s.home_address:
                    errors.append(f"lost {s.home_address}")

    def writer():
        for r in range(20):
            for i in range(200):
                c.update(spec(i, sequence=r))
            for i in range(200, 260):
                if r % 2 == 0:
                    c.add(spec(i))
                else:
                    c.remove(spec(i).home_address)

    threads = [threading.Thread(target=reader) for _ in range(2)] + [
        threading.Thread(target=writer)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(c) == 200


def test_many_key_objects_each_find_their_own_binding():
    """Text and int keys are converted once per object (a memo keyed by object identity that
    keeps its objects alive): thousands of distinct key objects, freed and made again (so
    their addresses are recycled), each finds exactly its own binding, and misses miss."""
    c = BindingCache()
    specs = [spec(i) for i in range(300)]
    for s in specs:
        c.add(s)
    for r in range(3):
        for i in range(6000):
            s = specs[(i * 7 + r) % 300]
            key = str(s.home_address) if i % 2 else int(s.home_address)
            assert c.lookup(key) is s
            assert c.lookup(f"2001:db9::{i:x}") is None
            assert c.lookup(int(IPv6Address(f"2001:db9::{i:x}"))) is None
    moved = spec(5, coa=IPv6Address("2001:db8:ffff::5"), sequence=2)
    key = str(moved.home_address)
    assert c.lookup(key) is specs[5]
    c.update(moved)
    assert c.lookup(key) is moved  # the memo holds addresses, never bindings
