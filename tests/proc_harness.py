"""Pair harness (STYLE §6): one UE and one HA, a virtual clock, explicit transfers."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from dsmip6.config import HomeAgentConfig, MobileNodeConfig, PdnConfig
from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.ha import HomeAgent
from dsmip6.mn import MobileNode
from dsmip6.sim import VirtualClock
from proc_doubles import (
    IkeInitiatorDouble,
    IkeResponderDouble,
    SaDouble,
    SignallingDouble,
    mpd_selectors_double,
    selectors_double,
)

HA6 = IPv6Address("2001:db8:a::1")
HA4 = IPv4Address("198.51.100.1")
COA6 = IPv6Address("2001:db8:100::10")
COA6B = IPv6Address("2001:db8:200::20")
COA4 = IPv4Address("192.0.2.10")
POOL = IPv6Network("2001:db8:8000::/40")
POOL4 = IPv4Network("10.200.0.0/16")


def counter_rng(seed: str = "ue"):
    state = {"n": 0}

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            state["n"] += 1
            out += hashlib.sha256(f"{seed}/{state['n']}".encode()).digest()
        return out[:n]

    return rng


def ha_config(**kw) -> HomeAgentConfig:
    base = dict(
        address6=HA6, address4=HA4, home_pool=POOL, ipv4_pool=POOL4, apns=("internet", "ims")
    )
    base.update(kw)
    return HomeAgentConfig(**base)


def make_ha(dp=None, **kw) -> HomeAgent:
    return HomeAgent(
        ha_config(**kw),
        dataplane=dp if dp is not None else FakeDataPlane(),
        ike_factory=lambda assign: IkeResponderDouble(assign),
        signalling=SignallingDouble(),
        sa_factory=SaDouble,
    )


def make_ue(identity="ue1@nai.epc", pdns=None, dataplane=None, **kw) -> MobileNode:
    if pdns is None:
        pdns = (PdnConfig("internet", ha_address6=HA6, ha_address4=HA4),)
    return MobileNode(
        MobileNodeConfig(identity, pdns=pdns, **kw),
        rng=counter_rng(identity),
        ike_factory=IkeInitiatorDouble,
        signalling=SignallingDouble(),
        sa_factory=SaDouble,
        selectors=selectors_double,
        mpd_selectors=mpd_selectors_double,
        dataplane=dataplane,
    )


@dataclass
class Pair:
    ue: MobileNode
    ha: HomeAgent
    clock: VirtualClock
    dp: FakeDataPlane


@contextmanager
def ue_and_ha(*, coa6=COA6, coa4=None, ue_kw=None, ha_kw=None):
    clock = VirtualClock()
    dp = FakeDataPlane()
    ha = make_ha(dp, **(ha_kw or {}))
    ue = make_ue(**(ue_kw or {}))
    ue.set_access(coa6=coa6, coa4=coa4)
    yield Pair(ue, ha, clock, dp)


def transfer(a, b, clock, *, src_rewrite=None, dst_rewrite=None) -> int:
    """Deliver everything ``a`` wants to send to ``b`` now; returns the count."""
    n = 0
    for data, src, dst in a.datagrams_to_send(clock.now):
        if src_rewrite is not None:
            src = src_rewrite(src)
        if dst_rewrite is not None:
            dst = dst_rewrite(dst)
        b.receive_datagram(data, src, dst, clock.now)
        n += 1
    return n


def drop(a, clock) -> int:
    return len(a.datagrams_to_send(clock.now))


def capture(a, clock):
    return a.datagrams_to_send(clock.now)


def fire_timer(node, clock) -> float:
    t = node.get_timer()
    assert t is not None, "no timer armed"
    clock.now = max(clock.now, t)
    node.handle_timer(clock.now)
    return clock.now


def nat_rewriters(inside, public):
    """A one-mapping NAPT: ``inside`` (host, port) <-> ``public`` (host, port), UDP 4191 only."""
    return (
        (lambda s: public if s == inside else s),
        (lambda d: inside if d == public else d),
    )


def roundtrip_until_done(ue, ha, clock, *, max_rounds=50, nat=None) -> int:
    out_rw, in_rw = nat if nat is not None else (None, None)
    rounds = 0
    while rounds < max_rounds:
        moved = transfer(ue, ha, clock, src_rewrite=out_rw) + transfer(
            ha, ue, clock, dst_rewrite=in_rw
        )
        if not moved:
            return rounds
        rounds += 1
    raise AssertionError("exchange did not settle")


def events(node) -> list:
    out = []
    while (ev := node.next_event()) is not None:
        out.append(ev)
    return out


def assert_events(node, types) -> list:
    evs = events(node)
    assert [type(e) for e in evs] == list(types), evs
    return evs


def attach(pair: Pair, apn="internet", nat=None) -> list:
    pair.ue.attach(apn, pair.clock.now)
    roundtrip_until_done(pair.ue, pair.ha, pair.clock, nat=nat)
    return events(pair.ue)


def peek(node, data, src, dst, receiver):
    """Decode a datagram as ``receiver`` would, with *fresh copies* of its SAs, so that the
    receiver's anti-replay state is untouched when the datagram is delivered afterwards."""

    def fresh(spi):
        sa = receiver._find_sa(spi)
        return None if sa is None else type(sa)(sa.spec)

    return node.signalling.decode(data, src, dst, fresh)
