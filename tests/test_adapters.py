"""The asyncio and trio adapters: outcomes, decisions, timeouts and vanishing peers."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import struct
import subprocess
from pathlib import Path

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

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default  # no socket under it: no peer, no TLS


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

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


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


# -- the peer and TLS, as the connection tells them --------------------------------------

#: A browser's request as a proxy that rewrites Host passes it on: the page's origin
#: is https://app.example; the proxy says so in Forwarded.
PROXIED = h11_request(
    [
        ("Host", "backend:8000"),
        *rfc6455()[1:],
        ("Origin", "https://app.example"),
        ("Forwarded", 'for="198.51.100.7:4711";proto=https;host="app.example"'),
    ]
)
TRUSTING_LOCALHOST = ws.Policy(same_origin=True, forwarded_allow_ips="127.0.0.1")
TRUSTING_OTHERS = ws.Policy(forwarded_allow_ips="10.0.0.0/8")
SAME_ORIGIN_TRUSTING_OTHERS = ws.Policy(same_origin=True, forwarded_allow_ips="10.0.0.0/8")
#: The refusal of the proxied request when its fields are not believed.
NOT_BELIEVED = (
    "Origin: forbidden 'https://app.example'; this request's origin is 'http://backend:8000'"
)


PEER = ("192.0.2.1", 4000)


def assert_from_this_host(request: ws.Request) -> None:
    """The socket's facts: plain http, from 127.0.0.1 and some port."""
    assert request.scheme == "http" and request.client is not None
    assert request.client[0] == "127.0.0.1" and request.client[1] > 0


def test_asyncio_believes_a_trusted_proxy_only() -> None:
    outcome, answer = run_asyncio(PROXIED, policy=TRUSTING_LOCALHOST)
    assert isinstance(outcome, ws.Accepted) and answer == outcome.response
    request = outcome.request
    assert (request.scheme, request.client) == ("https", ("198.51.100.7", 4711))
    # the same bytes from a peer that is not a trusted proxy: the socket's facts
    outcome, _ = run_asyncio(PROXIED, policy=TRUSTING_OTHERS)
    assert isinstance(outcome, ws.Accepted)
    assert_from_this_host(outcome.request)
    outcome, answer = run_asyncio(PROXIED, policy=SAME_ORIGIN_TRUSTING_OTHERS)
    assert isinstance(outcome, ws.Rejected) and answer == outcome.response
    assert (outcome.status, outcome.reason) == (403, NOT_BELIEVED)


def test_asyncio_peer_and_tls_can_be_given() -> None:
    outcome, _ = run_asyncio(PROXIED, policy=SAME_ORIGIN_TRUSTING_OTHERS, peer=("10.0.0.2", 1))
    assert isinstance(outcome, ws.Accepted) and outcome.request.client == ("198.51.100.7", 4711)
    direct = REQUEST.replace(b"Host: example.com", b"Host: app.example")
    direct = direct.replace(b"\r\n\r\n", b"\r\nOrigin: https://app.example\r\n\r\n")
    outcome, _ = run_asyncio(direct, policy=SAME_ORIGIN_TRUSTING_OTHERS, tls=True)
    assert isinstance(outcome, ws.Accepted) and outcome.request.scheme == "https"
    assert outcome.request.client is not None and outcome.request.client[0] == "127.0.0.1"
    # both given: the writer is not asked
    outcome, _ = run_asyncio(direct, policy=SAME_ORIGIN_TRUSTING_OTHERS, peer=PEER, tls=True)
    assert isinstance(outcome, ws.Accepted) and outcome.request.client == PEER


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def tls_contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(*certificate)
    client = ssl.create_default_context(cafile=str(certificate[0]))
    return server, client


#: Same origin over TLS: an https page of the server's own authority.
OVER_TLS = h11_request([("Host", "127.0.0.1"), *rfc6455()[1:], ("Origin", "https://127.0.0.1")])


def test_asyncio_sees_tls(certificate: tuple[Path, Path]) -> None:
    server_tls, client_tls = tls_contexts(certificate)
    outcomes: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        policy = ws.Policy(same_origin=True)
        outcomes.append(await wsnegotiate.aio.server_handshake(reader, writer, policy))
        writer.close()

    async def scenario() -> bytes:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_tls)
        try:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_tls)
            writer.write(OVER_TLS)
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.close()
            for _ in range(1000):
                if outcomes:
                    break
                await asyncio.sleep(0.01)
            return answer
        finally:
            server.close()
            await server.wait_closed()

    answer = asyncio.run(asyncio.wait_for(scenario(), 30))
    [outcome] = outcomes
    assert isinstance(outcome, ws.Accepted) and answer == outcome.response
    assert outcome.request.scheme == "https"


