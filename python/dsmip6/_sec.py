"""Adapter between the procedures and ESP (contract B, ``dsmip6.esp``).

All Mobility Header signalling rides one ESP transport-mode SA pair keyed on the HoA
(RFC 4877 §4.2, §4.4; procedures.md §10 rule 1). The procedures see an SA as something that
``protect``s an outgoing IPv6 packet and ``unprotect``s an incoming one; :func:`esp_sa` builds
the real one from a :class:`~dsmip6.dataplane_iface.SaSpec` (what the IKEv2 child SA yields).
"""

from __future__ import annotations

from typing import Any, Protocol

from dsmip6.dataplane_iface import SaSpec

__all__ = ["OutboundSa", "InboundSa", "EspSa", "esp_sa", "compact_esp_sa"]


class OutboundSa(Protocol):
    """Protects outgoing packets."""

    spi: int

    def protect(self, packet: bytes) -> bytes: ...


class InboundSa(Protocol):
    """Verifies and strips incoming ESP; raises an ``EspError`` subclass on failure."""

    spi: int

    def unprotect(self, packet: bytes) -> bytes: ...


_SA_CLASS: list[Any] = []


def _esp_class() -> Any:
    """``dsmip6.esp.SecurityAssociation`` (contract B), imported on first use only."""
    if not _SA_CLASS:
        from dsmip6 import esp

        _SA_CLASS.append(esp.SecurityAssociation)
    return _SA_CLASS[0]


class EspSa:
    """One direction of the HoA-keyed MH transport SA over ``dsmip6.esp.SecurityAssociation``.

    ``spec`` (keys included) is kept only when ``keep_spec`` is true: test tools re-create an
    SA from it. Without it (the HA, :func:`compact_esp_sa`) the wrapper holds only the SPI and
    a *compact* Rust SA, whose AEAD key is expanded per packet instead of kept expanded
    (~340 octets instead of ~900: two per UE, a few packets per UE per lifetime)."""

    __slots__ = ("spi", "spec", "_sa")

    def __init__(self, spec: SaSpec, keep_spec: bool = True) -> None:
        self.spi = spec.spi
        self.spec: SaSpec | None = spec if keep_spec else None
        self._sa = _esp_class()(
            spi=spec.spi,
            mode=spec.mode,
            algorithm=spec.algorithm,
            key=spec.key,
            integrity_key=spec.integrity_key,
            esn=spec.esn,
            compact=not keep_spec,
        )

    @classmethod
    def compact(
        cls, spi: int, mode: str, algorithm: str, key: bytes, integrity_key: bytes | None,
        esn: bool,
    ) -> EspSa:  # fmt: skip
        """A compact SA (no spec kept) from the fields a :class:`SaSpec` would carry."""
        sa = cls.__new__(cls)
        sa.spi = spi
        sa.spec = None
        sa._sa = _esp_class()(spi=spi, mode=mode, algorithm=algorithm, key=key,
                              integrity_key=integrity_key, esn=esn, compact=True)  # fmt: skip
        return sa

    def protect(self, packet: bytes) -> bytes:
        """ESP transport mode after the IPv6 header and any RH2/HAO (RFC 4303 §3.1.1)."""
        return bytes(self._sa.encrypt(packet))

    def unprotect(self, packet: bytes) -> bytes:
        """Check and remove ESP (replay window, ICV); the packet comes back without it."""
        return bytes(self._sa.decrypt(packet))


def esp_sa(spec: SaSpec) -> EspSa:
    """The real SA factory (the machines take any ``Callable[[SaSpec], EspSa-like]``)."""
    return EspSa(spec)


def compact_esp_sa(spec: SaSpec) -> EspSa:
    """:func:`esp_sa` without keeping the spec: what the HA holds per UE (two per UE)."""
    return EspSa(spec, keep_spec=False)
