"""The asyncio and trio adapters: outcomes, decisions, timeouts and vanishing peers."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
import trio
import trio.testing
from factory import h11_request, parse_response, rfc6455

import wsnegotiate as ws
import wsnegotiate.aio
import wsnegotiate.trio
from wsnegotiate.aio import OnRequest

REQUEST = h11_request(rfc6455(extra=[("Sec-WebSocket-Protocol", "chat")]))
FRAME = b"\x81\x80\x00\x00\x00\x00"


def run_asyncio(client_bytes: bytes | None, **options: object) -> tuple[object, bytes]:
    """One connection: the client sends ``client_bytes`` (None: it resets), then reads."""
    outcomes: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        outcomes.append(await wsnegotiate.aio.server_handshake(reader, writer, **options))  # type: ignore[arg-type]
        writer.close()

    async def scenario() -> bytes:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.sockets[0].getsockname()[1]
        )
        if client_bytes is None:
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            writer.write(b"GET / HT")
            await writer.drain()
            writer.transport.abort()
            answer = b""
        else:
            writer.write(client_bytes)
            if not client_bytes:
                writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        while not outcomes:
            await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()
        return answer

    answer = asyncio.run(scenario())
    return outcomes[0], answer


def test_asyncio_accepts_and_hands_over_trailing_data() -> None:
    outcome, answer = run_asyncio(REQUEST + FRAME, policy=ws.Policy(subprotocols=["chat"]))
    assert isinstance(outcome, ws.Accepted)
    assert (outcome.subprotocol, outcome.trailing_data) == ("chat", FRAME)
    assert answer == outcome.response


@pytest.mark.parametrize("asynchronous", [False, True])
def test_asyncio_caller_decides(asynchronous: bool) -> None:
    def refuse(negotiator: ws.ServerNegotiator, request: ws.Request) -> ws.Rejected:
        assert request.target == "/chat"
        return negotiator.reject(401, "who are you?")

    async def refuse_later(negotiator: ws.ServerNegotiator, request: ws.Request) -> ws.Rejected:
        await asyncio.sleep(0)
        return refuse(negotiator, request)

    outcome, answer = run_asyncio(REQUEST, on_request=refuse_later if asynchronous else refuse)
    assert isinstance(outcome, ws.Rejected) and outcome.status == 401
    assert answer == outcome.response  # written whole, then closed


def test_asyncio_time_out_gives_408() -> None:
    outcome, answer = run_asyncio(REQUEST[:20], timeout=0.2)
    assert isinstance(outcome, ws.Rejected) and outcome.status == 408
    assert answer == outcome.response


def test_asyncio_client_gone_before_a_request() -> None:
    assert run_asyncio(b"") == (None, b"")
    outcome, _ = run_asyncio(None)
    assert outcome is None or (isinstance(outcome, ws.Rejected) and outcome.status == 400)


class _Writer:
    """A writer that keeps what it was given."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class _BrokenWriter:
    """A writer whose peer vanished while the answer was being written."""

    def __init__(self) -> None:
        self.closed = False

    def write(self, data: bytes) -> None:
        raise ConnectionResetError("peer gone")

    async def drain(self) -> None:  # pragma: no cover - write() raises first
        pass

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:  # as asyncio's: the error that closed it
        raise ConnectionResetError("peer gone")


@pytest.mark.parametrize(
    ("data", "expected"), [(REQUEST, type(None)), (REQUEST.replace(b": 13", b": 8"), ws.Rejected)]
)
def test_asyncio_peer_gone_while_answering(data: bytes, expected: type) -> None:
    async def scenario() -> tuple[object, bool]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        writer = _BrokenWriter()
        outcome = await wsnegotiate.aio.server_handshake(reader, writer)  # type: ignore[arg-type]
        return outcome, writer.closed

    outcome, closed = asyncio.run(scenario())
    assert isinstance(outcome, expected) and closed


# -- trio ------------------------------------------------------------------------------


@pytest.mark.trio
async def test_trio_accepts_and_hands_over_trailing_data() -> None:
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(REQUEST + FRAME)
    outcome = await wsnegotiate.trio.server_handshake(server, ws.Policy(subprotocols=["chat"]))
    assert isinstance(outcome, ws.Accepted)
    assert (outcome.subprotocol, outcome.trailing_data) == ("chat", FRAME)
    assert await client.receive_some() == outcome.response


@pytest.mark.trio
async def test_trio_caller_decides_and_the_answer_precedes_the_close() -> None:
    async def refuse(negotiator: ws.ServerNegotiator, request: ws.Request) -> ws.Rejected:
        return negotiator.reject(403, "not here")

    client, server = trio.testing.memory_stream_pair()
    await client.send_all(REQUEST)
    outcome = await wsnegotiate.trio.server_handshake(server, on_request=refuse)
    assert isinstance(outcome, ws.Rejected) and outcome.status == 403
    answer = b""
    while chunk := await client.receive_some():
        answer += chunk
    assert answer == outcome.response  # then end of stream: closed


@pytest.mark.trio
async def test_trio_time_out_gives_408(autojump_clock: trio.testing.MockClock) -> None:
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(REQUEST[:20])
    outcome = await wsnegotiate.trio.server_handshake(server, timeout=10)
    assert isinstance(outcome, ws.Rejected) and outcome.status == 408
    assert trio.current_time() >= 10


