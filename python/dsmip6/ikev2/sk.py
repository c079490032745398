"""The Encrypted and Authenticated payload (RFC 7296 §3.14; RFC 5282 §3-5 for AEAD).

::

    SK:  Next Payload | C | Length | IV | E(inner ‖ Padding ‖ Pad Length) | ICV

* CBC + HMAC: the ICV is the truncated MAC over the whole message from the IKE header through the
  ciphertext; padding makes the plaintext a whole number of blocks.
* AEAD: nonce = salt ‖ IV, associated data = IKE header through the SK generic header; the IV is an
  8-octet per-SA counter (never repeats under one key).
"""

from __future__ import annotations

import hmac as _cmp
import struct
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag

from dsmip6._core import ikefast
from dsmip6.errors import IntegrityCheckFailed, MalformedPacket
from dsmip6.ikev2.constants import IKE_HEADER_LEN
from dsmip6.ikev2.transforms import Encr, Integ, Rng

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

_U32 = struct.Struct("!I")
_sk_seal = ikefast.sk_seal
_sk_open = ikefast.sk_open
_GENERIC = struct.Struct("!BBH")


class SkCrypto:
    """SK protection for one IKE SA as seen from one side.

    ``out_*`` keys protect what this side sends; ``in_*`` keys what it receives (for the original
    initiator out = SK_ei/SK_ai, for the original responder out = SK_er/SK_ar).
    """

    # One object per IKE SA, kept for its whole life. AEAD: ``_out_a``/``_in_a`` hold the
    # keying material (key | 4-octet salt) and ``_out_e``/``_in_e`` the keyed cipher objects,
    # which ``compact()`` drops once the SA is established (later exchanges are rare: each
    # message then keys a cipher for itself). CBC + HMAC: the four raw keys.
    __slots__ = ("encr", "integ", "_out_e", "_out_a", "_in_e", "_in_a", "_rng", "_iv_counter")
    # AEAD: the keyed cipher objects (None once compacted); CBC + HMAC: the raw keys
    _out_e: AESGCM | ChaCha20Poly1305 | bytes | None
    _in_e: AESGCM | ChaCha20Poly1305 | bytes | None

    def __init__(
        self,
        encr: Encr,
        integ: Integ | None,
        out_e: bytes,
        out_a: bytes,
        in_e: bytes,
        in_a: bytes,
        rng: Rng,
    ) -> None:
        self.encr = encr
        self.integ = integ
        self._rng = rng
        self._iv_counter = 0
        if encr.aead:
            self._out_e = encr.aead_cipher(out_e)[0]
            self._in_e = encr.aead_cipher(in_e)[0]
            self._out_a, self._in_a = out_e, in_e
        else:
            self._out_e, self._out_a, self._in_e, self._in_a = out_e, out_a, in_e, in_a

    def compact(self) -> None:
        """Drop the keyed AEAD cipher objects (memory of an established SA); ``seal``/``open``
        re-key one per message afterwards. No effect for CBC + HMAC."""
        if self.encr.aead:
            self._out_e = self._in_e = None

    @property
    def overhead(self) -> int:
        """SK header + IV + ICV + worst-case padding."""
        icv = self.encr.icv_size if self.encr.aead else self.integ.icv_size  # type: ignore[union-attr]
        return 4 + self.encr.iv_size + icv + self.encr.block_size

    def sealed_size(self, head_len: int, inner_len: int) -> int:
        """Octets of the message ``seal`` makes from ``head_len`` octets of header and clear
        payloads and ``inner_len`` octets of inner payloads (no SKF extra), drawing no IV."""
        encr = self.encr
        if encr.aead:
            plain, icv = inner_len + 1, encr.icv_size
        else:
            plain = inner_len + 1 + (-(inner_len + 1)) % encr.block_size
            icv = self.integ.icv_size  # type: ignore[union-attr]
        return head_len + 4 + encr.iv_size + plain + icv

    def _next_iv(self) -> bytes:
        if self.encr.aead:
            self._iv_counter += 1
            return self._iv_counter.to_bytes(8, "big")
        return self._rng(self.encr.iv_size)

    def seal(self, head: bytes, inner_first: int, inner: bytes, extra: bytes = b"") -> bytes:
        """``head`` = IKE header (length field to be fixed) + clear payloads; returns the message.

        ``inner`` is already encoded; the SK generic header is written here, followed by
        ``extra`` (the Fragment Number and Total Fragments of an SKF payload, RFC 7383 §2.5).
        """
        encr = self.encr
        if encr.aead:  # RFC 5282 §3: no padding (Pad Length 0), nonce = salt | IV
            n = self._iv_counter = self._iv_counter + 1
            # SK header, IV, inner payloads, Pad Length 0 (no padding), ICV
            sk_len = 13 + len(extra) + len(inner) + encr.icv_size
            if (
                not extra
                and sk_len <= 0xFFFF
                and type(head) is bytes
                and type(inner) is bytes
                and len(head) >= IKE_HEADER_LEN
            ):
                # the framing below written by ``_core.ikefast.sk_seal`` around the same
                # ``cipher.encrypt`` call (the same octets: tests/test_ike_codec.py)
                keymat = self._out_a
                cipher = self._out_e
                if cipher is None:
                    cipher = encr.aead_cipher(keymat)[0]
                return _sk_seal(  # type: ignore[no-any-return]
                    cipher, keymat, encr.salt_size, n, head, inner_first, inner, encr.icv_size
                )
            iv = n.to_bytes(8, "big")  # _next_iv's AEAD IV
            aad = (
                head[:24]
                + _U32.pack(len(head) + sk_len)
                + head[28:]
                + _GENERIC.pack(inner_first, 0, sk_len)
                + extra
            )
            keymat = self._out_a
            cipher = self._out_e
            if cipher is None:
                cipher = encr.aead_cipher(keymat)[0]
            return aad + iv + cipher.encrypt(keymat[-encr.salt_size :] + iv, inner + b"\x00", aad)  # type: ignore[union-attr]
        pad = (-(len(inner) + 1)) % encr.block_size
        plain = inner + b"\x00" * pad + bytes([pad])
        icv = self.integ.icv_size  # type: ignore[union-attr]
        iv = self._next_iv()
        sk_len = 4 + len(extra) + len(iv) + len(plain) + icv
        total = len(head) + sk_len
        head = head[:24] + _U32.pack(total) + head[28:]
        sk_hdr = _GENERIC.pack(inner_first, 0, sk_len) + extra
        ct = encr.cbc_encrypt(self._out_e, iv, plain)  # type: ignore[arg-type]  # a key (CBC)
        body = head + sk_hdr + iv + ct
        return body + self.integ.mac(self._out_a, body)  # type: ignore[union-attr]

    def open(self, message: bytes, sk_offset: int, extra_len: int = 0) -> bytes:
        """Verify and decrypt the SK payload at ``sk_offset``; return the inner payload octets.

        Raises IntegrityCheckFailed (drop silently) or MalformedPacket.
        """
        encr = self.encr
        body_start = sk_offset + 4 + extra_len
        if encr.aead:
            iv_end = body_start + encr.iv_size
            if len(message) < iv_end + encr.icv_size + 1:
                raise MalformedPacket("SK payload too short", sk_offset, "truncated")
            keymat = self._in_a
            cipher = self._in_e
            if cipher is None:
                cipher = encr.aead_cipher(keymat)[0]
            # the nonce (salt | IV), the associated data (the message through the SK generic
            # header) and the Pad Length, by ``_core.ikefast.sk_open`` around the
            # ``cipher.decrypt`` call (tests/test_ike_codec.py compares it with Python's)
            if type(message) is not bytes:
                message = bytes(message)
            try:
                inner = _sk_open(cipher, keymat, encr.salt_size, message, body_start, encr.iv_size)
            except InvalidTag:
                raise IntegrityCheckFailed("SK payload ICV did not verify") from None
            if inner is None:
                raise MalformedPacket("SK pad length exceeds plaintext", sk_offset, "bad-padding")
            return inner  # type: ignore[no-any-return]
        icv = self.integ.icv_size  # type: ignore[union-attr]
        if len(message) < body_start + encr.iv_size + icv + 1:
            raise MalformedPacket("SK payload too short", sk_offset, "truncated")
        iv = message[body_start : body_start + encr.iv_size]
        mac = self.integ.mac(self._in_a, message[:-icv])  # type: ignore[union-attr]
        if not _cmp.compare_digest(mac, message[-icv:]):
            raise IntegrityCheckFailed("SK payload ICV did not verify")
        key = self._in_e  # a raw key for CBC + HMAC
        plain = encr.cbc_decrypt(key, iv, message[body_start + encr.iv_size : -icv])  # type: ignore[arg-type]
        pad = plain[-1]
        if pad + 1 > len(plain):
            raise MalformedPacket("SK pad length exceeds plaintext", sk_offset, "bad-padding")
        return plain[: len(plain) - 1 - pad]


def aad_for(message: bytes, sk_offset: int) -> bytes:
    return message[: sk_offset + 4]


__all__ = ["SkCrypto", "IKE_HEADER_LEN"]
