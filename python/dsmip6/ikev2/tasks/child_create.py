"""Child SA creation, in IKE_AUTH or CREATE_CHILD_SA, including child rekey (RFC 7296 §1.3,
§2.8, §2.9 narrowing, §2.17 keys; RFC 4877 §7 for the MH transport-mode SA).

::

    HDR, SK {[N(REKEY_SA),] [N(USE_TRANSPORT_MODE),] SA, Ni, [KEi,] TSi, TSr}   -->
    <--  HDR, SK {[N(USE_TRANSPORT_MODE),] SA, Nr, [KEr,] TSi, TSr}

In IKE_AUTH the nonces are the IKE_SA_INIT ones and there is no KE.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dsmip6.errors import MalformedPacket
from dsmip6.ikev2 import keys, transforms
from dsmip6.ikev2.child import ChildSa, new_child_sa
from dsmip6.ikev2.config import ChildProposal
from dsmip6.ikev2.constants import NAT_T_PORT, ExchangeType, Notify, ProtocolId
from dsmip6.ikev2.events import ChildSaFailed
from dsmip6.ikev2.exchange import DONE, FAILED, NEED_MORE, Status
from dsmip6.ikev2.message import (
    KePayload,
    Message,
    NoncePayload,
    NotifyPayload,
    SaPayload,
    TrafficSelector,
    TsPayload,
)
from dsmip6.ikev2.tasks._proposals import (
    child_proposals,
    choose_child,
    match_selected_child,
    selected_child,
)

if TYPE_CHECKING:
    from dsmip6.ikev2.sa import IkeSa

_CHILD_ERRORS = (
    Notify.NO_PROPOSAL_CHOSEN,
    Notify.TS_UNACCEPTABLE,
    Notify.SINGLE_PAIR_REQUIRED,
    Notify.INTERNAL_ADDRESS_FAILURE,
    Notify.FAILED_CP_REQUIRED,
    Notify.INVALID_SELECTORS,
    Notify.NO_ADDITIONAL_SAS,
    Notify.INVALID_KE_PAYLOAD,
    Notify.TEMPORARY_FAILURE,
    Notify.CHILD_SA_NOT_FOUND,
)


_USE_TRANSPORT_MODE = NotifyPayload(Notify.USE_TRANSPORT_MODE)  # immutable: one shared object
_N_USE_TRANSPORT_MODE = int(Notify.USE_TRANSPORT_MODE)


@functools.lru_cache(maxsize=16)
def _shared_ts(ts: tuple[TrafficSelector, ...]) -> tuple[TrafficSelector, ...]:
    """One shared tuple per distinct selector list (immutable values): on the HA every UE's
    signalling SA has the same HA-side selectors, kept once instead of once per UE. The
    shared lists are looked up on every child SA, so they stay among the 16 most recent;
    a larger table only keeps other UEs' own selector lists alive (64 entries cost ~45 B
    per UE in the 300-UE heap benchmark)."""
    return ts


_N_REKEY_SA = int(Notify.REKEY_SA)


def _name(n: int) -> str:
    try:
        return Notify(n).name
    except ValueError:
        return f"NOTIFY_{n}"


class ChildCreate:
    def __init__(
        self,
        sa: IkeSa,
        initiator: bool,
        *,
        ts_i: Sequence[TrafficSelector] = (),
        ts_r: Sequence[TrafficSelector] = (),
        mode: str = "transport",
        in_ike_auth: bool = False,
        rekey_spi_in: int | None = None,
    ) -> None:
        self.sa = sa
        self.initiator = initiator
        if ts_i:
            self.ts_i = tuple(ts_i)
        if ts_r:
            self.ts_r = tuple(ts_r)
        if mode != "transport":
            self.mode = mode
        if in_ike_auth:
            self.in_ike_auth = in_ike_auth
        if rekey_spi_in is not None:
            self.rekey_spi_in = rekey_spi_in

    # A new task's state and the constructor's defaults: class attributes, set on the
    # instance only when given or as the exchange goes (one ChildCreate per child SA)
    ts_i: tuple[TrafficSelector, ...] = ()
    ts_r: tuple[TrafficSelector, ...] = ()
    mode = "transport"
    in_ike_auth = False
    rekey_spi_in: int | None = None
    sent = False
    spi_in = 0
    ni = b""
    dh: transforms.DhPrivate | None = None
    request: Message | None = None
    error: tuple[int, bytes] | None = None
    child: ChildSa | None = None

    def build(self, msg: Message) -> Status:
        return self._build_request(msg) if self.initiator else self._build_response(msg)

    def process(self, msg: Message) -> Status:
        return self._process_response(msg) if self.initiator else self._process_request(msg)

    # -------------------------------------------------------------- common
    def _make_child(
        self,
        mine: ChildProposal,
        spi_out: int,
        ts_i: tuple[TrafficSelector, ...],
        ts_r: tuple[TrafficSelector, ...],
        mode: str,
        ni: bytes,
        nr: bytes,
        g_ir: bytes,
    ) -> ChildSa:
        sa = self.sa
        assert sa.prf is not None and sa.sk_d
        enc = transforms.encr_cached(mine.encr, mine.key_bits)
        esize = enc.key_size if enc is not None else 0
        isize = transforms.INTEGS[mine.integ].key_size if mine.integ is not None else 0
        km = keys.derive_child_keys(sa.prf, sa.sk_d, esize, isize, ni, nr, g_ir)
        mine_is_i = self.initiator
        udp = None
        if sa.use_nat_t and mode == "tunnel":
            udp = (sa.local[1], sa.remote[1])
        if udp is not None and udp[0] != NAT_T_PORT:
            udp = None
        return new_child_sa(  # = ChildSa(...), built cheaper (child.py)
            self.spi_in,
            spi_out,
            mode,
            mine.esp_algorithm,
            km.encr_r if mine_is_i else km.encr_i,
            km.encr_i if mine_is_i else km.encr_r,
            (km.integ_r if mine_is_i else km.integ_i) or None,
            (km.integ_i if mine_is_i else km.integ_r) or None,
            ts_i,
            ts_r,
            mine_is_i,
            mine.esn,
            udp,
        )

    def _refuse(self, notify: int, reason: str) -> None:
        self.sa.emit(ChildSaFailed(self.sa.id, notify, reason))

    # -------------------------------------------------------------- requester
    def _build_request(self, msg: Message) -> Status:
        if self.sent:
            return NEED_MORE
        self.sent = True
        sa = self.sa
        cfg = sa.config
        self.spi_in = sa.alloc_spi()
        pfs_group = None
        if not self.in_ike_auth and cfg.child_proposals[0].dh_groups:
            pfs_group = cfg.child_proposals[0].dh_groups[0]
        if self.rekey_spi_in is not None:
            msg.add(
                NotifyPayload(
                    Notify.REKEY_SA, b"", ProtocolId.ESP, self.rekey_spi_in.to_bytes(4, "big")
                )
            )
        if self.mode == "transport":
            msg.add(NotifyPayload(Notify.USE_TRANSPORT_MODE))
        msg.add(
            SaPayload(
                child_proposals(
                    cfg.child_proposals, self.spi_in.to_bytes(4, "big"), pfs_group is not None
                )
            )
        )
        if not self.in_ike_auth:
            self.ni = sa.rng(cfg.nonce_size)
            msg.add(NoncePayload(self.ni))
            if pfs_group is not None:
                self.dh = transforms.dh_generate(pfs_group, sa.rng)
                msg.add(KePayload(pfs_group, self.dh.public))
        msg.add(TsPayload(self.ts_i, True))
        msg.add(TsPayload(self.ts_r, False))
        return NEED_MORE

    def _release(self) -> None:
        if self.spi_in:
            self.sa.engine._release_child_spi(self.spi_in)

    def _process_response(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        if self.in_ike_auth and not sa.authenticated:
            return NEED_MORE
        done_or_failed = DONE if self.in_ike_auth else FAILED
        for n in msg.error_notifies():
            if n.notify_type in _CHILD_ERRORS or not self.in_ike_auth:
                self._release()
                self._refuse(n.notify_type, _name(n.notify_type))
                return done_or_failed
        sap = msg.get(SaPayload)
        tsi = msg.get(TsPayload, initiator=True)
        tsr = msg.get(TsPayload, initiator=False)
        if sap is None or tsi is None or tsr is None or len(sap.proposals) != 1:  # type: ignore[union-attr]
            self._release()
            self._refuse(Notify.NO_PROPOSAL_CHOSEN, "no child SA in the response")
            return done_or_failed
        sel = sap.proposals[0]  # type: ignore[union-attr]
        mine = match_selected_child(cfg.child_proposals, sel)
        if mine is None:
            self._release()
            self._refuse(Notify.NO_PROPOSAL_CHOSEN, "responder chose a proposal we did not offer")
            return done_or_failed
        ts_i, ts_r = tsi.selectors, tsr.selectors  # type: ignore[union-attr]
        if not _subset(ts_i, self.ts_i) or not _subset(ts_r, self.ts_r):
            self._release()
            self._refuse(Notify.TS_UNACCEPTABLE, "responder widened the traffic selectors")
            return done_or_failed
        mode = "transport" if msg.notify(Notify.USE_TRANSPORT_MODE) is not None else "tunnel"
        if self.in_ike_auth:
            ni, nr, g_ir = sa.ni, sa.nr, b""
        else:
            nrp = msg.get(NoncePayload)
            if nrp is None:
                self._release()
                self._refuse(Notify.INVALID_SYNTAX, "nonce missing")
                return done_or_failed
            ni, nr, g_ir = self.ni, nrp.data, b""  # type: ignore[union-attr]
            if self.dh is not None:
                kep = msg.get(KePayload)
                if kep is None or kep.group != self.dh.group:  # type: ignore[union-attr]
                    self._release()
                    self._refuse(Notify.INVALID_KE_PAYLOAD, "PFS KE missing or wrong group")
                    return done_or_failed
                try:
                    g_ir = self.dh.shared(kep.data)  # type: ignore[union-attr]
                except MalformedPacket:
                    self._release()
                    self._refuse(Notify.INVALID_SYNTAX, "bad PFS KE data")
                    return done_or_failed
        spi_out = int.from_bytes(sel.spi, "big")
        self.child = self._make_child(mine, spi_out, ts_i, ts_r, mode, ni, nr, g_ir)
        sa.install_child(self.child, self.rekey_spi_in)
        if self.rekey_spi_in is not None and self.rekey_spi_in in sa.children:
            from dsmip6.ikev2.tasks.child_delete import ChildDelete

            sa.mgr.queue.insert(
                0,
                (
                    ExchangeType.INFORMATIONAL,
                    [ChildDelete(sa, True, spi_in=self.rekey_spi_in, reason="rekeyed")],
                ),
            )
        return DONE

    # -------------------------------------------------------------- responder
    def _process_request(self, msg: Message) -> Status:
        if self.request is None and msg.get(SaPayload) is not None:
            self.request = msg
        return NEED_MORE

    def _build_response(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        if self.in_ike_auth and not sa.authenticated:
            return NEED_MORE
        if sa.cp_failed:
            return DONE
        req = self.request
        result = DONE if self.in_ike_auth else FAILED
        if req is None:
            return DONE  # no child requested (childless IKE_AUTH)
        sap = req.get(SaPayload)
        tsi = req.get(TsPayload, initiator=True)
        tsr = req.get(TsPayload, initiator=False)
        if tsi is None or tsr is None:
            msg.add(NotifyPayload(Notify.TS_UNACCEPTABLE))
            return result
        rekey = req.notify(_N_REKEY_SA)
        rekeyed_in: int | None = None
        if rekey is not None:
            old_out = int.from_bytes(rekey.spi, "big") if len(rekey.spi) == 4 else -1
            olds = [c for c in sa.children.values() if c.spi_out == old_out]
            if not olds:
                msg.add(NotifyPayload(Notify.CHILD_SA_NOT_FOUND, b"", ProtocolId.ESP, rekey.spi))
                return result
            rekeyed_in = olds[0].spi_in
        ke = req.get(KePayload)
        chosen = choose_child(
            cfg.child_proposals,
            sap.proposals,
            ke.group if ke is not None else None,  # type: ignore[union-attr]
        )
        if chosen is None:
            msg.add(NotifyPayload(Notify.NO_PROPOSAL_CHOSEN))
            return result
        prop, mine, group = chosen
        if self.in_ike_auth:
            group = None  # no PFS inside IKE_AUTH (§1.2)
        if group is not None and (ke is None or ke.group != group):  # type: ignore[union-attr]
            msg.add(NotifyPayload(Notify.INVALID_KE_PAYLOAD, group.to_bytes(2, "big")))
            return result
        policy = getattr(cfg, "ts_policy", None)
        if policy is not None and not sa.original_initiator:
            narrowed = policy(tsi.selectors, tsr.selectors, sa.assignment)  # type: ignore[union-attr]
        else:
            narrowed = (tsi.selectors, tsr.selectors)  # type: ignore[union-attr]
        if narrowed is None:
            msg.add(NotifyPayload(Notify.TS_UNACCEPTABLE))
            return result
        ts_i, ts_r = _shared_ts(tuple(narrowed[0])), _shared_ts(tuple(narrowed[1]))
        mode = "transport" if req.notify(_N_USE_TRANSPORT_MODE) is not None else "tunnel"
        if self.in_ike_auth:
            ni, nr, g_ir = sa.ni, sa.nr, b""
        else:
            nip = req.get(NoncePayload)
            if nip is None:
                msg.add(NotifyPayload(Notify.INVALID_SYNTAX))
                return result
            self.ni = nip.data  # type: ignore[union-attr]
            nr = sa.rng(cfg.nonce_size)
            ni, g_ir = self.ni, b""
            if group is not None:
                self.dh = transforms.dh_generate(group, sa.rng)
                try:
                    g_ir = self.dh.shared(ke.data)  # type: ignore[union-attr]
                except MalformedPacket:
                    msg.add(NotifyPayload(Notify.INVALID_SYNTAX))
                    return result
        self.spi_in = sa.alloc_spi()
        spi_out = int.from_bytes(prop.spi, "big")
        child = self._make_child(mine, spi_out, ts_i, ts_r, mode, ni, nr, g_ir)
        if mode == "transport":
            msg.add(_USE_TRANSPORT_MODE)
        msg.add(
            SaPayload((selected_child(prop.number, mine, self.spi_in.to_bytes(4, "big"), group),))
        )
        if not self.in_ike_auth:
            msg.add(NoncePayload(nr))
            if self.dh is not None:
                msg.add(KePayload(self.dh.group, self.dh.public))
        msg.add(TsPayload(ts_i, True))
        msg.add(TsPayload(ts_r, False))
        self.child = child
        sa.install_child(child, rekeyed_in)
        return DONE


def _subset(got: Sequence[TrafficSelector], offered: Sequence[TrafficSelector]) -> bool:
    """Every selector got is inside one offered (loops: no generator closed early)."""
    if not got:
        return False
    for g in got:
        for o in offered:
            if o.contains(g):
                break
        else:
            return False
    return True
