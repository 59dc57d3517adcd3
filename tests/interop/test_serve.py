"""`wsnegotiate serve`, run as a real process on 127.0.0.1 with a free port."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import h11
import pytest
import websockets
import wsproto.events
from peers import stop

import wsnegotiate as ws
import wsnegotiate.wsproto


def read_line(process: subprocess.Popen[str], timeout: float = 20) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), "the server printed nothing"
    return process.stdout.readline()


UVLOOP_MISSING = importlib.util.find_spec("uvloop") is None
#: The event loops ``serve`` runs on: asyncio's own, and uvloop (the dev extra has it).
LOOPS = [
    "asyncio",
    pytest.param(
        "uvloop",
        marks=pytest.mark.skipif(UVLOOP_MISSING, reason="pip install 'wsnegotiate[uvloop]'"),
    ),
]


@contextmanager
def serve(
    *options: str, loop: str = "auto", max_fds: int | None = None
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``wsnegotiate serve`` on a free port and on ``loop``, optionally with
    RLIMIT_NOFILE lowered."""

    def limit_fds() -> None:
        if max_fds is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_fds, max_fds))

    process = subprocess.Popen(
        [sys.executable, "-m", "wsnegotiate", "serve", "--port", "0", "--loop", loop, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit_fds,
    )
    try:
        line = read_line(process)
        match = re.fullmatch(r"listening on ws://127\.0\.0\.1:(\d+)/\n", line)
        assert match, line
        expected = ("uvloop" if not UVLOOP_MISSING else "asyncio") if loop == "auto" else loop
        assert process.stdout is not None  # printed with the line above, maybe read with it
        assert process.stdout.readline() == f"event loop: {expected}\n"
        yield process, int(match[1])
    finally:
        stop(process, signal.SIGTERM, 10)
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            stream.close()


class SharedServers:
    """``wsnegotiate serve`` processes that the tests of a module share, one for each set
    of options and loop, started at first use and stopped with the module: for tests that
    only talk to the server (a test that reads its output, counts its descriptors or stops
    it starts its own)."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._ports: dict[tuple[tuple[str, ...], str], int] = {}

    def port(self, *options: str, loop: str = "auto") -> int:
        key = (options, loop)
        if key not in self._ports:
            _, self._ports[key] = self._stack.enter_context(serve(*options, loop=loop))
        return self._ports[key]


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes, then read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("loop", LOOPS)
def test_text_binary_ping_and_a_clean_close(loop: str, shared: SharedServers) -> None:
    async def scenario(url: str) -> tuple[object, ...]:
        async with websockets.connect(url) as connection:
            await connection.send("héllo")
            text = await connection.recv()
            await connection.send(b"\x00\xff")
            binary = await connection.recv()
            latency = await (await connection.ping(b"p"))
            await connection.close(code=4000, reason="bye")
        return text, binary, latency >= 0, connection.close_code, connection.close_reason

    port = shared.port(loop=loop)
    assert asyncio.run(scenario(f"ws://127.0.0.1:{port}/")) == (
        "héllo",
        b"\x00\xff",
        True,
        4000,
        "bye",
    )


@pytest.mark.parametrize("loop", LOOPS)
def test_200_concurrent_clients_and_no_fd_left_behind(loop: str) -> None:
    async def client(url: str, index: int) -> int:
        async with websockets.connect(url, open_timeout=30) as connection:
            for message in range(10):
                await connection.send(f"{index}:{message}")
                assert await connection.recv() == f"{index}:{message}"
        return 10

    async def scenario(url: str) -> list[int]:
        return await asyncio.wait_for(asyncio.gather(*(client(url, i) for i in range(200))), 120)

    with serve(loop=loop) as (process, port):
        # One client first: libuv opens a spare descriptor with the loop's first
        # connection and keeps it (its reserve for running out of descriptors).
        assert asyncio.run(client(f"ws://127.0.0.1:{port}/", -1)) == 10
        before = open_fds(process.pid)
        echoed = asyncio.run(scenario(f"ws://127.0.0.1:{port}/"))
        assert sum(echoed) == 2000
        deadline = time.monotonic() + 20
        while open_fds(process.pid) != before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_fds(process.pid) == before


@pytest.mark.parametrize("loop", LOOPS)
def test_a_stalled_client_is_closed_while_others_are_served(loop: str) -> None:
    async def others(url: str) -> list[str]:
        echoed = []
        for index in range(3):  # while the stalled client waits
            async with websockets.connect(url) as connection:
                await connection.send(f"still served {index}")
                echoed.append(str(await connection.recv()))
        return echoed

    with (
        serve("--handshake-timeout", "1.5", loop=loop) as (_, port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as stalled,
    ):
        stalled.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs")
        started = time.monotonic()
        assert asyncio.run(others(f"ws://127.0.0.1:{port}/")) == [
            f"still served {i}" for i in range(3)
        ]
        answer = b""
        while chunk := stalled.recv(65536):
            answer += chunk
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b"\r\n\r\nrequest head: incomplete after 1.5 s\n")
    assert 1.0 <= waited < 8


REQUEST_8 = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
)


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (REQUEST_8, 426, "Sec-WebSocket-Version: unsupported version 8 (hybi-08); supported: 13"),
        (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            426,
            "Upgrade: missing; this resource speaks WebSocket",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi",
            405,
            "method 'POST': not allowed; the handshake is a GET (RFC 6455 §4.1)",
        ),
    ],
)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_refusal_arrives_whole_before_the_close(
    request_bytes: bytes, status: int, reason: str, loop: str, shared: SharedServers
) -> None:
    answer = raw_exchange(shared.port(loop=loop), request_bytes)
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(answer)
    client.receive_data(b"")
    head = client.next_event()
    assert isinstance(head, h11.Response) and head.status_code == status
    body = b""
    while isinstance(part := client.next_event(), h11.Data):
        body += part.data
    assert isinstance(part, h11.EndOfMessage)  # Content-Length bytes all arrived
    assert body == reason.encode() + b"\n"
    assert isinstance(client.next_event(), h11.ConnectionClosed)


def test_policy_options_reach_the_server() -> None:
    with (
        serve("--versions", "13,8") as (_, port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        sock.sendall(REQUEST_8)
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # the connection stays open after a 101
            head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stops_cleanly_with_1001(signum: int, loop: str) -> None:
    async def scenario(url: str, process: subprocess.Popen[str]) -> tuple[int | None, str | None]:
        async with websockets.connect(url) as connection:
            await connection.send("x")
            await connection.recv()
            process.send_signal(signum)
            with pytest.raises(websockets.ConnectionClosedOK):
                await asyncio.wait_for(connection.recv(), 10)
        return connection.close_code, connection.close_reason

    with serve(loop=loop) as (process, port):
        assert asyncio.run(scenario(f"ws://127.0.0.1:{port}/", process)) == (
            1001,
            "server stopping",
        )
        assert process.wait(10) == 0
        assert read_line(process) == "stopped\n"


@pytest.mark.parametrize("loop", LOOPS)
def test_stopping_does_not_wait_for_clients_that_never_answer(loop: str) -> None:
    """On SIGTERM, a client in the middle of its request is closed; one that gets
    the 1001 and never answers it is dropped after a moment; the server exits."""
    client = ws.ClientNegotiator("127.0.0.1", "/")
    with (
        serve(loop=loop) as (process, port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as halfway,
        socket.create_connection(("127.0.0.1", port), timeout=10) as silent,
    ):
        halfway.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        silent.sendall(client.data_to_send())
        while isinstance(event := client.next_event(), ws.NeedData):
            client.receive_data(silent.recv(65536))
        assert isinstance(event, ws.Connected), event
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert halfway.recv(65536) == b""  # closed, without an answer
        frames = wsnegotiate.wsproto.connection(event)
        seen: list[wsproto.events.Event] = []
        while chunk := silent.recv(65536):  # never answered
            frames.receive_data(chunk)
            seen += frames.events()
        assert process.wait(10) == 0
        took = time.monotonic() - started
    assert [(e.code, e.reason) for e in seen if isinstance(e, wsproto.events.CloseConnection)] == [
        (1001, "server stopping")
    ]
    assert took < 5


@pytest.mark.parametrize("loop", LOOPS)
def test_ping_interval_0_never_pings(loop: str) -> None:
    """Keepalive off: a connection quiet past the handshake deadline and more gets
    no byte (no ping, no Close), and still echoes."""
    client = ws.ClientNegotiator("127.0.0.1", "/")
    with (
        serve("--ping-interval", "0", "--handshake-timeout", "0.3", loop=loop) as (_, port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        sock.sendall(client.data_to_send())
        while isinstance(event := client.next_event(), ws.NeedData):
            client.receive_data(sock.recv(65536))
        assert isinstance(event, ws.Connected), event
        sock.settimeout(1.2)
        with pytest.raises(TimeoutError):
            sock.recv(65536)  # four deadlines of quiet
        sock.settimeout(10)
        frames = wsnegotiate.wsproto.connection(event)
        sock.sendall(frames.send(wsproto.events.TextMessage(data="still here")))
        frames.receive_data(sock.recv(65536))
        assert [e.data for e in frames.events() if isinstance(e, wsproto.events.TextMessage)] == [
            "still here"
        ]


# -- admission: origins, proxies, credentials, the health path ----------------------------


def upgrade(*fields: tuple[str, str], host: str = "app.example") -> bytes:
    """An RFC 6455 request for ``host`` with ``fields`` (Origin, Forwarded...)."""
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in fields),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer_head(port: int, data: bytes, source: str = "127.0.0.1") -> bytes:
    """Send ``data`` from the address ``source`` (any of 127.0.0.0/8 on Linux) and
    read the answer: the head of a 101, whose connection stays open; all of a refusal."""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=10, source_address=(source, 0)
    ) as sock:
        sock.sendall(data)
        answer = b""
        while not answer.startswith(b"HTTP/1.1 101 ") or b"\r\n\r\n" not in answer:
            if not (chunk := sock.recv(65536)):
                break
            answer += chunk
    return answer


PROXIED = upgrade(
    ("Origin", "https://app.example"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "app.example"),
    ("X-Forwarded-For", "198.51.100.7"),
    host="127.0.0.1:8000",  # the proxy rewrites Host to the backend's address
)


@pytest.mark.parametrize("loop", LOOPS)
def test_same_origin_believes_a_trusted_proxy_only(loop: str) -> None:
    with serve("--same-origin", "--forwarded-allow-ips", "127.0.0.1", loop=loop) as (_, port):
        trusted = answer_head(port, PROXIED)
        untrusted = answer_head(port, PROXIED, source="127.0.0.2")
        direct = answer_head(port, upgrade(("Origin", "http://app.example")))
        swapped = answer_head(port, upgrade(("Origin", "https://app.example")))
    assert trusted.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert untrusted.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert untrusted.endswith(
        b"\r\n\r\nOrigin: forbidden 'https://app.example'; this request's origin is "
        b"'http://127.0.0.1:8000'\n"
    )
    assert direct.startswith(b"HTTP/1.1 101 ")
    assert swapped.startswith(b"HTTP/1.1 403 ")  # no TLS here, and no proxy says otherwise


def test_origins_take_patterns_and_none() -> None:
    with serve("--origins", "https://*.example.com,none") as (_, port):
        statuses = [
            answer_head(port, upgrade(*fields))[9:12]
            for fields in (
                [("Origin", "https://a.example.com")],
                [("Origin", "https://example.com.evil.net")],
                [("Origin", "null")],
                [],
            )
        ]
    assert statuses == [b"101", b"403", b"403", b"101"]


def test_health_path_is_answered_200() -> None:
    health = b"%s /healthz?probe=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with serve("--health-path", "/healthz") as (_, port):
        get = raw_exchange(port, health % b"GET")
        head = raw_exchange(port, health % b"HEAD")
        other = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert get.startswith(b"HTTP/1.1 200 OK\r\n") and get.endswith(b"\r\n\r\nok\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert other.startswith(b"HTTP/1.1 426 ")


SECRET = "c2VjcmV0LXRva2VuLXZhbHVl"
K8S = "base64url.bearer.authorization.k8s.io."


def test_a_credential_is_admitted_and_never_echoed_or_logged() -> None:
    async def scenario(url: str) -> tuple[str | None, object]:
        offers = [websockets.Subprotocol(f"{K8S}{SECRET}"), websockets.Subprotocol("chat")]
        async with websockets.connect(url, subprotocols=offers) as connection:
            await connection.send("hello")
            return connection.subprotocol, await connection.recv()

    offer = ("Sec-WebSocket-Protocol", f"{K8S}{SECRET}, chat")
    with serve("--credential-prefix", K8S, "--subprotocols", "chat") as (process, port):
        assert asyncio.run(scenario(f"ws://127.0.0.1:{port}/")) == ("chat", "hello")
        answer = answer_head(port, upgrade(offer))
        refused = answer_head(port, upgrade(offer, ("Sec-WebSocket-Version", "8")))
        stop(process, signal.SIGTERM, 10)
        assert process.stdout is not None and process.stderr is not None
        printed = process.stdout.read() + process.stderr.read()
    assert answer.startswith(b"HTTP/1.1 101 ") and b"Sec-WebSocket-Protocol: chat\r\n" in answer
    assert refused.startswith(b"HTTP/1.1 400 ")
    for output in (answer.decode(), refused.decode(), printed):
        assert SECRET not in output


def test_a_bad_admission_option_is_one_line() -> None:
    argv = ["serve", "--port", "0", "--forwarded-allow-ips", "127.0.0.1,10.0.0.1/8"]
    done = subprocess.run(
        [sys.executable, "-m", "wsnegotiate", *argv],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "wsnegotiate serve: forwarded_allow_ips: '10.0.0.1/8' is not a network "
        "(address/prefix with no host bits set, e.g. 10.0.0.0/8)"
    ]
