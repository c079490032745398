"""``dsmip6._core.ikefast``: the payload-chain octet work of the IKEv2 fast paths (Rust).

Each function is checked against a plain Python reading of RFC 7296 §3.1-§3.2 written here
(the generic payload header: Next Payload, critical bit + reserved, Payload Length), on real
requests from our initiator and on random and mutated octets: the same answer, and never a
crash (every malformed input gives None or ValueError).
"""

from __future__ import annotations

import random
import struct

import pytest
from dsmip6._core import ikefast
from dsmip6.ikev2.constants import Notify, PayloadType
from dsmip6.ikev2.message import NotifyPayload, encode_chain
from test_ike_fastpath import CASES, _init_request, _mutations

_SA, _KE, _NONCE, _NOTIFY = 33, 34, 40, 41
_CERTREQ, _VENDOR = 38, 43


def ref_walk(data: bytes, off: int, first: int) -> list[tuple[int, bytes]] | None:
    """The chain from ``off``: zero flags octets, lengths >= 4 inside ``data``, ending at
    its end."""
    out = []
    nxt = first
    while nxt:
        if len(data) - off < 4:
            return None
        this = nxt
        nxt, flags, length = struct.unpack_from("!BBH", data, off)
        if flags or length < 4 or off + length > len(data):
            return None
        out.append((this, data[off + 4 : off + length]))
        off += length
    return out if off == len(data) else None


def ref_init(data: bytes) -> tuple | None:
    """What the IKE_SA_INIT fast path needs, by the rules of its docstring."""
    if len(data) < 28:
        return None
    parts = ref_walk(data, 28, data[16])
    if parts is None:
        return None
    sa = ke = nonce = hashes = None
    nat_src, nat_dst, kinds, certreq = [], [], set(), False
    for t, body in parts:
        if t == _NOTIFY:
            if len(body) < 4 or len(body) < 4 + body[1]:
                return None
            kind = (body[2] << 8) | body[3]
            value = body[4 + body[1] :]
            if kind == Notify.NAT_DETECTION_SOURCE_IP:
                nat_src.append(value)
            elif kind == Notify.NAT_DETECTION_DESTINATION_IP:
                nat_dst.append(value)
            elif kind == Notify.SIGNATURE_HASH_ALGORITHMS and hashes is None:
                hashes = value
            kinds.add(kind)
        elif t == _SA and sa is None:
            sa = body
        elif t == _KE and ke is None:
            ke = body
        elif t == _NONCE and nonce is None:
            nonce = body
        elif t == _CERTREQ and len(body) >= 1:
            certreq = True
        elif t != _VENDOR:
            return None
    if sa is None or ke is None or nonce is None or len(ke) < 4:
        return None
    if not 16 <= len(nonce) <= 256:
        return None
    return (
        sa,
        (ke[0] << 8) | ke[1],
        ke[4:],
        nonce,
        nat_src,
        nat_dst,
        hashes,
        Notify.REDIRECT_SUPPORTED in kinds,
        Notify.FRAGMENTATION_SUPPORTED in kinds,
        certreq,
    )


def _requests() -> list[bytes]:
    out = []
    for case in ("psk", "eap-aka-ecdsa-cert", "eap-aka-ha-psk-certreq", "eap-aka-no-fragmentation"):
        kind, ue_kw, _ha_kw = CASES.get(case, (case, {}, {}))
        out.append(_init_request(kind, **ue_kw))
    return out


def test_init_request_reads_our_initiators_requests():
    for data in _requests():
        got = ikefast.init_request(data)
        assert got is not None and got == ref_init(data)
        assert got[1] in (19, 31) and len(got[3]) >= 16


def test_init_request_and_walk_equal_the_reference_on_mutations():
    """Every mutation of the fast path's corpus (bit flips, truncations, payloads dropped,
    duplicated, added, critical bits...) and random octets: the same answer as the
    reference, never an exception."""
    rnd = random.Random(7296)
    corpus: list[bytes] = []
    for data in _requests():
        corpus += _mutations(data)
    for _ in range(3000):
        corpus.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 120))))
    for _ in range(3000):  # random chains of well-framed payloads
        n = rnd.randrange(0, 8)
        chain, types = b"", [rnd.choice((_SA, _KE, _NONCE, _NOTIFY, _CERTREQ, _VENDOR, 99))]
        for i in range(n):
            nxt = rnd.choice((_SA, _KE, _NONCE, _NOTIFY, _CERTREQ, _VENDOR, 0))
            body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
            chain += struct.pack("!BBH", nxt if i < n - 1 else 0, 0, 4 + len(body)) + body
            types.append(nxt)
        corpus.append(bytes(16) + bytes((types[0], 0x20, 34, 8)) + bytes(8) + chain)
    accepted = 0
    for data in corpus:
        got = ikefast.init_request(data)
        assert got == ref_init(data)
        accepted += got is not None
        for off in (0, 4, 28, len(data), len(data) + 5):
            for first in (0, _SA, 46, 255):
                assert ikefast.walk(data, off, first) == ref_walk(data, off, first)
    assert 50 < accepted < len(corpus) - 1000  # both outcomes exercised


def test_chain_and_message_write_what_encode_chain_writes():
    rnd = random.Random(4306)
    for _ in range(500):
        payloads = [
            NotifyPayload(rnd.randrange(1, 65536), bytes(rnd.randrange(256) for _ in range(k)))
            for k in [rnd.randrange(0, 64) for _ in range(rnd.randrange(0, 6))]
        ]
        types = bytes(p.TYPE for p in payloads)
        bodies = [p.encode_body() for p in payloads]
        after = rnd.choice((0, int(PayloadType.SK)))
        first, want = encode_chain(payloads, after)
        assert ikefast.chain(types, bodies, after) == want
        spis = bytes(rnd.randrange(256) for _ in range(16))
        msg = ikefast.message(spis, 34, 0x20, 0, types, bodies)
        head = spis + struct.pack("!BBBBII", first if payloads else 0, 0x20, 34, 0x20, 0, 0)
        head = head[:24] + struct.pack("!I", 28 + len(want))
        assert msg == head + (encode_chain(payloads)[1] if payloads else b"")


@pytest.mark.parametrize(
    "args",
    [
        (b"\x01", [b"", b""], 0),  # one type for two bodies
        (b"\x01\x02", [b""], 0),
        (b"\x01", [bytes(65532)], 0),  # the length field cannot hold it
    ],
)
def test_chain_refuses_what_it_cannot_write(args):
    with pytest.raises(ValueError):
        ikefast.chain(*args)
    with pytest.raises(ValueError):
        ikefast.message(bytes(16), 34, 0, 0, *args[:2])
    with pytest.raises(ValueError):
        ikefast.message(bytes(15), 34, 0, 0, b"", [])
