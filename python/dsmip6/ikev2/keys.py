"""Key derivation (RFC 7296 §2.13-2.18; RFC 5282 §7.1 for AEAD salts).

::

    SKEYSEED = prf(Ni | Nr, g^ir)
    {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
    rekey:  SKEYSEED = prf(SK_d(old), g^ir(new) | Ni | Nr)
    child:  KEYMAT = prf+(SK_d, [g^ir(new) |] Ni | Nr), taken in the order
            encr(I->R) integ(I->R) encr(R->I) integ(R->I)
"""

from __future__ import annotations

from dataclasses import dataclass

from dsmip6._frozen import builder
from dsmip6.ikev2.transforms import Encr, Integ, Prf


def skeyseed(prf: Prf, ni: bytes, nr: bytes, g_ir: bytes) -> bytes:
    return prf(ni + nr, g_ir)


def rekey_skeyseed(prf: Prf, old_sk_d: bytes, g_ir: bytes, ni: bytes, nr: bytes) -> bytes:
    return prf(old_sk_d, g_ir + ni + nr)


@dataclass(frozen=True, slots=True)  # no __dict__: one per SA in flight (memory per UE)
class IkeKeys:
    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes


def derive_ike_keys(
    prf: Prf,
    encr: Encr,
    integ: Integ | None,
    seed: bytes,
    ni: bytes,
    nr: bytes,
    spi_i: bytes,
    spi_r: bytes,
) -> IkeKeys:
    """Split prf+(SKEYSEED, Ni|Nr|SPIi|SPIr) into the seven IKE SA keys."""
    a = integ.key_size if integ is not None else 0
    e = encr.key_size
    p = prf.key_size
    km = prf.plus(seed, ni + nr + spi_i + spi_r, p + 2 * a + 2 * e + 2 * p)
    # SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr, of p, a, a, e, e, p, p octets
    o1 = p + a
    o2 = o1 + a
    o3 = o2 + e
    o4 = o3 + e
    return _ike_keys(
        km[:p], km[p:o1], km[o1:o2], km[o2:o3], km[o3:o4], km[o4 : o4 + p], km[o4 + p :]
    )


@dataclass(frozen=True)
class ChildKeys:
    encr_i: bytes
    """I->R encryption key (AEAD: key ‖ salt)."""
    integ_i: bytes
    encr_r: bytes
    integ_r: bytes


_ike_keys = builder(IkeKeys)  # = IkeKeys(...), cheaper (dsmip6._frozen)
_child_keys = builder(ChildKeys)


def derive_child_keys(
    prf: Prf,
    sk_d: bytes,
    encr_size: int,
    integ_size: int,
    ni: bytes,
    nr: bytes,
    g_ir: bytes = b"",
) -> ChildKeys:
    km = prf.plus(sk_d, g_ir + ni + nr, 2 * (encr_size + integ_size))
    e, a = encr_size, integ_size
    return _child_keys(km[:e], km[e : e + a], km[e + a : 2 * e + a], km[2 * e + a :])
