"""The Home Agent: sans-I/O DSMIPv6 procedures of the PDN GW side (TS 24.303 §5, RFC 6275
§10, RFC 5555 §4.5, RFC 4877, RFC 5846 §7, RFC 5142 §5).

Theory of operation
-------------------
One ``HomeAgent`` object serves every UE. It owns:

* one IKEv2 responder (contract D, built by ``ike_factory``) that authenticates UEs with
  EAP-AKA and asks :meth:`HomeAgent._assign` for a home network prefix (one per UE and APN,
  from :class:`~dsmip6.pools.PrefixPool`);
* per UE and APN a *signalling session*: the HoA-keyed ESP transport SA pair that the child
  SA of CREATE_CHILD_SA gives (RFC 4877 §4.4). A BU is accepted only when it arrived through
  that SA and names what the SA's identity was assigned;
* the binding cache entries (``_Bce``) whose state follows ``dsmip6._state.HA_TRANSITIONS``;
  the user plane is programmed only through the injected
  :class:`~dsmip6.dataplane_iface.DataPlane`;
* a :class:`~dsmip6._timers.TimerTable` with named timers: ``("life", hoa)`` binding
  lifetime / tombstone, ``("bri", hoa)`` revocation retransmission, ``("has", hoa)`` HA Switch
  retransmission; plus the IKE engine's own timer.

Inputs: ``receive_datagram(data, src, dst, now)`` (IKE on ports 500/4500, MH as raw IPv6 with
port 0 or UDP 4191 payload), ``handle_timer(now)``, and the API calls ``revoke``,
``withdraw_subscription``, ``switch_home_agent``. Outputs: ``datagrams_to_send(now)``,
``next_event()``, ``get_timer()``. Drops are counted in :attr:`HomeAgent.counters`.

BU processing follows procedures.md §1.6.2 in its order; each step cites its clause.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import Any

from dsmip6 import _ike, _mh, _state
from dsmip6._mh import MIP_UDP_PORT, Addr, Ba, Be, Bra, Bri, Bu, Has, Ipv4AckOpt, NatDetectionOpt
from dsmip6._sec import EspSa, esp_sa
from dsmip6._state import (
    HA_TRANSITIONS,
    BceState,
    BuAccepted,
    BuDeregister,
    IkeSaDeleted,
    LifetimeOver,
    RevocationDone,
    RevokeRequested,
    SwitchRequested,
)
from dsmip6._timers import TimerTable, backoff
from dsmip6.config import (
    BRI_MAX_RETRIES,
    INIT_MIN_DELAY_BRIS,
    INITIAL_HA_SWITCH_TIMEOUT,
    MAX_BRACK_TIMEOUT,
    MAX_HA_SWITCH_TIMEOUT,
    HomeAgentConfig,
)
from dsmip6.dataplane_iface import BindingSpec, DataPlane, Encapsulation
from dsmip6.errors import CacheError, EspError, LocalProtocolError, MalformedPacket
from dsmip6.events import (
    BindingCreated,
    BindingDeleted,
    BindingExpired,
    BindingRevoked,
    BindingUpdated,
    BindingUpdateRejected,
    Event,
)
from dsmip6.pools import Ipv4Pool, PoolExhausted, PrefixPool

__all__ = ["HomeAgent", "BA_STATUS"]

#: BA status codes (RFC 6275 §6.1.8, RFC 3963 §6.2, RFC 5555 §4.5; procedures.md §9.4).
BA_STATUS = {
    "accepted": 0,
    "unspecified": 128,
    "prohibited": 129,
    "resources": 130,
    "home-reg-not-supported": 131,
    "not-home-subnet": 132,
    "not-ha-for-mn": 133,
    "dad-failed": 134,
    "seq-out-of-window": 135,
    "reg-type-change": 139,
    "mr-not-permitted": 140,
    "forwarding-failed": 143,
    "udp-forced-refused": 144,
    "invalid-coa": 174,
}

NAT_NO_KEEPALIVE = 0xFFFFFFFF
_ZERO4 = IPv4Address(0)
_BCAST4 = IPv4Address("255.255.255.255")  # RFC 5555 §3.2.2: all-ones = no keepalives needed


def _not_unicast(addr: IPv6Address | IPv4Address) -> bool:
    """Unspecified, loopback or multicast (RFC 4291 §2.5.2/§2.5.3/§2.7; RFC 1122 §3.2.1.3)
    — the integer tests the ipaddress properties make, without their overhead."""
    i = int(addr)
    if isinstance(addr, IPv6Address):
        return i <= 1 or i >> 120 == 0xFF
    return i == 0 or i >> 24 == 127 or i >> 28 == 0xE or i == 0xFFFFFFFF


def seq_newer(received: int, last: int) -> bool:
    """RFC 6275 §9.5.1: ``received`` is newer than ``last`` modulo 2^16 (last and the 32768
    values before it are stale)."""
    return 0 < ((received - last) & 0xFFFF) < 0x8000


class _Session:
    """One UE's PDN connection at the HA: IKE SA, HNP, HoA-keyed signalling SA pair."""

    __slots__ = (
        "owner",
        "identity",
        "apn",
        "ike_sa_id",
        "prefix",
        "hoa",
        "sa_in",
        "sa_out",
        "remote",
    )

    def __init__(self, owner: tuple[str, str | None], ike_sa_id: object, prefix: IPv6Network):
        self.owner = owner
        self.identity = owner[0]
        self.apn = owner[1]
        self.ike_sa_id = ike_sa_id
        self.prefix = prefix
        self.hoa: IPv6Address | None = None
        self.sa_in: Any = None
        self.sa_out: Any = None
        self.remote: Addr | None = None


