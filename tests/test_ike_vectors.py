"""IKEv2 key derivation against official vectors (test-vectors.md §3: NIST CAVP SP 800-135
IKEv2 KDF as shipped by strongSwan) and the NAT-D hash (§7)."""

from __future__ import annotations

import pytest
from dsmip6.ikev2 import keys, transforms
from dsmip6.ikev2.constants import EncrId, IntegId, PrfId
from dsmip6.ikev2.sa import nat_hash


def h(s: str) -> bytes:
    return bytes.fromhex("".join(s.split()))


SKEYSEED_VECTORS = [
    (
        PrfId.HMAC_SHA2_256,
        "ed80dc79912c32a935fb6d1a3feac078",
        """42968e5d0ccc3cfc5a3e4bc1bba370cea1fae0d54c49ccba34b2bee804beeb2e
           9e8c57a4e01bd45102cf2433aacc6cfec06792f363e5170e6aa6650274e90664
           8e449d27a8f00b5b44261982c9835c748a751ec5138eaacc5e025661339538a6
           1bf418e454699e19c32db8d9ce5dd86b220f1e89afc5872e68be36cb1a0c8866""",
        "37fde90b81d63692620f67367b62092e3efdc6a03509137d731004767ff35010",
    ),
    (
        PrfId.HMAC_SHA2_384,
        "d672b0bc852829b93509f3b724706364",
        """4df040b70978629c49437cff41a0d46cbea68c8d75b370ffc11d7b387144ea83
           bb5903fbb92e473df50a9b19ea43e9c2f3da9a849c03864276c6f264ecf02a60
           d40ba65c06656b633f02a87427e928eb66a2dabd9dc05744717bcaf7ae78c296
           872f5c48d1a8120c2155b70c565ce271998e3e44af263d487ea3ba7f56132d7d""",
        "54436a9ea95d6ff79b967f4b07f6de976a376e8ea26aa9574709afc60243c9c1"
        "41da4ca0e158e627a75ea87f6feb07ef",
    ),
    (
        PrfId.HMAC_SHA2_512,
        "df7931db9b429e10b8aa8e4d46042393",
        """1e3b007d2da913ca60ecc98c25a22db08073d5c35c11b2524b298a922b6abfe6
           acf7359db66ae5f85d67aacff686419cd8666d05ae7977cefad7f54dd8e312a8
           e8e5e0370f88142fbdd659dd6fde22bdd531f5402881a8de85c1024e595ec93c
           575618af7fd3dbac7982919078d71cc13eff1910a032750e1ff428675de189ee""",
        "daf9bd6f2f912da553867966af386e67909a8df0ca7e84b83b355cb7d7f1026f"
        "17d8ea34b5d57fd0d1ba389528fca1e81d1c8ce511b28a2458241143fee30ccc",
    ),
]


@pytest.mark.parametrize(("prf_id", "nonces", "gir", "expected"), SKEYSEED_VECTORS)
def test_skeyseed_cavp(prf_id, nonces, gir, expected):
    prf = transforms.PRFS[prf_id]
    n = h(nonces)
    assert keys.skeyseed(prf, n[:8], n[8:], h(gir)) == h(expected)


