"""``python -m procession.engine status DIR``: print a sweeper's state."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from procession import format_duration

from ._journal import StateCorrupted
from ._results import RESULTS_FILE, Results
from ._store import acquire_store, list_segments, read_sweeps_file, release_store

__all__ = ["find_sweeper_dir", "main", "sweeper_status"]


def find_sweeper_dir(directory: str) -> str | None:
    """The persistence directory in ``directory`` (itself, or its ``sweeper/``), or None."""
    for candidate in (directory, os.path.join(directory, "sweeper")):
        if os.path.isdir(candidate) and list_segments(candidate):
            return candidate
    return None


def sweeper_status(directory: str, show: int = 10) -> dict[str, Any]:
    """The state of the sweeper persisted in ``directory``, as a JSON-able dict.

    Reads under the sweeper's locks (a consistent state) and writes nothing
    but the removal of a torn last record.

    Raises:
        FileNotFoundError: no sweeper state there.
        StateCorrupted: a damaged state file.
    """
    found = find_sweeper_dir(directory)
    if found is None:
        raise FileNotFoundError(f"no sweeper state (journal-*.log) in {directory} or its sweeper/")
    try:
        sweeps: list[Any] | None = read_sweeps_file(found)
    except FileNotFoundError:
        sweeps = None
    store = acquire_store(found, create=False)
    try:
        with store.transaction():
            now = time.time()
            done = set(store.done)
            marks = dict(store.marks)
            expiry = dict(store.expiry)
            expired = set(store.expired)
            segment = list_segments(found)
    finally:
        release_store(store)
    owners: dict[str, dict[str, Any]] = {}
    for element, owner in marks.items():
        info = owners.setdefault(owner, {"count": 0, "lease_left": None, "expired": False})
        info["count"] += 1
        exp = expiry.get(owner, math.inf)
        if exp != math.inf:
            info["lease_left"] = exp - now
        info["expired"] = owner in expired
        if info["count"] <= show:
            info.setdefault("examples", []).append(repr(element))
    result: dict[str, Any] = {
        "directory": found,
        "total": None,
        "done": len(done),
        "inprogress": sum(1 for o in marks.values() if o not in expired),
        "expired": sum(1 for o in marks.values() if o in expired),
        "remaining": None,
        "owners": owners,
        "segments": segment,
    }
    if sweeps is not None:
        known = set(sweeps)
        result["total"] = len(known)
        result["done"] = len(known & done)
        active = {e for e, o in marks.items() if o not in expired}
        result["inprogress"] = len(known & active)
        todo = [e for e in sweeps if e not in done and e not in active]
        result["remaining"] = len(todo)
        result["next"] = [repr(e) for e in todo[:show]]
    results_path = os.path.join(found, RESULTS_FILE)
    if os.path.exists(results_path):
        result["results"] = len(Results(results_path).records())
    return result


def _print(status: dict[str, Any], out: TextIO) -> None:
    total = status["total"]
    print(f"sweeper {status['directory']}", file=out)
    share = ""
    if total is None:
        print("  (no saved sweeps: totals unknown; use save_sweeps=True)", file=out)
    else:
        share = f"  ({100.0 * status['done'] / total if total else 100.0:.1f}%)"
        print(f"  total        {total}", file=out)
    print(f"  done         {status['done']}{share}", file=out)
    print(f"  in progress  {status['inprogress']}", file=out)
    if status["expired"]:
        print(f"  expired      {status['expired']}  (lease ended: todo again)", file=out)
    if status["remaining"] is not None:
        print(f"  remaining    {status['remaining']}", file=out)
    if "results" in status:
        print(f"  results      {status['results']} record(s) in {RESULTS_FILE}", file=out)
    for owner, info in status["owners"].items():
        left = info["lease_left"]
        if info["expired"]:
            lease = "lease expired"
        elif left is None:
            lease = "no lease"
        else:
            lease = f"lease ends in {format_duration(max(left, 0.0))}"
        print(f"  in progress by {owner}: {info['count']} ({lease})", file=out)
        for example in info.get("examples", []):
            print(f"    {example}", file=out)
    if status.get("next"):
        print("  next todo:", file=out)
        for example in status["next"]:
            print(f"    {example}", file=out)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of ``python -m procession.engine``; returns the exit code."""
    out = sys.stdout if out is None else out
    parser = argparse.ArgumentParser(
        prog="python -m procession.engine", description="Inspect procession engine runs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    status_parser = sub.add_parser(
        "status", help="print the state of a sweeper (a persistence or engine result directory)"
    )
    status_parser.add_argument("directory")
    status_parser.add_argument("--json", action="store_true", help="print JSON")
    status_parser.add_argument("--show", type=int, default=10, help="examples listed (default 10)")
    args = parser.parse_args(argv)
    try:
        status = sweeper_status(args.directory, show=args.show)
    except (FileNotFoundError, StateCorrupted) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, FileNotFoundError) else 3
    if args.json:
        json.dump(status, out, indent=2)
        out.write("\n")
    else:
        _print(status, out)
    return 0
