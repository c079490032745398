"""IKEv2 codec: payload layouts (RFC 7296 §3, RFC 5026 §8.2, RFC 4877 §7), strict decoding,
and hostile input against the engines (no exception escapes, the right notify or silence)."""

from __future__ import annotations

import random
import struct

import pytest
from dsmip6.errors import MalformedPacket
from dsmip6.ikev2 import (
    ChildSaEstablished,
    IkeSaEstablished,
    TrafficSelector,
)
from dsmip6.ikev2.constants import CfgAttr, CfgType, Notify, PayloadType
from dsmip6.ikev2.message import (
    CfgAttribute,
    CpPayload,
    IkeDecodeError,
    KePayload,
    Message,
    NoncePayload,
    NotifyPayload,
    SaPayload,
    TsPayload,
    UnknownPayload,
    check_rules,
    decode_home_prefix,
    decode_message,
    encode_chain,
    encode_home_prefix,
)
from dsmip6.ikev2.tasks._proposals import child_proposals, ike_proposals
from ike_harness import HA, UE, assert_events, events, psk_pair, run, transfer

HOA = "2001:db8:1::77"


def test_mip6_home_prefix_attribute_is_21_octets_rfc5026():
    from ipaddress import IPv6Network

    attr = CfgAttribute(
        CfgAttr.MIP6_HOME_PREFIX, encode_home_prefix(IPv6Network("2001:db8:1::/64"), 86400)
    )
    want = bytes.fromhex("001000150001518020010db800010000000000000000000040")
    assert attr.encode() == want
    assert decode_home_prefix(want[4:]) == (IPv6Network("2001:db8:1::/64"), 86400)
    # strongSwan's 17-octet form: prefix and length, lifetime unknown
    assert decode_home_prefix(want[8:]) == (IPv6Network("2001:db8:1::/64"), None)
    for bad in (b"", want[4:-1], want[4:] + b"\x00"):
        with pytest.raises(MalformedPacket):
            decode_home_prefix(bad)


def test_cp_request_with_empty_attributes():
    cp = CpPayload(CfgType.REQUEST, (CfgAttribute(16), CfgAttribute(19)))
    body = cp.encode_body()
    assert body == bytes.fromhex("010000000010000000130000")
    assert CpPayload.decode_body(body) == cp
    with pytest.raises(MalformedPacket):
        CpPayload.decode_body(body[:-1] + b"\x01")


def test_mh_traffic_selector_puts_mh_type_in_high_port_octet():
    ts = TrafficSelector.mobility_header(HOA, 5)
    raw = ts.encode()
    assert raw[:8] == bytes([8, 135]) + struct.pack("!HHH", 40, 0x0500, 0x0500)
    assert raw[8:24] == raw[24:40] == bytes.fromhex("20010db8000100000000000000000077")
    assert ts.mh_types() == (5,)
    assert TrafficSelector.mobility_header(HOA).mh_types() == ()  # all types: BU/BA/BRI/HAS
    p = TsPayload((ts, TrafficSelector("10.0.0.1", "10.0.0.9", 17, 53, 53)), True)
    assert TsPayload.decode_body(p.encode_body()) == p


def test_ts_intersection():
    wide = TrafficSelector.any(6, 135)
    assert wide.intersect(TrafficSelector(HOA)) == TrafficSelector(HOA, protocol=135)
    assert TrafficSelector(HOA).intersect(TrafficSelector("2001:db8::1")) is None
    assert TrafficSelector.any(4).intersect(TrafficSelector.any(6)) is None


def test_sa_payload_decode_twice_and_bad_copy_of_a_good_one():
    """Decoded transform lists are reused by their octets: a second decode of the same payload
    gives an equal value, and a damaged copy still fails at the damaged transform."""
    from dsmip6.ikev2.config import DEFAULT_IKE_PROPOSALS

    sa = SaPayload(ike_proposals(DEFAULT_IKE_PROPOSALS[:1]))
    body = sa.encode_body()
    assert SaPayload.decode_body(body) == sa
    assert SaPayload.decode_body(body) == sa
    bad = bytearray(body)
    bad[8 + 2 : 8 + 4] = (7).to_bytes(2, "big")  # first transform's length below 8
    with pytest.raises(MalformedPacket) as e:
        SaPayload.decode_body(bytes(bad))
    assert e.value.reason == "bad-length"


