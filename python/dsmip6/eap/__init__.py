"""EAP-AKA (RFC 4187) and EAP-AKA' (RFC 5448 / RFC 9048), sans-I/O, for IKEv2 EAP authentication.

* ``EapAkaPeer(usim, identity, *, rng)`` — the UE side, driven by a ``dsmip6.aka.Usim``.
* ``EapAkaServer(store, *, rng, identity=None)`` — the HA's embedded AAA, backed by a
  ``SubscriberStore`` (``InMemorySubscriberStore`` of ``Subscriber`` records).
* ``EapAkaPrimePeer`` / ``EapAkaPrimeServer`` — the same for EAP-AKA' (network name needed).
* ``permanent_nai(imsi)`` — the TS 23.003 §19.3 root NAI.

Both machines take and return whole EAP packets (``bytes``); neither raises on input.
"""

from __future__ import annotations

from ._crypto import EapAkaKeys, derive_keys, fips186_2_prf
from ._identity import imsi_from_identity, permanent_nai
from ._packet import AkaSubtype, AtType, EapCode, EapPacket, EapType
from ._state import PeerState, ServerState
from ._subscribers import InMemorySubscriberStore, Subscriber, SubscriberStore
from .peer import EapAkaPeer, EapAkaPrimePeer
from .server import EapAkaPrimeServer, EapAkaServer

__all__ = [
    "AkaSubtype",
    "AtType",
    "EapAkaKeys",
    "EapAkaPeer",
    "EapAkaPrimePeer",
    "EapAkaPrimeServer",
    "EapAkaServer",
    "EapCode",
    "EapPacket",
    "EapType",
    "InMemorySubscriberStore",
    "PeerState",
    "ServerState",
    "Subscriber",
    "SubscriberStore",
    "derive_keys",
    "fips186_2_prf",
    "imsi_from_identity",
    "permanent_nai",
]
