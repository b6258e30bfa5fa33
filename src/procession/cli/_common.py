"""Host selection and connection options shared by the subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import procession
from procession import Host
from procession.testbed import LoopbackTestbed, TestbedError
from procession.testbed._cli import default_dir


class UsageError(Exception):
    """A command-line mistake; the message says what to fix (exit status 2)."""


def add_host_options(p: argparse.ArgumentParser) -> None:
    """-H/--hosts and --hosts-file."""
    g = p.add_argument_group("hosts (at least one of)")
    g.add_argument(
        "-H",
        "--hosts",
        action="append",
        default=[],
        metavar="NODESET",
        help="hosts as a node set, e.g. 'node-[1-50]' or 'a,b,c' (repeatable)",
    )
    g.add_argument(
        "--hosts-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a file with one host or node set per line ('#' comments; '-' is stdin)",
    )


def add_connection_options(p: argparse.ArgumentParser) -> None:
    """The ssh options every remote subcommand accepts."""
    g = p.add_argument_group("connection")
    g.add_argument("-l", "--user", help="login name on the hosts")
    g.add_argument("-p", "--port", type=int, help="ssh port")
    g.add_argument("-i", "--identity", metavar="KEYFILE", help="private key file")
    g.add_argument("-F", "--ssh-config", metavar="FILE", help="an ssh client config file")
    g.add_argument(
        "-o",
        "--ssh-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="an ssh option, e.g. -o ConnectTimeout=5 (repeatable)",
    )
    g.add_argument(
        "--no-reuse",
        action="store_true",
        help="no connection reuse (OpenSSH ControlMaster is used by default)",
    )
    g.add_argument(
        "--testbed",
        metavar="DIR",
        nargs="?",
        const="",
        help="use the local testbed started by 'python -m procession.testbed up' "
        "(its hosts and keys; DIR defaults to the testbed's default)",
    )


def _read_hosts_file(name: str) -> list[str]:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read hosts file {name}: {exc.strerror}") from exc
    specs = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [s for s in specs if s]


def select_hosts(args: argparse.Namespace, testbed: Any = None) -> list[Host]:
    """The hosts named on the command line (node sets expanded, in order)."""
    specs: list[str] = list(args.hosts)
    for name in args.hosts_file:
        specs += _read_hosts_file(name)
    if not specs and testbed is not None:
        specs = list(testbed.hosts)
    if not specs:
        raise UsageError("no hosts: give -H NODESET or --hosts-file FILE")
    try:
        return procession.expand_hosts(specs)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def load_testbed(args: argparse.Namespace) -> Any:
    """The testbed named by --testbed, or None."""
    if args.testbed is None:
        return None
    directory = args.testbed or str(default_dir())
    try:
        return LoopbackTestbed.load(directory)
    except (TestbedError, OSError) as exc:
        raise UsageError(
            f"no testbed in {directory}: start one with 'python -m procession.testbed up' ({exc})"
        ) from exc


def connection_params(args: argparse.Namespace, testbed: Any = None) -> dict[str, Any]:
    """Connection params from the options (over the testbed's, if any)."""
    params: dict[str, Any] = dict(testbed.connection_params()) if testbed is not None else {}
    extra: list[str] = []
    if args.ssh_config:
        if not os.path.isfile(args.ssh_config):
            raise UsageError(f"ssh config file {args.ssh_config} does not exist")
        extra += ["-F", args.ssh_config]
    for opt in args.ssh_option:
        extra += ["-o", opt]
    if extra:
        base = params.get("ssh_options", procession.default_connection_params["ssh_options"])
        params["ssh_options"] = (*extra, *base)
        base = params.get("scp_options", procession.default_connection_params["scp_options"])
        params["scp_options"] = (*extra, *base)
    for key, value in (("user", args.user), ("port", args.port), ("keyfile", args.identity)):
        if value is not None:
            params[key] = value
    if args.no_reuse:
        params["connection_reuse"] = False
    return params
