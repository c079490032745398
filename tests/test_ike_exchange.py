"""IKEv2 exchanges between the UE (IkeInitiator) and the HA (IkeResponder) on a virtual clock.

Each test tells its story with one RFC 7296 notation comment per message; deterministic nonces and
SPIs come from seeded generators; the data plane is the FakeDataPlane.
"""

from __future__ import annotations

from ipaddress import IPv6Address

import pytest
from dsmip6.dataplane_iface import FakeDataPlane
from dsmip6.ikev2 import (
    Assignment,
    ChildSaDeleted,
    ChildSaEstablished,
    ChildSaFailed,
    IkeAuthFailed,
    IkeInitiator,
    IkeResponder,
    IkeSaDeleted,
    IkeSaEstablished,
    IkeSaRekeyed,
    InitiatorConfig,
    Redirected,
    ResponderConfig,
    TrafficSelector,
)
from dsmip6.ikev2.constants import ExchangeType, Notify, PayloadType
from dsmip6.ikev2.exchange import RETRANSMIT_BASE, RETRANSMIT_TIMEOUT, RETRANSMIT_TRIES
from dsmip6.ikev2.message import NotifyPayload, decode_message
from dsmip6.ikev2.sa import IkeSa, ParkedSa
from dsmip6.ikev2.sk import SkCrypto
from ike_harness import (
    HA,
    HA6,
    HOME_PREFIX,
    PSK,
    UE,
    Clock,
    EapDoublePeer,
    EapDoubleServer,
    assert_events,
    assigner_factory,
    drop,
    events,
    fire_timer,
    make_ca_and_cert,
    make_rng,
    psk_pair,
    run,
    transfer,
)

HOA = "2001:db8:1::77"


def sent_message(engine, clock):
    """Decode (without keys) the datagrams an engine is about to send; they stay queued."""
    dgs = engine.datagrams_to_send(clock.now)
    engine._out = dgs + engine._out  # put them back
    out = []
    for data, _l, _r in dgs:
        if data[:4] == b"\x00\x00\x00\x00":
            data = data[4:]
        out.append(decode_message(data, None)[0])
    return out


def establish_psk(**kw):
    ue, ha, clock = psk_pair(**kw)
    ue.connect(UE, HA, clock.now)
    # IKE_SA_INIT HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*), N(SIGNATURE_HASH_ALGORITHMS) -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*)
    assert transfer(ha, ue, clock) == 1
    # IKE_AUTH HDR, SK {IDi, AUTH, CP(CFG_REQUEST), N(USE_TRANSPORT_MODE), SAi2, TSi, TSr} -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR, SK {IDr, AUTH, CP(CFG_REPLY), N(USE_TRANSPORT_MODE), SAr2, TSi, TSr}
    assert transfer(ha, ue, clock) == 1
    return ue, ha, clock


def test_psk_initial_exchanges_deliver_home_prefix_and_mh_transport_sa():
    ue, ha, clock = establish_psk()
    est, child_ev = assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    assert est.peer_identity == "ha.example.org"
    assert est.home_prefix == HOME_PREFIX and est.prefix_lifetime == 86400
    assert not est.nat_detected
    ha_est, ha_child = assert_events(ha, [IkeSaEstablished, ChildSaEstablished])
    assert ha_est.peer_identity == "ue@example.org" and ha_est.home_prefix == HOME_PREFIX
    c, hc = child_ev.child, ha_child.child
    # the UE proposed any-IPv6/MH; the HA narrowed TSi to the home prefix and TSr to its address
    assert c.ts_i == (TrafficSelector.for_network(HOME_PREFIX, protocol=135),)
    assert c.ts_r == (TrafficSelector(HA6, protocol=135),)
    assert c.mode == hc.mode == "transport" and c.algorithm == "aes-gcm-128"
    assert (c.spi_in, c.spi_out, c.key_in, c.key_out) == (
        hc.spi_out,
        hc.spi_in,
        hc.key_out,
        hc.key_in,
    )
    assert len(c.key_in) == 20  # AES-128 key + 4-octet salt (RFC 4106 §8.1)
    assert ue.get_timer() is None and ha.get_timer() is None


def test_sa_init_request_layout():
    ue, ha, clock = psk_pair()
    ue.connect(UE, HA, clock.now)
    (m,) = sent_message(ue, clock)
    types = [p.TYPE for p in m.payloads]
    assert types[:3] == [PayloadType.SA, PayloadType.KE, PayloadType.NONCE]
    notes = [p.notify_type for p in m.payloads if isinstance(p, NotifyPayload)]
    assert notes[:2] == [Notify.NAT_DETECTION_SOURCE_IP, Notify.NAT_DETECTION_DESTINATION_IP]
    assert m.message_id == 0 and not m.response and m.initiator and m.spi_r == bytes(8)


