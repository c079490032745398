"""The Rust-backed data plane: binding cache, SAD/SPD, and ``RustDataPlane``.

* :class:`BindingCache` — the HA's binding cache (and the UE's binding update list). Entries
  are ``BindingSpec`` objects; the Rust side indexes them by home address, home network
  prefix (longest-prefix match), IPv4 home address and inbound (outer source, SPI / UDP
  port) and returns the very object that was added — or, with ``keep_objects=False`` (what
  ``RustDataPlane`` uses), keeps no Python object per binding and returns a spec rebuilt from
  the Rust record (``expires_at`` to the microsecond, ``lifetime`` as a 32-bit float);
  ``renew_fields(hoa, lifetime, expires_at, sequence)`` is ``renew`` without a spec there.
  Methods: ``add``, ``update``, ``remove``, ``lookup`` (IPv6: HoA or prefix; IPv4: IPv4
  HoA), ``lookup_many``, ``get`` (exact HoA),
  ``lookup_inbound(source, spi=..|udp_port=..)``, ``expire(now)`` (injected clock; returns
  the removed entries), ``count``/``counters`` (per-binding traffic), ``len()``, ``in``,
  iteration. Addresses may be ``ipaddress`` objects, ``str``, packed ``bytes`` or ``int``
  (text and ints are converted once per object). Readers in Rust never block on writers;
  see docs/architecture.md for the layout (64-octet records, compact indexes, huge pages).
* ``SecurityDatabase`` — inbound SAs by SPI + destination, outbound SAs by SPI, and an SPD
  whose Mobility Header selectors carry the MH type in the high octet of the port.
* :class:`RustDataPlane` — implements :class:`dsmip6.dataplane_iface.DataPlane` on the two.
"""

from __future__ import annotations

from ipaddress import IPv6Address

from dsmip6 import _core
from dsmip6.dataplane_iface import BindingSpec, Encapsulation, SaSpec
from dsmip6.errors import CacheError

__all__ = ["BindingCache", "SecurityDatabase", "RustDataPlane"]

BindingCache = _core.dataplane.BindingCache
SecurityDatabase = _core.dataplane.SecurityDatabase


_IP_IN_IPV6, _UDP_IPV4 = Encapsulation.IP_IN_IPV6, Encapsulation.UDP_IPV4


def _fields_code(
    hoa: int, prefix: int, plen: int, coa: int, enc: Encapsulation, lifetime: float,
    sequence: int, port: int | None,
) -> int:  # fmt: skip
    """The checks of ``BindingSpec.__post_init__`` on the values of ``BindingSpec.of(
    IPv6Address(hoa), IPv6Network((prefix, plen)), coa address, enc, lifetime, ..., sequence,
    ..., port)`` (same errors, same order); returns the encapsulation's code for
    ``BindingCache.add_fields`` (0 IP-in-IPv6, 1 IP-in-IPv4, 2 UDP over IPv4)."""
    if plen > 128 or (hoa ^ prefix) >> (128 - plen) or prefix & ((1 << (128 - plen)) - 1):
        outside = f"{IPv6Address(prefix)}/{plen}"  # str() of the spec's IPv6Network
        raise ValueError(f"home address {IPv6Address(hoa)} is outside {outside}")
    if not 0 <= sequence <= 0xFFFF:
        raise ValueError(f"sequence {sequence} is not a 16-bit value")
    if enc is _IP_IN_IPV6:
        if not 0 <= coa <= 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:
            raise ValueError("IP_IN_IPV6 needs an IPv6 care-of address")
        code = 0
    else:
        if not 0 <= coa <= 0xFFFFFFFF:
            raise ValueError(f"{enc.name} needs an IPv4 care-of address")
        code = 2 if enc is _UDP_IPV4 else 1
    if (code == 2) != (port is not None):
        raise ValueError("udp_port is required with UDP_IPV4 and only then")
    if port is not None and not 0 < port <= 0xFFFF:
        raise ValueError(f"udp_port {port} out of range")
    if lifetime < 0:
        raise ValueError("negative lifetime")
    return code


