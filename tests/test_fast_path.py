"""The speed-only parts of the design, each checked for what it promises: the
one-pass readers (``_fasthead``) take the common heads and nothing else, the
switches turn them off, and ``serve`` runs its connections without Nagle's
algorithm. That the readers decide as h11 does is ``test_differential.py``."""

from __future__ import annotations

import asyncio
import socket

import h11
import pytest

import wsnegotiate as ws
from wsnegotiate._fasthead import read_request, read_switch, refused_by_h11
from wsnegotiate.cli.serve import _Acceptor, event_loop

# -- serve's sockets ---------------------------------------------------------------------


class _Recorder(asyncio.Protocol):
    """Hands its transport over as soon as the loop has made it."""

    def __init__(self, made: asyncio.Future[asyncio.BaseTransport]) -> None:
        self._made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._made.set_result(transport)


async def _accepted_nodelay() -> int:
    """TCP_NODELAY of the server's side of a connection that ``serve``'s acceptor
    took off its listener (the listener as ``echo_server`` makes it)."""
    loop = asyncio.get_running_loop()
    made: asyncio.Future[asyncio.BaseTransport] = loop.create_future()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        acceptor = _Acceptor(loop, listener, 8, lambda connections, room: _Recorder(made))
        acceptor.start()
        client = socket.create_connection(listener.getsockname()[:2])
        try:
            transport = await asyncio.wait_for(made, 10)
            server_side = transport.get_extra_info("socket")
            value = int(server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()
        finally:
            client.close()
            await acceptor.stop()
    return value


@pytest.mark.parametrize("name", ["asyncio", "uvloop"])
def test_serve_accepts_sockets_without_nagle(name: str) -> None:
    """Every accepted socket has TCP_NODELAY on both loops: a handshake's answer
    goes out at once, not after the client's delayed ACK (asyncio sets it only on
    a socket whose protocol says TCP)."""
    if name == "uvloop":
        pytest.importorskip("uvloop")
    _, new_loop = event_loop(name)
    with asyncio.Runner(loop_factory=new_loop) as runner:
        assert runner.run(_accepted_nodelay()) != 0


# -- what the readers take ----------------------------------------------------------------


def test_the_reader_takes_the_common_head_as_h11_reads_it() -> None:
    head = (
        b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nX-Tabs:\t a \t b \t\r\n"
        b"x-empty:\r\nX-Blank: \t \r\nUPGRADE: websocket\r\n\r\n"
    )
    assert read_request(head) == (
        b"GET",
        b"/chat?room=1",
        b"1.1",
        [
            (b"Host", b"example.com"),
            (b"X-Tabs", b"a \t b"),  # OWS around the value dropped, inner whitespace kept
            (b"x-empty", b""),
            (b"X-Blank", b""),
            (b"UPGRADE", b"websocket"),
        ],
    )


HEAD = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nPragma: no-cache\r\n\r\n"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"\r\n", b"\n"),  # bare LF
        (b"no-cache\r\n", b"no-cache\r\n folded\r\n"),  # obs-fold
        (b"Pragma: no-cache", b"Host: again"),  # two Hosts
        (b"Host: example.com", b"X-Host: example.com"),  # no Host
        (b"Pragma: no-cache", b"Content-Length: 0"),
        (b"Pragma: no-cache", b"content-LENGTH: 0"),
        (b"Pragma: no-cache", b"Transfer-Encoding: chunked"),
        (b"GET", b"POST"),
        (b"HTTP/1.1", b"HTTP/1.0"),
        (b"/chat", b"http://example.com/chat"),  # absolute-form
        (b"/chat", b"*"),
        (b"/chat", b"/chat#top"),
        (b"/chat", b"/caf\xc3\xa9"),
        (b"no-cache", b"caf\xe9"),  # obs-text
        (b"no-cache", b"no\x01cache"),  # a control character h11 would take
        (b"no-cache", b"no\rcache"),  # a bare CR
        (b"Pragma:", b"Pragma :"),  # whitespace before the colon
        (b"Pragma:", b"Pra/gma:"),  # not a token
        (b"\r\n\r\n", b"\r\nX: " + b"x" * (16 * 1024) + b"\r\n\r\n"),  # beyond h11's 16 KiB
    ],
)
def test_the_reader_leaves_the_rest_to_h11(old: bytes, new: bytes) -> None:
    assert read_request(HEAD) is not None
    assert read_request(HEAD.replace(old, new, 1)) is None


SWITCH = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


def test_the_switch_reader_reads_up_to_the_blank_line() -> None:
    lines = [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ]
    assert read_switch(SWITCH) == (lines, len(SWITCH))
    after = b"\x81\x02hi\r\nX: not a field line\r\n\r\n"  # frames are not read as lines
    assert read_switch(SWITCH + after) == (lines, len(SWITCH))
    assert read_switch(SWITCH.replace(b" Switching Protocols", b"")) == (lines, len(SWITCH) - 20)


