"""`wsnegotiate serve` on HTTP/2 (RFC 8441), run as a real process on 127.0.0.1 with a
free port: prior knowledge on a plain port, ALPN h2 and http/1.1 on a TLS port
(a trustme certificate), many WebSockets on one connection, the access log of
both protocols, the limits per stream, the stop (Close 1001 on each stream, then
GOAWAY); and real peers: Node's own http2 client, headless Chromium over h2, and
``probe --http2`` against serve and hypercorn."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import websockets
import wsproto.events as wse
from h2.errors import ErrorCodes
from peers import stop
from test_serve import LOOPS, read_line
from wsproto.connection import Connection, ConnectionType

import wsnegotiate as ws
import wsnegotiate.wsproto as ws_frames
from wsnegotiate import h2 as wh

trustme = pytest.importorskip("trustme", reason="trustme (the dev extra) makes the certificates")

HERE = Path(__file__).parent
FAST = ("--ping-interval", "0.3", "--ping-timeout", "0.3", "--close-timeout", "0.3")
#: an access-log line: client, method, target, protocol, status, version
ACCESS = re.compile(r'^wsnegotiate serve: (\S+) "(\S+) (\S+) (HTTP/[\d.]+)" (\d+) (\S+)$', re.M)


@dataclass(frozen=True)
class Certificate:
    """A server certificate for 127.0.0.1 from a CA of the test's own."""

    cert: Path  # the chain, PEM
    key: Path
    ca: Path  # the CA's certificate, PEM, for the clients
    spki: str  # base64 of the SHA-256 of the server key's SubjectPublicKeyInfo

    def client_context(self, alpn: list[str]) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        context.set_alpn_protocols(alpn)
        return context


def certificate(folder: Path) -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    paths = Certificate(folder / "cert.pem", folder / "key.pem", folder / "ca.pem", "")
    issued.private_key_pem.write_to_path(str(paths.key))
    issued.cert_chain_pems[0].write_to_path(str(paths.cert))
    ca.cert_pem.write_to_path(str(paths.ca))
    key = x509.load_pem_x509_certificate(paths.cert.read_bytes()).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Certificate(
        paths.cert, paths.key, paths.ca, base64.b64encode(hashlib.sha256(spki).digest()).decode()
    )


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    log: Path  # its standard error

    def access(self) -> list[tuple[str, ...]]:
        """The access-log lines so far, as (client, method, target, protocol,
        status, version)."""
        return ACCESS.findall(self.log.read_text())

    def stop(self) -> str:
        """SIGTERM, wait for the exit; its standard error."""
        stop(self.process, signal.SIGTERM, 10)
        return self.log.read_text()


@contextmanager
def serve(
    folder: Path, *options: str, loop: str = "asyncio", tls: Certificate | None = None
) -> Iterator[Server]:
    """``wsnegotiate serve`` on a free port (with TLS: ``tls``'s certificate); its
    standard error goes to a file in ``folder``, so a long log never blocks it."""
    if tls is not None:
        options = (*options, "--certfile", str(tls.cert), "--keyfile", str(tls.key))
    log = folder / f"serve-{time.monotonic_ns()}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "wsnegotiate", "serve", "--port", "0", "--loop", loop, *options],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        line = read_line(process)
        scheme = "wss" if tls is not None else "ws"
        match = re.fullmatch(rf"listening on {scheme}://127\.0\.0\.1:(\d+)/\n", line)
        assert match, (line, log.read_text())
        yield Server(process, int(match[1]), log)
    finally:
        stop(process, signal.SIGTERM, 10)
        assert process.stdout is not None
        process.stdout.close()


