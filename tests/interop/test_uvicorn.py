"""ASGI apps on wsnegotiate: Starlette and FastAPI apps under a real uvicorn process
on 127.0.0.1, started with `--ws wsnegotiate.uvicorn:WebSocketProtocol`, against
real clients (websockets, Node ws, Chromium, our own client), and refusals read
off the socket, which the app never sees."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import websockets
import wsproto.events
from factory import KEY, raw_request, rfc6455
from peers import echo_once, handshake, run_node, stop
from test_browser import in_chromium
from test_hostile import MiB, deflated, frame, memory, opened, server_frames

import wsnegotiate as ws
import wsnegotiate.wsproto
from wsnegotiate.cli.samples import SAMPLES

T = TypeVar("T")
EXAMPLES = Path(__file__).parent.parent.parent / "examples"


@contextmanager
def uvicorn(
    app: str, *options: str, log: bytearray | None = None, stdout: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``uvicorn APP --ws wsnegotiate.uvicorn:WebSocketProtocol`` on a free port;
    ``log`` and ``stdout`` as ``uvicorn_process`` takes them."""
    with uvicorn_process(
        [
            "-m", "uvicorn", app, "--app-dir", str(EXAMPLES), "--host", "127.0.0.1", "--port", "0",
            "--ws", "wsnegotiate.uvicorn:WebSocketProtocol", *options,
        ],
        log=log,
        stdout=stdout,
    ) as running:  # fmt: skip
        yield running


def listening(process: subprocess.Popen[bytes]) -> tuple[bytes, int | None]:
    """What uvicorn printed on stderr until it listened, and its port; ``None`` when it
    exited first."""
    assert process.stderr is not None
    log, found = b"", None
    with selectors.DefaultSelector() as selector:  # unbuffered: no line waits unseen
        selector.register(process.stderr, selectors.EVENT_READ)
        while found is None and selector.select(30):
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                return log, None
            log += chunk
            found = re.search(rb"Uvicorn running on https?://127\.0\.0\.1:(\d+)", log)
    assert found is not None, f"uvicorn printed no address: {log!r}"
    return log, int(found[1])


