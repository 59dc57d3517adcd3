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

A connection whose first read starts as HTTP/2's preface (``PRI ``, RFC 9113
§3.4: prior knowledge on a plain port) is handed to ``_echo_h2``'s protocol with
that read; any other is this one's, at the cost of that one comparison. Each
handshake, 101 or refusal, is one line of the access log (``log_handshake``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

import wsproto.events as frames
from wsproto.connection import Connection, ConnectionState

from .._close import CloseCode
from .._deflate import DeflateParams
from .._detect import Detection
from .._events import Accepted, Rejected, Request
from .._headers import quote_for_reason
from .._policy import Policy
from .._server import ServerNegotiator
from ..aio import _connection_facts
from ..wsproto import DEFAULT_MAX_MESSAGE_SIZE, _frame_layer, required_reply

__all__ = ["EchoProtocol", "ReadsAsItWrites", "ServeOptions", "Served", "echo", "log_handshake"]

_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED
_STILL_READING = (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING)
_PING = frames.Ping(payload=b"wsnegotiate")
_access = logging.getLogger("wsnegotiate.serve.access")


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
    #: one line per handshake on the ``wsnegotiate.serve.access`` logger
    access_log: bool = True


class Served(Protocol):
    """A connection of the server, on either protocol: what stopping it takes."""

    def going_away(self) -> None: ...

    def abort(self) -> None: ...


def log_handshake(
    transport: asyncio.BaseTransport,
    method: bytes,
    target: bytes,
    protocol: str,
    status: int,
    detection: Detection | None,
) -> None:
    """One access-log line: the client's address, the method and target (``-`` when
    they never came whole), ``HTTP/1.1`` or ``HTTP/2``, the status, and the
    WebSocket version asked for (its number, the hixie family, or ``-``). Never a
    header value: a credential may ride in ``Sec-WebSocket-Protocol``. What the
    peer sent is shown escaped (printable ASCII only), so it cannot forge a line."""
    peer = transport.get_extra_info("peername")
    if not peer:
        client = "-"
    elif ":" in str(peer[0]):
        client = f"[{peer[0]}]:{peer[1]}"
    else:
        client = f"{peer[0]}:{peer[1]}"
    version = "-"
    if detection is not None:  # the number as sent (read as latin-1), or the family
        version = _shown((detection.raw_version or detection.family).encode("latin-1"))
    _access.info(
        '%s "%s %s %s" %d %s', client, _shown(method), _shown(target), protocol, status, version
    )


def _shown(value: bytes) -> str:
    return quote_for_reason(value, 200)[1:-1] if value else "-"


def _request_line(head: bytes) -> tuple[bytes, bytes]:
    """The method and target of a request line at the start of ``head``, or empty
    values when it holds no whole request line (RFC 9112 §3: three parts)."""
    line = head.split(b"\n", 1)[0] if 0x0A in head else b""
    parts = line.rstrip(b"\r").split(b" ")
    return (parts[0], parts[1]) if len(parts) == 3 else (b"", b"")


def echo(layer: Connection) -> tuple[bytes, bool, bool]:
    """The frame layer's events answered: the messages echoed as they came (text or
    binary, fragments too; never after a Close, RFC 6455 §5.5.1), a Pong while
    open, the Close a Close needs. Returns the bytes to send; whether the
    transport (TCP, or an HTTP/2 stream) must close now: the Close handshake is
    done (the server closes first, §7.1.1), or the peer's bytes broke the protocol
    and our Close 1002/1007/1009 fails the connection (close without waiting for
    an answer wsproto could not read, §7.1.7); and whether a complete frame came,
    the one sign that the peer is there: a peer that trickles a frame a byte at a
    time cannot answer our Ping inside it, so it gets its 1011 at the ping
    timeout like a silent one."""
    out = []
    failed = alive = False
    for event in layer.events():
        alive = alive or not isinstance(event, frames.Message) or event.frame_finished
        if isinstance(event, frames.Message):
            if layer.state is _OPEN:
                out.append(layer.send(event))
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
    data = out[0] if len(out) == 1 else b"".join(out)
    return data, failed or layer.state is _CLOSED, alive


class ReadsAsItWrites(asyncio.Protocol):
    """A connection that reads no more from a peer that does not read what it is sent:
    reading pauses while the transport's write buffer is over its high-water mark,
    so an echo (or a Pong) cannot pile up in it."""

    __slots__ = ()
    _transport: asyncio.Transport

    def pause_writing(self) -> None:
        if not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if not self._transport.is_closing():
            self._transport.resume_reading()


class EchoProtocol(ReadsAsItWrites):
    """One connection: joins ``connections`` when made, leaves it and calls
    ``lost`` when TCP is gone."""

    __slots__ = (
        "_closing", "_connections", "_deflate", "_first", "_frames", "_heard", "_loop", "_lost",
        "_negotiator", "_options", "_pinged", "_policy", "_switched", "_timer", "_transport",
    )  # fmt: skip

    def __init__(
        self,
        policy: Policy,
        options: ServeOptions,
        loop: asyncio.AbstractEventLoop,
        connections: set[Served],
        lost: Callable[[], None],
    ) -> None:
        self._options, self._connections, self._lost, self._loop = options, connections, lost, loop
        self._policy = policy
        self._negotiator: ServerNegotiator | None = None  # from connection_made; None once decided
        self._switched = False  # the 101 is written: frames from here on
        # The frame layer is made when it is first needed (a frame comes, or we send a
        # Ping or a Close), from the deflate agreed at the 101: a client that leaves
        # right after the 101 never costs one (wsproto's Connection, 35k instructions
        # under callgrind), and an idle connection holds less.
        self._frames: Connection | None = None
        self._deflate: DeflateParams | None = None
        self._transport = cast(asyncio.Transport, None)  # set by connection_made
        self._timer: asyncio.TimerHandle | None = None
        self._heard = 0.0  # loop time of the peer's last complete frame
        self._pinged = False  # our ping has had no answer yet
        self._closing = False  # our Close is out, or TCP is closing
        # a request's first read, when it did not hold the whole head: the access log
        # reads the request line there (a line split across reads is not shown)
        self._first = b""

    # -- the asyncio protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        # The peer's address is given only when the policy trusts a proxy: it is the one
        # use serve has for it (it reads no Request.client), and without a proxy named
        # the negotiator would still check the address, about 2.5 µs a handshake. Nor
        # is it asked for then: uvloop formats the address anew at each ask.
        if self._policy.forwarded_allow_ips:
            peer, tls = _connection_facts(transport)
        else:
            peer, tls = None, transport.get_extra_info("sslcontext") is not None
        self._negotiator = ServerNegotiator(self._policy, peer=peer, tls=tls)
        self._connections.add(self)
        self._timer = self._loop.call_later(self._options.handshake_timeout, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._connections.discard(self)
        self._lost()

    def data_received(self, data: bytes) -> None:
        if self._switched:
            self._frames_received(self._layer(), data)
            return
        negotiator = self._negotiator
        if negotiator is None:
            return  # refused: what follows is never parsed
        if data[0] == 0x50 and data[:4] == b"PRI " and not negotiator.buffered:
            self._prior_knowledge(negotiator, data)  # RFC 9113 §3.4: HTTP/2's preface
            return
        negotiator.receive_data(data)
        event = negotiator.next_event()
        if isinstance(event, Request):
            self._switch(negotiator.accept())
        elif isinstance(event, Rejected):
            self._refuse(event, self._first or data)
        elif not self._first:
            self._first = data

    def eof_received(self) -> bool | None:
        if self._switched:
            # TCP ended without a Close (1006): nothing to answer (RFC 6455 §7.1.5);
            # every frame before it was answered as it came.
            self._close()
        elif self._negotiator is not None:
            negotiator, self._negotiator = self._negotiator, None
            negotiator.receive_data(b"")
            event = negotiator.next_event()
            if isinstance(event, Rejected):  # a request cut short: 400
                self._refuse(event, self._first)
        return None  # the transport closes itself, after what was written

    # -- the handshake -------------------------------------------------------------

    def _refuse(self, rejected: Rejected, head: bytes) -> None:
        self._negotiator = None
        if self._options.access_log:
            method, target = _request_line(head)
            log_handshake(
                self._transport, method, target, "HTTP/1.1", rejected.status, rejected.detection
            )
        self._write(rejected.response)
        self._close()

    def _switch(self, accepted: Accepted) -> None:
        self._negotiator = None
        if self._options.access_log:
            request = accepted.request
            method, target = request.method.encode(), request.target.encode("latin-1")
            log_handshake(self._transport, method, target, "HTTP/1.1", 101, request.detection)
        self._write(accepted.response)
        self._switched, self._deflate = True, accepted.deflate
        self._heard = now = self._loop.time()
        interval = self._options.ping_interval
        if not interval:
            self._cancel_timer()
        elif self._timer is None or self._timer.when() > now + interval:
            self._cancel_timer()
            self._timer = self._loop.call_at(now + interval, self._tick)
        # else the handshake deadline comes first: keepalive takes it over as it is
        if accepted.trailing_data:  # frames that came with the request
            self._answer(self._layer(accepted.trailing_data))

    def _layer(self, trailing_data: bytes = b"") -> Connection:
        """The frame layer, made on first use; a message past the limit fails with 1009."""
        if self._frames is None:
            limit = self._options.max_message_size
            self._frames = _frame_layer(self._deflate, False, trailing_data, limit)
        return self._frames

    # -- frames --------------------------------------------------------------------

    def _frames_received(self, layer: Connection, data: bytes) -> None:
        if layer.state is _CLOSED:
            return  # closing: wsproto takes nothing more
        layer.receive_data(data)
        self._answer(layer)

    def _answer(self, layer: Connection) -> None:
        """Echo the messages, answer what must be answered (one write), and close
        TCP once the Close handshake is done, or at once when the peer's bytes
        broke the protocol (``echo``)."""
        out, done, alive = echo(layer)
        if alive:
            self._heard = self._loop.time()
            self._pinged = False  # uvloop's clock ticks in milliseconds: no comparing
        if out:
            self._write(out)
        if done:
            self._close()

    def _send_close(self, code: int, reason: str) -> None:
        layer = self._layer()
        if layer.state is _OPEN:
            self._write(layer.send(frames.CloseConnection(code=code, reason=reason)))
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
            self._refuse(self._negotiator.time_out(self._options.handshake_timeout), self._first)
        elif self._closing:  # the peer's Close did not come, or it does not read
            self._transport.abort()
        elif self._switched and self._options.ping_interval:
            self._keepalive()

    def _keepalive(self) -> None:
        """Reads only note the time; here it is compared, so a busy connection
        re-arms its timer once an interval, not once a read."""
        options, now = self._options, self._loop.time()
        if self._pinged:
            code = CloseCode.CloseCodeBadOperation  # 1011
            self._send_close(code, "ping timeout")
        elif now < self._heard + options.ping_interval:
            self._timer = self._loop.call_at(self._heard + options.ping_interval, self._tick)
        else:
            self._write(self._layer().send(_PING))
            self._pinged = True
            self._timer = self._loop.call_at(now + options.ping_timeout, self._tick)

    # -- the server stops ----------------------------------------------------------

    def going_away(self) -> None:
        """The server stops: an open connection gets Close 1001; a handshake in
        progress is closed."""
        if not self._switched:
            self._negotiator = None
            self._close()
        elif not self._closing:
            self._send_close(CloseCode.CloseCodeGoingAway, "server stopping")

    def abort(self) -> None:
        """Drop TCP now: the server stops, and the peer did not answer in time."""
        self._transport.abort()

    def _prior_knowledge(self, negotiator: ServerNegotiator, data: bytes) -> None:
        """HTTP/2 with prior knowledge: the connection is handed, with its first
        bytes, to the HTTP/2 protocol, which takes this one's place among the
        connections."""
        from ._echo_h2 import H2EchoProtocol  # h2, only for an HTTP/2 connection

        self._negotiator = None
        self._cancel_timer()
        h2 = H2EchoProtocol(
            negotiator.policy, self._options, self._loop, self._connections, self._lost
        )
        self._transport.set_protocol(h2)
        h2.connection_made(self._transport)  # joins the connections before this one leaves
        self._connections.discard(self)
        h2.data_received(data)

    # -- helpers -------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def _close(self) -> None:
        """Close TCP after what is written; a peer that does not read it within
        ``close_timeout`` is dropped (a closing transport still holds its socket)."""
        self._closing = True
        self._cancel_timer()
        if not self._transport.is_closing():  # asyncio's TLS transport fails on a second close()
            self._transport.close()
        if self._transport.get_write_buffer_size():
            self._timer = self._loop.call_later(self._options.close_timeout, self._tick)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
