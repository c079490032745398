"""TEST DOUBLES ONLY — stand-ins for pieces built by other helpers, used until (and beside)
the real ones. Nothing here is imported by the package.

* ``SignallingDouble``: encodes the procedures' MH dataclasses with pickle instead of
  ``dsmip6.wire`` bytes, and "protects" them with an HMAC keyed per SA (``SaDouble``) instead
  of ESP. It keeps the properties the procedures rely on: an unknown SPI raises
  ``UnknownSpi``, a wrong key raises ``IntegrityCheckFailed``, a replayed packet raises
  ``ReplayedPacket``, an unprotected packet decodes with ``spi=None``.
* ``IkeInitiatorDouble`` / ``IkeResponderDouble``: a two-message toy exchange with the
  contract-D method names and event shapes (IkeSaEstablished, ChildSaEstablished,
  IkeSaDeleted, Redirected), one retransmission timer per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import struct
from dataclasses import dataclass, field
from ipaddress import IPv6Network

from dsmip6._mh import Received, Route
from dsmip6.dataplane_iface import SaSpec
from dsmip6.errors import IntegrityCheckFailed, MalformedPacket, ReplayedPacket, UnknownSpi

MAGIC = b"MHDBL1"
# First octets with version nibble 6, like the IPv6 packets the real codec produces.
ESP_MARK, PLAIN_MARK = b"\x6e", b"\x6f"


class SaDouble:
    """HMAC-SHA256 'SA' with a sequence number and a 64-packet anti-replay window."""

    def __init__(self, spec: SaSpec) -> None:
        self.spec = spec
        self.spi = spec.spi
        self.key = spec.key
        self.seq = 0
        self.highest = 0
        self.seen: set[int] = set()

    def protect(self, packet: bytes) -> bytes:
        self.seq += 1
        head = struct.pack("!II", self.spi, self.seq)
        mac = hmac.new(self.key, head + packet, hashlib.sha256).digest()[:16]
        return ESP_MARK + head + packet + mac

    def unprotect(self, packet: bytes) -> bytes:
        head, body, mac = packet[1:9], packet[9:-16], packet[-16:]
        good = hmac.new(self.key, head + body, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, good):
            raise IntegrityCheckFailed("bad ICV")
        _, seq = struct.unpack("!II", head)
        # RFC 4303 §3.4.3-like window of 64: duplicates and too-old numbers are refused.
        if seq + 64 <= self.highest or seq in self.seen:
            raise ReplayedPacket(f"seq {seq}")
        self.seen.add(seq)
        self.highest = max(self.highest, seq)
        return body


class SignallingDouble:
    """Pickle 'wire' + SaDouble 'ESP'. Never use outside tests."""

    def encode(self, message, route, sa) -> bytes:
        body = MAGIC + pickle.dumps((message, route.ip6_src, route.ip6_dst, route.hao, route.rh2))
        return sa.protect(body) if sa is not None else PLAIN_MARK + body

    def decode(self, data, src, dst, find_sa) -> Received:
        if not data:
            raise MalformedPacket("empty", 0, "truncated")
        spi = None
        if data[:1] == ESP_MARK:
            if len(data) < 9 + 16:
                raise MalformedPacket("short", 0, "truncated")
            (spi,) = struct.unpack("!I", data[1:5])
            sa = find_sa(spi)
            if sa is None:
                raise UnknownSpi(f"{spi:#x}")
            body = sa.unprotect(data)
        elif data[:1] == PLAIN_MARK:
            body = data[1:]
        else:
            raise MalformedPacket("not a double packet", 0, "bad-type")
        if not body.startswith(MAGIC):
            raise MalformedPacket("bad magic", 0, "bad-type")
        try:
            message, s6, d6, hao, rh2 = pickle.loads(body[len(MAGIC) :])
        except Exception as exc:  # noqa: BLE001 - test double
            raise MalformedPacket(str(exc), 0, "bad") from None
        return Received(message, Route(src, dst, s6, d6, hao, rh2), spi)


# ------------------------------------------------------------------ IKE doubles
@dataclass(frozen=True)
class TsDouble:
    start: str
    end: str
    protocol: int = 0


@dataclass(frozen=True)
class IkeSaEstablished:
    ike_sa_id: object
    peer_identity: str
    eap_identity: str | None
    local: tuple
    remote: tuple
    nat_detected: bool
    home_prefix: object
    home_address: object
    ha_addresses: tuple
    internal_ip4: object = None
    prefix_lifetime: int | None = None


@dataclass(frozen=True)
class ChildDouble:
    spi_in: int
    spi_out: int
    ts_i: list
    ts_r: list
    key: bytes
    mode: str = "transport"
    algorithm: str = "null"

    def sa_specs(self, local, remote):
        m, a, k = self.mode, self.algorithm, self.key
        return (
            SaSpec(self.spi_in, "in", m, a, k, remote, local, protocol=135),
            SaSpec(self.spi_out, "out", m, a, k, local, remote, protocol=135),
        )


@dataclass(frozen=True)
class ChildSaEstablished:
    ike_sa_id: object
    child: ChildDouble


@dataclass(frozen=True)
class IkeSaDeleted:
    ike_sa_id: object
    reason: str


@dataclass(frozen=True)
class IkeAuthFailed:
    ike_sa_id: object
    reason: str


@dataclass(frozen=True)
class Redirected:
    ike_sa_id: object
    new_gateway: str


def _enc(obj) -> bytes:
    return b"\x00\x00\x00\x00IKEDBL" + json.dumps(obj, sort_keys=True).encode()


def _dec(data: bytes):
    if not data.startswith(b"\x00\x00\x00\x00IKEDBL"):
        return None
    return json.loads(data[10:])


RTX = 0.5


class IkeInitiatorDouble:
    """UE side of the toy exchange (one request outstanding at a time, retransmitted)."""

    counter = 0

    def __init__(self, identity: str, apn: str, want_ha: bool, ipv4: bool = False):
        IkeInitiatorDouble.counter += 1
        self.identity, self.apn, self.want_ha = identity, apn, want_ha
        self.spi = f"{IkeInitiatorDouble.counter:016x}"
        self.local = self.remote = None
        self.out: list = []
        self.events: list = []
        self.pending = None
        self.deadline = None
        self.tries = 0
        self.established = False
        self.moves: list = []
        self.children: list = []
        self.deleted_children: list = []
        self.infos = 0
        self.queued: list = []

    def _request(self, msg, now):
        if self.pending is not None and msg["t"] == "info":
            self.queued.append(msg)  # window of one request (RFC 7296 §2.3)
            return
        self.pending = msg
        self.tries = 1
        self.deadline = now + RTX
        self.out.append((_enc(msg), self.local, self.remote))

    def connect(self, local, remote, now):
        self.local, self.remote = local, remote
        self._request({"t": "init", "spi": self.spi, "id": self.identity, "apn": self.apn}, now)

    def create_child_sa(self, ts_i, ts_r, *, mode, now):
        self.children.append((ts_i[0].start, ts_r[0].start))
        msg = {"t": "child", "spi": self.spi, "tsi": ts_i[0].start, "tsr": ts_r[0].start}
        msg["n"] = len(self.children)  # a new request (retransmissions resend this one)
        if ts_i[0].protocol != 135:
            msg["proto"] = ts_i[0].protocol  # e.g. 58: the MPD SA (RFC 4877 §6.3)
        self._request(msg, now)

    def delete(self, now):
        self._request({"t": "del", "spi": self.spi}, now)

    def liveness_check(self, now):
        """An empty INFORMATIONAL (RFC 7296 §2.4), e.g. after a K=1 move (RFC 5555 §5.1)."""
        self.infos += 1
        self._request({"t": "info", "spi": self.spi, "n": self.infos}, now)

    def delete_child_sa(self, spi_in, now):
        # Recorded only: the toy HA replaces a session's MH SA on CREATE_CHILD_SA anyway.
        self.deleted_children.append(spi_in)

    def move(self, local, remote):
        self.local, self.remote = local, remote
        self.moves.append((local, remote))

    def receive_datagram(self, data, src, dst, now):
        m = _dec(data)
        if m is None or m.get("spi") != self.spi:
            return
        t = m["t"]
        if t == "del-req":  # HA-initiated delete
            self.out.append((_enc({"t": "del-ack", "spi": self.spi}), self.local, self.remote))
            self.events.append(IkeSaDeleted(self.spi, "peer-deleted"))
            self.pending = self.deadline = None
            return
        if self.pending is None or t != self.pending["t"] + "-ok":
            return
        self.pending = self.deadline = None
        if t == "init-ok":
            if "redirect" in m:
                self.events.append(Redirected(self.spi, m["redirect"]))
                return
            self.established = True
            self.events.append(
                IkeSaEstablished(
                    self.spi,
                    self.identity,
                    self.identity,
                    self.local,
                    self.remote,
                    False,
                    IPv6Network(m["prefix"]),
                    None,
                    tuple(m["ha"]),
                    prefix_lifetime=m.get("lifetime"),
                )
            )
        elif t == "child-ok":
            proto = m.get("proto", 135)
            child = ChildDouble(
                m["spi_r2i"],
                m["spi_i2r"],
                [TsDouble(m["tsi"], m["tsi"], proto)],
                [TsDouble(m["tsr"], m["tsr"], proto)],
                bytes.fromhex(m["key"]),
            )
            self.events.append(ChildSaEstablished(self.spi, child))
        elif t == "del-ok":
            self.events.append(IkeSaDeleted(self.spi, "deleted"))
        if self.pending is None and self.queued:
            self._request(self.queued.pop(0), now)

    def datagrams_to_send(self, now):
        out, self.out = self.out, []
        return out

    def get_timer(self):
        return self.deadline

    def handle_timer(self, now):
        if self.deadline is None or now < self.deadline:
            return
        if self.tries >= 5:
            if not self.established:
                # As the real engine: an SA that never came up reports the timeout
                # (IkeAuthFailed "timeout"; RFC 7296 §2.1 gives up on the exchange).
                self.events.append(IkeAuthFailed(self.spi, "timeout"))
            self.pending = self.deadline = None
            return
        self.tries += 1
        self.deadline = now + RTX * 2 ** (self.tries - 1)
        self.out.append((_enc(self.pending), self.local, self.remote))

    def next_event(self):
        return self.events.pop(0) if self.events else None


@dataclass
class _HaSa:
    spi: str
    identity: str
    remote: tuple
    local: tuple
    children: int = 0


@dataclass
class IkeResponderDouble:
    """HA side: answers every UE; ``redirect_to`` makes init answers redirect."""

    assigner: object
    local6: str = "2001:db8:ha::1"
    redirect_to: str | None = None
    out: list = field(default_factory=list)
    events: list = field(default_factory=list)
    sas: dict = field(default_factory=dict)
    spi_counter: int = 0x1000
    moves: list = field(default_factory=list)
    infos: list = field(default_factory=list)
    replies: dict = field(default_factory=dict)
    refused: int = 0
    ue_spi_rng: object = None
    prefix_lifetime: int | None = None  # MIP6_HOME_PREFIX lifetime to send (RFC 5026 §8.2)

    def receive_datagram(self, data, src, dst, now):
        m = _dec(data)
        if m is None:
            return
        t, spi = m["t"], m["spi"]
        key = (spi, t, m.get("tsi"), m.get("proto"), m.get("n"))
        if key in self.replies:  # retransmitted request: same answer
            self.out.append((self.replies[key], dst, src))
            return
        reply = None
        if t == "init":
            if self.redirect_to is not None:
                reply = {"t": "init-ok", "spi": spi, "redirect": self.redirect_to}
            else:
                try:
                    a = self.assigner(m["id"], m["apn"])
                except Exception:  # noqa: BLE001 - INTERNAL_ADDRESS_FAILURE
                    self.refused += 1
                    return
                sa = _HaSa(spi, m["id"], src, dst)
                self.sas[spi] = sa
                reply = {
                    "t": "init-ok",
                    "spi": spi,
                    "prefix": str(a.home_prefix),
                    "ha": [str(x) for x in a.ha_addresses],
                }
                if self.prefix_lifetime is not None:
                    reply["lifetime"] = self.prefix_lifetime
                self.events.append(
                    IkeSaEstablished(
                        spi, m["id"], m["id"], dst, src, False, a.home_prefix, None, a.ha_addresses
                    )
                )
        elif t == "child" and spi in self.sas:
            sa = self.sas[spi]
            sa.children += 1
            self.spi_counter += 2
            i2r, r2i = self.spi_counter, self.spi_counter + 1
            if self.ue_spi_rng is not None:
                # The UE's inbound SPI drawn from an injected RNG (real IKEv2: the UE's own).
                r2i = int.from_bytes(self.ue_spi_rng(4), "big")
            keyhex = hashlib.sha256(f"{spi}/{sa.children}".encode()).hexdigest()
            reply = {
                "t": "child-ok",
                "spi": spi,
                "tsi": m["tsi"],
                "tsr": m["tsr"],
                "spi_i2r": i2r,
                "spi_r2i": r2i,
                "key": keyhex,
                "proto": m.get("proto", 135),
            }
            proto = m.get("proto", 135)
            child = ChildDouble(
                i2r,
                r2i,
                [TsDouble(m["tsi"], m["tsi"], proto)],
                [TsDouble(m["tsr"], m["tsr"], proto)],
                bytes.fromhex(keyhex),
            )
            self.events.append(ChildSaEstablished(spi, child))
        elif t == "del":
            reply = {"t": "del-ok", "spi": spi}
            if self.sas.pop(spi, None) is not None:
                self.events.append(IkeSaDeleted(spi, "peer-deleted"))
        elif t == "info" and spi in self.sas:
            # RFC 7296 §2.23: an authenticated request from a new address/port updates the
            # peer address of the IKE SA (the NAT mapping after a move, RFC 5555 §5.1).
            sa = self.sas[spi]
            sa.remote = src
            self.infos.append((spi, src))
            reply = {"t": "info-ok", "spi": spi}
        elif t == "del-ack":
            return
        if reply is not None:
            data = _enc(reply)
            self.replies[key] = data
            self.out.append((data, dst, src))

    def delete_ike_sa(self, ike_sa_id, now):
        sa = self.sas.pop(ike_sa_id, None)
        if sa is None:
            return
        self.out.append((_enc({"t": "del-req", "spi": ike_sa_id}), sa.local, sa.remote))
        self.events.append(IkeSaDeleted(ike_sa_id, "deleted"))

    def move(self, ike_sa_id, local, remote):
        sa = self.sas.get(ike_sa_id)
        if sa is not None:
            sa.local, sa.remote = local, remote
        self.moves.append((ike_sa_id, local, remote))

    def datagrams_to_send(self, now):
        out, self.out = self.out, []
        return out

    def get_timer(self):
        return None

    def handle_timer(self, now):
        pass

    def next_event(self):
        return self.events.pop(0) if self.events else None


def selectors_double(hoa, ha):
    return [TsDouble(str(hoa), str(hoa), 135)], [TsDouble(str(ha), str(ha), 135)]


def mpd_selectors_double(hoa, ha):
    """The MPD SA's selectors (RFC 4877 §6.3): HoA <-> HA, protocol ICMPv6."""
    return [TsDouble(str(hoa), str(hoa), 58)], [TsDouble(str(ha), str(ha), 58)]
