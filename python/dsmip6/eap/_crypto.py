"""EAP-AKA / EAP-AKA' key schedule, AT_MAC, AT_ENCR_DATA and AT_CHECKCODE.

Primitives: HMAC-SHA1, HMAC-SHA-256, SHA-1, SHA-256 and AES-128-CBC from ``cryptography``.

The FIPS 186-2 PRF and the SHA-1 compression function
------------------------------------------------------
RFC 4187 §7 (like RFC 4186 §7) keys EAP-AKA with the FIPS 186-2 change-notice-1 pseudo-random
generator, whose function G(t, c) is the SHA-1 *compression function* applied once to
``c ‖ 0^352`` from the standard SHA-1 initial value, without SHA-1's padding and length block.
A full ``sha1()`` (``hashlib`` or ``cryptography``) always appends that padding block, and no
Python library we may use exposes the bare compression step. hostap solves this in its
OpenSSL back end by calling OpenSSL's ``SHA1_Transform``; we do the same through ``ctypes``
on the system ``libcrypto`` (the OpenSSL that Python's own ``_hashlib`` links), so the
primitive is OpenSSL's, not ours. Only where that symbol cannot be loaded (a libcrypto built
without the deprecated low-level API) do we fall back to a direct transcription of the
compression function of FIPS 180-4 §6.1.2 — the one piece of SHA-1 no library offers. Both
paths are checked at import and in the tests against (a) ``cryptography``'s full SHA-1
(``SHA1(m) == compress(compress(IV, m), pad(m))``), (b) the FIPS 186-2 PRF example and
(c) the RFC 4186 Appendix A key schedule.

The generator loop itself runs in the Rust extension (``dsmip6._core.aka``) over RustCrypto's
``sha1::compress`` when that module is present and agrees, at import, with the FIPS 186-2
example and with the backend above on an XKEY whose update carries across octets: one foreign
call per key schedule instead of one per 20-octet block (the ctypes calls cost the HA ~70 k
instructions per EAP-AKA run). ``prf_backend()`` tells which one runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "EapAkaKeys",
    "aka_prime_ck_ik",
    "checkcode",
    "compute_mac",
    "decrypt_data",
    "derive_keys",
    "derive_keys_prime",
    "derive_reauth_keys",
    "derive_reauth_keys_prime",
    "encrypt_data",
    "fips186_2_prf",
    "prf_backend",
    "prf_prime",
    "sha1_compress",
    "sha1_compress_backend",
    "verify_mac",
]

_SHA1_IV = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
_MASK32 = 0xFFFFFFFF


# ------------------------------------------------------------------------------------------
# SHA-1 compression function


def _sha1_compress_python(state: tuple[int, int, int, int, int], block: bytes) -> bytes:
    """One SHA-1 compression step (FIPS 180-4 §6.1.2, steps 1-4); 20-octet chaining value."""
    w = list(struct.unpack(">16I", block))
    for t in range(16, 80):
        x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]
        w.append(((x << 1) | (x >> 31)) & _MASK32)
    a, b, c, d, e = state
    for t in range(80):
        if t < 20:
            f = (b & c) | (~b & d)
            k = 0x5A827999
        elif t < 40:
            f = b ^ c ^ d
            k = 0x6ED9EBA1
        elif t < 60:
            f = (b & c) | (b & d) | (c & d)
            k = 0x8F1BBCDC
        else:
            f = b ^ c ^ d
            k = 0xCA62C1D6
        temp = (((a << 5) | (a >> 27)) + (f & _MASK32) + e + k + w[t]) & _MASK32
        e, d, c, b, a = d, c, ((b << 30) | (b >> 2)) & _MASK32, a, temp
    h = state
    return struct.pack(
        ">5I",
        (h[0] + a) & _MASK32,
        (h[1] + b) & _MASK32,
        (h[2] + c) & _MASK32,
        (h[3] + d) & _MASK32,
        (h[4] + e) & _MASK32,
    )


# OpenSSL's SHA_CTX (include/openssl/sha.h) starts with the chaining words h0..h4 as native
# 32-bit integers, followed by Nl, Nh, data[16] and num: 96 octets in all.
_SHA_CTX_SIZE = 96


_Compress = Callable[[tuple[int, int, int, int, int], bytes], bytes]
_ZERO_44 = bytes(44)
_MOD160 = 1 << 160
_SHA1_EMPTY = hashes.Hash(hashes.SHA1())  # never finalized: copied per MK digest


def _prf_loop(g_int: Callable[[bytes], int], xkey: bytes, length: int) -> bytes:
    """The FIPS 186-2 generator loop over a G that returns the 160-bit chaining value."""
    x = int.from_bytes(xkey, "big")
    out = bytearray()
    while len(out) < length:
        w = g_int(x.to_bytes(20, "big") + _ZERO_44)
        out += w.to_bytes(20, "big")
        x = (1 + x + w) % _MOD160
    return bytes(out[:length])


def _load_openssl_transform() -> tuple[_Compress, Callable[[bytes, int], bytes]] | None:
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        transform = ctypes.CDLL(name).SHA1_Transform
    except (OSError, AttributeError):
        return None
    transform.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    transform.restype = None
    native_words = struct.Struct("=5I")
    memmove = ctypes.memmove

    def compress(state: tuple[int, int, int, int, int], block: bytes) -> bytes:
        ctx = ctypes.create_string_buffer(_SHA_CTX_SIZE)
        addr = ctypes.addressof(ctx)
        memmove(addr, native_words.pack(*state), 20)
        transform(addr, block)
        return struct.pack(">5I", *native_words.unpack_from(ctx))

    ctx_type = ctypes.c_char * _SHA_CTX_SIZE
    unpack = native_words.unpack_from
    pack_into = native_words.pack_into
    pack_be = struct.Struct(">5I").pack

    def prf(xkey: bytes, length: int) -> bytes:
        # One SHA_CTX per call (no shared state between threads), reset to the IV per block
        # by packing into the buffer (no foreign call); the output words are repacked
        # big-endian directly. The _prf_loop generator inlined (8 blocks per EAP-AKA run).
        ctx = ctx_type()
        x = int.from_bytes(xkey, "big")
        out = bytearray()
        need = length
        while need > 0:
            pack_into(ctx, 0, *_SHA1_IV)
            transform(ctx, x.to_bytes(20, "big") + _ZERO_44)
            block = pack_be(*unpack(ctx))
            out += block
            need -= 20
            x = (1 + x + int.from_bytes(block, "big")) % _MOD160
        return bytes(out[:length])

    return compress, prf


def _self_test(compress: Callable[[tuple[int, int, int, int, int], bytes], bytes]) -> bool:
    """SHA1(m) for a one-block m equals compress(compress(IV, m‖pad)) — checked against
    ``cryptography``'s SHA-1."""
    message = bytes(range(40))
    padded = message + b"\x80" + bytes(64 - len(message) - 9) + struct.pack(">Q", 8 * len(message))
    digest = hashes.Hash(hashes.SHA1())
    digest.update(message)
    return compress(_SHA1_IV, padded) == digest.finalize()