class Peer:
    """Our HTTP/2 client on an asyncio connection: bytes in and out, events kept."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.client = wh.ClientConnection()
        self.reader, self.writer = reader, writer
        self.events: list[object] = []

    @classmethod
    async def open(cls, port: int, tls: ssl.SSLContext | None = None) -> Peer:
        """A connection whose server SETTINGS allow WebSockets."""
        if tls is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls)
        peer = cls(reader, writer)
        assert await peer.until(wh.ServerSettings) == wh.ServerSettings(True)
        return peer

    def close(self) -> None:
        """TLS is dropped at once: its close waits for the server's close_notify over
        loop turns the test's loop may not have left, and the socket would go to the
        garbage collector (a ResourceWarning in whichever test comes next)."""
        if self.writer.get_extra_info("ssl_object") is not None:
            self.writer.transport.abort()
        else:
            self.writer.close()

    async def flush(self) -> None:
        self.writer.write(self.client.data_to_send())
        await self.writer.drain()

    async def until(self, wanted: type, stream_id: int | None = None, seconds: float = 10) -> Any:
        """Read until an event of type ``wanted`` (on ``stream_id``) arrives."""
        await self.flush()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for index, event in enumerate(self.events):
                if isinstance(event, wanted) and getattr(event, "stream_id", None) == stream_id:
                    return self.events.pop(index)
            data = await asyncio.wait_for(self.reader.read(65536), deadline - time.monotonic())
            self.client.receive_data(data)
            while not isinstance(event := self.client.next_event(), ws.NeedData):
                self.events.append(event)
            await self.flush()
        raise AssertionError(f"no {wanted.__name__} within {seconds} s: {self.events}")

    async def websocket(self, path: str = "/", **options: Any) -> tuple[int, Connection]:
        """A WebSocket on a new stream, and its frame layer."""
        stream_id = self.client.connect(f"127.0.0.1:{self.port()}", path, **options)
        event = await self.until(wh.StreamConnected, stream_id)
        assert (event.connected.status, event.connected.http_version) == (200, "2")
        return stream_id, ws_frames.connection(event.connected)

    def port(self) -> int:
        return int(self.writer.get_extra_info("peername")[1])

    async def send(self, stream_id: int, layer: Connection, event: wse.Event) -> None:
        self.client.send(stream_id, layer.send(event))
        await self.flush()

    async def frames(self, stream_id: int, layer: Connection, count: int) -> list[wse.Event]:
        """The next ``count`` frame events of a stream."""
        seen: list[wse.Event] = []
        while len(seen) < count:
            layer.receive_data((await self.until(wh.StreamData, stream_id)).data)
            seen += layer.events()
        return seen


def scheme_of(peer: Peer) -> str:
    return "https" if peer.writer.get_extra_info("ssl_object") is not None else "http"


async def open_websocket(peer: Peer, path: str = "/", **options: Any) -> tuple[int, Connection]:
    return await peer.websocket(path, scheme=scheme_of(peer), **options)


# -- echo, prior knowledge and TLS ------------------------------------------------------


@pytest.mark.parametrize("loop", LOOPS)
def test_prior_knowledge_two_websockets_on_one_connection_and_http11_beside(
    loop: str, tmp_path: Path
) -> None:
    """A plain port: HTTP/2 by its preface, many WebSockets on one connection (each
    its own echo, pings answered, closed on its own), HTTP/1.1 as before; the
    access log has a line per handshake, saying which protocol."""

    async def scenario(port: int) -> list[object]:
        peer = await Peer.open(port)
        try:
            first, one = await open_websocket(peer, "/one", deflate=True)
            second, two = await open_websocket(peer, "/two?x=1")
            await peer.send(first, one, wse.TextMessage("over h2 " * 2000))
            await peer.send(second, two, wse.BytesMessage(b"\x00\xff"))
            await peer.send(second, two, wse.Ping(b"p"))
            got: list[object] = []
            for stream_id, layer, count in ((first, one, 1), (second, two, 2)):
                for event in await peer.frames(stream_id, layer, count):
                    got.append(getattr(event, "data", None) or getattr(event, "payload", None))
            await peer.send(first, one, wse.CloseConnection(4000, "bye"))
            [closed] = await peer.frames(first, one, 1)
            assert isinstance(closed, wse.CloseConnection)
            got.append((closed.code, closed.reason))
            await peer.until(wh.StreamEnded, first)  # the server ends the stream: its FIN
            await peer.send(second, two, wse.TextMessage("still open"))
            got.append([e.data for e in await peer.frames(second, two, 1)])  # type: ignore[attr-defined]
        finally:
            peer.close()
        async with websockets.connect(f"ws://127.0.0.1:{port}/h1") as h1:
            await h1.send("over HTTP/1.1")
            got.append(await h1.recv())
        return got

    with serve(tmp_path, loop=loop) as server:
        got = asyncio.run(asyncio.wait_for(scenario(server.port), 30))
        access = server.access()
    assert got == [
        "over h2 " * 2000,
        b"\x00\xff",
        b"p",
        (4000, "bye"),
        ["still open"],
        "over HTTP/1.1",
    ]
    assert [line[1:] for line in access] == [
        ("CONNECT", "/one", "HTTP/2", "200", "13"),
        ("CONNECT", "/two?x=1", "HTTP/2", "200", "13"),
        ("GET", "/h1", "HTTP/1.1", "101", "13"),
    ]
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+", line[0]) for line in access)


@pytest.mark.parametrize("loop", LOOPS)
def test_tls_offers_h2_and_http11_on_one_port(loop: str, tmp_path: Path) -> None:
    """With --certfile, ALPN h2 is HTTP/2 and http/1.1 (or no ALPN) HTTP/1.1; the
    server prints a wss:// URL."""
    tls = certificate(tmp_path)

    async def scenario(port: int) -> list[object]:
        peer = await Peer.open(port, tls.client_context(["h2", "http/1.1"]))
        try:
            assert peer.writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
            stream_id, layer = await open_websocket(peer, "/tls")
            await peer.send(stream_id, layer, wse.TextMessage("over h2 and TLS"))
            got: list[object] = [e.data for e in await peer.frames(stream_id, layer, 1)]  # type: ignore[attr-defined]
        finally:
            peer.close()
        for alpn in (["http/1.1"], []):
            context = tls.client_context(alpn)
            async with websockets.connect(f"wss://127.0.0.1:{port}/h1", ssl=context) as h1:
                await h1.send(f"over HTTP/1.1 and TLS, ALPN {alpn}")
                got.append(await h1.recv())
        return got

    with serve(tmp_path, loop=loop, tls=tls) as server:
        got = asyncio.run(asyncio.wait_for(scenario(server.port), 30))
        access = server.access()
    assert got == [
        "over h2 and TLS",
        "over HTTP/1.1 and TLS, ALPN ['http/1.1']",
        "over HTTP/1.1 and TLS, ALPN []",
    ]
    assert [line[1:4] for line in access] == [
        ("CONNECT", "/tls", "HTTP/2"),
        ("GET", "/h1", "HTTP/1.1"),
        ("GET", "/h1", "HTTP/1.1"),
    ]


