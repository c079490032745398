"""``dsmip6 decode FILE.pcap|HEX [--json]``: print every packet's layers and fields.

Reads pcap and pcapng (Ethernet, raw IP, Linux cooked v1/v2, loopback) or one packet given as
hex on the command line. UDP port 4191 (RFC 5555) is decoded without being asked. A packet that
does not parse is reported with the offset and reason, and the following packets still decode.
"""

from __future__ import annotations

import argparse
import json
import os
import string
import sys
from typing import Any

from dsmip6 import _pcap, wire
from dsmip6.errors import MalformedPacket


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a pcap/pcapng file, or one IPv6/IPv4 packet as hex")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _packets(source: str) -> list[bytes | MalformedPacket]:
    """The IP packets of ``source`` (a file, or hex); a frame that cannot be unwrapped is an error
    entry in the list."""
    if os.path.isfile(source):
        with open(source, "rb") as f:
            blob = f.read()
        out: list[bytes | MalformedPacket] = []
        for frame in _pcap.read_frames(blob):
            try:
                out.append(_pcap.ip_packet(frame))
            except MalformedPacket as exc:
                out.append(exc)
        return out
    text = "".join(ch for ch in source if ch not in string.whitespace + ":")
    if text.startswith(("0x", "0X")):
        text = text[2:]
    try:
        return [bytes.fromhex(text)]
    except ValueError:
        raise MalformedPacket(
            f"{source!r} is neither a file nor hexadecimal octets", 0, "bad-argument"
        ) from None


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def decode(source: str) -> list[list[dict[str, Any]]]:
    """One entry per packet: its layers as ``{"layer": name, "fields": {...}}``, or a single
    ``{"error": message, "offset": n, "reason": word}`` when it does not parse. Octet strings
    stay ``bytes`` here (hex in the JSON output)."""
    result: list[list[dict[str, Any]]] = []
    for item in _packets(source):
        if isinstance(item, MalformedPacket):
            result.append([_error(item)])
            continue
        try:
            pkt = wire.parse(item)
        except MalformedPacket as exc:
            result.append([_error(exc)])
            continue
        result.append(pkt.layer_dicts())
    return result


def _error(exc: MalformedPacket) -> dict[str, Any]:
    return {"error": str(exc), "offset": exc.offset, "reason": exc.reason}


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, bytes):
        if v and all(32 <= c < 127 for c in v):
            return repr(v.decode("ascii"))
        return v.hex() or "''"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        name = v.get("option", "")
        inner = " ".join(f"{k}={_fmt(x)}" for k, x in v.items() if k != "option")
        return f"{name}({inner})" if name else "{" + inner + "}"
    return str(v)


def _text(packets: list[list[dict[str, Any]]], out: Any) -> None:
    for i, layers in enumerate(packets, 1):
        print(f"packet {i}", file=out)
        for layer in layers:
            if "error" in layer:
                print(f"  error: {layer['error']} ({layer['reason']})", file=out)
                continue
            fields = dict(layer["fields"])
            options = fields.pop("options", None)
            line = " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
            print(f"  {layer['layer']}: {line}".rstrip(), file=out)
            for opt in options or []:
                print(f"    {_fmt(opt)}", file=out)


def run(args: argparse.Namespace) -> int:
    packets = decode(args.source)
    if args.json:
        json.dump(_jsonable(packets), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _text(packets, sys.stdout)
    return 0
