"""The HA's compact building blocks (issue 5 speed work): integer-named timers, list-backed
pools, BindingSpec.of, compact ESP SAs, and the direct BU path against the general one."""

from dataclasses import FrozenInstanceError
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from dsmip6 import _mh
from dsmip6._sec import EspSa, compact_esp_sa
from dsmip6._timers import IntTimerTable
from dsmip6.dataplane import RustDataPlane
from dsmip6.dataplane_iface import BindingSpec, Encapsulation, SaSpec
from dsmip6.errors import IntegrityCheckFailed, ReplayedPacket
from dsmip6.pools import Ipv4Pool, PrefixPool
from dsmip6.sim import VirtualClock
from dsmip6.sim.world import RealWorld
from proc_harness import roundtrip_until_done

HOA = IPv6Address("2001:db8:8000::5")
NET = IPv6Network("2001:db8:8000::/64")


def test_int_timer_table_matches_the_named_table_semantics():
    t = IntTimerTable()
    assert t.next_deadline() is None and t.pop_due(1e9) == []
    a, b, c = 1 << 100, 7, (1 << 128) | 7  # names order among themselves, any size
    t.set(a, 5.0)
    t.set(b, 3.0)
    t.set(a, 1.0)  # re-arm earlier: the old entry goes stale
    t.set(c, 3.0)  # same deadline as b
    assert t.get(a) == 1.0 and a in t and len(t) == 3
    assert t.next_deadline() == 1.0
    assert t.pop_due(2.0) == [a]
    t.cancel(b)
    assert t.pop_due(10.0) == [c] and len(t) == 0
    for i in range(1000):  # re-arming one name many times keeps the heap bounded
        t.set(b, float(i))
    assert len(t._heap) <= 2 * len(t) + 65
    assert list(t) == [(b, 999.0)] and t.pop_due(999.0) == [b]


def test_int_timer_table_against_the_named_table_random_operations():
    """Random set / re-arm / cancel / pop_due / next_deadline with many shared instants:
    the same answers as the generic TimerTable (earliest first, equal deadlines by name)."""
    import random

    from dsmip6._timers import TimerTable

    rnd = random.Random(5)
    for _ in range(30):
        fast, ref = IntTimerTable(), TimerTable()
        now = 0.0
        for _ in range(400):
            op = rnd.random()
            name = rnd.randrange(40) | (rnd.randrange(3) << 128)
            if op < 0.55:
                when = now + rnd.choice((0.0, 1.0, 2.5, 4.0, rnd.random() * 5))
                fast.set(name, when)
                ref.set(name, when)
            elif op < 0.7:
                fast.cancel(name)
                ref.cancel(name)
            elif op < 0.85:
                assert fast.next_deadline() == ref.next_deadline()
            else:
                now += rnd.random() * 2
                armed = dict(ref)  # name -> deadline before the pop
                want = sorted(ref.pop_due(now), key=lambda n: (armed[n], n))
                assert fast.pop_due(now) == want
            assert len(fast) == len(ref) and dict(fast) == dict(ref)
            assert fast.get(name) == ref.get(name) and (name in fast) == (name in ref)
        assert len(fast._heap) <= 2 * len(fast._at) + 65


def test_int_timer_table_shared_instant_rearmed_one_by_one_stays_linear():
    """With a virtual clock thousands of bindings share one instant; re-arming them one by one
    with ``next_deadline`` asked in between (as the HA does after every datagram) must not scan
    the shared instant's names each time (the 100 000-UE simulation went quadratic on that)."""

    class CountingDict(dict):
        gets = 0

        def get(self, *args):
            CountingDict.gets += 1
            return super().get(*args)

    n = 5000
    t = IntTimerTable()
    t._deadline = CountingDict()
    for name in range(n):
        t.set(name, 10.0)
    for name in range(n):  # each refresh moves one name to a later instant
        assert t.next_deadline() == 10.0
        t.set(name, 20.0)
    assert t.next_deadline() == 20.0 and len(t) == n
    assert CountingDict.gets <= 4 * n  # a scan per call would be ~n * n / 2
    assert t.pop_due(15.0) == [] and t.pop_due(20.0) == list(range(n)) and len(t) == 0


def test_pools_owner_lookup_outside_and_after_release():
    p = PrefixPool(IPv6Network("2001:db8::/48"), 64)
    assert p.owner(IPv6Address("2001:db8::1")) is None  # never handed out
    first = p.allocate("a")
    assert p.owner(first.network_address + 9) == "a" and len(p) == 1
    p.release("a")
    assert p.owner(first.network_address) is None and len(p) == 0
    assert p.allocate("b") == first and p.owner(first.network_address) == "b"  # reused first
    v4 = Ipv4Pool(IPv4Network("10.0.0.0/30"))
    x = v4.allocate("a")
    assert v4.owner(x) == "a"
    assert v4.owner(IPv4Address("9.255.255.255")) is None  # below the pool: no wrap-around
    assert v4.owner(IPv4Address("10.0.0.3")) is None  # broadcast, never in the pool
    v4.release("a")
    assert v4.owner(x) is None and len(v4) == 0


def test_binding_spec_of_is_the_constructor():
    args = (HOA, NET, IPv6Address("2001:db8:1::1"), Encapsulation.IP_IN_IPV6, 3600.0, 9.0, 7,
            0xD400, IPv4Address("10.0.0.1"), None)  # fmt: skip
    fast, slow = BindingSpec.of(*args), BindingSpec(*args)
    assert fast == slow and hash(fast) == hash(slow) and fast.__dict__ == slow.__dict__
    with pytest.raises(FrozenInstanceError):
        fast.sequence = 8  # type: ignore[misc]
    bad = (IPv6Address("2001:db8:9::5"),) + args[1:]
    with pytest.raises(ValueError, match="outside"):
        BindingSpec.of(*bad)
    with pytest.raises(ValueError, match="needs an IPv6"):
        BindingSpec.of(HOA, NET, IPv4Address("192.0.2.1"), Encapsulation.IP_IN_IPV6, 1.0, 1.0, 1)


def test_compact_sa_interoperates_with_the_full_one():
    spec = SaSpec(0x1234, "out", "transport", "aes-gcm-128", bytes(range(20)),
                  HOA, IPv6Address("2001:db8:a::1"), protocol=135)  # fmt: skip
    full, small = EspSa(spec), compact_esp_sa(spec)
    assert small.spec is None and small.spi == full.spi == 0x1234
    packet = _mh.WireSignalling().encode(
        _mh.Bu(1, 10), _mh.Route(("::", 0), ("::", 0), HOA, IPv6Address("2001:db8:a::1")), None
    )
    rx_full, rx_small = EspSa(spec), compact_esp_sa(spec)
    for _ in range(3):
        a, b = full.protect(packet), small.protect(packet)
        assert a == b  # same SPI, key and sequence number: the same bytes
        assert rx_small.unprotect(a) == packet and rx_full.unprotect(b) == packet
        with pytest.raises(ReplayedPacket):
            rx_small.unprotect(a)
    bad = bytearray(full.protect(packet))
    bad[-1] ^= 1
    small.protect(packet)
    with pytest.raises(IntegrityCheckFailed):
        rx_small.unprotect(bytes(bad))


def _registered(world, i):
    ha = world.ha
    clock = VirtualClock()
    ue = world.make_ue(i)
    ue.set_access(coa6=IPv6Address("2001:db8:100::1") + i)
    ue.attach("internet", 0.0)
    roundtrip_until_done(ue, ha, clock)
    return ue, clock


def _bu_stream(direct):
    from dsmip6.ha import HomeAgent

    world = RealWorld(2)
    ha = world.make_ha(RustDataPlane())
    if not direct:  # a handler override sends BUs down the general (Received) path
        ha._HANDLERS = {**HomeAgent._HANDLERS, _mh.Bu: lambda self, rx, now: self._on_bu(rx, now)}
    ue, clock = _registered(world, 0)
    while ha.next_event() is not None:
        pass
    pdn = ue._pdns["internet"]
    hoa, ha6 = ue.home_address("internet"), pdn.ha6
    coa = IPv6Address("2001:db8:100::77")
    route = _mh.Route((str(coa), 0), (str(ha6), 0), coa, ha6, hao=hoa)
    seq = ue.sequence("internet")
    v4 = _mh.Ipv4HoaOpt(ue.ipv4_home_address("internet"))
    bus = [
        _mh.Bu(seq + 1, 900, alt_coa=coa, ipv4_hoa=v4),  # refresh, moved
        _mh.Bu(seq + 1, 900, alt_coa=coa, ipv4_hoa=v4),  # same sequence: 135
        _mh.Bu(seq + 2, 100, ipv4_hoa=v4),  # CoA = source, shorter lifetime
        _mh.Bu(seq + 3, 900, alt_coa=hoa),  # CoA == HoA: 174
        _mh.Bu(seq + 4, 900, h=False),  # H clear: dropped
        _mh.Bu(seq + 5, 0),  # de-registration
    ]

    def find(spi):
        return pdn.sa_in if spi == pdn.sa_in.spi else None

    got = []
    for bu in bus:
        data = ue.signalling.encode(bu, route, pdn.sa_out)
        ha.receive_datagram(data, route.src, route.dst, clock.now)
        out = [(ue.signalling.decode(d, s, t, find), s, t) for d, s, t in ha.datagrams_to_send(0)]
        evs = []
        while (e := ha.next_event()) is not None:
            evs.append(e)
        got.append(([(p.message, p.route, s, t) for p, s, t in out], evs))
    return got, dict(ha.counters), sorted(map(str, ha.dataplane.bindings))


def test_direct_and_general_bu_paths_give_the_same_bytes_and_events():
    """The same BU stream through the direct path and through the general one yields the
    same BAs (decoded: message and route), events, counters and data plane entries."""
    direct, general = _bu_stream(True), _bu_stream(False)
    statuses = [[m.status for m, *_ in step[0]] for step in direct[0]]
    assert statuses == [[0], [135], [0], [174], [], [0]]
    assert direct[1]["h-clear"] == 1
    assert direct == general


def test_binding_spec_of_sets_every_field_in_declaration_order():
    import dataclasses

    from dsmip6.dataplane_iface import _SPEC_FIELDS

    assert tuple(f.name for f in dataclasses.fields(BindingSpec)) == _SPEC_FIELDS
    # of/renewed fill a _SpecSlots and re-class it: the layouts must stay identical.
    from dsmip6.dataplane_iface import _SpecSlots

    assert _SpecSlots.__slots__ == BindingSpec.__slots__ == _SPEC_FIELDS
    # No instance dict and no weakref slot on either (3.11.2's dataclass leaves a stale
    # ``__weakref__`` descriptor in the class dict without the slot: test the layout itself).
    assert not hasattr(_SpecSlots(), "__dict__")
    assert BindingSpec.__weakrefoffset__ == _SpecSlots.__weakrefoffset__ == 0
    assert BindingSpec.__dictoffset__ == _SpecSlots.__dictoffset__ == 0
    assert BindingSpec.__basicsize__ == _SpecSlots.__basicsize__
    spec = BindingSpec.of(HOA, NET, IPv4Address("192.0.2.1"), Encapsulation.UDP_IPV4, 8.0,
                          9.0, 65535, 3, None, 4500, 11, 12)  # fmt: skip
    assert (spec.udp_port, spec.sa_out, spec.sa_in, spec.sequence) == (4500, 11, 12, 65535)


def test_binding_spec_renewed_is_of_with_the_new_values():
    import dataclasses

    coa, v4 = IPv6Address("2001:db8:1::1"), IPv4Address("10.0.0.1")
    old = BindingSpec.of(HOA, NET, coa, Encapsulation.IP_IN_IPV6, 3600.0, 9.0, 7, 0xD400, v4)
    new = old.renewed(900.0, 19.0, 8)
    assert new == BindingSpec.of(HOA, NET, coa, Encapsulation.IP_IN_IPV6, 900.0, 19.0, 8,
                                 0xD400, v4)  # fmt: skip
    assert new is not old and old.sequence == 7  # the old one is untouched (frozen)
    assert type(new) is BindingSpec and hash(new) == hash(BindingSpec(*dataclasses.astuple(new)))
    with pytest.raises(FrozenInstanceError):
        new.lifetime = 1.0  # type: ignore[misc]
    assert new.care_of_address is coa and new.ipv4_home_address is v4
    with pytest.raises(ValueError, match="16-bit"):
        old.renewed(1.0, 1.0, 0x10000)
    with pytest.raises(ValueError, match="negative"):
        old.renewed(-1.0, 1.0, 1)


def test_binding_cache_renew_replaces_lifetime_expiry_sequence_and_object():
    from dsmip6.dataplane import BindingCache
    from dsmip6.errors import CacheError

    cache = BindingCache()
    coa = IPv6Address("2001:db8:1::1")
    old = BindingSpec.of(HOA, NET, coa, Encapsulation.IP_IN_IPV6, 3600.0, 50.0, 7)
    cache.add(old)
    new = old.renewed(900.0, 5.0, 8)
    cache.renew(new)
    assert cache.get(HOA) is new and cache.lookup(HOA + 1) is new and len(cache) == 1
    assert cache.expire(4.0) == [] and cache.expire(6.0) == [new]  # the new expiry counts
    with pytest.raises(CacheError):
        cache.renew(new)  # no binding any more


class _CountingDataPlane(RustDataPlane):
    def __init__(self):
        super().__init__()
        self.calls = []

    def update_binding(self, binding):
        self.calls.append("update")
        super().update_binding(binding)

    def renew_binding(self, binding):
        self.calls.append("renew")
        super().renew_binding(binding)

    def renew_fields(self, home_address, lifetime, expires_at, sequence):
        self.calls.append("renew")
        super().renew_fields(home_address, lifetime, expires_at, sequence)


def test_refresh_renews_and_a_move_updates_the_data_plane_entry():
    world = RealWorld(1)
    dp = _CountingDataPlane()
    ha = world.make_ha(dp)
    ue, clock = _registered(world, 0)
    pdn = ue._pdns["internet"]
    hoa, ha6 = ue.home_address("internet"), pdn.ha6
    v4 = _mh.Ipv4HoaOpt(ue.ipv4_home_address("internet"))
    seq = ue.sequence("internet")
    while ha.next_event() is not None:
        pass
    events = []
    for k, (coa_i, life) in enumerate([(0x77, 900), (0x77, 100), (0x78, 100), (0x78, 50)]):
        coa = IPv6Address("2001:db8:100::") + coa_i
        route = _mh.Route((str(coa), 0), (str(ha6), 0), coa, ha6, hao=hoa)
        bu = _mh.Bu(seq + 1 + k, life, alt_coa=coa, ipv4_hoa=v4)
        ha.receive_datagram(ue.signalling.encode(bu, route, pdn.sa_out), route.src, route.dst, 0)
        assert len(ha.datagrams_to_send(0)) == 1
        spec = dp.bindings.get(hoa)  # rebuilt from the Rust record (no object kept)
        assert spec == ha.binding(hoa).spec and spec.home_address == hoa
        assert (spec.care_of_address, spec.sequence, spec.lifetime) == (
            coa,
            seq + 1 + k,
            life * 4.0,
        )
        while (e := ha.next_event()) is not None:
            events.append(e)
    # 1st: the CoA moves (full update); 2nd: refresh; 3rd: moves again; 4th: refresh.
    assert dp.calls == ["update", "renew", "update", "renew"]
    assert [type(e).__name__ for e in events] == ["BindingUpdated"] * 4
    assert [e.moved for e in events] == [True, False, True, False]