def test_sa_payload_round_trip_and_transform_attributes():
    from dsmip6.ikev2.config import DEFAULT_CHILD_PROPOSALS, DEFAULT_IKE_PROPOSALS

    for props in (
        ike_proposals(DEFAULT_IKE_PROPOSALS),
        child_proposals(DEFAULT_CHILD_PROPOSALS, b"\x00\x00\x10\x01", True),
    ):
        sa = SaPayload(props)
        assert SaPayload.decode_body(sa.encode_body()) == sa
    # AES-GCM-16 with Key Length 128: 800E 0080 after the transform header
    first = ike_proposals(DEFAULT_IKE_PROPOSALS[:1])[0].transforms[0].encode(False)
    assert first == bytes.fromhex("0300000c01000014800e0080")


def _init_request() -> bytes:
    ue, _ha, clock = psk_pair()
    ue.connect(UE, HA, 0.0)
    return ue.datagrams_to_send(0.0)[0][0]


def test_every_strict_prefix_is_malformed():
    data = _init_request()
    msg, _ = decode_message(data, None)
    assert [p.TYPE for p in msg.payloads][:3] == [33, 34, 40]
    for n in range(len(data)):
        with pytest.raises(MalformedPacket):
            decode_message(data[:n], None)
    with pytest.raises(MalformedPacket):
        decode_message(data + b"\x00", None)  # trailing octet: length mismatch


def test_unknown_payloads_critical_and_not():
    msg = Message(34, False, True, 0, b"\x01" * 8)
    msg.payloads = [UnknownPayload(200, b"abc", critical=False), NoncePayload(b"n" * 16)]
    got, _ = decode_message(msg.encode(), None)
    assert got.payloads[0] == UnknownPayload(200, b"abc", False)
    msg.payloads[0] = UnknownPayload(200, b"abc", critical=True)
    with pytest.raises(IkeDecodeError) as e:
        decode_message(msg.encode(), None)
    assert e.value.notify == Notify.UNSUPPORTED_CRITICAL_PAYLOAD and e.value.data == b"\xc8"


def test_rule_table_rejects_duplicate_and_missing_payloads():
    msg = Message(34, False, True, 0, b"\x01" * 8)
    msg.payloads = [
        SaPayload(ike_proposals(psk_pair()[0].config.proposals)),
        KePayload(31, b"k" * 32),
        NoncePayload(b"n" * 32),
    ]
    check_rules(msg)
    with pytest.raises(IkeDecodeError):
        check_rules(Message(34, False, True, 0, payloads=msg.payloads + [NoncePayload(b"x" * 16)]))
    with pytest.raises(IkeDecodeError):
        check_rules(Message(34, False, True, 0, payloads=msg.payloads[:2]))
    # a refusal (error notify) needs no SA/KE/Nonce
    check_rules(Message(34, True, False, 0, payloads=[NotifyPayload(Notify.NO_PROPOSAL_CHOSEN)]))


def test_unknown_critical_payload_in_sa_init_gets_stateless_notify():
    _ue, ha, clock = psk_pair()
    msg, _ = decode_message(_init_request(), None)
    msg.payloads.insert(0, UnknownPayload(222, b"", critical=True))
    ha.receive_datagram(msg.encode(), UE, HA, 0.0)
    (resp,) = ha.datagrams_to_send(0.0)
    r, _ = decode_message(resp[0], None)
    assert r.response and r.notify(Notify.UNSUPPORTED_CRITICAL_PAYLOAD).data == bytes([222])
    assert ha._sas == {} and ha.half_open_count() == 0


def _after_init():
    ue, ha, clock = psk_pair()
    ue.connect(UE, HA, 0.0)
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    return ue, ha, clock


def test_encrypted_unknown_critical_payload_answered_inside_sk():
    ue, ha, clock = _after_init()
    sa = ue._live()
    msg = sa.new_message(35, response=False, message_id=1)
    msg.encrypted = [UnknownPayload(250, b"?", critical=True)]
    ha.receive_datagram(msg.encode(sa.sk), UE, HA, 0.0)
    (resp,) = ha.datagrams_to_send(0.0)
    r, _ = decode_message(resp[0], sa.sk)
    assert r.notify(Notify.UNSUPPORTED_CRITICAL_PAYLOAD).data == bytes([250])