@pytest.mark.trio
async def test_trio_client_gone_before_a_request() -> None:
    client, server = trio.testing.memory_stream_pair()
    await client.aclose()
    assert await wsnegotiate.trio.server_handshake(server) is None


class _BrokenStream(trio.abc.Stream):
    """A stream whose peer resets: on receiving, or only when we send."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.closed = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if not self.data:
            raise trio.BrokenResourceError("reset")
        data, self.data = self.data, b""
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        raise trio.BrokenResourceError("reset")

    async def wait_send_all_might_not_block(self) -> None:  # pragma: no cover - unused
        pass

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.trio
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GET / HT", type(None)),
        (REQUEST, type(None)),
        (REQUEST.replace(b": 13", b": 8"), ws.Rejected),
    ],
)
async def test_trio_resets(data: bytes, expected: type) -> None:
    stream = _BrokenStream(data)
    outcome = await wsnegotiate.trio.server_handshake(stream)
    assert isinstance(outcome, expected) and stream.closed


# -- on_request that fails, for both adapters ---------------------------------------------


class Boom(Exception):
    pass


def raises(negotiator: ws.ServerNegotiator, request: ws.Request) -> ws.Accepted:
    raise Boom("the application failed")


def returns_none(negotiator: ws.ServerNegotiator, request: ws.Request) -> None:
    return None


async def accepts_then_raises(negotiator: ws.ServerNegotiator, request: ws.Request) -> ws.Accepted:
    negotiator.accept()
    raise Boom("after accepting")


FAILING: list[tuple[OnRequest, type[BaseException], str]] = [
    (raises, Boom, "the application failed"),
    (returns_none, ws.LocalProtocolError, "on_request returned NoneType; it must return"),  # type: ignore[list-item]
    (accepts_then_raises, Boom, "after accepting"),
]


def assert_internal_error(answer: bytes) -> None:
    status, headers, body = parse_response(answer)
    assert (status, body) == (500, b"internal error while deciding\n")
    assert ("Connection", "close") in headers


@pytest.mark.parametrize(("on_request", "error", "message"), FAILING)
def test_asyncio_failing_decision_answers_500_and_raises(
    on_request: OnRequest, error: type[BaseException], message: str
) -> None:
    async def scenario() -> bytes:
        reader = asyncio.StreamReader()
        reader.feed_data(REQUEST)
        writer = _Writer()
        with pytest.raises(error, match=message):
            await wsnegotiate.aio.server_handshake(reader, writer, on_request=on_request)  # type: ignore[arg-type]
        assert writer.closed
        return bytes(writer.data)

    assert_internal_error(asyncio.run(scenario()))


def test_asyncio_deadline_covers_the_decision() -> None:
    async def slow(negotiator: ws.ServerNegotiator, request: ws.Request) -> ws.Accepted:
        await asyncio.sleep(30)
        return negotiator.accept()  # pragma: no cover - the deadline comes first

    outcome, answer = run_asyncio(REQUEST, timeout=0.2, on_request=slow)
    assert isinstance(outcome, ws.Rejected) and outcome.status == 503
    assert outcome.reason == "no decision within the 0.2 s deadline"
    assert answer == outcome.response


@pytest.mark.trio
@pytest.mark.parametrize(("on_request", "error", "message"), FAILING)
async def test_trio_failing_decision_answers_500_and_raises(
    on_request: OnRequest, error: type[BaseException], message: str
) -> None:
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(REQUEST)
    with pytest.raises(error, match=message):
        await wsnegotiate.trio.server_handshake(server, on_request=on_request)
    answer = b""
    while chunk := await client.receive_some():
        answer += chunk
    assert_internal_error(answer)


@pytest.mark.trio
async def test_trio_deadline_covers_the_decision(autojump_clock: trio.testing.MockClock) -> None:
    async def slow(negotiator: ws.ServerNegotiator, request: ws.Request) -> ws.Accepted:
        await trio.sleep(30)
        return negotiator.accept()  # pragma: no cover - the deadline comes first

    client, server = trio.testing.memory_stream_pair()
    await client.send_all(REQUEST)
    outcome = await wsnegotiate.trio.server_handshake(server, timeout=10, on_request=slow)
    assert isinstance(outcome, ws.Rejected) and outcome.status == 503
    assert await client.receive_some() == outcome.response


def test_asyncio_resets_leave_no_unretrieved_exception() -> None:
    """A reset mid-request is stored twice by asyncio's streams: for the reader, and
    in the future behind ``wait_closed()``. Left unretrieved, the second is logged
    ("Future exception was never retrieved") whenever the garbage collector frees
    that future before its protocol, which happens now and then under load. Whether
    it is still pending is asyncio's private ``_log_traceback`` flag; no public API
    tells without retrieving it."""
    writers: list[asyncio.StreamWriter] = []
    outcomes: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        outcomes.append(await wsnegotiate.aio.server_handshake(reader, writer))
        writers.append(writer)

    async def scenario() -> list[bool]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for _ in range(5):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            await asyncio.sleep(0.02)  # the server is inside its read when the reset comes
            writer.transport.abort()
        while len(writers) < 5:
            await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()
        return [w._protocol._closed._log_traceback for w in writers]  # type: ignore[attr-defined]

    pending = asyncio.run(scenario())
    assert outcomes == [None] * 5
    assert pending == [False] * 5
