"""Print how the packages of a venv differ from requirements/lock.txt (make test-latest).

Usage: python scripts/compare-lock.py LOCK  (run by the venv's own python)
"""

from __future__ import annotations

import re
import sys
from importlib import metadata


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> int:
    locked: dict[str, str] = {}
    with open(sys.argv[1], encoding="utf-8") as lock:
        for line in lock:
            match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
            if match:
                locked[canonical(match[1])] = match[2]
    changed = []
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name in locked and locked[name] != dist.version:
            changed.append(f"  {name}: lock {locked[name]} -> newest {dist.version}")
        elif name not in locked and name != "procession":
            changed.append(f"  {name}: not in the lock, newest {dist.version}")
    print("\n".join(sorted(changed)) if changed else "  none: the lock is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
