# Type stubs for the native extension dsmip6._core (STYLE §4.5).
# Each submodule's section is owned by the code that implements it.

from collections.abc import Iterable  # wire
from ipaddress import IPv4Address, IPv6Address  # wire
from types import ModuleType
from typing import Any  # wire

__version__: str
build_profile: str

dataplane: ModuleType
esp: ModuleType

# --- wire (owned by the wire codec; rust/py/src/wire.rs) -------------------------------------
# `_core.wire` is a submodule; it is described here as a namespace class so that
# `from dsmip6._core import wire` type-checks. Public names are re-exported by dsmip6.wire.

_A6 = str | IPv6Address
_A4 = str | IPv4Address
_A = str | IPv4Address | IPv6Address

class wire:
    class _Option:
        def to_dict(self) -> dict[str, Any]: ...

    class Pad1(_Option):
        def __init__(self) -> None: ...

    class PadN(_Option):
        length: int
        def __init__(self, length: int) -> None: ...

    class BindingRefreshAdvice(_Option):
        refresh_interval_4s: int
        def __init__(self, refresh_interval_4s: int) -> None: ...

    class AlternateCareOfAddress(_Option):
        address: str
        def __init__(self, address: _A6) -> None: ...

    class NonceIndices(_Option):
        home_nonce_index: int
        care_of_nonce_index: int
        def __init__(self, home_nonce_index: int, care_of_nonce_index: int) -> None: ...

    class BindingAuthorizationData(_Option):
        authenticator: bytes
        def __init__(self, authenticator: bytes) -> None: ...

    class MobileNodeIdentifier(_Option):
        subtype: int
        identifier: bytes
        def __init__(self, subtype: int, identifier: bytes) -> None: ...

    class Ipv4HomeAddress(_Option):
        address: str
        prefix_len: int
        p: bool
        def __init__(self, address: _A4, prefix_len: int = 32, p: bool = False) -> None: ...

    class Ipv4AddressAcknowledgement(_Option):
        status: int
        prefix_len: int
        address: str
        def __init__(self, status: int, prefix_len: int, address: _A4) -> None: ...

    class NatDetection(_Option):
        f: bool
        refresh_time: int
        def __init__(self, f: bool, refresh_time: int) -> None: ...

    class Ipv4CareOfAddress(_Option):
        address: str
        def __init__(self, address: _A4) -> None: ...

    class BindingIdentifier(_Option):
        bid: int
        status: int
        h: bool
        care_of_address: str | None
        def __init__(
            self, bid: int, status: int = 0, h: bool = False, care_of_address: _A | None = None
        ) -> None: ...

    class FlowSummary(_Option):
        flow_ids: list[int]
        def __init__(self, flow_ids: Iterable[int]) -> None: ...

    class FlowIdentification(_Option):
        fid: int
        fid_pri: int
        status: int
        sub_options: bytes
        def __init__(
            self, fid: int, fid_pri: int, status: int, sub_options: bytes = b""
        ) -> None: ...

    class UnknownOption(_Option):
        option_type: int
        data: bytes
        def __init__(self, option_type: int, data: bytes) -> None: ...

    class _Message:
        mh_type: int
        options: tuple[Any, ...]
        def to_dict(self) -> dict[str, Any]: ...
        def to_bytes(self, src: _A6, dst: _A6) -> bytes: ...

    class BindingUpdate(_Message):
        sequence: int
        lifetime_4s: int
        a: bool
        h: bool
        l: bool
        k: bool
        m: bool
        r: bool
        p: bool
        f: bool
        t: bool
        o: bool
        reserved: int
        def __init__(
            self,
            sequence: int,
            lifetime_4s: int,
            *,
            a: bool = False,
            h: bool = False,
            l: bool = False,
            k: bool = False,
            m: bool = False,
            r: bool = False,
            p: bool = False,
            f: bool = False,
            t: bool = False,
            o: bool = False,
            reserved: int = 0,
            options: Iterable[Any] = (),
        ) -> None: ...

    class BindingAcknowledgement(_Message):
        status: int
        sequence: int
        lifetime_4s: int
        k: bool
        r: bool
        p: bool
        t: bool
        reserved: int
        def __init__(
            self,
            status: int,
            sequence: int,
            lifetime_4s: int,
            *,
            k: bool = False,
            r: bool = False,
            p: bool = False,
            t: bool = False,
            reserved: int = 0,
            options: Iterable[Any] = (),
        ) -> None: ...

    class BindingError(_Message):
        status: int
        home_address: str
        def __init__(self, status: int, home_address: _A6, options: Iterable[Any] = ()) -> None: ...

    class BindingRefreshRequest(_Message):
        def __init__(self, options: Iterable[Any] = ()) -> None: ...

    class HomeAgentSwitch(_Message):
        home_agent_addresses: list[str]
        def __init__(
            self, home_agent_addresses: Iterable[_A6], options: Iterable[Any] = ()
        ) -> None: ...

    class BindingRevocationIndication(_Message):
        revocation_trigger: int
        sequence: int
        p: bool
        v: bool
        g: bool
        def __init__(
            self,
            revocation_trigger: int,
            sequence: int,
            *,
            p: bool = False,
            v: bool = False,
            g: bool = False,
            options: Iterable[Any] = (),
        ) -> None: ...

    class BindingRevocationAcknowledgement(_Message):
        status: int
        sequence: int
        p: bool
        v: bool
        g: bool
        def __init__(
            self,
            status: int,
            sequence: int,
            *,
            p: bool = False,
            v: bool = False,
            g: bool = False,
            options: Iterable[Any] = (),
        ) -> None: ...

    class UnknownMobilityMessage:
        mh_type: int
        data: bytes
        def __init__(self, mh_type: int, data: bytes) -> None: ...
        def to_dict(self) -> dict[str, Any]: ...
        def to_bytes(self, src: _A6, dst: _A6) -> bytes: ...

    class Ipv6Header:
        src: str
        dst: str
        hop_limit: int
        traffic_class: int
        flow_label: int
        def __init__(
            self,
            src: _A6,
            dst: _A6,
            *,
            hop_limit: int = 64,
            traffic_class: int = 0,
            flow_label: int = 0,
        ) -> None: ...
        def to_dict(self) -> dict[str, Any]: ...

    class HomeAddressOption:
        address: str
        def __init__(self, address: _A6) -> None: ...
        def to_dict(self) -> dict[str, Any]: ...

    class DestinationOptions:
        options: tuple[Any, ...]
        home_address: str | None
        def __init__(self, options: Iterable[Any]) -> None: ...
        def to_dict(self) -> dict[str, Any]: ...

    class RoutingHeaderType2:
        home_address: str
        def __init__(self, home_address: _A6) -> None: ...
        def to_dict(self) -> dict[str, Any]: ...

    class Ipv4Header:
        src: str
        dst: str
        ttl: int
        tos: int
        identification: int
        dont_fragment: bool
        def __init__(
            self,
            src: _A4,
            dst: _A4,
            *,
            ttl: int = 64,
            tos: int = 0,
            identification: int = 0,
            dont_fragment: bool = False,
        ) -> None: ...
        def to_dict(self) -> dict[str, Any]: ...

    class UdpHeader:
        src_port: int
        dst_port: int
        zero_checksum: bool
        def __init__(
            self, src_port: int, dst_port: int, *, zero_checksum: bool = False
        ) -> None: ...
        def to_dict(self) -> dict[str, Any]: ...

    class Esp:
        spi: int
        sequence: int
        data: bytes
        def __init__(self, spi: int, sequence: int, data: bytes) -> None: ...
        def to_dict(self) -> dict[str, Any]: ...

    class Raw:
        data: bytes
        protocol: int | None
        def __init__(self, data: bytes, *, protocol: int | None = None) -> None: ...
        def to_dict(self) -> dict[str, Any]: ...

    class Packet:
        layers: list[Any]
        def get(self, cls: type) -> Any | None: ...
        def to_dict(self) -> dict[str, Any]: ...
        def layer_dicts(self) -> list[dict[str, Any]]: ...
        def to_bytes(self) -> bytes: ...
        def __len__(self) -> int: ...

    @staticmethod
    def build(layers: Iterable[Any]) -> bytes: ...
    @staticmethod
    def parse(data: bytes) -> wire.Packet: ...
    @staticmethod
    def parse_batch(packets: Iterable[bytes]) -> list[wire.Packet]: ...
    @staticmethod
    def parse_mobility_header(data: bytes, src: _A6, dst: _A6) -> Any: ...
    @staticmethod
    def layer_dict(obj: Any) -> dict[str, Any]: ...