def test_eap_round_trips_then_msk_auth():
    """RFC 7296 §2.16 with a key-generating EAP method (test double of contract C)."""
    keys = {"001010123456789": b"k" * 16}
    ue_cfg = InitiatorConfig(
        "0001010123456789@nai.epc.mnc001.mcc001.3gppnetwork.org",
        eap_peer=EapDoublePeer(b"k" * 16, "001010123456789"),
        peer_psk=PSK,
    )
    log: list = []
    ha_cfg = ResponderConfig(
        "ha.example.org",
        psk=PSK,
        eap_server_factory=lambda ident: EapDoubleServer(keys, make_rng("aaa")),
        address_assigner=assigner_factory(log),
        require_eap=True,
    )
    ue, ha, clock = (
        IkeInitiator(ue_cfg, rng=make_rng("u")),
        IkeResponder(ha_cfg, rng=make_rng("h")),
        Clock(),
    )
    ue.connect(UE, HA, 0.0)
    # IKE_SA_INIT HDR, SAi1, KEi, Ni -->  <-- HDR, SAr1, KEr, Nr
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    # IKE_AUTH HDR, SK {IDi, CP(CFG_REQUEST), SAi2, TSi, TSr} -->          (no AUTH: EAP)
    (m3,) = sent_message(ue, clock)
    assert transfer(ue, ha, clock) == 1
    # <-- HDR, SK {IDr, AUTH(shared key), EAP(Request/Identity)}
    assert transfer(ha, ue, clock) == 1
    # HDR, SK {EAP(Response/Identity)} -->  <-- HDR, SK {EAP(Request/Challenge)}
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    assert events(ue) == [] and events(ha) == []
    # HDR, SK {EAP(Response/Challenge)} -->  <-- HDR, SK {EAP(Success)}
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    # HDR, SK {AUTH(MSK)} -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR, SK {AUTH(MSK), CP(CFG_REPLY), SAr2, TSi, TSr}
    assert transfer(ha, ue, clock) == 1
    est, _ = assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    ha_est, _ = assert_events(ha, [IkeSaEstablished, ChildSaEstablished])
    assert ha_est.eap_identity == "001010123456789"
    assert log == [("001010123456789", None)]  # the assigner sees the AAA identity
    assert est.home_prefix == HOME_PREFIX
    assert m3.exchange == ExchangeType.IKE_AUTH and m3.message_id == 1
    assert ue._live().mgr.next_mid == 5 and ha._sa(1).mgr.expected_mid == 5


def test_eap_failure_gives_auth_failed_on_both_sides():
    ue_cfg = InitiatorConfig("ue@x", eap_peer=EapDoublePeer(b"wrong", "001"), peer_psk=PSK)
    ha_cfg = ResponderConfig(
        "ha.example.org",
        psk=PSK,
        eap_server_factory=lambda ident: EapDoubleServer({"001": b"right"}, make_rng("a")),
    )
    ue, ha, clock = (
        IkeInitiator(ue_cfg, rng=make_rng("u")),
        IkeResponder(ha_cfg, rng=make_rng("h")),
        Clock(),
    )
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    assert_events(ue, [IkeAuthFailed])
    assert_events(ha, [IkeAuthFailed])
    assert ha._sas == {} and ue._sas == {}


def test_wrong_psk_is_authentication_failed_and_leaves_no_state():
    ue, ha, clock = psk_pair(ue_kw={"psk": b"not the right key at all........"})
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    (ev,) = assert_events(ue, [IkeAuthFailed])
    assert ev.reason == "AUTHENTICATION_FAILED"
    assert_events(ha, [IkeAuthFailed])
    assert ha._sas == {} and ha._by_spi == {} and ha.half_open_count() == 0


@pytest.mark.parametrize("kind", ["rsa", "ecdsa", "ed25519"])
def test_ha_certificate_ue_psk(kind):
    ca, cert, key = make_ca_and_cert(kind, "ha.example.org")
    ue_cfg = InitiatorConfig("ue@example.org", psk=PSK, trust_anchors=[ca], peer_psk=None)
    ha_cfg = ResponderConfig(
        "ha.example.org",
        cert=cert,  # contract D spelling (alias of certificate=)
        private_key=key,
        peer_psk=PSK,
        address_assigner=assigner_factory(),
    )
    ue, ha, clock = (
        IkeInitiator(ue_cfg, rng=make_rng("u")),
        IkeResponder(ha_cfg, rng=make_rng("h")),
        Clock(),
    )
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    assert_events(ha, [IkeSaEstablished, ChildSaEstablished])


def test_certificate_from_untrusted_ca_is_refused():
    ca, _, _ = make_ca_and_cert("ecdsa", "ha.example.org")
    _, cert, key = make_ca_and_cert("ecdsa", "ha.example.org")  # another CA
    ue_cfg = InitiatorConfig("ue@example.org", psk=PSK, trust_anchors=[ca])
    ha_cfg = ResponderConfig("ha.example.org", certificate=cert, private_key=key, peer_psk=PSK)
    ue, ha, clock = (
        IkeInitiator(ue_cfg, rng=make_rng("u")),
        IkeResponder(ha_cfg, rng=make_rng("h")),
        Clock(),
    )
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    (ev,) = assert_events(ue, [IkeAuthFailed])
    assert "trusted CA" in ev.reason


def test_certificate_naming_another_identity_is_refused():
    ca, cert, key = make_ca_and_cert("ecdsa", "other.example.org")
    ue_cfg = InitiatorConfig("ue@example.org", psk=PSK, trust_anchors=[ca])
    ha_cfg = ResponderConfig("ha.example.org", certificate=cert, private_key=key, peer_psk=PSK)
    ue, ha, clock = (
        IkeInitiator(ue_cfg, rng=make_rng("u")),
        IkeResponder(ha_cfg, rng=make_rng("h")),
        Clock(),
    )
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    (ev,) = assert_events(ue, [IkeAuthFailed])
    assert "does not name" in ev.reason