def _python_prf(xkey: bytes, length: int) -> bytes:
    return _prf_loop(
        lambda block: int.from_bytes(_sha1_compress_python(_SHA1_IV, block), "big"), xkey, length
    )


_loaded = _load_openssl_transform()
_openssl = _loaded[0] if _loaded is not None else None
if _loaded is not None and _self_test(_loaded[0]):
    _compress, _prf = _loaded
    _BACKEND = "openssl-SHA1_Transform"
else:  # pragma: no cover - depends on the system libcrypto
    _compress, _prf = _sha1_compress_python, _python_prf
    _BACKEND = "python"
    if not _self_test(_compress):
        raise ImportError("SHA-1 compression self-test failed")


def _load_rust_prf() -> tuple[Callable[[bytes, int], bytes], Callable[..., Any]] | None:
    """The generator loop in the Rust extension (``dsmip6._core.aka``, RustCrypto's
    ``sha1::compress`` as G): one foreign call per PRF run instead of one per block. Used only
    when it agrees with the FIPS 186-2 example and with the backend chosen above."""
    try:
        from dsmip6._core import aka as core_aka
    except ImportError:  # pragma: no cover - an extension built before the module existed
        return None
    xkey = bytes.fromhex("bd029bbe7f51960bcf9edb2b61f06f0feb5a38b6")
    want = "2070b3223dba372fde1c0ffc7b2e3b498b2606143c6c18bacb0f6c55babb13788e20d737a3275116"
    probe = bytes(range(0xEC, 0x100))  # carries across octets in the XKEY update
    example_ok = core_aka.fips186_2_prf(xkey, 40).hex() == want
    if not example_ok or core_aka.fips186_2_prf(probe, 160) != _prf(probe, 160):
        return None  # pragma: no cover - a broken build
    return core_aka.fips186_2_prf, core_aka.fips186_2_prf_state


