"""`wsnegotiate serve` agrees to permessage-deflate with real clients: the websockets
client, Node ws and headless Chromium each send a 1 MiB compressible message and read
its echo. Compression is checked twice: by the client's own report of the agreed
extension, and on the wire, by the bytes that crossed a relay in front of the server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import websockets
from peers import run_node
from test_browser import in_chromium
from test_serve import serve

TEXT = ("all work and no play makes a dull message " * 25_000)[: 1 << 20]


@contextmanager
def counting_relay(port: int) -> Iterator[tuple[int, list[int]]]:
    """A TCP relay on 127.0.0.1 in front of ``port``: yields its own port and a list
    that holds, once the block is done, the bytes that crossed it both ways."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    crossed = [0]
    stop = threading.Event()
    pumps: list[threading.Thread] = []
    sockets: list[socket.socket] = []

    def pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                crossed[0] += len(data)
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", port))
            sockets.extend((client, upstream))
            for pair in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=pump, args=pair, daemon=True)
                thread.start()
                pumps.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    result: list[int] = []
    try:
        yield listener.getsockname()[1], result
    finally:
        stop.set()
        acceptor.join(5)
        for thread in pumps:
            thread.join(10)
        for each in (*sockets, listener):
            each.close()
        result.append(crossed[0])


@contextmanager
def measured(*options: str) -> Iterator[tuple[int, list[int]]]:
    """``serve`` with these options behind a counting relay: yields the relay's port
    and, once the block is done, the bytes that crossed it."""
    with serve(*options) as (_, port), counting_relay(port) as relayed:
        yield relayed


def with_websockets(port: int) -> tuple[str, bool]:
    async def scenario() -> tuple[str, bool]:
        async with websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None) as connection:
            await connection.send(TEXT)
            echoed = await connection.recv() == TEXT
            assert connection.response is not None
            agreed = connection.response.headers.get("Sec-WebSocket-Extensions", "")
        return agreed, echoed

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def with_node(port: int) -> tuple[str, bool]:
    result = run_node("node_ws_deflate_client.js", f"ws://127.0.0.1:{port}/")
    return result["extensions"], result["echoed"]


PAGE = """<!doctype html>
<script>
function exchange(url) {
  const text = "all work and no play makes a dull message ".repeat(25000).slice(0, 1 << 20);
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.onopen = () => socket.send(text);
    socket.onmessage = (event) => {
      const echoed = event.data === text;
      socket.onclose = () => resolve({extensions: socket.extensions, echoed});
      socket.close(1000, "done");
    };
    socket.onerror = () => reject(new Error("WebSocket error"));
  });
}
</script>
"""


def with_chromium(port: int, root: Path) -> tuple[str, bool]:
    result = in_chromium(PAGE, root, f"ws://127.0.0.1:{port}/")
    return result["extensions"], result["echoed"]


@pytest.mark.parametrize(
    ("client", "report"),
    [
        ("websockets", "permessage-deflate; client_max_window_bits=12"),  # the 101's field
        ("node", "permessage-deflate"),  # ws reports the names of the agreed extensions
        ("chromium", "permessage-deflate; client_max_window_bits=12"),
    ],
)
def test_a_large_message_crosses_compressed(client: str, report: str, tmp_path: Path) -> None:
    with measured() as (port, moved):
        if client == "websockets":
            agreed, echoed = with_websockets(port)
        elif client == "node":
            agreed, echoed = with_node(port)
        else:
            agreed, echoed = with_chromium(port, tmp_path)
    assert echoed
    assert agreed == report  # the client's own report of what was agreed
    # 1 MiB went in and came back out: 2 MiB uncompressed, a few kB compressed
    assert moved[0] < 100_000, moved


def test_no_deflate_turns_it_off() -> None:
    with measured("--no-deflate") as (port, moved):
        agreed, echoed = with_websockets(port)
    assert (agreed, echoed) == ("", True)
    assert moved[0] > 2 * len(TEXT)