@contextmanager
def uvicorn_process(
    arguments: list[str], *, log: bytearray | None = None, stdout: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A Python process that runs uvicorn; yields it and the port it listens on.
    ``log`` gets all it wrote to stderr once it has stopped; ``stdout`` is a file
    for its standard output (the access log)."""
    with contextlib.ExitStack() as files:
        out = subprocess.DEVNULL if stdout is None else files.enter_context(stdout.open("wb"))
        process = subprocess.Popen([sys.executable, *arguments], stdout=out, stderr=subprocess.PIPE)
        assert process.stderr is not None
        printed = b""
        try:
            printed, port = listening(process)
            assert port is not None, f"uvicorn exited before it listened: {printed!r}"
            yield process, port
        finally:
            # SIGINT, which uvicorn re-raises after its graceful shutdown: Python turns it
            # into KeyboardInterrupt, so the process exits through its atexit hooks
            # (coverage's among them), where a re-raised SIGTERM would kill it outright.
            stop(process, signal.SIGINT, 10)
            if log is not None:
                log += printed + process.stderr.read()
            process.stderr.close()


@pytest.fixture(scope="module")
def starlette() -> Iterator[int]:
    with uvicorn("starlette_app:app") as (_, port):
        yield port


def accepted_requests(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/calls", timeout=10) as answer:
        return int(json.load(answer)["accepted_requests"])


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_text_binary_subprotocol_version_and_compression(starlette: int) -> None:
    async def scenario() -> list[object]:
        url = f"ws://127.0.0.1:{starlette}/echo"
        async with websockets.connect(url, subprotocols=["chat"]) as client:  # type: ignore[list-item]
            await client.send("hello uvicorn")
            await client.send(b"\x01\x02\x03")
            await client.send("version?")
            got = [await client.recv(), await client.recv(), await client.recv()]
            assert client.response is not None
            return [*got, client.subprotocol, client.response.headers["Sec-WebSocket-Extensions"]]

    assert run(scenario()) == [
        "hello uvicorn",
        b"\x01\x02\x03",
        "Version13",
        "chat",
        "permessage-deflate; client_max_window_bits=12",
    ]


def test_the_app_closes_with_a_code_and_reason(starlette: int) -> None:
    async def scenario() -> tuple[int | None, str | None]:
        async with websockets.connect(f"ws://127.0.0.1:{starlette}/echo") as client:
            await client.send("bye")
            with pytest.raises(websockets.ConnectionClosed):
                await client.recv()
            return client.close_code, client.close_reason

    assert run(scenario()) == (4000, "bye yourself")


def test_the_client_closes_and_the_server_goes_on(starlette: int) -> None:
    async def scenario() -> tuple[int | None, str]:
        async with websockets.connect(f"ws://127.0.0.1:{starlette}/echo") as client:
            await client.close(1001, "leaving")
            code = client.close_code
        async with websockets.connect(f"ws://127.0.0.1:{starlette}/echo") as client:
            await client.send("again")
            return code, str(await client.recv())

    assert run(scenario()) == (1001, "again")


def raw_exchange(port: int, data: bytes, *, head_only: bool = False, wait: float = 10) -> bytes:
    """Send ``data``; read until the server closes, or only the answer's head, or
    until nothing came for ``wait`` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        answer = b""
        with contextlib.suppress(TimeoutError):
            while not (head_only and b"\r\n\r\n" in answer) and (chunk := sock.recv(65536)):
                answer += chunk
    return answer


@contextmanager
def bare_apps(
    *options: str, log: bytearray | None = None, stdout: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """uvicorn serving tests/interop/asgi_apps.py on our protocol; yields the process
    and its port; ``log`` and ``stdout`` as ``uvicorn_process`` takes them."""
    arguments = [
        "-m", "uvicorn", "asgi_apps:app", "--app-dir", str(Path(__file__).parent),
        "--host", "127.0.0.1", "--port", "0", "--ws", "wsnegotiate.uvicorn:WebSocketProtocol",
        *options,
    ]  # fmt: skip
    with uvicorn_process(arguments, log=log, stdout=stdout) as running:
        yield running


def masked(first: int, payload: bytes) -> bytes:
    """A client's frame (masked, RFC 6455 §5.3) of under 126 bytes; ``first`` is its
    first byte (FIN and opcode)."""
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([first, 0x80 | len(payload)]) + mask + body


def read_until(sock: socket.socket, end: bytes) -> bytes:
    answer = b""
    while not answer.endswith(end) and (chunk := sock.recv(65536)):
        answer += chunk
    return answer


def test_a_frame_that_comes_while_the_app_decides_is_read_after_the_101() -> None:
    request = raw_request(rfc6455()).replace(b"/chat", b"/")
    with (
        bare_apps() as (_, port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        sock.sendall(request)
        time.sleep(0.1)  # the app is still deciding
        sock.sendall(masked(0x81, b"early"))
        answer = read_until(sock, b"\x88\x02\x03\xe8")  # the app's Close (ours would follow)
    head, _, frames_sent = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert frames_sent == b"\x81\x05early" + b"\x88\x02\x03\xe8"  # the echo, then Close 1000


def test_after_the_apps_close_only_the_clients_close_is_read() -> None:
    """Once our Close is out, the client's frames before its Close are dropped (RFC 6455
    §5.5.1: nothing follows our Close): its Ping gets no Pong, which wsproto refused
    to frame (LocalProtocolError out of data_received, a traceback), and its Close
    ends the connection."""
    request = raw_request(rfc6455()).replace(b"/chat", b"/")
    log = bytearray()
    with (
        bare_apps(log=log) as (_, port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        sock.sendall(request + masked(0x81, b"hello"))
        answer = read_until(sock, b"\x88\x02\x03\xe8")  # the echo, then the app's Close
        sock.sendall(masked(0x89, b"ping") + masked(0x81, b"late") + masked(0x88, b"\x03\xe8"))
        after = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                after += chunk
    assert answer.endswith(b"\r\n\r\n\x81\x05hello\x88\x02\x03\xe8")
    assert after == b""
    assert b"Traceback" not in log, log.decode()


def test_an_app_that_never_decides_gets_its_client_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app has ``WSNEGOTIATE_HANDSHAKE_TIMEOUT`` seconds to accept or deny, as the
    asyncio and trio adapters' ``on_request`` has its deadline: then a 503 (RFC 9110
    §15.6.4) with the reason, and the app's receive() gets the disconnect (the app
    asserts it: a traceback otherwise)."""
    monkeypatch.setenv("WSNEGOTIATE_HANDSHAKE_TIMEOUT", "1")
    request = raw_request(rfc6455()).replace(b"/chat", b"/undecided")
    log = bytearray()
    with bare_apps(log=log) as (_, port):
        started = time.monotonic()
        answer = raw_exchange(port, request, wait=5)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert answer.endswith(b"\r\n\r\nno decision within the 1 s deadline\n")
    assert 1 <= took < 3  # the deadline, not the client's 5 s wait
    assert b"Traceback" not in log, log.decode()
    assert b"WARNING:  ASGI app neither accepted nor denied within 1 s: 503\n" in log


def test_a_slow_app_has_one_message_waiting_at_a_time() -> None:
    """While a message waits for the app, the frame layer stops: the frames behind it
    stay deflated in its buffer and uvicorn reads no more, until the app receives.
    64 messages of 1 MiB, deflated to about 1 KiB each and sent at once to an app that
    waits a second before it reads, all arrive; uvicorn's peak memory grows by a few
    MiB, where every message of a read used to be inflated and queued (64 MiB)."""
    with bare_apps("--ws-max-size", str(MiB)) as (process, port):
        before = memory(process.pid)[0]
        sock, head = opened(port, "/slow", deflate=True)
        with sock:
            message = frame(0x2, deflated(bytes(MiB)), rsv1=True)
            sock.sendall(message * 64 + frame(0x1, deflated(b"done"), rsv1=True))
            answer = read_until(sock, b" 67108864")  # the app's Close: its count in the reason
        peak = memory(process.pid)[1]
    print(f"\nslow app: RSS {before / MiB:.0f} MiB, peak {peak / MiB:.0f} MiB")
    assert b"permessage-deflate" in head
    assert server_frames(answer) == [(0x8, b"\x03\xe864 67108864")]
    assert peak - before < 16 * MiB


def test_apps_that_break_the_asgi_protocol() -> None:
    """Before the handshake is settled, a 500 and the server serves on; after it, Close
    1011 (the server failed, RFC 6455 §7.4.1), never a normal 1000."""
    with bare_apps() as (_, port):
        for path in ("/send-first", "/return", "/denial-then-send"):
            request = raw_request(rfc6455()).replace(b"/chat", path.encode())
            answer = raw_exchange(port, request)
            assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), path
        request = raw_request(rfc6455()).replace(b"/chat", b"/unknown-after-accept")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            answer = read_until(sock, b"\x88\x02\x03\xf3")
        assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert answer.endswith(b"\r\n\r\n\x88\x02\x03\xf3")  # Close 1011, nothing before it


def test_a_denial_response_of_the_apps_own(starlette: int) -> None:
    answer = raw_exchange(starlette, raw_request(rfc6455(), target="/private"))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"\r\nConnection: close\r\n" in head
    assert b"\r\nContent-Type: text/plain; charset=utf-8\r\n" in head
    assert body == b"members only"


def test_an_app_that_raises_before_accepting_gets_the_client_a_500(starlette: int) -> None:
    answer = raw_exchange(starlette, raw_request(rfc6455(), target="/broken"))
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert answer.endswith(b"\r\n\r\nInternal Server Error\n")

    async def still_serving() -> str:
        async with websockets.connect(f"ws://127.0.0.1:{starlette}/echo") as client:
            await client.send("still here")
            return str(await client.recv())

    assert run(still_serving()) == "still here"


REFUSALS = {
    "version 8": raw_request(rfc6455("8")),
    "version 7": raw_request(rfc6455("7")),
    "version 0": raw_request(rfc6455("0")),
    "version 14": raw_request(rfc6455("14")),
    "013": raw_request(rfc6455("013")),
    "bad key": raw_request(rfc6455(key="c2hvcnQ=")),
    "POST": raw_request(rfc6455(), method="POST"),
    "hixie-76": next(s.data for s in SAMPLES if s.name == "hixie-76"),
}


@pytest.mark.parametrize("name", REFUSALS)
def test_refusals_are_wsnegotiates_and_never_reach_the_app(starlette: int, name: str) -> None:
    before = accepted_requests(starlette)
    data = (
        REFUSALS[name].replace(b"GET /chat ", b"GET /echo ").replace(b"POST /chat", b"POST /echo")
    )
    expected = ws.negotiate(data.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    assert isinstance(expected, ws.Rejected)
    assert raw_exchange(starlette, data) == expected.response  # the exact answer
    assert accepted_requests(starlette) == before


def test_our_client_asks_for_8_then_retries_13(starlette: int) -> None:
    async def scenario() -> tuple[ws.Refused, ws.Connected, str]:
        client = ws.ClientNegotiator(f"127.0.0.1:{starlette}", "/echo", 8, fallback=[13])
        refused, _, writer = await handshake(client, starlette)
        writer.close()
        assert isinstance(refused, ws.Refused)
        retry = client.retry()
        connected, reader, writer = await handshake(retry, starlette)
        assert isinstance(connected, ws.Connected)
        return refused, connected, await echo_once(connected, reader, writer, "after a retry")

    refused, connected, echoed = run(scenario())
    assert (refused.status, refused.advertised) == (426, (13,))
    assert (connected.version, echoed) == (ws.Version.Version13, "after a retry")


def test_node_ws_client(starlette: int) -> None:
    result = run_node("node_ws_client.js", f"ws://127.0.0.1:{starlette}/echo")
    assert (result["received"], result["code"]) == (["hello node", [1, 2, 3]], 1000)


PAGE = """<!doctype html>
<script>
function exchange(url) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, ["chat"]);
    socket.binaryType = "arraybuffer";
    const received = [];
    socket.onopen = () => { socket.send("hello chromium"); socket.send(new Uint8Array([1, 2, 3]).buffer); };
    socket.onmessage = (event) => {
      received.push(typeof event.data === "string" ? event.data : Array.from(new Uint8Array(event.data)));
      if (received.length === 2) socket.close(1000, "done");
    };
    socket.onclose = (event) => resolve({received, code: event.code, protocol: socket.protocol,
                                          extensions: socket.extensions});
    socket.onerror = () => reject(new Error("WebSocket error"));
  });
}
</script>
"""


def test_chromium(starlette: int, tmp_path: Path) -> None:
    result = in_chromium(PAGE, tmp_path, f"ws://127.0.0.1:{starlette}/echo")
    assert result == {
        "received": ["hello chromium", [1, 2, 3]],
        "code": 1000,
        "protocol": "chat",
        "extensions": "permessage-deflate; client_max_window_bits=12",
    }


def test_fastapi_app() -> None:
    async def scenario(port: int) -> str:
        async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as client:
            await client.send("hello fastapi")
            return str(await client.recv())

    with uvicorn("fastapi_app:app") as (_, port):
        assert run(scenario(port)) == "hello fastapi"


def test_shutdown_closes_open_connections_with_1012() -> None:
    async def scenario(process: subprocess.Popen[bytes], port: int) -> int | None:
        async with websockets.connect(f"ws://127.0.0.1:{port}/echo") as client:
            await client.send("hello")
            await client.recv()
            process.send_signal(signal.SIGINT)  # a graceful stop, as SIGTERM
            with pytest.raises(websockets.ConnectionClosed):
                await client.recv()
            return client.close_code

    with uvicorn("starlette_app:app") as (process, port):
        assert run(scenario(process, port)) == 1012


def test_uvicorns_settings_reach_the_policy() -> None:
    async def too_large(port: int) -> tuple[int | None, str | None]:
        async with websockets.connect(f"ws://127.0.0.1:{port}/echo", compression=None) as client:
            await client.send("x" * 2000)
            with pytest.raises(websockets.ConnectionClosedError):
                await client.recv()
            assert client.response is not None
            assert "Sec-WebSocket-Extensions" not in client.response.headers
            return client.close_code, client.close_reason

    async def sized(port: int, message: str | list[str]) -> tuple[int | None, str]:
        """Echo one message (fragments: a list); the close code, if it closed."""
        async with websockets.connect(f"ws://127.0.0.1:{port}/echo", compression=None) as client:
            await client.send(message)
            try:
                return None, str(await client.recv())
            except websockets.ConnectionClosedError:
                return client.close_code, ""

    four = "\U0001f600"  # four bytes in UTF-8
    options = ("--ws-max-size", "1000", "--ws-per-message-deflate", "false")
    with uvicorn("starlette_app:app", *options) as (_, port):
        assert run(too_large(port)) == (1009, "message larger than 1000 bytes")
        assert run(sized(port, four * 250)) == (None, four * 250)  # 1,000 bytes: the limit
        assert run(sized(port, four * 251))[0] == 1009  # 251 characters, 1,004 bytes
        assert run(sized(port, [four * 100, four * 100])) == (None, four * 200)
        assert run(sized(port, [four * 200, four * 100, "x"]))[0] == 1009  # 1,201 bytes in all


def test_versions_and_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSNEGOTIATE_VERSIONS", "13,8")
    monkeypatch.setenv("WSNEGOTIATE_ORIGINS", "https://app.example")
    with uvicorn("starlette_app:app") as (_, port):
        eight = raw_request(rfc6455("8", extra=[("Sec-WebSocket-Origin", "https://app.example")]))
        stranger = raw_request(rfc6455(extra=[("Origin", "https://evil.example")]))
        assert raw_exchange(port, eight.replace(b"/chat", b"/echo"), head_only=True).startswith(
            b"HTTP/1.1 101 Switching Protocols\r\n"
        )
        refused = raw_exchange(port, stranger.replace(b"/chat", b"/echo"))
    assert refused.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert refused.endswith(b"Origin: forbidden 'https://evil.example'\n")
    assert KEY  # the requests carry the RFC 6455 sample key


def status_line(port: int, *fields: tuple[str, str], target: str = "/echo") -> bytes:
    """The status line uvicorn answers an RFC 6455 request with, with ``fields`` added."""
    answer = raw_exchange(port, raw_request(rfc6455(extra=fields), target=target), head_only=True)
    return answer.split(b"\r\n", 1)[0]


def admission_seen(
    port: int,
    *fields: tuple[str, str],
    host: str = "example.com",
    source: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
) -> tuple[bytes, Any]:
    """The status line of an RFC 6455 request to ``host`` with ``fields`` added, sent
    from ``source`` (over TLS with ``tls``), and what the app saw of admission
    (asgi_apps' ``?admission`` report; ``None`` when the app did not run)."""
    request = raw_request([("Host", host), *rfc6455(extra=fields)[1:]], target="/?admission")
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(
            socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        )
        if tls is not None:
            sock = stack.enter_context(tls.wrap_socket(sock, server_hostname="127.0.0.1"))
        sock.sendall(request)
        answer = read_until(sock, b"\x88\x02\x03\xe8")  # the app's Close 1000, or the end
    head, _, frames_back = answer.partition(b"\r\n\r\n")
    if frames_back[:1] != b"\x81":
        return head.split(b"\r\n")[0], None
    length, start = frames_back[1], 2
    if length == 126:  # RFC 6455 §5.2: a 16-bit length follows
        length, start = int.from_bytes(frames_back[2:4], "big"), 4
    return head.split(b"\r\n")[0], json.loads(frames_back[start : start + length])


def test_origin_patterns_and_none_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``WSNEGOTIATE_ORIGINS`` takes what ``--origins`` takes: subdomain patterns, and
    ``none`` for a request without Origin."""
    monkeypatch.setenv("WSNEGOTIATE_ORIGINS", "https://*.example.com, none")
    with uvicorn("starlette_app:app") as (_, port):
        answers = [
            status_line(port, ("Origin", "https://a.b.example.com")),
            status_line(port),
            status_line(port, ("Origin", "https://example.com")),
            status_line(port, ("Origin", "https://example.com.evil.net")),
        ]
    switching, forbidden = b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.1 403 Forbidden"
    assert answers == [switching, switching, forbidden, forbidden]


PREFIX = "base64url.bearer.authorization.k8s.io."  # Kubernetes' credential offers


def test_same_origin_and_a_credential_prefix_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``WSNEGOTIATE_SAME_ORIGIN=1`` admits the request's own origin (``Host:
    example.com``, no TLS: ``http://example.com``) and nothing else;
    ``WSNEGOTIATE_CREDENTIAL_PREFIX`` takes the credential offer out of what the app
    is offered, and out of the field it sees."""
    monkeypatch.setenv("WSNEGOTIATE_SAME_ORIGIN", "1")
    monkeypatch.setenv("WSNEGOTIATE_CREDENTIAL_PREFIX", PREFIX)
    offer = ("Sec-WebSocket-Protocol", f"chat, {PREFIX}c2VjcmV0")
    with bare_apps() as (_, port):
        statuses = [
            admission_seen(port, ("Origin", origin))[0] if origin else admission_seen(port)[0]
            for origin in ("http://example.com", "https://example.com", "http://evil.example", "")
        ]
        seen = admission_seen(port, ("Origin", "http://example.com"), offer)
    switching, forbidden = b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.1 403 Forbidden"
    assert statuses == [switching, forbidden, forbidden, forbidden]
    assert seen[0] == switching
    assert (seen[1]["subprotocols"], seen[1]["sec-websocket-protocol"]) == (["chat"], ["chat"])


def test_the_app_gets_the_credential_and_no_log_line_has_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The credential is the app's, in ``scope["extensions"]["wsnegotiate"]``; the
    scopes uvicorn logs at ``--log-level trace`` and the access log hold none of it."""
    monkeypatch.setenv("WSNEGOTIATE_CREDENTIAL_PREFIX", PREFIX)
    secret = "c2VjcmV0LXRva2Vu"
    stdout, log = tmp_path / "stdout", bytearray()
    with bare_apps("--log-level", "trace", log=log, stdout=stdout) as (_, port):
        status, seen = admission_seen(port, ("Sec-WebSocket-Protocol", f"{PREFIX}{secret}, chat"))
    assert status == b"HTTP/1.1 101 Switching Protocols"
    assert (seen["credential"], seen["subprotocols"]) == (secret, ["chat"])
    logged = bytes(log) + stdout.read_bytes()
    assert b"Started scope=" in logged and b"'wsnegotiate': {" in logged  # scopes were logged
    assert secret.encode() not in logged, logged.decode()


SWITCHING, FORBIDDEN = b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.1 403 Forbidden"
#: A page's origin, behind a proxy that ends TLS and rewrites Host.
SECURE_PAGE = ("Origin", "https://app.example")
BACKEND = "backend:8000"
REWRITTEN: tuple[tuple[str, str], ...] = (
    SECURE_PAGE,
    ("X-Forwarded-For", "198.51.100.7"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "app.example"),
)


def scheme_and_client(seen: tuple[bytes, Any]) -> tuple[bytes, Any]:
    """The status line, and the scope's scheme and client (``None``: no app ran)."""
    status, report = seen
    return status, None if report is None else (report["scheme"], report["client"])


def test_proxies_are_trusted_as_uvicorn_trusts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``WSNEGOTIATE_SAME_ORIGIN=1``, a page behind a proxy that ends TLS and
    rewrites Host is let in when the proxy is one uvicorn trusts (by default, with
    ``--proxy-headers`` on: 127.0.0.1 and ::1; else ``--forwarded-allow-ips``), from
    ``X-Forwarded-*`` or ``Forwarded``; from any other address, or with
    ``--no-proxy-headers``, the fields are ignored and it is refused. The app's scope
    says what the negotiator decided (``Request.scheme`` and ``.client``), even where
    uvicorn's proxy middleware, which reads only ``X-Forwarded-*``, would not."""
    monkeypatch.setenv("WSNEGOTIATE_SAME_ORIGIN", "1")
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    forwarded: list[tuple[str, str]] = [
        SECURE_PAGE,
        ("Forwarded", 'for=198.51.100.7;proto=https;host="app.example"'),
    ]
    # Two proxies, the nearer one speaking Forwarded: only Forwarded is read.
    mixed: list[tuple[str, str]] = [
        SECURE_PAGE,
        ("Forwarded", 'for=127.0.0.1;proto=https;host="app.example"'),
        ("X-Forwarded-Proto", "http"),
    ]
    with bare_apps() as (_, port):
        seen = [
            scheme_and_client(admission_seen(port, *REWRITTEN, host=BACKEND)),
            scheme_and_client(admission_seen(port, *forwarded, host=BACKEND)),
            scheme_and_client(admission_seen(port, *mixed, host=BACKEND)),
            scheme_and_client(admission_seen(port, *REWRITTEN, host=BACKEND, source="127.0.0.2")),
            scheme_and_client(admission_seen(port, ("Origin", "http://example.com"))),
        ]
    with bare_apps("--forwarded-allow-ips", "127.0.0.2") as (_, port):
        named = [
            admission_seen(port, *REWRITTEN, host=BACKEND, source="127.0.0.2")[0],
            admission_seen(port, *REWRITTEN, host=BACKEND)[0],
        ]
    with bare_apps("--no-proxy-headers") as (_, port):
        untrusting = admission_seen(port, *REWRITTEN, host=BACKEND)[0]
    client = ["198.51.100.7", 0]  # no port in the fields
    assert seen[:4] == [
        (SWITCHING, ("wss", client)),
        (SWITCHING, ("wss", client)),
        (SWITCHING, ("wss", ["127.0.0.1", 0])),
        (FORBIDDEN, None),
    ]
    direct = seen[4]
    assert direct[0] == SWITCHING and direct[1] is not None
    assert (direct[1][0], direct[1][1][0]) == ("ws", "127.0.0.1")  # the connection's own
    assert named == [SWITCHING, FORBIDDEN]
    assert untrusting == FORBIDDEN


def self_signed(where: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by openssl in ``where``."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificate")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def test_policy_from_trusts_the_proxies_uvicorn_trusts() -> None:
    """``policy_from(config)``: uvicorn's ``forwarded_allow_ips`` while
    ``proxy_headers`` is on, none when off; a setting ``Policy`` refuses raises,
    naming it."""
    from uvicorn.config import Config

    import wsnegotiate.uvicorn as adapter

    def trusted(**settings: Any) -> tuple[str, ...]:
        return adapter.policy_from(Config("asgi_apps:app", **settings)).forwarded_allow_ips

    assert trusted(forwarded_allow_ips="10.0.0.0/8, 127.0.0.1") == ("10.0.0.0/8", "127.0.0.1")
    assert trusted(forwarded_allow_ips=["::1"]) == ("::1",)
    assert trusted(proxy_headers=False, forwarded_allow_ips="10.0.0.0/8") == ()
    with pytest.raises(ws.LocalProtocolError) as refused:
        trusted(forwarded_allow_ips=["10.0.0.300"])
    assert (
        str(refused.value)
        == "--forwarded-allow-ips='10.0.0.300': '10.0.0.300' is not an IP address"
    )


def test_over_tls_the_requests_own_origin_is_https(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """uvicorn serving TLS (``--ssl-certfile``): the negotiator is told, so the
    request's own origin is ``https://`` (and ``http://`` is a scheme swap), and the
    scope says ``wss``."""
    monkeypatch.setenv("WSNEGOTIATE_SAME_ORIGIN", "1")
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(cafile=str(cert))
    files = ("--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    with bare_apps(*files) as (_, port):
        own = f"127.0.0.1:{port}"
        secure = admission_seen(port, ("Origin", f"https://{own}"), host=own, tls=tls)
        swapped = admission_seen(port, ("Origin", f"http://{own}"), host=own, tls=tls)
    assert secure[0] == SWITCHING and secure[1] is not None
    assert secure[1]["scheme"] == "wss"
    assert swapped == (FORBIDDEN, None)


def test_a_quiet_client_is_pinged_then_closed_with_1011() -> None:
    async def scenario(port: int) -> list[object]:
        client = ws.ClientNegotiator(f"127.0.0.1:{port}", "/echo")
        connected, reader, writer = await handshake(client, port)
        assert isinstance(connected, ws.Connected)
        frames = wsnegotiate.wsproto.connection(connected)
        seen: list[object] = []
        # Never answers a ping; stops at the server's Close (the server then waits its
        # close timeout, 10 s, for our Close before it drops TCP: no need to wait too).
        while not any(isinstance(event, wsproto.events.CloseConnection) for event in seen):
            frames.receive_data(await asyncio.wait_for(reader.read(4096), 10) or None)
            seen += frames.events()
        writer.close()
        return seen

    options = ("--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.2")
    with uvicorn("starlette_app:app", *options) as (_, port):
        seen = run(scenario(port))
    assert [type(event).__name__ for event in seen] == ["Ping", "CloseConnection"]
    close = seen[1]
    assert isinstance(close, wsproto.events.CloseConnection)
    assert (close.code, close.reason) == (1011, "keepalive ping timeout")


def test_a_client_that_answers_pings_stays() -> None:
    """One Ping in flight: the next goes out a ping interval after the answer, so a
    client that answers (a Pong is a whole frame: the sign of life) is pinged again
    and again, never closed."""

    async def scenario(port: int) -> list[str]:
        client = ws.ClientNegotiator(f"127.0.0.1:{port}", "/echo")
        connected, reader, writer = await handshake(client, port)
        assert isinstance(connected, ws.Connected)
        frames = wsnegotiate.wsproto.connection(connected)
        seen: list[str] = []
        end = asyncio.get_running_loop().time() + 1.5
        with contextlib.suppress(TimeoutError):
            while (left := end - asyncio.get_running_loop().time()) > 0:
                frames.receive_data(await asyncio.wait_for(reader.read(4096), left) or None)
                for event in frames.events():
                    seen.append(type(event).__name__)
                    if isinstance(event, wsproto.events.Ping):
                        writer.write(frames.send(event.response()))
        writer.close()
        return seen

    options = ("--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.5")
    with uvicorn("starlette_app:app", *options) as (_, port):
        seen = run(scenario(port))
    assert set(seen) == {"Ping"}
    assert len(seen) >= 4  # one a 0.2 s after each answer, in 1.5 s


def test_a_policy_of_your_own_through_protocol() -> None:
    script = (
        "import uvicorn, wsnegotiate, wsnegotiate.uvicorn\n"
        "policy = wsnegotiate.Policy([13, 8, 7], origins=['https://app.example'])\n"
        f"uvicorn.run('starlette_app:app', app_dir={str(EXAMPLES)!r}, host='127.0.0.1', port=0,\n"
        "            ws=wsnegotiate.uvicorn.protocol(policy))\n"
    )
    seven = raw_request(rfc6455("7", extra=[("Sec-WebSocket-Origin", "https://app.example")]))
    six = raw_request(rfc6455("6", extra=[("Sec-WebSocket-Origin", "https://app.example")]))
    with uvicorn_process(["-c", script]) as (_, port):
        accepted = raw_exchange(port, seven.replace(b"/chat", b"/echo"), head_only=True)
        refused = raw_exchange(port, six.replace(b"/chat", b"/echo"))
    assert accepted.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert refused.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nSec-WebSocket-Version: 13, 8, 7\r\n" in refused


# -- what uvicorn's HTTP protocol takes in and does not hand over ---------------------

PARSERS = ["h11", "httptools"]  # the HTTP parsers uvicorn ships (--http)


def taken_back(log: bytearray) -> str:
    """An assertion's message: uvicorn's warnings about what could not be taken back
    from it (each names the attribute of uvicorn's that is gone), or its whole log."""
    lines = [line for line in log.decode("utf-8", "replace").splitlines() if "take back" in line]
    return "\n".join(lines) or f"uvicorn's log: {bytes(log)!r}"


@pytest.mark.parametrize("parser", PARSERS)
def test_an_http_1_0_upgrade_is_refused_under_either_parser(parser: str) -> None:
    """uvicorn hands the head over rewritten as HTTP/1.1; the version it parsed is
    taken back, so the refusal is the negotiator's own (RFC 6455 §4.1: HTTP/1.1)."""
    request = raw_request(rfc6455(), target="/echo", http="1.0")
    expected = ws.negotiate(request)
    assert isinstance(expected, ws.Rejected)
    assert expected.status == 400
    log = bytearray()
    with uvicorn("starlette_app:app", "--http", parser, log=log) as (_, port):
        answer = raw_exchange(port, request, wait=5)
    assert answer == expected.response, taken_back(log)
    assert "take back" not in taken_back(log)


@pytest.mark.parametrize("parser", PARSERS)
def test_a_frame_sent_with_the_request_is_echoed_once_under_either_parser(parser: str) -> None:
    """A frame written in the same write as the request, which uvicorn read with the
    head, reaches the app: echoed once, then the client's Close answered."""
    request = raw_request(rfc6455(), target="/echo")
    log = bytearray()
    with (
        uvicorn("starlette_app:app", "--http", parser, log=log) as (_, port),
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
    ):
        sock.sendall(request + masked(0x81, b"early"))
        answer = b""
        with contextlib.suppress(TimeoutError):
            answer = read_until(sock, b"\x81\x05early")
            sock.sendall(masked(0x88, b"\x03\xe8"))  # Close 1000
            while chunk := sock.recv(65536):  # until the server closes
                answer += chunk
    head, _, frames_back = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n"), taken_back(log)
    assert frames_back == b"\x81\x05early" + b"\x88\x02\x03\xe8", taken_back(log)
    assert "take back" not in taken_back(log)


def scope_seen(port: int, target: str) -> tuple[bytes, Any]:
    """The answer's status line, and the scope the app saw (asked by the query
    ``report``, it sends it as one text frame after the 101)."""
    host = [("Host", f"127.0.0.1:{port}")]
    request = raw_request([*host, *rfc6455()[1:]], target=target)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = read_until(sock, b"\x88\x02\x03\xe8")  # the app's Close 1000
    head, _, frames_back = answer.partition(b"\r\n\r\n")
    assert frames_back[:1] == b"\x81", answer
    return head.split(b"\r\n")[0], json.loads(frames_back[2 : 2 + frames_back[1]])


@pytest.mark.parametrize("parser", PARSERS)
def test_an_absolute_form_target_reaches_the_app_with_its_path(parser: str) -> None:
    """RFC 9112 §3.2.2: a server MUST accept absolute-form; the path and query are the
    URI's, as uvicorn's origin-form scope has them. (And the scope's ``server`` is
    the address the connection came to.)"""
    with bare_apps("--http", parser) as (_, port):
        absolute = scope_seen(port, f"http://127.0.0.1:{port}/sc%6Fpe?report")
        origin = scope_seen(port, "/sc%6Fpe?report")
        bare = scope_seen(port, f"http://127.0.0.1:{port}?report")
    status = b"HTTP/1.1 101 Switching Protocols"
    server = ["127.0.0.1", port]
    seen = {"path": "/scope", "raw_path": "/sc%6Fpe", "query_string": "report", "server": server}
    assert absolute == origin == (status, seen)
    root = {"path": "/", "raw_path": "/", "query_string": "report", "server": server}
    assert bare == (status, root)


def test_the_addresses_are_uvicorns_own_else_the_sockets() -> None:
    """The peer's and our address, which uvicorn's HTTP protocol read off the socket
    when the connection was made, are taken from it without asking the socket again;
    from an HTTP protocol not uvicorn's, the transport is asked."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from wsnegotiate.uvicorn import _addresses

    class Transport(asyncio.Transport):  # no socket: the addresses are extra info
        def __init__(self) -> None:
            super().__init__()
            self.asked: list[str] = []

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            self.asked.append(name)
            known = {"peername": ("192.0.2.1", 4711), "sockname": ("192.0.2.2", 80)}
            return known.get(name, default)

    class Other(asyncio.Protocol):
        client = ("203.0.113.9", 1)
        server = ("203.0.113.10", 2)

    http = H11Protocol.__new__(H11Protocol)  # as it is after its connection_made
    http.client, http.server = ("198.51.100.1", 1234), ("198.51.100.2", 8000)
    transport = Transport()
    assert _addresses(http, transport) == (http.client, http.server)
    assert transport.asked == []
    assert _addresses(Other(), transport) == (("192.0.2.1", 4711), ("192.0.2.2", 80))
    http.client, http.server = None, ("/run/app.sock", None)  # a UNIX socket's, as uvicorn has it
    assert _addresses(http, transport) == (None, ("/run/app.sock", None))
    assert transport.asked == ["socket", "peername", "socket", "sockname"]  # for Other alone


# -- the environment and the log ---------------------------------------------------

BAD_ENVIRONMENT = [
    ("WSNEGOTIATE_VERSIONS", "13,abc", "'abc' is not a version; give some of 13, 8 and 7"),
    (
        "WSNEGOTIATE_VERSIONS",
        "6",
        "version 6 cannot be accepted; choose among 13, 8 and 7"
        " (the versions framed like RFC 6455)",
    ),
    ("WSNEGOTIATE_VERSIONS", " , ", "no version; give some of 13, 8 and 7"),
    (
        "WSNEGOTIATE_ORIGINS",
        "https://app.example/",
        "origin 'https://app.example/' is not an origin: expected scheme://host[:port], no path,"
        " no user information (RFC 6454 §7.1); write 'https://app.example'",
    ),
    (
        "WSNEGOTIATE_ORIGINS",
        "https://app.example,app.example",
        "origin 'app.example' is not an origin: expected scheme://host[:port], no path,"
        " no user information (RFC 6454 §7.1)",
    ),
    (
        "WSNEGOTIATE_ORIGINS",
        "null",
        "origin 'null' cannot be listed: any page can send it (a sandboxed frame,"
        " RFC 6454 §7.3); use check_origin to admit it knowingly",
    ),
    (
        "WSNEGOTIATE_ORIGINS",
        "https://*.*.example.com",
        "origin pattern 'https://*.*.example.com' is not scheme://*.host[:port]"
        " (one leading '*.' label, then an origin's host)",
    ),
    ("WSNEGOTIATE_ORIGINS", "", "no origin; unset it to allow any origin"),
    ("WSNEGOTIATE_SAME_ORIGIN", "yes", "expected 1 (on) or 0 (off)"),
    (
        "WSNEGOTIATE_CREDENTIAL_PREFIX",
        "bearer token",
        "credential_prefix 'bearer token' is not an RFC 9110 token",
    ),
    ("WSNEGOTIATE_HANDSHAKE_TIMEOUT", "soon", "not a number of seconds above 0"),
    ("WSNEGOTIATE_HANDSHAKE_TIMEOUT", "0", "not a number of seconds above 0"),
]


def failed_startup(*options: str) -> tuple[int, str]:
    """uvicorn on our protocol, with ``options``, expected to stop before it listens:
    its exit status and the last line it printed (no traceback)."""
    arguments = [
        "-m", "uvicorn", "starlette_app:app", "--app-dir", str(EXAMPLES),
        "--host", "127.0.0.1", "--port", "0", "--ws", "wsnegotiate.uvicorn:WebSocketProtocol",
        *options,
    ]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    try:
        printed, port = listening(process)
        assert port is None, f"uvicorn started: {printed!r}"
        printed += process.stderr.read()
        status = process.wait(10)
    finally:
        stop(process, signal.SIGINT, 10)
        process.stderr.close()
    assert b"Traceback" not in printed, printed.decode()
    return status, printed.decode().splitlines()[-1]


@pytest.mark.parametrize(("name", "value", "fault"), BAD_ENVIRONMENT)
def test_each_bad_environment_value_is_one_line_and_exit_status_3(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    value: str,
    fault: str,
) -> None:
    """Each variable as the module reads it on import: one line naming the variable and
    its value, and uvicorn's exit status for a failed startup (3). (Read here by the
    module's own readers; the test below starts uvicorn on one of them.)"""
    import wsnegotiate.uvicorn as adapter

    readers: dict[str, Callable[[], object]] = {
        "WSNEGOTIATE_VERSIONS": adapter._versions,
        "WSNEGOTIATE_ORIGINS": adapter._origins,
        "WSNEGOTIATE_SAME_ORIGIN": adapter._same_origin,
        "WSNEGOTIATE_CREDENTIAL_PREFIX": adapter._credential_prefix,
        "WSNEGOTIATE_HANDSHAKE_TIMEOUT": lambda: adapter._seconds(name, "10"),
    }
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped, caplog.at_level("ERROR", "uvicorn.error"):
        readers[name]()
    assert stopped.value.code == 3
    assert caplog.messages == [f"{name}={value!r}: {fault}"]


@pytest.mark.parametrize(("name", "value", "fault"), [BAD_ENVIRONMENT[0], BAD_ENVIRONMENT[-1]])
def test_a_bad_environment_stops_uvicorn_at_startup(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fault: str
) -> None:
    """One line naming the variable and its value, uvicorn's exit status for a failed
    startup (3), no traceback; not a server that fails every WebSocket client."""
    monkeypatch.setenv(name, value)
    assert failed_startup() == (3, f"ERROR:    {name}={value!r}: {fault}")
    alone = subprocess.run(  # imported by a script of the user's (uvicorn.run(ws=...))
        [sys.executable, "-c", "import wsnegotiate.uvicorn"], capture_output=True, timeout=60
    )
    assert (alone.returncode, alone.stderr.decode()) == (3, f"{name}={value!r}: {fault}\n")


@pytest.mark.parametrize(
    ("options", "environment", "line"),
    [
        (
            ("--forwarded-allow-ips", "127.0.0.1,10.0.0.300"),
            {},
            "--forwarded-allow-ips='127.0.0.1,10.0.0.300': '10.0.0.300' is not an IP address",
        ),
        (
            (),
            {"FORWARDED_ALLOW_IPS": "10.0.0.0/33"},
            "FORWARDED_ALLOW_IPS='10.0.0.0/33': '10.0.0.0/33' is not a network"
            " (address/prefix with no host bits set, e.g. 10.0.0.0/8)",
        ),
    ],
)
def test_a_proxy_setting_policy_refuses_stops_uvicorn_at_startup(
    monkeypatch: pytest.MonkeyPatch,
    options: tuple[str, ...],
    environment: dict[str, str],
    line: str,
) -> None:
    """uvicorn takes an address it cannot parse for a literal (a UNIX socket's path),
    so a typo trusts nobody without a word; ``Policy`` refuses it. uvicorn imports our
    class as it loads its config, before it listens: the server stops there, with one
    line naming the setting (the option, or the variable uvicorn reads without it)."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert failed_startup(*options) == (3, f"ERROR:    {line}")


def test_a_proxy_setting_known_only_at_the_first_websocket_gets_it_a_500() -> None:
    """Our class handed to ``uvicorn.run()`` was imported before uvicorn had a config:
    its proxy setting is known at the first WebSocket request. One line in the log,
    once; every WebSocket request gets a 500 and the app is not called."""
    script = (
        "import uvicorn, wsnegotiate.uvicorn\n"
        f"uvicorn.run('asgi_apps:app', app_dir={str(Path(__file__).parent)!r},"
        " host='127.0.0.1', port=0, ws=wsnegotiate.uvicorn.WebSocketProtocol,"
        " forwarded_allow_ips='10.0.0.300')\n"
    )
    log = bytearray()
    with uvicorn_process(["-c", script], log=log) as (_, port):
        answers = [admission_seen(port) for _ in range(2)]
    assert answers == [(b"HTTP/1.1 500 Internal Server Error", None)] * 2
    assert [line for line in log.decode().splitlines() if "10.0.0.300" in line] == [
        "ERROR:    --forwarded-allow-ips='10.0.0.300': '10.0.0.300' is not an IP address;"
        " every WebSocket request gets a 500"
    ]
    assert "Traceback" not in log.decode()


def access_lines(output: bytes) -> list[str]:
    return [line for line in output.decode().splitlines() if '"GET /echo' in line]


@pytest.mark.parametrize("parser", PARSERS)
def test_every_handshake_is_in_the_access_log(parser: str, tmp_path: Path) -> None:
    """As uvicorn's access log has each HTTP request: same logger, same format."""
    stdout, log = tmp_path / "stdout", bytearray()
    clients = []
    with uvicorn("starlette_app:app", "--http", parser, stdout=stdout, log=log) as (_, port):
        for request, head_only in (
            (raw_request(rfc6455(), target="/echo?x=1"), True),
            (raw_request(rfc6455("8"), target="/echo"), False),
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(request)
                if head_only:  # the 101: nothing follows until the client speaks
                    read_until(sock, b"\r\n\r\n")
                else:  # a refusal: until the server closes
                    while sock.recv(65536):
                        pass
                clients.append(sock.getsockname()[1])
    assert access_lines(stdout.read_bytes()) == [
        f'INFO:     127.0.0.1:{clients[0]} - "GET /echo?x=1 HTTP/1.1" 101 Switching Protocols',
        f'INFO:     127.0.0.1:{clients[1]} - "GET /echo HTTP/1.1" 426 Upgrade Required',
    ]
    assert access_lines(bytes(log)) == []  # not twice: not in uvicorn's error log too


def test_no_access_log_means_no_handshake_lines(tmp_path: Path) -> None:
    stdout, log = tmp_path / "stdout", bytearray()
    with uvicorn("starlette_app:app", "--no-access-log", stdout=stdout, log=log) as (_, port):
        accepted = raw_exchange(port, raw_request(rfc6455(), target="/echo"), head_only=True)
        refused = raw_exchange(port, raw_request(rfc6455("8"), target="/echo"))
    assert accepted.startswith(b"HTTP/1.1 101 ")
    assert refused.startswith(b"HTTP/1.1 426 ")
    assert access_lines(stdout.read_bytes() + bytes(log)) == []


def test_a_line_the_access_log_drops_is_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """An access logger above INFO (``--log-level warning``) gets no line, and none is
    formatted for it; at INFO the line is uvicorn's shape."""
    import logging

    from wsnegotiate import uvicorn as adapter

    class Lines(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    def unbuilt(target: str) -> tuple[str, str]:
        raise AssertionError(f"the line for {target!r} was built")

    protocol = adapter.WebSocketProtocol.__new__(adapter.WebSocketProtocol)
    protocol.access_log, protocol.client = True, ("127.0.0.1", 5000)
    protocol.request_line = b"GET /echo?x=1 HTTP/1.1"
    handler, level = Lines(), adapter.access.level
    monkeypatch.setattr(adapter.access, "handlers", [handler])
    try:
        adapter.access.setLevel(logging.INFO)
        protocol._logged(101)
        assert handler.lines == ['127.0.0.1:5000 - "GET /echo?x=1 HTTP/1.1" 101']
        adapter.access.setLevel(logging.WARNING)
        monkeypatch.setattr(adapter, "_path_and_query", unbuilt)
        protocol._logged(101)
        assert handler.lines == ['127.0.0.1:5000 - "GET /echo?x=1 HTTP/1.1" 101']
    finally:
        adapter.access.setLevel(level)
