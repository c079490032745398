"""procedures.md §1.1c / §9.1: the UE keeps the HAs discovery named and moves on to the next
one when an HA refuses the home registration (BA 131 / 143) or does not answer IKE (RFC 5026
§5.1.2), bounded by ``max_home_agents``; an exhausted list fails the attach with a clear
``AttachFailed``. Two real ``HomeAgent`` instances (IKE and ESP doubles), a virtual clock,
datagrams routed by destination address."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

from dsmip6 import _mh
from dsmip6._state import UeState
from dsmip6.config import PdnConfig
from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.errors import CacheError
from dsmip6.events import (
    AttachCompleted,
    AttachFailed,
    BindingAccepted,
    BindingRejected,
    HomeAgentDiscovered,
    IkeEstablished,
    Ipv4HomeAddressAssigned,
)
from dsmip6.sim import VirtualClock
from proc_doubles import _dec
from proc_harness import COA6, HA4, HA6, events, make_ha, make_ue

HA6B = IPv6Address("2001:db8:b::1")
HA4B = IPv4Address("198.51.100.2")
HA6C = IPv6Address("2001:db8:c::1")
POOL_B = IPv6Network("2001:db8:9000::/40")
POOL_C = IPv6Network("2001:db8:a000::/40")


class _BrokenDataPlane(FakeDataPlane):
    """An HA data plane that cannot install a binding: the HA answers BA 143."""

    def add_binding(self, spec):  # noqa: ANN001
        raise CacheError("no room")


class Net:
    """One UE, several HAs, every datagram delivered by destination host (or dropped)."""

    def __init__(self, has: dict, ue) -> None:
        self.has = has  # host text -> HomeAgent
        self.ue = ue
        self.clock = VirtualClock()
        self.log: list = []  # (time, src, dst, data) of every UE datagram
        self.dead: set[str] = set()  # HAs that never answer

    def settle(self, rounds: int = 60) -> None:
        for _ in range(rounds):
            moved = 0
            for data, src, dst in self.ue.datagrams_to_send(self.clock.now):
                moved += 1
                self.log.append((self.clock.now, src, dst, data))
                ha = self.has.get(dst[0])
                if ha is not None and dst[0] not in self.dead:
                    ha.receive_datagram(data, src, dst, self.clock.now)
            for ha in self.has.values():
                for data, src, dst in ha.datagrams_to_send(self.clock.now):
                    moved += 1
                    self.ue.receive_datagram(data, src, dst, self.clock.now)
            if not moved:
                return
        raise AssertionError("did not settle")

    def run_until(self, done, steps: int = 60) -> None:
        self.settle()
        for _ in range(steps):
            if done():
                return
            t = self.ue.get_timer()
            assert t is not None, "no timer armed"
            self.clock.now = max(self.clock.now, t)
            self.ue.handle_timer(self.clock.now)
            self.settle()
        raise AssertionError("condition never reached")


def _ike(data):
    return _dec(data)


def _net(*, ha1_kw=None, ha2_kw=None, ha3=False, ue_kw=None, ha1_dp=None):
    alts = [(HA6B, HA4B)] + ([(HA6C, None)] if ha3 else [])
    pdn = PdnConfig("internet", ha_address6=HA6, ha_address4=HA4, ha_alternates=tuple(alts))
    ue = make_ue(pdns=(pdn,), **(ue_kw or {}))
    ue.set_access(coa6=COA6)
    has = {
        str(HA6): make_ha(ha1_dp, **(ha1_kw or {})),
        str(HA6B): make_ha(address6=HA6B, address4=HA4B, home_pool=POOL_B, **(ha2_kw or {})),
    }
    if ha3:
        has[str(HA6C)] = make_ha(address6=HA6C, home_pool=POOL_C, home_registration=False)
    return Net(has, ue)


def _attached_or_failed(net):
    return lambda: net.ue.state("internet") in (UeState.REGISTERED, UeState.FAILED)


def test_ba_131_moves_on_to_the_next_static_ha():
    """BA 131 (home registration not supported, RFC 6275 §11.7.3 / procedures.md §9.1 "next
    HA"): the UE deletes its IKE SA with that HA (nothing stays behind, RFC 4877 §9), then
    IKE, CREATE_CHILD_SA and the BU with the next configured HA, from the same CoA."""
    net = _net(ha1_kw=dict(home_registration=False))
    net.ue.attach("internet", net.clock.now)
    net.run_until(_attached_or_failed(net))
    ha1, ha2 = net.has[str(HA6)], net.has[str(HA6B)]
    evs = events(net.ue)
    hoa = net.ue.home_address("internet")
    assert hoa in POOL_B and net.ue.state("internet") is UeState.REGISTERED
    kinds = [type(e) for e in evs]
    assert kinds == [
        HomeAgentDiscovered, IkeEstablished, BindingRejected,
        HomeAgentDiscovered, IkeEstablished, Ipv4HomeAddressAssigned, BindingAccepted,
        AttachCompleted,
    ]  # fmt: skip
    assert evs[0] == HomeAgentDiscovered("internet", HA6, HA4, "static")
    assert evs[2] == BindingRejected("internet", 131, "next-ha")
    assert evs[3] == HomeAgentDiscovered("internet", HA6B, HA4B, "static")
    assert evs[4].home_prefix.subnet_of(POOL_B)
    # The wire, in order: to HA1 IKE init, child, BU; on its BA 131, at that same instant,
    # the IKE init to HA2 and the IKE delete to HA1; then HA2's child SA and BU.
    seen = []
    for t, src, dst, data in net.log:
        if dst[1] == 500:
            seen.append((t, src, dst, _ike(data)["t"]))
        else:
            seen.append((t, src, dst, "mh"))
    assert {t for t, *_ in seen} == {0.0}  # nobody lost anything: one instant
    seen = [x[1:] for x in seen]
    c6, h1, h2 = str(COA6), str(HA6), str(HA6B)
    assert seen == [
        ((c6, 500), (h1, 500), "init"),
        ((c6, 500), (h1, 500), "child"),
        ((c6, 0), (h1, 0), "mh"),
        ((c6, 500), (h2, 500), "init"),
        ((c6, 500), (h1, 500), "del"),
        ((c6, 500), (h2, 500), "child"),
        ((c6, 0), (h2, 0), "mh"),
    ]
    # HA1 holds nothing for the UE any more; HA2 has the binding.
    assert ha1.ike.sas == {} and ha1.bindings() == {}
    assert list(ha2.bindings()) == [hoa]
    assert net.ue.counters["next-ha"] == 1
    # The first BU to the new HA is a first registration again: O=1 (Annex A.2).
    _, src, dst, data = net.log[-1]
    ue_sa = net.ue._pdns["internet"].sa_out
    sess = ha2._by_spi[ue_sa.spi]
    bu = net.ue.signalling.decode(data, src, dst, lambda spi: type(sess.sa_in)(sess.sa_in.spec))
    assert isinstance(bu.message, _mh.Bu) and bu.message.o and bu.message.r


def test_ba_143_moves_on_to_the_next_ha():
    """BA 143 (forwarding setup failed, RFC 3963; procedures.md §9.1 "try another HA"): the
    HA's data plane could not take the binding; the UE registers with the next HA."""
    net = _net(ha1_dp=_BrokenDataPlane())
    net.ue.attach("internet", net.clock.now)
    net.run_until(_attached_or_failed(net))
    evs = events(net.ue)
    assert BindingRejected("internet", 143, "next-ha") in evs
    assert net.ue.state("internet") is UeState.REGISTERED
    assert net.ue.home_address("internet") in POOL_B
    assert net.has[str(HA6)].ike.sas == {}
    assert [e for e in evs if isinstance(e, AttachCompleted)][0].home_address in POOL_B


def test_exhausted_list_fails_the_attach_clearly():
    """Every HA refuses: after the last one the attach fails with the reason and status, each
    HA's IKE SA deleted (procedures.md §1.1c: bounded, clear failure)."""
    net = _net(ha1_kw=dict(home_registration=False), ha2_kw=dict(home_registration=False))
    net.ue.attach("internet", net.clock.now)
    net.run_until(_attached_or_failed(net))
    evs = events(net.ue)
    assert evs[-1] == AttachFailed(
        "internet", "no further home agent (2 tried): binding refused (131)", 131
    )
    assert [e for e in evs if isinstance(e, BindingRejected)] == [
        BindingRejected("internet", 131, "next-ha")
    ] * 2
    assert net.ue.state("internet") is UeState.FAILED
    for ha in net.has.values():
        assert ha.ike.sas == {} and ha.bindings() == {}
    assert net.ue.get_timer() is None  # nothing left running
    dels = [dst[0] for _, _, dst, d in net.log if dst[1] == 500 and _ike(d)["t"] == "del"]
    assert dels == [str(HA6), str(HA6B)]


def test_max_home_agents_bounds_the_walk():
    """``max_home_agents`` = 2 with three HAs listed: the third is never contacted."""
    net = _net(
        ha1_kw=dict(home_registration=False),
        ha2_kw=dict(home_registration=False),
        ha3=True,
        ue_kw=dict(max_home_agents=2),
    )
    net.ue.attach("internet", net.clock.now)
    net.run_until(_attached_or_failed(net))
    evs = events(net.ue)
    assert evs[-1] == AttachFailed(
        "internet", "no further home agent (2 tried): binding refused (131)", 131
    )
    assert all(dst[0] != str(HA6C) for _, _, dst, _ in net.log)


def test_ike_timeout_moves_on_to_the_next_ha():
    """RFC 5026 §5.1.2 (procedures.md §1.1c): no answer to IKE_SA_INIT -> the next HA, as
    soon as the engine gives up (the double: 5 transmissions, 0.5 s doubling, so at 15.5 s),
    without the same-HA back-off retry used when no other HA is known."""
    net = _net()
    net.dead.add(str(HA6))
    net.ue.attach("internet", net.clock.now)
    net.run_until(_attached_or_failed(net))
    inits = [(t, dst[0]) for t, _, dst, d in net.log if dst[1] == 500 and _ike(d)["t"] == "init"]
    h1, h2 = str(HA6), str(HA6B)
    assert inits == [(0.0, h1), (0.5, h1), (1.5, h1), (3.5, h1), (7.5, h1), (15.5, h2)]
    evs = events(net.ue)
    assert [e for e in evs if isinstance(e, HomeAgentDiscovered)] == [
        HomeAgentDiscovered("internet", HA6, HA4, "static"),
        HomeAgentDiscovered("internet", HA6B, HA4B, "static"),
    ]
    assert net.ue.state("internet") is UeState.REGISTERED
    # No IKE SA existed with HA1: nothing to delete there.
    assert all(_ike(d)["t"] != "del" for _, _, dst, d in net.log if dst[1] == 500)


def test_ike_timeout_with_no_other_ha_keeps_the_back_off_retry():
    """Without alternates the earlier behaviour stands (RFC 5026 §5.1.2: retry after a
    configurable back-off, ``ike_attempts`` times, then fail with the IKE reason)."""
    ue = make_ue(ike_attempts=2, ike_retry_backoff=5.0)
    ue.set_access(coa6=COA6)
    net = Net({str(HA6): make_ha()}, ue)
    net.dead.add(str(HA6))
    ue.attach("internet", 0.0)
    net.run_until(lambda: ue.state("internet") is UeState.FAILED)
    inits = [t for t, _, dst, d in net.log if dst[1] == 500 and _ike(d)["t"] == "init"]
    assert inits == [0.0, 0.5, 1.5, 3.5, 7.5, 20.5, 21.0, 22.0, 24.0, 28.0]
    assert events(ue)[-1] == AttachFailed("internet", "ike: timeout", None)


def test_ba_131_after_attach_still_ends_the_connection():
    """[D] Once attached, a refusal does not walk the list (the HoA would change under the
    application): BA 131 on a refresh ends the connection as before."""
    net = _net()
    net.ue.attach("internet", net.clock.now)
    net.run_until(_attached_or_failed(net))
    events(net.ue)
    ha1 = net.has[str(HA6)]
    ha1.config = type(ha1.config)(**{**ha1.config.__dict__, "home_registration": False})
    net.run_until(lambda: net.ue.state("internet") is UeState.FAILED)
    evs = events(net.ue)
    assert BindingRejected("internet", 131, "next-ha") in evs
    assert evs[-1] == AttachFailed("internet", "binding refused (next-ha)", 131)
    assert all(dst[0] != str(HA6B) for _, _, dst, _ in net.log)


# ----------------------------------------------------------------- the list from discovery
class _OrderedDnsServer:
    """The simulation's DNS server answering in zone order (dnspython rotates RRsets by
    default, RFC 2181 §5 allows any order): keeps the tests deterministic."""

    def __init__(self, address, zone):
        from dsmip6.sim import DnsServer

        self.inner = DnsServer(address, zone)

    def receive_datagram(self, data, src, dst, now):
        import dns.message
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset

        q = dns.message.from_wire(data)
        r = dns.message.make_response(q)
        qq = q.question[0]
        values = self.inner.zone.get(qq.name, {}).get(dns.rdatatype.to_text(qq.rdtype), [])
        if values:
            r.answer.append(
                dns.rrset.from_text_list(qq.name, 60, dns.rdataclass.IN, qq.rdtype, values)
            )
        self.inner.out.append((r.to_wire(want_shuffle=False), dst, src))

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_dns_answer_with_several_records_lists_the_alternates():
    """procedures.md §1.1b/c [D]: several AAAA/A records name several HAs, in the server's
    order; with several records of a family the IPv6 and IPv4 addresses cannot be paired,
    so each is an HA of its own, IPv6 first (real DNS bytes)."""
    from dsmip6 import discovery as d

    fqdn = d.ha_apn_fqdn("internet", "001", "01")
    dns_addr = ("2001:db8:53::53", 53)
    server = _OrderedDnsServer(
        dns_addr[0], {fqdn: {"AAAA": [str(HA6), str(HA6B), str(HA6C)], "A": [str(HA4), str(HA4B)]}}
    )
    r = d.DnsResolver(fqdn, dns_addr, lambda n: b"\x11" * n)
    r.start(0.0)
    for _ in range(4):
        for data, dst in r.datagrams_to_send(0.0):
            server.receive_datagram(data, ("2001:db8::99", 10053), dst, 0.0)
        for data, src, _ in server.datagrams_to_send(0.0):
            r.receive_datagram(data, src, 0.0)
    assert r.result == d.HaInfo(
        HA6,
        None,
        "dns",
        fqdn=fqdn,
        alternates=(
            d.HaInfo(HA6B, None, "dns", fqdn=fqdn),
            d.HaInfo(HA6C, None, "dns", fqdn=fqdn),
            d.HaInfo(None, HA4, "dns", fqdn=fqdn),
            d.HaInfo(None, HA4B, "dns", fqdn=fqdn),
        ),
    )


def test_dhcpv6_reply_with_several_containers_lists_the_alternates():
    """RFC 6610 §4.3: the first usable container is the HA used; the further usable ones are
    the next HAs to try (procedures.md §1.1c); containers without an HAA are skipped."""
    from dsmip6 import discovery as d

    xid = b"\x01\x02\x03"

    def container(code, addr):
        return (code, d.encode_dhcpv6_options([(d.OPT_MIP6_HAA, addr.packed)]))

    wkp4 = IPv6Address(int(d.WKP.network_address) | int(HA4B))
    opts = [
        container(d.OPT_MIP6_VDINF, HA6),
        (d.OPT_MIP6_IDINF, d.encode_dhcpv6_options([(d.OPT_MIP6_HAF, d.encode_fqdn("x.example"))])),
        container(d.OPT_MIP6_IDINF, HA6B),
        container(d.OPT_MIP6_UDINF, wkp4),
    ]
    info = d.parse_reply(bytes([d.DHCPV6_REPLY]) + xid + d.encode_dhcpv6_options(opts), xid)
    assert info == d.HaInfo(
        HA6,
        None,
        "dhcpv6",
        alternates=(d.HaInfo(HA6B, None, "dhcpv6"), d.HaInfo(None, HA4B, "dhcpv6")),
    )


def test_dns_discovered_list_is_walked_end_to_end():
    """DNS HA-APN discovery (TS 23.003 §21) names two HAs; the first refuses with BA 131; the
    UE attaches to the second (virtual network, real DNS bytes)."""
    from dsmip6 import discovery as d
    from dsmip6.sim import VirtualNetwork

    clock = VirtualClock()
    net = VirtualNetwork(clock, delay=0.005)
    ha1 = make_ha(home_registration=False)
    ha2 = make_ha(address6=HA6B, address4=HA4B, home_pool=POOL_B)
    net.add_node(ha1, str(HA6), str(HA4))
    net.add_node(ha2, str(HA6B), str(HA4B))
    fqdn = d.ha_apn_fqdn("internet", "001", "01")
    dns_addr = ("2001:db8:53::53", 53)
    records = {"AAAA": [str(HA6), str(HA6B)], "A": [str(HA4), str(HA4B)]}
    net.add_node(_OrderedDnsServer(dns_addr[0], {fqdn: records}), dns_addr[0])
    ue = make_ue(pdns=(PdnConfig("internet", discovery="dns"),), dns_server=dns_addr)
    ue.set_access(coa6=COA6)
    net.add_node(ue, str(COA6))
    ue.attach("internet", 0.0)
    net.poll(ue)
    net.run_until(5.0)
    evs = events(ue)
    assert [e for e in evs if isinstance(e, HomeAgentDiscovered)] == [
        HomeAgentDiscovered("internet", HA6, None, "dns"),
        HomeAgentDiscovered("internet", HA6B, None, "dns"),
    ]  # (the IPv4-only entries come after: not reached)
    assert BindingRejected("internet", 131, "next-ha") in evs
    assert ue.state("internet") is UeState.REGISTERED
    assert list(ha2.bindings()) == [ue.home_address("internet")]
    assert ha1.bindings() == {} and ha1.ike.sas == {}


def test_alternate_ha_config_is_validated():
    import pytest
    from dsmip6.errors import ConfigError

    for bad in [((None, None),), ((HA4, None),), ((HA6,),), (("2001:db8::1", None),)]:
        with pytest.raises(ConfigError):
            PdnConfig("internet", ha_address6=HA6, ha_alternates=bad)
    with pytest.raises(ConfigError):
        make_ue(max_home_agents=0)


# ------------------------------------------------------------- which IKE failures move on
def _failing_ike(reason):
    """An IKE double whose exchange with HA1 fails at once with ``reason`` (as the real
    engine reports it: IkeAuthFailed(reason)); with other HAs it behaves normally."""
    from proc_doubles import IkeAuthFailed, IkeInitiatorDouble

    class Failing(IkeInitiatorDouble):
        def connect(self, local, remote, now):
            super().connect(local, remote, now)
            if remote[0] == str(HA6):
                self.out.clear()
                self.pending = None
                self.deadline = now
                self.events.append(IkeAuthFailed(self.spi, reason))

        def handle_timer(self, now):
            if self.pending is None:
                self.deadline = None
                return
            super().handle_timer(now)

    return Failing


def test_ike_authentication_failure_moves_on_to_the_next_ha():
    """procedures.md §1.2 table / RFC 5026 §5.1.2: AUTHENTICATION_FAILED from an HA of the
    discovered list -> the next HA (no blind retry with the same one)."""
    for reason in ("AUTHENTICATION_FAILED", "EAP failure", "INTERNAL_ADDRESS_FAILURE"):
        net = _net()
        net.ue.ike_factory = _failing_ike(reason)
        net.ue.attach("internet", net.clock.now)
        net.run_until(_attached_or_failed(net))
        assert net.ue.state("internet") is UeState.REGISTERED, reason
        assert net.ue.home_address("internet") in POOL_B
        inits = [dst[0] for _, _, dst, d in net.log if dst[1] == 500 and _ike(d)["t"] == "init"]
        assert inits == [str(HA6B)]  # HA1's exchange failed before anything left
        assert net.ue.counters["next-ha"] == 1


def test_ike_proposal_failure_does_not_move_on():
    """NO_PROPOSAL_CHOSEN is a configuration error of the UE (procedures.md §1.2 table: fix
    the proposal set): another HA would refuse it alike, so the attach fails at once."""
    net = _net()
    net.ue.ike_factory = _failing_ike("NO_PROPOSAL_CHOSEN")
    net.ue.attach("internet", net.clock.now)
    net.run_until(_attached_or_failed(net))
    assert events(net.ue)[-1] == AttachFailed("internet", "ike: NO_PROPOSAL_CHOSEN", None)
    assert "next-ha" not in net.ue.counters
    assert all(dst[0] != str(HA6B) for _, _, dst, _ in net.log)


def test_unreachable_alternates_are_skipped():
    """An alternate with no address of the access's family (IPv4-only, UE on an IPv6-only
    access) cannot be reached: skipped (counted), the next one is used."""
    pdn = PdnConfig(
        "internet",
        ha_address6=HA6,
        ha_address4=HA4,
        ha_alternates=((None, IPv4Address("198.51.100.9")), (HA6B, HA4B)),
    )
    ue = make_ue(pdns=(pdn,))
    ue.set_access(coa6=COA6)
    has = {
        str(HA6): make_ha(home_registration=False),
        str(HA6B): make_ha(address6=HA6B, address4=HA4B, home_pool=POOL_B),
    }
    net = Net(has, ue)
    ue.attach("internet", 0.0)
    net.run_until(_attached_or_failed(net))
    assert ue.state("internet") is UeState.REGISTERED
    assert ue.counters["next-ha-unreachable"] == 1 and ue.counters["next-ha"] == 1
    assert [e for e in events(ue) if isinstance(e, HomeAgentDiscovered)][-1] == (
        HomeAgentDiscovered("internet", HA6B, HA4B, "static")
    )