@pytest.mark.parametrize(
    "answer",
    [
        SWITCH[:-2],  # incomplete
        b"HTTP/1.1 100 Continue\r\n\r\n" + SWITCH,
        SWITCH.replace(b"HTTP/1.1", b"HTTP/1.0"),
        SWITCH.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"),
        SWITCH.replace(b"Upgrade\r\n", b"Upgrade\r\n folded\r\n"),
        SWITCH.replace(b"\r\n", b"\n"),
        SWITCH.replace(b"Switching", b"Sw\xe9tching"),
        b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ],
)
def test_the_switch_reader_leaves_the_rest_to_h11(answer: bytes) -> None:
    assert read_switch(answer) is None


@pytest.mark.parametrize(
    ("line", "refused"),
    [
        (b"Pragma no-cache", True),
        (b"Pragma", True),
        (b"\rPragma", True),
        (b"Pragma no-cache\r\n continued: x", True),
        (b"Pragma: no-cache", False),
        (b"Pragma: no-cache\r\n folded", False),  # a continuation h11 joins to the line before
        (b"Pragma : no-cache", False),  # refused by h11 too, but not by this rule
        (b"Pragma: no\x0bcache", False),
    ],
)
def test_refused_by_h11(line: bytes, refused: bool) -> None:
    """The one fault refused without h11: a field line with no colon that does not
    start with whitespace."""
    assert refused_by_h11(HEAD.replace(b"Pragma: no-cache", line)) is refused


# -- the switches ---------------------------------------------------------------------------


def test_policy_switch() -> None:
    assert ws.Policy().fast_path is True
    assert ws.Policy(fast_path=False).fast_path is False


def _client(fast_path: bool) -> ws.ClientNegotiator:
    return ws.ClientNegotiator(
        "example.com", random=lambda size: b"the sample nonce"[:size], fast_path=fast_path
    )


@pytest.mark.parametrize("fast_path", [True, False])
def test_client_switch(fast_path: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = read_switch

    def counting(data: bytes) -> object:
        calls.append(data)
        return real(data)

    monkeypatch.setattr("wsnegotiate._client.read_switch", counting)
    client = _client(fast_path)
    client.data_to_send()
    client.receive_data(SWITCH + b"\x81\x02hi")
    event = client.next_event()
    assert isinstance(event, ws.Connected)
    assert event.trailing_data == b"\x81\x02hi"
    assert calls == ([SWITCH + b"\x81\x02hi"] if fast_path else [])


def test_client_reads_a_split_answer_through_h11() -> None:
    """The one-pass reader looks once, at the first ``next_event()``; an answer
    not complete then is h11's, and still connects."""
    client = _client(True)
    client.data_to_send()
    client.receive_data(SWITCH[:20])
    assert isinstance(client.next_event(), ws.NeedData)
    client.receive_data(SWITCH[20:])
    assert isinstance(client.next_event(), ws.Connected)


def test_client_reads_chunks_received_before_next_event_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bytes] = []
    real = read_switch

    def counting(data: bytes) -> object:
        calls.append(data)
        return real(data)

    monkeypatch.setattr("wsnegotiate._client.read_switch", counting)
    client = _client(True)
    client.data_to_send()
    for part in (SWITCH[:20], SWITCH[20:50], SWITCH[50:] + b"\x81\x00"):
        client.receive_data(memoryview(part))
    event = client.next_event()
    assert isinstance(event, ws.Connected)
    assert event.trailing_data == b"\x81\x00"
    assert calls == [SWITCH + b"\x81\x00"]


REFUSAL = b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    ("fast_path", "parts", "made"),
    [
        (True, [SWITCH], 0),  # the common 101: read in one pass, h11 never made
        (True, [REFUSAL], 1),  # any other answer: h11 reads it
        (True, [SWITCH[:20], SWITCH[20:]], 1),  # not complete at the first look
        (False, [SWITCH], 1),
    ],
)
def test_h11_is_given_the_request_only_to_read_the_answer(
    fast_path: bool, parts: list[bytes], made: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client writes its request itself; an h11 connection is made, and given
    the request, only where h11 reads the answer (it used to be made for every
    client, and two thirds of a handshake were h11 writing the request)."""
    connections: list[h11.Connection] = []
    real = h11.Connection

    def counting(*args: object) -> h11.Connection:
        connections.append(real(*args))  # type: ignore[arg-type]
        return connections[-1]

    monkeypatch.setattr(h11, "Connection", counting)
    client = _client(fast_path)
    assert client.data_to_send().startswith(b"GET / HTTP/1.1\r\nHost: example.com\r\n")
    event: object = None
    for part in parts:
        client.receive_data(part)
        event = client.next_event()
        if not isinstance(event, ws.NeedData):
            break
    assert isinstance(event, ws.Connected | ws.Refused)
    assert len(connections) == made
    if made:  # h11 was given the request: it expects the answer to it
        assert connections[0].our_state is h11.SEND_BODY
