"""``wsnegotiate serve``: an asyncio echo server on the negotiator, with wsproto
for the frames after the handshake (``pip install wsnegotiate[serve]``).

Text and binary messages come back as they were sent (fragments too), pings get
their pongs, a Close is answered with the same code, and on SIGINT or SIGTERM
every open connection is closed with 1001 (going away) before the process exits.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from . import aio
from ._close import CloseCode
from ._events import Accepted
from ._policy import Policy

__all__ = ["echo_server", "run"]

import wsproto.events as frames
from wsproto.connection import ConnectionState

from .wsproto import connection, required_reply


class _Echo:
    """One accepted connection: wsproto fed the trailing bytes, then an echo loop."""

    def __init__(
        self, accepted: Accepted, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.reader, self.writer = reader, writer
        self.frames = connection(accepted)  # compressing as the handshake agreed

    def _send(self, event: frames.Event) -> None:
        if self.frames.state is not ConnectionState.CLOSED:
            self.writer.write(self.frames.send(event))

    async def run(self) -> None:
        while True:
            for event in self.frames.events():
                if isinstance(event, frames.Message):
                    self._send(
                        type(event)(data=event.data, message_finished=event.message_finished)
                    )
                elif (answer := required_reply(self.frames, event)) is not None:
                    self._send(answer)  # a pong; a Close answered with its code
            await self.writer.drain()
            if self.frames.state is ConnectionState.CLOSED:
                return
            data = await self.reader.read(65536)
            self.frames.receive_data(data or None)  # None: the peer closed the TCP stream

    async def going_away(self) -> None:
        if self.frames.state is ConnectionState.OPEN:
            self._send(
                frames.CloseConnection(code=CloseCode.CloseCodeGoingAway, reason="server stopping")
            )
            await self.writer.drain()


async def echo_server(
    host: str,
    port: int,
    policy: Policy,
    *,
    handshake_timeout: float = 10.0,
    ready: Callable[[str, int], None] = lambda host, port: None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set, then close every connection with 1001."""
    stop = stop or asyncio.Event()
    open_connections: set[_Echo] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            accepted = await aio.server_handshake(reader, writer, policy, timeout=handshake_timeout)
            if not isinstance(accepted, Accepted):
                return
            echo = _Echo(accepted, reader, writer)
            open_connections.add(echo)
            try:
                await echo.run()
            finally:
                open_connections.discard(echo)
        except ConnectionError:
            pass  # the peer vanished: nothing left to answer
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(handle, host, port, backlog=1024)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    ready(bound_host, bound_port)
    async with server:
        await stop.wait()
        server.close()
        await asyncio.gather(
            *(echo.going_away() for echo in list(open_connections)), return_exceptions=True
        )
        await asyncio.sleep(0.1)  # let the closes reach the wire
        for writer in list(writers):
            writer.close()


def run(host: str, port: int, policy: Policy, handshake_timeout: float) -> int:
    """The CLI entry: print where it listens, stop cleanly on SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

        def ready(bound_host: str, bound_port: int) -> None:
            print(f"listening on ws://{bound_host}:{bound_port}/", flush=True)

        await echo_server(
            host, port, policy, handshake_timeout=handshake_timeout, ready=ready, stop=stop
        )

    asyncio.run(main())
    print("stopped", flush=True)
    return 0
