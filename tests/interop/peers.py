"""Real peers for the interop tests: servers started on 127.0.0.1 with free ports,
always stopped, and a client loop that drives a ClientNegotiator over asyncio."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import wsproto.events

import wsnegotiate as ws
import wsnegotiate.wsproto

ROOT = Path(__file__).parent.parent.parent
NODE_MODULES = Path(
    os.environ.get("WSNEGOTIATE_NODE_MODULES", ROOT / "tests" / "interop" / "node_modules")
)


def stop(process: subprocess.Popen[Any], signum: int, seconds: float) -> None:
    """Send ``signum`` to a running ``process`` and wait; kill it after ``seconds``."""
    if process.poll() is None:
        process.send_signal(signum)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:  # pragma: no cover - a hung server fails the test
        process.kill()
        process.wait()


async def handshake(
    client: ws.ClientNegotiator, port: int
) -> tuple[ws.Connected | ws.Refused, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(client.data_to_send())
    event: ws.NeedData | ws.Connected | ws.Refused = client.next_event()
    while isinstance(event, ws.NeedData):
        client.receive_data(await asyncio.wait_for(reader.read(65536), 10))
        event = client.next_event()
    return event, reader, writer


async def echo_once(
    connected: ws.Connected, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str
) -> str:
    """One text message through wsproto's frame layer, fed the trailing bytes first."""
    received, _ = await echo_counted(connected, reader, writer, text)
    return received


async def echo_counted(
    connected: ws.Connected, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: str
) -> tuple[str, int]:
    """``echo_once``, compressing as the handshake agreed; also the bytes that
    crossed the wire both ways for the message and its echo."""
    frames = wsnegotiate.wsproto.connection(connected)
    sent = frames.send(wsproto.events.TextMessage(data=text))
    writer.write(sent)
    wire, received = len(sent), ""
    while True:
        for event in frames.events():
            if isinstance(event, wsproto.events.TextMessage):
                received += event.data
                if event.message_finished:
                    writer.write(frames.send(wsproto.events.CloseConnection(code=1000)))
                    writer.close()
                    return received, wire
            elif isinstance(event, wsproto.events.CloseConnection):
                raise AssertionError(f"closed before the echo: {event}")
        data = await asyncio.wait_for(reader.read(65536), 10)
        wire += len(data)
        frames.receive_data(data or None)


def run_node(script: str, *args: str) -> dict[str, Any]:
    """Run a Node script of this folder with Node's ws on its path; it prints one
    JSON object, which must carry no ``error``."""
    node_ws_available()
    done = subprocess.run(
        ["node", str(Path(__file__).parent / script), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    result: dict[str, Any] = json.loads(done.stdout)
    assert "error" not in result, result
    return result


NODE_MISSING = (
    "Node and its pinned ws package are needed (npm ci --prefix tests/interop; .ci/run does)"
    if shutil.which("node") is None or not (NODE_MODULES / "ws").is_dir()
    else None
)
#: For tests that cannot skip from inside (a skip raised in a trio nursery loses its reason).
needs_node = pytest.mark.skipif(NODE_MISSING is not None, reason=NODE_MISSING or "")


def node_ws_available() -> None:
    if NODE_MISSING is not None:
        pytest.skip(NODE_MISSING)


@asynccontextmanager
async def script_server(*command: str, env: dict[str, str]) -> AsyncIterator[list[str]]:
    """A server script of this folder run as a process, which prints ``listening PORT``
    (and maybe more words) and ends when its standard input does; yields those words
    after ``listening``."""
    process = await asyncio.create_subprocess_exec(
        *command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("listening "), line
        yield line.split()[1:]
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


@asynccontextmanager
async def node_ws_server(*args: str) -> AsyncIterator[int]:
    """A Node ws echo server (``"deflate"``: agreeing to permessage-deflate); yields
    its port."""
    node_ws_available()
    script = str(Path(__file__).parent / "node_ws_server.js")
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    async with script_server("node", script, *args, env=env) as words:
        yield int(words[0])
