"""Every exception dsmip6 raises, in one module.

The Rust core imports these classes (``pyo3::import_exception!``) so that errors from
``dsmip6._core`` and from the Python layers share one hierarchy:

* ``Dsmip6Error`` — root of everything below.
* ``MalformedPacket`` (also a ``ValueError``) — bytes that do not parse; the message names
  the offset and the reason. ``BadChecksum`` is the Mobility Header checksum case.
* ``EspError`` and its children — ESP processing failures, one class per reason so that
  callers can count them separately (RFC 4303 §3.4).
* ``ProtocolError`` → ``LocalProtocolError`` (the caller misused an API) and
  ``RemoteProtocolError`` (the peer broke the spec) — STYLE §5.5.
* ``ConfigError`` — a configuration value or CLI argument that cannot be used.
"""

from __future__ import annotations

__all__ = [
    "Dsmip6Error",
    "MalformedPacket",
    "BadChecksum",
    "EspError",
    "UnknownSpi",
    "RateLimited",
    "ReplayedPacket",
    "IntegrityCheckFailed",
    "BadPadding",
    "SequenceNumberExhausted",
    "CacheError",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "ConfigError",
]


class Dsmip6Error(Exception):
    """Root of every exception raised by dsmip6."""


class MalformedPacket(Dsmip6Error, ValueError):
    """Bytes that are not a valid packet, header, message or option.

    ``offset`` is the octet offset (from the start of the buffer handed in) where the
    problem was found, when known; ``reason`` is a short machine-friendly word such as
    ``"truncated"``, ``"bad-length"`` or ``"bad-alignment"``.
    """

    def __init__(self, message: str, offset: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.offset = offset
        self.reason = reason


class BadChecksum(MalformedPacket):
    """A Mobility Header (or other) checksum did not verify (RFC 6275 §6.1.1)."""


class EspError(Dsmip6Error):
    """An ESP packet could not be processed (RFC 4303 §3.4)."""


class UnknownSpi(EspError):
    """No security association matches the packet's SPI."""


class RateLimited(EspError):
    """Dropped before decryption: the sending UE's per-UE budget at the HA is spent."""


class ReplayedPacket(EspError):
    """The sequence number is a duplicate or left of the anti-replay window."""


class IntegrityCheckFailed(EspError):
    """The ICV did not verify: the packet was altered or the key is wrong."""


class BadPadding(EspError):
    """The decrypted trailer has a wrong pad length or wrong padding bytes (RFC 4303 §2.4)."""


class SequenceNumberExhausted(EspError):
    """The SA has used its last sequence number and must be rekeyed (RFC 4303 §3.3.3)."""


class CacheError(Dsmip6Error, KeyError):
    """A binding-cache operation referred to an entry that does not exist or conflicts."""


class ProtocolError(Dsmip6Error):
    """A protocol rule was broken; see the two subclasses for who broke it."""


class LocalProtocolError(ProtocolError):
    """The caller asked the state machine for something its current state does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the specification forbids.

    ``ba_status_hint`` / ``binding_error_hint`` carry the Binding Acknowledgement status or
    Binding Error status the receiving side should answer with, when one applies.
    """

    def __init__(
        self,
        message: str,
        *,
        ba_status_hint: int | None = None,
        binding_error_hint: int | None = None,
    ):
        super().__init__(message)
        self.ba_status_hint = ba_status_hint
        self.binding_error_hint = binding_error_hint


class ConfigError(Dsmip6Error, ValueError):
    """A configuration value or command-line argument that cannot be used."""