def test_inner_garbage_after_valid_icv_is_invalid_syntax():
    ue, ha, clock = _after_init()
    sa = ue._live()
    head = sa.new_message(35, response=False, message_id=1).header_bytes(PayloadType.SK, 0)
    data = sa.sk.seal(head, PayloadType.NONCE, b"\x00\x00\x00\x03")  # payload length 3 < 4
    ha.receive_datagram(data, UE, HA, 0.0)
    (resp,) = ha.datagrams_to_send(0.0)
    r, _ = decode_message(resp[0], sa.sk)
    assert r.notify(Notify.INVALID_SYNTAX) is not None


def test_bad_icv_and_truncated_sk_are_dropped_silently_and_exchange_still_completes():
    ue, ha, clock = _after_init()
    (good,) = ue.datagrams_to_send(0.0)
    data, local, remote = good
    for bad in (data[:-1] + bytes([data[-1] ^ 1]), data[:40], data[:-16]):
        fixed = bad[:24] + struct.pack("!I", len(bad)) + bad[28:]
        ha.receive_datagram(fixed, local, remote, 0.0)
        assert ha.datagrams_to_send(0.0) == [] and events(ha) == []
    ha.receive_datagram(data, local, remote, 0.0)
    assert transfer(ha, ue, clock) == 1
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])


def test_random_mutations_never_raise_and_never_leak_state():
    """Bit flips, truncations and splices of a real exchange thrown at both engines."""
    ue, ha, clock = psk_pair()
    ue.connect(UE, HA, 0.0)
    captured: list[tuple[str, bytes, tuple, tuple]] = []
    for _ in range(4):
        for src, dst, tag in ((ue, ha, "ha"), (ha, ue, "ue")):
            for d, lo, r in src.datagrams_to_send(0.0):
                captured.append((tag, d, lo, r))
                dst.receive_datagram(d, lo, r, 0.0)
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    events(ha)
    rnd = random.Random(4877)
    for i in range(3000):
        tag, d, lo, r = rnd.choice(captured)
        b = bytearray(d)
        op = i % 4
        if op == 0:
            for _ in range(rnd.randint(1, 4)):
                b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
        elif op == 1:
            b = b[: rnd.randrange(len(b))]
        elif op == 2:
            pos = rnd.randrange(28, len(b))
            b[pos:pos] = rnd.randbytes(rnd.randint(1, 16))
            b[24:28] = struct.pack("!I", len(b))
        else:
            b[16:28] = rnd.randbytes(12)
        target = ha if tag == "ha" else ue
        target.receive_datagram(bytes(b), lo, r, 1.0)
        target.datagrams_to_send(1.0)
    assert events(ue) == []
    # header mutations may open half-open SAs on the HA; they expire, nothing else remains
    ha.handle_timer(100.0)
    assert ha.ike_sa_ids() == [1] and ha.half_open_count() == 0
    ue.liveness_check(2.0)
    clock.now = 2.0
    assert run(ue, ha, clock) == 2 and events(ue) == []


def test_encode_chain_types():
    first, raw = encode_chain([NoncePayload(b"n" * 16), NotifyPayload(Notify.COOKIE, b"c")])
    assert first == PayloadType.NONCE and raw[0] == PayloadType.NOTIFY and raw[20] == 0


def test_bad_pfs_ke_from_authenticated_peer_is_refused_not_raised():
    """A CREATE_CHILD_SA whose KE data is not a valid point: INVALID_SYNTAX, no exception."""
    from dsmip6.ikev2.constants import DhId
    from dsmip6.ikev2.tasks._proposals import child_proposals as cp

    ue, ha, clock = psk_pair(
        ue_kw={"child_proposals": ["aes128gcm16-ecp256"]},
        ha_kw={"child_proposals": ["aes128gcm16-ecp256"]},
    )
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    events(ue), events(ha)
    sa = ue._live()
    msg = sa.new_message(36, response=False, message_id=sa.mgr.next_mid)
    msg.encrypted = [
        SaPayload(cp(ue.config.child_proposals, b"\x00\x00\x99\x99", True)),
        NoncePayload(b"n" * 32),
        KePayload(DhId.ECP_256, b"\x01" * 64),  # not on the curve
        TsPayload((TrafficSelector.mobility_header(HOA),), True),
        TsPayload((TrafficSelector.mobility_header("2001:db8:ffff::1"),), False),
    ]
    ha.receive_datagram(msg.encode(sa.sk), UE, HA, 0.0)
    (resp,) = ha.datagrams_to_send(0.0)
    r, _ = decode_message(resp[0], sa.sk)
    assert r.notify(Notify.INVALID_SYNTAX) is not None and events(ha) == []


