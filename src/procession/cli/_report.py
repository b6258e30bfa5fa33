"""``procession report``, ``timeline`` and ``sweep status``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import procession
from procession.engine._status import main as engine_main

from ._common import UsageError

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Register report, timeline and sweep."""
    p = sub.add_parser(
        "report",
        help="summarize an event log",
        description="Read an event log (written with --event-log or EventLog) and print "
        "the counts of processes started, ended, ok, failed, and the failures.",
        epilog="example:\n  procession run -H 'n[1-9]' --event-log run.jsonl -- uptime\n"
        "  procession report run.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("event_log", type=Path)
    p.add_argument("--json", action="store_true", help="the last state of every process as JSON")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "timeline",
        help="draw the timeline of an event log",
        description="One bar per process, coloured by outcome, saved as PNG or SVG "
        "(needs matplotlib: pip install 'procession[plot]').",
        epilog="example:\n  procession timeline run.jsonl run.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("event_log", type=Path)
    p.add_argument("output", type=Path, help="the picture file (.png or .svg)")
    p.add_argument("--title")
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser("sweep", help="parameter sweeps (procession.engine)")
    sweep_sub = p.add_subparsers(dest="sweep_command", required=True, metavar="COMMAND")
    s = sweep_sub.add_parser("status", help="print the state of a ParamSweeper directory")
    s.add_argument("directory", type=Path)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sweep_status)


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"event log {path} does not exist")
    try:
        return procession.read_event_log(path)
    except ValueError as exc:
        raise UsageError(f"{path} is not a procession event log: {exc}") from exc


def cmd_report(args: argparse.Namespace) -> int:
    """Counts and failures from the last event of each process."""
    last: dict[Any, dict[str, Any]] = {}
    for event in _events(args.event_log):
        last[event.get("id")] = event
    states = list(last.values())
    if args.json:
        print(json.dumps(states, indent=2, default=str))
        return 0
    ended = [e for e in states if e.get("event") == "ended"]
    failed = [e for e in ended if not e.get("ok")]
    print(
        f"processes: {len(states)}  ended: {len(ended)}  ok: {len(ended) - len(failed)}  "
        f"failed: {len(failed)}  still running: {len(states) - len(ended)}"
    )
    for e in failed:
        where = e.get("host") or e.get("name")
        why = e.get("error_reason") or (
            f"killed by signal {e['exit_signal']}"
            if e.get("exit_signal")
            else f"exit code {e.get('exit_code')}"
        )
        print(f"  {where}: {why}")
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    """Write the timeline picture."""
    if args.output.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"{args.output}: the picture must end in .png or .svg")
    events = _events(args.event_log)
    try:
        path = procession.plot_timeline(events, args.output, title=args.title)
    except ImportError as exc:
        raise UsageError(str(exc)) from exc
    print(f"wrote {path}")
    return 0


def cmd_sweep_status(args: argparse.Namespace) -> int:
    """Delegate to ``python -m procession.engine status``."""
    argv = ["status", str(args.directory)] + (["--json"] if args.json else [])
    return int(engine_main(argv) or 0)
