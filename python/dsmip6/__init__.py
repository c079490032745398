"""dsmip6: Dual-Stack Mobile IPv6 (3GPP TS 24.303, S2c) for the UE and the Home Agent.

Public modules: ``dsmip6.wire`` (packet codec), ``dsmip6.errors``; further modules are
added as the data plane and the control plane land. Users never import ``dsmip6._core``.
"""

from __future__ import annotations

from dsmip6 import errors
from dsmip6._core import __version__, build_profile

__all__ = ["__version__", "build_profile", "errors"]
