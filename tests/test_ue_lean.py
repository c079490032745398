"""Twins of the UE attach path's shortcuts (session 11): each against the general path it
stands for, on the same inputs."""

from __future__ import annotations

from dataclasses import fields
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from types import SimpleNamespace

import pytest
from dsmip6 import _ike
from dsmip6.errors import ConfigError
from dsmip6.ikev2 import InitiatorConfig, ResponderConfig, TrafficSelector
from dsmip6.ikev2 import config as cfgmod


@pytest.mark.parametrize("version", [6, 4])
@pytest.mark.parametrize("protocol", [0, 135, 17])
def test_any_selector_is_the_text_range(version, protocol):
    """``TrafficSelector.any`` from address objects made once == from the range's text."""
    text = (
        ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        if version == 6
        else ("0.0.0.0", "255.255.255.255")
    )
    want = TrafficSelector(ip_address(text[0]), ip_address(text[1]), protocol)
    got = TrafficSelector.any(version, protocol)
    assert got == want and got.encode() == want.encode()
    assert type(got.start) is type(want.start) and type(got.end) is type(want.end)


def _config_by_setattr(cls, identity, **kw):
    """The general construction: one ``setattr`` per field, in field order, identity last."""
    c = object.__new__(cls)
    for f in fields(cls):
        if f.name != "identity":
            setattr(c, f.name, kw.get(f.name, f.default))
    c.identity = identity
    return c


@pytest.mark.parametrize(
    "kw",
    [
        {"psk": b"k"},
        {"psk": b"k", "remote_id": "internet", "force_nat_t": True, "nonce_size": 40},
        {"psk": b"k", "request_home_address": True, "request_home_prefix": False},
    ],
)
def test_initiator_config_fields_as_by_setattr(kw):
    """``_fill`` leaves the instance dict the setattr loop left: the same items in the same
    order (the normalisation after it is shared)."""
    want = _config_by_setattr(InitiatorConfig, "ue@nai", **kw)
    raw = object.__new__(InitiatorConfig)
    cfgmod._fill(raw, "ue@nai", dict(kw), "InitiatorConfig")
    assert list(vars(raw).items()) == list(vars(want).items())
    got = InitiatorConfig("ue@nai", **kw)
    for name, value in kw.items():
        assert getattr(got, name) == value


def test_config_unknown_and_cert_spelling():
    with pytest.raises(ConfigError, match="unknown InitiatorConfig fields \\['bogus'\\]"):
        InitiatorConfig("ue", psk=b"k", bogus=1)
    with pytest.raises(ConfigError, match="unknown ResponderConfig fields"):
        ResponderConfig("ha", psk=b"k", bogus=1)
    r = ResponderConfig("ha", psk=b"k", half_open_limit=7)
    assert r.half_open_limit == 7 and r.cookie_threshold == 100 and r.identity == "ha"
    assert list(vars(r))[-1] == "identity"


class IkeSaEstablished(SimpleNamespace):
    """``translate`` dispatches on the class name and attributes (contract D)."""


def _established(prefix, hoa, has):
    return IkeSaEstablished(
        ike_sa_id=1,
        eap_identity=None,
        peer_identity="ha.example",
        local=("2001:db8:100::1", 500),
        remote=("2001:db8:a::1", 500),
        home_prefix=prefix,
        home_address=hoa,
        ha_addresses=has,
        nat_detected=False,
    )


def test_translate_keeps_address_objects_equal_to_text_path():
    """The engine's own address objects are passed through; the same values as text (an
    engine that only honours contract D) give an equal record."""
    pfx = IPv6Network("2001:db8:8000:1::/64")
    hoa = IPv6Address("2001:db8:8000:1::5")
    has = (IPv6Address("2001:db8:a::1"), IPv4Address("198.51.100.1"))
    fast = _established(pfx, hoa, has)
    slow = _established(str(pfx), str(hoa), tuple(str(a) for a in has))
    a, b = _ike.translate(fast), _ike.translate(slow)
    assert a == b
    assert a.home_prefix is pfx and a.home_address is hoa and a.ha_addresses == has
    assert [type(x) for x in b.ha_addresses] == [IPv6Address, IPv4Address]
    assert type(b.home_prefix) is IPv6Network and type(b.home_address) is IPv6Address