def _cryptography_sha1(data: bytes) -> bytes:
    h = _SHA1_EMPTY.copy()
    h.update(data)
    return h.finalize()


def _load_rust_sha1() -> Callable[[bytes], bytes]:
    """RustCrypto's SHA-1 from the extension for MK (one foreign call instead of three), when
    it agrees with ``cryptography``'s on probes across the block boundary."""
    try:
        from dsmip6._core.aka import sha1 as core_sha1
    except ImportError:  # pragma: no cover - an extension built before the module existed
        return _cryptography_sha1
    for n in (0, 3, 36, 55, 56, 64, 119):
        probe = bytes(range(n))
        if core_sha1(probe) != _cryptography_sha1(probe):  # pragma: no cover - broken build
            return _cryptography_sha1
    return core_sha1  # type: ignore[no-any-return]


_sha1 = _load_rust_sha1()
_rust = _load_rust_prf()
_prf_state: Callable[[bytes, int], tuple[bytes, bytes]] | None = None
if _rust is not None:
    _prf, _prf_state = _rust
_PRF_BACKEND = "rust-sha1-compress" if _rust is not None else _BACKEND


def prf_backend() -> str:
    """Which implementation runs the FIPS 186-2 generator (``fips186_2_prf``)."""
    return _PRF_BACKEND


def sha1_compress_backend() -> str:
    """Which implementation of the SHA-1 compression function is in use."""
    return _BACKEND


def sha1_compress(block: bytes, state: tuple[int, int, int, int, int] = _SHA1_IV) -> bytes:
    """SHA-1 compression of one 64-octet block from ``state`` (default: the SHA-1 IV)."""
    if len(block) != 64:
        raise ValueError("SHA-1 compresses 64-octet blocks")
    return _compress(state, block)


# ------------------------------------------------------------------------------------------
# FIPS 186-2 PRF and the EAP-AKA key schedule (RFC 4187 §7)


def fips186_2_prf(xkey: bytes, length: int) -> bytes:
    """FIPS 186-2 change notice 1 generator with b = 160, XSEED = 0, no mod q (RFC 4187 §7):
    per 20-octet block, w = G(XKEY) and XKEY = (1 + XKEY + w) mod 2^160."""
    if len(xkey) != 20:
        raise ValueError("XKEY must be 20 octets")
    return _prf(xkey, length)


class EapAkaKeys:
    """Keys of one EAP-AKA (RFC 4187 §7) or EAP-AKA' (RFC 5448 §3.3) full authentication.

    Fields: ``mk`` (master key: 20 octets for AKA, the whole 208-octet PRF' output for AKA'),
    ``k_encr`` (AES-128 key for AT_ENCR_DATA), ``k_aut`` (AT_MAC key: 16 octets for AKA with
    HMAC-SHA1, 32 for AKA' with HMAC-SHA-256), ``msk`` (64-octet Master Session Key), ``emsk``
    (64-octet Extended MSK), ``k_re`` (AKA' re-authentication key, 32 octets; empty for AKA).

    Value semantics (compared by all fields; nothing mutates them). Keys made by
    ``derive_keys`` derive the EMSK on first use: IKEv2 uses only the MSK, so the last three
    of the eight FIPS 186-2 PRF blocks are computed only if someone reads ``emsk``."""

    __slots__ = ("mk", "k_encr", "k_aut", "msk", "_emsk", "_emsk_rest", "k_re")

    def __init__(
        self,
        mk: bytes,
        k_encr: bytes,
        k_aut: bytes,
        msk: bytes,
        emsk: bytes,
        k_re: bytes = b"",
        *,
        emsk_rest: tuple[bytes, bytes] | None = None,
    ) -> None:
        self.mk = mk
        self.k_encr = k_encr
        self.k_aut = k_aut
        self.msk = msk
        self._emsk = emsk
        self._emsk_rest = emsk_rest
        """(EMSK octets already computed, XKEY to continue the PRF from) while lazy."""
        self.k_re = k_re

    @property
    def emsk(self) -> bytes:
        rest = self._emsk_rest
        if rest is not None:
            head, xkey = rest
            self._emsk = head + fips186_2_prf(xkey, 64 - len(head))
            self._emsk_rest = None
        return self._emsk

    def _fields(self) -> tuple[bytes, ...]:
        return (self.mk, self.k_encr, self.k_aut, self.msk, self.emsk, self.k_re)

    def __eq__(self, other: object) -> bool:
        if type(other) is not EapAkaKeys:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return "EapAkaKeys(<keys>)"  # never print key material


