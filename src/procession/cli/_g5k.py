"""``procession g5k ...``: Grid'5000 commands (``funk``)."""

from __future__ import annotations

import argparse
from typing import Any

from procession.g5k import funk

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Register the ``g5k`` group and its ``funk`` command."""
    p = sub.add_parser("g5k", help="Grid'5000 tools (funk: find free resources)")
    g5k_sub = p.add_subparsers(dest="g5k_command", required=True, metavar="COMMAND")
    f = g5k_sub.add_parser(
        "funk",
        help="find a slot with free resources on Grid'5000, and reserve it",
        description=funk.build_parser().description,
        epilog=funk.build_parser().epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    funk.add_arguments(f)
    f.set_defaults(func=cmd_funk)


def cmd_funk(args: argparse.Namespace) -> int:
    """Run funk; it prints its own errors and returns its exit status."""
    return funk.run(args, prog="procession g5k funk")
