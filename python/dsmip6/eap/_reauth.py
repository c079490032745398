"""EAP-AKA identity privacy and fast re-authentication state (RFC 4187 §4.1.1.7, §5).

Fast re-authentication reuses MK, K_encr and K_aut of the preceding full authentication; a
one-time re-authentication identity (AT_NEXT_REAUTH_ID, sent encrypted) names the context,
and a 16-bit counter (AT_COUNTER) guards against replays. Both sides keep a
``ReauthContext``; the server keeps its contexts in a ``ReauthStore``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dsmip6.errors import MalformedPacket

from . import _crypto
from ._packet import Attribute, AtType, build_attribute, parse_attributes

__all__ = [
    "InMemoryPseudonymStore",
    "InMemoryReauthStore",
    "PseudonymStore",
    "ReauthContext",
    "ReauthStore",
    "open_encr",
    "seal_encr",
]

#: Counter limit after which the server falls back to full authentication (RFC 4187 §5.1
#: "SHOULD have an upper limit"). The 16-bit counter allows at most 0xFFFF.
MAX_REAUTH_COUNTER = 0xFFFF


@dataclass(frozen=True, slots=True)
class ReauthContext:
    """What one side keeps for the next fast re-authentication."""

    reauth_id: str
    """The one-time re-authentication identity to use (peer) / expected (server)."""
    mk: bytes
    """MK of the full authentication (20 octets)."""
    k_encr: bytes
    k_aut: bytes
    counter: int
    """Last counter value used (0 after a full authentication: the first re-auth uses 1)."""
    imsi: str = ""
    """Server side: the permanent identity behind the context."""
    k_re: bytes = b""
    """EAP-AKA' only: K_re, the re-authentication key (RFC 5448 §3.3)."""

    def reauth_keys(
        self, identity: bytes, counter: int, nonce_s: bytes, *, prime: bool
    ) -> tuple[bytes, bytes]:
        """(MSK, EMSK) of a fast re-authentication (RFC 4187 §7 / RFC 5448 §3.3)."""
        if prime:
            return _crypto.derive_reauth_keys_prime(self.k_re, identity, counter, nonce_s)
        return _crypto.derive_reauth_keys(identity, counter, nonce_s, self.mk)


@runtime_checkable
class ReauthStore(Protocol):
    """Server-side fast re-authentication contexts, keyed by re-authentication identity."""

    def take(self, reauth_id: str) -> ReauthContext | None:
        """Remove and return the context of ``reauth_id`` (identities are one-time)."""
        ...

    def put(self, context: ReauthContext) -> None:
        """Store ``context`` under ``context.reauth_id``."""
        ...


class InMemoryReauthStore:
    """A dict of contexts (a RADIUS/Diameter AAA would keep them server-side the same way)."""

    def __init__(self) -> None:
        self._contexts: dict[str, ReauthContext] = {}

    def take(self, reauth_id: str) -> ReauthContext | None:
        return self._contexts.pop(reauth_id, None)

    def peek(self, reauth_id: str) -> ReauthContext | None:
        return self._contexts.get(reauth_id)

    def put(self, context: ReauthContext) -> None:
        self._contexts[context.reauth_id] = context

    def __len__(self) -> int:
        return len(self._contexts)


def seal_encr(k_encr: bytes, iv: bytes, attributes: bytes) -> bytes:
    """Pad encoded attributes with AT_PADDING to 16 octets and AES-CBC them (RFC 4187 §10.12)."""
    pad = -len(attributes) % 16
    if pad:
        attributes += build_attribute(AtType.AT_PADDING, bytes(pad - 2))
    return _crypto.encrypt_data(k_encr, iv, attributes)


def open_encr(
    k_encr: bytes, iv: bytes, ciphertext: bytes, allowed: frozenset[int]
) -> dict[int, Attribute]:
    """Decrypt AT_ENCR_DATA and parse the nested attributes.

    Raises ``MalformedPacket`` for a bad plaintext, a duplicate, or a non-skippable attribute
    not in ``allowed`` (AT_PADDING is always allowed and must be zero).
    """
    try:
        plain = _crypto.decrypt_data(k_encr, iv, ciphertext)
    except ValueError as exc:
        raise MalformedPacket(str(exc), reason="bad-length") from None
    out: dict[int, Attribute] = {}
    for a in parse_attributes(plain):
        if a.type in out:
            raise MalformedPacket(f"duplicate encrypted attribute {a.type}", reason="duplicate")
        if a.type != AtType.AT_PADDING and a.type not in allowed and a.type < 128:
            raise MalformedPacket(
                f"encrypted attribute {a.type} not allowed here", reason="unsupported"
            )
        out[a.type] = a
    return out


@runtime_checkable
class PseudonymStore(Protocol):
    """Server-side pseudonyms (RFC 4187 §4.1.1.7): pseudonym username → IMSI."""

    def lookup(self, pseudonym: str) -> str | None:
        """The IMSI behind ``pseudonym`` (username part only), or None."""
        ...

    def add(self, pseudonym: str, imsi: str) -> None:
        """Remember a pseudonym handed out to ``imsi``."""
        ...


class InMemoryPseudonymStore:
    """A dict of pseudonyms; earlier pseudonyms stay valid (the peer may not have the last one)."""

    def __init__(self) -> None:
        self._imsi: dict[str, str] = {}

    def lookup(self, pseudonym: str) -> str | None:
        return self._imsi.get(pseudonym)

    def add(self, pseudonym: str, imsi: str) -> None:
        self._imsi[pseudonym] = imsi

    def __len__(self) -> int:
        return len(self._imsi)