class RustDataPlane:
    """The real :class:`~dsmip6.dataplane_iface.DataPlane`: a Rust binding cache and SA store.

    ``protect(packet)`` applies the SPD to an outbound packet (ESP packet, the packet itself
    for bypass, or None to discard); ``unprotect(packet)`` decrypts an inbound ESP packet with
    the SA of its SPI and destination (raises the ``dsmip6.errors`` ESP exceptions).
    """

    def __init__(self) -> None:
        # No Python object per binding: the spec is read into the Rust record at add/update
        # and dropped; readers (``bindings.get``/``lookup``/iteration) get a rebuilt spec.
        self.bindings = BindingCache(keep_objects=False)
        self.sad = SecurityDatabase()
        self._counters: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self._counters[name] = self._counters.get(name, 0) + 1

    def add_binding(self, binding: BindingSpec) -> None:
        self.bindings.add(binding)
        self._count("bindings_added")

    def update_binding(self, binding: BindingSpec) -> None:
        self.bindings.update(binding)
        self._count("bindings_updated")

    def renew_binding(self, binding: BindingSpec) -> None:
        """:meth:`update_binding` for a lifetime refresh: ``binding`` differs from the stored
        one only in ``lifetime``, ``expires_at`` and ``sequence`` (the caller guarantees it;
        :meth:`BindingSpec.renewed` builds such a spec), so the cache reads only those and
        the HoA. Optional for other ``DataPlane`` implementations (the HA falls back to
        ``update_binding``)."""
        self.bindings.renew(binding)
        self._count("bindings_updated")

    def renew_fields(
        self, home_address: IPv6Address | int, lifetime: float, expires_at: float, sequence: int
    ) -> None:
        """:meth:`renew_binding` from the values alone (no spec object): the binding of
        ``home_address`` (an ``ipaddress`` object or its int) gets a new lifetime, expiry and
        sequence number, everything else stays. Optional for other ``DataPlane``
        implementations (the HA falls back to ``renew_binding``/``update_binding``)."""
        self.bindings.renew_fields(home_address, lifetime, expires_at, sequence)
        self._count("bindings_updated")

    def add_fields(
        self,
        home_address: int,
        prefix: int,
        prefix_len: int,
        care_of: int,
        encapsulation: Encapsulation,
        lifetime: float,
        expires_at: float,
        sequence: int,
        flags: int,
        ipv4_home_address: int | None,
        udp_port: int | None,
    ) -> None:
        """:meth:`add_binding` of ``BindingSpec.of(...)`` from plain values (addresses as
        ints: the HoA and the prefix IPv6, the CoA IPv4 exactly when ``encapsulation`` is not
        ``IP_IN_IPV6``; no ``sa_out``/``sa_in``), without the spec object: the spec's checks
        run here on the ints (same ``ValueError``s), then the Rust cache takes the values
        in one call (``BindingCache.add_fields``: no intermediate Python object; a compact
        cache keeps none). Optional for other ``DataPlane`` implementations (the
        HA falls back to ``add_binding``)."""
        code = _fields_code(home_address, prefix, prefix_len, care_of, encapsulation, lifetime,
                            sequence, udp_port)  # fmt: skip
        self.bindings.add_fields(home_address, prefix, prefix_len, care_of, code, lifetime,
                                 expires_at, sequence, flags, ipv4_home_address,
                                 udp_port)  # fmt: skip
        self._count("bindings_added")

    def del_binding(self, home_address: IPv6Address) -> None:
        self.bindings.remove(home_address)
        self._count("bindings_deleted")

    def add_sa(self, sa: SaSpec) -> None:
        self.sad.add_sa(
            sa.spi,
            sa.direction,
            sa.mode,
            sa.algorithm,
            sa.key,
            sa.src,
            sa.dst,
            integrity_key=sa.integrity_key,
            esn=sa.esn,
            udp_encap=sa.udp_encap,
            protocol=sa.protocol,
            mh_types=list(sa.mh_types),
        )
        self._count("sas_added")

    def del_sa(self, spi: int, direction: str) -> None:
        self.sad.del_sa(spi, direction)
        self._count("sas_deleted")

    def protect(self, packet: bytes) -> bytes | None:
        return self.sad.protect(packet)

    def unprotect(self, packet: bytes) -> bytes:
        return self.sad.unprotect(packet)

    def counters(self) -> dict[str, int]:
        out = dict(self._counters)
        out["bindings"] = len(self.bindings)
        for k, v in self.sad.counters().items():
            out[f"esp_{k}"] = v
        return out


def _check_protocol() -> None:  # pragma: no cover - import-time sanity, raises on drift
    from dsmip6.dataplane_iface import DataPlane

    if not isinstance(RustDataPlane(), DataPlane):
        raise CacheError("RustDataPlane does not satisfy DataPlane")


_check_protocol()
