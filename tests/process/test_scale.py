"""Many processes, many threads: a constant number of threads."""

from __future__ import annotations

import threading

import pytest

from procession import Process


@pytest.mark.slow
def test_thread_count_is_the_same_with_1_and_1000_children() -> None:
    one = Process("sleep 30").start()
    with_one = threading.active_count()
    many = [Process("sleep 30").start() for _ in range(1000)]
    try:
        assert all(p.running for p in many)
        assert threading.active_count() == with_one
    finally:
        for p in [one, *many]:
            p.kill()
        for p in [one, *many]:
            p.wait(60)
    assert all(p.ended for p in many)


@pytest.mark.slow
def test_1000_concurrent_processes_all_ok() -> None:
    ps = [Process(["sh", "-c", f"sleep 0.5; echo {i}"]).start() for i in range(1000)]
    for p in ps:
        p.wait(120)
    assert all(p.ok for p in ps)
    assert [p.stdout for p in ps] == [f"{i}\n" for i in range(1000)]


def test_use_from_several_threads_at_once() -> None:
    results: list[list[str]] = [[] for _ in range(8)]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(25):
                p = Process(["echo", f"{k}-{i}"]).run(30)
                results[k].append(p.stdout.strip())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert results == [[f"{k}-{i}" for i in range(25)] for k in range(8)]


def test_one_process_waited_and_killed_from_several_threads() -> None:
    p = Process("sleep 30").start()
    done: list[bool] = []
    waiters = [
        threading.Thread(target=lambda: done.append(bool(p.wait(30).ended))) for _ in range(5)
    ]
    for t in waiters:
        t.start()
    killers = [threading.Thread(target=p.kill) for _ in range(3)]
    for t in killers:
        t.start()
    for t in waiters + killers:
        t.join(30)
    assert done == [True] * 5
