"""EAP-AKA (RFC 4187) and EAP-AKA' (RFC 5448 / RFC 9048), sans-I/O, for IKEv2 EAP authentication.

* ``EapAkaPeer(usim, identity, *, rng)`` — the UE side, driven by a ``dsmip6.aka.Usim``.
* ``EapAkaServer(store, *, rng, identity=None)`` — the HA's embedded AAA, backed by a
  ``SubscriberStore`` (``InMemorySubscriberStore`` of ``Subscriber`` records).
* ``EapAkaPrimePeer`` / ``EapAkaPrimeServer`` — the same for EAP-AKA' (network name needed).
* ``permanent_nai(imsi)`` — the TS 23.003 §19.3 root NAI.
* Fast re-authentication (RFC 4187 §5, EAP-AKA): give the server a ``reauth_store``
  (``InMemoryReauthStore``); the peer's ``reauth_context`` after success feeds the next
  ``EapAkaPeer(usim, ctx.reauth_id, rng=..., reauth=ctx, permanent_identity=nai)``.

Both machines take and return whole EAP packets (``bytes``); neither raises on input.
"""

from __future__ import annotations

from ._crypto import EapAkaKeys, derive_keys, fips186_2_prf
from ._identity import imsi_from_identity, permanent_nai
from ._packet import AkaSubtype, AtType, EapCode, EapPacket, EapType
from ._reauth import (
    InMemoryPseudonymStore,
    InMemoryReauthStore,
    PseudonymStore,
    ReauthContext,
    ReauthStore,
)
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
    "InMemoryPseudonymStore",
    "InMemoryReauthStore",
    "InMemorySubscriberStore",
    "PeerState",
    "PseudonymStore",
    "ReauthContext",
    "ReauthStore",
    "ServerState",
    "Subscriber",
    "SubscriberStore",
    "derive_keys",
    "fips186_2_prf",
    "imsi_from_identity",
    "permanent_nai",
]
