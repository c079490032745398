"""ESP interop with independent implementations (STYLE §6 oracles; interop.md):

* scapy's ``SecurityAssociation`` decrypts and authenticates what we encrypt, and we decrypt
  what it encrypts — every algorithm, transport and tunnel mode, IPv6 and IPv4/UDP (NAT-T),
  32-bit and extended sequence numbers;
* tshark (Wireshark's ESP dissector with the SA table) verifies our ICVs (``esp.icv_good``)
  and decodes the decrypted payload, for the algorithms tshark 4.0 implements (AES-GCM-16,
  AES-CBC + HMAC-SHA-256-128, NULL + HMAC-SHA-256-128; it has no ChaCha20-Poly1305 for ESP).

Both tools are test-only dependencies (scapy is GPL-2.0); missing tools fail the test.
"""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest
from cryptography.exceptions import InvalidTag
from dsmip6.esp import SecurityAssociation
from esp_cases import ALGORITHMS, E1, E2, E3, keys
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, IPSecIntegrityError
from scapy.layers.ipsec import SecurityAssociation as ScapySA

pytestmark = pytest.mark.oracle

SCAPY_ALGS = {
    "aes-gcm-128": ("AES-GCM", None),
    "aes-gcm-256": ("AES-GCM", None),
    "chacha20-poly1305": ("CHACHA20-POLY1305", None),
    "aes-cbc-hmac-sha256": ("AES-CBC", "SHA2-256-128"),
    "null": ("NULL", "SHA2-256-128"),
}

# (mode, inner packet, tunnel (src, dst) or None, udp_encap)
LAYOUTS = [
    ("transport", E1, None, None),  # IPv6 | DestOpt(HAO) | ESP | MH
    ("transport", E2, None, None),  # IPv6 | RH2 | ESP | MH
    ("transport", E3, None, None),  # IPv4 | ESP | UDP ...
    ("tunnel", E1, ("2001:db8:2::100", "2001:db8:1::1"), None),
    ("tunnel", E3, ("198.51.100.7", "203.0.113.1"), (4500, 4500)),  # IPv4 / UDP 4500
    ("tunnel", E1, ("198.51.100.7", "203.0.113.1"), (4500, 4500)),
]


def outer(addr: str):
    return IPv6 if ":" in addr else IP


def scapy_sa(algorithm, mode, tunnel, udp, esn_en=False, esn=0):
    crypt, auth = SCAPY_ALGS[algorithm]
    key, ik = keys(algorithm)
    kw = {}
    if tunnel is not None:
        kw["tunnel_header"] = outer(tunnel[0])(src=tunnel[0], dst=tunnel[1])
    if udp is not None:
        kw["nat_t_header"] = UDP(sport=udp[0], dport=udp[1])
    return ScapySA(
        proto=ESP,
        spi=0x1001,
        crypt_algo=crypt,
        crypt_key=key,
        auth_algo=auth,
        auth_key=ik,
        esn_en=esn_en,
        esn=esn,
        **kw,
    )


def ours(algorithm, mode, tunnel, udp, **kw):
    key, ik = keys(algorithm)
    t = {"tunnel_src": tunnel[0], "tunnel_dst": tunnel[1]} if tunnel else {}
    return SecurityAssociation(
        0x1001, mode, algorithm, key, integrity_key=ik, udp_encap=udp, **t, **kw
    )


def parse(wire: bytes):
    return IPv6(wire) if wire[0] >> 4 == 6 else IP(wire)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(("mode", "packet", "tunnel", "udp"), LAYOUTS)
