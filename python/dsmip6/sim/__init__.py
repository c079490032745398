"""Deterministic simulation harness for the DSMIPv6 procedures.

* :class:`~dsmip6.sim.net.VirtualClock` and :class:`~dsmip6.sim.net.VirtualNetwork`: a
  discrete-event network of sans-I/O nodes that delays, drops, duplicates and reorders
  datagrams (seeded), with :class:`~dsmip6.sim.net.NatBox` rewriting IPv4 source
  addresses/ports;
* :class:`~dsmip6.sim.servers.DnsServer` and :class:`~dsmip6.sim.servers.Dhcpv6Server`:
  servers that answer real DNS (dnspython) and DHCPv6 (RFC 6610) bytes;
* :mod:`dsmip6.sim.scenario`: N UEs through attach → handovers → detach against one HA
  (``dsmip6 sim``).

The harness may use a seeded PRNG and a CPU clock for its statistics; the machines it drives
never do.
"""

from dsmip6.sim.net import NatBox, VirtualClock, VirtualNetwork
from dsmip6.sim.servers import Dhcpv6Server, DnsServer

__all__ = ["VirtualClock", "VirtualNetwork", "NatBox", "DnsServer", "Dhcpv6Server"]
