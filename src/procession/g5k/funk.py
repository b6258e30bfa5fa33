"""funk: Find yoUr Nodes on g5K.

The command-line tool of Execo's planning (L. Pouilloux and M. Imbert's
``funk``): compute the planning of some Grid'5000 elements, find a slot in
one of three modes, print the ``oarsub`` commands that would reserve it,
and submit them when asked. Run it as ``funk ...``, ``procession g5k funk
...`` or ``python -m procession.g5k.funk ...``::

    funk -m date -r grenoble,nova                   # free hosts, first slot
    funk -m free -w 2:00:00 -r grenoble:10,nova:4   # first slot with 10 + 4 hosts
    funk -m max -w 10:00:00 -r lyon,dahu -c         # most hosts, outside day periods
    funk -r dahu:2 -w 1:00:00 --submit              # and reserve it

Exit status: 0 when a slot was found (and submitted, when asked), 1 when
no slot fits or a submission failed, 2 for a usage error.

Differences from Execo's funk: ``--json`` prints the result to standard
output (``--json-file`` writes it to a file); one OAR job per site is
submitted with :func:`~procession.g5k.oarsub` (no oargridsub); a count in
``-r`` without ``-m`` selects the ``free`` mode instead of asking;
``--submit`` submits without asking, as ``-y`` does.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from procession import format_date, format_duration, get_seconds, get_unixts, logger

from .config import g5k_configuration
from .oar import OarSubmission, get_oarsub_commandline, submit_all_or_nothing
from .planning import (
    compute_slots,
    distribute_hosts,
    draw_gantt,
    draw_slots,
    find_first_slot,
    find_free_slot,
    find_max_slot,
    get_jobs_specs,
    get_planning,
    resources_table,
)

__all__ = [
    "add_arguments",
    "build_parser",
    "feature_blacklist",
    "main",
    "parse_resources",
    "parse_walltime",
    "run",
]

MODES = ("date", "free", "max")
"""funk's search modes: first slot, first slot with enough hosts, most hosts."""
_ELEMENT_RE = re.compile(r"^[A-Za-z][\w.-]*$")
_SEARCHES = {"date": find_first_slot, "free": find_free_slot, "max": find_max_slot}


def parse_resources(text: str) -> dict[str, int]:
    """Parse ``-r``: ``"grenoble:10,nova:4"`` or ``"grenoble,nova"``.

    Returns:
        ``{element: hosts}``, 0 where no count was given.

    Raises:
        argparse.ArgumentTypeError: a malformed item, named in the message.
    """
    wanted: dict[str, int] = {}
    for item in text.split(","):
        element, sep, count = item.strip().partition(":")
        if not _ELEMENT_RE.match(element) or (sep and not count.isdigit()):
            raise argparse.ArgumentTypeError(
                f"malformed resource {item.strip()!r} in {text!r}: expected ELEMENT or "
                "ELEMENT:HOSTS separated by commas (ELEMENT is grid5000, a site or a "
                "cluster, HOSTS a whole number), e.g. 'grenoble:10,nova:4'"
            )
        if element in wanted:
            raise argparse.ArgumentTypeError(f"resource {element!r} given twice in {text!r}")
        wanted[element] = int(count) if sep else 0
    return wanted


def parse_walltime(text: str) -> int:
    """Parse ``-w``: an OAR walltime (``"2:00:00"``, ``"1:30"``, ``"90"`` s, ``"2h"``).

    Raises:
        argparse.ArgumentTypeError: not a positive duration.
    """
    try:
        seconds = get_seconds(text)
    except ValueError:
        seconds = None
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"malformed walltime {text!r}: expected H:MM:SS (OAR's format, e.g. 2:00:00), "
            "H:MM, seconds or 1h30m"
        )
    return int(seconds)


def _date(text: str) -> int:
    try:
        value = get_unixts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value is None:
        raise argparse.ArgumentTypeError(f"malformed date {text!r}")
    return int(value)


