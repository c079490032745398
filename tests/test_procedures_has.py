"""HA side of the Home Agent Switch (RFC 5142 §5, §8; procedures.md §5.1): the Binding
Refresh Advice, its retransmission schedule, MAX-HA-SWITCH-TRANSMIT-RATE across UEs, and the
binding served until it ends with refreshes refused (BA 129) — on the virtual clock."""

from __future__ import annotations

import pytest
from dsmip6._mh import Has
from dsmip6._state import BceState
from dsmip6.errors import ConfigError, LocalProtocolError
from dsmip6.events import BindingExpired
from proc_harness import (
    COA6,
    attach,
    capture,
    events,
    fire_timer,
    ha_config,
    make_ue,
    peek,
    roundtrip_until_done,
    transfer,
    ue_and_ha,
)


def _has_of(p, sent):
    out = []
    for d, s, t in sent:
        m = peek(p.ha, d, s, t, p.ue).message
        assert isinstance(m, Has)
        out.append(m)
    return out


def test_refresh_advice_in_has_and_retransmissions_after_half_of_it():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        t0 = p.clock.now
        life_end = p.ha.timer_deadline("life", hoa)
        p.ha.switch_home_agent(hoa, t0, (), refresh_advice=40.0)
        (has,) = _has_of(p, capture(p.ha, p.clock))
        assert has.refresh_advice_4s == 10  # RFC 5142 §5.1: 40 s in 4-s units
        # The binding now goes when the advice says, not at its old lifetime end.
        assert p.ha.timer_deadline("life", hoa) == t0 + 40.0 < life_end
        # §5.2: wait min(half the advice, INITIAL-HA-SWITCH-TIMEOUT) = 5 s, then double.
        fire_timer(p.ha, p.clock)
        assert p.clock.now == t0 + 5.0
        (has,) = _has_of(p, capture(p.ha, p.clock))
        assert has.refresh_advice_4s == 8  # 35 s left: 8 whole 4-s units
        fire_timer(p.ha, p.clock)
        assert p.clock.now == t0 + 15.0
        (has,) = _has_of(p, capture(p.ha, p.clock))
        assert has.refresh_advice_4s == 6  # 25 s left


def test_short_advice_retransmits_sooner_and_binding_ends_at_advice():
    with ue_and_ha() as p:
        attach(p)
        events(p.ha)
        hoa = p.ue.home_address("internet")
        t0 = p.clock.now
        p.ha.switch_home_agent(hoa, t0, (), refresh_advice=6.0)
        (has,) = _has_of(p, capture(p.ha, p.clock))
        assert has.refresh_advice_4s == 1
        fire_timer(p.ha, p.clock)  # min(6/2, 5) = 3 s
        assert p.clock.now == t0 + 3.0
        assert len(_has_of(p, capture(p.ha, p.clock))) == 1
        fire_timer(p.ha, p.clock)  # the binding goes at the advice (before the 6-s wait)
        assert p.clock.now == t0 + 6.0
        assert capture(p.ha, p.clock) == []
        assert hoa not in p.ha.bindings() and hoa not in p.dp.bindings
        assert [type(e) for e in events(p.ha)] == [BindingExpired]
        assert p.ha.timer_deadline("has", hoa) is None


def test_advice_never_extends_the_binding_and_must_be_at_least_4_s():
    with ue_and_ha() as p:
        attach(p)
        hoa = p.ue.home_address("internet")
        life_end = p.ha.timer_deadline("life", hoa)
        with pytest.raises(LocalProtocolError):
            p.ha.switch_home_agent(hoa, p.clock.now, (), refresh_advice=3.9)
        assert p.ha.bindings()[hoa] is BceState.ACTIVE
        p.ha.switch_home_agent(hoa, p.clock.now, (), refresh_advice=1e6)
        (has,) = _has_of(p, capture(p.ha, p.clock))
        assert has.refresh_advice_4s == int((life_end - p.clock.now) // 4)
        assert p.ha.timer_deadline("life", hoa) == life_end


def test_without_advice_binding_served_until_lifetime_and_refresh_gets_129():
    with ue_and_ha() as p:
        attach(p)
        events(p.ha)
        hoa = p.ue.home_address("internet")
        life_end = p.ha.timer_deadline("life", hoa)
        p.ha.switch_home_agent(hoa, p.clock.now, ())
        (has,) = _has_of(p, capture(p.ha, p.clock))
        assert has.refresh_advice_4s is None
        # A refresh meanwhile: BA 129, the binding (and its data-plane entry) stays.
        p.ue.move(p.clock.now, coa6=COA6)
        transfer(p.ue, p.ha, p.clock)
        assert p.ha.counters["ba-129"] == 1
        assert p.ha.bindings()[hoa] is BceState.SWITCHING and hoa in p.dp.bindings
        capture(p.ha, p.clock)
        # Retransmissions until the lifetime ends, then nothing.
        while p.ha.get_timer() < life_end:
            fire_timer(p.ha, p.clock)
            capture(p.ha, p.clock)
            assert hoa in p.dp.bindings
        fire_timer(p.ha, p.clock)
        assert p.clock.now == life_end
        assert hoa not in p.dp.bindings and hoa not in p.ha.bindings()
        assert BindingExpired(hoa) in events(p.ha)
        assert p.ha.get_timer() is None or p.ha.timer_deadline("has", hoa) is None


def _three_ues(p):
    ues = [p.ue] + [make_ue(identity=f"ue{i}@nai.epc") for i in (2, 3)]
    for ue in ues:
        ue.set_access(coa6=COA6)
        ue.attach("internet", p.clock.now)
        roundtrip_until_done(ue, p.ha, p.clock)
    return ues


def test_has_rate_limited_across_ues():
    with ue_and_ha() as p:
        ues = _three_ues(p)
        hoas = [ue.home_address("internet") for ue in ues]
        t0 = p.clock.now
        for hoa in hoas:
            p.ha.switch_home_agent(hoa, t0, ())
        assert len(capture(p.ha, p.clock)) == 1  # MAX-HA-SWITCH-TRANSMIT-RATE 1/s
        assert p.ha.counters["has-rate-limited"] == 2
        sent = [(t0, 1)]
        for _ in range(7):
            fire_timer(p.ha, p.clock)
            sent.append((p.clock.now - t0, len(capture(p.ha, p.clock))))
        sent[0] = (0.0, 1)
        # First transmissions at 0, 1, 2 s; retransmissions 5 s after each (5, 6, 7), then
        # 10 s after those (15, 16, 17): never two in the same second.
        assert sent == [(0.0, 1), (1.0, 1), (2.0, 1), (5.0, 1), (6.0, 1), (7.0, 1), (15.0, 1),
                        (16.0, 1)]  # fmt: skip


def test_has_rate_is_configurable_and_validated():
    with pytest.raises(ConfigError):
        ha_config(max_ha_switch_transmit_rate=0)
    with pytest.raises(ConfigError):
        ha_config(max_ha_switch_transmit_rate=float("nan"))
    with ue_and_ha(ha_kw=dict(max_ha_switch_transmit_rate=4.0)) as p:
        ues = _three_ues(p)
        t0 = p.clock.now
        for ue in ues:
            p.ha.switch_home_agent(ue.home_address("internet"), t0, ())
        capture(p.ha, p.clock)
        times = []
        for _ in range(2):
            fire_timer(p.ha, p.clock)
            times.append(p.clock.now - t0)
            assert len(capture(p.ha, p.clock)) == 1
        assert times == [0.25, 0.5]
