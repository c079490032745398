"""Transform implementations: DH groups, PRFs, integrity and encryption (RFC 7296 §3.3.2).

All primitives come from ``cryptography``. Private keys are derived from bytes of the injected
``rng`` so the engine stays deterministic under test (STYLE §1: no randomness inside).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import dh, ec, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from dsmip6.eap._crypto import _sha1
from dsmip6.errors import IntegrityCheckFailed, MalformedPacket
from dsmip6.ikev2.constants import DhId, EncrId, IntegId, PrfId

Rng = Callable[[int], bytes]
_CHACHA20_POLY1305 = EncrId.CHACHA20_POLY1305  # the member, read once (enum reads are slow)

# cryptography >= 46 marks finite-field DH deprecated (module attribute access warns). Group 14
# is still what IKEv2 peers (and the 3GPP profile) negotiate, so we take the classes once here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _DHParameterNumbers = dh.DHParameterNumbers
    _DHPublicNumbers = dh.DHPublicNumbers
    _DHPrivateNumbers = dh.DHPrivateNumbers

# RFC 3526 §3: the 2048-bit MODP group (group 14), generator 2. A published constant.
MODP_2048_P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    16,
)

_HASHES: dict[int, type[hashes.HashAlgorithm]] = {
    PrfId.HMAC_SHA1: hashes.SHA1,
    PrfId.HMAC_SHA2_256: hashes.SHA256,
    PrfId.HMAC_SHA2_384: hashes.SHA384,
    PrfId.HMAC_SHA2_512: hashes.SHA512,
}


_HASH_INSTANCES: dict[type[hashes.HashAlgorithm], hashes.HashAlgorithm] = {
    h: h() for h in (hashes.SHA1, hashes.SHA256, hashes.SHA384, hashes.SHA512)
}  # stateless algorithm descriptors, built once instead of per PRF call


def hmac_digest(algorithm: type[hashes.HashAlgorithm], key: bytes, data: bytes) -> bytes:
    inst = _HASH_INSTANCES.get(algorithm)
    h = hmac.HMAC(key, inst if inst is not None else algorithm())
    h.update(data)
    return h.finalize()


sha1: Callable[[bytes], bytes] = _sha1
"""SHA-1 (NAT detection, CERTREQ hashes): the one ``dsmip6.eap._crypto`` picks at import
(RustCrypto's in the extension when it agrees with ``cryptography``'s, else ``cryptography``'s;
the guide's rule: ``cryptography`` in Python, RustCrypto in Rust)."""


# ---------------------------------------------------------------------------------------------
# PRF (§3.3.2 Transform Type 2)


@dataclass(frozen=True)
class Prf:
    id: int
    hash: type[hashes.HashAlgorithm]
    key_size: int
    """Preferred key length = output length for HMAC PRFs (§2.13)."""

    def __call__(self, key: bytes, data: bytes) -> bytes:
        h = hmac.HMAC(key, _HASH_INSTANCES[self.hash])  # one frame less than hmac_digest
        h.update(data)
        return h.finalize()

    def keyed(self, key: bytes) -> hmac.HMAC:
        """An HMAC keyed once with ``key``, for several PRF values under that key
        (``with_keyed``: each copies it, one key schedule for all)."""
        inst = _HASH_INSTANCES.get(self.hash)
        return hmac.HMAC(key, inst if inst is not None else self.hash())

    @staticmethod
    def with_keyed(keyed: hmac.HMAC, data: bytes) -> bytes:
        """prf(key, data) from ``keyed(key)`` (the keyed HMAC itself stays unused)."""
        h = keyed.copy()
        h.update(data)
        return h.finalize()

    def plus(self, key: bytes, seed: bytes, length: int) -> bytes:
        """prf+ (§2.13): T1 = prf(K, S|0x01), Tn = prf(K, Tn-1|S|n); at most 255 blocks.

        The HMAC is keyed once and copied per block (same outputs, one key schedule); the
        blocks needed are counted beforehand (``key_size`` is the HMAC's output length) and
        each block's counter octet comes from a table."""
        size = self.key_size
        if length > 255 * size:
            raise ValueError("prf+ output limit (255 blocks) exceeded")
        inst = _HASH_INSTANCES.get(self.hash)
        keyed = hmac.HMAC(key, inst if inst is not None else self.hash())
        if length <= size:  # one block: the keyed HMAC itself, no copy
            keyed.update(seed + b"\x01")
            return keyed.finalize()[:length]
        copy = keyed.copy
        h = copy()
        h.update(seed + b"\x01")
        t = h.finalize()
        out = [t]
        # blocks 2..n-1 from copies, the last one from the keyed HMAC itself (one copy less)
        for n in _COUNTERS[2 : (length + size - 1) // size]:
            h = copy()
            h.update(t + seed + n)
            t = h.finalize()
            out.append(t)
        keyed.update(t + seed + _COUNTERS[(length + size - 1) // size])
        out.append(keyed.finalize())
        return b"".join(out)[:length]


_COUNTERS = tuple(bytes((n,)) for n in range(256))
"""prf+'s block counter octets, by value."""


PRFS: dict[int, Prf] = {
    pid: Prf(pid, h, h.digest_size)  # type: ignore[arg-type]
    for pid, h in _HASHES.items()
}


# ---------------------------------------------------------------------------------------------
# Integrity (Transform Type 3)


@dataclass(frozen=True)
class Integ:
    id: int
    hash: type[hashes.HashAlgorithm]
    key_size: int
    icv_size: int

    def mac(self, key: bytes, data: bytes) -> bytes:
        return hmac_digest(self.hash, key, data)[: self.icv_size]


INTEGS: dict[int, Integ] = {
    IntegId.HMAC_SHA1_96: Integ(IntegId.HMAC_SHA1_96, hashes.SHA1, 20, 12),
    IntegId.HMAC_SHA2_256_128: Integ(IntegId.HMAC_SHA2_256_128, hashes.SHA256, 32, 16),
    IntegId.HMAC_SHA2_384_192: Integ(IntegId.HMAC_SHA2_384_192, hashes.SHA384, 48, 24),
    IntegId.HMAC_SHA2_512_256: Integ(IntegId.HMAC_SHA2_512_256, hashes.SHA512, 64, 32),
}


# ---------------------------------------------------------------------------------------------
# Encryption (Transform Type 1). AEADs per RFC 5282 (GCM) and RFC 7634 (ChaCha20-Poly1305):
# key material = key ‖ 4-octet salt, 8-octet explicit IV, nonce = salt ‖ IV.


@dataclass(frozen=True)
class Encr:
    id: int
    key_bits: int
    aead: bool
    iv_size: int
    block_size: int
    icv_size: int = 0
    salt_size: int = 0

    @property
    def key_size(self) -> int:
        """Octets of keying material (key plus salt for AEADs)."""
        return self.key_bits // 8 + self.salt_size

    def aead_cipher(self, key: bytes) -> tuple[AESGCM | ChaCha20Poly1305, bytes]:
        """(keyed AEAD, 4-octet salt) for keying material = key | salt (RFC 5282 §7.1)."""
        k = self.key_bits // 8
        if self.id == _CHACHA20_POLY1305:
            return ChaCha20Poly1305(key[:k]), key[k:]
        return AESGCM(key[:k]), key[k:]

    def aead_context(self, key: bytes) -> AeadContext:
        """An AEAD keyed once (key schedule done once per SA direction)."""
        k = self.key_bits // 8
        cipher = ChaCha20Poly1305(key[:k]) if self.id == _CHACHA20_POLY1305 else AESGCM(key[:k])
        return AeadContext(cipher, key[k:])

    def cbc_encrypt(self, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return enc.update(plaintext) + enc.finalize()

    def cbc_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        if len(ciphertext) % self.block_size:
            raise MalformedPacket("ciphertext not a multiple of the block size", 0, "bad-length")
        dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        return dec.update(ciphertext) + dec.finalize()


class AeadContext:
    """AES-GCM-16 / ChaCha20-Poly1305 with a fixed key and salt; nonce = salt | 8-octet IV."""

    __slots__ = ("_cipher", "_salt")

    def __init__(self, cipher: AESGCM | ChaCha20Poly1305, salt: bytes) -> None:
        self._cipher = cipher
        self._salt = salt

    def seal(self, iv: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._cipher.encrypt(self._salt + iv, plaintext, aad)

    def open(self, iv: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        try:
            return self._cipher.decrypt(self._salt + iv, ciphertext, aad)
        except InvalidTag:
            raise IntegrityCheckFailed("SK payload ICV did not verify") from None


def encr(encr_id: int, key_bits: int | None) -> Encr | None:
    """The encryption transform for (id, Key Length attribute), or None if unsupported."""
    if encr_id == EncrId.AES_CBC and key_bits in (128, 192, 256):
        return Encr(encr_id, key_bits, False, 16, 16)
    if encr_id == EncrId.AES_GCM_16 and key_bits in (128, 192, 256):
        return Encr(encr_id, key_bits, True, 8, 1, 16, 4)
    if encr_id == EncrId.CHACHA20_POLY1305 and key_bits in (None, 256):
        return Encr(encr_id, 256, True, 8, 1, 16, 4)
    return None


_ENCR_CACHE: dict[tuple[int, int | None], Encr | None] = {}


def encr_cached(encr_id: int, key_bits: int | None) -> Encr | None:
    """``encr()`` with the (immutable) result shared: one object per transform, not per SA."""
    key = (encr_id, key_bits)
    try:
        return _ENCR_CACHE[key]
    except KeyError:
        e = _ENCR_CACHE[key] = encr(encr_id, key_bits)
        return e


# ---------------------------------------------------------------------------------------------
# Diffie-Hellman (Transform Type 4)


class DhPrivate:
    """One ephemeral DH key pair. ``public`` is the KE data; ``shared(peer)`` is g^ir (§2.14)."""

    group: int

    @property
    def public(self) -> bytes:
        raise NotImplementedError

    def shared(self, peer: bytes) -> bytes:
        raise NotImplementedError


class _Modp(DhPrivate):
    def __init__(self, group: int, p: int, rng: Rng):
        self.group = group
        self._p = p
        self._len = (p.bit_length() + 7) // 8
        # 256-bit private exponent (RFC 3526 §8 strength for the 2048-bit group is ~110 bits).
        x = int.from_bytes(rng(32), "big") | (1 << 255)
        params = _DHParameterNumbers(p, 2)
        y = pow(2, x, p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._key = _DHPrivateNumbers(x, _DHPublicNumbers(y, params)).private_key()
        self._pub = y.to_bytes(self._len, "big")

    @property
    def public(self) -> bytes:
        return self._pub

    def shared(self, peer: bytes) -> bytes:
        if len(peer) != self._len:
            raise MalformedPacket(f"MODP KE of {len(peer)} octets", 0, "bad-length")
        y = int.from_bytes(peer, "big")
        if not 1 < y < self._p - 1:
            raise MalformedPacket("MODP public value out of range", 0, "bad-value")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pub = _DHPublicNumbers(y, _DHParameterNumbers(self._p, 2)).public_key()
            return self._key.exchange(pub).rjust(self._len, b"\x00")


_ORDERS = {  # group orders n of P-256 and P-384 (SEC 2 / FIPS 186-4 D.1.2)
    32: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    48: int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}


class _Ecp(DhPrivate):
    def __init__(self, group: int, curve: ec.EllipticCurve, size: int, rng: Rng):
        self.group = group
        self._curve = curve
        self._size = size
        order = _ORDERS[size]
        d = int.from_bytes(rng(size + 8), "big") % (order - 1) + 1
        self._key = ec.derive_private_key(d, curve)
        nums = self._key.public_key().public_numbers()
        self._pub = nums.x.to_bytes(size, "big") + nums.y.to_bytes(size, "big")

    @property
    def public(self) -> bytes:
        return self._pub

    def shared(self, peer: bytes) -> bytes:
        if len(peer) != 2 * self._size:
            raise MalformedPacket(f"ECP KE of {len(peer)} octets", 0, "bad-length")
        try:
            pub = ec.EllipticCurvePublicKey.from_encoded_point(self._curve, b"\x04" + peer)
        except ValueError:
            raise MalformedPacket("ECP point not on curve", 0, "bad-value") from None
        return self._key.exchange(ec.ECDH(), pub)  # x coordinate only (RFC 5903 §7)


def _x25519_constructors() -> tuple[Callable[[bytes], Any], Callable[[bytes], Any]]:
    """``(from_private_bytes, from_public_bytes)`` for X25519 keys: the functions of
    ``cryptography``'s own bindings that its public classmethods
    (``X25519PrivateKey.from_private_bytes``, ``X25519PublicKey.from_public_bytes``) call
    and return from, when this ``cryptography`` has them and supports X25519. The
    classmethods' one other step is a function-level ``import`` of the OpenSSL backend and
    its support check, which CPython 3.11 pays ~5 k instructions for on every call (the
    import machinery's ``__spec__._initializing`` lookup raises and formats an
    AttributeError): two calls per IKE_SA_INIT. The support check is made here, once;
    without these bindings the public classmethods serve as before. The same keys and
    errors either way (``tests/test_ike_codec.py`` compares them)."""
    try:
        from cryptography.hazmat.backends.openssl.backend import backend
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl

        if backend.x25519_supported():
            binding = rust_openssl.x25519
            return binding.from_private_bytes, binding.from_public_bytes
    except (ImportError, AttributeError):
        pass
    return x25519.X25519PrivateKey.from_private_bytes, x25519.X25519PublicKey.from_public_bytes


_x25519_private, _x25519_public = _x25519_constructors()


class _X25519(DhPrivate):
    def __init__(self, rng: Rng):
        self.group = _DH_CURVE25519
        self._key = _x25519_private(rng(32))
        self._pub = self._key.public_key().public_bytes_raw()

    @property
    def public(self) -> bytes:
        return self._pub

    def shared(self, peer: bytes) -> bytes:
        if len(peer) != 32:
            raise MalformedPacket(f"Curve25519 KE of {len(peer)} octets", 0, "bad-length")
        try:
            secret = self._key.exchange(_x25519_public(peer))
        except ValueError:  # all-zero output (RFC 8031 §2.3: MUST be rejected)
            raise MalformedPacket("Curve25519 low-order point", 0, "bad-value") from None
        return secret


DH_GROUPS = (DhId.MODP_2048, DhId.ECP_256, DhId.ECP_384, DhId.CURVE25519)
_DH_MODP_2048, _DH_ECP_256, _DH_ECP_384, _DH_CURVE25519 = DH_GROUPS  # the members themselves


def dh_generate(group: int, rng: Rng) -> DhPrivate:
    # the groups as module constants (equal to the DhId members): an enum attribute read
    # costs ~650 instructions in CPython 3.11, four of them per IKE_SA_INIT before
    if group == _DH_MODP_2048:
        return _Modp(group, MODP_2048_P, rng)
    if group == _DH_ECP_256:
        return _Ecp(group, ec.SECP256R1(), 32, rng)
    if group == _DH_ECP_384:
        return _Ecp(group, ec.SECP384R1(), 48, rng)
    if group == _DH_CURVE25519:
        return _X25519(rng)
    raise ValueError(f"DH group {group} not supported")
