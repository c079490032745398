"""EAP framing (RFC 3748 §4) and the EAP-AKA / EAP-AKA' attribute codec (RFC 4187 §8.1, §10).

```
 0                   1                   2                   3
 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|     Code      |  Identifier   |            Length             |
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
|     Type      |    Subtype    |           Reserved            |   (AKA / AKA' only)
+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
| Attribute Type| Length (x4)   |  Value...                         (RFC 4187 §8.1)
```

Parsing is strict: every length is checked against the buffer and against the attribute's
fixed size (table ``ATTRIBUTE_WORDS``); a violation raises ``MalformedPacket`` with the
offset. Octets beyond the EAP Length field are link padding and are ignored (RFC 3748 §4.1);
a Length larger than the buffer is an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from dsmip6._frozen import builder
from dsmip6.errors import MalformedPacket

__all__ = [
    "ATTRIBUTE_WORDS",
    "AkaSubtype",
    "AkaMessage",
    "AtType",
    "Attribute",
    "EapCode",
    "EapPacket",
    "EapType",
    "build_attribute",
    "build_aka",
    "length_prefixed",
    "res_attribute",
    "reserved_attribute",
    "word_attribute",
    "parse_aka",
    "parse_attributes",
]


class EapCode(enum.IntEnum):
    """RFC 3748 §4 codes."""

    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class EapType(enum.IntEnum):
    """RFC 3748 §5 method types used here."""

    IDENTITY = 1
    NOTIFICATION = 2
    NAK = 3
    AKA = 23
    AKA_PRIME = 50


class AkaSubtype(enum.IntEnum):
    """RFC 4187 §11 subtypes."""

    CHALLENGE = 1
    AUTHENTICATION_REJECT = 2
    SYNCHRONIZATION_FAILURE = 4
    IDENTITY = 5
    NOTIFICATION = 12
    REAUTHENTICATION = 13
    CLIENT_ERROR = 14


class AtType(enum.IntEnum):
    """RFC 4187 §11 and RFC 5448 / 9048 attribute types."""

    AT_RAND = 1
    AT_AUTN = 2
    AT_RES = 3
    AT_AUTS = 4
    AT_PADDING = 6
    AT_PERMANENT_ID_REQ = 10
    AT_MAC = 11
    AT_NOTIFICATION = 12
    AT_ANY_ID_REQ = 13
    AT_IDENTITY = 14
    AT_FULLAUTH_ID_REQ = 17
    AT_COUNTER = 19
    AT_COUNTER_TOO_SMALL = 20
    AT_NONCE_S = 21
    AT_CLIENT_ERROR_CODE = 22
    AT_KDF_INPUT = 23
    AT_KDF = 24
    AT_IV = 129
    AT_ENCR_DATA = 130
    AT_NEXT_PSEUDONYM = 132
    AT_NEXT_REAUTH_ID = 133
    AT_CHECKCODE = 134
    AT_RESULT_IND = 135
    AT_BIDDING = 136


#: Allowed total attribute lengths in 4-octet words (RFC 4187 §10, RFC 5448 §3.1-3.2,
#: RFC 9048 §4). Attributes not listed have a variable length checked by their own rule.
ATTRIBUTE_WORDS: dict[int, frozenset[int]] = {
    AtType.AT_RAND: frozenset({5}),
    AtType.AT_AUTN: frozenset({5}),
    AtType.AT_AUTS: frozenset({4}),
    AtType.AT_PADDING: frozenset({1, 2, 3}),
    AtType.AT_PERMANENT_ID_REQ: frozenset({1}),
    AtType.AT_MAC: frozenset({5}),
    AtType.AT_NOTIFICATION: frozenset({1}),
    AtType.AT_ANY_ID_REQ: frozenset({1}),
    AtType.AT_FULLAUTH_ID_REQ: frozenset({1}),
    AtType.AT_COUNTER: frozenset({1}),
    AtType.AT_COUNTER_TOO_SMALL: frozenset({1}),
    AtType.AT_NONCE_S: frozenset({5}),
    AtType.AT_CLIENT_ERROR_CODE: frozenset({1}),
    AtType.AT_KDF: frozenset({1}),
    AtType.AT_IV: frozenset({5}),
    AtType.AT_CHECKCODE: frozenset({1, 6, 9}),  # empty, SHA-1 (AKA) or SHA-256 (AKA')
    AtType.AT_RESULT_IND: frozenset({1}),
    AtType.AT_BIDDING: frozenset({1}),
}

# Plain ints for the per-packet paths (enum attribute access is slow).
_AT_RES = int(AtType.AT_RES)
_AT_AUTS = int(AtType.AT_AUTS)
_AT_ENCR_DATA = int(AtType.AT_ENCR_DATA)
_AT_PADDING = int(AtType.AT_PADDING)
_AT_KDF = int(AtType.AT_KDF)
_FINAL_CODES = frozenset((int(EapCode.SUCCESS), int(EapCode.FAILURE)))
_MESSAGE_CODES = frozenset((int(EapCode.REQUEST), int(EapCode.RESPONSE)))
_AKA_TYPES = frozenset((int(EapType.AKA), int(EapType.AKA_PRIME)))

#: Attributes whose value starts with a 2-octet "actual length" (identity-like strings).
_LENGTH_PREFIXED = frozenset(
    {AtType.AT_IDENTITY, AtType.AT_NEXT_PSEUDONYM, AtType.AT_NEXT_REAUTH_ID, AtType.AT_KDF_INPUT}
)


class Attribute(NamedTuple):
    """One attribute: ``value`` is everything after the Type and Length octets.

    An immutable named tuple rather than a frozen dataclass: ``parse_attributes`` builds one
    per attribute of every message on the server's path, and a tuple is made in C
    (``tuple.__new__``) where the frozen dataclass's ``__init__`` set each field through
    ``object.__setattr__`` (~1.7 us per attribute)."""

    type: int
    value: bytes
    offset: int = 0
    """Offset of the Type octet in the buffer it was parsed from."""

    @property
    def payload(self) -> bytes:
        """The meaningful octets: after the 2 reserved octets for fixed attributes; the
        ``actual length`` octets for length-prefixed ones; RES trimmed to its bit length."""
        t = self.type
        if t in _LENGTH_PREFIXED:
            n = int.from_bytes(self.value[:2], "big")
            return self.value[2 : 2 + n]
        if t == _AT_RES:
            bits = int.from_bytes(self.value[:2], "big")
            return self.value[2 : 2 + bits // 8]
        if t == _AT_AUTS:
            return self.value
        return self.value[2:]

    @property
    def word(self) -> int:
        """The 16-bit field of one-word attributes (AT_NOTIFICATION code, AT_KDF, ...)."""
        return int.from_bytes(self.value[:2], "big")


def _check_attribute(t: int, value: bytes, offset: int) -> None:
    words = (len(value) + 2) // 4
    fixed = ATTRIBUTE_WORDS.get(t)
    if fixed is not None and words not in fixed:
        raise MalformedPacket(
            f"attribute {t} has length {words} words, expected {sorted(fixed)}",
            offset=offset,
            reason="bad-length",
        )
    if t in _LENGTH_PREFIXED:
        n = int.from_bytes(value[:2], "big")
        if n > len(value) - 2 or len(value) - 2 - n >= 4:
            raise MalformedPacket(
                f"attribute {t} actual length {n} does not fit {len(value) - 2} octets",
                offset=offset,
                reason="bad-length",
            )
    elif t == _AT_RES:
        bits = int.from_bytes(value[:2], "big")
        if bits % 8 or not 32 <= bits <= 128 or bits // 8 > len(value) - 2:
            raise MalformedPacket(
                f"AT_RES length {bits} bits invalid", offset=offset, reason="bad-length"
            )
        if len(value) - 2 - bits // 8 >= 4:
            raise MalformedPacket("AT_RES over-padded", offset=offset, reason="bad-length")
    elif t == _AT_ENCR_DATA:
        if (len(value) - 2) % 16 or len(value) == 2:
            raise MalformedPacket(
                "AT_ENCR_DATA is not a non-empty multiple of 16 octets",
                offset=offset,
                reason="bad-length",
            )
    elif t == _AT_PADDING:
        if any(value):
            raise MalformedPacket("AT_PADDING is not zero", offset=offset, reason="bad-padding")


_new_attribute = tuple.__new__


def parse_attributes(data: bytes, base: int = 0) -> list[Attribute]:
    """Split ``data`` into attributes; ``base`` is added to the reported offsets.

    Raises ``MalformedPacket`` on a truncated attribute, a zero length, a length that
    disagrees with the attribute's fixed size, or a malformed length-prefixed value.
    Unknown attribute types are returned as they are: the message layer decides (RFC 4187
    §8.2: non-skippable 0-127 are errors, skippable 128-255 are ignored).
    """
    out: list[Attribute] = []
    pos = 0
    n = len(data)
    while pos < n:
        if n - pos < 4:
            raise MalformedPacket(
                "truncated attribute header", offset=base + pos, reason="truncated"
            )
        t = data[pos]
        length = data[pos + 1] * 4
        if length == 0:
            raise MalformedPacket("attribute length 0", offset=base + pos, reason="bad-length")
        if pos + length > n:
            raise MalformedPacket(
                f"attribute {t} runs past the message", offset=base + pos, reason="truncated"
            )
        value = bytes(data[pos + 2 : pos + length])
        _check_attribute(t, value, base + pos)
        out.append(_new_attribute(Attribute, (t, value, base + pos)))
        pos += length
    return out


def build_attribute(t: int, value: bytes) -> bytes:
    """Type ‖ Length ‖ value, where ``value`` already includes reserved/length fields and is
    sized so that the whole attribute is a multiple of 4 octets (at most 1020)."""
    total = len(value) + 2
    if total % 4 or total > 1020:
        raise ValueError(f"attribute {t} value of {len(value)} octets cannot be encoded")
    return bytes((t, total // 4)) + value


def reserved_attribute(t: int, payload: bytes = b"") -> bytes:
    """An attribute whose value is 2 reserved (zero) octets followed by ``payload``
    (AT_RAND, AT_AUTN, AT_MAC, AT_IV, AT_ENCR_DATA, AT_CHECKCODE, AT_*_ID_REQ, ...):
    ``build_attribute(t, b"\\x00\\x00" + payload)``, written out (four per challenge)."""
    total = len(payload) + 4
    if total % 4 or total > 1020:
        raise ValueError(f"attribute {t} value of {len(payload) + 2} octets cannot be encoded")
    return bytes((t, total // 4, 0, 0)) + payload


def word_attribute(t: int, word: int) -> bytes:
    """A one-word attribute carrying a 16-bit field (AT_NOTIFICATION, AT_KDF, ...)."""
    return build_attribute(t, word.to_bytes(2, "big"))


def length_prefixed(t: int, text: bytes) -> bytes:
    """AT_IDENTITY-style attribute: actual length (2) ‖ text ‖ zero padding."""
    pad = (-(len(text) + 4)) % 4
    return build_attribute(t, len(text).to_bytes(2, "big") + text + bytes(pad))


def res_attribute(res: bytes) -> bytes:
    """AT_RES with its length in bits (RFC 4187 §10.8)."""
    pad = (-(len(res) + 4)) % 4
    return build_attribute(AtType.AT_RES, (8 * len(res)).to_bytes(2, "big") + res + bytes(pad))


@dataclass(frozen=True, slots=True)
class EapPacket:
    """An EAP packet (RFC 3748 §4). ``type``/``type_data`` are None/b"" for Success/Failure."""

    code: int
    identifier: int
    type: int | None = None
    type_data: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> EapPacket:
        """Parse one EAP packet; raises ``MalformedPacket``."""
        if len(data) < 4:
            raise MalformedPacket("EAP header truncated", offset=0, reason="truncated")
        code, identifier = data[0], data[1]
        length = int.from_bytes(data[2:4], "big")
        if length < 4:
            raise MalformedPacket(f"EAP Length {length} < 4", offset=2, reason="bad-length")
        if length > len(data):
            raise MalformedPacket(
                f"EAP Length {length} exceeds the {len(data)} octets received",
                offset=2,
                reason="truncated",
            )
        if code in _FINAL_CODES:
            if length != 4:
                raise MalformedPacket(
                    "EAP Success/Failure with data", offset=2, reason="bad-length"
                )
            return cls(code, identifier)
        if code not in _MESSAGE_CODES:
            raise MalformedPacket(f"EAP code {code} not supported", offset=0, reason="unsupported")
        if length < 5:
            raise MalformedPacket("EAP Request/Response without Type", offset=4, reason="truncated")
        build = _eap_packet if cls is EapPacket else cls  # = cls(...), cheaper
        return build(code, identifier, data[4], bytes(data[5:length]))

    def to_bytes(self) -> bytes:
        body = b"" if self.type is None else bytes((self.type,)) + self.type_data
        return bytes((self.code, self.identifier)) + (4 + len(body)).to_bytes(2, "big") + body


@dataclass(frozen=True, slots=True)
class AkaMessage:
    """An EAP-AKA / EAP-AKA' Request or Response with its attributes.

    ``raw`` is the whole EAP packet as received (MAC verification needs it); attribute
    offsets are relative to ``raw``.
    """

    code: int
    identifier: int
    method: int
    subtype: int
    attributes: tuple[Attribute, ...]
    raw: bytes

    def get(self, t: int) -> Attribute | None:
        for a in self.attributes:
            if a.type == t:
                return a
        return None

    def all(self, t: int) -> list[Attribute]:
        return [a for a in self.attributes if a.type == t]

    def types(self) -> set[int]:
        return {a.type for a in self.attributes}


_eap_packet = builder(EapPacket)
_aka_message = builder(AkaMessage)


def parse_aka(data: bytes, packet: EapPacket | None = None) -> AkaMessage:
    """Parse an EAP-AKA/AKA' packet; raises ``MalformedPacket``.

    Besides the attribute checks of ``parse_attributes`` this rejects duplicates (except
    AT_KDF, which AKA' repeats, RFC 5448 §3.2) and unknown non-skippable attributes.
    """
    pkt = packet if packet is not None else EapPacket.parse(data)
    if pkt.type not in _AKA_TYPES:
        raise MalformedPacket("not an EAP-AKA packet", offset=4, reason="unsupported")
    if len(pkt.type_data) < 3:
        raise MalformedPacket("EAP-AKA header truncated", offset=5, reason="truncated")
    length = 4 + 1 + len(pkt.type_data)
    attrs = parse_attributes(pkt.type_data[3:], base=8)
    seen: set[int] = set()
    kept: list[Attribute] = []
    for a in attrs:
        if a.type < 128 and a.type not in ATTRIBUTE_WORDS and a.type not in _VARIABLE_KNOWN:
            raise MalformedPacket(
                f"unknown non-skippable attribute {a.type}", offset=a.offset, reason="unsupported"
            )
        if a.type in seen and a.type != _AT_KDF:
            raise MalformedPacket(
                f"duplicate attribute {a.type}", offset=a.offset, reason="duplicate"
            )
        seen.add(a.type)
        if a.type >= 128 and a.type not in _SKIPPABLE_KNOWN:
            continue  # unknown skippable attribute: ignored (RFC 4187 §8.2)
        kept.append(a)
    return _aka_message(  # = AkaMessage(...), cheaper (dsmip6._frozen)
        pkt.code, pkt.identifier, pkt.type, pkt.type_data[0], tuple(kept), bytes(data[:length])
    )


_VARIABLE_KNOWN = frozenset({AtType.AT_RES, AtType.AT_IDENTITY, AtType.AT_KDF_INPUT})
_SKIPPABLE_KNOWN = frozenset(t for t in AtType if t >= 128)


def build_aka(code: int, identifier: int, method: int, subtype: int, attributes: bytes) -> bytes:
    """Lay out an EAP-AKA packet around already-encoded ``attributes``."""
    length = 8 + len(attributes)
    if length > 0xFFFF:
        raise ValueError("EAP packet too long")
    return (
        bytes((code, identifier))
        + length.to_bytes(2, "big")
        + bytes((method, subtype, 0, 0))
        + attributes
    )