_MSK_END_BLOCKS = 5  # FIPS 186-2 PRF blocks (20 octets) covering K_encr, K_aut and the MSK


def derive_keys(identity: bytes, ik: bytes, ck: bytes) -> EapAkaKeys:
    """MK = SHA1(Identity ‖ IK ‖ CK); K_encr ‖ K_aut ‖ MSK ‖ EMSK = PRF(MK) (RFC 4187 §7).

    The PRF's first five blocks (octets 0-99) are computed here; the EMSK's remaining 60
    octets continue the same generator from the XKEY after block five (FIPS 186-2:
    XKEY_{j+1} = (1 + XKEY_j + w_j) mod 2^160), when ``emsk`` is first read."""
    mk = _sha1(identity + ik + ck)
    if _prf_state is not None:  # one call: the five blocks and the XKEY after them
        ks, next_xkey = _prf_state(mk, 20 * _MSK_END_BLOCKS)
    else:
        ks = _prf(mk, 20 * _MSK_END_BLOCKS)
        x = int.from_bytes(mk, "big")
        for j in range(0, 20 * _MSK_END_BLOCKS, 20):
            x = (1 + x + int.from_bytes(ks[j : j + 20], "big")) % _MOD160
        next_xkey = x.to_bytes(20, "big")
    return EapAkaKeys(
        mk,
        ks[0:16],
        ks[16:32],
        ks[32:96],
        b"",
        emsk_rest=(ks[96:100], next_xkey),
    )


def derive_reauth_keys(
    identity: bytes, counter: int, nonce_s: bytes, mk: bytes
) -> tuple[bytes, bytes]:
    """Fast re-authentication MSK and EMSK (RFC 4187 §7).

    XKEY' = SHA1(Identity ‖ counter ‖ NONCE_S ‖ MK).
    """
    h = hashes.Hash(hashes.SHA1())
    h.update(identity + counter.to_bytes(2, "big") + nonce_s + mk)
    ks = fips186_2_prf(h.finalize(), 128)
    return ks[0:64], ks[64:128]


# ------------------------------------------------------------------------------------------
# EAP-AKA' (RFC 5448 §3.3, RFC 9048 §3.3; TS 33.402 Annex A.2)


_SHA1 = hashes.SHA1()  # stateless algorithm descriptors, built once
_SHA256 = hashes.SHA256()


def _hmac(algorithm: hashes.HashAlgorithm, key: bytes, data: bytes) -> bytes:
    h = crypto_hmac.HMAC(key, algorithm)
    h.update(data)
    return h.finalize()


def aka_prime_ck_ik(
    ck: bytes, ik: bytes, network_name: bytes, sqn_xor_ak: bytes
) -> tuple[bytes, bytes]:
    """CK' ‖ IK' = HMAC-SHA-256(CK ‖ IK, FC=0x20 ‖ P0 ‖ L0 ‖ P1 ‖ L1) (TS 33.402 A.2)."""
    if len(sqn_xor_ak) != 6:
        raise ValueError("SQN xor AK must be 6 octets")
    s = (
        b"\x20"
        + network_name
        + len(network_name).to_bytes(2, "big")
        + sqn_xor_ak
        + (6).to_bytes(2, "big")
    )
    out = _hmac(_SHA256, ck + ik, s)
    return out[:16], out[16:]


def prf_prime(key: bytes, seed: bytes, length: int) -> bytes:
    """PRF' = prf+ of RFC 7296 §2.13 with HMAC-SHA-256 (RFC 5448 §3.4)."""
    out = bytearray()
    t = b""
    i = 1
    while len(out) < length:
        t = _hmac(_SHA256, key, t + seed + bytes([i]))
        out += t
        i += 1
    return bytes(out[:length])


def derive_reauth_keys_prime(
    k_re: bytes, identity: bytes, counter: int, nonce_s: bytes
) -> tuple[bytes, bytes]:
    """EAP-AKA' fast re-authentication MSK and EMSK (RFC 5448 §3.3):
    MK = PRF'(K_re, "EAP-AKA' re-auth" ‖ Identity ‖ counter ‖ NONCE_S)."""
    mk = prf_prime(k_re, b"EAP-AKA' re-auth" + identity + counter.to_bytes(2, "big") + nonce_s, 128)
    return mk[0:64], mk[64:128]


