"""Interop with strongSwan 5.9.8 (charon + kernel-libipsec) in network namespaces.

* our responder (HA role) with charon initiating: PSK with AES-GCM-16 + X25519, and our RSA
  certificate with AES-CBC + HMAC-SHA-256 + group 19;
* our initiator (UE role) with charon responding: charon's ECDSA certificate, our PSK,
  AES-CBC + HMAC-SHA-256 + group 19, configuration attributes from a charon pool
  (16 = home prefix in charon's 17-octet form, 19 = HA address, INTERNAL_IP4_ADDRESS);
* in both, ICMP echo request/reply through the negotiated tunnel-mode child SA, ESP-in-UDP 4500
  between charon's libipsec and ``dsmip6.esp.SecurityAssociation`` (contract B) on our side.

These tests need root (network namespaces) and strongSwan; a missing tool fails the test.
"""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import pytest
from dsmip6.ikev2 import (
    ChildSaEstablished,
    IkeInitiator,
    IkeResponder,
    IkeSaDeleted,
    IkeSaEstablished,
    InitiatorConfig,
    ResponderConfig,
    TrafficSelector,
)
from ike_harness import PSK, make_ca_and_cert, make_rng
from interop.strongswan_harness import (
    SS_INNER,
    SS_V4,
    US_V4,
    Charon,
    NetnsPair,
    UdpDriver,
    require_tools,
)

pytestmark = [pytest.mark.oracle, pytest.mark.netns]

US_INNER = "10.99.0.2"


def _pem(obj) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(obj, "private_bytes"):
        return obj.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return obj.public_bytes(serialization.Encoding.PEM)


def _esp_pair(child, peer: str):
    """Our two ESP SAs for ``child`` (contract B: ``dsmip6.esp.SecurityAssociation``)."""
    from dsmip6.esp import SecurityAssociation

    out_sa = SecurityAssociation(
        spi=child.spi_out,
        mode="tunnel",
        algorithm=child.algorithm,
        key=child.key_out,
        integrity_key=child.integrity_key_out,
        udp_encap=child.udp_encap,
        tunnel_src=US_V4,
        tunnel_dst=peer,
    )
    in_sa = SecurityAssociation(
        spi=child.spi_in,
        mode="tunnel",
        algorithm=child.algorithm,
        key=child.key_in,
        integrity_key=child.integrity_key_in,
        udp_encap=child.udp_encap[::-1] if child.udp_encap else None,
        tunnel_src=peer,
        tunnel_dst=US_V4,
    )
    return out_sa, in_sa


def ping_through_child(driver: UdpDriver, child, our_inner: str, peer: str) -> None:
    """ICMP echo through the child SA both ways: our ESP encrypts the request, charon's
    libipsec decrypts it, charon's kernel answers, libipsec encrypts the reply, our ESP decrypts
    it. scapy only builds and dissects the inner IP/ICMP packets."""
    from scapy.layers.inet import ICMP, IP, UDP
    from scapy.packet import Raw

    assert child.udp_encap == (4500, 4500)
    out_sa, in_sa = _esp_pair(child, peer)
    payload = b"dsmip6 through strongSwan libipsec"
    for seq in (1, 2):
        inner = IP(src=our_inner, dst=SS_INNER) / ICMP(type=8, id=0x4D36, seq=seq) / payload
        outer = IP(out_sa.encrypt(bytes(inner)))
        assert outer[IP].dst == peer and outer[UDP].dport == 4500
        esp = bytes(outer[UDP].payload)
        assert int.from_bytes(esp[:4], "big") == child.spi_out
        assert int.from_bytes(esp[4:8], "big") == seq
        driver.send_raw(4500, esp, (peer, 4500))
        start = len(driver.esp)
        driver.pump(lambda s=start: len(driver.esp) > s, timeout=10)
        data, addr = driver.esp[start]
        assert addr == (peer, 4500)
        assert int.from_bytes(data[:4], "big") == child.spi_in
        wire = bytes(IP(src=peer, dst=US_V4) / UDP(sport=4500, dport=4500) / Raw(data))
        reply = IP(in_sa.decrypt(wire))
        assert reply[IP].src == SS_INNER and reply[IP].dst == our_inner
        assert reply[ICMP].type == 0 and reply[ICMP].seq == seq
        assert bytes(reply[ICMP].payload) == payload


