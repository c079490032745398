"""The one narrow interface through which the control plane programs the data plane.

STYLE §1.3: the UE and HA state machines (and the IKEv2 engine, for child SAs) never touch
packets on the user plane; they describe bindings and security associations with the
frozen dataclasses below and hand them to an object implementing :class:`DataPlane`.
Two implementations exist: the Rust-backed one (``dsmip6.dataplane``) and
:class:`FakeDataPlane` here, a pure-Python recorder for tests.

All addresses are :mod:`ipaddress` objects. Times are float seconds on the caller's clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from operator import attrgetter
from typing import Protocol, runtime_checkable

from dsmip6.errors import CacheError

__all__ = [
    "Encapsulation",
    "BindingSpec",
    "SaSpec",
    "DataPlane",
    "FakeDataPlane",
    "spec_from_record",
]


class Encapsulation(enum.Enum):
    """How user-plane packets travel between HA and UE (RFC 5555 §4.1, wire-mobility.md §2.3)."""

    IP_IN_IPV6 = "ip-in-ipv6"
    """Outer IPv6 CoA <-> HA; inner IPv6 (next header 41) or IPv4 (4)."""
    IP_IN_IPV4 = "ip-in-ipv4"
    """Outer IPv4 CoA <-> HA, no NAT, UDP not forced; protocol 41 or 4."""
    UDP_IPV4 = "udp-ipv4"
    """Outer IPv4 / UDP port 4191 (NAT detected or F flag): RFC 5555 §4.1."""

    __hash__ = object.__hash__  # singletons compared by identity: C-level hash for the tables


# Members as module constants: reading one off the Enum class costs a Python-level lookup.
_IP_IN_IPV6, _UDP_IPV4 = Encapsulation.IP_IN_IPV6, Encapsulation.UDP_IPV4


class _FieldsDict:
    """Base of the slotted :class:`BindingSpec`: ``__dict__`` (and ``vars()``) keep working
    for readers written before the slots, as a fresh dict of the fields (read-only: the
    instance stores its fields in slots only). A data descriptor on the class, so ordinary
    attribute reads pay nothing for it."""

    __slots__ = ()

    @property
    def __dict__(self) -> dict[str, object]:  # type: ignore[override]
        return dict(zip(_SPEC_FIELDS, _SPEC_VALUES(self), strict=True))


@dataclass(frozen=True, slots=True)
class BindingSpec(_FieldsDict):
    """One binding cache entry (HA) or binding update list entry (UE).

    Keyed by ``home_address``; the HA also forwards the whole ``home_prefix`` (RFC 3963
    implicit mode, TS 24.303 §4.1) and the ``ipv4_home_address`` to the UE.
    """

    home_address: IPv6Address
    """The IPv6 HoA (RFC 6275 §9.1)."""
    home_prefix: IPv6Network
    """The home network prefix assigned to the UE (the HoA lies inside it)."""
    care_of_address: IPv6Address | IPv4Address
    """The registered CoA: the Alternate-CoA / IPv6 source, or the IPv4 address seen."""
    encapsulation: Encapsulation
    """How the user plane is tunnelled to that CoA."""
    lifetime: float
    """Granted lifetime in seconds."""
    expires_at: float
    """Absolute expiry on the caller's clock."""
    sequence: int
    """Last accepted BU sequence number (16 bit)."""
    flags: int = 0
    """The BU flag word as received (RFC 6275 §6.1.7)."""
    ipv4_home_address: IPv4Address | None = None
    """The IPv4 HoA bound with this entry (RFC 5555 §3.1.1), if any."""
    udp_port: int | None = None
    """The peer's UDP source port as observed (NAT mapping), when ``UDP_IPV4``."""
    sa_out: int | None = None
    """SPI of the outbound user-plane ESP tunnel SA, when payload protection is on."""
    sa_in: int | None = None
    """SPI of the inbound user-plane ESP tunnel SA, when payload protection is on."""

    @classmethod
    def of(
        cls,
        home_address: IPv6Address,
        home_prefix: IPv6Network,
        care_of_address: IPv6Address | IPv4Address,
        encapsulation: Encapsulation,
        lifetime: float,
        expires_at: float,
        sequence: int,
        flags: int = 0,
        ipv4_home_address: IPv4Address | None = None,
        udp_port: int | None = None,
        sa_out: int | None = None,
        sa_in: int | None = None,
    ) -> BindingSpec:
        """The same object as the constructor (same fields, same checks), built without the
        generated ``__init__``'s twelve ``object.__setattr__`` calls (the HA builds one per
        accepted BU): see :class:`_SpecSlots`. A subclass gets its constructor."""
        if cls is not BindingSpec:
            return cls(home_address, home_prefix, care_of_address, encapsulation, lifetime,
                       expires_at, sequence, flags, ipv4_home_address, udp_port, sa_out,
                       sa_in)  # fmt: skip
        t = _SpecSlots()
        t.home_address = home_address
        t.home_prefix = home_prefix
        t.care_of_address = care_of_address
        t.encapsulation = encapsulation
        t.lifetime = lifetime
        t.expires_at = expires_at
        t.sequence = sequence
        t.flags = flags
        t.ipv4_home_address = ipv4_home_address
        t.udp_port = udp_port
        t.sa_out = sa_out
        t.sa_in = sa_in
        _SETATTR(t, "__class__", BindingSpec)
        spec: BindingSpec = t  # type: ignore[assignment]
        spec.__post_init__()
        return spec

    def renewed(self, lifetime: float, expires_at: float, sequence: int) -> BindingSpec:
        """This binding with a new lifetime, expiry and sequence number (a lifetime refresh,
        RFC 6275 §10.3.1): the same object :meth:`of` would build from these values and the
        other fields of ``self`` (the fields are the very objects of ``self``). Only the
        checks on the changed fields run; the others held when ``self`` was built."""
        if not 0 <= sequence <= 0xFFFF:
            raise ValueError(f"sequence {sequence} is not a 16-bit value")
        if lifetime < 0:
            raise ValueError("negative lifetime")
        t = _SpecSlots()
        t.home_address = self.home_address
        t.home_prefix = self.home_prefix
        t.care_of_address = self.care_of_address
        t.encapsulation = self.encapsulation
        t.lifetime = lifetime
        t.expires_at = expires_at
        t.sequence = sequence
        t.flags = self.flags
        t.ipv4_home_address = self.ipv4_home_address
        t.udp_port = self.udp_port
        t.sa_out = self.sa_out
        t.sa_in = self.sa_in
        _SETATTR(t, "__class__", BindingSpec)
        return t  # type: ignore[return-value]

    def __post_init__(self) -> None:
        hoa, prefix = self.home_address, self.home_prefix
        if type(hoa) is IPv6Address and type(prefix) is IPv6Network:
            # ``hoa in prefix`` (ipaddress's own test) on the integers, without its call
            inside = hoa._ip & prefix.netmask._ip == prefix.network_address._ip
        else:
            inside = hoa in prefix
        if not inside:
            raise ValueError(f"home address {self.home_address} is outside {self.home_prefix}")
        if not 0 <= self.sequence <= 0xFFFF:
            raise ValueError(f"sequence {self.sequence} is not a 16-bit value")
        enc = self.encapsulation
        if enc is _IP_IN_IPV6:
            if not isinstance(self.care_of_address, IPv6Address):
                raise ValueError("IP_IN_IPV6 needs an IPv6 care-of address")
        elif not isinstance(self.care_of_address, IPv4Address):
            raise ValueError(f"{self.encapsulation.name} needs an IPv4 care-of address")
        if (enc is _UDP_IPV4) != (self.udp_port is not None):
            raise ValueError("udp_port is required with UDP_IPV4 and only then")
        if self.udp_port is not None and not 0 < self.udp_port <= 0xFFFF:
            raise ValueError(f"udp_port {self.udp_port} out of range")
        if self.lifetime < 0:
            raise ValueError("negative lifetime")


