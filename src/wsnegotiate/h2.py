"""WebSockets over HTTP/2 (RFC 8441), sans-IO, on python-hyper's h2. Needs h2
(``pip install wsnegotiate[h2]``).

    server = wsnegotiate.h2.ServerConnection(policy)   # sends its SETTINGS
    sock.sendall(server.data_to_send())
    server.receive_data(sock.recv(65536))
    while not isinstance(event := server.next_event(), wsnegotiate.NeedData):
        if isinstance(event, wsnegotiate.h2.StreamRequest):
            accepted = server.accept(event.stream_id)          # the 200
            frames = wsnegotiate.wsproto.connection(accepted)  # the stream's frame layer
        elif isinstance(event, wsnegotiate.h2.StreamData):
            frames.receive_data(event.data)
            ...                                # frames out: server.send(stream_id, bytes)
    sock.sendall(server.data_to_send())

Theory of operation
-------------------
One object per HTTP/2 connection; it owns h2's ``H2Connection``. Bytes go in with
``receive_data()`` (``b""`` is end of file), events come out of ``next_event()``
(``NeedData`` when there are none), and ``data_to_send()`` gives the bytes to write.
Each WebSocket is a stream (RFC 8441 §5): its request is decided by
``decide_connect()``, the same decision as an HTTP/1.1 upgrade; once it is
answered with a 200, the stream's DATA is the frame layer's byte stream both
ways, END_STREAM stands in for a TCP FIN and RST_STREAM for a TCP reset.

- The server sends ``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`` only when it serves
  WebSockets (``websockets=True``, the default; RFC 8441 §3), and never takes it
  back. An extended CONNECT that the decision accepts is a ``StreamRequest``
  for the caller's ``accept()`` or ``reject()``; one it refuses is answered at
  once (status, fields and a one-line reason, then RST_STREAM NO_ERROR, RFC 9113
  §8.1) and reported as ``StreamRejected``; so is any other request, unless
  the connection was made with ``other_requests=True``: then it is an
  ``OtherRequest`` for ``respond()`` or ``reject()``.
- The client waits for the server's SETTINGS (``ServerSettings``) and opens
  WebSockets with ``connect()`` only when the server sent the setting;
  otherwise the WebSocket must go over HTTP/1.1, on a new connection. A 200 is
  success without any Accept (RFC 8441 §5); its subprotocol and extensions are
  checked as on HTTP/1.1; a refusal is ``StreamRefused``, and ``retry()`` opens
  the next version on a new stream of the same connection (RFC 6455 §4.4).
- For conformance tests, a client made with ``check_headers=False`` sends any
  header block with ``send_request()`` (h2 checks nothing it sends or reads,
  RFC 9113 §8.2-8.3) and hands each answer's header block over as it came
  (``StreamAnswer``); the stream's DATA then comes as ``StreamData``.
- Flow control: received DATA is acknowledged as it is handed over (a stream
  that waits for a decision keeps its DATA unacknowledged, so a peer can send
  at most one window before it); bytes to send wait in ``pending()`` until the
  peer's window allows them.
- Faults: a peer that breaks HTTP/2 (bytes that are not frames, a header block
  that breaks RFC 9113 §8.2-8.3 as h2 checks it) gets GOAWAY with the error
  code, reported as ``ConnectionFailed``; no h2 exception leaves this module
  for a peer's fault. After a GOAWAY, sent or received, h2 reads nothing more
  (its connection is closed), and so nothing more is read here: ``close()`` the
  connection once its streams are done. Your own mistakes (a stream that is not
  waiting for a decision, a bad value) raise ``LocalProtocolError``.
"""

from __future__ import annotations

import contextlib
import enum
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes

from ._answers import TEXT_PLAIN, rejection_body
from ._client import ClientNegotiator, ClientState, _raw
from ._connect import decide_connect, local_settings, split_header_block
from ._deflate import DeflateOptions
from ._errors import Fault, InvalidResponse, LocalProtocolError
from ._events import Accepted, Connected, NeedData, Refused, Rejected, Request
from ._headers import field_lines, parse_advertised, quote_for_reason
from ._policy import BY_POLICY, DEFAULT_POLICY, Policy, PolicyChoice
from ._server import _OWN_FIELDS, _checked_headers, check_reason, settle_choices
from ._version import Version

__all__ = [
    "PREFACE",
    "ClientConnection",
    "ConnectionEnded",
    "ConnectionFailed",
    "GoAway",
    "OtherRequest",
    "ServerConnection",
    "ServerSettings",
    "StreamAnswer",
    "StreamConnected",
    "StreamData",
    "StreamEnded",
    "StreamFailed",
    "StreamRefused",
    "StreamRejected",
    "StreamRequest",
    "StreamReset",
    "connect_block",
]

