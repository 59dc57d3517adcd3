"""Real clients, each running the same scenario against a ws:// URL: send a text and
a binary message, read both echoes, close with 1000. Each returns what it received
and the close code it saw."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp
import websockets
import wsproto
import wsproto.events as frames
from peers import run_node

Outcome = tuple[list[object], int | None]


async def with_websockets(url: str) -> Outcome:
    async with websockets.connect(url) as connection:
        await connection.send("hello websockets")
        await connection.send(b"\x01\x02\x03")
        received: list[object] = [await connection.recv(), list(await connection.recv())]
    return received, connection.close_code


async def with_aiohttp(url: str) -> Outcome:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as connection:
        await connection.send_str("hello aiohttp")
        await connection.send_bytes(b"\x01\x02\x03")
        received: list[object] = [
            (await connection.receive()).data,
            list((await connection.receive()).data),
        ]
        await connection.close(code=1000)
        return received, connection.close_code


async def with_wsproto(url: str) -> Outcome:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    writer.write(client.send(frames.Request(host=parts.netloc, target=parts.path or "/")))
    received: list[object] = []
    code = None
    while code is None:
        data = await asyncio.wait_for(reader.read(65536), 10)
        client.receive_data(data or None)
        for event in client.events():
            if isinstance(event, frames.AcceptConnection):
                writer.write(client.send(frames.TextMessage(data="hello wsproto")))
                writer.write(client.send(frames.BytesMessage(data=b"\x01\x02\x03")))
            elif isinstance(event, frames.TextMessage):
                received.append(event.data)
            elif isinstance(event, frames.BytesMessage):
                received.append(list(event.data))
                writer.write(client.send(frames.CloseConnection(code=1000)))
            elif isinstance(event, frames.CloseConnection):
                code = event.code
    writer.close()
    return received, code


def with_node(url: str) -> Outcome:
    result = run_node("node_ws_client.js", url)
    return result["received"], result["code"]


ASYNC_CLIENTS = {"websockets": with_websockets, "aiohttp": with_aiohttp, "wsproto": with_wsproto}


def expected(name: str) -> Outcome:
    return [f"hello {name}", [1, 2, 3]], 1000