@pytest.mark.parametrize(
    ("ike", "esp", "algorithm"),
    [
        ("aes128gcm16-prfsha256-x25519", "aes128gcm16", "aes-gcm-128"),
        ("aes128-sha256-ecp256", "aes128-sha256", "aes-cbc-hmac-sha256"),
        ("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "aes-gcm-256"),
        ("chacha20poly1305-prfsha512-modp2048", "chacha20poly1305", "chacha20-poly1305"),
        ("aes256-sha512-x25519", "aes256gcm16", "aes-gcm-256"),
    ],
)
def test_transform_suites(ike, esp, algorithm):
    ue, ha, clock = psk_pair(
        ue_kw={"proposals": [ike], "child_proposals": [esp]},
        ha_kw={"proposals": [ike], "child_proposals": [esp]},
    )
    ue.connect(UE, HA, 0.0)
    assert run(ue, ha, clock) == 4
    _, c = assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    assert c.child.algorithm == algorithm
    if algorithm == "aes-cbc-hmac-sha256":
        assert len(c.child.key_in) == 16 and len(c.child.integrity_key_in) == 32


def test_responder_preference_picks_the_proposal():
    ue, ha, clock = psk_pair(
        ue_kw={"proposals": ["aes128-sha256-ecp256", "aes128gcm16-prfsha256-ecp256"]},
        ha_kw={"proposals": ["aes128gcm16-prfsha256-ecp256", "aes128-sha256-ecp256"]},
    )
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    assert ue._live().encr.aead  # the HA's first choice, not the UE's


def test_no_proposal_chosen():
    ue, ha, clock = psk_pair(
        ue_kw={"proposals": ["aes128-sha256-ecp256"]},
        ha_kw={"proposals": ["aes256gcm16-prfsha384-x25519"]},
    )
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    (ev,) = assert_events(ue, [IkeAuthFailed])
    assert ev.reason == "NO_PROPOSAL_CHOSEN"
    assert events(ha) == [] and ha._sas == {}


def test_invalid_ke_payload_retry_keeps_message_id_zero():
    ue, ha, clock = psk_pair(
        ue_kw={"proposals": ["aes128gcm16-prfsha256-x25519-ecp256"]},
        ha_kw={"proposals": ["aes128gcm16-prfsha256-ecp256"]},
    )
    ue.connect(UE, HA, 0.0)
    # IKE_SA_INIT HDR, SAi1, KEi(x25519), Ni -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR(SPIr=0), N(INVALID_KE_PAYLOAD, group 19)
    (resp,) = sent_message(ha, clock)
    assert resp.notify(Notify.INVALID_KE_PAYLOAD).data == (19).to_bytes(2, "big")
    assert resp.spi_r == bytes(8)
    assert transfer(ha, ue, clock) == 1
    # IKE_SA_INIT HDR, SAi1, KEi(ecp256), Ni -->   (same Message ID 0)
    (again,) = sent_message(ue, clock)
    assert again.message_id == 0 and again.get(type(again.payloads[1])).group == 19
    run(ue, ha, clock)
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    assert ha.half_open_count() == 0


def test_lost_request_retransmitted_at_exact_instants_then_gives_up():
    ue, ha, clock = psk_pair()
    ue.connect(UE, HA, 0.0)
    # IKE_SA_INIT -->   (lost, and every retransmission too)
    instants = []
    assert drop(ue, clock) == 1
    for _ in range(RETRANSMIT_TRIES):
        instants.append(fire_timer(ue, clock))
        assert drop(ue, clock) == 1
    expected, t = [], 0.0
    for k in range(RETRANSMIT_TRIES):
        t += RETRANSMIT_TIMEOUT * RETRANSMIT_BASE**k
        expected.append(t)
    assert instants == expected == [2.0, 6.0, 14.0, 30.0, 62.0]
    # the last wait expires: the SA is abandoned
    assert fire_timer(ue, clock) == 126.0
    assert drop(ue, clock) == 0
    (ev,) = assert_events(ue, [IkeAuthFailed])
    assert ev.reason == "timeout" and ue.get_timer() is None


def test_lost_response_is_answered_from_cache_not_reprocessed():
    ue, ha, clock = psk_pair()
    ue.connect(UE, HA, 0.0)
    run_init = transfer(ue, ha, clock) + transfer(ha, ue, clock)
    assert run_init == 2
    # IKE_AUTH -->
    assert transfer(ue, ha, clock) == 1
    assert_events(ha, [IkeSaEstablished, ChildSaEstablished])
    # <-- IKE_AUTH response (lost)
    first = ha.datagrams_to_send(clock.now)
    assert len(first) == 1
    # UE retransmits at t = 2.0; the HA answers from its cache with the identical octets
    assert fire_timer(ue, clock) == 2.0
    assert transfer(ue, ha, clock) == 1
    again = ha.datagrams_to_send(clock.now)
    assert [d for d, _, _ in again] == [d for d, _, _ in first]
    assert events(ha) == []  # not processed twice
    for data, local, remote in again:
        ue.receive_datagram(data, local, remote, clock.now)
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])


def test_replayed_and_out_of_window_messages_are_dropped():
    ue, ha, clock = establish_psk()
    events(ue), events(ha)
    ue.liveness_check(clock.now)
    # INFORMATIONAL HDR(MID 2), SK {} -->
    dgs = ue.datagrams_to_send(clock.now)
    for d, local, remote in dgs:
        ha.receive_datagram(d, local, remote, clock.now)
    resp = ha.datagrams_to_send(clock.now)
    assert len(resp) == 1
    # replayed request: answered from the cache, no new state
    for d, local, remote in dgs:
        ha.receive_datagram(d, local, remote, clock.now)
    assert ha.datagrams_to_send(clock.now) == resp
    # replayed response to the UE: it has nothing outstanding for it -> dropped
    for d, local, remote in resp:
        ue.receive_datagram(d, local, remote, clock.now)
        ue.receive_datagram(d, local, remote, clock.now)
    assert ue.datagrams_to_send(clock.now) == [] and events(ue) == []
    # an old IKE_AUTH request replayed now is outside the window: silently dropped
    assert ha._sa(1).mgr.expected_mid == 3


