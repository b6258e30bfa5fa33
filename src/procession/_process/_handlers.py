"""Output and lifecycle handlers, Execo's interfaces.

Handlers run on the conductor thread. They must return quickly and never
block: a blocking call there (``wait()``, ``run()``, ``expect()``) raises
:class:`~procession.ConductorBlockingCall` instead of deadlocking.
"""

from __future__ import annotations

import io
import os
import threading
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._process import ProcessBase

__all__ = [
    "STDERR",
    "STDOUT",
    "LineSplitter",
    "ProcessLifecycleHandler",
    "ProcessOutputHandler",
    "Stream",
    "deliver_output",
]


class Stream(IntEnum):
    """An output stream of a process; compares equal to Execo's 1 and 2."""

    STDOUT = 1
    STDERR = 2


STDOUT: Final = Stream.STDOUT
"""Standard output (== 1, as in Execo)."""
STDERR: Final = Stream.STDERR
"""Standard error (== 2, as in Execo)."""


class ProcessLifecycleHandler:
    """Told of a process's start, end and reset. Subclass and override.

    Methods run on the conductor thread and must not block.
    """

    def start(self, process: ProcessBase) -> None:
        """The process has started (``process.pid`` is set) or failed to."""

    def end(self, process: ProcessBase) -> None:
        """The process has ended; its state is final."""

    def reset(self, process: ProcessBase) -> None:
        """The process was reset and may be started again."""


class LineSplitter:
    """Incremental line splitting with Execo's separators, I/O-free.

    Separators are those of ``str.splitlines`` (``\\n``, ``\\r\\n``, ``\\r``,
    ``\\v``, ``\\f``, ``\\x1c-\\x1e``, ``\\x85``, ``\\u2028``, ``\\u2029``);
    a ``\\r\\n`` split across two chunks is one separator. Lines are returned
    without their separator.

    >>> s = LineSplitter()
    >>> s.feed("a\\nb\\r"), s.feed("\\nc"), s.flush()
    (['a'], ['b'], ['c'])
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        """Add ``text``; return the lines it completes."""
        if not text:
            return []
        pieces = (self._pending + text).splitlines(keepends=True)
        last = pieces[-1]
        # Keep an unterminated last piece, and a lone trailing \r whose \n
        # may be in the next chunk.
        if last.endswith("\r") or last == last.rstrip("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"):
            self._pending = last
            pieces.pop()
        else:
            self._pending = ""
        return [p.splitlines()[0] for p in pieces]

    def flush(self) -> list[str]:
        """End of stream: return the unterminated last line, if any."""
        rest, self._pending = self._pending, ""
        if not rest:
            return []
        return [rest.splitlines()[0]]


class ProcessOutputHandler:
    """Receives a process's output. Subclass and override ``read_line``
    (line by line) or ``read`` (chunks as they arrive).

    Methods run on the conductor thread and must not block. One handler may
    serve several processes and both streams.
    """

    def __init__(self) -> None:
        self._splitters: dict[tuple[int, int], LineSplitter] = {}

    def read(self, process: ProcessBase, stream: int, string: str, eof: bool, error: bool) -> None:
        """A chunk of decoded output arrived (possibly empty at eof).

        Args:
            process: the process that wrote it.
            stream: :data:`STDOUT` or :data:`STDERR`.
            string: the text (UTF-8, invalid bytes replaced).
            eof: the stream has ended.
            error: the stream ended on an error.
        """
        splitters = self.__dict__.setdefault("_splitters", {})
        key = (id(process), int(stream))
        splitter = splitters.get(key)
        if splitter is None:
            splitter = splitters[key] = LineSplitter()
        for line in splitter.feed(string):
            self.read_line(process, stream, line)
        if eof or error:
            for line in splitter.flush():
                self.read_line(process, stream, line)
            del splitters[key]

    def read_line(self, process: ProcessBase, stream: int, line: str) -> None:
        """A complete line (without its line ending) arrived."""


# Filenames given as handlers: one shared append-mode file per name.
_files: dict[str, list[Any]] = {}
_files_lock = threading.Lock()


def _file_for(name: str) -> Any:
    with _files_lock:
        entry = _files.get(name)
        if entry is None:
            entry = _files[name] = [0, open(name, "a", encoding="utf-8")]  # noqa: SIM115
        entry[0] += 1
        return entry[1]


def _release_file(name: str) -> None:
    with _files_lock:
        entry = _files[name]
        entry[0] -= 1
        if entry[0] <= 0:
            entry[1].close()
            del _files[name]


def deliver_output(
    process: ProcessBase,
    stream: int,
    handler: Any,
    text: str,
    data: bytes,
    eof: bool,
    error: bool,
    open_files: dict[tuple[str, int], Any],
) -> None:
    """Send output to one handler of any kind Execo accepts.

    A handler may be a :class:`ProcessOutputHandler`, an open file
    descriptor (int, gets bytes), a binary file object (gets bytes), a text
    file object or anything with ``write`` (gets text), or a filename (str,
    opened in append mode, closed at eof).
    """
    if isinstance(handler, ProcessOutputHandler):
        handler.read(process, stream, text, eof, error)
    elif isinstance(handler, bool):
        raise TypeError(f"invalid output handler {handler!r}")
    elif isinstance(handler, int):
        if data:
            os.write(handler, data)
    elif isinstance(handler, str | os.PathLike):
        name = os.fspath(handler)
        key = (name, stream)
        f = open_files.get(key)
        if f is None and (text or not eof):
            f = open_files[key] = _file_for(name)
        if f is not None:
            if text:
                f.write(text)
                f.flush()
            if eof:
                del open_files[key]
                _release_file(name)
    elif isinstance(handler, io.RawIOBase | io.BufferedIOBase):
        if data:
            handler.write(data)
    elif hasattr(handler, "write"):
        if text:
            handler.write(text)
    else:
        raise TypeError(
            f"invalid output handler {handler!r}: use a ProcessOutputHandler, a file "
            "descriptor, a file object or a filename"
        )