def test_a_certificate_that_cannot_be_loaded_is_one_line(tmp_path: Path) -> None:
    tls = certificate(tmp_path)
    (tmp_path / "other").mkdir()
    other = certificate(tmp_path / "other")
    cases = {
        "missing": ["--certfile", str(tmp_path / "nothing.pem")],
        "mismatch": ["--certfile", str(tls.cert), "--keyfile", str(other.key)],
        "key alone": ["--keyfile", str(tls.key)],
    }
    said = {}
    for name, options in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "wsnegotiate", "serve", "--port", "0", *options],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 2, done
        [said[name]] = done.stderr.splitlines()
    assert said["missing"] == (
        f"wsnegotiate serve: cannot load {tmp_path / 'nothing.pem'}: No such file or directory"
    )
    assert said["mismatch"].startswith(f"wsnegotiate serve: cannot load {tls.cert} {other.key}: ")
    assert "KEY_VALUES_MISMATCH" in said["mismatch"]
    assert said["key alone"] == "wsnegotiate serve: --keyfile needs --certfile"


# -- the access log ---------------------------------------------------------------------


def test_refusals_are_logged_on_both_protocols_and_no_header_value_ever(tmp_path: Path) -> None:
    """Refusals have their line too (version, status); a value a client sent in a
    header field (a credential in Sec-WebSocket-Protocol) is never printed; a
    target or a version with bytes that are not printable ASCII is escaped. --no-access-log: none."""
    secret = "s3cr3t-t0ken"

    async def scenario(port: int) -> None:
        peer = await Peer.open(port)
        try:
            refused = peer.client.connect(f"127.0.0.1:{port}", "/old", 8, scheme="http")
            event = await peer.until(wh.StreamRefused, refused)
            assert (event.refused.status, event.refused.advertised) == (400, (13,))
            await open_websocket(peer, "/chat", subprotocols=["chat", secret])
        finally:
            peer.close()
        for request in (
            b"GET /plain HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: " + secret.encode(),
            b"GET /x\x1b[31m HTTP/1.1\r\nHost: a\r\n",
            b"GET /v HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: \xd9\xa1",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request + b"\r\n\r\n")
            await asyncio.wait_for(reader.read(), 10)
            writer.close()

    with serve(tmp_path, "--subprotocols", "chat") as server:
        asyncio.run(asyncio.wait_for(scenario(server.port), 30))
        log = server.stop()
    assert [line[1:] for line in ACCESS.findall(log)] == [
        ("CONNECT", "/old", "HTTP/2", "400", "8"),
        ("CONNECT", "/chat", "HTTP/2", "200", "13"),
        ("GET", "/plain", "HTTP/1.1", "426", "-"),
        ("GET", "/x\\x1b[31m", "HTTP/1.1", "400", "-"),  # shown escaped
        ("GET", "/v", "HTTP/1.1", "400", "\\xd9\\xa1"),  # the version as sent, escaped
    ]
    assert secret not in log and "\x1b" not in log
    with serve(tmp_path, "--no-access-log", "--subprotocols", "chat") as quiet:
        asyncio.run(asyncio.wait_for(scenario(quiet.port), 30))
        assert quiet.stop() == ""


# -- limits -----------------------------------------------------------------------------


