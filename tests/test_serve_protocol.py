"""``serve``'s connection protocol, in this process on a free port: what each
handshake makes, and that what it skips is made when it is needed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import wsproto.events as frames
from wsproto.connection import Connection, ConnectionType

import wsnegotiate as ws
import wsnegotiate.wsproto
from wsnegotiate.cli import _echo
from wsnegotiate.cli._echo import ServeOptions
from wsnegotiate.cli.samples import SAMPLES
from wsnegotiate.cli.serve import echo_server

T = TypeVar("T")
CHROME = next(sample.data for sample in SAMPLES if sample.name == "chrome")


def serving(scenario: Callable[[int, asyncio.Event], Awaitable[T]], options: ServeOptions) -> T:
    """Run ``scenario(port, stop)`` against ``echo_server`` on 127.0.0.1 (setting
    ``stop`` stops the server), then stop the server; each bounded in time."""

    async def main() -> T:
        stop = asyncio.Event()
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(
            echo_server(
                "127.0.0.1",
                0,
                ws.Policy(deflate=None),
                options,
                ready=lambda host, bound: port.set_result(bound),
                stop=stop,
            )
        )
        try:
            return await asyncio.wait_for(scenario(await asyncio.wait_for(port, 10), stop), 10)
        finally:
            stop.set()
            await asyncio.wait_for(server, 10)

    return asyncio.run(main())


async def opened(port: int, data: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection past the 101's head, ``data`` sent in the request's write."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(CHROME + data)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return reader, writer


def counting_layers(monkeypatch: pytest.MonkeyPatch) -> list[Connection]:
    """Every frame layer (wsproto ``Connection``) made from now on."""
    made: list[Connection] = []
    real = wsnegotiate.wsproto._Connection

    class Counted(real):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(wsnegotiate.wsproto, "_Connection", Counted)
    return made


def test_a_client_that_leaves_after_the_101_costs_no_frame_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = counting_layers(monkeypatch)
    client = Connection(ConnectionType.CLIENT)

    async def scenario(port: int, stop: asyncio.Event) -> tuple[int, list[frames.Event]]:
        reader, writer = await opened(port)
        writer.write_eof()  # the server closes TCP once it has read the end
        assert await reader.read() == b""
        writer.close()
        after_leaving = len(made)
        reader, writer = await opened(port)  # this one sends a frame: it needs one
        writer.write(client.send(frames.TextMessage(data="hello")))
        client.receive_data(await reader.read(64))
        writer.close()
        return after_leaving, list(client.events())

    after_leaving, echoed = serving(scenario, ServeOptions(access_log=False))
    assert after_leaving == 0
    assert len(made) == 1
    assert [(type(event), event.data) for event in echoed] == [(frames.TextMessage, "hello")]  # type: ignore[attr-defined]


def test_a_frame_in_the_requests_own_write_is_echoed() -> None:
    client = Connection(ConnectionType.CLIENT)

    async def scenario(port: int, stop: asyncio.Event) -> list[frames.Event]:
        reader, writer = await opened(port, client.send(frames.TextMessage(data="early")))
        client.receive_data(await reader.read(64))
        writer.close()
        return list(client.events())

    echoed = serving(scenario, ServeOptions(access_log=False))
    assert [(type(event), event.data) for event in echoed] == [(frames.TextMessage, "early")]  # type: ignore[attr-defined]


def test_a_quiet_client_gets_its_ping_and_close_without_sending_a_frame() -> None:
    client = Connection(ConnectionType.CLIENT)

    async def scenario(port: int, stop: asyncio.Event) -> list[frames.Event]:
        reader, writer = await opened(port)
        while data := await reader.read(64):  # until the server closes TCP; never answers
            client.receive_data(data)
        writer.close()
        return list(client.events())

    options = ServeOptions(ping_interval=0.1, ping_timeout=0.1, close_timeout=0.1, access_log=False)
    seen = serving(scenario, options)
    assert [type(event) for event in seen] == [frames.Ping, frames.CloseConnection]
    assert seen[1].code == 1011  # type: ignore[attr-defined]


def test_a_quiet_client_gets_1001_when_the_server_stops() -> None:
    client = Connection(ConnectionType.CLIENT)

    async def scenario(port: int, stop: asyncio.Event) -> list[frames.Event]:
        reader, writer = await opened(port)
        stop.set()  # with this connection open; it never answers the Close
        while data := await reader.read(64):
            client.receive_data(data)
        writer.close()
        return list(client.events())

    seen = serving(scenario, ServeOptions(access_log=False))
    assert [type(event) for event in seen] == [frames.CloseConnection]
    assert seen[0].code == 1001  # type: ignore[attr-defined]


class Recording(asyncio.Transport):
    """A transport that notes what the protocol asks of it and keeps what it writes."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []
        self.written = b""
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        self.asked.append(name)
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.mark.parametrize(
    ("policy", "asks"),
    [(ws.Policy(deflate=None), False), (ws.Policy(forwarded_allow_ips="127.0.0.1"), True)],
)
def test_the_peers_address_is_asked_for_only_when_a_proxy_is_trusted(
    policy: ws.Policy, asks: bool
) -> None:
    async def handshake() -> Recording:
        transport = Recording()
        options = ServeOptions(access_log=False)
        loop = asyncio.get_running_loop()
        protocol = _echo.EchoProtocol(policy, options, loop, set(), lambda: None)
        protocol.connection_made(transport)
        protocol.data_received(CHROME)
        protocol.connection_lost(None)
        return transport

    transport = asyncio.run(handshake())
    assert transport.written.startswith(b"HTTP/1.1 101 ")
    assert ("peername" in transport.asked) is asks
