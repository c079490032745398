"""BA 134 recovery (RFC 5026 §5.3.2) and MAX_UPDATE_RATE (RFC 6275 §11.8/§12) on the UE,
with the pair harness: the real HA, told to answer 134 to its first BUs."""

from dsmip6._mh import Bu
from dsmip6._state import UeState
from dsmip6.errors import MalformedPacket
from dsmip6.events import AttachCompleted, AttachFailed, BindingRejected
from dsmip6.ha import HomeAgent
from proc_doubles import IkeInitiatorDouble
from proc_harness import (
    COA6,
    COA6B,
    attach,
    capture,
    events,
    fire_timer,
    peek,
    roundtrip_until_done,
    transfer,
    ue_and_ha,
)


def answer_dad_failed(ha: HomeAgent, times: int) -> list:
    """Make the HA refuse its next ``times`` BUs with status 134; returns the refused HoAs."""
    refused: list = []
    on_bu = HomeAgent._HANDLERS[Bu]

    def wrapper(self, rx, now):
        if len(refused) < times:
            refused.append(rx.route.mh_src)
            self._reject(rx, self._by_spi[rx.spi], rx.route.mh_src, 134, rx.message.sequence)
            return
        on_bu(self, rx, now)

    ha._HANDLERS = {**HomeAgent._HANDLERS, Bu: wrapper}
    return refused


def settle(p, rounds: int = 10) -> None:
    """Exchange everything, then run due timers (rate-limited BUs), a bounded number of times."""
    for _ in range(rounds):
        roundtrip_until_done(p.ue, p.ha, p.clock)
        if p.ue.state("internet") in (UeState.REGISTERED, UeState.FAILED):
            return
        fire_timer(p.ue, p.clock)
    raise AssertionError(p.ue.state("internet"))


def test_dad_failure_takes_new_hoa_in_same_prefix_over_new_child_sa():
    with ue_and_ha() as p:
        refused = answer_dad_failed(p.ha, 1)
        engines = IkeInitiatorDouble.counter
        p.ue.attach("internet", p.clock.now)
        settle(p)
        ike = p.ue._pdns["internet"].ike
        prefix = p.ue.home_prefix("internet")
        new_hoa = p.ue.home_address("internet")
        assert len(refused) == 1
        old_hoa = refused[0]
        assert new_hoa != old_hoa and new_hoa in prefix and old_hoa in prefix
        # One IKE SA (no second IKE_SA_INIT), two CREATE_CHILD_SA: old then new HoA as TSi.
        assert IkeInitiatorDouble.counter == engines + 1
        assert [tsi for tsi, _ in ike.children] == [str(old_hoa), str(new_hoa)]
        assert len(ike.deleted_children) == 1
        evs = events(p.ue)
        rej = [e for e in evs if isinstance(e, BindingRejected)]
        assert [(e.status, e.action) for e in rej] == [(134, "new-hoa")]
        done = [e for e in evs if isinstance(e, AttachCompleted)]
        assert len(done) == 1 and done[0].home_address == new_hoa
        assert p.ue.state("internet") is UeState.REGISTERED
        # The HA bound the new HoA, not the refused one.
        assert new_hoa in p.dp.bindings and old_hoa not in p.dp.bindings


def test_next_bu_carries_the_new_hoa():
    with ue_and_ha() as p:
        refused = answer_dad_failed(p.ha, 1)
        p.ue.attach("internet", p.clock.now)
        for _ in range(6):
            transfer(p.ha, p.ue, p.clock)
            out = capture(p.ue, p.clock)
            bus = []
            for data, src, dst in out:
                try:
                    rx = peek(p.ue, data, src, dst, p.ha)
                except MalformedPacket:  # an IKE datagram
                    rx = None
                if rx is not None and isinstance(rx.message, Bu):
                    bus.append(rx)
                p.ha.receive_datagram(data, src, dst, p.clock.now)
            if bus and refused and bus[0].route.mh_src != refused[0]:
                assert bus[0].route.mh_src == p.ue.home_address("internet")
                break
        else:
            raise AssertionError("no BU with a new HoA")


def test_fourth_dad_failure_fails_the_attach():
    with ue_and_ha() as p:
        refused = answer_dad_failed(p.ha, 10)
        p.ue.attach("internet", p.clock.now)
        settle(p)
        assert p.ue.state("internet") is UeState.FAILED
        assert len(refused) == 4 and len(set(refused)) == 4
        ike = p.ue._pdns["internet"].ike
        assert len(ike.children) == 4
        evs = events(p.ue)
        assert [e.status for e in evs if isinstance(e, BindingRejected)] == [134] * 4
        failed = [e for e in evs if isinstance(e, AttachFailed)]
        assert len(failed) == 1 and "dad-failed" in failed[0].reason
        assert not any(isinstance(e, AttachCompleted) for e in evs)


def test_bu_rate_limited_to_three_per_second_with_deferral():
    """RFC 6275 §12 MAX_UPDATE_RATE = 3: triggers at t0+0.0..0.9 give BUs at t0, t0+0.1,
    t0+0.2, then the rest coalesce into one BU at t0+1.0 (never dropped)."""
    with ue_and_ha() as p:
        attach(p)
        t0 = p.clock.now + 10.0  # a fresh second, clear of the attach BU
        sent: list = []
        coas = [COA6B, COA6]
        for i in range(10):
            p.clock.now = t0 + i / 10
            p.ue.move(p.clock.now, coa6=coas[i % 2])
            for data, src, dst in capture(p.ue, p.clock):
                rx = peek(p.ue, data, src, dst, p.ha)
                assert isinstance(rx.message, Bu)
                sent.append((round(p.clock.now - t0, 6), rx.message.alt_coa))
        assert sent == [(0.0, COA6B), (0.1, COA6), (0.2, COA6B)]
        at = fire_timer(p.ue, p.clock)
        assert at == t0 + 1.0
        out = capture(p.ue, p.clock)
        assert len(out) == 1
        rx = peek(p.ue, *out[0], p.ha)
        assert rx.message.alt_coa == COA6  # built from the latest trigger (i = 9)
        for data, src, dst in out:
            p.ha.receive_datagram(data, src, dst, p.clock.now)
        transfer(p.ha, p.ue, p.clock)
        assert p.ue.state("internet") is UeState.REGISTERED
        assert p.dp.bindings[p.ue.home_address("internet")].care_of_address == COA6
