"""EAP-AKA / EAP-AKA' peer and server exchanges (RFC 4187, RFC 5448), sans-I/O.

Each test tells its story in RFC notation, one comment per message.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from dsmip6.aka import Milenage, Usim, generate_vector
from dsmip6.eap import (
    AkaSubtype,
    AtType,
    EapAkaPeer,
    EapAkaPrimePeer,
    EapAkaPrimeServer,
    EapAkaServer,
    EapCode,
    EapPacket,
    EapType,
    InMemorySubscriberStore,
    PeerState,
    ServerState,
    Subscriber,
    SubscriberStore,
    derive_keys,
    imsi_from_identity,
    permanent_nai,
)
from dsmip6.eap._packet import (
    Attribute,
    build_aka,
    length_prefixed,
    parse_aka,
    reserved_attribute,
    word_attribute,
)
from dsmip6.errors import ConfigError, MalformedPacket
from hypothesis import given, settings
from hypothesis import strategies as st

K = bytes.fromhex("fec86ba6eb707ed08905757b1bb44b8f")
OPC = bytes.fromhex("1006020f0a478bf6b699f15c062e42b3")
IMSI = "001010000000001"
NAI = "0001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org"


def counter_rng(seed: int = 0) -> Callable[[int], bytes]:
    counter = itertools.count(seed)
    return lambda n: bytes(next(counter) & 0xFF for _ in range(n))


def make_pair(
    *,
    usim_sqn: int = 0,
    he_sqn: int = 0,
    identity: str | None = NAI,
    peer_identity: str = NAI,
    server_kwargs: dict | None = None,
    peer_kwargs: dict | None = None,
) -> tuple[EapAkaPeer, EapAkaServer, InMemorySubscriberStore]:
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC, sqn=he_sqn, apns=("ims",))])
    usim = Usim(K, OPC, sqn=usim_sqn)
    peer = EapAkaPeer(usim, peer_identity, rng=counter_rng(100), **(peer_kwargs or {}))
    server = EapAkaServer(store, rng=counter_rng(7), identity=identity, **(server_kwargs or {}))
    return peer, server, store


def kind(packet: bytes) -> tuple:
    """(code, type, subtype) of an EAP packet, for compact assertions."""
    pkt = EapPacket.parse(packet)
    if pkt.type in (EapType.AKA, EapType.AKA_PRIME):
        return (EapCode(pkt.code).name, EapType(pkt.type).name, AkaSubtype(pkt.type_data[0]).name)
    return (EapCode(pkt.code).name, pkt.type)


def run(peer: EapAkaPeer, server: EapAkaServer, limit: int = 12) -> list[tuple]:
    """Drive the exchange to the end (bounded); return the message kinds seen."""
    seen = []
    request = server.start()
    for _ in range(limit):
        seen.append(kind(request))
        response = peer.process(request)
        if response is None:
            return seen
        seen.append(kind(response))
        request = server.process(response)
    raise AssertionError(f"exchange did not finish: {seen}")


# --- NAI ------------------------------------------------------------------------------------


def test_permanent_nai():
    assert permanent_nai(IMSI) == NAI
    # TS 23.003 §19.3.2 example shape: 3-digit MNC kept as is.
    assert permanent_nai("310150123456789", mnc_length=3) == (
        "0310150123456789@nai.epc.mnc150.mcc310.3gppnetwork.org"
    )
    assert permanent_nai(IMSI, prime=True).startswith("6001010000000001@")
    assert imsi_from_identity(NAI) == IMSI
    assert imsi_from_identity("0" + IMSI) == IMSI
    assert imsi_from_identity("6" + IMSI, "6") == IMSI
    for bad in ("1" + IMSI, "pseudonym@realm", "0", "0abc@x", "0" + "1" * 16):
        assert imsi_from_identity(bad) is None
    with pytest.raises(ConfigError):
        permanent_nai("12ab")
    with pytest.raises(ConfigError):
        permanent_nai(IMSI, mnc_length=4)


def test_subscriber_validation_and_store_protocol():
    store = InMemorySubscriberStore()
    assert isinstance(store, SubscriberStore)
    with pytest.raises(ConfigError):
        Subscriber("12", K, OPC)
    with pytest.raises(ConfigError):
        Subscriber(IMSI, K[:15], OPC)
    store.add(Subscriber(IMSI, K, OPC, apns=("internet",)))
    assert store.subscriber(IMSI).apns == ("internet",)
    assert store.authentication_vector("999999999999999", bytes(16)) is None
    av = store.authentication_vector(IMSI, bytes(16))
    assert av is not None and store.subscriber(IMSI).sqn == av.sqn == (1 << 5) | 1
    assert len(store) == 1
    store.remove(IMSI)
    assert store.subscriber(IMSI) is None


# --- Full authentication ------------------------------------------------------------------


def test_full_authentication_with_known_identity():
    peer, server, store = make_pair()
    # <-- Request/AKA-Challenge (AT_RAND, AT_AUTN, AT_CHECKCODE, AT_MAC)
    request = server.start()
    msg = parse_aka(request)
    assert msg.subtype == AkaSubtype.CHALLENGE
    assert [a.type for a in msg.attributes] == [
        AtType.AT_RAND,
        AtType.AT_AUTN,
        AtType.AT_CHECKCODE,
        AtType.AT_MAC,
    ]
    assert msg.get(AtType.AT_CHECKCODE).payload == b""  # no identity round
    # --> Response/AKA-Challenge (AT_RES, AT_CHECKCODE, AT_MAC)
    response = peer.process(request)
    assert kind(response) == ("RESPONSE", "AKA", "CHALLENGE")
    assert peer.machine_state is PeerState.CHALLENGE and peer.state == "running"
    # <-- EAP-Success
    final = server.process(response)
    assert final == bytes((3, msg.identifier, 0, 4))
    assert server.state == "success"
    assert peer.process(final) is None
    assert peer.state == "success"
    assert len(peer.msk) == 64 and peer.msk == server.msk
    assert peer.emsk == server.emsk and peer.emsk != peer.msk
    assert server.permanent_identity == IMSI
    assert server.subscriber.apns == ("ims",)
    # The MSK is the RFC 4187 §7 one for this identity and the vector's IK/CK.
    av_sqn = store.subscriber(IMSI).sqn
    av = generate_vector(Milenage(K, opc=OPC), av_sqn, b"\x80\x00", msg.get(AtType.AT_RAND).payload)
    assert derive_keys(NAI.encode(), av.ik, av.ck).msk == server.msk
    # After the end the server repeats its final packet.
    assert server.process(response) == final


def test_identity_rounds_any_fullauth_permanent_then_challenge():
    peer, server, _ = make_pair(
        identity="pseudonym-unknown@realm", server_kwargs={"identity_request": "any"}
    )
    # A peer that answers ANY and FULLAUTH with a pseudonym the server does not know.
    peer.identity = peer.permanent_identity = "pseudonym-unknown@realm"
    # <-- AKA-Identity(AT_ANY_ID_REQ)
    request = server.start()
    assert parse_aka(request).get(AtType.AT_ANY_ID_REQ) is not None
    # --> AKA-Identity(AT_IDENTITY = pseudonym): the server cannot resolve it
    response = peer.process(request)
    assert parse_aka(response).get(AtType.AT_IDENTITY).payload == b"pseudonym-unknown@realm"
    # <-- AKA-Identity(AT_FULLAUTH_ID_REQ)
    request = server.process(response)
    assert parse_aka(request).get(AtType.AT_FULLAUTH_ID_REQ) is not None
    response = peer.process(request)
    # <-- AKA-Identity(AT_PERMANENT_ID_REQ)
    request = server.process(response)
    assert parse_aka(request).get(AtType.AT_PERMANENT_ID_REQ) is not None
    peer.permanent_identity = NAI
    # --> AKA-Identity(AT_IDENTITY = permanent NAI)
    response = peer.process(request)
    # <-- AKA-Challenge with AT_CHECKCODE over the six identity packets
    request = server.process(response)
    msg = parse_aka(request)
    assert msg.subtype == AkaSubtype.CHALLENGE
    assert len(msg.get(AtType.AT_CHECKCODE).payload) == 20
    response = peer.process(request)
    assert server.process(response)[0] == EapCode.SUCCESS
    assert server.identity == NAI and server.state == "success"


def test_identity_requested_when_server_has_no_identity():
    peer, server, _ = make_pair(identity=None)
    assert run(peer, server) == [
        ("REQUEST", "AKA", "IDENTITY"),
        ("RESPONSE", "AKA", "IDENTITY"),
        ("REQUEST", "AKA", "CHALLENGE"),
        ("RESPONSE", "AKA", "CHALLENGE"),
        ("SUCCESS", None),
    ]
    assert peer.msk == server.msk and peer.state == server.state == "success"


def test_peer_answers_eap_identity_request():
    peer, _, _ = make_pair()
    # <-- EAP-Request/Identity  --> EAP-Response/Identity (the NAI)
    response = peer.process(bytes.fromhex("0105000501"))
    assert response == b"\x02\x05\x00" + bytes((5 + len(NAI),)) + b"\x01" + NAI.encode()


def test_resynchronisation():
    # The USIM has seen a much higher SQN than the HSS holds.
    peer, server, store = make_pair(usim_sqn=(5000 << 5) | 3, he_sqn=0)
    assert run(peer, server) == [
        ("REQUEST", "AKA", "CHALLENGE"),
        ("RESPONSE", "AKA", "SYNCHRONIZATION_FAILURE"),
        ("REQUEST", "AKA", "CHALLENGE"),
        ("RESPONSE", "AKA", "CHALLENGE"),
        ("SUCCESS", None),
    ]
    assert peer.msk == server.msk
    assert store.subscriber(IMSI).sqn > (5000 << 5) | 3


def test_resynchronisation_is_bounded():
    peer, server, _ = make_pair(usim_sqn=(5000 << 5) | 3, server_kwargs={"max_resync": 0})
    seen = run(peer, server)
    assert seen[-3:] == [
        ("REQUEST", "AKA", "NOTIFICATION"),
        ("RESPONSE", "AKA", "NOTIFICATION"),
        ("FAILURE", None),
    ]
    assert peer.state == server.state == "failure"
    assert peer.msk is None and server.msk is None


def test_bad_auts_fails():
    peer, server, _ = make_pair(usim_sqn=(5000 << 5) | 3)
    request = server.start()
    response = bytearray(peer.process(request))
    assert kind(bytes(response)) == ("RESPONSE", "AKA", "SYNCHRONIZATION_FAILURE")
    response[-1] ^= 1  # corrupt MAC-S
    # <-- Notification(General failure 16384) --> Notification <-- EAP-Failure
    notification = server.process(bytes(response))
    msg = parse_aka(notification)
    assert msg.subtype == AkaSubtype.NOTIFICATION
    assert msg.get(AtType.AT_NOTIFICATION).word == 16384
    assert server.failure_reason == "AUTS did not verify"


def test_wrong_key_usim_sends_authentication_reject():
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    peer = EapAkaPeer(Usim(bytes(16), OPC), NAI, rng=counter_rng())
    server = EapAkaServer(store, rng=counter_rng(), identity=NAI)
    assert run(peer, server) == [
        ("REQUEST", "AKA", "CHALLENGE"),
        ("RESPONSE", "AKA", "AUTHENTICATION_REJECT"),
        ("FAILURE", None),
    ]
    assert peer.state == server.state == "failure"
    assert "mac-failure" in peer.failure_reason


def test_wrong_res_is_notified_then_failure():
    peer, server, _ = make_pair()
    request = server.start()
    response = peer.process(request)
    # Swap RES for another value and fix the MAC as a peer with the right K_aut would:
    # the server must still refuse (RES != XRES).
    msg = parse_aka(response)
    res_attr = msg.get(AtType.AT_RES)
    tampered = bytearray(response)
    tampered[res_attr.offset + 4] ^= 0xFF
    from dsmip6.eap import _crypto

    keys = peer._keys
    zeroed = bytes(tampered[:-16]) + bytes(16)
    tampered[-16:] = _crypto.compute_mac(keys.k_aut, zeroed)
    notification = server.process(bytes(tampered))
    assert parse_aka(notification).get(AtType.AT_NOTIFICATION).word == 16384
    assert server.failure_reason == "RES does not match XRES"
    assert server.machine_state is ServerState.NOTIFICATION
    # --> Notification response  <-- EAP-Failure
    answer = peer.process(notification)
    assert kind(answer) == ("RESPONSE", "AKA", "NOTIFICATION")
    assert peer.notification_code == 16384 and peer.machine_state is PeerState.FAILING
    failure = server.process(
        build_aka(EapCode.RESPONSE, parse_aka(notification).identifier, 23, 12, b"")
    )
    assert failure[0] == EapCode.FAILURE and server.state == "failure"


def test_bad_mac_from_peer_is_refused():
    peer, server, _ = make_pair()
    response = bytearray(peer.process(server.start()))
    response[-3] ^= 0x40
    notification = server.process(bytes(response))
    assert kind(notification) == ("REQUEST", "AKA", "NOTIFICATION")
    assert "AT_MAC" in server.failure_reason
    assert server.msk is None


def test_bad_mac_from_server_gives_client_error():
    peer, server, _ = make_pair()
    request = bytearray(server.start())
    request[-1] ^= 1
    response = peer.process(bytes(request))
    assert kind(response) == ("RESPONSE", "AKA", "CLIENT_ERROR")
    assert parse_aka(response).get(AtType.AT_CLIENT_ERROR_CODE).word == 0
    assert peer.machine_state is PeerState.FAILING
    # <-- EAP-Failure
    assert server.process(response)[0] == EapCode.FAILURE
    assert peer.process(bytes((4, request[1], 0, 4))) is None
    assert peer.state == "failure" and peer.msk is None


def test_result_indication_success_notification():
    peer, server, _ = make_pair(
        server_kwargs={"result_indication": True}, peer_kwargs={"result_indication": True}
    )
    assert run(peer, server) == [
        ("REQUEST", "AKA", "CHALLENGE"),
        ("RESPONSE", "AKA", "CHALLENGE"),
        ("REQUEST", "AKA", "NOTIFICATION"),
        ("RESPONSE", "AKA", "NOTIFICATION"),
        ("SUCCESS", None),
    ]
    assert peer.notification_code == 32768
    assert peer.msk == server.msk and peer.state == "success"


def test_result_indication_peer_declines():
    peer, server, _ = make_pair(server_kwargs={"result_indication": True})
    assert run(peer, server)[-1] == ("SUCCESS", None)
    assert peer.state == "success"


def test_peer_discards_early_success_and_spoofed_failure_after_success():
    peer, server, _ = make_pair()
    request = server.start()
    # An EAP-Success before the challenge round is silently discarded (RFC 4187 §6.3.4).
    assert peer.process(bytes((3, request[1], 0, 4))) is None
    assert peer.state == "running" and peer.msk is None
    final = server.process(peer.process(request))
    peer.process(final)
    assert peer.state == "success"
    assert peer.process(bytes((4, 0, 0, 4))) is None
    assert peer.state == "success"


def test_retransmitted_request_gets_the_same_response():
    peer, server, _ = make_pair()
    request = server.start()
    first = peer.process(request)
    # The USIM must not be asked twice (a second run would be a replayed SQN).
    assert peer.process(request) == first
    assert server.process(first)[0] == EapCode.SUCCESS


def test_server_ignores_wrong_identifier_and_requests():
    peer, server, _ = make_pair()
    request = server.start()
    response = bytearray(peer.process(request))
    response[1] ^= 0x55
    assert server.process(bytes(response)) == request  # re-sent, state unchanged
    assert server.process(request) == request  # a Request is not an answer
    assert server.process(b"\x02\x01") == request  # unparseable EAP: discarded
    assert server.process(bytes(response[:3])) == request
    response[1] ^= 0x55
    assert server.process(bytes(response))[0] == EapCode.SUCCESS


def test_unknown_subscriber():
    store = InMemorySubscriberStore()
    server = EapAkaServer(store, rng=counter_rng(), identity=NAI)
    first = server.start()
    assert parse_aka(first).get(AtType.AT_NOTIFICATION).word == 16384
    assert server.process(build_aka(2, first[1], 23, 12, b""))[0] == EapCode.FAILURE


def test_nak_ends_with_failure():
    _, server, _ = make_pair()
    request = server.start()
    nak = EapPacket(EapCode.RESPONSE, request[1], EapType.NAK, bytes((EapType.AKA_PRIME,)))
    assert server.process(nak.to_bytes())[0] == EapCode.FAILURE


def test_peer_naks_other_methods_and_answers_notifications():
    peer, _, _ = make_pair()
    md5 = EapPacket(EapCode.REQUEST, 9, 4, b"\x10" + bytes(16)).to_bytes()
    assert peer.process(md5) == bytes.fromhex("0209000603") + bytes((EapType.AKA,))
    note = EapPacket(EapCode.REQUEST, 10, EapType.NOTIFICATION, b"hello").to_bytes()
    assert peer.process(note) == bytes.fromhex("020a000502")


def test_identity_requests_out_of_order_are_refused():
    peer, _, _ = make_pair()
    permanent = build_aka(1, 1, 23, 5, reserved_attribute(AtType.AT_PERMANENT_ID_REQ))
    any_id = build_aka(1, 2, 23, 5, reserved_attribute(AtType.AT_ANY_ID_REQ))
    assert kind(peer.process(permanent)) == ("RESPONSE", "AKA", "IDENTITY")
    assert kind(peer.process(any_id)) == ("RESPONSE", "AKA", "CLIENT_ERROR")
    two = build_aka(
        1,
        3,
        23,
        5,
        reserved_attribute(AtType.AT_ANY_ID_REQ) + reserved_attribute(AtType.AT_FULLAUTH_ID_REQ),
    )
    peer2, _, _ = make_pair()
    assert kind(peer2.process(two)) == ("RESPONSE", "AKA", "CLIENT_ERROR")


def test_peer_decrypts_next_pseudonym_and_reauth_id():
    peer, server, _ = make_pair()
    request = server.start()
    msg = parse_aka(request)
    from dsmip6.eap import _crypto

    # Rebuild the challenge with AT_IV/AT_ENCR_DATA as hostapd sends them.
    keys = _crypto.derive_keys(
        NAI.encode(), *reversed(Milenage(K, opc=OPC).f2345(msg.get(AtType.AT_RAND).payload)[1:3])
    )
    inner = length_prefixed(AtType.AT_NEXT_PSEUDONYM, b"pseudo-12") + length_prefixed(
        AtType.AT_NEXT_REAUTH_ID, b"reauth-1@realm"
    )
    assert len(inner) % 16 == 4
    inner += reserved_attribute(AtType.AT_PADDING, bytes(8))  # 12 octets of padding
    iv = bytes(range(16))
    attrs = (
        reserved_attribute(AtType.AT_RAND, msg.get(AtType.AT_RAND).payload)
        + reserved_attribute(AtType.AT_AUTN, msg.get(AtType.AT_AUTN).payload)
        + reserved_attribute(AtType.AT_IV, iv)
        + reserved_attribute(AtType.AT_ENCR_DATA, _crypto.encrypt_data(keys.k_encr, iv, inner))
        + reserved_attribute(AtType.AT_MAC, bytes(16))
    )
    packet = build_aka(1, msg.identifier, 23, 1, attrs)
    packet = packet[:-16] + _crypto.compute_mac(keys.k_aut, packet)
    response = peer.process(packet)
    assert kind(response) == ("RESPONSE", "AKA", "CHALLENGE")
    assert peer.next_pseudonym == "pseudo-12"
    assert peer.next_reauth_id == "reauth-1@realm"


# --- EAP-AKA' ------------------------------------------------------------------------------


def test_aka_prime_exchange():
    nai = permanent_nai(IMSI, prime=True)
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    peer = EapAkaPrimePeer(Usim(K, OPC), nai, rng=counter_rng(), network_name="WLAN")
    server = EapAkaPrimeServer(store, rng=counter_rng(), identity=nai, network_name="WLAN")
    seen = run(peer, server)
    assert seen == [
        ("REQUEST", "AKA_PRIME", "CHALLENGE"),
        ("RESPONSE", "AKA_PRIME", "CHALLENGE"),
        ("SUCCESS", None),
    ]
    assert peer.msk == server.msk and len(peer.msk) == 64


def test_aka_prime_network_name_mismatch():
    nai = permanent_nai(IMSI, prime=True)
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    peer = EapAkaPrimePeer(Usim(K, OPC), nai, rng=counter_rng(), network_name="HRPD")
    server = EapAkaPrimeServer(store, rng=counter_rng(), identity=nai, network_name="WLAN")
    assert run(peer, server)[1] == ("RESPONSE", "AKA_PRIME", "CLIENT_ERROR")
    assert peer.state == "failure"


def test_aka_peer_naks_aka_prime():
    nai = permanent_nai(IMSI, prime=True)
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    server = EapAkaPrimeServer(store, rng=counter_rng(), identity=nai, network_name="WLAN")
    peer = EapAkaPeer(Usim(K, OPC), nai, rng=counter_rng())
    response = peer.process(server.start())
    assert EapPacket.parse(response).type == EapType.NAK
    assert server.process(response)[0] == EapCode.FAILURE


# --- Codec strictness -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "hex_packet",
    [
        "",  # nothing
        "01",  # truncated header
        "0101000301",  # Length < 4
        "01010010170100",  # Length > data
        "030100050000",  # Success with data
        "0501000417",  # unknown code
    ],
)
def test_eap_header_errors(hex_packet):
    with pytest.raises(MalformedPacket):
        EapPacket.parse(bytes.fromhex(hex_packet))


def test_eap_trailing_link_padding_ignored():
    pkt = EapPacket.parse(bytes.fromhex("0301000400000000"))
    assert pkt.code == EapCode.SUCCESS and pkt.to_bytes() == bytes.fromhex("03010004")


@pytest.mark.parametrize(
    ("attrs_hex", "reason"),
    [
        ("0104" + "00" * 14, "bad-length"),  # AT_RAND of 4 words
        ("0b00", "truncated"),  # header only
        ("0b000000", "bad-length"),  # length 0
        ("0b06" + "00" * 18, "truncated"),  # runs past the end
        ("03030020" + "11" * 8, "bad-length"),  # AT_RES 32 bits but 8 octets: over-padded
        ("03030041" + "11" * 8, "bad-length"),  # AT_RES bits not a multiple of 8
        ("0e020010" + "61" * 4, "bad-length"),  # AT_IDENTITY actual length too big
        ("06010001", "bad-padding"),  # AT_PADDING not zero
        ("6401" + "0000", "unsupported"),  # unknown non-skippable attribute 100
        ("0a0100000a010000", "duplicate"),  # duplicate
        ("8203" + "00" * 10, "bad-length"),  # AT_ENCR_DATA not a multiple of 16
    ],
)
def test_attribute_errors(attrs_hex, reason):
    packet = build_aka(1, 1, 23, 5, bytes.fromhex(attrs_hex))
    with pytest.raises(MalformedPacket) as info:
        parse_aka(packet)
    assert info.value.reason == reason


def test_unknown_skippable_attribute_is_ignored():
    attrs = bytes.fromhex("c802000011223344") + reserved_attribute(AtType.AT_ANY_ID_REQ)
    msg = parse_aka(build_aka(1, 1, 23, 5, attrs))
    assert [a.type for a in msg.attributes] == [AtType.AT_ANY_ID_REQ]


def test_attribute_builders_round_trip():
    encoded = (
        word_attribute(AtType.AT_NOTIFICATION, 16384)
        + length_prefixed(AtType.AT_IDENTITY, b"abcde")
        + reserved_attribute(AtType.AT_RAND, bytes(range(16)))
    )
    msg = parse_aka(build_aka(1, 1, 23, 12, encoded))
    assert msg.get(AtType.AT_NOTIFICATION).word == 16384
    assert msg.get(AtType.AT_IDENTITY).payload == b"abcde"
    assert msg.get(AtType.AT_RAND).payload == bytes(range(16))

    # each parsed attribute is an immutable Attribute carrying type, value and offset in raw
    a = msg.get(AtType.AT_IDENTITY)
    assert type(a) is Attribute and isinstance(a, tuple)
    assert a == Attribute(AtType.AT_IDENTITY, b"\x00\x05abcde\x00\x00\x00", 12)
    assert msg.raw[a.offset] == AtType.AT_IDENTITY
    with pytest.raises(AttributeError):
        a.value = b""  # type: ignore[misc]


# --- Bad input never escapes as an exception and never corrupts state ------------------------


def _golden_exchange() -> tuple[bytes, bytes]:
    peer, server, _ = make_pair()
    request = server.start()
    return request, peer.process(request)


def test_every_truncation_of_a_challenge_is_handled():
    request, _ = _golden_exchange()
    for cut in range(len(request)):
        peer, server, _ = make_pair()
        server.start()
        answer = peer.process(request[:cut])
        if cut < 8 or cut < int.from_bytes(request[2:4], "big"):
            # Unparseable EAP header or Length past the data: silently discarded.
            assert answer is None or kind(answer)[2] == "CLIENT_ERROR"
    peer, server, _ = make_pair()
    server.start()
    assert peer.process(request[:20]) is None
    # The discarded garbage left no trace: the real exchange still works.
    assert server.process(peer.process(server._last_request))[0] == EapCode.SUCCESS


def test_every_truncation_of_a_response_is_handled():
    _, response = _golden_exchange()
    for cut in range(len(response)):
        _, server, _ = make_pair()
        server.start()
        answer = server.process(response[:cut])
        assert EapPacket.parse(answer).code in (EapCode.REQUEST, EapCode.FAILURE)
        assert server.msk is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.integers(min_value=0, max_value=2))
def test_random_bytes_never_raise(data, stage):
    peer, server, _ = make_pair()
    request = server.start()
    if stage >= 1:
        peer.process(request)
    for blob in (data, request[:8] + data, bytes((1, request[1])) + data):
        out = peer.process(blob)
        assert out is None or isinstance(out, bytes)
        out = server.process(blob)
        assert isinstance(out, bytes)
    assert server.msk is None or server.state == "success"


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_bit_flips_in_messages_never_raise_or_authenticate(data):
    peer, server, _ = make_pair()
    request = server.start()
    flip = data.draw(st.integers(min_value=8, max_value=len(request) * 8 - 1))
    tampered = bytearray(request)
    tampered[flip // 8] ^= 1 << (flip % 8)
    response = peer.process(bytes(tampered))
    assert response is None or kind(response)[0] == "RESPONSE"
    if response is not None:
        final = server.process(response)
        # A flipped challenge can never lead to a success.
        assert final[0] != EapCode.SUCCESS
    assert peer.msk is None


# --- Transition tables (STYLE §6: table tests without bytes) ---------------------------------


def test_transition_tables_are_closed_and_documented():
    from pathlib import Path

    from dsmip6.eap._state import (
        PEER_TRANSITIONS,
        SERVER_TRANSITIONS,
        PeerInput,
        ServerInput,
        describe_transitions,
        next_state,
    )
    from dsmip6.errors import LocalProtocolError

    for table, states in ((PEER_TRANSITIONS, PeerState), (SERVER_TRANSITIONS, ServerState)):
        assert set(table) == set(states)
        assert table[states.SUCCESS] == {} and table[states.FAILURE] == {}
    # Happy paths, driven by inputs only.
    s = PeerState.START
    for event in (PeerInput.AKA_IDENTITY_ANSWERED, PeerInput.CHALLENGE_ANSWERED):
        s = next_state("peer", PEER_TRANSITIONS, s, event)
    assert next_state("peer", PEER_TRANSITIONS, s, PeerInput.EAP_SUCCESS) is PeerState.SUCCESS
    s = ServerState.IDLE
    for event in (ServerInput.ASK_IDENTITY, ServerInput.SEND_CHALLENGE, ServerInput.SEND_SUCCESS):
        s = next_state("server", SERVER_TRANSITIONS, s, event)
    assert s is ServerState.SUCCESS
    # No success without a challenge round; a missing entry is a LocalProtocolError.
    with pytest.raises(LocalProtocolError, match="peer: no transition from START"):
        next_state("peer", PEER_TRANSITIONS, PeerState.START, PeerInput.EAP_SUCCESS)
    with pytest.raises(LocalProtocolError):
        next_state("server", SERVER_TRANSITIONS, ServerState.IDENTITY, ServerInput.SEND_SUCCESS)
    docs = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text()
    assert describe_transitions() in docs


# --- Fast re-authentication (RFC 4187 §5) ---------------------------------------------------


def _reauth_setup():
    from dsmip6.eap import InMemoryReauthStore

    reauths = InMemoryReauthStore()
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    usim = Usim(K, OPC)
    seeds = itertools.count(40, 57)  # a different deterministic generator per server

    def server(identity):
        rng = counter_rng(next(seeds))
        return EapAkaServer(store, rng=rng, identity=identity, reauth_store=reauths)

    return reauths, store, usim, server


def test_fast_reauthentication_chain():
    from dsmip6.eap import _crypto

    reauths, _, usim, server = _reauth_setup()
    peer = EapAkaPeer(usim, NAI, rng=counter_rng(1))
    first = server(NAI)
    # <-- AKA-Challenge (..., AT_IV, AT_ENCR_DATA{AT_NEXT_REAUTH_ID}, AT_MAC) --> ... Success
    assert run(peer, first)[-1] == ("SUCCESS", None)
    ctx = peer.reauth_context
    assert ctx is not None and ctx.reauth_id.startswith("4") and ctx.counter == 0
    assert ctx.reauth_id.endswith("@nai.epc.mnc001.mcc001.3gppnetwork.org")
    assert reauths.peek(ctx.reauth_id).imsi == IMSI
    msks = [first.msk]
    for expected_counter in (1, 2):
        peer = EapAkaPeer(
            usim, ctx.reauth_id, rng=counter_rng(9), reauth=ctx, permanent_identity=NAI
        )
        srv = server(ctx.reauth_id)
        # <-- AKA-Reauthentication (AT_IV, AT_ENCR_DATA{*AT_COUNTER, *AT_NONCE_S,
        #     *AT_NEXT_REAUTH_ID}, AT_CHECKCODE, AT_MAC)
        # --> AKA-Reauthentication (AT_IV, AT_ENCR_DATA{*AT_COUNTER}, AT_CHECKCODE, AT_MAC)
        # <-- EAP-Success
        assert run(peer, srv) == [
            ("REQUEST", "AKA", "REAUTHENTICATION"),
            ("RESPONSE", "AKA", "REAUTHENTICATION"),
            ("SUCCESS", None),
        ]
        assert peer.reauthenticated and srv.reauthenticated
        assert srv.permanent_identity == IMSI
        assert peer.msk == srv.msk and peer.emsk == srv.emsk
        # XKEY' = SHA1(Identity | counter | NONCE_S | MK) with the re-auth identity.
        assert (
            srv.msk
            == _crypto.derive_reauth_keys(
                ctx.reauth_id.encode(), expected_counter, srv._nonce_s, ctx.mk
            )[0]
        )
        msks.append(srv.msk)
        old_id, ctx = ctx.reauth_id, peer.reauth_context
        assert ctx.counter == expected_counter and ctx.reauth_id != old_id
        assert reauths.peek(old_id) is None  # one-time identities
    assert len(set(msks)) == 3


def test_reused_reauth_identity_falls_back_to_full_authentication():
    reauths, _, usim, server = _reauth_setup()
    peer = EapAkaPeer(usim, NAI, rng=counter_rng(1))
    run(peer, server(NAI))
    ctx = peer.reauth_context
    again = EapAkaPeer(usim, ctx.reauth_id, rng=counter_rng(2), reauth=ctx, permanent_identity=NAI)
    assert run(again, server(ctx.reauth_id))[-1] == ("SUCCESS", None)
    # The same identity a second time is unknown: AKA-Identity, then a full challenge.
    replay = EapAkaPeer(usim, ctx.reauth_id, rng=counter_rng(3), reauth=ctx, permanent_identity=NAI)
    srv = server(ctx.reauth_id)
    assert run(replay, srv) == [
        ("REQUEST", "AKA", "IDENTITY"),
        ("RESPONSE", "AKA", "IDENTITY"),
        ("REQUEST", "AKA", "CHALLENGE"),
        ("RESPONSE", "AKA", "CHALLENGE"),
        ("SUCCESS", None),
    ]
    assert not srv.reauthenticated and replay.msk == srv.msk


def test_counter_too_small_falls_back_to_challenge():
    import dataclasses

    reauths, _, usim, server = _reauth_setup()
    peer = EapAkaPeer(usim, NAI, rng=counter_rng(1))
    run(peer, server(NAI))
    ctx = dataclasses.replace(peer.reauth_context, counter=7)  # the peer has seen counter 7
    again = EapAkaPeer(usim, ctx.reauth_id, rng=counter_rng(2), reauth=ctx, permanent_identity=NAI)
    srv = server(ctx.reauth_id)
    assert run(again, srv) == [
        ("REQUEST", "AKA", "REAUTHENTICATION"),
        ("RESPONSE", "AKA", "REAUTHENTICATION"),  # *AT_COUNTER_TOO_SMALL
        ("REQUEST", "AKA", "CHALLENGE"),
        ("RESPONSE", "AKA", "CHALLENGE"),
        ("SUCCESS", None),
    ]
    assert not srv.reauthenticated and again.msk == srv.msk


def test_reauthentication_with_bad_mac_or_without_context():
    reauths, _, usim, server = _reauth_setup()
    peer = EapAkaPeer(usim, NAI, rng=counter_rng(1))
    run(peer, server(NAI))
    ctx = peer.reauth_context
    srv = server(ctx.reauth_id)
    request = bytearray(srv.start())
    assert kind(bytes(request)) == ("REQUEST", "AKA", "REAUTHENTICATION")
    request[-2] ^= 4
    tampered = EapAkaPeer(usim, ctx.reauth_id, rng=counter_rng(2), reauth=ctx)
    assert kind(tampered.process(bytes(request))) == ("RESPONSE", "AKA", "CLIENT_ERROR")
    request[-2] ^= 4
    stranger = EapAkaPeer(usim, ctx.reauth_id, rng=counter_rng(3))  # no context
    assert kind(stranger.process(bytes(request))) == ("RESPONSE", "AKA", "CLIENT_ERROR")
    # A response with a wrong MAC is refused by the server.
    good = EapAkaPeer(usim, ctx.reauth_id, rng=counter_rng(4), reauth=ctx)
    response = bytearray(good.process(bytes(request)))
    response[-1] ^= 1
    assert kind(srv.process(bytes(response))) == ("REQUEST", "AKA", "NOTIFICATION")
    assert srv.msk is None


def test_reauth_limit_forces_full_authentication():
    from dsmip6.eap import InMemoryReauthStore

    reauths = InMemoryReauthStore()
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    usim = Usim(K, OPC)
    peer = EapAkaPeer(usim, NAI, rng=counter_rng(1))
    make = lambda ident: EapAkaServer(  # noqa: E731
        store, rng=counter_rng(5), identity=ident, reauth_store=reauths, reauth_limit=1
    )
    run(peer, make(NAI))
    ctx = peer.reauth_context
    peer = EapAkaPeer(usim, ctx.reauth_id, rng=counter_rng(2), reauth=ctx, permanent_identity=NAI)
    assert run(peer, make(ctx.reauth_id))[0] == ("REQUEST", "AKA", "REAUTHENTICATION")
    # Counter 1 reached the limit: no next re-authentication identity was handed out.
    assert peer.reauth_context is None and len(reauths) == 0


def test_aka_prime_fast_reauthentication():
    from dsmip6.eap import InMemoryReauthStore, _crypto

    reauths = InMemoryReauthStore()
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    usim = Usim(K, OPC)
    nai = permanent_nai(IMSI, prime=True)
    seeds = itertools.count(3, 41)

    def server(identity):
        return EapAkaPrimeServer(
            store,
            rng=counter_rng(next(seeds)),
            identity=identity,
            network_name="WLAN",
            reauth_store=reauths,
        )

    peer = EapAkaPrimePeer(usim, nai, rng=counter_rng(1))
    first = server(nai)
    assert run(peer, first)[-1] == ("SUCCESS", None)
    ctx = peer.reauth_context
    assert ctx.reauth_id.startswith("8") and len(ctx.k_re) == 32
    for counter in (1, 2):
        peer = EapAkaPrimePeer(usim, ctx.reauth_id, rng=counter_rng(7), reauth=ctx)
        srv = server(ctx.reauth_id)
        assert run(peer, srv) == [
            ("REQUEST", "AKA_PRIME", "REAUTHENTICATION"),
            ("RESPONSE", "AKA_PRIME", "REAUTHENTICATION"),
            ("SUCCESS", None),
        ]
        # RFC 5448 §3.3: MK = PRF'(K_re, "EAP-AKA' re-auth" | Identity | counter | NONCE_S)
        assert (
            srv.msk
            == peer.msk
            == _crypto.derive_reauth_keys_prime(
                ctx.k_re, ctx.reauth_id.encode(), counter, srv._nonce_s
            )[0]
        )
        ctx = peer.reauth_context
        assert ctx.counter == counter


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_bit_flips_in_reauthentication_never_raise_or_authenticate(data):
    reauths, _, usim, server = _reauth_setup()
    peer = EapAkaPeer(usim, NAI, rng=counter_rng(1))
    run(peer, server(NAI))
    ctx = peer.reauth_context
    srv = server(ctx.reauth_id)
    request = srv.start()
    flip = data.draw(st.integers(min_value=8, max_value=len(request) * 8 - 1))
    tampered = bytearray(request)
    tampered[flip // 8] ^= 1 << (flip % 8)
    again = EapAkaPeer(usim, ctx.reauth_id, rng=counter_rng(2), reauth=ctx)
    response = again.process(bytes(tampered))
    if response is not None:
        assert srv.process(response)[0] != EapCode.SUCCESS
    assert again.msk is None and srv.msk is None


def test_pseudonym_round_trip():
    from dsmip6.eap import InMemoryPseudonymStore

    pseudonyms = InMemoryPseudonymStore()
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    usim = Usim(K, OPC)
    seeds = itertools.count(11, 29)

    def server(identity):
        rng = counter_rng(next(seeds))
        return EapAkaServer(store, rng=rng, identity=identity, pseudonym_store=pseudonyms)

    peer = EapAkaPeer(usim, NAI, rng=counter_rng(1))
    # <-- AKA-Challenge (..., AT_IV, AT_ENCR_DATA{*AT_NEXT_PSEUDONYM}, AT_MAC)
    assert run(peer, server(NAI))[-1] == ("SUCCESS", None)
    assert peer.next_pseudonym.startswith("2") and "@" not in peer.next_pseudonym
    assert pseudonyms.lookup(peer.next_pseudonym) == IMSI
    # Next time the peer hides its IMSI: pseudonym@realm, answered with a full challenge.
    alias = peer.next_pseudonym + "@" + NAI.split("@")[1]
    second = EapAkaPeer(usim, alias, rng=counter_rng(2), permanent_identity=NAI)
    srv = server(alias)
    assert run(second, srv)[0] == ("REQUEST", "AKA", "CHALLENGE")
    assert srv.permanent_identity == IMSI and second.msk == srv.msk
    # MK used the pseudonym identity, not the permanent one.
    assert srv._keys.mk == derive_keys(alias.encode(), srv._vector.ik, srv._vector.ck).mk
    # An unknown pseudonym gets AKA-Identity(AT_PERMANENT_ID_REQ), then full authentication.
    stranger = EapAkaPeer(usim, "2deadbeef@realm", rng=counter_rng(3), permanent_identity=NAI)
    srv = server("2deadbeef@realm")
    seen = run(stranger, srv)
    assert seen[:2] == [("REQUEST", "AKA", "IDENTITY"), ("RESPONSE", "AKA", "IDENTITY")]
    assert seen[-1] == ("SUCCESS", None) and srv.identity == NAI


def test_bidding_down_protection():
    # RFC 5448 §4: an EAP-AKA server that prefers EAP-AKA' says so in AT_BIDDING (D bit).
    peer, server, _ = make_pair(server_kwargs={"bidding": True})
    request = server.start()
    assert parse_aka(request).get(AtType.AT_BIDDING).word == 0x8000
    # A peer that only does EAP-AKA ignores it ...
    assert run(peer, make_pair(server_kwargs={"bidding": True})[1])[-1] == ("SUCCESS", None)
    # ... one that prefers EAP-AKA' treats it as a bidding-down attack.
    picky, server, _ = make_pair(
        server_kwargs={"bidding": True}, peer_kwargs={"prefer_aka_prime": True}
    )
    assert run(picky, server) == [
        ("REQUEST", "AKA", "CHALLENGE"),
        ("RESPONSE", "AKA", "AUTHENTICATION_REJECT"),
        ("FAILURE", None),
    ]
    assert "bidding down" in picky.failure_reason
    # Without the D bit the picky peer goes ahead.
    picky, server, _ = make_pair(peer_kwargs={"prefer_aka_prime": True})
    assert run(picky, server)[-1] == ("SUCCESS", None)


def test_notification_phase_rules():
    # P = 0 (after authentication) before any challenge round: refused.
    peer, _, _ = make_pair()
    early = build_aka(1, 4, 23, 12, word_attribute(AtType.AT_NOTIFICATION, 0))
    assert kind(peer.process(early)) == ("RESPONSE", "AKA", "CLIENT_ERROR")
    # S and P both set: refused.
    peer, _, _ = make_pair()
    both = build_aka(1, 4, 23, 12, word_attribute(AtType.AT_NOTIFICATION, 0xC000))
    assert kind(peer.process(both)) == ("RESPONSE", "AKA", "CLIENT_ERROR")
    # A success notification without result indication: refused.
    peer, server, _ = make_pair()
    server.process(peer.process(server.start()))
    success = build_aka(1, 9, 23, 12, word_attribute(AtType.AT_NOTIFICATION, 32768))
    assert kind(peer.process(success)) == ("RESPONSE", "AKA", "CLIENT_ERROR")
    # A P = 1 failure before authentication is answered without AT_MAC.
    peer, _, _ = make_pair()
    failure = build_aka(1, 5, 23, 12, word_attribute(AtType.AT_NOTIFICATION, 16384))
    answer = peer.process(failure)
    assert answer == build_aka(2, 5, 23, 12, b"")
    assert peer.machine_state is PeerState.FAILING


def test_reserved_attribute_is_build_attribute_of_the_padded_value():
    # written out for the challenge path; same octets and the same refusals for every length
    from dsmip6.eap._packet import build_attribute

    for n in range(0, 1030):
        payload = bytes(i & 0xFF for i in range(n))
        try:
            want = build_attribute(AtType.AT_RAND, b"\x00\x00" + payload)
        except ValueError as e:
            with pytest.raises(ValueError) as got:
                reserved_attribute(AtType.AT_RAND, payload)
            assert str(got.value) == str(e)
            continue
        assert reserved_attribute(AtType.AT_RAND, payload) == want


# ------------------------------------------------------------------ the challenge fast path
# the HMAC context cache, the switch and the test's wrapper; the store and rng are compared
# through the subscriber's SQN and the packets
_NOT_COMPARED = ("_mac_key", "fast_path", "store", "_rng", "_fast_challenge", "_plain_challenge")


def _server_state(server: EapAkaServer) -> dict:
    """Everything a server run leaves that the general path would also set."""
    keep = {k: v for k, v in vars(server).items() if k not in _NOT_COMPARED}
    keep["sqn"] = server.store.subscriber(IMSI).sqn  # type: ignore[union-attr]
    return keep


def _at_challenge(prime: bool, fast: bool, **server_kwargs) -> tuple:
    """A peer and a server (fast path on or off) with the challenge sent; the peer's answer."""
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC, apns=("ims",))])
    usim = Usim(K, OPC)
    if prime:
        name = "WLAN"
        ident = "6" + NAI[1:]
        peer = EapAkaPrimePeer(usim, ident, rng=counter_rng(100), network_name=name)
        server = EapAkaPrimeServer(
            store, rng=counter_rng(7), identity=ident, network_name=name, **server_kwargs
        )
    else:
        peer = EapAkaPeer(usim, NAI, rng=counter_rng(100))
        server = EapAkaServer(store, rng=counter_rng(7), identity=NAI, **server_kwargs)
    server.fast_path = fast
    challenge = server.start()
    return peer, server, peer.process(challenge)


