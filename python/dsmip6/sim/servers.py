"""DNS and DHCPv6 servers for the simulation: they parse and answer real bytes."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dsmip6 import discovery as d
from dsmip6.errors import MalformedPacket

__all__ = ["DnsServer", "Dhcpv6Server"]

Addr = tuple[str, int]


class DnsServer:
    """An authoritative-looking server for a small zone: ``{name: {"AAAA": [...], ...}}``."""

    def __init__(self, address: str, zone: dict[str, dict[str, list[str]]], ttl: int = 60):
        self.address = address
        self.zone = {dns.name.from_text(k): v for k, v in zone.items()}
        self.ttl = ttl
        self.out: list[tuple[bytes, Addr, Addr]] = []
        self.queries = 0
        self.malformed = 0

    def receive_datagram(self, data: bytes, src: Addr, dst: Addr, now: float) -> None:
        try:
            q = dns.message.from_wire(data)
        except (dns.exception.DNSException, ValueError):
            self.malformed += 1
            return
        self.queries += 1
        r = dns.message.make_response(q)
        if not q.question:
            return
        qq = q.question[0]
        records = self.zone.get(qq.name)
        if records is None:
            r.set_rcode(dns.rcode.NXDOMAIN)
        else:
            values = records.get(dns.rdatatype.to_text(qq.rdtype), [])
            if values:
                rrset = dns.rrset.from_text_list(
                    qq.name, self.ttl, dns.rdataclass.IN, qq.rdtype, values
                )
                r.answer.append(rrset)
        self.out.append((r.to_wire(), dst, src))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr, Addr]]:
        out, self.out = self.out, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None


class Dhcpv6Server:
    """Answers Information-Requests with RFC 6610 home information (one UDINF container:
    HAA for the IPv6 HA, HAA with the 64:ff9b::/96-embedded IPv4 HA, optional HNP/HAF)."""

    def __init__(
        self,
        address: str,
        ha6: IPv6Address | None,
        ha4: IPv4Address | None = None,
        *,
        prefix: IPv6Network | None = None,
        ha_fqdn: str | None = None,
    ) -> None:
        self.address = address
        self.ha6, self.ha4, self.prefix, self.ha_fqdn = ha6, ha4, prefix, ha_fqdn
        self.out: list[tuple[bytes, Addr, Addr]] = []
        self.requests = 0
        self.malformed = 0

    def receive_datagram(self, data: bytes, src: Addr, dst: Addr, now: float) -> None:
        if len(data) < 4 or data[0] != d.DHCPV6_INFORMATION_REQUEST:
            self.malformed += 1
            return
        try:
            opts = dict(d.decode_dhcpv6_options(data[4:]))
        except MalformedPacket:
            self.malformed += 1
            return
        self.requests += 1
        oro = opts.get(d.OPT_ORO, b"")
        wanted = {int.from_bytes(oro[i : i + 2], "big") for i in range(0, len(oro) - 1, 2)}
        subs: list[tuple[int, bytes]] = []
        if self.prefix is not None:
            hnp = bytes([self.prefix.prefixlen]) + self.prefix.network_address.packed
            subs.append((d.OPT_MIP6_HNP, hnp))
        if self.ha6 is not None:
            subs.append((d.OPT_MIP6_HAA, self.ha6.packed))
        if self.ha4 is not None:
            embedded = IPv6Address(int(d.WKP.network_address) | int(self.ha4))
            subs.append((d.OPT_MIP6_HAA, embedded.packed))
        if self.ha_fqdn is not None:
            subs.append((d.OPT_MIP6_HAF, d.encode_fqdn(self.ha_fqdn)))
        reply_opts: list[tuple[int, bytes]] = []
        if d.OPT_CLIENTID in opts:
            reply_opts.append((d.OPT_CLIENTID, opts[d.OPT_CLIENTID]))
        if d.OPT_MIP6_UDINF in wanted and subs:
            reply_opts.append((d.OPT_MIP6_UDINF, d.encode_dhcpv6_options(subs)))
        reply = bytes([d.DHCPV6_REPLY]) + data[1:4] + d.encode_dhcpv6_options(reply_opts)
        self.out.append((reply, dst, src))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr, Addr]]:
        out, self.out = self.out, []
        return out

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:
        return None
