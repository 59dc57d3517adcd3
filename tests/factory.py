"""Request bytes for the tests: realistic ones through h11's own client writer,
synthetic and pathological ones written by hand (h11 would refuse to write them)."""

from __future__ import annotations

import http.server
import importlib.util
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import h11

import wsnegotiate as ws

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3

Headers = Sequence[tuple[str, str]]

UPGRADE: Headers = (("Upgrade", "websocket"), ("Connection", "Upgrade"))


def rfc6455(
    version: str | None = "13", key: str | None = KEY, extra: Headers = ()
) -> list[tuple[str, str]]:
    """The header fields of an RFC 6455 request, with knobs for the markers."""
    headers = [("Host", "example.com"), *UPGRADE]
    if key is not None:
        headers.append(("Sec-WebSocket-Key", key))
    if version is not None:
        headers.append(("Sec-WebSocket-Version", version))
    return [*headers, *extra]


def h11_request(headers: Headers, method: str = "GET", target: str = "/chat") -> bytes:
    """Bytes of a request written by h11's client: realistic framing."""
    client = h11.Connection(h11.CLIENT)
    return client.send(h11.Request(method=method, target=target, headers=list(headers))) or b""


def raw_request(
    headers: Headers,
    method: str = "GET",
    target: str = "/chat",
    http: str = "1.1",
    body: bytes = b"",
) -> bytes:
    """Bytes written verbatim: for values h11 would refuse to send."""
    lines = [f"{method} {target} HTTP/{http}", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n.lower() == name.lower()]


def parse_response(
    response: bytes, method: str = "GET"
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Read our answer back with h11's client parser, as the answer to a request with
    ``method``: status, headers as sent, body (none to HEAD: RFC 9112 §6.3 rule 1).
    Not a byte may follow the answer."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("Host", "x"), *UPGRADE]))
    client.receive_data(response)
    head = client.next_event()
    assert isinstance(head, h11.Response | h11.InformationalResponse), head
    headers = [(n.decode(), v.decode("latin-1")) for n, v in head.headers.raw_items()]
    body = b""
    if isinstance(head, h11.Response):
        while isinstance(part := client.next_event(), h11.Data):
            body += part.data
        assert isinstance(part, h11.EndOfMessage)
        assert client.trailing_data == (b"", False), client.trailing_data
    return head.status_code, headers, body


def assert_rejection(event: object, status: int, reason: str, method: str = "GET") -> ws.Rejected:
    """A refusal with every field DESIGN.md requires of one, checked on the wire as
    the answer to ``method``: a HEAD gets no content, but the Content-Length of the
    reason a GET would get (RFC 9110 §9.3.2)."""
    assert isinstance(event, ws.Rejected), event
    assert (event.status, event.reason) == (status, reason)
    wire_status, wire_headers, body = parse_response(event.response, method)
    content = reason.encode() + b"\n"
    assert (wire_status, wire_headers, body) == (
        status,
        list(event.headers),
        b"" if method == "HEAD" else content,
    )
    assert header_values(wire_headers, "Content-Length") == [str(len(content))]
    if method == "HEAD":
        assert event.response.endswith(b"\r\n\r\n")
    assert header_values(wire_headers, "Content-Type") == ["text/plain; charset=utf-8"]
    assert "close" in header_values(wire_headers, "Connection")[0].lower()
    if event.error is not None:
        assert (event.error.status, event.error.headers) == (status, event.headers)
        assert event.error.reason == reason
    return event


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module, to run its handlers in a test."""
    path = Path(__file__).parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files, logging nothing."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def http_server(handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A plain HTTP server on 127.0.0.1 in a thread; yields its port, always stops."""
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            thread.join(10)


def mutate(draw: Callable[..., Any], data: bytes, alphabet: Sequence[int], edits: int) -> bytes:
    """``data`` with 1 to ``edits`` bytes inserted, deleted or replaced (bytes of
    ``alphabet``), each drawn with hypothesis's ``draw``."""
    from hypothesis import strategies as st

    mutated = bytearray(data)
    for _ in range(draw(st.integers(1, edits))):
        where = draw(st.integers(0, len(mutated)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.sampled_from(alphabet))
        if action == "insert":
            mutated.insert(where, byte)
        elif where < len(mutated):
            if action == "delete":
                del mutated[where]
            else:
                mutated[where] = byte
    return bytes(mutated)
