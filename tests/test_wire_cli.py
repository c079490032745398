"""``dsmip6 decode``: pcap/pcapng link types, JSON shape, errors per packet, the bundled sample
capture (cross-checked with tshark)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from dsmip6 import _pcap
from dsmip6.wire import (
    BindingError,
    BindingUpdate,
    DestinationOptions,
    HomeAddressOption,
    Ipv4Header,
    Ipv6Header,
    UdpHeader,
    build,
)
from wire_oracle import tshark_file

SAMPLE = Path(__file__).parent / "data" / "sample.pcap"
HOA = "2001:db8:1::1000"
COA = "2001:db8:2::100"
HA = "2001:db8:1::1"

MH_NAMES = {
    "0": "BindingRefreshRequest",
    "5": "BindingUpdate",
    "6": "BindingAcknowledgement",
    "7": "BindingError",
    "12": "HomeAgentSwitch",
}


def decode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dsmip6", "decode", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def decode_json(*args: str) -> list:
    proc = decode(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def bu_packet() -> bytes:
    return build(
        [
            Ipv6Header(COA, HA),
            DestinationOptions([HomeAddressOption(HOA)]),
            BindingUpdate(5, 6, a=True),
        ]
    )


def test_sample_capture_decodes_and_agrees_with_tshark():
    ours = decode_json(str(SAMPLE))
    theirs = tshark_file(str(SAMPLE))
    assert len(ours) == len(theirs) == 14
    for i, (layers, f) in enumerate(zip(ours, theirs, strict=True)):
        assert all("error" not in layer for layer in layers), (i, layers)
        names = [layer["layer"] for layer in layers]
        ipv6 = [layer["fields"] for layer in layers if layer["layer"] == "Ipv6Header"]
        ipv4 = [layer["fields"] for layer in layers if layer["layer"] == "Ipv4Header"]
        assert [x["src"] for x in ipv6] == f.get("ipv6.src", [])
        assert [x["dst"] for x in ipv6] == f.get("ipv6.dst", [])
        assert [x["src"] for x in ipv4] == f.get("ip.src", [])
        if "mip6.mhtype" in f:
            t = f["mip6.mhtype"][0]
            if t == "16":
                kind = f["mip6.bri_br.type"][0]
                expected = {
                    "1": "BindingRevocationIndication",
                    "2": "BindingRevocationAcknowledgement",
                }
                assert names[-1] == expected[kind]
            else:
                assert names[-1] == MH_NAMES[t]
            fields = layers[-1]["fields"]
            if names[-1] == "BindingUpdate":
                assert str(fields["sequence"]) == f["mip6.bu.seqnr"][0]
                assert str(fields["lifetime_4s"]) == f["mip6.bu.lifetime"][0]
            if names[-1] == "BindingAcknowledgement":
                assert str(fields["status"]) == f["mip6.ba.status"][0]
        if "esp.spi" in f:
            assert names[-1] == "Esp"
            assert layers[-1]["fields"]["spi"] == int(f["esp.spi"][0], 16)


def test_text_output_of_the_demo():
    proc = decode(str(SAMPLE))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("packet ") == 14
    for name in (
        "BindingUpdate",
        "BindingAcknowledgement",
        "HomeAddressOption",
        "RoutingHeaderType2",
        "NatDetection",
        "Ipv4CareOfAddress",
        "BindingRefreshRequest",
        "BindingError",
        "HomeAgentSwitch",
        "BindingRevocationIndication",
        "BindingRevocationAcknowledgement",
        "Esp",
    ):
        assert name in out, name
    assert "error" not in out


def test_bad_packet_gets_an_error_entry_and_the_rest_decode(tmp_path):
    good = bu_packet()
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # breaks the MH checksum
    cut = good[:50]
    path = tmp_path / "mixed.pcap"
    _pcap.write_pcap(str(path), [good, bytes(bad), cut, good], _pcap.LINKTYPE_RAW)
    out = decode_json(str(path))
    assert len(out) == 4
    assert out[0][-1]["layer"] == "BindingUpdate"
    assert out[1] == [{"error": out[1][0]["error"], "offset": 64 + 4, "reason": "bad-checksum"}]
    assert out[2][0]["reason"] == "truncated"
    assert out[3][-1]["fields"]["sequence"] == 5


def pcapng(frames: list[tuple[int, bytes]], linktypes: list[int]) -> bytes:
    def block(btype: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for lt in linktypes:
        out += block(1, struct.pack("<HHI", lt, 0, 65535))
    for iface, data in frames:
        out += block(6, struct.pack("<IIIII", iface, 0, 0, len(data), len(data)) + data)
    return out


def test_pcapng_with_raw_cooked_and_ethernet_link_types(tmp_path):
    ip6 = bu_packet()
    ip4 = build(
        [
            Ipv4Header("198.51.100.7", "203.0.113.1"),
            UdpHeader(61000, 4191),
            Ipv6Header(HA, COA),
            BindingError(1, HOA),
        ]
    )
    sll = struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x86DD) + ip6
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 1, 1, 0, 6, bytes(8)) + ip4
    eth_vlan = bytes(12) + struct.pack("!HHH", 0x8100, 7, 0x0800) + ip4 + bytes(10)
    blob = pcapng(
        [(0, ip6), (1, sll), (2, sll2), (3, eth_vlan), (4, ip4)],
        [
            _pcap.LINKTYPE_RAW,
            _pcap.LINKTYPE_LINUX_SLL,
            _pcap.LINKTYPE_LINUX_SLL2,
            _pcap.LINKTYPE_ETHERNET,
            999,
        ],
    )
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(blob)
    out = decode_json(str(path))
    assert [p[-1].get("layer") for p in out[:4]] == [
        "BindingUpdate",
        "BindingUpdate",
        "BindingError",
        "BindingError",
    ]
    # UDP 4191 was decoded without being asked.
    assert [x["layer"] for x in out[2]] == ["Ipv4Header", "UdpHeader", "Ipv6Header", "BindingError"]
    assert out[4][0]["reason"] == "unsupported"


def test_hex_argument_and_bad_argument():
    out = decode_json(bu_packet().hex())
    assert out[0][-1]["layer"] == "BindingUpdate"
    proc = decode("not-hex-and-not-a-file")
    assert proc.returncode == 2 and "neither a file nor hexadecimal" in proc.stderr
