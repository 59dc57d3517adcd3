"""The hand-off to wsproto's frame layer. Needs wsproto (``pip install wsnegotiate[serve]``).

    accepted = negotiator.accept()
    frames = wsnegotiate.wsproto.connection(accepted)   # or a client's Connected event

The ``Connection`` is fed the handshake's trailing data and compresses exactly
as the handshake agreed (RFC 7692): wsproto is handed the agreed parameters and
never negotiates itself. This side's compressor uses the window and zlib memory
level of ``DeflateParams`` (12 bits and level 5 by default), so a connection
holds about 51 KiB of zlib state instead of the 303 KiB of wsproto's defaults
(``benchmarks/deflate_memory.py``).

A received message is bounded: ``max_message_size`` bytes (1 MiB by default),
counted after inflation and across its fragments. Compressed frames are inflated
with zlib's ``max_length``, never more than one byte past the limit, so a few KiB
of deflate cannot become a GiB in memory; a message that would pass the limit
fails the connection with 1009 (RFC 6455 §7.4.1), reported by ``events()`` as
any frame wsproto cannot parse is: a ``CloseConnection`` that ``required_reply``
answers.
"""

from __future__ import annotations

import zlib
from collections.abc import Generator

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import CloseConnection, Event, Ping
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import (
    CloseReason,
    FrameDecoder,
    FrameProtocol,
    Opcode,
    ParseFailed,
    RsvBits,
)

from ._close import encode_close_payload
from ._deflate import DeflateParams
from ._errors import LocalProtocolError
from ._events import Accepted, Connected

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "connection", "deflate_extension", "required_reply"]

#: ``connection()``'s default limit on a received message: 1 MiB, after inflation.
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024


class _MessageSize(Extension):
    """Counts the bytes of the message being received, after inflation and across
    its fragments, and fails it the moment it passes ``limit``: 1009, "a message
    that is too big for it to process" (RFC 6455 §7.4.1). Not an extension on the
    wire: it is never offered, and takes no reserved bit."""

    name = "wsnegotiate-max-message-size"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0  # of the message being received
        self.data = False  # is the frame being received a data frame?

    def enabled(self) -> bool:
        return True

    def offer(self) -> bool:
        return False

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        # Control frames may come between a message's fragments (RFC 6455 §5.4):
        # they are not part of it.
        self.data = not opcode.iscontrol()
        if opcode is not Opcode.CONTINUATION and self.data:
            self.size = 0  # a new message
        return RsvBits(False, False, False)

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if self.data:
            self.count(len(data))
        return data

    def count(self, size: int) -> None:
        self.size += size
        if self.size > self.limit:
            # wsproto reports ParseFailed as a CloseConnection with this code.
            raise ParseFailed(
                f"message larger than {self.limit} bytes", CloseReason.MESSAGE_TOO_BIG
            )


