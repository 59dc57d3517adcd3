"""probe turns every misbehaviour of a server into a row with findings, never a crash."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from wsnegotiate.cli.probe import PROBES, ProbeRow, Target, parse_target, probe

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def probe_with(handler: Handler, timeout: float = 3.0) -> dict[str, ProbeRow]:
    async def run() -> list[ProbeRow]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await probe(Target("127.0.0.1", port, "/"), timeout)
        finally:
            server.close()
            await server.wait_closed()

    return {row.family: row for row in asyncio.run(run())}


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def answering(response: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(response)
        await writer.drain()
        writer.close()

    return handler


def test_silence_is_a_timeout_row() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; the probe gives up first
        writer.close()

    rows = probe_with(silent, timeout=0.2)
    assert set(rows) == {p.family for p in PROBES}
    for row in rows.values():
        assert (row.status, row.reached, row.findings) == (None, True, ["no answer within 0.2 s"])


def test_a_reset_is_a_row() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    rows = probe_with(reset)
    for row in rows.values():
        assert row.status is None and row.reached
        assert len(row.findings) == 1
        assert row.findings[0].startswith(
            ("connection reset", "no valid answer: the server closed")
        )


def test_426_without_upgrade_and_a_refusal_without_the_list() -> None:
    rows = probe_with(answering(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n"))
    assert rows["hybi-08"].findings == [
        "426 without Upgrade (RFC 9110 §15.5.22)",
        "version '8' refused without Sec-WebSocket-Version (RFC 6455 §4.2.2)",
    ]
    assert rows["hixie-75"].findings == ["426 without Upgrade (RFC 9110 §15.5.22)"]


def test_garbage_in_the_advertised_list() -> None:
    rows = probe_with(
        answering(
            b"HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13, thirteen\r\nContent-Length: 0\r\n\r\n"
        )
    )
    assert rows["hybi-07"].advertised == [13]
    assert rows["hybi-07"].findings == ["Sec-WebSocket-Version lists garbage: thirteen"]


def test_a_101_a_client_must_reject() -> None:
    rows = probe_with(
        answering(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n"
        )
    )
    row = rows["rfc6455"]
    assert (row.status, row.accepted) == (101, False)
    assert row.findings == [
        "a 101 a client must reject (RFC 6455 §4.1): Sec-WebSocket-Accept: invalid 'bogus' does not match the key"
    ]


@pytest.mark.parametrize(
    ("url", "target"),
    [("ws://h:81/p?q=1", Target("h", 81, "/p?q=1")), ("ws://h", Target("h", 80, "/"))],
)
def test_parse_target(url: str, target: Target) -> None:
    assert parse_target(url) == target


def test_a_plain_http_server_is_no_websocket_endpoint() -> None:
    rows = probe_with(
        answering(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello")
    )
    for row in rows.values():
        assert row.status == 200 and not row.accepted
        assert row.findings[0] == "200 to an upgrade request: the Upgrade was ignored"
        assert (row.status_line, row.body) == ("HTTP/1.1 200 OK", "hello")
        assert row.headers == [("Content-Type", "text/html"), ("Content-Length", "5")]


def test_a_redirect_and_an_http10_answer() -> None:
    redirect = probe_with(
        answering(b"HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n")
    )
    assert redirect["rfc6455"].findings == ["redirected (302) to '/login' instead of an answer"]
    old = probe_with(answering(b"HTTP/1.0 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\r\n"))
    assert old["hybi-08"].findings == ["answered with HTTP/1.0 to an HTTP/1.1 request"]
    assert old["hybi-08"].status_line == "HTTP/1.0 400 Bad Request"


def test_a_refusal_that_advertises_what_it_refused() -> None:
    rows = probe_with(
        answering(
            b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13, 8\r\nContent-Length: 0\r\n\r\n"
        )
    )
    assert rows["hybi-08"].findings == ["version 8 refused, yet advertised as supported"]
    assert rows["rfc6455"].findings == ["version 13 refused, yet advertised as supported"]
    assert rows["malformed"].findings == []  # '013' is not 13: refusing it is right
    assert rows["hybi-07"].findings == []


def test_exit_codes_say_whether_anything_answered(capsys: pytest.CaptureFixture[str]) -> None:
    from wsnegotiate.cli import main

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async def run(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        try:
            return await asyncio.to_thread(main, ["probe", url, "--timeout", "0.2"])
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(run(silent)) == 1  # reached, but no row got an answer
    assert asyncio.run(run(answering(b"HTTP/1.1 404 Not Found\r\n\r\n"))) == 0
    capsys.readouterr()


def test_what_a_server_sent_is_shown_as_utf8() -> None:
    body = "Version: nicht unterstützt (RFC 6455 §4.4) ".encode() + b"\xff"  # not UTF-8
    rows = probe_with(
        answering(
            b"HTTP/1.1 400 Ung\xc3\xbcltig\r\nX-Note: \xc2\xa7 4.4\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
    )
    row = rows["rfc6455"]
    assert row.status_line == "HTTP/1.1 400 Ungültig"
    assert ("X-Note", "§ 4.4") in row.headers
    assert row.body == "Version: nicht unterstützt (RFC 6455 §4.4) \\xff"  # not UTF-8: escaped