# -- events ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """A WebSocket's extended CONNECT that the policy accepts: call ``accept()``
    or ``reject()`` with its ``stream_id``. ``request.http_version`` is ``"2"``."""

    stream_id: int
    request: Request


@dataclass(frozen=True, slots=True)
class StreamRejected:
    """A request the decision refused by itself; the refusal is already on its way.
    ``method`` and ``path`` are the request's (empty when it had none)."""

    stream_id: int
    rejected: Rejected
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class OtherRequest:
    """A request that is not a CONNECT (a page, a health check), on a server made
    with ``other_requests=True``: answer it with ``respond()`` or ``reject()``.
    ``headers`` are the fields other than the pseudo-header fields."""

    stream_id: int
    method: str
    scheme: str
    path: str
    authority: str
    headers: tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class StreamData:
    """Bytes of an open WebSocket stream, for its frame layer (already
    acknowledged to the peer's flow control)."""

    stream_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamEnded:
    """The peer ended its side of the stream (END_STREAM: a TCP FIN, RFC 8441 §5).
    The frame layer hears of it as end of file; ``end()`` ends this side."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class StreamReset:
    """The stream was reset (RST_STREAM: a TCP reset, RFC 8441 §5), by the peer
    or by h2 for the peer's fault on that stream; ``error_code`` is the HTTP/2
    error code (RFC 9113 §7). Nothing more is sent or read on it."""

    stream_id: int
    error_code: int


@dataclass(frozen=True, slots=True)
class GoAway:
    """The peer sent GOAWAY (RFC 9113 §6.8): the connection is over, and h2 reads
    nothing after it. ``last_stream_id`` is the last stream the peer processed."""

    error_code: int
    last_stream_id: int
    debug: bytes


@dataclass(frozen=True, slots=True)
class ConnectionFailed:
    """The peer broke HTTP/2 (bytes that are not HTTP/2 frames after the preface,
    a header block h2 refuses, a flow-control violation): a GOAWAY with
    ``error_code`` (RFC 9113 §7) is in ``data_to_send()``; send it and close.
    ``reason`` is h2's account of the fault."""

    reason: str
    error_code: int


@dataclass(frozen=True, slots=True)
class ConnectionEnded:
    """``receive_data(b"")``: the peer closed the transport. Every stream is gone."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The client side: the server's SETTINGS arrived (first, and again whenever
    the parameter changes). ``extended_connect`` is whether it sent
    ``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`` (RFC 8441 §3): only then may
    ``connect()`` open a WebSocket; otherwise open it over HTTP/1.1, on a new
    connection (ALPN ``http/1.1`` only)."""

    extended_connect: bool


@dataclass(frozen=True, slots=True)
class StreamConnected:
    """The server answered a WebSocket's CONNECT with a 200 that checked out:
    ``connected.http_version`` is ``"2"``, ``connected.status`` 200; the stream's
    DATA now carries the frame layer (``wsnegotiate.wsproto.connection(connected)``)."""

    stream_id: int
    connected: Connected


@dataclass(frozen=True, slots=True)
class StreamRefused:
    """The server answered with a status other than 200. ``refused.advertised``
    are the versions it listed; ``retry(stream_id)`` tries the next one on a new
    stream. HTTP/2 has no reason phrase: ``refused.reason`` is empty, and the
    server's reason is in ``refused.body``."""

    stream_id: int
    refused: Refused


@dataclass(frozen=True, slots=True)
class StreamAnswer:
    """An answer's header block on a stream opened by ``send_request()``, as it
    came: ``:status`` and every field, in order, names and values as bytes. An
    interim answer (1xx) may come before the final one; after the final one the
    stream's DATA comes as ``StreamData``, and ``send()`` writes on it."""

    stream_id: int
    headers: tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """A 200 the client must not accept (a subprotocol or an extension it did not
    offer, RFC 6455 §4.1): the stream was reset with CANCEL."""

    stream_id: int
    error: InvalidResponse


ServerEvent = (
    NeedData
    | StreamRequest
    | StreamRejected
    | OtherRequest
    | StreamData
    | StreamEnded
    | StreamReset
    | GoAway
    | ConnectionFailed
    | ConnectionEnded
)
ClientEvent = (
    NeedData
    | ServerSettings
    | StreamConnected
    | StreamRefused
    | StreamFailed
    | StreamAnswer
    | StreamData
    | StreamEnded
    | StreamReset
    | GoAway
    | ConnectionFailed
    | ConnectionEnded
)
_Event = ServerEvent | ClientEvent

