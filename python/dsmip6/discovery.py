"""Home Agent discovery, sans-I/O (TS 24.303 §5.1.2.1; STYLE §5.7).

Theory of operation
-------------------
A resolver is a tiny state machine that *asks to send* queries and *takes in* answers:
``start(now)``, ``datagrams_to_send(now) -> [(data, dst)]``, ``receive_datagram(data, src,
now)``, ``get_timer()``, ``handle_timer(now)``; when ``done`` it holds either ``result``
(:class:`HaInfo`) or ``error``. Nothing here opens a socket or reads a clock; transaction
IDs come from the injected ``rng``.

Mechanisms (procedures.md §1.1):

* (a) static configuration — :func:`static_info`;
* (b) DNS, HA-APN FQDN of TS 23.003 §21 (:func:`ha_apn_fqdn`), AAAA (HA IPv6) then A (HA
  IPv4) — :class:`DnsResolver`; (c) DNS SRV ``_mip6._ipv6.<domain>`` (RFC 5026 §5.1.2), lowest
  priority first then AAAA/A of the target — ``DnsResolver(srv=True)``; messages are built and
  parsed as bytes with dnspython;
* (f) DHCPv6 Information-Request/Reply with the RFC 6610 options 49/50/69/70/71/72/73 —
  :class:`Dhcpv6Resolver` plus the option codec the simulation's server double reuses;
* (e) the IKEv2 HOME_AGENT_ADDRESS attribute — handled by ``MobileNode`` from the IKE event.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address, IPv6Network

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from dsmip6.errors import ConfigError, MalformedPacket

__all__ = [
    "HaInfo",
    "ha_apn_fqdn",
    "static_info",
    "DnsResolver",
    "Dhcpv6Resolver",
    "encode_dhcpv6_options",
    "decode_dhcpv6_options",
    "encode_fqdn",
    "decode_fqdn",
    "build_information_request",
    "parse_reply",
    "OPT_MIP6_HNIDF",
    "OPT_MIP6_VDINF",
    "OPT_MIP6_IDINF",
    "OPT_MIP6_UDINF",
    "OPT_MIP6_HNP",
    "OPT_MIP6_HAA",
    "OPT_MIP6_HAF",
]

Addr = tuple[str, int]

# RFC 6610 §4 / IANA DHCPv6 option codes.
OPT_CLIENTID, OPT_ORO, OPT_ELAPSED_TIME = 1, 6, 8
OPT_MIP6_HNIDF, OPT_MIP6_VDINF = 49, 50
OPT_MIP6_IDINF, OPT_MIP6_UDINF, OPT_MIP6_HNP, OPT_MIP6_HAA, OPT_MIP6_HAF = 69, 70, 71, 72, 73
DHCPV6_INFORMATION_REQUEST, DHCPV6_REPLY = 11, 7
#: RFC 6052 well-known prefix for IPv4-embedded HA addresses (RFC 6610 §4.2.4).
WKP = IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class HaInfo:
    """What discovery learnt."""

    address6: IPv6Address | None
    address4: IPv4Address | None
    source: str
    home_prefix: IPv6Network | None = None
    fqdn: str | None = None
    alternates: tuple[HaInfo, ...] = ()
    """Further HAs the same answer named, in order of preference (procedures.md §1.1c: the
    UE moves on to the next one when this HA refuses service or does not answer IKE)."""


def ha_apn_fqdn(apn_ni: str, mcc: str, mnc: str) -> str:
    """TS 23.003 §21: ``<APN-NI>.ha-apn.mnc<MNC>.mcc<MCC>.pub.3gppnetwork.org`` with the MNC
    padded to three digits; at most 100 octets."""
    if not (mcc.isdigit() and len(mcc) == 3):
        raise ConfigError(f"MCC {mcc!r} must be 3 digits")
    if not (mnc.isdigit() and len(mnc) in (2, 3)):
        raise ConfigError(f"MNC {mnc!r} must be 2 or 3 digits")
    labels = apn_ni.lower().split(".")
    if not apn_ni or any(not lab or len(lab) > 63 for lab in labels):
        raise ConfigError(f"bad APN network identifier {apn_ni!r}")
    fqdn = f"{apn_ni.lower()}.ha-apn.mnc{int(mnc):03d}.mcc{mcc}.pub.3gppnetwork.org"
    if len(fqdn) > 100:
        raise ConfigError(f"HA-APN FQDN longer than 100 octets: {fqdn}")
    return fqdn


def static_info(address6: IPv6Address | None, address4: IPv4Address | None) -> HaInfo:
    """Discovery method (a): the configuration is the answer."""
    if address6 is None and address4 is None:
        raise ConfigError("static HA discovery needs an address")
    return HaInfo(address6, address4, "static")


class _Resolver:
    """Shared retransmission logic: one query in flight, ``attempts`` tries."""

    def __init__(self, server: Addr, timeout: float, attempts: int) -> None:
        self.server = server
        self.timeout = timeout
        self.attempts = attempts
        self.result: HaInfo | None = None
        self.error: str | None = None
        self._out: list[tuple[bytes, Addr]] = []
        self._pending: bytes | None = None
        self._tries = 0
        self._deadline: float | None = None

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    def _send(self, data: bytes, now: float) -> None:
        self._pending = data
        self._tries = 1
        self._out.append((data, self.server))
        self._deadline = now + self.timeout

    def _fail(self, reason: str) -> None:
        self.error = reason
        self._deadline = None
        self._pending = None

    def _finish(self, info: HaInfo) -> None:
        self.result = info
        self._deadline = None
        self._pending = None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._deadline

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline or self._pending is None:
            return
        if self._tries >= self.attempts:
            self._fail("timeout")
            return
        self._tries += 1
        self._out.append((self._pending, self.server))
        self._deadline = now + self.timeout * self._tries


class DnsResolver(_Resolver):
    """DNS discovery: AAAA then A of ``fqdn`` (or SRV first with ``srv=True``)."""

    def __init__(
        self,
        fqdn: str,
        server: Addr,
        rng: Callable[[int], bytes],
        *,
        srv: bool = False,
        timeout: float = 2.0,
        attempts: int = 3,
    ) -> None:
        super().__init__(server, timeout, attempts)
        self.fqdn = fqdn
        self.rng = rng
        self.srv = srv
        self._qid = 0
        self._qname = ""
        self._qtype = dns.rdatatype.AAAA
        self._v6: list[IPv6Address] = []
        self._target = fqdn

    def start(self, now: float) -> None:
        if self.srv:
            self._query(f"_mip6._ipv6.{self.fqdn}", dns.rdatatype.SRV, now)
        else:
            self._query(self.fqdn, dns.rdatatype.AAAA, now)

    def _query(self, name: str, qtype: dns.rdatatype.RdataType, now: float) -> None:
        self._qid = int.from_bytes(self.rng(2), "big")
        self._qname = name
        self._qtype = qtype
        q = dns.message.make_query(name, qtype, id=self._qid, use_edns=False)
        q.flags |= dns.flags.RD
        self._send(q.to_wire(), now)

    def receive_datagram(self, data: bytes, src: Addr, now: float) -> None:
        """Take in a DNS response; anything not matching the outstanding query is ignored."""
        if self.done or src != self.server:
            return
        try:
            msg = dns.message.from_wire(data)
        except (dns.exception.DNSException, ValueError):
            return
        if msg.id != self._qid or not msg.flags & dns.flags.QR or not msg.question:
            return
        q = msg.question[0]
        if q.name != dns.name.from_text(self._qname) or q.rdtype != self._qtype:
            return
        rcode = msg.rcode()
        if rcode == dns.rcode.NXDOMAIN and self._qtype in (dns.rdatatype.AAAA, dns.rdatatype.SRV):
            self._fail("dns-nxdomain")
            return
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            self._fail(f"dns-{dns.rcode.to_text(rcode).lower()}")
            return
        records = [rd for rrset in msg.answer if rrset.rdtype == self._qtype for rd in rrset]
        if self._qtype == dns.rdatatype.SRV:
            if not records:
                self._fail("dns-no-srv")
                return
            # RFC 2782: lowest priority first; among equals, highest weight ([D] no random
            # weighting: the machine has no randomness source for it other than rng).
            best = sorted(records, key=lambda r: (r.priority, -r.weight))[0]
            self._target = best.target.to_text(omit_final_dot=True)
            self._query(self._target, dns.rdatatype.AAAA, now)
        elif self._qtype == dns.rdatatype.AAAA:
            self._v6 = [IPv6Address(r.address) for r in records]
            self._query(self._target, dns.rdatatype.A, now)
        else:
            v4s = [IPv4Address(r.address) for r in records]
            if not self._v6 and not v4s:
                self._fail("dns-no-address")
                return
            # [D] several records name several HAs (procedures.md §1.1b/c), in the order the
            # server gave (an RRset has no order of its own, RFC 2181 §5: servers rotate
            # it). Which IPv6 address belongs with which IPv4 one cannot be told, so the two
            # are paired only when each family has at most one record (one HA, as before);
            # otherwise every address is an HA of its own, the IPv6 ones first (RFC 5555
            # §4.4.1 prefers IPv6). The first is this HA, the rest are its alternates.
            pairs: list[tuple[IPv6Address | None, IPv4Address | None]]
            if len(self._v6) <= 1 and len(v4s) <= 1:
                pairs = [(self._v6[0] if self._v6 else None, v4s[0] if v4s else None)]
            else:
                pairs = [(a6, None) for a6 in self._v6] + [(None, a4) for a4 in v4s]
            alts = tuple(HaInfo(a6, a4, "dns", fqdn=self._target) for a6, a4 in pairs[1:])
            v6, v4 = pairs[0]
            self._finish(HaInfo(v6, v4, "dns", fqdn=self._target, alternates=alts))


# ------------------------------------------------------------------- DHCPv6 (RFC 6610)
def encode_fqdn(name: str) -> bytes:
    """RFC 8415 §10 (RFC 1035 §3.1) uncompressed DNS name encoding."""
    return dns.name.from_text(name).to_wire()  # type: ignore[return-value]


def decode_fqdn(data: bytes) -> str:
    """Inverse of :func:`encode_fqdn` (no compression pointers allowed)."""
    labels, i = [], 0
    while True:
        if i >= len(data):
            raise MalformedPacket("DNS name runs past the option", i, "truncated")
        n = data[i]
        if n == 0:
            if i + 1 != len(data):
                raise MalformedPacket("trailing bytes after DNS name", i + 1, "trailing")
            break
        if n > 63:
            raise MalformedPacket("compressed or oversized label in DHCPv6 FQDN", i, "bad-label")
        labels.append(data[i + 1 : i + 1 + n].decode("ascii", "strict"))
        if len(labels[-1]) != n:
            raise MalformedPacket("DNS label truncated", i, "truncated")
        i += 1 + n
    return ".".join(labels)


def encode_dhcpv6_options(options: list[tuple[int, bytes]]) -> bytes:
    """``code(2) ‖ length(2) ‖ data`` for each option (RFC 8415 §21.1)."""
    out = bytearray()
    for code, data in options:
        if len(data) > 0xFFFF:
            raise ValueError("DHCPv6 option too long")
        out += struct.pack("!HH", code, len(data)) + data
    return bytes(out)


def decode_dhcpv6_options(data: bytes) -> list[tuple[int, bytes]]:
    """Inverse of :func:`encode_dhcpv6_options`; MalformedPacket on overrun."""
    out, i = [], 0
    while i < len(data):
        if i + 4 > len(data):
            raise MalformedPacket("truncated DHCPv6 option header", i, "truncated")
        code, length = struct.unpack_from("!HH", data, i)
        if i + 4 + length > len(data):
            raise MalformedPacket(f"DHCPv6 option {code} overruns the message", i, "bad-length")
        out.append((code, data[i + 4 : i + 4 + length]))
        i += 4 + length
    return out


def build_information_request(
    transaction_id: bytes, client_id: bytes, home_network: str | None = None
) -> bytes:
    """Information-Request asking for the RFC 6610 containers and sub-options (§4.3)."""
    if len(transaction_id) != 3:
        raise ValueError("transaction id is 3 octets")
    oro = struct.pack(
        "!6H",
        OPT_MIP6_VDINF,
        OPT_MIP6_IDINF,
        OPT_MIP6_UDINF,
        OPT_MIP6_HNP,
        OPT_MIP6_HAA,
        OPT_MIP6_HAF,
    )
    opts = [(OPT_CLIENTID, client_id), (OPT_ELAPSED_TIME, b"\x00\x00"), (OPT_ORO, oro)]
    if home_network is not None:
        opts.append((OPT_MIP6_HNIDF, encode_fqdn(home_network)))
    return bytes([DHCPV6_INFORMATION_REQUEST]) + transaction_id + encode_dhcpv6_options(opts)


def parse_reply(data: bytes, transaction_id: bytes) -> HaInfo | None:
    """The HA information from a Reply, or None when no usable container is present.

    RFC 6610 §4.3: HNP/HAA/HAF outside a container are ignored; the first usable container
    (in message order) wins. IPv4 HAs come as 64:ff9b::/96-embedded addresses. The further
    usable containers are the ``alternates`` (procedures.md §1.1c: the next HA to try).
    """
    if len(data) < 4 or data[0] != DHCPV6_REPLY:
        raise MalformedPacket("not a DHCPv6 Reply", 0, "bad-type")
    if data[1:4] != transaction_id:
        return None
    found: list[HaInfo] = []
    for code, body in decode_dhcpv6_options(data[4:]):
        if code not in (OPT_MIP6_VDINF, OPT_MIP6_IDINF, OPT_MIP6_UDINF):
            continue
        v6: IPv6Address | None = None
        v4: IPv4Address | None = None
        prefix: IPv6Network | None = None
        fqdn: str | None = None
        for sub, sbody in decode_dhcpv6_options(body):
            if sub == OPT_MIP6_HAA and len(sbody) == 16:
                addr = IPv6Address(sbody)
                if addr in WKP:
                    v4 = v4 or IPv4Address(sbody[12:])
                else:
                    v6 = v6 or addr
            elif sub == OPT_MIP6_HNP and len(sbody) == 17 and sbody[0] <= 128:
                prefix = IPv6Network((IPv6Address(sbody[1:]), sbody[0]), strict=False)
            elif sub == OPT_MIP6_HAF:
                fqdn = decode_fqdn(sbody)
        if v6 is not None or v4 is not None:
            found.append(HaInfo(v6, v4, "dhcpv6", home_prefix=prefix, fqdn=fqdn))
    if not found:
        return None
    return replace(found[0], alternates=tuple(found[1:]))


class Dhcpv6Resolver(_Resolver):
    """DHCPv6 discovery (RFC 6610): one Information-Request, retransmitted until a Reply."""

    def __init__(
        self,
        server: Addr,
        rng: Callable[[int], bytes],
        client_id: bytes,
        *,
        home_network: str | None = None,
        timeout: float = 2.0,
        attempts: int = 3,
    ) -> None:
        super().__init__(server, timeout, attempts)
        self.rng = rng
        self.client_id = client_id
        self.home_network = home_network
        self._xid = b""

    def start(self, now: float) -> None:
        self._xid = self.rng(3)
        self._send(build_information_request(self._xid, self.client_id, self.home_network), now)

    def receive_datagram(self, data: bytes, src: Addr, now: float) -> None:
        if self.done or src[1] != self.server[1]:
            return
        try:
            info = parse_reply(data, self._xid)
        except MalformedPacket:
            return
        if info is not None:
            self._finish(info)
        elif data[1:4] == self._xid:
            self._fail("dhcpv6-no-ha")
