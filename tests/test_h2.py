"""WebSockets over HTTP/2 (RFC 8441) through ``wsnegotiate.h2``, sans-IO: our client
against our server in memory, and both against python-hyper's h2 driven by hand
for the requests and answers our own sides never send. Every byte passes
between the two as it would on a socket."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
import wsproto.events as wse
from hypothesis import given, settings
from hypothesis import strategies as st

import wsnegotiate as ws
import wsnegotiate.wsproto as ws_frames
from wsnegotiate import h2 as wh

PREFACE = wh.PREFACE
Block = Sequence[tuple[bytes, bytes]]


class Peer(Protocol):
    def data_to_send(self) -> bytes: ...


def pump(a: Peer, b: Peer) -> None:
    """Move bytes both ways until both sides are quiet (bounded)."""
    for _ in range(200):
        to_b, to_a = a.data_to_send(), b.data_to_send()
        if not (to_a or to_b):
            return
        if to_b:
            b.receive_data(to_b)  # type: ignore[attr-defined]
        if to_a:
            a.receive_data(to_a)  # type: ignore[attr-defined]
    raise AssertionError("the peers never went quiet")


def drain(side: wh.ServerConnection | wh.ClientConnection) -> list[object]:
    found: list[object] = []
    for _ in range(1000):
        event = side.next_event()
        if isinstance(event, ws.NeedData):
            return found
        found.append(event)
    raise AssertionError("too many events")


class RawClient:
    """python-hyper's h2 as a client that sends any header block it is given."""

    def __init__(self) -> None:
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self.h2 = h2.connection.H2Connection(config)
        self.h2.initiate_connection()
        self.events: list[h2.events.Event] = []

    def data_to_send(self) -> bytes:
        return self.h2.data_to_send()

    def receive_data(self, data: bytes) -> None:
        self.events += self.h2.receive_data(data)

    def request(self, block: Block, end_stream: bool = False) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, list(block), end_stream=end_stream)
        return stream_id

    def answer(self, stream_id: int) -> tuple[int, dict[bytes, bytes], bytes, list[object]]:
        """The status, fields and body of the response on a stream, and what ended it."""
        status, fields, body = 0, {}, b""
        ends: list[object] = []
        for event in self.events:
            if getattr(event, "stream_id", None) != stream_id:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                for name, value in event.headers or []:
                    if name == b":status":
                        status = int(value)
                    else:
                        fields[name] = value
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                self.h2.acknowledge_received_data(event.flow_controlled_length, stream_id)
            elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                ends.append(event)
        return status, fields, body, ends


class RawServer:
    """python-hyper's h2 as a server that answers whatever the test says."""

    def __init__(self, enable_connect: bool = True) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        if enable_connect:
            codes = h2.settings.SettingCodes
            self.h2.local_settings = h2.settings.Settings(
                client=False, initial_values={codes.ENABLE_CONNECT_PROTOCOL: 1}
            )
        self.h2.initiate_connection()
        self.events: list[h2.events.Event] = []

    def data_to_send(self) -> bytes:
        return self.h2.data_to_send()

    def receive_data(self, data: bytes) -> None:
        self.events += self.h2.receive_data(data)


def connect_block(
    *extra: tuple[bytes, bytes],
    protocol: bytes | None = b"websocket",
    scheme: bytes | None = b"https",
    path: bytes | None = b"/chat",
    authority: bytes | None = b"example.com",
    version: bytes | None = b"13",
) -> list[tuple[bytes, bytes]]:
    block = [(b":method", b"CONNECT")]
    for name, value in (
        (b":protocol", protocol),
        (b":scheme", scheme),
        (b":path", path),
        (b":authority", authority),
        (b"sec-websocket-version", version),
    ):
        if value is not None:
            block.append((name, value))
    return [*block, *extra]


def started(
    policy: ws.Policy | None = None, **server_options: bool
) -> tuple[wh.ServerConnection, wh.ClientConnection]:
    server = wh.ServerConnection(policy, **server_options)
    client = wh.ClientConnection()
    pump(client, server)
    assert drain(client) == [wh.ServerSettings(server.serves_websockets)]
    assert drain(server) == []
    return server, client


def opened(
    server: wh.ServerConnection, client: wh.ClientConnection, **options: object
) -> tuple[int, ws.Accepted, ws.Connected]:
    """A WebSocket opened end to end with the policy's choices."""
    stream_id = client.connect("example.com", "/chat", **options)  # type: ignore[arg-type]
    pump(client, server)
    [request] = drain(server)
    assert isinstance(request, wh.StreamRequest)
    assert request.stream_id == stream_id
    accepted = server.accept(stream_id)
    pump(client, server)
    [connected] = drain(client)
    assert isinstance(connected, wh.StreamConnected)
    assert connected.stream_id == stream_id
    return stream_id, accepted, connected.connected


def test_the_preface_is_the_one_our_client_sends() -> None:
    assert wh.ClientConnection().data_to_send().startswith(wh.PREFACE)
    assert len(wh.PREFACE) == 24  # RFC 9113 §3.4


def test_the_setting_is_advertised_only_by_a_server_of_websockets() -> None:
    for serves in (True, False):
        raw = RawClient()
        server = wh.ServerConnection(websockets=serves)
        pump(raw, server)
        settings_frames = [e for e in raw.events if isinstance(e, h2.events.RemoteSettingsChanged)]
        assert settings_frames
        advertised = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL in (
            settings_frames[0].changed_settings
        )
        assert advertised is serves
        assert raw.h2.remote_settings.enable_connect_protocol == int(serves)


