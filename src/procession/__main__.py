"""``python -m procession``: the command-line tool."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``procession`` command (the CLI issue fills it in)."""
    args = sys.argv[1:] if argv is None else argv
    if args in ([], ["-h"], ["--help"]):
        print("usage: procession {run,put,get,...} -- the command line is not built yet")
        return 0
    print(f"procession: unknown command {args[0]!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
