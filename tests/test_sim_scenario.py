"""The simulation harness: N UEs through every procedure on the virtual network, with
loss, duplication and reordering (IKE/wire/ESP are the test doubles here)."""

from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.sim.net import NatBox, VirtualClock, VirtualNetwork
from dsmip6.sim.scenario import PHASES, run_scenario
from proc_harness import HA4, HA6, make_ha, make_ue


def run(n, **kw):
    return run_scenario(
        n,
        make_ha=lambda dp: make_ha(dp),
        make_ue=lambda i: make_ue(f"ue{i}@nai.epc"),
        dataplane=FakeDataPlane(),
        ha_hosts=(str(HA6), str(HA4)),
        **kw,
    )


def test_every_procedure_succeeds_for_every_ue():
    res = run(30)
    assert [p.name for p in res.phases] == list(PHASES)
    assert all(p.succeeded == 30 for p in res.phases), [p.to_dict() for p in res.phases]
    assert res.bindings_left == 0 and res.ok
    # NAT was on the path for the v4-nat handover: the HA saw UDP from the NAT's address.
    assert res.network["unroutable"] == 0


def test_every_procedure_survives_loss_duplication_reordering():
    res = run(20, loss=0.1, seed=7, phase_timeout=900.0)
    assert all(p.succeeded == 20 for p in res.phases), [p.to_dict() for p in res.phases]
    assert res.ok


def test_network_drops_duplicates_reorders_deterministically():
    def trace(seed):
        clock = VirtualClock()
        net = VirtualNetwork(clock, loss=0.2, duplicate=0.2, reorder=0.3, seed=seed)
        got = []

        class Sink:
            def receive_datagram(self, data, src, dst, now):
                got.append((data, now))

            def datagrams_to_send(self, now):
                return []

            def get_timer(self):
                return None

            def handle_timer(self, now):
                pass

        net.add_node(Sink(), "2001:db8::2")
        for k in range(200):
            net.send(bytes([k]), ("2001:db8::1", 0), ("2001:db8::2", 0))
        net.run_until(10.0)
        return got, dict(net.stats)

    a, sa = trace(1)
    b, sb = trace(1)
    assert a == b and sa == sb  # seeded: identical runs
    assert sa["dropped"] > 0 and len(a) != 200 - sa["dropped"]  # duplicates happened
    assert [x[0] for x in a] != sorted(x[0] for x in a)  # reordered


def test_nat_box_rewrites_and_maps_back():
    clock = VirtualClock()
    net = VirtualNetwork(clock)
    nat = net.add_nat(NatBox("203.0.113.1", inside={"10.0.0.5"}))
    seen = []

    class Node:
        def __init__(self):
            self.out = []

        def receive_datagram(self, data, src, dst, now):
            seen.append((data, src, dst))

        def datagrams_to_send(self, now):
            out, self.out = self.out, []
            return out

        def get_timer(self):
            return None

        def handle_timer(self, now):
            pass

    inside, server = Node(), Node()
    net.add_node(inside, "10.0.0.5")
    net.add_node(server, "198.51.100.1")
    net.send(b"up", ("10.0.0.5", 4191), ("198.51.100.1", 4191))
    net.run_until(1.0)
    assert seen[-1] == (b"up", ("203.0.113.1", 40000), ("198.51.100.1", 4191))
    net.send(b"down", ("198.51.100.1", 4191), ("203.0.113.1", 40000))
    net.run_until(2.0)
    assert seen[-1] == (b"down", ("198.51.100.1", 4191), ("10.0.0.5", 4191))
    net.send(b"stray", ("198.51.100.1", 4191), ("203.0.113.1", 40999))
    net.run_until(3.0)
    assert net.stats["unroutable"] == 1 and nat.translations == 1


def test_nat_box_drops_when_its_port_space_is_exhausted():
    clock = VirtualClock()
    net = VirtualNetwork(clock)
    nat = net.add_nat(NatBox("203.0.113.1", inside={"10.0.0.5", "10.0.0.6"}, next_port=65535))
    net.send(b"a", ("10.0.0.5", 4191), ("198.51.100.1", 4191))  # takes the last port
    net.send(b"b", ("10.0.0.6", 4191), ("198.51.100.1", 4191))  # none left: dropped
    net.send(b"c", ("10.0.0.5", 4191), ("198.51.100.1", 4191))  # existing mapping reused
    assert nat.translations == 2 and net.stats["dropped"] == 1
    assert [src for _, _, _, src, _ in net._queue] == [("203.0.113.1", 65535)] * 2


def test_attach_arrivals_are_spread_at_the_attach_rate():
    spread = run(30, attach_rate=100.0)  # one UE every 10 ms of virtual time
    burst = run(30, attach_rate=0.0)  # every UE at t = 0
    for res in (spread, burst):
        assert res.ok and all(p.succeeded == 30 for p in res.phases)
    # The last arrival is at 0.29 s: the attach phase lasts that much longer than the burst's.
    gap = spread.phases[0].virtual_s - burst.phases[0].virtual_s
    assert 0.28 <= gap <= 1.3, (spread.phases[0].to_dict(), burst.phases[0].to_dict())
    assert [round(p.virtual_s, 3) for p in spread.phases[1:]] == [
        round(p.virtual_s, 3) for p in burst.phases[1:]
    ]