class _AgreedDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate, with this side's compressor built at the
    agreed window and memory level (wsproto builds it lazily, with zlib's
    defaults, whenever it has none: after each message under no context
    takeover too); and, given a limit, the messages it receives bounded: it
    inflates at most one byte past what the limit leaves of the message."""

    def __init__(self, params: DeflateParams, client: bool, limit: int | None = None) -> None:
        # wsproto compresses within its own side's *_max_window_bits and inflates
        # with the peer's: this side's chosen window, and the peer's as agreed
        # (at least 9 bits, wsproto's floor; inflating with a larger window
        # than the sender's is always safe).
        own = params.window_bits
        if client:
            client_bits, server_bits = own, max(9, params.server_window)
        else:
            client_bits, server_bits = max(9, params.client_window), own
        super().__init__(
            client_no_context_takeover=params.client_no_context_takeover,
            client_max_window_bits=client_bits,
            server_no_context_takeover=params.server_no_context_takeover,
            server_max_window_bits=server_bits,
        )
        self._enabled = True  # agreed by the handshake, not by wsproto's finalize()
        self._memory_level = params.memory_level
        self._own_window = own
        self._size = None if limit is None else _MessageSize(limit)
        self._control = False  # is the frame being received a control frame?

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        if self._size is not None:
            self._size.frame_inbound_header(proto, opcode, rsv, payload_length)
        # A control frame may come between a message's fragments (RFC 6455 §5.4) and is
        # never compressed (RFC 7692 §6.1). wsproto's own bookkeeping ends the message
        # being inflated at the control frame, and then reads the next fragment as
        # uncompressed (a 1007): leave the message's state alone for a control frame.
        self._control = opcode.iscontrol()
        if self._control:
            return CloseReason.PROTOCOL_ERROR if rsv.rsv1 else RsvBits(True, False, False)
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if self._control:
            return data
        size = self._size
        if size is None:
            return super().frame_inbound_payload_data(proto, data)
        if self._inbound_compressed and self._inbound_is_compressible:
            assert self._decompressor is not None
            try:
                # zlib's max_length: one byte past what is left is enough to know the
                # message is too big; the input not inflated stays in unconsumed_tail.
                data = self._decompressor.decompress(data, size.limit - size.size + 1)
            except zlib.error:
                return CloseReason.INVALID_FRAME_PAYLOAD_DATA  # 1007, as wsproto does
        size.count(len(data))
        return data

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        # At the end of a message, wsproto inflates the 4 bytes the sender left out
        # (RFC 7692 §7.2.2): a few KiB at the very most, counted too.
        if self._control:
            return None
        result = super().frame_inbound_complete(proto, fin)
        if self._size is not None and isinstance(result, bytes):
            self._size.count(len(result))
        return result

    def frame_outbound(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        data: bytes,
        fin: bool,
    ) -> tuple[RsvBits, bytes]:
        if self._compressor is None and opcode in (Opcode.TEXT, Opcode.BINARY):
            self._compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -self._own_window, self._memory_level
            )
        return super().frame_outbound(proto, opcode, rsv, data, fin)


class _Connection(Connection):
    """wsproto's ``Connection`` with two guards: a Close it sends carries a code an
    endpoint may send (RFC 6455 §7.4), and once wsproto has failed the connection
    (bytes it could not parse, a message over the limit) the peer's bytes are
    dropped instead of buffered: nothing more from the peer is processed, its
    Close included (§7.1.7)."""

    _failed = False

    def send(self, event: Event) -> bytes:
        if isinstance(event, CloseConnection):
            if event.code == CloseReason.NO_STATUS_RCVD:
                # 1005 stands for "no status code" (§7.1.5): the empty payload, which
                # has no room for a reason (§5.5.1). wsproto would send a plain 1005
                # as 1000.
                encode_close_payload(None, event.reason or "")
                event = CloseConnection(code=CloseReason.NO_STATUS_RCVD)
            else:
                encode_close_payload(event.code)  # LocalProtocolError for 999, 1006, 5000...
        return super().send(event)

    def receive_data(self, data: bytes | None) -> None:
        if self._failed and data is not None:
            return
        super().receive_data(data)

    def events(self) -> Generator[Event, None, None]:
        for event in super().events():
            # The peer's Close moves the state on; wsproto's own failure does not.
            if isinstance(event, CloseConnection) and self.state in _FAILED_IN:
                self._failed = True
            yield event


_FAILED_IN = (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING)


def deflate_extension(
    params: DeflateParams, *, client: bool, max_message_size: int | None = None
) -> PerMessageDeflate:
    """A wsproto ``PerMessageDeflate`` enabled with exactly these parameters; with
    ``max_message_size``, it fails a received message over that many bytes
    (after inflation) with 1009 and never inflates more than one byte past it."""
    return _AgreedDeflate(params, client, _checked_limit(max_message_size))


def connection(
    event: Accepted | Connected, *, max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
) -> Connection:
    """A wsproto ``Connection`` for an accepted (server) or connected (client)
    handshake: fed the trailing data, compressing as agreed.

    A received message larger than ``max_message_size`` bytes (1 MiB by default;
    after inflation, across its fragments, compressed or not) fails the
    connection: ``events()`` gives ``CloseConnection(1009)``, and nothing more
    from the peer is read. ``None`` sets no limit: a peer can then make this side
    inflate a message of any size. A Close sent with a code RFC 6455 §7.4 does not
    let an endpoint send (999, 1006, 5000...) raises ``LocalProtocolError``.
    """
    client = isinstance(event, Connected)
    return _frame_layer(event.deflate, client, event.trailing_data, max_message_size)


def _frame_layer(
    deflate: DeflateParams | None, client: bool, trailing_data: bytes, max_message_size: int | None
) -> Connection:
    """``connection()`` from the three things it reads of the handshake's event: for
    a caller that keeps them and not the event (``serve`` makes the frame layer
    when the first frame comes)."""
    limit = _checked_limit(max_message_size)
    extensions: list[Extension] = []
    if deflate is not None:
        extensions.append(_AgreedDeflate(deflate, client, limit))
    elif limit is not None:
        extensions.append(_MessageSize(limit))
    return _Connection(
        ConnectionType.CLIENT if client else ConnectionType.SERVER,
        extensions=extensions,
        trailing_data=trailing_data,
    )


def _checked_limit(limit: int | None) -> int | None:
    if limit is not None and limit < 0:
        raise LocalProtocolError(f"max_message_size is a number of bytes or None, not {limit}")
    return limit


def required_reply(connection: Connection, event: Event) -> Event | None:
    """What RFC 6455 requires in answer to ``event``: the Pong to a Ping (§5.5.2)
    while the connection is open; the Close to a Close the peer sent (§5.5.1), or
    to the Close wsproto reports for bytes it could not parse or a message over
    the limit (1002, 1007, 1009: "Fail the WebSocket Connection", §7.1.7);
    ``None`` otherwise. That includes a Ping after this side's Close (nothing but
    the Close may follow it, and wsproto refuses to send a Pong then) and the
    ``CloseConnection(1006)`` wsproto reports when TCP ended without a Close
    frame: nobody waits for an answer to it, and sending one raises. After
    answering a failure, nothing more from the peer is read: close TCP."""
    if isinstance(event, Ping):
        return event.response() if connection.state is ConnectionState.OPEN else None
    if isinstance(event, CloseConnection) and connection.state in _ANSWERS_A_CLOSE:
        return event.response()
    return None


# OPEN: wsproto failed to parse the peer's bytes; REMOTE_CLOSING: the peer's Close.
_ANSWERS_A_CLOSE = (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)
