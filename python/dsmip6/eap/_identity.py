"""EAP-AKA identities: permanent NAIs (RFC 4187 §4.1.1.6, TS 23.003 §19.3)."""

from __future__ import annotations

from dsmip6.errors import ConfigError

__all__ = ["PREFIX_AKA", "PREFIX_AKA_PRIME", "imsi_from_identity", "permanent_nai"]

#: Leading digit of a permanent identity: "0" for EAP-AKA, "6" for EAP-AKA' (TS 23.003 §19.3.2).
PREFIX_AKA = "0"
PREFIX_AKA_PRIME = "6"


def permanent_nai(imsi: str, mnc_length: int = 2, *, prime: bool = False) -> str:
    """Root NAI ``0<IMSI>@nai.epc.mnc<MNC>.mcc<MCC>.3gppnetwork.org`` (TS 23.003 §19.3.2).

    ``mnc_length`` is the number of MNC digits in the IMSI (2 or 3); the MNC is written with
    3 digits in the realm (a 2-digit MNC gets a leading zero). ``prime`` uses the EAP-AKA'
    prefix "6". Raises ``ConfigError`` for an IMSI that is not 6..15 digits.
    """
    if not imsi.isdigit() or not 6 <= len(imsi) <= 15 or not imsi.isascii():
        raise ConfigError(f"IMSI {imsi!r} is not 6..15 decimal digits")
    if mnc_length not in (2, 3):
        raise ConfigError("mnc_length must be 2 or 3")
    mcc = imsi[:3]
    mnc = imsi[3 : 3 + mnc_length].rjust(3, "0")
    prefix = PREFIX_AKA_PRIME if prime else PREFIX_AKA
    return f"{prefix}{imsi}@nai.epc.mnc{mnc}.mcc{mcc}.3gppnetwork.org"


def imsi_from_identity(identity: str, prefix: str = PREFIX_AKA) -> str | None:
    """The IMSI of a permanent identity ``<prefix><IMSI>[@realm]``, else None (pseudonym,
    re-authentication identity, or anything else)."""
    username = identity.split("@", 1)[0]
    if len(username) < 2 or username[0] != prefix:
        return None
    imsi = username[1:]
    if not imsi.isascii() or not imsi.isdigit() or not 6 <= len(imsi) <= 15:
        return None
    return imsi
