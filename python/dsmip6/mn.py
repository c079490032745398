"""The UE (mobile node): sans-I/O DSMIPv6 procedures of TS 24.303 §5 over RFC 6275 §11,
RFC 5555 §4.4, RFC 4877, RFC 5026, RFC 5846 §6.2 and RFC 5142 §6.

Theory of operation
-------------------
A ``MobileNode`` holds one *PDN connection* object per APN (TS 24.303 §4.3: independent
DSMIPv6 instances with their own HA, IKE SA, HNP/HoA and binding update list entry). Each
follows ``dsmip6._state.UE_TRANSITIONS``:

``attach(apn)`` → HA discovery (static / DNS HA-APN / DNS SRV / DHCPv6 / IKEv2
HOME_AGENT_ADDRESS) → IKEv2 with EAP-AKA from the CoA (MIP6_HOME_PREFIX → HNP → HoA) →
CREATE_CHILD_SA for the HoA-keyed MH transport SA (RFC 5026 §5.3.2) → home link detection →
initial BU (Annex A.2) → BA → registered, refreshed at 75 % of the granted lifetime (or the
Binding Refresh Advice / NAT keepalive period). ``move()`` changes the access: a new CoA gives
an A.3 BU from it (IPv6 with HAO + Alternate-CoA, or IPv4/UDP 4191 with the IPv4 CoA option),
the home link gives a lifetime-0 BU from the HoA. ``detach(apn)`` sends the A.5 BU then
deletes the IKE SA. A BRI (RFC 5846) from the HA ends the connection. An HA Switch (RFC 5142
§6) moves it make before break: a second session of the same APN attaches to the new HA while
the old binding and tunnel stay; on the new HA's BA the new session takes the APN's place,
then the old binding is de-registered and its IKE SA deleted (``_settle_switches``).

The binding update list entry keeps: the last sequence number sent (mod 2^16, new number on
every retransmission), the send time and requested lifetime of every outstanding BU
(lifetime bookkeeping starts at transmission, RFC 6275 §11.7.3), the retransmission count
(1.5 s first registration / 1 s otherwise, doubling to 32 s, RFC 6275 §11.8), the granted
lifetime and the refresh point. BUs leave at most ``max_update_rate`` (3) per second
(MAX_UPDATE_RATE, RFC 6275 §12): one over the limit waits on the ``bu_rate`` timer, later
triggers coalescing into it. BA 134 (DAD failed, RFC 5026 §5.3.2) gives a new random IID in
the same HNP, a CREATE_CHILD_SA for it on the existing IKE SA (the old child SA deleted) and a
fresh BU, at most ``max_dad_retries`` times per attach.

Discovery keeps every HA it learnt (``HaInfo.alternates``): before the first binding, BA
131/143 or an IKE timeout / authentication failure moves the attach on to the next one
(``_next_ha``, at most ``max_home_agents``). A BA with K=0 after a move renews the IKE SA from
the new CoA when the old address is gone (``_on_k_clear``, RFC 4877 §7.4).

Named timers (``(key, name)``; key = the APN, or ``apn#n`` for the other session of an HA
switch): ``bu`` retransmission, ``bu_rate``, ``refresh``, ``expire``, ``ike_retry``, ``guard``
(waiting for the HA's IKE delete after a BRI). Each IKE engine and resolver has its own timer;
``get_timer()`` is the minimum.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from socket import AF_INET, AF_INET6, inet_ntop
from typing import Any

from dsmip6 import _ike, _mh, _mpd, _state
from dsmip6._mh import MIP_UDP_PORT, Addr, Ba, Be, Bra, Bri, Bu, Has, Ipv4HoaOpt
from dsmip6._mpd import Mpa, Mps
from dsmip6._sec import esp_sa
from dsmip6._state import UE_TRANSITIONS, UeState
from dsmip6._timers import TimerTable, backoff
from dsmip6.config import NATKATIMEOUT, MobileNodeConfig, PdnConfig
from dsmip6.dataplane_iface import BindingSpec, DataPlane, Encapsulation
from dsmip6.discovery import Dhcpv6Resolver, DnsResolver, HaInfo, ha_apn_fqdn
from dsmip6.errors import CacheError, EspError, LocalProtocolError, MalformedPacket
from dsmip6.events import (
    AtHome,
    AttachCompleted,
    AttachFailed,
    BindingAccepted,
    BindingRejected,
    DetachCompleted,
    DiscoveryFailed,
    Event,
    HandoverCompleted,
    HomeAgentDiscovered,
    HomeAgentSwitched,
    IkeEstablished,
    Ipv4HomeAddressAssigned,
    Ipv4HomeAddressReleased,
    MobilePrefixAdvertised,
    NetworkDetached,
    Redirected,
)

__all__ = ["MobileNode", "DNS_CLIENT_PORT", "DHCPV6_CLIENT_PORT"]

_BU_STATES = (UeState.REGISTERING, UeState.RETURNING_HOME, UeState.DETACHING)

DNS_CLIENT_PORT = 10053
DHCPV6_CLIENT_PORT = 546
MAX_REDIRECTS = 5  # RFC 5685 §7
NAT_NO_KEEPALIVE = 0xFFFFFFFF
_TIMER_KINDS = ("bu", "bu_rate", "refresh", "expire", "guard", "ike_retry", "mps")
GUARD_TIMEOUT = 10.0  # [D] wait for the HA's IKE delete after a BRI before deleting ourselves
MAX_SPI_CLASHES = 3  # [D] child SAs refused for an SPI in use before giving up

#: IKE failures after which the UE tries the next discovered HA (procedures.md §1.1c and
#: the §1.2 table: RFC 5026 §5.1.2 no answer / authentication failure; RFC 4877 §9 no HoA).
NEXT_HA_IKE_REASONS = frozenset(
    {"timeout", "AUTHENTICATION_FAILED", "EAP failure", "INTERNAL_ADDRESS_FAILURE"}
)

#: procedures.md §9.1: BA status -> UE action.
BA_ACTIONS: dict[int, str] = {
    128: "retry",
    129: "stop",
    130: "retry",
    131: "next-ha",
    132: "stop",
    133: "stop",
    134: "new-hoa",
    135: "resync",
    139: "stop",
    140: "retry-without-r",
    141: "stop",
    142: "stop",
    143: "next-ha",
    144: "retry-without-f",
    174: "stop",
}


def _text(addr: IPv6Address | IPv4Address) -> str:
    """An address as text through the C formatter (RFC 5952 form; ``str()`` is ~5x slower).

    The octets are the address integer's own (``addr.packed`` is the same ``to_bytes`` behind
    two Python calls: the ``packed`` property and ``v6_int_to_packed``)."""
    if addr._version == 6:
        return inet_ntop(AF_INET6, addr._ip.to_bytes(16, "big"))
    return inet_ntop(AF_INET, addr._ip.to_bytes(4, "big"))


def _differ(a: object, b: object) -> bool:
    """``a != b`` for two optional addresses, without the AttributeError that ``ipaddress``'s
    ``__eq__`` raises and catches inside when one side is None."""
    if a is None or b is None:
        return a is not b
    return a != b


class _Pdn:
    """One PDN connection (procedures.md §0.2)."""

    # 10^5 of these live in one simulation: no per-instance __dict__.
    __slots__ = (
        "cfg",
        "apn",
        "key",
        "origin",
        "retiring",
        "switch_failed",
        "state",
        "ha6",
        "ha4",
        "resolver",
        "ike",
        "ike_sa_id",
        "ike_remote",
        "prefix",
        "hoa",
        "hoa4",
        "hoa4_refused",
        "hoa4_release",
        "no_r",
        "sa_in",
        "sa_out",
        "seq",
        "pending",
        "attempts",
        "initial_timeout",
        "lifetime_4s",
        "registered_coa",
        "coa_sent",
        "has_binding",
        "force_udp",
        "use_v4",
        "nat",
        "udp",
        "expires",
        "attached",
        "redirects",
        "switch_to",
        "switching",
        "resyncs",
        "dereg_acked",
        "child_requested",
        "ike_tries",
        "programmed",
        "spec",
        "revoked",
        "dad_failed",
        "bu_times",
        "bu_deferred",
        "mpd_in",
        "mpd_out",
        "mpd_wanted",
        "mpd_child",
        "mpd_id",
        "mpd_tries",
        "mpd_last",
        "prefix_until",
        "mpd_gate",
        "refresh_held",
        "spi_clashes",
        "ha_next",
        "ha_tried",
        "be2_plain",
        "ike_local",
        "ike_stale",
        "ike_renew_wait",
    )

    def __init__(self, cfg: PdnConfig) -> None:
        self.cfg = cfg
        self.apn = cfg.apn
        # Timer names are ``(key, kind)``; the PDN connection in use has ``key == apn``, a
        # second session of the same APN (HA switch, RFC 5142 §6) has its own key.
        self.key = cfg.apn
        # HA switch: on the new session, the old one; on the old one, True once the new
        # session took over (``retiring``) or failed (``switch_failed``).
        self.origin: _Pdn | None = None
        self.retiring = False
        self.switch_failed = False
        self.state = UeState.IDLE
        self.ha6: IPv6Address | None = cfg.ha_address6
        self.ha4: IPv4Address | None = cfg.ha_address4
        self.resolver: Any = None
        self.ike: Any = None
        self.ike_sa_id: object = None
        self.ike_remote: Addr | None = None
        self.prefix: IPv6Network | None = None
        self.hoa: IPv6Address | None = None
        self.hoa4: IPv4Address | None = None
        self.hoa4_refused = False
        # UE-initiated IPv4 HoA release under way (RFC 5555 §4.4.2.1): BUs omit the option.
        self.hoa4_release = False
        # BA 140 refused the implicit-prefix service: BUs go without R (procedures.md §9.1).
        self.no_r = False
        self.sa_in: Any = None
        self.sa_out: Any = None
        # binding update list entry
        self.seq = 0
        self.pending: dict[int, tuple[float, int]] = {}
        self.attempts = 0
        self.initial_timeout = 1.0
        self.lifetime_4s = cfg.lifetime_4s
        self.registered_coa: IPv6Address | IPv4Address | None = None
        self.coa_sent: IPv6Address | IPv4Address | None = None
        self.has_binding = False
        self.force_udp = False
        self.use_v4 = False
        self.nat = False
        self.udp = False
        self.expires = 0.0
        self.attached = False
        self.redirects = 0
        self.switch_to: IPv6Address | None = None
        self.switching = False
        self.resyncs = 0
        self.dereg_acked = False
        self.child_requested = False
        self.ike_tries = 0
        self.programmed = False
        self.spec: BindingSpec | None = None  # what the UE's data plane holds, if any
        self.revoked = False
        # RFC 5026 §5.3.2: HoAs refused with BA 134 during this attach.
        self.dad_failed: set[IPv6Address] = set()
        # RFC 6275 §11.8/§12 MAX_UPDATE_RATE: recent BU send instants, and the lifetime of
        # a BU waiting for the earliest allowed instant (None = nothing deferred).
        self.bu_times: deque[float] = deque()
        self.bu_deferred: int | None = None
        # Mobile Prefix Discovery (RFC 6275 §11.4; RFC 4877 §6.3): the MPD SA pair, whether a
        # solicitation is wanted (BA status 1), whether its CREATE_CHILD_SA is under way,
        # the identifier of the outstanding solicitation (None: none), its transmissions,
        # and the HNP's (valid, preferred, flags) from the last accepted advertisement.
        self.mpd_in: Any = None
        self.mpd_out: Any = None
        self.mpd_wanted = False
        self.mpd_child = False
        self.mpd_id: int | None = None
        self.mpd_tries = 0
        self.mpd_last: tuple[int, int, bool, bool] | None = None
        # RFC 6275 §11.4.2 / §11.7.1: when the HNP's valid lifetime (from the last accepted
        # advertisement) ends, absolute; None = infinite or never advertised. Every BU's
        # lifetime is capped to it.
        self.prefix_until: float | None = None
        # RFC 6275 §11.7.1: after BA status 1 no re-registration before prefix discovery
        # answered (``mpd_gate``); ``refresh_held``: a refresh is waiting for that answer.
        self.mpd_gate = False
        self.refresh_held = False
        # Child SAs refused because their inbound SPI was in use by another session.
        self.spi_clashes = 0
        # procedures.md §1.1c / §9.1: the HAs discovery named after the one in use (static
        # alternates, further DNS records, further DHCPv6 containers), and how many HAs this
        # attach has tried so far (bounded by ``max_home_agents``).
        self.ha_next: tuple[HaInfo, ...] = ()  # (a tuple: no allocation per PDN)
        self.ha_tried = 0
        # Binding Error 2 answered a BU: BUs go without extensions (RFC 6275 §11.3.6).
        self.be2_plain = False
        # The UE's IKE endpoint; during an IKE SA renewal after a K=0 BA (RFC 4877 §7.4) the
        # IKE engine being replaced, then the one whose Delete the re-registration waits for.
        self.ike_local: Addr | None = None
        self.ike_stale: Any = None
        self.ike_renew_wait: Any = None


class MobileNode:
    """The UE; see the module docstring."""

    def __init__(
        self,
        config: MobileNodeConfig,
        *,
        rng: Callable[[int], bytes],
        ike_factory: Callable[[str, str, bool, bool], Any],
        signalling: _mh.Signalling | None = None,
        sa_factory: Callable[[Any], Any] = esp_sa,
        selectors: Callable[[IPv6Address, IPv6Address], tuple[Any, Any]] = _ike.mh_selectors,
        dataplane: DataPlane | None = None,
        mpd_selectors: Callable[[IPv6Address, IPv6Address], tuple[Any, Any]] = _mpd.mpd_selectors,
    ) -> None:
        self.config = config
        self.dataplane = dataplane
        self.selectors = selectors
        self.mpd_selectors = mpd_selectors
        self.rng = rng
        self.ike_factory = ike_factory
        self.signalling: _mh.Signalling = signalling or _mh.WireSignalling()
        self.sa_factory = sa_factory
        self.timers = TimerTable()
        self.counters: dict[str, int] = {}
        self.coa6: IPv6Address | None = None
        self.coa4: IPv4Address | None = None
        self.home_prefixes: frozenset[IPv6Network] = frozenset()
        self._pdns: dict[str, _Pdn] = {p.apn: _Pdn(p) for p in config.pdns}
        self._by_spi: dict[int, _Pdn] = {}
        self._mpd_spi: dict[int, _Pdn] = {}  # inbound SPI of each MPD SA (RFC 4877 §6.3)
        # Every session by timer key: the PDN connections plus, during an HA switch, the
        # session with the new HA and the old session being de-registered (RFC 5142 §6).
        self._sessions: dict[str, _Pdn] = dict(self._pdns)
        self._switch: dict[str, _Pdn] = {}  # apn -> session with the new HA, until it ends
        # IKE engines of aborted switch sessions still deleting their IKE SA (RFC 7296 §1.4.1
        # and §2.1: the INFORMATIONAL Delete is a request, retransmitted until answered).
        self._draining: list[tuple[Any, str]] = []
        self._serial = 0
        self._out: list[tuple[bytes, Addr, Addr]] = []
        self._events: deque[Event] = deque()

    # ------------------------------------------------------------------ inspection
    def state(self, apn: str) -> UeState:
        """State of the PDN connection ``apn``."""
        return self._pdn(apn).state

    def home_address(self, apn: str) -> IPv6Address | None:
        """The IPv6 HoA of ``apn`` (None before IKE_AUTH)."""
        return self._pdn(apn).hoa

    def home_prefix(self, apn: str) -> IPv6Network | None:
        """The HNP of ``apn`` learnt through IKEv2 (MIP6_HOME_PREFIX)."""
        return self._pdn(apn).prefix

    def ipv4_home_address(self, apn: str) -> IPv4Address | None:
        """The IPv4 HoA of ``apn``, if assigned."""
        return self._pdn(apn).hoa4

    def binding_expiry(self, apn: str) -> float:
        """Absolute expiry of the registered binding (0 when none)."""
        return self._pdn(apn).expires

    def sequence(self, apn: str) -> int:
        """Last BU sequence number sent."""
        return self._pdn(apn).seq

    def nat_detected(self, apn: str) -> bool:
        """True when the last BA said a NAT is on the path."""
        return self._pdn(apn).nat

    def _pdn(self, apn: str) -> _Pdn:
        try:
            return self._pdns[apn]
        except KeyError:
            raise LocalProtocolError(f"UE: no PDN connection {apn!r}") from None

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _move_state(self, p: _Pdn, event: type[_state.Input]) -> None:
        p.state = _state.transition(f"UE[{p.apn}]", UE_TRANSITIONS, p.state, event)  # type: ignore[assignment]

    # ------------------------------------------------------------------ API
    def set_access(
        self,
        *,
        coa6: IPv6Address | None = None,
        coa4: IPv4Address | None = None,
        home_prefixes: tuple[IPv6Network, ...] = (),
    ) -> None:
        """Describe the current access link without triggering anything (before attach)."""
        self.coa6, self.coa4 = coa6, coa4
        self.home_prefixes = frozenset(home_prefixes)

    def attach(self, apn: str, now: float) -> None:
        """Start the initial attach of ``apn`` (TS 24.303 §5.1)."""
        p = self._pdn(apn)
        if self.coa6 is None and self.coa4 is None and not self.home_prefixes:
            raise LocalProtocolError("UE: attach needs an access (call set_access first)")
        self._move_state(p, _state.AttachRequested)
        cand = self._switch.get(apn)
        if cand is not None:  # the old session was lost mid-switch: start over cleanly
            self._abort_switch(p, cand, now, report=False)
        self._reset(p)
        self._discover(p, now)

    def move(
        self,
        now: float,
        *,
        coa6: IPv6Address | None = None,
        coa4: IPv4Address | None = None,
        home_prefixes: tuple[IPv6Network, ...] = (),
    ) -> None:
        """The UE moved to another access (TS 24.303 §5.2): home link detection and a BU
        per PDN connection from the new CoA, or de-registration when back home."""
        self.set_access(coa6=coa6, coa4=coa4, home_prefixes=home_prefixes)
        for p in list(self._sessions.values()):
            if p.state not in (
                UeState.REGISTERING,
                UeState.REGISTERED,
                UeState.AT_HOME,
                UeState.RETURNING_HOME,
            ):
                continue
            if self._at_home(p):
                if p.state is UeState.AT_HOME:
                    continue
                self._move_state(p, _state.MovedHome)
                self._start_bu(p, 0, now)
            else:
                self._move_state(p, _state.CoaChanged)
                p.use_v4 = self.coa6 is None
                self._start_bu(p, p.lifetime_4s, now)

    def detach(self, apn: str, now: float) -> None:
        """UE-initiated detach (TS 24.303 §5.3, Annex A.5)."""
        p = self._pdn(apn)
        prev = p.state
        self._move_state(p, _state.DetachRequested)
        cand = self._switch.get(apn)
        if cand is not None:
            self._abort_switch(p, cand, now, report=False)  # no half-made session survives
        if p.state is UeState.DETACHING and prev is not UeState.DETACHING:
            self._start_bu(p, 0, now)
        elif p.state is UeState.IKE_DELETING:
            self._delete_ike(p, now)
        elif p.state is UeState.DETACHED:
            self._cleanup(p)
            self._events.append(DetachCompleted(p.apn, acknowledged=False))

    def report_persistent_losses(self, apn: str, now: float) -> bool:
        """Upper layers saw persistent packet losses on the user plane of ``apn`` (RFC 5555
        §4.4.1, procedures.md §1.7): if the binding is from an IPv4 CoA with plain IP-in-IP
        user data, re-register at once with F=1 (force UDP 4191 encapsulation, e.g. past a
        firewall that drops IP-in-IP); later BUs from IPv4 keep F until an attach, a BA 144
        (the HA refuses it: back without F, §9.1) or an IPv6 CoA (§1.7: no UDP from IPv6).
        True when that BU left; False when it does not apply (IPv6 CoA, already UDP).

        The trigger stays with the caller on purpose: RFC 5555 names "upper layers" as the
        source, and the signalling cannot see it (from an IPv4 access every BU/BA is
        UDP 4191 anyway, so its own losses say nothing about IP-in-IP being filtered)."""
        p = self._pdn(apn)
        if p.state is not UeState.REGISTERED:
            raise LocalProtocolError(f"UE[{apn}]: forcing UDP needs a binding ({p.state.value})")
        if not isinstance(p.registered_coa, IPv4Address) or p.udp or p.force_udp:
            self._count("force-udp-not-applicable")
            return False
        p.force_udp = True
        self._count("force-udp-requested")
        self._move_state(p, _state.RefreshDue)
        self._start_bu(p, p.lifetime_4s, now)
        return True

    def release_ipv4_home_address(self, apn: str, now: float) -> None:
        """UE-initiated release of the IPv4 HoA only (procedures.md §3 "partial detach";
        RFC 5555 §4.4.2.1; TS 23.402, UE-initiated IPv4 HoA release with DSMIPv6): a
        re-registration BU (lifetime > 0) without the IPv4 Home Address option. On its BA
        ``Ipv4HomeAddressReleased`` is reported; later BUs do not ask for one again."""
        p = self._pdn(apn)
        if p.hoa4 is None:
            raise LocalProtocolError(f"UE[{apn}]: no IPv4 home address to release")
        if p.state is not UeState.REGISTERED and p.state is not UeState.REGISTERING:
            raise LocalProtocolError(
                f"UE[{apn}]: IPv4 HoA release needs a binding ({p.state.value})"
            )
        p.hoa4_release = True
        p.hoa4_refused = True  # RFC 5555 §4.4.2.1: do not request a new one in later BUs
        if p.state is UeState.REGISTERED:
            self._move_state(p, _state.RefreshDue)
        self._start_bu(p, p.lifetime_4s, now)

    # ------------------------------------------------------------------ sans-I/O surface
    def receive_datagram(self, data: bytes, src: Addr, dst: Addr, now: float) -> None:
        """Feed one received datagram (addressing model: :mod:`dsmip6._mh`)."""
        port = dst[1]
        if port in (500, 4500):
            for p in list(self._sessions.values()):
                if p.ike is not None and p.ike_remote is not None and p.ike_remote[0] == src[0]:
                    p.ike.receive_datagram(data, src, dst, now)
                    self._drain_ike(p, now)
            if self._draining:
                for ike, host in list(self._draining):
                    if host == src[0]:
                        ike.receive_datagram(data, src, dst, now)
                        self._settle_draining(ike, now)
            if self._switch:
                self._settle_switches(now)
            return
        if port in (DNS_CLIENT_PORT, DHCPV6_CLIENT_PORT):
            for p in list(self._sessions.values()):
                if p.state is UeState.DISCOVERING and p.resolver is not None:
                    p.resolver.receive_datagram(data, src, now)
                    self._after_discovery(p, now)
            if self._switch:
                self._settle_switches(now)
            return
        if port not in (0, MIP_UDP_PORT):
            self._count("wrong-port")
            return
        try:
            rx = self.signalling.decode(data, src, dst, self._find_sa)
        except MalformedPacket:
            self._count("malformed")
            return
        except EspError as exc:
            self._count(f"esp-{type(exc).__name__}")
            return
        if rx.spi is None:
            # RFC 4877 §4 / procedures.md §1.6.3 step 1: only the HoA-keyed SA counts.
            self._count("unprotected")
            return
        p = self._by_spi.get(rx.spi)  # type: ignore[assignment]
        if p is None:
            # The MPD SA (RFC 4877 §6.3): its inbound selectors admit an MPA only.
            p = self._mpd_spi[rx.spi]
            if type(rx.message) is Mpa:
                self._on_mpa(p, rx, now)
            else:
                self._count("mpd-sa-selector-mismatch")
            return
        if type(rx.message) is Mpa or type(rx.message) is Mps:
            # Through the signalling SA, whose selectors admit the Mobility Header only.
            self._count("mpd-wrong-sa")
            return
        handler = self._HANDLERS.get(type(rx.message))
        if handler is None:
            self._count("unexpected-mh")
            return
        handler(self, p, rx, now)
        if self._switch:
            self._settle_switches(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr, Addr]]:
        """Everything to transmit now: ``(data, src, dst)``."""
        out = self._out
        self._out = []
        for p in self._sessions.values():
            if p.resolver is not None:
                local = self._local_addr(p)
                dhcp = isinstance(p.resolver, Dhcpv6Resolver)
                cport = DHCPV6_CLIENT_PORT if dhcp else DNS_CLIENT_PORT
                for data, dst in p.resolver.datagrams_to_send(now):
                    out.append((data, (local, cport), dst))
            if p.ike is not None:
                out.extend(p.ike.datagrams_to_send(now))
        for ike, _ in self._draining:
            out.extend(ike.datagrams_to_send(now))
        return out

    def next_event(self) -> Event | None:
        """The next procedure event, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest deadline among the UE's timers, resolvers and IKE engines."""
        best = self.timers.next_deadline()
        for p in self._sessions.values():
            for t in (
                p.ike.get_timer() if p.ike is not None else None,
                p.resolver.get_timer() if p.resolver is not None else None,
            ):
                if t is not None and (best is None or t < best):
                    best = t
        for ike, _ in self._draining:
            t = ike.get_timer()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def handle_timer(self, now: float) -> None:
        """Run everything due at ``now``."""
        for ike, _ in list(self._draining):
            t = ike.get_timer()
            if t is not None and t <= now:
                ike.handle_timer(now)
                self._settle_draining(ike, now)
        for p in list(self._sessions.values()):
            if p.resolver is not None:
                t = p.resolver.get_timer()
                if t is not None and t <= now:
                    p.resolver.handle_timer(now)
                    self._after_discovery(p, now)
            if p.ike is not None:
                t = p.ike.get_timer()
                if t is not None and t <= now:
                    p.ike.handle_timer(now)
                    self._drain_ike(p, now)
        for name in self.timers.pop_due(now):
            key, kind = name  # type: ignore[misc]
            p = self._sessions.get(key)  # type: ignore[assignment]
            if p is None:
                continue
            if kind == "bu":
                self._on_bu_timer(p, now)
            elif kind == "bu_rate":
                lifetime_4s, p.bu_deferred = p.bu_deferred, None
                if lifetime_4s is not None and p.state in _BU_STATES:
                    self._send_bu(p, lifetime_4s, now)
            elif kind == "refresh":
                if p.state is UeState.REGISTERED and (p.switching or p.switch_failed):
                    # RFC 5142 §5.3/§6: the old HA refuses refreshes once it asked for the
                    # switch; de-register before the old binding would expire.
                    self._leave_old_ha(p, now)
                elif (
                    p.state is UeState.REGISTERED
                    and p.mpd_gate
                    and p.expires - now > 2 * self.config.max_bindack_timeout
                ):
                    # RFC 6275 §11.7.1: after status 1 "should not try to register again"
                    # before prefix discovery answered: hold the refresh until the MPA, but
                    # not so long that the binding lapses (then refresh anyway).
                    p.refresh_held = True
                    self._count("refresh-held-for-mpd")
                    last = p.expires - 2 * self.config.max_bindack_timeout
                    self.timers.set((p.key, "refresh"), last)
                elif p.state is UeState.REGISTERED:
                    p.refresh_held = False
                    self._move_state(p, _state.RefreshDue)
                    self._start_bu(p, p.lifetime_4s, now)
                    until = p.prefix_until
                    if (
                        until is not None
                        and p.state is UeState.REGISTERING
                        and until - now < p.lifetime_4s * 4.0
                    ):
                        # RFC 6275 §11.4.2: the HoA is about to become invalid (it caps
                        # this refresh): solicit fresh prefix information.
                        self._start_mpd(p, now)
            elif kind == "expire":
                if p.state in (UeState.REGISTERED, UeState.REGISTERING):
                    self._binding_lost(p, "lifetime-expired", now)
            elif kind == "ike_retry":
                if p.state is UeState.IKE and p.ike is None:
                    self._start_ike(p, now)
            elif kind == "guard":
                if p.state is UeState.IKE_DELETING:
                    self._delete_ike(p, now)
            elif kind == "mps":
                self._on_mps_timer(p, now)
        if self._switch:
            self._settle_switches(now)

    # ------------------------------------------------------------------ discovery
    def _reset(self, p: _Pdn) -> None:
        p.ha6, p.ha4 = p.cfg.ha_address6, p.cfg.ha_address4
        p.hoa4_refused = False
        p.hoa4_release = False
        p.no_r = False
        p.has_binding = False
        p.attached = False
        p.redirects = 0
        p.force_udp = False
        p.resyncs = 0
        p.ike_tries = 0
        p.revoked = False
        p.dad_failed.clear()
        p.switching = p.switch_failed = p.retiring = False
        p.switch_to = None
        p.ha_next = ()
        p.ha_tried = 0
        p.be2_plain = False

    def _local_addr(self, p: _Pdn) -> str:
        if self.coa6 is not None:
            return _text(self.coa6)
        if self.coa4 is not None:
            return _text(self.coa4)
        return _text(p.hoa) if p.hoa is not None else "::"

    def _discover(self, p: _Pdn, now: float) -> None:
        """TS 24.303 §5.1.2.1 (procedures.md §1.1): explicit config > DHCPv6/IKEv2 > DNS."""
        cfg, method = self.config, p.cfg.discovery
        if method in ("static", "ikev2"):
            if p.ha6 is None and p.ha4 is None:
                self._discovery_failed(p, "no-static-address")
                return
            alts = tuple(HaInfo(a6, a4, method) for a6, a4 in p.cfg.ha_alternates)
            self._discovered(p, HaInfo(p.ha6, p.ha4, method, alternates=alts), now)
            return
        if method in ("dns", "dns-srv"):
            if cfg.dns_server is None:
                self._discovery_failed(p, "no-dns-server")
                return
            fqdn = ha_apn_fqdn(p.apn, cfg.mcc, cfg.mnc)
            p.resolver = DnsResolver(
                fqdn,
                cfg.dns_server,
                self.rng,
                srv=method == "dns-srv",
                timeout=cfg.discovery_timeout,
                attempts=cfg.discovery_attempts,
            )
        else:
            if cfg.dhcpv6_server is None:
                self._discovery_failed(p, "no-dhcpv6-server")
                return
            duid = b"\x00\x04" + self.config.identity.encode()[:16]  # DUID-UUID-like, opaque
            p.resolver = Dhcpv6Resolver(
                cfg.dhcpv6_server,
                self.rng,
                duid,
                timeout=cfg.discovery_timeout,
                attempts=cfg.discovery_attempts,
            )
        p.resolver.start(now)

    def _after_discovery(self, p: _Pdn, now: float) -> None:
        r = p.resolver
        if r is None or not r.done:
            return
        p.resolver = None
        if r.result is not None:
            self._discovered(p, r.result, now)
        else:
            self._discovery_failed(p, r.error or "failed")

    def _discovery_failed(self, p: _Pdn, reason: str) -> None:
        self._move_state(p, _state.DiscoveryError)
        self._events.append(DiscoveryFailed(p.apn, reason))
        self._attach_failed(p, f"discovery: {reason}")

    def _discovered(self, p: _Pdn, info: HaInfo, now: float) -> None:
        p.ha6 = info.address6 or p.ha6
        p.ha4 = info.address4 or p.ha4
        if info.alternates:
            p.ha_next = info.alternates
        p.ha_tried += 1
        if p.origin is not None and p.ha6 is not None and p.ha6 == p.origin.ha6:
            # RFC 5142 §6: the switch is away from this HA; discovery naming it again fails.
            self._discovery_failed(p, "only the old home agent")
            return
        self._move_state(p, _state.HaDiscovered)
        self._events.append(HomeAgentDiscovered(p.apn, p.ha6, p.ha4, info.source))
        self._start_ike(p, now)

    # ------------------------------------------------------------------ IKE
    def _ike_endpoints(self, p: _Pdn, gateway: str | None = None) -> tuple[Addr, Addr]:
        """IKE runs from the CoA (procedures.md §10 rule 2); from IPv4 access to HA4."""
        if gateway is not None:
            if isinstance(ip_address(gateway), IPv6Address) and self.coa6 is not None:
                return (_text(self.coa6), 500), (gateway, 500)
            return (str(self.coa4), 500), (gateway, 500)
        if self.coa6 is not None and p.ha6 is not None:
            return (_text(self.coa6), 500), (_text(p.ha6), 500)
        if self.coa4 is not None and p.ha4 is not None:
            return (_text(self.coa4), 500), (_text(p.ha4), 500)
        if p.ha6 is not None and self.home_prefixes:
            # At home with no CoA: the IKE SA is optional but we set it up (TS 23.402 §4.5.6).
            src = next(iter(self.home_prefixes)).network_address + 1
            return (_text(src), 500), (_text(p.ha6), 500)
        raise LocalProtocolError(f"UE[{p.apn}]: no address family in common with the HA")

    def _start_ike(self, p: _Pdn, now: float, gateway: str | None = None) -> None:
        try:
            local, remote = self._ike_endpoints(p, gateway)
        except LocalProtocolError as exc:
            self._move_state(p, _state.IkeError)
            self._attach_failed(p, str(exc))
            return
        ipv4 = ":" not in remote[0]  # text from _text() or a redirect gateway
        p.ike_tries += 1
        p.ike = self.ike_factory(self.config.identity, p.apn, p.cfg.discovery == "ikev2", ipv4)
        p.ike_remote = remote
        p.ike_local = local
        p.ike.connect(local, remote, now)

    def _delete_ike(self, p: _Pdn, now: float) -> None:
        if p.ike is None:
            self._ike_gone(p, now, "no-ike")
            return
        self.timers.set((p.key, "guard"), now + GUARD_TIMEOUT)
        p.ike.delete(now)
        self._drain_ike(p, now)

    def _drain_ike(self, p: _Pdn, now: float) -> None:
        ike = p.ike
        records: list[Any] = []
        cp_lifetime: int | None = None
        while ike is not None and (ev := ike.next_event()) is not None:
            rec = _ike.translate(ev, "ue")
            if type(rec) is _ike.IkeUp:
                # MIP6_HOME_PREFIX Prefix Lifetime (RFC 5026 §8.2), not in the record.
                cp_lifetime = getattr(ev, "prefix_lifetime", None)
            if rec is None:
                found = _mpd.mpd_child(ev)
                if found is not None:  # the MPD SA (RFC 4877 §6.3)
                    records.append((found, ev))
                continue
            records.append(rec)
        # IkeSaEstablished first: the IKE_AUTH child SA event may come in the same batch.
        records.sort(key=lambda r: not isinstance(r, _ike.IkeUp))
        if p.ike_stale is not None:
            self._renewal_records(p, records, now)
            return
        for rec in records:
            if isinstance(rec, _ike.IkeUp):
                self._on_ike_up(p, rec, now)
                # RFC 6275 §11.7.1: BU lifetimes within the HoA's valid lifetime. The HNP's
                # Prefix Lifetime from IKEv2 caps the requested lifetime, as the HA caps
                # its grant by it (§10.3.1); [D] a cap on every BU, not a countdown: RFC
                # 5026 §8.2 does not say it runs down, and RFC 4877 §9 keeps the HoA valid
                # while the IKE SA lives. 0 (no meaning given) and all ones: no cap.
                p.lifetime_4s = p.cfg.lifetime_4s
                if p.state is UeState.CHILD_SA and cp_lifetime and cp_lifetime != 0xFFFFFFFF:
                    p.lifetime_4s = max(min(p.cfg.lifetime_4s, cp_lifetime // 4), 1)
            elif isinstance(rec, _ike.MhSaUp):
                self._on_mh_sa(p, rec, now)
            elif isinstance(rec, tuple):
                self._on_mpd_sa(p, rec[0], rec[1], now)
            elif isinstance(rec, _ike.IkeDown):
                self._ike_gone(p, now, rec.reason)
                return
            elif isinstance(rec, _ike.IkeFailed):
                if (
                    p.state is UeState.IKE
                    and rec.reason in NEXT_HA_IKE_REASONS
                    and (p.ha_next or p.ha_tried > 1)
                ):
                    # RFC 5026 §5.1.2 (procedures.md §1.1c, §1.2 table): no answer to IKE,
                    # authentication failure or no HoA (RFC 4877 §9) -> the next HA.
                    p.ike = None
                    self._next_ha(p, f"ike: {rec.reason}", None, now)
                    return
                if (
                    p.state is UeState.IKE
                    and "timeout" in rec.reason
                    and p.ike_tries < self.config.ike_attempts
                ):
                    # RFC 5026 §5.1.2: no answer -> retry after a configurable back-off.
                    self._move_state(p, _state.IkeRetry)
                    p.ike = None
                    self.timers.set((p.key, "ike_retry"), now + self.config.ike_retry_backoff)
                    return
                if p.state in (UeState.IKE, UeState.CHILD_SA):
                    self._move_state(p, _state.IkeError)
                    p.ike = None
                    self._attach_failed(p, f"ike: {rec.reason}")
                    return
            elif isinstance(rec, _ike.IkeRedirected) and p.state is UeState.IKE:
                # RFC 5685 §5/§7: restart with the new HA, at most MAX_REDIRECTS times.
                p.redirects += 1
                if p.redirects > MAX_REDIRECTS:
                    self._move_state(p, _state.IkeError)
                    self._attach_failed(p, "redirect-loop")
                    return
                self._move_state(p, _state.IkeRedirect)
                addr = ip_address(rec.new_gateway)
                if isinstance(addr, IPv6Address):
                    p.ha6 = addr
                else:
                    p.ha4 = addr
                self._events.append(Redirected(p.apn, rec.new_gateway))
                self._start_ike(p, now, rec.new_gateway)
                return
        # RFC 5026 §5.3.2: without an SA keyed on the HoA yet, CREATE_CHILD_SA for it.
        if p.state is UeState.CHILD_SA and p.sa_in is None and p.child_requested is False:
            assert p.hoa is not None and p.ha6 is not None and p.ike is not None
            p.child_requested = True
            tsi, tsr = self.selectors(p.hoa, p.ha6)
            p.ike.create_child_sa(tsi, tsr, mode="transport", now=now)

    def _on_ike_up(self, p: _Pdn, rec: _ike.IkeUp, now: float) -> None:
        if p.state is not UeState.IKE:
            return
        for a in rec.ha_addresses:  # HOME_AGENT_ADDRESS (TS 24.327 B.1, wire-ikev2.md)
            if isinstance(a, IPv6Address):
                p.ha6 = a
            else:
                p.ha4 = a
        p.ike_sa_id = rec.ike_sa_id
        if rec.home_prefix is None:
            # TS 23.402 §6.10: no prefix = reallocation; wait for a redirect or fail.
            self._move_state(p, _state.IkeError)
            self._attach_failed(p, "no-home-prefix")
            return
        p.prefix = rec.home_prefix
        if rec.home_address is not None:  # USE_ASSIGNED_HoA / INTERNAL_IP6_ADDRESS
            p.hoa = rec.home_address
        elif p.hoa is None or p.hoa not in p.prefix:
            p.hoa = self._random_hoa(p.prefix, set())
        self._move_state(p, _state.IkeUp)
        self._events.append(IkeEstablished(p.apn, p.prefix, p.hoa))
        p.child_requested = False
        if p.ha6 is None:
            self._move_state(p, _state.IkeError)
            self._attach_failed(p, "no-ha-ipv6-address")

    def _random_hoa(self, prefix: IPv6Network, avoid: set[IPv6Address]) -> IPv6Address:
        """RFC 5026 §5.3.2: any IID in the HNP; a random one (L = 0, RFC 6275 §11.7.1),
        never one in ``avoid`` (HoAs whose DAD failed) and never the all-zero IID."""
        host_mask = (1 << (128 - prefix.prefixlen)) - 1
        for _ in range(16):
            iid = int.from_bytes(self.rng(8), "big") | 1
            hoa = IPv6Address(int(prefix.network_address) | (iid & host_mask))
            if hoa not in avoid:
                return hoa
        raise LocalProtocolError("UE: no fresh interface identifier from the rng")

    def _on_dad_failed(self, p: _Pdn, ba: Ba, now: float) -> None:
        """BA 134 (RFC 5026 §5.3.2): drop the HoA, take a new IID in the same HNP, key a new
        MH transport SA on it through CREATE_CHILD_SA on the existing IKE SA, then BU again."""
        assert p.hoa is not None and p.prefix is not None
        p.dad_failed.add(p.hoa)
        if len(p.dad_failed) > self.config.max_dad_retries or p.ike is None or p.ha6 is None:
            self._move_state(p, _state.BaFatal)
            self._cleanup(p)
            self._attach_failed(p, "dad-failed: no usable home address", 134)
            return
        try:
            new_hoa = self._random_hoa(p.prefix, p.dad_failed)
        except LocalProtocolError:
            self._move_state(p, _state.BaFatal)
            self._cleanup(p)
            self._attach_failed(p, "dad-failed: no fresh identifier", 134)
            return
        self.timers.cancel((p.key, "bu"))
        self.timers.cancel((p.key, "refresh"))
        self.timers.cancel((p.key, "bu_rate"))
        p.bu_deferred = None
        p.pending.clear()
        self._unprogram(p)
        p.has_binding = False
        p.registered_coa = None
        p.expires = 0.0
        p.hoa = new_hoa
        self._move_state(p, _state.BaNewHoa)
        p.child_requested = True
        tsi, tsr = self.selectors(new_hoa, p.ha6)
        p.ike.create_child_sa(tsi, tsr, mode="transport", now=now)

    def _spi_clash(self, p: _Pdn, spi: int, now: float) -> bool:
        """True when inbound ``spi`` is already another SA's here. Inbound SAs are found by
        SPI alone (RFC 4301 §4.1; the SPI map is shared by every session, the two of an HA
        switch included): a second SA under the same SPI would take the first one's traffic.
        The new child SA is then deleted (its SPI was the random choice of its IKE exchange)
        and the caller asks for another; after ``max_spi_clashes`` the attach fails."""
        if spi not in self._by_spi and spi not in self._mpd_spi:
            return False
        self._count("spi-collision")
        p.spi_clashes += 1
        if p.ike is not None:
            try:
                p.ike.delete_child_sa(spi, now)
            except LocalProtocolError:
                self._count("old-child-sa-unknown")
        return True

    def _on_mh_sa(self, p: _Pdn, rec: _ike.MhSaUp, now: float) -> None:
        if p.state is not UeState.CHILD_SA or rec.home_address != p.hoa:
            return
        if self._spi_clash(p, rec.spec_in.spi, now):
            if p.spi_clashes > MAX_SPI_CLASHES or p.ike is None or p.ha6 is None:
                self._move_state(p, _state.IkeError)
                self._cleanup(p)
                self._attach_failed(p, "inbound SPI collisions")
                return
            tsi, tsr = self.selectors(p.hoa, p.ha6)  # type: ignore[arg-type]
            p.child_requested = True
            p.ike.create_child_sa(tsi, tsr, mode="transport", now=now)
            return
        if p.sa_in is not None:
            # A new HoA after DAD failure: the SA keyed on the old one goes (RFC 5026 §5.3.2).
            if self._by_spi.get(p.sa_in.spi) is p:
                del self._by_spi[p.sa_in.spi]
            self._drop_mpd(p)  # so does the MPD SA keyed on it
            if p.ike is not None:
                try:
                    p.ike.delete_child_sa(p.sa_in.spi, now)
                except LocalProtocolError:  # the engine no longer knows it: nothing to delete
                    self._count("old-child-sa-unknown")
        p.sa_in = self.sa_factory(rec.spec_in)
        p.sa_out = self.sa_factory(rec.spec_out)
        self._by_spi[p.sa_in.spi] = p
        self._move_state(p, _state.ChildUp)
        # Home link detection (TS 24.303 §5.1.2.3).
        if self._at_home(p):
            self._move_state(p, _state.FoundHome)
            p.attached = True
            self._events.append(AtHome(p.apn))
            self._events.append(AttachCompleted(p.apn, p.hoa, None, at_home=True))  # type: ignore[arg-type]
            return
        self._move_state(p, _state.FoundAway)
        p.use_v4 = self.coa6 is None
        self._start_bu(p, p.lifetime_4s, now)

    def _ike_gone(self, p: _Pdn, now: float, reason: str) -> None:
        prev = p.state
        p.ike = None
        self.timers.cancel((p.key, "guard"))
        self._move_state(p, _state.IkeGone)
        self._cleanup(p)
        if p.origin is not None:
            # The session with the new HA lost its IKE SA before completing: the switch failed.
            if prev is not UeState.FAILED:
                self._attach_failed(p, f"ike: {reason}")
            return
        if prev is UeState.IKE_DELETING or prev is UeState.DETACHING:
            if p.retiring:
                # RFC 5142 §6 done: the old HA's binding and IKE SA are gone.
                self._sessions.pop(p.key, None)
                target = p.switch_to
                self._events.append(
                    HomeAgentSwitched(p.apn, (target,) if target is not None else ())
                )
                return
            if p.switching:
                return  # de-registered before the new HA answered: the new session decides
            if p.switch_failed:
                p.switch_failed = False
                self._events.append(NetworkDetached(p.apn, None))
                return
            if p.revoked:
                p.revoked = False  # NetworkDetached was already reported for the BRI
            else:
                self._events.append(DetachCompleted(p.apn, acknowledged=p.dereg_acked))
        else:
            # The HA deleted the IKE SA: RFC 4877 §9, the HoA and bindings are gone.
            self._events.append(NetworkDetached(p.apn, None))

    def _cleanup(self, p: _Pdn) -> None:
        p.bu_deferred = None
        p.ike_stale = p.ike_renew_wait = None
        for kind in _TIMER_KINDS:
            self.timers.cancel((p.key, kind))
        self._unprogram(p)
        if p.sa_in is not None and self._by_spi.get(p.sa_in.spi) is p:
            del self._by_spi[p.sa_in.spi]  # (never another session's entry)
        p.sa_in = p.sa_out = None
        self._drop_mpd(p)
        p.mpd_last = None
        p.prefix_until = None
        p.mpd_gate = p.refresh_held = False
        p.pending.clear()
        p.has_binding = False
        p.registered_coa = None
        p.expires = 0.0
        p.hoa4 = None

    # ------------------------------------------------------------------ BU / BA
    def _at_home(self, p: _Pdn) -> bool:
        """TS 24.303 §5.1.2.3 [U]: at home when the link's prefix is the HNP; an IPv4-only
        access is always foreign (RFC 5555 §4.4.4)."""
        # (An empty set first: hashing an IPv6Network is not free on the BU path.)
        return bool(self.home_prefixes) and p.prefix is not None and p.prefix in self.home_prefixes

    def _start_bu(self, p: _Pdn, lifetime_4s: int, now: float) -> None:
        """A new registration attempt (first transmission)."""
        p.attempts = 0
        p.pending.clear()
        p.resyncs = 0
        p.dereg_acked = False
        # RFC 6275 §11.8: 1.5 s when no binding exists yet, else 1 s.
        c = self.config
        p.initial_timeout = (
            c.initial_bindack_timeout if p.has_binding else c.initial_bindack_timeout_first_reg
        )
        self.timers.cancel((p.key, "refresh"))
        self._send_bu(p, lifetime_4s, now)

    def _bu_route(self, p: _Pdn, lifetime_4s: int) -> tuple[_mh.Route, Bu]:
        assert p.hoa is not None and p.ha6 is not None
        hoa, ha6 = p.hoa, p.ha6
        seq = p.seq
        reg = lifetime_4s > 0
        # Annex A.2/A.3/A.5: A=1 H=1 K=1; R=1 (implicit prefix mode) except on de-registration;
        # O=1 only on the first registration; F only when forcing UDP.
        # After Binding Error 2 (RFC 6275 §11.3.6) no extensions: R (RFC 3963), O (RFC 5648),
        # F and the IPv4 HoA option (RFC 5555) are left out.
        plain = p.be2_plain
        flags: dict[str, bool] = dict(a=True, h=True, k=True, r=reg and not p.no_r,
                                      o=reg and not p.has_binding and not plain,
                                      f=reg and p.force_udp)  # fmt: skip
        v4opt: Ipv4HoaOpt | None = None
        if plain:
            pass
        elif p.hoa4 is not None and not p.hoa4_release:
            v4opt = Ipv4HoaOpt(p.hoa4)
        elif reg and p.cfg.request_ipv4_home_address and not p.hoa4_refused:
            v4opt = Ipv4HoaOpt(IPv4Address(0))
        if self._at_home(p):
            # RFC 6275 §11.5.5 / RFC 4877 §4.3: from the HoA, no HAO, no Alternate-CoA.
            route = _mh.Route((_text(hoa), 0), (_text(ha6), 0), hoa, ha6)
            return route, Bu(seq, lifetime_4s, ipv4_hoa=v4opt, **flags)
        if self.coa6 is not None and not p.use_v4:
            coa6 = self.coa6
            flags["f"] = False  # RFC 5555 §4.4.1: no UDP encapsulation from an IPv6 CoA
            route = _mh.Route((_text(coa6), 0), (_text(ha6), 0), coa6, ha6, hao=hoa)
            return route, Bu(seq, lifetime_4s, alt_coa=coa6, ipv4_hoa=v4opt, **flags)
        if self.coa4 is not None and p.ha4 is not None:
            # RFC 5555 §4.2: always UDP 4191 from IPv4 access, IPv4 CoA option mandatory.
            coa4 = self.coa4
            route = _mh.Route((_text(coa4), MIP_UDP_PORT), (_text(p.ha4), MIP_UDP_PORT), hoa, ha6)
            return route, Bu(seq, lifetime_4s, ipv4_hoa=v4opt, ipv4_coa=coa4, **flags)
        raise LocalProtocolError(f"UE[{p.apn}]: no usable CoA towards the HA")

    def _send_bu(self, p: _Pdn, lifetime_4s: int, now: float) -> None:
        # RFC 6275 §11.8 / §12 MAX_UPDATE_RATE: at most N BUs in any 1 s window. A BU over
        # the limit is deferred (never dropped) to the earliest allowed instant; triggers
        # meanwhile coalesce into that one BU, built from the state current when it leaves.
        rate = self.config.max_update_rate
        while p.bu_times and p.bu_times[0] <= now - 1.0:
            p.bu_times.popleft()
        if len(p.bu_times) >= rate:
            p.bu_deferred = lifetime_4s
            p.pending.clear()  # the deferred BU supersedes those sent before it
            self.timers.cancel((p.key, "bu"))
            self.timers.set((p.key, "bu_rate"), p.bu_times[-rate] + 1.0)
            self._count("bu-deferred")
            return
        until = p.prefix_until
        if lifetime_4s and until is not None:
            # RFC 6275 §11.7.1 (Lifetime "SHOULD be less than or equal to the remaining valid
            # lifetime of the home address") and §11.4.2: cap every registration, in whole
            # 4-s units; under one unit left the HoA is about to go: de-register instead.
            cap = int((until - now) // 4.0)
            if cap < 1 and self._prefix_gone(p, now):
                return
            cap = max(cap, 1)
            if cap < lifetime_4s:
                lifetime_4s = cap
                self._count("bu-lifetime-capped-by-prefix")
        p.bu_times.append(now)
        # RFC 6275 §11.8: a new, larger sequence number on every (re)transmission.
        p.seq = (p.seq + 1) & 0xFFFF
        try:
            route, bu = self._bu_route(p, lifetime_4s)
        except LocalProtocolError:
            self._count("no-route")
            self.timers.set((p.key, "bu"), now + self.config.max_bindack_timeout)
            return
        p.pending[p.seq] = (now, lifetime_4s)
        if len(p.pending) > 16:
            p.pending.pop(next(iter(p.pending)))
        p.coa_sent = bu.alt_coa or bu.ipv4_coa or p.hoa
        data = self.signalling.encode(bu, route, p.sa_out)
        self._out.append((data, route.src, route.dst))
        wait = backoff(p.initial_timeout, p.attempts, self.config.max_bindack_timeout)
        p.attempts += 1
        self.timers.set((p.key, "bu"), now + wait)

    def _on_bu_timer(self, p: _Pdn, now: float) -> None:
        if p.state not in (UeState.REGISTERING, UeState.RETURNING_HOME, UeState.DETACHING):
            return
        lifetime_4s = 0 if p.state is not UeState.REGISTERING else p.lifetime_4s
        c = self.config
        if lifetime_4s == 0 and p.attempts >= c.detach_bu_attempts:
            self._move_state(p, _state.DeregGaveUp)
            self._after_dereg(p, now, acknowledged=False)
            return
        if lifetime_4s and c.max_bu_attempts and p.attempts >= c.max_bu_attempts:
            self._binding_lost(p, "no-binding-ack", now)
            return
        # RFC 5555 §4.4.1: three BUs from the IPv6 CoA without BA -> try the IPv4 CoA.
        if (
            lifetime_4s
            and not p.use_v4
            and self.coa4 is not None
            and p.ha4 is not None
            and p.attempts >= c.ipv6_attempts_before_ipv4
        ):
            p.use_v4 = True
        self._send_bu(p, lifetime_4s, now)

    def _binding_lost(self, p: _Pdn, reason: str, now: float) -> None:
        self._move_state(p, _state.BindingLost)
        self._cleanup(p)
        self._attach_failed(p, reason)

    def _on_ba(self, p: _Pdn, rx: _mh.Received, now: float) -> None:
        ba: Ba = rx.message  # type: ignore[assignment]
        # procedures.md §1.6.3 step 1: through the HoA-keyed SA, to our HoA, matching a BU.
        if rx.route.mh_dst != p.hoa:
            self._count("ba-wrong-hoa")
            return
        if p.state not in (UeState.REGISTERING, UeState.RETURNING_HOME, UeState.DETACHING):
            self._count("ba-unexpected")
            return
        if ba.status == 135 and p.pending:
            # Step 3: adopt the HA's sequence number and retry with the next one.
            p.resyncs += 1
            if p.resyncs > 3:
                self._count("resync-loop")
                return
            p.seq = ba.sequence
            self._events.append(BindingRejected(p.apn, 135, "resync"))
            lifetime_4s = p.lifetime_4s if p.state is UeState.REGISTERING else 0
            self._send_bu(p, lifetime_4s, now)
            return
        sent = p.pending.get(ba.sequence)
        if sent is None:
            self._count("ba-unmatched-seq")
            return
        sent_at, requested_4s = sent
        p.pending.clear()
        self.timers.cancel((p.key, "bu"))
        if requested_4s == 0:
            if ba.status < 128 or ba.status == 133:  # 133 on de-registration = done
                p.dereg_acked = True
                self._move_state(p, _state.DeregAcked)
                self._after_dereg(p, now, acknowledged=True)
            else:
                self._move_state(p, _state.BaRetry)
                self._events.append(BindingRejected(p.apn, ba.status, "retry"))
                self.timers.set((p.key, "bu"), now + self.config.initial_bindack_timeout)
            return
        if ba.status >= 128:
            self._on_ba_error(p, ba, now)
            return
        self._on_ba_accept(p, ba, rx, sent_at, now, requested_4s)

    def _on_ba_error(self, p: _Pdn, ba: Ba, now: float) -> None:
        if ba.status == 129 and (p.switching or p.switch_failed):
            # RFC 5142 §5.3: the switching HA refuses refreshes; the binding it holds stays
            # until its lifetime ends, de-registered at the refresh point before that.
            self._count("ba-129-switching")
            self._move_state(p, _state.HaSwitchHold)
            self.timers.set((p.key, "refresh"), now + max(p.expires - now, 0.0) * 0.5)
            return
        action = BA_ACTIONS.get(ba.status, "stop")
        self._events.append(BindingRejected(p.apn, ba.status, action))
        if action == "next-ha" and not p.attached and (p.ha_next or p.ha_tried > 1):
            # procedures.md §9.1 (RFC 6275 §11.7.3, RFC 3963 §5.3): 131 this node gives no
            # home registration service, 143 prefix forwarding could not be set up: leave
            # this HA (its IKE SA deleted, so nothing stays behind, RFC 4877 §9) and attach
            # to the next one discovery named. [D] Only before the first binding: once
            # attached, a refusal ends the connection as before (the HoA would change).
            self._next_ha(p, f"binding refused ({ba.status})", ba.status, now)
        elif action == "new-hoa":
            self._on_dad_failed(p, ba, now)
        elif action == "retry-without-f" and p.force_udp:
            p.force_udp = False
            self._move_state(p, _state.BaRetry)
            self._send_bu(p, p.lifetime_4s, now)
        elif action == "retry-without-r" and not p.no_r:
            # procedures.md §9.1 (RFC 3963 §5.3 "try another HA"): no other HA is kept for
            # this PDN connection, so the [D] fallback: register the HoA alone, R=0.
            p.no_r = True
            self._move_state(p, _state.BaRetry)
            self._send_bu(p, p.lifetime_4s, now)
        elif action == "retry":
            # [D] back off to the capped interval, then try again (rate-limited).
            self._move_state(p, _state.BaRetry)
            self.timers.set((p.key, "bu"), now + self.config.max_bindack_timeout)
        else:
            self._move_state(p, _state.BaFatal)
            self._cleanup(p)
            self._attach_failed(p, f"binding refused ({action})", ba.status)

    def _next_ha(self, p: _Pdn, reason: str, status: int | None, now: float) -> None:
        """Leave this HA for the next one of the discovered list (procedures.md §1.1c,
        §9.1; RFC 5026 §5.1.2), at most ``max_home_agents`` per attach; when the list is
        exhausted the attach fails with ``AttachFailed("no further home agent ...")``."""
        self._count("next-ha")
        if p.ike is not None and p.ike_sa_id is not None:
            # The IKE SA with the refusing HA goes, and with it anything it holds for us
            # (RFC 4877 §9). The Delete is a request: the engine retransmits it on its own
            # (RFC 7296 §2.1) while the UE goes on with the next HA.
            try:
                p.ike.delete(now)
            except LocalProtocolError:
                self._count("next-ha-ike-delete-failed")
            else:
                host = p.ike_remote[0] if p.ike_remote is not None else ""
                self._draining.append((p.ike, host))
                self._settle_draining(p.ike, now)
        self._cleanup(p)
        p.ike = None
        p.ike_sa_id = p.ike_remote = None
        p.prefix = p.hoa = None
        p.ike_tries = 0
        p.child_requested = False
        p.dad_failed.clear()
        p.no_r = p.force_udp = p.hoa4_refused = p.hoa4_release = False
        p.spi_clashes = 0
        p.be2_plain = False
        p.lifetime_4s = p.cfg.lifetime_4s
        while p.ha_next and not self._reachable(p.ha_next[0]):
            # An HA with no address of the access's family (an IPv4-only DNS record on an
            # IPv6 access, say) cannot be reached from here: skip it.
            p.ha_next = p.ha_next[1:]
            self._count("next-ha-unreachable")
        if not p.ha_next or p.ha_tried >= self.config.max_home_agents:
            fail = _state.BaFatal if p.state is UeState.REGISTERING else _state.IkeError
            self._move_state(p, fail)
            self._attach_failed(p, f"no further home agent ({p.ha_tried} tried): {reason}", status)
            return
        info, p.ha_next = p.ha_next[0], p.ha_next[1:]
        self._move_state(p, _state.NextHa)
        p.ha6 = p.ha4 = None
        self._discovered(p, info, now)

    def _reachable(self, info: HaInfo) -> bool:
        """True when the current access has an address family in common with ``info``."""
        return (self.coa6 is not None and info.address6 is not None) or (
            self.coa4 is not None and info.address4 is not None
        )

    # ------------------------------------------------------------------ K=0 after a move
    def _on_k_clear(self, p: _Pdn, now: float) -> None:
        """The HA answered K=0 to our K=1 BU after a move: it did not move its IKE endpoint
        (RFC 6275 §10.3.1), so its IKE SA still points at the UE's old address.

        [D] per RFC 4877 §7.4 and RFC 6275 §11.7.3: if the UE's IKE endpoint is still one of
        its addresses (a dual-stack access where only the BU's family changed, RFC 5555
        §4.4.1), the IKE SA still works both ways: kept. Otherwise it is dead (the HA's IKE
        messages go to an address the UE no longer has) and "an IKEv2 exchange MUST be
        initiated to re-establish a new IKE SA" (RFC 4877 §7.4): make before break, a new IKE
        SA from the new CoA (same identity and APN, so the HA gives the same HNP), a new MH
        transport SA for the same HoA on it, then the old IKE SA is deleted (the request
        sent from the new CoA, RFC 7296 §2.11) and the binding, which went with it at the HA
        (RFC 4877 §9), is registered again through the new SA. Until the new IKE SA is up
        the binding and the user plane stay as they are; if it fails, the old one is kept."""
        local = p.ike_local
        here = {_text(a) for a in (self.coa6, self.coa4) if a is not None}
        if p.ike is None or local is None or local[0] in here or p.ike_stale is not None:
            self._count("ike-kept-after-k-clear")
            return
        try:
            new_local, remote = self._ike_endpoints(p)
        except LocalProtocolError:
            self._count("ike-renew-no-route")
            return
        self._count("ike-renew-started")
        p.ike_stale = p.ike
        ipv4 = ":" not in remote[0]
        p.ike = self.ike_factory(self.config.identity, p.apn, p.cfg.discovery == "ikev2", ipv4)
        p.ike_remote, p.ike_local = remote, new_local
        p.ike.connect(new_local, remote, now)

    def _renewal_records(self, p: _Pdn, records: list[Any], now: float) -> None:
        """IKE events of the new engine while it replaces ``p.ike_stale`` (``_on_k_clear``)."""
        for rec in records:
            if isinstance(rec, _ike.IkeUp):
                if rec.home_prefix != p.prefix or p.hoa is None or p.ha6 is None:
                    # Not the same HNP: the HoA cannot be carried over; keep the old SA.
                    self._count("ike-renew-other-prefix")
                    self._abandon_renewal(p, now, delete=True)
                    return
                p.ike_sa_id = rec.ike_sa_id
                p.child_requested = True
                tsi, tsr = self.selectors(p.hoa, p.ha6)
                p.ike.create_child_sa(tsi, tsr, mode="transport", now=now)
            elif isinstance(rec, _ike.MhSaUp) and rec.home_address == p.hoa:
                if self._spi_clash(p, rec.spec_in.spi, now):
                    self._abandon_renewal(p, now, delete=True)
                    return
                self._renewal_sa(p, rec, now)
            elif isinstance(rec, (_ike.IkeFailed, _ike.IkeDown)):
                self._count("ike-renew-failed")
                self._abandon_renewal(p, now, delete=False)
                return

    def _abandon_renewal(self, p: _Pdn, now: float, *, delete: bool) -> None:
        new, p.ike, p.ike_stale = p.ike, p.ike_stale, None
        p.child_requested = False
        if delete and new is not None:
            try:
                new.delete(now)
            except LocalProtocolError:
                return
            host = p.ike_remote[0] if p.ike_remote is not None else ""
            self._draining.append((new, host))

    def _renewal_sa(self, p: _Pdn, rec: _ike.MhSaUp, now: float) -> None:
        """The MH SA of the new IKE SA is up: it replaces the old one, the old IKE SA is
        deleted, and the re-registration waits for that Delete's answer (a BU through the
        new SA before the HA dropped the old binding would be refused, RFC 4877 §4.4)."""
        if p.sa_in is not None and self._by_spi.get(p.sa_in.spi) is p:
            del self._by_spi[p.sa_in.spi]
        self._drop_mpd(p)  # the MPD SA lived on the old IKE SA
        p.sa_in = self.sa_factory(rec.spec_in)
        p.sa_out = self.sa_factory(rec.spec_out)
        self._by_spi[p.sa_in.spi] = p
        old, p.ike_stale = p.ike_stale, None
        mover = getattr(old, "move", None)
        if mover is not None and p.ike_local is not None and p.ike_remote is not None:
            mover(p.ike_local, p.ike_remote)  # our side only: the HA answers where it came from
        try:
            old.delete(now)
        except LocalProtocolError:
            self._count("ike-renew-old-delete-failed")
            self._renewed(p, now)
            return
        host = p.ike_remote[0] if p.ike_remote is not None else ""
        self._draining.append((old, host))
        p.ike_renew_wait = old
        self._settle_draining(old, now)

    def _renewed(self, p: _Pdn, now: float) -> None:
        """The old IKE SA is gone, and with it the HA's binding (RFC 4877 §9): register the
        HoA again through the new SA, as a first registration (O=1, RFC 6275 §11.8 1.5 s)."""
        p.ike_renew_wait = None
        self._count("ike-renewed")
        p.has_binding = False
        # The IPv4 HoA was part of that binding (RFC 5555 §3.1) and went with it: ask for
        # one again (0.0.0.0); the BA's IPv4 Address Ack reports what was given.
        p.hoa4 = None
        if p.state is UeState.REGISTERED:
            self._move_state(p, _state.RefreshDue)
            self._start_bu(p, p.lifetime_4s, now)

    def _on_ba_accept(self, p: _Pdn, ba: Ba, rx: _mh.Received, sent_at: float,
                      now: float, requested_4s: int) -> None:  # fmt: skip
        # Step 2: remaining lifetime counted from the BU transmission (RFC 6275 §11.7.3):
        # L_remain - (L_update - L_ack) = L_ack - (now - sent).
        granted = ba.lifetime_4s * 4.0
        p.expires = sent_at + granted
        first = not p.attached
        moved = _differ(p.registered_coa, p.coa_sent)
        p.registered_coa = p.coa_sent
        p.has_binding = True
        # Step 8: NAT Detection option -> UDP 4191 for user data (RFC 5555 §4.4.2, [D]).
        nat_opt = ba.nat_detection
        p.nat = bool(nat_opt and nat_opt.f)
        p.udp = nat_opt is not None
        ack = ba.ipv4_ack
        if p.hoa4_release and p.hoa4 is not None:
            # RFC 5555 §4.4.2.1 / TS 23.402 (UE-initiated IPv4 HoA release): the accepted BU
            # carried no IPv4 HoA option, so the HA dropped that binding; the IPv6 one stays.
            released, p.hoa4, p.hoa4_release = p.hoa4, None, False
            self._events.append(Ipv4HomeAddressReleased(p.apn, released))
        if ack is not None:
            before = p.hoa4
            if ack.status < 128:
                p.hoa4 = ack.address
            else:
                p.hoa4 = None
                # procedures.md §9.2: 130/131 -> retry with 0.0.0.0; 132 (no dynamic address
                # free now) -> retry later, i.e. 0.0.0.0 again in the next BU ([D]); the
                # others (128 unspecified, 129 prohibited, 133 unauthorized) stop asking.
                p.hoa4_refused = ack.status not in (130, 131, 132)
        if ack is not None and (ack.status >= 128 or _differ(before, p.hoa4)):
            self._events.append(
                Ipv4HomeAddressAssigned(
                    p.apn, ack.status, ack.address if ack.status < 128 else None, ack.prefix_len
                )
            )
        if not ba.r and not p.no_r:
            # Step 5 (RFC 3963 §5.3; procedures.md [D] for 24.303): R=0 = the HA gives no
            # implicit-prefix service: keep the HoA binding, use no other HNP address, count.
            self._count("ba-r-clear")
        self._move_state(p, _state.BaAccepted)
        # Step 9: switch the user-plane tunnel only now, after the BA (RFC 5555 §5.1).
        self._program(p, ba, sent_at)
        # Step 6: K=1 -> move the IKE endpoint with the CoA (RFC 4877 §4.3, RFC 5555 §5.1).
        if not ba.k and moved and not first:
            # K=0: the HA keeps its IKE endpoint where it was (RFC 6275 §10.3.1).
            self._count("ba-k-clear")
            self._on_k_clear(p, now)
        if ba.k and moved and not first and p.ike is not None:
            mover = getattr(p.ike, "move", None)
            if mover is not None and p.registered_coa is not None:
                if isinstance(p.registered_coa, IPv4Address) and p.ha4 is not None:
                    mover((_text(p.registered_coa), 4500), (_text(p.ha4), 4500))
                    p.ike_remote = (_text(p.ha4), 4500)
                    p.ike_local = (_text(p.registered_coa), 4500)
                    # RFC 5555 §5.1 (procedures.md §1.6.3 step 6, §2.3 step 4): after the
                    # BA with K=1, an empty INFORMATIONAL from the new IPv4 CoA lets the HA's
                    # IKE learn the address and port a NAT gave 4500 (RFC 7296 §2.23), which
                    # the BU (UDP 4191) cannot tell it. An IPv6 CoA has no NAT: the HA's
                    # move() to CoA:500 is exact, nothing to learn.
                    live = getattr(p.ike, "liveness_check", None)
                    if live is not None:
                        live(now)
                        self._count("ike-liveness-after-move")
                elif p.ha6 is not None:
                    mover((_text(p.registered_coa), 500), (_text(p.ha6), 500))
                    p.ike_remote = (_text(p.ha6), 500)
                    p.ike_local = (_text(p.registered_coa), 500)
        # Refresh point: 75 % of the granted lifetime, or the Refresh Advice, or the NAT
        # keepalive period (RFC 5555 §4.3: BU/BA doubles as the NAT keepalive).
        refresh = sent_at + granted * self.config.refresh_fraction
        if ba.refresh_advice_4s:
            refresh = min(refresh, sent_at + ba.refresh_advice_4s * 4.0)
        if p.nat and nat_opt is not None and nat_opt.refresh_time != NAT_NO_KEEPALIVE:
            refresh = min(refresh, now + (nat_opt.refresh_time or NATKATIMEOUT))
        until = p.prefix_until
        if until is not None and sent_at + requested_4s * 4.0 > until:
            # This BU left before an advertisement shortened the HNP's valid lifetime: the
            # binding would outlive the HoA (RFC 6275 §11.7.1): refresh now, capped.
            refresh = now
        self.timers.set((p.key, "refresh"), max(refresh, now))
        self.timers.set((p.key, "expire"), p.expires)
        remaining = max(p.expires - now, 0.0)
        self._events.append(
            BindingAccepted(p.apn, ba.sequence, remaining, p.registered_coa, p.nat, ba.status)  # type: ignore[arg-type]
        )
        if first:
            p.attached = True
            self._events.append(AttachCompleted(p.apn, p.hoa, p.hoa4, at_home=False))  # type: ignore[arg-type]
        elif moved:
            self._events.append(HandoverCompleted(p.apn, p.registered_coa, p.udp))
        if ba.status == 1:
            # RFC 6275 §11.7.3 / procedures.md §1.6.3 step 2, §2.2: "accepted but prefix
            # discovery necessary" -> a Mobile Prefix Solicitation before the next refresh.
            p.mpd_gate = True
            self._start_mpd(p, now)

    def _after_dereg(self, p: _Pdn, now: float, *, acknowledged: bool) -> None:
        self._unprogram(p)
        p.has_binding = False
        p.registered_coa = None
        p.expires = 0.0
        self.timers.cancel((p.key, "refresh"))
        self.timers.cancel((p.key, "expire"))
        if p.state is UeState.AT_HOME:
            p.hoa4 = None  # RFC 5555 §4.4.4: no IPv4 "home" link
            self._events.append(HandoverCompleted(p.apn, None, False))
        elif p.state is UeState.IKE_DELETING:
            self._delete_ike(p, now)

    # ------------------------------------------------------------------ UE data plane
    def _program(self, p: _Pdn, ba: Ba, sent_at: float) -> None:
        """The BUL entry as a :class:`BindingSpec` for the UE's own tunnel end (STYLE §1.3):
        outer CoA <-> HA; UDP 4191 whenever the BA carried NAT Detection ([D] §1.6.3)."""
        dp = self.dataplane
        coa = p.registered_coa
        if dp is None or coa is None or p.hoa is None or p.prefix is None or coa == p.hoa:
            return
        if isinstance(coa, IPv6Address):
            enc, port = Encapsulation.IP_IN_IPV6, None
        elif p.udp:
            enc, port = Encapsulation.UDP_IPV4, MIP_UDP_PORT
        else:
            enc, port = Encapsulation.IP_IN_IPV4, None
        spec = BindingSpec(
            home_address=p.hoa,
            home_prefix=p.prefix,
            care_of_address=coa,
            encapsulation=enc,
            lifetime=ba.lifetime_4s * 4.0,
            expires_at=p.expires,
            sequence=ba.sequence,
            flags=0xD000 if p.no_r else 0xD400,  # A, H, K, R as sent (Annex A.2/A.3)
            ipv4_home_address=p.hoa4,
            udp_port=port,
        )
        try:
            if p.programmed:
                dp.update_binding(spec)
            else:
                dp.add_binding(spec)
                p.programmed = True
            p.spec = spec
        except CacheError:
            self._count("dataplane-error")

    def _unprogram(self, p: _Pdn) -> None:
        p.spec = None
        if self.dataplane is not None and p.programmed and p.hoa is not None:
            p.programmed = False
            try:
                self.dataplane.del_binding(p.hoa)
            except CacheError:
                self._count("dataplane-error")

    # ------------------------------------------------------------------ BRI / HAS / BE
    def _on_bri(self, p: _Pdn, rx: _mh.Received, now: float) -> None:
        """RFC 5846 §6.2, §10 (procedures.md §4.2)."""
        bri: Bri = rx.message  # type: ignore[assignment]
        # Step 2: the RH2 / inner destination must be a HoA with a BUL entry.
        if rx.route.mh_dst != p.hoa or not (p.has_binding or p.pending):
            self._count("bri-unknown-binding")
            return
        status = 0
        if bri.p:
            status = 135  # proxy revocation not supported
        elif bri.v and bri.ipv4_hoa is None:
            status = 129
        elif bri.v and (bri.ipv4_hoa is None or bri.ipv4_hoa.address != p.hoa4):
            status = 128
        elif bri.g and bri.trigger < 128:
            status = 134
        elif not (bri.trigger < 128 or bri.g):
            status = 133
        route, _ = self._bu_route(p, 0)
        bra = Bra(status, bri.sequence, v=bri.v)
        self._out.append((self.signalling.encode(bra, route, p.sa_out), route.src, route.dst))
        if status != 0:
            return
        if bri.v:
            p.hoa4 = None
            p.hoa4_refused = True
            if self.dataplane is not None and p.spec is not None:
                # The UE's own tunnel stops carrying the revoked IPv4 HoA now.
                spec = replace(p.spec, ipv4_home_address=None)
                try:
                    self.dataplane.update_binding(spec)
                    p.spec = spec
                except CacheError:
                    self._count("dataplane-error")
            self._events.append(NetworkDetached(p.apn, bri.trigger, ipv4_only=True))
            return
        self._move_state(p, _state.BriAccepted)
        p.revoked = True
        self._unprogram(p)
        for kind in ("bu", "refresh", "expire"):
            self.timers.cancel((p.key, kind))
        p.has_binding = False
        p.pending.clear()
        self._events.append(NetworkDetached(p.apn, bri.trigger))
        # The HA deletes the IKE SA (procedures.md §4.1 step 6); delete it ourselves if not.
        self.timers.set((p.key, "guard"), now + GUARD_TIMEOUT)

    def _on_has(self, p: _Pdn, rx: _mh.Received, now: float) -> None:
        """RFC 5142 §6, make before break (issue 5): keep the binding and user plane with
        this HA and bootstrap a second session of the same APN with the first listed HA (or
        through discovery when none is listed); :meth:`_settle_switches` finishes it."""
        has: Has = rx.message  # type: ignore[assignment]
        if rx.route.mh_src != p.ha6 or rx.route.mh_dst != p.hoa:
            self._count("has-not-from-ha")
            return
        if p.switching or p.switch_failed or p.retiring:
            # RFC 5142 §8: the old HA retransmits until our de-registration reaches it.
            self._count("has-while-switching")
            return
        if p.state not in (UeState.REGISTERED, UeState.REGISTERING) or p.key != p.apn:
            self._count("has-unexpected")
            return
        self._move_state(p, _state.HaSwitch)
        p.switching = True
        if has.refresh_advice_4s:
            # RFC 5142 §6: the advice is when the old HA drops the binding; leave before it.
            leave = now + has.refresh_advice_4s * 4.0 * self.config.refresh_fraction
            current = self.timers.get((p.key, "refresh"))
            if current is None or leave < current:
                self.timers.set((p.key, "refresh"), leave)
        target = has.addresses[0] if has.addresses else None
        p.switch_to = target
        self._serial += 1
        new = _Pdn(p.cfg)
        new.key = f"{p.apn}#{self._serial}"
        new.origin = p
        self._sessions[new.key] = new
        self._switch[p.apn] = new
        self._move_state(new, _state.AttachRequested)
        if target is not None:
            new.ha6, new.ha4 = target, None
            self._discovered(new, HaInfo(target, None, "ha-switch"), now)
        elif p.cfg.discovery in ("static", "ikev2"):
            # RFC 5142 §6: no address listed -> discovery; configured addresses name this HA.
            new.ha6 = new.ha4 = None
            self._discovery_failed(new, "no-other-home-agent")
        else:
            self._discover(new, now)

    def _attach_failed(self, p: _Pdn, reason: str, status: int | None = None) -> None:
        if p.origin is not None:
            reason = f"ha-switch: {reason}"  # the old session is still registered
        self._events.append(AttachFailed(p.apn, reason, status))

    def _settle_switches(self, now: float) -> None:
        """Finish the HA switches whose new session ended (RFC 5142 §6, issue 5 order)."""
        for apn, new in list(self._switch.items()):
            if new.state is UeState.REGISTERED or new.state is UeState.AT_HOME:
                self._complete_switch(self._pdns[apn], new, now)
            elif new.state is UeState.FAILED or new.state is UeState.DETACHED:
                self._abort_switch(self._pdns[apn], new, now)

    def _rekey(self, p: _Pdn, key: str) -> None:
        for kind in _TIMER_KINDS:
            t = self.timers.get((p.key, kind))
            if t is not None:
                self.timers.cancel((p.key, kind))
                self.timers.set((key, kind), t)
        self._sessions.pop(p.key, None)
        p.key = key
        self._sessions[key] = p

    def _complete_switch(self, old: _Pdn, new: _Pdn, now: float) -> None:
        """The new HA acknowledged the binding: the new session becomes the PDN connection
        (its user plane was programmed on the BA), then the old binding is de-registered
        (the lifetime-0 BU answers the HAS) and the old IKE SA deleted."""
        apn = old.apn
        del self._switch[apn]
        self._serial += 1
        self._rekey(old, f"{apn}#{self._serial}")
        self._rekey(new, apn)
        self._pdns[apn] = new
        new.origin = None
        old.switching = False
        old.retiring = True
        self._unprogram(old)
        if old.state is UeState.REGISTERED or old.state is UeState.REGISTERING:
            self._leave_old_ha(old, now)
        elif old.state is UeState.DETACHED or old.state is UeState.FAILED:
            self._sessions.pop(old.key, None)
            target = old.switch_to
            self._events.append(HomeAgentSwitched(apn, (target,) if target is not None else ()))
        # else: already de-registering (its binding was about to expire): _ike_gone reports.

    def _abort_switch(self, old: _Pdn, new: _Pdn, now: float, *, report: bool = True) -> None:
        """The new session failed (its AttachFailed was reported): stay with the old HA, which
        keeps serving until the binding lifetime ends (RFC 5142 §6)."""
        del self._switch[old.apn]
        if new.ike is not None and new.ike_sa_id is not None:
            try:
                new.ike.delete(now)
            except LocalProtocolError:
                self._count("ha-switch-ike-delete-failed")
            else:
                # The Delete is an INFORMATIONAL request: the engine retransmits it on its
                # own timer until the new HA answers or it gives up (RFC 7296 §2.1, §1.4.1).
                host = new.ike_remote[0] if new.ike_remote is not None else ""
                self._draining.append((new.ike, host))
                self._settle_draining(new.ike, now)
        self._cleanup(new)
        new.ike = new.resolver = None
        self._sessions.pop(new.key, None)
        old.switching = False
        if old.state is UeState.REGISTERED or old.state is UeState.REGISTERING:
            old.switch_failed = True
            self._move_state(old, _state.HaSwitchFailed)
        elif report and (old.state is UeState.DETACHED or old.state is UeState.FAILED):
            self._events.append(NetworkDetached(old.apn, None))

    def _settle_draining(self, ike: Any, now: float) -> None:
        """Forget a draining engine once its IKE SA is gone (deleted, failed) or it has
        nothing left to send or wait for."""
        done = False
        while (ev := ike.next_event()) is not None:
            rec = _ike.translate(ev, "ue")
            if isinstance(rec, (_ike.IkeDown, _ike.IkeFailed)):
                done = True
        if done or ike.get_timer() is None:
            self._out.extend(ike.datagrams_to_send(now))  # whatever it still had queued
            self._draining = [d for d in self._draining if d[0] is not ike]
            self._count("ha-switch-ike-deleted" if done else "ha-switch-ike-delete-gave-up")
            for p in list(self._sessions.values()):
                if p.ike_renew_wait is ike:
                    self._renewed(p, now)

    def _leave_old_ha(self, p: _Pdn, now: float) -> None:
        """The lifetime-0 BU to the old HA (RFC 5142 §6: it acknowledges the HAS)."""
        self._move_state(p, _state.LeaveOldHa)
        self._start_bu(p, 0, now)

    def _on_be(self, p: _Pdn, rx: _mh.Received, now: float) -> None:
        be: Be = rx.message  # type: ignore[assignment]
        self._count(f"be-{be.status}")
        # procedures.md §9.3: status 1 -> the HA lost the binding: register again.
        if be.status == 1 and p.state is UeState.REGISTERED:
            p.has_binding = False
            self._move_state(p, _state.RefreshDue)
            self._start_bu(p, p.lifetime_4s, now)
        elif be.status == 2:
            self._on_be_unrecognised(p, now)

    def _on_be_unrecognised(self, p: _Pdn, now: float) -> None:
        """Binding Error status 2, "unrecognized MH Type value" (RFC 6275 §11.3.6, §9.2;
        procedures.md §9.3). The error names no type, so the UE judges by what it waits for.

        * Nothing outstanding (§11.3.6 first case: no acknowledgement or response expected):
          ignored. The UE's only Mobility Header message besides the BU is the BRA (MH 16,
          RFC 5846 §6.2), which expects no answer and only ever replies to a BRI of the same
          type from this HA; MPS/MPA are ICMPv6 (RFC 6275 §6.7), not MH types. Nothing to stop.
        * A BU (MH 5) outstanding, registering: §11.3.6 second case, "cease the use of any
          extensions": the BU is sent again without them (no R, RFC 3963; no F and no IPv4
          HoA request, RFC 5555), once. From an IPv4 CoA the RFC 5555 IPv4 CoA option is what
          makes the BU possible at all, so there is nothing to cease.
        * Again, or from an IPv4 CoA: this node does not process Binding Updates, i.e. gives
          no home registration service: as BA 131 (next HA before the first binding, else
          the connection ends). A lifetime-0 BU outstanding: its retransmissions run out."""
        if p.state not in _BU_STATES or not p.pending:
            self._count("be-2-ignored")
            return
        if p.state is not UeState.REGISTERING:
            self._count("be-2-dereg")
            return
        v4_route = p.use_v4 or self.coa6 is None
        if not p.be2_plain and not v4_route and not self._at_home(p):
            p.be2_plain = True
            p.no_r = p.hoa4_refused = True
            p.force_udp = False
            self._count("be-2-plain-bu")
            self._move_state(p, _state.BaRetry)
            self._send_bu(p, p.lifetime_4s, now)
            return
        self._count("be-2-no-bu-service")
        if not p.attached and (p.ha_next or p.ha_tried > 1):
            self._next_ha(p, "binding error 2", None, now)
            return
        self._move_state(p, _state.BaFatal)
        self._cleanup(p)
        self._attach_failed(p, "binding error 2: the home agent does not process the BU")

    def _find_sa(self, spi: int) -> Any:
        p = self._by_spi.get(spi)
        if p is None:
            p = self._mpd_spi.get(spi)
            return None if p is None else p.mpd_in
        return p.sa_in

    # ------------------------------------------------------------------ prefix discovery
    def _start_mpd(self, p: _Pdn, now: float) -> None:
        """Solicit (RFC 6275 §11.4.2) through the MPD SA, negotiating that SA first with
        CREATE_CHILD_SA on the IKE SA (RFC 4877 §6.3, §7.2.3) when there is none yet."""
        p.mpd_wanted = True
        if p.mpd_id is not None:
            return  # a solicitation is outstanding: its retransmissions carry on
        if p.mpd_out is None:
            if not p.mpd_child and p.ike is not None and p.hoa is not None and p.ha6 is not None:
                p.mpd_child = True
                tsi, tsr = self.mpd_selectors(p.hoa, p.ha6)
                try:
                    p.ike.create_child_sa(tsi, tsr, mode="transport", now=now)
                except LocalProtocolError:
                    p.mpd_child = False
                    self._count("mpd-child-refused")
                    return
                self._count("mpd-child-requested")
            return
        # RFC 6275 §11.4.2: the Identifier is a random value (the injected rng).
        p.mpd_id = int.from_bytes(self.rng(2), "big")
        p.mpd_tries = 0
        self._send_mps(p, now)

    def _on_mpd_sa(self, p: _Pdn, found: tuple[IPv6Address, IPv6Address], ev: Any,
                   now: float) -> None:  # fmt: skip
        hoa, ha = found
        if not p.mpd_child or hoa != p.hoa:
            self._count("mpd-child-unexpected")
            return
        wanted = p.mpd_wanted
        self._drop_mpd(p)  # a renegotiated MPD SA replaces the old one
        p.mpd_wanted = wanted
        if self._spi_clash(p, ev.child.spi_in, now):
            if p.spi_clashes <= MAX_SPI_CLASHES and wanted:
                self._start_mpd(p, now)  # ask for another MPD SA
            return
        spec_in, spec_out = ev.child.sa_specs(hoa, ha)
        p.mpd_in = self.sa_factory(spec_in)
        p.mpd_out = self.sa_factory(spec_out)
        self._mpd_spi[p.mpd_in.spi] = p
        if p.mpd_wanted and p.state in (UeState.REGISTERED, UeState.REGISTERING):
            self._start_mpd(p, now)

    def _drop_mpd(self, p: _Pdn) -> None:
        if p.mpd_in is not None and self._mpd_spi.get(p.mpd_in.spi) is p:
            del self._mpd_spi[p.mpd_in.spi]
        p.mpd_in = p.mpd_out = None
        p.mpd_id = None
        p.mpd_wanted = p.mpd_child = False
        self.timers.cancel((p.key, "mps"))

    def _mps_route(self, p: _Pdn) -> _mh.Route | None:
        """RFC 6275 §6.7: from the CoA with a Home Address option (RFC 4877 §4.2: the HoA
        visible to the SA's selectors); from an IPv4 access inside UDP 4191 (RFC 5555 §4.1)
        like the BU. None at home (prefix discovery is for a node away from home)."""
        hoa, ha6 = p.hoa, p.ha6
        if hoa is None or ha6 is None or self._at_home(p):
            return None
        if self.coa6 is not None and not p.use_v4:
            return _mh.Route((_text(self.coa6), 0), (_text(ha6), 0), self.coa6, ha6, hao=hoa)
        if self.coa4 is not None and p.ha4 is not None:
            local, remote = (_text(self.coa4), MIP_UDP_PORT), (_text(p.ha4), MIP_UDP_PORT)
            return _mh.Route(local, remote, hoa, ha6)
        return None

    def _send_mps(self, p: _Pdn, now: float) -> None:
        route = self._mps_route(p)
        if route is None or p.mpd_id is None:
            p.mpd_id = None
            self._count("mps-no-route")
            return
        data = self.signalling.encode(Mps(p.mpd_id), route, p.mpd_out)
        self._out.append((data, route.src, route.dst))
        self._count("mps-sent")
        # RFC 6275 §11.8: INITIAL_SOLICIT_TIMER, doubling up to MAX_BINDACK_TIMEOUT.
        c = self.config
        wait = backoff(c.initial_solicit_timer, p.mpd_tries, c.max_bindack_timeout)
        p.mpd_tries += 1
        self.timers.set((p.key, "mps"), now + wait)

    def _on_mps_timer(self, p: _Pdn, now: float) -> None:
        if p.mpd_id is None or p.mpd_out is None:
            return
        if p.state not in (UeState.REGISTERED, UeState.REGISTERING):
            p.mpd_id = None  # no binding to discover prefixes for
            return
        self._send_mps(p, now)  # same Identifier: any answer to it will do

    def _on_mpa(self, p: _Pdn, rx: _mh.Received, now: float) -> None:
        """RFC 6275 §11.4.3 validation, then the HNP's fate as an event."""
        mpa: Mpa = rx.message  # type: ignore[assignment]
        route = rx.route
        if route.ip6_src != p.ha6:
            self._count("mpa-not-from-ha")
            return
        if route.mh_dst != p.hoa or (route.rh2 is None and not route.udp):
            self._count("mpa-no-rh2")  # §11.4.3: a type 2 routing header to our HoA
            return
        if p.mpd_id is None or mpa.identifier != p.mpd_id:
            # Unsolicited (or a second answer): discard; §11.4.3 SHOULD solicit then.
            self._count("mpa-unsolicited")
            if p.mpd_id is None and p.state in (UeState.REGISTERED, UeState.REGISTERING):
                self._start_mpd(p, now)
            return
        p.mpd_id = None
        p.mpd_wanted = False
        p.mpd_gate = False
        held, p.refresh_held = p.refresh_held, False
        self.timers.cancel((p.key, "mps"))
        self._count("mpa-accepted")
        prefix = p.prefix
        mine = next((i for i in mpa.prefixes if i.prefix == prefix), None)
        seen = tuple(i.prefix for i in mpa.prefixes)
        if mine is None or mine.valid_lifetime == 0:
            outcome = "withdrawn"
            p.mpd_last = None
        else:
            now_info = (mine.valid_lifetime, mine.preferred_lifetime, mine.l, mine.a)
            changed = p.mpd_last is not None and p.mpd_last != now_info
            outcome = "changed" if changed else "confirmed"
            p.mpd_last = now_info
            # RFC 6275 §11.4.3: processed as an RA on the home link (RFC 4861 §6.3.4); an
            # authenticated advertisement may set any valid lifetime, shorter ones included.
            infinite = mine.valid_lifetime == _mpd.INFINITE_LIFETIME
            p.prefix_until = None if infinite else now + mine.valid_lifetime
        self._events.append(
            MobilePrefixAdvertised(
                p.apn,
                prefix,  # type: ignore[arg-type]
                outcome,
                None if mine is None else mine.valid_lifetime,
                None if mine is None else mine.preferred_lifetime,
                seen,
            )
        )
        if outcome == "withdrawn":
            # RFC 6275 §10.6.2: the list is sent whole, so absent = gone like lifetime 0.
            # The HoA is (about to be) invalid: de-register it and end the connection
            # (RFC 6275 §11.7.1: de-register rather than leave a binding behind).
            self._prefix_gone(p, now)
        elif p.state is UeState.REGISTERED and (
            held or (p.prefix_until is not None and p.expires > p.prefix_until)
        ):
            # RFC 6275 §11.4.2 / §11.7.1: the binding would outlive the HoA: refresh now
            # with a lifetime capped to the remaining valid lifetime (in _send_bu). Or a
            # refresh was held for this answer (§11.7.1, status 1): it leaves now.
            self._move_state(p, _state.RefreshDue)
            self._start_bu(p, p.lifetime_4s, now)
        # (REGISTERING: the retransmissions are capped; _on_ba_accept refreshes again if
        # the BU that is acknowledged left before this advertisement.)

    def _prefix_gone(self, p: _Pdn, now: float) -> bool:
        """The HNP was withdrawn or its valid lifetime is running out (RFC 6275 §11.4.2,
        §11.4.3, §11.7.1): the lifetime-0 BU, then the IKE SA is deleted, as for
        ``detach()`` (Annex A.5); the application sees ``MobilePrefixAdvertised``
        (``withdrawn``) and then ``DetachCompleted``. False when this session cannot
        detach (the other session of an HA switch: its binding simply runs out)."""
        self._count("home-prefix-gone")
        if self._pdns.get(p.apn) is p and p.state in (UeState.REGISTERED, UeState.REGISTERING):
            self.detach(p.apn, now)
            return True
        self._count("home-prefix-gone-ignored")
        return False

    def _unexpected(self, p: _Pdn, rx: _mh.Received, now: float) -> None:
        self._count("unexpected-mh")

    _HANDLERS: dict[type, Callable[[MobileNode, _Pdn, _mh.Received, float], None]] = {
        Ba: _on_ba,
        Bri: _on_bri,
        Has: _on_has,
        Be: _on_be,
        Bu: _unexpected,
        Bra: _unexpected,
        _mh.Brr: _unexpected,
        _mh.UnknownMh: _unexpected,
    }