PRF_PLUS_VECTORS = [
    (
        PrfId.HMAC_SHA2_256,
        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "4869205468657265",
        "b9bdc08988b4c2b75aa93e596ac84205fa2ddde1bf7a2572067b00e14b237732830509981ad2f94a8c32a47d"
        "aa2255b660c436347ae756a6edc023477d809590e682f61d9c04b06b4ad971a34c8147fa66792ff1434b93c7"
        "22b32e12f48832ebc15ce2369ce71fe9b7b81e5704c14d0f5280a6ec626e992d7a9f",
    ),
    (
        PrfId.HMAC_SHA2_256,
        "37fde90b81d63692620f67367b62092e3efdc6a03509137d731004767ff35010",
        "ed80dc79912c32a935fb6d1a3feac07847c1858efc932ea4606fd05609624002",
        "63d018a08f7a29daa7d1f92cb63f45fa39bbaf5e5f1a78139613bb891e3e6bf9d0448f7c74e05b4c1a25c0b6"
        "1e62c875e852f287e192d4ae536112db5197216400bd5e123470efc15f53161865fe8b19a1416518a157d651"
        "ecd2caddab6a9eae6a27a55af088218d5156edaa9789f934d9836ed43edffda553822202ff9f7d4860ca72e0",
    ),
    (
        PrfId.HMAC_SHA2_384,
        "54436a9ea95d6ff79b967f4b07f6de976a376e8ea26aa9574709afc60243c9c141da4ca0e158e627a75ea87f"
        "6feb07ef",
        "d672b0bc852829b93509f3b7247063640f9a016d7b22223c85f710daf8b982d8",
        "10b00a654643b3b985764f86e23ef62431122fcc96de16e338a372bee49391db1f83a7358c080380abbf4af4"
        "7cdb83b9530343168f7dbc9221260e1546c6b383e2235d2705a727f0b41aebf6a1b4c61cb460660152a17ba7"
        "4c20d5191ba6841794945270d829587b7f3294639ea7b77149e1d07230ac16e0cd5ab236fa3212bd569ee70f",
    ),
    (
        PrfId.HMAC_SHA2_512,
        "daf9bd6f2f912da553867966af386e67909a8df0ca7e84b83b355cb7d7f1026f17d8ea34b5d57fd0d1ba3895"
        "28fca1e81d1c8ce511b28a2458241143fee30ccc",
        "df7931db9b429e10b8aa8e4d460423939ba40af9157f47925383c7cd3d1046e6",
        "919a75deaeccbd393bebc89615f8a215edb7073b2319d86740221eee7a2deb92509044d7e61fcb1bf9676b38"
        "81c7ced49e6bba1549da3113601677a2445d91ac13a597335782dd3a9cf496d9e19b932f27dd35e36f8070d2"
        "32d0a3b3f4c4a0b4ba4470778dc090f31f52ab1b6d81e4c7dfb35063ad96c327adcdbde714cc9a6b5ef049b8",
    ),
]


@pytest.mark.parametrize(("prf_id", "key", "seed", "expected"), PRF_PLUS_VECTORS)
def test_prf_plus_cavp(prf_id, key, seed, expected):
    prf = transforms.PRFS[prf_id]
    want = h(expected)
    assert prf.plus(h(key), h(seed), len(want)) == want


@pytest.mark.parametrize("prf_id", sorted(transforms.PRFS))
def test_prf_plus_of_every_length_is_the_stream_of_section_2_13(prf_id):
    """prf+ for every length up to four blocks (and the 255-block limit) is the prefix of
    T1 | T2 | ... computed from RFC 7296 §2.13 with the standard library's HMAC."""
    import hashlib
    import hmac as std_hmac

    prf = transforms.PRFS[prf_id]
    digest = getattr(hashlib, prf.hash.name.replace("-", ""))
    key, seed = b"k" * 20, bytes(range(40))
    stream, t = b"", b""
    for n in range(1, 256):
        t = std_hmac.new(key, t + seed + bytes((n,)), digest).digest()
        stream += t
    assert len(stream) == 255 * prf.key_size
    for length in [*range(4 * prf.key_size + 2), 255 * prf.key_size]:
        assert prf.plus(key, seed, length) == stream[:length], length


def test_key_split_follows_cavp_stream():
    """derive_ike_keys cuts prf+ in the §2.14 order: SK_d | SK_ai | SK_ar | SK_ei | SK_er | ..."""
    prf = transforms.PRFS[PrfId.HMAC_SHA2_256]
    seed = h(PRF_PLUS_VECTORS[1][1])
    s = h(PRF_PLUS_VECTORS[1][2])
    stream = h(PRF_PLUS_VECTORS[1][3])
    enc = transforms.encr(EncrId.AES_CBC, 128)
    integ = transforms.INTEGS[IntegId.HMAC_SHA2_256_128]
    k = keys.derive_ike_keys(prf, enc, integ, seed, s[:8], s[8:16], s[16:24], s[24:32])
    assert k.sk_d == stream[:32]
    assert k.sk_ai == stream[32:64]
    assert k.sk_ar == stream[64:96]
    assert k.sk_ei == stream[96:112]
    assert k.sk_er == stream[112:128]
    assert k.sk_pi[:4] == stream[128:132]