def derive_keys_prime(identity: bytes, ik_prime: bytes, ck_prime: bytes) -> EapAkaKeys:
    """MK = PRF'(IK' ‖ CK', "EAP-AKA'" ‖ Identity), split 16/32/32/64/64 (RFC 5448 §3.3)."""
    mk = prf_prime(ik_prime + ck_prime, b"EAP-AKA'" + identity, 208)
    return EapAkaKeys(
        mk=mk, k_encr=mk[0:16], k_aut=mk[16:48], k_re=mk[48:80], msk=mk[80:144], emsk=mk[144:208]
    )


# ------------------------------------------------------------------------------------------
# AT_MAC, AT_CHECKCODE, AT_ENCR_DATA


def mac_context(k_aut: bytes, *, prime: bool = False) -> crypto_hmac.HMAC:
    """The AT_MAC HMAC keyed with ``k_aut`` once, for every AT_MAC of a run under that key
    (``compute_mac`` / ``verify_mac`` with ``keyed=``: each copies it)."""
    return crypto_hmac.HMAC(k_aut, _SHA256 if prime else _SHA1)


def compute_mac(
    k_aut: bytes,
    packet_zeroed: bytes,
    extra: bytes = b"",
    *,
    prime: bool = False,
    keyed: crypto_hmac.HMAC | None = None,
) -> bytes:
    """AT_MAC value: HMAC-SHA1-128 (AKA, RFC 4187 §10.15) or HMAC-SHA-256-128 (AKA', RFC 5448
    §3.1) over the EAP packet with the MAC value zeroed, followed by the message-specific data.
    ``keyed``: ``mac_context(k_aut, prime=prime)``, copied instead of keying a new HMAC."""
    if keyed is not None:
        h = keyed.copy()
        h.update(packet_zeroed + extra)
        return h.finalize()[:16]
    return _hmac(_SHA256 if prime else _SHA1, k_aut, packet_zeroed + extra)[:16]


def verify_mac(
    k_aut: bytes,
    packet: bytes,
    mac_offset: int,
    extra: bytes = b"",
    *,
    prime: bool = False,
    keyed: crypto_hmac.HMAC | None = None,
) -> bool:
    """Check the 16-octet MAC at ``mac_offset`` of ``packet`` (constant time)."""
    if mac_offset < 0 or mac_offset + 16 > len(packet):
        return False
    zeroed = packet[:mac_offset] + bytes(16) + packet[mac_offset + 16 :]
    expected = compute_mac(k_aut, zeroed, extra, prime=prime, keyed=keyed)
    return constant_time.bytes_eq(expected, packet[mac_offset : mac_offset + 16])


def checkcode(identity_packets: tuple[bytes, ...] | list[bytes], *, prime: bool = False) -> bytes:
    """AT_CHECKCODE value: SHA-1 (AKA, RFC 4187 §10.13) or SHA-256 (AKA', RFC 5448 §3.2) over
    the AKA-Identity requests and responses exchanged, in order; empty when there were none."""
    if not identity_packets:
        return b""
    h = hashes.Hash(hashes.SHA256() if prime else hashes.SHA1())
    for packet in identity_packets:
        h.update(packet)
    return h.finalize()


def encrypt_data(k_encr: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-128-CBC of nested attributes (RFC 4187 §10.12); ``plaintext`` is already padded."""
    if len(plaintext) % 16:
        raise ValueError("AT_ENCR_DATA plaintext must be a multiple of 16 octets")
    enc = Cipher(algorithms.AES(k_encr), modes.CBC(iv)).encryptor()
    return enc.update(plaintext) + enc.finalize()


def decrypt_data(k_encr: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Inverse of ``encrypt_data``; raises ``ValueError`` on a length that is not a multiple of
    16 octets or a wrong IV length."""
    if len(ciphertext) % 16 or not ciphertext or len(iv) != 16:
        raise ValueError("AT_ENCR_DATA must be a non-empty multiple of 16 octets")
    dec = Cipher(algorithms.AES(k_encr), modes.CBC(iv)).decryptor()
    return dec.update(ciphertext) + dec.finalize()
