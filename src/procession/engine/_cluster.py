"""Bag-of-tasks runs over host groups: one combination at a time per group."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple

from procession import logger as _root_logger

from ._engine import Engine
from ._progress import Progress
from ._results import Results
from ._sweeper import ParamSweeper

__all__ = ["BagStats", "ClusterEngine", "run_on_clusters"]

logger: Final = _root_logger.getChild("engine")

TaskFunction = Callable[[Any, list[Any]], "bool | None"]
"""``fn(combination, hosts)``: True or None = done, False = skip, exception = skip."""


class BagStats(NamedTuple):
    """What a bag-of-tasks run did: combinations done, skipped (False), failed (exception)."""

    done: int
    skipped: int
    failed: int


class _Bag:
    """What the workers of one run share."""

    def __init__(self, sweeper: ParamSweeper, fn: TaskFunction, stop: threading.Event) -> None:
        self.sweeper = sweeper
        self.fn = fn
        self.stop = stop
        self.lock = threading.Lock()
        self.done = self.skipped = self.failed = 0
        self.fatal: list[BaseException] = []

    def count(self, field: str) -> None:
        with self.lock:
            setattr(self, field, getattr(self, field) + 1)


def _cluster_of(combination: Hashable, factor: str) -> Any:
    try:
        return combination[factor]  # type: ignore[index]
    except (KeyError, TypeError):
        return None


def _worker(name: str, hosts: list[Any], view: ParamSweeper, bag: _Bag) -> None:
    comb: Any = None
    try:
        while not bag.stop.is_set():
            comb = view.get_next()
            if comb is None:
                return
            logger.info("%s: start %s on %d host(s)", name, comb, len(hosts))
            try:
                ok = bag.fn(comb, list(hosts))
            except Exception:
                logger.exception("%s: combination %s failed; skipped", name, comb)
                view.skip(comb)
                bag.sweeper.skip(comb)
                bag.count("failed")
            else:
                if ok is False:
                    logger.info("%s: combination %s skipped", name, comb)
                    view.skip(comb)
                    bag.sweeper.skip(comb)
                    bag.count("skipped")
                else:
                    view.done(comb)
                    bag.count("done")
                    logger.info("%s: done %s", name, comb)
            comb = None
    except BaseException as exc:  # the sweeper itself failed (or SystemExit from fn)
        with bag.lock:
            bag.fatal.append(exc)
        bag.stop.set()
        if comb is not None:
            with contextlib.suppress(Exception):
                view.cancel(comb)


def run_on_clusters(
    sweeper: ParamSweeper,
    clusters: Mapping[str, Any],
    fn: TaskFunction,
    *,
    cluster_factor: str = "cluster",
    stop: threading.Event | None = None,
) -> BagStats:
    """Run ``fn(combination, hosts)`` for every *todo* combination of ``sweeper``.

    The combinations are dicts whose ``cluster_factor`` entry names the host
    group to run on. Each host group runs one combination at a time, in its
    own thread; all groups run in parallel. ``fn`` returning True or None
    marks the combination done; False skips it (retried by a later run);
    an exception skips it too and is logged with its traceback.
    Combinations naming no known group are skipped with a warning.

    Threads: one per host group, joined before returning; ``fn`` runs in
    them. On Ctrl-C in the calling thread, no new combination starts and
    the running ones are waited for (a second Ctrl-C abandons them: their
    in-progress marks remain, see :meth:`ParamSweeper.reset`).

    Args:
        sweeper: the combinations and their shared, persistent state.
        clusters: host groups, ``{name: hosts}`` where hosts is a list of
            hosts, or any reservation (``procession.reservation``: an OAR
            job, a Slurm allocation, ``StaticHosts``) whose ``hosts`` are
            used once it has started.
        fn: the task function.
        cluster_factor: the factor holding the host group name.
        stop: set it (from any thread) to stop starting new combinations.

    Returns:
        Counts of this call's combinations done, skipped and failed.

    Raises:
        Exception: the first error of the sweeper itself in a worker (after
            every worker stopped).
    """
    stop = threading.Event() if stop is None else stop
    sweeps = sweeper.sweeps
    orphans = [c for c in sweeps if _cluster_of(c, cluster_factor) not in clusters]
    if orphans:
        logger.warning(
            "%d combination(s) name no host group of %s (factor %r): skipped, e.g. %s",
            len(orphans),
            sorted(clusters),
            cluster_factor,
            orphans[0],
        )
        sweeper.skip_batch(orphans)
    bag = _Bag(sweeper, fn, stop)
    views: list[ParamSweeper] = []
    threads: list[threading.Thread] = []
    finished: list[threading.Event] = []
    try:
        for name, group in clusters.items():
            hosts = _group_hosts(name, group)
            mine = [c for c in sweeps if _cluster_of(c, cluster_factor) == name]
            view = ParamSweeper(
                sweeper.persistence_dir,
                mine,
                name=f"{sweeper.name}[{name}]",
                lease=sweeper.lease,
                fsync=sweeper.fsync,
            )
            views.append(view)
            done = threading.Event()
            finished.append(done)
            args = (name, list(hosts), view, bag, done)
            threads.append(
                threading.Thread(
                    target=_run_worker, args=args, name=f"procession-cluster {name}", daemon=True
                )
            )
        for thread in threads:
            thread.start()
        _join_all(threads, finished, stop)
    finally:
        for view in views:
            view.close()
    if bag.fatal:
        raise bag.fatal[0]
    return BagStats(bag.done, bag.skipped, bag.failed)


def _group_hosts(name: str, group: Any) -> list[Any]:
    """The hosts of a host group: a list, or a reservation's hosts."""
    if hasattr(group, "wait_start") and hasattr(group, "hosts"):
        if not group.wait_start():
            raise RuntimeError(f"host group {name!r}: the reservation did not start")
        return list(group.hosts)
    return list(group)