def test_end_to_end_with_subprotocol_deflate_and_frames_both_ways() -> None:
    server, client = started(ws.Policy(subprotocols=["chat"]))
    stream_id, accepted, connected = opened(
        server, client, subprotocols=["superchat", "chat"], deflate=True, origin="https://a.example"
    )
    request = accepted.request
    assert (request.method, request.target, request.http_version, request.host) == (
        "CONNECT",
        "/chat",
        "2",
        "example.com",
    )
    assert request.origin == "https://a.example"
    assert request.subprotocols == ("superchat", "chat")
    assert accepted.response == b""
    assert accepted.subprotocol == connected.subprotocol == "chat"
    assert accepted.deflate is not None
    assert connected.deflate == ws.DeflateParams(
        client_max_window_bits=12, window_bits=12, memory_level=5
    )
    assert (connected.status, connected.http_version) == (200, "2")
    names = {name for name, _ in connected.headers}
    assert names == {"sec-websocket-protocol", "sec-websocket-extensions"}  # no Accept
    assert connected.version is ws.Version.Version13
    assert connected.raw_version == "13"

    server_frames = ws_frames.connection(accepted)
    client_frames = ws_frames.connection(connected)
    client.send(stream_id, client_frames.send(wse.TextMessage("hello " * 100)))
    pump(client, server)
    for event in drain(server):
        assert isinstance(event, wh.StreamData)
        assert event.stream_id == stream_id
        server_frames.receive_data(event.data)
    [message] = list(server_frames.events())
    assert isinstance(message, wse.TextMessage)
    assert message.data == "hello " * 100
    server.send(stream_id, server_frames.send(wse.TextMessage(message.data[::-1])))
    server.send(stream_id, server_frames.send(wse.Ping(b"p")))
    pump(client, server)
    for event in drain(client):
        assert isinstance(event, wh.StreamData)
        client_frames.receive_data(event.data)
    got = list(client_frames.events())
    assert isinstance(got[0], wse.TextMessage)
    assert got[0].data == ("hello " * 100)[::-1]
    assert isinstance(got[1], wse.Ping)


def test_the_close_handshake_then_end_stream_both_ways() -> None:
    server, client = started()
    stream_id, accepted, connected = opened(server, client)
    server_frames, client_frames = ws_frames.connection(accepted), ws_frames.connection(connected)
    client.send(stream_id, client_frames.send(wse.CloseConnection(1000)))
    client.end(stream_id)
    pump(client, server)
    events = drain(server)
    assert isinstance(events[0], wh.StreamData)
    assert events[-1] == wh.StreamEnded(stream_id)
    server_frames.receive_data(events[0].data)
    [close] = list(server_frames.events())
    assert isinstance(close, wse.CloseConnection)
    reply = ws_frames.required_reply(server_frames, close)
    assert reply is not None
    server.send(stream_id, server_frames.send(reply))
    server.end(stream_id)
    pump(client, server)
    events = drain(client)
    assert events[-1] == wh.StreamEnded(stream_id)
    assert server.pending(stream_id) == client.pending(stream_id) == 0
    server.send(stream_id, b"dropped: the stream is closed")  # no error, nothing sent
    assert server.data_to_send() == b""


# -- every rule on the wire, with its exact status and reason -------------------------

RULES = [
    (
        "no :protocol",
        [(b":method", b"CONNECT"), (b":authority", b"example.com:443")],
        501,
        ":protocol: missing; a CONNECT without it asks for a tunnel (RFC 9113 §8.5), "
        "and this server is not a proxy",
    ),
    (
        ":protocol not a token",
        connect_block(protocol=b"web socket"),
        400,
        ":protocol: invalid value 'web socket'; expected an upgrade token (RFC 8441 §4)",
    ),
    (
        ":protocol not websocket",
        connect_block(protocol=b"h2c"),
        501,
        ":protocol: unsupported 'h2c'; this server speaks websocket (RFC 8441 §5)",
    ),
    (
        ":scheme ftp",
        connect_block(scheme=b"ftp"),
        400,
        ":scheme: invalid value 'ftp'; expected http or https (RFC 8441 §5)",
    ),
    (
        ":path not absolute",
        connect_block(path=b"chat"),
        400,
        ":path: invalid value 'chat'; expected an absolute path (RFC 8441 §4)",
    ),
    (
        ":authority missing, Host instead",
        connect_block((b"host", b"example.com"), authority=None),
        400,
        ":authority: missing (RFC 9113 §8.3.1)",
    ),
    (
        "version missing",
        connect_block(version=None),
        400,
        "Sec-WebSocket-Version: missing (required with :protocol websocket, RFC 8441 §5); "
        "supported: 13",
    ),
    (
        "version 8",
        connect_block(version=b"8"),
        400,
        "Sec-WebSocket-Version: unsupported version 8 (hybi-08); supported: 13",
    ),
    (
        "version 013",
        connect_block(version=b"013"),
        400,
        "Sec-WebSocket-Version: invalid value '013'; expected one number 0-255 in ASCII digits, "
        "no leading zero (RFC 6455 §4.3); supported: 13",
    ),
    (
        "origin refused",
        connect_block((b"origin", b"https://evil.example")),
        403,
        "Origin: forbidden 'https://evil.example'",
    ),
    (
        "a GET",
        [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":path", b"/chat"),
            (b":authority", b"example.com"),
        ],
        405,
        "method 'GET': not allowed; a WebSocket over HTTP/2 is an extended CONNECT (RFC 8441 §4)",
    ),
]