def _challenge_variants(resp: bytes) -> list[bytes]:
    """The common response and its mutations: every bit of the header and attribute
    headers flipped, every octet of RES and MAC changed, truncations, trailing octets, the
    attributes swapped, padding added to RES, AT_CHECKCODE / AT_RESULT_IND / unknown ones
    appended (with the EAP Length fixed up or not)."""

    def relen(b: bytes) -> bytes:
        return b[:2] + len(b).to_bytes(2, "big") + b[4:]

    out = [resp]
    for i in range(len(resp)):
        for bit in (0x01, 0x02, 0x80) if i < 12 or 20 <= i < 24 else (0x01,):
            b = bytearray(resp)
            b[i] ^= bit
            out.append(bytes(b))
    out += [resp[:n] for n in range(0, len(resp))]
    out += [resp + b"\x00" * k for k in (1, 4)]
    res_end, mac_at = 8 + 4 * resp[9], len(resp) - 20
    res_attr, middle, mac_attr = resp[8:res_end], resp[res_end:mac_at], resp[mac_at:]
    out.append(relen(resp[:8] + mac_attr + middle + res_attr))
    out.append(relen(resp[:8] + middle + res_attr + mac_attr))
    out.append(relen(resp[:8] + res_attr + mac_attr))  # AT_CHECKCODE left out
    out.append(relen(resp[:8] + res_attr + middle + middle + mac_attr))
    out.append(relen(resp[:8] + res_attr + bytes.fromhex("86010000") + mac_attr))
    padded = bytes([res_attr[0], res_attr[1] + 1]) + res_attr[2:] + bytes(4)
    out.append(relen(resp[:8] + padded + middle + mac_attr))
    for extra in ("86010000", "87010000", "ff010000", "0a010000", "0b050000" + "00" * 16):
        out.append(relen(resp + bytes.fromhex(extra)))
        out.append(resp + bytes.fromhex(extra))
    out.append(relen(resp[:8] + bytes.fromhex("86010000") + resp[8:]))
    return out