def _run_worker(
    name: str, hosts: list[Any], view: ParamSweeper, bag: _Bag, done: threading.Event
) -> None:
    try:
        _worker(name, hosts, view, bag)
    finally:
        done.set()


def _join_all(
    threads: list[threading.Thread], finished: list[threading.Event], stop: threading.Event
) -> None:
    # Wait on each worker's own "finished" event rather than Thread.is_alive():
    # on Python 3.11 a Thread.join() interrupted by Ctrl-C can leave a running
    # thread reported as stopped, and the interrupted run would then return
    # while a combination still runs (its result written, never marked done).
    try:
        for done in finished:
            while not done.wait(0.2):
                pass
    except KeyboardInterrupt:
        logger.warning(
            "interrupted: waiting for the running combinations (Ctrl-C again to abandon them)"
        )
        stop.set()
        for done in finished:
            while not done.wait(0.2):
                pass
        raise
    for thread in threads:
        thread.join(5)


_held: set[str] = set()
_held_lock = threading.Lock()


@contextlib.contextmanager
def _exclusive(path: str) -> Iterator[None]:
    """Hold ``path`` locked against other processes and other threads of this one."""
    busy = f"another ClusterEngine runs in {os.path.dirname(path)} (lock {path} is held)"
    key = os.path.realpath(path)
    with _held_lock:
        # Checked before opening: POSIX locks do not exclude the threads of one
        # process, and closing a second descriptor would drop the holder's lock.
        if key in _held:
            raise RuntimeError(busy)
        _held.add(key)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise RuntimeError(busy) from None
            yield
        finally:
            os.close(fd)
    finally:
        with _held_lock:
            _held.discard(key)