@pytest.mark.parametrize(("case", "block", "status", "reason"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_on_the_wire(case: str, block: Block, status: int, reason: str) -> None:
    raw = RawClient()
    # the default policy refuses with 426 on HTTP/1.1: HTTP/2 refuses with 400 all the same
    server = wh.ServerConnection(ws.Policy(check_origin=lambda o: o != "https://evil.example"))
    pump(raw, server)
    stream_id = raw.request(block)
    pump(raw, server)
    [event] = drain(server)
    assert isinstance(event, wh.StreamRejected)
    assert event.stream_id == stream_id
    assert (event.rejected.status, event.rejected.reason) == (status, reason)
    assert event.method == block[0][1].decode()
    got_status, fields, body, ends = raw.answer(stream_id)
    assert got_status == status != 426
    assert body == reason.encode() + b"\n"
    assert fields[b"content-type"] == b"text/plain; charset=utf-8"
    assert fields[b"content-length"] == str(len(body)).encode()
    assert b"connection" not in fields
    assert b"upgrade" not in fields
    if case.startswith("version"):
        assert fields[b"sec-websocket-version"] == b"13"
    if status == 405:
        assert fields[b"allow"] == b"CONNECT"
    # the answer is complete, then RST_STREAM NO_ERROR: the client may stop sending
    assert isinstance(ends[0], h2.events.StreamEnded)
    assert isinstance(ends[1], h2.events.StreamReset)
    assert ends[1].error_code == h2.errors.ErrorCodes.NO_ERROR
    assert server.data_to_send() == b""


def test_the_same_fault_gets_the_reason_it_gets_on_http_1_1() -> None:
    policy = ws.Policy(reject_status=400)
    raw = RawClient()
    server = wh.ServerConnection(policy)
    pump(raw, server)
    stream_id = raw.request(connect_block(version=b"7"))
    pump(raw, server)
    _, _, body, _ = raw.answer(stream_id)
    http1 = ws.negotiate(
        b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 7\r\n\r\n",
        policy,
    )
    assert isinstance(http1, ws.Rejected)
    assert body == http1.reason.encode() + b"\n"


def test_a_connect_with_protocol_where_the_setting_was_not_sent_is_400() -> None:
    raw = RawClient()
    server = wh.ServerConnection(websockets=False)
    pump(raw, server)
    stream_id = raw.request(connect_block())
    pump(raw, server)
    [event] = drain(server)
    assert isinstance(event, wh.StreamRejected)
    status, _, body, _ = raw.answer(stream_id)
    assert server.serves_websockets is False
    assert server.policy == ws.Policy()
    assert status == 400
    assert body == (
        b":protocol: not allowed on this connection, which did not send "
        b"SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 \xc2\xa73)\n"
    )


def test_a_header_list_over_the_policy_limit_is_431_on_its_stream() -> None:
    raw = RawClient()
    server = wh.ServerConnection(ws.Policy(max_request_bytes=1024))
    pump(raw, server)
    stream_id = raw.request(connect_block((b"x-big", b"a" * 2000)))
    pump(raw, server)
    [event] = drain(server)
    assert isinstance(event, wh.StreamRejected)
    assert event.rejected.status == 431
    assert event.path == "/chat"
    assert raw.answer(stream_id)[0] == 431


def test_a_header_block_h2_refuses_ends_the_connection_with_goaway() -> None:
    raw = RawClient()
    server = wh.ServerConnection()
    pump(raw, server)
    raw.request([*connect_block(), (b"Upgrade", b"websocket")])  # RFC 9113 §8.2.1, §8.2.2
    pump(raw, server)
    [event] = drain(server)
    assert isinstance(event, wh.ConnectionFailed)
    assert event.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    goaway = [e for e in raw.events if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway[0].error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR


# -- bytes that are not HTTP/2 -----------------------------------------------------------


def goaway_code(data: bytes) -> int | None:
    """The error code of a GOAWAY frame among server frames, if there is one."""
    raw = RawClient()
    raw.data_to_send()
    raw.receive_data(data)
    found = [e for e in raw.events if isinstance(e, h2.events.ConnectionTerminated)]
    return int(found[0].error_code or 0) if found else None


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # HTTP/1.1 where the preface belongs
        PREFACE + b"\x00\x00\x04\x07\x00\x00\x00\x00\x00garbage!" * 3,  # a GOAWAY that is not
        PREFACE + b"\x00\x00\x08\x04\x00\x00\x00\x00\x01",  # SETTINGS on a stream
        PREFACE + b"\xff" * 64,  # a frame longer than allowed
    ],
)
def test_bytes_that_are_not_http2_get_goaway_protocol_error(garbage: bytes) -> None:
    server = wh.ServerConnection()
    first = server.data_to_send()
    server.receive_data(garbage)
    [event] = drain(server)
    assert isinstance(event, wh.ConnectionFailed)
    assert event.reason
    assert event.error_code in (
        h2.errors.ErrorCodes.PROTOCOL_ERROR,
        h2.errors.ErrorCodes.FRAME_SIZE_ERROR,
    )
    assert goaway_code(first + server.data_to_send()) == event.error_code
    server.receive_data(PREFACE + b"anything")  # nothing more is read
    assert drain(server) == []
    assert server.data_to_send() == b""


def test_a_frame_over_the_size_limit_fails_as_soon_as_its_header_arrives() -> None:
    server, client = started()
    stream_id, _, _ = opened(server, client)
    ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"12345678"  # a valid PING first
    oversized = b"\x00\x40\x01\x00\x00" + stream_id.to_bytes(4, "big")  # DATA, 16385 bytes
    server.receive_data(ping + oversized[:4])  # the header split across chunks
    assert drain(server) == []
    server.receive_data(oversized[4:] + b"x" * 100)  # only 100 of the 16385 bytes
    [event] = drain(server)
    assert event == wh.ConnectionFailed(
        "frame of 16385 bytes: more than SETTINGS_MAX_FRAME_SIZE 16384 (RFC 9113 §4.2)",
        h2.errors.ErrorCodes.FRAME_SIZE_ERROR,
    )
    sent = server.data_to_send()
    client.receive_data(sent)
    assert drain(client)[-1] == wh.GoAway(h2.errors.ErrorCodes.FRAME_SIZE_ERROR, 1, b"")
    assert b"12345678" in sent  # the PING before it was read, and answered


SERVER_EVENTS = (
    wh.StreamRejected
    | wh.StreamRequest
    | wh.ConnectionFailed
    | wh.GoAway
    | wh.StreamReset
    | wh.StreamEnded
)
CLIENT_EVENTS = (
    wh.ServerSettings
    | wh.StreamConnected
    | wh.StreamRefused
    | wh.StreamFailed
    | wh.StreamData
    | wh.StreamEnded
    | wh.StreamReset
    | wh.GoAway
    | wh.ConnectionFailed
)


def server_survives(data: bytes) -> None:
    server = wh.ServerConnection()
    server.receive_data(PREFACE)
    server.receive_data(data)
    assert all(isinstance(event, SERVER_EVENTS) for event in drain(server))
    server.data_to_send()


def client_survives(data: bytes) -> None:
    server, client = started()
    client.connect("example.com")
    pump(client, server)
    client.receive_data(data)
    assert all(isinstance(event, CLIENT_EVENTS) for event in drain(client))
    client.data_to_send()


# Frames with a well-formed header around arbitrary payloads: they reach h2's frame
# handlers and hpack, where random bytes rarely get.
FRAMES = st.lists(
    st.tuples(
        st.integers(0, 9), st.integers(0, 255), st.sampled_from([0, 1, 3]), st.binary(max_size=40)
    ).map(lambda f: len(f[3]).to_bytes(3, "big") + bytes(f[:2]) + f[2].to_bytes(4, "big") + f[3]),
    min_size=1,
    max_size=6,
).map(b"".join)


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_arbitrary_bytes_after_the_preface_never_raise(data: bytes) -> None:
    server_survives(data)


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
@settings(max_examples=300, deadline=None)
@given(FRAMES)
def test_arbitrary_frames_after_the_preface_never_raise(data: bytes) -> None:
    server_survives(data)


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_arbitrary_bytes_from_a_server_never_raise(data: bytes) -> None:
    client_survives(data)


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
@settings(max_examples=300, deadline=None)
@given(FRAMES)
def test_arbitrary_frames_from_a_server_never_raise(data: bytes) -> None:
    client_survives(data)


def test_end_of_file_ends_the_connection() -> None:
    server, client = started()
    opened(server, client)
    server.receive_data(b"")
    assert drain(server) == [wh.ConnectionEnded()]
    server.receive_data(b"more")
    assert drain(server) == []


# -- several streams, resets, GOAWAY ------------------------------------------------------


def test_several_websockets_on_one_connection() -> None:
    server, client = started()
    streams = [opened(server, client) for _ in range(3)]
    assert [s[0] for s in streams] == [1, 3, 5]
    frames = {sid: (ws_frames.connection(a), ws_frames.connection(c)) for sid, a, c in streams}
    for sid, (_, client_frames) in frames.items():
        client.send(sid, client_frames.send(wse.TextMessage(f"to {sid}")))
    pump(client, server)
    for event in drain(server):
        assert isinstance(event, wh.StreamData)
        frames[event.stream_id][0].receive_data(event.data)
    for sid, (server_frames, _) in frames.items():
        [message] = list(server_frames.events())
        assert isinstance(message, wse.TextMessage)
        assert message.data == f"to {sid}"
    # one stream reset by the client: the others go on
    client.reset(3)
    pump(client, server)
    assert drain(server) == [wh.StreamReset(3, h2.errors.ErrorCodes.CANCEL)]
    server.send(3, b"dropped")  # the stream is gone: dropped, no error
    for sid in (1, 5):
        server.send(sid, frames[sid][0].send(wse.TextMessage(f"from {sid}")))
    pump(client, server)
    got = drain(client)
    assert {e.stream_id for e in got if isinstance(e, wh.StreamData)} == {1, 5}


def test_a_reset_while_the_caller_decides() -> None:
    server, client = started()
    stream_id = client.connect("example.com", "/chat")
    pump(client, server)
    raw_reset = b"\x00\x00\x04\x03\x00" + stream_id.to_bytes(4, "big") + b"\x00\x00\x00\x08"
    server.receive_data(raw_reset)  # RST_STREAM CANCEL
    request, reset = drain(server)
    assert isinstance(request, wh.StreamRequest)
    assert reset == wh.StreamReset(stream_id, h2.errors.ErrorCodes.CANCEL)
    with pytest.raises(ws.LocalProtocolError, match="awaits no answer"):
        server.accept(stream_id)  # the caller has read the reset: the stream is gone


def test_an_answer_to_a_stream_reset_meanwhile_goes_nowhere() -> None:
    server, client = started()
    stream_id = client.connect("example.com", "/chat")
    pump(client, server)
    server.receive_data(
        b"\x00\x00\x04\x03\x00" + stream_id.to_bytes(4, "big") + b"\x00\x00\x00\x08"
    )
    request = server.next_event()
    assert isinstance(request, wh.StreamRequest)
    accepted = server.accept(stream_id)  # before reading the StreamReset
    assert accepted.request == request.request
    assert server.data_to_send() == b""
    assert drain(server) == [wh.StreamReset(stream_id, h2.errors.ErrorCodes.CANCEL)]


def test_a_reset_in_the_same_bytes_as_the_request() -> None:
    raw = RawClient()
    server = wh.ServerConnection()
    pump(raw, server)
    refused = raw.request(connect_block(version=None))
    raw.h2.reset_stream(refused)
    deciding = raw.request(connect_block())
    raw.h2.reset_stream(deciding)
    server.receive_data(raw.data_to_send())  # requests and resets at once
    rejected, request, reset = drain(server)
    assert isinstance(rejected, wh.StreamRejected)
    assert rejected.stream_id == refused
    assert isinstance(request, wh.StreamRequest)
    assert reset == wh.StreamReset(deciding, h2.errors.ErrorCodes.NO_ERROR)
    assert server.data_to_send() == b""  # no answer on a stream that is gone


def test_a_reset_in_the_same_bytes_as_the_window_that_would_carry_its_data() -> None:
    raw = RawClient()
    server = wh.ServerConnection(ws.Policy(deflate=None))
    pump(raw, server)
    first, second = raw.request(connect_block()), raw.request(connect_block())
    pump(raw, server)
    drain(server)
    server.accept(first)
    server.accept(second)
    server.send(first, b"x" * 65_535)  # the whole connection window
    server.send(second, b"y" * 100)
    assert server.pending(second) == 100
    pump(raw, server)
    raw.h2.increment_flow_control_window(1_000)  # the connection's window opens ...
    raw.h2.reset_stream(second)  # ... and the stream that waited for it is reset
    server.receive_data(raw.data_to_send())
    assert drain(server) == [wh.StreamReset(second, h2.errors.ErrorCodes.NO_ERROR)]
    assert server.pending(second) == 0
    raw.h2.increment_flow_control_window(1_000, stream_id=first)
    pump(raw, server)
    server.send(first, b"z")
    pump(raw, server)
    assert raw.answer(first)[2] == b"x" * 65_535 + b"z"


def test_a_client_that_ended_its_side_while_the_caller_decided() -> None:
    raw = RawClient()
    server = wh.ServerConnection()
    pump(raw, server)
    stream_id = raw.request(connect_block(), end_stream=True)
    pump(raw, server)
    [request] = drain(server)
    assert isinstance(request, wh.StreamRequest)
    server.accept(stream_id)
    assert drain(server) == [wh.StreamEnded(stream_id)]
    server.send(stream_id, b"\x88\x00")  # a Close: the server's side is still open
    server.end(stream_id)
    pump(raw, server)
    status, _, body, ends = raw.answer(stream_id)
    assert (status, body) == (200, b"\x88\x00")
    assert [type(e) for e in ends] == [h2.events.StreamEnded]


def test_too_many_streams_is_a_local_error_on_the_client() -> None:
    _, client = started()
    for _ in range(100):  # the server's SETTINGS_MAX_CONCURRENT_STREAMS
        client.connect("example.com")
    with pytest.raises(ws.LocalProtocolError, match="cannot open a stream"):
        client.connect("example.com")


def test_goaway_from_the_server_and_from_the_client() -> None:
    server, client = started()
    opened(server, client)
    server.close()
    server.close()  # once is enough
    pump(client, server)
    assert drain(client) == [wh.GoAway(h2.errors.ErrorCodes.NO_ERROR, 1, b"")]
    with pytest.raises(ws.LocalProtocolError, match="over"):
        client.connect("example.com")
    server, client = started()
    opened(server, client)
    client.close(h2.errors.ErrorCodes.PROTOCOL_ERROR, b"bye")
    pump(client, server)
    assert drain(server) == [wh.GoAway(h2.errors.ErrorCodes.PROTOCOL_ERROR, 0, b"bye")]
    server.send(1, b"dropped")  # the connection is over: dropped, no error
    # a request read in the same bytes as the GOAWAY can still be answered: in vain
    raw = RawClient()
    server = wh.ServerConnection()
    pump(raw, server)
    stream_id = raw.request(connect_block())
    raw.h2.close_connection()
    server.receive_data(raw.data_to_send())
    request, goaway = drain(server)
    assert isinstance(request, wh.StreamRequest)
    assert isinstance(goaway, wh.GoAway)
    assert server.accept(stream_id).request == request.request
    assert server.data_to_send() == b""


# -- flow control --------------------------------------------------------------------------


def test_flow_control_with_a_message_larger_than_every_window() -> None:
    server, client = started(ws.Policy(deflate=None))
    stream_id, accepted, connected = opened(server, client)
    server_frames, client_frames = ws_frames.connection(accepted), ws_frames.connection(connected)
    payload = bytes(range(256)) * 4096  # 1 MiB: sixteen times the initial window
    client.send(stream_id, client_frames.send(wse.BytesMessage(payload)))
    assert client.pending(stream_id) > 900_000  # waits for the server's WINDOW_UPDATEs
    received = bytearray()
    for _ in range(200):
        to_server = client.data_to_send()
        if not to_server:
            break
        server.receive_data(to_server)
        for event in drain(server):
            assert isinstance(event, wh.StreamData)
            received += event.data
        acknowledgements = server.data_to_send()
        if acknowledgements:  # (b"" would be end of file)
            client.receive_data(acknowledgements)
    assert client.pending(stream_id) == 0
    server_frames.receive_data(bytes(received))
    messages = list(server_frames.events())
    assert b"".join(m.data for m in messages if isinstance(m, wse.BytesMessage)) == payload
    # and back: the server's bytes wait for the client's window the same way
    server.send(stream_id, server_frames.send(wse.BytesMessage(payload)))
    assert server.pending(stream_id) > 900_000
    pump(client, server)
    assert server.pending(stream_id) == 0
    for event in drain(client):
        assert isinstance(event, wh.StreamData)
        client_frames.receive_data(event.data)
    back = [m.data for m in client_frames.events() if isinstance(m, wse.BytesMessage)]
    assert b"".join(back) == payload


def test_data_before_the_answer_is_the_trailing_data_acknowledged_by_accept() -> None:
    raw = RawClient()
    server = wh.ServerConnection()
    pump(raw, server)
    stream_id = raw.request(connect_block())
    eager = b"\x82\x7f" + (40_000).to_bytes(8, "big") + b"x" * 40_000  # before the 200
    for start in range(0, len(eager), 16_384):
        raw.h2.send_data(stream_id, eager[start : start + 16_384])
    pump(raw, server)
    [request] = drain(server)
    assert isinstance(request, wh.StreamRequest)
    window = raw.h2.local_flow_control_window(stream_id)
    assert window == 65_535 - len(eager)  # not acknowledged while the caller decides
    accepted = server.accept(stream_id)
    assert accepted.trailing_data == eager
    pump(raw, server)
    assert raw.h2.local_flow_control_window(stream_id) == 65_535  # acknowledged with the 200
    assert raw.answer(stream_id)[0] == 200


# -- the caller's decisions ------------------------------------------------------------------


def test_reject_on_a_stream() -> None:
    server, client = started()
    stream_id = client.connect("example.com", "/chat")
    pump(client, server)
    drain(server)
    rejected = server.reject(stream_id, 403, "not you", [("X-Why", "policy")])
    assert (rejected.status, rejected.http_version, rejected.body) == (403, "2", b"not you\n")
    assert rejected.response == b""
    assert ("x-why", "policy") in rejected.headers
    pump(client, server)
    [event] = drain(client)
    assert isinstance(event, wh.StreamRefused)
    refused = event.refused
    assert (refused.status, refused.body, refused.http_version, refused.reason) == (
        403,
        b"not you\n",
        "2",
        "",
    )
    assert ("x-why", "policy") in refused.headers
    with pytest.raises(ws.LocalProtocolError, match="awaits no answer"):
        server.accept(stream_id)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((200, "ok"), {}, "4xx, 5xx or a redirect"),
        ((400, "two\nlines"), {}, "one line"),
        ((302, "moved"), {}, "needs a Location"),
        ((400, "x", [("Connection", "close")]), {}, "written by the negotiator"),
        ((400, "x", [("Content-Length", "1")]), {}, "written by the negotiator"),
        ((400, "\ud800"), {}, "UTF-8 text"),
    ],
)
def test_reject_refuses_bad_values(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    server, client = started()
    stream_id = client.connect("example.com", "/chat")
    pump(client, server)
    drain(server)
    with pytest.raises(ws.LocalProtocolError, match=message):
        server.reject(stream_id, *args, **kwargs)  # type: ignore[arg-type]


def test_accept_refuses_what_would_break_the_answer() -> None:
    server, client = started()
    stream_id = client.connect("example.com", "/chat", subprotocols=["chat"])
    pump(client, server)
    drain(server)
    with pytest.raises(ws.LocalProtocolError, match="was not offered"):
        server.accept(stream_id, "other")
    with pytest.raises(ws.LocalProtocolError, match="written by the negotiator"):
        server.accept(stream_id, extra_headers=[("Upgrade", "websocket")])
    accepted = server.accept(stream_id, "chat", extra_headers=[("X-Served-By", "test")])
    assert accepted.headers == (("sec-websocket-protocol", "chat"), ("x-served-by", "test"))


def test_other_requests_are_the_callers_when_asked() -> None:
    raw = RawClient()
    server = wh.ServerConnection(other_requests=True)
    pump(raw, server)
    block = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"x")]
    stream_id = raw.request([*block, (b"accept", b"text/html")], end_stream=True)
    pump(raw, server)
    [event] = drain(server)
    assert event == wh.OtherRequest(
        stream_id, "GET", "https", "/", "x", ((b"accept", b"text/html"),)
    )
    server.respond(stream_id, 200, [("Content-Type", "text/html")], b"<p>hi</p>")
    pump(raw, server)
    status, fields, body, ends = raw.answer(stream_id)
    assert (status, body) == (200, b"<p>hi</p>")
    assert fields[b"content-length"] == b"9"
    assert [type(e) for e in ends] == [h2.events.StreamEnded]  # both sides ended: no reset
    # a body the server does not read is acknowledged all the same
    post = [(b":method", b"POST"), *block[1:]]
    stream_id = raw.request(post)
    for _ in range(3):
        raw.h2.send_data(stream_id, b"x" * 16_000)
    pump(raw, server)
    assert isinstance(drain(server)[0], wh.OtherRequest)
    assert raw.h2.outbound_flow_control_window == 65_535  # given back
    server.respond(stream_id, 204)
    pump(raw, server)
    assert raw.answer(stream_id)[0] == 204
    # a second one, refused by the caller
    stream_id = raw.request(block, end_stream=True)
    pump(raw, server)
    drain(server)
    server.reject(stream_id, 404, "no such page")
    pump(raw, server)
    assert raw.answer(stream_id)[:3:2] == (404, b"no such page\n")
    stream_id = raw.request(block, end_stream=True)
    pump(raw, server)
    drain(server)
    with pytest.raises(ws.LocalProtocolError, match="200-599"):
        server.respond(stream_id, 101)


