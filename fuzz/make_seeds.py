"""Write the committed fuzz seeds (fuzz/seeds/<target>/) from the spec vectors and the sample
capture. Run from the repository root: .venv/bin/python fuzz/make_seeds.py"""

from __future__ import annotations

import hashlib
import ipaddress
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "data"))
import make_sample  # noqa: E402
from dsmip6 import wire  # noqa: E402

ROOT = Path(__file__).resolve().parent / "seeds"


def put(target: str, data: bytes) -> None:
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def main() -> None:
    for _, pkt in make_sample.packets():
        put("ipv6_packet" if pkt[0] >> 4 == 6 else "ipv4_packet", pkt)
        p = wire.parse(pkt)
        for layer in p.layers:
            if isinstance(layer, wire.DestinationOptions):
                off = 40
                put("destination_options", pkt[off : off + 24])
        # The Mobility Header with its pseudo-header addresses in front.
        ip6 = [x for x in p.layers if isinstance(x, wire.Ipv6Header)]
        msg = p.layers[-1]
        if ip6 and hasattr(msg, "mh_type"):
            src, dst = ip6[-1].src, ip6[-1].dst
            d = p.get(wire.DestinationOptions)
            r = p.get(wire.RoutingHeaderType2)
            src = d.home_address if d is not None and d.home_address else src
            dst = r.home_address if r is not None else dst
            mh = msg.to_bytes(src, dst)
            put(
                "mobility_header",
                ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + mh,
            )
    for payload in (b"hello\x01\x02\x02\x87", b"\x01\x02\x03\x04\x05\x06\x04\x32", b"\x00\x3b"):
        put("esp_trailer", payload)


if __name__ == "__main__":
    main()
