"""The HA's embedded AAA: subscriber records and authentication-vector generation.

``SubscriberStore`` is the seam where a RADIUS (RFC 3579) or Diameter (SWx/S6b) backend can
replace the in-memory store: the EAP server only asks it for authentication vectors and hands
it AUTS for resynchronisation; Milenage and SQN management live behind it, as in an HSS.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

from dsmip6._frozen import builder
from dsmip6.aka import (
    SQN_MAX,
    AuthenticationVector,
    Milenage,
    generate_vector,
    resynchronise,
)
from dsmip6.errors import ConfigError

_vector = builder(AuthenticationVector)  # = AuthenticationVector(...), cheaper (dsmip6._frozen)

__all__ = ["InMemorySubscriberStore", "Subscriber", "SubscriberStore"]


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One subscription as the HSS/AuC holds it."""

    imsi: str
    """IMSI, decimal digits."""
    k: bytes
    """Subscriber key K (16 octets)."""
    opc: bytes
    """Operator variant OPc (16 octets)."""
    sqn: int = 0
    """SQN_HE of the last vector issued (48 bits)."""
    amf: bytes = b"\x80\x00"
    """AMF put in every AUTN (2 octets)."""
    apns: tuple[str, ...] = ()
    """APNs the subscriber may use (for the HA's authorisation)."""

    def __post_init__(self) -> None:
        if not (self.imsi.isascii() and self.imsi.isdigit() and 6 <= len(self.imsi) <= 15):
            raise ConfigError(f"IMSI {self.imsi!r} is not 6..15 decimal digits")
        if len(self.k) != 16 or len(self.opc) != 16 or len(self.amf) != 2:
            raise ConfigError("K and OPc must be 16 octets and AMF 2 octets")
        if not 0 <= self.sqn < 1 << 48:
            raise ConfigError("SQN must be a 48-bit value")


_FIELDS = tuple(f.name for f in fields(Subscriber))
# The slot descriptors' setters (what ``object.__setattr__`` reaches for a slotted frozen
# dataclass, without its name lookup), in field order.
_SETTERS = tuple(Subscriber.__dict__[name].__set__ for name in _FIELDS)
if _FIELDS != ("imsi", "k", "opc", "sqn", "amf", "apns"):  # _with_sqn sets each by name
    raise ImportError(f"Subscriber fields {_FIELDS} are not the ones _with_sqn copies")
_S_IMSI, _S_K, _S_OPC, _S_SQN, _S_AMF, _S_APNS = _SETTERS
_NEW = object.__new__


def _with_sqn(sub: Subscriber, sqn: int) -> Subscriber:
    """``sub`` with another SQN, without re-running ``__post_init__``: every other field was
    validated when ``sub`` was made, and the store's slots hold only 48-bit values."""
    new = _NEW(Subscriber)
    _S_IMSI(new, sub.imsi)
    _S_K(new, sub.k)
    _S_OPC(new, sub.opc)
    _S_SQN(new, sqn)
    _S_AMF(new, sub.amf)
    _S_APNS(new, sub.apns)
    return new


@runtime_checkable
class SubscriberStore(Protocol):
    """What ``EapAkaServer`` needs from the AAA/HSS behind it."""

    def subscriber(self, imsi: str) -> Subscriber | None:
        """The subscriber record (current SQN included), or None when unknown."""
        ...

    def authentication_vector(self, imsi: str, rand: bytes) -> AuthenticationVector | None:
        """A fresh vector for ``imsi`` with the given RAND (SQN advanced), or None."""
        ...

    def resynchronise(self, imsi: str, rand: bytes, auts: bytes) -> bool:
        """Process AUTS (TS 33.102 §6.3.5); True when MAC-S verified and SQN_HE was reset."""
        ...


class InMemorySubscriberStore:
    """A dict of ``Subscriber`` with Milenage AuC functions; SQN kept in memory.

    ``ind_bits`` is the IND length used to advance SQN_HE (TS 33.102 Annex C.3.2, default 5).

    Each subscriber's SQN_HE lives in one 8-octet slot of an ``array('Q')``, updated in place:
    issuing a vector or resynchronising allocates nothing the store keeps (the records stay
    the ones ``add`` was given; ``subscriber`` returns the record with the slot's SQN, a copy
    once the SQN has moved). Slots of removed subscribers are reused.
    """

    def __init__(self, subscribers: Iterable[Subscriber] = (), *, ind_bits: int = 5) -> None:
        # IMSI -> (record as added, its Milenage, its SQN slot)
        self._subs: dict[str, tuple[Subscriber, Milenage, int]] = {}
        self._sqn = array("Q")  # SQN_HE per slot (48-bit values)
        self._free: list[int] = []  # slots of removed subscribers
        self.ind_bits = ind_bits
        for sub in subscribers:
            self.add(sub)

    def add(self, subscriber: Subscriber) -> None:
        """Add or replace a subscriber (its SQN_HE becomes the record's ``sqn``)."""
        old = self._subs.get(subscriber.imsi)
        if old is not None:
            slot = old[2]
        elif self._free:
            slot = self._free.pop()
        else:
            slot = len(self._sqn)
            self._sqn.append(0)
        self._sqn[slot] = subscriber.sqn
        milenage = Milenage(subscriber.k, opc=subscriber.opc)
        self._subs[subscriber.imsi] = (subscriber, milenage, slot)

    def remove(self, imsi: str) -> None:
        entry = self._subs.pop(imsi, None)
        if entry is not None:
            self._free.append(entry[2])

    def __len__(self) -> int:
        return len(self._subs)

    def subscriber(self, imsi: str) -> Subscriber | None:
        entry = self._subs.get(imsi)
        if entry is None:
            return None
        sub, _, slot = entry
        sqn = self._sqn[slot]
        return sub if sub.sqn == sqn else _with_sqn(sub, sqn)

    def authentication_vector(self, imsi: str, rand: bytes) -> AuthenticationVector | None:
        entry = self._subs.get(imsi)
        if entry is None:
            return None
        sub, milenage, slot = entry
        # next_sqn inlined (TS 33.102 Annex C.3.2: SEQ + 1, IND + 1 mod 2^IND bits; the
        # same ConfigError when SEQ overflows its 48 - ind_bits bits)
        old, ind_bits = self._sqn[slot], self.ind_bits
        sqn = ((old >> ind_bits) + 1) << ind_bits | ((old + 1) & ((1 << ind_bits) - 1))
        if sqn > SQN_MAX:
            raise ConfigError("SQN space exhausted")
        self._sqn[slot] = sqn
        amf = sub.amf
        if type(rand) is bytes and len(rand) == 16 and type(amf) is bytes:
            # generate_vector's usual case inline (a record's AMF is 2 octets; SQN checked)
            xres, ck, ik, autn = milenage.vector_parts(rand, sqn, amf)
            return _vector(rand, xres, ck, ik, autn, sqn)
        return generate_vector(milenage, sqn, amf, rand)

    def resynchronise(self, imsi: str, rand: bytes, auts: bytes) -> bool:
        entry = self._subs.get(imsi)
        if entry is None or len(auts) != 14 or len(rand) != 16:
            return False
        sqn_ms = resynchronise(entry[1], rand, auts)
        if sqn_ms is None:
            return False
        # TS 33.102 §6.3.5: the HE resets SQN_HE to SQN_MS; the next vector is fresh.
        self._sqn[entry[2]] = sqn_ms
        return True
