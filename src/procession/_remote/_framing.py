"""Framing of a remote command's output (pure, I/O-free).

The remote login shell runs::

    printf '\\036procession-pgid %d\\n' "$$" >&2; ( CMD ); s=$?; \\
    printf '\\036procession-exit %d\\n' "$s" >&2; exit $s

The first line says the command started and which process group to signal;
the last one gives its exit status. Both are removed from the output the
user sees. With them, an ssh exit status of 255 is classified without
guessing: no start line, the connection failed; a start line but no exit
line, the connection was lost (or the command was killed); an exit line, the
status is the command's own.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["RemoteFraming", "wrap_command"]

_START: Final = re.compile(rb"^\x1eprocession-pgid (\d+)\r?\n$")
_END: Final = re.compile(rb"^\x1eprocession-exit (\d+)\r?\n$")


def wrap_command(cmd: str) -> str:
    """The command line sent to the remote login shell (ASCII only)."""
    return (
        "printf '\\036procession-pgid %d\\n' \"$$\" >&2; ( "
        + cmd
        + "\n); __procession_s=$?; printf '\\036procession-exit %d\\n' \"$__procession_s\" >&2; "
        "exit $__procession_s"
    )


class RemoteFraming:
    """Strips the start and end lines from one stream, chunk by chunk.

    >>> f = RemoteFraming()
    >>> f.feed(b"ssh: hello\\n\\x1eprocession-pgid 42\\nout\\n\\x1eprocession-exit 3\\n", True)
    b'ssh: hello\\nout\\n'
    >>> f.pgid, f.exit_status, bytes(f.before_start)
    (42, 3, b'ssh: hello\\n')
    """

    __slots__ = ("_at_line_start", "_held", "before_start", "exit_status", "pgid")

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.exit_status: int | None = None
        self.before_start = bytearray()  # what ssh said before the command ran
        self._held = bytearray()
        self._at_line_start = True

    @property
    def started(self) -> bool:
        """The start line was seen."""
        return self.pgid is not None

    def feed(self, data: bytes, eof: bool = False) -> bytes:
        """Add a chunk; return the bytes to pass on to the user."""
        buf = self._held + data
        self._held = bytearray()
        out = bytearray()
        pos = 0
        while pos < len(buf):
            at_start = self._at_line_start
            nl = buf.find(b"\n", pos)
            if at_start and buf[pos : pos + 1] == b"\x1e":
                if nl < 0:
                    if not eof:
                        self._held = bytearray(buf[pos:])  # maybe a frame line: wait
                        return bytes(out)
                    out += buf[pos:]
                    break
                line = bytes(buf[pos : nl + 1])
                if self._take_frame(line):
                    pos = nl + 1
                    self._at_line_start = True
                    continue
            end = len(buf) if nl < 0 else nl + 1
            chunk = buf[pos:end]
            if self.pgid is None:
                self.before_start += chunk
            out += chunk
            self._at_line_start = nl >= 0
            pos = end
        return bytes(out)

    def _take_frame(self, line: bytes) -> bool:
        if self.pgid is None:
            m = _START.match(line)
            if m:
                self.pgid = int(m.group(1))
                return True
            return False
        m = _END.match(line)
        if m and self.exit_status is None:
            self.exit_status = int(m.group(1))
            return True
        return False
