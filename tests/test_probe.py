"""probe turns every misbehaviour of a server into a row with findings, never a crash."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from h2.errors import ErrorCodes

from wsnegotiate import h2 as wh
from wsnegotiate.cli.probe import H2_PROBES, PROBES, ProbeRow, Target, parse_target, probe

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def closing(handler: Handler) -> Handler:
    """``handler``, its connection dropped however it ends: a handler still reading
    when the test's loop ends is cancelled, and would leave its transport to the
    garbage collector (a ResourceWarning, in whichever test comes next)."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except ConnectionError:
            pass  # the probe leaves as soon as it has its answer
        finally:
            writer.transport.abort()

    return run


def probe_with(handler: Handler, timeout: float = 3.0) -> dict[str, ProbeRow]:
    async def run() -> list[ProbeRow]:
        server = await asyncio.start_server(closing(handler), "127.0.0.1", 0)
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


# -- over HTTP/2 (RFC 8441) ---------------------------------------------------------------


def h2_server(answer: Callable[[dict[bytes, bytes]], list[tuple[bytes, bytes]] | None]) -> Handler:
    """An HTTP/2 server on python-hyper's h2 that sends
    SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 and answers each request with the header
    block ``answer`` gives for its fields (``None``: a reset), and no body."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        connection = h2.connection.H2Connection(config)
        connection.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1}
        )
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        while data := await reader.read(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    block = answer(dict(event.headers or []))
                    if block is None:
                        connection.reset_stream(event.stream_id, ErrorCodes.REFUSED_STREAM)
                    else:
                        connection.send_headers(event.stream_id, block, end_stream=True)
            writer.write(connection.data_to_send())
        writer.close()

    return handler


def probe_h2_with(handler: Handler, timeout: float = 3.0) -> dict[str, ProbeRow]:
    async def run() -> list[ProbeRow]:
        server = await asyncio.start_server(closing(handler), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await probe(Target("127.0.0.1", port, "/"), timeout, http2=True)
        finally:
            server.close()
            await server.wait_closed()

    return {row.family: row for row in asyncio.run(run())}


def test_over_h2_every_family_with_an_http2_form_is_a_row() -> None:
    assert [p.family for p in H2_PROBES] == [
        p.family for p in PROBES if p.family not in ("hixie-75", "hixie-76")
    ]

    def accept_13(fields: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
        if fields.get(b"sec-websocket-version") == b"13":
            return [(b":status", b"200")]
        return [(b":status", b"400"), (b"sec-websocket-version", b"13")]

    rows = probe_h2_with(h2_server(accept_13))
    assert list(rows) == [p.family for p in H2_PROBES]
    assert all(row.findings == [] for row in rows.values()), rows
    assert (rows["rfc6455"].status_line, rows["rfc6455"].accepted) == ("HTTP/2 200", True)
    assert (rows["hybi-08"].status_line, rows["hybi-08"].advertised) == ("HTTP/2 400", [13])


def test_over_h2_what_http2_gets_wrong() -> None:
    """A 426 (it needs Upgrade, which HTTP/2 forbids), a 2xx other than 200, a
    malformed version accepted, a refusal without the list, a reset instead of an
    answer."""

    def wrong(fields: dict[bytes, bytes]) -> list[tuple[bytes, bytes]] | None:
        version = fields.get(b"sec-websocket-version", b"")
        return {
            b"8": [(b":status", b"426"), (b"sec-websocket-version", b"13")],
            b"7": [(b":status", b"204")],
            b"013": [(b":status", b"200")],
            b"14": [(b":status", b"400")],
            b"": None,
        }.get(version, [(b":status", b"200")])

    rows = probe_h2_with(h2_server(wrong))
    assert rows["hybi-08"].findings == [
        "426 over HTTP/2: a 426 needs Upgrade (RFC 9110 §15.5.22), which HTTP/2 forbids "
        "(RFC 9113 §8.2.2); a refused version is a 400"
    ]
    assert rows["hybi-07"].findings == [
        "204 to an extended CONNECT: a WebSocket is accepted with 200 (RFC 8441 §5)"
    ]
    assert rows["malformed"].findings == ["malformed version '013' accepted (RFC 6455 §4.3)"]
    assert rows["unassigned"].findings == [
        "version '14' refused without Sec-WebSocket-Version (RFC 6455 §4.2.2)"
    ]
    assert rows["none"].findings == ["stream reset (REFUSED_STREAM) instead of an answer"]
    assert rows["none"].status is None


def test_over_h2_a_server_without_the_setting_or_without_http2() -> None:
    """No SETTINGS_ENABLE_CONNECT_PROTOCOL: no extended CONNECT is sent (RFC 8441
    §3). An HTTP/1.1 server answering the preface: not HTTP/2."""

    async def no_setting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = wh.ServerConnection(websockets=False)
        writer.write(server.data_to_send())
        while data := await reader.read(65536):
            server.receive_data(data)
            writer.write(server.data_to_send())
        writer.close()

    rows = probe_h2_with(no_setting)
    assert {tuple(row.findings) for row in rows.values()} == {
        ("no SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3): no WebSocket over HTTP/2 here",)
    }
    http11 = probe_h2_with(answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
    for row in http11.values():
        assert row.reached and row.status is None
        assert len(row.findings) == 1 and row.findings[0].startswith("not HTTP/2: "), row


def test_over_h2_a_goaway_instead_of_an_answer() -> None:
    async def goaway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = wh.ServerConnection()
        writer.write(server.data_to_send())
        await reader.read(65536)
        server.close(ErrorCodes.ENHANCE_YOUR_CALM)
        writer.write(server.data_to_send())
        await reader.read()
        writer.close()

    rows = probe_h2_with(goaway)
    assert rows["rfc6455"].findings == ["GOAWAY (ENHANCE_YOUR_CALM) instead of an answer"]


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("wss://h/p", Target("h", 443, "/p", True)),
        ("wss://h:8443", Target("h", 8443, "/", True)),
        ("ws://h", Target("h", 80, "/", False)),
    ],
)
def test_parse_target_with_tls(url: str, target: Target) -> None:
    assert parse_target(url) == target


def test_parse_target_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match=r"'https://h/': not a ws:// or wss:// URL"):
        parse_target("https://h/")


def tls_server(folder: Path, alpn: list[str]) -> tuple[ssl.SSLContext, Path]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(alpn)
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    return context, folder / "ca.pem"


def probe_tls(handler: Handler, context: ssl.SSLContext, *args: str) -> tuple[int, str, str]:
    """``wsnegotiate probe`` (in this process) against a TLS server: exit code,
    standard output, standard error."""
    from wsnegotiate.cli import main

    async def run() -> tuple[int, str]:
        server = await asyncio.start_server(closing(handler), "127.0.0.1", 0, ssl=context)
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        out = io.StringIO()
        try:
            code = await asyncio.to_thread(main, ["probe", url, "--timeout", "3", *args], out)
        finally:
            server.close()
            await server.wait_closed()
        return code, out.getvalue()

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code, out = asyncio.run(run())
    return code, out, err.getvalue()


def test_probe_over_tls_alpn_and_trust(tmp_path: Path) -> None:
    """wss://: HTTP/1.1 over TLS (ALPN http/1.1); --http2 asks ALPN for h2, and a
    server that chooses otherwise is a finding; an untrusted certificate is said
    once, exit 2; --cafile trusts it."""
    context, ca = tls_server(tmp_path, ["http/1.1"])

    async def refusal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await read_head(reader)  # a client that chose to leave sends none
            writer.write(
                b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
            )
        writer.transport.abort()

    code, out, _ = probe_tls(refusal, context, "--cafile", str(ca))
    assert code == 0 and "hybi-08     '8'    426     13" in out, out
    code, out, _ = probe_tls(refusal, context, "--cafile", str(ca), "--http2", "--json")
    rows = json.loads(out)["rows"]
    assert {tuple(row["findings"]) for row in rows} == {
        ("ALPN chose no protocol, not h2: no HTTP/2 on this port",)
    }
    code, out, err = probe_tls(refusal, context)
    assert code == 2
    [line] = err.splitlines()
    assert line.endswith(
        "connection failed: TLS: certificate verify failed: unable to get local issuer certificate"
    ), line
    code, out, _ = probe_tls(refusal, context, "--insecure")
    assert code == 0


def test_probe_tls_options_need_a_wss_url(capsys: pytest.CaptureFixture[str]) -> None:
    from wsnegotiate.cli import main

    assert main(["probe", "ws://127.0.0.1:1/", "--insecure"]) == 2
    assert capsys.readouterr().err == (
        "wsnegotiate probe: --cafile and --insecure are for wss:// URLs\n"
    )
    assert main(["probe", "wss://127.0.0.1:1/", "--cafile", "/nonexistent/ca.pem"]) == 2
    assert capsys.readouterr().err == (
        "wsnegotiate probe: --cafile /nonexistent/ca.pem: No such file or directory\n"
    )
