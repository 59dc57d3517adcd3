"""Bounds under a hostile peer or a careless caller: the frame layer's message size
limit (decompression bombs, RFC 6455 §7.4.1's 1009), what happens after wsproto has
failed the connection, and the header fields and extension answers a caller gives."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import pytest
import wsproto.events as frames
from factory import raw_request, rfc6455
from wsproto.connection import Connection, ConnectionState

import wsnegotiate as ws
import wsnegotiate.wsproto

MiB = 1024 * 1024


def handshake(deflate: bool) -> tuple[ws.Accepted, ws.Connected]:
    """Both ends of a real handshake, with permessage-deflate agreed or not."""
    client = ws.ClientNegotiator("example.com", deflate=deflate)
    server = ws.negotiate(client.data_to_send())
    assert isinstance(server, ws.Accepted)
    assert (server.deflate is not None) is deflate
    client.receive_data(server.response)
    connected = client.next_event()
    assert isinstance(connected, ws.Connected)
    return server, connected


def layer(side: str, deflate: bool, **kwargs: int | None) -> Connection:
    """The frame layer of one side ("server" or "client") of a real handshake."""
    server, client = handshake(deflate)
    return wsnegotiate.wsproto.connection(server if side == "server" else client, **kwargs)


def frame_head(opcode: int, length: int, *, fin: bool, rsv1: bool, masked: bool) -> bytes:
    """A frame header (RFC 6455 §5.2). A masked frame gets the all-zero key, so its
    payload goes on the wire as it is (x XOR 0 = x)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mask = 0x80 if masked else 0
    if length < 126:
        head = bytes([first, mask | length])
    elif length < 1 << 16:
        head = bytes([first, mask | 126]) + struct.pack("!H", length)
    else:
        head = bytes([first, mask | 127]) + struct.pack("!Q", length)
    return head + (b"\0\0\0\0" if masked else b"")


def inflates_to_one_mib() -> bytes:
    """Deflate of 1 MiB of zeros (about 1 KiB), ending on a byte boundary with an
    empty stored block after a full flush, so it refers to nothing before it: copies
    of it in a row inflate to 1 MiB each."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert piece.endswith(b"\x00\x00\xff\xff")
    return piece


PIECE = inflates_to_one_mib()
PIECES = 1024  # 1 GiB once inflated
PER_WRITE = MiB // len(PIECE)  # about 1 MB of deflate per write


def bomb_in_one_frame(masked: bool) -> Iterator[bytes]:
    """A binary message of 1 GiB of zeros in one compressed frame, about 1 MB of
    deflate, streamed about 1 MB at a time; the trailing 0x00 0x00 0xff 0xff left
    out, as RFC 7692 §7.2.1 has the sender do."""
    length = PIECES * len(PIECE) - 4
    yield frame_head(0x2, length, fin=True, rsv1=True, masked=masked)
    for start in range(0, PIECES, PER_WRITE):
        count = min(PER_WRITE, PIECES - start)
        data = PIECE * count
        yield data[:-4] if start + count == PIECES else data


def bomb_in_fragments(masked: bool) -> Iterator[bytes]:
    """The same message as 1,024 fragments of 1 MiB each once inflated: the first
    with RSV1 (RFC 7692 §6.1), continuation frames after it; about 1 MB a write."""
    write = bytearray()
    for index in range(PIECES):
        last = index == PIECES - 1
        payload = PIECE[:-4] if last else PIECE
        opcode = 0x2 if index == 0 else 0x0
        write += frame_head(opcode, len(payload), fin=last, rsv1=index == 0, masked=masked)
        write += payload
        if len(write) >= MiB or last:
            yield bytes(write)
            write.clear()


def feed(connection: Connection, writes: Iterator[bytes]) -> list[frames.Event]:
    """Feed every write as a host would, answering what must be answered; the
    events seen."""
    seen: list[frames.Event] = []
    for data in writes:
        connection.receive_data(data)
        for event in connection.events():
            seen.append(event)
            answer = wsnegotiate.wsproto.required_reply(connection, event)
            if answer is not None:
                connection.send(answer)
    return seen


@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("bomb", [bomb_in_one_frame, bomb_in_fragments])
def test_a_decompression_bomb_ends_in_1009_without_inflating(
    side: str, bomb: Callable[[bool], Iterator[bytes]]
) -> None:
    """1 GiB of zeros in about 1 MB of deflate: wsproto alone inflated it whole
    (1 GiB in memory); with the default limit of 1 MiB the connection fails with
    1009 once a little over 1 MiB is inflated."""
    connection = layer(side, deflate=True)
    tracemalloc.start()
    try:
        cpu = time.process_time()
        seen = feed(connection, bomb(side == "server"))
        cpu = time.process_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    closes = [event for event in seen if isinstance(event, frames.CloseConnection)]
    assert [close.code for close in closes] == [1009]
    assert closes[0].reason == f"message larger than {MiB} bytes"
    assert not any(isinstance(event, frames.Message) and event.message_finished for event in seen)
    assert sum(len(event.data) for event in seen if isinstance(event, frames.Message)) <= MiB
    assert connection.state is ConnectionState.LOCAL_CLOSING  # our 1009 is out
    assert peak < 64 * MiB, f"peak {peak / MiB:.0f} MiB, {cpu:.2f} s of CPU"


def message_frames(
    sender: Connection, data: bytes | str, fragments: int = 1, ping: bool = False
) -> bytes:
    """The wire bytes of one message sent by ``sender`` in ``fragments`` frames,
    with a Ping between the first two when asked."""
    step = -(-len(data) // fragments)
    parts = [data[i : i + step] for i in range(0, len(data), step)] or [data]
    wire = b""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        event: frames.Event
        if isinstance(part, str):
            event = frames.TextMessage(data=part, message_finished=last)
        else:
            event = frames.BytesMessage(data=part, message_finished=last)
        wire += sender.send(event)
        if ping and index == 0:
            wire += sender.send(frames.Ping(payload=b"between"))
    return wire


def received(
    deflate: bool, data: bytes | str, limit: int | None, fragments: int = 1, ping: bool = False
) -> tuple[list[frames.Event], Connection]:
    """A client sends ``data`` to a server whose limit is ``limit``; what the
    server's frame layer reports."""
    server_event, client_event = handshake(deflate)
    server = wsnegotiate.wsproto.connection(server_event, max_message_size=limit)
    client = wsnegotiate.wsproto.connection(client_event)
    server.receive_data(message_frames(client, data, fragments, ping))
    return list(server.events()), server


