"""Generate tests/data/sample.pcap: a short DSMIPv6 session (Ethernet link type).

Run from the repository root after building the extension:
    .venv/bin/python tests/data/make_sample.py
The packets are built with dsmip6.wire; tests/test_wire_cli.py checks that tshark decodes the
file the way ``dsmip6 decode`` does, so the capture is not judged by ourselves alone.

Story (addresses from shared/spec/test-vectors.md §6): a UE registers from an IPv6 care-of
address (BU with HAO / BA with RH2, plaintext MH as when ESP-NULL is not used), sends ESP and
tunnelled data, moves behind a NAT on an IPv4-only access (BU/BA in UDP 4191 with IPv4 HoA/CoA
and NAT detection), sends UDP-4191-tunnelled data and ESP-in-UDP, then the HA asks for a refresh,
reports a Binding Error, switches home agents and revokes the binding, and the UE detaches.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from dsmip6 import _pcap
from dsmip6.wire import (
    AlternateCareOfAddress,
    BindingAcknowledgement,
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
    Raw,
    RoutingHeaderType2,
    UdpHeader,
    build,
)

HOA = "2001:db8:1::1000"
COA = "2001:db8:2::100"
HA = "2001:db8:1::1"
HA2 = "2001:db8:1::2"
CN = "2001:db8:ffff::53"
V4HOA = "192.0.2.10"
V4COA_LOCAL = "10.0.0.7"  # configured on the UE behind the NAT
V4COA_PUBLIC = "198.51.100.7"  # as seen by the HA
HA4 = "203.0.113.1"
CN4 = "192.0.2.200"
NAI = b"001010123456789@nai.epc.mnc001.mcc001.3gppnetwork.org"

UE_MAC = bytes.fromhex("020000000001")
HA_MAC = bytes.fromhex("020000000002")


def udp_payload(sport: int, dport: int, payload: bytes, src: str, dst: str) -> list:
    """An IPv4/UDP/payload chain helper for tunnelled data."""
    return [Ipv4Header(src, dst, identification=7), UdpHeader(sport, dport), Raw(payload)]


def packets() -> list[tuple[bool, bytes]]:
    """(sent by the UE?, IP packet) in capture order."""
    p: list[tuple[bool, bytes]] = []
    # 1-2. Initial registration from an IPv6 care-of address (TS 24.303 A.2).
    bu = BindingUpdate(
        1,
        900,
        a=True,
        h=True,
        k=True,
        r=True,
        options=[
            Ipv4HomeAddress("0.0.0.0"),
            AlternateCareOfAddress(COA),
            MobileNodeIdentifier(1, NAI),
        ],
    )
    p.append((True, build([Ipv6Header(COA, HA), DestinationOptions([HomeAddressOption(HOA)]), bu])))
    ba = BindingAcknowledgement(
        0,
        1,
        900,
        k=True,
        r=True,
        options=[Ipv4AddressAcknowledgement(0, 32, V4HOA), BindingRefreshAdvice(600)],
    )
    p.append((False, build([Ipv6Header(HA, COA), RoutingHeaderType2(HOA), ba])))
    # 3. An ESP-protected packet (transport mode, HAO before ESP; payload opaque).
    esp_body = bytes(range(64)) + bytes(16)
    p.append(
        (
            True,
            build(
                [
                    Ipv6Header(COA, HA),
                    DestinationOptions([HomeAddressOption(HOA)]),
                    Esp(0x00001001, 1, esp_body),
                ]
            ),
        )
    )
    # 4. Reverse-tunnelled IPv6 data: outer CoA -> HA, inner HoA -> CN (UDP/DNS query).
    dns = bytes.fromhex("123401000001000000000000076578616d706c6503636f6d0000010001")
    p.append(
        (True, build([Ipv6Header(COA, HA), Ipv6Header(HOA, CN), UdpHeader(40000, 53), Raw(dns)]))
    )
    # 5-6. Move to an IPv4-only access behind a NAT: BU/BA in UDP 4191 (RFC 5555 §4.2).
    bu4 = BindingUpdate(
        2,
        900,
        a=True,
        h=True,
        k=True,
        r=True,
        options=[
            Ipv4HomeAddress(V4HOA),
            Ipv4CareOfAddress(V4COA_LOCAL),
            BindingIdentifier(1, h=False, care_of_address=V4COA_LOCAL),
        ],
    )
    p.append(
        (
            True,
            build(
                [
                    Ipv4Header(V4COA_PUBLIC, HA4, identification=1),
                    UdpHeader(61000, 4191),
                    Ipv6Header(HOA, HA),
                    bu4,
                ]
            ),
        )
    )
    ba4 = BindingAcknowledgement(
        0,
        2,
        900,
        k=True,
        r=True,
        options=[Ipv4AddressAcknowledgement(0, 32, V4HOA), NatDetection(False, 110)],
    )
    p.append(
        (
            False,
            build(
                [
                    Ipv4Header(HA4, V4COA_PUBLIC, identification=2),
                    UdpHeader(4191, 61000),
                    Ipv6Header(HA, HOA),
                    ba4,
                ]
            ),
        )
    )
    # 7. IPv4 user data tunnelled in UDP 4191: inner IPv4 HoA -> CN, UDP/DNS.
    inner = build([Ipv4Header(V4HOA, CN4, identification=9), UdpHeader(40001, 53), Raw(dns)])
    p.append(
        (
            True,
            build(
                [
                    Ipv4Header(V4COA_PUBLIC, HA4, identification=3),
                    UdpHeader(61000, 4191),
                    Raw(inner),
                ]
            ),
        )
    )
    # 8. ESP in UDP 4500 (RFC 3948) from behind the NAT.
    p.append(
        (
            True,
            build(
                [
                    Ipv4Header(V4COA_PUBLIC, HA4, identification=4),
                    UdpHeader(4500, 4500),
                    Esp(0x00002001, 5, bytes(range(48))),
                ]
            ),
        )
    )
    # 9. Binding Refresh Request from the HA (in UDP 4191).
    p.append(
        (
            False,
            build(
                [
                    Ipv4Header(HA4, V4COA_PUBLIC, identification=5),
                    UdpHeader(4191, 61000),
                    Ipv6Header(HA, HOA),
                    BindingRefreshRequest(),
                ]
            ),
        )
    )
    # 10. Binding Error: a packet with a HAO for an unknown binding (status 1).
    p.append((False, build([Ipv6Header(HA, COA), BindingError(1, "2001:db8:1::2000")])))
    # 11. Home Agent Switch to HA2 with a Binding Refresh Advice (RFC 5142).
    has = HomeAgentSwitch([HA2], options=[BindingRefreshAdvice(15)])
    p.append((False, build([Ipv6Header(HA, COA), RoutingHeaderType2(HOA), has])))
    # 12-13. Binding revocation (TS 24.303 A.6) and its acknowledgement, over UDP 4191.
    bri = BindingRevocationIndication(1, 7)
    p.append(
        (
            False,
            build(
                [
                    Ipv4Header(HA4, V4COA_PUBLIC, identification=6),
                    UdpHeader(4191, 61000),
                    Ipv6Header(HA, HOA),
                    bri,
                ]
            ),
        )
    )
    bra = BindingRevocationAcknowledgement(0, 7)
    p.append(
        (
            True,
            build(
                [
                    Ipv4Header(V4COA_PUBLIC, HA4, identification=7),
                    UdpHeader(61000, 4191),
                    Ipv6Header(HOA, HA),
                    bra,
                ]
            ),
        )
    )
    # 14. Detach from an IPv6 access: lifetime 0 (TS 24.303 A.5).
    bye = BindingUpdate(
        3,
        0,
        a=True,
        h=True,
        k=True,
        options=[Ipv4HomeAddress(V4HOA), AlternateCareOfAddress(COA)],
    )
    p.append(
        (True, build([Ipv6Header(COA, HA), DestinationOptions([HomeAddressOption(HOA)]), bye]))
    )
    return p


def ethernet(from_ue: bool, ip: bytes) -> bytes:
    src, dst = (UE_MAC, HA_MAC) if from_ue else (HA_MAC, UE_MAC)
    etype = 0x86DD if ip[0] >> 4 == 6 else 0x0800
    frame = dst + src + struct.pack("!H", etype) + ip
    return frame + bytes(max(0, 60 - len(frame)))  # minimum Ethernet frame


def main(out: str) -> int:
    frames = [ethernet(ue, ip) for ue, ip in packets()]
    _pcap.write_pcap(out, frames, _pcap.LINKTYPE_ETHERNET)
    print(f"wrote {len(frames)} packets to {out}")
    return 0


if __name__ == "__main__":
    default = str(Path(__file__).with_name("sample.pcap"))
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