@dataclass(frozen=True, slots=True)
class SaSpec:
    """One ESP security association, one direction (RFC 4303; RFC 4877 §4)."""

    spi: int
    """SPI (32 bit, non-zero)."""
    direction: str
    """``"in"`` or ``"out"``."""
    mode: str
    """``"transport"`` or ``"tunnel"``."""
    algorithm: str
    """One of ``aes-gcm-128``, ``aes-gcm-256``, ``aes-cbc-hmac-sha256``,
    ``chacha20-poly1305``, ``null`` (as ``dsmip6.esp.SecurityAssociation``)."""
    key: bytes
    """Encryption key; for AEADs it ends with the 4-octet salt (RFC 4106 §8.1)."""
    src: IPv6Address | IPv4Address
    """Source of protected packets (tunnel: outer source; transport: the HoA or HA)."""
    dst: IPv6Address | IPv4Address
    """Destination of protected packets (tunnel: outer destination)."""
    integrity_key: bytes | None = None
    """Separate integrity key (AES-CBC + HMAC-SHA-256-128 only)."""
    esn: bool = False
    """Extended (64-bit) sequence numbers."""
    udp_encap: tuple[int, int] | None = None
    """(source port, destination port) for ESP-in-UDP (RFC 3948), usually (4500, 4500)."""
    protocol: int | None = None
    """Upper-layer selector; 135 for the Mobility Header signalling SA."""
    mh_types: tuple[int, ...] = field(default_factory=tuple)
    """MH types admitted by the selector (empty = all): BU/BA/BRI/HAS ride one SA."""

    def __post_init__(self) -> None:
        if not 0 < self.spi <= 0xFFFFFFFF:
            raise ValueError(f"SPI {self.spi:#x} is not a non-zero 32-bit value")
        if self.direction not in ("in", "out"):
            raise ValueError(f"direction must be 'in' or 'out', not {self.direction!r}")
        if self.mode not in ("transport", "tunnel"):
            raise ValueError(f"mode must be 'transport' or 'tunnel', not {self.mode!r}")


