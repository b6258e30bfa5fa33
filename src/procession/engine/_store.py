"""The crash-proof, process-safe store behind :class:`ParamSweeper`.

One ``_Store`` per (process, persistence directory) holds the shared state
(done set, in-progress marks and their owners' leases) and the open journal
segment; every ``ParamSweeper`` on that directory in the process is a view
on it (see ``_sweeper.py``).

Files in the persistence directory:

``journal-<gen>.log``
    Append-only journal segments (record format in ``_journal.py``). The
    lowest-numbered segment that exists is where a new reader starts; a
    segment ending with a ``SEAL`` record continues in segment ``gen + 1``,
    which begins with a compacted snapshot of the state.
``sweeps``
    The optional saved list of combinations (``save_sweeps=True``), written
    by atomic replace, checksummed.

Rules that give the guarantees (docs/engine.md explains them to users):

- Every read and write of a segment happens while holding a POSIX record
  lock (``fcntl.lockf``) on the whole segment file, plus a per-store thread
  lock: POSIX locks belong to a process and do not exclude its threads. On
  NFS, taking the lock revalidates the client's cache and releasing it
  flushes writes, which is what makes the incremental reads coherent.
- Records are appended with ``O_APPEND`` after reading the segment to its
  end, so a writer always appends to a segment it has fully applied.
- ``done`` is ``fsync``-ed before it returns (group commit: one fsync
  covers every record written before it, from any thread). ``get_next``
  marks are not fsync-ed: losing one in a power cut only makes an element
  available again.
- Compaction writes the snapshot to a temporary file, fsyncs it, renames it
  to the next segment name (never over the live segment), fsyncs the
  directory, and only then appends a fsync-ed ``SEAL`` to the live segment
  and unlinks it. A crash at any point leaves either the old segment live
  (and an orphan next segment that nobody reads and the next compaction
  replaces) or the sealed old segment pointing to a complete new one.
- A torn last record (crash in the middle of an append) is cut off by the
  next writer, with a warning; any other damage raises
  :class:`StateCorrupted` and nothing is reset.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import pickle
import re
import socket
import struct
import threading
import time
import uuid
import weakref
import zlib
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Final, Protocol

from procession import logger as _root_logger

from ._journal import FORMAT_VERSION, Damage, Op, Record, StateCorrupted, decode, encode

__all__ = ["Store", "acquire_store", "read_sweeps_file", "release_store", "write_sweeps_file"]

logger: Final = _root_logger.getChild("engine")

_SEGMENT_RE: Final = re.compile(r"^journal-(\d+)\.log$")
_TMP_PREFIX: Final = ".tmp-"
_SWEEPS_FILE: Final = "sweeps"
_SWEEPS_MAGIC: Final = b"procession-sweeps 1\n"
_SWEEPS_HEAD: Final = struct.Struct("<QI")
_CHUNK: Final = 1000
DEFAULT_COMPACT_THRESHOLD: Final = 50_000


def segment_name(gen: int) -> str:
    """File name of journal segment ``gen``."""
    return f"journal-{gen:08d}.log"


def list_segments(directory: str) -> list[int]:
    """Generations of the journal segments present in ``directory``, sorted."""
    gens = []
    for name in os.listdir(directory):
        m = _SEGMENT_RE.match(name)
        if m:
            gens.append(int(m.group(1)))
    return sorted(gens)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# fdatasync skips the inode timestamps: measurably faster than fsync on ext4.
_datasync: Final[Callable[[int], None]] = getattr(os, "fdatasync", os.fsync)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write_new_file(directory: str, final: str, data: bytes, replace: bool) -> None:
    """Write ``data`` to ``directory/final`` atomically and durably."""
    tmp = os.path.join(directory, f"{_TMP_PREFIX}{final}-{os.getpid()}-{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        target = os.path.join(directory, final)
        if replace:
            os.rename(tmp, target)
        else:
            with contextlib.suppress(FileExistsError):  # another process created it first
                os.link(tmp, target)
        _fsync_dir(directory)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_sweeps_file(directory: str, sweeps: Sequence[Hashable]) -> None:
    """Save the list of combinations to ``directory/sweeps`` (atomic replace)."""
    payload = pickle.dumps(list(sweeps), protocol=pickle.HIGHEST_PROTOCOL)
    head = _SWEEPS_HEAD.pack(len(payload), zlib.crc32(payload))
    _write_new_file(directory, _SWEEPS_FILE, _SWEEPS_MAGIC + head + payload, replace=True)


def read_sweeps_file(directory: str) -> list[Any]:
    """Load the combinations saved by :func:`write_sweeps_file`.

    Raises:
        FileNotFoundError: nothing was saved in ``directory``.
        StateCorrupted: the file is truncated or damaged.
    """
    path = os.path.join(directory, _SWEEPS_FILE)
    with open(path, "rb") as f:
        data = f.read()
    start = len(_SWEEPS_MAGIC) + _SWEEPS_HEAD.size
    if not data.startswith(_SWEEPS_MAGIC) or len(data) < start:
        raise StateCorrupted(path, 0, "not a procession sweeps file (bad header)")
    length, crc = _SWEEPS_HEAD.unpack_from(data, len(_SWEEPS_MAGIC))
    payload = data[start:]
    if len(payload) != length:
        raise StateCorrupted(
            path, start, f"truncated: {len(payload)} of {length} payload bytes present"
        )
    if zlib.crc32(payload) != crc:
        raise StateCorrupted(path, start, "checksum mismatch")
    sweeps: list[Any] = pickle.loads(payload)
    return sweeps


class Listener(Protocol):
    """What the store calls on its views (under the store lock)."""

    def _on_done(self, elements: Sequence[Hashable]) -> None: ...
    def _on_taken(self, elements: Sequence[Hashable]) -> None: ...
    def _on_released(self, elements: Sequence[Hashable]) -> None: ...
    def _on_reload(self) -> None: ...


class _Segment:
    """An open journal segment: its fd, generation and how far it was read."""

    __slots__ = ("entries", "fd", "gen", "path", "pos")

    def __init__(self, fd: int, gen: int, path: str) -> None:
        self.fd = fd
        self.gen = gen
        self.path = path
        self.pos = 0
        self.entries = 0


def _entries(op: Op, body: Any) -> int:
    if op is Op.DONE:
        return max(1, len(body))
    if op is Op.TAKE:
        return max(1, len(body[2]))
    if op is Op.RELEASE:
        return max(1, len(body[1]))
    return 1


class Store:
    """Shared state of one persistence directory in this process.

    Thread-safe: every method that touches the state or the files runs under
    ``self.lock`` (re-entrant); :meth:`transaction` also holds the segment's
    POSIX lock. Views call :meth:`append` inside a transaction.
    """

    def __init__(self, directory: str, key: tuple[int, int], create: bool) -> None:
        self.directory = directory
        self.key = key
        self.create = create
        self.lock = threading.RLock()
        self.refcount = 0
        self.compact_threshold = DEFAULT_COMPACT_THRESHOLD
        self.lease: float | None = None
        self._leases: list[float | None] = []
        self._sync_lock = threading.Lock()
        self._depth = 0
        self._seg: _Segment | None = None
        self._retired: list[int] = []
        self._written_seq = 0
        self._synced_seq = 0
        self._closed = False
        self._views: list[weakref.ref[Any]] = []
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()
        self._new_owner()
        self._reset_state()

    # -- state ---------------------------------------------------------------

    def _new_owner(self) -> None:
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def _reset_state(self) -> None:
        self.done: set[Hashable] = set()
        self.marks: dict[Hashable, str] = {}
        self.expiry: dict[str, float] = {}
        self.expired: set[str] = set()
        self._next_expiry = math.inf

    def visible(self, element: Hashable) -> bool:
        """True if ``element`` is marked in progress by an owner whose lease runs."""
        owner = self.marks.get(element)
        return owner is not None and owner not in self.expired

    def _notify(self, method: str, elements: Sequence[Hashable]) -> None:
        if not elements:
            return
        for ref in tuple(self._views):
            view = ref()
            if view is not None:
                getattr(view, method)(elements)

    def _notify_reload(self) -> None:
        for ref in tuple(self._views):
            view = ref()
            if view is not None:
                view._on_reload()

    def register(self, view: weakref.ref[Any], lease: float | None) -> None:
        """Attach a view (a :class:`Listener`, by weak reference)."""
        with self.lock:
            self._views = [r for r in self._views if r() is not None]
            self._views.append(view)
            self._leases.append(lease)
            self._set_lease()

    def unregister(self, view: weakref.ref[Any], lease: float | None) -> None:
        """Detach a view (when it is closed or collected)."""
        with self.lock:
            self._views = [r for r in self._views if r is not view and r() is not None]
            with contextlib.suppress(ValueError):
                self._leases.remove(lease)
            self._set_lease()

    def _set_lease(self) -> None:
        # The longest lease of the views wins; None (no expiry) beats all.
        if not self._leases or any(x is None for x in self._leases):
            self.lease = None
        else:
            self.lease = max(x for x in self._leases if x is not None)

    def _apply(self, op: Op, body: Any) -> None:
        if op is Op.DONE:
            new = [e for e in body if e not in self.done]
            self.done.update(new)
            for e in new:
                self.marks.pop(e, None)
            self._notify("_on_done", new)
        elif op is Op.TAKE:
            owner, exp, elements = body
            self._set_expiry(owner, math.inf if exp is None else exp)
            taken = [e for e in elements if e not in self.done]
            for e in taken:
                self.marks[e] = owner
            if owner not in self.expired:
                self._notify("_on_taken", taken)
        elif op is Op.RELEASE:
            owner, elements = body
            released = [e for e in elements if self.marks.get(e) == owner]
            for e in released:
                del self.marks[e]
            self._notify("_on_released", released)
        elif op is Op.RENEW:
            owner, exp = body
            self._set_expiry(owner, exp)
        elif op is Op.RESET:
            released = [e for e, o in self.marks.items() if o not in self.expired]
            self.marks.clear()
            self.expired.clear()
            self._notify("_on_released", released)

    def _set_expiry(self, owner: str, exp: float) -> None:
        self.expiry[owner] = exp
        self._next_expiry = min(self._next_expiry, exp)
        if owner in self.expired and exp > time.time():
            self.expired.discard(owner)
            self._notify("_on_taken", [e for e, o in self.marks.items() if o == owner])

    def check_expiry(self, now: float | None = None) -> None:
        """Hide the marks of owners whose lease ended (they become todo)."""
        now = time.time() if now is None else now
        if now < self._next_expiry:
            return
        # This process is alive: its own marks never expire in its own eyes
        # (a late heartbeat must not hand its elements out twice here).
        newly = {
            o
            for o, exp in self.expiry.items()
            if exp <= now and o not in self.expired and o != self.owner
        }
        if newly:
            self.expired |= newly
            for owner in newly:
                logger.info("lease of %s on %s ended: its in-progress marks expire", owner, self)
            self._notify("_on_released", [e for e, o in self.marks.items() if o in newly])
        alive = [exp for o, exp in self.expiry.items() if o not in self.expired and o != self.owner]
        self._next_expiry = min(alive, default=math.inf)

    # -- transactions --------------------------------------------------------

    def transaction(self) -> Store:
        """Use as ``with store.transaction():``: hold the thread lock and the
        segment's POSIX lock, with the state read to the end of the journal."""
        return self

    def __enter__(self) -> Store:
        self.lock.acquire()
        if self._depth == 0:
            try:
                self._begin()
            except BaseException:
                self.lock.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                self._end()
        finally:
            self.lock.release()

    def _begin(self) -> None:
        if self._closed:
            raise ValueError(f"{self}: the sweeper is closed")
        if self._seg is None:
            self._load()
            self._notify_reload()
        else:
            fcntl.lockf(self._seg.fd, fcntl.LOCK_EX)
            try:
                self._sync()
            except BaseException:
                self._unlock()
                raise
        self.check_expiry()

    def _end(self) -> None:
        try:
            if self._seg is not None and self._should_compact(self._seg):
                self._compact()
        except OSError as exc:
            logger.warning("%s: compaction failed, journal left as is: %s", self, exc)
        finally:
            self._unlock()
        if self._retired and self._sync_lock.acquire(blocking=False):
            try:
                self._close_retired()
            finally:
                self._sync_lock.release()

    def _unlock(self) -> None:
        if self._seg is not None:
            fcntl.lockf(self._seg.fd, fcntl.LOCK_UN)

    def _retire(self) -> None:
        if self._seg is not None:
            if self._synced_seq < self._written_seq:  # keep done() promises
                os.fsync(self._seg.fd)
                self._synced_seq = self._written_seq
            fcntl.lockf(self._seg.fd, fcntl.LOCK_UN)
            self._retired.append(self._seg.fd)
            self._seg = None

    def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for fd in retired:
            os.close(fd)

    def reload(self) -> None:
        """Re-read the whole journal from disk (inside a transaction)."""
        assert self._depth > 0
        self._retire()
        self._reset_state()
        self._load()
        self._notify_reload()
        self.check_expiry()

    # -- reading -------------------------------------------------------------

    def _load(self) -> None:
        """Find the live segment, lock it and apply it from its start."""
        while True:
            gens = list_segments(self.directory)
            if not gens:
                if not self.create:
                    raise FileNotFoundError(
                        errno.ENOENT, "no sweeper journal (journal-*.log) in", self.directory
                    )
                header = encode(
                    Op.HEADER, {"format": FORMAT_VERSION, "gen": 1, "records": 0, "bytes": 0}
                )
                _write_new_file(self.directory, segment_name(1), header, replace=False)
                continue
            path = os.path.join(self.directory, segment_name(gens[0]))
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            except FileNotFoundError:  # sealed and removed since the listing
                continue
            fcntl.lockf(fd, fcntl.LOCK_EX)
            seg = _Segment(fd, gens[0], path)
            try:
                self._reset_state()
                sealed = self._read_segment(seg, full=True)
            except BaseException:
                os.close(fd)
                raise
            if sealed is None:
                self._seg = seg
                return
            os.fsync(fd)  # the seal must be durable before anyone relies on it
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _read_header(self, seg: _Segment, data: bytes) -> tuple[Record, int]:
        records, end, damage = decode(data, 0, limit=1)
        if not records:
            reason = damage.reason if damage else "empty segment"
            raise StateCorrupted(seg.path, 0, f"no segment header ({reason})")
        header = records[0]
        info = header.body
        if header.op is not Op.HEADER or not isinstance(info, dict):
            raise StateCorrupted(seg.path, 0, "the first record is not a segment header")
        if info.get("format") != FORMAT_VERSION:
            raise StateCorrupted(
                seg.path, 0, f"journal format {info.get('format')!r} unknown to this version"
            )
        if info.get("gen") != seg.gen:
            raise StateCorrupted(seg.path, 0, f"header says segment {info.get('gen')!r}")
        return header, end

    def _read_segment(self, seg: _Segment, full: bool) -> int | None:
        """Apply the unread part of ``seg``; return the next gen if sealed."""
        size = os.fstat(seg.fd).st_size
        if size < seg.pos:
            raise StateCorrupted(
                seg.path,
                size,
                f"the journal shrank from {seg.pos} to {size} bytes while in use "
                "(truncated by something other than procession)",
            )
        if size == seg.pos:
            if full:
                raise StateCorrupted(seg.path, 0, "empty journal segment (no header)")
            return None
        data = _pread_all(seg.fd, size - seg.pos, seg.pos)
        base = seg.pos
        if full:
            header, start = self._read_header(seg, data)
            n_snapshot = header.body["records"]
            records, end, damage = decode(data[start:], start)
            snapshot_end = start + header.body["bytes"]
            last = records[n_snapshot - 1] if 0 < n_snapshot <= len(records) else None
            if len(records) < n_snapshot or (last and last.offset + last.size != snapshot_end):
                raise StateCorrupted(
                    seg.path,
                    end,
                    f"snapshot truncated or damaged: {len(records)} of {n_snapshot} records "
                    "readable",
                )
        else:
            records, end, damage = decode(data, base)
        for i, rec in enumerate(records):
            if rec.op is Op.SEAL:
                if i != len(records) - 1 or damage is not None:
                    raise StateCorrupted(seg.path, rec.offset, "records after a seal record")
                seg.pos = end
                return int(rec.body)
            if rec.op is Op.HEADER:
                raise StateCorrupted(seg.path, rec.offset, "a segment header inside a segment")
            self._apply(rec.op, rec.body)
            seg.entries += _entries(rec.op, rec.body)
        seg.pos = end
        if damage is not None:
            self._handle_damage(seg, damage)
        return None

    def _handle_damage(self, seg: _Segment, damage: Damage) -> None:
        if not damage.torn:
            raise StateCorrupted(
                seg.path,
                damage.offset,
                f"journal corrupted ({damage.reason}). The records before byte "
                f"{damage.offset} are intact; nothing was reset. Inspect the file; to keep "
                f"only the intact part, truncate it at that offset (truncate -s "
                f"{damage.offset} {seg.path}).",
            )
        logger.warning(
            "%s: dropping an incomplete last record at byte %d of %s (%s), left by a crash "
            "in the middle of an append",
            self,
            damage.offset,
            seg.path,
            damage.reason,
        )
        os.ftruncate(seg.fd, damage.offset)

    def _sync(self) -> None:
        """Apply what other processes appended; follow seals (lock held)."""
        assert self._seg is not None
        while True:
            next_gen = self._read_segment(self._seg, full=False)
            if next_gen is None:
                return
            os.fsync(self._seg.fd)
            # Everything written before the seal is in the fsync-ed snapshot.
            self._synced_seq = self._written_seq
            self._retire()
            path = os.path.join(self.directory, segment_name(next_gen))
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            except FileNotFoundError:  # already sealed and removed: start over
                self._reset_state()
                self._load()
                self._notify_reload()
                return
            fcntl.lockf(fd, fcntl.LOCK_EX)
            seg = _Segment(fd, next_gen, path)
            self._seg = seg
            head = _pread_all(fd, 4096, 0)
            header, start = self._read_header(seg, head)
            seg.pos = start + header.body["bytes"]
            seg.entries = self._live()

    # -- writing -------------------------------------------------------------

    def append(self, op: Op, body: Any) -> int:
        """Append one record and apply it; return its sequence number.

        Must be called inside :meth:`transaction`. The record is visible to
        other processes when this returns and survives the death of this
        process; call :meth:`flush` with the returned number to make it
        survive a machine crash too.
        """
        assert self._depth > 0 and self._seg is not None
        data = encode(op, body)
        _write_all(self._seg.fd, data)
        self._seg.pos += len(data)
        self._seg.entries += _entries(op, body)
        self._written_seq += 1
        self._apply(op, body)
        return self._written_seq

    def flush(self, seq: int) -> None:
        """Return once record ``seq`` is on stable storage (group commit).

        Call outside a transaction: the fsync runs without the locks, and one
        fsync covers every record written before it, from any thread.
        """
        with self._sync_lock:
            with self.lock:
                if self._synced_seq >= seq or self._seg is None:
                    return
                upto = self._written_seq
                fd = self._seg.fd
                self._close_retired()
            _datasync(fd)
            with self.lock:
                self._synced_seq = max(self._synced_seq, upto)

    # -- compaction ----------------------------------------------------------

    def _live(self) -> int:
        return len(self.done) + len(self.marks) + len(self.expiry)

    def _should_compact(self, seg: _Segment) -> bool:
        return seg.entries > 2 * self._live() + self.compact_threshold

    def _snapshot(self, gen: int) -> bytes:
        records = []
        done = list(self.done)
        for i in range(0, len(done), _CHUNK):
            records.append(encode(Op.DONE, done[i : i + _CHUNK]))
        by_owner: dict[str, list[Hashable]] = {}
        for element, owner in self.marks.items():
            by_owner.setdefault(owner, []).append(element)
        for owner, elements in by_owner.items():
            exp = self.expiry.get(owner, math.inf)
            for i in range(0, len(elements), _CHUNK):
                chunk = elements[i : i + _CHUNK]
                records.append(encode(Op.TAKE, (owner, None if exp == math.inf else exp, chunk)))
        body = b"".join(records)
        info = {"format": FORMAT_VERSION, "gen": gen, "records": len(records), "bytes": len(body)}
        return encode(Op.HEADER, info) + body

    def _compact(self) -> None:
        seg = self._seg
        assert seg is not None
        gen = seg.gen + 1
        for name in os.listdir(self.directory):  # leftovers of crashed compactions
            if name.startswith(_TMP_PREFIX + "journal-") and not name.startswith(
                _TMP_PREFIX + segment_name(1)
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.directory, name))
        data = self._snapshot(gen)
        _write_new_file(self.directory, segment_name(gen), data, replace=True)
        _write_all(seg.fd, encode(Op.SEAL, gen))
        os.fsync(seg.fd)
        self._synced_seq = self._written_seq
        os.unlink(seg.path)
        path = os.path.join(self.directory, segment_name(gen))
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        self._retire()
        new = _Segment(fd, gen, path)
        new.pos = len(data)
        new.entries = self._live()
        self._seg = new
        logger.debug("%s: journal compacted into %s", self, path)

    # -- lifecycle -----------------------------------------------------------

    def start_heartbeat(self) -> None:
        """Start the lease-renewal thread if a lease is set (idempotent)."""
        with self.lock:
            if self.lease is None or self._heartbeat is not None or self._closed:
                return
            self._stop.clear()
            self._heartbeat = threading.Thread(
                target=_heartbeat_loop,
                args=(weakref.ref(self), self._stop),
                name=f"procession-sweeper-heartbeat {self.directory}",
                daemon=True,
            )
            self._heartbeat.start()

    def renew(self) -> None:
        """Extend the lease of this process's marks by ``lease`` seconds."""
        with self.lock:
            if self._closed:
                return
        with self.transaction():
            if self.lease is not None and self.owner in self.marks.values():
                self.append(Op.RENEW, (self.owner, time.time() + self.lease))

    def close(self) -> None:
        """Stop the heartbeat and close the files (when the last view goes)."""
        # Lock order as in flush(): the sync lock, then the state lock.
        with self._sync_lock, self.lock:
            self._closed = True
            thread, self._heartbeat = self._heartbeat, None
            self._stop.set()
            self._close_retired()
            if self._seg is not None:
                os.close(self._seg.fd)
                self._seg = None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def after_fork(self) -> None:
        """Make the copy of this store in a forked child usable."""
        self.lock = threading.RLock()
        self._sync_lock = threading.Lock()
        self._depth = 0
        self._heartbeat = None
        self._stop = threading.Event()
        self._new_owner()
        if self._seg is not None:  # the child holds no POSIX lock: re-read all
            self._retired.append(self._seg.fd)
            self._seg = None

    def __str__(self) -> str:
        return f"sweeper store {self.directory}"