def _twin_run(prime: bool, server_kwargs: dict) -> tuple[int, set[bytes], bytes]:
    """Twin servers, one with the challenge fast path and one without, each given the same
    (common or mutated) challenge response, then the same again and the common response:
    the number of variants whose packets or states differ, the variants the fast path
    answered, the common response."""
    _, _, resp = _at_challenge(prime, True, **server_kwargs)
    differ, taken = 0, set()
    for variant in _challenge_variants(resp):
        _, fast, _ = _at_challenge(prime, True, **server_kwargs)
        _, slow, _ = _at_challenge(prime, False, **server_kwargs)
        calls: list = []
        real = fast._fast_challenge
        fast._fast_challenge = lambda d, real=real, calls=calls: calls.append(real(d)) or calls[-1]  # type: ignore[method-assign]
        same = fast.process(variant) == slow.process(variant)
        same &= _server_state(fast) == _server_state(slow)
        same &= fast.process(variant) == slow.process(variant)
        same &= fast.process(resp) == slow.process(resp)
        same &= _server_state(fast) == _server_state(slow)
        differ += not same
        if calls[0] is not None:
            taken.add(variant)
    return differ, taken, resp


@pytest.mark.parametrize("prime", [False, True])
@pytest.mark.parametrize("server_kwargs", [{}, {"result_indication": True}, {"checkcode": False}])
def test_challenge_fast_path_equals_the_general_path(prime, server_kwargs):
    """Same packets back, same state after, for the common response and ~150 mutations."""
    _, _, resp = _at_challenge(prime, True, **server_kwargs)
    mac_at = len(resp) - 20
    assert resp[8] == AtType.AT_RES and resp[mac_at] == AtType.AT_MAC
    # AT_CHECKCODE (empty: no AKA-Identity round) between them when the server sent one
    assert (mac_at - 8 - 4 * resp[9] == 4) == server_kwargs.get("checkcode", True)
    differ, taken, resp = _twin_run(prime, server_kwargs)
    assert differ == 0
    assert taken == {resp}  # only the common response itself is answered by the fast path


