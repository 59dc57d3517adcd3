"""Our client's requests are accepted by wsproto's and websockets' sans-IO servers,
and our client accepts their 101s. (Their clients' requests against our server are
in test_real_clients.py.)"""

from __future__ import annotations

import pytest
import wsproto
import wsproto.events
from websockets.http11 import Request as WebsocketsRequest
from websockets.server import ServerProtocol

import wsnegotiate as ws


def test_wsproto_server_accepts_our_client() -> None:
    client = ws.ClientNegotiator(
        "localhost", "/chat", subprotocols=["chat", "v2"], extensions=["permessage-deflate"]
    )
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    server.receive_data(client.data_to_send())
    [request] = server.events()
    assert isinstance(request, wsproto.events.Request)
    assert (request.host, request.target, request.subprotocols) == (
        "localhost",
        "/chat",
        ["chat", "v2"],
    )
    client.receive_data(server.send(wsproto.events.AcceptConnection(subprotocol="v2")))
    event = client.next_event()
    assert isinstance(event, ws.Connected)
    assert event.subprotocol == "v2"


def test_wsproto_server_negotiates_permessage_deflate_with_our_client() -> None:
    from wsproto.extensions import PerMessageDeflate

    client = ws.ClientNegotiator(
        "localhost", extensions=["permessage-deflate; client_max_window_bits"]
    )
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    server.receive_data(client.data_to_send())
    [_request] = server.events()
    client.receive_data(
        server.send(wsproto.events.AcceptConnection(extensions=[PerMessageDeflate()]))
    )
    event = client.next_event()
    assert isinstance(event, ws.Connected)
    assert event.extensions[0].startswith("permessage-deflate")


@pytest.mark.parametrize("subprotocol", [None, "chat"])
def test_websockets_server_accepts_our_client(subprotocol: str | None) -> None:
    client = ws.ClientNegotiator("localhost", "/chat", subprotocols=["chat"] if subprotocol else [])
    server = ServerProtocol(subprotocols=["chat"] if subprotocol else None)  # type: ignore[list-item]
    server.receive_data(client.data_to_send())
    [request] = server.events_received()
    assert isinstance(request, WebsocketsRequest)
    server.send_response(server.accept(request))
    assert server.handshake_exc is None
    client.receive_data(b"".join(server.data_to_send()))
    event = client.next_event()
    assert isinstance(event, ws.Connected)
    assert event.subprotocol == subprotocol


def test_websockets_server_refusal_of_version_8_reads_as_refused() -> None:
    client = ws.ClientNegotiator("localhost", "/", 8, fallback=[13])
    server = ServerProtocol()
    server.receive_data(client.data_to_send())
    [request] = server.events_received()
    server.send_response(server.accept(request))  # type: ignore[arg-type]
    client.receive_data(b"".join(server.data_to_send()))
    client.receive_data(b"")
    event = client.next_event()
    assert isinstance(event, ws.Refused)
    assert (event.status, event.advertised) == (400, ())  # websockets lists nothing
    assert event.advertised_nothing
    retried = client.retry()  # the user's fallback, 13, on a new connection
    server = ServerProtocol()
    server.receive_data(retried.data_to_send())
    [request] = server.events_received()
    server.send_response(server.accept(request))  # type: ignore[arg-type]
    retried.receive_data(b"".join(server.data_to_send()))
    connected = retried.next_event()
    assert isinstance(connected, ws.Connected) and connected.version is ws.Version.Version13
