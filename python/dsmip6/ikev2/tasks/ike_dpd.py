"""Liveness check: an empty INFORMATIONAL (RFC 7296 §2.4). Also how the UE makes the HA learn
its NAT-mapped address after a K=1 handover (RFC 5555 §5.1).

::

    HDR, SK {}  -->
    <--  HDR, SK {}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsmip6.ikev2.exchange import DONE, NEED_MORE, Status
from dsmip6.ikev2.message import Message

if TYPE_CHECKING:
    from dsmip6.ikev2.sa import IkeSa


class IkeDpd:
    def __init__(self, sa: IkeSa, initiator: bool) -> None:
        self.sa = sa
        self.initiator = initiator

    def build(self, msg: Message) -> Status:
        return NEED_MORE if self.initiator else DONE

    def process(self, msg: Message) -> Status:
        return DONE if self.initiator else NEED_MORE
