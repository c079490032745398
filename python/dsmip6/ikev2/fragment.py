"""IKE message fragmentation (RFC 7383).

Once both sides sent FRAGMENTATION_SUPPORTED in IKE_SA_INIT, an encrypted message larger than
the configured size is sent as several messages with the same Message ID, each carrying one
Encrypted Fragment payload::

    SKF: Next Payload (first fragment: first inner payload, else 0) | C | Length |
         Fragment Number(2) | Total Fragments(2) | IV | E(chunk ‖ padding ‖ pad length) | ICV

Each fragment is protected on its own (associated data / MAC cover the IKE header and the SKF
header through Total Fragments). The receiver verifies each fragment, keeps the chunks and
decodes the inner chain once all are present (§2.6).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from dsmip6.errors import MalformedPacket
from dsmip6.ikev2.constants import IKE_HEADER_LEN, PayloadType
from dsmip6.ikev2.message import IkeHeader, Message, RawSk, decode_chain, encode_chain

if TYPE_CHECKING:
    from dsmip6.ikev2.sk import SkCrypto

MAX_FRAGMENTS = 32
"""Messages announcing more fragments are dropped (bounds reassembly memory)."""


def fragment(msg: Message, sk: SkCrypto, limit: int) -> list[bytes]:
    assert msg.encrypted is not None
    inner_first, inner = encode_chain(msg.encrypted)
    room = limit - IKE_HEADER_LEN - 8 - sk.overhead
    if room < 64:
        raise ValueError("fragment size too small")
    chunks = [inner[i : i + room] for i in range(0, len(inner), room)] or [b""]
    if len(chunks) > MAX_FRAGMENTS:
        raise ValueError("message too large to fragment")
    out = []
    for n, chunk in enumerate(chunks, start=1):
        head = msg.header_bytes(PayloadType.SKF, 0)
        extra = struct.pack("!HH", n, len(chunks))
        out.append(sk.seal(head, inner_first if n == 1 else 0, chunk, extra))
    return out


class Reassembly:
    """Collects the verified chunks of one fragmented message at a time."""

    def __init__(self) -> None:
        self.message_id: int | None = None
        self.response = False
        self.total = 0
        self.first = 0
        self.chunks: dict[int, bytes] = {}
        self.header: IkeHeader | None = None

    def add(self, header: IkeHeader, data: bytes, raw: RawSk, sk: SkCrypto) -> Message | None:
        """Verify one SKF fragment; return the whole message when complete, else None.

        Raises IntegrityCheckFailed / MalformedPacket for a bad fragment (drop it).
        """
        if len(raw.body) < 4:
            raise MalformedPacket("SKF payload too short", raw.offset, "truncated")
        number, total = struct.unpack_from("!HH", raw.body)
        if not 1 <= number <= total or total > MAX_FRAGMENTS:
            raise MalformedPacket("bad fragment numbering", raw.offset + 4, "bad-value")
        key = header.message_id
        if self.message_id != key or self.response != header.response:
            self.message_id, self.response = key, header.response
            self.total, self.chunks, self.first = total, {}, 0
        if total != self.total or number in self.chunks:
            return None
        chunk = sk.open(data, raw.offset, extra_len=4)
        self.chunks[number] = chunk
        if number == 1:
            self.first = raw.inner_first
            self.header = header
        if len(self.chunks) < self.total:
            return None
        inner = b"".join(self.chunks[i] for i in range(1, self.total + 1))
        first = self.first
        hdr = self.header or header
        self.message_id, self.chunks = None, {}
        payloads, _ = decode_chain(inner, first, 0, allow_sk=False)
        return Message(
            exchange=hdr.exchange,
            response=hdr.response,
            initiator=hdr.initiator,
            message_id=hdr.message_id,
            spi_i=hdr.spi_i,
            spi_r=hdr.spi_r,
            payloads=[],
            encrypted=payloads,
        )