def test_challenge_fast_path_answers_the_common_response():
    """The peer's own response takes the fast path and succeeds (MSK, subscriber, state)."""
    peer, server, resp = _at_challenge(False, True)
    seen = []
    real = server._fast_challenge
    server._fast_challenge = lambda d: seen.append(real(d)) or seen[-1]  # type: ignore[method-assign]
    success = server.process(resp)
    assert seen and seen[0] == success and kind(success) == ("SUCCESS", None)
    assert server.machine_state is ServerState.SUCCESS and server.msk is not None
    peer.process(success)
    assert peer.msk == server.msk


def test_challenge_fast_path_planted_divergence_is_caught(monkeypatch):
    """The twin comparison sees a fast path that skips a check: one that accepts any AT_MAC
    value (it verifies the MAC of the peer's own response instead) answers the MAC-flipped
    variants with Success where the general path sends a failure notification."""
    _, _, resp = _at_challenge(False, True)
    real = EapAkaServer._fast_challenge

    def no_mac_check(self, data):
        if len(data) == len(resp) and data[:-16] == resp[:-16]:
            data = resp
        return real(self, data)

    monkeypatch.setattr(EapAkaServer, "_fast_challenge", no_mac_check)
    differ, _, _ = _twin_run(False, {})
    assert differ > 0
    monkeypatch.undo()
    assert _twin_run(False, {})[0] == 0