def test_mh_selectors_from_objects_equal_text():
    hoa, ha = IPv6Address("2001:db8:8000:1::5"), IPv6Address("2001:db8:a::1")
    tsi, tsr = _ike.mh_selectors(hoa, ha)
    want_i = TrafficSelector(str(hoa), str(hoa), protocol=135)
    want_r = TrafficSelector(str(ha), str(ha), protocol=135)
    assert tsi == [want_i] and tsr == [want_r]
    assert tsi[0].encode() == want_i.encode() and tsr[0].encode() == want_r.encode()


def test_decode_home_prefix_as_the_network_constructor():
    """Every prefix length, host bits set or not, both attribute forms: the network object
    the constructor builds from ``(IPv6Address(raw), plen), strict=False``."""
    import random

    from dsmip6.ikev2.message import decode_home_prefix

    rnd = random.Random(5)
    for plen in range(129):
        for raw in (bytes(16), b"\xff" * 16, rnd.randbytes(16), rnd.randbytes(16)):
            for value, life in (
                ((86400).to_bytes(4, "big") + raw + bytes([plen]), 86400),
                (raw + bytes([plen]), None),
            ):
                want = IPv6Network((IPv6Address(raw), plen), strict=False)
                got, lifetime = decode_home_prefix(value)
                assert lifetime == life
                assert type(got) is IPv6Network and got == want
                assert vars(got).keys() == vars(want).keys()
                assert got.network_address == want.network_address
                assert got.netmask == want.netmask and got.prefixlen == plen
                assert got.network_address._scope_id is None
                if plen >= 126:
                    assert list(got.hosts()) == list(want.hosts())


def test_subset_as_all_any():
    """``child_create._subset`` (loops) against the all/any expression it replaced, on random
    selector lists: the responder's narrowing accepted, any widening refused."""
    import random

    from dsmip6.ikev2.tasks.child_create import _subset

    rnd = random.Random(11)
    base = int(IPv6Address("2001:db8::"))

    def sel():
        a, b = sorted(rnd.randrange(8) for _ in range(2))
        p = rnd.choice((0, 135, 17))
        sp, ep = sorted(rnd.choice((0, 256, 1280, 65535)) for _ in range(2))
        return TrafficSelector(IPv6Address(base + a), IPv6Address(base + b), p, sp, ep)

    seen = set()
    for _ in range(3000):
        got = tuple(sel() for _ in range(rnd.randrange(3)))
        offered = tuple(sel() for _ in range(rnd.randrange(1, 3)))
        want = bool(got) and all(any(o.contains(g) for o in offered) for g in got)
        assert _subset(got, offered) is want
        seen.add(want)
    assert seen == {True, False}


def test_issued_certificate_remembered_only_for_its_octets_and_anchors():
    """``verify_certificate`` answers a certificate it found issued before without a second
    signature check — only for the same DER octets and the same anchor objects; the identity
    and the validity period are checked on every call; a failure is not remembered."""
    from cryptography.hazmat.primitives.serialization import Encoding
    from dsmip6.ikev2 import auth
    from dsmip6.ikev2.constants import IdType
    from dsmip6.ikev2.message import IdPayload
    from ike_harness import make_ca_and_cert

    ca, ee, _ = make_ca_and_cert("ecdsa", "ha.example")
    ca_other, _, _ = make_ca_and_cert("ecdsa", "ha.example")  # same CA name, another key
    der = ee.public_bytes(Encoding.DER)
    idp = IdPayload(IdType.FQDN, b"ha.example", False)
    auth._ISSUED.clear()
    first = auth.verify_certificate(der, (ca,), idp)  # the general path: a signature check
    assert der in auth._ISSUED
    again = auth.verify_certificate(der, (ca,), idp)  # remembered
    assert again is first and again.public_bytes(Encoding.DER) == der
    auth._ISSUED.clear()
    fresh = auth.verify_certificate(der, (ca,), idp)
    assert fresh == first and fresh.public_key() == first.public_key()
    # the same octets under other anchors: checked again, and refused
    with pytest.raises(auth.AuthError, match="not issued by a trusted CA"):
        auth.verify_certificate(der, (ca_other,), idp)
    with pytest.raises(auth.AuthError, match="not issued by a trusted CA"):
        auth.verify_certificate(der, [ca_other], idp)
    # other octets (the signature's last octet changed) under the same anchor: refused
    bad = der[:-1] + bytes([der[-1] ^ 1])
    with pytest.raises(auth.AuthError):
        auth.verify_certificate(bad, (ca,), idp)
    assert bad not in auth._ISSUED
    # identity and validity still checked on a remembered certificate
    other = IdPayload(IdType.FQDN, b"other.example", False)
    with pytest.raises(auth.AuthError, match="does not name identity"):
        auth.verify_certificate(der, (ca,), other)
    with pytest.raises(auth.AuthError, match="validity"):
        auth.verify_certificate(der, (ca,), idp, unix_time=0.0)
    assert auth.verify_certificate(der, (ca,), idp) is fresh


