"""One ``wsnegotiate serve`` connection as an ``asyncio.Protocol``: the opening
handshake on a ``ServerNegotiator`` fed from ``data_received``, then an echo over
wsproto frames. No task and no stream per connection; its clock is one loop timer
at a time, for the phase it is in:

    handshake --101--> open --our Close sent--> closing --peer's Close--> closed
        |                |                          |
        408 at the       ping after               TCP dropped after
        deadline         ``ping_interval`` of     ``close_timeout``
                         quiet, Close 1011 after
                         ``ping_timeout`` more

The handshake deadline is total, not idle (slowloris): a client that has not
completed its request gets a 408 (RFC 9110 §15.5.9). A refusal is written whole
before TCP closes, and the bytes after it are never parsed (request smuggling).
After the 101, messages come back as sent (fragments too), pings get their pongs,
a Close is answered with its code (RFC 6455 §5.5.1) and TCP closed right after
(the server closes first, §7.1.1), and bytes wsproto cannot parse get Close 1002
or 1007 and TCP closed as soon as that is written, without waiting for an answer
(to fail the connection is to close it, §7.1.7). After our Close, nothing but a
Close is sent (§5.5.1). A peer that stops reading makes the transport pause
writing, and we pause reading in turn: nothing is buffered without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import wsproto.events as frames
from wsproto.connection import Connection, ConnectionState

from .._close import CloseCode
from .._events import Accepted, Rejected, Request
from .._policy import Policy
from .._server import ServerNegotiator
from ..aio import _connection_facts
from ..wsproto import DEFAULT_MAX_MESSAGE_SIZE, connection, required_reply

__all__ = ["EchoProtocol", "ServeOptions"]

_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED
_STILL_READING = (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING)
_PING = frames.Ping(payload=b"wsnegotiate")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """How long ``serve`` waits for what, and how many connections it holds.
    A ``ping_interval`` of 0 turns keepalive pings off."""

    handshake_timeout: float = 10.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 10.0
    max_connections: int | None = None  # None: default_max_connections()
    #: bytes a received message may have after inflation (Close 1009 past it); None: no limit
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE


class EchoProtocol(asyncio.Protocol):
    """One connection: joins ``connections`` when made, leaves it and calls
    ``lost`` when TCP is gone."""

    __slots__ = (
        "_closing", "_connections", "_frames", "_heard", "_loop", "_lost", "_negotiator",
        "_options", "_pinged", "_policy", "_timer", "_transport",
    )  # fmt: skip

    def __init__(
        self,
        policy: Policy,
        options: ServeOptions,
        loop: asyncio.AbstractEventLoop,
        connections: set[EchoProtocol],
        lost: Callable[[], None],
    ) -> None:
        self._options, self._connections, self._lost, self._loop = options, connections, lost, loop
        self._policy = policy
        self._negotiator: ServerNegotiator | None = None  # from connection_made; None once decided
        self._frames: Connection | None = None  # after the 101
        self._transport = cast(asyncio.Transport, None)  # set by connection_made
        self._timer: asyncio.TimerHandle | None = None
        self._heard = 0.0  # loop time of the peer's last complete frame
        self._pinged = False  # our ping has had no answer yet
        self._closing = False  # our Close is out, or TCP is closing

    # -- the asyncio protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        # The peer's address is given only when the policy trusts a proxy: it is the one
        # use serve has for it (it reads no Request.client), and without a proxy named
        # the negotiator would still check the address, about 2.5 µs a handshake.
        peer, tls = _connection_facts(transport)
        peer = peer if self._policy.forwarded_allow_ips else None
        self._negotiator = ServerNegotiator(self._policy, peer=peer, tls=tls)
        self._connections.add(self)
        self._timer = self._loop.call_later(self._options.handshake_timeout, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._connections.discard(self)
        self._lost()

    def pause_writing(self) -> None:
        # The peer does not read what we send: read no more of what it sends until
        # it does, so an echo cannot pile up in our write buffer.
        if not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if not self._transport.is_closing():
            self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._frames is not None:
            self._frames_received(self._frames, data)
            return
        negotiator = self._negotiator
        if negotiator is None:
            return  # refused: what follows is never parsed
        negotiator.receive_data(data)
        event = negotiator.next_event()
        if isinstance(event, Request):
            self._switch(negotiator.accept())
        elif isinstance(event, Rejected):
            self._refuse(event)

    def eof_received(self) -> bool | None:
        if self._frames is not None:
            # TCP ended without a Close (1006): nothing to answer (RFC 6455 §7.1.5);
            # every frame before it was answered as it came.
            self._close()
        elif self._negotiator is not None:
            negotiator, self._negotiator = self._negotiator, None
            negotiator.receive_data(b"")
            event = negotiator.next_event()
            if isinstance(event, Rejected):  # a request cut short: 400
                self._refuse(event)
        return None  # the transport closes itself, after what was written

    # -- the handshake -------------------------------------------------------------

    def _refuse(self, rejected: Rejected) -> None:
        self._negotiator = None
        self._write(rejected.response)
        self._close()

    def _switch(self, accepted: Accepted) -> None:
        self._negotiator = None
        self._write(accepted.response)
        # fed the trailing data already; a message past the limit fails with 1009
        self._frames = layer = connection(accepted, max_message_size=self._options.max_message_size)
        self._heard = now = self._loop.time()
        interval = self._options.ping_interval
        if not interval:
            self._cancel_timer()
        elif self._timer is None or self._timer.when() > now + interval:
            self._cancel_timer()
            self._timer = self._loop.call_at(now + interval, self._tick)
        # else the handshake deadline comes first: keepalive takes it over as it is
        if accepted.trailing_data:
            self._answer(layer)

    # -- frames --------------------------------------------------------------------

    def _frames_received(self, layer: Connection, data: bytes) -> None:
        if layer.state is _CLOSED:
            return  # closing: wsproto takes nothing more
        layer.receive_data(data)
        self._answer(layer)

    def _answer(self, layer: Connection) -> None:
        """Echo the messages, answer what must be answered (one write), and close
        TCP once the Close handshake is done, or at once when the peer's bytes
        broke the protocol."""
        out = []
        failed = alive = False
        for event in layer.events():
            # A complete frame shows the peer is there; bytes alone do not: a peer that
            # trickles a frame a byte at a time cannot answer our Ping inside it, so it
            # gets its 1011 at the ping timeout like a silent one.
            alive = alive or not isinstance(event, frames.Message) or event.frame_finished
            if isinstance(event, frames.Message):
                if layer.state is _OPEN:  # never data after a Close (RFC 6455 §5.5.1)
                    out.append(layer.send(event))  # as it came: text or binary, fragment
                continue
            # wsproto moves its state on a Close frame before reporting it; a
            # CloseConnection in OPEN or LOCAL_CLOSING is bytes it could not parse.
            failed = failed or (
                isinstance(event, frames.CloseConnection) and layer.state in _STILL_READING
            )
            if (answer := required_reply(layer, event)) is not None and (
                layer.state is _OPEN or isinstance(answer, frames.CloseConnection)
            ):
                out.append(layer.send(answer))  # a pong only while open; a Close always
        if alive:
            self._heard = self._loop.time()
            self._pinged = False  # uvloop's clock ticks in milliseconds: no comparing
        if out:
            self._write(out[0] if len(out) == 1 else b"".join(out))
        if failed or layer.state is _CLOSED:
            # Fail the WebSocket Connection: our Close 1002/1007 is written, close TCP
            # without waiting for an answer that wsproto could not read (RFC 6455
            # §7.1.7). After a Close handshake the server closes TCP first (§7.1.1).
            self._close()

    def _send_close(self, code: int, reason: str) -> None:
        assert self._frames is not None
        if self._frames.state is _OPEN:
            self._write(self._frames.send(frames.CloseConnection(code=code, reason=reason)))
            self._await_close()

    def _await_close(self) -> None:
        """Our Close is out: the peer's comes back, or TCP is dropped at the timeout."""
        self._closing = True
        self._cancel_timer()
        self._timer = self._loop.call_later(self._options.close_timeout, self._tick)

    # -- the clock -----------------------------------------------------------------

    def _tick(self) -> None:
        """The connection's one timer, for the phase it is in."""
        self._timer = None
        if self._negotiator is not None:  # the handshake deadline: 408
            self._refuse(self._negotiator.time_out(self._options.handshake_timeout))
        elif self._closing:  # the peer's Close did not come, or it does not read
            self._transport.abort()
        elif self._frames is not None and self._options.ping_interval:
            self._keepalive(self._frames)

    def _keepalive(self, layer: Connection) -> None:
        """Reads only note the time; here it is compared, so a busy connection
        re-arms its timer once an interval, not once a read."""
        options, now = self._options, self._loop.time()
        if self._pinged:
            code = CloseCode.CloseCodeBadOperation  # 1011
            self._send_close(code, "ping timeout")
        elif now < self._heard + options.ping_interval:
            self._timer = self._loop.call_at(self._heard + options.ping_interval, self._tick)
        else:
            self._write(layer.send(_PING))
            self._pinged = True
            self._timer = self._loop.call_at(now + options.ping_timeout, self._tick)

    # -- the server stops ----------------------------------------------------------

    def going_away(self) -> None:
        """The server stops: an open connection gets Close 1001; a handshake in
        progress is closed."""
        if self._frames is None:
            self._negotiator = None
            self._close()
        elif not self._closing:
            self._send_close(CloseCode.CloseCodeGoingAway, "server stopping")

    def abort(self) -> None:
        """Drop TCP now: the server stops, and the peer did not answer in time."""
        self._transport.abort()

    # -- helpers -------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def _close(self) -> None:
        """Close TCP after what is written; a peer that does not read it within
        ``close_timeout`` is dropped (a closing transport still holds its socket)."""
        self._closing = True
        self._cancel_timer()
        self._transport.close()
        if self._transport.get_write_buffer_size():
            self._timer = self._loop.call_later(self._options.close_timeout, self._tick)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
