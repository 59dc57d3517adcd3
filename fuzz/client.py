"""Fuzz the client negotiator: arbitrary answers to a request of every version it
speaks (13, 8, 7, 6, 5, 4, hixie-76, hixie-75, raw values), in arbitrary chunks,
then ``retry()`` wherever a ``Refused`` allows it.

    python fuzz/client.py -max_total_time=600 fuzz/corpus/client

Input: a version byte, an options byte, a fallback byte, a chunking byte, an end
of file byte, then the server's answers, one per attempt, separated by
``SEPARATOR``. Only documented outcomes pass: events, ``InvalidResponse`` for an
answer the client must fail, ``NoCommonVersion`` from ``retry()``, and
``LocalProtocolError`` for a call out of turn. Checked on every run: a
``Connected`` follows a 101 whose ``Sec-WebSocket-Accept`` (or hixie-76 MD5
answer) is the right one for the request, computed here; its trailing data are
the bytes after the head (and the answer); no ``NeedData`` after end of file;
``retry()`` never repeats a version and speaks one the server advertised or a
fallback.
"""

from __future__ import annotations

import hashlib
import struct

import h11
from fuzzlib import Choices, expected_accept, header_values, main, parse_request, split, tokens

import wsnegotiate as ws

V = ws.Version
SPEAK: tuple[V | int | str, ...] = (
    13,
    8,
    7,
    6,
    5,
    4,
    V.Version0,
    V.VersionUnknown,
    "14",
    "013",
    "",
)
FALLBACKS: tuple[tuple[V | int, ...], ...] = (
    (),
    (13,),
    (13, 8),
    (8, 7, 13),
    (7, 6, 5, 4, 0, 13),
    (V.VersionUnknown, 0),
)
SEPARATOR = b"\r\n--next attempt--\r\n"

ClientEvent = ws.NeedData | ws.Connected | ws.Refused


class Stream:
    """A deterministic random source, so a seed can hold the answer to the key."""

    def __init__(self) -> None:
        self._counter = 0

    def __call__(self, size: int) -> bytes:
        out = b""
        while len(out) < size:
            self._counter += 1
            out += hashlib.sha256(self._counter.to_bytes(8, "big")).digest()
        return out[:size]


def make_client(choices: Choices) -> ws.ClientNegotiator:
    speak = choices.pick(SPEAK)
    options = choices.byte()
    fallback = choices.pick(FALLBACKS)
    draft = (options >> 5) & 3 if speak is V.Version0 and options & 0x80 else None
    return ws.ClientNegotiator(
        "localhost:8765",
        "/chat",
        speak,
        fallback=fallback,
        subprotocols=["chat", "superchat"] if options & 1 else [],
        deflate=bool(options & 2),
        extensions=["x-webkit-deflate-frame"] if options & 4 else [],
        origin="http://localhost:8000" if options & 8 else None,
        max_response_bytes=512 if options & 16 else 64 * 1024,
        draft=draft,
        random=Stream(),
    )


