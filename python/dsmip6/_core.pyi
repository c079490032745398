# Type stubs for the native extension dsmip6._core (STYLE §4.5).
# Each submodule's section is owned by the code that implements it.

from types import ModuleType

__version__: str
build_profile: str

wire: ModuleType
dataplane: ModuleType
esp: ModuleType

# ---- _core.esp and _core.dataplane (dataplane helper) ----
# Declared as classes below for type checkers; at run time they live in the submodules
# dsmip6._core.esp / dsmip6._core.dataplane and are re-exported by dsmip6.esp / dsmip6.dataplane.
from collections.abc import Iterator
from typing import Any

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
        def __init__(self) -> None: ...
        def add(self, binding: Any) -> None: ...
        def update(self, binding: Any) -> None: ...
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