def test_sk_payload_sealed_and_opened_as_rfc_5282_and_rfc_7296_lay_it_out():
    """``SkCrypto.seal`` against the SK payload built by hand with ``cryptography``'s own
    AES-GCM (RFC 5282 §3: 8-octet IV, nonce = salt | IV, AAD = header up to the SK payload
    header, no padding) and AES-CBC + HMAC-SHA-256-128 (RFC 7296 §3.14: IV, padded plaintext,
    Pad Length, ICV over everything before it); ``open`` gives the inner octets back, refuses
    a flipped octet (IntegrityCheckFailed) and a truncated payload (MalformedPacket)."""
    import hashlib
    import hmac as std_hmac

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from dsmip6.errors import IntegrityCheckFailed
    from dsmip6.ikev2 import transforms
    from dsmip6.ikev2.constants import EncrId, IntegId
    from dsmip6.ikev2.sk import SkCrypto

    rnd = random.Random(5)
    ivs = iter([bytes(rnd.randrange(256) for _ in range(16)) for _ in range(200)])
    rng = lambda n: next(ivs)[:n]  # noqa: E731
    head = bytes(range(16)) + bytes([41, 0x20, 35, 0x20]) + bytes(4) + bytes(4) + b"CLEAR"
    gcm = transforms.encr(EncrId.AES_GCM_16, 256)
    cbc = transforms.encr(EncrId.AES_CBC, 128)
    integ = transforms.INTEGS[IntegId.HMAC_SHA2_256_128]
    key_o, key_i = bytes(range(36)), bytes(range(100, 136))
    for extra in (b"", b"\x00\x01\x00\x02"):
        for n in (0, 1, 15, 16, 17, 100):
            inner = bytes(rnd.randrange(256) for _ in range(n))
            # AES-GCM-16
            out = SkCrypto(gcm, None, key_o, b"", key_i, b"", rng)
            inn = SkCrypto(gcm, None, key_i, b"", key_o, b"", rng)
            got = [out.seal(head, 35, inner, extra) for _ in range(2)]
            for k, msg in enumerate(got, 1):
                iv = k.to_bytes(8, "big")
                sk_len = 4 + len(extra) + 8 + n + 1 + 16
                h = head[:24] + struct.pack("!I", len(head) + sk_len) + head[28:]
                aad = h + bytes([35, 0]) + struct.pack("!H", sk_len) + extra
                ct = AESGCM(key_o[:32]).encrypt(key_o[32:] + iv, inner + b"\x00", aad)
                assert msg == aad + iv + ct
                assert inn.open(msg, len(head), len(extra)) == inner
                bad = bytearray(msg)
                bad[-1 - (k * 7) % 20] ^= 0x40
                with pytest.raises(IntegrityCheckFailed):
                    inn.open(bytes(bad), len(head), len(extra))
                with pytest.raises(MalformedPacket):
                    inn.open(msg[: len(head) + 4 + len(extra) + 8 + 16], len(head), len(extra))
            # AES-CBC-128 + HMAC-SHA-256-128
            ka, kb = bytes(range(16)), bytes(range(16, 48))
            out = SkCrypto(cbc, integ, ka, kb, ka[::-1], kb[::-1], rng)
            inn = SkCrypto(cbc, integ, ka[::-1], kb[::-1], ka, kb, rng)
            msg = out.seal(head, 35, inner, extra)
            pad = (-(n + 1)) % 16
            sk_len = 4 + len(extra) + 16 + n + pad + 1 + 16
            iv = msg[len(head) + 4 + len(extra) : len(head) + 4 + len(extra) + 16]
            h = head[:24] + struct.pack("!I", len(head) + sk_len) + head[28:]
            enc = Cipher(algorithms.AES(ka), modes.CBC(iv)).encryptor()
            ct = enc.update(inner + bytes(pad) + bytes([pad])) + enc.finalize()
            body = h + bytes([35, 0]) + struct.pack("!H", sk_len) + extra + iv + ct
            assert len(iv) == 16
            assert msg == body + std_hmac.new(kb, body, hashlib.sha256).digest()[:16]
            assert inn.open(msg, len(head), len(extra)) == inner
            with pytest.raises(IntegrityCheckFailed):
                inn.open(msg[:-1] + bytes([msg[-1] ^ 1]), len(head), len(extra))
            with pytest.raises(MalformedPacket):
                inn.open(msg[: len(head) + 4 + len(extra) + 16 + 16], len(head), len(extra))


