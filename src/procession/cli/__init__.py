"""Layer 6, the ``procession`` command line: parse, call the library, print.

Uses only the public API. Exit status: 0 when everything succeeded, 1 when
some host or process failed, 2 for a usage or configuration error, 130 on
Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

import procession

from . import _g5k, _report, _run
from ._common import UsageError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``procession`` command."""
    parser = argparse.ArgumentParser(
        prog="procession",
        description="Run commands and copy files on many hosts, and read the logs of runs.",
        epilog="Run 'procession COMMAND --help' for a command's options and examples. "
        "A local testbed for trying it: python -m procession.testbed up",
    )
    parser.add_argument(
        "--version", action="version", version=f"procession {procession.__version__}"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-v info, -vv debug)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run.add_parsers(sub)
    _report.add_parsers(sub)
    _g5k.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``procession`` command and ``python -m procession``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        procession.logger.setLevel("DEBUG" if args.verbose > 1 else "INFO")
    else:
        procession.logger.setLevel("ERROR")
    try:
        return int(args.func(args))
    except UsageError as exc:
        parser.exit(2, f"procession {args.command}: error: {exc}\n")
    except procession.ConfigurationError as exc:
        parser.exit(2, f"procession {args.command}: configuration error: {exc}\n")
    except KeyboardInterrupt:
        print("procession: interrupted", file=sys.stderr)
        return 130