def test_a_connection_without_a_websocket_gets_goaway_at_the_deadline(tmp_path: Path) -> None:
    """The handshake deadline holds an HTTP/2 connection to account: no WebSocket
    open within it (from the start, or from the last one's end), GOAWAY and the
    end; a preface that never ends the same."""

    async def scenario(port: int) -> tuple[float, tuple[object, bytes], bytes]:
        peer = await Peer.open(port)
        stream_id, layer = await open_websocket(peer)
        await peer.send(stream_id, layer, wse.CloseConnection(1000))
        await peer.until(wh.StreamEnded, stream_id)  # the server's FIN after the Close
        peer.client.end(stream_id)  # and ours: the stream is done
        started = time.monotonic()
        goaway = await peer.until(wh.GoAway)
        took = time.monotonic() - started
        ended = await asyncio.wait_for(peer.reader.read(), 10)  # then TCP ends
        peer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(wh.PREFACE[:10])  # and no more
        cut = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return took, (goaway, ended), cut

    with serve(tmp_path, "--handshake-timeout", "0.5") as server:
        took, events, cut = asyncio.run(asyncio.wait_for(scenario(server.port), 30))
    assert 0.4 < took < 3, took
    assert events == (wh.GoAway(ErrorCodes.NO_ERROR, 1, b""), b"")
    # our SETTINGS, then GOAWAY NO_ERROR (RFC 9113 §6.8): last stream 0, error code 0
    assert [(kind, payload[-4:]) for kind, payload in h2_frames(cut)] == [
        (0x4, payload_of_settings(cut)),
        (0x7, b"\0\0\0\0"),
    ]


def h2_frames(data: bytes) -> list[tuple[int, bytes]]:
    """The (type, payload) of each whole HTTP/2 frame in ``data`` (RFC 9113 §4.1)."""
    frames = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        frames.append((data[3], data[9 : 9 + length]))
        data = data[9 + length :]
    return frames


def payload_of_settings(data: bytes) -> bytes:
    return h2_frames(data)[0][1][-4:]


@pytest.mark.parametrize("loop", LOOPS)
def test_a_quiet_stream_is_pinged_closed_with_1011_then_reset(loop: str, tmp_path: Path) -> None:
    """Keepalive per stream: a Ping after --ping-interval, Close 1011 after
    --ping-timeout more, and RST_STREAM CANCEL when no Close comes back within
    --close-timeout; a stream that answers its pings stays."""

    async def scenario(port: int) -> tuple[list[object], list[str], float]:
        peer = await Peer.open(port)
        try:
            started = time.monotonic()  # before the quiet stream's 101, where its clock starts
            _, layer = await open_websocket(peer, "/quiet")
            lively, other = await open_websocket(peer, "/lively")
            seen: list[object] = []
            pongs: list[str] = []
            while not any(isinstance(e, wh.StreamReset) for e in seen):
                data = await asyncio.wait_for(peer.reader.read(65536), 10)
                peer.client.receive_data(data)
                while not isinstance(event := peer.client.next_event(), ws.NeedData):
                    if isinstance(event, wh.StreamData) and event.stream_id == lively:
                        other.receive_data(event.data)
                        for frame in other.events():
                            assert isinstance(frame, wse.Ping), frame
                            pongs.append("pong")
                            peer.client.send(lively, other.send(frame.response()))
                    elif isinstance(event, wh.StreamData):
                        layer.receive_data(event.data)
                        seen += [
                            (type(e).__name__, getattr(e, "code", None)) for e in layer.events()
                        ]
                    elif isinstance(event, wh.StreamReset):
                        seen.append(event)
                await peer.flush()
            took = time.monotonic() - started
            # the lively stream is still served
            await peer.send(lively, other, wse.TextMessage("still here"))
            echoed: list[str] = []
            while not echoed:  # the lively stream is still pinged every 0.3 s
                for frame in await peer.frames(lively, other, 1):
                    if isinstance(frame, wse.Ping):
                        peer.client.send(lively, other.send(frame.response()))
                    else:
                        assert isinstance(frame, wse.TextMessage), frame
                        echoed.append(frame.data)
            return seen, [*pongs[:1], *echoed], took
        finally:
            peer.close()

    with serve(tmp_path, *FAST, loop=loop) as server:
        seen, lively, took = asyncio.run(asyncio.wait_for(scenario(server.port), 30))
    assert seen == [("Ping", None), ("CloseConnection", 1011), wh.StreamReset(1, ErrorCodes.CANCEL)]
    assert lively == ["pong", "still here"]
    assert 0.8 < took < 5, took  # ping at 0.3 s, Close at 0.6 s, reset at 0.9 s


