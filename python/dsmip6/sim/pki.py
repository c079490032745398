"""HA credentials and test subscribers for simulations (harness only).

The HA authenticates itself with a certificate when the UE uses EAP (RFC 5026 §5.2, RFC 7296
§2.16). The simulation derives the key from a seed (``ec.derive_private_key``) so runs are
repeatable, and self-signs the certificate the UEs then trust.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["HaCredentials", "ha_credentials", "subscriber_keys", "imsi", "nai"]


@dataclass(frozen=True)
class HaCredentials:
    certificate: Any
    private_key: Any


def ha_credentials(name: str = "ha.dsmip6.sim", seed: int = 1) -> HaCredentials:
    """A P-256 key derived from ``seed`` and a self-signed certificate for ``name``."""
    secret = int.from_bytes(hashlib.sha256(f"ha-key/{seed}".encode()).digest(), "big")
    key = ec.derive_private_key(secret % (2**255) + 1, ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    not_before = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(seed)
        .not_valid_before(not_before)
        .not_valid_after(not_before + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return HaCredentials(cert, key)


def imsi(i: int, mcc: str = "001", mnc: str = "01") -> str:
    """The i-th test IMSI (15 digits)."""
    return f"{mcc}{mnc}{i:010d}"


def nai(i: int, mcc: str = "001", mnc: str = "01") -> str:
    """TS 23.003 §19.3 root NAI for EAP-AKA: ``0<IMSI>@nai.epc.mnc<MNC>.mcc<MCC>...``."""
    return f"0{imsi(i, mcc, mnc)}@nai.epc.mnc{int(mnc):03d}.mcc{mcc}.3gppnetwork.org"


def subscriber_keys(i: int) -> tuple[bytes, bytes]:
    """(K, OPc) of the i-th test subscriber."""
    d = hashlib.sha256(f"sub/{i}".encode()).digest()
    return d[:16], d[16:]
