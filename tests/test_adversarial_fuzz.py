"""Untrusted bytes never raise out of the machines: random and mutated datagrams on every
port the HA and the UE listen on are dropped and counted (bounded hypothesis runs)."""

from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.sim import VirtualClock
from dsmip6.sim.world import HA6, RealWorld
from hypothesis import given, settings
from hypothesis import strategies as st
from proc_harness import COA6B

WORLD = RealWorld(4)
HA = WORLD.make_ha(FakeDataPlane())
UE = WORLD.make_ue(1)
UE.set_access(coa6=COA6B)
CLOCK = VirtualClock()
UE.attach("internet", 0.0)
for _ in range(10):
    for d, s, t in UE.datagrams_to_send(0.0):
        HA.receive_datagram(d, s, t, 0.0)
    for d, s, t in HA.datagrams_to_send(0.0):
        UE.receive_datagram(d, s, t, 0.0)
SAMPLE = [d for d, s, t in UE.datagrams_to_send(0.0)]
BU = HA.binding(UE.home_address("internet"))

PORTS = st.sampled_from([0, 4191, 500, 4500, 53, 9999])


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), port=PORTS)
def test_random_bytes_at_the_ha(data, port):
    HA.receive_datagram(data, ("2001:db8::66", port), (str(HA6), port), 1.0)
    HA.datagrams_to_send(1.0)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), port=PORTS)
def test_random_bytes_at_the_ue(data, port):
    UE.receive_datagram(data, (str(HA6), port), (str(COA6B), port), 1.0)
    UE.datagrams_to_send(1.0)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.binary(min_size=40, max_size=40),
    tail=st.binary(max_size=120),
    flip=st.integers(min_value=0, max_value=159),
)
def test_ipv6_shaped_garbage_at_the_ha(prefix, tail, flip):
    pkt = bytearray(b"\x60" + prefix[1:] + tail)
    if flip < len(pkt):
        pkt[flip] ^= 0xA5
    HA.receive_datagram(bytes(pkt), ("2001:db8::66", 0), (str(HA6), 0), 1.0)
    assert HA.binding(UE.home_address("internet")) is BU  # nobody else's state changed