def test_binding_updated_fast_constructor_is_the_event():
    from dsmip6.events import BindingUpdated, binding_updated

    coa = IPv6Address("2001:db8:1::1")
    fast, slow = binding_updated(HOA, coa, False, 900.0), BindingUpdated(HOA, coa, False, 900.0)
    assert type(fast) is BindingUpdated and fast == slow and hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    with pytest.raises(FrozenInstanceError):
        fast.moved = True  # type: ignore[misc]


def test_binding_created_fast_constructor_is_the_event():
    from dsmip6.events import BindingCreated, binding_created

    coa, v4 = IPv6Address("2001:db8:1::1"), IPv4Address("10.128.0.1")
    for four in (v4, None):
        fast = binding_created(HOA, coa, "0001@nai", four, 900.0)
        slow = BindingCreated(HOA, coa, "0001@nai", four, 900.0)
        assert type(fast) is BindingCreated and fast == slow and hash(fast) == hash(slow)
        assert repr(fast) == repr(slow)
    with pytest.raises(FrozenInstanceError):
        fast.lifetime = 1.0  # type: ignore[misc]


def test_ipv4_pool_allocate_int_is_allocate():
    a, b = Ipv4Pool(IPv4Network("10.0.0.0/29")), Ipv4Pool(IPv4Network("10.0.0.0/29"))
    for owner in ("x", "y", "x", "z"):
        assert IPv4Address(a.allocate_int(owner)) == b.allocate(owner)
    a.release("y")
    b.release("y")
    assert a.allocate_int("w") == int(b.allocate("w"))  # the released one, reused


# --- dsmip6._core.mhfast: the HA's BU/BA fast path against dsmip6.wire's own codec --------


def _wire_bu_fields(w, packet):
    """The fields mhfast.open_bu returns, read from dsmip6.wire.parse's layers the way
    WireSignalling.open/received read them (None: not a BU for the direct path)."""
    ip6 = hao = mh = None
    for layer in w.parse(packet).layers:
        if type(layer).__name__ in ("BindingUpdate", "BindingAcknowledgement"):
            mh = layer
            break
        if isinstance(layer, w.Ipv6Header):
            ip6 = layer
        elif isinstance(layer, w.DestinationOptions):
            for o in layer.options:
                if isinstance(o, w.HomeAddressOption):
                    hao = o.address
        elif isinstance(layer, w.Esp):
            return None
    if ip6 is None or not isinstance(mh, w.BindingUpdate):
        return None
    alt = v4hoa = v4coa = None
    plen = 32
    for o in mh.options:
        if isinstance(o, w.AlternateCareOfAddress):
            alt = int(IPv6Address(o.address))
        elif isinstance(o, w.Ipv4HomeAddress) and v4hoa is None:
            v4hoa, plen = int(IPv4Address(o.address)), o.prefix_len
        elif isinstance(o, w.Ipv4CareOfAddress):
            v4coa = int(IPv4Address(o.address))
    flags = (mh.a << 15) | (mh.h << 14) | (mh.l << 13) | (mh.k << 12) | (mh.m << 11)
    flags |= (mh.r << 10) | (mh.p << 9) | (mh.f << 8) | (mh.t << 7) | (mh.o << 6) | mh.reserved
    return (int(IPv6Address(ip6.src)), None if hao is None else int(IPv6Address(hao)),
            mh.sequence, mh.lifetime_4s, flags, alt, v4hoa, plen, v4coa)  # fmt: skip


def test_mhfast_open_bu_reads_what_the_wire_codec_parses():
    from dsmip6 import wire as w
    from dsmip6._core import mhfast

    src, ha6, hoa = "2001:db8:100::1", "2001:db8:ffff::1", str(HOA)
    opts_cases = [
        (),
        (w.AlternateCareOfAddress("2001:db8:100::9"),),
        (w.AlternateCareOfAddress("2001:db8:100::9"), w.AlternateCareOfAddress("::ffff:1.2.3.4"),
         w.Ipv4HomeAddress("10.0.0.7", 24), w.Ipv4HomeAddress("10.0.0.8"),
         w.Ipv4CareOfAddress("192.0.2.1"), w.Ipv4CareOfAddress("192.0.2.2")),
        (w.Ipv4HomeAddress("0.0.0.0"), w.BindingRefreshAdvice(3)),
    ]  # fmt: skip
    packets = []
    for i, opts in enumerate(opts_cases):
        for flags in (
            {},
            {"a": True, "h": True, "l": True, "k": True, "r": True, "f": True},
            {"h": True, "m": True, "p": True, "t": True, "o": True, "reserved": 5},
        ):
            bu = w.BindingUpdate(0xFFF0 + i, 900 + i, options=opts, **flags)
            packets.append(w.build([w.Ipv6Header(src, ha6), bu]))
            hao_opt = w.DestinationOptions([w.HomeAddressOption(hoa)])
            packets.append(w.build([w.Ipv6Header(src, ha6), hao_opt, bu]))
    # Not a BU for the direct path: another message, nothing but IPv6, ESP before the MH.
    ba = w.BindingAcknowledgement(0, 1, 2)
    others = [
        w.build([w.Ipv6Header(ha6, src), w.RoutingHeaderType2(hoa), ba]),
        w.build([w.Ipv6Header(ha6, src), w.Esp(7, 1, b"\x00" * 16)]),
        b"\x60" + bytes(39),  # an empty IPv6 packet: valid, no MH
    ]
    for p in packets + others:
        want = _wire_bu_fields(w, p)
        assert mhfast.open_bu(p) == want
    assert all(mhfast.open_bu(p) is not None for p in packets)
    assert all(mhfast.open_bu(p) is None for p in others)
    # Malformed input: the very exception (type and arguments) wire.parse raises.
    bad_checksum = bytearray(packets[1])
    bad_checksum[-1] ^= 0xFF
    for bad in (packets[1][:50], bytes(bad_checksum), b"\x50" + bytes(39), packets[0][:-1]):
        with pytest.raises(Exception) as want:
            w.parse(bad)
        with pytest.raises(Exception) as got:
            mhfast.open_bu(bad)
        assert type(got.value) is type(want.value) and got.value.args == want.value.args


def test_mhfast_ba_packet_is_the_wire_codec_build():
    from itertools import product

    from dsmip6 import wire as w
    from dsmip6._core import mhfast

    ha6, coa, hoa = IPv6Address("2001:db8:ffff::1"), IPv6Address("::ffff:1.2.3.4"), HOA
    n = 0
    for rh2, advice, ack, nat, k, r in product(
        (None, hoa), (None, 5), (None, (0, 32, 0x0A000001), (130, 24, 0)),
        (None, (True, 20), (False, 0xFFFFFFFF)), (False, True), (False, True),
    ):  # fmt: skip
        opts = []
        if advice is not None:
            opts.append(w.BindingRefreshAdvice(advice))
        if ack is not None:
            opts.append(w.Ipv4AddressAcknowledgement(ack[0], ack[1], str(IPv4Address(ack[2]))))
        if nat is not None:
            opts.append(w.NatDetection(*nat))
        layers = [w.Ipv6Header(str(ha6), str(coa))]
        if rh2 is not None:
            layers.append(w.RoutingHeaderType2(str(rh2)))
        layers.append(w.BindingAcknowledgement(135, 0xBEEF, 77, k=k, r=r, options=opts))
        got = mhfast.ba_packet(int(ha6), int(coa), None if rh2 is None else int(rh2), 135,
                               0xBEEF, 77, k, r, advice, ack, nat)  # fmt: skip
        assert got == w.build(layers)
        n += 1
    assert n == 2 * 2 * 3 * 3 * 2 * 2
    with pytest.raises(ValueError):
        mhfast.ba_packet(int(ha6), int(coa), None, 0, 1, 1, False, False, None, (0, 33, 1), None)


def test_mhfast_sa_pair_is_the_two_compact_sas():
    """MhSaPair protects with the outbound SA and unprotects with the inbound one: the same
    octets and the same checks (replay, ICV, unknown algorithm) as two EspSa objects."""
    from dsmip6._core.mhfast import MhSaPair

    ha6 = IPv6Address("2001:db8:a::1")
    key_in, key_out = bytes(range(20)), bytes(range(100, 120))
    ue_out = SaSpec(0x1111, "out", "transport", "aes-gcm-128", key_in, HOA, ha6, protocol=135)
    ue_in = SaSpec(0x2222, "in", "transport", "aes-gcm-128", key_out, ha6, HOA, protocol=135)
    ha_out = SaSpec(0x2222, "out", "transport", "aes-gcm-128", key_out, ha6, HOA, protocol=135)
    pair = MhSaPair("transport", "aes-gcm-128", False, 0x1111, key_in, None, 0x2222, key_out, None)
    assert (pair.spi, pair.spi_out) == (0x1111, 0x2222)
    sig = _mh.WireSignalling()
    bu = sig.encode(_mh.Bu(1, 10), _mh.Route(("::", 0), ("::", 0), HOA, ha6), None)
    ba = sig.encode(_mh.Ba(0, 1, 10), _mh.Route(("::", 0), ("::", 0), ha6, HOA), None)
    ue_tx, ue_rx, ref_tx = EspSa(ue_out), EspSa(ue_in), EspSa(ha_out)
    for _ in range(3):
        sent = ue_tx.protect(bu)
        assert pair.unprotect(sent) == bu
        with pytest.raises(ReplayedPacket):
            pair.unprotect(sent)
        reply = pair.protect(ba)
        assert reply == ref_tx.protect(ba)  # same SPI, key, sequence number: same octets
        assert ue_rx.unprotect(reply) == ba
    bad = bytearray(ue_tx.protect(bu))
    bad[-1] ^= 1
    with pytest.raises(IntegrityCheckFailed):
        pair.unprotect(bytes(bad))
    with pytest.raises(ValueError):
        MhSaPair("transport", "rot13", False, 1, key_in, None, 2, key_out, None)


def test_c_formatter_matches_ipaddress_str_outside_the_dotted_ranges():
    """The HA writes a CoA with inet_ntop instead of str(IPv6Address) (the IKE endpoint
    after K=1) except in ::/96 and ::ffff:0:0/96: the texts agree everywhere else."""
    import random

    from dsmip6.ha import _t6

    r = random.Random(5)
    checked = 0
    for _ in range(30000):
        v = 0
        for k in range(8):  # zero runs of every length and position
            if r.random() < 0.5:
                v |= r.getrandbits(16) << (16 * k)
        if v >> 32 in (0, 0xFFFF):
            continue
        assert _t6(v) == str(IPv6Address(v))
        checked += 1
    assert checked > 25000
    assert _t6(int(IPv6Address("::ffff:1.2.3.4"))) != str(IPv6Address("::ffff:1.2.3.4"))


def test_cached_ike_response_is_kept_until_the_first_bu_then_dropped():
    """RFC 7296 §2.1: a retransmitted request gets the cached response again. The HA keeps the
    response that carried the UE's signalling SA until a BU authenticated by that SA arrives
    (the UE then provably has the response: the SA's inbound SPI travelled only in it); after
    that the cache is gone and a late copy of the request is dropped (§2.3)."""
    world = RealWorld(1)
    ha = world.make_ha(RustDataPlane())
    ue = world.make_ue(0)
    ue.set_access(coa6=IPv6Address("2001:db8:100::1"))
    ue.attach("internet", 0.0)
    last_ike: tuple[bytes, tuple, tuple] | None = None
    held: list[tuple[bytes, tuple, tuple]] = []
    for _ in range(30):  # run IKE to completion, holding back the Mobility Header
        moved = 0
        for d, s, t in ue.datagrams_to_send(0.0):
            if t[1] in (500, 4500):
                last_ike = (d, s, t)
                ha.receive_datagram(d, s, t, 0.0)
            else:
                held.append((d, s, t))
            moved += 1
        for d, s, t in ha.datagrams_to_send(0.0):
            ue.receive_datagram(d, s, t, 0.0)
            moved += 1
        if not moved:
            break
    assert held and last_ike is not None  # the BU waits; the IKE exchanges are over
    (session,) = ha._sessions.values()
    ike_id = session.ike_sa_id
    mid = ha.ike.last_response_id(ike_id)
    assert mid is not None and session.ike_mid == mid
    # Before the BU: the last request retransmitted gets the very same response octets.
    ha.receive_datagram(*last_ike, 0.0)
    first = ha.datagrams_to_send(0.0)
    ha.receive_datagram(*last_ike, 0.0)
    again = ha.datagrams_to_send(0.0)
    assert len(first) == 1 and first == again
    # The BU under the signalling SA: the cache goes, the registration goes on unchanged.
    for d, s, t in held:
        ha.receive_datagram(d, s, t, 0.0)
    assert len(ha.datagrams_to_send(0.0)) == 1  # the BA
    assert len(ha.bindings()) == 1
    assert ha.ike.last_response_id(ike_id) is None and session.ike_mid is None
    ha.receive_datagram(*last_ike, 0.0)
    assert ha.datagrams_to_send(0.0) == []  # below the window now: dropped, no answer
    # Later exchanges still work (a new request gets a new, cached response).
    ha.ike.liveness_check(ike_id, 1.0)
    for _ in range(5):
        for d, s, t in ha.datagrams_to_send(1.0):
            ue.receive_datagram(d, s, t, 1.0)
        for d, s, t in ue.datagrams_to_send(1.0):
            ha.receive_datagram(d, s, t, 1.0)
    assert ha.ike.endpoints(ike_id) is not None


def test_drop_cached_response_only_drops_the_named_one():
    """The IKE side forgets only the response to the Message ID it is told about, on a
    working SA as on a parked SA record."""
    from dsmip6.ikev2.sa import IkeSa, ParkedSa, cached_response_id, drop_cached_response

    world = RealWorld(1)
    world.make_ha(RustDataPlane())
    ue, clock = _registered(world, 0)
    ha = world.ha
    (ike_id,) = [s.ike_sa_id for s in ha._sessions.values()]
    assert ha.ike.last_response_id(ike_id) is None  # released by the BU of the attach
    assert type(ha.ike._sas[ike_id]) is ParkedSa
    # A UE-initiated exchange (its liveness check) leaves a cached response at the HA.
    ue._pdns["internet"].ike.liveness_check(1.0)
    for d, s, t in ue.datagrams_to_send(1.0):
        ha.receive_datagram(d, s, t, 1.0)
    entry = ha.ike._sas[ike_id]
    assert type(entry) in (IkeSa, ParkedSa)
    mid = cached_response_id(entry)
    assert mid is not None and ha.ike.last_response_id(ike_id) == mid
    assert not drop_cached_response(entry, mid - 1)
    assert cached_response_id(entry) == mid
    answer = ha.datagrams_to_send(1.0)
    assert len(answer) == 1
    parked = ha.ike._sas[ike_id]
    assert type(parked) is ParkedSa and cached_response_id(parked) == mid
    assert not ha.ike.response_delivered(ike_id, mid + 1)
    assert cached_response_id(parked) == mid
    assert ha.ike.response_delivered(ike_id, mid)
    assert cached_response_id(parked) is None and ha.ike.last_response_id(ike_id) is None
    assert not ha.ike.response_delivered(ike_id, mid)  # nothing left to drop
    for d, s, t in answer:
        ue.receive_datagram(d, s, t, 1.0)
    roundtrip_until_done(ue, ha, clock)
    assert ue._pdns["internet"].ike.established and len(ha.bindings()) == 1
    # The working-SA form (a thawed copy, the engine is not used after this): the cache
    # lives in its exchange manager.
    from dsmip6.ikev2.sa import park, thaw

    ue._pdns["internet"].ike.liveness_check(2.0)
    for d, s, t in ue.datagrams_to_send(2.0):
        ha.receive_datagram(d, s, t, 2.0)
    ha.datagrams_to_send(2.0)
    work = thaw(ha.ike._sas[ike_id], ha.ike)
    mid = cached_response_id(work)
    assert mid is not None and work.mgr.last_response is not None
    assert not drop_cached_response(work, mid + 1) and work.mgr.last_response is not None
    assert drop_cached_response(work, mid) and work.mgr.last_response is None
    assert cached_response_id(work) is None and park(work, None).last_packets is None


