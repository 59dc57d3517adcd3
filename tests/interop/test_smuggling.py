"""Bytes behind the request, over TCP against `wsnegotiate serve`: after a refused
upgrade, a pipelined request is never answered (request smuggling); after an
accepted one, a frame in the same packet is read as a frame, exactly once."""

from __future__ import annotations

import socket

import h11
import pytest
import wsproto.events as frames
from factory import raw_request, rfc6455
from test_serve import SharedServers, serve
from wsproto.connection import Connection, ConnectionType

import wsnegotiate as ws
import wsnegotiate.wsproto

SMUGGLED = raw_request(rfc6455(), target="/admin")  # a valid upgrade, pipelined


def exchange(port: int, data: bytes) -> bytes:
    """One write, then everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def read_responses(data: bytes) -> list[object]:
    """The events h11's client reads from ``data`` and the end of the stream; it
    raises on any byte after a response that says ``Connection: close``."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    client.receive_data(b"")
    events: list[object] = []
    while not isinstance(event := client.next_event(), h11.ConnectionClosed):
        events.append(event)
    return events


REFUSED = {
    "version 8": raw_request(rfc6455("8")),
    "no key": raw_request(rfc6455(key=None)),
    "a body that hides a request": raw_request(
        [*rfc6455(), ("Content-Length", str(len(SMUGGLED)))]
    ),
    "chunked": raw_request([*rfc6455(), ("Transfer-Encoding", "chunked")]),
    "POST": raw_request(rfc6455(), method="POST"),
}


@pytest.mark.parametrize("first", list(REFUSED.values()), ids=list(REFUSED))
def test_a_request_behind_a_refused_upgrade_is_never_answered(
    first: bytes, shared: SharedServers
) -> None:
    answer = exchange(shared.port(), first + SMUGGLED + SMUGGLED)
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    response, *_data, end = read_responses(answer)
    assert isinstance(response, h11.Response) and 400 <= response.status_code < 500
    connection = [value for name, value in response.headers if name == b"connection"]
    assert b"close" in b",".join(connection).replace(b" ", b"").split(b",")
    assert isinstance(end, h11.EndOfMessage)


def test_a_frame_in_the_same_packet_as_the_request_is_echoed_once() -> None:
    client = ws.ClientNegotiator("127.0.0.1", "/")
    masked = Connection(ConnectionType.CLIENT).send(frames.TextMessage(data="pipelined"))
    assert masked[1] & 0x80  # a client's frame is masked (RFC 6455 §5.3)
    with serve() as (_, port), socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(client.data_to_send() + masked)
        while isinstance(event := client.next_event(), ws.NeedData):
            client.receive_data(sock.recv(65536))
        assert isinstance(event, ws.Connected), event
        layer = wsnegotiate.wsproto.connection(event)
        received: list[frames.Event] = []
        while not any(isinstance(e, frames.TextMessage) for e in received):
            received += layer.events()
            if not any(isinstance(e, frames.TextMessage) for e in received):
                layer.receive_data(sock.recv(65536))
        sock.sendall(layer.send(frames.CloseConnection(code=1000)))
        while chunk := sock.recv(65536):
            layer.receive_data(chunk)
        layer.receive_data(None)
        received += layer.events()
    texts = [e.data for e in received if isinstance(e, frames.TextMessage)]
    assert texts == ["pipelined"]
    assert [type(e) for e in received][-1] is frames.CloseConnection
