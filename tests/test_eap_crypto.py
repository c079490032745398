"""EAP-AKA key schedule primitives against official vectors.

FIPS 186-2 PRF example, RFC 4186 Appendix A (key schedule, AT_MAC on a request and a response,
AT_ENCR_DATA), the EAP-AKA + Milenage chain of test-vectors.md §5 and RFC 5448 Appendix C.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from dsmip6.aka import Milenage, Usim
from dsmip6.eap import _crypto
from dsmip6.eap._packet import Attribute, AtType, EapPacket, parse_attributes

# --- SHA-1 compression: both implementations against cryptography's full SHA-1 ----------


def _one_block_padded(message: bytes) -> bytes:
    assert len(message) <= 55
    return message + b"\x80" + bytes(55 - len(message)) + struct.pack(">Q", 8 * len(message))


@pytest.mark.parametrize("length", [0, 1, 20, 55])
def test_sha1_compress_matches_library_sha1(length):
    message = bytes((7 * i + 3) & 0xFF for i in range(length))
    h = hashes.Hash(hashes.SHA1())
    h.update(message)
    want = h.finalize()
    block = _one_block_padded(message)
    assert _crypto.sha1_compress(block) == want
    assert _crypto._sha1_compress_python(_crypto._SHA1_IV, block) == want


def test_sha1_compress_two_blocks_chaining():
    message = bytes(range(100))
    h = hashes.Hash(hashes.SHA1())
    h.update(message)
    want = h.finalize()
    padded = message + b"\x80" + bytes((55 - len(message)) % 64) + struct.pack(">Q", 800)
    assert len(padded) == 128
    state = struct.unpack(">5I", _crypto.sha1_compress(padded[:64]))
    assert _crypto.sha1_compress(padded[64:], state) == want
    py_state = struct.unpack(">5I", _crypto._sha1_compress_python(_crypto._SHA1_IV, padded[:64]))
    assert _crypto._sha1_compress_python(py_state, padded[64:]) == want


def test_backend_is_openssl_on_this_machine():
    # hostap's OpenSSL back end takes the same route (SHA1_Transform); the Python fallback
    # exists only for a libcrypto without the low-level API.
    assert _crypto.sha1_compress_backend() == "openssl-SHA1_Transform"


def test_sha1_compress_rejects_wrong_block():
    with pytest.raises(ValueError):
        _crypto.sha1_compress(bytes(63))


# --- FIPS 186-2 PRF (test-vectors.md §4.1) -----------------------------------------------


def test_fips186_2_prf_nist_example():
    xkey = bytes.fromhex("bd029bbe7f51960bcf9edb2b61f06f0feb5a38b6")
    out = _crypto.fips186_2_prf(xkey, 40)
    assert out.hex() == (
        "2070b3223dba372fde1c0ffc7b2e3b498b2606143c6c18bacb0f6c55babb13788e20d737a3275116"
    )
    assert _crypto.fips186_2_prf(xkey, 160)[:40] == out
    # The pure-Python fallback path gives the same output.
    assert _crypto._python_prf(xkey, 160) == _crypto.fips186_2_prf(xkey, 160)
    with pytest.raises(ValueError):
        _crypto.fips186_2_prf(xkey[:19], 40)


def test_fips186_2_prf_rust_loop_matches_the_openssl_and_python_compressions():
    # The generator in the Rust extension (RustCrypto's sha1::compress as G) is the one in use,
    # and gives the ctypes/OpenSSL and the pure-Python loops' octets for XKEYs whose
    # update (1 + XKEY + w) mod 2^160 carries through every octet or wraps.
    from dsmip6._core import aka as core_aka

    assert _crypto.prf_backend() == "rust-sha1-compress"
    assert _crypto._sha1 is core_aka.sha1  # MK = SHA1(Identity | IK | CK), RustCrypto's
    for n in (0, 20, 55, 56, 63, 64, 65, 150):
        data = bytes(range(n))
        assert core_aka.sha1(data) == _crypto._cryptography_sha1(data)
    assert _crypto.sha1_compress_backend() == "openssl-SHA1_Transform"
    openssl_prf = _crypto._loaded[1]
    xkeys = [bytes(20), b"\xff" * 20, bytes(range(0xEC, 0x100)), b"\x00" * 19 + b"\x01"]
    xkeys += [hashlib.sha1(bytes([i])).digest() for i in range(40)]
    for xkey in xkeys:
        for length in (0, 1, 20, 39, 100, 160):
            got = core_aka.fips186_2_prf(xkey, length)
            assert got == openssl_prf(xkey, length) == _crypto._python_prf(xkey, length)
            assert _crypto.fips186_2_prf(xkey, length) == got
        head, nxt = core_aka.fips186_2_prf_state(xkey, 100)
        assert head + core_aka.fips186_2_prf(nxt, 60) == _crypto._python_prf(xkey, 160)
    for bad in (b"", bytes(19), bytes(21)):
        with pytest.raises(ValueError):
            core_aka.fips186_2_prf(bad, 20)
        with pytest.raises(ValueError):
            core_aka.fips186_2_prf_state(bad, 20)
    with pytest.raises(ValueError):
        core_aka.fips186_2_prf(bytes(20), 4097)
    with pytest.raises((OverflowError, ValueError, TypeError)):
        core_aka.fips186_2_prf(bytes(20), -1)


# --- RFC 4186 Appendix A ------------------------------------------------------------------

RFC4186_MK = bytes.fromhex("e576d5ca332e9930018bf1baee2763c795b3c712")
RFC4186_K_ENCR = bytes.fromhex("536e5ebc4465582aa6a8ec9986ebb620")
RFC4186_K_AUT = bytes.fromhex("25af1942efcbf4bc72b3943421f2a974")
RFC4186_MSK = bytes.fromhex(
    "39d45aeaf4e30601983e972b6cfd46d1c363773365690d09cd44976b525f47d3"
    "a60a985e955c53b090b2e4b73719196a402542968fd14a888f46b9a7886e4488"
)
RFC4186_EMSK = bytes.fromhex(
    "5949eab0fff69d52315c6c634fd14a7f0d52023d56f79698fa6596abeed4f93f"
    "bb48eb534d985414ceed0d9a8ed33c387c9dfdab92ffbdf240fcecf65a2c93b9"
)
RFC4186_REQUEST = bytes.fromhex(
    "01020118120b0000010d0000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
    "303132333435363738393a3b3c3d3e3f810500009e18b0c29a652263c06efb54dd00a895822d000055f2939b"
    "bdb1b19ea1b47fc0b3e0be4cab2cf7372d98e3023c6bb92415723d58bad66ce084e101b60f5358354bd42182"
    "78aea7bf2cbace33106aeddc625b0c1d5aa67a41739ae5b57950973fc7ff8301073c6f953150fc303ea152d1"
    "e10a2d1f4f5226daa1ee9005472252bdb3b71d6f0c3a3490316c46929871bd45cdfdbca6112f07f8be717990"
    "d25f6dd7f2b7b320bf4d5a992e880331d729945aec75ae5d43c8eda5fe6233fcac494ee67a0d504d0b050000"
    "fef324ac3962b59f3bd78253ae4dcb6a"
)
NONCE_MT = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_rfc4186_key_schedule():
    # EAP-SIM's MK differs from EAP-AKA's, but MK -> K_encr/K_aut/MSK/EMSK is the same PRF.
    ks = _crypto.fips186_2_prf(RFC4186_MK, 160)
    assert ks[0:16] == RFC4186_K_ENCR
    assert ks[16:32] == RFC4186_K_AUT
    assert ks[32:96] == RFC4186_MSK
    assert ks[96:160] == RFC4186_EMSK


def _sim_attributes(packet: bytes) -> dict[int, Attribute]:
    # EAP-SIM attributes share the TLV layout but not all sizes (AT_RAND carries n RANDs), so
    # split them by hand here; the AKA codec's size table would rightly refuse them.
    pkt = EapPacket.parse(packet)
    data, pos, out = pkt.type_data[3:], 0, {}
    while pos < len(data):
        length = 4 * data[pos + 1]
        out[data[pos]] = Attribute(data[pos], data[pos + 2 : pos + length], 8 + pos)
        pos += length
    return out


def test_rfc4186_at_mac_request():
    attrs = _sim_attributes(RFC4186_REQUEST)
    mac = attrs[AtType.AT_MAC]
    assert mac.payload.hex() == "fef324ac3962b59f3bd78253ae4dcb6a"
    assert _crypto.verify_mac(RFC4186_K_AUT, RFC4186_REQUEST, mac.offset + 4, NONCE_MT)
    assert not _crypto.verify_mac(RFC4186_K_AUT, RFC4186_REQUEST, mac.offset + 4)
    zeroed = RFC4186_REQUEST[: mac.offset + 4] + bytes(16)
    assert _crypto.compute_mac(RFC4186_K_AUT, zeroed, NONCE_MT) == mac.payload


def test_rfc4186_at_mac_response():
    packet = bytes.fromhex("0202001c120b00000b050000f56d6433e68ed2976ac11937fc3d1154")
    sres = bytes.fromhex("d1d2d3d4e1e2e3e4f1f2f3f4")
    assert _crypto.verify_mac(RFC4186_K_AUT, packet, 12, sres)
    tampered = packet[:-1] + b"\x55"
    assert not _crypto.verify_mac(RFC4186_K_AUT, tampered, 12, sres)
    assert not _crypto.verify_mac(RFC4186_K_AUT, packet, 20, sres)  # MAC past the end


def test_rfc4186_at_encr_data():
    attrs = _sim_attributes(RFC4186_REQUEST)
    iv = attrs[AtType.AT_IV].payload
    assert iv.hex() == "9e18b0c29a652263c06efb54dd00a895"
    ciphertext = attrs[AtType.AT_ENCR_DATA].payload
    assert len(ciphertext) == 176
    plain = _crypto.decrypt_data(RFC4186_K_ENCR, iv, ciphertext)
    assert plain[:8].hex() == "8413004677387734"
    inner = parse_attributes(plain)
    assert [a.type for a in inner] == [
        AtType.AT_NEXT_PSEUDONYM,
        AtType.AT_NEXT_REAUTH_ID,
        AtType.AT_PADDING,
    ]
    assert inner[0].payload == (
        b"w8w49PexCazWJ&xCIARmxuMKht5S1sxRDqXSEFBEg3DcZP9cIxTe5J4OyIwNGVzxeJOU1G"
    )
    # And back: re-encrypting the plaintext gives the same octets.
    assert _crypto.encrypt_data(RFC4186_K_ENCR, iv, plain) == ciphertext
    with pytest.raises(ValueError):
        _crypto.decrypt_data(RFC4186_K_ENCR, iv, ciphertext[:-1])


# --- EAP-AKA with Milenage (test-vectors.md §5) -------------------------------------------

SET3_K = bytes.fromhex("fec86ba6eb707ed08905757b1bb44b8f")
SET3_OP = bytes.fromhex("dbc59adcb6f9a0ef735477b7fadf8374")
SET3_RAND = bytes.fromhex("9f7c8d021accf4db213ccff0c7f71a6a")
IDENTITY = b"0001010000000001@nai.epc.mnc001.mcc001.3gppnetwork.org"


def test_lazy_emsk_continues_the_prf_exactly():
    """``derive_keys`` computes the PRF up to the MSK and derives the EMSK when first read,
    by continuing the FIPS 186-2 generator: the octets equal the whole eight-block output."""
    import hashlib

    for i in range(20):
        ident, ik, ck = f"id{i}".encode(), bytes([i]) * 16, bytes([255 - i]) * 16
        keys = _crypto.derive_keys(ident, ik, ck)
        ks = _crypto.fips186_2_prf(hashlib.sha1(ident + ik + ck).digest(), 160)
        assert keys.mk == hashlib.sha1(ident + ik + ck).digest()
        assert (keys.k_encr, keys.k_aut, keys.msk) == (ks[0:16], ks[16:32], ks[32:96])
        assert keys._emsk_rest is not None  # not derived yet
        assert keys.emsk == ks[96:160] and keys._emsk_rest is None
        eager = _crypto.EapAkaKeys(keys.mk, ks[0:16], ks[16:32], ks[32:96], ks[96:160])
        assert eager == _crypto.derive_keys(ident, ik, ck)  # value semantics, lazy or not
        assert eager != _crypto.derive_keys(ident + b"x", ik, ck)
        assert "EapAkaKeys(" in repr(keys) and ks.hex() not in repr(keys)


def test_eap_aka_key_schedule_with_milenage():
    res, ck, ik, _ak = Milenage(SET3_K, op=SET3_OP).f2345(SET3_RAND)
    keys = _crypto.derive_keys(IDENTITY, ik, ck)
    assert keys.mk.hex() == "ed67e19fe7c56bab3c9d48c1f0c49d17701b1b72"
    assert keys.k_encr.hex() == "e60c9f655a469f29176880c2b3120605"
    assert keys.k_aut.hex() == "cfcfb9d5b0b5bc1da2707d5901a23239"
    assert keys.msk.hex() == (
        "18d4147b84e4160b80ba6adf31a89ddd6b122c7c87764d98790e20d93ed4ff3b"
        "0c5bdf50013f018f94121a1754d37dd51ff84dcaf301a4f7a082f900c23c8e17"
    )
    assert keys.emsk.hex() == (
        "0c54a6348556c62d7bb843cd5400ac18b41e261c4a3a7d1fd9521e191082d5b7"
        "6eb1055283fc494bb726bdc84403b2a7eb7aef0ae721e43a31a7b5c27f31b04d"
    )
    zeroed = bytes.fromhex(
        "022a002817010000030300408011c48c0c214ed20b05000000000000000000000000000000000000"
    )
    assert res.hex() == "8011c48c0c214ed2"
    mac = _crypto.compute_mac(keys.k_aut, zeroed)
    assert mac.hex() == "20b334181a325c4c861a58065377e286"


# --- EAP-AKA' (RFC 5448 Appendix C) ------------------------------------------------------


def _aka_prime_cases() -> list[dict[str, str]]:
    cases: list[dict[str, str]] = []
    path = Path(__file__).parent / "data" / "rfc5448_vectors.txt"
    for line in path.read_text().splitlines():
        if line.startswith("[case"):
            cases.append({})
        elif "=" in line and not line.startswith("#"):
            key, value = (part.strip() for part in line.split("=", 1))
            cases[-1][key] = value
    return cases


AKA_PRIME = _aka_prime_cases()


@pytest.mark.parametrize("case", AKA_PRIME, ids=[f"case{i + 1}" for i in range(len(AKA_PRIME))])
def test_aka_prime_key_derivation(case):
    h = bytes.fromhex
    ck_p, ik_p = _crypto.aka_prime_ck_ik(
        h(case["CK"]), h(case["IK"]), case["Network name"].encode(), h(case["AUTN"])[:6]
    )
    assert ck_p == h(case["CK'"])
    assert ik_p == h(case["IK'"])
    keys = _crypto.derive_keys_prime(case["Identity"].encode(), ik_p, ck_p)
    assert keys.k_encr == h(case["K_encr"])
    assert keys.k_aut == h(case["K_aut"])
    assert keys.k_re == h(case["K_re"])
    assert keys.msk == h(case["MSK"])
    assert keys.emsk == h(case["EMSK"])


def test_aka_prime_cases_1_2_are_milenage_set19():
    # RFC 5448 cases 1 and 2 are an AKA run with TS 35.208 Test Set 19: our USIM must
    # produce the same RES/CK/IK from their RAND/AUTN.
    k = bytes.fromhex("5122250214c33e723a5dd523fc145fc0")
    opc = bytes.fromhex("981d464c7c52eb6e5036234984ad0bcf")
    case = AKA_PRIME[0]
    usim = Usim(k, opc, sqn=0x16F3B3F70FC2 - 64)
    result = usim.authenticate(bytes.fromhex(case["RAND"]), bytes.fromhex(case["AUTN"]))
    assert result.ok
    assert result.res == bytes.fromhex(case["RES"])
    assert result.ck == bytes.fromhex(case["CK"])
    assert result.ik == bytes.fromhex(case["IK"])


def test_checkcode():
    assert _crypto.checkcode([]) == b""
    a, b = b"\x01\x02\x00\x0c\x17\x05\x00\x00\x0a\x01\x00\x00", b"\x02\x02\x00\x08\x17\x05\x00\x00"
    h = hashes.Hash(hashes.SHA1())
    h.update(a + b)
    assert _crypto.checkcode([a, b]) == h.finalize()
    h2 = hashes.Hash(hashes.SHA256())
    h2.update(a + b)
    assert _crypto.checkcode([a, b], prime=True) == h2.finalize()


@pytest.mark.parametrize("prime", [False, True])
def test_mac_from_a_keyed_context_equals_the_plain_mac(prime):
    # compute_mac / verify_mac with keyed=mac_context(k_aut) (one key schedule, copied per
    # MAC) give the plain HMAC's values, the context reused, a wrong MAC still refused
    for klen in (16, 32):
        k_aut = bytes((7 * i + klen) & 0xFF for i in range(klen))
        keyed = _crypto.mac_context(k_aut, prime=prime)
        for n in (20, 64, 100, 300):
            packet = bytes((3 * i + n) & 0xFF for i in range(n))
            zeroed = packet[:4] + bytes(16) + packet[20:]  # the MAC field at 4..20
            for extra in (b"", b"nonce-s" * 3):
                want = _crypto.compute_mac(k_aut, zeroed, extra, prime=prime)
                got = _crypto.compute_mac(k_aut, zeroed, extra, prime=prime, keyed=keyed)
                assert got == want
                signed = packet[:4] + want + packet[20:]
                assert _crypto.verify_mac(k_aut, signed, 4, extra, prime=prime, keyed=keyed)
                bad = signed[:4] + bytes([signed[4] ^ 1]) + signed[5:]
                assert not _crypto.verify_mac(k_aut, bad, 4, extra, prime=prime, keyed=keyed)
