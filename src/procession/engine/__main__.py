"""``python -m procession.engine status DIR``: print the state of a sweeper."""

from __future__ import annotations

import sys

from ._status import main

if __name__ == "__main__":
    sys.exit(main())
