"""`wsnegotiate audit` against more real servers: wsproto's own handshake, autobahn,
faye-websocket, websocket-driver, tornado 6.5, and uvicorn's own three WebSocket
classes, each started by the test on 127.0.0.1 and a free port and always stopped. As in test_audit_servers.py, every known defect
is read off the bytes the server sent, by hand, and the audit must fail exactly the
ones still there: a peer that fixes one cannot turn a test red."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
import wsproto.events
from autobahn.asyncio.websocket import WebSocketServerFactory, WebSocketServerProtocol
from peers import NODE_MODULES, ROOT, script_server
from test_audit_servers import (
    ANY_ANSWER,
    LISTS,
    MALFORMED,
    REFUSAL,
    UNDERSTOOD_NOT,
    VERSION_REFUSAL,
    Defect,
    Raw,
    assert_fails_as_measured,
    deflate_accepted,
    head_content,
    status_426_without_upgrade,
    switched,
    unmasked_kept,
)
from test_uvicorn import EXAMPLES, uvicorn_process
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.utilities import LocalProtocolError, RemoteProtocolError


@asynccontextmanager
async def wsproto_server() -> AsyncIterator[int]:
    """An echo server on wsproto's own handshake: it accepts every Request wsproto
    hands it, and answers a request wsproto refuses with the refusal wsproto
    suggests (the error's ``event_hint``)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = WSConnection(ConnectionType.SERVER)
        try:
            while True:
                data = await reader.read(65536)
                try:
                    peer.receive_data(data or None)
                except RemoteProtocolError as error:
                    if error.event_hint is not None:
                        writer.write(peer.send(error.event_hint))
                        await writer.drain()
                    return
                done = not data
                for event in peer.events():
                    if isinstance(event, wsproto.events.Request):
                        writer.write(peer.send(wsproto.events.AcceptConnection()))
                    elif isinstance(event, wsproto.events.Message):
                        writer.write(peer.send(event))
                    elif isinstance(event, wsproto.events.Ping):
                        writer.write(peer.send(event.response()))
                    elif isinstance(event, wsproto.events.CloseConnection):
                        if peer.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                            writer.write(peer.send(event.response()))
                        done = True
                await writer.drain()
                if done:
                    return
        except (ConnectionError, LocalProtocolError):
            return
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


class AutobahnEcho(WebSocketServerProtocol):
    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.sendMessage(payload, isBinary)  # type: ignore[no-untyped-call]


@asynccontextmanager
async def autobahn_server() -> AsyncIterator[int]:
    """autobahn's asyncio echo server, with its factory's defaults."""
    factory = WebSocketServerFactory()  # type: ignore[no-untyped-call]
    factory.protocol = AutobahnEcho
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


HERE = Path(__file__).parent


def node_missing(package: str) -> str | None:
    if shutil.which("node") is None or not (NODE_MODULES / package).is_dir():
        return f"Node and its pinned {package} are needed (npm ci --prefix tests/interop)"
    return None


FAYE_MISSING = node_missing("faye-websocket")
DRIVER_MISSING = node_missing("websocket-driver")


@asynccontextmanager
async def node_server(script: str) -> AsyncIterator[int]:
    """A Node echo server of this folder; yields its port."""
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    async with script_server("node", str(HERE / script), env=env) as words:
        yield int(words[0])


#: tornado 6.5 cannot sit beside the dev extra's tornado 6.6.1: it has a virtual environment
#: of its own, which .ci/run makes (or the Python named by WSNEGOTIATE_TORNADO65_PYTHON).
TORNADO65_PYTHON = Path(
    os.environ.get("WSNEGOTIATE_TORNADO65_PYTHON", ROOT / ".cache" / "tornado65" / "bin" / "python")
)
TORNADO65_MISSING = (
    None
    if TORNADO65_PYTHON.exists()
    else "tornado 6.5 in a virtual environment of its own is needed: python3 -m venv "
    ".cache/tornado65 && .cache/tornado65/bin/pip install tornado==6.5.10 (.ci/run makes it)"
)


@asynccontextmanager
async def tornado65_server() -> AsyncIterator[int]:
    """tornado_server.py on tornado 6.5's own Python, isolated (-I: no PYTHONPATH, so
    the tornado it imports is that environment's); yields its port."""
    command = (str(TORNADO65_PYTHON), "-I", str(HERE / "tornado_server.py"))
    async with script_server(*command, env=dict(os.environ)) as (port, version):
        assert version.startswith("6.5."), f"{TORNADO65_PYTHON} runs tornado {version}"
        yield int(port)


def faye_server() -> AbstractAsyncContextManager[int]:
    return node_server("faye_server.js")


def websocket_driver_server() -> AbstractAsyncContextManager[int]:
    return node_server("websocket_driver_server.js")


#: Every key of the wrong shape (RFC 6455 §4.2.1 item 5: base64 of 16 bytes) or repeated
#: (§11.3.1: at most once in a request).
KEYS = ("15-bytes", "17-bytes", "not-base64", "unpadded", "empty", "repeated")
#: A version refused, the field repeated (RFC 6455 §11.3.5) or malformed (§4.3's ABNF).
MALFORMED_OR_REPEATED = ("013", "plus-13", "13.0", "list", "1_3", "256", "non-ascii", "repeated")

#: wsproto 1.3.2 (its own handshake, on h11): every version it does not take refused with a
#: 426 that has no Upgrade (RFC 9110 §15.5.22), also with a request pipelined behind it; a
#: 101 to two version lines, to a key of any shape or two keys, to HTTP/1.0 (RFC 9110 §7.8),
#: to an invalid Host (RFC 9112 §3.2), to Content-Length with Transfer-Encoding, the
#: connection kept (RFC 9112 §6.1), and to malformed or empty Sec-WebSocket-Protocol and
#: -Extensions (RFC 6455 §4.2.1: any violation of the ABNF).
WSPROTO: dict[str, Defect] = {
    **{f"version-{v}": VERSION_REFUSAL for v in UNDERSTOOD_NOT},
    **{f"version-{v}": REFUSAL for v in MALFORMED_OR_REPEATED},
    **{f"key-{k}": REFUSAL for k in KEYS},
    "http-1.0": ANY_ANSWER,
    "http-invalid-host": REFUSAL,
    "http-length-and-chunked": switched,
    **dict.fromkeys(LISTS, REFUSAL),
    "pipeline-after-refused": status_426_without_upgrade,
}

#: autobahn 26.11.1: a 101 to the versions 013, +13 and 1_3 (Python's int() reads each as
#: 13; RFC 6455 §4.3: no leading zero, digits only); 405 without Allow to POST, HEAD and
#: `get` (RFC 9110 §15.5.6); a 101 to an invalid Host, to Content-Length: abc (RFC 9112
#: §6.3), also with a request behind it, and to Content-Length with Transfer-Encoding (it
#: then reads the chunked body as a frame: RFC 9112 §6.1); malformed or empty
#: Sec-WebSocket-Protocol and an empty Sec-WebSocket-Extensions taken.
AUTOBAHN: dict[str, Defect] = {
    **{f"version-{v}": REFUSAL for v in ("013", "plus-13", "1_3")},
    "http-post": REFUSAL,
    "http-head": REFUSAL,
    "http-get-lowercase": ANY_ANSWER,
    "http-invalid-host": REFUSAL,
    "http-length-and-chunked": switched,
    "http-bad-content-length": REFUSAL,
    "pipeline-after-bad-length": REFUSAL,
    "subprotocol-malformed": REFUSAL,
    "subprotocol-empty": REFUSAL,
    "extension-empty": REFUSAL,
}

#: faye-websocket 0.11.4 (websocket-driver 0.8.3 behind Node's http server): 400 without
#: Sec-WebSocket-Version to every version it does not speak (RFC 6455 §4.2.2); a 101 to a
#: key of any shape or two keys, to HTTP/1.0, without a Host, with two or an invalid one;
#: content in its 400 to HEAD (RFC 9110 §9.3.2); malformed or empty Sec-WebSocket-Protocol
#: and an empty Sec-WebSocket-Extensions taken.
FAYE: dict[str, Defect] = {
    **{f"version-{v}": VERSION_REFUSAL for v in UNDERSTOOD_NOT},
    **{f"key-{k}": REFUSAL for k in KEYS},
    "http-head-no-content": head_content,
    "http-1.0": ANY_ANSWER,
    **{f"http-{h}": REFUSAL for h in ("no-host", "two-hosts", "invalid-host")},
    "subprotocol-malformed": REFUSAL,
    "subprotocol-empty": REFUSAL,
    "extension-empty": REFUSAL,
}

#: websocket-driver 0.8.3 on a bare TCP server (its own HTTP parser, http-parser-js): all
#: of faye's, and a 101 to a space before a colon (RFC 9112 §5.1), to Content-Length: abc,
#: also with a request behind it, and to Content-Length with Transfer-Encoding, the
#: connection kept.
WEBSOCKET_DRIVER: dict[str, Defect] = {
    **FAYE,
    "http-space-before-colon": REFUSAL,
    "http-length-and-chunked": switched,
    "http-bad-content-length": REFUSAL,
    "pipeline-after-bad-length": REFUSAL,
}


#: tornado 6.5.10: tornado 6.6.1's defects (test_audit_servers.py), but it speaks versions 7
#: and 8 as well as 13 (and lists the three): no check of the key beyond its presence
#: (RFC 6455 §4.2.1 item 5), a 101 to HTTP/1.0, 405 without Allow, the absolute-form target
#: routed as a path (404; RFC 9112 §3.2.2), every version refusal a 426 without Upgrade
#: (RFC 9110 §15.5.22), malformed and empty Sec-WebSocket-Protocol and -Extensions taken, an
#: unmasked frame read as data (RFC 6455 §5.1).
TORNADO65: dict[str, Defect] = {
    **{f"version-{v}": VERSION_REFUSAL for v in UNDERSTOOD_NOT if v not in ("7", "8")},
    **{f"version-{v}": REFUSAL for v in (*MALFORMED, "hixie-75", "hixie-76", "hybi-00")},
    **{f"key-{k}": REFUSAL for k in KEYS},
    "http-1.0": ANY_ANSWER,
    "http-post": REFUSAL,
    "http-head": REFUSAL,
    "http-get-lowercase": ANY_ANSWER,
    "http-absolute-form": lambda raw: raw.status != 101,
    **dict.fromkeys(LISTS, REFUSAL),
    "frame-unmasked": unmasked_kept,
}


@asynccontextmanager
async def uvicorn_server(ws: str) -> AsyncIterator[int]:
    """uvicorn (h11) serving the Starlette example with its own WebSocket class ``ws``,
    as a process; yields its port."""
    arguments = ["-m", "uvicorn", "starlette_app:app", "--app-dir", str(EXAMPLES)]
    arguments += ["--host", "127.0.0.1", "--port", "0", "--http", "h11", "--ws", ws]
    with uvicorn_process(arguments) as (_, port):
        yield port


def absolute_form_refused(raw: Raw) -> bool:
    """RFC 9112 §3.2.2: "a server MUST accept the absolute-form in requests"; uvicorn
    passes the whole target on as the path, which then routes nowhere (403)."""
    return raw.status != 101


#: uvicorn 0.55.0 with --ws websockets-sansio (the default, auto, with websockets 17.4):
#: websockets' 400 without Sec-WebSocket-Version to every version it does not speak (RFC
#: 6455 §4.2.2) and its 405 to HEAD with content (RFC 9110 §9.3.2); a 101 to HTTP/1.0
#: (RFC 9110 §7.8) and to an invalid Host (RFC 9112 §3.2); the absolute-form refused.
UVICORN_WEBSOCKETS_SANSIO: dict[str, Defect] = {
    **{f"version-{v}": VERSION_REFUSAL for v in UNDERSTOOD_NOT},
    "http-head-no-content": head_content,
    "http-1.0": ANY_ANSWER,
    "http-invalid-host": REFUSAL,
    "http-absolute-form": absolute_form_refused,
}

#: uvicorn 0.55.0 with --ws websockets (websockets 17.4's legacy server): all of the above
#: (its 400 to HEAD with content), and it closes without an answer on a version in
#: non-ASCII digits (RFC 6455 §4.2.1: an HTTP error); a 101 to Content-Length with
#: Transfer-Encoding, the connection kept (RFC 9112 §6.1), and to malformed or empty
#: Sec-WebSocket-Protocol (RFC 6455 §4.2.1, §4.3's ABNF).
UVICORN_WEBSOCKETS: dict[str, Defect] = {
    **UVICORN_WEBSOCKETS_SANSIO,
    "version-non-ascii": REFUSAL,
    "http-length-and-chunked": switched,
    "subprotocol-malformed": REFUSAL,
    "subprotocol-empty": REFUSAL,
}

#: uvicorn 0.55.0 with --ws wsproto (wsproto 1.3.2's handshake): all of wsproto's own (426
#: without Upgrade, any key, two version lines, HTTP/1.0, an invalid Host, Content-Length
#: with Transfer-Encoding, malformed or empty list fields), the absolute-form refused, and
#: permessage-deflate accepted for an offer with an unknown or a repeated parameter.
UVICORN_WSPROTO: dict[str, Defect] = {
    **WSPROTO,
    "http-absolute-form": absolute_form_refused,
    "deflate-unknown-param": deflate_accepted,
    "deflate-repeated-param": deflate_accepted,
}


@pytest.mark.parametrize(
    ("ws", "known"),
    [
        ("websockets-sansio", UVICORN_WEBSOCKETS_SANSIO),
        ("websockets", UVICORN_WEBSOCKETS),
        ("wsproto", UVICORN_WSPROTO),
    ],
)
def test_uvicorn_own_websocket_classes(ws: str, known: dict[str, Defect]) -> None:
    assert_fails_as_measured(lambda: uvicorn_server(ws), known, "/echo")


def test_wsproto_server() -> None:
    assert_fails_as_measured(wsproto_server, WSPROTO)


def test_autobahn_server() -> None:
    assert_fails_as_measured(autobahn_server, AUTOBAHN)


@pytest.mark.skipif(FAYE_MISSING is not None, reason=FAYE_MISSING or "")
def test_faye_websocket_server() -> None:
    assert_fails_as_measured(faye_server, FAYE)


@pytest.mark.skipif(DRIVER_MISSING is not None, reason=DRIVER_MISSING or "")
def test_websocket_driver_server() -> None:
    assert_fails_as_measured(websocket_driver_server, WEBSOCKET_DRIVER)


@pytest.mark.skipif(TORNADO65_MISSING is not None, reason=TORNADO65_MISSING or "")
def test_tornado65_server() -> None:
    assert_fails_as_measured(tornado65_server, TORNADO65)