@pytest.mark.parametrize("loop", LOOPS)
def test_a_message_past_the_limit_and_a_bad_frame_fail_their_stream_alone(
    loop: str, tmp_path: Path
) -> None:
    """--max-message-size: Close 1009 and END_STREAM at once on that stream; an
    unmasked frame: Close 1002 and END_STREAM; the other stream goes on."""

    async def scenario(port: int) -> list[object]:
        peer = await Peer.open(port)
        try:
            big, one = await open_websocket(peer, "/big")
            bad, two = await open_websocket(peer, "/bad")
            fine, three = await open_websocket(peer, "/fine")
            await peer.send(big, one, wse.BytesMessage(b"x" * 2000))
            peer.client.send(bad, b"\x81\x02hi")  # a client's frame must be masked
            got: list[object] = []
            for stream_id, layer in ((big, one), (bad, two)):
                [closed] = await peer.frames(stream_id, layer, 1)
                assert isinstance(closed, wse.CloseConnection)
                got.append(closed.code)
                await peer.until(wh.StreamEnded, stream_id)
            await peer.send(fine, three, wse.BytesMessage(b"y" * 1000))
            got += [e.data for e in await peer.frames(fine, three, 1)]  # type: ignore[attr-defined]
            return got
        finally:
            peer.close()

    with serve(tmp_path, "--max-message-size", "1000", loop=loop) as server:
        got = asyncio.run(asyncio.wait_for(scenario(server.port), 30))
    assert got == [1009, 1002, b"y" * 1000]


@pytest.mark.parametrize("loop", LOOPS)
def test_stopping_closes_each_websocket_with_1001_then_goaway(loop: str, tmp_path: Path) -> None:
    """SIGTERM: Close 1001 on every open stream; a WebSocket asked for meanwhile
    gets a 503; once the streams are answered and ended, GOAWAY, then TCP ends."""

    async def scenario(server: Server) -> list[object]:
        peer = await Peer.open(server.port)
        try:
            opened = [await open_websocket(peer, f"/{n}") for n in range(2)]
            server.process.send_signal(signal.SIGTERM)
            got: list[object] = []
            for stream_id, layer in opened:
                [closed] = await peer.frames(stream_id, layer, 1)
                assert isinstance(closed, wse.CloseConnection)
                got.append((closed.code, closed.reason))
            late = peer.client.connect(f"127.0.0.1:{server.port}", "/late", scheme="http")
            refused = await peer.until(wh.StreamRefused, late)
            got.append((refused.refused.status, refused.refused.body))
            for stream_id, layer in opened:  # our answers, and our ends
                await peer.send(stream_id, layer, wse.CloseConnection(1001))
                await peer.until(wh.StreamEnded, stream_id)
                peer.client.end(stream_id)
            got.append(await peer.until(wh.GoAway))
            got.append(await asyncio.wait_for(peer.reader.read(), 10))
            return got
        finally:
            peer.close()

    with serve(tmp_path, loop=loop) as server:
        got = asyncio.run(asyncio.wait_for(scenario(server), 30))
        assert server.process.wait(10) == 0
    assert got == [
        (1001, "server stopping"),
        (1001, "server stopping"),
        (503, b"server stopping\n"),
        wh.GoAway(ErrorCodes.NO_ERROR, 5, b""),
        b"",
    ]


def raw_client(port: int) -> tuple[socket.socket, h2.connection.H2Connection]:
    """python-hyper's h2 as a client on a blocking socket, past the server's
    SETTINGS: no flow-control window is given back unless the test does it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    sock.sendall(connection.data_to_send())
    while not any(
        isinstance(event, h2.events.RemoteSettingsChanged)
        for event in connection.receive_data(sock.recv(65536))
    ):
        pass
    sock.sendall(connection.data_to_send())
    return sock, connection


def extended_connect(connection: h2.connection.H2Connection, port: int, path: str = "/") -> int:
    stream_id = connection.get_next_available_stream_id()
    connection.send_headers(
        stream_id,
        [
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "http"),
            (":path", path),
            (":authority", f"127.0.0.1:{port}"),
            ("sec-websocket-version", "13"),
        ],
    )
    return stream_id


def read_events(
    sock: socket.socket, connection: h2.connection.H2Connection, until: type, seconds: float = 10
) -> list[h2.events.Event]:
    """Events until one of type ``until``, the end of TCP, or ``seconds``."""
    seen: list[h2.events.Event] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0 and not any(isinstance(e, until) for e in seen):
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        if not data:
            break
        seen += connection.receive_data(data)
        sock.sendall(connection.data_to_send())
    return seen


def test_a_stream_that_never_opens_its_window_is_reset(tmp_path: Path) -> None:
    """A client that reads TCP (so the connection stays) but never gives a
    stream's window back lets the echo wait; past twice the message limit (here
    128 KiB, the least bound) the stream is reset with ENHANCE_YOUR_CALM."""
    message = Connection(ConnectionType.CLIENT).send(wse.BytesMessage(b"z" * 1000))
    with serve(tmp_path, "--max-message-size", "1000", "--no-deflate") as server:
        sock, client = raw_client(server.port)
        with sock:
            stream_id = extended_connect(client, server.port)
            sock.sendall(client.data_to_send())
            seen = read_events(sock, client, h2.events.ResponseReceived)
            sent = 0
            while sent < 400 and not any(isinstance(e, h2.events.StreamReset) for e in seen):
                client.send_data(stream_id, message * 10)  # our window: the server opens it
                sock.sendall(client.data_to_send())
                sent += 10
                seen += read_events(sock, client, h2.events.StreamReset, 0.05)
    resets = [e for e in seen if isinstance(e, h2.events.StreamReset)]
    assert [(e.stream_id, e.error_code) for e in resets] == [
        (stream_id, ErrorCodes.ENHANCE_YOUR_CALM)
    ]
    echoed = sum(len(e.data) for e in seen if isinstance(e, h2.events.DataReceived))
    assert echoed <= 65535  # never past the window we gave
    assert 128 < sent < 400  # 128 KiB waited, and then some; not all that was sent


@pytest.mark.parametrize("loop", LOOPS)
def test_a_client_that_does_not_read_cannot_make_the_server_buffer(
    loop: str, tmp_path: Path
) -> None:
    """HTTP/2 PINGs are answered by the connection itself: a client that sends them
    and never reads fills the server's write buffer, so the server stops reading,
    and the client's sends stall after the socket buffers fill."""
    ping = bytes.fromhex("000008060000000000") + b"12345678"  # PING, RFC 9113 §6.7
    wanted = 64 * 1024 * 1024
    with serve(tmp_path, loop=loop) as server:
        sock, _ = raw_client(server.port)
        with sock:
            sock.setblocking(False)
            burst = ping * 4096
            sent, deadline = 0, time.monotonic() + 3
            while sent < wanted and time.monotonic() < deadline:
                try:
                    sent += sock.send(burst[sent % len(burst) :])
                except BlockingIOError:
                    time.sleep(0.01)
        assert server.process.poll() is None
    assert sent < wanted // 2, sent  # the kernel's buffers hold a few MiB, not 64


