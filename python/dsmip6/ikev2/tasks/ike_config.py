"""Configuration payload in IKE_AUTH (RFC 7296 §2.19; RFC 5026 §5.3, §8.2; RFC 4877 §9;
3GPP TS 24.302 HOME_AGENT_ADDRESS).

::

    UE:  CP(CFG_REQUEST) {MIP6_HOME_PREFIX(len 0) [, INTERNAL_IP6_ADDRESS] [, HOME_AGENT_ADDRESS]
                          [, INTERNAL_IP4_ADDRESS]}                                  -->
    <--  HA (after authentication): CP(CFG_REPLY) {MIP6_HOME_PREFIX(21 octets), ...}
         or N(INTERNAL_ADDRESS_FAILURE) when the address assigner refuses.

Attribute 16 from strongSwan is 17 octets (prefix ‖ length, no lifetime); the UE accepts it
and reports the lifetime as unknown (see ``message.decode_home_prefix``).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING

from dsmip6.errors import MalformedPacket
from dsmip6.ikev2.auth import id_to_str
from dsmip6.ikev2.constants import CfgAttr, CfgType, IdType, Notify
from dsmip6.ikev2.exchange import DONE, FAILED, NEED_MORE, Status
from dsmip6.ikev2.message import (
    CfgAttribute,
    CpPayload,
    Message,
    NotifyPayload,
    decode_home_prefix,
    encode_home_prefix,
)

if TYPE_CHECKING:
    from dsmip6.ikev2.sa import IkeSa


# plain ints on the per-handshake path (enum attribute access is slow)
_CFG_REQUEST, _CFG_REPLY = int(CfgType.REQUEST), int(CfgType.REPLY)
_ID_FQDN = int(IdType.FQDN)
_A_HOME_PREFIX = int(CfgAttr.MIP6_HOME_PREFIX)
_A_IP6 = int(CfgAttr.INTERNAL_IP6_ADDRESS)
_A_HA = int(CfgAttr.HOME_AGENT_ADDRESS)
_A_IP4 = int(CfgAttr.INTERNAL_IP4_ADDRESS)


def peer_identity(sa: IkeSa) -> str:
    """The identity the HA's policy sees: the EAP-authenticated one (IMSI) when available."""
    if sa.eap_identity:
        return sa.eap_identity
    assert sa.peer_id is not None
    return id_to_str(sa.peer_id)


