"""The one error hierarchy of wsnegotiate.

    ProtocolError                 abstract base: catch this to catch everything we raise
    ├── LocalProtocolError        you misused the API (wrong state, a bad value you supplied)
    ├── RemoteProtocolError       a client broke the handshake; carries the answer to send
    ├── InvalidResponse           a server's answer a client must not accept; names the field
    ├── NoCommonVersion           retry() found no version both sides speak
    └── InvalidClosePayload       a received Close payload breaks RFC 6455 §5.5.1/§7.4;
                                  carries the close code to answer with

A peer's mistake is data, not a crash: the server negotiator *returns* it inside a
``Rejected`` event together with the response bytes, and never logs it.
"""

from __future__ import annotations

import enum

__all__ = [
    "Fault",
    "InvalidClosePayload",
    "InvalidResponse",
    "LocalProtocolError",
    "NoCommonVersion",
    "ProtocolError",
    "RemoteProtocolError",
]


class Fault(enum.Enum):
    """What is wrong with the field a ``RemoteProtocolError`` names."""

    #: The field is required and absent.
    MISSING = "missing"
    #: The field is present with an empty value.
    EMPTY = "empty"
    #: The value breaks the field's grammar.
    INVALID = "invalid"
    #: The field may appear once and came on several field lines.
    REPEATED = "repeated"
    #: Well formed, but the server does not speak it (a protocol version).
    UNSUPPORTED = "unsupported"
    #: Well formed, but refused by policy (an origin).
    FORBIDDEN = "forbidden"
    #: The request exceeds one of the policy's limits (head size, field lines, offers).
    TOO_LARGE = "too large"
    #: The request method is not GET.
    NOT_ALLOWED = "not allowed"
    #: The bytes are not an HTTP/1.1 request at all.
    MALFORMED = "malformed"
    #: The connection ended before the request head was complete.
    INCOMPLETE = "incomplete"


class ProtocolError(Exception):
    """Abstract base of every error wsnegotiate raises or returns."""

    def __init__(self, message: str) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise a subclass")
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self.args[0])


class LocalProtocolError(ProtocolError):
    """You used the API in a way that cannot work: a call that does not fit the
    negotiator's state, or a value you supplied (header, status, close code) that
    would produce an invalid message."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something that cannot be accepted.

    It always carries the complete answer to send back: ``status``, ``headers``
    (every header field of the answer, in order) and ``reason`` (the one-line
    body). ``field`` and ``fault`` say what was wrong where a header is to blame;
    ``error_status_hint`` is ``status`` under h11's name.
    """

    # Slots, and Exception.__init__ called directly (this class is not abstract):
    # made on every refusal, this takes 0.4 µs instead of 0.75.
    __slots__ = ("fault", "field", "headers", "reason", "status")

    def __init__(
        self,
        reason: str,
        *,
        status: int,
        headers: tuple[tuple[str, str], ...],
        field: str | None = None,
        fault: Fault | None = None,
    ) -> None:
        Exception.__init__(self, reason)
        self.reason = reason
        self.status = status
        self.headers = headers
        self.field = field
        self.fault = fault

    @property
    def error_status_hint(self) -> int:
        return self.status

    def __repr__(self) -> str:
        return f"RemoteProtocolError({self.reason!r}, status={self.status})"


class InvalidClosePayload(ProtocolError):
    """A Close frame payload that RFC 6455 does not allow.

    ``close_code`` is what to answer with: 1002 (protocol error) for a bad length
    or code, 1007 (invalid payload data) for a reason that is not UTF-8.
    """

    def __init__(self, message: str, *, close_code: int) -> None:
        super().__init__(message)
        self.close_code = close_code


class InvalidResponse(ProtocolError):
    """A server's answer that a client must not accept (RFC 6455 §4.1): a 101 whose
    ``Upgrade``, ``Connection``, ``Sec-WebSocket-Accept``, subprotocol or extensions
    are wrong, a hixie-76 challenge answer that does not match, or bytes that are
    not an HTTP response. ``status`` and ``headers`` are the server's answer as far
    as it was read (``status`` is ``None`` before a status line arrived)."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        field: str | None = None,
        fault: Fault | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.headers = headers
        self.field = field
        self.fault = fault


class NoCommonVersion(ProtocolError):
    """``retry()`` found no version that the server advertised, the client is willing
    to speak, and the client has not tried yet (RFC 6455 §4.4)."""

    def __init__(
        self, message: str, *, advertised: tuple[int, ...], tried: tuple[str, ...]
    ) -> None:
        super().__init__(message)
        self.advertised = advertised
        self.tried = tried