def test_create_child_sa_for_hoa_mh_transport_and_delete():
    dp_ue, dp_ha = FakeDataPlane(), FakeDataPlane()
    ue, ha, clock = establish_psk(ue_kw={"dataplane": dp_ue}, ha_kw={"dataplane": dp_ha})
    events(ue), events(ha)
    assert len(dp_ue.sas) == 2 and len(dp_ha.sas) == 2
    # RFC 5026: the UE formed its HoA from the prefix; SAs keyed on the HoA
    ts_i = TrafficSelector.mobility_header(HOA)
    ts_r = TrafficSelector.mobility_header(HA6)
    ue.create_child_sa(ts_i, ts_r, mode="transport", now=clock.now)
    # CREATE_CHILD_SA HDR, SK {N(USE_TRANSPORT_MODE), SA, Ni, TSi(HoA, MH), TSr(HA, MH)} -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR, SK {N(USE_TRANSPORT_MODE), SA, Nr, TSi, TSr}
    assert transfer(ha, ue, clock) == 1
    (ev,) = assert_events(ue, [ChildSaEstablished])
    (hev,) = assert_events(ha, [ChildSaEstablished])
    child = ev.child
    assert child.ts_i == (ts_i,) and child.ts_r == (ts_r,) and child.mode == "transport"
    sa_in, sa_out = child.sa_specs()
    assert (str(sa_out.src), str(sa_out.dst)) == (HOA, HA6)
    assert sa_out.protocol == 135 and sa_out.mh_types == ()
    assert dp_ue.sas[(child.spi_in, "in")].key == child.key_in
    assert dp_ha.sas[(child.spi_out, "in")].key == child.key_out
    assert len(dp_ue.sas) == 4 and len(dp_ha.sas) == 4
    # INFORMATIONAL HDR, SK {D(ESP, spi)} -->  <-- HDR, SK {D(ESP, spi')}
    ue.delete_child_sa(child.spi_in, clock.now)
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    (d,) = assert_events(ue, [ChildSaDeleted])
    assert (d.spi_in, d.spi_out) == (child.spi_in, child.spi_out)
    (hd,) = assert_events(ha, [ChildSaDeleted])
    assert hd.spi_in == hev.child.spi_in and hd.reason == "peer-deleted"
    assert len(dp_ue.sas) == 2 and len(dp_ha.sas) == 2


def test_per_type_mh_selectors_are_kept():
    ue, ha, clock = establish_psk()
    events(ue), events(ha)
    bu = TrafficSelector.mobility_header(HOA, 5)
    ba = TrafficSelector.mobility_header(HA6, 6)
    assert (bu.start_port, ba.start_port) == (0x0500, 0x0600)  # MH type in the high octet
    ue.create_child_sa(bu, ba, mode="transport", now=clock.now)
    run(ue, ha, clock)
    (ev,) = assert_events(ue, [ChildSaEstablished])
    sa_in, sa_out = ev.child.sa_specs()
    assert sa_out.mh_types == (5,) and sa_in.mh_types == (6,)


def test_ha_initiated_tunnel_child_and_pfs():
    ue, ha, clock = establish_psk(
        ue_kw={"child_proposals": ["aes128gcm16-x25519"]},
        ha_kw={"child_proposals": ["aes128gcm16-x25519"]},
    )
    events(ue), events(ha)
    # HA-initiated CREATE_CHILD_SA (user plane, tunnel) with PFS:
    # HDR, SK {SA, Ni, KEi, TSi(HA side any), TSr(UE home prefix)} -->
    ha.create_child_sa(
        1, TrafficSelector.any(6), TrafficSelector.for_network(HOME_PREFIX), mode="tunnel", now=0
    )
    (req,) = sent_message(ha, clock)
    assert req.initiator is False and req.message_id == 0  # HA's own MID space
    run(ue, ha, clock)
    (ev,) = assert_events(ha, [ChildSaEstablished])
    (uev,) = assert_events(ue, [ChildSaEstablished])
    assert ev.child.mode == "tunnel" and ev.child.key_out == uev.child.key_in


def test_ike_sa_delete_by_ue_removes_children():
    dp = FakeDataPlane()
    ue, ha, clock = establish_psk(ha_kw={"dataplane": dp})
    events(ue), events(ha)
    ue.delete(clock.now)
    # INFORMATIONAL HDR, SK {D(IKE)} -->  <-- HDR, SK {}
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    assert_events(ue, [ChildSaDeleted, IkeSaDeleted])
    (_, d) = assert_events(ha, [ChildSaDeleted, IkeSaDeleted])
    assert d.reason == "peer-deleted" and dp.sas == {} and ha._sas == {}


def test_ike_sa_delete_by_ha():
    ue, ha, clock = establish_psk()
    events(ue), events(ha)
    ha.delete_ike_sa(1, clock.now)
    run(ue, ha, clock)
    (_, d) = assert_events(ue, [ChildSaDeleted, IkeSaDeleted])
    assert d.reason == "peer-deleted"
    assert_events(ha, [ChildSaDeleted, IkeSaDeleted])