# -- the client ------------------------------------------------------------------------------


def test_the_client_waits_for_the_setting_and_says_when_it_is_missing() -> None:
    client = wh.ClientConnection()
    with pytest.raises(ws.LocalProtocolError, match="before the server's SETTINGS"):
        client.connect("example.com")
    server = wh.ServerConnection(websockets=False)
    pump(client, server)
    assert drain(client) == [wh.ServerSettings(False)]
    assert client.extended_connect is False
    with pytest.raises(ws.LocalProtocolError, match=r"over HTTP/1\.1"):
        client.connect("example.com")
    _, client = started()
    with pytest.raises(ws.LocalProtocolError, match="no HTTP/2 form"):
        client.connect("example.com", version=ws.Version.Version0)
    with pytest.raises(ws.LocalProtocolError, match="no HTTP/2 form"):
        client.connect("example.com", fallback=[ws.Version.VersionUnknown])
    with pytest.raises(ws.LocalProtocolError, match="http or https"):
        client.connect("example.com", scheme="wss")


def test_a_setting_sent_later_enables_the_client() -> None:
    raw = RawServer(enable_connect=False)
    client = wh.ClientConnection()
    pump(client, raw)
    assert drain(client) == [wh.ServerSettings(False)]
    raw.h2.update_settings({h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
    pump(client, raw)
    assert drain(client) == [wh.ServerSettings(True)]
    client.connect("example.com")


def test_each_settings_frame_is_said_in_its_order() -> None:
    """The setting sent as 1 then as 0 in the same bytes (which RFC 8441 §3
    forbids): the client says both, in order, not only the last."""
    raw = RawServer()
    raw.h2.update_settings({h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 0})
    client = wh.ClientConnection()
    pump(client, raw)
    assert drain(client) == [wh.ServerSettings(True), wh.ServerSettings(False)]
    assert client.extended_connect is False


def test_a_refused_version_is_retried_on_a_new_stream_of_the_same_connection() -> None:
    server, client = started(ws.Policy([8]))
    first = client.connect("example.com", "/chat", fallback=[8, 7])
    pump(client, server)
    [rejected] = drain(server)
    assert isinstance(rejected, wh.StreamRejected)
    [refused] = drain(client)
    assert isinstance(refused, wh.StreamRefused)
    assert refused.refused.status == 400  # never 426 on HTTP/2
    assert refused.refused.advertised == (8,)
    second = client.retry(first)
    assert second == first + 2
    pump(client, server)
    [request] = drain(server)
    assert isinstance(request, wh.StreamRequest)
    assert request.request.version is ws.Version.Version8
    server.accept(second)
    pump(client, server)
    [connected] = drain(client)
    assert isinstance(connected, wh.StreamConnected)
    assert connected.connected.version is ws.Version.Version8
    with pytest.raises(ws.LocalProtocolError, match="was not refused"):
        client.retry(first)  # retried once already


def test_no_version_left_to_retry() -> None:
    server, client = started(ws.Policy([8]))
    stream_id = client.connect("example.com", "/chat")
    pump(client, server)
    drain(client)
    with pytest.raises(ws.NoCommonVersion):
        client.retry(stream_id)


def test_a_raw_version_value_for_probing() -> None:
    server, client = started()
    stream_id = client.connect("example.com", "/chat", "013")
    pump(client, server)
    [rejected] = drain(server)
    assert isinstance(rejected, wh.StreamRejected)
    assert rejected.rejected.reason.startswith("Sec-WebSocket-Version: invalid value '013'")
    [refused] = drain(client)
    assert isinstance(refused, wh.StreamRefused)
    assert refused.stream_id == stream_id
    assert refused.refused.advertised == (13,)


@pytest.mark.parametrize(
    ("answer", "field", "reason"),
    [
        (
            [(b"sec-websocket-protocol", b"other")],
            "Sec-WebSocket-Protocol",
            "Sec-WebSocket-Protocol: invalid 'other' was not offered",
        ),
        (
            [(b"sec-websocket-extensions", b"x-unknown")],
            "Sec-WebSocket-Extensions",
            "Sec-WebSocket-Extensions: invalid 'x-unknown' was not offered",
        ),
    ],
)
def test_a_200_the_client_must_not_accept(answer: Block, field: str, reason: str) -> None:
    raw = RawServer()
    client = wh.ClientConnection()
    pump(client, raw)
    drain(client)
    stream_id = client.connect("example.com", "/chat", subprotocols=["chat"])
    pump(client, raw)
    raw.h2.send_headers(stream_id, [(b":status", b"200"), *answer])
    pump(client, raw)
    [failed] = drain(client)
    assert isinstance(failed, wh.StreamFailed)
    assert failed.stream_id == stream_id
    assert (failed.error.status, failed.error.field, failed.error.reason) == (200, field, reason)
    resets = [e for e in raw.events if isinstance(e, h2.events.StreamReset)]
    assert resets[0].error_code == h2.errors.ErrorCodes.CANCEL


def test_a_status_that_is_not_three_digits_fails_the_stream() -> None:
    raw = RawServer()
    client = wh.ClientConnection()
    pump(client, raw)
    drain(client)
    stream_id = client.connect("example.com")
    pump(client, raw)
    raw.h2.config.validate_outbound_headers = False
    raw.h2.send_headers(stream_id, [(b":status", b"2xx")])
    pump(client, raw)
    [failed] = drain(client)
    assert isinstance(failed, wh.StreamFailed)
    assert (
        failed.error.reason == ":status: invalid value '2xx'; expected three digits (RFC 9110 §15)"
    )
    assert failed.error.status is None


def test_the_client_sends_the_rfc_8441_request() -> None:
    raw = RawServer()
    client = wh.ClientConnection()
    pump(client, raw)
    drain(client)
    client.connect(
        "example.com:8443",
        "/chat?room=1",
        scheme="http",
        origin="http://example.com",
        subprotocols=["chat"],
        deflate=True,
        headers=[("X-Trace", "1")],
    )
    pump(client, raw)
    [request] = [e for e in raw.events if isinstance(e, h2.events.RequestReceived)]
    assert request.headers == [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", b"http"),
        (b":path", b"/chat?room=1"),
        (b":authority", b"example.com:8443"),
        (b"sec-websocket-version", b"13"),
        (b"origin", b"http://example.com"),
        (b"sec-websocket-protocol", b"chat"),
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
        (b"x-trace", b"1"),
    ]


def test_a_refusal_body_is_kept_up_to_the_limit() -> None:
    raw = RawServer()
    client = wh.ClientConnection(max_response_bytes=10)
    pump(client, raw)
    drain(client)
    stream_id = client.connect("example.com")
    pump(client, raw)
    raw.h2.send_headers(stream_id, [(b":status", b"503")])
    raw.h2.send_data(stream_id, b"x" * 100)  # no END_STREAM: the client stops reading
    pump(client, raw)
    [refused] = drain(client)
    assert isinstance(refused, wh.StreamRefused)
    assert (refused.refused.status, refused.refused.body) == (503, b"x" * 10)


def test_misuse_is_a_local_error() -> None:
    server, client = started()
    with pytest.raises(ws.LocalProtocolError, match="never opened"):
        server.send(7, b"x")
    stream_id = client.connect("example.com")
    with pytest.raises(ws.LocalProtocolError, match="not an open WebSocket"):
        client.send(stream_id, b"x")  # before its 200
    pump(client, server)
    drain(server)
    with pytest.raises(ws.LocalProtocolError, match="awaits no answer"):
        server.respond(stream_id, 200)  # a WebSocket is accepted or rejected
    server.accept(stream_id)
    pump(client, server)
    drain(client)
    client.end(stream_id)
    with pytest.raises(ws.LocalProtocolError, match="after end"):
        client.send(stream_id, b"x")


def test_the_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## WebSockets over HTTP/2\n", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "[ServerSettings(extended_connect=True)]",
        "[TextMessage(data='hello over h2', frame_finished=True, message_finished=True)]",
    ]


# -- a client for conformance tests: any block out, every answer as it came ------------------


def test_send_request_sends_a_malformed_block_as_it_is() -> None:
    """h2 checks nothing on a client made with check_headers=False: a CONNECT with
    :protocol and no :path reaches the server, which refuses it as malformed; the
    default client refuses to send it."""
    block = connect_block(path=None)
    checked = wh.ClientConnection()
    pump(checked, wh.ServerConnection())
    drain(checked)
    with pytest.raises(ws.LocalProtocolError):
        checked.send_request(block)
    raw, server = wh.ClientConnection(check_headers=False), RawServer()
    server.h2.config.validate_inbound_headers = False
    pump(raw, server)
    assert drain(raw) == [wh.ServerSettings(True)]
    stream_id = raw.send_request(block, end_stream=True)
    pump(raw, server)
    [request] = [e for e in server.events if isinstance(e, h2.events.RequestReceived)]
    assert (request.stream_id, request.headers) == (stream_id, block)
    assert request.stream_ended is not None  # end_stream: this side is closed


def test_every_answer_comes_as_it_came_then_the_stream_carries_data() -> None:
    """An interim 101 and a 200 that carries connection-specific fields (both break
    RFC 9113 §8.6 and §8.2.2): read as they came, not a connection failure; DATA
    then flows both ways on the stream."""
    server, client = RawServer(), wh.ClientConnection(check_headers=False)
    pump(client, server)
    drain(client)
    stream_id = client.send_request(wh.connect_block(ws.ClientNegotiator("a.example"), "https"))
    pump(client, server)
    server.h2.config.validate_outbound_headers = False
    server.h2.config.normalize_outbound_headers = False  # which drops connection fields
    server.h2.send_headers(stream_id, [(b":status", b"101"), (b"upgrade", b"websocket")])
    answer = [(b":status", b"200"), (b"connection", b"upgrade"), (b"upgrade", b"websocket")]
    server.h2.send_headers(stream_id, answer)
    server.h2.send_data(stream_id, b"\x8a\x00")
    pump(client, server)
    assert drain(client) == [
        wh.StreamAnswer(stream_id, ((b":status", b"101"), (b"upgrade", b"websocket"))),
        wh.StreamAnswer(stream_id, tuple(answer)),
        wh.StreamData(stream_id, b"\x8a\x00"),
    ]
    client.send(stream_id, b"\x89\x80\x00\x00\x00\x00")
    pump(client, server)
    data = [e.data for e in server.events if isinstance(e, h2.events.DataReceived)]
    assert data == [b"\x89\x80\x00\x00\x00\x00"]
    server.h2.send_headers(stream_id, [(b"x-trailer", b"1")], end_stream=True)
    pump(client, server)
    assert drain(client) == [wh.StreamEnded(stream_id)]
    # with h2's checks on, the same 200 fails the connection (RFC 9113 §8.2.2)
    server, client = RawServer(), wh.ClientConnection()
    pump(client, server)
    drain(client)
    stream_id = client.connect("a.example")
    pump(client, server)
    server.h2.config.validate_outbound_headers = False
    server.h2.config.normalize_outbound_headers = False
    server.h2.send_headers(stream_id, answer)
    pump(client, server)
    [failed] = drain(client)
    assert isinstance(failed, wh.ConnectionFailed)


def test_a_refusal_on_a_raw_stream_is_status_fields_body_and_end() -> None:
    raw = wh.ClientConnection(check_headers=False)
    server = wh.ServerConnection()
    pump(raw, server)
    drain(raw)
    stream_id = raw.send_request(connect_block(protocol=b"web socket"))
    pump(raw, server)
    [answer, *rest] = drain(raw)
    assert isinstance(answer, wh.StreamAnswer) and answer.stream_id == stream_id
    assert answer.headers[0] == (b":status", b"400")
    assert (b"content-type", b"text/plain; charset=utf-8") in answer.headers
    body = b"".join(e.data for e in rest if isinstance(e, wh.StreamData))
    assert body.startswith(b":protocol: invalid value 'web socket'; expected an upgrade token")
    assert isinstance(rest[-1], wh.StreamEnded | wh.StreamReset)
