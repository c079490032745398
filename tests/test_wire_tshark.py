"""Oracle: tshark (Wireshark's dissectors) decodes every message and option we build, and
agrees field by field with the values we built them from."""

from __future__ import annotations

from dsmip6.wire import (
    AlternateCareOfAddress,
    BindingAcknowledgement,
    BindingAuthorizationData,
    BindingError,
    BindingIdentifier,
    BindingRefreshAdvice,
    BindingRefreshRequest,
    BindingRevocationAcknowledgement,
    BindingRevocationIndication,
    BindingUpdate,
    DestinationOptions,
    Esp,
    HomeAddressOption,
    HomeAgentSwitch,
    Ipv4AddressAcknowledgement,
    Ipv4CareOfAddress,
    Ipv4Header,
    Ipv4HomeAddress,
    Ipv6Header,
    MobileNodeIdentifier,
    NatDetection,
    NonceIndices,
    Raw,
    RoutingHeaderType2,
    UdpHeader,
    build,
    parse,
)
from wire_oracle import flag, tshark_fields

HOA = "2001:db8:1::1000"
COA = "2001:db8:2::100"
HA = "2001:db8:1::1"
V4COA = "198.51.100.7"
HA4 = "203.0.113.1"


def over_ipv6_hao(msg: object) -> bytes:
    return build([Ipv6Header(COA, HA), DestinationOptions([HomeAddressOption(HOA)]), msg])


def over_ipv6_rh2(msg: object) -> bytes:
    return build([Ipv6Header(HA, COA, hop_limit=255), RoutingHeaderType2(HOA), msg])


def over_udp4191(msg: object, src: str = HOA, dst: str = HA) -> bytes:
    return build(
        [
            Ipv4Header(V4COA, HA4, ttl=33, identification=0x1234, dont_fragment=True),
            UdpHeader(50123, 4191),
            Ipv6Header(src, dst, traffic_class=0x20, flow_label=0x12345),
            msg,
        ]
    )


def bu_all_flags_variants() -> list[BindingUpdate]:
    names = "ahlkmrpfto"
    out = []
    for i, name in enumerate(names):
        flags = {n: (n == name) for n in names}
        out.append(BindingUpdate(100 + i, 7 + i, **flags))
    out.append(BindingUpdate(0xFFFF, 0xFFFF, **{n: True for n in names}))
    return out


def check_bu(f: dict[str, list[str]], bu: BindingUpdate) -> None:
    assert f["mip6.mhtype"] == ["5"]
    assert f["mip6.bu.seqnr"] == [str(bu.sequence)]
    assert f["mip6.bu.lifetime"] == [str(bu.lifetime_4s)]
    assert f["mip6.bu.a_flag"] == [flag(bu.a)]
    assert f["mip6.bu.h_flag"] == [flag(bu.h)]
    assert f["mip6.bu.l_flag"] == [flag(bu.l)]
    assert f["mip6.bu.k_flag"] == [flag(bu.k)]
    assert f["mip6.bu.m_flag"] == [flag(bu.m)]
    assert f["mip6.nemo.bu.r_flag"] == [flag(bu.r)]
    assert f["mip6.bu.p_flag"] == [flag(bu.p)]
    assert f["mip6.bu.f_flag"] == [flag(bu.f)]
    assert f["mip6.bu.t_flag"] == [flag(bu.t)]
    # Wireshark names bit 0x0040 after RFC 6602 ("B"); RFC 5648 uses it as O (wire-mobility §4.2).
    assert f["mip6.bu.b_flag"] == [flag(bu.o)]


def test_binding_update_flags_over_every_transport():
    bus = bu_all_flags_variants()
    pkts = [over_ipv6_hao(b) for b in bus] + [over_udp4191(b) for b in bus]
    decoded = tshark_fields(pkts)
    for f, bu in zip(decoded, bus + bus, strict=True):
        check_bu(f, bu)
        assert f["mip6.proto"] == ["59"]
    for f in decoded[: len(bus)]:
        assert f["ipv6.opt.mipv6.home_address"] == [HOA]
        assert f["ipv6.src"] == [COA]
        assert f["ipv6.dstopts.nxt"] == ["135"]
    for f in decoded[len(bus) :]:
        assert f["ip.src"] == [V4COA] and f["ip.dst"] == [HA4]
        assert f["ip.ttl"] == ["33"] and f["ip.id"] == ["0x1234"] and f["ip.flags.df"] == ["1"]
        # tshark verified our IPv4 header and UDP checksums (status 1 = good).
        assert f["ip.checksum.status"] == ["1"] and f["udp.checksum.status"] == ["1"]
        assert f["udp.srcport"] == ["50123"] and f["udp.dstport"] == ["4191"]
        assert f["ipv6.src"] == [HOA] and f["ipv6.dst"] == [HA]
        assert int(f["ipv6.tclass"][0], 16) == 0x20 and int(f["ipv6.flow"][0], 16) == 0x12345


