"""``python -m procession``: the command line (see :mod:`procession.cli`)."""

from __future__ import annotations

import sys

from procession.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