_NEED_DATA = NeedData()
# RFC 9113 §8.2.2: fields that are connection-specific, never sent on HTTP/2.
_CONNECTION_SPECIFIC = frozenset(
    {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade"}
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _Phase(enum.Enum):
    """Where one stream is."""

    DECIDING = "deciding"  # server: a StreamRequest was returned, no answer yet
    ANSWERING = "answering"  # server: an OtherRequest was returned, no answer yet
    AWAITING = "awaiting"  # client: the CONNECT is sent, no answer yet
    RAW = "raw"  # client: send_request()'s block is sent, no final answer yet
    REFUSING = "refusing"  # client: a refusal's body is coming
    OPEN = "open"  # a WebSocket: DATA carries its frames
    DONE = "done"  # answered with a refusal; its body may still be going out

    __hash__ = object.__hash__


class _Stream:
    """One stream's state on this side."""

    __slots__ = (
        "body",
        "end_pending",
        "headers",
        "local_ended",
        "negotiator",
        "outbound",
        "phase",
        "remote_ended",
        "request",
        "reset",
        "scheme",
        "status",
        "unacknowledged",
    )

    def __init__(self, phase: _Phase) -> None:
        self.phase = phase
        self.outbound = bytearray()  # waits for the peer's flow-control window
        self.end_pending = False  # END_STREAM once outbound is sent
        self.local_ended = False
        self.remote_ended = False
        self.reset = False  # by the peer, while the caller still decides
        self.body = bytearray()  # server: DATA before the 200; client: a refusal's body
        self.unacknowledged = 0  # server: flow-controlled bytes of ``body``
        self.request: Request | None = None
        self.negotiator: ClientNegotiator | None = None
        self.scheme = ""
        self.status = 0
        self.headers: tuple[tuple[str, str], ...] = ()


# h2's errors for a stream that the peer closed or reset while bytes for it were
# under way: the peer's bytes say so (a StreamReset event follows, or came before).
_GONE = (h2.exceptions.StreamClosedError, h2.exceptions.StreamIDTooLowError)

#: The client's connection preface (RFC 9113 §3.4): on a plain port, the bytes that
#: say HTTP/2 with prior knowledge, where an HTTP/1.1 request would start.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class _FrameLengths:
    """The length of each frame the peer sends, read from its header as it arrives:
    RFC 9113 §4.2 refuses a frame longer than SETTINGS_MAX_FRAME_SIZE, and h2
    checks only once the whole frame is in, holding up to 16 MiB until then."""

    __slots__ = ("_header", "_skip")

    def __init__(self, skip: int) -> None:
        self._skip = skip  # bytes of the preface or of the current frame's payload
        self._header = b""  # a frame header split across chunks

    def oversized(self, data: bytes, limit: int) -> tuple[int, int] | None:
        """Where the first frame longer than ``limit`` starts in ``data`` (0 when it
        started in an earlier chunk), and its length; ``None`` when there is none."""
        position, size = 0, len(data)
        while position < size:
            if self._skip:
                step = min(self._skip, size - position)
                self._skip -= step
                position += step
                continue
            start = position - len(self._header)
            needed = 9 - len(self._header)
            self._header += data[position : position + needed]
            position += needed
            if len(self._header) < 9:
                return None
            length = int.from_bytes(self._header[:3], "big")
            self._header = b""
            if length > limit:
                return max(start, 0), length
            self._skip = length
        return None


class _Side:
    """What both sides do: h2's bytes and events, flow control, ends and resets."""

    def __init__(
        self, client: bool, settings: dict[int, int], header_limit: int, *, check: bool = True
    ) -> None:
        config = h2.config.H2Configuration(
            client_side=client,
            header_encoding=None,
            validate_outbound_headers=check,
            normalize_outbound_headers=check,
            validate_inbound_headers=check,
            normalize_inbound_headers=check,
        )
        self._h2 = h2.connection.H2Connection(config)
        codes = h2.settings.SettingCodes
        initial = {codes.MAX_CONCURRENT_STREAMS: 100, codes.MAX_HEADER_LIST_SIZE: header_limit}
        initial.update((codes(code), value) for code, value in settings.items())
        if client:
            initial[codes.ENABLE_PUSH] = 0
        local = h2.settings.Settings(client=client, initial_values=initial)
        if codes.ENABLE_CONNECT_PROTOCOL not in initial:  # h2 would send it as 0: not at all
            del local[codes.ENABLE_CONNECT_PROTOCOL]
        self._h2.local_settings = local
        self._h2.decoder.max_header_list_size = max(header_limit, 64 * 1024)
        self._h2.initiate_connection()
        self._events: deque[_Event] = deque()
        self._streams: dict[int, _Stream] = {}
        self._over = False  # GOAWAY sent or received, a fault, or end of file
        self._frames = _FrameLengths(0 if client else len(PREFACE))

    # -- bytes in, events out ---------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed the transport.
        Once the connection is over (GOAWAY, a fault, end of file), bytes are
        discarded unread."""
        if self._over:
            return
        if not data:
            self._end()
            self._events.append(ConnectionEnded())
            return
        data = bytes(data)
        oversized = self._frames.oversized(data, self._h2.max_inbound_frame_size)
        if oversized is not None:  # the frames before it are read, then the connection fails
            start, length = oversized
            self._receive(data[:start])
            if not self._over:
                reason = (
                    f"frame of {length} bytes: more than SETTINGS_MAX_FRAME_SIZE "
                    f"{self._h2.max_inbound_frame_size} (RFC 9113 §4.2)"
                )
                self._fail(reason, ErrorCodes.FRAME_SIZE_ERROR)
            return
        self._receive(data)

    def _receive(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            self._fail(str(error), int(error.error_code))
            return
        for event in events:
            self._handle(event)

    def _fail(self, reason: str, error_code: int) -> None:
        """The peer broke HTTP/2: GOAWAY (h2 queues its own for most faults; not for
        a preface that is not one, RFC 9113 §3.4) and nothing more is read."""
        if self._h2.state_machine.state is not h2.connection.ConnectionState.CLOSED:
            self._h2.close_connection(error_code)
        self._end()
        self._events.append(ConnectionFailed(reason, error_code))

    def _end(self) -> None:
        """The connection is over: nothing more is read or sent. Only the requests
        that await the caller's answer are kept, so that it can still answer (the
        answer goes nowhere)."""
        self._over = True
        awaiting = (_Phase.DECIDING, _Phase.ANSWERING)
        self._streams = {i: s for i, s in self._streams.items() if s.phase in awaiting}

    def _next_event(self) -> _Event:
        if not self._events:
            return _NEED_DATA
        event = self._events.popleft()
        if isinstance(event, StreamReset):  # the caller knows now: a reset stream that
            stream = self._streams.get(event.stream_id)  # awaited an answer is gone
            if stream is not None and stream.reset:
                del self._streams[event.stream_id]
        return event

    def data_to_send(self) -> bytes:
        """The bytes to write to the peer (``b""`` when there are none)."""
        return self._h2.data_to_send()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            self._on_data(event.stream_id, event.data, event.flow_controlled_length)
        elif isinstance(event, h2.events.StreamEnded):
            self._on_end(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self._on_reset(event.stream_id, int(event.error_code))
        elif isinstance(event, h2.events.WindowUpdated):
            self._flush_all() if event.stream_id == 0 else self._flush(event.stream_id)
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self._on_settings(event)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._end()
            code = int(event.error_code or 0)
            last = event.last_stream_id or 0
            self._events.append(GoAway(code, last, event.additional_data or b""))
        else:
            self._on_other(event)

    def _on_other(self, event: h2.events.Event) -> None:
        """Requests, responses; pings, priorities and the like are h2's alone."""

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        self._flush_all()  # a new initial window size moves every stream's window

    def _on_data(self, stream_id: int, data: bytes, length: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and stream.phase is _Phase.OPEN:
            self._acknowledge(stream_id, length)
            if data:
                self._events.append(StreamData(stream_id, data))
        elif stream is not None and stream.phase is _Phase.DECIDING:
            stream.body += data  # the frame layer's first bytes, handed over by accept()
            stream.unacknowledged += length
        else:  # a stream answered, refused or unknown: nothing reads it
            self._acknowledge(stream_id, length)

    def _on_end(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.remote_ended = True
        if stream.phase is _Phase.OPEN:
            self._events.append(StreamEnded(stream_id))
        self._forget_if_closed(stream_id, stream)

    def _on_reset(self, stream_id: int, code: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if stream.phase in (_Phase.DECIDING, _Phase.ANSWERING):
            # kept until the caller answers or reads the StreamReset: it may answer
            # first (the answer then goes nowhere)
            stream.reset = True
        else:
            del self._streams[stream_id]
        if stream.phase is not _Phase.DONE:
            self._events.append(StreamReset(stream_id, code))

    def _acknowledge(self, stream_id: int, length: int) -> None:
        if length and not self._over:
            try:
                self._h2.acknowledge_received_data(length, stream_id)
            except _GONE:  # the connection's window is given back all the same
                self._h2.acknowledge_received_data(length, 0)

    # -- bytes out ----------------------------------------------------------------

    def send(self, stream_id: int, data: bytes | bytearray | memoryview) -> None:
        """Send bytes of the frame layer on an open WebSocket stream. They wait in
        ``pending()`` while the peer's flow-control window is closed. Bytes for a
        stream that is reset or for a connection that is over are dropped (the
        ``StreamReset``, ``GoAway`` or ``ConnectionFailed`` event says why)."""
        stream = self._open_stream(stream_id, "send()")
        if stream is None or not data:
            return
        if stream.end_pending or stream.local_ended:
            raise LocalProtocolError(f"send() after end() on stream {stream_id}")
        stream.outbound += data
        self._flush(stream_id)

    def end(self, stream_id: int) -> None:
        """End this side of an open WebSocket stream (END_STREAM, a TCP FIN: RFC
        8441 §5) once the bytes before it are sent: after the Close frames."""
        stream = self._open_stream(stream_id, "end()")
        if stream is not None and not (stream.end_pending or stream.local_ended):
            stream.end_pending = True
            self._flush(stream_id)

    def reset(self, stream_id: int, error_code: int = ErrorCodes.CANCEL) -> None:
        """Reset an open WebSocket stream (RST_STREAM, a TCP reset: RFC 8441 §5);
        CANCEL by default. Bytes still pending on it are dropped."""
        if self._open_stream(stream_id, "reset()") is not None:
            del self._streams[stream_id]
            self._reset(stream_id, error_code)

    def pending(self, stream_id: int) -> int:
        """How many bytes of a stream wait for the peer's flow-control window."""
        stream = self._streams.get(stream_id)
        return len(stream.outbound) if stream is not None else 0

    def close(self, error_code: int = ErrorCodes.NO_ERROR, debug: bytes = b"") -> None:
        """Send GOAWAY (RFC 9113 §6.8) and end the connection: h2 sends and reads
        nothing after it, so close once the streams are done (their Close frames
        sent, ``end()`` called and flushed). Calling it again does nothing."""
        if self._over:
            return
        self._end()
        self._h2.close_connection(error_code, debug or None)

    def _open_stream(self, stream_id: int, call: str) -> _Stream | None:
        """An open WebSocket stream; ``None`` for one that was and is gone (reset,
        closed, or the connection over); else the caller's mistake."""
        stream = self._streams.get(stream_id)
        if stream is None:
            h2c = self._h2
            if self._over or 0 < stream_id <= max(
                h2c.highest_inbound_stream_id, h2c.highest_outbound_stream_id
            ):
                return None
            raise LocalProtocolError(f"{call} on stream {stream_id}, which was never opened")
        if stream.phase is not _Phase.OPEN:
            raise LocalProtocolError(
                f"{call} on stream {stream_id}, which is not an open WebSocket"
            )
        return stream

    def _flush_all(self) -> None:
        for stream_id in list(self._streams):
            self._flush(stream_id)

    def _flush(self, stream_id: int) -> None:
        """Send what the peer's window allows; END_STREAM after the last byte."""
        stream = self._streams.get(stream_id)
        if stream is None or self._over or stream.reset:
            return
        try:
            self._send_what_fits(stream_id, stream)
        except _GONE:  # reset in the bytes being read: its StreamReset event comes next
            stream.outbound.clear()
            stream.end_pending = False

    def _send_what_fits(self, stream_id: int, stream: _Stream) -> None:
        h2c = self._h2
        while stream.outbound:
            size = min(h2c.local_flow_control_window(stream_id), h2c.max_outbound_frame_size)
            if size <= 0:
                return
            chunk = bytes(stream.outbound[:size])
            del stream.outbound[:size]
            h2c.send_data(stream_id, chunk)
        if stream.end_pending:
            stream.end_pending = False
            stream.local_ended = True
            h2c.end_stream(stream_id)
            if stream.phase is _Phase.DONE and not stream.remote_ended:
                # RFC 9113 §8.1: a complete response may be followed by RST_STREAM
                # NO_ERROR, so that the client stops sending on a stream nobody reads.
                self._reset(stream_id, ErrorCodes.NO_ERROR)
                stream.remote_ended = True
            self._forget_if_closed(stream_id, stream)

    def _forget_if_closed(self, stream_id: int, stream: _Stream) -> None:
        if stream.local_ended and stream.remote_ended:
            self._streams.pop(stream_id, None)

    def _send_headers(self, stream_id: int, block: list[tuple[bytes, bytes]]) -> bool:
        """HEADERS on a stream; ``False`` when the peer closed it meanwhile (its reset
        came in the same bytes as its request: the StreamReset event follows)."""
        try:
            self._h2.send_headers(stream_id, block)
        except _GONE:
            return False
        return True

    def _reset(self, stream_id: int, error_code: int) -> None:
        with contextlib.suppress(*_GONE):  # closed already
            self._h2.reset_stream(stream_id, error_code)

    def _answer(
        self,
        stream_id: int,
        stream: _Stream,
        status: int,
        headers: Iterable[tuple[str, str]],
        body: bytes,
    ) -> None:
        """A complete response on a stream: HEADERS, then the body as DATA."""
        block = [(b":status", str(status).encode("ascii"))]
        block += [
            (name.lower().encode("ascii"), value.encode("latin-1")) for name, value in headers
        ]
        stream.phase = _Phase.DONE
        if stream.reset or self._over or not self._send_headers(stream_id, block):
            self._streams.pop(stream_id, None)
            return
        stream.outbound += body
        stream.end_pending = True
        self._flush(stream_id)


# -- the server ---------------------------------------------------------------------


class ServerConnection(_Side):
    """The server side of one HTTP/2 connection (the client's preface is the first
    thing ``receive_data()`` expects; the server's SETTINGS are in
    ``data_to_send()`` from the start).

    ``policy`` decides every WebSocket, as on HTTP/1.1. ``websockets=False``: this
    connection serves none, never advertises ``SETTINGS_ENABLE_CONNECT_PROTOCOL``
    and refuses every CONNECT with ``:protocol`` (RFC 8441 §3).
    ``other_requests=True``: requests that are not a CONNECT come out as
    ``OtherRequest`` events; otherwise they are refused with a 405 naming the rule.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        websockets: bool = True,
        other_requests: bool = False,
    ) -> None:
        self._policy = policy if policy is not None else DEFAULT_POLICY
        self._websockets = websockets
        self._other_requests = other_requests
        super().__init__(False, local_settings(websockets), self._policy.max_request_bytes)

    @property
    def policy(self) -> Policy:
        """The policy this connection decides WebSockets by."""
        return self._policy

    @property
    def serves_websockets(self) -> bool:
        """Whether this connection sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1."""
        return self._websockets

    def next_event(self) -> ServerEvent:
        """The next event (see the module comment), or ``NeedData``."""
        return cast(ServerEvent, self._next_event())

    def _on_other(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._on_request(event.stream_id, event.headers or [])

    def _on_request(self, stream_id: int, block: Sequence[tuple[bytes, bytes]]) -> None:
        split = split_header_block(block, self._policy)
        if isinstance(split, Rejected):  # over a limit: the pseudo-header fields too
            pseudo = {name: value for name, value in block if name[:1] == b":"}
            self._refuse(stream_id, split, pseudo)
            return
        pseudo, fields = split
        method = pseudo.get(b":method", b"")
        if self._other_requests and method != b"CONNECT":
            self._streams[stream_id] = _Stream(_Phase.ANSWERING)
            text = {name.decode(): value.decode("latin-1") for name, value in pseudo.items()}
            self._events.append(
                OtherRequest(
                    stream_id,
                    text.get(":method", ""),
                    text.get(":scheme", ""),
                    text.get(":path", ""),
                    text.get(":authority", ""),
                    fields,
                )
            )
            return
        decided = decide_connect(
            method,
            pseudo.get(b":protocol"),
            pseudo.get(b":scheme"),
            pseudo.get(b":path"),
            pseudo.get(b":authority"),
            fields,
            self._policy,
            enabled=self._websockets,
        )
        if isinstance(decided, Rejected):
            self._refuse(stream_id, decided, pseudo)
            return
        stream = self._streams[stream_id] = _Stream(_Phase.DECIDING)
        stream.request = decided
        self._events.append(StreamRequest(stream_id, decided))

    def _refuse(self, stream_id: int, rejected: Rejected, pseudo: dict[bytes, bytes]) -> None:
        stream = self._streams[stream_id] = _Stream(_Phase.DONE)
        self._answer(stream_id, stream, rejected.status, rejected.headers, rejected.body)
        method = pseudo.get(b":method", b"").decode("latin-1")
        path = pseudo.get(b":path", b"").decode("latin-1")
        self._events.append(StreamRejected(stream_id, rejected, method, path))

    def _deciding(self, stream_id: int, call: str, *phases: _Phase) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None or stream.phase not in phases:
            raise LocalProtocolError(f"{call} on stream {stream_id}, which awaits no answer")
        return stream

    # -- the caller's decision ----------------------------------------------------

    def accept(
        self,
        stream_id: int,
        subprotocol: str | PolicyChoice | None = BY_POLICY,
        extensions: Iterable[str] = (),
        extra_headers: Iterable[tuple[str, str]] = (),
        *,
        deflate: bool = True,
    ) -> Accepted:
        """Accept a ``StreamRequest``: the 200 (RFC 8441 §5) with the subprotocol and
        extensions chosen as ``ServerNegotiator.accept()`` chooses them (same
        arguments). ``Accepted.trailing_data`` is the stream's DATA so far. If the
        peer reset the stream meanwhile, nothing is sent (a ``StreamReset`` event
        says so)."""
        stream = self._deciding(stream_id, "accept()", _Phase.DECIDING)
        request = stream.request
        assert request is not None  # DECIDING always has one
        chosen, answers, agreed = settle_choices(
            request, self._policy, subprotocol, extensions, deflate
        )
        forbidden = _OWN_FIELDS | _CONNECTION_SPECIFIC
        extra = _checked_headers(extra_headers, forbidden=forbidden) if extra_headers else ()
        headers: list[tuple[str, str]] = []
        if chosen is not None:
            headers.append(("sec-websocket-protocol", chosen))
        if answers:
            headers.append(("sec-websocket-extensions", ", ".join(answers)))
        headers += ((name.lower(), value) for name, value in extra)
        trailing = bytes(stream.body)
        stream.body = bytearray()
        stream.phase = _Phase.OPEN
        block = [(b":status", b"200")]
        block += [(name.encode("ascii"), value.encode("latin-1")) for name, value in headers]
        if stream.reset or self._over or not self._send_headers(stream_id, block):
            self._streams.pop(stream_id, None)
        else:
            self._acknowledge(stream_id, stream.unacknowledged)
            if stream.remote_ended:  # the peer ended its side while the caller decided
                self._events.append(StreamEnded(stream_id))
        stream.unacknowledged = 0
        return Accepted(request, chosen, answers, tuple(headers), b"", trailing, agreed)

    def reject(
        self,
        stream_id: int,
        status: int = 403,
        reason: str = "Forbidden",
        headers: Iterable[tuple[str, str]] = (),
        *,
        body: bytes | None = None,
        content_type: str = TEXT_PLAIN,
    ) -> Rejected:
        """Refuse a ``StreamRequest`` (or answer an ``OtherRequest`` with an error),
        with the arguments of ``ServerNegotiator.reject()``: a 4xx, 5xx or a
        redirect with ``Location``, a one-line ``reason`` sent as the body unless
        ``body`` is given. The stream ends after it (RST_STREAM NO_ERROR once the
        body is out, RFC 9113 §8.1)."""
        stream = self._deciding(stream_id, "reject()", _Phase.DECIDING, _Phase.ANSWERING)
        if not (status in _REDIRECTS or 400 <= status <= 599):
            raise LocalProtocolError(
                f"a rejection's status is 4xx, 5xx or a redirect (301-308), not {status}"
            )
        check_reason(reason)
        forbidden = _CONNECTION_SPECIFIC | {"content-length", "content-type"}
        extra = _checked_headers(headers, forbidden=frozenset(forbidden))
        _checked_headers((("Content-Type", content_type),), forbidden=frozenset())
        if status in _REDIRECTS and not any(name.lower() == "location" for name, _ in extra):
            raise LocalProtocolError(f"a {status} redirect needs a Location header")
        payload = rejection_body(reason) if body is None else bytes(body)
        answer = (
            *((name.lower(), value) for name, value in extra),
            ("content-type", content_type),
            ("content-length", str(len(payload))),
        )
        self._answer(stream_id, stream, status, answer, payload)
        detection = stream.request.detection if stream.request is not None else None
        return Rejected(status, reason, answer, b"", None, detection, "2", payload)

    def respond(
        self,
        stream_id: int,
        status: int,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        """Answer an ``OtherRequest``: ``status`` 200-599 (HTTP/2 has no 101,
        RFC 9113 §8.6), ``headers`` (no connection-specific field, §8.2.2; the
        ``content-length`` is written here) and ``body``."""
        stream = self._deciding(stream_id, "respond()", _Phase.ANSWERING)
        if not 200 <= status <= 599:
            raise LocalProtocolError(f"an HTTP/2 response's status is 200-599, not {status}")
        forbidden = frozenset(_CONNECTION_SPECIFIC | {"content-length"})
        extra = _checked_headers(headers, forbidden=forbidden)
        answer = (*extra, ("content-length", str(len(body))))
        self._answer(stream_id, stream, status, answer, bytes(body))


# -- the client ---------------------------------------------------------------------

# RFC 8441 §5: no key (and no Accept); RFC 9113 §8.2.2: no connection-specific
# fields; :authority stands for Host (RFC 9113 §8.3.1).
_NOT_ON_HTTP2 = frozenset({b"host", b"upgrade", b"connection", b"sec-websocket-key"})
_HIXIE = (Version.Version0, Version.VersionUnknown)


def _no_key(size: int) -> bytes:
    """The random source of the negotiators that hold a stream's offer: HTTP/2
    sends no key, so nothing random is needed."""
    return bytes(size)


def connect_block(negotiator: ClientNegotiator, scheme: str) -> list[tuple[bytes, bytes]]:
    """The header block of the extended CONNECT (RFC 8441 §4-5) that carries
    ``negotiator``'s request over HTTP/2 to ``scheme``: what ``connect()`` sends,
    for a tool that edits it before ``send_request()``."""
    offer = negotiator._offer
    block = [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", scheme.encode("ascii")),
        (b":path", offer.target.encode("ascii")),
        (b":authority", offer.host.encode("ascii")),
    ]
    # The HTTP/1.1 request's fields, as ClientNegotiator writes them, less the
    # ones HTTP/2 has no place for; names in lower case (RFC 9113 §8.2.1).
    block += [
        (name.lower(), value)
        for name, value in negotiator._request_headers(negotiator.speaking)
        if name.lower() not in _NOT_ON_HTTP2
    ]
    return block


class ClientConnection(_Side):
    """The client side of one HTTP/2 connection: its preface and SETTINGS are in
    ``data_to_send()`` from the start. Wait for ``ServerSettings``, then open
    WebSockets with ``connect()``, several on one connection if you like.

    ``max_response_bytes`` bounds the body of a refusal that is kept.
    ``check_headers=False`` (for conformance tests only) turns off h2's checks of
    the header blocks sent and received (RFC 9113 §8.2-8.3): ``send_request()``
    then sends a malformed request as it is, and an answer that carries
    ``connection`` or ``upgrade`` (§8.2.2) is read instead of failing the
    connection."""

    def __init__(self, *, max_response_bytes: int = 64 * 1024, check_headers: bool = True) -> None:
        self._max_response_bytes = max_response_bytes
        self._extended_connect: bool | None = None
        # what retry() needs of a refused stream, until it is called
        self._refusals: dict[int, tuple[ClientNegotiator, str]] = {}
        super().__init__(True, {}, 64 * 1024, check=check_headers)

    @property
    def extended_connect(self) -> bool | None:
        """Whether the server sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1; ``None``
        until its SETTINGS arrive."""
        return self._extended_connect

    def next_event(self) -> ClientEvent:
        """The next event (see the module comment), or ``NeedData``."""
        return cast(ClientEvent, self._next_event())

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        super()._on_settings(event)
        # The value this SETTINGS frame gave, not h2's current one: a later frame in
        # the same bytes is applied already, and each change is said in its order.
        code = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
        changed = event.changed_settings.get(code)
        enabled = changed.new_value == 1 if changed is not None else bool(self._extended_connect)
        if enabled != self._extended_connect:
            self._extended_connect = enabled
            self._events.append(ServerSettings(enabled))

    def connect(
        self,
        authority: str,
        path: str = "/",
        version: Version | int | str = Version.Version13,
        *,
        scheme: str = "https",
        fallback: Iterable[Version | int] = (),
        origin: str | None = None,
        subprotocols: Iterable[str] = (),
        extensions: Iterable[str] = (),
        deflate: DeflateOptions | bool = False,
        headers: Iterable[tuple[str, str]] = (),
    ) -> int:
        """Open a WebSocket on a new stream: an extended CONNECT (RFC 8441 §4-5) to
        ``scheme://authority/path``, with the arguments of ``ClientNegotiator``
        (a raw ``version`` string for probing, ``""`` for no version field).
        Returns the stream id; the answer is ``StreamConnected``,
        ``StreamRefused`` or ``StreamFailed``. Raises ``LocalProtocolError``
        before the server's SETTINGS, or when the server did not send
        SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3: then use HTTP/1.1)."""
        if self._extended_connect is None:
            raise LocalProtocolError(
                "connect() before the server's SETTINGS: wait for ServerSettings"
            )
        if not self._extended_connect:
            raise LocalProtocolError(
                "the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3): "
                "open this WebSocket over HTTP/1.1"
            )
        fallback = tuple(fallback)
        if any(v in _HIXIE for v in (version, *fallback) if not isinstance(v, str)):
            raise LocalProtocolError("hixie-75 and hixie-76 have no HTTP/2 form (RFC 8441 §5)")
        if scheme not in ("http", "https"):
            raise LocalProtocolError(f"scheme {scheme!r}: http or https (RFC 8441 §5)")
        negotiator = ClientNegotiator(
            authority,
            path,
            version,
            fallback=fallback,
            origin=origin,
            subprotocols=subprotocols,
            extensions=extensions,
            deflate=deflate,
            headers=headers,
            random=_no_key,
        )
        return self._open(negotiator, scheme)

    def _open(self, negotiator: ClientNegotiator, scheme: str) -> int:
        stream_id = self._send_block(connect_block(negotiator, scheme), False)
        stream = self._streams[stream_id] = _Stream(_Phase.AWAITING)
        stream.negotiator = negotiator
        stream.scheme = scheme
        return stream_id

    def _send_block(self, block: list[tuple[bytes, bytes]], end_stream: bool) -> int:
        if self._over:
            raise LocalProtocolError("the connection is over (GOAWAY, a fault or end of file)")
        try:
            stream_id = self._h2.get_next_available_stream_id()
            self._h2.send_headers(stream_id, block, end_stream=end_stream)
        except h2.exceptions.ProtocolError as error:  # no stream id left, too many open
            raise LocalProtocolError(f"cannot open a stream: {error}") from None
        return stream_id

    def send_request(
        self, headers: Iterable[tuple[bytes, bytes]], *, end_stream: bool = False
    ) -> int:
        """Send ``headers`` (pseudo-header fields and fields, in order) as one header
        block on a new stream, as they are: on a connection made with
        ``check_headers=False``, nothing is checked, so a request can break RFC 9113
        §8.2-8.3 or RFC 8441 on purpose. Returns the stream id. Each answer comes as
        ``StreamAnswer``; the stream's DATA, its end and its reset as ``StreamData``,
        ``StreamEnded`` and ``StreamReset``."""
        stream_id = self._send_block(list(headers), end_stream)
        stream = self._streams[stream_id] = _Stream(_Phase.RAW)
        stream.local_ended = end_stream
        return stream_id

    def retry(self, stream_id: int) -> int:
        """After ``StreamRefused``: the next version the server advertised and the
        client is willing to speak, on a new stream of this connection (RFC 6455
        §4.4, as ``ClientNegotiator.retry()`` chooses it). Returns the new
        stream id; raises ``NoCommonVersion`` when none is left."""
        refused = self._refusals.pop(stream_id, None)
        if refused is None:
            raise LocalProtocolError(f"retry() on stream {stream_id}, which was not refused")
        negotiator, scheme = refused
        return self._open(negotiator.retry(), scheme)

    def _on_other(self, event: h2.events.Event) -> None:
        answer = (h2.events.ResponseReceived, h2.events.InformationalResponseReceived)
        if isinstance(event, answer):
            stream = self._streams.get(event.stream_id)
            if stream is not None and stream.phase is _Phase.RAW:
                block = tuple(event.headers or ())
                self._events.append(StreamAnswer(event.stream_id, block))
                if isinstance(event, h2.events.ResponseReceived):  # final: DATA follows
                    stream.phase = _Phase.OPEN
            elif isinstance(event, h2.events.ResponseReceived):
                self._on_response(event.stream_id, event.headers or [])

    def _on_response(self, stream_id: int, block: Iterable[tuple[bytes, bytes]]) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.phase is not _Phase.AWAITING:
            return
        status = b""
        lines: list[tuple[bytes, bytes]] = []
        for name, value in block:
            if name == b":status":
                status = value
            elif name[:1] != b":":
                lines.append((name, value))
        headers = tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in lines)
        if not (len(status) == 3 and status.isdigit()):  # RFC 9110 §15: three digits
            shown = quote_for_reason(status)
            reason = f":status: invalid value {shown}; expected three digits (RFC 9110 §15)"
            self._fail_stream(stream_id, reason, None, headers, ":status", Fault.MALFORMED)
            return
        stream.status, stream.headers = int(status), headers
        if stream.status != 200:  # RFC 8441 §5: a 200 opens the WebSocket; the rest refuse
            stream.phase = _Phase.REFUSING
            return
        negotiator = stream.negotiator
        assert negotiator is not None
        fields = field_lines(lines)
        try:  # RFC 6455 §4.1 steps 5 and 6, exactly as on HTTP/1.1
            subprotocol = negotiator._chosen_subprotocol(fields, headers)
            extensions, deflate = negotiator._accepted_extensions(fields, headers)
        except InvalidResponse as error:
            self._fail_stream(stream_id, error.reason, 200, headers, error.field, error.fault)
            return
        stream.phase = _Phase.OPEN
        connected = Connected(
            negotiator.version,
            _raw(negotiator.speaking),
            subprotocol,
            extensions,
            200,
            headers,
            b"",
            deflate,
            "2",
        )
        self._events.append(StreamConnected(stream_id, connected))

    def _fail_stream(
        self,
        stream_id: int,
        reason: str,
        status: int | None,
        headers: tuple[tuple[str, str], ...],
        field: str | None,
        fault: Fault | None,
    ) -> None:
        """An answer the client must not accept: the stream reset (CANCEL), and why."""
        del self._streams[stream_id]
        self._reset(stream_id, ErrorCodes.CANCEL)
        error = InvalidResponse(reason, status=status, headers=headers, field=field, fault=fault)
        self._events.append(StreamFailed(stream_id, error))

    def _on_data(self, stream_id: int, data: bytes, length: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.phase is not _Phase.REFUSING:
            super()._on_data(stream_id, data, length)
            return
        self._acknowledge(stream_id, length)
        stream.body += data
        if len(stream.body) >= self._max_response_bytes:
            self._refusal(stream_id, stream)

    def _on_end(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and stream.phase is _Phase.REFUSING:
            stream.remote_ended = True
            self._refusal(stream_id, stream)
            return
        super()._on_end(stream_id)

    def _refusal(self, stream_id: int, stream: _Stream) -> None:
        """A refusal complete (or as much of it as is kept): the event, and this
        side of the stream closed."""
        del self._streams[stream_id]
        if not self._over:  # this side of the CONNECT is still open: close it
            self._reset(stream_id, ErrorCodes.CANCEL)
        body = bytes(stream.body[: self._max_response_bytes])
        lines = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in stream.headers]
        advertised, ignored = parse_advertised(field_lines(lines).get(b"sec-websocket-version", []))
        refused = Refused(stream.status, "", stream.headers, body, advertised, ignored, "2")
        negotiator = stream.negotiator
        assert negotiator is not None
        negotiator.state, negotiator.refused = ClientState.REFUSED, refused  # for its retry()
        self._refusals[stream_id] = negotiator, stream.scheme
        self._events.append(StreamRefused(stream_id, refused))