def test_binding_update_options():
    bu = BindingUpdate(
        9,
        900,
        a=True,
        h=True,
        options=[
            Ipv4HomeAddress("192.0.2.10", prefix_len=24, p=True),
            Ipv4HomeAddress("0.0.0.0"),
            AlternateCareOfAddress(COA),
            Ipv4CareOfAddress("10.1.2.3"),
            MobileNodeIdentifier(1, b"ue1@example.org"),
            BindingIdentifier(5, status=0, h=True),
            BindingIdentifier(6, status=1, care_of_address="198.51.100.9"),
            BindingIdentifier(7, care_of_address="2001:db8:3::7"),
            NonceIndices(0x1111, 0x2222),
            BindingAuthorizationData(bytes(range(12))),
        ],
    )
    [f] = tshark_fields([over_ipv6_hao(bu)])
    check_bu(f, bu)
    assert f["mip6.ipv4ha.preflen"] == ["24", "32"]
    assert f["mip6.ipv4ha.p_flag"] == ["1", "0"]
    assert f["mip6.ipv4ha.ha"] == ["192.0.2.10", "0.0.0.0"]
    assert f["mip6.acoa.acoa"] == [COA]
    assert f["mip6.ipv4coa.addr"] == ["10.1.2.3"]
    assert f["mip6.mnid.subtype"] == ["1"]
    assert f["mip6.mnid.identifier"] == ["ue1@example.org"]
    assert f["mip6.bi.bid"] == ["5", "6", "7"]
    assert f["mip6.bi.status"] == ["0", "1", "0"]
    assert f["mip6.bi.h_flag"] == ["1", "0", "0"]
    assert f["mip6.bi.coa_ipv4"] == ["198.51.100.9"]
    assert f["mip6.bi.coa_ipv6"] == ["2001:db8:3::7"]
    assert f["mip6.ni.hni"] == [str(0x1111)] and f["mip6.ni.cni"] == [str(0x2222)]
    assert f["mip6.bad.auth"] == [":".join(f"{b:02x}" for b in range(12))]
    assert "mip6.opt.len.invalid" not in f and "_ws.expert" not in f


def test_binding_acknowledgement_and_options():
    bas = [
        BindingAcknowledgement(
            0,
            1,
            900,
            k=True,
            r=True,
            options=[Ipv4AddressAcknowledgement(0, 32, "192.0.2.10"), BindingRefreshAdvice(600)],
        ),
        BindingAcknowledgement(
            135,
            0xBEEF,
            0,
            p=True,
            t=True,
            options=[Ipv4AddressAcknowledgement(132, 0, "0.0.0.0"), NatDetection(True, 0xFFFFFFFF)],
        ),
        BindingAcknowledgement(1, 2, 3, options=[NatDetection(False, 110)]),
    ]
    pkts = [over_ipv6_rh2(b) for b in bas] + [over_udp4191(b, HA, HOA) for b in bas]
    decoded = tshark_fields(pkts)
    for f, ba in zip(decoded, bas + bas, strict=True):
        assert f["mip6.mhtype"] == ["6"]
        assert f["mip6.ba.status"] == [str(ba.status)]
        assert f["mip6.ba.seqnr"] == [str(ba.sequence)]
        assert f["mip6.ba.lifetime"] == [str(ba.lifetime_4s)]
        assert f["mip6.ba.k_flag"] == [flag(ba.k)]
        assert f["mip6.nemo.ba.r_flag"] == [flag(ba.r)]
        assert f["mip6.ba.p_flag"] == [flag(ba.p)]
        assert f["mip6.ba.t_flag"] == [flag(ba.t)]
    for f in decoded[:3]:
        assert f["ipv6.routing.type"] == ["2"] and f["ipv6.routing.segleft"] == ["1"]
        assert f["ipv6.routing.mipv6.home_address"] == [HOA]
        assert f["ipv6.hlim"] == ["255"]
    f0, f1, f2 = decoded[:3]
    assert f0["mip6.ipv4aa.sts"] == ["0"] and f0["mip6.ipv4ha.preflen"] == ["32"]
    assert f0["mip6.ipv4ha.ha"] == ["192.0.2.10"] and f0["mip6.bra.interval"] == ["600"]
    assert f1["mip6.ipv4aa.sts"] == ["132"] and f1["mip6.ipv4ha.ha"] == ["0.0.0.0"]
    assert f1["mip6.natd.f_flag"] == ["1"] and f1["mip6.natd.refresh_t"] == [str(0xFFFFFFFF)]
    assert f2["mip6.natd.f_flag"] == ["0"] and f2["mip6.natd.refresh_t"] == ["110"]