def test_issued_certificate_remembers_the_ca_that_verified_not_the_first_by_name():
    """Two anchors with the issuer's name, the decoy first: the CA whose signature verifies is
    the one whose validity is checked, on the first call and on the remembered one (the real
    CA has expired at the instant asked, the decoy has not)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID
    from dsmip6.ikev2 import auth
    from dsmip6.ikev2.constants import IdType
    from dsmip6.ikev2.message import IdPayload

    t0 = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dsmip6 test CA")])

    def ca_cert(key, days):
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(t0)
            .not_valid_after(t0 + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )

    real_key = ec.generate_private_key(ec.SECP256R1())
    real = ca_cert(real_key, 365)  # expired a year after t0
    decoy = ca_cert(ec.generate_private_key(ec.SECP256R1()), 3650)
    ee = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ha.example")]))
        .issuer_name(name)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(2)
        .not_valid_before(t0)
        .not_valid_after(t0 + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ha.example")]), critical=False)
        .sign(real_key, hashes.SHA256())
    )
    der = ee.public_bytes(Encoding.DER)
    idp = IdPayload(IdType.FQDN, b"ha.example", False)
    anchors = (decoy, real)
    within = (t0 + datetime.timedelta(days=100)).timestamp()
    after = (t0 + datetime.timedelta(days=700)).timestamp()  # real CA expired, decoy valid
    auth._ISSUED.clear()
    with pytest.raises(auth.AuthError, match="validity"):
        auth.verify_certificate(der, anchors, idp, unix_time=after)
    assert auth.verify_certificate(der, anchors, idp, unix_time=within).subject == ee.subject
    with pytest.raises(auth.AuthError, match="validity"):  # the remembered answer
        auth.verify_certificate(der, anchors, idp, unix_time=after)


@pytest.mark.parametrize(
    "identity",
    [
        "0001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org",
        "user@example.com",
        "ha.example",
        "192.0.2.1",
        "2001:db8::1",
        "fe80::1%eth0",
        "fe80::1%a@b",  # an IPv6 address whose scope holds an '@'
        "1.2.3.4@x",
        "::1@x",
        "",
    ],
)
def test_str_id_nai_shortcut_as_the_address_parse(identity):
    """``_str_id``'s '@' shortcut against the address parse it skips."""
    import ipaddress

    from dsmip6.ikev2 import auth
    from dsmip6.ikev2.constants import IdType

    try:
        addr = ipaddress.ip_address(identity)
    except ValueError:
        want = (IdType.RFC822_ADDR if "@" in identity else IdType.FQDN), identity.encode()
    else:
        want = (IdType.IPV4_ADDR if addr.version == 4 else IdType.IPV6_ADDR), addr.packed
    assert auth._str_id.__wrapped__(identity) == want


def test_ts_decode_as_the_checked_constructor():
    """``TsPayload.decode_body`` (selectors made with ``_selector``) against selectors made by
    ``TrafficSelector(...)`` from the same fields, and the encoding round trip."""
    import random
    import struct

    from dsmip6.ikev2.message import TsPayload

    rnd = random.Random(3)
    for _ in range(500):
        fields_ = []
        body = b""
        for _ in range(rnd.randrange(1, 4)):
            v6 = rnd.random() < 0.6
            n = 16 if v6 else 4
            a, b = rnd.randbytes(n), rnd.randbytes(n)
            proto, sp, ep = rnd.randrange(256), rnd.randrange(65536), rnd.randrange(65536)
            body += struct.pack("!BBHHH", 8 if v6 else 7, proto, 8 + 2 * n, sp, ep) + a + b
            cls = IPv6Address if v6 else IPv4Address
            fields_.append((cls(a), cls(b), proto, sp, ep))
        data = bytes((len(fields_), 0, 0, 0)) + body
        got = TsPayload.decode_body(data, initiator=False)
        want = tuple(TrafficSelector(*f) for f in fields_)
        assert got.selectors == want and got.unknown == 0 and not got.initiator
        assert [type(s.start) for s in got.selectors] == [type(s.start) for s in want]
        assert TsPayload(got.selectors, False).encode_body() == data