_SETATTR = object.__setattr__
_SPEC_FIELDS = (
    "home_address",
    "home_prefix",
    "care_of_address",
    "encapsulation",
    "lifetime",
    "expires_at",
    "sequence",
    "flags",
    "ipv4_home_address",
    "udp_port",
    "sa_out",
    "sa_in",
)
_SPEC_VALUES = attrgetter(*_SPEC_FIELDS)


class _SpecSlots(_FieldsDict):
    """A plain class with :class:`BindingSpec`'s very slot layout (same names, same order, no
    ``__dict__``). :meth:`BindingSpec.of` and :meth:`BindingSpec.renewed` fill one with
    ordinary slot stores and then turn it into a ``BindingSpec`` by assigning its
    ``__class__`` (CPython allows that between classes of identical layout): one guarded
    ``object.__setattr__`` call per spec instead of one per field through the frozen
    dataclass's guard — ~4x faster, and the result is an ordinary frozen BindingSpec."""

    __slots__ = _SPEC_FIELDS


_ENCAPS = {e.value: e for e in Encapsulation}


def spec_from_record(
    fields: tuple[int, int, int, int, bool, str, float, float, int, int, int | None, int | None],
    sas: tuple[int | None, int | None],
) -> BindingSpec:
    """A :class:`BindingSpec` rebuilt from a binding record kept without its Python object
    (``dsmip6.dataplane.BindingCache(keep_objects=False)``, which the Rust side calls this
    for): ``fields`` = (HoA, home prefix, prefix length, CoA, CoA is IPv4, encapsulation
    value, lifetime, expiry, sequence, flags, IPv4 HoA or None, UDP port or None) with the
    addresses as ints; ``sas`` = (outbound, inbound) user-plane SPIs."""
    hoa, pfx, plen, coa, coa_v4, enc, life, exp, seq, flags, v4, port = fields
    return BindingSpec.of(
        IPv6Address(hoa),
        IPv6Network((pfx, plen)),
        IPv4Address(coa) if coa_v4 else IPv6Address(coa),
        _ENCAPS[enc],
        life,
        exp,
        seq,
        flags,
        None if v4 is None else IPv4Address(v4),
        port,
        sas[0],
        sas[1],
    )


@runtime_checkable
class DataPlane(Protocol):
    """What the control plane may ask of a data plane. Every method is idempotent-safe to
    reason about: adding an existing key or removing a missing one raises ``CacheError``."""

    def add_binding(self, binding: BindingSpec) -> None: ...

    def update_binding(self, binding: BindingSpec) -> None: ...

    def del_binding(self, home_address: IPv6Address) -> None: ...

    def add_sa(self, sa: SaSpec) -> None: ...

    def del_sa(self, spi: int, direction: str) -> None: ...

    def counters(self) -> dict[str, int]: ...


class FakeDataPlane:
    """A recording, dict-backed :class:`DataPlane` for tests of the control plane."""

    def __init__(self) -> None:
        self.bindings: dict[IPv6Address, BindingSpec] = {}
        self.sas: dict[tuple[int, str], SaSpec] = {}
        self.log: list[tuple[str, object]] = []
        self._counters: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self._counters[name] = self._counters.get(name, 0) + 1

    def add_binding(self, binding: BindingSpec) -> None:
        if binding.home_address in self.bindings:
            raise CacheError(f"binding for {binding.home_address} exists")
        self.bindings[binding.home_address] = binding
        self.log.append(("add_binding", binding))
        self._count("bindings_added")

    def update_binding(self, binding: BindingSpec) -> None:
        if binding.home_address not in self.bindings:
            raise CacheError(f"no binding for {binding.home_address}")
        self.bindings[binding.home_address] = binding
        self.log.append(("update_binding", binding))
        self._count("bindings_updated")

    def del_binding(self, home_address: IPv6Address) -> None:
        if self.bindings.pop(home_address, None) is None:
            raise CacheError(f"no binding for {home_address}")
        self.log.append(("del_binding", home_address))
        self._count("bindings_deleted")

    def add_sa(self, sa: SaSpec) -> None:
        key = (sa.spi, sa.direction)
        if key in self.sas:
            raise CacheError(f"SA {sa.spi:#010x}/{sa.direction} exists")
        self.sas[key] = sa
        self.log.append(("add_sa", sa))
        self._count("sas_added")

    def del_sa(self, spi: int, direction: str) -> None:
        if self.sas.pop((spi, direction), None) is None:
            raise CacheError(f"no SA {spi:#010x}/{direction}")
        self.log.append(("del_sa", (spi, direction)))
        self._count("sas_deleted")

    def counters(self) -> dict[str, int]:
        return dict(self._counters)