class IkeConfig:
    def __init__(self, sa: IkeSa, initiator: bool) -> None:
        self.sa = sa
        self.initiator = initiator
        self.requested: list[int] = []
        self.sent = False

    def build(self, msg: Message) -> Status:
        return self._build_request(msg) if self.initiator else self._build_response(msg)

    def process(self, msg: Message) -> Status:
        return self._process_response(msg) if self.initiator else self._process_request(msg)

    # -------------------------------------------------------------- UE
    def _build_request(self, msg: Message) -> Status:
        if self.sent:
            return NEED_MORE
        self.sent = True
        cfg = self.sa.config
        wanted = [
            (cfg.request_home_prefix, CfgAttr.MIP6_HOME_PREFIX),
            (cfg.request_home_address, CfgAttr.INTERNAL_IP6_ADDRESS),
            (cfg.request_home_agent_address, CfgAttr.HOME_AGENT_ADDRESS),
            (cfg.request_internal_ip4, CfgAttr.INTERNAL_IP4_ADDRESS),
        ]
        self.requested = [a for want, a in wanted if want]
        if self.requested:
            msg.add(CpPayload(CfgType.REQUEST, tuple(CfgAttribute(a) for a in self.requested)))
        return NEED_MORE

    def _process_response(self, msg: Message) -> Status:
        sa = self.sa
        if not sa.authenticated:
            return NEED_MORE
        if msg.notify(Notify.INTERNAL_ADDRESS_FAILURE) is not None and self.requested:
            sa.failure_reason = "INTERNAL_ADDRESS_FAILURE"
            return FAILED
        cp = msg.get(CpPayload)
        if cp is None or cp.cfg_type != CfgType.REPLY:  # type: ignore[union-attr]
            return DONE
        for attr in cp.attributes:  # type: ignore[union-attr]
            v = attr.value
            try:
                if attr.type == CfgAttr.MIP6_HOME_PREFIX and v:
                    sa.home_prefix, sa.prefix_lifetime = decode_home_prefix(v)
                elif attr.type == CfgAttr.INTERNAL_IP6_ADDRESS and len(v) == 17:
                    sa.home_address = IPv6Address(v[:16])
                elif attr.type == CfgAttr.HOME_AGENT_ADDRESS and len(v) in (16, 20):
                    addrs: list[IPv6Address | IPv4Address] = [IPv6Address(v[:16])]
                    if len(v) == 20 and v[16:] != b"\x00" * 4:
                        addrs.append(IPv4Address(v[16:]))
                    sa.ha_addresses = sa.ha_addresses + tuple(addrs)
                elif attr.type == CfgAttr.INTERNAL_IP4_ADDRESS and len(v) == 4:
                    sa.internal_ip4 = IPv4Address(v)
            except MalformedPacket:
                continue  # an attribute we cannot read is ignored (§3.15.1)
        return DONE

    # -------------------------------------------------------------- HA
    def _process_request(self, msg: Message) -> Status:
        cp = msg.get(CpPayload)
        if cp is not None and cp.cfg_type == _CFG_REQUEST and not self.requested:  # type: ignore[union-attr]
            self.requested = [a.type for a in cp.attributes] or [0]  # type: ignore[union-attr]
        return NEED_MORE

    def _build_response(self, msg: Message) -> Status:
        status, values = self.reply(msg)
        if values:
            msg.add(CpPayload(_CFG_REPLY, tuple(CfgAttribute(t, v) for t, v in values)))
        return status

    def reply(self, msg: Message) -> tuple[Status, list[tuple[int, bytes]] | None]:
        """The HA's CFG_REPLY decision (RFC 5026 §5.3; RFC 7296 §3.15): the status and the
        reply's attributes as (type, value) pairs, None or empty when no CP payload goes
        out; the SA's assignment fields are set here and a refusal's notify is added to
        ``msg``. ``_build_response`` wraps the pairs in payload objects; the final AUTH's
        fast path (``_fast.fast_msk_auth``) writes their octets directly."""
        sa = self.sa
        cfg = sa.config
        if not sa.authenticated:
            return NEED_MORE, None
        assigner = getattr(cfg, "address_assigner", None)
        if not self.requested or assigner is None:
            return DONE, None
        apn = None
        if sa.requested_idr is not None and sa.requested_idr.id_type == _ID_FQDN:
            apn = sa.requested_idr.data.decode("ascii", "replace")
        try:
            a = assigner(sa.eap_identity or peer_identity(sa), apn)
        except Exception:  # noqa: BLE001 - any refusal by policy becomes the notify
            msg.add(NotifyPayload(Notify.INTERNAL_ADDRESS_FAILURE))
            sa.cp_failed = True
            sa.failure_reason = "INTERNAL_ADDRESS_FAILURE"
            return FAILED, None
        sa.assignment = a
        values: list[tuple[int, bytes]] = []
        for t in self.requested:
            if t == _A_HOME_PREFIX and a.home_prefix is not None:
                values.append((t, encode_home_prefix(a.home_prefix, a.prefix_lifetime)))
                sa.home_prefix, sa.prefix_lifetime = a.home_prefix, a.prefix_lifetime
            elif t == _A_IP6 and a.home_address is not None:
                plen = a.home_prefix.prefixlen if a.home_prefix is not None else 64
                values.append((t, a.home_address.packed + bytes([plen])))
                sa.home_address = a.home_address
            elif t == _A_HA and a.ha_addresses:
                value = _ha_value(a.ha_addresses)
                if value is not None:
                    values.append((t, value))
                sa.ha_addresses = a.ha_addresses
            elif t == _A_IP4 and a.internal_ip4 is not None:
                values.append((t, a.internal_ip4.packed))
                sa.internal_ip4 = a.internal_ip4
        return DONE, values


def _ha_value(has: tuple[IPv4Address | IPv6Address, ...]) -> bytes | None:
    """The HOME_AGENT_ADDRESS value (TS 24.302 §8.2.4.1: the HA's IPv6 address, then its
    IPv4 address if any) of an assignment's HA addresses; None without an IPv6 one. Every
    UE's assignment names the HA's same few addresses (one tuple object): kept per tuple
    (the entry keeps it alive: no id reuse; at most 8 entries)."""
    hit = _HA_VALUES.get(id(has))
    if hit is not None and hit[0] is has:
        return hit[1]
    v6 = [x for x in has if x.version == 6]
    v4 = [x for x in has if x.version == 4]
    value = v6[0].packed + (v4[0].packed if v4 else b"") if v6 else None
    if type(has) is tuple:  # an immutable value: safe to keep
        if len(_HA_VALUES) >= 8:
            _HA_VALUES.clear()
        _HA_VALUES[id(has)] = (has, value)
    return value


_HA_VALUES: dict[int, tuple[tuple[IPv4Address | IPv6Address, ...], bytes | None]] = {}
