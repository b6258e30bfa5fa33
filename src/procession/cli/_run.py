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
    ASYNCSSH,
    SSH,
    TAKTUK,
    Action,
    ActionFactory,
    ChainPut,
    Get,
    ProcessBase,
    ProcessOutputHandler,
    Put,
    Report,
    TaktukGet,
    TaktukPut,
)

from ._common import (
    UsageError,
    add_connection_options,
    add_host_options,
    targets,
)

__all__ = ["add_parsers", "cmd_chainput", "cmd_run", "cmd_transfer"]

_REMOTE_TOOLS = {"ssh": SSH, "taktuk": TAKTUK, "asyncssh": ASYNCSSH}

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
        "  procession run -H 'n[1-9]' --json -- cat /etc/os-release > result.json\n"
        "  procession run --oar-job 1234@rennes --fanout 100 -- 'nproc'\n"
        "  procession run --slurm-job 5678 --tool taktuk -- hostname",
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
        "--tool",
        choices=list(_REMOTE_TOOLS),
        default="ssh",
        help="remote tool: ssh (OpenSSH clients, default), taktuk (one taktuk tree), "
        "asyncssh (in-process ssh engine, extra 'asyncssh')",
    )
    _add_fanout_option(g)
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
            description=f"{what.capitalize()} (scp; rsync or taktuk with --tool). Paths may "
            "use {{{host}}}, replaced by each host's address.",
            epilog=(
                "examples:\n  procession put -H 'node-[1-8]' image.tar /tmp\n"
                "  procession get -H 'node-[1-8]' /var/log/syslog 'logs/{{{host}}}'\n"
                "  procession put --oar-job 1234@rennes --tool rsync data/ /tmp/data\n"
                "  (to send one big file to many hosts, see 'procession chainput')"
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_host_options(p)
        add_connection_options(p)
        g = p.add_argument_group("execution")
        g.add_argument(
            "--tool",
            choices=["scp", "rsync", "taktuk"],
            default="scp",
            help="transfer tool (default scp; taktuk sends through one taktuk tree)",
        )
        g.add_argument("--rsync", action="store_true", help="same as --tool rsync")
        _add_fanout_option(g)
        _add_output_options(p, grouped=False)
        p.add_argument("sources", nargs="+", metavar="SOURCE")
        p.add_argument("destination", metavar="DESTINATION")
        p.set_defaults(func=cmd_transfer, action_class=cls)

    p = sub.add_parser(
        "chainput",
        help="broadcast files to many hosts, host to host",
        description="Broadcast local files to many hosts in a chain: each host receives "
        "the data, writes it and forwards it to the next one at the same time, so the "
        "time stays near that of one copy whatever the number of hosts. A host that "
        "fails is left out and reported; the chain is rebuilt without it. Hosts must "
        "reach one another with ssh (the same user, port and key).",
        epilog="examples:\n"
        "  procession chainput -H 'node-[1-100]' image.qcow2 /tmp\n"
        "  procession chainput --oar-job 1234@rennes --transport nc dataset/ /tmp/data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_host_options(p)
    add_connection_options(p)
    g = p.add_argument_group("execution")
    g.add_argument(
        "--transport",
        choices=["ssh", "nc"],
        default="ssh",
        help="between hosts: ssh (encrypted, default) or nc (plain TCP behind a one-time "
        "token; faster, for trusted networks)",
    )
    _add_output_options(p, grouped=False)
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("destination", metavar="DESTINATION")
    p.set_defaults(func=cmd_chainput)


def _add_fanout_option(g: Any) -> None:
    g.add_argument(
        "--fanout",
        type=int,
        metavar="N",
        help="at most N hosts at once (default: as many as the file descriptor limit allows)",
    )


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
    hosts, params = targets(args)
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
    factory = ActionFactory(remote_tool=_REMOTE_TOOLS[args.tool])
    options = _fanout(args)
    action = factory.get_remote(
        " ".join(command), hosts, params, process_args=process_args, **options
    )
    _execute(action, args)
    return _finish(action, args, grouped=not args.prefix)


def cmd_transfer(args: argparse.Namespace) -> int:
    """The ``put`` and ``get`` subcommands."""
    hosts, params = targets(args)
    process_args = {"nolog_exit_code": True, "nolog_error": True}
    tool = "rsync" if args.rsync else args.tool
    fanout = _fanout(args)  # an error with --tool taktuk
    if tool == "taktuk":
        cls = TaktukPut if args.action_class is Put else TaktukGet
        action: Action = cls(
            hosts, args.sources, args.destination, params, process_args=process_args
        )
    else:
        action = args.action_class(
            hosts,
            args.sources,
            args.destination,
            params,
            process_args=process_args,
            tool=procession.RSYNC if tool == "rsync" else procession.SCP,
            **fanout,
        )
    _execute(action, args)
    return _finish(action, args, grouped=False)


def cmd_chainput(args: argparse.Namespace) -> int:
    """The ``chainput`` subcommand."""
    hosts, params = targets(args)
    action = ChainPut(
        hosts,
        args.sources,
        args.destination,
        params,
        process_args={"nolog_exit_code": True, "nolog_error": True},
        transport=args.transport,
    )
    _execute(action, args)
    return _finish(action, args, grouped=False)


def _fanout(args: argparse.Namespace) -> dict[str, Any]:
    """The --fanout option as action keyword arguments (none for taktuk)."""
    if args.fanout is None:
        return {}
    if args.fanout < 1:
        raise UsageError(f"--fanout {args.fanout}: give a positive number of hosts")
    if getattr(args, "tool", None) == "taktuk":
        raise UsageError("--fanout does not apply to --tool taktuk (taktuk has its own window)")
    return {"fanout": args.fanout}
