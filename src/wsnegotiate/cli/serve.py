"""``wsnegotiate serve``: an asyncio echo server on the negotiator, with wsproto
for the frames after the handshake (``pip install wsnegotiate[serve]``).

Text and binary messages come back as they were sent (fragments too), pings get
their pongs, a Close is answered with the same code, and on SIGINT or SIGTERM
every open connection is closed with 1001 (going away) before the process exits.

No connection is held for good: the handshake has a total deadline (408); an
open connection that goes quiet is pinged every ``ping_interval`` seconds and
closed (1011) when ``ping_timeout`` passes without a word back; after a Close is
sent (going away, or a frame that broke the protocol: 1002, 1007), TCP is closed
once the peer's Close arrives or ``close_timeout`` passes.

The number of open connections is capped (by default a little below the process's
file-descriptor limit). At the cap, or when the system runs out of descriptors,
the server stops accepting until a connection closes or a moment has passed; the
kernel's backlog holds the waiting clients. Either is logged once per
``_QUIET`` seconds, not once per attempt.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import wsproto.events as frames
from wsproto.connection import ConnectionState

from .. import aio
from .._close import CloseCode
from .._events import Accepted
from .._policy import Policy
from ..wsproto import connection, required_reply

__all__ = ["ServeOptions", "default_max_connections", "echo_server", "run"]

log = logging.getLogger("wsnegotiate.serve")

_QUIET = 10.0  # seconds between two log lines about the same condition
_RESERVED_FDS = 32  # descriptors kept for the listener, stdio, the event loop, logs
_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def default_max_connections() -> int:
    """The soft file-descriptor limit less a reserve: one descriptor a connection."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 1 << 20 if soft == resource.RLIM_INFINITY else soft
    return max(1, limit - _RESERVED_FDS)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """How long ``serve`` waits for what, and how many connections it holds.
    A ``ping_interval`` of 0 turns keepalive pings off."""

    handshake_timeout: float = 10.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 10.0
    max_connections: int | None = None  # None: default_max_connections()


class _Throttled:
    """Log a condition at most once per ``_QUIET`` seconds, counting the rest."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -_QUIET) < _QUIET:
            self._held[key] = self._held.get(key, 0) + 1
            return
        held = self._held.pop(key, 0)
        log.warning("%s%s", message, f" ({held} more times since the last report)" if held else "")
        self._last[key] = now


class _Echo:
    """One accepted connection: wsproto fed the trailing bytes, then an echo loop."""

    def __init__(
        self,
        accepted: Accepted,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        options: ServeOptions,
    ) -> None:
        self.reader, self.writer, self.options = reader, writer, options
        self.frames = connection(accepted)  # compressing as the handshake agreed

    def _send(self, event: frames.Event) -> None:
        if self.frames.state is not ConnectionState.CLOSED:
            self.writer.write(self.frames.send(event))

    def _wait(self, pinged: bool) -> float | None:
        """How long to wait for the peer's next bytes in the current state."""
        if self.frames.state is not ConnectionState.OPEN:
            return self.options.close_timeout  # our Close is out: its answer, or nothing
        if pinged:
            return self.options.ping_timeout
        return self.options.ping_interval or None

    async def run(self) -> None:
        pinged = False
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
            open_before = self.frames.state is ConnectionState.OPEN
            try:
                async with asyncio.timeout(self._wait(pinged)):  # no task per read
                    data = await self.reader.read(65536)
            except TimeoutError:
                if not open_before:
                    return  # no Close came back in time: drop TCP
                if pinged:
                    code = CloseCode.CloseCodeBadOperation  # 1011
                    self._send(frames.CloseConnection(code=code, reason="ping timeout"))
                else:
                    self._send(frames.Ping(payload=b"wsnegotiate"))
                pinged = not pinged
                continue
            pinged = False  # any bytes from the peer show it is there
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
    options: ServeOptions = ServeOptions(),
    *,
    ready: Callable[[str, int], None] = lambda host, port: None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set, then close every connection with 1001."""
    stop = stop or asyncio.Event()
    limit = options.max_connections or default_max_connections()
    open_connections: set[_Echo] = set()
    writers: set[asyncio.StreamWriter] = set()
    tasks: set[asyncio.Task[None]] = set()
    room = asyncio.Event()
    throttled = _Throttled()

    async def handle(sock: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=sock)
        except OSError:  # pragma: no cover - the peer left before its transport was made
            sock.close()
            return
        writers.add(writer)
        try:
            timeout = options.handshake_timeout
            accepted = await aio.server_handshake(reader, writer, policy, timeout=timeout)
            if not isinstance(accepted, Accepted):
                return
            echo = _Echo(accepted, reader, writer, options)
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

    def finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        room.set()

    async def accept(listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while len(tasks) >= limit:
                throttled.warning(
                    "cap", f"{limit} connections open (the cap): not accepting until one closes"
                )
                room.clear()
                await room.wait()
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError as error:
                if error.errno not in _OUT_OF_FDS:
                    raise
                throttled.warning(
                    "fds", f"cannot accept: {error.strerror}; {len(tasks)} connections open"
                )
                await asyncio.sleep(0.1)  # the backlog waits; no busy loop
                continue
            task = asyncio.create_task(handle(sock))
            tasks.add(task)
            task.add_done_callback(finished)

    listener = socket.create_server((host, port), backlog=min(limit, 1024))
    listener.setblocking(False)
    bound_host, bound_port = listener.getsockname()[:2]
    ready(bound_host, bound_port)
    acceptor = asyncio.create_task(accept(listener))
    try:
        await stop.wait()
    finally:
        acceptor.cancel()
        listener.close()
        await asyncio.gather(
            *(echo.going_away() for echo in list(open_connections)), return_exceptions=True
        )
        await asyncio.sleep(0.1)  # let the closes reach the wire
        for writer in list(writers):
            writer.close()
        await asyncio.wait([acceptor, *tasks], timeout=1.0)


def run(host: str, port: int, policy: Policy, options: ServeOptions) -> int:
    """The CLI entry: print where it listens, stop cleanly on SIGINT or SIGTERM."""
    logging.basicConfig(format="wsnegotiate serve: %(message)s", level=logging.INFO)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

        def ready(bound_host: str, bound_port: int) -> None:
            print(f"listening on ws://{bound_host}:{bound_port}/", flush=True)

        await echo_server(host, port, policy, options, ready=ready, stop=stop)

    asyncio.run(main())
    print("stopped", flush=True)
    return 0
