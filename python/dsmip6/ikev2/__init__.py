"""Sans-I/O IKEv2 (RFC 7296) for DSMIPv6 bootstrapping (RFC 4877, RFC 5026): contract D.

UE: :class:`IkeInitiator` with :class:`InitiatorConfig`; HA: :class:`IkeResponder` with
:class:`ResponderConfig`. Events in :mod:`dsmip6.ikev2.events`.
"""

from dsmip6.ikev2.child import ChildSa
from dsmip6.ikev2.config import (
    Assignment,
    ChildProposal,
    IkeProposal,
    InitiatorConfig,
    ResponderConfig,
    parse_child_proposal,
    parse_ike_proposal,
)
from dsmip6.ikev2.events import (
    ChildSaDeleted,
    ChildSaEstablished,
    ChildSaFailed,
    IkeAuthFailed,
    IkeEvent,
    IkeSaDeleted,
    IkeSaEstablished,
    IkeSaRekeyed,
    Redirected,
)
from dsmip6.ikev2.initiator import IkeInitiator
from dsmip6.ikev2.message import TrafficSelector
from dsmip6.ikev2.responder import IkeResponder

__all__ = [
    "IkeInitiator",
    "IkeResponder",
    "InitiatorConfig",
    "ResponderConfig",
    "Assignment",
    "IkeProposal",
    "ChildProposal",
    "parse_ike_proposal",
    "parse_child_proposal",
    "TrafficSelector",
    "ChildSa",
    "IkeEvent",
    "IkeSaEstablished",
    "ChildSaEstablished",
    "ChildSaDeleted",
    "ChildSaFailed",
    "IkeSaDeleted",
    "IkeAuthFailed",
    "IkeSaRekeyed",
    "Redirected",
]
