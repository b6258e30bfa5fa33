"""``python -m procession.testbed up|status|down``: a testbed that outlives the command."""

from __future__ import annotations

import argparse
import os
import pprint
import shlex
import shutil
import sys
from pathlib import Path

from ._loopback import STATE_FILE, LoopbackTestbed


def default_dir() -> Path:
    """``$XDG_RUNTIME_DIR/procession-testbed``, else ``/tmp/procession-testbed-$UID``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "procession-testbed"
    return Path(f"/tmp/procession-testbed-{os.getuid()}")


def _load(directory: Path) -> LoopbackTestbed | None:
    if not (directory / STATE_FILE).exists():
        return None
    return LoopbackTestbed.load(directory)


def _describe(tb: LoopbackTestbed, directory: Path) -> str:
    hosts = tb.hosts[0] if len(tb.hosts) == 1 else f"{tb.hosts[0]} .. {tb.hosts[-1]}"
    dir_arg = shlex.quote(str(directory))
    params = pprint.pformat(tb.connection_params(), width=100, compact=True)
    return (
        f"procession testbed: {len(tb.hosts)} hosts ({hosts}), port {tb.port}, "
        f"user {tb.user}, {len(tb.daemon_pids)} sshd daemons\n"
        f"  state:  {tb.state_file}\n"
        f"  try:    ssh -F {shlex.quote(str(tb.ssh_config))} {tb.hosts[0]} hostname\n"
        f"  status: python -m procession.testbed status --dir {dir_arg}\n"
        f"  stop:   python -m procession.testbed down --dir {dir_arg}\n"
        "From Python:\n"
        "  from procession import default_connection_params\n"
        "  from procession.testbed import LoopbackTestbed\n"
        f"  tb = LoopbackTestbed.load({str(directory)!r})\n"
        "  default_connection_params.update(tb.connection_params())\n"
        f"Connection params (Execo keys):\n{params}"
    )


def cmd_up(directory: Path, n_hosts: int) -> int:
    """Start a testbed in ``directory`` and leave it running."""
    existing = _load(directory)
    if existing is not None:
        if any(existing.daemons_alive().values()):
            print(
                f"error: a testbed is already up in {directory} ({len(existing.hosts)} hosts, "
                f"port {existing.port}); stop it with "
                f"'python -m procession.testbed down --dir {shlex.quote(str(directory))}'",
                file=sys.stderr,
            )
            return 1
        print(f"note: removing a stale testbed (no daemon alive) in {directory}", file=sys.stderr)
        shutil.rmtree(directory)
    elif directory.exists() and any(directory.iterdir()):
        print(f"error: {directory} is not empty and holds no testbed", file=sys.stderr)
        return 1
    tb = LoopbackTestbed(n_hosts, base_dir=directory).start()
    tb.detach()
    print(_describe(tb, directory))
    return 0


def cmd_status(directory: Path) -> int:
    """Check that each daemon is alive and each host answers ssh."""
    tb = _load(directory)
    if tb is None:
        print(f"error: no testbed is up in {directory}", file=sys.stderr)
        return 1
    alive = tb.daemons_alive()
    print(_describe(tb, directory).split("\nFrom Python:")[0])
    for pid, ok in alive.items():
        print(f"  sshd pid {pid}: {'alive' if ok else 'DEAD'}")
    failed = tb.unreachable_hosts(timeout=10)
    print(f"  hosts answering ssh: {len(tb.hosts) - len(failed)}/{len(tb.hosts)}")
    if failed:
        print(f"  not answering: {' '.join(failed)}")
    return 0 if all(alive.values()) and not failed else 1


def cmd_down(directory: Path) -> int:
    """Stop the testbed of ``directory`` and remove the directory."""
    tb = _load(directory)
    if tb is None:
        print(f"error: no testbed is up in {directory}", file=sys.stderr)
        return 1
    n_daemons = len(tb.daemon_pids)
    tb.stop()
    print(f"procession testbed: stopped {n_daemons} sshd daemons, removed {directory}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m procession.testbed``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m procession.testbed",
        description="Start, check and stop a loopback testbed of real sshd daemons.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "start a testbed in the background"),
        ("status", "check that its daemons and hosts answer"),
        ("down", "stop it and remove its directory"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument(
            "--dir",
            type=Path,
            default=default_dir(),
            help="testbed directory (default: %(default)s)",
        )
        if name == "up":
            p.add_argument("--hosts", type=int, default=8, help="number of hosts (default 8)")
    args = parser.parse_args(argv)
    directory = args.dir.absolute()
    try:
        if args.command == "up":
            return cmd_up(directory, args.hosts)
        if args.command == "status":
            return cmd_status(directory)
        return cmd_down(directory)
    except (RuntimeError, ValueError) as exc:  # TestbedError included
        print(f"error: {exc}", file=sys.stderr)
        return 1