def test_nat_detection_address_octets_are_ipaddress_octets():
    """``sa._packed`` (NAT_DETECTION_*_IP hashes, RFC 7296 §2.23) reads an address text with
    the C parser first: for every text it must give ``ipaddress``'s octets, or raise
    ``ipaddress``'s ValueError where that refuses the text (zone suffixes are ``ipaddress``'s
    reading, leading zeros and other forms the C parser refuses fall back to it)."""
    import ipaddress

    from dsmip6.ikev2.sa import _packed

    rnd = random.Random(11)
    texts = [
        "0.0.0.0", "255.255.255.255", "192.0.2.1", "::", "::1", "::ffff:192.0.2.1",
        "::FFFF:1.2.3.4", "2001:db8::0001", "2001:DB8:0:0:0:0:0:1", "1:2:3:4:5:6:7:8",
        "fe80::1%eth0", "fe80::1%1", "01.2.3.4", "1.2.3.04", "1.2.3", "0x1.2.3.4",
        "256.1.1.1", " 1.2.3.4", "1.2.3.4 ", "2001:db8::00001", "1::2::3",
        "1:2:3:4:5:6:7:8:9", "::ffff:01.2.3.4", "", "1.2.3.4\x00", "::1\x00", "a.b.c.d",
        ":::", "1.2.3.4.5",
    ]  # fmt: skip
    for _ in range(500):
        texts.append(str(ipaddress.IPv6Address(rnd.getrandbits(128))))
        texts.append(str(ipaddress.IPv4Address(rnd.getrandbits(32))))
        texts.append(ipaddress.IPv6Address(rnd.getrandbits(128)).exploded.upper())
    for text in texts:
        _packed.cache_clear()
        try:
            want: bytes | None = ipaddress.ip_address(text).packed
        except ValueError:
            want = None
        if want is None:
            with pytest.raises(ValueError):
                _packed(text)
        else:
            assert _packed(text) == want, text


def test_x25519_constructors_equal_cryptographys_public_classmethods():
    """``transforms._x25519_private`` / ``_x25519_public`` (the bindings' functions behind
    ``cryptography``'s X25519 classmethods, taken once): for random keys the same public
    value and shared secret as the classmethods give, the same ValueError for inputs of a
    wrong size and for a low-order peer value, and ``_X25519`` built on them still refuses
    that value as MalformedPacket (RFC 8031 §2.3)."""
    from cryptography.hazmat.primitives.asymmetric import x25519
    from dsmip6.errors import MalformedPacket
    from dsmip6.ikev2 import transforms

    rnd = random.Random(25519)
    private, public = transforms._x25519_private, transforms._x25519_public
    for _ in range(50):
        a, b = rnd.randbytes(32), rnd.randbytes(32)
        ka, kb = private(a), x25519.X25519PrivateKey.from_private_bytes(a)
        pa = ka.public_key().public_bytes_raw()
        assert pa == kb.public_key().public_bytes_raw()
        peer = x25519.X25519PrivateKey.from_private_bytes(b).public_key().public_bytes_raw()
        want = kb.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
        assert ka.exchange(public(peer)) == want
        assert public(peer).public_bytes_raw() == peer
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(ValueError):
            x25519.X25519PrivateKey.from_private_bytes(bad)
        with pytest.raises(ValueError):
            private(bad)
        with pytest.raises(ValueError):
            x25519.X25519PublicKey.from_public_bytes(bad)
        with pytest.raises(ValueError):
            public(bad)
    key = private(bytes(range(32)))
    with pytest.raises(ValueError):
        key.exchange(public(bytes(32)))  # the all-zero output of a low-order point
    dh = transforms.dh_generate(transforms.DhId.CURVE25519, lambda n: bytes(range(n)))
    with pytest.raises(MalformedPacket):
        dh.shared(bytes(32))


