"""A TCP relay that delays one direction: the stand-in for ``tc netem delay``.

Run inside a fault host's network namespace, where an nftables rule
redirects every TCP connection arriving on the veth to it. For each
connection it connects to the original destination (``SO_ORIGINAL_DST``) and
copies bytes both ways, holding those going to the server for ``--delay-ms``
milliseconds, so every round trip through it takes at least that much longer,
as with netem on the root side of the veth.

Standard library only: it is run as a script (``python -I _delay_relay.py``),
without importing procession. It prints ``listening on PORT`` once it accepts
connections, and exits on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import struct

SO_ORIGINAL_DST = 80  # <linux/netfilter_ipv4.h>
_CHUNK = 65536


def _original_destination(sock: socket.socket) -> tuple[str, int] | None:
    try:
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    except OSError:
        return None  # not a redirected connection
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _copy_delayed(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(_CHUNK)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await sender
    finally:
        sender.cancel()


async def _relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    own_port: int,
    delay: float,
) -> None:
    sock = client_writer.get_extra_info("socket")
    target = _original_destination(sock)
    upstream_writer = None
    try:
        if target is None or target[1] == own_port:
            return  # a readiness probe, or a loop back to ourselves
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        await asyncio.gather(
            _copy_delayed(client_reader, upstream_writer, delay),
            _copy(upstream_reader, client_writer),
        )
    except OSError:
        pass  # a reset or refused connection ends the relayed connection
    finally:
        for writer in (client_writer, upstream_writer):
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()


async def _serve(address: str, delay: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _relay(reader, writer, port, delay)

    server = await asyncio.start_server(handle, address, 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {port}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    """Parse the command line and relay until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", required=True, help="address to listen on")
    parser.add_argument("--delay-ms", type=float, required=True)
    args = parser.parse_args()
    asyncio.run(_serve(args.listen, args.delay_ms / 1000.0))


if __name__ == "__main__":
    main()
