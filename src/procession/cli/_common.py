"""Host selection and connection options shared by the subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import procession
from procession import Host
from procession.g5k import OarError, get_oar_job_nodes
from procession.slurm import SlurmAllocation, SlurmError
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
    g.add_argument(
        "--oar-job",
        action="append",
        default=[],
        metavar="ID[@FRONTEND]",
        help="the nodes of an OAR job, asked of FRONTEND ([USER@]HOST[:PORT]; default: "
        "procession.g5k's default frontend, or this machine); repeatable",
    )
    g.add_argument(
        "--slurm-job",
        action="append",
        default=[],
        metavar="ID[@FRONTEND]",
        help="the nodes of a Slurm job, asked of FRONTEND ([USER@]HOST[:PORT]; default: "
        "this machine's Slurm commands); repeatable",
    )
    g.add_argument(
        "--job-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="wait this long for a job of --oar-job/--slurm-job to be running (default 60)",
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
    """The hosts named on the command line (node sets expanded, jobs' nodes
    asked of their scheduler, in order)."""
    specs: list[str] = list(args.hosts)
    for name in args.hosts_file:
        specs += _read_hosts_file(name)
    job_hosts: list[Host] = []
    for spec in args.oar_job:
        job_hosts += _oar_job_hosts(spec, args)
    for spec in args.slurm_job:
        job_hosts += _slurm_job_hosts(spec, args)
    if not specs and not job_hosts and testbed is not None:
        specs = list(testbed.hosts)
    if not specs and not job_hosts:
        raise UsageError("no hosts: give -H NODESET, --hosts-file FILE, --oar-job or --slurm-job")
    try:
        return procession.expand_hosts(specs) + job_hosts
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _job_spec(spec: str, option: str) -> tuple[int, Host | None]:
    """``ID[@[USER@]HOST[:PORT]]`` as a job id and a frontend host."""
    job, _, frontend = spec.partition("@")
    if not job.strip().isdigit():
        raise UsageError(
            f"{option} {spec!r}: expected ID or ID@FRONTEND, e.g. {option} 1234@rennes"
        )
    if not frontend:
        return int(job), None
    user, _, hostport = frontend.rpartition("@")
    host, _, port = hostport.partition(":")
    if not host or (port and not port.isdigit()):
        raise UsageError(f"{option} {spec!r}: the frontend must be [USER@]HOST[:PORT]")
    return int(job), Host(host, user=user or None, port=int(port) if port else None)


def frontend_params(args: argparse.Namespace) -> dict[str, Any]:
    """Connection params to a scheduler's frontend: the ssh config file and
    options of the command line (-F, -o), not the hosts' user, port and key."""
    extra = _ssh_extra(args)
    if not extra:
        return {}
    return {"ssh_options": (*extra, *procession.default_connection_params["ssh_options"])}


def _ssh_extra(args: argparse.Namespace) -> list[str]:
    """The -F and -o options of the command line, as ssh arguments."""
    extra: list[str] = []
    if args.ssh_config:
        if not os.path.isfile(args.ssh_config):
            raise UsageError(f"ssh config file {args.ssh_config} does not exist")
        extra += ["-F", args.ssh_config]
    for opt in args.ssh_option:
        extra += ["-o", opt]
    return extra


def _oar_job_hosts(spec: str, args: argparse.Namespace) -> list[Host]:
    job_id, frontend = _job_spec(spec, "--oar-job")
    try:
        return get_oar_job_nodes(
            job_id, frontend, frontend_connection_params=frontend_params(args),
            timeout=args.job_wait,
        )  # fmt: skip
    except OarError as exc:  # OarJobTimeout included
        raise UsageError(f"--oar-job {spec}: {exc}") from exc


def _slurm_job_hosts(spec: str, args: argparse.Namespace) -> list[Host]:
    job_id, frontend = _job_spec(spec, "--slurm-job")
    try:
        alloc = SlurmAllocation.attach(
            job_id, frontend=frontend, frontend_connection_params=frontend_params(args)
        )
        if not alloc.wait_start(args.job_wait):
            raise UsageError(
                f"--slurm-job {spec}: the job is not running after {args.job_wait:g} s "
                f"(state {alloc.raw_state}); wait longer with --job-wait"
            )
    except SlurmError as exc:
        raise UsageError(f"--slurm-job {spec}: {exc}") from exc
    return list(alloc.hosts)


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
    extra = _ssh_extra(args)
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


def targets(args: argparse.Namespace) -> tuple[list[Host], dict[str, Any]]:
    """The hosts and connection params a remote subcommand acts on."""
    testbed = load_testbed(args)
    return select_hosts(args, testbed), connection_params(args, testbed)