def test_internal_address_failure_when_assigner_refuses():
    def refuse(identity, apn):
        raise LookupError("pool exhausted")

    ue, ha, clock = psk_pair(ha_kw={"address_assigner": refuse})
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    (ev,) = assert_events(ue, [IkeAuthFailed])
    assert ev.reason == "INTERNAL_ADDRESS_FAILURE"
    assert_events(ha, [IkeAuthFailed])
    assert ha._sas == {}


def test_assigner_sees_apn_from_idr_and_hoa_is_assigned():
    log: list = []

    def assign(identity, apn):
        log.append((identity, apn))
        return Assignment(
            home_prefix=HOME_PREFIX, home_address=HOA, ha_addresses=(HA6, "192.0.2.99")
        )

    ue, ha, clock = psk_pair(
        ue_kw={
            "remote_id": "ims.apn.epc.mnc001.mcc001.3gppnetwork.org",
            "request_home_address": True,
            "request_home_agent_address": True,
        },
        ha_kw={"address_assigner": assign},
    )
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    est, child = assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    assert log == [("ue@example.org", "ims.apn.epc.mnc001.mcc001.3gppnetwork.org")]
    assert est.home_address == IPv6Address(HOA)
    assert [str(a) for a in est.ha_addresses] == [HA6, "192.0.2.99"]
    # the HA narrowed TSi to the assigned HoA itself
    assert child.child.ts_i == (TrafficSelector(HOA, protocol=135),)


def test_nat_detected_floats_to_4500_with_non_esp_marker():
    ue, ha, clock = psk_pair()
    ue.connect(UE, HA, 0.0)
    nat = ("203.0.113.5", 40000)
    # IKE_SA_INIT through a NAT -->  <--
    assert transfer(ue, ha, clock, nat=nat) == 1
    for d, _local, remote in ha.datagrams_to_send(clock.now):
        assert remote == nat
        ue.receive_datagram(d, HA, UE, clock.now)
    # IKE_AUTH now on 4500 with the 4-octet non-ESP marker -->
    dgs = ue.datagrams_to_send(clock.now)
    assert [(d[:4], lo[1], r[1]) for d, lo, r in dgs] == [(b"\x00" * 4, 4500, 4500)]
    ha.receive_datagram(dgs[0][0], ("203.0.113.5", 40001), ("198.51.100.1", 4500), clock.now)
    for d, local, remote in ha.datagrams_to_send(clock.now):
        assert remote == ("203.0.113.5", 40001) and local[1] == 4500 and d[:4] == bytes(4)
        ue.receive_datagram(d, ("198.51.100.1", 4500), ("192.0.2.10", 4500), clock.now)
    est, _ = assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    assert est.nat_detected
    hest, _ = assert_events(ha, [IkeSaEstablished, ChildSaEstablished])
    assert hest.nat_detected and hest.remote == ("203.0.113.5", 40001)


def test_esp_on_4500_is_not_taken_for_ike():
    ue, ha, clock = establish_psk()
    events(ha)
    ha.receive_datagram(b"\x00\x00\x10\x01" + bytes(40), UE, ("198.51.100.1", 4500), 0)
    ha.receive_datagram(b"\xff", UE, ("198.51.100.1", 4500), 0)  # NAT keepalive
    assert ha.datagrams_to_send(0) == [] and events(ha) == []


def test_move_after_k1_binding_update():
    ue, ha, clock = establish_psk()
    events(ue), events(ha)
    new_coa = ("192.0.2.200", 4500)
    ue.move(new_coa, ("198.51.100.1", 4500))
    ha.move(1, ("198.51.100.1", 4500), new_coa)
    # INFORMATIONAL HDR, SK {} from the new CoA (RFC 5555 §5.1) -->  <-- HDR, SK {}
    ue.liveness_check(clock.now)
    dgs = ue.datagrams_to_send(clock.now)
    assert [(lo, r) for _, lo, r in dgs] == [(new_coa, ("198.51.100.1", 4500))]
    for d, local, remote in dgs:
        ha.receive_datagram(d, local, remote, clock.now)
    back = ha.datagrams_to_send(clock.now)
    assert [r for _, _, r in back] == [new_coa]
    for d, local, remote in back:
        ue.receive_datagram(d, local, remote, clock.now)
    assert events(ue) == [] and ue.get_timer() is None
    assert ha.endpoints(1) == (("198.51.100.1", 4500), new_coa)
    assert len(ue.children) == 1  # child SAs keyed on the HoA survive


def test_cookie_demanded_under_load_and_half_open_expiry():
    ue, ha, clock = psk_pair(ha_kw={"cookie_threshold": 2, "half_open_timeout": 30.0})
    # two half-open SAs from other initiators that never finish
    for i in range(2):
        other = IkeInitiator(InitiatorConfig(f"x{i}@y", psk=PSK), rng=make_rng(f"o{i}"))
        other.connect((f"192.0.2.{50 + i}", 500), HA, 0.0)
        transfer(other, ha, clock)
        ha.datagrams_to_send(0)
    assert ha.half_open_count() == 2
    ue.connect(UE, HA, 1.0)
    clock.now = 1.0
    # IKE_SA_INIT HDR, SAi1, KEi, Ni -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR(SPIr=0), N(COOKIE)          (stateless: no SA created)
    (resp,) = sent_message(ha, clock)
    assert resp.notify(Notify.COOKIE) is not None and ha.half_open_count() == 2
    assert transfer(ha, ue, clock) == 1
    # IKE_SA_INIT HDR, N(COOKIE), SAi1, KEi, Ni -->
    (again,) = sent_message(ue, clock)
    assert isinstance(again.payloads[0], NotifyPayload)
    assert again.payloads[0].notify_type == Notify.COOKIE
    run(ue, ha, clock)
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    assert ha.half_open_count() == 2
    assert_events(ha, [IkeSaEstablished, ChildSaEstablished])
    # the half-open SAs expire silently at created + 30 s
    assert ha.get_timer() == 30.0
    fire_timer(ha, clock)
    assert ha.half_open_count() == 0 and ha.get_timer() is None
    assert events(ha) == [] and len(ha._sas) == 1