def _header_fields(h) -> tuple:
    return (
        h.spi_i, h.spi_r, h.next_payload, h.version, h.exchange, h.flags, h.message_id,
        h.length, h.response, h.initiator,
    )  # fmt: skip


def _header_by_fields(data: bytes):
    """The IKE header as read before session 10: two slices, the tail unpacked, the
    eight-argument constructor (the reference ``ReceivedHeader`` must equal)."""
    import struct

    from dsmip6.ikev2.message import IkeHeader

    nxt, ver, exch, flags, mid, length = struct.unpack_from("!BBBBII", data, 16)
    return IkeHeader(data[:8], data[8:16], nxt, ver, exch, flags, mid, length)


def test_received_header_equals_the_field_by_field_reading(monkeypatch):
    """``ReceivedHeader`` (one unpack into the slots: what ``decode_header`` and the engine
    make of every received message) holds the fields the eight-argument ``IkeHeader`` held,
    for random headers with every flag combination; ``decode_header`` still refuses short
    data and a length field other than the datagram's; a planted byte-order slip in the
    one-step reading is caught by the same comparison."""
    from dsmip6.ikev2 import message
    from dsmip6.ikev2.message import IkeHeader, ReceivedHeader, decode_header

    rnd = random.Random(7296)
    datas = []
    for flags in range(256):
        body = rnd.randbytes(rnd.randrange(0, 40))
        head = rnd.randbytes(16) + bytes((rnd.randrange(256), rnd.randrange(256), 34, flags))
        head += rnd.randbytes(4) + (28 + len(body)).to_bytes(4, "big")
        datas.append(head + body)
    for data in datas:
        got, want = decode_header(data), _header_by_fields(data)
        assert isinstance(got, IkeHeader) and type(got) is ReceivedHeader
        assert _header_fields(got) == _header_fields(want)
        assert _header_fields(ReceivedHeader(data)) == _header_fields(want)
        with pytest.raises(MalformedPacket):
            decode_header(data + b"\x00")  # the length field no longer the datagram's
        with pytest.raises(MalformedPacket):
            decode_header(data[:27])
    import struct

    monkeypatch.setattr(message, "_HEADER", struct.Struct("<8s8sBBBBII"))
    differ = sum(
        _header_fields(ReceivedHeader(d)) != _header_fields(_header_by_fields(d)) for d in datas
    )
    assert differ == len(datas)


def _aead_reference_seal(cipher, keymat, salt, counter, head, first, inner, icv):
    """The AEAD SK payload as ``SkCrypto.seal`` wrote it in Python before session 10."""
    iv = counter.to_bytes(8, "big")
    sk_len = 13 + len(inner) + icv
    aad = (
        head[:24]
        + struct.pack("!I", len(head) + sk_len)
        + head[28:]
        + struct.pack("!BBH", first, 0, sk_len)
    )
    return aad + iv + cipher.encrypt(keymat[-salt:] + iv, inner + b"\x00", aad)


def _aead_reference_open(cipher, keymat, salt, message, body_start, iv_size):
    iv_end = body_start + iv_size
    plain = cipher.decrypt(
        keymat[-salt:] + message[body_start:iv_end], message[iv_end:], message[:body_start]
    )
    pad = plain[-1]
    return None if pad + 1 > len(plain) else plain[: len(plain) - 1 - pad]


