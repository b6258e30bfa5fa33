"""Helpers of the engine tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

WORKER = str(Path(__file__).with_name("_sweeper_worker.py"))


class ListHandler(logging.Handler):
    """Collects the records of the ``procession`` logger (which does not propagate)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        """Formatted messages (with tracebacks) at ``level`` or above."""
        fmt = logging.Formatter("%(levelname)s %(message)s")
        return [fmt.format(r) for r in self.records if r.levelno >= level]


class Workers:
    """Starts ``_sweeper_worker.py`` processes; kills and reaps them at teardown."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """Start a worker with ``args`` (stdout piped, stderr kept for messages)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, WORKER, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.procs.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen[bytes], timeout: float = 120) -> str:
        """Wait for ``proc`` to exit 0; return its stdout."""
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err.decode(errors="replace")
        return out.decode()

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
