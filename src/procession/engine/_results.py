"""Results: one JSON line per combination, appended durably, loaded back."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from procession import logger as _root_logger

from ._journal import StateCorrupted

__all__ = ["Results"]

RESULTS_FILE: Final = "results.jsonl"
logger: Final = _root_logger.getChild("engine")

# POSIX locks are per process and closing any descriptor of the file drops
# them: threads of one process serialize on this lock first.
_path_locks: dict[str, threading.Lock] = {}
_path_locks_guard = threading.Lock()


def _path_lock(path: str) -> threading.Lock:
    with _path_locks_guard:
        return _path_locks.setdefault(path, threading.Lock())


def _check_keys(what: str, mapping: Mapping[Any, Any]) -> None:
    for key in mapping:
        if not isinstance(key, str):
            raise TypeError(f"{what} keys must be strings for JSON, got {key!r}")


class Results:
    """Append one record per combination to a JSON-lines file; load them back.

    Each line is ``{"combination": {...}, "result": {...}, "time": unix_ts}``.
    :meth:`append` holds a POSIX lock on the file (safe from many threads,
    processes and NFS clients) and, by default, fsyncs before returning:
    append the result *before* marking the combination done, and a done
    combination always has its result on disk. A combination re-run after
    a crash between the two may have two records; :meth:`load` keeps the
    last by default.

    Threads: every method may be called from any thread.

    Args:
        path: a directory (the file is ``results.jsonl`` in it, e.g. the
            sweeper's persistence directory) or a file path.
        fsync: make :meth:`append` durable against power loss.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        path = os.path.abspath(os.fspath(path))
        if os.path.isdir(path):
            path = os.path.join(path, RESULTS_FILE)
        self.path = path
        """Absolute path of the JSON-lines file."""
        self._fsync = fsync
        self._lock = _path_lock(path)

    def append(self, combination: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """Append the record of one combination.

        Args:
            combination: the combination (string keys, JSON-serializable
                values).
            result: measured values (string keys, JSON-serializable, not
                reusing a key of the combination).

        Raises:
            TypeError: a key is not a string, or a value is not
                JSON-serializable.
            ValueError: a result key is also a factor of the combination.
        """
        _check_keys("combination", combination)
        _check_keys("result", result)
        clash = set(combination) & set(result)
        if clash:
            raise ValueError(f"result keys {sorted(clash)} are also factors of the combination")
        record = {"combination": dict(combination), "result": dict(result), "time": time.time()}
        line = (json.dumps(record, allow_nan=True, separators=(",", ":")) + "\n").encode()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX)
                self._cut_torn_line(fd)
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)  # also releases the POSIX lock

    def _cut_torn_line(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        cut = 0
        end = size
        while end > 0:
            start = max(0, end - 65536)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            end = start
        logger.warning(
            "%s: dropping an incomplete last line at byte %d (left by a crash)", self.path, cut
        )
        os.ftruncate(fd, cut)

    def records(self) -> list[dict[str, Any]]:
        """Every record as stored: ``{"combination", "result", "time"}`` dicts.

        A torn last line (crash while appending) is ignored with a warning.

        Raises:
            StateCorrupted: a line other than the last is not a valid record.
        """
        try:
            with self._lock, open(self.path, "rb") as f:
                fcntl.lockf(f, fcntl.LOCK_SH)  # no half-written line from another process
                data = f.read()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        records = []
        offset = 0
        for number, raw in enumerate(lines, 1):
            try:
                rec = json.loads(raw)
                if not isinstance(rec, dict) or not {"combination", "result"} <= rec.keys():
                    raise ValueError("not a results record")
            except ValueError as exc:
                raise StateCorrupted(
                    self.path, offset, f"line {number} is not a valid results record ({exc})"
                ) from None
            records.append(rec)
            offset += len(raw) + 1
        if torn:
            logger.warning(
                "%s: ignoring an incomplete last line at byte %d (left by a crash)",
                self.path,
                offset,
            )
        return records

    def load(self, *, unique: bool = True) -> list[dict[str, Any]]:
        """The records as flat dicts ``{**combination, **result}``.

        Args:
            unique: keep only the last record of each combination.
        """
        rows: list[dict[str, Any]] = []
        index: dict[str, int] = {}
        for rec in self.records():
            row = {**rec["combination"], **rec["result"]}
            if unique:
                key = json.dumps(rec["combination"], sort_keys=True)
                if key in index:
                    rows[index[key]] = row
                    continue
                index[key] = len(rows)
            rows.append(row)
        return rows

    def dataframe(self, *, unique: bool = True) -> Any:
        """The records as a ``pandas.DataFrame`` (one row per record, one column per key).

        Raises:
            ImportError: pandas is not installed (it is not a dependency of
                procession: ``pip install pandas``).
        """
        try:
            pandas = importlib.import_module("pandas")
        except ImportError as exc:
            raise ImportError(
                "Results.dataframe() needs pandas, which procession does not install: "
                "pip install pandas (or use Results.load(), a list of dicts)"
            ) from exc
        return pandas.DataFrame(self.load(unique=unique))

    def __len__(self) -> int:
        return len(self.records())

    def __repr__(self) -> str:
        return f"<Results {self.path!r}>"
