"""Requests from real clients are accepted, and each client's own validator
accepts our 101: captured browser, curl and Node ws requests, and requests
built by websockets', wsproto's and aiohttp's own client code."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import websockets
import wsproto
import wsproto.events
from factory import parse_response
from websockets.client import ClientProtocol
from websockets.http11 import Response
from websockets.uri import parse_uri

import wsnegotiate as ws
from wsnegotiate.cli.samples import SAMPLES

CAPTURED = {sample.name: sample for sample in SAMPLES}


@pytest.mark.parametrize("name", ["chrome", "firefox", "safari", "curl", "node-ws"])
def test_captured_requests_are_accepted(name: str) -> None:
    result = ws.negotiate(CAPTURED[name].data)
    assert isinstance(result, ws.Accepted), result
    assert result.version is ws.Version.Version13
    assert parse_response(result.response)[0] == 101
    assert dict(result.headers)["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_websockets_sans_io_client() -> None:
    client = ClientProtocol(parse_uri("ws://localhost:8765/chat"), subprotocols=["chat"])  # type: ignore[list-item]
    client.send_request(client.connect())
    result = ws.negotiate(b"".join(client.data_to_send()), ws.Policy(subprotocols=["chat"]))
    assert isinstance(result, ws.Accepted)
    client.receive_data(result.response)
    [response] = client.events_received()
    assert isinstance(response, Response) and response.status_code == 101
    assert client.handshake_exc is None
    assert client.subprotocol == "chat"


def test_wsproto_client() -> None:
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    offer = client.send(
        wsproto.events.Request(host="localhost", target="/chat", subprotocols=["chat", "v2"])
    )
    result = ws.negotiate(offer, ws.Policy(subprotocols=["v2"]))
    assert isinstance(result, ws.Accepted)
    assert result.request.subprotocols == ("chat", "v2")
    client.receive_data(result.response)
    [accepted] = client.events()
    assert isinstance(accepted, wsproto.events.AcceptConnection)
    assert accepted.subprotocol == "v2"


async def _serve_once(policy: ws.Policy, seen: list[ws.Accepted | ws.Rejected]) -> asyncio.Server:
    """A bare asyncio server on 127.0.0.1 that negotiates and then closes cleanly."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        negotiator = ws.ServerNegotiator(policy)
        event: object = ws.NeedData()
        while isinstance(event, ws.NeedData):
            negotiator.receive_data(await reader.read(4096))
            event = negotiator.next_event()
        outcome = negotiator.accept() if isinstance(event, ws.Request) else event
        assert isinstance(outcome, ws.Accepted | ws.Rejected)
        seen.append(outcome)
        writer.write(outcome.response)
        if isinstance(outcome, ws.Accepted):
            writer.write(b"\x88\x02\x03\xe8")  # Close 1000, the frame layer's first word
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_aiohttp_client_live() -> None:
    async def run() -> list[ws.Accepted | ws.Rejected]:
        seen: list[ws.Accepted | ws.Rejected] = []
        server = await _serve_once(ws.Policy(subprotocols=["chat"]), seen)
        port = server.sockets[0].getsockname()[1]
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"ws://127.0.0.1:{port}/chat", protocols=["chat"]) as conn,
        ):
            assert conn.protocol == "chat"
            message = await conn.receive()
            assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 1000
        server.close()
        await server.wait_closed()
        return seen

    [outcome] = asyncio.run(run())
    assert isinstance(outcome, ws.Accepted) and outcome.subprotocol == "chat"
    assert any(
        name.lower() == b"user-agent" and b"aiohttp" in value.lower()
        for name, value in outcome.request.headers
    )


def test_websockets_client_live() -> None:
    async def run() -> list[ws.Accepted | ws.Rejected]:
        seen: list[ws.Accepted | ws.Rejected] = []
        server = await _serve_once(ws.Policy(), seen)
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/chat") as conn:
            with pytest.raises(websockets.ConnectionClosedOK):
                await conn.recv()
        server.close()
        await server.wait_closed()
        return seen

    [outcome] = asyncio.run(run())
    assert isinstance(outcome, ws.Accepted)


def test_websockets_client_sees_our_426() -> None:
    async def run() -> int:
        seen: list[ws.Accepted | ws.Rejected] = []
        server = await _serve_once(ws.Policy([8]), seen)
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(f"ws://127.0.0.1:{port}/chat"):
                pass
        server.close()
        await server.wait_closed()
        assert info.value.response.headers["Sec-WebSocket-Version"] == "8"
        return info.value.response.status_code

    assert asyncio.run(run()) == 426
