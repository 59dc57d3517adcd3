"""Our client against real servers on 127.0.0.1: websockets, tornado, aiohttp and
Node ws; then one message through wsproto's frame layer. And `probe` against
websockets and Node ws: what a peer does wrong is read off a plain socket in the same
test, so a peer's fix cannot turn a test of our tools red."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any, TypeVar

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket
import websockets
from aiohttp import WSMsgType, web
from peers import echo_counted, echo_once, handshake, node_ws_server

import wsnegotiate as ws
from wsnegotiate._headers import parse_extensions
from wsnegotiate.cli.probe import ProbeRow, Target, probe


@asynccontextmanager
async def websockets_server() -> AsyncIterator[int]:
    async def echo(connection: websockets.ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        yield server.sockets[0].getsockname()[1]


@asynccontextmanager
async def aiohttp_server() -> AsyncIterator[int]:
    async def echo(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            if message.type is WSMsgType.TEXT:
                await socket.send_str(message.data)
        return socket

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


class TornadoEcho(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


@asynccontextmanager
async def tornado_server() -> AsyncIterator[int]:
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(tornado.web.Application([("/", TornadoEcho)]))
    server.add_sockets(sockets)
    try:
        yield sockets[0].getsockname()[1]
    finally:
        server.stop()
        await server.close_all_connections()


SERVERS = {"websockets": websockets_server, "aiohttp": aiohttp_server, "tornado": tornado_server}


T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, 60))


@pytest.mark.parametrize(
    ("name", "version"), [("websockets", 13), ("aiohttp", 13), ("tornado", 13)]
)
def test_handshake_and_one_message(name: str, version: int) -> None:
    async def scenario() -> tuple[ws.Connected | ws.Refused, str]:
        async with SERVERS[name]() as port:
            client = ws.ClientNegotiator(
                f"127.0.0.1:{port}", "/", version, origin=f"http://127.0.0.1:{port}"
            )
            event, reader, writer = await handshake(client, port)
            assert isinstance(event, ws.Connected), event
            return event, await echo_once(event, reader, writer, f"hello {name}")

    event, echoed = run(scenario())
    assert isinstance(event, ws.Connected)
    assert event.version == version
    assert echoed == f"hello {name}"


async def refused_then_retried(
    port: int, version: int
) -> tuple[
    ws.Refused, ws.ClientNegotiator, ws.Connected, asyncio.StreamReader, asyncio.StreamWriter
]:
    """Ask for ``version`` (then 13, 8), read the refusal, retry on a new connection."""
    client = ws.ClientNegotiator(f"127.0.0.1:{port}", "/", version, fallback=[13, 8])
    refused, _, writer = await handshake(client, port)
    writer.close()
    assert isinstance(refused, ws.Refused), refused
    retry = client.retry()
    connected, reader, writer = await handshake(retry, port)
    assert isinstance(connected, ws.Connected), connected
    return refused, retry, connected, reader, writer


def test_tornado_lists_its_version_and_the_retry_lands() -> None:
    # Tornado 6.6 speaks 13 only and says so in its 426, as RFC 6455 §4.2.2 asks.
    async def scenario() -> tuple[ws.Refused, ws.Connected]:
        async with tornado_server() as port:
            refused, _, connected, _, writer = await refused_then_retried(port, 4)
            writer.close()
            return refused, connected

    refused, connected = run(scenario())
    assert (refused.status, refused.advertised) == (426, (13,))
    assert connected.version is ws.Version.Version13


def test_websockets_lists_nothing_and_the_fallbacks_land() -> None:
    # websockets 17 refuses version 7 with a 400 and no Sec-WebSocket-Version (against
    # RFC 6455 §4.2.2); the user's fallbacks are tried in order instead.
    async def scenario() -> tuple[ws.Refused, ws.ClientNegotiator, ws.Connected, str]:
        async with websockets_server() as port:
            refused, retry, connected, reader, writer = await refused_then_retried(port, 7)
            return refused, retry, connected, await echo_once(connected, reader, writer, "hi")

    refused, retry, connected, echoed = run(scenario())
    assert (refused.status, refused.advertised, refused.advertised_nothing) == (400, (), True)
    assert retry.tried == (ws.Version.Version7, ws.Version.Version13)
    assert (connected.version, echoed) == (ws.Version.Version13, "hi")


def test_node_ws_refuses_7_with_its_list_and_the_retry_ends_on_13() -> None:
    async def scenario() -> tuple[ws.Refused, ws.ClientNegotiator, ws.Connected, str]:
        async with node_ws_server() as port:
            refused, retry, connected, reader, writer = await refused_then_retried(port, 7)
            return (
                refused,
                retry,
                connected,
                await echo_once(connected, reader, writer, "hello node"),
            )

    refused, retry, connected, echoed = run(scenario())
    assert (refused.status, refused.advertised) == (400, (13, 8))
    assert retry.tried == (ws.Version.Version7, ws.Version.Version13)
    assert connected.version is ws.Version.Version13
    assert echoed == "hello node"


DEFLATE_SERVERS: dict[str, Callable[[], AbstractAsyncContextManager[int]]] = {
    "websockets": websockets_server,
    "aiohttp": aiohttp_server,
    "node": partial(node_ws_server, "deflate"),
}


@pytest.mark.parametrize("name", DEFLATE_SERVERS)
def test_deflate_agreed_with_real_servers(name: str) -> None:
    """Our client offers permessage-deflate; the agreed parameters are the server's
    answer, and a 1 MiB compressible message goes there and back compressed."""
    text = ("all work and no play makes a dull message " * 25_000)[: 1 << 20]  # 1 MiB

    async def scenario() -> tuple[ws.Connected, str, int]:
        async with DEFLATE_SERVERS[name]() as port:
            client = ws.ClientNegotiator(f"127.0.0.1:{port}", "/", deflate=True)
            event, reader, writer = await handshake(client, port)
            assert isinstance(event, ws.Connected), event
            return event, *await echo_counted(event, reader, writer, text)

    connected, echoed, wire = run(scenario())
    assert echoed == text
    agreed = connected.deflate
    assert agreed is not None
    [answer] = connected.extensions  # as the server sent it
    parsed = parse_extensions(answer.encode())
    assert not isinstance(parsed, int)
    assert dict(parsed[1][0].params) == {
        **({"server_no_context_takeover": None} if agreed.server_no_context_takeover else {}),
        **({"client_no_context_takeover": None} if agreed.client_no_context_takeover else {}),
        **{
            name: str(bits)
            for name in ("server_max_window_bits", "client_max_window_bits")
            if (bits := getattr(agreed, name)) is not None
        },
    }
    assert wire < len(text) // 20, wire  # both ways, compressed


REFUSED_WITHOUT_LIST = "refused without Sec-WebSocket-Version (RFC 6455 §4.2.2)"


def test_probe_websockets_server() -> None:
    async def scenario() -> list[ProbeRow]:
        async with websockets_server() as port:
            return await probe(Target("127.0.0.1", port, "/"), timeout=5)

    rows = {row.family: row for row in run(scenario())}
    # websockets checks Sec-WebSocket-Key before the version and accepts only "13";
    # its 400s carry no Sec-WebSocket-Version.
    assert rows["rfc6455"].status == 101 and rows["rfc6455"].accepted
    for family in (
        "hybi-04",
        "hybi-05",
        "hybi-06",
        "hybi-07",
        "hybi-08",
        "unassigned",
        "malformed",
    ):
        row = rows[family]
        assert (row.status, row.accepted, row.advertised) == (400, False, []), family
        assert any(REFUSED_WITHOUT_LIST in finding for finding in row.findings), family
    assert (rows["hixie-75"].status, rows["hixie-75"].findings) == (400, [])
    assert (rows["none"].status, rows["none"].findings) == (
        400,
        ["a missing version refused without Sec-WebSocket-Version (RFC 6455 §4.4)"],
    )
    # hixie-76's key3 after the head makes websockets fail internally and close
    # without an answer; a later websockets may answer 400 instead.
    hixie76 = rows["hixie-76"]
    assert hixie76.status in (400, None)
    if hixie76.status is None:
        assert hixie76.findings == [
            "no valid answer: the server closed the connection without answering"
        ]


async def status_of(port: int, version: bytes) -> int | None:
    """The status a server answers to an RFC 6455 request carrying ``version``, read off a
    plain socket by hand (None: no answer within 5 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
        + version
        + b"\r\n\r\n"
    )
    try:
        line = await asyncio.wait_for(reader.readline(), 5)
    except TimeoutError:
        return None
    finally:
        writer.close()
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


