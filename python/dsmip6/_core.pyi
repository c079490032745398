# Type stubs for the native extension dsmip6._core (STYLE §4.5).
# Each submodule's section is owned by the code that implements it.

from types import ModuleType

__version__: str
build_profile: str

wire: ModuleType
dataplane: ModuleType
esp: ModuleType
