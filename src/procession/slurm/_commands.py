"""Running Slurm's commands, here or on a frontend over ssh, with Slurm's errors kept."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from procession import Host, Process, ProcessBase, SshProcess, logger
from procession.reservation import ReservationError

__all__ = ["SlurmError", "check_slurm", "run_slurm", "slurm_process", "start_slurm"]

_logger = logger.getChild("slurm")

DEFAULT_COMMAND_TIMEOUT = 60.0
"""Seconds a Slurm command (sbatch, squeue, scancel, ...) may take."""


class SlurmError(ReservationError):
    """A Slurm command failed; the message ends with Slurm's own error lines.

    Attributes:
        command: the Slurm command line (argv).
        where: ``"localhost"`` or the frontend.
        stderr: what the command printed on stderr.
        exit_code: its exit code (None when it could not run or timed out).
    """

    def __init__(
        self,
        message: str,
        command: Sequence[str] = (),
        where: str = "localhost",
        stderr: str = "",
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.command = list(command)
        self.where = where
        self.stderr = stderr
        self.exit_code = exit_code


def _argv_with_env(argv: Sequence[str], env: Mapping[str, str] | None) -> list[str]:
    # `env VAR=value cmd` works the same locally and in the remote login shell.
    if not env:
        return list(argv)
    return ["env", *(f"{k}={v}" for k, v in env.items()), *argv]


def slurm_process(
    argv: Sequence[str],
    frontend: Host | str | None = None,
    frontend_connection_params: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> ProcessBase:
    """An unstarted process running a Slurm command locally or on ``frontend``.

    Args:
        argv: the command line, e.g. ``["squeue", "--me"]``.
        frontend: where to run it over ssh; None runs it here.
        frontend_connection_params: connection parameters of the frontend.
        env: variables set for the command (``SLURM_CONF``, ...).
        **kwargs: options of :class:`procession.Process` (timeout, ...).
    """
    full = _argv_with_env(argv, env)
    if frontend is None:
        return Process(full, **kwargs)
    return SshProcess(
        shlex.join(full), frontend, connection_params=frontend_connection_params, **kwargs
    )


def run_slurm(
    argv: Sequence[str],
    frontend: Host | str | None = None,
    frontend_connection_params: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_COMMAND_TIMEOUT,
    ok_messages: Sequence[str] = (),
) -> str:
    """Run a Slurm command, return its stdout; raise :class:`SlurmError` if it fails.

    Blocks the calling thread (not for handlers, which run on the conductor).

    Args:
        argv: the command line.
        frontend: where to run it over ssh; None runs it here.
        frontend_connection_params: connection parameters of the frontend.
        env: variables set for the command.
        timeout: seconds before the command is killed.
        ok_messages: substrings of stderr that make a non-zero exit a success
            (e.g. ``"Invalid job id"`` when a missing job is a fine answer).

    Raises:
        SlurmError: could not run, timed out, or exited non-zero; the message
            holds the command's stderr.
    """
    p = start_slurm(argv, frontend, frontend_connection_params, env, timeout)
    p.wait()
    return check_slurm(p, argv, ok_messages)


def start_slurm(
    argv: Sequence[str],
    frontend: Host | str | None = None,
    frontend_connection_params: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_COMMAND_TIMEOUT,
) -> ProcessBase:
    """Start a Slurm command (quietly: failures are reported by :func:`check_slurm`)."""
    p = slurm_process(
        argv,
        frontend,
        frontend_connection_params,
        env,
        timeout=timeout,
        nolog_exit_code=True,
        nolog_error=True,
        nolog_timeout=True,
        name=argv[0],
    )
    return p.start()


def check_slurm(p: ProcessBase, argv: Sequence[str], ok_messages: Sequence[str] = ()) -> str:
    """The stdout of an ended Slurm command, or :class:`SlurmError` with its stderr."""
    host = getattr(p, "host", None)
    where = str(host) if host is not None else "localhost"
    stderr = p.stderr.strip()
    if p.ok or (p.exit_code is not None and any(m in stderr for m in ok_messages)):
        _logger.debug("%s on %s: ok", shlex.join(argv), where)
        return p.stdout
    detail = stderr or p.stdout.strip() or "no output"
    raise SlurmError(
        f"{shlex.join(argv)} failed on {where} ({p.failure_reason()}): {detail}",
        command=argv,
        where=where,
        stderr=p.stderr,
        exit_code=p.exit_code,
    )
