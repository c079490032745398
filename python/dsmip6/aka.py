"""UMTS AKA: Milenage (3GPP TS 35.206), a USIM model and home-environment helpers.

Pure Python and sans-I/O; the only primitive is AES-128 from ``cryptography``.

Theory of operation
===================

1. ``Milenage`` is the algorithm set f1, f1*, f2, f3, f4, f5, f5* of TS 35.206 §4.1 keyed by
   the subscriber key K and the operator variant OPc (or OP, from which OPc = OP ⊕ E_K(OP) is
   derived once). Every output is a big-endian ``bytes`` string.
2. ``Usim`` is the subscriber side of AKA (TS 33.102 §6.3.3): it opens AUTN with AK, checks
   MAC-A (failure → ``AkaStatus.MAC_FAILURE``, the EAP layer answers Authentication-Reject),
   optionally checks the AMF separation bit (TS 33.102 Annex H), checks SQN freshness
   (failure → ``AkaStatus.SYNC_FAILURE`` with AUTS for resynchronisation) and returns
   RES, CK, IK. Its state (the accepted sequence numbers) changes only on success.
3. SQN freshness follows TS 33.102 Annex C.2: SQN = SEQ ‖ IND with ``ind_bits`` index bits
   (default 5, i.e. an array of 32 SEQ_MS values). A SQN is accepted when its SEQ is larger
   than the SEQ_MS stored at its IND and no more than ``delta`` above the largest stored
   SEQ_MS (C.2.2), and, when ``age_limit`` is set, not more than ``age_limit`` below it
   (C.2.2, the optional "L" check). ``ind_bits=0`` gives the simple scheme: one stored SQN,
   accept anything larger by at most ``delta``.
4. The home-environment side (``generate_vector``, ``next_sqn``, ``resynchronise``) builds
   authentication vectors AV = (RAND, XRES, CK, IK, AUTN) with AUTN = SQN ⊕ AK ‖ AMF ‖ MAC-A
   (TS 33.102 §6.3.2) and recovers SQN_MS from AUTS (TS 33.102 §6.3.5). RAND is always given
   by the caller (drawn from an injected generator), never read from the system.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import constant_time
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from dsmip6._frozen import builder
from dsmip6.errors import ConfigError, MalformedPacket

__all__ = [
    "AMF_RESYNC",
    "AkaResult",
    "AkaStatus",
    "AuthenticationVector",
    "Milenage",
    "Usim",
    "compute_opc",
    "generate_vector",
    "next_sqn",
    "resynchronise",
]

SQN_MAX = (1 << 48) - 1
#: The dummy AMF used in AUTS (TS 33.102 §6.3.3: "AMF ... set to all zeros" for MAC-S).
AMF_RESYNC = b"\x00\x00"

# TS 35.206 §4.1 constants: rotations r1..r5 = 64, 0, 32, 64, 96 bits and c1..c5 = the
# 128-bit integers 0, 1, 2, 4, 8 (only the last octet is non-zero).
_C2, _C3, _C4, _C5 = 1, 2, 4, 8
_MASK128 = (1 << 128) - 1


def _check_len(name: str, value: bytes, length: int) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise MalformedPacket(f"{name} must be {length} octets, got {got}", reason="bad-length")
    return bytes(value)


def _rotl(x: int, bits: int) -> int:
    """Cyclic rotation of a 128-bit value towards the most significant bit (TS 35.206 §4.1)."""
    return ((x << bits) | (x >> (128 - bits))) & _MASK128


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")


def compute_opc(k: bytes, op: bytes) -> bytes:
    """OPc = OP ⊕ E_K(OP) (TS 35.206 §4.1)."""
    k = _check_len("K", k, 16)
    op = _check_len("OP", op, 16)
    enc = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
    return _xor16(op, enc.update(op))


class Milenage:
    """The Milenage algorithm set for one subscriber (TS 35.206).

    Build it once per subscriber (it keeps one AES context) and call the functions with the
    per-challenge values. Exactly one of ``op`` and ``opc`` must be given.

    Raises ``ConfigError`` when neither or both of OP/OPc are given, ``MalformedPacket``
    (a ``ValueError``) for a value of the wrong length.
    """

    __slots__ = ("_enc", "_opc", "_opc_int", "_mask_in", "_opc4")

    def __init__(self, k: bytes, op: bytes | None = None, opc: bytes | None = None) -> None:
        k = _check_len("K", k, 16)
        if (op is None) == (opc is None):
            raise ConfigError("Milenage needs exactly one of OP and OPc")
        self._enc = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
        if op is not None:
            op = _check_len("OP", op, 16)
            opc = _xor16(op, self._enc.update(op))
        assert opc is not None
        self._opc = _check_len("OPc", opc, 16)
        self._opc_int = int.from_bytes(self._opc, "big")
        self._opc4 = int.from_bytes(self._opc * 4, "big")
        # What OPc and the constants contribute to the four AES inputs of OUT1..OUT4 (TS
        # 35.206 §4.1), each rotation being linear over XOR: rot(TEMP ⊕ OPc) = rot(TEMP) ⊕
        # rot(OPc), and IN1 = SQN ‖ AMF ‖ SQN ‖ AMF is its own r1 = 64 rotation, so OUT1's
        # input is TEMP ⊕ IN1 ⊕ rot64(OPc). The inputs are then TEMP's octets laid out four
        # times (rotated by 0, 0, 4, 8 octets) XOR this mask XOR IN1 in the first block.
        o = self._opc_int
        rot32 = ((o << 32) | (o >> 96)) & _MASK128
        rot64 = ((o << 64) | (o >> 64)) & _MASK128
        self._mask_in = rot64 << 384 | (o ^ _C2) << 256 | (rot32 ^ _C3) << 128 | (rot64 ^ _C4)

    @property
    def opc(self) -> bytes:
        """The operator variant OPc in use (derived from OP when OP was given)."""
        return self._opc

    def _temp(self, rand: bytes) -> int:
        """TEMP ⊕ OPc as an integer (the common input of OUT2..OUT5)."""
        if len(rand) != 16:
            _check_len("RAND", rand, 16)
        x = int.from_bytes(rand, "big") ^ self._opc_int
        return int.from_bytes(self._enc.update(x.to_bytes(16, "big")), "big")

    def _out1(self, rand: bytes, sqn: bytes | int, amf: bytes) -> bytes:
        temp = self._temp(rand)
        if isinstance(sqn, int):
            if not 0 <= sqn <= SQN_MAX:
                raise MalformedPacket(f"SQN {sqn} is not a 48-bit value", reason="bad-length")
            sqn = sqn.to_bytes(6, "big")
        sqn = _check_len("SQN", sqn, 6)
        amf = _check_len("AMF", amf, 2)
        in1 = int.from_bytes(sqn + amf + sqn + amf, "big")
        x = temp ^ _rotl(in1 ^ self._opc_int, 64)  # r1 = 64, c1 = 0
        out = int.from_bytes(self._enc.update(x.to_bytes(16, "big")), "big") ^ self._opc_int
        return out.to_bytes(16, "big")

    def f1(self, rand: bytes, sqn: bytes | int, amf: bytes) -> bytes:
        """MAC-A, the 8-octet network authentication code (SQN as 6 octets or an integer)."""
        return self._out1(rand, sqn, amf)[:8]

    def f1star(self, rand: bytes, sqn: bytes | int, amf: bytes) -> bytes:
        """MAC-S, the 8-octet resynchronisation authentication code (SQN as 6 octets or an
        integer)."""
        return self._out1(rand, sqn, amf)[8:]

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """(RES 8 octets, CK 16, IK 16, AK 6) for one RAND.

        OUT2..OUT4 are independent once TEMP is known, so they go through AES in one call.
        """
        t = self._temp(rand) ^ self._opc_int
        blocks = (
            (t ^ _C2).to_bytes(16, "big")  # r2 = 0
            + (_rotl(t, 32) ^ _C3).to_bytes(16, "big")
            + (_rotl(t, 64) ^ _C4).to_bytes(16, "big")
        )
        out = int.from_bytes(self._enc.update(blocks), "big") ^ int.from_bytes(self._opc * 3, "big")
        x = out.to_bytes(48, "big")
        return x[8:16], x[16:32], x[32:48], x[0:6]

    def f1_f2345(self, rand: bytes, sqn: bytes, amf: bytes) -> tuple[bytes, ...]:
        """(MAC-A, RES, CK, IK, AK) for one vector: TEMP once, OUT1..OUT4 in one AES call
        (the home-environment side needs all five; same values as ``f1`` and ``f2345``)."""
        if len(rand) != 16:
            _check_len("RAND", rand, 16)
        if len(sqn) != 6 or len(amf) != 2:
            _check_len("SQN", sqn, 6)
            _check_len("AMF", amf, 2)
        x = self._out1234(rand, int.from_bytes(sqn + amf + sqn + amf, "big")).to_bytes(64, "big")
        return x[0:8], x[24:32], x[32:48], x[48:64], x[16:22]

    def _out1234(self, rand: bytes, in1: int) -> int:
        """OUT1 ‖ OUT2 ‖ OUT3 ‖ OUT4 as one 512-bit integer (TS 35.206 §4.1): TEMP once,
        then the four AES inputs in one call; ``in1`` is IN1 = SQN ‖ AMF ‖ SQN ‖ AMF."""
        enc = self._enc.update
        temp = enc((int.from_bytes(rand, "big") ^ self._opc_int).to_bytes(16, "big"))
        twice = temp + temp
        # TEMP, TEMP, rot32(TEMP), rot64(TEMP) as octets, then OPc, the constants and IN1
        # (``_mask_in``, see __init__): the four AES inputs in one 512-bit XOR
        blocks = (
            int.from_bytes(twice + twice[4:20] + twice[8:24], "big") ^ self._mask_in ^ in1 << 384
        ).to_bytes(64, "big")
        return int.from_bytes(enc(blocks), "big") ^ self._opc4

    def vector_parts(self, rand: bytes, sqn: int, amf: bytes) -> tuple[bytes, ...]:
        """(XRES, CK, IK, AUTN) for RAND, a 48-bit integer SQN and a 2-octet AMF: what
        ``f1_f2345`` gives, with AUTN = SQN ⊕ AK ‖ AMF ‖ MAC-A (TS 33.102 §6.3.2) formed on
        the integers (one frame for the home environment's vector; same values). The
        caller checks the lengths and the SQN range (``generate_vector``)."""
        sqn_amf = sqn << 16 | amf[0] << 8 | amf[1]
        enc = self._enc.update
        # _out1234 written out, with SQN folded into the output mask: AK is OUT2's first 6
        # octets (octets 16..21 of the 64, bits 336..383), so XORing SQN there along with
        # OPc leaves SQN ⊕ AK in those octets, AUTN's first field (one conversion fewer)
        temp = enc((int.from_bytes(rand, "big") ^ self._opc_int).to_bytes(16, "big"))
        twice = temp + temp
        blocks = (
            int.from_bytes(twice + twice[4:20] + twice[8:24], "big")
            ^ self._mask_in
            ^ (sqn_amf << 64 | sqn_amf) << 384  # IN1 = SQN ‖ AMF ‖ SQN ‖ AMF
        ).to_bytes(64, "big")
        x = (int.from_bytes(enc(blocks), "big") ^ self._opc4 ^ sqn << 336).to_bytes(64, "big")
        return x[24:32], x[32:48], x[48:64], x[16:22] + amf + x[0:8]

    def f5star(self, rand: bytes) -> bytes:
        """AK*, the 6-octet anonymity key used in AUTS."""
        t = self._temp(rand) ^ self._opc_int
        block = (_rotl(t, 96) ^ _C5).to_bytes(16, "big")
        out = int.from_bytes(self._enc.update(block), "big") ^ self._opc_int
        return out.to_bytes(16, "big")[:6]


# ------------------------------------------------------------------------------------------
# The USIM


class AkaStatus(enum.Enum):
    """Outcome of one AKA run on the USIM (TS 33.102 §6.3.3)."""

    SUCCESS = "success"
    """AUTN verified and fresh: RES, CK, IK are available."""
    MAC_FAILURE = "mac-failure"
    """MAC-A did not verify: the network is not authentic (EAP: Authentication-Reject)."""
    SYNC_FAILURE = "sync-failure"
    """SQN not fresh: AUTS is available for resynchronisation (EAP: Synchronization-Failure)."""
    AMF_FAILURE = "amf-failure"
    """MAC-A verified but the AMF separation bit is not the expected one (TS 33.102 Annex H)."""


@dataclass(frozen=True, slots=True)
class AkaResult:
    """The result of ``Usim.authenticate``."""

    status: AkaStatus
    """What happened; the other fields are set according to it."""
    res: bytes | None = None
    """RES (f2), on success."""
    ck: bytes | None = None
    """CK (f3), on success."""
    ik: bytes | None = None
    """IK (f4), on success."""
    auts: bytes | None = None
    """AUTS = SQN_MS ⊕ AK* ‖ MAC-S (14 octets), on SYNC_FAILURE."""
    sqn: int | None = None
    """The SQN recovered from AUTN (when MAC-A verified)."""

    @property
    def ok(self) -> bool:
        return self.status is AkaStatus.SUCCESS


class Usim:
    """A software USIM: Milenage with K and OPc (or OP), and TS 33.102 Annex C.2 SQN checks.

    * ``sqn``: the highest SQN accepted so far (48-bit integer); every SEQ_MS entry starts at
      its SEQ part.
    * ``amf``: the AMF this subscription is provisioned with. It is only used when
      ``check_amf`` is true (then the AUTN's AMF must equal it exactly).
    * ``separation_bit``: when 0 or 1, AMF bit 0 (the most significant bit) of every AUTN must
      have that value (TS 33.102 Annex H); ``None`` (default) does not check it.
    * ``ind_bits``: length of IND in bits (Annex C.3.2 suggests 5); 0 = one SQN_MS.
    * ``delta``: the largest accepted jump of SEQ above the highest SEQ_MS (Annex C.2.2, Δ;
      default 2^28).
    * ``age_limit``: optional L of Annex C.2.2 (reject SEQ more than L below the highest).
    * ``seq_ms``: a saved SEQ_MS array (see ``seq_ms``) to restore instead of starting every
      entry at ``sqn``'s SEQ.
    """

    def __init__(
        self,
        k: bytes,
        opc: bytes | None = None,
        sqn: int = 0,
        amf: bytes = b"\x80\x00",
        *,
        op: bytes | None = None,
        ind_bits: int = 5,
        delta: int = 1 << 28,
        age_limit: int | None = None,
        separation_bit: int | None = None,
        check_amf: bool = False,
        seq_ms: Sequence[int] | None = None,
    ) -> None:
        self.milenage = Milenage(k, op=op, opc=opc)
        if not 0 <= sqn <= SQN_MAX:
            raise ConfigError(f"SQN {sqn} is not a 48-bit value")
        if not 0 <= ind_bits <= 16:
            raise ConfigError(f"ind_bits {ind_bits} outside 0..16")
        if separation_bit not in (None, 0, 1):
            raise ConfigError("separation_bit must be None, 0 or 1")
        if delta <= 0 or (age_limit is not None and age_limit <= 0):
            raise ConfigError("delta and age_limit must be positive")
        self.amf = _check_len("AMF", amf, 2)
        self.ind_bits = ind_bits
        self.delta = delta
        self.age_limit = age_limit
        self.separation_bit = separation_bit
        self.check_amf = check_amf
        if seq_ms is None:
            self._seq_ms = [sqn >> ind_bits] * (1 << ind_bits)
        else:
            if len(seq_ms) != 1 << ind_bits or any(
                not 0 <= x < 1 << (48 - ind_bits) for x in seq_ms
            ):
                raise ConfigError(f"seq_ms must hold {1 << ind_bits} SEQ values")
            self._seq_ms = list(seq_ms)
        self._sqn_ms = sqn

    @property
    def seq_ms(self) -> tuple[int, ...]:
        """The SEQ_MS array (one entry per IND value): persist it with ``sqn_ms`` and pass
        both back (``sqn=``, ``seq_ms=``) to restore a USIM across restarts."""
        return tuple(self._seq_ms)

    @property
    def sqn_ms(self) -> int:
        """The highest SQN accepted so far (the SQN_MS sent in AUTS)."""
        return self._sqn_ms

    def _fresh(self, sqn: int) -> bool:
        seq = sqn >> self.ind_bits
        ind = sqn & ((1 << self.ind_bits) - 1)
        highest = max(self._seq_ms)
        if seq <= self._seq_ms[ind]:
            return False
        if seq - highest > self.delta:
            return False
        if self.age_limit is not None and highest - seq >= self.age_limit:
            return False
        return True

    def authenticate(self, rand: bytes, autn: bytes) -> AkaResult:
        """Run AKA on (RAND, AUTN) as the USIM does (TS 33.102 §6.3.3).

        Returns an ``AkaResult``; the USIM's SQN state changes only on SUCCESS. Raises
        ``MalformedPacket`` only for RAND/AUTN of the wrong length (the EAP codec has
        already checked them, so that would be a caller bug).
        """
        rand = _check_len("RAND", rand, 16)
        autn = _check_len("AUTN", autn, 16)
        res, ck, ik, ak = self.milenage.f2345(rand)
        sqn_bytes = bytes(a ^ b for a, b in zip(autn[:6], ak, strict=True))
        amf = autn[6:8]
        xmac = self.milenage.f1(rand, sqn_bytes, amf)
        if not constant_time.bytes_eq(xmac, autn[8:16]):
            return AkaResult(AkaStatus.MAC_FAILURE)
        sqn = int.from_bytes(sqn_bytes, "big")
        if self.separation_bit is not None and (amf[0] >> 7) != self.separation_bit:
            return AkaResult(AkaStatus.AMF_FAILURE, sqn=sqn)
        if self.check_amf and amf != self.amf:
            return AkaResult(AkaStatus.AMF_FAILURE, sqn=sqn)
        if not self._fresh(sqn):
            return AkaResult(AkaStatus.SYNC_FAILURE, auts=self.auts(rand), sqn=sqn)
        seq = sqn >> self.ind_bits
        self._seq_ms[sqn & ((1 << self.ind_bits) - 1)] = seq
        if seq >= self._sqn_ms >> self.ind_bits:
            self._sqn_ms = sqn
        return AkaResult(AkaStatus.SUCCESS, res=res, ck=ck, ik=ik, sqn=sqn)

    def auts(self, rand: bytes) -> bytes:
        """AUTS = (SQN_MS ⊕ f5*(RAND)) ‖ f1*(RAND, SQN_MS, AMF=0000) (TS 33.102 §6.3.3)."""
        sqn_ms = self._sqn_ms.to_bytes(6, "big")
        ak_star = self.milenage.f5star(rand)
        conc = bytes(a ^ b for a, b in zip(sqn_ms, ak_star, strict=True))
        return conc + self.milenage.f1star(rand, sqn_ms, AMF_RESYNC)


# ------------------------------------------------------------------------------------------
# Home environment (HSS/AuC) side


@dataclass(frozen=True, slots=True)
class AuthenticationVector:
    """One AKA authentication vector (TS 33.102 §6.3.2) plus the SQN it was made with."""

    rand: bytes
    """RAND, 16 octets."""
    xres: bytes
    """XRES = f2(RAND), 8 octets with Milenage."""
    ck: bytes
    """CK = f3(RAND), 16 octets."""
    ik: bytes
    """IK = f4(RAND), 16 octets."""
    autn: bytes
    """AUTN = SQN ⊕ AK ‖ AMF ‖ MAC-A, 16 octets."""
    sqn: int
    """SQN_HE used for this vector."""


def next_sqn(sqn: int, ind_bits: int = 5) -> int:
    """The next SQN_HE after ``sqn``: SEQ + 1 and IND + 1 mod 2^ind_bits (TS 33.102 C.3.2).

    Raises ``ConfigError`` when SEQ would overflow its 48 - ind_bits bits.
    """
    mask = (1 << ind_bits) - 1
    seq = (sqn >> ind_bits) + 1
    ind = (sqn + 1) & mask
    value = (seq << ind_bits) | ind
    if value > SQN_MAX:
        raise ConfigError("SQN space exhausted")
    return value


_vector = builder(AuthenticationVector)  # = AuthenticationVector(...), cheaper (dsmip6._frozen)


def generate_vector(milenage: Milenage, sqn: int, amf: bytes, rand: bytes) -> AuthenticationVector:
    """Build the authentication vector for (SQN, AMF, RAND) (TS 33.102 §6.3.2)."""
    if not 0 <= sqn <= SQN_MAX:
        raise ConfigError(f"SQN {sqn} is not a 48-bit value")
    if len(rand) == 16 and len(amf) == 2 and type(rand) is bytes and type(amf) is bytes:
        xres, ck, ik, autn = milenage.vector_parts(rand, sqn, amf)  # the usual inputs
        return _vector(rand, xres, ck, ik, autn, sqn)
    sqn_bytes = sqn.to_bytes(6, "big")
    mac_a, res, ck, ik, ak = milenage.f1_f2345(rand, sqn_bytes, amf)
    conc = (sqn ^ int.from_bytes(ak, "big")).to_bytes(6, "big")
    return _vector(bytes(rand), res, ck, ik, conc + amf + mac_a, sqn)


def resynchronise(milenage: Milenage, rand: bytes, auts: bytes) -> int | None:
    """Recover SQN_MS from AUTS and verify MAC-S (TS 33.102 §6.3.5).

    Returns SQN_MS, or ``None`` when MAC-S does not verify (the AUTS is not from the USIM).
    """
    auts = _check_len("AUTS", auts, 14)
    ak_star = milenage.f5star(rand)
    sqn_ms = bytes(a ^ b for a, b in zip(auts[:6], ak_star, strict=True))
    xmac_s = milenage.f1star(rand, sqn_ms, AMF_RESYNC)
    if not constant_time.bytes_eq(xmac_s, auts[6:]):
        return None
    return int.from_bytes(sqn_ms, "big")