@pytest.mark.parametrize(
    ("our_auth", "ike", "esp", "algorithm"),
    [
        ("psk", "aes128gcm16-prfsha256-x25519", "aes128gcm16", "aes-gcm-128"),
        ("rsa-cert", "aes128-sha256-ecp256", "aes128-sha256", "aes-cbc-hmac-sha256"),
    ],
)
def test_charon_initiates_to_our_responder(our_auth, ike, esp, algorithm):
    require_tools()
    files: dict[str, bytes] = {}
    if our_auth == "psk":
        remote_auth = "auth = psk"
        ha_kw = {"psk": PSK}
    else:
        ca, cert, key = make_ca_and_cert("rsa", "us.example.org", ca_kind="rsa")
        files["x509ca/ca.pem"] = _pem(ca)
        remote_auth = "auth = pubkey\n      cacerts = ca.pem"
        ha_kw = {"certificate": cert, "private_key": key, "peer_psk": PSK}
    conf = f"""
connections {{
  dsm {{
    version = 2
    local_addrs = {SS_V4}
    remote_addrs = {US_V4}
    proposals = {ike}
    local {{
      auth = psk
      id = charon.example.org
    }}
    remote {{
      {remote_auth}
      id = us.example.org
    }}
    children {{
      c {{
        local_ts = {SS_INNER}/32
        remote_ts = {US_INNER}/32
        esp_proposals = {esp}
        mode = tunnel
      }}
    }}
  }}
}}
secrets {{
  ike-1 {{
    id-1 = charon.example.org
    id-2 = us.example.org
    secret = "{PSK.decode()}"
  }}
}}
"""
    ha = IkeResponder(
        ResponderConfig(
            "us.example.org",
            proposals=[ike],
            child_proposals=[esp],
            **ha_kw,
        ),
        rng=make_rng(f"ss-resp-{our_auth}"),
    )
    with tempfile.TemporaryDirectory(prefix="dsm-ike-") as tmp, NetnsPair() as pair:
        charon = Charon(pair.ss, Path(tmp), conf, files)
        driver = UdpDriver(pair, ha)
        try:
            charon.start()
            init = charon.initiate("c")
            driver.pump(
                lambda: any(isinstance(e, ChildSaEstablished) for e in driver.events), timeout=20
            )
            out, _ = init.communicate(timeout=20)
            assert init.returncode == 0, out
            est = next(e for e in driver.events if isinstance(e, IkeSaEstablished))
            assert est.peer_identity == "charon.example.org"
            # charon's IKE_SA_INIT (an independent peer) was answered by the fast path
            assert ha.fast_path_hits == 1
            assert est.nat_detected  # libipsec fakes a NAT: IKE and ESP float to 4500
            assert est.local == (US_V4, 4500) and est.remote == (SS_V4, 4500)
            child = next(e for e in driver.events if isinstance(e, ChildSaEstablished)).child
            assert child.mode == "tunnel" and child.algorithm == algorithm
            assert child.udp_encap == (4500, 4500)
            sas = charon.swanctl("--list-sas")
            assert "ESTABLISHED" in sas and "INSTALLED, TUNNEL" in sas, sas
            ping_through_child(driver, child, US_INNER, SS_V4)
            # charon deletes: INFORMATIONAL D(IKE) --> our responder answers
            charon.swanctl("--terminate", "--ike", "dsm", "--timeout", "10")
            driver.pump(lambda: any(isinstance(e, IkeSaDeleted) for e in driver.events), 10)
            assert ha.ike_sa_ids() == []
        except BaseException:
            print(charon.read_log())
            raise
        finally:
            driver.close()
            charon.stop()


def test_our_initiator_to_charon_responder_with_config_attributes():
    require_tools()
    ca, cert, key = make_ca_and_cert("ecdsa", "charon.example.org")
    files = {
        "x509ca/ca.pem": _pem(ca),
        "x509/charon.pem": _pem(cert),
        "private/charon.pem": _pem(key),
    }
    conf = f"""
connections {{
  ha {{
    version = 2
    local_addrs = {SS_V4}
    remote_addrs = %any
    proposals = aes128-sha256-ecp256
    pools = home
    local {{
      auth = pubkey
      certs = charon.pem
      id = charon.example.org
    }}
    remote {{
      auth = psk
      id = ue@example.org
    }}
    children {{
      c {{
        local_ts = {SS_INNER}/32
        esp_proposals = aes128-sha256
        mode = tunnel
      }}
    }}
  }}
}}
pools {{
  home {{
    addrs = {US_INNER}/32
    16 = 2001:db8:1::/64
    19 = fd00:77::1
  }}
}}
secrets {{
  ike-ue {{
    id = ue@example.org
    secret = "{PSK.decode()}"
  }}
}}
"""
    ue = IkeInitiator(
        InitiatorConfig(
            "ue@example.org",
            psk=PSK,
            trust_anchors=[ca],
            peer_psk=None,
            remote_id="charon.example.org",
            proposals=["aes128-sha256-ecp256"],
            child_proposals=["aes128-sha256"],
            request_home_prefix=True,
            request_home_agent_address=True,
            request_internal_ip4=True,
            child_ts_i=[TrafficSelector.any(4)],
            child_ts_r=[TrafficSelector(SS_INNER)],
            child_mode="tunnel",
        ),
        rng=make_rng("ss-init"),
    )
    with tempfile.TemporaryDirectory(prefix="dsm-ike-") as tmp, NetnsPair() as pair:
        charon = Charon(pair.ss, Path(tmp), conf, files)
        driver = UdpDriver(pair, ue)
        try:
            charon.start()
            ue.connect((US_V4, 500), (SS_V4, 500), driver.now())
            driver.pump(
                lambda: any(isinstance(e, ChildSaEstablished) for e in driver.events), timeout=20
            )
            est = next(e for e in driver.events if isinstance(e, IkeSaEstablished))
            assert est.peer_identity == "charon.example.org"
            # attribute 16 in strongSwan's 17-octet form: prefix and length, no lifetime
            assert est.home_prefix == ipaddress.IPv6Network("2001:db8:1::/64")
            assert est.prefix_lifetime is None
            assert est.ha_addresses == (ipaddress.IPv6Address("fd00:77::1"),)
            assert est.internal_ip4 == ipaddress.IPv4Address(US_INNER)
            child = next(e for e in driver.events if isinstance(e, ChildSaEstablished)).child
            assert child.algorithm == "aes-cbc-hmac-sha256" and child.mode == "tunnel"
            assert child.ts_i == (TrafficSelector(US_INNER),)  # narrowed to the virtual IP
            sas = charon.swanctl("--list-sas")
            assert "ue@example.org" in sas and "INSTALLED, TUNNEL" in sas, sas
            ping_through_child(driver, child, US_INNER, SS_V4)
            # our delete: INFORMATIONAL D(IKE) -->  <-- {}
            ue.delete(driver.now())
            driver.pump(lambda: any(isinstance(e, IkeSaDeleted) for e in driver.events), 10)
            assert "ESTABLISHED" not in charon.swanctl("--list-sas")
        except BaseException:
            print(charon.read_log())
            raise
        finally:
            driver.close()
            charon.stop()
