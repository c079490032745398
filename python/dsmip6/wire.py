"""DSMIPv6 wire codec: typed, frozen message/option/layer classes backed by Rust.

Addresses are ``str`` (``ipaddress`` objects are accepted as input). Every class has
``to_dict()`` with the RFC field names in snake_case; messages also have ``mh_type`` and
``to_bytes(src, dst)`` (the Mobility Header alone, checksum over the pseudo-header ``src`` ->
``dst``: pass the home address and the home agent address, RFC 6275 §6.1.1).

* :func:`build` lays out a list of layers, filling next-header fields, lengths, padding and
  checksums (the MH checksum uses the HAO address as source and the RH2 address as
  destination).
* :func:`parse` validates a whole IPv6 or IPv4 packet (lengths, alignment, reserved bits, IPv4,
  UDP and MH checksums) and returns a :class:`Packet` whose ``layers`` are built on first access.
  UDP port 4191 payloads (RFC 5555) are decoded as inner packets, port 4500 as ESP (RFC 3948).
* :func:`parse_batch` parses a list of packets in one call.
* :func:`parse_mobility_header` parses a Mobility Header alone.

Invalid input raises :class:`dsmip6.errors.MalformedPacket` (``offset``, ``reason``); a Mobility
Header whose checksum does not verify raises its subclass :class:`dsmip6.errors.BadChecksum`.
Constructors raise ``ValueError``/``TypeError``/``OverflowError`` for out-of-range arguments.
"""

from __future__ import annotations

from dsmip6._core import wire as _w

__all__ = [
    # messages
    "BindingUpdate",
    "BindingAcknowledgement",
    "BindingError",
    "BindingRefreshRequest",
    "HomeAgentSwitch",
    "BindingRevocationIndication",
    "BindingRevocationAcknowledgement",
    "UnknownMobilityMessage",
    # mobility options
    "Pad1",
    "PadN",
    "BindingRefreshAdvice",
    "AlternateCareOfAddress",
    "NonceIndices",
    "BindingAuthorizationData",
    "MobileNodeIdentifier",
    "Ipv4HomeAddress",
    "Ipv4AddressAcknowledgement",
    "NatDetection",
    "Ipv4CareOfAddress",
    "BindingIdentifier",
    "FlowSummary",
    "FlowIdentification",
    "UnknownOption",
    # layers
    "Ipv6Header",
    "DestinationOptions",
    "HomeAddressOption",
    "RoutingHeaderType2",
    "Ipv4Header",
    "UdpHeader",
    "Esp",
    "Raw",
    "Packet",
    # functions
    "build",
    "parse",
    "parse_batch",
    "parse_mobility_header",
    "layer_dict",
    "MESSAGE_TYPES",
    "DSMIPV6_UDP_PORT",
]

BindingUpdate = _w.BindingUpdate
BindingAcknowledgement = _w.BindingAcknowledgement
BindingError = _w.BindingError
BindingRefreshRequest = _w.BindingRefreshRequest
HomeAgentSwitch = _w.HomeAgentSwitch
BindingRevocationIndication = _w.BindingRevocationIndication
BindingRevocationAcknowledgement = _w.BindingRevocationAcknowledgement
UnknownMobilityMessage = _w.UnknownMobilityMessage

Pad1 = _w.Pad1
PadN = _w.PadN
BindingRefreshAdvice = _w.BindingRefreshAdvice
AlternateCareOfAddress = _w.AlternateCareOfAddress
NonceIndices = _w.NonceIndices
BindingAuthorizationData = _w.BindingAuthorizationData
MobileNodeIdentifier = _w.MobileNodeIdentifier
Ipv4HomeAddress = _w.Ipv4HomeAddress
Ipv4AddressAcknowledgement = _w.Ipv4AddressAcknowledgement
NatDetection = _w.NatDetection
Ipv4CareOfAddress = _w.Ipv4CareOfAddress
BindingIdentifier = _w.BindingIdentifier
FlowSummary = _w.FlowSummary
FlowIdentification = _w.FlowIdentification
UnknownOption = _w.UnknownOption

Ipv6Header = _w.Ipv6Header
DestinationOptions = _w.DestinationOptions
HomeAddressOption = _w.HomeAddressOption
RoutingHeaderType2 = _w.RoutingHeaderType2
Ipv4Header = _w.Ipv4Header
UdpHeader = _w.UdpHeader
Esp = _w.Esp
Raw = _w.Raw
Packet = _w.Packet

build = _w.build
parse = _w.parse
parse_batch = _w.parse_batch
parse_mobility_header = _w.parse_mobility_header
layer_dict = _w.layer_dict

#: MH Type -> message class (RFC 6275 §6.1, RFC 5142, RFC 5846).
MESSAGE_TYPES: dict[int, type] = {
    0: BindingRefreshRequest,
    5: BindingUpdate,
    6: BindingAcknowledgement,
    7: BindingError,
    12: HomeAgentSwitch,
}

#: RFC 5555 §2.3.2.2: the UDP port for DSMIPv6 encapsulation.
DSMIPV6_UDP_PORT = 4191
