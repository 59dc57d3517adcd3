"""The hand-off to wsproto's frame layer. Needs wsproto (``pip install wsnegotiate[serve]``).

    accepted = negotiator.accept()
    frames = wsnegotiate.wsproto.connection(accepted)   # or a client's Connected event

The ``Connection`` is fed the handshake's trailing data and compresses exactly
as the handshake agreed (RFC 7692): wsproto is handed the agreed parameters and
never negotiates itself. This side's compressor uses the window and zlib memory
level of ``DeflateParams`` (12 bits and level 5 by default), so a connection
holds about 51 KiB of zlib state instead of the 303 KiB of wsproto's defaults
(``benchmarks/deflate_memory.py``).
"""

from __future__ import annotations

import zlib

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import CloseConnection, Event, Ping
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import FrameDecoder, FrameProtocol, Opcode, RsvBits

from ._deflate import DeflateParams
from ._events import Accepted, Connected

__all__ = ["connection", "deflate_extension", "required_reply"]


class _AgreedDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate, with this side's compressor built at the
    agreed window and memory level (wsproto builds it lazily, with zlib's
    defaults, whenever it has none: after each message under no context
    takeover too)."""

    def __init__(self, params: DeflateParams, client: bool) -> None:
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


def deflate_extension(params: DeflateParams, *, client: bool) -> PerMessageDeflate:
    """A wsproto ``PerMessageDeflate`` enabled with exactly these parameters."""
    return _AgreedDeflate(params, client)


def connection(event: Accepted | Connected) -> Connection:
    """A wsproto ``Connection`` for an accepted (server) or connected (client)
    handshake: fed the trailing data, compressing as agreed."""
    client = isinstance(event, Connected)
    extensions: list[Extension] = []
    if event.deflate is not None:
        extensions.append(deflate_extension(event.deflate, client=client))
    return Connection(
        ConnectionType.CLIENT if client else ConnectionType.SERVER,
        extensions=extensions,
        trailing_data=event.trailing_data,
    )


def required_reply(connection: Connection, event: Event) -> Event | None:
    """What RFC 6455 requires in answer to ``event``: the Pong to a Ping (§5.5.2);
    the Close to a Close the peer sent (§5.5.1), or to the Close wsproto reports
    for bytes it could not parse (1002, 1007: "Fail the WebSocket Connection",
    §7.1.7); ``None`` otherwise. That includes the ``CloseConnection(1006)``
    wsproto reports when TCP ended without a Close frame: nobody waits for an
    answer to it, and sending one raises."""
    if isinstance(event, Ping):
        return event.response()
    if isinstance(event, CloseConnection) and connection.state in _ANSWERS_A_CLOSE:
        return event.response()
    return None


# OPEN: wsproto failed to parse the peer's bytes; REMOTE_CLOSING: the peer's Close.
_ANSWERS_A_CLOSE = (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)