def test_parked_child_sa_record_gives_back_the_same_child(monkeypatch):
    """A parked IKE SA keeps each child SA as one bytes record; reading it back yields an
    equal ChildSa (SPIs, mode, algorithm, the four keys, selectors, flags), for every
    combination the record encodes."""
    import dataclasses

    from dsmip6.ikev2 import sa as ike_sa
    from dsmip6.ikev2.sa import _pack_child, _unpack_child

    # fresh shared-selector tables: what earlier tests packed does not count here
    monkeypatch.setattr(ike_sa, "_TS_TABLE", [])
    monkeypatch.setattr(ike_sa, "_TS_INDEX", {})
    monkeypatch.setattr(ike_sa, "_TS_SEEN", {})

    cases = _sample_children()
    sizes = []
    for c in cases:  # packing one child again does not count as a second child
        assert len(_pack_child(c)) == len(_pack_child(c))
    cases = [
        *cases,
        *(dataclasses.replace(c, spi_in=c.spi_in + 1000) for c in cases),
        *(dataclasses.replace(c, spi_in=c.spi_in + 2000) for c in cases),
    ]
    for c in cases:  # a selector list seen in two children is then shared: shorter records
        packed = _pack_child(c)
        assert type(packed) is bytes
        sizes.append(len(packed))
        back = _unpack_child(packed)
        assert back == c
        assert (back.key_in, back.key_out) == (c.key_in, c.key_out)
        assert (back.integrity_key_in, back.integrity_key_out) == (
            c.integrity_key_in,
            c.integrity_key_out,
        )
        assert back.ts_i == c.ts_i and back.ts_r == c.ts_r and back.udp_encap == c.udp_encap
    assert sizes[6:] == sizes[3:6]
    assert all(b < a for a, b in zip(sizes[:3], sizes[3:6], strict=True))