def test_aead_sk_framing_in_rust_equals_the_python_framing(monkeypatch):
    """``_core.ikefast.sk_seal`` / ``sk_open`` (the AEAD SK framing around ``cryptography``'s
    own cipher call, session 10) against the Python framing they replace, for AES-GCM and
    ChaCha20-Poly1305, headers with and without clear payloads, inner chains of 0-300
    octets, counters up to 2^64 - 1; opened payloads with padding (RFC 5282 §3 allows it),
    a Pad Length past the plaintext (None; ``SkCrypto.open``: MalformedPacket), a flipped
    octet (the cipher's InvalidTag; IntegrityCheckFailed), a bytearray message; bad sizes
    raise ValueError, never panic. A planted framing slip (the IV's counter one off) is
    caught by the same comparison."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    from dsmip6._core import ikefast
    from dsmip6.errors import IntegrityCheckFailed
    from dsmip6.ikev2 import sk as sk_mod
    from dsmip6.ikev2 import transforms
    from dsmip6.ikev2.constants import EncrId
    from dsmip6.ikev2.sk import SkCrypto

    rnd = random.Random(5282)
    suites = [(AESGCM, 16, transforms.encr(EncrId.AES_GCM_16, 128)),
              (AESGCM, 32, transforms.encr(EncrId.AES_GCM_16, 256)),
              (ChaCha20Poly1305, 32, transforms.encr(EncrId.CHACHA20_POLY1305, 256))]  # fmt: skip
    for cls, klen, encr in suites:
        keymat = rnd.randbytes(klen + 4)
        cipher = cls(keymat[:klen])
        for _ in range(60):
            head = rnd.randbytes(24) + bytes(4) + rnd.randbytes(rnd.choice((0, 0, 5, 40)))
            inner = rnd.randbytes(rnd.randrange(0, 300))
            counter = rnd.choice((1, 2, rnd.randrange(1 << 40), (1 << 64) - 1))
            first = rnd.randrange(256)
            want = _aead_reference_seal(cipher, keymat, 4, counter, head, first, inner, 16)
            got = ikefast.sk_seal(cipher, keymat, 4, counter, head, first, inner, 16)
            assert got == want
            start = len(head) + 4
            assert ikefast.sk_open(cipher, keymat, 4, got, start, 8) == inner
            # a payload with padding, and one whose Pad Length runs past the plaintext
            for pad, claim in ((3, 3), (0, min(len(inner) + 1, 255))):
                iv = rnd.randbytes(8)
                aad = got[:start]
                plain = inner + bytes(pad) + bytes((claim,))
                msg = aad + iv + cipher.encrypt(keymat[-4:] + iv, plain, aad)
                ref = _aead_reference_open(cipher, keymat, 4, msg, start, 8)
                assert ikefast.sk_open(cipher, keymat, 4, msg, start, 8) == ref
                assert ref == (None if claim > len(inner) + pad else plain[: -1 - claim])
            bad = bytearray(got)
            bad[rnd.randrange(len(bad))] ^= 0x10
            with pytest.raises(InvalidTag):
                ikefast.sk_open(cipher, keymat, 4, bytes(bad), start, 8)
        # SkCrypto on these: seal, open (also a bytearray), a flipped octet, bad padding
        out = SkCrypto(encr, None, keymat, b"", keymat, b"", lambda n: bytes(n))
        msg = out.seal(head, 35, inner)
        assert msg == _aead_reference_seal(cipher, keymat, 4, 1, head, 35, inner, 16)
        assert out.open(msg, len(head)) == out.open(bytearray(msg), len(head)) == inner
        with pytest.raises(IntegrityCheckFailed):
            out.open(msg[:-1] + bytes((msg[-1] ^ 1,)), len(head))
        iv = bytes(8)
        aad = msg[: len(head) + 4]
        liar = aad + iv + cipher.encrypt(keymat[-4:] + iv, b"\x09", aad)
        with pytest.raises(MalformedPacket):
            out.open(liar, len(head))
    cipher = AESGCM(bytes(16))
    for args in ((bytes(20), 4, 1, bytes(27), 0, b"", 16), (bytes(3), 4, 1, bytes(28), 0, b"", 16),
                 (bytes(20), 4, 1, bytes(28), 0, bytes(70000), 16)):  # fmt: skip
        with pytest.raises(ValueError):
            ikefast.sk_seal(cipher, *args)
    with pytest.raises(ValueError):
        ikefast.sk_open(cipher, bytes(20), 4, bytes(30), 32, 8)
    with pytest.raises(ValueError):
        ikefast.sk_open(cipher, bytes(3), 4, bytes(60), 32, 8)
    # planted: the framing's counter one off (what a slip in the Rust arguments would do)
    real = ikefast.sk_seal
    monkeypatch.setattr(sk_mod, "_sk_seal", lambda c, k, s, n, *rest: real(c, k, s, n + 1, *rest))
    out = SkCrypto(encr, None, keymat, b"", keymat, b"", lambda n: bytes(n))
    cipher = ChaCha20Poly1305(keymat[:32])
    assert out.seal(head, 35, inner) != _aead_reference_seal(
        cipher, keymat, 4, 1, head, 35, inner, 16
    )