# ---- _core.esp and _core.dataplane (dataplane helper) ----
# Declared as classes below for type checkers; at run time they live in the submodules
# dsmip6._core.esp / dsmip6._core.dataplane and are re-exported by dsmip6.esp / dsmip6.dataplane.
from collections.abc import Iterator  # noqa: E402

class _esp:
    ALGORITHMS: tuple[str, ...]
    MAX_OVERHEAD: int

    class SecurityAssociation:
        def __init__(
            self,
            spi: int,
            mode: str,
            algorithm: str,
            key: bytes,
            integrity_key: bytes | None = None,
            esn: bool = False,
            udp_encap: tuple[int, int] | None = None,
            tunnel_src: Any = None,
            tunnel_dst: Any = None,
            *,
            initial_sequence: int = 0,
            compact: bool = False,
        ) -> None: ...
        def encrypt(self, packet: bytes) -> bytes: ...
        def decrypt(self, packet: bytes) -> bytes: ...
        def encrypt_batch(self, packets: list[bytes]) -> list[bytes]: ...
        def decrypt_batch(self, packets: list[bytes]) -> list[bytes | None]: ...
        def counters(self) -> dict[str, int]: ...
        spi: int
        mode: str
        algorithm: str
        esn: bool
        sequence: int
        replay_top: int
        replay_window: int