def test_sa_init_flood_is_bounded():
    ue, ha, clock = psk_pair(ha_kw={"cookie_threshold": 10, "half_open_limit": 20})
    rng = make_rng("flood")
    from dsmip6.ikev2.message import KePayload, Message, NoncePayload, SaPayload
    from dsmip6.ikev2.tasks._proposals import ike_proposals

    cfg = ue.config
    answered = 0
    for i in range(200):
        msg = Message(34, False, True, 0, rng(8), bytes(8))
        msg.payloads = [
            SaPayload(ike_proposals(cfg.proposals)),
            KePayload(31, rng(32)),
            NoncePayload(rng(32)),
        ]
        ha.receive_datagram(msg.encode(), (f"10.0.{i // 250}.{i % 250}", 500), HA, 0.0)
        answered += len(ha.datagrams_to_send(0.0))
    assert ha.half_open_count() == 10  # beyond the threshold only cookies, no state
    assert answered == 200
    clock.now = 31.0
    ha.handle_timer(31.0)
    assert ha.half_open_count() == 0 and ha._sas == {} and ha._by_init == {}


def test_redirect_during_sa_init():
    ue, ha, clock = psk_pair(ha_kw={"redirect": lambda addr, ident: "2001:db8:99::1"})
    ue.connect(UE, HA, 0.0)
    # IKE_SA_INIT HDR, SAi1, KEi, Ni, N(REDIRECT_SUPPORTED) -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR, N(REDIRECT, new HA, Ni)
    assert transfer(ha, ue, clock) == 1
    (ev,) = assert_events(ue, [Redirected])
    assert ev.new_gateway == "2001:db8:99::1"
    assert ue.ike_sa_id is None and ha._sas == {}


def test_established_sa_keeps_only_what_later_exchanges_need():
    """After IKE_AUTH the HA's IKE SA drops the handshake state (signed IKE_SA_INIT octets,
    nonces, SK_ai..SK_pr, our ID, the keyed AEAD ciphers) and still runs later exchanges."""
    ue, ha, clock = establish_psk()
    events(ue), events(ha)
    # at rest the SA is one compact record; thawing rebuilds the working object
    assert type(ha._sas[1]) is ParkedSa
    sa = ha._sa(1)
    assert (sa.init_request, sa.init_response, sa.ni, sa.nr) == (b"", b"", b"", b"")
    assert sa.keys is None and sa.my_id is None and sa.auth_tasks is None
    assert len(sa.sk_d) == 32 and sa.peer_id is not None
    assert sa.sk._out_e is None and sa.sk._in_e is None  # AES-GCM: re-keyed per message
    # INFORMATIONAL HDR, SK {} -->  <-- HDR, SK {}   (both directions of SK still work)
    ue.liveness_check(clock.now)
    assert run(ue, ha, clock) == 2
    # CREATE_CHILD_SA from the HA (SK_d still there for KEYMAT)
    ha.create_child_sa(
        1,
        TrafficSelector.mobility_header(HOA),
        TrafficSelector.mobility_header(HA6),
        mode="transport",
        now=clock.now,
    )
    assert run(ue, ha, clock) == 2
    (c,) = assert_events(ue, [ChildSaEstablished])
    (hc,) = assert_events(ha, [ChildSaEstablished])
    assert c.child.key_in == hc.child.key_out and len(c.child.key_in) == 20


def test_ike_sa_rekey_keeps_id_and_children():
    ue, ha, clock = establish_psk()
    events(ue), events(ha)
    old_spi = ue._live().spi_i
    ue.rekey_ike_sa(clock.now)
    # CREATE_CHILD_SA HDR, SK {SA(IKE), Ni, KEi} -->  <-- HDR, SK {SA(IKE), Nr, KEr}
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    # INFORMATIONAL (old SA) HDR, SK {D(IKE)} -->  <-- HDR, SK {}
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    (r,) = assert_events(ue, [IkeSaRekeyed])
    assert r.ike_sa_id == 1 and r.spi_i != old_spi
    assert_events(ha, [IkeSaRekeyed])
    assert len(ue.children) == 1 and len(ha.children(1)) == 1
    # the new SA works: Message IDs restart at 0
    ue.liveness_check(clock.now)
    assert run(ue, ha, clock) == 2
    assert ue._live().mgr.next_mid == 1 and events(ue) == [] and events(ha) == []


def test_child_sa_rekey_replaces_old_child():
    dp = FakeDataPlane()
    ue, ha, clock = establish_psk(ue_kw={"dataplane": dp})
    _, c = events(ue)
    events(ha)
    ue.rekey_child_sa(c.child.spi_in, clock.now)
    run(ue, ha, clock)
    new, gone = assert_events(ue, [ChildSaEstablished, ChildSaDeleted])
    assert new.rekeyed_spi_in == c.child.spi_in and gone.spi_in == c.child.spi_in
    assert set(dp.sas) == {(new.child.spi_in, "in"), (new.child.spi_out, "out")}
    assert_events(ha, [ChildSaEstablished, ChildSaDeleted])


