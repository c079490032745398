"""Helpers for the wire oracle tests: run tshark on packets and flatten its JSON.

tshark is an independent decoder (Wireshark's dissectors); it must be installed (``make test``
installs it) and a missing tshark is a test failure, never a skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from dsmip6 import _pcap


def tshark_path() -> str:
    path = shutil.which("tshark")
    assert path is not None, "tshark is required for the oracle tests (apt-get install tshark)"
    return path


def _flatten(node: object, out: dict[str, list[str]]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict):
                _flatten(v, out)
            elif isinstance(v, list):
                for item in v:
                    if isinstance(item, dict):
                        _flatten(item, out)
                    else:
                        out.setdefault(k, []).append(str(item))
            else:
                out.setdefault(k, []).append(str(v))


def tshark_fields(packets: list[bytes]) -> list[dict[str, list[str]]]:
    """Decode raw IP ``packets`` with tshark; one ``field name -> [values]`` dict per packet
    (values in the order tshark shows them, nested trees flattened)."""
    with tempfile.TemporaryDirectory() as d:
        pcap = Path(d) / "oracle.pcap"
        _pcap.write_pcap(str(pcap), packets, _pcap.LINKTYPE_RAW)
        return tshark_file(str(pcap))


def tshark_file(path: str) -> list[dict[str, list[str]]]:
    proc = subprocess.run(
        [
            tshark_path(),
            "-r",
            path,
            "-d",
            "udp.port==4191,ip",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "json",
            "--no-duplicate-keys",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = []
    for pkt in json.loads(proc.stdout):
        flat: dict[str, list[str]] = {}
        _flatten(pkt["_source"]["layers"], flat)
        result.append(flat)
    return result


def flag(v: bool) -> str:
    """tshark's JSON spelling of a one-bit flag."""
    return "1" if v else "0"
