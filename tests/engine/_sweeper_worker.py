"""A process using a shared ParamSweeper, for the multi-process tests.

Usage: python _sweeper_worker.py MODE DIR LOG [SEED [FSYNC]]

Modes:
  consume  take and mark done until nothing is left.
  chaos    the same, but also cancels and skips at random, with a tiny
           compaction threshold so that compactions happen all the time.
  hold     take one element with a 0.6 s lease, print it, then sleep
           (the heartbeat thread keeps the lease alive).

After ``done(c)`` returns, ``c["i"]`` is appended to LOG (one write per
line, O_APPEND): the test checks that every logged element is done for
every later reader, whenever the process is SIGKILLed.
"""

from __future__ import annotations

import os
import random
import sys
import time

from procession.engine import ParamSweeper


def _log(fd: int, value: int) -> None:
    os.write(fd, f"{value}\n".encode())


def consume(directory: str, log: str, seed: int, chaos: bool, fsync: bool) -> None:
    rng = random.Random(seed)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    threshold = 20 if chaos else None
    with ParamSweeper(directory, compact_threshold=threshold, fsync=fsync) as sweeper:
        while (comb := sweeper.get_next()) is not None:
            if chaos:
                roll = rng.random()
                if roll < 0.15:
                    sweeper.cancel(comb)
                    continue
                if roll < 0.2:
                    sweeper.skip(comb)
                    continue
            sweeper.done(comb)
            _log(fd, comb["i"])
    os.close(fd)


def hold(directory: str) -> None:
    sweeper = ParamSweeper(directory, lease=0.6)
    comb = sweeper.get_next()
    print(comb["i"] if comb is not None else "none", flush=True)
    time.sleep(3600)


def main() -> None:
    mode, directory, log = sys.argv[1:4]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    fsync = sys.argv[5] != "nofsync" if len(sys.argv) > 5 else True
    if mode == "hold":
        hold(directory)
    else:
        consume(directory, log, seed, chaos=mode == "chaos", fsync=fsync)


if __name__ == "__main__":
    main()
