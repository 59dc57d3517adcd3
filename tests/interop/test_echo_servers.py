"""The example echo servers against real clients: the asyncio server under asyncio,
the trio server under the trio test runner."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import trio
from clients import ASYNC_CLIENTS, expected, with_node
from factory import load_example
from peers import needs_node

ASYNCIO_SERVER = load_example("asyncio_echo_server")
TRIO_SERVER = load_example("trio_echo_server")
CLIENTS = [*ASYNC_CLIENTS, "node"]


@pytest.mark.parametrize("client", CLIENTS)
def test_asyncio_echo_server(client: str) -> None:
    async def scenario() -> object:
        server = await asyncio.start_server(ASYNCIO_SERVER.handle, "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        try:
            if client == "node":
                return await asyncio.to_thread(with_node, url)
            return await asyncio.wait_for(ASYNC_CLIENTS[client](url), 30)
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()) == expected(client)


@pytest.mark.trio
@pytest.mark.parametrize("client", [*ASYNC_CLIENTS, pytest.param("node", marks=needs_node)])
async def test_trio_echo_server(client: str) -> None:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, TRIO_SERVER.handle, 0, host="127.0.0.1")
        )
        url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        with trio.fail_after(30):
            if client == "node":
                outcome = await trio.to_thread.run_sync(with_node, url)
            else:  # asyncio clients in a thread of their own
                outcome = await trio.to_thread.run_sync(asyncio.run, ASYNC_CLIENTS[client](url))
        nursery.cancel_scope.cancel()
    assert outcome == expected(client)


@pytest.mark.trio
async def test_trio_server_refuses_with_its_list() -> None:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, TRIO_SERVER.handle, 0, host="127.0.0.1")
        )
        stream = await trio.open_tcp_stream("127.0.0.1", listeners[0].socket.getsockname()[1])
        async with stream:
            await stream.send_all(
                b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 6\r\n\r\n"
            )
            answer = b""
            with trio.fail_after(10):
                while chunk := await stream.receive_some():
                    answer += chunk
        nursery.cancel_scope.cancel()
    assert answer.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nSec-WebSocket-Version: 13, 8, 7\r\n" in answer


@pytest.mark.heavy
def test_every_skip_says_why(tmp_path: Path) -> None:
    """Without Node's ws, the Node cases skip, each with its reason (under -rs)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            __file__,
            "-k",
            "node",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--no-cov",
            "-n",
            "0",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parent.parent.parent,
        env={**os.environ, "CI": "", "WSNEGOTIATE_NODE_MODULES": str(tmp_path / "none")},
    )
    skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skips) == 2, done.stdout
    assert all("Node and its pinned ws package are needed" in line for line in skips), skips
