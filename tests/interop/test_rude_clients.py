"""Clients that complete the handshake and then drop TCP without a Close frame are
normal traffic: the asyncio and trio echo examples and `wsnegotiate serve` survive
300 of them (half closing with FIN, half with a reset), log nothing at ERROR, and
keep echoing for a well-behaved client connected throughout."""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio
import websockets
from factory import load_example
from test_serve import LOOPS, serve

import wsnegotiate as ws

ASYNCIO_SERVER = load_example("asyncio_echo_server")
TRIO_SERVER = load_example("trio_echo_server")
RUDE = 300


async def rude_client(port: int, reset: bool) -> None:
    """A handshake that succeeds, then TCP ends with no Close frame."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = ws.ClientNegotiator(f"127.0.0.1:{port}", "/")
    writer.write(client.data_to_send())
    while isinstance(event := client.next_event(), ws.NeedData):
        client.receive_data(await asyncio.wait_for(reader.read(4096), 10))
    assert isinstance(event, ws.Connected), event
    if reset:  # SO_LINGER 0: the close sends RST instead of FIN
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def storm_while_echoing(port: int) -> list[str]:
    """300 rude clients, 50 at a time, while one steady client echoes every 10 ms;
    returns what the steady client got back."""
    limit = asyncio.Semaphore(50)

    async def one(index: int) -> None:
        async with limit:
            await rude_client(port, reset=index % 2 == 1)

    echoes: list[str] = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as steady:
        storm = asyncio.gather(*(one(i) for i in range(RUDE)))
        count = 0
        while not storm.done():
            await steady.send(f"still here {count}")
            echoes.append(str(await asyncio.wait_for(steady.recv(), 10)))
            count += 1
            await asyncio.sleep(0.01)
        await storm
        await steady.send("after the storm")
        echoes.append(str(await asyncio.wait_for(steady.recv(), 10)))
    return echoes


def assert_steady(echoes: list[str]) -> None:
    assert echoes[-1] == "after the storm"
    assert echoes[:-1] == [f"still here {i}" for i in range(len(echoes) - 1)]
    assert len(echoes) > 1


def test_asyncio_example(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[dict[str, object]] = []

    async def scenario() -> list[str]:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        server = await asyncio.start_server(ASYNCIO_SERVER.handle, "127.0.0.1", 0)
        try:
            return await storm_while_echoing(server.sockets[0].getsockname()[1])
        finally:
            server.close()
            await server.wait_closed()

    with caplog.at_level("ERROR"):
        assert_steady(asyncio.run(asyncio.wait_for(scenario(), 60)))
    assert errors == []
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.trio
async def test_trio_example() -> None:
    # A handler that raised would end trio.serve_tcp, and this nursery with it.
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, TRIO_SERVER.handle, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        run: Callable[[Awaitable[list[str]]], list[str]] = asyncio.run  # type: ignore[assignment]
        with trio.fail_after(60):
            echoes = await trio.to_thread.run_sync(run, storm_while_echoing(port))
        nursery.cancel_scope.cancel()
    assert_steady(echoes)


@pytest.mark.parametrize("loop", LOOPS)
def test_serve(loop: str) -> None:
    with serve("--no-access-log", loop=loop) as (process, port):
        echoes = asyncio.run(asyncio.wait_for(storm_while_echoing(port), 60))
        assert process.poll() is None  # still serving
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert_steady(echoes)
    assert out.endswith("stopped\n")
    assert err == ""  # no traceback, no error log
