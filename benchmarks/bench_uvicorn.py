"""The same Starlette app under uvicorn with each WebSocket class, side by side:
handshakes per second (fresh connections, 20 at a time) and echo round trips per
second (one connection, one message at a time), over 127.0.0.1, in one run, and
the server process's own CPU time for each (utime + stime, which a load generator
sharing the machine cannot hide). Each server is its own process; the load comes
from this one. Prints medians of the rounds and ratios to ``--ws wsproto``.

    python -m benchmarks.bench_uvicorn [--rounds 3] [--handshakes 1000] [--echoes 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .e2e import cpu_seconds

EXAMPLES = Path(__file__).parent.parent / "examples"
CLASSES = {
    "wsproto": "wsproto",
    "websockets": "websockets",
    "wsnegotiate": "wsnegotiate.uvicorn:WebSocketProtocol",
    "wsnegotiate, h11 only": "benchmarks.uvicorn_h11:WebSocketProtocol",
}
REQUEST = (
    b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
HELLO = b"\x81\x85\x00\x00\x00\x00hello"  # a masked text frame (an all-zero mask)
ECHO = b"\x81\x05hello"


def start(ws: str) -> tuple[subprocess.Popen[bytes], int]:
    """uvicorn on a free port, its logs off (a full log pipe would stall it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "starlette_app:app", "--app-dir", str(EXAMPLES),
         "--host", "127.0.0.1", "--port", str(port), "--ws", ws, "--log-level", "warning",
         "--no-access-log", "--ws-per-message-deflate", "false"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=EXAMPLES.parent,  # benchmarks.uvicorn_h11 is imported from here
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"uvicorn --ws {ws} did not start")


async def one_handshake(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    writer.transport.abort()


async def handshakes(port: int, count: int, concurrency: int = 20) -> float:
    limit = asyncio.Semaphore(concurrency)

    async def bounded() -> None:
        async with limit:
            await one_handshake(port)

    started = time.perf_counter()
    await asyncio.gather(*(bounded() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def echoes(port: int, count: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    await reader.readuntil(b"\r\n\r\n")
    started = time.perf_counter()
    for _ in range(count):
        writer.write(HELLO)
        assert await reader.readexactly(len(ECHO)) == ECHO
    rate = count / (time.perf_counter() - started)
    writer.write(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # Close 1000
    writer.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--handshakes", type=int, default=1000)
    parser.add_argument("--echoes", type=int, default=2000)
    args = parser.parse_args()
    # class -> [handshakes/s, server µs per handshake, echoes/s, server µs per echo] by round
    results: dict[str, list[list[float]]] = {name: [[], [], [], []] for name in CLASSES}
    for _ in range(args.rounds):  # interleaved: every class in every round
        for name, ws in CLASSES.items():
            process, port = start(ws)
            try:
                asyncio.run(handshakes(port, 50))  # warm up
                for column, (trial, count) in enumerate(
                    [(handshakes, args.handshakes), (echoes, args.echoes)]
                ):
                    before = cpu_seconds(process.pid)
                    results[name][2 * column].append(asyncio.run(trial(port, count)))
                    used = cpu_seconds(process.pid) - before
                    results[name][2 * column + 1].append(used / count * 1e6)
            finally:
                process.send_signal(signal.SIGINT)
                process.wait(10)
    base = results["wsproto"]
    print(
        f"uvicorn, Starlette echo app, {args.rounds} rounds, medians; ratios to --ws wsproto:"
        " the median of each round's ratio"
    )
    print(
        f"{'--ws':<22}{'handshakes/s':>13}{'ratio':>7}{'CPU µs':>8}{'ratio':>7}"
        f"{'echoes/s':>10}{'ratio':>7}{'CPU µs':>8}{'ratio':>7}"
    )
    for name, columns in results.items():
        row = [statistics.median(column) for column in columns]
        ratios = [  # paired: the same round's trials, so a slow spell hits both sides
            statistics.median(a / b for a, b in zip(column, base[i], strict=True))
            for i, column in enumerate(columns)
        ]
        cells = "".join(
            f"{value:>{13 if i == 0 else 10 if i == 2 else 8},.0f}{ratios[i]:>7.2f}"
            for i, value in enumerate(row)
        )
        print(f"{name:<22}{cells}")


if __name__ == "__main__":
    main()