def _elements(text: str) -> list[str]:
    return [e.strip() for e in text.split(",") if e.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add funk's options to ``parser`` (the ``funk`` and ``procession g5k
    funk`` commands share them)."""
    io = parser.add_argument_group("general options")
    io.add_argument(
        "-m", "--mode", choices=MODES, help="date, free or max (default: free when -r gives "
        "host counts, else date)",
    )  # fmt: skip
    io.add_argument("-y", "--yes", action="store_true", help="submit the jobs without asking")
    io.add_argument("--submit", action="store_true", help="submit the jobs (same as -y)")
    verbosity = io.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    verbosity.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    io.add_argument("-p", "--program", help="the command the jobs run (default: sleep)")
    io.add_argument(
        "--plots", action="store_true", help="draw funk_gantt.png and funk_slots.png (matplotlib)"
    )
    io.add_argument("--json", action="store_true", help="print the result as JSON")
    io.add_argument(
        "--api-uri", metavar="URI",
        help="the Grid'5000 API to ask (default: g5k_configuration['api_uri'])",
    )  # fmt: skip
    io.add_argument("--json-file", type=Path, help="write the result as JSON to this file")
    res = parser.add_argument_group("reservation")
    res.add_argument(
        "-r", "--resources", type=parse_resources, default={"grid5000": 0},
        metavar="ELEMENT[:HOSTS],...",
        help="grid5000, sites and clusters, with host counts for the free mode, e.g. "
        "grenoble:10,nova:4 (default: grid5000)",
    )  # fmt: skip
    res.add_argument(
        "-b", "--blacklist", type=_elements, default=[], metavar="ELEMENT,...",
        help="sites, clusters or hosts not to use",
    )  # fmt: skip
    res.add_argument("-R", "--ratio", type=float, help="use only this fraction of the hosts found")
    res.add_argument(
        "-o", "--submission-opts", "--submission_opts", dest="submission_opts", default="",
        help="more oarsub options, e.g. '-t deploy'",
    )  # fmt: skip
    res.add_argument("-k", "--kavlan", action="store_true", help="ask for a KaVLAN too")
    res.add_argument(
        "-n", "--subnet", help="ask for subnets: slash_22=1 on every site, or "
        "SITE:slash_22=1,SITE2:slash_18=1",
    )  # fmt: skip
    res.add_argument(
        "-j", "--job-name", "--job_name", dest="job_name", default="FUNK",
        help="the jobs' name (default: FUNK)",
    )  # fmt: skip
    res.add_argument("--queue", default="default", help="the OAR queue (default: default)")
    res.add_argument(
        "--virtual", action="store_true", help="only clusters with hardware virtualization"
    )
    res.add_argument(
        "--infiniband", action="store_true",
        help="only clusters with InfiniBand or Myrinet interfaces",
    )  # fmt: skip
    res.add_argument("--green", action="store_true", help="only clusters with power measurements")
    when = parser.add_argument_group("time")
    when.add_argument(
        "-w", "--walltime", type=parse_walltime, default=3600, metavar="H:MM:SS",
        help="the jobs' walltime (default: 1:00:00)",
    )  # fmt: skip
    when.add_argument(
        "-s", "--startdate", "--start", dest="startdate", type=_date, metavar="DATE",
        help="search from this date, 'YYYY-MM-DD HH:MM:SS' (default: in a minute)",
    )  # fmt: skip
    when.add_argument(
        "-e", "--enddate", "--end", dest="enddate", type=_date, metavar="DATE",
        help="search until this date (default: three weeks after the start)",
    )  # fmt: skip
    when.add_argument(
        "-c", "--charter", action="store_true",
        help="avoid the usage policy's day periods (09:00-19:00 on working days)",
    )  # fmt: skip


def build_parser(prog: str = "funk") -> argparse.ArgumentParser:
    """The argument parser of the ``funk`` command."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Find free resources on Grid'5000, in three modes: date = the free "
        "hosts in the first slot; free = the first slot with enough hosts for every "
        "element; max = the slot with the most hosts. Prints the oarsub commands, and "
        "submits them with -y/--submit.",
        epilog="examples:\n  funk -m date -r grenoble,nova\n"
        "  funk -m free -w 2:00:00 -r grenoble:10,nova:4 -o '-t deploy' -k\n"
        "  funk -m max -w 10:00:00 -r lyon,dahu -c",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def _error(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def _choose_mode(args: argparse.Namespace) -> str | None:
    counts = any(n for e, n in args.resources.items())
    mode: str | None = args.mode or ("free" if counts else "date")
    if mode == "free" and not counts:
        return None
    return mode


_FAST_NETWORKS = ("InfiniBand", "Myrinet")


def feature_blacklist(virtual: bool, infiniband: bool, green: bool) -> list[str]:
    """The clusters lacking a wanted feature (read on each cluster's first
    host, as Execo's funk does): hardware virtualization, an InfiniBand or
    Myrinet interface, power measurements."""
    if not (virtual or infiniband or green):
        return []
    api = importlib.import_module("procession.g5k.api_utils")
    excluded = []
    for cluster in api.get_g5k_clusters(queues=None):
        attrs = api.get_host_attributes(api.get_cluster_hosts(cluster)[0])
        adapters = attrs.get("network_adapters") or []
        power = (attrs.get("sensors") or {}).get("power") or {}
        if (
            (virtual and not (attrs.get("supported_job_types") or {}).get("virtual"))
            or (infiniband and not any(a.get("interface") in _FAST_NETWORKS for a in adapters))
            or (green and not power.get("available"))
        ):
            excluded.append(cluster)
    return excluded


def _subnets(spec: str | None, sites: Sequence[str]) -> dict[str, str]:
    if not spec:
        return {}
    if ":" not in spec:
        return dict.fromkeys(sites, spec)
    return dict(item.split(":", 1) for item in spec.split(","))


def _jobs(args: argparse.Namespace, slot: Sequence[Any], resources: dict[str, Any]) -> list[Any]:
    specs = get_jobs_specs(resources, excluded_elements=args.blacklist, name=args.job_name)
    subnets = _subnets(args.subnet, [site for _, site in specs])
    jobs = []
    for sub, site in specs:
        res = sub.resources if isinstance(sub.resources, str) else "+".join(sub.resources or [])
        if site in subnets:
            res = f"{subnets[site]}+{res}"
        jobs.append(
            (
                dataclasses.replace(
                    sub,
                    resources=res,
                    walltime=args.walltime,
                    reservation_date=int(slot[0]),
                    queue=None if args.queue == "default" else args.queue,
                    additional_options=args.submission_opts or None,
                    command=args.program,
                ),
                site,
            )
        )
    return jobs


def _ask(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run(args: argparse.Namespace, prog: str = "funk") -> int:
    """Run funk with parsed arguments (from :func:`build_parser`); the exit status."""
    logger.setLevel(
        "ERROR" if args.quiet or args.json else ("DEBUG" if args.verbose > 1 else "INFO")
    )
    if args.api_uri:
        g5k_configuration["api_uri"] = args.api_uri
    mode = _choose_mode(args)
    if mode is None:
        return _error(prog, "the free mode needs host counts: -r ELEMENT:HOSTS,...")
    start = args.startdate or int(time.time() + 60)
    end = args.enddate or start + 3 * 7 * 24 * 3600
    if end <= start + args.walltime:
        return _error(prog, "the end date must be more than a walltime after the start date")
    args.blacklist = sorted(
        {*args.blacklist, *feature_blacklist(args.virtual, args.infiniband, args.green)}
    )
    wanted = dict(args.resources)
    if args.kavlan:
        wanted["kavlan"] = 1
    try:
        planning = get_planning(
            elements=[e for e in wanted if e != "kavlan"],
            vlan=args.kavlan,
            out_of_chart=args.charter,
            starttime=start,
            endtime=end,
            queues=args.queue,
        )
    except ValueError as exc:
        return _error(prog, str(exc))
    slots = compute_slots(planning, args.walltime, excluded_elements=args.blacklist)
    found = _SEARCHES[mode](slots, wanted)
    slot = None if found[0] is None else list(found)
    if args.plots:
        draw_gantt(planning, outfile="funk_gantt.png", slots=[slot] if slot else None)
        if slots:
            draw_slots(slots, outfile="funk_slots.png")
    result: dict[str, Any] = {
        "mode": mode,
        "walltime": format_duration(args.walltime),
        "resources_wanted": wanted,
        "search_start": start,
        "search_end": end,
        "slots": [list(s) for s in slots[:10]],
    }
    if slot is None:
        _report(args, result, "no slot has the resources wanted between "
                f"{format_date(start)} and {format_date(end)}")  # fmt: skip
        return 1
    resources = distribute_hosts(slot[2], wanted, args.blacklist, args.ratio)
    jobs = _jobs(args, slot, resources)
    result |= {
        "start": int(slot[0]),
        "end": int(slot[0]) + args.walltime,
        "resources_available": slot[2],
        "resources": resources,
        "jobs": [{"site": site, "oarsub": get_oarsub_commandline(sub)} for sub, site in jobs],
    }
    submit = args.yes or args.submit
    interactive = not (submit or args.json or args.quiet) and sys.stdin.isatty()
    if interactive:
        _report(args, result, None)
        submit = _ask("Do you want to do the reservation (y/[N]): ")
    status = _submit(jobs, result) if submit else 0
    if not interactive:
        _report(args, result, None)
    elif submit:
        print("\n".join(_submitted_lines(result)), flush=True)
    return status


def _submit(jobs: list[tuple[OarSubmission, str]], result: dict[str, Any]) -> int:
    # All or nothing, as one grid reservation: the sites that did take a
    # job would otherwise hold nodes nobody uses.
    submitted, taken = submit_all_or_nothing(jobs, what="funk")
    result["submitted"] = [{"site": site, "job_id": job_id} for job_id, site in submitted]
    if not taken:
        for entry in result["submitted"]:
            if entry["job_id"] is not None:
                entry["deleted"] = True
    return 0 if taken else 1


def _report(args: argparse.Namespace, result: dict[str, Any], failure: str | None) -> None:
    if args.json_file:
        args.json_file.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    if failure:
        print(f"funk: {failure}", file=sys.stderr)
        return
    if args.quiet and "submitted" not in result:
        return
    lines = [
        f"mode {result['mode']}, walltime {result['walltime']}",
        f"slot: {format_date(result['start'])} -> {format_date(result['end'])}",
        resources_table(result["resources_available"], "resources available:"),
        resources_table(result["resources"], "resources selected:"),
        "oarsub commands:",
        *(f"  {job['site']}: {job['oarsub']}" for job in result["jobs"]),
        *_submitted_lines(result),
    ]
    print("\n".join(lines), flush=True)


def _submitted_lines(result: dict[str, Any]) -> list[str]:
    return [
        f"submitted on {s['site']}: job {s['job_id']}"
        + (" (deleted: another site's submission failed)" if s.get("deleted") else "")
        if s["job_id"] is not None
        else f"submission on {s['site']} FAILED (see the log)"
        for s in result.get("submitted", [])
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``funk`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("funk: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
