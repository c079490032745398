"""Mobile Prefix Solicitation / Advertisement on the wire (RFC 6275 §6.7, §6.8, §7.2):
tshark (an independent dissector) decodes what ``WireSignalling`` builds, checksum included
(pseudo-header with the HAO / RH2 addresses, RFC 6275 §6.3, RFC 8200 §8.1); our decoder
refuses corrupted ones."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

import pytest
from dsmip6 import _mpd, wire
from dsmip6._mh import Route, WireSignalling
from dsmip6._mpd import Mpa, Mps, PrefixInfo
from dsmip6.errors import MalformedPacket
from wire_oracle import tshark_fields

HOA = IPv6Address("2001:db8:1::1000")
COA = IPv6Address("2001:db8:2::100")
HA = IPv6Address("2001:db8:1::1")
MPS_ROUTE = Route((str(COA), 0), (str(HA), 0), COA, HA, hao=HOA)
MPA_ROUTE = Route((str(HA), 0), (str(COA), 0), HA, COA, rh2=HOA)


def test_tshark_decodes_mps_and_mpa():
    sig = WireSignalling()
    mps = sig.encode(Mps(0xBEEF), MPS_ROUTE, None)
    infos = (
        PrefixInfo(IPv6Network("2001:db8:1::/64"), 86400, 3600, l=True, a=True, r=False),
        PrefixInfo(IPv6Network("2001:db8:77::/48"), 0xFFFFFFFF, 0, l=False, a=False, r=True),
    )
    mpa = sig.encode(Mpa(0x0102, infos, m=True, o=False), MPA_ROUTE, None)
    f_mps, f_mpa = tshark_fields([mps, mpa])
    assert f_mps["ipv6.src"][0] == str(COA) and f_mps["ipv6.dst"][0] == str(HA)
    assert f_mps["icmpv6.type"] == ["146"] and f_mps["icmpv6.code"] == ["0"]
    assert f_mps["icmpv6.checksum.status"] == ["1"]  # 1 = good
    assert f_mps["icmpv6.mip6.identifier"] == [str(0xBEEF)]
    assert f_mpa["icmpv6.type"] == ["147"]
    assert f_mpa["icmpv6.checksum.status"] == ["1"]
    assert f_mpa["icmpv6.mip6.identifier"] == ["258"]
    assert f_mpa["icmpv6.mip6.flag.m"] == ["1"] and f_mpa["icmpv6.mip6.flag.o"] == ["0"]
    assert f_mpa["icmpv6.opt.type"] == ["3", "3"]
    assert f_mpa["icmpv6.opt.length"] == ["4", "4"]
    assert f_mpa["icmpv6.opt.prefix.length"] == ["64", "48"]
    assert f_mpa["icmpv6.opt.prefix.flag.l"] == ["1", "0"]
    assert f_mpa["icmpv6.opt.prefix.flag.a"] == ["1", "0"]
    assert f_mpa["icmpv6.opt.prefix.flag.r"] == ["0", "1"]
    assert f_mpa["icmpv6.opt.prefix.valid_lifetime"] == ["86400", str(0xFFFFFFFF)]
    assert f_mpa["icmpv6.opt.prefix.preferred_lifetime"] == ["3600", "0"]
    assert f_mpa["icmpv6.opt.prefix"] == ["2001:db8:1::", "2001:db8:77::"]
    # And our own decoder reads back exactly what was built, route included.
    rx = sig.decode(mpa, MPA_ROUTE.src, MPA_ROUTE.dst, lambda spi: None)
    assert rx.message == Mpa(0x0102, infos, m=True, o=False) and rx.route.rh2 == HOA
    rx = sig.decode(mps, MPS_ROUTE.src, MPS_ROUTE.dst, lambda spi: None)
    assert rx.message == Mps(0xBEEF) and rx.route.hao == HOA and rx.spi is None


def test_checksum_uses_the_home_address_of_the_hao():
    # Built for the HoA: verifying with the outer source (the CoA) must fail.
    body = _mpd.encode(Mps(1), HOA, HA)
    assert _mpd.decode(body, HOA, HA) == Mps(1)
    with pytest.raises(MalformedPacket) as exc:
        _mpd.decode(body, COA, HA)
    assert exc.value.reason == "bad-checksum"


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda b: b[:6], "truncated"),
        (lambda b: bytes([b[0], 1]) + b[2:], "bad-code"),
        (lambda b: bytes([135]) + b[1:], "not-mpd"),
        (lambda b: b[:8] + bytes([3, 0]) + b[10:], "bad-option"),
        (lambda b: b[:8] + bytes([3, 5]) + b[10:], "truncated"),
        (lambda b: b[:8] + bytes([3, 2]) + b[10:24], "bad-option"),
        (lambda b: b[:10] + bytes([129]) + b[11:], "bad-option"),
        (lambda b: b[:-1], "truncated"),
    ],
)
def test_malformed_mpa_is_refused_with_a_reason(mutate, reason):
    info = PrefixInfo(IPv6Network("2001:db8:1::/64"), 10, 5)
    good = _mpd.encode(Mpa(5, (info,)), HA, HOA)
    bad = mutate(good)
    # Re-checksum so that the structural check, not the checksum, is what fails.
    if len(bad) >= 8:
        bad = bad[:2] + b"\x00\x00" + bad[4:]
        csum = _mpd._checksum(HA, HOA, bad)
        bad = bad[:2] + csum.to_bytes(2, "big") + bad[4:]
    with pytest.raises(MalformedPacket) as exc:
        _mpd.decode(bad, HA, HOA)
    assert exc.value.reason == reason


def test_unknown_options_are_skipped():
    info = PrefixInfo(IPv6Network("2001:db8:1::/64"), 10, 5)
    good = _mpd.encode(Mpa(5, (info,)), HA, HOA)
    extra = good + bytes([200, 1, 0, 0, 0, 0, 0, 0])
    extra = extra[:2] + b"\x00\x00" + extra[4:]
    extra = extra[:2] + _mpd._checksum(HA, HOA, extra).to_bytes(2, "big") + extra[4:]
    assert _mpd.decode(extra, HA, HOA) == Mpa(5, (info,))


def test_wire_parse_shows_icmpv6_as_raw_protocol_58():
    data = WireSignalling().encode(Mps(3), MPS_ROUTE, None)
    raw = wire.parse(data).get(wire.Raw)
    assert raw.protocol == 58 and raw.data[0] == 146