def test_binding_error_refresh_request_and_home_agent_switch():
    msgs = [
        BindingError(1, "2001:db8:1::2000"),
        BindingError(2, HOA),
        BindingRefreshRequest(),
        HomeAgentSwitch([]),
        HomeAgentSwitch(["2001:db8:1::2", "2001:db8:9::1", "2001:db8:9::2"]),
    ]
    decoded = tshark_fields([over_ipv6_rh2(m) for m in msgs])
    assert [f["mip6.mhtype"] for f in decoded] == [["7"], ["7"], ["0"], ["12"], ["12"]]
    assert decoded[0]["mip6.be.status"] == ["1"]
    assert decoded[0]["mip6.be.haddr"] == ["2001:db8:1::2000"]
    assert decoded[1]["mip6.be.status"] == ["2"] and decoded[1]["mip6.be.haddr"] == [HOA]
    assert decoded[3]["mip6.has.num_addrs"] == ["0"]
    assert decoded[4]["mip6.has.num_addrs"] == ["3"]
    assert decoded[4]["mip6.has.address"] == ["2001:db8:1::2", "2001:db8:9::1", "2001:db8:9::2"]


def test_binding_revocation():
    msgs = [
        BindingRevocationIndication(1, 7),
        BindingRevocationIndication(128, 65535, p=True, v=True, g=True),
        BindingRevocationAcknowledgement(0, 7),
        BindingRevocationAcknowledgement(133, 9, p=True, g=True),
    ]
    decoded = tshark_fields([over_udp4191(m, HA, HOA) for m in msgs])
    for f, m in zip(decoded[:2], msgs[:2], strict=True):
        assert f["mip6.mhtype"] == ["16"] and f["mip6.bri_br.type"] == ["1"]
        assert f["mip6.bri_r.trigger"] == [str(m.revocation_trigger)]
        assert f["mip6.bri_seqnr"] == [str(m.sequence)]
        assert f["mip6.bri_ip"] == [flag(m.p)]
        assert f["mip6.bri_iv"] == [flag(m.v)]
        assert f["mip6.bri_ig"] == [flag(m.g)]
    for f, m in zip(decoded[2:], msgs[2:], strict=True):
        assert f["mip6.bri_br.type"] == ["2"]
        assert f["mip6.bri_status"] == [str(m.status)]
        assert f["mip6.bri_seqnr"] == [str(m.sequence)]
        assert f["mip6.bri_ap"] == [flag(m.p)]
        assert f["mip6.bri_av"] == [flag(m.v)]
        assert f["mip6.bri_ag"] == [flag(m.g)]


def test_esp_and_esp_in_udp_and_tunnelled_ipv4():
    esp6 = build(
        [
            Ipv6Header(COA, HA),
            DestinationOptions([HomeAddressOption(HOA)]),
            Esp(0xDEADBEEF, 42, bytes(32)),
        ]
    )
    esp4 = build([Ipv4Header(V4COA, HA4), UdpHeader(4500, 4500), Esp(0x1001, 3, bytes(24))])
    inner = build([Ipv4Header("192.0.2.10", "192.0.2.200"), UdpHeader(1000, 2000)])
    tun = build([Ipv4Header(V4COA, HA4), UdpHeader(50000, 4191), Raw(inner)])
    f6, f4, ft = tshark_fields([esp6, esp4, tun])
    assert f6["esp.spi"] == ["0xdeadbeef"] and f6["esp.sequence"] == ["42"]
    assert f6["ipv6.opt.mipv6.home_address"] == [HOA] and f6["ipv6.dstopts.nxt"] == ["50"]
    assert f4["esp.spi"] == ["0x00001001"] and f4["esp.sequence"] == ["3"]
    assert f4["udp.srcport"] == ["4500"]
    assert ft["ip.src"] == [V4COA, "192.0.2.10"] and ft["ip.dst"] == [HA4, "192.0.2.200"]
    assert ft["udp.srcport"] == ["50000", "1000"] and ft["udp.dstport"] == ["4191", "2000"]
    # tshark verified the IPv4 header and UDP checksums of both layers.
    assert f4["ip.checksum.status"] == ["1"] and f4["udp.checksum.status"] == ["1"]
    assert ft["ip.checksum.status"] == ["1", "1"] and ft["udp.checksum.status"] == ["1", "1"]
    for p in (esp4, tun):
        assert parse(p).to_bytes() == p


def test_checksums_agree_with_tshark_values():
    """tshark shows the MH checksum field; it must equal the one we computed (and we verify it
    over the HoA pseudo-header on parse)."""
    bu = BindingUpdate(1, 900, a=True, h=True, options=[AlternateCareOfAddress(COA)])
    pkt = over_ipv6_hao(bu)
    [f] = tshark_fields([pkt])
    mh = bu.to_bytes(HOA, HA)
    assert f["mip6.csum"] == [f"0x{mh[4]:02x}{mh[5]:02x}"]
    assert pkt.endswith(mh)
