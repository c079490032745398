"""ESP security associations (RFC 4303) backed by the Rust core.

``SecurityAssociation`` holds one direction's keys, sequence counter, anti-replay window
(1024 packets, checked before the ICV, moved only after it verified) and counters:

* ``algorithm``: ``"aes-gcm-128"`` / ``"aes-gcm-256"`` (RFC 4106, 16-octet ICV; ``key`` is the
  AES key followed by the 4-octet salt), ``"chacha20-poly1305"`` (RFC 7634; 32-octet key +
  4-octet salt), ``"aes-cbc-hmac-sha256"`` (RFC 3602 + RFC 4868: 16/24/32-octet AES key and a
  32-octet ``integrity_key``), ``"null"`` (RFC 2410, for debugging: ``key=b""``, optional
  HMAC-SHA-256-128 ``integrity_key``; without one there is no ICV and no anti-replay).
* ``mode="transport"``: ``encrypt`` inserts ESP after the IP header and any Hop-by-Hop,
  Routing (RH2) and Destination Options (HAO) headers; ``decrypt`` removes it and restores the
  Next Header and lengths. ``mode="tunnel"``: ``encrypt`` wraps the whole packet behind a new
  IPv6/IPv4 header from ``tunnel_src`` to ``tunnel_dst``; ``decrypt`` returns the inner packet.
* ``udp_encap=(sport, dport)`` adds the RFC 3948 UDP header on output; on input ESP in UDP and
  plain ESP are both accepted (RFC 3948 §4).
* ``esn=True``: 64-bit sequence numbers (RFC 4303 §2.2.1; high bits inferred per Appendix A).
* ``initial_sequence`` (keyword): the last sequence number already used (resuming an SA).
* ``compact=True`` (keyword): keep an AEAD key raw and expand it for each packet (same
  packets and checks; ~340 octets per SA instead of ~900): for SAs that carry few packets,
  such as the HA's per-UE Mobility Header SAs.

IVs: AES-GCM and ChaCha20-Poly1305 use the 64-bit sequence number (unique per SA, RFC 4106
§3.1); AES-CBC uses AES-128 of the sequence number under a random per-SA key drawn once from
the OS, so IVs are unpredictable (RFC 3602 §2.4).

Errors (``dsmip6.errors``): ``MalformedPacket`` (truncated / not ESP / bad headers),
``UnknownSpi``, ``ReplayedPacket``, ``IntegrityCheckFailed``, ``BadPadding``,
``SequenceNumberExhausted`` (the SA refuses to wrap: rekey). A failed ``decrypt`` changes
nothing but the SA's ``drop_*`` counter.

Batch variants: ``encrypt_batch(packets) -> list[bytes]`` (raises the first error; packets
before it used their sequence numbers) and ``decrypt_batch(packets) -> list[bytes | None]``
(None for a dropped packet; reasons in ``counters()``). Both release the GIL.
``decrypt`` returns ``b""`` for an authentic dummy packet (Next Header 59).
"""

from __future__ import annotations

from dsmip6 import _core

__all__ = ["ALGORITHMS", "MAX_OVERHEAD", "SecurityAssociation"]

SecurityAssociation = _core.esp.SecurityAssociation
ALGORITHMS: tuple[str, ...] = _core.esp.ALGORITHMS
MAX_OVERHEAD: int = _core.esp.MAX_OVERHEAD