def _layout_mismatches(reading) -> tuple[int, int]:
    """Cases where ``reading`` and ``_core.aka.challenge_response`` answer differently (None,
    or the offsets and the zeroed copy): the common responses of AKA and AKA', with and
    without AT_CHECKCODE, and their mutations (``_challenge_variants``), each read with the
    server's identifier and another, its method and the other one, and with and without an
    empty AT_CHECKCODE allowed. Also how many cases the Rust reading accepted."""
    from dsmip6._core.aka import challenge_response

    bad = accepted = 0
    for prime in (False, True):
        for kw in ({}, {"checkcode": False}):
            _, server, resp = _at_challenge(prime, True, **kw)
            ident, method = server._identifier, int(server.method)
            for variant in _challenge_variants(resp):
                for i in (ident, (ident + 1) & 0xFF):
                    for m in (method, 50 if method == 23 else 23):
                        for empty in (True, False):
                            want = challenge_response(variant, i, m, empty)
                            accepted += want is not None
                            bad += reading(variant, i, m, empty) != want
    return bad, accepted


def test_challenge_layout_reading_in_rust_equals_the_python_reading():
    """``_core.aka.challenge_response`` (what the fast path calls for ``bytes``) answers what
    ``challenge_layout`` answers (offsets, the MAC-zeroed copy, or None) over every case of
    ``_layout_mismatches``; planted variants of the reading — a RES bit length that is not a
    multiple of 8 accepted, the AT_MAC value not zeroed, an empty AT_CHECKCODE accepted
    whatever was sent — are told apart by the same cases."""
    from dsmip6.eap.server import challenge_layout

    bad, accepted = _layout_mismatches(challenge_layout)
    assert bad == 0 and accepted >= 4  # each common response, with its own parameters

    def unaligned_res(d, i, m, e):
        if len(d) < 12:
            return challenge_layout(d, i, m, e)
        found = challenge_layout(d[:11] + bytes([d[11] & 0xF8]) + d[12:], i, m, e)
        return found and (found[0], found[1], d[: found[1]] + bytes(16) + d[found[1] + 16 :])

    def mac_kept(d, i, m, e):
        found = challenge_layout(d, i, m, e)
        return found and (found[0], found[1], d)

    def checkcode_always(d, i, m, e):
        return challenge_layout(d, i, m, True)

    for planted in (unaligned_res, mac_kept, checkcode_always):
        assert _layout_mismatches(planted)[0] > 0, planted.__name__


