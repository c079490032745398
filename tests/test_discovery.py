"""HA discovery (TS 24.303 §5.1.2.1): HA-APN FQDN, DNS AAAA/A/SRV with real DNS bytes,
DHCPv6 RFC 6610, static — resolvers and the UE driving them."""

from ipaddress import IPv6Address, IPv6Network

import dns.message
import dns.rdatatype
import pytest
from dsmip6 import discovery as d
from dsmip6._state import UeState
from dsmip6.config import PdnConfig
from dsmip6.errors import ConfigError, MalformedPacket
from dsmip6.events import AttachCompleted, AttachFailed, DiscoveryFailed, HomeAgentDiscovered
from dsmip6.mn import DHCPV6_CLIENT_PORT, DNS_CLIENT_PORT
from dsmip6.sim import Dhcpv6Server, DnsServer, VirtualClock, VirtualNetwork
from proc_harness import HA4, HA6, make_ha, make_ue

DNS = ("2001:db8:53::53", 53)
DHCP = ("2001:db8:547::1", 547)


def rng_counter():
    n = {"i": 0}

    def rng(k):
        n["i"] += 1
        return bytes((n["i"] + j) & 0xFF for j in range(k))

    return rng


def test_ha_apn_fqdn_official_example():
    """test-vectors.md §8 (TS 23.003 §21)."""
    assert d.ha_apn_fqdn("internet", "345", "12") == (
        "internet.ha-apn.mnc012.mcc345.pub.3gppnetwork.org"
    )
    assert d.ha_apn_fqdn("Corp.Example", "001", "001").startswith("corp.example.ha-apn.mnc001")
    for bad in [("", "001", "01"), ("a" * 64, "001", "01"), ("x", "01", "01"), ("x", "001", "1")]:
        with pytest.raises(ConfigError):
            d.ha_apn_fqdn(*bad)
    with pytest.raises(ConfigError):
        d.ha_apn_fqdn("a." * 30 + "b", "001", "01")  # > 100 octets


def run_resolver(resolver, server, clock):
    resolver.start(clock.now)
    for _ in range(10):
        for data, dst in resolver.datagrams_to_send(clock.now):
            server.receive_datagram(data, ("2001:db8::99", DNS_CLIENT_PORT), dst, clock.now)
        for data, src, _dst in server.datagrams_to_send(clock.now):
            resolver.receive_datagram(data, src, clock.now)
        if resolver.done:
            return


def test_dns_resolver_aaaa_then_a_real_bytes():
    fqdn = d.ha_apn_fqdn("internet", "001", "01")
    server = DnsServer(DNS[0], {fqdn: {"AAAA": [str(HA6)], "A": [str(HA4)]}})
    r = d.DnsResolver(fqdn, DNS, rng_counter())
    run_resolver(r, server, VirtualClock())
    assert r.result == d.HaInfo(HA6, HA4, "dns", fqdn=fqdn)
    assert server.queries == 2


def test_dns_query_bytes_parse_with_dnspython_independently():
    r = d.DnsResolver("internet.ha-apn.mnc001.mcc001.pub.3gppnetwork.org", DNS, rng_counter())
    r.start(0.0)
    ((data, dst),) = r.datagrams_to_send(0.0)
    q = dns.message.from_wire(data)
    assert dst == DNS
    assert q.question[0].rdtype == dns.rdatatype.AAAA
    assert str(q.question[0].name) == "internet.ha-apn.mnc001.mcc001.pub.3gppnetwork.org."


def test_dns_srv_then_target_addresses():
    domain = "ha.example.org"
    server = DnsServer(
        DNS[0],
        {
            f"_mip6._ipv6.{domain}": {
                "SRV": ["20 5 0 far.example.org.", "10 1 0 near.example.org."]
            },
            "near.example.org": {"AAAA": ["2001:db8:a::2"]},
        },
    )
    r = d.DnsResolver(domain, DNS, rng_counter(), srv=True)
    run_resolver(r, server, VirtualClock())
    assert r.result.address6 == IPv6Address("2001:db8:a::2") and r.result.address4 is None
    assert r.result.fqdn == "near.example.org"


def test_dns_nxdomain_and_spoofed_answers_ignored():
    fqdn = "internet.ha-apn.mnc001.mcc001.pub.3gppnetwork.org"
    server = DnsServer(DNS[0], {})
    r = d.DnsResolver(fqdn, DNS, rng_counter())
    r.start(0.0)
    ((data, _),) = r.datagrams_to_send(0.0)
    # An answer with the wrong ID or from the wrong server is ignored.
    resp = dns.message.make_response(dns.message.from_wire(data))
    resp.id ^= 1
    r.receive_datagram(resp.to_wire(), DNS, 0.0)
    r.receive_datagram(b"\x00garbage", DNS, 0.0)
    r.receive_datagram(data, ("2001:db8::bad", 53), 0.0)
    assert not r.done
    server.receive_datagram(data, ("x", 1), DNS, 0.0)
    ((answer, src, _),) = server.datagrams_to_send(0.0)
    r.receive_datagram(answer, src, 0.0)
    assert r.error == "dns-nxdomain"