def test_ts_unacceptable_for_child_outside_home_prefix():
    ue, ha, clock = establish_psk()
    events(ue), events(ha)
    ue.create_child_sa(
        TrafficSelector.mobility_header("2001:db8:bad::1"),
        TrafficSelector.mobility_header(HA6),
        mode="transport",
        now=0.0,
    )
    run(ue, ha, clock)
    (ev,) = assert_events(ue, [ChildSaFailed])
    assert ev.notify == Notify.TS_UNACCEPTABLE
    assert events(ha) == []


def _certificate_ike_auth_fragments(kind: str, size: int, **common):
    """Run a PSK UE against a certificate HA (``kind`` key) with ``fragment_size=size`` up
    to the HA's IKE_AUTH response; returns the UE and the datagrams the HA queued."""
    ca, cert, key = make_ca_and_cert(kind, "ha.example.org")
    ue_cfg = InitiatorConfig(
        "ue@example.org", psk=PSK, trust_anchors=[ca], fragment_size=size, **common
    )
    ha_cfg = ResponderConfig(
        "ha.example.org",
        certificate=cert,
        private_key=key,
        peer_psk=PSK,
        fragment_size=size,
        **common,
    )
    ue, ha, clock = (
        IkeInitiator(ue_cfg, rng=make_rng("u")),
        IkeResponder(ha_cfg, rng=make_rng("h")),
        Clock(),
    )
    ue.connect(UE, HA, 0.0)
    transfer(ue, ha, clock), transfer(ha, ue, clock)
    transfer(ue, ha, clock)
    return ue, ha.datagrams_to_send(0)


def test_fragmentation_of_large_ike_auth():
    """RFC 7383: with a small fragment size the certificate-bearing IKE_AUTH travels in SKF."""
    ue, frags = _certificate_ike_auth_fragments("rsa", 576)
    assert len(frags) >= 2 and all(len(d) <= 576 for d, _, _ in frags)
    assert all(decode_message(d, None)[1].type == PayloadType.SKF for d, _, _ in frags)
    # deliver out of order
    for d, local, remote in reversed(frags):
        ue.receive_datagram(d, local, remote, 0)
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])


def test_dpd_liveness_on_idle_sa():
    ue, ha, clock = establish_psk(ue_kw={"dpd_interval": 60.0})
    events(ue), events(ha)
    assert ue.get_timer() == 60.0
    fire_timer(ue, clock)
    # INFORMATIONAL HDR, SK {} -->   (the HA is gone: retransmissions, then the SA dies)
    assert drop(ue, clock) == 1
    for _ in range(RETRANSMIT_TRIES):
        fire_timer(ue, clock)
        assert drop(ue, clock) == 1
    fire_timer(ue, clock)
    assert clock.now == 60.0 + 126.0
    (_, d) = assert_events(ue, [ChildSaDeleted, IkeSaDeleted])
    assert d.reason == "timeout"


def test_api_misuse_raises_local_protocol_error():
    from dsmip6.errors import LocalProtocolError

    ue, ha, clock = psk_pair()
    with pytest.raises(LocalProtocolError):
        ue.create_child_sa(TrafficSelector(HOA), TrafficSelector(HA6), now=0)
    ue.connect(UE, HA, 0.0)
    with pytest.raises(LocalProtocolError):
        ue.connect(UE, HA, 0.0)
    with pytest.raises(LocalProtocolError):
        ha.delete_ike_sa(42, 0.0)


def test_ike_lifetime_triggers_rekey_at_exact_instant():
    ue, ha, clock = establish_psk(ue_kw={"ike_lifetime": 3600.0})
    events(ue), events(ha)
    assert ue.get_timer() == 3600.0
    fire_timer(ue, clock)
    # CREATE_CHILD_SA HDR, SK {SA(IKE), Ni, KEi} -->  ... then D(IKE) on the old SA
    run(ue, ha, clock)
    assert_events(ue, [IkeSaRekeyed])
    assert_events(ha, [IkeSaRekeyed])
    assert ue.get_timer() == 7200.0 and ue.established


def test_redirect_in_ike_auth_after_authentication():
    """RFC 5685 §6: the HA authenticates the UE, then redirects it (HA reallocation)."""
    seen = []

    def policy(addr, ident):
        seen.append((addr, ident))
        return None if ident is None else "ha2.example.org"

    ue, ha, clock = psk_pair(ha_kw={"redirect": policy})
    ue.connect(UE, HA, 0.0)
    # IKE_SA_INIT with N(REDIRECT_SUPPORTED) -->  <-- (policy: no redirect yet)
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    # IKE_AUTH HDR, SK {IDi, AUTH, ...} -->  <-- HDR, SK {IDr, AUTH, N(REDIRECT, FQDN)}
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    (ev,) = assert_events(ue, [Redirected])
    assert ev.new_gateway == "ha2.example.org"
    assert seen == [(UE[0], None), (UE[0], "ue@example.org")]
    assert ue.ike_sa_id is None and ha._sas == {} and events(ha) == []