# ------------------------------------------------------------ the plain challenge (start)
_PLAIN_CONFIGS = [
    (prime, kw)
    for prime in (False, True)
    for kw in (
        {},
        {"checkcode": False},
        {"result_indication": True},
        {"checkcode": False, "result_indication": True},
        *([{"bidding": True}, {"bidding": True, "checkcode": False}] if not prime else []),
    )
]


def _plain_twins(prime: bool, kw: dict, name: str = "WLAN") -> list[EapAkaServer]:
    """Two servers of one configuration, the first with the fast paths, the second without."""
    out = []
    for fast in (True, False):
        store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC, apns=("ims",))])
        if prime:
            server: EapAkaServer = EapAkaPrimeServer(
                store, rng=counter_rng(7), identity="6" + NAI[1:], network_name=name, **kw
            )
        else:
            server = EapAkaServer(store, rng=counter_rng(7), identity=NAI, **kw)
        server.fast_path = fast
        out.append(server)
    return out


def _plain_run(prime: bool, kw: dict, name: str = "WLAN") -> tuple[bool, int]:
    """The twins' first challenge, a second one (as after a resynchronisation: a new
    Identifier, a new vector) and the peer's answer: (all equal, plain challenges sent)."""
    fast, slow = _plain_twins(prime, kw, name)
    sent = []
    real = fast._plain_challenge
    fast._plain_challenge = lambda *a: sent.append(1) or real(*a)  # type: ignore[method-assign]
    same = fast.start() == slow.start() and _server_state(fast) == _server_state(slow)
    same &= fast._challenge(IMSI) == slow._challenge(IMSI)
    same &= _server_state(fast) == _server_state(slow)
    usim = Usim(K, OPC)
    if prime:
        peer: EapAkaPeer = EapAkaPrimePeer(
            usim, "6" + NAI[1:], rng=counter_rng(100), network_name=name
        )
    else:
        peer = EapAkaPeer(usim, NAI, rng=counter_rng(100))
    # the peer accepts the second challenge (fresh SQN) and its answer succeeds on both
    resp = peer.process(fast._last_request)
    success = fast.process(resp)
    same &= success == slow.process(resp) == bytes((3, fast._identifier, 0, 4))
    peer.process(success)
    same &= _server_state(fast) == _server_state(slow) and fast.msk == peer.msk is not None
    return bool(same), len(sent)


