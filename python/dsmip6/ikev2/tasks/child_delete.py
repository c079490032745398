"""Deleting child SAs with INFORMATIONAL (RFC 7296 §1.4.1).

::

    HDR, SK {D(ESP, SPI in)}  -->
    <--  HDR, SK {D(ESP, the responder's inbound SPIs of the same pairs)}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsmip6.ikev2.constants import ProtocolId
from dsmip6.ikev2.exchange import DONE, NEED_MORE, Status
from dsmip6.ikev2.message import DeletePayload, Message

if TYPE_CHECKING:
    from dsmip6.ikev2.sa import IkeSa


class ChildDelete:
    def __init__(
        self, sa: IkeSa, initiator: bool, *, spi_in: int = 0, reason: str = "deleted"
    ) -> None:
        self.sa = sa
        self.initiator = initiator
        self.spi_in = spi_in
        self.reason = reason
        self.found: list[int] = []

    def build(self, msg: Message) -> Status:
        if self.initiator:
            msg.add(DeletePayload(ProtocolId.ESP, (self.spi_in.to_bytes(4, "big"),)))
            return NEED_MORE
        if self.found:
            msg.add(DeletePayload(ProtocolId.ESP, tuple(s.to_bytes(4, "big") for s in self.found)))
        for spi in self.found:
            self.sa.remove_child(spi, "peer-deleted")
        return DONE

    def process(self, msg: Message) -> Status:
        if self.initiator:
            self.sa.remove_child(self.spi_in, self.reason)
            return DONE
        by_out = {c.spi_out: c.spi_in for c in self.sa.children.values()}
        for d in msg.get_all(DeletePayload):
            if d.protocol != ProtocolId.ESP:  # type: ignore[union-attr]
                continue
            for raw in d.spis:  # type: ignore[union-attr]
                spi_in = by_out.get(int.from_bytes(raw, "big"))
                if spi_in is not None and spi_in not in self.found:
                    self.found.append(spi_in)
        return NEED_MORE