def test_asyncio_unix_socket_has_no_peer(tmp_path: Path) -> None:
    outcomes: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        policy = ws.Policy(forwarded_allow_ips="*")
        outcomes.append(await wsnegotiate.aio.server_handshake(reader, writer, policy))
        writer.close()

    async def scenario() -> None:
        path = str(tmp_path / "ws.sock")
        server = await asyncio.start_unix_server(handle, path)
        try:
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(PROXIED)
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.close()
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    [outcome] = outcomes
    assert isinstance(outcome, ws.Accepted)
    # no address to trust, even for "*": the connection's own facts
    assert (outcome.request.scheme, outcome.request.client) == ("http", None)


async def trio_exchange(
    data: bytes, policy: ws.Policy, tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None
) -> tuple[object, bytes]:
    """One connection over TCP on 127.0.0.1 (TLS with ``tls``): the outcome, and the
    answer the client read."""
    outcomes: list[object] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
            port = listener.socket.getsockname()[1]

            async def serve_one() -> None:
                async with listener:
                    stream: trio.abc.Stream = await listener.accept()
                    if tls is not None:
                        stream = trio.SSLStream(stream, tls[0], server_side=True)
                    outcomes.append(await wsnegotiate.trio.server_handshake(stream, policy))
                    await stream.aclose()

            nursery.start_soon(serve_one)
            client: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", port)
            if tls is not None:
                client = trio.SSLStream(client, tls[1], server_hostname="127.0.0.1")
            await client.send_all(data)
            answer = b""
            while not answer.endswith(b"\r\n\r\n") and (chunk := await client.receive_some()):
                answer += chunk
            await client.aclose()
    return outcomes[0], answer


@pytest.mark.trio
async def test_trio_believes_a_trusted_proxy_only() -> None:
    outcome, answer = await trio_exchange(PROXIED, TRUSTING_LOCALHOST)
    assert isinstance(outcome, ws.Accepted) and answer == outcome.response
    request = outcome.request
    assert (request.scheme, request.client) == ("https", ("198.51.100.7", 4711))
    outcome, _ = await trio_exchange(PROXIED, TRUSTING_OTHERS)
    assert isinstance(outcome, ws.Accepted)
    assert_from_this_host(outcome.request)
    outcome, answer = await trio_exchange(PROXIED, SAME_ORIGIN_TRUSTING_OTHERS)
    assert isinstance(outcome, ws.Rejected) and answer == outcome.response
    assert (outcome.status, outcome.reason) == (403, NOT_BELIEVED)


@pytest.mark.trio
async def test_trio_sees_tls(certificate: tuple[Path, Path]) -> None:
    outcome, answer = await trio_exchange(
        OVER_TLS, ws.Policy(same_origin=True), tls_contexts(certificate)
    )
    assert isinstance(outcome, ws.Accepted) and answer.startswith(b"HTTP/1.1 101 ")
    assert outcome.request.scheme == "https"
    assert outcome.request.client is not None and outcome.request.client[0] == "127.0.0.1"


@pytest.mark.trio
async def test_trio_peer_and_tls_can_be_given() -> None:
    client, server = trio.testing.memory_stream_pair()  # no socket: nothing known
    await client.send_all(PROXIED)
    outcome = await wsnegotiate.trio.server_handshake(server, TRUSTING_OTHERS)
    assert isinstance(outcome, ws.Accepted)
    assert (outcome.request.scheme, outcome.request.client) == ("http", None)
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(PROXIED)
    outcome = await wsnegotiate.trio.server_handshake(
        server, SAME_ORIGIN_TRUSTING_OTHERS, peer=("10.0.0.2", 1)
    )
    assert isinstance(outcome, ws.Accepted) and outcome.request.client == ("198.51.100.7", 4711)
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(OVER_TLS)
    outcome = await wsnegotiate.trio.server_handshake(server, ws.Policy(same_origin=True), tls=True)
    assert isinstance(outcome, ws.Accepted) and outcome.request.scheme == "https"
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(OVER_TLS)
    outcome = await wsnegotiate.trio.server_handshake(server, peer=PEER, tls=True)
    assert isinstance(outcome, ws.Accepted)
    assert (outcome.request.scheme, outcome.request.client) == ("https", PEER)


def test_trio_stream_facts_without_an_address() -> None:
    left, right = socket.socketpair()  # a UNIX socket: no address
    with left, right:
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(left))
        assert wsnegotiate.trio._stream_facts(stream) == (None, False)
    with socket.socket() as unconnected:  # a peer already gone: getpeername() fails
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(unconnected))
        assert wsnegotiate.trio._stream_facts(stream) == (None, False)
