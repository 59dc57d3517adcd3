"""One ``wsnegotiate serve`` connection on HTTP/2 (RFC 8441) as an ``asyncio.Protocol``:
``wsnegotiate.h2.ServerConnection`` fed from ``data_received``, and on each
extended CONNECT the policy accepts a WebSocket of its own, echoed over its own
wsproto frame layer (``_echo.echo``, as on HTTP/1.1). Needs h2 (the serve extra).

A connection comes here in one of two ways: TLS whose ALPN chose ``h2``
(``AlpnProtocol`` picks this protocol or ``EchoProtocol`` once the TLS handshake
is done), or a plain port whose first read starts as the preface (prior
knowledge, RFC 9113 §3.4: ``EchoProtocol`` hands it over with those bytes).

HTTP/1.1's limits, per stream where HTTP/1.1 has them per connection:

- The handshake deadline (``--handshake-timeout``): a connection with no open
  WebSocket must open one within it, from its start or from its last
  WebSocket's end; then it gets GOAWAY (NO_ERROR) and TCP closes. An HTTP/2
  request cannot be half-read by the decision (h2 hands over whole header
  blocks), so no stream waits for a 408; the deadline holds the connection to
  account instead (a preface or a header block sent slowly).
- Keepalive: a stream quiet for ``--ping-interval`` gets a Ping, and Close 1011
  after ``--ping-timeout`` more without a byte on it.
- ``--max-message-size``: the frame layer's bound, Close 1009 past it.
- Closing (``--close-timeout``): after a Close handshake, or a Close that fails
  the WebSocket (1002, 1007, 1009), this side ends the stream (END_STREAM, the
  TCP FIN of RFC 8441 §5); after our own Close (1001, 1011), the peer's Close is
  awaited first. A stream whose peer has not ended its side (or answered our
  Close) within the timeout is reset (RST_STREAM CANCEL, a TCP reset).
- Flow control: a peer that does not read TCP makes the transport pause
  writing, and reading pauses in turn, as on HTTP/1.1. A peer that reads TCP
  but does not open a stream's window lets that stream's echo wait in
  ``ServerConnection.pending()``; past twice the message size limit (at least
  128 KiB) the stream is reset (ENHANCE_YOUR_CALM, RFC 9113 §7).
- Work per connection: at most 100 streams open at once
  (SETTINGS_MAX_CONCURRENT_STREAMS, which ``ServerConnection`` sends; a peer
  that opens more breaks HTTP/2 and gets GOAWAY), each one WebSocket.

When the server stops, every open WebSocket gets Close 1001, a new CONNECT gets
a 503, and once the streams are done (or the server's grace is over) GOAWAY goes
out and TCP closes. Each extended CONNECT, accepted (200) or refused, is one line
of the access log, as ``HTTP/2``; so is any other request (a GET gets the 405
that says a WebSocket over HTTP/2 is an extended CONNECT).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import cast

import wsproto.events as frames
from h2.errors import ErrorCodes
from wsproto.connection import Connection, ConnectionState

from .._close import CloseCode
from .._detect import Detection
from .._events import NeedData
from .._policy import Policy
from ..h2 import (
    ConnectionFailed,
    GoAway,
    ServerConnection,
    StreamData,
    StreamEnded,
    StreamRejected,
    StreamRequest,
    StreamReset,
)
from ..wsproto import connection
from ._echo import _PING, EchoProtocol, ReadsAsItWrites, Served, ServeOptions, echo, log_handshake

__all__ = ["AlpnProtocol", "H2EchoProtocol"]

_OPEN = ConnectionState.OPEN
_MIN_PENDING = 64 * 1024  # half the least bound on a stream's waiting echo


class _WebSocket:
    """One accepted stream: its frame layer and its clock."""

    __slots__ = ("close_due", "ended", "frames", "heard", "ping_due", "remote_ended")

    def __init__(self, layer: Connection, now: float) -> None:
        self.frames = layer
        self.heard = now  # loop time of the stream's last complete frame
        self.ping_due: float | None = None  # our Ping waits for an answer until then
        self.close_due: float | None = None  # closing: reset if not done by then
        self.ended = False  # END_STREAM sent
        self.remote_ended = False  # END_STREAM received


class H2EchoProtocol(ReadsAsItWrites):
    """One HTTP/2 connection: joins ``connections`` when made, leaves it and calls
    ``lost`` when TCP is gone."""

    __slots__ = (
        "_closing", "_connections", "_idle_since", "_loop", "_lost", "_options",
        "_pending_limit", "_server", "_stopping", "_streams", "_timer", "_transport",
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
        self._server = ServerConnection(policy)  # its SETTINGS: extended CONNECT on
        self._streams: dict[int, _WebSocket] = {}
        self._transport = cast(asyncio.Transport, None)  # set by connection_made
        self._timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0  # loop time since when no WebSocket is open
        self._stopping = False  # the server stops: 1001 sent, new CONNECTs get 503
        self._closing = False  # TCP is closing
        size = options.max_message_size
        self._pending_limit = None if size is None else 2 * max(size, _MIN_PENDING)

    # -- the asyncio protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self)
        self._flush()  # our SETTINGS
        self._idle_since = now = self._loop.time()
        self._schedule(now + self._options.handshake_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._streams.clear()
        self._connections.discard(self)
        self._lost()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        server = self._server
        server.receive_data(data)
        while not isinstance(event := server.next_event(), NeedData):
            if isinstance(event, StreamData):
                self._data(event.stream_id, event.data)
            elif isinstance(event, StreamRequest):
                self._request(event)
            elif isinstance(event, StreamRejected):
                rejected = event.rejected
                self._log(event.method, event.path, rejected.status, rejected.detection)
            elif isinstance(event, StreamEnded):
                self._remote_end(event.stream_id)
            elif isinstance(event, StreamReset):
                self._forget(event.stream_id)
            elif isinstance(event, (GoAway, ConnectionFailed)):
                # the peer is done, or broke HTTP/2 (our GOAWAY is queued): h2 reads
                # nothing more
                self._streams.clear()
                self._flush()
                self._close()
                return
        self._flush()

    def eof_received(self) -> bool | None:
        self._streams.clear()  # every stream is gone with TCP (RFC 8441 §5: a reset)
        self._server.receive_data(b"")
        return None  # the transport closes itself, after what was written

    # -- streams -------------------------------------------------------------------

    def _request(self, event: StreamRequest) -> None:
        stream_id, request = event.stream_id, event.request
        if self._stopping:
            rejected = self._server.reject(stream_id, 503, "server stopping")
            self._log("CONNECT", request.target, 503, rejected.detection)
            return
        accepted = self._server.accept(stream_id)  # the 200, as the policy chose
        self._log("CONNECT", request.target, 200, request.detection)
        now = self._loop.time()
        layer = connection(accepted, max_message_size=self._options.max_message_size)
        self._streams[stream_id] = websocket = _WebSocket(layer, now)
        if self._options.ping_interval:
            self._schedule(now + self._options.ping_interval)
        if accepted.trailing_data:
            self._echo(stream_id, websocket)

    def _data(self, stream_id: int, data: bytes) -> None:
        websocket = self._streams.get(stream_id)
        if websocket is None or websocket.ended:
            return  # answered and ended: nothing more is read (RFC 6455 §7.1.7)
        websocket.frames.receive_data(data)
        self._echo(stream_id, websocket)

    def _echo(self, stream_id: int, websocket: _WebSocket) -> None:
        out, done, alive = echo(websocket.frames)
        if alive:  # a complete frame: the peer is there (``echo``)
            websocket.heard = self._loop.time()
            websocket.ping_due = None
        if out:
            self._server.send(stream_id, out)
            limit = self._pending_limit
            if limit is not None and self._server.pending(stream_id) > limit:
                # the peer sends and does not open the window for the echo
                self._server.reset(stream_id, ErrorCodes.ENHANCE_YOUR_CALM)
                self._forget(stream_id)
                return
        if done:
            self._end(stream_id, websocket)

    def _end(self, stream_id: int, websocket: _WebSocket) -> None:
        """END_STREAM after what is sent: the TCP FIN of RFC 8441 §5."""
        self._server.end(stream_id)
        websocket.ended = True
        if websocket.remote_ended:
            self._forget(stream_id)
        else:  # the peer has close_timeout to end its side
            self._await_close(websocket)

    def _remote_end(self, stream_id: int) -> None:
        """The peer ended its side: as TCP ending on HTTP/1.1 (without a Close, a
        1006 with nothing to answer), this side ends too."""
        websocket = self._streams.get(stream_id)
        if websocket is None:
            return
        websocket.remote_ended = True
        if not websocket.ended:
            self._server.end(stream_id)
        self._forget(stream_id)

    def _send_close(self, stream_id: int, websocket: _WebSocket, code: int, reason: str) -> None:
        """Our Close; the peer's is awaited until the close timeout."""
        if websocket.frames.state is _OPEN:
            close = frames.CloseConnection(code=code, reason=reason)
            self._server.send(stream_id, websocket.frames.send(close))
        websocket.ping_due = None
        self._await_close(websocket)

    def _await_close(self, websocket: _WebSocket) -> None:
        websocket.close_due = due = self._loop.time() + self._options.close_timeout
        self._schedule(due)

    def _forget(self, stream_id: int) -> None:
        """The stream is done (or gone): once none is left, the connection idles
        towards its deadline, or, when the server stops, says GOAWAY."""
        if self._streams.pop(stream_id, None) is None or self._streams:
            return
        if self._stopping:
            self._goodbye()
        else:
            self._idle_since = now = self._loop.time()
            self._schedule(now + self._options.handshake_timeout)

    def _log(self, method: str, target: str, status: int, detection: Detection | None) -> None:
        if self._options.access_log:
            method_bytes, target_bytes = method.encode("latin-1"), target.encode("latin-1")
            log_handshake(self._transport, method_bytes, target_bytes, "HTTP/2", status, detection)

    # -- the clock -----------------------------------------------------------------

    def _schedule(self, when: float) -> None:
        """Make sure the timer fires by ``when``."""
        timer = self._timer
        if timer is None or timer.when() > when:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(when, self._tick)

    def _tick(self) -> None:
        """The connection's one timer: the idle deadline, and each stream's ping,
        ping timeout and close timeout, whichever comes first."""
        self._timer = None
        if self._closing:  # the peer does not read what is left to send
            self._transport.abort()
            return
        now, options = self._loop.time(), self._options
        if not self._streams:
            deadline = self._idle_since + options.handshake_timeout
            if now >= deadline:
                self._goodbye()
            else:
                self._schedule(deadline)
            return
        due = math.inf
        for stream_id, websocket in list(self._streams.items()):
            if websocket.close_due is not None:
                if now < websocket.close_due:
                    due = min(due, websocket.close_due)
                    continue
                self._server.reset(stream_id)  # CANCEL: it did not end in time
                self._forget(stream_id)
            elif not options.ping_interval:
                continue
            elif websocket.ping_due is not None:
                if now < websocket.ping_due:
                    due = min(due, websocket.ping_due)
                    continue
                code = CloseCode.CloseCodeBadOperation  # 1011
                self._send_close(stream_id, websocket, code, "ping timeout")
                due = min(due, websocket.close_due or due)
            elif now >= websocket.heard + options.ping_interval:
                self._server.send(stream_id, websocket.frames.send(_PING))
                websocket.ping_due = now + options.ping_timeout
                due = min(due, websocket.ping_due)
            else:
                due = min(due, websocket.heard + options.ping_interval)
        self._flush()
        if due < math.inf and not self._closing:
            self._schedule(due)

    # -- the server stops ----------------------------------------------------------

    def going_away(self) -> None:
        """The server stops: Close 1001 on every open WebSocket, GOAWAY once they
        are done (at once when there is none)."""
        self._stopping = True
        if not self._streams:
            self._goodbye()
            return
        for stream_id, websocket in list(self._streams.items()):
            if websocket.close_due is None:
                code = CloseCode.CloseCodeGoingAway  # 1001
                self._send_close(stream_id, websocket, code, "server stopping")
        self._flush()

    def abort(self) -> None:
        """Drop TCP now: the server stops, and the peer did not answer in time."""
        self._transport.abort()

    # -- helpers -------------------------------------------------------------------

    def _goodbye(self) -> None:
        """GOAWAY (RFC 9113 §6.8), then TCP closes."""
        self._server.close()
        self._flush()
        self._close()

    def _flush(self) -> None:
        out = self._server.data_to_send()
        if out and not self._transport.is_closing():
            self._transport.write(out)

    def _close(self) -> None:
        """Close TCP after what is written; a peer that does not read it within
        ``close_timeout`` is dropped."""
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


class AlpnProtocol(asyncio.Protocol):
    """A TLS connection, once its handshake is done: ALPN ``h2`` is HTTP/2
    (``H2EchoProtocol``); ``http/1.1``, or no ALPN at all, is ``EchoProtocol``.
    The chosen protocol takes this one's place on the transport."""

    __slots__ = ("_arguments",)

    def __init__(
        self,
        policy: Policy,
        options: ServeOptions,
        loop: asyncio.AbstractEventLoop,
        connections: set[Served],
        lost: Callable[[], None],
    ) -> None:
        self._arguments = (policy, options, loop, connections, lost)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tls = transport.get_extra_info("ssl_object")
        chosen = tls.selected_alpn_protocol() if tls is not None else None
        protocol: asyncio.Protocol
        if chosen == "h2":
            protocol = H2EchoProtocol(*self._arguments)
        else:
            protocol = EchoProtocol(*self._arguments)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
