"""Taktuk command lines and the pure parser of its output protocol.

One ``taktuk`` process drives every host of a ``TaktukRemote`` (or
``TaktukPut`` / ``TaktukGet``). Its output streams are reformatted with
taktuk's output templates (``-o stream=template``, Perl expressions) into one
machine-parsable line per event, every free-form field hex-encoded so that
any byte a command writes survives, line ends included::

    O <position> <rank> <eol> <hex>        stdout of a command (eol: 1 if the
    E <position> <rank> <eol> <hex>        line ended with \\n), stderr
    S <position> <rank> <wait status>      a command ended
    C <position> <peer_position> <hex>     what the connector (ssh) said
    X <position> <peer_position|-> <rank> <code> <hex(peers_given)>
                                           a state change (see STATE_*)
    T <position> <hex(level)> <hex>        taktuk's own diagnostics
    I <position> <hex(stream)> <hex>       info and message streams

Positions are those of the ``-m`` options on the command line: ``1`` is
the first host, ``0`` the root taktuk itself. Taktuk splits long lines into
several records with ``eol`` 0, so joining the records gives back the exact
bytes.

Escaping: taktuk reads the arguments of its commands up to a closing
bracket, and ``-E !`` makes ``!`` its escape character. Arguments given
inside ``-m host -[ ... -]`` are parsed twice (by the root, then by the
remote taktuk), so they are escaped twice. Execo escaped them once, which
silently dropped every ``!`` of a command.

Layer 3: imports the leaves and the other connection modules only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ._host import Host
from ._params import rewritten_address
from ._ssh import login_options

__all__ = [
    "STATE_COMMAND_FAILED",
    "STATE_COMMAND_STARTED",
    "STATE_COMMAND_TERMINATED",
    "STATE_CONNECTION_FAILED",
    "STATE_CONNECTION_INITIALIZED",
    "STATE_CONNECTION_LOST",
    "STATE_FILE_RECEPTION_FAILED",
    "STATE_FILE_RECEPTION_STARTED",
    "STATE_FILE_RECEPTION_TERMINATED",
    "STATE_FILE_SEND_FAILED",
    "STATE_MESSAGES",
    "STATE_NUMBERED",
    "STATE_READY",
    "STATE_TERMINATED",
    "TAKTUK_TEMPLATES",
    "TaktukConnector",
    "TaktukDiagnostic",
    "TaktukEvent",
    "TaktukInfo",
    "TaktukOutput",
    "TaktukOutputParser",
    "TaktukState",
    "TaktukStatus",
    "TaktukUnparsed",
    "escape_taktuk",
    "host_index",
    "parse_line",
    "taktuk_argv",
    "taktuk_connector",
    "taktuk_exec",
    "taktuk_set",
]

ESCAPE: Final = "!"
"""Taktuk's escape character in procession's command lines (``-E !``)."""

TAKTUK_TEMPLATES: Final = (
    "-o", 'output="O $position $rank ".($eol?1:0)." ".unpack("H*",$line)."\\n"',
    "-o", 'error="E $position $rank ".($eol?1:0)." ".unpack("H*",$line)."\\n"',
    "-o", 'status="S $position $rank $line\\n"',
    "-o", 'connector="C $position $peer_position ".unpack("H*",$line)."\\n"',
    "-o", 'state="X $position ".(length($peer_position)?$peer_position:"-")'
          '." $rank $line ".unpack("H*",$peers_given)."\\n"',
    "-o", 'taktuk="T $position ".unpack("H*",$level_name)." ".unpack("H*",$line)."\\n"',
    "-o", 'info="I $position ".unpack("H*",$type)." ".unpack("H*",$line)."\\n"',
    "-o", 'message="I $position ".unpack("H*",$type)." ".unpack("H*",$line)."\\n"',
    "-o", 'default="I $position ".unpack("H*",$type)." ".unpack("H*",$line)."\\n"',
    # Diagnostics on stdout too (not stderr), in order with the state changes
    # they explain: "file send failed" comes right after its reason.
    "-R", "taktuk=>&=1",
)  # fmt: skip
"""The ``-o`` options making taktuk speak the protocol of this module."""

# Codes of taktuk's "state" stream (taktuk(1), -o).
STATE_READY: Final = 0
STATE_NUMBERED: Final = 1
STATE_TERMINATED: Final = 2
STATE_CONNECTION_FAILED: Final = 3
STATE_CONNECTION_INITIALIZED: Final = 4
STATE_CONNECTION_LOST: Final = 5
STATE_COMMAND_STARTED: Final = 6
STATE_COMMAND_FAILED: Final = 7
STATE_COMMAND_TERMINATED: Final = 8
STATE_FILE_RECEPTION_STARTED: Final = 13
STATE_FILE_RECEPTION_FAILED: Final = 14
STATE_FILE_RECEPTION_TERMINATED: Final = 15
STATE_FILE_SEND_FAILED: Final = 16

STATE_MESSAGES: Final = {
    0: "TakTuk is ready",
    1: "TakTuk is numbered",
    2: "TakTuk terminated",
    3: "connection failed",
    4: "connection initialized",
    5: "connection lost",
    6: "command started",
    7: "command failed",
    8: "command terminated",
    9: "numbering update failed",
    10: "pipe input started",
    11: "pipe input failed",
    12: "pipe input terminated",
    13: "file reception started",
    14: "file reception failed",
    15: "file reception terminated",
    16: "file send failed",
    17: "invalid target",
    18: "no target",
    19: "message delivered",
    20: "invalid destination",
    21: "destination not available anymore",
    22: "wait complete",
    23: "wait reduce complete",
}
"""What each state code means (taktuk's ``event_msg``)."""

# Characters of taktuk's host list syntax (brackets, exclusion, lists).
_HOST_SYNTAX: Final = re.compile(r"[\[\],/\s]")


# ------------------------------------------------------------- command lines
def escape_taktuk(text: str, levels: int = 1) -> str:
    """Protect ``text`` inside taktuk brackets (``exec [ ... ]``).

    Every ``!`` (the escape character) and ``]`` (the closing delimiter) is
    escaped, once per parsing level: 2 inside ``-m host -[ ... -]``.

    >>> escape_taktuk("echo '[x]' a!b")
    "echo '[x!]' a!!b"
    >>> escape_taktuk("a]", levels=2)
    'a!!!]'
    """
    for _ in range(levels):
        text = text.replace(ESCAPE, ESCAPE + ESCAPE).replace("]", ESCAPE + "]")
    return text


def taktuk_exec(cmd: str, levels: int = 2) -> list[str]:
    """The words of taktuk's ``exec [ cmd ]`` (for ``-[ ... -]`` by default)."""
    return ["exec", "[", escape_taktuk(cmd, levels), "]"]


def taktuk_set(ranks: Iterable[int]) -> str:
    """A taktuk set specification (``1/4-6``) of logical ranks."""
    ordered = sorted(set(ranks))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return "/".join(parts)


def _split_tool(value: Any) -> list[str]:
    return str(value).split() if isinstance(value, str) else [str(v) for v in value]


def taktuk_connector(host: Host, params: Mapping[str, Any]) -> str:
    """The connector command taktuk runs to reach ``host`` (a shell string).

    ``taktuk_connector`` then the host's login options (user, key file,
    port: the Host's fields first), then ``taktuk_connector_options``.
    """
    argv = _split_tool(params.get("taktuk_connector") or "ssh")
    argv += login_options(host, params)
    argv += [str(o) for o in params.get("taktuk_connector_options") or ()]
    return shlex.join(argv)


def taktuk_argv(
    hosts: Sequence[Host],
    params: Mapping[str, Any],
    deploy_args: Sequence[Sequence[str]] | None = None,
) -> list[str]:
    """The taktuk command line driving ``hosts`` (position i+1 is hosts[i]).

    User options (``taktuk_options``, ``-s`` by default) come first; the
    output templates and ``-E !`` follow, so they win over a user's own
    ``-o`` or ``-E`` (taktuk keeps the last value) and the output stays
    parsable. A connector (``-c``) is given before each host whose
    connection options differ from the previous host's, so hosts may have
    their own user, port and key file.

    Args:
        hosts: the hosts, in order.
        params: complete connection parameters.
        deploy_args: per host, taktuk arguments for ``-[ ... -]`` (already
            escaped, see :func:`taktuk_exec`), or None.

    Raises:
        ValueError: an address uses taktuk's host list syntax.
    """
    argv = _split_tool(params.get("taktuk") or "taktuk")
    argv += [str(o) for o in params.get("taktuk_options") or ()]
    argv += [*TAKTUK_TEMPLATES, "-E", ESCAPE]
    connector = None
    for i, host in enumerate(hosts):
        address = rewritten_address(host, params)
        if _HOST_SYNTAX.search(address):
            raise ValueError(f"taktuk cannot reach {address!r}: brackets, commas, slashes")
        this = taktuk_connector(host, params)
        if this != connector:
            argv += ["-c", this]
            connector = this
        argv += ["-m", address]
        if deploy_args is not None and deploy_args[i]:
            argv += ["-[", *deploy_args[i], "-]"]
    return argv


def host_index(position: str) -> int | None:
    """The index in the host list of a taktuk position, None for the root
    (or a position that is not one of ours)."""
    if not position.isdigit():
        return None
    index = int(position) - 1
    return index if index >= 0 else None


# -------------------------------------------------------------------- parser
@dataclass(frozen=True, slots=True)
class TaktukOutput:
    """Output of a command: ``stream`` 1 (stdout) or 2 (stderr)."""

    position: str
    rank: int
    stream: int
    data: bytes


@dataclass(frozen=True, slots=True)
class TaktukStatus:
    """A command ended: its exit code, or the signal that killed it."""

    position: str
    rank: int
    exit_code: int | None
    exit_signal: int | None


@dataclass(frozen=True, slots=True)
class TaktukConnector:
    """A line the connector (ssh) wrote while reaching ``peer_position``."""

    position: str
    peer_position: str
    line: str


@dataclass(frozen=True, slots=True)
class TaktukState:
    """A state change of the taktuk instance at ``position`` (about
    ``peer_position`` for connection events)."""

    position: str
    peer_position: str | None
    rank: int
    code: int
    peers_given: tuple[tuple[str, str], ...] = ()

    @property
    def message(self) -> str:
        """What the code means."""
        return STATE_MESSAGES.get(self.code, f"state {self.code}")


@dataclass(frozen=True, slots=True)
class TaktukDiagnostic:
    """An error, warning or debug message of taktuk itself."""

    position: str
    level: str
    line: str


@dataclass(frozen=True, slots=True)
class TaktukInfo:
    """A line of taktuk's info or message streams."""

    position: str
    stream: str
    line: str


@dataclass(frozen=True, slots=True)
class TaktukUnparsed:
    """A line that is not in the protocol (a Perl error, a shell message)."""

    line: str


TaktukEvent = (
    TaktukOutput
    | TaktukStatus
    | TaktukConnector
    | TaktukState
    | TaktukDiagnostic
    | TaktukInfo
    | TaktukUnparsed
)

_POS = r"(\d+(?:\.\d+)*)"
_INT = r"(-?\d+)"
_HEX = r"([0-9a-fA-F]*)"
_OUTPUT: Final = re.compile(rf"^([OE]) {_POS} {_INT} ([01]) {_HEX}$")
_STATUS: Final = re.compile(rf"^S {_POS} {_INT} {_INT}$")
_CONNECTOR: Final = re.compile(rf"^C {_POS} {_POS} {_HEX}$")
_STATE: Final = re.compile(rf"^X {_POS} (-|{_POS[1:-1]}) {_INT} (\d+) {_HEX}$")
_DIAGNOSTIC: Final = re.compile(rf"^T {_POS} {_HEX} {_HEX}$")
_INFO: Final = re.compile(rf"^I {_POS} {_HEX} {_HEX}$")


def _text(hexa: str) -> str:
    return bytes.fromhex(hexa).decode("utf-8", "replace").rstrip("\r")


def _wait_status(status: int) -> tuple[int | None, int | None]:
    """(exit code, signal) from a raw wait status as taktuk reports it."""
    if status & 0x7F:
        return None, status & 0x7F
    return (status >> 8) & 0xFF, None


def _host_position(given: str) -> tuple[str, str]:
    host, _, position = given.rpartition(":")
    return (host, position) if host else (given, "")


def parse_line(line: str) -> TaktukEvent:
    """One protocol line (without its newline) as an event."""
    m = _OUTPUT.match(line)
    if m:
        data = bytes.fromhex(m.group(5)) + (b"\n" if m.group(4) == "1" else b"")
        return TaktukOutput(m.group(2), int(m.group(3)), 1 if m.group(1) == "O" else 2, data)
    m = _STATE.match(line)
    if m:
        peers = tuple(_host_position(p) for p in _text(m.group(5)).split())
        peer = None if m.group(2) == "-" else m.group(2)
        return TaktukState(m.group(1), peer, int(m.group(3)), int(m.group(4)), peers)
    m = _STATUS.match(line)
    if m:
        code, sig = _wait_status(int(m.group(3)))
        return TaktukStatus(m.group(1), int(m.group(2)), code, sig)
    m = _CONNECTOR.match(line)
    if m:
        return TaktukConnector(m.group(1), m.group(2), _text(m.group(3)))
    m = _DIAGNOSTIC.match(line)
    if m:
        return TaktukDiagnostic(m.group(1), _text(m.group(2)), _text(m.group(3)))
    m = _INFO.match(line)
    if m:
        return TaktukInfo(m.group(1), _text(m.group(2)), _text(m.group(3)))
    return TaktukUnparsed(line)


class TaktukOutputParser:
    """Turns taktuk's output (in chunks, as read) into events; I/O-free.

    The protocol is ASCII, so text decoded from the pipe is parsed as is.

    >>> p = TaktukOutputParser()
    >>> p.feed("O 1 1 1 6869\\nS 1 1 7")
    [TaktukOutput(position='1', rank=1, stream=1, data=b'hi\\n')]
    >>> p.feed("68\\n")
    [TaktukStatus(position='1', rank=1, exit_code=3, exit_signal=None)]
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[TaktukEvent]:
        """Add a chunk; return the events of the lines it completes."""
        if not text:
            return []
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        return [parse_line(line) for line in lines if line]

    def flush(self) -> list[TaktukEvent]:
        """End of stream: the unterminated last line, if any."""
        rest, self._pending = self._pending, ""
        return [parse_line(rest)] if rest else []
