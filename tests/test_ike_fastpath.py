"""The responder's fast paths (``dsmip6.ikev2._fast``: IKE_SA_INIT, the first IKE_AUTH request,
the EAP rounds, the MSK AUTH) against its general path.

Every test drives two responders built alike (same config, same rng seed, same clock): one
with ``fast_path`` on, one with it off, and asserts that they send the same octets, emit the
same events and hold the same state afterwards — every IKE SA field, the exchange manager,
the engine's tables and the position of the injected rng. That covers the common case (the
fast path answers: ``fast_path_hits``), the uncommon ones it hands to the general path
(cookies, INVALID_KE_PAYLOAD, redirect), a KE the DH computation rejects after the SA exists,
and a corpus of mutated IKE_SA_INIT requests. Whole handshakes continue on both responders
after IKE_SA_INIT, so state the fast path left wrong would also show in IKE_AUTH.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from dsmip6.aka import Usim
from dsmip6.eap import (
    EapAkaPeer,
    EapAkaPrimePeer,
    EapAkaPrimeServer,
    EapAkaServer,
    InMemorySubscriberStore,
    Subscriber,
    permanent_nai,
)
from dsmip6.ikev2 import (
    IkeInitiator,
    IkeResponder,
    IkeSaEstablished,
    InitiatorConfig,
    ResponderConfig,
)
from dsmip6.ikev2.constants import Notify, PayloadType
from ike_harness import (
    HA,
    PSK,
    UE,
    Clock,
    assigner_factory,
    events,
    make_ca_and_cert,
    make_rng,
)

IMSI = "001010000000123"
K = bytes.fromhex("fec86ba6eb707ed08905757b1bb44b8f")
OPC = bytes.fromhex("1006020f0a478bf6b699f15c062e42b3")
CA, CERT, KEY = make_ca_and_cert("ed25519", "ha.example.org")  # deterministic signatures
# the HA's other certificate kinds for the first IKE_AUTH (ECDSA signs deterministically here,
# RFC 6979, through the ``deterministic_ecdsa`` fixture; RSA PKCS#1 v1.5 is deterministic)
HA_CERTS = {
    "eap-ecdsa": make_ca_and_cert("ecdsa", "ha.example.org"),
    "eap-rsa": make_ca_and_cert("rsa", "ha.example.org"),
}


@pytest.fixture(autouse=True)
def deterministic_ecdsa(monkeypatch):
    """Twin responders must sign alike: ECDSA with RFC 6979 nonces (the production signer
    draws random ones, which no byte comparison could follow)."""
    from cryptography.hazmat.primitives import hashes as _h
    from cryptography.hazmat.primitives.asymmetric import ec as _ec
    from dsmip6.ikev2 import auth as _auth

    for name, h in (("ecdsa-with-sha256", _h.SHA256()), ("ecdsa-with-sha384", _h.SHA384())):
        monkeypatch.setitem(_auth._ECDSA_BY_NAME, name, _ec.ECDSA(h, deterministic_signing=True))
    monkeypatch.setattr(_auth, "_SIGNERS", {})


# ------------------------------------------------------------------------------ state snapshot
def _plain(v: Any, depth: int = 0) -> Any:
    """A comparable picture of ``v``: values as they are, objects as their attributes
    (cipher objects, callables and engine back-references by type)."""
    if v is None or isinstance(v, (bytes, str, int, float, bool)):
        return v
    if isinstance(v, (tuple, list)):
        return type(v)(_plain(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return {k: _plain(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    if dataclasses.is_dataclass(v) or type(v).__module__.startswith("ipaddress"):
        return v  # compared by value
    if callable(v) or depth > 3 or type(v).__module__.startswith("cryptography"):
        return type(v).__name__
    names: list[str] = []
    for cls in type(v).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    names += list(getattr(v, "__dict__", {}))
    out = {"<type>": type(v).__name__}
    for n in names:
        # (``fast_path``: the switch itself, set apart in an EAP server the general-path twin
        # started, IkeResponder.fast_path's docstring)
        if n in ("engine", "config", "rng", "sa", "__weakref__", "__dict__", "fast_path"):
            continue
        if hasattr(v, n):
            out[n] = _plain(getattr(v, n), depth + 1)
    return out


def snapshot(ha: IkeResponder) -> dict[str, Any]:
    """Everything the responder holds, plus where its rng stands (drawn from a copy-free
    probe: the next 16 octets, taken once per snapshot from both responders alike)."""
    return {
        "sas": {i: _plain(sa) for i, sa in sorted(ha._sas.items())},
        "by_spi": sorted((spi, sa.id) for spi, sa in ha._by_spi.items()),
        "by_init": sorted((k, sa.id) for k, sa in ha._by_init.items()),
        "half_open": sorted(ha._half_open),
        "child_spis": sorted(ha._child_spis),
        "next_id": ha._next_id,
        "timer": ha.get_timer(),
        "retired": [sa.id for sa in ha._retired],
        "rng_next": ha._rng(16),
    }


# ------------------------------------------------------------------------------ pairs
EAP_KINDS = ("eap", "eap-identity-round", "eap-prime", "eap-ecdsa", "eap-rsa", "eap-psk")


def _eap_factory(kind: str = "eap") -> Any:
    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC)])
    if kind == "eap-prime":
        return lambda ident: EapAkaPrimeServer(
            store, rng=make_rng("aaa"), identity=ident, network_name="WLAN"
        )
    if kind == "eap-identity-round":  # the server asks with AKA-Identity first
        return lambda ident: EapAkaServer(store, rng=make_rng("aaa"), identity=None)
    return lambda ident: EapAkaServer(store, rng=make_rng("aaa"), identity=ident)


def responder(kind: str, fast: bool, **kw: Any) -> IkeResponder:
    if kind in EAP_KINDS:
        kw.setdefault("address_assigner", assigner_factory())
    if kind == "eap-psk":  # the HA authenticates with the PSK, the UE with EAP-AKA
        cfg = ResponderConfig(
            "ha.example.org",
            psk=PSK,
            eap_server_factory=_eap_factory(kind),
            **kw,
        )
    elif kind in EAP_KINDS:
        _ca, cert, key = HA_CERTS.get(kind, (CA, CERT, KEY))
        cfg = ResponderConfig(
            "ha.example.org",
            certificate=cert,
            private_key=key,
            eap_server_factory=_eap_factory(kind),
            **kw,
        )
    else:
        kw.setdefault("address_assigner", assigner_factory())
        cfg = ResponderConfig("ha.example.org", psk=PSK, **kw)
    ha = IkeResponder(cfg, rng=make_rng(f"ha-{kind}"))
    ha.fast_path = fast
    return ha


def initiator(kind: str, **kw: Any) -> IkeInitiator:
    if kind in EAP_KINDS:
        prime = kind == "eap-prime"
        nai = permanent_nai(IMSI, prime=prime)
        usim = Usim(K, OPC)
        if kind == "eap-psk":
            kw.setdefault("peer_psk", PSK)
        else:
            kw.setdefault("trust_anchors", [HA_CERTS.get(kind, (CA,))[0]])
        cfg = InitiatorConfig(
            nai,
            eap_peer_factory=(
                (lambda: EapAkaPrimePeer(usim, nai, rng=make_rng("peer"), network_name="WLAN"))
                if prime
                else (lambda: EapAkaPeer(usim, nai, rng=make_rng("peer")))
            ),
            **kw,
        )
    else:
        cfg = InitiatorConfig("ue@example.org", psk=PSK, **kw)
    return IkeInitiator(cfg, rng=make_rng(f"ue-{kind}"))


def drive(kind: str, fast: bool, ue_kw: dict[str, Any], ha_kw: dict[str, Any]) -> Any:
    """A whole handshake; returns (HA datagrams per round, HA events, snapshots, responder)."""
    ue, ha = initiator(kind, **ue_kw), responder(kind, fast, **ha_kw)
    clock = Clock()
    sent, evs, snaps = [], [], []
    ue.connect(UE, HA, clock.now)
    for _ in range(12):
        out = ue.datagrams_to_send(clock.now)
        if not out:
            break
        for d, lo, r in out:
            ha.receive_datagram(d, lo, r, clock.now)
        back = ha.datagrams_to_send(clock.now)
        sent.append(back)
        evs.append(events(ha))
        snaps.append(snapshot(ha))
        for d, lo, r in back:
            ue.receive_datagram(d, lo, r, clock.now)
        clock.now += 0.01
    return sent, evs, snaps, ha


_EVERY_REQUEST = {
    "request_home_address": True,
    "request_home_agent_address": True,
    "request_internal_ip4": True,
}


def _refusing_assigner(identity: str, apn: str | None) -> Any:
    raise LookupError(f"no address for {identity}")


def _every_attribute_assigner(identity: str, apn: str | None) -> Any:
    from ipaddress import IPv4Address, IPv6Address, IPv6Network

    from dsmip6.ikev2.config import Assignment

    return Assignment(
        home_prefix=IPv6Network("2001:db8:77::/64"),
        home_address=IPv6Address("2001:db8:77::9"),
        ha_addresses=(IPv6Address("2001:db8:a::1"), IPv4Address("192.0.2.44")),
        internal_ip4=IPv4Address("10.45.0.9"),
    )


CASES = {
    "psk-gcm-x25519": ("psk", {}, {}),
    "psk-cbc-sha256-ecp256": (
        "psk",
        {"proposals": ["aes128-sha256-ecp256"], "child_proposals": ["aes128-sha256"]},
        {"proposals": ["aes128-sha256-ecp256"], "child_proposals": ["aes128-sha256"]},
    ),
    "psk-gcm256-ecp384": (
        "psk",
        {"proposals": ["aes256gcm16-prfsha384-ecp384"]},
        {},
    ),
    "psk-modp2048-fragmentation": (
        "psk",
        {"proposals": ["aes128-sha256-modp2048"], "enable_fragmentation": True},
        {"enable_fragmentation": True},
    ),
    "psk-second-proposal": (
        "psk",
        {"proposals": ["chacha20poly1305-prfsha256-x25519", "aes128gcm16-prfsha256-x25519"]},
        {"proposals": ["aes128gcm16-prfsha256-x25519"]},
    ),
    "eap-aka-ed25519-cert-certreq": ("eap", {}, {"trust_anchors": [CA]}),
    "eap-aka-no-fragmentation": ("eap", {}, {"enable_fragmentation": False}),
    "eap-aka-cbc-sha256-ecp256": (
        "eap",
        {"proposals": ["aes128-sha256-ecp256"], "child_proposals": ["aes128-sha256"]},
        {"proposals": ["aes128-sha256-ecp256"], "child_proposals": ["aes128-sha256"]},
    ),
    "eap-aka-identity-round": ("eap-identity-round", {}, {}),
    "eap-aka-prime": ("eap-prime", {}, {}),
    "eap-aka-small-fragments": ("eap-identity-round", {}, {"fragment_size": 172}),
    "eap-aka-ecdsa-cert": ("eap-ecdsa", {}, {}),
    "eap-aka-ecdsa-cert-cbc-ecp256": (
        "eap-ecdsa",
        {"proposals": ["aes128-sha256-ecp256"], "child_proposals": ["aes128-sha256"]},
        {"proposals": ["aes128-sha256-ecp256"], "child_proposals": ["aes128-sha256"]},
    ),
    "eap-aka-rsa-cert": ("eap-rsa", {}, {}),
    "eap-aka-rsa-cert-small-fragments": ("eap-rsa", {}, {"fragment_size": 576}),
    "eap-aka-ha-psk": ("eap-psk", {}, {}),
    "eap-aka-ha-psk-certreq": ("eap-psk", {}, {"trust_anchors": [CA]}),
    # the IKE_AUTH child SA (``_fast._auth_child``): tunnel mode, selectors refused by the
    # policy (N(TS_UNACCEPTABLE), IKE SA kept), no policy (the request's selectors kept)
    "eap-aka-tunnel-child": ("eap", {"child_mode": "tunnel"}, {}),
    "eap-aka-ts-refused": ("eap", {}, {"ts_policy": lambda ts_i, ts_r, assignment: None}),
    "eap-aka-ts-refused-small-fragments": (
        "eap",
        {},
        {"ts_policy": lambda ts_i, ts_r, assignment: None, "fragment_size": 172},
    ),
    "eap-aka-no-ts-policy": ("eap", {}, {"ts_policy": None}),
    # the final AUTH's CFG_REPLY (``IkeConfig.reply``, written as octets by the fast path):
    # a refusing assigner (N(INTERNAL_ADDRESS_FAILURE)), every attribute with an IPv4 HA
    # address, and both with the response fragmented
    "eap-aka-cp-refused": ("eap", {}, {"address_assigner": _refusing_assigner}),
    "eap-aka-cp-refused-small-fragments": (
        "eap",
        {},
        {"address_assigner": _refusing_assigner, "fragment_size": 172},
    ),
    "eap-aka-cp-every-attribute": (
        "eap",
        _EVERY_REQUEST,
        {"address_assigner": _every_attribute_assigner},
    ),
    "eap-aka-cp-every-attribute-small-fragments": (
        "eap",
        _EVERY_REQUEST,
        {"address_assigner": _every_attribute_assigner, "fragment_size": 172},
    ),
}
REFUSED = {"eap-aka-cp-refused", "eap-aka-cp-refused-small-fragments"}
EAP_ROUNDS = {"eap-identity-round": 2}  # EAP-Response rounds of a smooth run (default 1)


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_path_equals_general_path_whole_handshake(case):
    kind, ue_kw, ha_kw = CASES[case]
    fast = drive(kind, True, ue_kw, ha_kw)
    slow = drive(kind, False, ue_kw, ha_kw)
    assert fast[3].fast_path_hits == 1 and slow[3].fast_path_hits == 0
    # the first IKE_AUTH request, the EAP rounds and the final MSK AUTH request
    rounds = EAP_ROUNDS.get(kind, 1) + 2 if kind in EAP_KINDS else 0
    assert fast[3].fast_auth_hits == rounds and slow[3].fast_auth_hits == 0
    assert fast[0] == slow[0]  # every datagram, byte for byte, with its addresses
    assert fast[1] == slow[1]
    established = any(isinstance(e, IkeSaEstablished) for round_ in fast[1] for e in round_)
    assert established is (case not in REFUSED)  # a refused CFG_REQUEST fails IKE_AUTH
    for a, b in zip(fast[2], slow[2], strict=True):
        assert a == b


def _init_request(kind: str = "psk", **kw: Any) -> bytes:
    ue = initiator(kind, **kw)
    ue.connect(UE, HA, 0.0)
    (data, _lo, _r), *_ = ue.datagrams_to_send(0.0)
    return data


def _one(data: bytes, fast: bool, kind: str = "psk", **ha_kw: Any) -> Any:
    ha = responder(kind, fast, **ha_kw)
    ha.receive_datagram(data, UE, HA, 0.0)
    return ha.datagrams_to_send(0.0), events(ha), snapshot(ha), ha.fast_path_hits


@pytest.mark.parametrize(
    ("what", "ue_kw", "ha_kw"),
    [
        ("cookie demanded", {}, {"cookie_threshold": 0}),
        ("half-open limit", {}, {"half_open_limit": 0}),
        (
            "INVALID_KE_PAYLOAD",
            {"proposals": ["aes128gcm16-prfsha256-x25519-ecp256"]},
            {"proposals": ["aes128gcm16-prfsha256-ecp256"]},
        ),
        (
            "NO_PROPOSAL_CHOSEN",
            {"proposals": ["aes128gcm16-prfsha256-x25519"]},
            {"proposals": ["aes128-sha256-ecp256"]},
        ),
        ("redirect policy", {}, {"redirect": lambda addr, ident: None}),
    ],
)
def test_uncommon_requests_take_the_general_path(what, ue_kw, ha_kw):
    data = _init_request(**ue_kw)
    fast, slow = _one(data, True, **ha_kw), _one(data, False, **ha_kw)
    assert fast[3] == 0, what
    assert fast[:3] == slow[:3], what


def test_the_common_request_takes_the_fast_path():
    data = _init_request()
    fast, slow = _one(data, True), _one(data, False)
    assert fast[3] == 1
    assert fast[:3] == slow[:3]
    ((resp, lo, r),) = fast[0]
    assert (lo, r) == (HA, UE) and resp[16:20] == bytes([33, 0x20, 34, 0x20])


def _payload_offsets(data: bytes) -> list[tuple[int, int, int]]:
    """(type, offset, length) of each payload of a clear message."""
    out, off, nxt = [], 28, data[16]
    while nxt and off + 4 <= len(data):
        this, nxt, length = nxt, data[off], int.from_bytes(data[off + 2 : off + 4], "big")
        out.append((this, off, length))
        off += length
    return out


def test_ke_rejected_after_the_sa_exists_is_answered_like_the_general_path():
    """A Curve25519 KE of the right size that is a low-order point (all zero): the general
    path creates the SA, answers INVALID_SYNTAX and lets the SA die; so does the fast path."""
    data = bytearray(_init_request())
    ((_t, off, length),) = [p for p in _payload_offsets(bytes(data)) if p[0] == 34]
    data[off + 8 : off + length] = bytes(length - 8)
    fast, slow = _one(bytes(data), True), _one(bytes(data), False)
    assert fast[:3] == slow[:3]
    ((resp, _lo, _r),) = fast[0]
    assert Notify.INVALID_SYNTAX.to_bytes(2, "big") in resp
    assert fast[2]["sas"] == {} and fast[2]["half_open"] == []


def _mutations(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    for i in range(len(data)):
        for x in (0x01, 0x80, 0xFF):
            b = bytearray(data)
            b[i] ^= x
            out.append(bytes(b))
    for n in range(0, len(data), 5):  # truncations (the length field then disagrees) ...
        out.append(data[:n])
        b = bytearray(data[:n])  # ... and with the length field made to agree
        if n >= 28:
            b[24:28] = n.to_bytes(4, "big")
            out.append(bytes(b))
    # an extra payload at the end: a Vendor ID, a CERTREQ, an unknown non-critical and an
    # unknown critical one, a second Nonce (the last payload's Next Payload is patched)
    last = _payload_offsets(data)[-1][1]
    for ptype, flags, body in (
        (43, 0, b"vendor"),
        (38, 0, b"\x04" + bytes(20)),
        (200, 0, b"x"),
        (200, 0x80, b"x"),
        (40, 0, bytes(32)),
    ):
        b = bytearray(data)
        b[last] = ptype
        b += bytes([0, flags]) + (4 + len(body)).to_bytes(2, "big") + body
        b[24:28] = len(b).to_bytes(4, "big")
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("proposals", [None, ["aes128-sha256-ecp256"]])
def test_mutated_requests_give_identical_results_on_both_paths(proposals):
    kw = {"proposals": proposals} if proposals else {}
    data = _init_request(**kw)
    corpus = _mutations(data)
    taken = 0
    for i, d in enumerate(corpus):
        fast, slow = _one(d, True, **kw), _one(d, False, **kw)
        assert fast[:3] == slow[:3], (i, d.hex())
        taken += fast[3]
    # the corpus exercises both sides: many mutations stay common-case, many do not
    assert 0 < taken < len(corpus)


# ------------------------------------------------------------------------------ IKE_AUTH EAP rounds
def _at_eap_round(kind: str, fast: bool, k: int, **ha_kw: Any) -> Any:
    """UE and HA driven until the UE holds its ``k``-th EAP-Response request (k = 1, 2...);
    returns (ue, ha, that request)."""
    ue, ha = initiator(kind), responder(kind, fast, **ha_kw)
    ue.connect(UE, HA, 0.0)
    for _ in range(1 + k):  # IKE_SA_INIT, the first IKE_AUTH, then EAP rounds before the k-th
        for d, lo, r in ue.datagrams_to_send(0.0):
            ha.receive_datagram(d, lo, r, 0.0)
        for d, lo, r in ha.datagrams_to_send(0.0):
            ue.receive_datagram(d, lo, r, 0.0)
    ((req, _lo, _r),) = ue.datagrams_to_send(0.0)
    assert req[18] == 35 and ha.fast_auth_hits == (k if fast else 0)
    events(ha)
    return ue, ha, req


def _feed(kind: str, fast: bool, k: int, datagrams: list[tuple[bytes, Any, Any]], **kw: Any) -> Any:
    _ue, ha, _req = _at_eap_round(kind, fast, k, **kw)
    before = ha.fast_auth_hits
    out = []
    for d, src, dst in datagrams:
        ha.receive_datagram(d, src, dst, 0.0)
        out.append(ha.datagrams_to_send(0.0))
    return out, events(ha), snapshot(ha), ha.fast_auth_hits - before


def _sealer(kind: str, k: int) -> Any:
    """(the request's inner payload octets and first type, a function sealing new inner
    octets as that request with the UE's keys)."""
    ue, ha, req = _at_eap_round(kind, False, k)
    (sa,) = ha._sas.values()
    inner = sa.sk.open(req, 28)
    (ue_sa,) = ue._sas.values()

    def seal(first: int, body: bytes, head: bytes = req[:28]) -> bytes:
        return ue_sa.sk.seal(head[:16] + bytes([46]) + head[17:], first, body)

    return req[28], inner, seal


def _both(kind: str, k: int, datagrams: list[tuple[bytes, Any, Any]], **kw: Any) -> int:
    fast, slow = _feed(kind, True, k, datagrams, **kw), _feed(kind, False, k, datagrams, **kw)
    assert fast[:3] == slow[:3]
    assert slow[3] == 0
    return fast[3]


# k: which IKE_AUTH request after the first (k = 0: the first, IDi ... without AUTH); the
# last of each kind is the MSK AUTH request
AUTH_REQUESTS = [
    ("eap", 0),
    ("eap-identity-round", 0),
    ("eap-prime", 0),
    ("eap-ecdsa", 0),
    ("eap-rsa", 0),
    ("eap-psk", 0),
    ("eap", 1),
    ("eap", 2),
    ("eap-identity-round", 1),
    ("eap-identity-round", 2),
    ("eap-identity-round", 3),
    ("eap-prime", 1),
    ("eap-prime", 2),
]


@pytest.mark.parametrize(("kind", "k"), AUTH_REQUESTS)
def test_common_auth_requests_take_the_fast_path(kind, k):
    _ue, _ha, req = _at_eap_round(kind, False, k)
    assert _both(kind, k, [(req, UE, HA)]) == 1
    # a retransmission of it is answered from the response cache by the general path
    assert _both(kind, k, [(req, UE, HA), (req, UE, HA)]) == 1
    # from another address, and through a NAT to port 4500 (the SA follows the peer, §2.23)
    assert _both(kind, k, [(req, ("192.0.2.99", 500), HA)]) == 1
    nat = (b"\x00" * 4 + req, ("203.0.113.7", 4500), (HA[0], 4500))
    assert _both(kind, k, [nat]) == 1


def _eap_variants(first: int, inner: bytes) -> list[tuple[int, bytes]]:
    """Inner payload chains: bit flips, truncations, extra payloads, other EAP codes/types/
    subtypes (AKA Authentication-Reject, Synchronization-Failure, Client-Error, Notification,
    a Nak), critical bits."""
    out: list[tuple[int, bytes]] = []
    for i in range(len(inner)):
        for x in (0x01, 0x80, 0xFF):
            b = bytearray(inner)
            b[i] ^= x
            out.append((first, bytes(b)))
    for n in range(0, len(inner), 3):
        out.append((first, inner[:n]))
    eap = inner[4:]

    def with_eap(e: bytes, flags: int = 0) -> bytes:
        return bytes([0, flags]) + (4 + len(e)).to_bytes(2, "big") + e

    def patched(at: int, v: int) -> bytes:
        b = bytearray(eap)
        b[at] = v
        return bytes(b)

    for v in (1, 3, 4):  # EAP code Request, Success, Failure from the peer
        out.append((48, with_eap(patched(0, v))))
    out.append((48, with_eap(patched(4, 3))))  # Nak
    for v in (2, 4, 5, 12, 14, 99):  # AKA subtypes
        out.append((48, with_eap(patched(5, v))))
    out.append((48, with_eap(eap, 0x80)))  # critical bit on a known payload
    notify = bytes([48, 0, 0, 8, 0, 0, 0x40, 0x00])  # N(INITIAL_CONTACT) first
    out.append((41, notify + with_eap(eap)))
    for ptype, flags, body in (
        (43, 0, b"vendor"),
        (200, 0, b"x"),
        (200, 0x80, b"x"),
        (48, 0, eap),  # a second EAP payload
        (39, 0, bytes([2, 0, 0, 0]) + bytes(32)),  # AUTH beside the EAP-Response
    ):
        e = bytearray(with_eap(eap))
        e[0] = ptype
        out.append((48, bytes(e) + bytes([0, flags]) + (4 + len(body)).to_bytes(2, "big") + body))
    out.append((0, b""))  # SK with nothing inside
    return out


@pytest.mark.parametrize(
    ("kind", "k"), [("eap", 1), ("eap", 2), ("eap-identity-round", 1), ("eap-identity-round", 2)]
)
def test_mutated_auth_requests_give_identical_results_on_both_paths(kind, k):
    first, inner, seal = _sealer(kind, k)
    corpus = [seal(f, body) for f, body in _eap_variants(first, inner)]
    _ue, _ha, req = _at_eap_round(kind, False, k)
    for i in range(16, 32):  # header and SK header octets (no longer authentic, or dropped)
        for x in (0x01, 0x08, 0x20):
            b = bytearray(req)
            b[i] ^= x
            corpus.append(bytes(b))
    taken = 0
    for d in corpus:
        taken += _both(kind, k, [(d, UE, HA)])
    assert 0 < taken < len(corpus)


def test_informational_in_between_and_an_old_message_id_take_the_general_path():
    first, inner, seal = _sealer("eap", 1)
    _ue, _ha, req = _at_eap_round("eap", False, 1)
    info = seal(0, b"", req[:18] + bytes([37]) + req[19:28])  # INFORMATIONAL, same Message ID
    assert _both("eap", 1, [(info, UE, HA)]) == 0
    assert _both("eap", 1, [(info, UE, HA), (req, UE, HA)]) == 0
    old = bytearray(req[:28])
    old[20:24] = (int.from_bytes(req[20:24], "big") - 1).to_bytes(4, "big")
    assert _both("eap", 1, [(seal(first, inner, bytes(old)), UE, HA)]) == 0
    ahead = bytearray(req[:28])
    ahead[20:24] = (int.from_bytes(req[20:24], "big") + 1).to_bytes(4, "big")
    assert _both("eap", 1, [(seal(first, inner, bytes(ahead)), UE, HA)]) == 0


def test_failed_eap_round_is_answered_like_the_general_path():
    """A wrong AT_MAC in the AKA-Challenge response: the fast path takes the request (it is
    of the common form), the EAP server refuses it and the answer comes from the general
    path's second half: same octets, same SA fate."""
    first, inner, seal = _sealer("eap", 1)
    b = bytearray(inner)
    b[-1] ^= 1  # AT_MAC is the last attribute
    fast = _feed("eap", True, 1, [(seal(first, bytes(b)), UE, HA)])
    slow = _feed("eap", False, 1, [(seal(first, bytes(b)), UE, HA)])
    assert fast[:3] == slow[:3] and fast[3] == 1
    ((resp,),) = [[d for d, _lo, _r in r] for r in fast[0]]
    assert len(resp) > 28


def test_wrong_msk_auth_is_answered_like_the_general_path():
    """The final request with an AUTH that does not verify: taken by the fast path (common
    form), refused by the same MSK check, AUTHENTICATION_FAILED and the SA's death alike."""
    first, inner, seal = _sealer("eap", 2)
    assert first == 39
    b = bytearray(inner)
    b[-1] ^= 1
    fast = _feed("eap", True, 2, [(seal(first, bytes(b)), UE, HA)])
    slow = _feed("eap", False, 2, [(seal(first, bytes(b)), UE, HA)])
    assert fast[:3] == slow[:3] and fast[3] == 1
    assert fast[1] and fast[2]["sas"] == {}


def test_a_planted_divergence_in_the_final_auth_is_caught(monkeypatch):
    """The final MSK AUTH request is checked without a decoded message (``msk_request``): the
    comparisons see a fast path that hands it the wrong octets (the AUTH data without its
    last octet: the check fails, AUTHENTICATION_FAILED instead of the SA) or forgets when the
    peer was last heard."""
    from dsmip6.ikev2 import _fast
    from dsmip6.ikev2.tasks.ike_auth import IkeAuth

    kind, ue_kw, ha_kw = CASES["eap-aka-ecdsa-cert"]
    slow = drive(kind, False, ue_kw, ha_kw)
    real_check = IkeAuth.msk_request

    def short(self, method, data):
        import inspect

        if inspect.stack()[1].function == "fast_msk_auth":
            data = data[:-1]
        return real_check(self, method, data)

    with monkeypatch.context() as m:
        m.setattr(IkeAuth, "msk_request", short)
        fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[3].fast_auth_hits == 3
    assert fast[0] != slow[0] and fast[1] != slow[1]
    real_follow = _fast._follow

    def forgetful(sa, src, dst, now):
        before = sa.last_heard
        real_follow(sa, src, dst, now)
        if sa.auth_tasks is not None and sa.auth_tasks[0].phase == "msk":
            sa.last_heard = before

    with monkeypatch.context() as m:
        m.setattr(_fast, "_follow", forgetful)
        fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[0] == slow[0] and fast[2] != slow[2]


# ------------------------------------------------------------------------------ first IKE_AUTH
def _first_auth_variants(inner: bytes) -> list[tuple[int, bytes]]:
    """Inner payload chains of the first IKE_AUTH request: bit flips, truncations, payloads
    dropped, duplicated, reordered or added (AUTH, EAP, CERT, Vendor ID, unknown ones with
    and without the critical bit), critical bits on known payloads."""
    out: list[tuple[int, bytes]] = []
    for i in range(len(inner)):
        for x in (0x01, 0x80, 0xFF):
            b = bytearray(inner)
            b[i] ^= x
            out.append((35, bytes(b)))
    for n in range(0, len(inner), 3):
        out.append((35, inner[:n]))
    chain = []  # (type, flags, body) of each payload
    off, nxt = 0, 35
    while nxt:
        this, nxt, flags = nxt, inner[off], inner[off + 1]
        length = int.from_bytes(inner[off + 2 : off + 4], "big")
        chain.append((this, flags, inner[off + 4 : off + length]))
        off += length

    def join(items: list[tuple[int, int, bytes]]) -> tuple[int, bytes]:
        body = b""
        for i, (_t, flags, b) in enumerate(items):
            nx = items[i + 1][0] if i + 1 < len(items) else 0
            body += bytes([nx, flags]) + (4 + len(b)).to_bytes(2, "big") + b
        return (items[0][0] if items else 0), body

    types = [t for t, _f, _b in chain]
    for i in range(len(chain)):
        out.append(join(chain[:i] + chain[i + 1 :]))  # one payload dropped
        out.append(join(chain[: i + 1] + chain[i:]))  # one payload twice
        t, f, b = chain[i]
        out.append(join(chain[:i] + [(t, f | 0x80, b)] + chain[i + 1 :]))  # critical bit
    out.append(join(chain[1:] + chain[:1]))  # IDi not first
    out.append(join([c for c in chain if c[0] not in (33, 44, 45)]))  # childless
    out.append(join([c for c in chain if c[0] != 47]))  # no CP
    for extra in (
        (39, 0, bytes([2, 0, 0, 0]) + bytes(32)),  # AUTH: not an EAP bootstrap
        (48, 0, bytes([2, 1, 0, 5, 1])),  # an EAP payload
        (37, 0, bytes([4]) + bytes(40)),  # CERT
        (43, 0, b"vendor"),
        (200, 0, b"x"),
        (200, 0x80, b"x"),
        (41, 0, bytes([0, 0, 0x40, 0x00])),  # INITIAL_CONTACT
        (41, 0, bytes([0, 0, 0x00, 0x0E])),  # NO_PROPOSAL_CHOSEN (an error notify)
    ):
        out.append(join([*chain, extra]))
    assert 35 in types and 33 in types and 47 in types  # the corpus starts from the usual form
    out.append((0, b""))  # SK with nothing inside
    return out


@pytest.mark.parametrize("kind", ["eap", "eap-identity-round", "eap-rsa", "eap-psk"])
def test_mutated_first_auth_requests_give_identical_results_on_both_paths(kind):
    first, inner, seal = _sealer(kind, 0)
    assert first == 35
    corpus = [seal(f, body) for f, body in _first_auth_variants(inner)]
    _ue, _ha, req = _at_eap_round(kind, False, 0)
    for i in range(16, 32):  # header and SK header octets (no longer authentic, or dropped)
        for x in (0x01, 0x08, 0x20):
            b = bytearray(req)
            b[i] ^= x
            corpus.append(bytes(b))
    taken = 0
    for d in corpus:
        taken += _both(kind, 0, [(d, UE, HA)])
    assert 0 < taken < len(corpus)


def test_first_auth_of_an_unknown_subscriber_is_answered_like_the_general_path():
    """An IDi the EAP server does not know: the fast path takes the request (common form),
    the server answers with an AKA-Notification and the response carries it like the
    general path's; a responder without an EAP server factory leaves it to the general path."""
    first, inner, seal = _sealer("eap", 0)
    at = inner.index(b"0001010000000123")
    b = bytearray(inner)
    b[at + 15] ^= 0x01  # ...0122: another IMSI
    d = seal(first, bytes(b))
    fast = _feed("eap", True, 0, [(d, UE, HA)])
    slow = _feed("eap", False, 0, [(d, UE, HA)])
    assert fast[:3] == slow[:3] and fast[3] == 1


def test_a_planted_divergence_is_caught(monkeypatch):
    """The comparisons above would see the fast path go wrong: with a planted bug (the
    fast path forgets when the peer was last heard, writes a wrong certificate encoding, or
    hands ``_core.ikefast`` payload types out of order, or the final AUTH decides on a kept
    request whose index, dropped after the first AUTH, is rebuilt without its notifies) the
    snapshots or the datagrams of the twin responders differ."""
    from dsmip6.ikev2 import _fast

    kind, ue_kw, ha_kw = CASES["eap-aka-ecdsa-cert"]
    slow = drive(kind, False, ue_kw, ha_kw)
    real_follow = _fast._follow

    def forgetful(sa, src, dst, now):
        before = sa.last_heard
        real_follow(sa, src, dst, now)
        if sa.auth_tasks is None:  # only in fast_first_auth
            sa.last_heard = before

    with monkeypatch.context() as m:
        m.setattr(_fast, "_follow", forgetful)
        fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[3].fast_auth_hits == 3
    assert fast[0] == slow[0] and fast[2] != slow[2]
    with monkeypatch.context() as m:
        m.setattr(_fast, "_cert_body", lambda der: bytes([12]) + der)
        fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[0] != slow[0]
    # the payload types the fast paths hand to ``_core.ikefast``: the IKE_SA_INIT response
    # with KE and Nonce swapped, the final IKE_AUTH response with TSi and TSr swapped
    with monkeypatch.context() as m:
        for name in ("_INIT_TYPES", "_INIT_TYPES_CERTREQ"):
            t = getattr(_fast, name)
            m.setattr(_fast, name, t[:1] + t[2:3] + t[1:2] + t[3:])
        fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[3].fast_path_hits == 1 and fast[0] != slow[0]
    real_chain = _fast._chain

    final_first, ts_pair = bytes([PayloadType.AUTH]), bytes([PayloadType.TSI, PayloadType.TSR])

    def ts_swapped(types, bodies, next_after):
        if types[:1] == final_first and types[-2:] == ts_pair:
            bodies = [*bodies[:-2], bodies[-1], bodies[-2]]
        return real_chain(types, bodies, next_after)

    with monkeypatch.context() as m:
        m.setattr(_fast, "_chain", ts_swapped)
        fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[3].fast_auth_hits == 3 and fast[0] != slow[0]
    # the IKE_AUTH child SA written by ``_auth_child``: a fast path that misreads
    # N(USE_TRANSPORT_MODE) makes a tunnel-mode child and answers without the notify
    with monkeypatch.context() as m:
        m.setattr(_fast, "_N_USE_TRANSPORT_MODE", 0)
        fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[3].fast_auth_hits == 3 and fast[0] != slow[0] and fast[2] != slow[2]
    # the message index fast_first_auth builds along its decoding (``Message._ix``) serves
    # the first AUTH's tasks only: the request ChildCreate keeps drops it, and the final AUTH
    # decides on the index ``Message._index`` rebuilds from the kept payloads. So an index
    # that misses the first request's notifies no longer reaches the child SA's decisions
    # (N(USE_TRANSPORT_MODE) is read in the final AUTH) ...
    with monkeypatch.context() as m:
        m.setattr(_fast, "_P_NOTIFY", 0)
        fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[3].fast_auth_hits == 3 and fast[0] == slow[0] and fast[2] == slow[2]
    # ... while a rebuild that misses them (planted in the responder's kept request only)
    # does: the final AUTH reads the rebuilt index
    from dsmip6.ikev2.message import NotifyPayload

    real_auth_child = _fast._auth_child

    def notify_less(sa, task):
        req = task.request
        if req is not None and req._ix is None:
            req.encrypted = [p for p in req.encrypted or () if type(p) is not NotifyPayload]
        return real_auth_child(sa, task)

    with monkeypatch.context() as m:
        m.setattr(_fast, "_auth_child", notify_less)
        fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[3].fast_auth_hits == 3 and fast[0] != slow[0] and fast[2] != slow[2]
    fast = drive(kind, True, ue_kw, ha_kw)  # and without a planted bug: identical
    assert fast[0] == slow[0] and fast[1] == slow[1] and fast[2] == slow[2]


def test_child_proposal_choice_remembered_per_distinct_request_equals_a_fresh_choice():
    # choose_child remembers its decision per (our list, PFS group, peer proposals' protocol,
    # SPI size and shared transform tuple). For every combination of several offers, decoded
    # from octets like a request (so equal transform lists share one tuple) with fresh SPIs and
    # numbers each time, the remembered answer is the uncached search's, and the proposal
    # returned is the one of *this* request (its own SPI), never an earlier request's.
    import itertools

    from dsmip6.ikev2.config import parse_child_proposal
    from dsmip6.ikev2.message import SaPayload
    from dsmip6.ikev2.tasks import _proposals as P

    ours_sets = [
        tuple(parse_child_proposal(s) for s in names)
        for names in (
            ["aes128gcm16"],
            ["aes256-sha256", "aes128gcm16"],
            ["aes128-sha256-modp2048", "aes256gcm16-ecp256"],
            ["chacha20poly1305-esn"],
        )
    ]
    offers = [
        P.child_proposals((parse_child_proposal(s),), b"\0\0\0\0", pfs)[0]
        for s in ("aes128gcm16", "aes256-sha256", "aes128-sha256-modp2048", "aes128gcm16-esn")
        for pfs in (False, True)
    ]
    P._CHILD_CHOICES.clear()
    spi = 0x1000
    for ours in ours_sets:
        for n in (1, 2):
            for combo in itertools.permutations(offers, n):
                for pfs_group in (None, 14, 19):
                    for _ in range(2):  # the second time from the remembered decision
                        spi += 1
                        props = tuple(
                            dataclasses.replace(p, number=i + 1, spi=(spi + i).to_bytes(4, "big"))
                            for i, p in enumerate(combo)
                        )
                        theirs = SaPayload.decode_body(SaPayload(props).encode_body()).proposals
                        got = P.choose_child(ours, theirs, pfs_group)
                        want = P._choose_child(ours, theirs, pfs_group)
                        assert got == want
                        if got is not None:
                            assert got[0] is want[0] and got[0].spi == want[0].spi
    assert P._CHILD_CHOICES  # the decisions were remembered (bounded: at most 64)
    assert len(P._CHILD_CHOICES) <= 64
    # our proposals as a list changed between calls: each call sees the list as it is now
    ours_list = list(ours_sets[1])
    first = P.choose_child(ours_list, theirs, None)
    assert first == P._choose_child(ours_list, theirs, None)
    ours_list.reverse()
    assert P.choose_child(ours_list, theirs, None) == P._choose_child(ours_list, theirs, None)
    # responders configured alike share the parsed proposals, hence the decisions
    assert parse_child_proposal("aes128gcm16") is parse_child_proposal("aes128gcm16")


def test_the_general_path_twin_runs_its_eap_server_on_the_general_path_too(monkeypatch):
    """``IkeResponder.fast_path = False`` also turns off the EAP server's challenge fast path
    (so the twin comparisons above set it against the EAP server's general path); with it
    on, the challenge response is answered by ``EapAkaServer._fast_challenge``."""
    from dsmip6.eap.server import EapAkaServer

    answered = []
    real = EapAkaServer._fast_challenge

    def counted(self, data):
        out = real(self, data)
        answered.append((self.fast_path, out is not None))
        return out

    monkeypatch.setattr(EapAkaServer, "_fast_challenge", counted)
    kind, ue_kw, ha_kw = CASES["eap-aka-ecdsa-cert"]
    slow = drive(kind, False, ue_kw, ha_kw)
    assert answered == []
    fast = drive(kind, True, ue_kw, ha_kw)
    assert answered == [(True, True)]
    assert fast[0] == slow[0] and fast[1] == slow[1]


# ------------------------------------------------------------------------------ TS policy
def _policy_reference(ts_i, ts_r, assignment):
    """``config._default_ts_policy`` as it read before its HA side was remembered and its
    prefix narrowing written out (session 6): ``intersect`` with ``for_network`` and with
    a selector of the HA's first IPv6 address, every call."""
    from dsmip6.ikev2.message import TrafficSelector

    out_i = []
    for ts in ts_i:
        narrowed = ts
        if assignment is not None and ts.version == 6:
            if assignment.home_address is not None:
                narrowed = ts.intersect(TrafficSelector(assignment.home_address))
            elif assignment.home_prefix is not None:
                narrowed = ts.intersect(TrafficSelector.for_network(assignment.home_prefix))
        if narrowed is not None:
            out_i.append(narrowed)
    out_r = []
    ha6 = [a for a in (assignment.ha_addresses if assignment else ()) if a.version == 6]
    for ts in ts_r:
        narrowed = ts
        if ha6 and ts.version == 6:
            narrowed = ts.intersect(TrafficSelector(ha6[0]))
        if narrowed is not None:
            out_r.append(narrowed)
    if not out_i or not out_r:
        return None
    return tuple(out_i), tuple(out_r)


def _policy_cases(seed: int, n: int):
    """Random selector lists and assignments around one /64 and the HA's addresses: inside,
    straddling, outside, single addresses, port and protocol ranges, IPv4 selectors, HoA
    assignments, no assignment, the HA with and without an IPv6 address."""
    import random
    from ipaddress import IPv4Address, IPv6Address, IPv6Network

    from dsmip6.ikev2 import Assignment
    from dsmip6.ikev2.message import TrafficSelector

    rnd = random.Random(seed)
    base = int(IPv6Address("2001:db8:1:2::"))
    ha6, ha4 = IPv6Address("2001:db8:ffff::1"), IPv4Address("192.0.2.1")
    shared_has = [(ha6,), (ha4, ha6), (ha4,), (), (ha6, IPv6Address("2001:db8:ffff::2"))]

    def addr6():
        return IPv6Address(
            rnd.choice(
                [
                    base + rnd.randrange(1 << 64),
                    base - rnd.randrange(1, 1 << 70),
                    base + (1 << 64) + rnd.randrange(1 << 70),
                    base,
                    base + (1 << 64) - 1,
                    int(ha6),
                    0,
                    (1 << 128) - 1,
                ]
            )
        )

    def sel():
        if rnd.random() < 0.1:
            a, b = sorted((rnd.randrange(1 << 32), rnd.randrange(1 << 32)))
            return TrafficSelector(IPv4Address(a), IPv4Address(b), rnd.choice((0, 135, 17)))
        a, b = sorted((addr6(), addr6()))
        if rnd.random() < 0.2:
            b = a
        sp, ep = rnd.choice(((0, 65535), (5 << 8, 5 << 8), (100, 50), (80, 443)))
        return TrafficSelector(a, b, rnd.choice((0, 135, 6)), sp, ep)

    ts_r_pool = [tuple(sel() for _ in range(rnd.randint(1, 2))) for _ in range(4)]
    for _ in range(n):
        ts_i = tuple(sel() for _ in range(rnd.randint(0, 3)))
        ts_r = rnd.choice(ts_r_pool) if rnd.random() < 0.8 else [sel()]
        kind = rnd.random()
        has = rnd.choice(shared_has)
        plen = rnd.choice((64, 64, 48, 128, 0))
        prefix = IPv6Network((base >> (128 - plen) << (128 - plen), plen)) if plen else None
        if kind < 0.1:
            a = None
        elif kind < 0.25:
            a = Assignment(home_prefix=prefix, home_address=addr6(), ha_addresses=has)
        else:
            a = Assignment(home_prefix=prefix, ha_addresses=has)
        yield ts_i, ts_r, a


def test_default_ts_policy_equals_its_plain_reading():
    """The HA's narrowing (RFC 7296 §2.9) with its remembered HA side and its written-out
    prefix intersection gives what the plain reading gives (same selectors, same refusals),
    also when the same TSr tuple and HA address tuple come back (the remembered case)."""
    from dsmip6.ikev2 import config

    seen_hit = 0
    for ts_i, ts_r, a in _policy_cases(7, 4000):
        before = len(config._HA_SIDE)
        got = config._default_ts_policy(ts_i, ts_r, a)
        seen_hit += len(config._HA_SIDE) == before
        assert got == _policy_reference(ts_i, ts_r, a), (ts_i, ts_r, a)
    assert seen_hit > 1000  # the remembered HA side was used


def test_a_planted_ts_policy_divergence_is_caught(monkeypatch):
    """The comparison above sees a prefix narrowing that keeps the prefix's last address
    one too high, and a remembered HA side that ignores which HA addresses were assigned."""
    from ipaddress import IPv6Address

    from dsmip6.ikev2 import config
    from dsmip6.ikev2.message import _selector

    real = config._in_prefix

    def off_by_one(ts, prefix):
        got = real(ts, prefix)
        if got is not None and got.end._ip < (1 << 128) - 1 and got.end._ip & 1:
            return _selector(got.start, IPv6Address(got.end._ip + 1), got.protocol,
                             got.start_port, got.end_port)  # fmt: skip
        return got

    def mismatches():
        config._HA_SIDE.clear()
        return sum(
            config._default_ts_policy(ts_i, ts_r, a) != _policy_reference(ts_i, ts_r, a)
            for ts_i, ts_r, a in _policy_cases(11, 1500)
        )

    assert mismatches() == 0
    monkeypatch.setattr(config, "_in_prefix", off_by_one)
    assert mismatches() > 0
    monkeypatch.setattr(config, "_in_prefix", real)
    real_side = config._ha_side
    first: dict[int, Any] = {}
    monkeypatch.setattr(
        config, "_ha_side", lambda ts_r, has: first.setdefault(id(ts_r), real_side(ts_r, has))
    )
    assert mismatches() > 0


def test_a_planted_payload_count_divergence_in_the_first_auth_is_caught(monkeypatch):
    """``fast_first_auth`` checks how often each payload comes by class as it reads the
    request (IDi/IDr, TSi/TSr, CP, SA once each): with that check planted away (every class
    allowed any number of times) the mutated corpus's doubled payloads make the twin
    responders differ."""
    from dsmip6.ikev2 import _fast
    from dsmip6.ikev2.message import CpPayload, IdPayload, SaPayload, TsPayload

    first, inner, seal = _sealer("eap", 0)
    corpus = [seal(f, body) for f, body in _first_auth_variants(inner)]

    def differing() -> int:
        n = 0
        for d in corpus:
            fast, slow = _feed("eap", True, 0, [(d, UE, HA)]), _feed("eap", False, 0, [(d, UE, HA)])
            n += fast[:3] != slow[:3]
        return n

    assert differing() == 0
    monkeypatch.setattr(_fast, "_ONE_OF_EACH", ())
    monkeypatch.setattr(
        _fast, "_MANY_CLASSES", (*_fast._MANY_CLASSES, IdPayload, TsPayload, CpPayload, SaPayload)
    )
    assert differing() > 0


def test_assignment_constructor_equals_the_generated_frozen_one():
    """``Assignment.__init__`` (direct slot stores, ``__post_init__`` only for values not of
    their exact types) makes what the dataclass's generated frozen ``__init__`` with the
    conversions made: same fields, same types, for typed values, strings, lists, integers,
    and subclasses (which the conversions keep, as ``isinstance`` accepts them)."""
    import ipaddress
    from dataclasses import dataclass, fields

    from dsmip6.ikev2 import Assignment

    class V6(ipaddress.IPv6Address):
        pass

    @dataclass(frozen=True, slots=True)
    class Reference:
        home_prefix: Any = None
        home_address: Any = None
        ha_addresses: Any = ()
        internal_ip4: Any = None
        prefix_lifetime: int = 86400

        def __post_init__(self) -> None:  # the conversions, as Assignment.__post_init__
            Assignment.__post_init__(self)  # type: ignore[arg-type]

    n6, a6 = ipaddress.IPv6Network("2001:db8:1::/64"), ipaddress.IPv6Address("2001:db8::1")
    a4 = ipaddress.IPv4Address("192.0.2.1")
    cases = [
        {},
        {"home_prefix": n6, "ha_addresses": (a6,)},
        {"home_prefix": n6, "ha_addresses": (a4, a6), "prefix_lifetime": 7},
        {"home_prefix": "2001:db8:2::/64", "ha_addresses": ["2001:db8::2", "192.0.2.2"]},
        {"home_address": "2001:db8::5", "internal_ip4": "192.0.2.9"},
        {"home_address": a6, "internal_ip4": a4, "ha_addresses": (a6, "192.0.2.3")},
        {"home_address": V6("2001:db8::7"), "ha_addresses": (V6("2001:db8::8"),)},
        {"home_address": int(a6), "ha_addresses": [int(a4)]},
        {"home_prefix": None, "ha_addresses": ()},
    ]
    for kw in cases:
        got, want = Assignment(**kw), Reference(**kw)
        for f in fields(Assignment):
            g, w = getattr(got, f.name), getattr(want, f.name)
            assert g == w and type(g) is type(w), (kw, f.name)
            if type(w) is tuple:
                assert [type(x) for x in g] == [type(x) for x in w]
    # positional use, as the generated __init__ took it
    assert Assignment(n6, a6, (a6,), a4, 9) == Assignment(
        home_prefix=n6, home_address=a6, ha_addresses=(a6,), internal_ip4=a4, prefix_lifetime=9
    )


# ------------------------------------------------------- the first IKE_AUTH's child SA payload
def _one_proposal_request() -> tuple[int, bytes, int, Any]:
    """The usual first IKE_AUTH request's inner chain with its SA payload cut to its first
    proposal (as a UE offering one child proposal sends it; SPI of 4 octets): (first
    payload type, inner chain, offset of the SA body in it, the sealer)."""
    first, inner, seal = _sealer("eap", 0)
    off, nxt = 0, 35
    while nxt:
        this, nxt = nxt, inner[off]
        length = int.from_bytes(inner[off + 2 : off + 4], "big")
        if this == 33:
            body = inner[off + 4 : off + length]
            one = b"\x00" + body[1 : int.from_bytes(body[2:4], "big")]
            head = inner[off : off + 2] + (4 + len(one)).to_bytes(2, "big")
            return first, inner[:off] + head + one + inner[off + length :], off + 4, seal
        off += length
    raise AssertionError("no SA payload")


def _child_sa_body() -> bytes:
    _first, inner, at, _seal = _one_proposal_request()
    return inner[at : at + int.from_bytes(inner[at - 2 : at], "big") - 4]


def _sa_decode_differences(decode) -> int:
    """How often ``decode`` differs from ``SaPayload.decode_body`` (value, or error and its
    message) over the usual body, every SPI, bit flips of every octet, truncations, a
    second proposal, another SPI size, trailing octets, in an order that fills and reuses
    the cache (each body twice, and the usual body between mutations)."""
    import random

    from dsmip6.errors import MalformedPacket
    from dsmip6.ikev2.message import SaPayload

    body = _child_sa_body()
    assert body[0] == 0 and body[6] == 4 and len(body) > 12
    rnd = random.Random(3)
    corpus = [body]
    corpus += [body[:8] + rnd.randbytes(4) + body[12:] for _ in range(200)]
    for i in range(len(body)):
        for x in (0x01, 0x04, 0x80):
            b = bytearray(body)
            b[i] ^= x
            corpus += [bytes(b), body[:8] + rnd.randbytes(4) + bytes(b[12:])]
    corpus += [body[:n] for n in range(len(body))]
    two = bytes([2]) + body[1:]  # "more proposals follow", then a second copy
    corpus += [two + body, body + b"\x00", body[:6] + b"\x08" + body[7:8] + bytes(4) + body[8:]]
    corpus += [body[:6] + b"\x00" + body[7:8] + body[12:]]  # no SPI (length not fixed)

    def outcome(f, b):
        try:
            return ("ok", f(b))
        except (MalformedPacket, ValueError) as e:
            return ("error", type(e), str(e))

    differ = 0
    for b in corpus:
        for _ in range(2):
            differ += outcome(decode, b) != outcome(SaPayload.decode_body, b)
        differ += outcome(decode, body) != outcome(SaPayload.decode_body, body)
    return differ


def test_child_sa_decode_equals_the_general_decoder():
    """``_child_sa_decode`` (the first IKE_AUTH's SA payload, its decode kept per proposal
    without the SPI) gives what ``SaPayload.decode_body`` gives, values and errors alike,
    with its table empty, filling, and full (16 entries, then cleared)."""
    from dsmip6.ikev2 import _fast

    _fast._CHILD_SA_SEEN.clear()
    assert _sa_decode_differences(_fast._child_sa_decode) == 0
    assert 0 < len(_fast._CHILD_SA_SEEN) <= 16


def test_a_planted_child_sa_decode_divergence_is_caught(monkeypatch):
    """A table keyed by the whole proposal header but returning the SPI of the first body
    seen (the per-UE SPI not spliced in) is seen by the comparison, and by the twin
    responders over the mutated first IKE_AUTH corpus."""
    from dsmip6.ikev2 import _fast
    from dsmip6.ikev2.message import Proposal, SaPayload

    real = _fast._child_sa_decode
    first_spi: list[bytes] = []

    def stale_spi(body):
        got = real(body)
        if len(got.proposals) == 1 and len(got.proposals[0].spi) == 4:
            if not first_spi:
                first_spi.append(got.proposals[0].spi)
            p = got.proposals[0]
            return SaPayload((Proposal(p.number, p.protocol, first_spi[0], p.transforms),))
        return got

    _fast._CHILD_SA_SEEN.clear()
    assert _sa_decode_differences(stale_spi) > 0
    monkeypatch.setitem(_fast._FIRST_AUTH_DECODERS, 33, stale_spi)
    first, inner, at, seal = _one_proposal_request()
    at += 8  # the SPI's octets in the chain
    assert _feed("eap", True, 0, [(seal(first, inner), UE, HA)])[3] == 1  # the fast path
    differ = 0
    for spi in (b"\x11\x22\x33\x44", b"\x55\x66\x77\x88"):
        d = seal(first, inner[:at] + spi + inner[at + 4 :])
        # requests differing only in the SPI are decoded from the chain table (round 11)
        # once one was seen: emptied, so that each reaches the planted SA decode
        _fast._FIRST_CHAINS.clear()
        _fast._FIRST_SPI_AT.clear()
        fast, slow = _feed("eap", True, 0, [(d, UE, HA)]), _feed("eap", False, 0, [(d, UE, HA)])
        differ += fast[:3] != slow[:3]
    assert differ > 0


def test_mutated_one_proposal_first_auth_requests_give_identical_results_on_both_paths():
    """The mutated first IKE_AUTH corpus built from a request whose SA payload has one
    proposal (the form whose decode ``_child_sa_decode`` keeps): same answers, events and
    state on both responders, with the table warm from earlier requests."""
    from dsmip6.ikev2 import _fast

    first, inner, at, seal = _one_proposal_request()
    corpus = [seal(f, body) for f, body in _first_auth_variants(inner)]
    corpus += [seal(first, inner[: at + 8] + bytes([n]) * 4 + inner[at + 12 :]) for n in (1, 9)]
    taken = 0
    for d in corpus:
        taken += _both("eap", 0, [(d, UE, HA)])
    assert 0 < taken < len(corpus) and _fast._CHILD_SA_SEEN


# ------------------------------------------------------------------------------ first IKE_AUTH:
# the chain after IDi decoded once (session 8, round 11: ``_fast._FIRST_CHAINS``)
def _with_idi(inner: bytes, data: bytes) -> bytes:
    """``inner`` with its IDi payload's identification data replaced (ID Type and the
    reserved octets kept; IDi is the first payload, RFC 7296 §3.5)."""
    length = int.from_bytes(inner[2:4], "big")
    body = inner[4:8] + data
    return inner[:2] + (4 + len(body)).to_bytes(2, "big") + body + inner[length:]


def _chain_requests() -> tuple[list[bytes], list[bytes]]:
    """First IKE_AUTH requests (one-proposal SA payload) that differ only in the SA's SPI
    and the IDi data, as the UEs of one deployment send them, sealed with the UE's keys;
    and requests whose chain after IDi differs elsewhere (misses)."""
    first, inner, at, seal = _one_proposal_request()
    spi_at = at + 8
    idi = inner[8 : int.from_bytes(inner[2:4], "big")]
    same = []
    for n, spi in enumerate((b"\x11\x22\x33\x44", b"\x55\x66\x77\x88", b"\x00\x00\x01\x00")):
        chain = inner[:spi_at] + spi + inner[spi_at + 4 :]
        same.append(seal(first, chain))
        # another UE's identity, longer and shorter (an unknown subscriber is answered
        # by the general path's second half on both responders)
        other = idi[:-1] + bytes([idi[-1] ^ (n + 1)])
        for data in (other, other + b"x", idi[:5]):
            same.append(seal(first, _with_idi(chain, data)))
    # the last selector's end address, another octet of it, a transform ID's low octet
    # (the proposal's first transform: 8-octet proposal header, 4-octet SPI, 8-octet
    # transform header whose ID is octets 6-7)
    flips = (len(inner) - 1, len(inner) - 3, spi_at + 4 + 7)
    misses = [seal(first, inner[:n] + bytes([inner[n] ^ 1]) + inner[n + 1 :]) for n in flips]
    return same, misses


def test_first_auth_chains_decoded_once_give_identical_results_on_both_paths(monkeypatch):
    """UEs whose first IKE_AUTH requests differ only in IDi and the child SA's SPI: the
    fast path decodes the chain after IDi once and builds each request's own IDi, IDr and SA
    payload; twin responders (fast on / off) send the same octets, emit the same events and
    hold the same state for every request, and the requests after the first were served
    from the table (the general decoder's loop ran once per distinct chain)."""
    from dsmip6.ikev2 import _fast

    decoded = []
    real = _fast._first_decode
    monkeypatch.setattr(_fast, "_first_decode", lambda parts: decoded.append(1) or real(parts))
    _fast._FIRST_CHAINS.clear()
    _fast._FIRST_SPI_AT.clear()
    same, misses = _chain_requests()
    for d in same:
        assert _both("eap", 0, [(d, UE, HA)]) == 1
    assert len(decoded) == 1 and len(_fast._FIRST_CHAINS) == 1
    # a chain differing anywhere but the SPI is decoded (and kept) for itself
    for d in misses:
        _both("eap", 0, [(d, UE, HA)])
    assert len(decoded) == 1 + len(misses)
    # the table full (16 chains): cleared, then filled again, with the same answers
    for n in range(20):
        first, inner, at, seal = _one_proposal_request()
        d = seal(first, inner[:-2] + bytes([n]) + inner[-1:])  # the last selector's port
        _both("eap", 0, [(d, UE, HA)])
    assert 0 < len(_fast._FIRST_CHAINS) <= 16
    for d in same[:3]:
        assert _both("eap", 0, [(d, UE, HA)]) == 1


def test_a_planted_first_auth_chain_divergence_is_caught(monkeypatch):
    """A table hit that gives the IDi of the first request decoded from the table (not the
    request's own) is seen by the twin comparison."""
    from dsmip6.ikev2 import _fast

    real = _fast._decode_idi
    kept: list[Any] = []

    def stale_idi(body):
        if not kept:
            kept.append(real(body))
        return kept[0]

    monkeypatch.setattr(_fast, "_decode_idi", stale_idi)
    _fast._FIRST_CHAINS.clear()
    _fast._FIRST_SPI_AT.clear()
    same, _misses = _chain_requests()
    differ = 0
    for d in same:
        fast, slow = _feed("eap", True, 0, [(d, UE, HA)]), _feed("eap", False, 0, [(d, UE, HA)])
        differ += fast[:3] != slow[:3]
    assert differ > 0


def _idr_chain_requests() -> list[bytes]:
    """First IKE_AUTH requests of UEs that name the HA's identity in IDr (``remote_id``:
    an APN, TS 24.303), cut to one child proposal, differing in IDi and the SA's SPI,
    sealed with the keys every twin of ``_at_eap_round("eap", ...)`` derives (IKE_SA_INIT
    does not depend on ``remote_id``)."""
    ue, ha = initiator("eap", remote_id="internet.apn.epc"), responder("eap", False)
    ue.connect(UE, HA, 0.0)
    for d, lo, r in ue.datagrams_to_send(0.0):
        ha.receive_datagram(d, lo, r, 0.0)
    for d, lo, r in ha.datagrams_to_send(0.0):
        ue.receive_datagram(d, lo, r, 0.0)
    ((req, _lo, _r),) = ue.datagrams_to_send(0.0)
    (sa,) = ha._sas.values()
    inner = sa.sk.open(req, 28)
    _first, _plain_inner, seal = _sealer("eap", 0)
    off, nxt = 0, req[28]
    while nxt:
        this, nxt = nxt, inner[off]
        length = int.from_bytes(inner[off + 2 : off + 4], "big")
        if this == 33:  # the SA payload: its first proposal alone
            body = inner[off + 4 : off + length]
            one = b"\x00" + body[1 : int.from_bytes(body[2:4], "big")]
            head = inner[off : off + 2] + (4 + len(one)).to_bytes(2, "big")
            inner, spi_at = inner[:off] + head + one + inner[off + length :], off + 4 + 8
            break
        off += length
    idi = inner[8 : int.from_bytes(inner[2:4], "big")]
    out = []
    for n, spi in enumerate((b"\x11\x22\x33\x44", b"\x55\x66\x77\x88", b"\x00\x00\x01\x00")):
        chain = inner[:spi_at] + spi + inner[spi_at + 4 :]
        out.append(seal(req[28], chain))
        out.append(seal(req[28], _with_idi(chain, idi[:-1] + bytes([idi[-1] ^ (n + 1)]))))
    return out


def test_chain_hits_share_their_idr_and_a_planted_stale_idr_is_caught():
    """Since session 9 a table hit takes IDr from the chain (IDr's octets are part of the
    key, so every request of a chain names the same IDr): the hits' SAs hold one IDr
    object, equal to the general path's decoding (the twin comparison). A table whose
    kept IDr is not the requests' (planted: replaced in the table) is seen by the twin
    comparison: the SA's requested IDr differs."""
    from dsmip6.ikev2 import _fast
    from dsmip6.ikev2.message import IdPayload

    _fast._FIRST_CHAINS.clear()
    _fast._FIRST_SPI_AT.clear()
    same = _idr_chain_requests()
    held = []
    for d in same[:3]:
        _ue, ha, _req = _at_eap_round("eap", True, 0)
        ha.receive_datagram(d, UE, HA, 0.0)
        (sa,) = ha._sas.values()
        held.append(sa.requested_idr)
        assert _both("eap", 0, [(d, UE, HA)]) == 1
    assert held[0] == IdPayload(held[0].id_type, b"internet.apn.epc", False)
    assert all(idr is held[0] for idr in held)
    ((key, entry),) = _fast._FIRST_CHAINS.items()
    template = list(entry[0])
    at = entry[5]
    assert at > 0 and template[at] is held[0]
    template[at] = IdPayload(held[0].id_type, b"stale.apn.epc", False)
    _fast._FIRST_CHAINS[key] = (tuple(template), *entry[1:])
    differ = 0
    for d in same[3:]:
        fast, slow = _feed("eap", True, 0, [(d, UE, HA)]), _feed("eap", False, 0, [(d, UE, HA)])
        differ += fast[:3] != slow[:3]
    assert differ == len(same) - 3
    _fast._FIRST_CHAINS.clear()
    _fast._FIRST_SPI_AT.clear()


def test_the_responders_own_idr_is_made_once_per_identity():
    """``_fast._my_id``: the IDr ``make_id`` makes and its encoded body, for every kind of
    configured identity, kept per identity object; an entry kept for another object under
    the same id is not used (the twin responders still agree when one is planted)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    from dsmip6.ikev2 import _fast
    from dsmip6.ikev2.auth import make_id

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ha")])
    identities = [
        "ha.example.org", "ha@example.org", "192.0.2.1", "2001:db8::1", (2, b"ha.example"),
        b"\x01\x02key-id", name, "ha2.example.org", "ha3.example.org", "198.51.100.9",
    ]  # fmt: skip
    _fast._MY_IDS.clear()
    for _ in range(2):  # the table fills (8 entries), is cleared, fills again
        for identity in identities:
            want = make_id(identity, False)
            kept, made, body = _fast._my_id(identity)
            assert kept is identity and made == want and body == want.encode_body()
    assert 0 < len(_fast._MY_IDS) <= 8
    # a stale entry under the configured identity's id (another object kept in it)
    _fast._MY_IDS.clear()
    first, inner, _at, seal = _one_proposal_request()
    d = seal(first, inner)
    fast = responder("eap", True)
    identity = fast.config.identity
    wrong = make_id("elsewhere.example.org", False)
    _fast._MY_IDS[id(identity)] = ("elsewhere.example.org", wrong, wrong.encode_body())
    assert _both("eap", 0, [(d, UE, HA)]) == 1


def test_general_path_shares_the_peers_signature_hash_list(monkeypatch):
    """A request the general path answers (e.g. one retried with a cookie in a storm) keeps
    N(SIGNATURE_HASH_ALGORITHMS) as one tuple shared by every SA whose peer sent the same
    list, equal to the fast path's; with the sharing planted away (a table that forgets)
    each SA holds its own tuple again, which this test sees."""
    from dsmip6.ikev2.tasks import ike_init

    kind, ue_kw, ha_kw = CASES["eap-aka-ecdsa-cert"]

    def held() -> list[Any]:
        out = []
        for fast in (False, False, True):  # the SA after IKE_SA_INIT (established: parked)
            ue, ha = initiator(kind, **ue_kw), responder(kind, fast, **ha_kw)
            clock = Clock()
            ue.connect(UE, HA, clock.now)
            for d, lo, r in ue.datagrams_to_send(clock.now):
                ha.receive_datagram(d, lo, r, clock.now)
            assert ha.fast_path_hits == int(fast)
            (sa,) = ha._sas.values()
            out.append(sa.peer_sig_hashes)
        return out

    general_1, general_2, fast = held()
    assert general_1 and general_1 == general_2 == fast
    assert general_1 is general_2
    assert all(isinstance(h, int) for h in general_1)

    class Forgetful(dict):
        def __setitem__(self, key, value):
            pass

    monkeypatch.setattr(ike_init, "_SIG_HASHES_SEEN", Forgetful())
    general_1, general_2, fast = held()
    assert general_1 == general_2 == fast and general_1 is not general_2


def test_final_auth_reads_the_chains_child_summary_and_a_planted_one_is_caught(monkeypatch):
    """Since session 10 a first IKE_AUTH request served from ``_FIRST_CHAINS`` leaves the
    chain's shared child summary (``_fast._child_summary``: the places of the SA, TSi and
    TSr payloads, transport mode) on the kept request, and the final AUTH's ``_auth_child``
    reads the payloads at those places instead of walking them. With one child proposal
    (the form the table keeps) the twin responders agree through the whole handshake while
    the summary is used; a planted summary with TSi and TSr swapped (the UE's TSi and TSr
    differ in protocol here), or transport mode dropped, is seen by the twin comparison;
    one whose payload count no longer matches the kept request is not used (the one-pass
    reading decides, and the twins agree)."""
    from dsmip6.ikev2 import _fast
    from dsmip6.ikev2.message import TrafficSelector

    kind, ha_kw = "eap", {}
    ue_kw = {
        "child_proposals": ["aes128gcm16"],
        "child_ts_i": (TrafficSelector.any(6, 135),),
        "child_ts_r": (TrafficSelector.any(6, 0),),
    }
    _fast._FIRST_CHAINS.clear()
    _fast._FIRST_SPI_AT.clear()
    slow = drive(kind, False, ue_kw, ha_kw)
    drive(kind, True, ue_kw, ha_kw)  # fills the table
    assert len(_fast._FIRST_CHAINS) == 1
    read = []
    real_auth_child = _fast._auth_child

    def recording(sa, task):
        ix = task.request._ix
        read.append(ix if ix is not None and ix[0] == -1 else None)
        return real_auth_child(sa, task)

    monkeypatch.setattr(_fast, "_auth_child", recording)
    fast = drive(kind, True, ue_kw, ha_kw)
    assert fast[3].fast_auth_hits == 3 and len(read) == 1 and read[0] is not None
    assert fast[0] == slow[0] and fast[1] == slow[1] and fast[2] == slow[2]
    ((key, entry),) = _fast._FIRST_CHAINS.items()
    summary = entry[6]
    assert summary[5] == 1  # the UE asks for transport mode (RFC 4877 §7)
    planted = {
        "swapped": (*summary[:3], summary[4], summary[3], summary[5]),
        "tunnel": (*summary[:5], 0),
        "stale count": (summary[0], summary[1] + 1, *summary[2:]),
    }
    for name, bad in planted.items():
        _fast._FIRST_CHAINS[key] = (*entry[:6], bad)
        fast = drive(kind, True, ue_kw, ha_kw)
        assert fast[3].fast_auth_hits == 3
        same = fast[0] == slow[0] and fast[1] == slow[1] and fast[2] == slow[2]
        assert same is (name == "stale count"), name
    _fast._FIRST_CHAINS.clear()
    _fast._FIRST_SPI_AT.clear()


def test_a_planted_cfg_reply_divergence_is_caught(monkeypatch):
    """The final AUTH's CFG_REPLY, written as octets by ``fast_msk_auth`` from
    ``IkeConfig.reply``'s pairs since session 10 (and as payload objects when the response
    is fragmented): a wrong CFG Type octet in the written payload, attribute headers in the
    wrong byte order, or a wrong CFG Type in the fragmented response's object are seen by
    the twin comparison; without a planted bug both responders agree."""
    import struct

    from dsmip6.ikev2 import _fast
    from dsmip6.ikev2.message import CpPayload

    for case in ("eap-aka-cp-every-attribute", "eap-aka-cp-every-attribute-small-fragments"):
        kind, ue_kw, ha_kw = CASES[case]
        slow = drive(kind, False, ue_kw, ha_kw)
        fast = drive(kind, True, ue_kw, ha_kw)
        assert fast[3].fast_auth_hits == 3
        assert fast[0] == slow[0] and fast[1] == slow[1] and fast[2] == slow[2]
        plants = [("_CP_REPLY_HEAD", struct.pack("!B3x", 3)), ("_ATTR_HEAD", struct.Struct("<HH"))]
        if "fragments" in case:
            plants = [("CpPayload", lambda _cfg_type, attrs: CpPayload(3, attrs))]
        for name, bad in plants:
            with monkeypatch.context() as m:
                m.setattr(_fast, name, bad)
                fast = drive(kind, True, ue_kw, ha_kw)
            assert fast[3].fast_auth_hits == 3 and fast[0] != slow[0], (case, name)


def _auth_timers_agree(ha: IkeResponder) -> bool:
    from dsmip6.ikev2.sa import IkeSa, SaState

    sas = [sa for sa in ha._sas.values() if type(sa) is IkeSa and sa.state is SaState.AUTH]
    return bool(sas) and all(sa.timer_at == sa.get_timer() for sa in sas)


def test_touch_keeps_the_half_open_deadline_of_get_timer(monkeypatch):
    """``Engine._touch`` computes a responder's half-open deadline itself (session 10:
    ``IkeSa.get_timer`` inline for the IKE_AUTH rounds): after IKE_SA_INIT and after each
    EAP round the SA's pushed timer is ``get_timer()``'s, on both paths; a planted
    ``get_timer`` that disagrees shows."""
    from dsmip6.ikev2.sa import IkeSa

    for fast in (True, False):
        ue, ha = initiator("eap-identity-round"), responder("eap-identity-round", fast)
        clock = Clock()
        ue.connect(UE, HA, clock.now)
        seen = 0
        for _ in range(4):  # IKE_SA_INIT, the first IKE_AUTH, two EAP rounds: still AUTH
            for d, lo, r in ue.datagrams_to_send(clock.now):
                ha.receive_datagram(d, lo, r, clock.now)
            assert _auth_timers_agree(ha)
            seen += 1
            for d, lo, r in ha.datagrams_to_send(clock.now):
                ue.receive_datagram(d, lo, r, clock.now)
            clock.now += 1.5
        assert seen == 4
    real = IkeSa.get_timer
    monkeypatch.setattr(IkeSa, "get_timer", lambda sa: (real(sa) or 0.0) + 1.0)
    ue, ha = initiator("eap"), responder("eap", True)
    ue.connect(UE, HA, 0.0)
    for d, lo, r in ue.datagrams_to_send(0.0):
        ha.receive_datagram(d, lo, r, 0.0)
    assert not _auth_timers_agree(ha)