@pytest.mark.parametrize(("unix_time", "ok"), [(1767225600.0, True), (1700000000.0, False)])
def test_certificate_validity_checked_with_injected_wall_clock(unix_time, ok):
    """Certificates valid from 2025-01-01: accepted in 2026, refused in 2023."""
    ca, cert, key = make_ca_and_cert("ecdsa", "ha.example.org")
    ue_cfg = InitiatorConfig(
        "ue@example.org", psk=PSK, trust_anchors=[ca], wall_clock=lambda: unix_time
    )
    ha_cfg = ResponderConfig("ha.example.org", cert=cert, private_key=key, peer_psk=PSK)
    ue, ha = IkeInitiator(ue_cfg, rng=make_rng("u")), IkeResponder(ha_cfg, rng=make_rng("h"))
    ue.connect(UE, HA, 0.0)
    run(ue, ha, Clock())
    if ok:
        assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    else:
        (ev,) = assert_events(ue, [IkeAuthFailed])
        assert "validity" in ev.reason


# --------------------------------------------------------------- parked SAs on the HA side
def test_parked_sa_thaws_to_the_same_working_state():
    """An idle established HA-side SA is one compact record; folding it up and rebuilding it
    gives back every value of the working SA (keys, Message IDs, IV counter, cached response)."""
    ue, ha, clock = establish_psk()
    events(ue), events(ha)
    ue.liveness_check(clock.now)  # one more exchange: Message IDs and the IV counter move on
    assert run(ue, ha, clock) == 2
    assert type(ha._sas[1]) is ParkedSa and ha.ike_sa_ids() == [1]
    a = ha._sa(1)
    ha._touch(a)  # idle again: parked again
    assert type(ha._sas[1]) is ParkedSa
    b = ha._sa(1)
    assert a is not b
    skip = {"engine", "mgr", "sk", "timer_at"}
    for name in IkeSa.__slots__:
        if name not in skip:
            assert getattr(a, name) == getattr(b, name), name
    for name in ("next_mid", "expected_mid", "last_response", "active", "queue", "passive"):
        assert getattr(a.mgr, name) == getattr(b.mgr, name), name
    for name in SkCrypto.__slots__:
        assert getattr(a.sk, name) == getattr(b.sk, name), name
    assert b.mgr.expected_mid == 3 and b.sk._iv_counter == 2
    assert ha.children(1) == a.children and ha.endpoints(1) == (a.local, a.remote)


def test_ha_liveness_check_fires_from_a_parked_sa_then_parks_again():
    ue, ha, clock = establish_psk(ha_kw={"dpd_interval": 60.0})
    events(ue), events(ha)
    assert type(ha._sas[1]) is ParkedSa
    assert ha.get_timer() == 60.0
    fire_timer(ha, clock)
    # <-- INFORMATIONAL HDR, SK {}     HDR, SK {} -->
    assert run(ue, ha, clock) == 2
    assert type(ha._sas[1]) is ParkedSa and ha.get_timer() == 120.0
    assert events(ha) == [] and ha.ike_sa_ids() == [1]
    # the UE is gone: retransmissions on the thawed SA, then it dies (RFC 7296 §2.4)
    fire_timer(ha, clock)
    assert drop(ha, clock) == 1
    for _ in range(RETRANSMIT_TRIES):
        fire_timer(ha, clock)
        assert drop(ha, clock) == 1
    fire_timer(ha, clock)
    assert clock.now == 120.0 + 126.0
    (_, d) = assert_events(ha, [ChildSaDeleted, IkeSaDeleted])
    assert d.reason == "timeout" and ha._sas == {} and ha._by_spi == {}


def test_ha_ike_lifetime_rekeys_a_parked_sa_at_exact_instant():
    ue, ha, clock = establish_psk(ha_kw={"ike_lifetime": 3600.0})
    events(ue), events(ha)
    assert type(ha._sas[1]) is ParkedSa and ha.get_timer() == 3600.0
    fire_timer(ha, clock)
    # <-- CREATE_CHILD_SA HDR, SK {SA(IKE), Ni, KEi}  ... then D(IKE) on the old SA
    run(ue, ha, clock)
    assert_events(ha, [IkeSaRekeyed])
    assert_events(ue, [IkeSaRekeyed])
    assert type(ha._sas[1]) is ParkedSa and ha.get_timer() == 7200.0
    # the new SA carries traffic both ways
    ue.liveness_check(clock.now)
    assert run(ue, ha, clock) == 2 and ue.established


@pytest.mark.parametrize("size", [0, 171, 65536, 1280.0, "1280"])
def test_fragment_size_out_of_range_is_a_config_error(size):
    """A fragment size with no room for 64 octets of data under the worst-case cipher
    overhead (RFC 7383 §2.5) is refused when the configuration is made, not when a message
    first needs fragmenting."""
    from dsmip6.errors import ConfigError

    with pytest.raises(ConfigError, match="fragment_size"):
        InitiatorConfig("ue@example.org", psk=PSK, fragment_size=size)
    with pytest.raises(ConfigError, match="fragment_size"):
        ResponderConfig("ha.example.org", psk=PSK, fragment_size=size)


def test_smallest_fragment_size_fragments_with_the_widest_cipher():
    """At the smallest accepted size, AES-CBC + HMAC-SHA-512-256 (the largest overhead)
    still fragments the certificate-bearing IKE_AUTH (RFC 7383) instead of failing."""
    ue, frags = _certificate_ike_auth_fragments("ecdsa", 172, proposals=["aes256-sha512-ecp256"])
    assert len(frags) >= 2 and all(len(d) <= 172 for d, _, _ in frags)
    assert all(decode_message(d, None)[1].type == PayloadType.SKF for d, _, _ in frags)
    for d, local, remote in frags:
        ue.receive_datagram(d, local, remote, 0)
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