def _heartbeat_loop(store_ref: Callable[[], Store | None], stop: threading.Event) -> None:
    while True:
        store = store_ref()
        if store is None or store.lease is None:
            return
        interval = store.lease / 3.0
        del store
        if stop.wait(interval):
            return
        store = store_ref()
        if store is None:
            return
        try:
            store.renew()
        except Exception:
            logger.exception("sweeper lease renewal failed; retrying")
        del store


_registry: dict[tuple[int, int], Store] = {}
_registry_lock = threading.RLock()


def acquire_store(directory: str, create: bool = True) -> Store:
    """The store of ``directory`` for this process (shared, reference-counted)."""
    if create:
        os.makedirs(directory, exist_ok=True)
    st = os.stat(directory)
    key = (st.st_dev, st.st_ino)
    with _registry_lock:
        store = _registry.get(key)
        if store is None:
            store = _registry[key] = Store(os.path.abspath(directory), key, create)
        store.create = store.create or create
        store.refcount += 1
        return store


def release_store(store: Store) -> None:
    """Drop one reference; close the store when it was the last."""
    with _registry_lock:
        store.refcount -= 1
        if store.refcount > 0:
            return
        if _registry.get(store.key) is store:
            del _registry[store.key]
    store.close()


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.RLock()
    for store in _registry.values():
        store.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