def _sample_children():
    """Three child SAs covering what a record encodes: transport and tunnel, AEAD, CBC +
    HMAC and NULL keys, integrity keys in either direction or none, ESN, UDP ports, IPv6,
    IPv4 and prefix selectors."""
    from dsmip6.ikev2.child import ChildSa
    from dsmip6.ikev2.message import TrafficSelector

    v6 = TrafficSelector.mobility_header(HOA)
    net = TrafficSelector.for_network(NET, protocol=135)
    v4 = TrafficSelector(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.9"), 17, 5, 9)
    return [
        ChildSa(0x1234, 0xFFFFFFFF, "transport", "aes-gcm-128", bytes(range(20)),
                bytes(range(20, 40)), None, None, (net,), (v6,), False),
        ChildSa(0x100, 0x101, "tunnel", "aes-cbc-hmac-sha256", bytes(range(16)),
                bytes(range(16, 32)), bytes(32), bytes(range(32)), (v6, v4),
                (TrafficSelector.any(4),), True, esn=True, udp_encap=(4500, 61000)),
        ChildSa(7, 8, "transport", "null", b"", b"", bytes(32), None, (v4,), (v4, net), True,
                udp_encap=(0, 0)),
    ]  # fmt: skip


def _child_record_twin_cases():
    import dataclasses

    from dsmip6.ikev2.child import ChildSa
    from dsmip6.ikev2.message import TrafficSelector

    net = TrafficSelector.for_network(NET, protocol=135)
    base = [
        *_sample_children(),
        ChildSa(9, 10, "tunnel", "chacha20-poly1305", bytes(36), bytes(range(36)), None,
                bytes(3), (net,), (net,), False, esn=True),
    ]  # fmt: skip
    shared_r = (TrafficSelector.mobility_header(IPv6Address("2001:db8:a::1")),)
    out = []
    for k in range(4):  # the HA-side TSr object shared by every child: the inline hit
        for c in base:
            out.append(dataclasses.replace(c, spi_in=c.spi_in + 1000 * k))
            out.append(dataclasses.replace(c, spi_in=c.spi_in + 1000 * k + 1, ts_r=shared_r))
    return out


def _child_record_tables(monkeypatch, ike_sa):
    fresh = {"_TS_TABLE": [], "_TS_INDEX": {}, "_TS_SEEN": {}, "_TS_SHARED": {},
             "_CHILD_ALGS": [], "_CHILD_ALG_INDEX": {}}  # fmt: skip
    for name, value in fresh.items():
        monkeypatch.setattr(ike_sa, name, value)


def _reference_record(ike_sa, c):
    r = ike_sa._pack_child(c)
    return len(r).to_bytes(2, "big") + r


def test_park_child_record_is_the_length_prefixed_pack_child(monkeypatch):
    """``_child_record`` (what ``park`` writes per child) against the general writer
    ``len(_pack_child(c)) + _pack_child(c)``, each from the same fresh shared tables over
    the same sequence of children (selector lists becoming shared, the inline TSr hit, new
    algorithms, every flag): the same octets at every step, the same tables after, and the
    record reads back as the child. A record writer with a planted bug (the flags of the
    integrity keys swapped) is told apart by the same comparison."""
    from dsmip6.ikev2 import sa as ike_sa

    cases = _child_record_twin_cases()
    _child_record_tables(monkeypatch, ike_sa)
    expect = [_reference_record(ike_sa, c) for c in cases]
    tables = (list(ike_sa._TS_TABLE), dict(ike_sa._TS_INDEX), dict(ike_sa._TS_SEEN),
              list(ike_sa._CHILD_ALGS))  # fmt: skip
    _child_record_tables(monkeypatch, ike_sa)
    got = [ike_sa._child_record(c) for c in cases]
    assert got == expect
    assert (list(ike_sa._TS_TABLE), dict(ike_sa._TS_INDEX), dict(ike_sa._TS_SEEN),
            list(ike_sa._CHILD_ALGS)) == tables  # fmt: skip
    assert any(len(r) < len(expect[0]) for r in got)  # some selector lists became shared
    for c, r in zip(cases, got, strict=True):
        assert int.from_bytes(r[:2], "big") == len(r) - 2
        assert ike_sa._unpack_child(r[2:]) == c

    # planted bug: the integrity-key flags swapped
    def buggy(c):
        r = bytearray(ike_sa._child_record(c))
        f = r[10]
        r[10] = (f & ~48) | ((f & 16) << 1) | ((f & 32) >> 1)
        return bytes(r)

    _child_record_tables(monkeypatch, ike_sa)
    assert [buggy(c) for c in cases] != expect


def test_parked_sa_blob_is_unchanged_by_the_child_record_writer(monkeypatch):
    """A whole parked IKE SA of an attached UE: ``park`` (children through
    ``_child_record``) writes the blob the general writer gives (children through
    ``_pack_child``), and thaws back to the same children."""
    from dsmip6.ikev2 import sa as ike_sa

    world = RealWorld(1)
    ha = world.make_ha(RustDataPlane())
    ue = world.make_ue(0)
    ue.set_access(coa6=IPv6Address("2001:db8:100::1"))
    clock = VirtualClock()
    ue.attach("internet", clock.now)
    roundtrip_until_done(ue, ha, clock)
    assert len(ha.bindings()) == 1
    (ike_id,) = list(ha.ike._sas)
    work = ike_sa.thaw(ha.ike._sas[ike_id], ha.ike)
    children = dict(work.children)
    assert len(children) == 2  # the IKE_AUTH child and the HoA-keyed MH child
    fast = ike_sa.park(work, None).blob
    monkeypatch.setattr(ike_sa, "_child_record", lambda c: _reference_record(ike_sa, c))
    general = ike_sa.park(work, None)
    assert general.blob == fast
    assert ike_sa.thaw(general, ha.ike).children == children


def test_for_network_leaves_the_network_object_untouched():
    """``TrafficSelector.for_network`` computes the last address itself: the HA's per-UE
    prefix objects gain no cached attributes (dict, mask, broadcast address) from it."""
    from dsmip6.ikev2.message import TrafficSelector

    net = IPv6Network("2001:db8:8000:5::/64")
    ts = TrafficSelector.for_network(net)
    assert "broadcast_address" not in vars(net) and "hostmask" not in vars(net)
    assert (ts.start, ts.end) == (net.network_address, net[-1])
    v4 = IPv4Network("10.1.0.0/16")
    t4 = TrafficSelector.for_network(v4, protocol=6)
    assert (t4.start, t4.end, t4.protocol) == (v4.network_address, v4.broadcast_address, 6)
    t = TrafficSelector.for_network("2001:db8::/127")
    assert (str(t.start), str(t.end)) == ("2001:db8::", "2001:db8::1")


def test_spi_set_behaves_as_a_set():
    """The engine's compact child-SPI set against a plain ``set`` over random adds,
    discards (deleted marks, rehashing), sequential SPIs and the reserved range."""
    import random

    from dsmip6.ikev2.sa import SpiSet

    rng = random.Random(5)
    s, ref = SpiSet(), set()
    for step in range(20000):
        spi = rng.choice(
            (rng.randrange(256, 1 << 32), 256 + step % 3000, rng.choice([256, 0xFFFFFFFF]))
        )
        if rng.random() < 0.6:
            s.add(spi)
            ref.add(spi)
        else:
            s.discard(spi)
            ref.discard(spi)
        if step % 997 == 0:
            assert sorted(s) == sorted(ref) and len(s) == len(ref)
        probe = rng.randrange(256, 1 << 32)
        assert (probe in s) == (probe in ref) and (spi in s) == (spi in ref)
    assert sorted(s) == sorted(ref)
    for spi in list(ref):
        s.discard(spi)
    assert len(s) == 0 and list(s) == [] and 300 not in s
    for bad in (0, 1, 255, 1 << 32, -5):
        assert bad not in s
        s.discard(bad)  # no-op
        with pytest.raises(ValueError):
            s.add(bad)
    assert "300" not in s  # type: ignore[operator]


_SA_FIELDS = (
    "id", "original_initiator", "local", "remote", "reply_to", "last_heard", "established_at",
    "state", "spi_i", "spi_r", "prf", "encr", "integ", "dh_group", "sk_d", "peer_id",
    "eap_identity", "assignment", "home_prefix", "prefix_lifetime", "home_address",
    "ha_addresses", "internal_ip4", "children", "nat_local", "nat_remote", "fragmentation",
    "peer_redirect_supported", "peer_certreq", "rekey_started", "cp_failed", "failure_reason",
    "init_done", "authenticated",
)  # fmt: skip


def _sa_state(sa):
    """Everything a parked SA must give back, with the types of the values."""
    sk = sa.sk
    out = {name: getattr(sa, name) for name in _SA_FIELDS}
    out["types"] = tuple(type(v).__name__ for v in out.values())
    out["mgr"] = (sa.mgr.next_mid, sa.mgr.expected_mid, sa.mgr.last_response)
    out["sk"] = (sk.encr, sk.integ, sk._out_e, sk._out_a, sk._in_e, sk._in_a, sk._iv_counter)
    return out


def _one_parked_sa():
    """A real HA with one registered UE, and that UE's IKE SA as the HA keeps it: parked, in
    the packed form (no loose values)."""
    from dsmip6.ikev2.sa import ParkedSa

    world = RealWorld(1)
    world.make_ha(RustDataPlane())
    _registered(world, 0)
    ha = world.ha
    (ike_id,) = [s.ike_sa_id for s in ha._sessions.values()]
    parked = ha.ike._sas[ike_id]
    assert type(parked) is ParkedSa and parked.rest is None
    return ha, parked


def test_parked_sa_gives_back_every_value_exactly():
    """park/thaw round trip on a real HA-side IKE SA: the packed form (SPIs, Message IDs, IV
    counter, times, the peer's endpoint, keys, peer ID, children, the Assignment rebuilt from
    the shared prefix and HA addresses) and the loose form (values that do not pack
    losslessly: an IPv4 or non-canonical endpoint text, a reply-to pair, int times, an HA
    assigned HoA, a failure reason, an ID without a realm) give back equal values of the
    same types."""
    import dataclasses

    from dsmip6.ikev2.message import IdPayload
    from dsmip6.ikev2.sa import park, thaw

    ha, parked = _one_parked_sa()
    assert parked.eap_identity == next(iter(ha._sessions.values())).owner[0]
    sa = thaw(parked, ha.ike)
    assert sa.assignment is not None and sa.peer_id is not None and len(sa.children) == 2
    assert b"@" in sa.peer_id.data and parked.remote == sa.remote
    want = _sa_state(sa)
    again = thaw(park(sa, 7.0), ha.ike)
    assert _sa_state(again) == want
    # A second park of equal values shares the local endpoint tuple (one per HA address).
    assert park(again, None).local is park(thaw(park(again, None), ha.ike), None).local
    variants = [
        {"remote": ("198.51.100.7", 4500)},
        {"remote": ("2001:DB8::7", 500)},  # not RFC 5952 text: kept as it is
        {"remote": ("::ffff:198.51.100.7", 500)},
        {"reply_to": (("2001:db8:a::1", 500), ("2001:db8:100::9", 500))},
        {"last_heard": 5, "established_at": 0},
        {"failure_reason": "x"},
        {"home_address": HOA},
        {"assignment": dataclasses.replace(sa.assignment, prefix_lifetime=3600)},
        {"prefix_lifetime": None},
        {"ha_addresses": ()},
        {"home_prefix": None},
        {"assignment": None, "home_prefix": None, "ha_addresses": (), "prefix_lifetime": None},
        {"peer_id": IdPayload(2, b"ue.example.org")},
        {"peer_id": IdPayload(3, b"0001@" + b"r" * 129)},  # a long realm: not in the table
        {"peer_id": IdPayload(3, b"@@x@")},
        {"peer_id": None},
    ]
    for change in variants:
        work = thaw(park(thaw(park(sa, None), ha.ike), None), ha.ike)
        for name, value in change.items():
            setattr(work, name, value)
        expect = _sa_state(work)
        p = park(work, 3.0)
        assert p.remote == expect["remote"] and p.last_heard == expect["last_heard"]
        assert p.assignment == expect["assignment"] and p.spi_r == expect["spi_r"]
        # the single-field readers against the whole head, and against the working SA
        head = p._head()
        assert (p.next_mid, p.expected_mid, p.iv, p.flags) == head[2:6]
        assert (p.next_mid, p.expected_mid) == (work.mgr.next_mid, work.mgr.expected_mid)
        assert p.our_spi == work.our_spi
        back = thaw(p, ha.ike)
        assert _sa_state(back) == expect, change
        assert _sa_state(thaw(park(back, None), ha.ike)) == expect, change


def test_prefix_selectors_pack_short_and_exact(monkeypatch):
    """A selector list of one IPv6 prefix range (the HNP, or one address: the HoA-keyed MH
    selector) packs to 23 octets and reads back equal; other ranges keep the full body."""
    from dsmip6.ikev2 import sa as ike_sa
    from dsmip6.ikev2.message import TrafficSelector

    monkeypatch.setattr(ike_sa, "_TS_TABLE", [])
    monkeypatch.setattr(ike_sa, "_TS_INDEX", {})
    monkeypatch.setattr(ike_sa, "_TS_SEEN", {})
    cases = [
        (TrafficSelector.mobility_header(HOA),),
        (TrafficSelector.for_network(NET, protocol=135),),
        (TrafficSelector.for_network(IPv6Network("::/0")),),
        (TrafficSelector(IPv6Address("2001:db8::"), IPv6Address("2001:db8::ff"), 17, 1, 2),),
    ]
    short = [
        (TrafficSelector(IPv6Address("2001:db8::1"), IPv6Address("2001:db8::2")),),  # 2 addr
        (TrafficSelector(IPv6Address("2001:db8::1"), IPv6Address("2001:db8::4")),),  # unaligned
        (TrafficSelector.mobility_header(HOA), TrafficSelector.mobility_header(HOA + 1)),
    ]
    for i, ts in enumerate(cases + short):
        packed = ike_sa._pack_ts(ts, 1000 + i)
        assert (len(packed) == 23) == (i < len(cases)), ts
        back, end = ike_sa._unpack_ts(packed + b"tail", 0)
        assert back == ts and end == len(packed)


def test_compact_binding_cache_keeps_no_object_and_rebuilds_equal_specs():
    import sys

    from dsmip6.dataplane import BindingCache
    from dsmip6.errors import CacheError

    cache = BindingCache(keep_objects=False)
    coa4, v4 = IPv4Address("192.0.2.7"), IPv4Address("10.0.0.9")
    net1, net2 = IPv6Network("2001:db8:8001::/64"), IPv6Network("2001:db8:8002::/64")
    specs = [
        BindingSpec.of(
            HOA,
            NET,
            IPv6Address("2001:db8:1::1"),
            Encapsulation.IP_IN_IPV6,
            3600.0,
            50.25,
            7,
            0xD400,
            v4,
            None,
            0x1001,
            0x2002,
        ),
        BindingSpec.of(
            net1[5], net1, coa4, Encapsulation.UDP_IPV4, 900.0, 9.5, 65535, 0xC000, None, 40001
        ),
        BindingSpec.of(net2[5], net2, coa4, Encapsulation.IP_IN_IPV4, 4.0, 1.0, 0, 0xC000),
    ]
    for s in specs:
        before = sys.getrefcount(s)
        cache.add(s)
        assert sys.getrefcount(s) == before  # the cache holds no reference to it
    for s in specs:
        got = cache.get(s.home_address)
        assert got == s and got is not s and type(got) is BindingSpec
        assert s.home_address in cache
    assert cache.lookup(v4) == specs[0] and cache.lookup(NET.network_address + 99) is not None
    assert sorted(cache, key=lambda b: b.home_address) == specs
    assert cache.lookup_inbound(coa4, udp_port=40001) == specs[1]
    cache.renew_fields(HOA, 1200.0, 60.5, 8)
    assert cache.get(HOA) == specs[0].renewed(1200.0, 60.5, 8)
    cache.update(specs[1].renewed(4.0, 2.0, 1))
    gone = sorted(cache.expire(3.0), key=lambda b: b.home_address)
    assert gone == [specs[1].renewed(4.0, 2.0, 1), specs[2]] and len(cache) == 1
    assert cache.remove(HOA) == specs[0].renewed(1200.0, 60.5, 8) and len(cache) == 0
    with pytest.raises(CacheError):
        cache.renew_fields(HOA, 1.0, 1.0, 1)
    with pytest.raises(ValueError, match="keep_objects"):
        BindingCache().renew_fields(HOA, 1.0, 1.0, 1)


def test_real_data_plane_keeps_no_binding_object():
    import sys

    dp = RustDataPlane()
    spec = BindingSpec.of(HOA, NET, IPv6Address("2001:db8:1::1"), Encapsulation.IP_IN_IPV6,
                          3600.0, 50.0, 7)  # fmt: skip
    before = sys.getrefcount(spec)
    dp.add_binding(spec)
    assert sys.getrefcount(spec) == before and dp.bindings.get(HOA) == spec
    dp.renew_fields(int(HOA), 900.0, 60.0, 8)
    assert dp.bindings.get(HOA) == spec.renewed(900.0, 60.0, 8)
    assert dp.counters()["bindings_updated"] == 1


# ---- the IKE SA of an attach is not parked between IKE_AUTH and CREATE_CHILD_SA
_CREATE_CHILD_SA = 36  # RFC 7296 §3.1 exchange type


def _attach_holding_back_ccsa(world, i, now):
    """Attach UE ``i`` up to (excluding) the HA's receipt of its CREATE_CHILD_SA request for
    the HoA-keyed MH SA (RFC 5026 §5.3.2); returns the UE and that request."""
    ha = world.ha
    ue = world.make_ue(i)
    ue.set_access(coa6=IPv6Address("2001:db8:100::1") + i)
    ue.attach("internet", now)
    held = None
    for _ in range(20):
        moved = 0
        for d, s, t in ue.datagrams_to_send(now):
            if t[1] == 500 and d[18] == _CREATE_CHILD_SA:
                held = (d, s, t)
                continue
            ha.receive_datagram(d, s, t, now)
            moved += 1
        for d, s, t in ha.datagrams_to_send(now):
            ue.receive_datagram(d, s, t, now)
            moved += 1
        if not moved:
            break
    assert held is not None and ha.session_count() == 1
    return ue, held


def test_new_ike_sa_stays_working_until_create_child_sa_then_parks():
    from dsmip6.ha import IKE_PARK_HOLD
    from dsmip6.ikev2.sa import IkeSa, ParkedSa

    world = RealWorld(1)
    ha = world.make_ha(RustDataPlane())
    assert ha.ike.park_hold == IKE_PARK_HOLD > 0
    thaws = []
    real_thaw = ha.ike._thaw
    ha.ike._thaw = lambda parked: thaws.append(parked.id) or real_thaw(parked)
    ue, (d, s, t) = _attach_holding_back_ccsa(world, 0, 10.0)
    (ike_id,) = [x.ike_sa_id for x in ha._sessions.values()]
    assert type(ha.ike._sas[ike_id]) is IkeSa  # held: IKE_AUTH just ended
    assert ha.get_timer() == 10.0 + IKE_PARK_HOLD  # bounded: its hold deadline
    ha.receive_datagram(d, s, t, 11.0)
    assert type(ha.ike._sas[ike_id]) is ParkedSa and thaws == []  # parked once, no thaw
    clock = VirtualClock()
    clock.now = 11.0
    roundtrip_until_done(ue, ha, clock)
    assert len(ha.bindings()) == 1 and type(ha.ike._sas[ike_id]) is ParkedSa
    assert thaws == [] and ha.ike._held == set()
    assert ha.get_timer() is not None and ha.get_timer() > 11.0 + IKE_PARK_HOLD  # lifetime


def test_ike_sa_without_create_child_sa_is_parked_at_its_hold_deadline():
    from dsmip6.ha import IKE_PARK_HOLD
    from dsmip6.ikev2.sa import IkeSa, ParkedSa

    world = RealWorld(1)
    ha = world.make_ha(RustDataPlane())
    ue, (d, s, t) = _attach_holding_back_ccsa(world, 0, 0.0)
    (ike_id,) = [x.ike_sa_id for x in ha._sessions.values()]
    ha.handle_timer(IKE_PARK_HOLD - 0.5)
    assert type(ha.ike._sas[ike_id]) is IkeSa
    assert ha.get_timer() == IKE_PARK_HOLD
    ha.handle_timer(IKE_PARK_HOLD)
    assert type(ha.ike._sas[ike_id]) is ParkedSa and ha.ike._held == set()
    assert ha.get_timer() is None  # nothing left to run: no lifetime/DPD configured
    # The late request still works: thawed, answered, parked again.
    ha.receive_datagram(d, s, t, 6.0)
    assert type(ha.ike._sas[ike_id]) is ParkedSa
    clock = VirtualClock()
    clock.now = 6.0
    for out in ha.datagrams_to_send(6.0):
        ue.receive_datagram(*out, 6.0)
    roundtrip_until_done(ue, ha, clock)
    assert len(ha.bindings()) == 1 and type(ha.ike._sas[ike_id]) is ParkedSa


def test_engine_without_park_hold_parks_at_once():
    """The engine's default (no hold): parked as IKE_AUTH ends, as before."""
    from dsmip6.ikev2.sa import ParkedSa

    world = RealWorld(1)
    ha = world.make_ha(RustDataPlane())
    ha.ike.park_hold = 0.0
    _attach_holding_back_ccsa(world, 0, 0.0)
    (ike_id,) = [x.ike_sa_id for x in ha._sessions.values()]
    assert type(ha.ike._sas[ike_id]) is ParkedSa and ha.ike._held is None


def _mh_selector_mismatches(fn) -> list[str]:
    """Cases where ``fn`` (an ``ha_mh_selectors``) differs from the general reading of
    ``_ike.translate`` (``_single_address`` of each side, RFC 4877 §4.4)."""
    from types import SimpleNamespace

    from dsmip6 import _ike
    from dsmip6.ikev2.message import TrafficSelector

    hoa, ha, other = HOA, IPv6Address("2001:db8:a::1"), IPv6Address("2001:db8:8000::6")
    sels = [
        TrafficSelector(hoa, hoa, 135),
        TrafficSelector(ha, ha, 135),
        TrafficSelector(hoa, other, 135),  # a range
        TrafficSelector(NET[0], NET[-1], 0),  # the HNP-wide child of IKE_AUTH
        TrafficSelector(hoa, hoa, 58),  # the MPD SA's (ICMPv6)
        TrafficSelector(hoa, hoa, 0),
        SimpleNamespace(start=str(hoa), end=str(hoa), protocol=135),  # loose values
        SimpleNamespace(start=hoa, end=hoa, protocol=_Proto135()),
        TrafficSelector(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.1"), 135),
    ]
    lists = [(s,) for s in sels] + [(sels[3], sels[0]), (sels[0], sels[1]), ()]
    lists += [[sels[0]], [sels[3]]]
    out = []
    for ts_i in lists:
        for ts_r in lists:
            ev = SimpleNamespace(child=SimpleNamespace(ts_i=ts_i, ts_r=ts_r))
            a, b = _ike._single_address(ts_i), _ike._single_address(ts_r)
            want = None if a is None or b is None else (a, b)
            if fn(ev) != want:
                out.append(f"{ts_i!r} / {ts_r!r}")
    return out


class _Proto135(int):
    """A protocol number that is not exactly ``int`` (the inline path leaves it alone)."""

    def __new__(cls) -> "_Proto135":
        return super().__new__(cls, 135)


def test_ha_mh_selectors_equals_the_general_reading(monkeypatch):
    """The inline reading (exact types, protocol first) gives what ``_single_address`` of
    both sides gives, for the MH SA, the HNP-wide child, the MPD SA, ranges, IPv4, loose
    values, several selectors; a planted shortcut that skips the protocol is caught."""
    from dsmip6 import _ike

    assert _mh_selector_mismatches(_ike.ha_mh_selectors) == []

    def no_protocol(event):
        ts_i, ts_r = event.child.ts_i, event.child.ts_r
        if type(ts_i) is tuple and type(ts_r) is tuple and len(ts_i) == len(ts_r) == 1:
            i, r = ts_i[0], ts_r[0]
            if type(i.start) is IPv6Address and type(r.start) is IPv6Address:
                return (i.start, r.start) if i.start == i.end and r.start == r.end else None
        return _ike.ha_mh_selectors(event)

    assert _mh_selector_mismatches(no_protocol) != []


def _copy_mismatches(with_sqn) -> list[str]:
    import dataclasses

    from dsmip6.eap import Subscriber

    out = []
    for sqn, apns in ((0, ()), (33, ("internet",)), ((1 << 48) - 1, ("a", "b"))):
        sub = Subscriber("001010123456789", bytes(range(16)), bytes(range(16, 32)), sqn,
                         b"\x12\x34", apns)  # fmt: skip
        for new in (0, 32, sqn ^ 0x20, (1 << 48) - 2):
            got, want = with_sqn(sub, new), dataclasses.replace(sub, sqn=new)
            if type(got) is not Subscriber or got != want:
                out.append(f"{sub} -> {new}")
    return out


def test_subscriber_with_another_sqn_is_replace(monkeypatch):
    """The store's SQN copy (slot setters, no ``__post_init__``) equals ``dataclasses.replace``
    field by field; a planted copy that forgets the AMF is caught."""
    from dsmip6.eap import InMemorySubscriberStore, Subscriber, _subscribers

    assert _copy_mismatches(_subscribers._with_sqn) == []
    real = _subscribers._S_AMF
    with monkeypatch.context() as m:
        m.setattr(_subscribers, "_S_AMF", lambda obj, value: real(obj, b"\x80\x00"))
        assert _copy_mismatches(_subscribers._with_sqn) != []
    store = InMemorySubscriberStore([Subscriber("001010123456789", bytes(16), bytes(16), 7)])
    assert store.subscriber("001010123456789").sqn == 7
    store.authentication_vector("001010123456789", bytes(16))
    sub = store.subscriber("001010123456789")
    assert sub.sqn > 7 and sub.imsi == "001010123456789" and sub.k == bytes(16)


def _spi_add_reference(s, spi: int) -> bool:
    """The SpiSet insertion of round 7 (probe for the SPI, rehash when half full, then the
    first empty or deleted slot from the home slot): the layout ``add_new`` must keep."""
    t, mask = s._t, (1 << s._bits) - 1
    i = s._slot(spi)
    while True:
        v = t[i]
        if v == spi:
            return False
        if v == 0:
            break
        i = (i + 1) & mask
    if 2 * (s._used + 1) > len(s._t):
        s._rehash()
    t, mask = s._t, (1 << s._bits) - 1
    i = s._slot(spi)
    while t[i] > 1:
        i = (i + 1) & mask
    if t[i] == 0:
        s._used += 1
    t[i] = spi
    s._live += 1
    return True


def _spi_layout_mismatches(add_new) -> int:
    import random

    from dsmip6.ikev2.sa import SpiSet

    rng = random.Random(11)
    a, b = SpiSet(), SpiSet()
    bad = 0
    for step in range(6000):
        spi = rng.choice((rng.randrange(256, 1 << 32), 256 + step % 500, 256 + (step * 7) % 61))
        if rng.random() < 0.55:
            if add_new(a, spi) != _spi_add_reference(b, spi):
                bad += 1
        else:
            a.discard(spi)
            b.discard(spi)
        if (a._t, a._bits, a._live, a._used) != (b._t, b._bits, b._live, b._used):
            bad += 1
            a, b = SpiSet(), SpiSet()
    return bad


def test_spi_set_insertion_keeps_the_reference_layout():
    """``add_new`` (one probe sequence, the first deleted mark remembered) leaves the very
    table the two-pass insertion left: slots, size, counts, results, through deletions and
    rehashes; a planted variant that fills the last deleted mark of the run is caught."""
    from dsmip6.ikev2.sa import SpiSet

    assert _spi_layout_mismatches(SpiSet.add_new) == 0

    def reuse_last(s, spi):
        t, mask = s._t, (1 << s._bits) - 1
        i, free = s._slot(spi), -1
        while t[i] != 0:
            if t[i] == spi:
                return False
            if t[i] == 1:
                free = i  # planted: the last deleted mark of the run, not the first
            i = (i + 1) & mask
        if free < 0 or 2 * (s._used + 1) > len(t):
            return SpiSet.add_new(s, spi)
        t[free] = spi
        s._live += 1
        return True

    assert _spi_layout_mismatches(reuse_last) > 0


def _mpd_shortcut_misses() -> tuple[list[str], set[int]]:
    """Selector pairs for which ``HomeAgent._mpd_child`` returns before asking
    ``_mpd.mpd_child`` although that would have found an MPD SA; and the TSi protocols of
    the pairs it returned for."""
    from types import SimpleNamespace

    from dsmip6 import _mpd
    from dsmip6.ha import HomeAgent
    from dsmip6.ikev2.message import TrafficSelector

    class ChildSaEstablished(SimpleNamespace):  # contract D: dispatch by class name
        pass

    class Asked(Exception):
        pass

    hoa, ha = HOA, IPv6Address("2001:db8:a::1")
    sels = [
        TrafficSelector(hoa, hoa, 58, 146 << 8, (146 << 8) | 0xFF),  # the MPD SA's (RFC 4877)
        TrafficSelector(ha, ha, 58, 147 << 8, (147 << 8) | 0xFF),
        TrafficSelector(hoa, hoa, 135),
        TrafficSelector(NET[0], NET[-1], 135),
        TrafficSelector(hoa, hoa, 0),
        SimpleNamespace(start=str(hoa), end=str(hoa), protocol=58),
        SimpleNamespace(start=hoa, end=hoa, protocol="58"),  # malformed: text protocol
        SimpleNamespace(start="no address", end=hoa, protocol=58),  # malformed address
        SimpleNamespace(start=hoa, end=hoa, protocol=None),  # malformed: no number
    ]
    lists = [(s,) for s in sels] + [(sels[2], sels[0]), [sels[0]], (), (sels[3], sels[8])]
    real = _mpd.mpd_child
    misses: list[str] = []
    taken: set[int] = set()  # TSi protocols the shortcut returned for

    def asked(ev):
        raise Asked

    for ts_i in lists:
        for ts_r in lists:
            ev = ChildSaEstablished(ike_sa_id=1, child=SimpleNamespace(ts_i=ts_i, ts_r=ts_r))
            _mpd.mpd_child = asked
            try:
                HomeAgent._mpd_child(None, None, ev)  # type: ignore[arg-type]
                shortcut = True
            except Asked:
                shortcut = False
            finally:
                _mpd.mpd_child = real
            if shortcut:
                try:
                    found = real(ev)
                except (ValueError, TypeError) as exc:  # refused: the shortcut hid it
                    found = exc
                if found is not None:
                    misses.append(f"{ts_i!r} / {ts_r!r}")
                taken.add(ts_i[0].protocol)
    return misses, taken


def test_mpd_child_shortcut_skips_only_what_mpd_child_refuses(monkeypatch):
    """The HA skips ``_mpd.mpd_child`` for a child whose one TSi selector is not ICMPv6 (the
    HNP-wide child of IKE_AUTH, the MH SA) and whose TSr is well formed: only where it
    would return None without raising (malformed TSr selectors included); with a planted
    protocol number, or with the TSr check planted away, the shortcut skips what
    ``mpd_child`` finds or refuses and is caught."""
    from dsmip6 import ha

    misses, taken = _mpd_shortcut_misses()
    assert misses == [] and taken == {135, 0}  # the HNP-wide child and the MH SA skip it
    with monkeypatch.context() as m:
        m.setattr(ha, "_ICMPV6", 135)
        assert _mpd_shortcut_misses()[0] != []
    monkeypatch.setattr(ha, "_ts_readable", lambda ts: True)  # the session-6 shortcut
    misses = _mpd_shortcut_misses()[0]
    assert misses and all("'58'" in m or "no address" in m or "None" in m for m in misses)


def test_malformed_tsr_of_the_hnp_wide_child_is_refused(monkeypatch):
    """The HNP-wide MH child of IKE_AUTH (TSi = the home prefix, protocol 135) leaves the
    HA's child handling without any selector reading when its TSr is well formed; with a
    malformed TSr (a text protocol, a text address in an ICMPv6 selector, a protocol that
    is no number) it is refused (``_mpd.mpd_child`` raises) as before the shortcuts."""
    from types import SimpleNamespace

    from dsmip6 import _mpd
    from dsmip6.ha import HomeAgent
    from dsmip6.ikev2.message import TrafficSelector

    ha6 = IPv6Address("2001:db8:a::1")
    tsi = (TrafficSelector.for_network(NET, protocol=135),)
    session = SimpleNamespace(hoa_i=None)
    fake = SimpleNamespace(_by_ike={1: session})
    fake._mpd_child = lambda s, ev: HomeAgent._mpd_child(fake, s, ev)  # type: ignore[arg-type]

    def on_child(ts_r):
        ev = _child_event(tsi, ts_r)
        ev.ike_sa_id = 1
        return HomeAgent._on_child(fake, ev, 0.0)  # type: ignore[arg-type]

    real = _mpd.mpd_child
    asked: list[object] = []

    def counting(ev):
        asked.append(ev)
        return real(ev)

    monkeypatch.setattr(_mpd, "mpd_child", counting)
    for good in ((TrafficSelector.mobility_header(ha6),), (TrafficSelector(ha6, ha6, 58),)):
        assert on_child(good) is None
    assert asked == []  # the fast exit: no selector reading at all
    bad = [
        (SimpleNamespace(start=ha6, end=ha6, protocol="tcp"),),
        (SimpleNamespace(start="not an address", end=ha6, protocol=58),),
        (TrafficSelector.mobility_header(ha6), SimpleNamespace(start=ha6, end=ha6, protocol=None)),
    ]
    for ts_r in bad:
        with pytest.raises((ValueError, TypeError)):
            on_child(ts_r)
    assert len(asked) == len(bad)


def test_parked_remote_reads_the_head_fields_it_needs():
    """``ParkedSa.remote`` reads the key length and the family at their place in the head
    (fields 6 and 7 of ``_HEAD``), for any values."""
    import random

    from dsmip6.ikev2 import sa

    rng = random.Random(3)
    for _ in range(200):
        fields = (rng.randbytes(8), rng.randbytes(8), rng.getrandbits(32), rng.getrandbits(32),
                  rng.getrandbits(64), rng.getrandbits(16), rng.getrandbits(16),
                  rng.getrandbits(8), rng.getrandbits(32))  # fmt: skip
        blob = sa._HEAD.pack(*fields) + rng.randbytes(20)
        assert sa._HEAD_KEYS_FAMILY.unpack_from(blob, sa._HEAD_KEYS_AT) == fields[6:8]


def _admit_ike_reference(self, data, port, now):
    """The IKE budget check of round 7 (byte reads): which key it charges, and when."""
    off = 4 if port == 4500 else 0
    if len(data) < off + 28 or (off and data[:4] != b"\x00\x00\x00\x00"):
        return True
    if data[off + 17] != 0x20 or not 35 <= data[off + 18] <= 37:
        return True
    ours = data[off + 8 : off + 16] if data[off + 19] & 0x08 else data[off : off + 8]
    if ours == b"\x00" * 8:
        return True
    if self._admit(int.from_bytes(ours, "big"), now):
        return True
    self._count("ike-rate-limited")
    return False


def _admit_reference(self, key, now, *, neighbour=True):
    """The per-UE token buckets as Python wrote them (``HomeAgent._admit`` of rounds 7-13,
    on two ``array('d')`` tables): the reference ``mhfast.RateTable`` is checked against
    (``neighbour=False`` plants a bug: coinciding slots are not moved apart)."""
    tokens, last, rate, burst = self._tokens, self._last, self._rate, self._burst
    s1 = key & self._rate_mask
    s2 = ((key >> 16) ^ (key >> 40)) & self._rate_mask
    if s2 == s1 and neighbour:
        s2 ^= 1
    t1, t2 = tokens[s1], tokens[s2]
    elapsed = now - last[s1]
    if elapsed > 0.0:
        t1 += elapsed * rate
        if burst < t1:
            t1 = burst
        last[s1] = now
    elapsed = now - last[s2]
    if elapsed > 0.0:
        t2 += elapsed * rate
        if burst < t2:
            t2 = burst
        last[s2] = now
    if t1 < 1.0 and t2 < 1.0:
        tokens[s1], tokens[s2] = t1, t2
        return False
    tokens[s1] = t1 - 1.0 if t1 >= 1.0 else t1
    tokens[s2] = t2 - 1.0 if t2 >= 1.0 else t2
    return True


def _bucket_state(kind, slots=64, rate=1.0, burst=3.0, admit=_admit_reference):
    """A stand-in for the HA's budget: ``"python"`` — ``admit`` (the reference buckets by
    default) on ``array`` tables —, or ``"rust"`` — the HA's own ``_admit`` over a
    ``mhfast.RateTable``. ``tables()`` gives (tokens, last) of every slot as lists."""
    from array import array
    from types import SimpleNamespace

    from dsmip6._core.mhfast import RateTable
    from dsmip6.ha import HomeAgent

    log: list[str] = []
    me = SimpleNamespace(_rate=rate, _count=log.append, log=log)
    if kind == "python":
        me._tokens = array("d", [burst]) * slots
        me._last = array("d", [0.0]) * slots
        me._burst, me._rate_mask = burst, slots - 1
        me._admit = admit.__get__(me)
        me.tables = lambda: (list(me._tokens), list(me._last))
    else:
        me._rates = RateTable(slots, rate, burst)
        me._admit = HomeAgent._admit.__get__(me)
        me.tables = lambda: (me._rates.tokens(), me._rates.last())
    return me


def _admit_ike_mismatches(check, state) -> int:
    """Steps at which ``check`` (on the budget ``state``, see ``_bucket_state``) and
    ``_admit_ike_reference`` (with the reference buckets) differ, each on a bucket table of
    its own, over one stream of requests: in the verdict, the counters, or the tables
    (tokens and last refill of every slot) after the step, so which key was charged, when,
    and what it was told, all count. A few SPIs recur so their buckets run dry; 64 slots, a
    burst of 3, 1 token per second, 5 ms between requests."""
    import random

    rng = random.Random(8)
    pool = [rng.getrandbits(64) or 1 for _ in range(2)]
    states = [state, _bucket_state("python")]
    bad = refused = admitted = 0
    for k in range(3000):
        port = rng.choice((500, 4500))
        head = bytearray(rng.randbytes(28 + rng.randrange(0, 8)))
        if port == 4500 and rng.random() < 0.8:
            head[0:0] = bytes(4)
        off = 4 if port == 4500 else 0
        if len(head) >= off + 28:
            head[off + 17] = rng.choice((0x20, 0x20, 0x10, 0x21))
            head[off + 18] = rng.choice((34, 35, 36, 37, 38))
            if rng.random() < 0.7:  # a recurring SPI (its buckets empty) in both places
                spi = rng.choice(pool).to_bytes(8, "big")
                head[off : off + 16] = spi + spi
            if rng.random() < 0.2:
                head[off + rng.choice((0, 8)) : off + rng.choice((8, 16))] = bytes(8)
        data = bytes(head[: rng.choice((len(head), 27, 31))])
        now = k * 0.005
        got = check(states[0], data, port, now)
        want = _admit_ike_reference(states[1], data, port, now)
        a, b = states
        bad += (got, a.log, a.tables()) != (want, b.log, b.tables())
        refused += want is False
        admitted += want is True
    assert refused > 100 and admitted > 1000  # both verdicts, many times
    return bad


def _ha_ike_gate(rates=None, wrap=None, buffer=bytes):
    """``HomeAgent.receive_datagram`` itself on a stand-in HA whose IKE engine records what
    reaches it: ``(check, state)`` where ``check(state, data, port, now)`` feeds ``data`` (as
    ``buffer``) on ``port`` and tells whether the engine got it. ``state`` is a ``"rust"``
    budget (``_bucket_state``), its table ``rates`` when given; ``wrap(table)`` stands between
    the HA and the table (a planted bug)."""
    from collections import deque
    from types import SimpleNamespace

    from dsmip6.ha import HomeAgent

    state = _bucket_state("rust")
    if rates is not None:
        state._rates = rates
        state.tables = lambda: (rates.tokens(), rates.last())
    table = state._rates
    got: list[bytes] = []
    me = SimpleNamespace(
        _rate=state._rate,
        _rates=table if wrap is None else wrap(table),
        _count=state._count,
        ike=SimpleNamespace(receive_datagram=lambda d, s, t, n: got.append(d)),
        _ike_events=deque(),
    )

    def check(_state, data, port, now):
        del got[:]
        HomeAgent.receive_datagram(me, buffer(data), ("2001:db8::1", port), ("::", port), now)
        return bool(got)

    return check, state


def _gate_mismatches(**kw) -> int:
    check, state = _ha_ike_gate(**kw)
    return _admit_ike_mismatches(check, state=state)


class _Planted:
    """A ``RateTable`` stand-in: ``admit_ike`` of the real table after ``bend(data, port)``."""

    def __init__(self, table, bend):
        self.table, self.bend = table, bend

    def admit_ike(self, data, port, now):
        return self.table.admit_ike(*self.bend(data, port), now)


def test_ike_budget_check_charges_what_the_byte_reads_charged():
    """The HA's IKE budget check (``receive_datagram`` before the engine: the Rust
    ``RateTable.admit_ike`` on ``bytes(data)``, for any buffer) charges the same key, at the
    same requests, with the same verdicts, and leaves the same bucket tables as the byte-level
    reading calling the Python buckets; planted variants are caught: the initiator's SPI read
    whatever the I flag says, the non-ESP marker on 4500 dropped unread, and a table whose
    refill is not capped at the burst."""
    from dsmip6._core.mhfast import RateTable

    assert _gate_mismatches() == 0
    assert _gate_mismatches(buffer=bytearray) == 0
    assert _gate_mismatches(buffer=memoryview) == 0

    def i_flag_ignored(data, port):
        off = 4 if port == 4500 else 0
        if len(data) > off + 19:
            data = data[: off + 19] + bytes((data[off + 19] & ~0x08,)) + data[off + 20 :]
        return data, port

    assert _gate_mismatches(wrap=lambda t: _Planted(t, i_flag_ignored)) > 0

    def marker_unread(data, port):  # 4500: four octets skipped, zero or not
        return (data[4:], 500) if port == 4500 else (data, port)

    assert _gate_mismatches(wrap=lambda t: _Planted(t, marker_unread)) > 0
    uncapped = RateTable(64, 1.0, float("inf"))  # refilled past the burst of 3
    assert _gate_mismatches(rates=uncapped) > 0


def _bucket_mismatches(admit) -> int:
    """Steps at which the HA's ``RateTable`` and the Python buckets ``admit`` differ (the
    verdict, or any slot's tokens or last refill after the step) over keys that share slots
    and whose two slots coincide (the neighbour slot taken then), 32- and 64-bit keys, a clock
    that mostly advances by less than a token's period, sometimes stands still or steps back,
    and a refill that reaches the burst."""
    import random

    rng = random.Random(21)
    states = [_bucket_state("rust", slots=64, rate=4.0, burst=5.0),
              _bucket_state("python", slots=64, rate=4.0, burst=5.0, admit=admit)]  # fmt: skip
    keys = [rng.getrandbits(rng.choice((32, 64))) for _ in range(6)]
    for low in (5, 0x3F):  # bits 0-5 equal to (bits 16-21 ^ bits 40-45): the same slot twice
        keys.append((rng.getrandbits(8) << 56) | (low << 16) | low)
    keys.append(0)
    now = 10.0
    bad = coincide = 0
    for _ in range(4000):
        r = rng.random()
        now += 0.0 if r < 0.1 else -0.3 if r < 0.13 else 3.0 if r < 0.15 else rng.random() * 0.1
        key = rng.choice(keys)
        coincide += (key & 63) == (((key >> 16) ^ (key >> 40)) & 63)
        got = states[0]._admit(key, now)
        want = states[1]._admit(key, now)
        bad += (got, states[0].tables()) != (want, states[1].tables())
    assert coincide > 500
    return bad


def test_rate_table_matches_the_python_buckets():
    """``mhfast.RateTable.admit`` against the Python buckets it replaced (``_admit_reference``):
    the same verdicts and the same tables after every step; planted variants of the buckets —
    the coinciding second slot not moved to its neighbour, a refused key's refill not kept —
    are told apart by the same stream. An empty table raises instead of admitting."""
    from dsmip6._core.mhfast import RateTable

    assert _bucket_mismatches(_admit_reference) == 0

    def same_slot(self, key, now):
        return _admit_reference(self, key, now, neighbour=False)

    assert _bucket_mismatches(same_slot) > 0

    def refill_dropped(self, key, now):
        saved = self._tokens[:], self._last[:]
        ok = _admit_reference(self, key, now)
        if not ok:
            self._tokens[:], self._last[:] = saved
        return ok

    assert _bucket_mismatches(refill_dropped) > 0
    with pytest.raises(IndexError):
        RateTable(0, 1.0, 3.0).admit(1, 1.0)
    for slots in (1, 3, 100):
        with pytest.raises(ValueError):
            RateTable(slots, 1.0, 3.0)


def test_parked_endpoint_check_answers_as_the_engine_endpoints(monkeypatch):
    """``_ike.parked_at6`` (the K=1 check of an accepted BU: is the IKE SA already between
    the HA and the CoA, port 500?) against ``endpoints(id) == (local, (text, 500))`` over
    parked SAs with the peer on port 500 and 4500, the CoA and other addresses, the HA's
    endpoint and others: True exactly when the general test holds (it may say False
    only where it cannot answer: never here). A check with a planted bug (the port not
    compared) is told apart by the same cases."""
    from socket import AF_INET6, inet_ntop

    from dsmip6 import _ike
    from dsmip6.ikev2 import sa as ike_sa

    world = RealWorld(1)
    ha = world.make_ha(RustDataPlane())
    ue = world.make_ue(0)
    coa = IPv6Address("2001:db8:100::1")
    ue.set_access(coa6=coa)
    clock = VirtualClock()
    ue.attach("internet", clock.now)
    roundtrip_until_done(ue, ha, clock)
    (ike_id,) = list(ha.ike._sas)
    parked = ha.ike._sas[ike_id]
    assert type(parked) is ike_sa.ParkedSa and parked.remote == (str(coa), 500)
    work = ike_sa.thaw(parked, ha.ike)
    work.remote = (str(coa), 4500)
    on_4500 = ike_sa.park(work, None)
    ha6 = ha._ike6
    locals_ = [ha6, (ha6[0], 4500), ("2001:db8:a::2", 500)]
    addresses = [int(coa), int(coa) + 1, int(IPv6Address("2001:db8:8000::5"))]

    def general(local, a):
        return ha.ike.endpoints(ike_id) == (
            local,
            (inet_ntop(AF_INET6, a.to_bytes(16, "big")), 500),
        )

    def buggy(engine, sa_id, local, a):  # the port not compared
        p = engine._sas.get(sa_id)
        return p.local == local and p.remote_octets6()[:16] == a.to_bytes(16, "big")

    told_apart = False
    held = []
    for entry in (parked, on_4500):
        monkeypatch.setitem(ha.ike._sas, ike_id, entry)
        for local in locals_:
            for a in addresses:
                expect = general(local, a)
                assert _ike.parked_at6(ha.ike, ike_id, local, a) is expect
                told_apart |= buggy(ha.ike, ike_id, local, a) != expect
                held.append(expect)
    assert told_apart
    assert sum(held) == 1  # only the CoA on port 500, from the HA's endpoint


def _child_event(ts_i, ts_r):
    from types import SimpleNamespace

    ChildSaEstablished = type("ChildSaEstablished", (), {})
    ev = ChildSaEstablished()
    ev.child = SimpleNamespace(ts_i=ts_i, ts_r=ts_r)
    return ev


def test_mh_child_concludes_as_the_selector_readers():
    """``ha._mh_child`` (the HA's reading of a child SA's selectors) against
    ``_ike.ha_mh_selectors`` and ``_mpd.mpd_child``: ``_RANGE`` only where both conclude
    None, for any TSr; a pair only where ``ha_mh_selectors`` gives that pair (the same
    objects); over one-address, range, ICMPv6, IPv4, port-limited, scoped and
    multi-selector lists. A planted bug (the one-address test dropped) is told apart."""
    from dsmip6 import _ike, _mpd
    from dsmip6 import ha as ha_mod
    from dsmip6.ikev2.message import TrafficSelector

    ha6 = IPv6Address("2001:db8:a::1")
    scoped = IPv6Address("fe80::1%eth0")
    tsis = [
        (TrafficSelector.mobility_header(HOA),),
        (TrafficSelector.for_network(NET, protocol=135),),
        (TrafficSelector.for_network(NET, protocol=58),),
        (TrafficSelector.for_network(NET),),
        (TrafficSelector(HOA, HOA, 58),),
        (TrafficSelector(HOA, HOA + 7, 135, 0, 80),),
        (TrafficSelector(scoped, IPv6Address("fe80::1"), 135),),
        (TrafficSelector(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.9"), 135),),
        (TrafficSelector.for_network(NET, protocol=135), TrafficSelector.mobility_header(HOA)),
        (),
    ]
    tsrs = [
        (TrafficSelector.mobility_header(ha6),),
        (TrafficSelector(ha6, ha6, 58),),
        (TrafficSelector(ha6, ha6 + 1, 135),),
        (TrafficSelector.any(6),),
        (TrafficSelector.mobility_header(ha6), TrafficSelector.any(6)),
        [TrafficSelector.mobility_header(ha6)],
    ]
    from types import SimpleNamespace

    malformed = [  # TSr lists ``_mpd.mpd_child`` refuses (raises): never ``_RANGE``
        (SimpleNamespace(start=ha6, end=ha6, protocol="135"),),
        (SimpleNamespace(start=str(ha6), end=str(ha6), protocol=58),),
        (TrafficSelector.any(6), SimpleNamespace(start=ha6, end=ha6, protocol=None)),
    ]
    tsrs += malformed
    ranges = pairs = 0
    told_apart = False
    for tsi in tsis:
        for tsr in tsrs:
            ev = _child_event(tsi, tsr)
            try:
                general = _ike.ha_mh_selectors(ev)
            except (ValueError, TypeError):
                general = "refused"  # a malformed TSr read after a one-address MH TSi
            got = ha_mod._mh_child(ev.child)
            if got is ha_mod._RANGE:
                ranges += 1
                assert general is None and _mpd.mpd_child(ev) is None, (tsi, tsr)  # no raise
            elif got is not None:
                pairs += 1
                assert got == general and got[0] is general[0] and got[1] is general[1]
            one = len(tsi) == 1
            buggy = one and tsi[0].protocol == 135 and type(tsi[0].start) is IPv6Address
            told_apart |= buggy and type(general) is tuple
    # the /64 range and the port-limited one, any well-formed TSr
    assert ranges == 2 * (len(tsrs) - len(malformed))
    assert pairs == 1  # the HoA with the HA's one MH selector in a tuple
    assert told_apart


def test_assignment_shortcut_equals_the_constructor():
    """``_ike.assignment`` against ``ikev2.Assignment(...)`` over the HA's usual values and
    others (a HoA, text values the constructor converts, an empty tuple, a non-address in
    the tuple): equal objects with equal field values and types; and a builder with a
    planted bug (the HA addresses' tuple check skipped) is told apart."""
    from dsmip6 import _ike
    from dsmip6.ikev2 import Assignment

    has = (IPv6Address("2001:db8:a::1"), IPv4Address("198.51.100.1"))
    cases = [
        (NET, None, has),
        (NET, None, has),  # the checked tuple again
        (NET, None, (IPv6Address("2001:db8:a::1"),)),
        (NET, HOA, has),
        ("2001:db8:8000::/64", None, has),
        (NET, None, ()),
        (NET, None, ("2001:db8:a::1",)),
        (None, None, has),
        (NET, None, [IPv6Address("2001:db8:a::1")]),
    ]
    fields = ("home_prefix", "home_address", "ha_addresses", "internal_ip4", "prefix_lifetime")

    def values(a):
        return [(getattr(a, f), type(getattr(a, f))) for f in fields]

    for prefix, hoa, h in cases:
        want = Assignment(home_prefix=prefix, home_address=hoa, ha_addresses=h)
        got = _ike.assignment(prefix, hoa, h)
        assert type(got) is Assignment and got == want and values(got) == values(want)

    def buggy(prefix, hoa, h):  # no tuple check: whatever is given is stored
        a = _ike.assignment(prefix, hoa, ())
        object.__setattr__(a, "ha_addresses", h)
        return a

    assert any(
        values(buggy(p, o, h)) != values(Assignment(home_prefix=p, home_address=o, ha_addresses=h))
        for p, o, h in cases
    )


def _fields_cases():
    v6c = int(IPv6Address("2001:db8:1::1"))
    v4c = int(IPv4Address("192.0.2.7"))
    v4 = int(IPv4Address("10.0.0.9"))
    pfx = int(NET.network_address)
    hoa = int(HOA)
    ok = [
        (hoa, pfx, 64, v6c, Encapsulation.IP_IN_IPV6, 3600.0, 50.25, 7, 0xD400, None, None),
        (hoa + (1 << 64), pfx + (1 << 64), 64, v6c + 1, Encapsulation.IP_IN_IPV6, 0.0, 1.0, 0xFFFF,
         0, v4, None),
        (hoa + (2 << 64), pfx + (2 << 64), 64, v4c, Encapsulation.UDP_IPV4, 900.0, 2.5, 0,
         0xC000, v4 + 1, 61000),
        (hoa + (3 << 64), pfx + (3 << 64), 64, v4c + 1, Encapsulation.IP_IN_IPV4, 12.0, 1e9, 1,
         0x8000, None, None),
        (int(IPv6Address("2001:db8:9::1")), int(IPv6Address("2001:db8:9::")), 48, v6c + 2,
         Encapsulation.IP_IN_IPV6, 4.0, 3.0, 2, 0, None, None),
    ]  # fmt: skip
    bad = [
        (int(IPv6Address("2001:db8:7::1")), pfx, 64, v6c, Encapsulation.IP_IN_IPV6, 1.0, 1.0,
         1, 0, None, None),  # HoA outside the prefix
        (hoa + 9, pfx, 64, v6c, Encapsulation.IP_IN_IPV6, 1.0, 1.0, 0x10000, 0, None, None),
        (hoa + 9, pfx, 64, v4c, Encapsulation.UDP_IPV4, 1.0, 1.0, 1, 0, None, None),
        (hoa + 9, pfx, 64, v4c, Encapsulation.IP_IN_IPV4, 1.0, 1.0, 1, 0, None, 4191),
        (hoa + 9, pfx, 64, v4c, Encapsulation.UDP_IPV4, 1.0, 1.0, 1, 0, None, 0),
        (hoa + 9, pfx, 64, v6c, Encapsulation.IP_IN_IPV6, -1.0, 1.0, 1, 0, None, None),
        (hoa, pfx, 64, v6c, Encapsulation.IP_IN_IPV6, 5.0, 1.0, 3, 0, None, None),  # taken
    ]  # fmt: skip
    return ok, bad


def _spec_from_values(hoa, pfx, plen, coa, enc, life, exp, seq, flags, v4, port):
    coa_a = IPv6Address(coa) if enc is Encapsulation.IP_IN_IPV6 else IPv4Address(coa)
    v4_a = None if v4 is None else IPv4Address(v4)
    return BindingSpec.of(IPv6Address(hoa), IPv6Network((pfx, plen)), coa_a, enc, life, exp,
                          seq, flags, v4_a, port)  # fmt: skip


def _outcome(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the outcome compared is the exception itself
        return (type(exc).__name__, str(exc))
    return None


def test_add_fields_programs_the_binding_add_binding_does():
    """``RustDataPlane.add_fields`` (the HA's spec-less add) against ``add_binding`` of the
    ``BindingSpec`` of the same values, on two data planes fed the same sequence: the same
    outcome for every call (None, or the same exception and message: the spec's checks, a
    taken HoA), then the same bindings read back (every field, via lookup by HoA, prefix,
    IPv4 HoA and inbound key) and the same counters. A writer with a planted bug (the
    prefix length off by one) is told apart by the same comparison."""
    ok, bad = _fields_cases()
    a, b = RustDataPlane(), RustDataPlane()
    for values in ok + bad:
        want = _outcome(lambda v=values: a.add_binding(_spec_from_values(*v)))
        got = _outcome(lambda v=values: b.add_fields(*v))
        assert got == want, values
    assert sorted(map(repr, a.bindings)) == sorted(map(repr, b.bindings))
    assert len(a.bindings) == len(ok)
    for values in ok:
        hoa = IPv6Address(values[0])
        assert a.bindings.get(hoa) == b.bindings.get(hoa)
        assert a.bindings.lookup(hoa + 0x100) == b.bindings.lookup(hoa + 0x100)
    assert a.counters() == b.counters()

    c = RustDataPlane()
    for values in ok:
        c.add_fields(values[0], values[1], values[2] + 1, *values[3:])
    assert sorted(map(repr, a.bindings)) != sorted(map(repr, c.bindings))


def test_prefix_pool_owner_answers_as_index_then_get():
    """``PrefixPool.owner`` (the prefix case inline) against ``_get(_owner_of, _index(x))``
    over prefixes and addresses inside, before, after and at the edges of the pool, of
    assigned, released and never-assigned entries; a variant with a planted bug (the upper
    bound inclusive) is told apart."""
    import random

    from dsmip6 import pools

    pool = PrefixPool(IPv6Network("2001:db8:8000::/60"), 64)
    owners = [(f"u{i}", "internet") for i in range(12)]
    for o in owners:
        pool.allocate(o)
    for o in owners[3:6]:
        pool.release(o)
    base = int(IPv6Address("2001:db8:8000::"))
    rng = random.Random(5)
    probes = []
    for i in range(-2, 19):
        net = base + i * (1 << 64)
        if 0 <= net < 1 << 128:
            probes.append(IPv6Network((net, 64)))
            probes.append(IPv6Address(net + rng.randrange(1 << 64)))
    probes.append(IPv6Network("2001:db8:8000::/60"))

    def reference(x):
        i = pool._index(x)
        return None if i is None else pools._get(pool._owner_of, i)

    def planted(x):
        offset = int(x.network_address if isinstance(x, IPv6Network) else x) - pool._base
        if not 0 <= offset <= pool._size * pool._step:
            return None
        return pools._get(pool._owner_of, offset // pool._step)

    assert [pool.owner(x) for x in probes] == [reference(x) for x in probes]
    assert sum(pool.owner(x) is not None for x in probes) == 2 * 9 + 1
    pool.allocate(("late", None))  # fills a released slot: the table answers that owner
    assert [pool.owner(x) for x in probes] == [reference(x) for x in probes]
    full = PrefixPool(IPv6Network("2001:db8:9000::/62"), 64)
    for i in range(4):
        full.allocate(i)
    pool = full
    probes = [IPv6Network((int(IPv6Address("2001:db8:9000::")) + i * (1 << 64), 64))
              for i in range(-1, 6)]  # fmt: skip
    assert [pool.owner(x) for x in probes] == [reference(x) for x in probes]
    pool._owner_of.append("beyond")  # a stale slot past the pool: only the bound hides it
    assert [planted(x) for x in probes] != [reference(x) for x in probes]


def test_rust_child_record_head_is_the_python_writer(monkeypatch):
    """``_core.mhfast.child_record`` (the head and keys of a parked child's record, what
    ``_child_record`` calls) against ``_child_record_py`` (all in Python), each from fresh
    shared tables over the same children (every flag, shared and new selector lists, keys
    of 0..255 octets, SPIs at 0 and 2^32-1, ports at 0 and 65535): the same octets, taken
    by the Rust writer (the Python tail is made to fail). Values ``struct`` refuses (a key
    of 256 octets, an SPI of 2^32, a port of 65536) fall back to the tail and raise its
    ``struct.error``; a ``bytearray`` key gives the Python writer's octets. A Rust writer
    with a planted bug (the integrity-key flags swapped) is told apart."""
    import dataclasses
    import struct

    from dsmip6.ikev2 import sa as ike_sa

    cases = _child_record_twin_cases()
    c0 = cases[0]
    cases += [
        dataclasses.replace(c0, spi_in=0, spi_out=0xFFFFFFFF, key_in=bytes(255), key_out=b""),
        dataclasses.replace(c0, spi_in=0xFFFFFFFF, integrity_key_in=bytes(range(255)),
                            udp_encap=(65535, 0), initiator=True, esn=True),
        dataclasses.replace(c0, spi_in=5, mode="tunnel", integrity_key_out=b"",
                            udp_encap=(0, 65535)),
    ]  # fmt: skip
    _child_record_tables(monkeypatch, ike_sa)
    expect = [ike_sa._child_record_py(c) for c in cases]
    _child_record_tables(monkeypatch, ike_sa)

    def no_tail(*args):
        raise AssertionError("the Python tail was used")

    with monkeypatch.context() as m:
        m.setattr(ike_sa, "_child_record_tail", no_tail)
        assert [ike_sa._child_record(c) for c in cases] == expect

    # refused values: the Python tail's own error, after the Rust writer declined
    for bad in (
        dataclasses.replace(c0, key_in=bytes(256)),
        dataclasses.replace(c0, spi_out=1 << 32),
        dataclasses.replace(c0, udp_encap=(65536, 1)),
    ):
        with pytest.raises(struct.error):
            ike_sa._child_record_py(bad)
        with pytest.raises(struct.error):
            ike_sa._child_record(bad)
    odd = dataclasses.replace(c0, key_in=bytearray(b"k" * 16))
    assert ike_sa._child_record(odd) == ike_sa._child_record_py(odd)

    # planted bug in the Rust writer's output: the integrity-key flags swapped
    real = ike_sa._child_record

    def buggy(c):
        r = bytearray(real(c))
        f = r[10]
        r[10] = (f & ~48) | ((f & 16) << 1) | ((f & 32) >> 1)
        return bytes(r)

    _child_record_tables(monkeypatch, ike_sa)
    assert [buggy(c) for c in cases] != expect


def _endpoint_reference(addr):
    """``_packed_endpoint`` as it was before canonical6, on the C library's own
    inet_pton / inet_ntop: (4 or 6, octets + port) when the text comes back the same."""
    from socket import AF_INET, AF_INET6, inet_ntop, inet_pton

    if type(addr) is not tuple or len(addr) != 2:
        return None
    host, port = addr
    if type(host) is not str or type(port) is not int or not 0 <= port <= 0xFFFF:
        return None
    family = AF_INET6 if ":" in host else AF_INET
    try:
        octets = inet_pton(family, host)
    except (OSError, ValueError):
        return None
    if inet_ntop(family, octets) != host:
        return None
    return (6 if family == AF_INET6 else 4), octets + port.to_bytes(2, "big")


def _park_reference(sa, timer_at):
    """``ikev2.sa.park`` as it was before its inline common case (session 8, round 11): the
    loose values always through ``_folded_assignment`` and ``_endpoint_reference``. The twin
    of ``test_park_inline_common_case_is_the_reference_writer``."""
    from dsmip6.ikev2 import sa as S

    sk = sa.sk
    p = S.ParkedSa()
    p.id = sa.id
    local = sa.local
    shared = S._LOCALS.get(local)
    if shared is None and len(S._LOCALS) < 16 and type(local) is tuple:
        shared = S._LOCALS[local] = local
    p.local = local if shared is None else shared
    p.timer_at = timer_at
    mgr = sa.mgr
    last = mgr.last_response
    if last is None:
        p.last_packets = None
    else:
        packets = last[1]
        p.last_packets = packets[0] if len(packets) == 1 else tuple(packets)
    key = (id(sa.prf), id(sa.encr), id(sa.integ), sa.dh_group)
    suite = S._SUITES.get(key)
    if suite is None:
        suite = S._SUITES[key] = (sa.prf, sa.encr, sa.integ, sa.dh_group)
    p.suite = suite
    if sk.encr.aead:
        keys = sa.sk_d + sk._out_a + sk._in_a
    else:
        keys = sa.sk_d + sk._out_e + sk._out_a + sk._in_e + sk._in_a
    pid = sa.peer_id
    realm = -1
    if pid is not None:
        user, at, name = pid.data.partition(b"@")
        if at and len(name) <= 128:
            realm = S._REALM_INDEX.get(name, -1)
            if realm < 0 and len(S._REALMS) < 255:
                realm = S._REALM_INDEX[name] = len(S._REALMS)
                S._REALMS.append(name)
        if realm >= 0:
            keys += bytes((pid.id_type, pid.initiator, realm)) + user
        else:
            keys += bytes((pid.id_type, pid.initiator)) + pid.data
    p.eap_identity = sa.eap_identity
    flags = (
        (S._F_ORIG_INITIATOR if sa.original_initiator else 0)
        | (S._F_NAT_LOCAL if sa.nat_local else 0)
        | (S._F_NAT_REMOTE if sa.nat_remote else 0)
        | (S._F_FRAGMENTATION if sa.fragmentation else 0)
        | (S._F_REDIRECT_SUPPORTED if sa.peer_redirect_supported else 0)
        | (S._F_PEER_CERTREQ if sa.peer_certreq else 0)
        | (S._F_REKEY_STARTED if sa.rekey_started else 0)
        | (S._F_CP_FAILED if sa.cp_failed else 0)
        | (S._F_PEER_ID if pid is not None else 0)
        | (S._F_PEER_REALM if realm >= 0 else 0)
    )
    folded = S._folded_assignment(sa)
    endpoint = _endpoint_reference(sa.remote)
    lh, est = sa.last_heard, sa.established_at
    if (
        folded is not None
        and endpoint is not None
        and sa.reply_to is None
        and sa.failure_reason is None
        and type(lh) is float
        and type(est) is float
    ):
        flags |= folded
        family, loose = endpoint[0], endpoint[1] + S._TIMES.pack(lh, est)
        a = sa.assignment
        p.home_prefix = a.home_prefix if a is not None else None
        p.ha_addresses = a.ha_addresses if a is not None else ()
        pfx = p.home_prefix
        if type(pfx) is IPv6Network:
            loose += pfx.network_address._ip.to_bytes(16, "big") + S._PLEN[pfx._prefixlen]
            flags |= S._F_PREFIX_PACKED
            p.home_prefix = None
        plife = a.prefix_lifetime if a is not None else 0
        p.rest = None
    else:
        flags |= S._F_REST
        family, loose, plife = 0, b"", 0
        p.home_prefix, p.ha_addresses = None, ()
        p.rest = (lh, est, sa.remote, sa.reply_to, sa.home_address, sa.internal_ip4,
                  sa.failure_reason, sa.home_prefix, sa.ha_addresses, sa.prefix_lifetime,
                  sa.assignment)  # fmt: skip
    p.blob = b"".join((
        S._HEAD.pack(sa.spi_i, sa.spi_r, mgr.next_mid, mgr.expected_mid, sk._iv_counter, flags,
                     len(keys), family, plife),
        keys, loose, *map(S._child_record, sa.children.values()),
    ))  # fmt: skip
    sa.timer_at = None
    return p


_PARKED_FIELDS = ("id", "timer_at", "last_packets", "suite", "blob", "eap_identity",
                  "home_prefix", "ha_addresses", "local", "rest")  # fmt: skip


def _parked_fields(p):
    return tuple(getattr(p, f) for f in _PARKED_FIELDS)


def test_park_is_the_reference_writer(monkeypatch):
    """``park`` (IPv6 endpoints through ``_core.mhfast.canonical6``) against
    ``_park_reference`` (the writer before it) on a real HA-side SA and on variants of every
    value its common HA case tests (each one just outside it: an IPv4, upper-case,
    IPv4-mapped or IPv4-compatible endpoint, int times, a reply-to pair, a failure reason, an
    HA-assigned HoA or IPv4 address, another prefix / HA address tuple / lifetime object than
    the assignment's, equal-but-not-identical ones, a lifetime out of 32 bits, a bool, no
    assignment, another peer ID, set flag bits): the same ParkedSa fields, octet for octet,
    and the same shared tables after. A park with a planted bug (the prefix length octet
    off by one) is told apart."""
    import dataclasses

    from dsmip6.ikev2 import sa as S
    from dsmip6.ikev2.message import IdPayload
    from dsmip6.ikev2.sa import park, thaw

    ha, parked = _one_parked_sa()
    sa = thaw(parked, ha.ike)
    a = sa.assignment
    other_pfx = IPv6Network(str(a.home_prefix))  # equal, not the same object
    variants = [
        {},
        {"remote": ("198.51.100.7", 4500)},
        {"remote": ("2001:DB8::7", 500)},
        {"remote": ("::ffff:198.51.100.7", 500)},
        {"remote": ("::198.51.100.7", 500)},
        {"remote": ("2001:db8::7", 65536)},
        {"remote": ("2001:db8::7", True)},
        {"remote": ("2001:db8::zz", 500)},
        {"remote": ("2001:db8::7", 500, 0)},
        {"remote": ["2001:db8::7", 500]},
        {"last_heard": 5, "established_at": 0},
        {"established_at": 1},
        {"reply_to": (("2001:db8:a::1", 500), ("2001:db8:100::9", 500))},
        {"failure_reason": "x"},
        {"home_address": HOA},
        {"internal_ip4": IPv4Address("192.0.2.9")},
        {"home_prefix": other_pfx},
        {"home_prefix": None},
        {"ha_addresses": tuple(a.ha_addresses)[:1] + tuple(a.ha_addresses)[1:]},
        {"ha_addresses": ()},
        {"prefix_lifetime": None},
        {"prefix_lifetime": int(str(a.prefix_lifetime))},
        {"prefix_lifetime": a.prefix_lifetime + 1},
        {"assignment": dataclasses.replace(a, prefix_lifetime=3600)},
        {"assignment": dataclasses.replace(a, prefix_lifetime=3600), "prefix_lifetime": 3600},
        {"assignment": dataclasses.replace(a, home_address=HOA)},
        {"assignment": None},
        {"assignment": None, "home_prefix": None, "ha_addresses": (), "prefix_lifetime": None},
        {"peer_id": IdPayload(2, b"ue.example.org")},
        {"peer_id": IdPayload(3, b"0001@" + b"r" * 129)},
        {"peer_id": None},
        {"nat_local": True, "nat_remote": True, "fragmentation": True, "cp_failed": True,
         "peer_redirect_supported": True, "peer_certreq": True, "rekey_started": True},
    ]  # fmt: skip
    variants.append({"assignment": dataclasses.replace(a, prefix_lifetime=1 << 32)})
    # the same with the SA's own copies set to the assignment's (each _F_SA_* flag), one
    # at a time off again
    own = {"home_prefix": a.home_prefix, "ha_addresses": a.ha_addresses,
           "prefix_lifetime": a.prefix_lifetime}  # fmt: skip
    variants += [dict(change, **own) for change in variants if not set(change) & set(own)]
    variants += [dict(own, **{name: odd}) for name, odd in (
        ("home_prefix", other_pfx), ("ha_addresses", list(a.ha_addresses)),
        ("ha_addresses", a.ha_addresses[:1]), ("prefix_lifetime", True),
        ("prefix_lifetime", float(a.prefix_lifetime)), ("home_prefix", None),
        ("ha_addresses", ()), ("prefix_lifetime", None),
    )]  # fmt: skip
    canon = []  # per variant: how many endpoints park read through canonical6
    S._packed_endpoint(("2001:db8::1", 500))  # canonical6 imported (S._CANON6 filled)
    real_canon = S._CANON6[0]

    def counted(host):
        canon[-1] += 1
        return real_canon(host)

    monkeypatch.setattr(S, "_CANON6", [counted])
    for change in variants:
        twins = []
        canon.append(0)
        for writer in (_park_reference, park):
            work = thaw(park(thaw(park(sa, None), ha.ike), None), ha.ike)
            for name, value in change.items():
                object.__setattr__(work, name, value)
            if change.get("assignment") is not None and "home_prefix" not in change:
                work.home_prefix = work.assignment.home_prefix
                work.ha_addresses = work.assignment.ha_addresses
            if writer is park:
                canon[-1] = 0  # only the writer under test counts
            try:
                p = writer(work, 4.0)
            except Exception as exc:  # both writers must fail alike
                twins.append(("raised", type(exc)))
                continue
            twins.append(_parked_fields(p))
        assert twins[0] == twins[1], change
    monkeypatch.undo()
    # the real SA's IPv6 endpoint (and every IPv6 variant's) went through canonical6
    assert canon[0] == 1 and sum(canon) >= 3, canon
    # the tables the writers share are the same after both (no entry only one adds)
    tables = (dict(S._LOCALS), dict(S._SUITES), list(S._REALMS), dict(S._REALM_INDEX))
    work = thaw(park(sa, None), ha.ike)
    _park_reference(work, None)
    park(thaw(park(sa, None), ha.ike), None)
    assert (dict(S._LOCALS), dict(S._SUITES), list(S._REALMS), dict(S._REALM_INDEX)) == tables

    # planted bug: park writes the prefix length octet off by one
    work = thaw(park(sa, None), ha.ike)
    bad = thaw(park(sa, None), ha.ike)
    with monkeypatch.context() as m:
        m.setattr(S, "_PLEN", [bytes(((n + 1) & 0xFF,)) for n in range(129)])
        got = _parked_fields(park(bad, 4.0))
    assert got != _parked_fields(_park_reference(work, 4.0))


def _ntop6_cases():
    """16-octet values for the IPv6 text writers: zero runs of every length and position
    (ties of equal runs included), the IPv4-compatible and IPv4-mapped ranges and their
    neighbours, the extremes."""
    import random

    r = random.Random(11)
    vals = [0, 1, 2, (1 << 128) - 1, 0xFFFF << 32, (0xFFFF << 32) | 1, 1 << 32, 0xFFFF << 16,
            (0xFFFF << 32) | 0x01020304, 0x01020304, 0x0102, 0x10000, 0xFFFE << 32,
            (1 << 112) | 1, (1 << 112) | (1 << 64), 1 << 127]  # fmt: skip
    for mask in range(256):  # every pattern of zero / non-zero words
        v = 0
        for k in range(8):
            if mask >> k & 1:
                v |= r.choice((1, 0xA, 0xFF, 0x1234, 0xFFFF, r.getrandbits(16) | 1)) << (16 * k)
        vals.append(v)
        vals.append(v & ((1 << 32) - 1))  # in ::/96
        vals.append((0xFFFF << 32) | (v & ((1 << 32) - 1)))  # in ::ffff:0:0/96
        vals.append((0xFFFF << 32) | (v & ((1 << 32) - 1)) | (r.getrandbits(16) << 48))
    for _ in range(3000):
        v = 0
        for k in range(8):
            if r.random() < 0.5:
                v |= r.getrandbits(16) << (16 * k)
        vals.append(v)
    return [v.to_bytes(16, "big") for v in vals]


def _ntop6_last_run(octets):
    """A planted-bug formatter: RFC 5952 text, but the LAST of equal zero runs compressed."""
    w = [int.from_bytes(octets[i : i + 2], "big") for i in range(0, 16, 2)]
    best, blen, i = -1, 0, 0
    while i < 8:
        if w[i] == 0:
            j = i
            while j < 8 and w[j] == 0:
                j += 1
            if j - i >= 2 and j - i >= blen:
                best, blen = i, j - i
            i = j
        else:
            i += 1
    if best < 0:
        return ":".join(f"{x:x}" for x in w)
    head = ":".join(f"{x:x}" for x in w[:best])
    tail = ":".join(f"{x:x}" for x in w[best + blen :])
    return head + "::" + tail


def test_mhfast_ntop6_is_the_c_librarys_inet_ntop():
    """``_core.mhfast.ntop6`` (what ``ha._t6`` calls: the BA's datagram address, the K=1
    move's text) against ``socket.inet_ntop(AF_INET6, ...)`` over zero runs of every length
    and position, ties, the IPv4-compatible and IPv4-mapped ranges (dotted quads) and their
    neighbours: the same text; other lengths raise ``ValueError`` like it. A formatter with
    a planted bug (the last of equal zero runs compressed) is told apart by these cases."""
    from socket import AF_INET6, inet_ntop

    from dsmip6._core.mhfast import ntop6
    from dsmip6.ha import _t6

    cases = _ntop6_cases()
    assert len(cases) > 4000
    for o in cases:
        assert ntop6(o) == inet_ntop(AF_INET6, o), o.hex()
    assert _t6(int.from_bytes(cases[-1], "big")) == inet_ntop(AF_INET6, cases[-1])
    for bad in (b"", bytes(15), bytes(17)):
        with pytest.raises(ValueError):
            inet_ntop(AF_INET6, bad)
        with pytest.raises(ValueError):
            ntop6(bad)
    assert any(_ntop6_last_run(o) != inet_ntop(AF_INET6, o) for o in cases)


def test_mhfast_canonical6_is_the_parked_endpoint_test():
    """``_core.mhfast.canonical6(host)`` (park's inline endpoint test) gives the octets
    exactly when ``inet_ntop(inet_pton(host)) == host`` (``_packed_endpoint``'s test), for
    every canonical text of the cases above, and None for the rest: upper case, leading
    zeros, uncompressed or wrongly compressed runs, dotted quads where the C library writes
    hex (and the reverse), zones, IPv4 text, empty and malformed text. (None sends park to
    ``_packed_endpoint``, which asks the C library: a text this parser cannot read is never
    decided by it.)"""
    from socket import AF_INET6, inet_ntop, inet_pton

    from dsmip6._core.mhfast import canonical6

    def c_answer(host):
        try:
            o = inet_pton(AF_INET6, host)
        except (OSError, ValueError):
            return None
        return o if inet_ntop(AF_INET6, o) == host else None

    texts = []
    for o in _ntop6_cases()[::3]:
        t = inet_ntop(AF_INET6, o)
        assert canonical6(t) == o, t
        texts += [t, t.upper(), t.replace("::", ":0:", 1), "0" + t if t[0] != ":" else t,
                  t + "%eth0", ":".join(f"{int.from_bytes(o[i:i + 2], 'big'):x}"
                                       for i in range(0, 16, 2)), _ntop6_last_run(o)]  # fmt: skip
    texts += ["", ":", ":::", "1.2.3.4", "::1.2.3.4", "::ffff:1.2.3.4", "::ffff:0102:0304",
              "::102:304", "::ffff:102:304", "1::2::3", "12345::", "g::", "::ffff:1.2.3",
              "2001:db8::1 ", " 2001:db8::1", "2001:0db8::1", "2001:db8:0:0:1::1"]  # fmt: skip
    agree = 0
    for t in texts:
        got, want = canonical6(t), c_answer(t)
        assert got == want, t
        agree += got is not None
    assert agree > 1000


def test_ha_output_is_never_a_list_the_engine_keeps():
    """``HomeAgent.datagrams_to_send`` passes our IKE engine's list on when it has nothing of
    its own to add (the engine hands over a fresh list each call: ``_ike.hands_over_output``),
    and copies any other engine's: the caller's list is never one an engine still holds, and
    holds the HA's datagrams, then the engine's, as before."""
    from dsmip6 import _ike
    from dsmip6.ha import HomeAgent
    from dsmip6.ikev2 import IkeResponder
    from proc_harness import ha_config

    world = RealWorld(1)
    ha = world.make_ha(RustDataPlane())
    assert _ike.hands_over_output(ha.ike) and type(ha.ike) is IkeResponder
    ue = world.make_ue(0)
    ue.set_access(coa6=IPv6Address("2001:db8:100::1"))
    clock = VirtualClock()
    ue.attach("internet", clock.now)
    for d, s, t in ue.datagrams_to_send(clock.now):
        ha.receive_datagram(d, s, t, clock.now)
    out = ha.datagrams_to_send(clock.now)
    assert len(out) == 1 and out is not ha.ike._out and ha.ike._out == []

    class Keeper:  # an engine that returns a list it keeps (allowed by contract D)
        def __init__(self, assign):
            self.kept = [(b"ike", ("a", 500), ("b", 500))]

        def datagrams_to_send(self, now):
            return self.kept

        def next_event(self):
            return None

    class KeepingResponder(IkeResponder):  # ours, with its output method replaced
        datagrams_to_send = Keeper.datagrams_to_send

    assert not _ike.hands_over_output(Keeper(None))
    assert not _ike.hands_over_output(object.__new__(KeepingResponder))
    other = HomeAgent(ha_config(), dataplane=RustDataPlane(), ike_factory=Keeper)
    got = other.datagrams_to_send(0.0)
    assert got == other.ike.kept and got is not other.ike.kept
    other._out.append((b"mh", ("c", 0), ("d", 0)))
    got = other.datagrams_to_send(0.0)
    assert got == [(b"mh", ("c", 0), ("d", 0)), (b"ike", ("a", 500), ("b", 500))]
    assert other._out == []


def _esp_spi_mismatches(reference) -> tuple[int, int, int]:
    """Packets on which ``_core.mhfast.esp_spi`` and ``reference`` differ (the SPI, None, or
    the exception: type, message, offset and reason): IPv6 headers whose chain of
    Hop-by-Hop / Routing / Destination Options headers (random lengths) ends in ESP, another
    protocol or the end of the buffer, every truncation of some of them, and short buffers.
    Also how many gave an SPI and how many raised."""
    import random

    from dsmip6._core.mhfast import esp_spi
    from dsmip6.errors import MalformedPacket

    def answer(fn, packet):
        try:
            return ("ok", fn(packet))
        except MalformedPacket as exc:
            return ("raised", type(exc), exc.args, exc.offset, exc.reason)

    rng = random.Random(5)
    packets = [bytes(n) for n in range(0, 48)]
    for _ in range(400):
        chain = [rng.choice((0, 43, 60)) for _ in range(rng.randrange(0, 4))]
        last = rng.choice((50, 50, 135, 58, 6))
        head = bytearray(rng.randbytes(40))
        head[0] = 0x60
        head[6] = chain[0] if chain else last
        body = bytearray()
        for i, _ in enumerate(chain):
            units = rng.randrange(0, 3)
            nxt = chain[i + 1] if i + 1 < len(chain) else last
            body += bytes((nxt, units)) + rng.randbytes(6 + 8 * units)
        body += rng.randbytes(rng.choice((8, 24, 40)))
        packet = bytes(head + body)
        packets.append(packet)
        if rng.random() < 0.3:
            packets += [packet[:n] for n in range(40, len(packet))]
    bad = spis = raised = 0
    for packet in packets:
        got, want = answer(esp_spi, packet), answer(reference, packet)
        bad += got != want
        spis += want[0] == "ok" and want[1] is not None
        raised += want[0] == "raised"
    return bad, spis, raised


def test_esp_spi_in_rust_walks_as_the_python_walk():
    """``_core.mhfast.esp_spi`` (what ``WireSignalling.unprotect`` calls for ``bytes``) gives
    the SPI, None or the ``MalformedPacket`` (message, offset, reason) of ``_mh.esp_spi``
    on every packet of ``_esp_spi_mismatches``; planted variants of the walk — an extension
    header length one unit short, no check that the ESP header is complete — are told apart."""
    from dsmip6._mh import esp_spi

    bad, spis, raised = _esp_spi_mismatches(esp_spi)
    assert bad == 0 and spis > 100 and raised > 100

    def short_units(packet):
        if len(packet) >= 40 and packet[6] in (0, 43, 60) and len(packet) >= 42:
            b = bytearray(packet)
            b[41] = max(b[41] - 1, 0)
            return esp_spi(bytes(b))
        return esp_spi(packet)

    def esp_unchecked(packet):
        try:
            return esp_spi(packet)
        except Exception as exc:  # noqa: BLE001 - the planted bug swallows one check
            if getattr(exc, "args", ("",))[0] == "ESP header truncated":
                return 0
            raise

    for planted in (short_units, esp_unchecked):
        assert _esp_spi_mismatches(planted)[0] > 0, planted.__name__


def _attach_trace(general: bool, n: int = 4):
    """The endpoints of every datagram the HA sends and every event it reports over ``n``
    attaches (IKE events drained from the engine's deque by the HA itself, or, ``general``,
    through ``next_event``), with its counters and bindings at the end."""
    from ipaddress import IPv6Address

    from dsmip6.dataplane_iface import FakeDataPlane
    from dsmip6.sim import VirtualClock
    from dsmip6.sim.world import RealWorld

    world = RealWorld(n)
    ha = world.make_ha(FakeDataPlane())
    if general:
        ha._ike_events = None
    clock = VirtualClock()
    trace: list[object] = []
    for i in range(n):
        ue = world.make_ue(i)
        ue.set_access(coa6=IPv6Address(f"2001:db8:c0a::{i + 1}"))
        ue.attach("internet", clock.now)
        for _ in range(30):
            moved = 0
            for d, s, t in ue.datagrams_to_send(clock.now):
                ha.receive_datagram(d, s, t, clock.now)
                moved += 1
            for d, s, t in ha.datagrams_to_send(clock.now):
                trace.append((s, t))  # (the octets differ: ECDSA signatures are randomised)
                ue.receive_datagram(d, s, t, clock.now)
                moved += 1
            while (ev := ha.next_event()) is not None:
                trace.append(repr(ev))
            if not moved:
                break
        clock.now += 1.0
    return trace, dict(ha.counters), sorted(map(repr, ha.bindings()))


def test_ha_drains_our_engines_events_as_next_event_gives_them():
    """The HA pops our engine's event deque itself (``_ike.event_queue``) only where
    ``next_event`` is ``Engine.next_event``; the attaches (datagrams, events, counters,
    bindings) are the same as when every event is asked through ``next_event``."""
    from collections import deque

    from dsmip6 import _ike
    from dsmip6.ikev2._engine import Engine

    fast = _attach_trace(False)
    assert len(fast[2]) == 4 and any("BindingCreated" in str(x) for x in fast[0])
    assert fast == _attach_trace(True)

    class Foreign:  # a deque named _events, but its own next_event
        _events: deque[object] = deque()

        def next_event(self) -> object:
            return None

    assert _ike.event_queue(Foreign()) is None

    class Filtered(Engine):
        def next_event(self):  # type: ignore[override]
            return None

    engine = Filtered.__new__(Filtered)
    engine._events = deque()
    assert _ike.event_queue(engine) is None
    Plain = type("Plain", (Engine,), {})
    engine = Plain.__new__(Plain)
    engine._events = deque()
    assert _ike.event_queue(engine) is engine._events


def _net6_mismatches(make) -> int:
    """Lengths 0-128 (and the remembered masks read again) at which ``make(network,
    length)`` is not the constructor's network: equal, the same hash, netmask, prefix length,
    text and last address."""
    import random
    from ipaddress import IPv6Network

    rng = random.Random(5)
    bad = 0
    for _ in range(3):
        for plen in range(129):
            net = rng.getrandbits(128) >> (128 - plen) << (128 - plen) if plen else 0
            got, want = make(net, plen), IPv6Network((net, plen))
            bad += (got, hash(got), got.netmask, got.prefixlen, str(got)) != (
                want, hash(want), want.netmask, want.prefixlen, str(want)
            ) or got.broadcast_address != want.broadcast_address  # fmt: skip
    return bad


def test_net6_builds_the_constructors_network():
    """``pools.net6`` (the netmask read from its own table) gives the network
    ``IPv6Network((network, length))`` gives, at every length; a table that hands out the
    next length's mask is caught."""
    from dsmip6 import pools

    assert _net6_mismatches(pools.net6) == 0
    saved = dict(pools._NETMASKS)
    try:
        pools._NETMASKS.clear()
        pools._NETMASKS.update({n: pools._NETMASK6(n + 1) for n in range(127)})
        assert _net6_mismatches(pools.net6) > 0
    finally:
        pools._NETMASKS.clear()
        pools._NETMASKS.update(saved)
