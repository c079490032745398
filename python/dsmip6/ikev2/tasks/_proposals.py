"""Building and choosing SA proposals (RFC 7296 §2.7, §3.3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dsmip6.ikev2.config import ChildProposal, IkeProposal
from dsmip6.ikev2.constants import EsnId, IntegId, ProtocolId, TransformType
from dsmip6.ikev2.message import Proposal, SaPayload, Transform

_T = TransformType


def ike_proposals(props: Sequence[IkeProposal], spi: bytes = b"") -> tuple[Proposal, ...]:
    out = []
    for n, p in enumerate(props, start=1):
        ts = [Transform(_T.ENCR, p.encr, p.key_bits), Transform(_T.PRF, p.prf)]
        if p.integ is not None:
            ts.append(Transform(_T.INTEG, p.integ))
        ts += [Transform(_T.DH, g) for g in p.dh_groups]
        out.append(Proposal(n, ProtocolId.IKE, spi, tuple(ts)))
    return tuple(out)


def child_proposals(props: Sequence[ChildProposal], spi: bytes, pfs: bool) -> tuple[Proposal, ...]:
    out = []
    for n, p in enumerate(props, start=1):
        ts = [Transform(_T.ENCR, p.encr, p.key_bits)]
        if p.integ is not None:
            ts.append(Transform(_T.INTEG, p.integ))
        if pfs:
            ts += [Transform(_T.DH, g) for g in p.dh_groups]
        ts.append(Transform(_T.ESN, EsnId.ESN if p.esn else EsnId.NO_ESN))
        out.append(Proposal(n, ProtocolId.ESP, spi, tuple(ts)))
    return tuple(out)


# plain ints: enum member access is slow on the per-transform path
_ENCR, _PRF, _INTEG, _DH, _ESN = (int(_T.ENCR), int(_T.PRF), int(_T.INTEG), int(_T.DH), int(_T.ESN))
_ESP, _IKE = int(ProtocolId.ESP), int(ProtocolId.IKE)
_INTEG_NONE = int(IntegId.NONE)
_ESN_ON, _ESN_OFF = int(EsnId.ESN), int(EsnId.NO_ESN)


def _has(prop: Proposal, ttype: int, tid: int, key_bits: int | None = None) -> bool:
    check_len = ttype == _ENCR
    for t in prop.transforms:
        if t.type == ttype and t.id == tid and (not check_len or t.key_length == key_bits):
            return True
    return False


def _integ_ok(prop: Proposal, integ: int | None) -> bool:
    integs = [t.id for t in prop.transforms if t.type == _INTEG]
    if integ is None:  # AEAD: no INTEG, or INTEG NONE (RFC 5282 §8)
        return all(i == _INTEG_NONE for i in integs)
    return integ in integs


def choose_ike(
    ours: Sequence[IkeProposal], theirs: Sequence[Proposal]
) -> tuple[int, IkeProposal, tuple[int, ...]] | None:
    """First of *our* proposals (preference order) the peer also offers.

    Returns (peer proposal number, our proposal, DH groups both accept, peer order)."""
    for mine in ours:
        for prop in theirs:
            if prop.protocol != _IKE:
                continue
            if not _has(prop, _ENCR, mine.encr, mine.key_bits):
                continue
            if not _has(prop, _PRF, mine.prf) or not _integ_ok(prop, mine.integ):
                continue
            groups = tuple(
                t.id for t in prop.transforms if t.type == _DH and t.id in mine.dh_groups
            )
            if not groups:
                continue
            return prop.number, mine, groups
    return None


_CHILD_CHOICES: dict[tuple[Any, ...], tuple[Any, ...]] = {}
"""choose_child's decisions by (our proposals, PFS group, per peer proposal: protocol, SPI
size, transform list), all by identity: the decoder shares one transform tuple per distinct
octets (``message._decode_transforms``) and ``config.parse_child_proposal`` (an LRU cache)
one frozen ``ChildProposal`` per distinct text, so the UEs of a deployment, which send the
same proposals, are decided once, also across responders configured alike. Each value keeps
the objects of its key alive (no identity is reused while the entry exists). Cleared when 64
are held."""


def choose_child(
    ours: Sequence[ChildProposal], theirs: Sequence[Proposal], pfs_group: int | None
) -> tuple[Proposal, ChildProposal, int | None] | None:
    """Choose an ESP proposal; returns (peer proposal, our proposal, DH group or None).

    The choice reads only each peer proposal's protocol, SPI size and transforms (never its
    number or SPI value), so it is remembered per distinct request (``_CHILD_CHOICES``)."""
    if len(theirs) == 1:  # the usual request: the same key, no generator or comprehension
        p = theirs[0]
        if type(p.transforms) is not tuple:
            return _choose_child(ours, theirs, pfs_group)  # a mutable list: no identity key
        key = (len(ours), *map(id, ours), pfs_group, (p.protocol, len(p.spi), id(p.transforms)))
    else:
        if any(type(p.transforms) is not tuple for p in theirs):
            return _choose_child(ours, theirs, pfs_group)
        key = (
            len(ours),
            *map(id, ours),
            pfs_group,
            *[(p.protocol, len(p.spi), id(p.transforms)) for p in theirs],
        )
    hit = _CHILD_CHOICES.get(key)
    if hit is not None:
        index, mine, group = hit[0], hit[1], hit[2]
        return None if index < 0 else (theirs[index], mine, group)
    chosen = _choose_child(ours, theirs, pfs_group)
    if len(_CHILD_CHOICES) >= 64:
        _CHILD_CHOICES.clear()
    keep = (tuple(ours), *[p.transforms for p in theirs])
    if chosen is None:
        _CHILD_CHOICES[key] = (-1, None, None, keep)
    else:
        index = next(i for i, p in enumerate(theirs) if p is chosen[0])
        _CHILD_CHOICES[key] = (index, chosen[1], chosen[2], keep)
    return chosen


def _choose_child(
    ours: Sequence[ChildProposal], theirs: Sequence[Proposal], pfs_group: int | None
) -> tuple[Proposal, ChildProposal, int | None] | None:
    for mine in ours:
        want_esn = _ESN_ON if mine.esn else _ESN_OFF
        for prop in theirs:
            if prop.protocol != _ESP or len(prop.spi) != 4:
                continue
            if not _has(prop, _ENCR, mine.encr, mine.key_bits):
                continue
            if not _integ_ok(prop, mine.integ):
                continue
            esns = [t.id for t in prop.transforms if t.type == _ESN] or [_ESN_OFF]
            if want_esn not in esns:
                continue
            dh = [t.id for t in prop.transforms if t.type == _DH and t.id != 0]
            group: int | None = None
            if dh:
                common = [g for g in dh if g in mine.dh_groups]
                if pfs_group is not None and pfs_group in common:
                    group = pfs_group
                elif common:
                    group = common[0]
                else:
                    continue
            return prop, mine, group
    return None


_SELECTED_IKE: dict[tuple[int, int, int], tuple[IkeProposal, SaPayload]] = {}


def selected_ike_payload(number: int, mine: IkeProposal, group: int) -> SaPayload:
    """SA payload of an IKE_SA_INIT response (no SPI): the same immutable object (and its
    cached encoding) for every handshake that picks the same proposal."""
    key = (number, id(mine), group)
    hit = _SELECTED_IKE.get(key)
    if hit is not None and hit[0] is mine:
        return hit[1]
    payload = SaPayload((selected_ike(number, mine, group),))
    if len(_SELECTED_IKE) > 256:
        _SELECTED_IKE.clear()
    _SELECTED_IKE[key] = (mine, payload)
    return payload


def selected_ike(number: int, mine: IkeProposal, group: int, spi: bytes = b"") -> Proposal:
    ts = [Transform(_T.ENCR, mine.encr, mine.key_bits), Transform(_T.PRF, mine.prf)]
    if mine.integ is not None:
        ts.append(Transform(_T.INTEG, mine.integ))
    ts.append(Transform(_T.DH, group))
    return Proposal(number, ProtocolId.IKE, spi, tuple(ts))


_CHILD_TRANSFORMS: dict[tuple[int, int | None], tuple[ChildProposal, tuple[Transform, ...]]] = {}


def selected_child(number: int, mine: ChildProposal, spi: bytes, group: int | None) -> Proposal:
    key = (id(mine), group)
    hit = _CHILD_TRANSFORMS.get(key)
    if hit is not None and hit[0] is mine:
        return Proposal(number, _ESP, spi, hit[1])
    ts = [Transform(_T.ENCR, mine.encr, mine.key_bits)]
    if mine.integ is not None:
        ts.append(Transform(_T.INTEG, mine.integ))
    if group is not None:
        ts.append(Transform(_T.DH, group))
    ts.append(Transform(_T.ESN, EsnId.ESN if mine.esn else EsnId.NO_ESN))
    if len(_CHILD_TRANSFORMS) > 256:
        _CHILD_TRANSFORMS.clear()
    _CHILD_TRANSFORMS[key] = (mine, tuple(ts))  # immutable transforms, shared
    return Proposal(number, _ESP, spi, tuple(ts))


def match_selected_ike(ours: Sequence[IkeProposal], sel: Proposal) -> IkeProposal | None:
    """Check the responder's single chosen proposal against what we offered (§3.3.6)."""
    encr = sel.of_type(_T.ENCR)
    prf = sel.of_type(_T.PRF)
    dh = sel.of_type(_T.DH)
    if len(encr) != 1 or len(prf) != 1 or len(dh) != 1 or len(sel.of_type(_T.INTEG)) > 1:
        return None
    for mine in ours:
        if encr[0].id != mine.encr or encr[0].key_length != mine.key_bits:
            continue
        if (
            prf[0].id != mine.prf
            or not _integ_ok(sel, mine.integ)
            or dh[0].id not in mine.dh_groups
        ):
            continue
        return mine
    return None


def match_selected_child(ours: Sequence[ChildProposal], sel: Proposal) -> ChildProposal | None:
    encr = sel.of_type(_T.ENCR)
    if len(encr) != 1 or sel.protocol != ProtocolId.ESP or len(sel.spi) != 4:
        return None
    for mine in ours:
        if (
            encr[0].id == mine.encr
            and encr[0].key_length == mine.key_bits
            and _integ_ok(sel, mine.integ)
        ):
            esn = [t.id for t in sel.of_type(_T.ESN)] or [EsnId.NO_ESN]
            if esn == [EsnId.ESN if mine.esn else EsnId.NO_ESN]:
                return mine
    return None