def assemble(events: list[frames.Event]) -> bytes | str | None:
    """The one message the events carry whole, or None."""
    parts = [event.data for event in events if isinstance(event, frames.Message)]
    if not [e for e in events if isinstance(e, frames.Message) and e.message_finished]:
        return None
    if isinstance(parts[0], str):
        return "".join(str(part) for part in parts)
    return b"".join(bytes(part) for part in parts)


@pytest.mark.parametrize("deflate", [True, False])
@pytest.mark.parametrize("fragments", [1, 7])
@pytest.mark.parametrize(
    "at_limit",
    [bytes(1000), (bytes(range(256)) * 4)[:1000], "é" * 500],
    ids=["zeros", "bytes", "utf-8 text"],
)
def test_a_message_at_the_limit_passes_one_byte_over_fails(
    deflate: bool, fragments: int, at_limit: bytes | str
) -> None:
    """The size counted is the message's, after inflation, across its fragments;
    text counts its UTF-8 bytes (é is 2)."""
    limit = 1000
    assert len(at_limit.encode() if isinstance(at_limit, str) else at_limit) == limit
    events, server = received(deflate, at_limit, limit, fragments)
    assert assemble(events) == at_limit
    assert server.state is ConnectionState.OPEN

    over = at_limit + " " if isinstance(at_limit, str) else at_limit + b"\x00"
    events, server = received(deflate, over, limit, fragments)
    assert assemble(events) is None
    assert isinstance(events[-1], frames.CloseConnection) and events[-1].code == 1009
    assert sum(1 for e in events if isinstance(e, frames.CloseConnection)) == 1


def test_the_default_limit_is_one_mib() -> None:
    assert MiB == wsnegotiate.wsproto.DEFAULT_MAX_MESSAGE_SIZE
    for deflate in (True, False):
        for size, code in ((MiB, None), (MiB + 1, 1009)):
            server_event, client_event = handshake(deflate)
            client = wsnegotiate.wsproto.connection(client_event)
            server = wsnegotiate.wsproto.connection(server_event)
            server.receive_data(message_frames(client, bytes(size)))
            events = list(server.events())
            closes = [e.code for e in events if isinstance(e, frames.CloseConnection)]
            assert closes == ([] if code is None else [code]), (deflate, size)


def test_an_uncompressed_frame_counts_on_a_deflate_connection_too() -> None:
    """A frame without RSV1 on a connection that agreed deflate is not inflated
    (RFC 7692 §6), and its bytes count all the same."""
    server = layer("server", deflate=True, max_message_size=100)
    server.receive_data(frame_head(0x2, 101, fin=True, rsv1=False, masked=True) + bytes(101))
    (event,) = server.events()
    assert isinstance(event, frames.CloseConnection) and event.code == 1009


def test_bytes_that_do_not_inflate_still_fail_with_1007() -> None:
    """RFC 7692 §8.2.3.4 ("invalid" deflate data): wsproto's 1007, limit or not."""
    for limit in (MiB, None):
        server = layer("server", deflate=True, max_message_size=limit)
        server.receive_data(frame_head(0x2, 4, fin=True, rsv1=True, masked=True) + b"\xff" * 4)
        (event,) = server.events()
        assert isinstance(event, frames.CloseConnection) and event.code == 1007


