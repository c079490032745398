"""Deleting the IKE SA with INFORMATIONAL (RFC 7296 §1.4.1); children go with it.

::

    HDR, SK {D(IKE)}  -->
    <--  HDR, SK {}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsmip6.ikev2.constants import ProtocolId
from dsmip6.ikev2.exchange import DONE, NEED_MORE, Status
from dsmip6.ikev2.message import DeletePayload, Message
from dsmip6.ikev2.sa import SaState

if TYPE_CHECKING:
    from dsmip6.ikev2.sa import IkeSa


class IkeDelete:
    def __init__(self, sa: IkeSa, initiator: bool, *, reason: str = "deleted") -> None:
        self.sa = sa
        self.initiator = initiator
        self.reason = reason

    def build(self, msg: Message) -> Status:
        if self.initiator:
            self.sa.state = SaState.DELETING
            msg.add(DeletePayload(ProtocolId.IKE))
            return NEED_MORE
        self.sa.pending_death = "peer-deleted"  # after the (empty) response is sent
        return DONE

    def process(self, msg: Message) -> Status:
        if self.initiator:
            self.sa.die(0.0, reason=self.reason)
            return DONE
        return NEED_MORE