def test_a_peer_past_the_concurrent_streams_limit_breaks_http2(tmp_path: Path) -> None:
    """The server advertises SETTINGS_MAX_CONCURRENT_STREAMS 100: 100 WebSockets on
    one connection are served; a peer that opens a 101st is answered with GOAWAY
    (PROTOCOL_ERROR) and TCP ends."""
    with serve(tmp_path) as server:
        sock, client = raw_client(server.port)
        with sock:
            assert client.remote_settings.max_concurrent_streams == 100
            # a client that ignores the limit
            client.remote_settings = h2.settings.Settings(
                client=False,
                initial_values={
                    h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000,
                    h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
                },
            )
            opened = [extended_connect(client, server.port) for _ in range(100)]
            sock.sendall(client.data_to_send())
            seen: list[h2.events.Event] = []
            while sum(isinstance(e, h2.events.ResponseReceived) for e in seen) < 100:
                seen += read_events(sock, client, h2.events.ResponseReceived)
            extended_connect(client, server.port)
            sock.sendall(client.data_to_send())
            seen += read_events(sock, client, h2.events.ConnectionTerminated)
            assert sock.recv(65536) == b""
    statuses = [
        dict(e.headers)[b":status"] for e in seen if isinstance(e, h2.events.ResponseReceived)
    ]
    assert statuses == [b"200"] * len(opened)
    [goaway] = [e for e in seen if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway.error_code == ErrorCodes.PROTOCOL_ERROR


def test_what_is_not_http2_after_a_preface_or_http11_beside_it(tmp_path: Path) -> None:
    """Frames that are not HTTP/2 after the preface: GOAWAY, then the end. The first
    read must start with ``PRI `` for HTTP/2: a request that starts otherwise is
    HTTP/1.1's (a POST gets its 405), and so is a preface cut before its fourth
    byte."""

    def exchange(port: int, *chunks: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for chunk in chunks:
                sock.sendall(chunk)
                time.sleep(0.05)
            answer = b""
            while data := sock.recv(65536):
                answer += data
        return answer

    with serve(tmp_path) as server:
        garbage = exchange(server.port, wh.PREFACE + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        post = exchange(server.port, b"POST / HTTP/1.1\r\nHost: a\r\n\r\n")
        split = exchange(server.port, b"PRI", wh.PREFACE[3:])
    # our SETTINGS, then GOAWAY FRAME_SIZE_ERROR: "GET" read as a frame's length
    assert [(kind, payload[4:]) for kind, payload in h2_frames(garbage)][-1] == (
        0x7,
        ErrorCodes.FRAME_SIZE_ERROR.to_bytes(4, "big"),
    )
    assert post.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert split.startswith(b"HTTP/1.1 ")


# -- real peers -------------------------------------------------------------------------

NODE = shutil.which("node")


def run_node_h2(url: str, *args: str) -> dict[str, Any]:
    if NODE is None:
        pytest.skip("Node is needed (its http2 module is the client)")
    done = subprocess.run(
        [NODE, str(HERE / "node_h2_client.js"), url, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    assert "error" not in result, (result, done.stderr)
    return result


@pytest.mark.parametrize("loop", LOOPS)
def test_node_http2_client_over_prior_knowledge_and_tls(loop: str, tmp_path: Path) -> None:
    """Node's own http2 client: it sees SETTINGS_ENABLE_CONNECT_PROTOCOL, sends an
    extended CONNECT (:protocol websocket), one masked frame, gets its echo and
    the Close back, and the stream ends; over h2c and over TLS with ALPN h2."""
    tls = certificate(tmp_path)
    with serve(tmp_path, loop=loop) as plain, serve(tmp_path, loop=loop, tls=tls) as secure:
        results = [
            run_node_h2(f"http://127.0.0.1:{plain.port}/node"),
            run_node_h2(f"https://127.0.0.1:{secure.port}/node", str(tls.ca)),
        ]
        access = plain.access() + secure.access()
    expected = {
        "enableConnectProtocol": True,
        "status": 200,
        "echo": "hello from node http2",
        "closeCode": 1000,
        "ended": True,
    }
    assert results == [{"alpn": "h2c", **expected}, {"alpn": "h2", **expected}]
    assert [line[1:] for line in access] == [("CONNECT", "/node", "HTTP/2", "200", "13")] * 2


#: ``exchange(url)`` of test_browser.py's page, as an expression for Playwright.
EXCHANGE = """url => new Promise((resolve, reject) => {
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  const received = [];
  socket.onopen = () => { socket.send("hello over h2"); socket.send(new Uint8Array([1, 2, 3]).buffer); };
  socket.onmessage = (event) => {
    received.push(typeof event.data === "string" ? event.data : Array.from(new Uint8Array(event.data)));
    if (received.length === 2) socket.close(1000, "done");
  };
  socket.onclose = (event) => resolve({received, code: event.code, reason: event.reason,
                                        extensions: socket.extensions});
  socket.onerror = () => reject(new Error("WebSocket error"));
})"""


def test_chromium_opens_wss_over_the_h2_connection_of_its_page(tmp_path: Path) -> None:
    """Headless Chromium loads serve's origin over h2 (a self-signed certificate it
    is told to trust by its key), then opens a WebSocket to the same origin: it
    goes as an extended CONNECT on that h2 connection, and echoes. serve has no
    pages: it answers the GET with the 405 that says a WebSocket over HTTP/2 is an
    extended CONNECT, and that answer is the document the script runs in."""
    from test_browser import CHROMIUM, FLAGS

    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright (the dev extra) drives Chromium"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium package is needed (.ci/run installs it)")
    tls = certificate(tmp_path)
    flags = [*FLAGS, f"--ignore-certificate-errors-spki-list={tls.spki}"]
    with serve(tmp_path, tls=tls) as server, playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        try:
            tab = browser.new_page()
            origin = f"https://127.0.0.1:{server.port}"
            response = tab.goto(f"{origin}/")
            assert response is not None
            page = (
                response.status,
                tab.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol"),
                tab.evaluate("document.body.innerText"),
            )
            result = tab.evaluate(EXCHANGE, f"wss://127.0.0.1:{server.port}/chromium")
        finally:
            browser.close()
        access = server.access()
    assert page == (
        405,
        "h2",
        "method 'GET': not allowed; a WebSocket over HTTP/2 is an extended CONNECT (RFC 8441 §4)\n",
    )
    assert result == {
        "received": ["hello over h2", [1, 2, 3]],
        "code": 1000,
        "reason": "done",
        "extensions": "permessage-deflate; client_max_window_bits=12",
    }
    websocket = [line[1:] for line in access if line[2] == "/chromium"]
    assert websocket == [("CONNECT", "/chromium", "HTTP/2", "200", "13")]
    assert ("GET", "/", "HTTP/2", "405", "-") in [line[1:] for line in access]


def probe_json(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "wsnegotiate", "probe", "--json", "--timeout", "10", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_probe_http2_against_serve_by_prior_knowledge_and_alpn(tmp_path: Path) -> None:
    """``probe --http2``: every family with an HTTP/2 form, each an extended CONNECT
    on a fresh connection; serve accepts 13 with a 200, refuses the rest with a
    400 that lists 13, and nothing is found wrong."""
    tls = certificate(tmp_path)
    with serve(tmp_path) as plain, serve(tmp_path, tls=tls) as secure:
        results = [
            probe_json("--http2", f"ws://127.0.0.1:{plain.port}/p"),
            probe_json("--http2", "--cafile", str(tls.ca), f"wss://127.0.0.1:{secure.port}/p"),
        ]
        access = plain.access() + secure.access()
    for result in results:
        rows = {row["family"]: row for row in result["rows"]}
        assert list(rows) == [
            "hybi-04", "hybi-05", "hybi-06", "hybi-07", "hybi-08",
            "rfc6455", "unassigned", "malformed", "none",
        ]  # fmt: skip
        assert [row["findings"] for row in rows.values()] == [[]] * 9
        accepted = rows.pop("rfc6455")
        assert (accepted["status"], accepted["accepted"], accepted["status_line"]) == (
            200,
            True,
            "HTTP/2 200",
        )
        assert {(row["status"], tuple(row["advertised"])) for row in rows.values()} == {
            (400, (13,))
        }
        assert rows["hybi-08"]["body"] == (
            "Sec-WebSocket-Version: unsupported version 8 (hybi-08); supported: 13\n"
        )
    assert {line[3] for line in access} == {"HTTP/2"}
    assert len(access) == 18


def test_probe_http2_against_hypercorn() -> None:
    """hypercorn serves RFC 8441 but refuses every version but 13 with a bare 400:
    no version list (RFC 6455 §4.2.2), so a client cannot tell what to retry."""
    pytest.importorskip("hypercorn")
    from test_h2_hypercorn import hypercorn

    with hypercorn() as port:
        result = probe_json("--http2", f"ws://127.0.0.1:{port}/")
    rows = {row["family"]: row for row in result["rows"]}
    assert (rows["rfc6455"]["status"], rows["rfc6455"]["accepted"]) == (200, True)
    assert rows["hybi-08"]["findings"] == [
        "version '8' refused without Sec-WebSocket-Version (RFC 6455 §4.2.2)"
    ]
    assert rows["none"]["findings"] == [
        "a missing version refused without Sec-WebSocket-Version (RFC 6455 §4.4)"
    ]
    assert {row["status"] for family, row in rows.items() if family != "rfc6455"} == {400}


def test_the_readme_client_against_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README, "Serve and probe it": the client over HTTP/2, as it stands but for
    the port, against ``wsnegotiate serve``."""
    readme = (HERE.parent.parent / "README.md").read_text()
    section = readme.split("### Serve and probe it\n", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'HOST, PORT = "127.0.0.1", 8765\n' in code
    with serve(tmp_path) as server:
        code = code.replace("8765", str(server.port))
        exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
        access = server.access()
    assert capsys.readouterr().out.splitlines() == [
        "connected: Version13 over HTTP/2",
        "echo: hello over h2",
        "closed: 1000",
    ]
    assert [line[1:] for line in access] == [("CONNECT", "/chat", "HTTP/2", "200", "13")]


@pytest.mark.parametrize("loop", LOOPS)
def test_what_is_not_tls_on_a_tls_port_is_let_go_quietly(loop: str, tmp_path: Path) -> None:
    """Plain HTTP on the TLS port, and a client that starts no TLS handshake within
    --handshake-timeout: closed, with nothing on stderr; the port serves on."""
    tls = certificate(tmp_path)
    with serve(tmp_path, "--handshake-timeout", "0.5", loop=loop, tls=tls) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            answer = plain.recv(65536)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as silent:
            started = time.monotonic()
            assert silent.recv(65536) == b""
            took = time.monotonic() - started

        async def echo(port: int) -> str:
            context = tls.client_context(["h2"])
            peer = await Peer.open(port, context)
            try:
                stream_id, layer = await open_websocket(peer)
                await peer.send(stream_id, layer, wse.TextMessage("served on"))
                return str([e.data for e in await peer.frames(stream_id, layer, 1)])  # type: ignore[attr-defined]
            finally:
                peer.close()

        echoed = asyncio.run(asyncio.wait_for(echo(server.port), 30))
        log = server.stop()
    assert not answer.startswith(b"HTTP/")  # a TLS alert, or nothing: no HTTP answer
    assert 0.4 < took < 5, took
    assert echoed == "['served on']"
    assert [line for line in log.splitlines() if not ACCESS.match(line)] == [], log


@pytest.mark.parametrize("loop", LOOPS)
def test_stopping_with_a_refused_tls_client_still_connected(loop: str, tmp_path: Path) -> None:
    """An HTTP/1.1 client over TLS that got its refusal and holds on (its TLS
    shutdown unanswered) is closed again when the server stops: asyncio's TLS
    transport raised on that second close, and the stop ended in a traceback."""
    tls = certificate(tmp_path)
    context = tls.client_context(["http/1.1"])
    with (
        serve(tmp_path, loop=loop, tls=tls) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as held,
    ):
        held.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert held.recv(65536).startswith(b"HTTP/1.1 426 ")
        log = server.stop()  # while the client still holds its end
        assert server.process.returncode == 0
    assert [line for line in log.splitlines() if not ACCESS.match(line)] == [], log