@pytest.mark.parametrize(("prime", "kw"), _PLAIN_CONFIGS)
def test_plain_challenge_equals_the_general_path(prime, kw):
    """The start's challenge built from the configuration's precomputed tail is the general
    path's packet octet for octet, leaves the same state, and the run then succeeds."""
    same, sent = _plain_run(prime, kw)
    assert same and sent == 2


def test_plain_challenge_tails_per_configuration():
    """Two network names (EAP-AKA'), then all configurations again in turn: each keeps
    its own tail (the cache is keyed by everything the tail depends on)."""
    for name in ("WLAN", "ims.mnc001.mcc001.3gppnetwork.org", "WLAN"):
        assert _plain_run(True, {}, name) == (True, 2)
    for prime, kw in _PLAIN_CONFIGS * 2:
        assert _plain_run(prime, kw) == (True, 2)


def test_plain_challenge_not_taken_with_stores_or_identity_rounds():
    """Pseudonym / re-authentication stores and an AKA-Identity round (AT_CHECKCODE over
    it): the general path builds the challenge."""
    from dsmip6.eap._reauth import InMemoryPseudonymStore, InMemoryReauthStore

    for kw in (
        {"reauth_store": InMemoryReauthStore()},
        {"pseudonym_store": InMemoryPseudonymStore()},
    ):
        server = EapAkaServer(
            InMemorySubscriberStore([Subscriber(IMSI, K, OPC)]),
            rng=counter_rng(7),
            identity=NAI,
            **kw,
        )
        server._plain_challenge = None  # type: ignore[assignment,method-assign]  # would raise
        assert kind(server.start())[2] == "CHALLENGE"
    server = EapAkaServer(InMemorySubscriberStore([Subscriber(IMSI, K, OPC)]), rng=counter_rng(7))
    server._plain_challenge = None  # type: ignore[assignment,method-assign]
    ask = server.start()
    peer = EapAkaPeer(Usim(K, OPC), NAI, rng=counter_rng(100))
    assert kind(server.process(peer.process(ask)))[2] == "CHALLENGE"


def test_plain_challenge_planted_divergence_is_caught(monkeypatch):
    """A precomputed tail that forgets AT_RESULT_IND makes the twins differ: the
    comparison sees a wrong tail."""
    import dsmip6.eap.server as server_mod

    real = server_mod.EapAkaServer._challenge_tail

    def forgets_result_ind(self, key):
        self.result_indication, was = False, self.result_indication
        try:
            return real(self, key)
        finally:
            self.result_indication = was

    monkeypatch.setattr(server_mod, "_TAILS", {})
    monkeypatch.setattr(server_mod.EapAkaServer, "_challenge_tail", forgets_result_ind)
    assert _plain_run(False, {"result_indication": True}) == (False, 2)
    monkeypatch.undo()
    assert _plain_run(False, {"result_indication": True}) == (True, 2)