def test_dns_retransmits_then_times_out():
    r = d.DnsResolver("x.example", DNS, rng_counter(), timeout=2.0, attempts=3)
    r.start(0.0)
    assert len(r.datagrams_to_send(0.0)) == 1
    assert r.get_timer() == 2.0
    r.handle_timer(2.0)
    assert len(r.datagrams_to_send(2.0)) == 1 and r.get_timer() == 6.0
    r.handle_timer(6.0)
    assert len(r.datagrams_to_send(6.0)) == 1
    r.handle_timer(r.get_timer())
    assert r.error == "timeout"


def test_dhcpv6_information_request_and_reply_rfc6610():
    server = Dhcpv6Server(DHCP[0], HA6, HA4, prefix=IPv6Network("2001:db8:8000::/64"),
                          ha_fqdn="ha1.example.org")  # fmt: skip
    r = d.Dhcpv6Resolver(DHCP, rng_counter(), b"\x00\x04client")
    r.start(0.0)
    ((req, dst),) = r.datagrams_to_send(0.0)
    assert req[0] == 11  # Information-Request
    opts = dict(d.decode_dhcpv6_options(req[4:]))
    oro = opts[6]
    assert {int.from_bytes(oro[i : i + 2], "big") for i in range(0, len(oro), 2)} == {
        50,
        69,
        70,
        71,
        72,
        73,
    }
    assert 8 in opts  # Elapsed Time
    server.receive_datagram(req, ("fe80::1", DHCPV6_CLIENT_PORT), dst, 0.0)
    ((reply, src, _),) = server.datagrams_to_send(0.0)
    r.receive_datagram(reply, src, 0.0)
    assert r.result == d.HaInfo(HA6, HA4, "dhcpv6", IPv6Network("2001:db8:8000::/64"),
                                "ha1.example.org")  # fmt: skip


def test_dhcpv6_information_request_scapy_oracle():
    """scapy (an independent decoder) reads our Information-Request."""
    from scapy.layers.dhcp6 import DHCP6_InfoRequest, DHCP6OptOptReq

    req = d.build_information_request(b"\x01\x02\x03", b"\x00\x04abcd", "home.example")
    pkt = DHCP6_InfoRequest(req)
    assert pkt.trid == 0x010203
    oro = pkt[DHCP6OptOptReq]
    assert list(oro.reqopts) == [50, 69, 70, 71, 72, 73]


def test_dhcpv6_options_outside_containers_are_ignored_and_malformed_rejected():
    xid = b"\xaa\xbb\xcc"
    loose = d.encode_dhcpv6_options([(d.OPT_MIP6_HAA, HA6.packed)])
    assert d.parse_reply(bytes([7]) + xid + loose, xid) is None
    with pytest.raises(MalformedPacket):
        d.parse_reply(bytes([7]) + xid + b"\x00\x46\x00\x10\x00", xid)
    with pytest.raises(MalformedPacket):
        d.decode_fqdn(b"\x05abc")
    assert d.decode_fqdn(d.encode_fqdn("a.b.example")) == "a.b.example"


def sim_world(pdn, **ue_kw):
    clock = VirtualClock()
    net = VirtualNetwork(clock, delay=0.005)
    ha = make_ha()
    net.add_node(ha, str(HA6), str(HA4))
    fqdn = d.ha_apn_fqdn("internet", "001", "01")
    dns_srv = DnsServer(DNS[0], {fqdn: {"AAAA": [str(HA6)], "A": [str(HA4)]}})
    dhcp = Dhcpv6Server(DHCP[0], HA6, HA4)
    net.add_node(dns_srv, DNS[0])
    net.add_node(dhcp, DHCP[0])
    ue = make_ue(pdns=(pdn,), dns_server=DNS, dhcpv6_server=DHCP, **ue_kw)
    coa = "2001:db8:100::10"
    ue.set_access(coa6=IPv6Address(coa))
    net.add_node(ue, coa)
    return clock, net, ue, ha


@pytest.mark.parametrize("method", ["dns", "dhcpv6"])
def test_ue_attaches_after_dynamic_discovery(method):
    clock, net, ue, ha = sim_world(PdnConfig("internet", discovery=method))
    ue.attach("internet", 0.0)
    net.poll(ue)
    net.run_until(5.0)
    evs = []
    while (e := ue.next_event()) is not None:
        evs.append(e)
    disc = [e for e in evs if isinstance(e, HomeAgentDiscovered)]
    assert disc == [HomeAgentDiscovered("internet", HA6, HA4, method)]
    assert any(isinstance(e, AttachCompleted) for e in evs)
    assert ue.state("internet") is UeState.REGISTERED


def test_discovery_failure_reported():
    clock, net, ue, ha = sim_world(PdnConfig("internet", discovery="dns"))
    net.drop_rules.append(lambda data, src, dst: dst[1] == 53)
    ue.attach("internet", 0.0)
    net.poll(ue)
    net.run_until(60.0)
    evs = []
    while (e := ue.next_event()) is not None:
        evs.append(e)
    assert [type(e) for e in evs] == [DiscoveryFailed, AttachFailed]
    assert evs[0].reason == "timeout" and ue.state("internet") is UeState.FAILED


def test_static_info():
    assert d.static_info(HA6, None).source == "static"
    with pytest.raises(ConfigError):
        d.static_info(None, None)
    with pytest.raises(ConfigError):
        PdnConfig("internet")  # static without an address