class _dataplane:
    class BindingCache:
        def __init__(self, *, keep_objects: bool = True) -> None: ...
        def add(self, binding: Any) -> None: ...
        def update(self, binding: Any) -> None: ...
        def add_fields(
            self, home_address: int, home_prefix: int, prefix_len: int, care_of: int,
            encapsulation: int, lifetime: float, expires_at: float, sequence: int, flags: int,
            ipv4_home_address: int | None, udp_port: int | None,
        ) -> None: ...  # fmt: skip
        def renew_fields(
            self, home_address: Any, lifetime: float, expires_at: float, sequence: int
        ) -> None: ...
        def remove(self, home_address: Any) -> Any: ...
        def lookup(self, address: Any) -> Any | None: ...
        def lookup_many(self, addresses: list[Any]) -> list[Any | None]: ...
        def get(self, home_address: Any) -> Any | None: ...
        def lookup_inbound(
            self, source: Any, *, spi: int | None = None, udp_port: int | None = None
        ) -> Any | None: ...
        def expire(self, now: float) -> list[Any]: ...
        def count(self, home_address: Any, to_ue: bool, octets: int) -> bool: ...
        def counters(self, home_address: Any) -> dict[str, int] | None: ...
        def __len__(self) -> int: ...
        def __contains__(self, home_address: Any) -> bool: ...
        def __iter__(self) -> Iterator[Any]: ...

    class SecurityDatabase:
        def __init__(self) -> None: ...
        def add_sa(
            self,
            spi: int,
            direction: str,
            mode: str,
            algorithm: str,
            key: bytes,
            src: Any,
            dst: Any,
            integrity_key: bytes | None = None,
            esn: bool = False,
            udp_encap: tuple[int, int] | None = None,
            protocol: int | None = None,
            mh_types: list[int] = ...,
        ) -> None: ...
        def del_sa(self, spi: int, direction: str) -> None: ...
        def protect(self, packet: bytes) -> bytes | None: ...
        def unprotect(self, packet: bytes) -> bytes: ...
        def counters(self) -> dict[str, int]: ...

# ---- _core.mhfast (helper HA; rust/py/src/mhfast.rs): the HA's BU/BA fast path ----
class mhfast:
    @staticmethod
    def open_bu(
        packet: bytes,
    ) -> tuple[int, int | None, int, int, int, int | None, int | None, int, int | None] | None: ...
    @staticmethod
    def ba_packet(
        src: int,
        dst: int,
        rh2: int | None,
        status: int,
        sequence: int,
        lifetime_4s: int,
        k: bool,
        r: bool,
        refresh_advice_4s: int | None,
        ipv4_ack: tuple[int, int, int] | None,
        nat: tuple[bool, int] | None,
    ) -> bytes: ...
    @staticmethod
    def child_record(c: object, alg: int, ts_i: bytes, ts_r: bytes) -> bytes: ...
    @staticmethod
    def ntop6(octets: bytes) -> str: ...
    @staticmethod
    def canonical6(host: str) -> bytes | None: ...
    @staticmethod
    def esp_spi(packet: bytes) -> int | None: ...
    class RateTable:
        def __init__(self, slots: int, rate: float, burst: float) -> None: ...
        def admit(self, key: int, now: float) -> bool: ...
        def admit_ike(self, data: bytes, port: int, now: float) -> bool: ...
        def tokens(self) -> list[float]: ...
        def last(self) -> list[float]: ...
        def __len__(self) -> int: ...

# ---- _core.aka (helper IKE; rust/py/src/aka.rs): the FIPS 186-2 PRF of EAP-AKA (RFC 4187 §7) ----
class aka:
    @staticmethod
    def fips186_2_prf(xkey: bytes, length: int) -> bytes: ...
    @staticmethod
    def fips186_2_prf_state(xkey: bytes, length: int) -> tuple[bytes, bytes]: ...
    @staticmethod
    def sha1(data: bytes) -> bytes: ...
    @staticmethod
    def challenge_response(
        data: bytes, identifier: int, method: int, empty_checkcode: bool
    ) -> tuple[int, int, bytes] | None: ...

# ---- _core.ikefast (helper IKE; rust/py/src/ikefast.rs): IKEv2 fast paths, payload chains ----
class ikefast:
    @staticmethod
    def init_request(
        message: bytes,
    ) -> (
        tuple[bytes, int, bytes, bytes, list[bytes], list[bytes], bytes | None, bool, bool, bool]
        | None
    ): ...
    @staticmethod
    def walk(data: bytes, offset: int, first: int) -> list[tuple[int, bytes]] | None: ...
    @staticmethod
    def chain(types: bytes, bodies: list[bytes], next_after: int) -> bytes: ...
    @staticmethod
    def message(
        spis: bytes, exchange: int, flags: int, message_id: int, types: bytes, bodies: list[bytes]
    ) -> bytes: ...
    @staticmethod
    def sk_seal(
        cipher: object,
        keymat: bytes,
        salt_size: int,
        counter: int,
        head: bytes,
        inner_first: int,
        inner: bytes,
        icv_size: int,
    ) -> bytes: ...
    @staticmethod
    def sk_open(
        cipher: object, keymat: bytes, salt_size: int, message: bytes, body_start: int, iv_size: int
    ) -> bytes | None: ...