class _Bce:
    """A binding cache entry (procedures.md §0.3)."""

    __slots__ = (
        "state",
        "session",
        "seq",
        "coa",
        "udp_peer",
        "nat",
        "forced",
        "ipv4_hoa",
        "lifetime",
        "expires",
        "bri_seq",
        "bri_trigger",
        "retries",
        "has_addresses",
    )

    def __init__(self, session: _Session) -> None:
        self.state = BceState.ABSENT
        self.session = session
        self.seq = 0
        self.coa: IPv6Address | IPv4Address | None = None
        self.udp_peer: Addr | None = None
        self.nat = False
        self.forced = False
        self.ipv4_hoa: IPv4Address | None = None
        self.lifetime = 0.0
        self.expires = 0.0
        self.bri_seq = 0
        self.bri_trigger = 0
        self.retries = 0
        self.has_addresses: tuple[IPv6Address, ...] = ()


class HomeAgent:
    """The HA; see the module docstring."""

    def __init__(
        self,
        config: HomeAgentConfig,
        *,
        dataplane: DataPlane,
        ike_factory: Callable[[Callable[[str, str | None], _ike.HaAssignment]], Any],
        signalling: _mh.Signalling | None = None,
        sa_factory: Callable[[Any], Any] = esp_sa,
    ) -> None:
        self.config = config
        self.dataplane = dataplane
        self.signalling: _mh.Signalling = signalling or _mh.WireSignalling()
        self.sa_factory = sa_factory
        self.hnp_pool = PrefixPool(config.home_pool, config.home_prefix_len)
        self.ipv4_pool = Ipv4Pool(config.ipv4_pool) if config.ipv4_pool is not None else None
        self.ike = ike_factory(self._assign)
        self.timers = TimerTable()
        self.counters: dict[str, int] = {}
        self._out: list[tuple[bytes, Addr, Addr]] = []
        self._events: deque[Event] = deque()
        self._sessions: dict[tuple[str, str | None], _Session] = {}
        self._by_ike: dict[object, list[_Session]] = {}
        self._by_spi: dict[int, _Session] = {}
        self._bce: dict[IPv6Address, _Bce] = {}
        self._bri_seq = 0
        self._local6: Addr = (str(config.address6), 0)
        self._local4: Addr | None = (
            (str(config.address4), MIP_UDP_PORT) if config.address4 is not None else None
        )

    # ------------------------------------------------------------------ sans-I/O surface
    def receive_datagram(self, data: bytes, src: Addr, dst: Addr, now: float) -> None:
        """Feed one received datagram (see :mod:`dsmip6._mh` for the addressing model)."""
        port = dst[1]
        if port in (500, 4500):
            self.ike.receive_datagram(data, src, dst, now)
            self._drain_ike(now)
            return
        if port not in (0, MIP_UDP_PORT):
            self._count("wrong-port")
            return
        if port == MIP_UDP_PORT and data[:1] and data[0] >> 4 == 4:
            self._count("udp-user-plane")  # IPv4 user data in UDP: the data plane's job
            return
        try:
            rx = self.signalling.decode(data, src, dst, self._find_sa)
        except MalformedPacket as exc:
            self._count("bad-checksum" if type(exc).__name__ == "BadChecksum" else "malformed")
            return
        except EspError as exc:
            self._count(f"esp-{type(exc).__name__}")
            return
        handler = self._HANDLERS.get(type(rx.message))
        if handler is None:
            self._count("unexpected-mh")
            return
        handler(self, rx, now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr, Addr]]:
        """Everything to transmit now: ``(data, src, dst)``."""
        out = self._out
        self._out = []
        out.extend(self.ike.datagrams_to_send(now))
        return out

    def next_event(self) -> Event | None:
        """The next procedure event, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest deadline of the HA and its IKE engine."""
        mine = self.timers.next_deadline()
        ike = self.ike.get_timer()
        if mine is None:
            return ike
        return mine if ike is None else min(mine, ike)

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now``."""
        ike = self.ike.get_timer()
        if ike is not None and ike <= now:
            self.ike.handle_timer(now)
            self._drain_ike(now)
        for name in self.timers.pop_due(now):
            kind, hoa = name  # type: ignore[misc]
            bce = self._bce.get(hoa)
            if bce is None:
                continue
            if kind == "life":
                self._on_lifetime(hoa, bce, now)
            elif kind == "bri":
                self._on_bri_timer(hoa, bce, now)
            elif kind == "has":
                self._on_has_timer(hoa, bce, now)

    # ------------------------------------------------------------------ API
    def bindings(self) -> dict[IPv6Address, BceState]:
        """HoA -> state of every BCE (tombstones included)."""
        return {hoa: bce.state for hoa, bce in self._bce.items()}

    def binding(self, hoa: IPv6Address) -> _Bce | None:
        """The BCE for ``hoa`` (read-only use)."""
        return self._bce.get(hoa)

    def session_count(self) -> int:
        """Number of authenticated PDN connections (IKE SAs with an HNP)."""
        return len(self._sessions)

    def revoke(self, hoa: IPv6Address, now: float, *, trigger: int = 1) -> None:
        """Network-initiated detach (RFC 5846 §7; TS 24.303 Annex A.6: trigger 1
        Administrative Reason). Without an active binding, only the IKE SA is deleted."""
        bce = self._bce.get(hoa)
        if bce is None or bce.state in (BceState.TOMBSTONE, BceState.REVOKING):
            for s in self._sessions.values():
                if s.hoa == hoa:
                    self._delete_ike(s.ike_sa_id, now)
                    return
            raise LocalProtocolError(f"HA: no binding or session for {hoa}")
        self._move(bce, RevokeRequested)
        self._bri_seq = (self._bri_seq + 1) & 0xFFFF
        bce.bri_seq = self._bri_seq
        bce.bri_trigger = trigger
        bce.retries = 0
        self._send_bri(hoa, bce)
        # RFC 5846 §11: InitMINDelayBRIs before the first retransmission.
        self.timers.set(("bri", hoa), now + INIT_MIN_DELAY_BRIS)

    def withdraw_subscription(self, identity: str, now: float) -> int:
        """Revoke every PDN connection of ``identity`` (subscription withdrawn); returns how
        many were revoked."""
        n = 0
        for s in [s for s in self._sessions.values() if s.identity == identity]:
            if s.hoa is not None:
                self.revoke(s.hoa, now)
            else:
                self._delete_ike(s.ike_sa_id, now)
            n += 1
        return n

    def switch_home_agent(
        self, hoa: IPv6Address, now: float, addresses: tuple[IPv6Address, ...] | None = None
    ) -> None:
        """Move a registered UE to other HAs with a Home Agent Switch (RFC 5142 §5)."""
        bce = self._bce.get(hoa)
        if bce is None or bce.state is not BceState.ACTIVE:
            raise LocalProtocolError(f"HA: no active binding for {hoa}")
        self._move(bce, SwitchRequested)
        bce.has_addresses = (
            tuple(addresses) if addresses is not None else self.config.extra_ha_addresses
        )
        bce.retries = 0
        self._send_has(hoa, bce)
        self.timers.set(("has", hoa), now + INITIAL_HA_SWITCH_TIMEOUT)

    # ------------------------------------------------------------------ IKE side
    def _assign(self, identity: str, apn: str | None) -> _ike.HaAssignment:
        """The IKEv2 address assigner: one HNP per (identity, APN) (TS 24.303 §4.1);
        raising refuses the CP request (INTERNAL_ADDRESS_FAILURE, RFC 4877 §9)."""
        if apn is not None and apn not in self.config.apns:
            raise LocalProtocolError(f"HA does not serve APN {apn!r}")
        try:
            prefix = self.hnp_pool.allocate((identity, apn))
        except PoolExhausted as exc:
            self._count("hnp-pool-exhausted")
            raise LocalProtocolError(str(exc)) from None
        has: tuple[IPv6Address | IPv4Address, ...] = (self.config.address6,)
        if self.config.address4 is not None:
            has = has + (self.config.address4,)
        return _ike.HaAssignment(prefix, None, has)

    def _drain_ike(self, now: float) -> None:
        while (ev := self.ike.next_event()) is not None:
            rec = _ike.translate(ev, "ha")
            kind = type(ev).__name__
            if kind == "ChildSaEstablished":
                self._on_child(ev, now)
            elif isinstance(rec, _ike.IkeUp):
                self._on_ike_up(rec)
            elif isinstance(rec, _ike.IkeDown):
                self._on_ike_down(rec.ike_sa_id, now)

    def _on_ike_up(self, rec: _ike.IkeUp) -> None:
        if rec.home_prefix is None:
            return
        owner = self.hnp_pool.owner(rec.home_prefix)
        if owner is None:
            self._count("ike-unknown-prefix")
            return
        session = _Session(owner, rec.ike_sa_id, rec.home_prefix)  # type: ignore[arg-type]
        session.remote = rec.remote
        old = self._sessions.get(session.owner)
        if old is not None and old.ike_sa_id != rec.ike_sa_id:
            self._forget_session(old)
        self._sessions[session.owner] = session
        self._by_ike.setdefault(rec.ike_sa_id, []).append(session)

    def _on_child(self, ev: Any, now: float) -> None:
        sessions = self._by_ike.get(ev.ike_sa_id)
        if not sessions:
            return
        session = sessions[-1]
        rec = _ike.translate(ev, "ha")
        if not isinstance(rec, _ike.MhSaUp):
            return  # a user-plane child SA: the data plane's business
        if rec.home_address not in session.prefix:
            self._count("child-hoa-outside-hnp")
            return
        if session.sa_in is not None:
            self._by_spi.pop(session.sa_in.spi, None)
        session.hoa = rec.home_address
        session.sa_in = self.sa_factory(rec.spec_in)
        session.sa_out = self.sa_factory(rec.spec_out)
        self._by_spi[session.sa_in.spi] = session

    def _forget_session(self, session: _Session) -> None:
        if session.sa_in is not None:
            self._by_spi.pop(session.sa_in.spi, None)
        if self._sessions.get(session.owner) is session:
            del self._sessions[session.owner]

    def _on_ike_down(self, ike_sa_id: object, now: float) -> None:
        """RFC 4877 §9: the HoA lives as long as the IKE SA; bindings go with it."""
        for session in self._by_ike.pop(ike_sa_id, []):
            if session.hoa is not None:
                bce = self._bce.get(session.hoa)
                if bce is not None and bce.session is session:
                    self._remove_bce(session.hoa, bce, IkeSaDeleted)
            self._forget_session(session)
            if self._sessions.get(session.owner) is None:
                self.hnp_pool.release(session.owner)
                if self.ipv4_pool is not None:
                    self.ipv4_pool.release(session.owner)

    def _delete_ike(self, ike_sa_id: object, now: float) -> None:
        delete = getattr(self.ike, "delete_ike_sa", None)
        if delete is not None:
            delete(ike_sa_id, now)
            self._drain_ike(now)

    # ------------------------------------------------------------------ MH side
    def _find_sa(self, spi: int) -> Any:
        session = self._by_spi.get(spi)
        return None if session is None else session.sa_in

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _move(self, bce: _Bce, event: type[_state.Input]) -> None:
        bce.state = _state.transition("HA", HA_TRANSITIONS, bce.state, event)  # type: ignore[assignment]

    def _reply_route(self, rx: _mh.Received, hoa: IPv6Address) -> _mh.Route:
        """Back to where the BU came from (RFC 5555 §5.1: rejecting BAs too)."""
        r = rx.route
        if r.udp:
            # RFC 5555 §4.5.1: IPv4/UDP to the observed source; inner IPv6 HA -> HoA, no RH2.
            return _mh.Route(r.dst, r.src, self.config.address6, hoa)
        rh2 = None if r.ip6_src == hoa else hoa
        return _mh.Route(r.dst, r.src, self.config.address6, r.ip6_src, rh2=rh2)

    def _send(self, message: _mh.MhMessage, route: _mh.Route, sa_out: EspSa | Any) -> None:
        data = self.signalling.encode(message, route, sa_out)
        self._out.append((data, route.src, route.dst))

    def _reject(self, rx: _mh.Received, session: _Session, hoa: IPv6Address, status: int,
                seq: int) -> None:  # fmt: skip
        self._count(f"ba-{status}")
        self._send(Ba(status, seq, 0), self._reply_route(rx, hoa), session.sa_out)
        self._events.append(BindingUpdateRejected(hoa, status, session.identity))

    def _on_bu(self, rx: _mh.Received, now: float) -> None:
        bu: Bu = rx.message  # type: ignore[assignment]
        cfg = self.config
        route = rx.route
        # §1.6.2 step 2 — IPsec: only BUs protected by a HoA-keyed SA (RFC 4877 §4.4,
        # RFC 6275 §10.3.1). ESP with an unknown SPI never reaches here (decode raised).
        if rx.spi is None:
            self._count("unprotected")
            return
        session = self._by_spi[rx.spi]
        # Step 3 — addresses: HoA = HAO, else the (inner) IPv6 source.
        hoa = route.mh_src
        if _not_unicast(hoa):
            self._count("bad-hoa")
            return
        # RFC 6275 §9.5.1 / procedures.md §10 rule 9: BUs without H to an HA are dropped.
        if not bu.h:
            self._count("h-clear")
            return
        # RFC 4877 §4.4: the HoA in the BU must be the one the SA was created for. An
        # address inside the UE's own HNP but another SA is a selector mismatch (drop); an
        # address outside it (e.g. another UE's HoA) is "not home subnet" (step 6 below).
        if hoa in session.prefix and hoa != session.hoa:
            self._count("sa-mismatch")
            return
        bce = self._bce.get(hoa)
        if bce is not None and bce.session is not session:
            # The HoA is bound through another SA: nothing of it may change here.
            self._reject(rx, session, hoa, BA_STATUS["not-home-subnet"], bu.sequence)
            return
        # Step 4 — sequence number (RFC 6275 §9.5.1): BA 135 carries the last accepted one.
        if bce is not None and not seq_newer(bu.sequence, bce.seq):
            self._reject(rx, session, hoa, BA_STATUS["seq-out-of-window"], bce.seq)
            return
        # Step 5 — registration type: H=0 never reaches this point, so a home registration
        # BCE can never be turned into a correspondent one (status 139 not reachable).
        # Step 6 — HA role and home subnet (RFC 6275 §10.3.1, RFC 3963 §6).
        if not cfg.home_registration:
            self._reject(rx, session, hoa, BA_STATUS["home-reg-not-supported"], bu.sequence)
            return
        if hoa not in session.prefix:
            self._reject(rx, session, hoa, BA_STATUS["not-home-subnet"], bu.sequence)
            return
        if bu.lifetime_4s == 0:
            self._deregister(rx, session, hoa, bce, bu, now)
            return
        if bce is not None and bce.state is BceState.SWITCHING:
            # RFC 5142 §5.3: refreshes after an HA Switch are refused.
            self._reject(rx, session, hoa, BA_STATUS["prohibited"], bu.sequence)
            return
        if bu.r and not cfg.mobile_router:
            self._reject(rx, session, hoa, BA_STATUS["mr-not-permitted"], bu.sequence)
            return
        is_new = bce is None or bce.state is BceState.TOMBSTONE
        if is_new and len(self._bce) >= cfg.max_bindings:
            self._reject(rx, session, hoa, BA_STATUS["resources"], bu.sequence)
            return
        # Care-of address: Alternate-CoA, else the IPv6 source; IPv4 CoA option over UDP.
        coa: IPv6Address | IPv4Address
        nat = False
        if route.udp:
            if bu.ipv4_coa is None:  # RFC 5555 §4.2: mandatory from IPv4 accesses
                self._reject(rx, session, hoa, BA_STATUS["invalid-coa"], bu.sequence)
                return
            coa = bu.ipv4_coa
            # Step 7 — RFC 5555 §4.5: NAT iff the option differs from the outer source.
            nat = _mh.s4(coa) != route.src[0]
            if bu.f and not cfg.allow_forced_udp:
                self._reject(rx, session, hoa, BA_STATUS["udp-forced-refused"], bu.sequence)
                return
        else:
            coa = bu.alt_coa if bu.alt_coa is not None else route.ip6_src
            if route.hao is None and coa == hoa:
                # A lifetime > 0 from the home link itself makes no binding (RFC 6275 §10.3.1).
                self._reject(rx, session, hoa, BA_STATUS["invalid-coa"], bu.sequence)
                return
        if _not_unicast(coa) or coa == hoa:
            self._reject(rx, session, hoa, BA_STATUS["invalid-coa"], bu.sequence)
            return
        # Step 7 (cont.) — IPv4 HoA option: verify ownership or allocate (RFC 5555 §4.5).
        ack: Ipv4AckOpt | None = None
        ipv4_hoa: IPv4Address | None = None
        if bu.ipv4_hoa is not None:
            if bce is not None and bce.ipv4_hoa is not None and bu.ipv4_hoa.address == bce.ipv4_hoa:
                ipv4_hoa = bce.ipv4_hoa  # a refresh keeping its IPv4 HoA (already verified)
                ack = Ipv4AckOpt(0, 32, ipv4_hoa)
            else:
                ack, ipv4_hoa = self._ipv4_hoa(session, bu.ipv4_hoa.address, bu.ipv4_hoa.prefix_len)
        # Step 8 — DAD: the HNP is this UE's alone (pool ownership checked above).
        # Step 9 — lifetime = min(requested, policy, prefix valid lifetime in 4-s units).
        lifetime_4s = min(bu.lifetime_4s, cfg.max_lifetime_4s, int(cfg.prefix_valid_lifetime) >> 2)
        lifetime = lifetime_4s * 4.0
        # Step 10 — create/update the BCE and program the data plane.
        if bce is None:
            bce = _Bce(session)
            self._bce[hoa] = bce
        old_coa, old_udp = bce.coa, bce.udp_peer
        old_v4 = bce.ipv4_hoa
        was_active = bce.state in (BceState.ACTIVE, BceState.REVOKING, BceState.SWITCHING)
        self._move(bce, BuAccepted)
        if bce.state is BceState.ACTIVE:
            self.timers.cancel(("bri", hoa))  # RFC 5846 §7: accepting a BU ends revocation
        bce.seq = bu.sequence
        bce.coa = coa
        bce.nat = nat
        bce.forced = bu.f
        bce.udp_peer = route.src if route.udp else None
        bce.ipv4_hoa = ipv4_hoa
        if old_v4 is not None and ipv4_hoa is None and bu.ipv4_hoa is None:
            # RFC 5555 §4.4.2.1: a BU without the option releases the IPv4 HoA.
            if self.ipv4_pool is not None:
                self.ipv4_pool.release(session.owner)
        bce.lifetime = lifetime
        bce.expires = now + lifetime
        self.timers.set(("life", hoa), bce.expires)
        spec = self._binding_spec(hoa, bce, bu)
        try:
            if was_active:
                self.dataplane.update_binding(spec)
            else:
                self.dataplane.add_binding(spec)
        except CacheError:
            self._count("dataplane-error")
            self._reject(rx, session, hoa, BA_STATUS["forwarding-failed"], bu.sequence)
            return
        moved = old_coa != coa or old_udp != bce.udp_peer
        if was_active:
            self._events.append(BindingUpdated(hoa, coa, moved, lifetime))
        else:
            self._events.append(BindingCreated(hoa, coa, session.identity, ipv4_hoa, lifetime))
        # Step 11 — BA (sent whatever the A bit says).
        k = bu.k and cfg.support_k
        advice = cfg.refresh_advice_4s
        if advice is not None and advice >= lifetime_4s:
            advice = None
        nat_opt = None
        if route.udp:
            nat_opt = NatDetectionOpt(nat, cfg.nat_refresh_time if nat else NAT_NO_KEEPALIVE)
        ba = Ba(0, bu.sequence, lifetime_4s, k=k, r=bu.r, refresh_advice_4s=advice,
                ipv4_ack=ack, nat_detection=nat_opt)  # fmt: skip
        self._count("ba-0")
        if route.udp:
            reply = _mh.Route(route.dst, route.src, cfg.address6, hoa)
        else:
            reply = _mh.Route(self._local6, (_mh.s6(coa), 0), cfg.address6, coa, rh2=hoa)  # type: ignore[arg-type]
        self._send(ba, reply, session.sa_out)
        # Step 12 — K=1: move the IKE peer endpoint with the CoA (RFC 6275 §10.3.1; the
        # NAT-mapped 4500 port is learnt from the UE's next INFORMATIONAL, RFC 5555 §5.1).
        if k and moved:
            mover = getattr(self.ike, "move", None)
            if mover is not None:
                if isinstance(coa, IPv4Address):
                    local = (str(cfg.address4), 4500)
                    remote = (route.src[0], 4500)
                else:
                    local, remote = (str(cfg.address6), 500), (str(coa), 500)
                mover(session.ike_sa_id, local, remote)

    def _ipv4_hoa(
        self, session: _Session, requested: IPv4Address, prefix_len: int
    ) -> tuple[Ipv4AckOpt, IPv4Address | None]:
        """RFC 5555 §4.5 / §3.2.1: Ack status 0, 130 (not this UE's), 131 (not unicast),
        132 (no dynamic assignment available)."""
        pool = self.ipv4_pool
        zero = _ZERO4
        if pool is None:
            return Ipv4AckOpt(132, prefix_len, zero), None
        if requested == zero:
            try:
                addr = pool.allocate(session.owner)
            except PoolExhausted:
                self._count("ipv4-pool-exhausted")
                return Ipv4AckOpt(132, prefix_len, zero), None
            return Ipv4AckOpt(0, 32, addr), addr
        if requested.is_multicast or requested.is_loopback or requested.is_reserved:
            return Ipv4AckOpt(131, prefix_len, requested), None
        if requested == _BCAST4:
            return Ipv4AckOpt(131, prefix_len, requested), None
        if pool.owner(requested) != session.owner:
            self._count("ipv4-hoa-not-owned")
            return Ipv4AckOpt(130, prefix_len, requested), None
        return Ipv4AckOpt(0, 32, requested), requested

    def _binding_spec(self, hoa: IPv6Address, bce: _Bce, bu: Bu) -> BindingSpec:
        coa = bce.coa
        if isinstance(coa, IPv6Address):
            enc, port = Encapsulation.IP_IN_IPV6, None
        elif bce.nat or bce.forced:
            enc, port = Encapsulation.UDP_IPV4, bce.udp_peer[1] if bce.udp_peer else None
        else:
            enc, port = Encapsulation.IP_IN_IPV4, None
        flags = (bu.a << 15) | (bu.h << 14) | (bu.l << 13) | (bu.k << 12) | (bu.r << 10)
        return BindingSpec(
            home_address=hoa,
            home_prefix=bce.session.prefix,
            care_of_address=coa,  # type: ignore[arg-type]
            encapsulation=enc,
            lifetime=bce.lifetime,
            expires_at=bce.expires,
            sequence=bce.seq,
            flags=flags,
            ipv4_home_address=bce.ipv4_hoa,
            udp_port=port,
        )

    def _deregister(self, rx: _mh.Received, session: _Session, hoa: IPv6Address,
                    bce: _Bce | None, bu: Bu, now: float) -> None:  # fmt: skip
        """RFC 6275 §10.3.2 / procedures.md §2.4, §3: lifetime 0."""
        if bce is None or bce.state is BceState.TOMBSTONE:
            self._reject(rx, session, hoa, BA_STATUS["not-ha-for-mn"], bu.sequence)
            return
        self._move(bce, BuDeregister)
        bce.seq = bu.sequence
        self.timers.cancel(("bri", hoa))
        self.timers.cancel(("has", hoa))
        try:
            self.dataplane.del_binding(hoa)
        except CacheError:
            self._count("dataplane-error")
        if bce.ipv4_hoa is not None and self.ipv4_pool is not None:
            self.ipv4_pool.release(session.owner)
        bce.ipv4_hoa = None
        # Tombstone so a delayed BU from the old CoA gets 135 (MAX_DELETE_BCE_TIMEOUT).
        self.timers.set(("life", hoa), now + self.config.delete_bce_timeout)
        self._events.append(BindingDeleted(hoa))
        # Step 12 with the HoA as the new CoA (RFC 6275 §10.3.2, procedures.md §2.4).
        if bu.k and self.config.support_k and rx.route.ip6_src == hoa:
            mover = getattr(self.ike, "move", None)
            if mover is not None:
                mover(session.ike_sa_id, (str(self.config.address6), 500), (str(hoa), 500))
        self._count("ba-0")
        self._send(Ba(0, bu.sequence, 0, k=bu.k and self.config.support_k),
                   self._reply_route(rx, hoa), session.sa_out)  # fmt: skip

    def _remove_bce(self, hoa: IPv6Address, bce: _Bce, event: type[_state.Input]) -> None:
        active = bce.state in (BceState.ACTIVE, BceState.REVOKING, BceState.SWITCHING)
        self._move(bce, event)
        del self._bce[hoa]
        for kind in ("life", "bri", "has"):
            self.timers.cancel((kind, hoa))
        if active:
            try:
                self.dataplane.del_binding(hoa)
            except CacheError:
                self._count("dataplane-error")
            if bce.ipv4_hoa is not None and self.ipv4_pool is not None:
                self.ipv4_pool.release(bce.session.owner)

    def _on_lifetime(self, hoa: IPv6Address, bce: _Bce, now: float) -> None:
        was = bce.state
        self._remove_bce(hoa, bce, LifetimeOver)
        if was is not BceState.TOMBSTONE:
            self._events.append(BindingExpired(hoa))

    # ---- revocation (RFC 5846)
    def _route_to(self, hoa: IPv6Address, bce: _Bce) -> _mh.Route:
        if bce.udp_peer is not None and self._local4 is not None:
            return _mh.Route(self._local4, bce.udp_peer, self.config.address6, hoa)
        coa = bce.coa
        return _mh.Route(self._local6, (str(coa), 0), self.config.address6, coa, rh2=hoa)  # type: ignore[arg-type]

    def _send_bri(self, hoa: IPv6Address, bce: _Bce) -> None:
        bri = Bri(bce.bri_trigger, bce.bri_seq)
        self._count("bri-sent")
        self._send(bri, self._route_to(hoa, bce), bce.session.sa_out)

    def _on_bri_timer(self, hoa: IPv6Address, bce: _Bce, now: float) -> None:
        if bce.retries < BRI_MAX_RETRIES:
            bce.retries += 1
            self._send_bri(hoa, bce)
            wait = backoff(INIT_MIN_DELAY_BRIS, bce.retries, MAX_BRACK_TIMEOUT)
            self.timers.set(("bri", hoa), now + wait)
            return
        self._finish_revocation(hoa, bce, acknowledged=False, now=now)

    def _finish_revocation(self, hoa: IPv6Address, bce: _Bce, *, acknowledged: bool,
                           now: float) -> None:  # fmt: skip
        session = bce.session
        trigger = bce.bri_trigger
        self._remove_bce(hoa, bce, RevocationDone)
        self._events.append(BindingRevoked(hoa, trigger, acknowledged))
        # procedures.md §4.1 step 6: then delete the IKE SA and release HNP / IPv4 HoA.
        self._delete_ike(session.ike_sa_id, now)

    def _on_bra(self, rx: _mh.Received, now: float) -> None:
        bra: Bra = rx.message  # type: ignore[assignment]
        if rx.spi is None:
            self._count("unprotected")
            return
        session = self._by_spi[rx.spi]
        hoa = rx.route.mh_src
        bce = self._bce.get(hoa)
        # RFC 5846 §6.2.2: only a BRA matching an outstanding BRI, from that UE's SA.
        if (
            bce is None
            or bce.session is not session
            or bce.state is not BceState.REVOKING
            or bra.sequence != bce.bri_seq
        ):
            self._count("bra-unmatched")
            return
        self._finish_revocation(hoa, bce, acknowledged=bra.status < 128, now=now)

    # ---- HA switch (RFC 5142)
    def _send_has(self, hoa: IPv6Address, bce: _Bce) -> None:
        lifetime_left = max(0.0, bce.expires)  # advisory only
        del lifetime_left
        self._count("has-sent")
        self._send(Has(bce.has_addresses), self._route_to(hoa, bce), bce.session.sa_out)

    def _on_has_timer(self, hoa: IPv6Address, bce: _Bce, now: float) -> None:
        if bce.state is not BceState.SWITCHING:
            return
        bce.retries += 1
        self._send_has(hoa, bce)
        wait = backoff(INITIAL_HA_SWITCH_TIMEOUT, bce.retries, MAX_HA_SWITCH_TIMEOUT)
        self.timers.set(("has", hoa), now + wait)

    def _on_unknown(self, rx: _mh.Received, now: float) -> None:
        # RFC 6275 §9.2: unknown MH type -> Binding Error status 2 (to the source).
        self._count("unknown-mh-type")
        if rx.spi is None:
            return
        session = self._by_spi[rx.spi]
        self._send(Be(2, rx.route.mh_src), self._reply_route(rx, rx.route.mh_src), session.sa_out)

    def _on_unexpected(self, rx: _mh.Received, now: float) -> None:
        self._count("unexpected-mh")

    _HANDLERS: dict[type, Callable[[HomeAgent, _mh.Received, float], None]] = {
        Bu: _on_bu,
        Bra: _on_bra,
        _mh.UnknownMh: _on_unknown,
        Ba: _on_unexpected,
        Bri: _on_unexpected,
        Has: _on_unexpected,
        Be: _on_unexpected,
        _mh.Brr: _on_unexpected,
    }
