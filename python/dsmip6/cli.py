"""The ``dsmip6`` command line.

Each subcommand lives in its own private module (``_cli_<name>.py``) exposing
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them up, so
adding a command never touches another command's code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from dsmip6.errors import Dsmip6Error

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "decode": ("dsmip6._cli_decode", "decode DSMIPv6 packets from a pcap/pcapng file or hex"),
    "sim": ("dsmip6._cli_sim", "simulate UEs attaching, moving and detaching against one HA"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dsmip6", description="Dual-Stack Mobile IPv6 tools")
    from dsmip6 import __version__

    parser.add_argument("--version", action="version", version=f"dsmip6 {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (modname, help_text) in COMMANDS.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                raise
            continue  # command not built yet
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except Dsmip6Error as exc:
        print(f"dsmip6 {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
