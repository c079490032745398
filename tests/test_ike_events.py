"""The cheap constructors of the handshake's events and child SAs build exactly what the
frozen dataclasses' own ``__init__`` builds (events.py, child.py)."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest
from dsmip6.ikev2 import child as child_mod
from dsmip6.ikev2 import events as ev_mod
from dsmip6.ikev2.child import ChildSa, new_child_sa
from dsmip6.ikev2.events import (
    ChildSaEstablished,
    IkeSaEstablished,
    child_sa_established,
    ike_sa_established,
)
from dsmip6.ikev2.message import TrafficSelector

# every field a value no other field has, so a swapped pair of stores shows
ESTABLISHED_VALUES = [
    (
        7,
        "0001010000000123@nai.epc.mnc001.mcc001.3gppnetwork.org",
        "0001010000000123",
        ("198.51.100.1", 500),
        ("192.0.2.10", 4500),
        True,
        IPv6Network("2001:db8:1::/64"),
        IPv6Address("2001:db8:1::1"),
        (IPv6Address("2001:db8::1"), IPv4Address("198.51.100.1")),
        IPv4Address("10.0.0.7"),
        3600,
    ),
    (1, "ue@example.org", None, ("ha", 500), ("ue", 500), False, None, None, (), None, None),
]


def _child_values(n: int) -> tuple:
    ts_i = (TrafficSelector.mobility_header("2001:db8:1::1"),)
    ts_r = (TrafficSelector.mobility_header("2001:db8::1"),)
    return (
        0x1000 + n,
        0x2000 + n,
        "transport" if n else "tunnel",
        "aes-gcm-16-128" if n else "aes-cbc-128+hmac-sha256-128",
        bytes([n]) * 20,
        bytes([n + 1]) * 20,
        None if n else b"\x05" * 32,
        None if n else b"\x06" * 32,
        ts_i,
        ts_r,
        bool(n),
        not n,
        None if n else (4500, 4501),
    )


@pytest.mark.parametrize("values", ESTABLISHED_VALUES)
def test_ike_sa_established_is_the_dataclass_value(values):
    want = IkeSaEstablished(*values)
    got = ike_sa_established(*values)
    assert type(got) is IkeSaEstablished
    assert vars(got) == vars(want) and list(vars(got)) == list(vars(want))
    assert got == want and hash(got) == hash(want)
    assert dataclasses.astuple(got) == dataclasses.astuple(want)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.ike_sa_id = 3  # type: ignore[misc]


def test_ike_sa_established_keeps_the_post_init_check():
    values = list(ESTABLISHED_VALUES[1])
    values[1] = ""
    with pytest.raises(ValueError):
        IkeSaEstablished(*values)
    with pytest.raises(ValueError):
        ike_sa_established(*values)


@pytest.mark.parametrize("n", [0, 1])
def test_child_sa_established_is_the_dataclass_value(n):
    child = ChildSa(*_child_values(n))
    for rekeyed in (None, 0x77):
        want = ChildSaEstablished(5, child, rekeyed)
        got = child_sa_established(5, child, rekeyed)
        assert type(got) is ChildSaEstablished
        assert vars(got) == vars(want) and got == want and hash(got) == hash(want)


@pytest.mark.parametrize("n", [0, 1])
def test_new_child_sa_is_the_dataclass_value(n):
    values = _child_values(n)
    want = ChildSa(*values)
    got = new_child_sa(*values)
    assert type(got) is ChildSa
    names = [f.name for f in dataclasses.fields(ChildSa)]
    assert tuple(getattr(got, f) for f in names) == tuple(getattr(want, f) for f in names) == values
    assert got == want
    assert got.sa_specs() == want.sa_specs()
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.spi_in = 1  # type: ignore[misc]


def test_field_lists_follow_the_dataclasses():
    # the import-time guards compare these; a field added, removed or moved breaks them
    assert ev_mod._ESTABLISHED_FIELDS == tuple(f.name for f in dataclasses.fields(IkeSaEstablished))
    assert ev_mod._CHILD_FIELDS == tuple(f.name for f in dataclasses.fields(ChildSaEstablished))
    assert child_mod._CHILD_SA_FIELDS == tuple(f.name for f in dataclasses.fields(ChildSa))


def test_a_swapped_store_is_caught(monkeypatch):
    # the comparisons above see a constructor that stores a value in the wrong field
    values = ESTABLISHED_VALUES[0]
    real = ev_mod.ike_sa_established

    def swapped(*v):
        v = list(v)
        v[3], v[4] = v[4], v[3]
        return real(*v)

    monkeypatch.setattr(ev_mod, "ike_sa_established", swapped)
    assert ev_mod.ike_sa_established(*values) != IkeSaEstablished(*values)


def _uncached_ts_body(sels) -> bytes:
    import struct

    return struct.pack("!B3x", len(sels)) + b"".join(s.encode() for s in sels)


def test_narrowed_selectors_equal_the_checked_constructor():
    # intersect and for_network build their result without __init__'s checks: the same value
    from ipaddress import IPv4Network

    from dsmip6.ikev2.message import TrafficSelector as TS

    sels = [
        TS.any(6, 135),
        TS.any(6),
        TS.any(4),
        TS.mobility_header("2001:db8:1::1"),
        TS.mobility_header("2001:db8:1::1", 5),
        TS("2001:db8:1::", "2001:db8:1::ffff", 17, 500, 4500),
        TS("10.0.0.0", "10.0.0.255", 6, 80, 80),
        TS.for_network(IPv6Network("2001:db8:1::/64")),
        TS.for_network(IPv4Network("10.0.0.0/24")),
        TS.for_network("2001:db8::/32", protocol=135),
    ]
    for a in sels:
        for b in sels:
            got = a.intersect(b)
            if got is None:
                continue
            want = TS(got.start, got.end, got.protocol, got.start_port, got.end_port)
            assert type(got) is TS and got == want and got.encode() == want.encode()
    for net in (IPv6Network("2001:db8:1::/64"), IPv4Network("10.1.0.0/16")):
        got = TS.for_network(net)
        assert got == TS(net.network_address, net[-1])


def test_ts_bodies_remembered_per_tuple_equal_a_fresh_encoding():
    from dsmip6.ikev2 import message as m
    from dsmip6.ikev2.message import TrafficSelector as TS
    from dsmip6.ikev2.message import TsPayload

    m._TS_BODIES.clear()
    tuples = [(TS.any(6, 135),), (TS.mobility_header("2001:db8:1::1"), TS.any(4))]
    tuples += [(TS.for_network(IPv6Network(f"2001:db8:{n:x}::/64")),) for n in range(300)]
    for _ in range(2):  # the second time partly from the remembered bodies
        for sels in tuples:
            for initiator in (True, False):
                assert TsPayload(sels, initiator).encode_body() == _uncached_ts_body(sels)
    assert len(m._TS_BODIES) <= 256
    # an equal tuple that is another object is encoded for itself (identity, not equality)
    again = (TS.any(6, 135),)
    assert TsPayload(again).encode_body() == _uncached_ts_body(again)


def test_selector_hash_agrees_with_equality():
    # equal selectors (built apart, from strings, integers, packed octets) hash alike, and a
    # set or dict of selectors behaves as one keyed by value
    from dsmip6.ikev2.message import TrafficSelector as TS

    a = TS("2001:db8:1::", "2001:db8:1::ffff", 135, 0, 65535)
    b = TS(IPv6Address("2001:db8:1::"), IPv6Address("2001:db8:1::ffff"), 135)
    c = TS(int(IPv6Address("2001:db8:1::")), IPv6Address("2001:db8:1::ffff").packed, 135)
    assert a == b == c and hash(a) == hash(b) == hash(c)
    others = [
        TS("2001:db8:1::", "2001:db8:1::ffff", 17),
        TS("2001:db8:1::", "2001:db8:1::fffe", 135),
        TS("2001:db8:1::", "2001:db8:1::ffff", 135, 0, 65534),
        TS("0.0.0.1", "0.0.0.2"),
        TS("::1", "::2"),
    ]
    assert len({a, b, c, *others}) == 1 + len(others)
    assert {(a,): 1}[(c,)] == 1
