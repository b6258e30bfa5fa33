"""The asyncio face: the same objects, awaited from any running loop."""

from __future__ import annotations

import asyncio
import time

from procession import Process


def test_await_process_and_run_async() -> None:
    async def main() -> tuple[int | None, str, bool]:
        p = Process("echo async")
        await p.run_async()
        q = await Process("exit 4", shell=True).start_async()
        await q
        return q.exit_code, p.stdout, p.ok

    assert asyncio.run(main()) == (4, "async\n", True)


def test_waiting_does_not_block_the_loop() -> None:
    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await Process("sleep 0.5").run_async()
        task.cancel()
        return ticks

    assert asyncio.run(main()) >= 10


def test_many_processes_with_gather() -> None:
    async def main() -> list[str]:
        ps = [Process(["echo", str(i)]) for i in range(50)]
        await asyncio.gather(*(p.run_async() for p in ps))
        return [p.stdout for p in ps]

    assert asyncio.run(main()) == [f"{i}\n" for i in range(50)]


def test_expect_async_and_wait_timeout() -> None:
    async def main() -> tuple[int | None, bool, bool]:
        p = Process("echo ready; sleep 30", shell=True)
        await p.start_async()
        index, _ = await p.expect_async("ready", timeout=10)
        t0 = time.monotonic()
        await p.wait_async(0.2)
        still_running = p.running and time.monotonic() - t0 >= 0.2
        p.kill()
        await p
        return index, still_running, p.ended

    assert asyncio.run(main()) == (0, True, True)


def test_async_context_manager_kills() -> None:
    async def main() -> bool:
        async with Process("sleep 30") as p:
            await p.start_async()
        return p.ended and p.killed

    assert asyncio.run(main())


def test_usable_from_a_loop_in_another_thread_like_jupyter() -> None:
    # Jupyter's loop is already running when user code runs; use a loop
    # running in a second thread and submit a coroutine to it.
    loop = asyncio.new_event_loop()
    import threading

    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        fut = asyncio.run_coroutine_threadsafe(Process("echo nb").run_async(), loop)
        p = fut.result(30)
        assert p.stdout == "nb\n"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
