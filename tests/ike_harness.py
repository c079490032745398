"""Pair harness for the IKEv2 engines on a virtual clock (STYLE §6), and a test-only EAP double.

The EAP double (``EapDoublePeer`` / ``EapDoubleServer``) implements the shape of contract C
(``process``/``start``/``state``/``msk``/``permanent_identity``) with a toy key-generating
method on EAP type 255 (Experimental, RFC 3748 §5.8): identity round, then challenge/response
with an HMAC over a shared key; MSK = 64 octets. It exists only to exercise the IKE plumbing.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Network
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from dsmip6.ikev2 import (
    Assignment,
    IkeInitiator,
    IkeResponder,
    InitiatorConfig,
    ResponderConfig,
)

UE = ("192.0.2.10", 500)
HA = ("198.51.100.1", 500)
HA6 = "2001:db8:ffff::1"
PSK = b"correct horse battery staple 42!"


def make_rng(seed: str) -> Callable[[int], bytes]:
    """Deterministic byte stream: SHA-256(seed | counter) blocks (test-only, not crypto)."""
    state = {"n": 0}

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            state["n"] += 1
            out += hashlib.sha256(f"{seed}/{state['n']}".encode()).digest()
        return out[:n]

    return rng


@dataclass
class Clock:
    now: float = 0.0


def transfer(src: Any, dst: Any, clock: Clock, *, nat: tuple[str, int] | None = None) -> int:
    """Deliver every pending datagram of ``src`` to ``dst``; ``nat`` rewrites the source."""
    n = 0
    for data, local, remote in src.datagrams_to_send(clock.now):
        seen_src = nat if nat is not None and local[1] == 500 else local
        if nat is not None and local[1] == 4500:
            seen_src = (nat[0], nat[1] + 1)
        dst.receive_datagram(data, seen_src, remote, clock.now)
        n += 1
    return n


def transfer_back(src: Any, dst: Any, clock: Clock) -> list[tuple[bytes, Any, Any]]:
    """Deliver responses from ``src`` to ``dst`` (replies are addressed to the seen source)."""
    dgs = src.datagrams_to_send(clock.now)
    for data, local, remote in dgs:
        dst.receive_datagram(data, local, remote, clock.now)
    return dgs


def drop(engine: Any, clock: Clock) -> int:
    return len(engine.datagrams_to_send(clock.now))


def fire_timer(engine: Any, clock: Clock) -> float:
    t = engine.get_timer()
    assert t is not None, "no timer armed"
    clock.now = t
    engine.handle_timer(t)
    return t


def events(engine: Any) -> list[Any]:
    out = []
    while (ev := engine.next_event()) is not None:
        out.append(ev)
    return out


def assert_events(engine: Any, types: list[type]) -> list[Any]:
    evs = events(engine)
    assert [type(e) for e in evs] == types, evs
    return evs


def run(ue: Any, ha: Any, clock: Clock, *, max_rounds: int = 20) -> int:
    """Shuttle datagrams both ways until quiet (bounded); returns datagrams moved."""
    total = 0
    for _ in range(max_rounds):
        n = transfer(ue, ha, clock) + transfer(ha, ue, clock)
        total += n
        if n == 0:
            return total
    raise AssertionError("exchange did not settle")


# ------------------------------------------------------------------------------- EAP double
EAP_REQUEST, EAP_RESPONSE, EAP_SUCCESS, EAP_FAILURE = 1, 2, 3, 4
EAP_TYPE_DOUBLE = 255


def _eap(code: int, ident: int, data: bytes = b"") -> bytes:
    if code in (EAP_SUCCESS, EAP_FAILURE):
        return struct.pack("!BBH", code, ident, 4)
    return struct.pack("!BBHB", code, ident, 5 + len(data), EAP_TYPE_DOUBLE) + data


class EapDoublePeer:
    def __init__(self, key: bytes, identity: str) -> None:
        self.key, self.identity = key, identity
        self.state = "running"
        self.msk: bytes | None = None
        self._challenge = b""
        self.rounds = 0

    def process(self, pkt: bytes) -> bytes | None:
        code, ident = pkt[0], pkt[1]
        if code == EAP_SUCCESS:
            if self._challenge:
                self.state = "success"
                self.msk = hmac.new(self.key, self._challenge + b"msk", "sha512").digest()
            return None
        if code == EAP_FAILURE:
            self.state = "failure"
            return None
        self.rounds += 1
        body = pkt[5:]
        if body[:1] == b"I":
            return _eap(EAP_RESPONSE, ident, b"I" + self.identity.encode())
        if body[:1] == b"C":
            self._challenge = body[1:]
            return _eap(EAP_RESPONSE, ident, b"R" + hmac.new(self.key, body[1:], "sha256").digest())
        raise ValueError("unexpected EAP request")


@dataclass
class EapDoubleServer:
    keys: dict[str, bytes]
    rng: Callable[[int], bytes]
    state: str = "running"
    msk: bytes | None = None
    permanent_identity: str | None = None
    _ident: int = 0
    _challenge: bytes = b""
    _who: str = ""
    log: list[str] = field(default_factory=list)

    def start(self) -> bytes:
        self._ident = 1
        return _eap(EAP_REQUEST, 1, b"I")

    def process(self, pkt: bytes) -> bytes:
        if len(pkt) < 6 or pkt[0] != EAP_RESPONSE or pkt[1] != self._ident:
            self.state = "failure"
            return _eap(EAP_FAILURE, self._ident)
        body = pkt[5:]
        if body[:1] == b"I":
            self._who = body[1:].decode()
            if self._who not in self.keys:
                self.state = "failure"
                return _eap(EAP_FAILURE, self._ident)
            self._ident += 1
            self._challenge = self.rng(16)
            return _eap(EAP_REQUEST, self._ident, b"C" + self._challenge)
        if body[:1] == b"R":
            key = self.keys[self._who]
            if hmac.compare_digest(body[1:], hmac.new(key, self._challenge, "sha256").digest()):
                self.state = "success"
                self.msk = hmac.new(key, self._challenge + b"msk", "sha512").digest()
                self.permanent_identity = self._who
                return _eap(EAP_SUCCESS, self._ident)
        self.state = "failure"
        return _eap(EAP_FAILURE, self._ident)


# ------------------------------------------------------------------------------- certificates
def make_ca_and_cert(
    kind: str, san_dns: str, *, ca_kind: str = "ecdsa"
) -> tuple[x509.Certificate, x509.Certificate, Any]:
    """(CA cert, end-entity cert with SAN DNS ``san_dns``, its private key)."""

    def key(k: str) -> Any:
        if k == "rsa":
            return rsa.generate_private_key(65537, 2048)
        if k == "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        return ec.generate_private_key(ec.SECP256R1())

    import datetime

    ca_key = key(ca_kind)
    ee_key = key(kind)
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    later = now + datetime.timedelta(days=3650)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dsmip6 test CA")])
    algo = None if ca_kind == "ed25519" else hashes.SHA256()
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, algo)
    )
    ee = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, san_dns)]))
        .issuer_name(ca_name)
        .public_key(ee_key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(san_dns)]), critical=False)
        .sign(ca_key, algo)
    )
    return ca, ee, ee_key


# ------------------------------------------------------------------------------- pairs
HOME_PREFIX = IPv6Network("2001:db8:1::/64")


def assigner_factory(log: list[tuple[str, str | None]] | None = None) -> Callable[..., Assignment]:
    def assign(identity: str, apn: str | None) -> Assignment:
        if log is not None:
            log.append((identity, apn))
        return Assignment(
            home_prefix=HOME_PREFIX,
            home_address=None,
            ha_addresses=(HA6,),
            internal_ip4="10.45.0.7",
        )

    return assign


def psk_pair(
    ue_kw: dict[str, Any] | None = None, ha_kw: dict[str, Any] | None = None
) -> tuple[IkeInitiator, IkeResponder, Clock]:
    ue_cfg = InitiatorConfig("ue@example.org", **{"psk": PSK, **(ue_kw or {})})
    ha_kw = dict(ha_kw or {})
    ha_kw.setdefault("address_assigner", assigner_factory())
    ha_cfg = ResponderConfig("ha.example.org", psk=PSK, **ha_kw)
    return (
        IkeInitiator(ue_cfg, rng=make_rng("ue")),
        IkeResponder(ha_cfg, rng=make_rng("ha")),
        Clock(),
    )