def hixie76_answer(request: h11.Request, key3: bytes) -> bytes:
    """The 16 bytes a hixie-76 server answers (§5.2), computed from the request."""
    numbers = []
    for name in (b"sec-websocket-key1", b"sec-websocket-key2"):
        (key,) = header_values(request.headers, name)
        digits = int(bytes(c for c in key if 0x30 <= c <= 0x39))
        numbers.append(digits // key.count(b" "))
    return hashlib.md5(struct.pack(">II", *numbers) + key3).digest()


def test_one_input(data: bytes) -> None:
    choices = Choices(data)
    try:
        client = make_client(choices)
    except ws.LocalProtocolError:  # documented: options that cannot go together
        return
    chunking, eof = choices.byte(), choices.byte() & 1
    for answer in choices.rest().split(SEPARATOR):
        event = attempt(client, answer, chunking, bool(eof))
        if not isinstance(event, ws.Refused):
            return
        try:
            following = client.retry()
        except ws.NoCommonVersion as exc:
            assert exc.tried == tuple(_label(v) for v in client.tried)
            return
        check_retry(client, event, following)
        client = following


def _label(speak: V | str) -> str:
    if speak is V.VersionUnknown:
        return "hixie-75"
    return str(int(speak)) if isinstance(speak, V) else speak or "no version"


def attempt(
    client: ws.ClientNegotiator, answer: bytes, chunking: int, eof: bool
) -> ClientEvent | None:
    """One handshake: the request out, ``answer`` in; the event it ends with
    (``None`` for an ``InvalidResponse``), checked."""
    request = client.data_to_send()
    assert client.data_to_send() == b""
    parsed = parse_request(request)
    assert parsed is not None, request
    chunks = split(answer, chunking)
    event: ClientEvent = ws.NeedData()
    fed = 0
    try:
        for chunk in chunks:
            client.receive_data(chunk)
            fed += 1
            event = client.next_event()
            if not isinstance(event, ws.NeedData):
                break
        if isinstance(event, ws.NeedData) and eof:
            client.receive_data(b"")
            event = client.next_event()
            assert not isinstance(event, ws.NeedData), "NeedData after end of file"
    except ws.InvalidResponse as exc:
        assert client.state is ws.ClientState.FAILED
        assert exc.fault is None or isinstance(exc.fault, ws.Fault)
        check_over(client)
        return None
    unfed = b"".join(chunks[fed:])
    if isinstance(event, ws.Connected):
        check_connected(client, event, parsed, answer, unfed)
    elif isinstance(event, ws.Refused):
        assert client.state is ws.ClientState.REFUSED
        assert event.status != 101
        assert all(0 <= version <= 255 for version in event.advertised)
        check_over(client)
    return event


def check_over(client: ws.ClientNegotiator) -> None:
    """After a refusal or a failure nothing more is read, and no event comes."""
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    try:
        client.next_event()
    except ws.LocalProtocolError:
        return
    raise AssertionError("next_event() after the handshake ended did not refuse")


def check_connected(
    client: ws.ClientNegotiator,
    event: ws.Connected,
    parsed: tuple[h11.Request, bytes],
    answer: bytes,
    unfed: bytes,
) -> None:
    request, key3 = parsed
    reader = h11.Connection(h11.CLIENT)
    reader.send(request)
    reader.send(h11.EndOfMessage())
    reader.receive_data(answer)
    head = reader.next_event()
    while isinstance(head, h11.InformationalResponse) and head.status_code != 101:
        head = reader.next_event()
    assert isinstance(head, h11.InformationalResponse) and head.status_code == 101, head
    after = reader.trailing_data[0]
    assert b"websocket" in tokens(header_values(head.headers, b"upgrade"))
    assert b"upgrade" in tokens(header_values(head.headers, b"connection"))
    keys = header_values(request.headers, b"sec-websocket-key")
    if client.speaking is V.Version0:
        assert after[:16] == hixie76_answer(request, key3)
        after = after[16:]
    elif keys:
        accepts = header_values(head.headers, b"sec-websocket-accept")
        assert accepts == [expected_accept(keys[0])], accepts
    assert event.trailing_data + unfed == after
    assert event.version is client.version
    offered = header_values(request.headers, b"sec-websocket-protocol")
    offered += header_values(request.headers, b"websocket-protocol")
    if event.subprotocol is not None:
        assert event.subprotocol.encode() in b" ".join(offered).replace(b",", b" ").split()
    try:
        client.receive_data(b"\x81\x00")
    except ws.LocalProtocolError:
        pass  # documented: after the 101 bytes belong to the frame layer
    else:
        raise AssertionError("receive_data() after the 101 was not refused")


def check_retry(
    client: ws.ClientNegotiator, refused: ws.Refused, following: ws.ClientNegotiator
) -> None:
    speaking = following.speaking
    assert isinstance(speaking, V)
    assert speaking not in client.tried
    assert following.tried == (*client.tried, speaking)
    assert speaking in client._offer.preference
    assert refused.advertised_nothing or int(speaking) in refused.advertised
    assert following.state is ws.ClientState.AWAITING_RESPONSE


# -- seeds ------------------------------------------------------------------------

_SERVER = ws.Policy([13, 8, 7], subprotocols=["chat"])
_FRAME = b"\x81\x05hello"


def _answer(request: bytes, speak: V | str, style: int) -> bytes:
    """A server's answer to ``request``: wsnegotiate's own, or a hixie one, or
    one of a few odd shapes (``style``)."""
    parsed = parse_request(request)
    assert parsed is not None
    head, key3 = parsed
    keys = header_values(head.headers, b"sec-websocket-key")
    if style == 1:  # websockets' refusal: no version list
        return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nnope\n"
    if style == 2:  # HTTP/1.0, a body to the end of the connection, two version lines
        return (
            b"HTTP/1.0 426 Upgrade\r\nSec-WebSocket-Version: 8\r\n"
            b"Sec-WebSocket-Version: 7\r\n\r\nno"
        )
    if style == 3 and keys:  # 100 Continue first, then a 101 with a subprotocol
        return (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 OK\r\nUpgrade: WebSocket\r\n"
            b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Protocol: chat\r\n"
            b"Sec-WebSocket-Accept: " + expected_accept(keys[0]) + b"\r\n\r\n" + _FRAME
        )
    if speak is V.Version0:
        return (
            b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Origin: http://localhost:8000\r\n"
            b"Sec-WebSocket-Location: ws://localhost:8765/chat\r\n\r\n"
            + hixie76_answer(head, key3)
            + b"\x00hello\xff"
        )
    if speak is V.VersionUnknown:
        return (
            b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\n"
            b"Connection: Upgrade\r\nWebSocket-Origin: http://localhost:8000\r\n"
            b"WebSocket-Location: ws://localhost:8765/chat\r\n\r\n\x00hello\xff"
        )
    event = ws.negotiate(request, _SERVER)
    if isinstance(event, ws.Accepted):
        return event.response + _FRAME
    assert isinstance(event, ws.Rejected)
    return event.response


def seeds() -> list[bytes]:
    """Each version with each option and a few fallbacks, answered as a server
    would (and in a few odd ways), retried to the end."""
    found = []
    for speak in range(len(SPEAK)):
        for options in (0, 1, 2, 3, 8, 15, 0x80 | 0x20, 0x80 | 0x60):
            for fallback in (0, 3, 4):
                for style in (0, 1, 2, 3):
                    prefix = bytes([speak, options, fallback, 0, 1])
                    client = make_client(Choices(prefix))
                    answers = []
                    while True:
                        request = client.data_to_send()
                        answers.append(_answer(request, client.speaking, style))
                        client.receive_data(answers[-1])
                        client.receive_data(b"")
                        try:
                            event = client.next_event()
                        except ws.InvalidResponse:
                            break
                        if not isinstance(event, ws.Refused) or len(answers) > 4:
                            break
                        try:
                            client = client.retry()
                        except ws.NoCommonVersion:
                            break
                    found.append(prefix + SEPARATOR.join(answers))
    return found


if __name__ == "__main__":
    main(test_one_input, seeds)