def test_scapy_decrypts_ours(algorithm, mode, packet, tunnel, udp):
    tx = ours(algorithm, mode, tunnel, udp)
    theirs = scapy_sa(algorithm, mode, tunnel, udp)
    for _ in range(3):
        wire = tx.encrypt(packet)
        got = theirs.decrypt(parse(wire))  # verifies the ICV, raises on failure
        assert bytes(got) == packet


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(("mode", "packet", "tunnel", "udp"), LAYOUTS)
def test_we_decrypt_scapys(algorithm, mode, packet, tunnel, udp):
    rx = ours(algorithm, mode, None, udp)
    theirs = scapy_sa(algorithm, mode, tunnel, udp)
    for i in range(1, 4):
        wire = bytes(theirs.encrypt(parse(packet)))
        assert rx.decrypt(wire) == packet
        assert rx.replay_top == i


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_esn_across_2_32_both_ways(algorithm):
    # Our sender crosses from 2^32 - 1 to 2^32; scapy is told the high half explicitly.
    tx = ours(algorithm, "transport", None, None, esn=True, initial_sequence=2**32 - 2)
    w1 = tx.encrypt(E1)  # seq 0x0_FFFFFFFF
    w2 = tx.encrypt(E1)  # seq 0x1_00000000
    assert bytes(scapy_sa(algorithm, "transport", None, None, True, 0).decrypt(IPv6(w1))) == E1
    assert bytes(scapy_sa(algorithm, "transport", None, None, True, 1).decrypt(IPv6(w2))) == E1
    with pytest.raises((InvalidTag, IPSecIntegrityError)):
        scapy_sa(algorithm, "transport", None, None, True, 0).decrypt(IPv6(w2))
    # scapy sends 0x1_00000005; our receiver, already at 0x0_FFFFFFF0, infers the high half.
    rx = ours(algorithm, "transport", None, None, esn=True)
    theirs = scapy_sa(algorithm, "transport", None, None, True, 0)
    warm = [bytes(theirs.encrypt(IPv6(E1), seq_num=s)) for s in (0xFFFFFFF0,)]
    rx_first = rx.decrypt(warm[0])
    assert rx_first == E1 and rx.replay_top == 0xFFFFFFF0
    theirs_hi = scapy_sa(algorithm, "transport", None, None, True, 1)
    w = bytes(theirs_hi.encrypt(IPv6(E1), seq_num=5))
    assert rx.decrypt(w) == E1
    assert rx.replay_top == 2**32 + 5


def write_pcap(path, packets):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
        for i, p in enumerate(packets):
            f.write(struct.pack("<IIII", i, 0, len(p), len(p)))
            f.write(p)


TSHARK_ALGS = {
    "aes-gcm-128": ("AES-GCM with 16 octet ICV [RFC4106]", "NULL"),
    "aes-gcm-256": ("AES-GCM with 16 octet ICV [RFC4106]", "NULL"),
    "aes-cbc-hmac-sha256": ("AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]"),
    "null": ("NULL", "HMAC-SHA-256-128 [RFC4868]"),
}


@pytest.mark.parametrize("algorithm", sorted(TSHARK_ALGS))
@pytest.mark.parametrize(("mode", "packet", "tunnel", "udp"), LAYOUTS)
def test_tshark_verifies_icv_and_decodes(tmp_path, algorithm, mode, packet, tunnel, udp):
    tshark = shutil.which("tshark")
    assert tshark, "tshark is required (make test installs it)"
    tx = ours(algorithm, mode, tunnel, udp)
    wires = [tx.encrypt(packet) for _ in range(3)]
    pcap = tmp_path / "esp.pcap"
    write_pcap(pcap, wires)
    enc, auth = TSHARK_ALGS[algorithm]
    key, ik = keys(algorithm)
    family = "IPv6" if wires[0][0] >> 4 == 6 else "IPv4"
    uat = (
        f'"{family}","*","*","0x00001001","{enc}","0x{key.hex()}","{auth}",'
        f'"{"0x" + ik.hex() if ik else ""}"'
    )
    cmd = [
        tshark, "-n", "-r", str(pcap),
        "-o", "esp.enable_encryption_decode:TRUE",
        "-o", "esp.enable_authentication_check:TRUE",
        "-o", f"uat:esp_sa:{uat}",
        "-T", "fields", "-E", "separator=|",
        "-e", "esp.spi", "-e", "esp.sequence", "-e", "esp.icv_good", "-e", "esp.protocol",
        "-e", "mip6.mhtype",
    ]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 3, res.stdout + res.stderr
    # Next Header inside ESP: the MH (135) in transport mode for E1/E2; UDP (17) for E3;
    # IPv6 (41) / IPv4 (4) in tunnel mode.
    if mode == "tunnel":
        nh = 41 if packet[0] >> 4 == 6 else 4
    else:
        nh = 135 if packet in (E1, E2) else 17
    mh = {E1: "5", E2: "6"}.get(packet)
    for i, line in enumerate(lines, start=1):
        spi, seq, good, proto, mhtype = line.split("|")
        assert int(spi, 16) == 0x1001
        assert int(seq) == i
        assert good in ("1", "True"), line
        assert int(proto, 0) == nh, line
        if mh is not None:
            assert mhtype == mh, line