class ClusterEngine(Engine):
    """An :class:`Engine` running a bag of tasks over host groups, resumable with ``-c``.

    The sweep's combinations hold the name of the host group (cluster) they
    run on in the ``cluster_factor`` entry; for every *todo* combination,
    :meth:`run_combination` is called with the hosts of that group, one
    combination at a time per group, all groups in parallel (see
    :func:`run_on_clusters`). State lives in ``<result_dir>/sweeper``:
    ``-c <result_dir>`` continues a stopped or crashed run, retrying the
    skipped and the interrupted combinations. :attr:`results` (a
    :class:`Results` next to the sweeper) is there to record measures.

    Either pass ``sweeps``, ``clusters`` and ``fn``, or override
    :meth:`get_sweeps`, :meth:`get_clusters` and :meth:`run_combination`::

        def bench(comb, hosts):
            ...                      # run the experiment on hosts
            engine.results.append(comb, {"time": 1.2})

        engine = ClusterEngine(
            sweep({"cluster": ["paravance", "grisou"], "size": [1, 10, 100]}),
            {"paravance": ["p-1", "p-2"], "grisou": ["g-1"]},
            bench,
        )
        engine.start()

    One ``ClusterEngine`` at a time per result directory (a lock file
    enforces it): at start it drops the in-progress marks left by an
    earlier run that died.

    Threads: :meth:`run_combination` runs in one thread per host group.

    Args:
        sweeps: the combinations (e.g. from :func:`sweep`).
        clusters: host groups ``{name: [host, ...]}``.
        fn: ``fn(combination, hosts) -> bool | None``.
        cluster_factor: the factor naming the host group.
        lease: lease of the in-progress marks, seconds (see
            :class:`ParamSweeper`).
    """

    def __init__(
        self,
        sweeps: Sequence[Hashable] | None = None,
        clusters: Mapping[str, Sequence[Any]] | None = None,
        fn: TaskFunction | None = None,
        *,
        cluster_factor: str = "cluster",
        lease: float | None = None,
    ) -> None:
        super().__init__()
        self._sweeps = sweeps
        self._clusters = clusters
        self._fn = fn
        self.cluster_factor = cluster_factor
        """The factor of the combinations that names their host group."""
        self.lease = lease
        """Lease of the in-progress marks, seconds, or None."""
        self.sweeper: ParamSweeper | None = None
        """The run's sweeper (during :meth:`run`)."""
        self.results: Results | None = None
        """Results file next to the sweeper (during and after :meth:`run`)."""
        self.stats: BagStats | None = None
        """Counts of the last run (after :meth:`run`)."""

    def get_sweeps(self) -> Sequence[Hashable]:
        """The combinations to run (default: ``sweeps`` given to the constructor)."""
        if self._sweeps is None:
            raise NotImplementedError("pass sweeps= to ClusterEngine or override get_sweeps()")
        return self._sweeps

    def get_clusters(self) -> Mapping[str, Sequence[Any]]:
        """The host groups ``{name: hosts}`` (default: ``clusters`` given to the constructor)."""
        if self._clusters is None:
            raise NotImplementedError("pass clusters= to ClusterEngine or override get_clusters()")
        return self._clusters

    def run_combination(self, combination: Any, hosts: list[Any]) -> bool | None:
        """Run one combination on ``hosts`` (default: the ``fn`` given to the constructor).

        Returns:
            True or None: done; False: skip (retried by a later run).
            Exceptions are logged and the combination skipped.
        """
        if self._fn is None:
            raise NotImplementedError("pass fn= to ClusterEngine or override run_combination()")
        return self._fn(combination, hosts)

    def run(self) -> None:
        """Run every todo combination; see the class documentation."""
        assert self.result_dir is not None
        with _exclusive(os.path.join(self.result_dir, ".cluster-engine.lock")):
            sweeper = ParamSweeper(
                os.path.join(self.result_dir, "sweeper"),
                self.get_sweeps(),
                save_sweeps=True,
                name=self.run_name,
                lease=self.lease,
            )
            self.sweeper = sweeper
            try:
                sweeper.reset(reset_inprogress=True)  # left by an earlier run that died
                self.results = Results(sweeper.persistence_dir)
                logger.info("starting: %s", sweeper)
                with Progress(sweeper):
                    self.stats = run_on_clusters(
                        sweeper,
                        self.get_clusters(),
                        self.run_combination,
                        cluster_factor=self.cluster_factor,
                    )
                logger.info("finished: %s (%s)", sweeper, self.stats)
            finally:
                sweeper.close()