def test_probe_node_ws_server() -> None:
    async def scenario() -> tuple[list[ProbeRow], int | None]:
        async with node_ws_server() as port:
            rows = await probe(Target("127.0.0.1", port, "/"), timeout=5)
            return rows, await status_of(port, b"013")

    found, status_013 = run(scenario())
    rows = {row.family: row for row in found}
    # ws accepts 8 and 13 and answers other versions with 400 and "13, 8".
    for family in ("hybi-08", "rfc6455"):
        assert (rows[family].status, rows[family].accepted, rows[family].findings) == (
            101,
            True,
            [],
        ), family
    # Before 8.23 ws read the version with JavaScript's unary +, so "013" passed as 13:
    # probe must report exactly what the server does now, read off a plain socket.
    assert rows["malformed"].status == status_013
    accepted_013 = "malformed version '013' accepted (RFC 6455 §4.3)" in rows["malformed"].findings
    assert accepted_013 == (status_013 == 101)
    for family in ("hybi-04", "hybi-05", "hybi-06", "hybi-07", "unassigned", "none"):
        assert (rows[family].status, rows[family].advertised, rows[family].findings) == (
            400,
            [13, 8],
            [],
        ), family
    for family in ("hixie-75", "hixie-76"):
        assert (rows[family].status, rows[family].accepted) == (400, False), family