def test_control_frames_between_fragments_do_not_count() -> None:
    events, _ = received(False, bytes(100), 100, fragments=4, ping=True)
    assert assemble(events) == bytes(100)
    assert any(isinstance(event, frames.Ping) for event in events)


def test_none_sets_no_limit_and_a_negative_limit_is_refused() -> None:
    events, _ = received(True, bytes(3 * MiB), None)
    assert assemble(events) == bytes(3 * MiB)
    server, _ = handshake(True)
    for connect in (
        lambda: wsnegotiate.wsproto.connection(server, max_message_size=-1),
        lambda: wsnegotiate.wsproto.deflate_extension(
            server.deflate,  # type: ignore[arg-type]
            client=False,
            max_message_size=-1,
        ),
    ):
        with pytest.raises(ws.LocalProtocolError, match="max_message_size"):
            connect()


def test_the_deflate_extension_alone_bounds_inflation() -> None:
    """``deflate_extension(max_message_size=)`` for a wsproto Connection built by
    hand: the same bound."""
    from wsproto.connection import ConnectionType

    server_event, _ = handshake(True)
    assert server_event.deflate is not None
    extension = wsnegotiate.wsproto.deflate_extension(
        server_event.deflate, client=False, max_message_size=MiB
    )
    connection = Connection(ConnectionType.SERVER, extensions=[extension])
    seen = feed(connection, bomb_in_one_frame(masked=True))
    assert [e.code for e in seen if isinstance(e, frames.CloseConnection)] == [1009]


# -- after the 1009 ------------------------------------------------------------------


def failed_server(deflate: bool) -> Connection:
    """A server whose client sent a message over its limit of 10 bytes, answered."""
    events, server = received(deflate, bytes(11), 10)
    (close,) = events
    assert isinstance(close, frames.CloseConnection) and close.code == 1009
    answer = wsnegotiate.wsproto.required_reply(server, close)
    assert isinstance(answer, frames.CloseConnection) and answer.code == 1009
    reason = b"message larger than 10 bytes"
    assert server.send(answer) == b"\x88" + bytes([2 + len(reason)]) + b"\x03\xf1" + reason
    assert server.state is ConnectionState.LOCAL_CLOSING
    return server


@pytest.mark.parametrize("deflate", [True, False])
def test_nothing_after_a_failure_makes_a_second_close_or_raises(deflate: bool) -> None:
    """RFC 6455 §7.1.7: after failing the connection, nothing more from the peer is
    processed, its Close included; the bytes are dropped, not kept."""
    server = failed_server(deflate)
    _, client_event = handshake(deflate)
    client = wsnegotiate.wsproto.connection(client_event)
    more = (
        message_frames(client, bytes(11))
        + client.send(frames.Ping(payload=b"p"))
        + client.send(frames.CloseConnection(code=1000))
    )
    tracemalloc.start()
    try:
        for _ in range(64):
            server.receive_data(more * (MiB // len(more)))
            assert list(server.events()) == []
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 4 * MiB  # 64 MiB fed, none of it kept
    assert server.state is ConnectionState.LOCAL_CLOSING
    server.receive_data(None)  # TCP ends
    (event,) = server.events()
    assert isinstance(event, frames.CloseConnection) and event.code == 1006
    assert wsnegotiate.wsproto.required_reply(server, event) is None
    server.receive_data(b"after the end")  # dropped, no "already closed" error


def test_a_ping_after_our_close_gets_no_pong() -> None:
    """After this side's Close only the peer's Close is answered: wsproto cannot
    send a Pong any more, and required_reply must not ask it to."""
    server_event, client_event = handshake(False)
    server = wsnegotiate.wsproto.connection(server_event)
    client = wsnegotiate.wsproto.connection(client_event)
    client.receive_data(server.send(frames.CloseConnection(code=1000)))
    server.receive_data(client.send(frames.Ping(payload=b"late")))
    (ping,) = server.events()
    assert isinstance(ping, frames.Ping)
    assert wsnegotiate.wsproto.required_reply(server, ping) is None
    open_server = wsnegotiate.wsproto.connection(server_event)
    pong = wsnegotiate.wsproto.required_reply(open_server, ping)
    assert isinstance(pong, frames.Pong) and pong.payload == b"late"


def test_a_bomb_after_our_close_gets_no_second_close() -> None:
    """The 1009 of a message over the limit after this side's Close is reported,
    and needs no answer: our Close is already out."""
    server = layer("server", deflate=True, max_message_size=MiB)
    server.send(frames.CloseConnection(code=1001))
    seen = feed(server, bomb_in_one_frame(masked=True))
    assert [e.code for e in seen if isinstance(e, frames.CloseConnection)] == [1009]
    assert server.state is ConnectionState.LOCAL_CLOSING


# -- what the caller hands the negotiator ------------------------------------------------


def deciding(*extensions: str) -> ws.ServerNegotiator:
    negotiator = ws.ServerNegotiator()
    extra = [("Sec-WebSocket-Extensions", offer) for offer in extensions]
    negotiator.receive_data(raw_request(rfc6455(extra=extra)))
    assert isinstance(negotiator.next_event(), ws.Request)
    return negotiator


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ("a\x0bb", "\\x0b"),
        ("del\x7f", "\\x7f"),
        ("bell\x07", "\\x07"),
        ("esc\x1b[2J", "\\x1b"),
        ("a\rb", "\\r"),
        ("a\nb", "\\n"),
        ("nul\x00", "\\x00"),
        ("\tpadded", "padding"),
        ("padded ", "padding"),
        ("€", "\\u20ac"),
    ],
)
def test_field_values_follow_rfc9110(value: str, fault: str) -> None:
    """RFC 9110 §5.5: a field value is VCHAR, obs-text, SP and HTAB, with no
    whitespace at either end. Every caller-given field is checked: rejections,
    accepts, the content type."""
    with pytest.raises(ws.LocalProtocolError, match="X-Note") as info:
        deciding().reject(403, "Forbidden", [("X-Note", value)])
    assert fault in str(info.value)
    with pytest.raises(ws.LocalProtocolError, match="X-Note"):
        deciding().accept(extra_headers=[("X-Note", value)])
    with pytest.raises(ws.LocalProtocolError, match="Content-Type"):
        deciding().reject(403, "Forbidden", body=b"{}", content_type=value)


