"""The record format of the sweeper journal: encoding, decoding, damage.

Pure functions on bytes (no file, no lock): the store (``_store.py``) reads
and writes files and calls these.

A record is::

    magic (2 bytes, b"\\xd5J") | length (u32 LE) | crc32 (u32 LE) | payload (length bytes)

where ``crc32`` covers the length field and the payload, and the payload is
one opcode byte followed by a pickle of the record body. A journal segment is
a sequence of records starting with a ``HEADER`` record.

Damage is classified when decoding stops before the end of the data:

- *torn*: the last record is incomplete (the data ends inside it) or the
  rest of the data is zeros. This is what a crash in the middle of an append
  leaves; it is ignored (and cut off by the next writer).
- *corrupt*: anything else (a bad checksum on a complete record, a valid
  record after a bad one). Never repaired silently: :class:`StateCorrupted`.
"""

from __future__ import annotations

import pickle
import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from procession import ProcessionError

__all__ = [
    "FORMAT_VERSION",
    "Damage",
    "Op",
    "Record",
    "StateCorrupted",
    "decode",
    "encode",
    "find_valid_record",
]

FORMAT_VERSION: Final = 1
MAGIC: Final = b"\xd5J"
_HEAD: Final = struct.Struct("<2sII")
HEAD_SIZE: Final = _HEAD.size
_LEN: Final = struct.Struct("<I")
MAX_RECORD: Final = 1 << 30


class StateCorrupted(ProcessionError):
    """A persisted state file (journal, saved sweeps, results) is damaged.

    Raised instead of silently starting over. The message names the file,
    the byte offset of the damage and how to recover.

    Attributes:
        path: the damaged file.
        offset: byte offset of the first damaged byte, or None.
    """

    def __init__(self, path: str, offset: int | None, message: str) -> None:
        self.path = path
        self.offset = offset
        where = f"{path}" if offset is None else f"{path} at byte {offset}"
        super().__init__(f"{where}: {message}")


class Op(IntEnum):
    """Record opcodes. Bodies (pickled) are given for each."""

    HEADER = 1
    """``{"format": int, "gen": int, "records": int, "bytes": int}``: first
    record of a segment; ``records``/``bytes`` describe the snapshot that
    follows (0 for a fresh segment)."""
    DONE = 2
    """``[element, ...]``: marked done."""
    TAKE = 3
    """``(owner, expiry | None, [element, ...])``: marked in progress by
    ``owner`` whose lease runs until ``expiry`` (unix time; None: forever)."""
    RELEASE = 4
    """``(owner, [element, ...])``: in-progress mark dropped (cancel, skip),
    only where ``owner`` still holds it."""
    RENEW = 5
    """``(owner, expiry)``: the lease of every mark of ``owner`` extended."""
    RESET = 6
    """``None``: every in-progress mark dropped."""
    SEAL = 7
    """``next_gen``: this segment is closed; the state continues in the
    segment ``next_gen`` (a compacted copy followed by new records)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record: where it starts, its opcode and its body."""

    offset: int
    op: Op
    body: Any
    size: int


@dataclass(frozen=True, slots=True)
class Damage:
    """Why decoding stopped before the end of the data.

    Attributes:
        offset: absolute offset of the first byte not decoded.
        torn: True for a torn tail (harmless crash leftover), False for
            corruption.
        reason: what is wrong, for messages.
    """

    offset: int
    torn: bool
    reason: str


def encode(op: Op, body: Any) -> bytes:
    """Encode one record (the payload is the opcode and ``pickle(body)``)."""
    payload = bytes((op,)) + pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL)
    length = _LEN.pack(len(payload))
    crc = zlib.crc32(payload, zlib.crc32(length))
    return _HEAD.pack(MAGIC, len(payload), crc) + payload


def _check(data: bytes | memoryview, pos: int) -> tuple[int, str]:
    """Size of the valid record at ``pos``, or 0/-1 and a reason.

    Returns ``(size, "")`` for a valid record, ``(0, reason)`` for an
    incomplete one (data ends inside it) and ``(-1, reason)`` for an invalid
    one.
    """
    left = len(data) - pos
    if left < HEAD_SIZE:
        head = min(left, len(MAGIC))
        if bytes(data[pos : pos + head]) == MAGIC[:head]:
            return 0, "incomplete record header"
        return -1, "bad record magic"
    magic, length, crc = _HEAD.unpack_from(data, pos)
    if magic != MAGIC:
        return -1, "bad record magic"
    if length == 0 or length > MAX_RECORD:
        return -1, f"implausible record length {length}"
    if left < HEAD_SIZE + length:
        return 0, f"incomplete record ({left} of {HEAD_SIZE + length} bytes)"
    payload = data[pos + HEAD_SIZE : pos + HEAD_SIZE + length]
    if zlib.crc32(payload, zlib.crc32(_LEN.pack(length))) != crc:
        return -1, "checksum mismatch"
    if payload[0] not in Op._value2member_map_:
        return -1, f"unknown opcode {payload[0]}"
    return HEAD_SIZE + length, ""


def find_valid_record(data: bytes | memoryview, start: int) -> int | None:
    """Offset of the first valid record at or after ``start``, or None."""
    raw = bytes(data)
    pos = raw.find(MAGIC, start)
    while pos != -1:
        if _check(raw, pos)[0] > 0:
            return pos
        pos = raw.find(MAGIC, pos + 1)
    return None


def _damage(data: bytes | memoryview, pos: int, base: int, kind: int, reason: str) -> Damage:
    later = find_valid_record(data, pos + 1)
    if later is not None:
        return Damage(
            base + pos, False, f"{reason}, followed by a valid record at byte {base + later}"
        )
    if kind == 0:
        return Damage(base + pos, True, reason)
    if not any(bytes(data[pos:])):
        return Damage(base + pos, True, "zero-filled tail")
    return Damage(base + pos, False, f"{reason} in the last record")


def decode(
    data: bytes | memoryview, base: int = 0, limit: int | None = None
) -> tuple[list[Record], int, Damage | None]:
    """Decode the records in ``data``.

    Args:
        data: bytes read from a segment, starting at a record boundary.
        base: the file offset of ``data[0]`` (offsets reported are absolute).
        limit: stop after this many records (None: all).

    Returns:
        ``(records, end, damage)``: the valid records, the absolute offset
        just after the last one, and None if the data was consumed to its
        end (or ``limit`` reached), else the :class:`Damage` found at ``end``.

    Raises:
        StateCorrupted: never; the caller decides what damage means.
    """
    records: list[Record] = []
    pos = 0
    n = len(data)
    view = memoryview(data)
    while pos < n and (limit is None or len(records) < limit):
        size, reason = _check(view, pos)
        if size <= 0:
            return records, base + pos, _damage(view, pos, base, size, reason)
        payload = view[pos + HEAD_SIZE : pos + size]
        try:
            body = pickle.loads(payload[1:])
        except Exception as exc:  # a checksummed record that does not unpickle
            reason = f"undecodable record body ({type(exc).__name__}: {exc})"
            return records, base + pos, Damage(base + pos, False, reason)
        records.append(Record(base + pos, Op(payload[0]), body, size))
        pos += size
    return records, base + pos, None
