"""ParamSweeper: Execo's persistent, shared iterator over combinations.

The durable, multi-process part lives in ``_store.py``; a ``ParamSweeper``
is a view of that shared state restricted to its own list of combinations,
plus its own *skipped* set (never persisted, as in Execo).
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from types import TracebackType
from typing import Any, NamedTuple, TypeAlias

from procession import get_seconds

from ._journal import Op
from ._store import (
    Store,
    acquire_store,
    logger,
    read_sweeps_file,
    release_store,
    write_sweeps_file,
)

__all__ = ["ParamSweeper", "SweepCounts"]

Filter: TypeAlias = Callable[[list[Any]], Iterable[Any]]


class SweepCounts(NamedTuple):
    """How many combinations of a sweeper are in each state (a snapshot)."""

    total: int
    done: int
    inprogress: int
    skipped: int
    remaining: int


def _release(store: Store, view_ref: weakref.ref[Any], lease: float | None) -> None:
    store.unregister(view_ref, lease)
    release_store(store)


class ParamSweeper:
    """Persistent, thread- and process-safe iterator over experiment combinations.

    Each element (combination) is in one of four states: *todo*,
    *inprogress* (handed out by :meth:`get_next`, not yet finished), *done*
    or *skipped*. ``done`` and ``inprogress`` are persisted in
    ``persistence_dir`` and shared by every ``ParamSweeper`` using that
    directory, in any thread, process or host (NFS included); *skipped* is
    local to this object and forgotten at the end of the run, so a later run
    retries skipped combinations (mark them done to never retry them).

    Guarantees (see docs/engine.md for how they are achieved):

    - when :meth:`done` returns, the element is done for every later reader,
      even if this process is SIGKILLed the next instant or the machine
      loses power (with ``fsync=False``: survives the death of the process,
      not a power cut);
    - a crash never leaves a state file half-written; damage other than a
      torn last record raises :class:`StateCorrupted` instead of resetting;
    - an element is handed out by :meth:`get_next` to one caller at a time,
      across every process sharing the directory (unless its holder's lease
      expired, see ``lease``).

    Elements must be hashable and picklable; :func:`sweep` makes suitable
    dicts. The directory must be trusted: elements are stored with pickle.

    Threads: every method may be called from any thread.

    Args:
        persistence_dir: directory of the shared state (created if needed).
        sweeps: the combinations to iterate on, in the order to hand them
            out; None loads the list saved by an earlier ``save_sweeps=True``.
        save_sweeps: save ``sweeps`` to ``persistence_dir`` (for a later
            ``sweeps=None``, and for ``python -m procession.engine status``).
        name: name in logs and ``str()``; default the directory's name.
        lease: seconds after which the in-progress marks of this process
            expire unless renewed (None: never). A background thread renews
            them every ``lease / 3`` seconds while this process holds any;
            when the process dies, its marks become todo again for every
            sweeper after at most ``lease`` seconds. Needs clocks in sync
            (NTP) across hosts.
        fsync: make :meth:`done` durable against power loss (default); False
            only guarantees survival of a process crash, and is faster.
        compact_threshold: number of superfluous journal entries tolerated
            before the journal is compacted (default 50,000).
    """

    def __init__(
        self,
        persistence_dir: str | os.PathLike[str],
        sweeps: Iterable[Hashable] | None = None,
        save_sweeps: bool = False,
        name: str | None = None,
        *,
        lease: float | str | None = None,
        fsync: bool = True,
        compact_threshold: int | None = None,
    ) -> None:
        self._dir = os.path.abspath(os.fspath(persistence_dir))
        self._name = name or os.path.basename(self._dir)
        self._lease = get_seconds(lease) if lease is not None else None
        if self._lease is not None and self._lease <= 0:
            raise ValueError(f"lease must be > 0 seconds, got {lease!r}")
        self._fsync = fsync
        self._order: list[Hashable] = []
        self._index: dict[Hashable, int] = {}
        self._remaining: set[Hashable] = set()
        self._cursor = 0
        self._skipped: set[Hashable] = set()
        self._done: set[Hashable] = set()
        self._inprogress: set[Hashable] = set()
        self._store = acquire_store(self._dir, create=True)
        ref = weakref.ref(self)
        self._finalizer = weakref.finalize(self, _release, self._store, ref, self._lease)
        try:
            if compact_threshold is not None:
                self._store.compact_threshold = compact_threshold
            self._store.register(ref, self._lease)
            self.set_sweeps(sweeps, save_sweeps)
        except BaseException:
            self._finalizer()
            raise

    # -- configuration -------------------------------------------------------

    @property
    def persistence_dir(self) -> str:
        """Absolute path of the persistence directory."""
        return self._dir

    @property
    def name(self) -> str:
        """The name of this sweeper in logs."""
        return self._name

    @property
    def lease(self) -> float | None:
        """The lease given to the constructor, seconds (None: marks never expire)."""
        return self._lease

    @property
    def fsync(self) -> bool:
        """Whether :meth:`done` is durable against power loss (else only process crash)."""
        return self._fsync

    @property
    def sweeps(self) -> list[Any]:
        """A new list of the elements, in the order they are handed out."""
        with self._store.lock:
            return list(self._order)

    def set_sweeps(
        self, sweeps: Iterable[Hashable] | None = None, save_sweeps: bool = False
    ) -> None:
        """Change the combinations to iterate on (states on disk are kept).

        Args:
            sweeps: the combinations, in order; None loads the saved list.
            save_sweeps: save them to the persistence directory.

        Raises:
            FileNotFoundError: ``sweeps`` is None and none were saved.
            StateCorrupted: the saved list is damaged.
            TypeError: an element is not hashable.
        """
        if sweeps is None:
            try:
                sweeps = read_sweeps_file(self._dir)
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"{self._dir}: no saved sweeps; pass sweeps= (and save_sweeps=True)"
                ) from None
        order: dict[Hashable, None] = {}
        for element in sweeps:
            try:
                order[element] = None
            except TypeError:
                raise TypeError(f"sweeper elements must be hashable, got {element!r}") from None
        if save_sweeps:
            write_sweeps_file(self._dir, list(order))
        with self._store.transaction():
            self._order = list(order)
            self._index = {e: i for i, e in enumerate(self._order)}
            self._recompute()

    # -- store callbacks (called under the store lock) -----------------------

    def _recompute(self) -> None:
        store = self._store
        self._done = {e for e in self._order if e in store.done}
        self._inprogress = {e for e in self._order if store.visible(e)}
        self._skipped = {e for e in self._skipped if e in self._index and e not in store.done}
        self._remaining = set(self._index) - self._done - self._inprogress - self._skipped
        self._cursor = 0

    def _on_reload(self) -> None:
        self._recompute()

    def _on_done(self, elements: Sequence[Hashable]) -> None:
        index = self._index
        for e in elements:
            if e in index:
                self._done.add(e)
                self._remaining.discard(e)
                self._inprogress.discard(e)
                self._skipped.discard(e)

    def _on_taken(self, elements: Sequence[Hashable]) -> None:
        index = self._index
        for e in elements:
            if e in index:
                self._remaining.discard(e)
                self._inprogress.add(e)

    def _on_released(self, elements: Sequence[Hashable]) -> None:
        index = self._index
        done = self._store.done
        for e in elements:
            i = index.get(e)
            if i is None:
                continue
            self._inprogress.discard(e)
            if e not in self._skipped and e not in done and not self._store.visible(e):
                self._remaining.add(e)
                self._cursor = min(self._cursor, i)

    # -- iteration -----------------------------------------------------------

    def _pick(self, n: int, filtr: Filter | None) -> list[Hashable]:
        picked: list[Hashable] = []
        if filtr is not None:
            candidates = filtr([e for e in self._order if e in self._remaining])
            for e in candidates:
                if len(picked) >= n:
                    break
                if e not in self._remaining:
                    raise ValueError(f"{self._name}: the filter returned {e!r}, not a todo element")
                picked.append(e)
            return picked
        order, remaining = self._order, self._remaining
        i = self._cursor
        while i < len(order) and len(picked) < n:
            if order[i] in remaining:
                picked.append(order[i])
            i += 1
        self._cursor = self._index[picked[0]] if picked else i
        return picked

    def _take(self, n: int, filtr: Filter | None) -> list[Hashable]:
        store = self._store
        with store.transaction():
            picked = self._pick(n, filtr)
            if picked:
                exp = None if store.lease is None else time.time() + store.lease
                store.append(Op.TAKE, (store.owner, exp, picked))
        if picked:
            store.start_heartbeat()
            logger.debug("%s: in progress: %s", self._name, picked)
        return picked

    def get_next(self, filtr: Filter | None = None) -> Any:
        """Mark the next *todo* element *inprogress* and return it.

        Args:
            filtr: optional function given the list of *todo* elements (in
                the sweeps' order) and returning an iterable of some of them;
                the first one is taken. Use it to filter or reorder.

        Returns:
            The element, or None when no element is *todo* (some may still
            be *inprogress* elsewhere).
        """
        picked = self._take(1, filtr)
        return picked[0] if picked else None

    def get_next_batch(self, num_combs: int, filtr: Filter | None = None) -> list[Any]:
        """Like :meth:`get_next` for up to ``num_combs`` elements at once (one journal record)."""
        return self._take(num_combs, filtr) if num_combs > 0 else []

    def done(self, combination: Hashable) -> None:
        """Mark ``combination`` *done*; durable when this returns (see ``fsync``)."""
        self.done_batch([combination])

    def done_batch(self, combinations: Iterable[Hashable]) -> None:
        """Mark several elements *done* with one journal record and one fsync."""
        elements = list(combinations)
        if not elements:
            return
        store = self._store
        with store.transaction():
            seq = store.append(Op.DONE, elements)
        if self._fsync:
            store.flush(seq)
        logger.debug("%s: done: %s", self._name, elements)

    def skip(self, combination: Hashable) -> None:
        """Mark ``combination`` *skipped* for this sweeper (not persisted: retried next run)."""
        self.skip_batch([combination])

    def skip_batch(self, combinations: Iterable[Hashable]) -> None:
        """Mark several elements *skipped* (see :meth:`skip`)."""
        elements = list(combinations)
        store = self._store
        with store.transaction():
            for e in elements:
                if e in self._index and e not in store.done:
                    self._skipped.add(e)
                    self._remaining.discard(e)
                    self._inprogress.discard(e)
            self._release(elements)
        logger.debug("%s: skipped: %s", self._name, elements)

    def cancel(self, combination: Hashable) -> None:
        """Give ``combination`` back: it becomes *todo* again, for every sweeper."""
        self.cancel_batch([combination])

    def cancel_batch(self, combinations: Iterable[Hashable]) -> None:
        """Give several elements back (see :meth:`cancel`)."""
        elements = list(combinations)
        with self._store.transaction():
            self._release(elements)
        logger.debug("%s: cancelled: %s", self._name, elements)

    def _release(self, elements: list[Hashable]) -> None:
        store = self._store
        mine = [e for e in elements if store.marks.get(e) == store.owner]
        if mine:
            store.append(Op.RELEASE, (store.owner, mine))

    def reset(self, reset_inprogress: bool = False) -> None:
        """Start iterating from the beginning again; *skipped* elements become *todo*.

        *done* is never forgotten.

        Args:
            reset_inprogress: also drop every *inprogress* mark, of every
                process sharing the directory: use it to reclaim the elements
                of crashed runs when no other process is working on them.
        """
        store = self._store
        seq = 0
        with store.transaction():
            skipped, self._skipped = self._skipped, set()
            self._on_released(list(skipped))
            self._cursor = 0
            if reset_inprogress and store.marks:
                seq = store.append(Op.RESET, None)
        if seq and self._fsync:
            store.flush(seq)
        logger.debug("%s: reset (inprogress too: %s)", self._name, reset_inprogress)

    def update(self) -> None:
        """Read what other processes wrote since the last call (incremental, fast)."""
        with self._store.transaction():
            pass

    def full_update(self) -> None:
        """Re-read the whole state from disk."""
        with self._store.transaction():
            self._store.reload()

    # -- queries -------------------------------------------------------------

    def get_sweeps(self) -> set[Any]:
        """A new set of all the elements of this sweeper."""
        with self._store.lock:
            return set(self._order)

    def get_remaining(self) -> set[Any]:
        """A new set of the *todo* elements."""
        with self._store.lock:
            return set(self._remaining)

    def get_inprogress(self) -> set[Any]:
        """A new set of the elements *inprogress* in any process."""
        with self._store.lock:
            return set(self._inprogress)

    def get_done(self) -> set[Any]:
        """A new set of the *done* elements."""
        with self._store.lock:
            return set(self._done)

    def get_skipped(self) -> set[Any]:
        """A new set of the elements this sweeper skipped."""
        with self._store.lock:
            return set(self._skipped)

    def stats(self) -> tuple[set[Any], set[Any], set[Any], set[Any], set[Any]]:
        """Atomically: ``(sweeps, remaining, skipped, inprogress, done)``, new sets."""
        with self._store.lock:
            return (
                set(self._order),
                set(self._remaining),
                set(self._skipped),
                set(self._inprogress),
                set(self._done),
            )

    def counts(self) -> SweepCounts:
        """How many elements are in each state (atomic, no copy, no disk access)."""
        with self._store.lock:
            return SweepCounts(
                len(self._order),
                len(self._done),
                len(self._inprogress),
                len(self._skipped),
                len(self._remaining),
            )

    def owners(self) -> dict[str, tuple[int, float | None]]:
        """In-progress marks per owner (``host:pid:token``): ``(count, lease end or None)``.

        Counts every mark in the directory, expired ones included.
        """
        with self._store.lock:
            store = self._store
            result: dict[str, tuple[int, float | None]] = {}
            for owner in store.marks.values():
                count, _ = result.get(owner, (0, None))
                exp = store.expiry.get(owner)
                result[owner] = (count + 1, None if exp in (None, float("inf")) else exp)
            return result

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Release the files (and stop the lease thread when last on this directory).

        Idempotent. The in-progress marks stay (see :meth:`cancel`).
        """
        self._finalizer()

    def __enter__(self) -> ParamSweeper:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __str__(self) -> str:
        c = self.counts()
        return (
            f"{self._name} <{c.total} total, {c.done} done, {c.skipped} skipped, "
            f"{c.inprogress} in progress, {c.remaining} remaining>"
        )

    def __repr__(self) -> str:
        return f"<ParamSweeper {self._dir!r} {self}>"
