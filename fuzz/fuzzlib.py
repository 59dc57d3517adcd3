"""What the fuzz harnesses share: reading choices from the fuzz input, cutting
bytes into chunks, the checks every answer must pass, and the atheris entry point.

Nothing here imports atheris at import time, so ``tests/test_fuzz_harnesses.py``
runs every harness without it. The checks use h11 and the standard library only,
never wsnegotiate's own helpers, so a fault in those cannot hide itself.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import random
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import h11

T = TypeVar("T")

#: RFC 6455 §1.3, written out again here rather than imported.
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def expected_accept(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for ``key``: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


class Choices:
    """Reads the harness's choices off the front of the fuzz input, one byte each;
    past the end every choice is 0, so any input is a valid one."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def byte(self) -> int:
        if self._at >= len(self._data):
            return 0
        self._at += 1
        return self._data[self._at - 1]

    def pick(self, options: Sequence[T]) -> T:
        return options[self.byte() % len(options)]

    def rest(self) -> bytes:
        rest, self._at = self._data[self._at :], len(self._data)
        return rest


def split(data: bytes, how: int) -> list[bytes]:
    """``data`` in chunks: whole (0), a byte at a time (1), or pseudo-random sizes
    up to ``how`` bytes drawn from a generator seeded with ``how``."""
    if how == 0 or not data:
        return [data] if data else []
    if how == 1:
        return [data[i : i + 1] for i in range(len(data))]
    sizes = random.Random(how)
    chunks, at = [], 0
    while at < len(data):
        size = sizes.randint(1, how)
        chunks.append(data[at : at + size])
        at += size
    return chunks


def header_values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key.lower() == name]


def tokens(values: list[bytes]) -> set[bytes]:
    """The elements of a comma-separated list field, lower case (RFC 9110 §5.6.1)."""
    return {part.strip(b" \t").lower() for value in values for part in value.split(b",")}


def _client(upgrade: bool, method: str = "GET") -> h11.Connection:
    """An h11 client that has sent a ``method`` request, ready to read a server's answer."""
    client = h11.Connection(h11.CLIENT)
    headers = [("Host", "example.com")]
    if upgrade:
        headers += [("Upgrade", "websocket"), ("Connection", "Upgrade")]
    client.send(h11.Request(method=method, target="/", headers=headers))
    client.send(h11.EndOfMessage())
    return client


def check_refusal(response: bytes, status: int, *, to_head: bool = False) -> None:
    """A refusal is one complete HTTP/1.1 response with ``status``, ``Connection:
    close`` and a ``Content-Length`` equal to its body, and not a byte more. The
    answer to a HEAD request (``to_head``) has no body, and a ``Content-Length`` of
    digits, the length a GET would get (RFC 9110 §9.3.2, RFC 9112 §6.3)."""
    client = _client(upgrade=False, method="HEAD" if to_head else "GET")
    client.receive_data(response)
    head = client.next_event()
    assert isinstance(head, h11.Response), head
    assert head.status_code == status, (head.status_code, status)
    assert head.http_version == b"1.1"
    assert b"close" in tokens(header_values(head.headers, b"connection")), head.headers
    lengths = header_values(head.headers, b"content-length")
    assert len(lengths) == 1, head.headers
    body = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            break
    assert isinstance(event, h11.EndOfMessage), event
    if to_head:
        assert body == b"" and lengths[0].isdigit(), (body, lengths)
    else:
        assert int(lengths[0]) == len(body)
    assert client.trailing_data == (b"", False), client.trailing_data


def check_switch(response: bytes, key: bytes) -> list[tuple[bytes, bytes]]:
    """A 101 is one complete HTTP/1.1 response head with ``Upgrade: websocket``,
    ``Connection: Upgrade`` and the ``Sec-WebSocket-Accept`` for ``key``, and not a
    byte more. Returns its header fields."""
    client = _client(upgrade=True)
    client.receive_data(response)
    head = client.next_event()
    assert isinstance(head, h11.InformationalResponse), head
    assert head.status_code == 101
    assert head.http_version == b"1.1"
    assert client.next_event() is h11.PAUSED
    assert client.trailing_data == (b"", False), client.trailing_data
    headers = list(head.headers)
    assert header_values(headers, b"upgrade") == [b"websocket"], headers
    assert b"upgrade" in tokens(header_values(headers, b"connection")), headers
    assert header_values(headers, b"sec-websocket-accept") == [expected_accept(key)], headers
    return headers


def parse_request(data: bytes) -> tuple[h11.Request, bytes] | None:
    """The request head at the start of ``data`` as h11 reads it, and the bytes
    after the head; ``None`` when h11 sees no complete head or refuses it."""
    server = h11.Connection(h11.SERVER, max_incomplete_event_size=max(len(data), 16384))
    server.receive_data(data)
    try:
        request = server.next_event()
        if not isinstance(request, h11.Request):
            return None
        while (event := server.next_event()) is not h11.PAUSED:
            if event is h11.NEED_DATA:
                return None
    except h11.RemoteProtocolError:
        return None
    return request, server.trailing_data[0]


def instrument(*prefixes: str) -> None:
    """Add atheris's coverage instrumentation to every loaded function whose module
    starts with one of ``prefixes`` (the harness imported them before atheris)."""
    import atheris

    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and any(
            (obj.__module__ or "").startswith(prefix) for prefix in prefixes
        ):
            atheris.instrument_func(obj)


def main(test_one_input: Callable[[bytes], None], seeds: Callable[[], list[bytes]]) -> None:
    """The atheris entry point of a harness: ``python fuzz/NAME.py [libFuzzer
    options] [CORPUS_DIR ...]``. An empty or missing first corpus directory is
    filled with the harness's seeds first."""
    import atheris

    corpus = next((Path(arg) for arg in sys.argv[1:] if not arg.startswith("-")), None)
    if corpus is not None and not (corpus.is_dir() and any(corpus.iterdir())):
        write_seeds(corpus, seeds())
    instrument("wsnegotiate", "h11", "fuzzlib", "__main__")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def write_seeds(directory: Path, seeds: list[bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (directory / f"seed-{hashlib.sha1(seed).hexdigest()[:16]}").write_bytes(seed)
