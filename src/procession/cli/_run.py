"""``procession run``, ``put`` and ``get``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from contextlib import ExitStack
from typing import Any

import procession
from procession import (
    TAKTUK,
    Action,
    Get,
    ProcessBase,
    ProcessOutputHandler,
    Put,
    Report,
    get_remote,
)

from ._common import (
    UsageError,
    add_connection_options,
    add_host_options,
    connection_params,
    load_testbed,
    select_hosts,
)

__all__ = ["add_parsers", "cmd_run", "cmd_transfer"]

_print_lock = threading.Lock()


class _Prefixed(ProcessOutputHandler):
    """Print each line as it arrives, prefixed by its host (``pdsh`` style)."""

    def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
        out = sys.stdout if stream == 1 else sys.stderr
        with _print_lock:
            print(f"{process.host.address if process.host else process.name}: {line}", file=out)
            out.flush()


def add_parsers(sub: Any) -> None:
    """Register run, put and get."""
    p = sub.add_parser(
        "run",
        help="run a command on many hosts",
        description="Run a command on many hosts through ssh. Identical outputs are "
        "gathered by default (like clush -b); the exit status is 0 only when every "
        "host succeeded.",
        epilog="examples:\n"
        "  procession run -H 'node-[1-50]' -- uname -r\n"
        "  procession run --hosts-file hosts.txt --timeout 30 --prefix -- 'df -h /tmp'\n"
        "  procession run --testbed -- hostname       # on the local testbed\n"
        "  procession run -H 'n[1-9]' --json -- cat /etc/os-release > result.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_host_options(p)
    add_connection_options(p)
    g = p.add_argument_group("execution")
    g.add_argument(
        "-t",
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="kill a host's command after this many seconds",
    )
    g.add_argument(
        "--tool", choices=["ssh", "taktuk"], default="ssh", help="remote tool (default ssh)"
    )
    _add_output_options(p)
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command (after --)")
    p.set_defaults(func=cmd_run)

    for name, cls, what in (
        ("put", Put, "copy local files to many hosts"),
        ("get", Get, "copy files from many hosts"),
    ):
        p = sub.add_parser(
            name,
            help=what,
            description=f"{what.capitalize()} (scp, or rsync with --rsync). Paths may use "
            "{{{host}}}, replaced by each host's address.",
            epilog=(
                "examples:\n  procession put -H 'node-[1-8]' image.tar /tmp\n"
                "  procession get -H 'node-[1-8]' /var/log/syslog 'logs/{{{host}}}'"
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_host_options(p)
        add_connection_options(p)
        p.add_argument("--rsync", action="store_true", help="use rsync instead of scp")
        _add_output_options(p, grouped=False)
        p.add_argument("sources", nargs="+", metavar="SOURCE")
        p.add_argument("destination", metavar="DESTINATION")
        p.set_defaults(func=cmd_transfer, action_class=cls)


def _add_output_options(p: argparse.ArgumentParser, grouped: bool = True) -> None:
    g = p.add_argument_group("output")
    if grouped:
        g.add_argument(
            "--prefix",
            action="store_true",
            help="print lines as they arrive, prefixed by host (instead of grouping)",
        )
    g.add_argument("--json", action="store_true", help="print the state of every process as JSON")
    g.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: on when stderr is a terminal)",
    )
    g.add_argument(
        "--event-log",
        metavar="FILE",
        help="append one JSON line per process event to FILE (see 'procession report')",
    )


def _execute(action: Action, args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        if args.event_log:
            stack.enter_context(procession.EventLog(args.event_log, append=True))
        if args.progress is not False and (args.progress or sys.stderr.isatty()):
            stack.enter_context(procession.Progress(action.processes, file=sys.stderr))
        try:
            action.run()
        except KeyboardInterrupt:
            action.kill()
            action.wait(30)
            raise


def _finish(action: Action, args: argparse.Namespace, grouped: bool) -> int:
    if args.json:
        print(json.dumps(Report([action]).to_dict(), indent=2, default=str))
    elif grouped:
        print(procession.group_outputs([action]), end="")
        errors = procession.group_outputs([action], stream="stderr")
        for block in errors.blocks:
            if block.text.strip():  # only the hosts that wrote on stderr
                print(f"{block.header} stderr:", file=sys.stderr)
                print(block.text.rstrip("\n"), file=sys.stderr)
    else:
        for p in action.processes:
            if not p.ok:
                print(
                    f"{p.host.address if p.host else p.name}: {p.failure_reason()}", file=sys.stderr
                )
    failed = sum(1 for p in action.processes if not p.ok)
    if failed:
        print(f"procession: {failed} of {len(action.processes)} hosts failed", file=sys.stderr)
    return 0 if failed == 0 else 1


def cmd_run(args: argparse.Namespace) -> int:
    """The ``run`` subcommand."""
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("no command: give it after '--', e.g. procession run -H h1 -- uptime")
    testbed = load_testbed(args)
    hosts = select_hosts(args, testbed)
    params = connection_params(args, testbed)
    process_args: dict[str, Any] = {
        "nolog_exit_code": True,
        "nolog_error": True,
        "nolog_timeout": True,
    }
    if args.timeout is not None:
        process_args["timeout"] = args.timeout
    if args.prefix:
        process_args["stdout_handlers"] = [_Prefixed()]
        process_args["stderr_handlers"] = [_Prefixed()]
    saved = procession.configuration["remote_tool"]
    if args.tool == "taktuk":
        procession.configuration["remote_tool"] = TAKTUK
    try:
        action = get_remote(" ".join(command), hosts, params, process_args=process_args)
    finally:
        procession.configuration["remote_tool"] = saved
    _execute(action, args)
    return _finish(action, args, grouped=not args.prefix)


def cmd_transfer(args: argparse.Namespace) -> int:
    """The ``put`` and ``get`` subcommands."""
    testbed = load_testbed(args)
    hosts = select_hosts(args, testbed)
    params = connection_params(args, testbed)
    tool = procession.RSYNC if args.rsync else procession.SCP
    action = args.action_class(
        hosts,
        args.sources,
        args.destination,
        params,
        process_args={"nolog_exit_code": True, "nolog_error": True},
        tool=tool,
    )
    _execute(action, args)
    return _finish(action, args, grouped=False)