# ---------------------------------------------------------------- session 11, UE round 2


def _addresses():
    import random

    r = random.Random(5)
    out = [IPv4Address(0), IPv4Address(2**32 - 1), IPv6Address(0), IPv6Address(2**128 - 1)]
    out += [IPv6Address("::ffff:10.0.0.1"), IPv6Address("fe80::1%eth0"), IPv6Address("2001:db8::")]
    out += [IPv4Address(r.getrandbits(32)) for _ in range(300)]
    out += [IPv6Address(r.getrandbits(128)) for _ in range(300)]
    out += [IPv6Address(r.getrandbits(64) << 64) for _ in range(100)]  # long zero runs
    return out


def test_text_as_the_packed_formatter():
    """``mn._text`` (octets from the address integer) == ``inet_ntop`` of ``.packed`` and, for
    an unscoped, not IPv4-mapped address, ``str()`` (the C formatter writes a mapped address
    with its dotted tail, as before this change)."""
    from socket import AF_INET, AF_INET6, inet_ntop

    from dsmip6.mn import _text

    for a in _addresses():
        want = inet_ntop(AF_INET6 if a.version == 6 else AF_INET, a.packed)
        assert _text(a) == want
        if getattr(a, "scope_id", None) is None and getattr(a, "ipv4_mapped", None) is None:
            assert _text(a) == str(a)


def test_differ_as_not_equal():
    """``mn._differ`` == ``a != b`` on optional addresses: None, equal distinct objects, the
    other family, the same object."""
    from dsmip6.mn import _differ

    vals = [None, IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), IPv6Address("2001:db8::1")]
    vals += [IPv6Address("2001:db8::2"), IPv6Address("::a00:1")]
    vals += [type(v)(str(v)) for v in vals if v is not None]  # equal, not identical
    for a in vals:
        for b in vals:
            assert _differ(a, b) == (a != b), (a, b)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_process_response_statuses_as_the_general_reading(n):
    """ExchangeManager.process_response on every status combination of n tasks: the exchange
    fails iff any task FAILED, else the NEED_MORE tasks (in order) build the next request,
    else it finishes; the Message ID advances as before."""
    from itertools import product

    from dsmip6.ikev2.exchange import DONE, FAILED, NEED_MORE, ExchangeManager, Status
    from dsmip6.ikev2.message import Message

    class Sa:
        alive = True
        init_done = True

        def __init__(self):
            self.finished = []
            self.sent = 0

        def new_message(self, exchange, response, message_id):
            return SimpleNamespace(exchange=exchange, message_id=message_id)

        def encode(self, msg):
            return [b"x"]

        def send(self, packets, to):
            self.sent += 1

        def exchange_finished(self, exchange, failed, now):
            self.finished.append(failed)

    class T:
        def __init__(self, status):
            self.status, self.built, self.processed = status, 0, 0

        def build(self, msg):
            self.built += 1
            return DONE

        def process(self, msg):
            self.processed += 1
            return self.status

    for exchange, init_done in ((34, False), (34, True), (35, False), (35, True), (37, True)):
        for combo in product((DONE, NEED_MORE, FAILED), repeat=n):
            sa, em = Sa(), ExchangeManager()
            sa.init_done = init_done
            tasks = [T(s) for s in combo]
            em.queue_exchange(sa, exchange, tasks, 0.0)
            msg = Message(exchange, response=True, initiator=False, message_id=0)
            em.process_response(sa, msg, 1.0)
            ran = combo[: combo.index(FAILED) + 1] if FAILED in combo else combo
            failed = any(s is Status.FAILED for s in ran)
            more = [t for t, s in zip(tasks, ran, strict=False) if s is Status.NEED_MORE]
            assert [t.processed for t in tasks] == [1] * len(ran) + [0] * (n - len(ran))
            if failed:
                assert sa.finished == [True] and em.active is None and em.next_mid == 1
            elif more:
                assert sa.finished == [] and em.active is not None
                assert em.active.tasks == more and [t.built for t in more] == [2] * len(more)
                assert em.next_mid == (0 if exchange == 34 and not init_done else 1)
                assert em.active.message_id == em.next_mid
            else:
                assert sa.finished == [False] and em.active is None and em.next_mid == 1
