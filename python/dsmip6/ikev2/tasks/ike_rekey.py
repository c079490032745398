"""IKE SA rekey with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18).

::

    HDR, SK {SA(IKE, new SPIi), Ni, KEi}  -->
    <--  HDR, SK {SA(IKE, new SPIr), Nr, KEr}

SKEYSEED = prf_old(SK_d(old), g^ir(new) | Ni | Nr); the new SA takes over the children and the
``ike_sa_id``; the rekey initiator then deletes the old SA (its Delete produces no event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsmip6.errors import MalformedPacket
from dsmip6.ikev2 import keys, transforms
from dsmip6.ikev2.constants import Notify, ProtocolId
from dsmip6.ikev2.exchange import DONE, FAILED, NEED_MORE, Status
from dsmip6.ikev2.message import KePayload, Message, NoncePayload, NotifyPayload, SaPayload
from dsmip6.ikev2.tasks._proposals import (
    choose_ike,
    ike_proposals,
    match_selected_ike,
    selected_ike,
)

if TYPE_CHECKING:
    from dsmip6.ikev2.config import IkeProposal
    from dsmip6.ikev2.sa import IkeSa


class IkeRekey:
    def __init__(self, sa: IkeSa, initiator: bool) -> None:
        self.sa = sa
        self.initiator = initiator
        self.new_spi = b""
        self.ni = b""
        self.nr = b""
        self.dh: transforms.DhPrivate | None = None
        self.error: tuple[int, bytes] | None = None
        self.chosen: tuple[int, IkeProposal, int] | None = None
        self.peer_ke = b""
        self.peer_spi = b""

    def build(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        if self.initiator:
            self.new_spi = sa.engine._new_ike_spi()
            self.ni = sa.rng(cfg.nonce_size)
            props = sorted(cfg.proposals, key=lambda p: sa.dh_group not in p.dh_groups)
            first = props[0]
            group = sa.dh_group if sa.dh_group in first.dh_groups else first.dh_groups[0]
            self.dh = transforms.dh_generate(group, sa.rng)
            msg.add(SaPayload(ike_proposals(props, self.new_spi)))
            msg.add(NoncePayload(self.ni))
            msg.add(KePayload(group, self.dh.public))
            return NEED_MORE
        if self.error is not None:
            msg.add(NotifyPayload(self.error[0], self.error[1]))
            return FAILED
        assert self.chosen is not None
        number, mine, group = self.chosen
        self.new_spi = sa.engine._new_ike_spi()
        self.nr = sa.rng(cfg.nonce_size)
        self.dh = transforms.dh_generate(group, sa.rng)
        try:
            g_ir = self.dh.shared(self.peer_ke)
        except MalformedPacket:
            msg.add(NotifyPayload(Notify.INVALID_SYNTAX))
            return FAILED
        msg.add(SaPayload((selected_ike(number, mine, group, self.new_spi),)))
        msg.add(NoncePayload(self.nr))
        msg.add(KePayload(group, self.dh.public))
        sa.engine._rekeyed(
            sa, mine, group, g_ir, self.ni, self.nr, self.peer_spi, self.new_spi, we_initiated=False
        )
        return DONE

    def process(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        sap = msg.get(SaPayload)
        kep = msg.get(KePayload)
        np_ = msg.get(NoncePayload)
        if self.initiator:
            if msg.error_notifies() or sap is None or kep is None or np_ is None:
                return FAILED
            sel = sap.proposals[0] if len(sap.proposals) == 1 else None  # type: ignore[union-attr]
            mine = match_selected_ike(cfg.proposals, sel) if sel is not None else None
            if mine is None or sel is None or len(sel.spi) != 8 or kep.group != self.dh.group:  # type: ignore[union-attr]
                return FAILED
            try:
                g_ir = self.dh.shared(kep.data)  # type: ignore[union-attr]
            except MalformedPacket:
                return FAILED
            sa.engine._rekeyed(
                sa,
                mine,
                kep.group,
                g_ir,
                self.ni,
                np_.data,
                self.new_spi,  # type: ignore[union-attr]
                sel.spi,
                we_initiated=True,
            )
            return DONE
        if sap is None or kep is None or np_ is None:
            self.error = (Notify.INVALID_SYNTAX, b"")
            return FAILED
        prop0 = sap.proposals[0]  # type: ignore[union-attr]
        if prop0.protocol != ProtocolId.IKE or len(prop0.spi) != 8:
            self.error = (Notify.INVALID_SYNTAX, b"")
            return FAILED
        chosen = choose_ike(cfg.proposals, sap.proposals)  # type: ignore[union-attr]
        if chosen is None:
            self.error = (Notify.NO_PROPOSAL_CHOSEN, b"")
            return FAILED
        number, mine, groups = chosen
        if kep.group not in groups:  # type: ignore[union-attr]
            self.error = (Notify.INVALID_KE_PAYLOAD, groups[0].to_bytes(2, "big"))
            return FAILED
        self.peer_spi = next(p.spi for p in sap.proposals if p.number == number)  # type: ignore[union-attr]
        self.ni = np_.data  # type: ignore[union-attr]
        self.peer_ke = kep.data  # type: ignore[union-attr]
        self.chosen = (number, mine, kep.group)  # type: ignore[union-attr]
        return NEED_MORE


def derive_rekeyed(old: IkeSa, new: IkeSa, g_ir: bytes, ni: bytes, nr: bytes) -> None:
    assert old.prf is not None and old.sk_d
    seed = keys.rekey_skeyseed(old.prf, old.sk_d, g_ir, ni, nr)
    assert new.prf is not None and new.encr is not None
    new.keys = keys.derive_ike_keys(
        new.prf, new.encr, new.integ, seed, ni, nr, new.spi_i, new.spi_r
    )
    new.make_crypto()