@pytest.mark.parametrize("value", ["", "plain", "a\tb c", "caf\xe9", "x" * 300])
def test_field_values_rfc9110_allows_pass(value: str) -> None:
    rejected = deciding().reject(403, "Forbidden", [("X-Note", value)])
    assert f"\r\nX-Note: {value}\r\n".encode("latin-1") in rejected.response


@pytest.mark.parametrize(
    "name", ["Transfer-Encoding", "transfer-encoding", "Content-Length", "CONTENT-LENGTH"]
)
def test_a_caller_cannot_frame_the_message(name: str) -> None:
    """The negotiator writes Content-Length for a rejection's body itself; a
    Transfer-Encoding beside it would frame the message twice (RFC 9112 §6.3: a
    request smuggling vector), and a 1xx carries neither (RFC 9110 §8.6, RFC 9112
    §6.1)."""
    with pytest.raises(ws.LocalProtocolError, match=name):
        deciding().reject(403, "Forbidden", [(name, "chunked" if "ncoding" in name else "0")])
    with pytest.raises(ws.LocalProtocolError, match=name):
        deciding().accept(extra_headers=[(name, "chunked" if "ncoding" in name else "0")])


def test_an_extension_answer_outside_latin1_is_a_local_error() -> None:
    """A non-latin-1 character has no byte on the wire: LocalProtocolError, as
    documented, not a UnicodeEncodeError from writing the 101."""
    with pytest.raises(ws.LocalProtocolError, match="x-note"):
        deciding("x-note").accept(extensions=['x-note; says="€"'])
    accepted = deciding("x-note").accept(extensions=['x-note; says="caf\xe9"'])
    assert b'Sec-WebSocket-Extensions: x-note; says="caf\xe9"' in accepted.response


@pytest.mark.parametrize("limit", [MiB, None])
@pytest.mark.parametrize("side", ["server", "client"])
def test_a_ping_between_compressed_fragments_leaves_the_message_whole(
    side: str, limit: int | None
) -> None:
    """RFC 6455 §5.4: control frames may be injected in the middle of a fragmented
    message; the message around them inflates as one (wsproto alone fails it, 1007)."""
    server, client = handshake(True)
    receiver = wsnegotiate.wsproto.connection(
        server if side == "server" else client, max_message_size=limit
    )
    sender = wsnegotiate.wsproto.connection(client if side == "server" else server)
    text = "a compressed message " * 50
    wire = sender.send(frames.TextMessage(data=text[:500], message_finished=False))
    wire += sender.send(frames.Ping(payload=b"between"))
    wire += sender.send(frames.TextMessage(data=text[500:], message_finished=True))
    receiver.receive_data(wire)
    events = list(receiver.events())
    pings = [event for event in events if isinstance(event, frames.Ping)]
    texts = [event for event in events if isinstance(event, frames.TextMessage)]
    assert not [event for event in events if isinstance(event, frames.CloseConnection)]
    assert [ping.payload for ping in pings] == [b"between"]
    assert "".join(event.data for event in texts) == text
