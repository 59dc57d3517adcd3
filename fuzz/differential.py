"""Fuzz the one-pass readers of the common head (``_fasthead``) against h11: the
same bytes through a negotiator that reads the common head in one pass
(``fast_path=True``) and through one that gives every head to h11
(``fast_path=False``), under the same policy and in the same chunks. Any
difference fails: a second parser beside h11 must accept a strict subset of
what h11 accepts, and decide exactly as h11's path does.

    python fuzz/differential.py -max_total_time=60 fuzz/corpus/differential

Input: a side byte (even: the server reads a request; odd: the client reads an
answer), a policy (or client) byte, a chunking byte, an end-of-file byte, then
the bytes from the peer. Compared, server: after each call, the event (every
field of it, whatever fields it has; an error by every attribute it carries),
the state and the bytes held; then the ``Accepted`` of ``accept()``. Client:
the request, then after each call the event or ``InvalidResponse`` and the
state. Besides, where the reader takes a head, what it read is compared
with what h11 reads from it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

import h11
from fuzzlib import Choices, main, parse_request, split

import wsnegotiate as ws
from wsnegotiate._fasthead import read_request, read_switch, refused_by_h11
from wsnegotiate._hixie import challenge_answer, key_number
from wsnegotiate.cli.samples import SAMPLES

V = ws.Version
FRAME = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # RFC 6455 §5.7 masked "Hello"

_POLICY_OPTIONS: tuple[dict[str, object], ...] = (
    {},
    {"versions": [13, 8, 7]},
    {"versions": [13, 8, 7], "subprotocols": ["chat", "superchat"], "reject_status": 400},
    {"origins": ["http://localhost:8000", "http://example.com"]},
    {"versions": [13, 8], "max_request_bytes": 300, "deflate": None},
    {"max_field_lines": 8, "max_field_line_bytes": 80, "max_offers": 2},
    {"max_request_bytes": 64 * 1024, "max_field_line_bytes": 32 * 1024},  # beyond h11's 16 KiB
)
#: Each policy twice: reading the common head in one pass, and h11 only.
POLICIES: tuple[tuple[ws.Policy, ws.Policy], ...] = tuple(
    (ws.Policy(**options), ws.Policy(**options, fast_path=False))  # type: ignore[arg-type]
    for options in _POLICY_OPTIONS
)


def _random(size: int) -> bytes:
    """The clients' random source: fixed, so both paths send the same request and
    an input can hold the answer to its key."""
    return bytes(range(size))


ClientOptions = dict[str, object]
_CLIENT_OPTIONS: tuple[tuple[V | int, ClientOptions], ...] = (
    (13, {}),
    (13, {"subprotocols": ["chat", "superchat"], "deflate": True, "origin": "http://o.example"}),
    (8, {"fallback": [13, 7]}),
    (V.Version0, {"origin": "http://o.example"}),  # hixie-76: the answer's 16 bytes follow
    (V.VersionUnknown, {"subprotocols": ["chat"]}),  # hixie-75
    (13, {"max_response_bytes": 256, "extensions": ["x-webkit-deflate-frame"]}),
)


def make_client(index: int, fast_path: bool) -> ws.ClientNegotiator:
    speak, options = _CLIENT_OPTIONS[index % len(_CLIENT_OPTIONS)]
    return ws.ClientNegotiator(
        "localhost:8765",
        "/chat",
        speak,
        random=_random,
        fast_path=fast_path,
        **options,  # type: ignore[arg-type]
    )


# -- what is compared -----------------------------------------------------------------


_ATOMS = frozenset({bytes, str, int, bool, float, type(None)})
_FIELDS: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, once seen


def comparable(value: object) -> object:
    """``value`` as compared: an event by every one of its fields, whatever fields
    it has; an error by its type, its arguments and every attribute it carries;
    bytes also by their type (``b"a" == bytearray(b"a")``)."""
    kind = value.__class__
    if kind in _ATOMS:
        return value
    if (names := _FIELDS.get(kind)) is not None:
        return kind, [comparable(getattr(value, name)) for name in names]
    if isinstance(value, tuple | list):
        return kind, [comparable(item) for item in value]
    if isinstance(value, bytearray | memoryview):
        return kind, bytes(value)
    if isinstance(value, BaseException):
        slots = [name for cls in type(value).__mro__ for name in getattr(cls, "__slots__", ())]
        carried = {name: getattr(value, name) for name in slots if hasattr(value, name)}
        carried.update(vars(value) if hasattr(value, "__dict__") else {})
        return (
            type(value),
            comparable(value.args),
            sorted((name, comparable(item)) for name, item in carried.items()),
        )
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(field.name for field in dataclasses.fields(value))
        return kind, [comparable(getattr(value, name)) for name in names]
    return value


def server_trace(chunks: Sequence[bytes], policy: ws.Policy, eof: bool) -> list[object]:
    """What a server negotiator does with ``chunks`` (then an end of file): the
    event, state and bytes held after each chunk, and the ``Accepted``."""
    negotiator = ws.ServerNegotiator(policy)
    trace: list[object] = []
    event: object = None
    for chunk in [*chunks, *([b""] if eof else [])]:
        negotiator.receive_data(chunk)
        event = negotiator.next_event()
        trace.append((comparable(event), negotiator.state, negotiator.buffered))
        if not isinstance(event, ws.NeedData):
            break
    if isinstance(event, ws.Request):
        trace.append(comparable(negotiator.accept()))
    return trace


def client_trace(
    make: Callable[[], ws.ClientNegotiator], chunks: Sequence[bytes], eof: bool
) -> list[object]:
    """What a client negotiator does with the answer ``chunks`` (then an end of
    file): its request, then the event or error and the state after each chunk."""
    client = make()
    trace: list[object] = [client.data_to_send()]
    try:
        for chunk in [*chunks, *([b""] if eof else [])]:
            client.receive_data(chunk)
            event = client.next_event()
            trace.append((comparable(event), client.state))
            if not isinstance(event, ws.NeedData):
                break
    except ws.InvalidResponse as exc:
        trace.append((comparable(exc), client.state))
    return trace


_HEAD_END = re.compile(rb"\n\r?\n")


def check_request_reader(data: bytes) -> bool:
    """Where ``read_request`` takes the head at the start of ``data``, it reads
    what h11 reads; where ``refused_by_h11`` says h11 refuses the head, h11 does,
    with 400. Whether the reader took the head."""
    end = _HEAD_END.search(data)
    if end is None:
        return False
    head = data[: end.end()]
    read = read_request(head)
    server = h11.Connection(h11.SERVER, max_incomplete_event_size=max(len(head), 16384))
    server.receive_data(head)
    if read is not None:
        request = server.next_event()  # raises if h11 refuses what the reader took
        assert isinstance(request, h11.Request), request
        h11_read = (request.method, request.target, request.http_version)
        assert read[:3] == h11_read, (read[:3], h11_read)
        assert read[3] == request.headers.raw_items(), (read[3], request.headers.raw_items())
    elif refused_by_h11(head):
        try:
            event = server.next_event()
        except h11.RemoteProtocolError as exc:
            assert exc.error_status_hint == 400, exc
        else:
            raise AssertionError(f"h11 took a head said to be refused: {event}")
    return read is not None


def check_switch_reader(data: bytes) -> bool:
    """Where ``read_switch`` takes a 101 at the start of ``data``, h11 reads the
    same 101 with the same field lines, and the same bytes after it."""
    read = read_switch(data)
    if read is not None:
        client = h11.Connection(h11.CLIENT, max_incomplete_event_size=max(len(data), 16384))
        client.send(
            h11.Request(method="GET", target="/", headers=[("Host", "a"), ("Upgrade", "b")])
        )
        client.receive_data(data)
        head = client.next_event()
        assert isinstance(head, h11.InformationalResponse) and head.status_code == 101, head
        assert head.http_version == b"1.1"
        assert read[0] == head.headers.raw_items(), (read[0], head.headers.raw_items())
        assert data[read[1] :] == client.trailing_data[0]
    return read is not None


def test_one_input(data: bytes) -> None:
    choices = Choices(data)
    side, pick, chunking, eof = choices.byte(), choices.byte(), choices.byte(), choices.byte() & 1
    sent = choices.rest()
    chunks = split(sent, chunking)
    if side % 2 == 0:
        fast, h11_only = POLICIES[pick % len(POLICIES)]
        check_request_reader(sent)
        assert server_trace(chunks, fast, bool(eof)) == server_trace(chunks, h11_only, bool(eof))
    else:
        check_switch_reader(sent)
        one_pass = client_trace(lambda: make_client(pick, True), chunks, bool(eof))
        assert one_pass == client_trace(lambda: make_client(pick, False), chunks, bool(eof))


# -- seeds ------------------------------------------------------------------------------


def answers(index: int) -> list[bytes]:
    """Answers to client ``index``'s request: the 101 a server of ours gives it (or,
    for hixie, one written here), with a frame after it, and a refusal."""
    request = make_client(index, True).data_to_send()
    speak = _CLIENT_OPTIONS[index % len(_CLIENT_OPTIONS)][0]
    if speak is V.Version0:
        parsed = parse_request(request)
        assert parsed is not None
        head, key3 = parsed
        keys = dict(head.headers.raw_items())
        numbers = [
            key_number(keys[name].decode())
            for name in (b"Sec-WebSocket-Key1", b"Sec-WebSocket-Key2")
        ]
        assert None not in numbers
        switch = (
            b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Origin: http://o.example\r\n"
            b"Sec-WebSocket-Location: ws://localhost:8765/chat\r\n\r\n"
            + challenge_answer(numbers[0], numbers[1], key3)  # type: ignore[arg-type]
        )
        return [
            switch,
            switch + b"\x00hi\xff",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        ]
    if speak is V.VersionUnknown:
        switch = (
            b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\n"
            b"Connection: Upgrade\r\nWebSocket-Protocol: chat\r\n\r\n"
        )
        return [switch, switch + b"\x00hi\xff"]
    policy = ws.Policy([13, 8, 7], subprotocols=["superchat"])
    accepted = ws.negotiate(request, policy)
    assert isinstance(accepted, ws.Accepted), accepted
    refused = ws.negotiate(request.replace(b"Version: ", b"Version: 1"), policy)
    assert isinstance(refused, ws.Rejected)
    return [accepted.response, accepted.response + FRAME, refused.response]


def seeds() -> list[bytes]:
    """Every bundled sample under every policy, whole, in 7-byte and 1-byte
    chunks; the answers to every client, likewise."""
    found = []
    for sample in SAMPLES:
        data = sample.data + FRAME
        found += [bytes([0, policy, 0, 0]) + data for policy in range(len(POLICIES))]
        found += [bytes([0, 1, 7, 1]) + data, bytes([0, 2, 1, 0]) + data]
    for index in range(len(_CLIENT_OPTIONS)):
        for answer in answers(index):
            found += [bytes([1, index, chunking, 0]) + answer for chunking in (0, 1, 7)]
    return found


if __name__ == "__main__":
    main(test_one_input, seeds)