def test_prf_plus_refuses_more_than_255_blocks():
    prf = transforms.PRFS[PrfId.HMAC_SHA2_256]
    assert len(prf.plus(b"k", b"s", 255 * 32)) == 255 * 32
    with pytest.raises(ValueError):
        prf.plus(b"k", b"s", 255 * 32 + 1)


def test_nat_detection_hash_vector():
    got = nat_hash(h("0123456789abcdef"), bytes(8), ("192.0.2.1", 500))
    assert got == h("9426429034924268452f8e3ff79fb69e2a8d71eb")


def test_dh_groups_agree_and_have_rfc_sizes():
    from dsmip6.ikev2.constants import DhId

    sizes = {DhId.MODP_2048: 256, DhId.ECP_256: 64, DhId.ECP_384: 96, DhId.CURVE25519: 32}
    secret_sizes = {DhId.MODP_2048: 256, DhId.ECP_256: 32, DhId.ECP_384: 48, DhId.CURVE25519: 32}
    for group, size in sizes.items():
        a = transforms.dh_generate(group, lambda n: bytes(range(1, n + 1)))
        b = transforms.dh_generate(group, lambda n: bytes((7 * i + 3) % 256 for i in range(n)))
        assert len(a.public) == len(b.public) == size
        s1, s2 = a.shared(b.public), b.shared(a.public)
        assert s1 == s2 and len(s1) == secret_sizes[group]


def test_sha1_in_use_is_the_extensions_and_equals_cryptographys():
    # NAT detection and CERTREQ hashes go through RustCrypto's SHA-1 in the extension; it
    # must give cryptography's digest for every length around the 64-octet block boundaries
    # (and the FIPS 180 "abc" example).
    from cryptography.hazmat.primitives import hashes
    from dsmip6._core import aka as core_aka

    assert transforms.sha1 is core_aka.sha1
    assert transforms.sha1(b"abc").hex() == "a9993e364706816aba3e25717850c26c9cd0d89d"
    for n in range(0, 200):
        data = bytes((7 * i + n) & 0xFF for i in range(n))
        ref = hashes.Hash(hashes.SHA1())
        ref.update(data)
        assert transforms.sha1(data) == ref.finalize()


@pytest.mark.parametrize("prf_id", sorted(transforms.PRFS))
def test_prf_from_a_keyed_hmac_equals_the_prf(prf_id):
    # Prf.keyed / with_keyed (one key schedule, copied per value) against the plain PRF, for
    # keys shorter than, equal to and longer than the hash block, and the keyed HMAC reused
    prf = transforms.PRFS[prf_id]
    for klen in (0, 16, 64, 128, 129):
        key = bytes((5 * i + klen) & 0xFF for i in range(klen))
        keyed = prf.keyed(key)
        for n in (0, 1, 63, 64, 200):
            data = bytes((3 * i) & 0xFF for i in range(n))
            assert prf.with_keyed(keyed, data) == prf(key, data)


def test_msk_auth_is_prf_of_the_key_pad_prf():
    # RFC 7296 §2.15-2.16: AUTH = prf(prf(MSK, "Key Pad for IKEv2"), octets), computed here
    # with cryptography's HMAC directly, against IkeAuth's keyed-HMAC computation
    from cryptography.hazmat.primitives import hashes, hmac
    from dsmip6.ikev2.tasks.ike_auth import IkeAuth

    def h(key: bytes, data: bytes) -> bytes:
        m = hmac.HMAC(key, hashes.SHA256())
        m.update(data)
        return m.finalize()

    class _Sa:
        prf = transforms.PRFS[PrfId.HMAC_SHA2_256]

    auth = IkeAuth(_Sa(), False)  # type: ignore[arg-type]
    auth.msk = bytes(range(64))
    # the keyed HMAC is copied for the first value, finished itself for the second, keyed
    # again for a third: each value must be the plain computation's
    for octets in (b"", b"signed octets" * 20, bytes(300), b"x", bytes(64)):
        want = h(h(auth.msk, b"Key Pad for IKEv2"), octets)
        assert auth._msk_auth(octets) == want
