"""Our HTTP/2 client (``wsnegotiate.h2.ClientConnection``) against a real server
that speaks RFC 8441: hypercorn (pinned by the dev extra) serving a bare ASGI echo
app over HTTP/2 with prior knowledge, on 127.0.0.1 and a free port: two WebSockets
on one connection, permessage-deflate, and a refused version retried on a new
stream of the same connection."""

from __future__ import annotations

import asyncio
import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import wsproto.events as wse
from peers import stop

import wsnegotiate as ws
import wsnegotiate.wsproto as ws_frames
from wsnegotiate import h2 as wh

pytest.importorskip("hypercorn")


@contextmanager
def hypercorn() -> Iterator[int]:
    """hypercorn serving ``h2_echo_app:app`` on a free port; yields the port."""
    command = ["-m", "hypercorn", "h2_echo_app:app", "--bind", "127.0.0.1:0"]
    process = subprocess.Popen(
        [sys.executable, *command, "--error-logfile", "-"],
        cwd=Path(__file__).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        log, found = b"", None
        with selectors.DefaultSelector() as selector:  # unbuffered: no line waits unseen
            selector.register(process.stdout, selectors.EVENT_READ)
            while found is None and selector.select(30):
                chunk = os.read(process.stdout.fileno(), 4096)
                assert chunk, f"hypercorn exited before it listened: {log!r}"
                log += chunk
                found = re.search(rb"Running on http://127\.0\.0\.1:(\d+)", log)
        assert found is not None, f"hypercorn printed no address: {log!r}"
        yield int(found[1])
    finally:
        stop(process, signal.SIGTERM, 10)
        process.stdout.close()


class Peer:
    """Our client on an asyncio connection: bytes in and out, events collected."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.client = wh.ClientConnection()
        self.reader, self.writer = reader, writer
        self.events: list[object] = []

    async def flush(self) -> None:
        self.writer.write(self.client.data_to_send())
        await self.writer.drain()

    async def until(self, wanted: type, stream_id: int | None = None) -> object:
        """Read until an event of type ``wanted`` (on ``stream_id``) arrives."""
        for _ in range(1000):
            for index, event in enumerate(self.events):
                if (
                    isinstance(event, wanted)
                    and getattr(event, "stream_id", stream_id) == stream_id
                ):
                    return self.events.pop(index)
            data = await asyncio.wait_for(self.reader.read(65536), 10)
            assert data, f"the server closed the connection; events: {self.events}"
            self.client.receive_data(data)
            while not isinstance(event := self.client.next_event(), ws.NeedData):
                self.events.append(event)
            await self.flush()
        raise AssertionError(f"no {wanted.__name__} came")

    async def echo(self, stream_id: int, connected: ws.Connected, text: str) -> str:
        frames = ws_frames.connection(connected)
        self.client.send(stream_id, frames.send(wse.TextMessage(text)))
        await self.flush()
        received = ""
        while True:
            data = await self.until(wh.StreamData, stream_id)
            assert isinstance(data, wh.StreamData)
            frames.receive_data(data.data)
            for event in frames.events():
                assert isinstance(event, wse.TextMessage), event
                received += event.data
                if event.message_finished:
                    self.client.send(stream_id, frames.send(wse.CloseConnection(1000)))
                    await self.flush()
                    return received


async def scenario(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    peer = Peer(reader, writer)
    try:
        await peer.flush()  # the preface and our SETTINGS: prior knowledge
        assert await peer.until(wh.ServerSettings) == wh.ServerSettings(True)
        authority = f"127.0.0.1:{port}"
        first = peer.client.connect(authority, "/echo", scheme="http", deflate=True)
        second = peer.client.connect(authority, "/other", scheme="http")
        await peer.flush()
        opened = {}
        for stream_id in (first, second):
            event = await peer.until(wh.StreamConnected, stream_id)
            assert isinstance(event, wh.StreamConnected)
            assert (event.connected.status, event.connected.http_version) == (200, "2")
            opened[stream_id] = event.connected
        assert ("server", "hypercorn-h2") in opened[first].headers  # HTTP/2 it is
        assert opened[first].deflate is not None  # and compressed, as agreed
        assert opened[second].deflate is None
        # two WebSockets on one connection, each its own echo
        assert await peer.echo(first, opened[first], "over h2 " * 500) == "over h2 " * 500
        assert await peer.echo(second, opened[second], "second") == "second"
        # hypercorn refuses version 8 with a bare 400 (no version list, RFC 6455 §4.4
        # asks for one): the client tries its fallback, 13, on a new stream
        refused_id = peer.client.connect(authority, "/echo", 8, scheme="http", fallback=[13])
        await peer.flush()
        refused = await peer.until(wh.StreamRefused, refused_id)
        assert isinstance(refused, wh.StreamRefused)
        assert (refused.refused.status, refused.refused.advertised) == (400, ())
        retried = peer.client.retry(refused_id)
        await peer.flush()
        event = await peer.until(wh.StreamConnected, retried)
        assert isinstance(event, wh.StreamConnected)
        assert event.connected.version is ws.Version.Version13
        assert await peer.echo(retried, event.connected, "retried") == "retried"
    finally:
        writer.close()


@pytest.mark.heavy
def test_our_client_against_hypercorn_over_h2() -> None:
    with hypercorn() as port:
        asyncio.run(asyncio.wait_for(scenario(port), 30))
