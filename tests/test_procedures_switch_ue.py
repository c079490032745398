"""UE side of an HA switch (RFC 5142 §6): the aborted new session's IKE delete goes through
the normal IKE retransmission (RFC 7296 §2.1), and an inbound SPI already used by the other
session is never installed over it (RFC 4301 §4.1) — on the virtual clock."""

from __future__ import annotations

from dsmip6._state import UeState
from dsmip6.events import AttachFailed, HomeAgentSwitched
from proc_doubles import RTX, _dec
from proc_harness import HA4, HA6, capture, events, fire_timer, ue_and_ha
from test_procedures_mobility import HA4B, HA6B, _attach_with_dp, _second_ha, _switch_exchange


def _start_switch(p, ha2):
    old_hoa = p.ue.home_address("internet")
    p.ha.switch_home_agent(old_hoa, p.clock.now, (HA6B,))
    ((data, src, dst),) = capture(p.ha, p.clock)
    p.ue.receive_datagram(data, src, dst, p.clock.now)
    return old_hoa


def test_aborted_switch_ike_delete_is_retransmitted_until_answered():
    with ue_and_ha() as p:
        _attach_with_dp(p)
        ha2, _ = _second_ha(home_registration=False)  # BU refused 131: the switch fails
        _start_switch(p, ha2)
        deletes = []

        # Run the new session until its BU is refused; keep the IKE delete that follows.
        for _ in range(20):
            for data, src, dst in p.ue.datagrams_to_send(p.clock.now):
                m = _dec(data) if dst[1] == 500 else None
                if m is not None and m["t"] == "del":
                    deletes.append(p.clock.now)
                    continue  # lost
                ha2.receive_datagram(data, src, dst, p.clock.now)
            moved = 0
            for data, src, dst in ha2.datagrams_to_send(p.clock.now):
                p.ue.receive_datagram(data, src, dst, p.clock.now)
                moved += 1
            if not moved:
                break
        evs = events(p.ue)
        assert [e.reason for e in evs if isinstance(e, AttachFailed)] == [
            "ha-switch: binding refused (next-ha)"
        ]
        t0 = p.clock.now
        assert deletes == [t0] and ha2.session_count() == 1
        assert len(p.ue._draining) == 1
        # The IKE engine's retransmission timer brings the same Delete again.
        fire_timer(p.ue, p.clock)
        assert p.clock.now == t0 + RTX
        out = capture(p.ue, p.clock)
        assert [_dec(d)["t"] for d, _, _ in out] == ["del"]
        for data, src, dst in out:
            ha2.receive_datagram(data, src, dst, p.clock.now)
        for data, src, dst in ha2.datagrams_to_send(p.clock.now):
            p.ue.receive_datagram(data, src, dst, p.clock.now)
        assert ha2.session_count() == 0  # the new HA released the HNP
        assert p.ue._draining == [] and p.ue.counters["ha-switch-ike-deleted"] == 1
        assert p.ue.state("internet") is UeState.REGISTERED  # still with the old HA


def test_aborted_switch_ike_delete_gives_up_after_the_engines_tries():
    with ue_and_ha() as p:
        _attach_with_dp(p)
        ha2, _ = _second_ha(home_registration=False)
        _start_switch(p, ha2)
        sent = []
        for _ in range(20):
            for data, src, dst in p.ue.datagrams_to_send(p.clock.now):
                m = _dec(data) if dst[1] == 500 else None
                if m is not None and m["t"] == "del":
                    sent.append(p.clock.now)
                    continue
                ha2.receive_datagram(data, src, dst, p.clock.now)
            if not [p.ue.receive_datagram(*d, p.clock.now) for d in ha2.datagrams_to_send(0)]:
                break
        t0 = sent[0]
        while p.ue._draining:
            fire_timer(p.ue, p.clock)
            sent += [p.clock.now for d, _, _ in capture(p.ue, p.clock) if _dec(d)["t"] == "del"]
        # RTX doubling: 0, 0.5, 1.5, 3.5, 7.5 (five tries of the double), then given up.
        assert [t - t0 for t in sent] == [0.0, 0.5, 1.5, 3.5, 7.5]
        assert p.ue.counters["ha-switch-ike-delete-gave-up"] == 1


def test_colliding_inbound_spi_is_refused_and_another_child_sa_negotiated():
    with ue_and_ha() as p:
        ue_dp = _attach_with_dp(p)
        old_spi = p.ue._pdn("internet").sa_in.spi
        ha2, dp2 = _second_ha()
        # The injected RNG draws the old session's inbound SPI first, then a fresh one.
        draws = [old_spi.to_bytes(4, "big"), (0x5A5A0001).to_bytes(4, "big")]
        ha2.ike.ue_spi_rng = lambda n: draws.pop(0)
        has = {str(HA6): p.ha, str(HA4): p.ha, str(HA6B): ha2, str(HA4B): ha2}
        old_hoa = _start_switch(p, ha2)
        # Until the new session's child SA is up: the old SA must still be the one found.
        log: list = []
        _switch_exchange(p.ue, has, p.clock, log)
        assert p.ue.counters["spi-collision"] == 1
        assert draws == []  # a second child SA was negotiated
        new = p.ue._pdn("internet")
        assert new.sa_in.spi == 0x5A5A0001 and p.ue._by_spi[0x5A5A0001] is new
        assert old_spi not in p.ue._by_spi  # the old session ended (de-registered) cleanly
        evs = events(p.ue)
        assert HomeAgentSwitched("internet", (HA6B,)) in evs
        assert not [e for e in evs if isinstance(e, AttachFailed)]
        # The old HA's de-registration went through (and its BA came back through) the old
        # SA, not the new one: accepted and acknowledged, then its IKE SA deleted.
        mh = [k for _, h, k in log if k is not None and h == str(HA6)]
        assert mh == [("Bu", 0), ("Ba", 0)]
        assert old_hoa not in p.ha.bindings() and p.ha.session_count() == 0
        assert set(ue_dp.bindings) == {new.hoa} and new.hoa in dp2.bindings
