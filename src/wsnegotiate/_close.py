"""``CloseCode`` (Qt's QWebSocketProtocol::CloseCode plus IANA 1012-1014), the wire
rules for close codes (RFC 6455 §7.4) and the Close-frame payload codec (§5.5.1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._errors import InvalidClosePayload, LocalProtocolError

__all__ = [
    "CloseCode",
    "ClosePayload",
    "decode_close_payload",
    "encode_close_payload",
    "is_sendable",
    "is_valid_received",
]


class CloseCode(enum.IntEnum):
    """A close status code, with Qt's names; ``description`` is the human text."""

    #: The purpose of the connection was fulfilled.
    CloseCodeNormal = 1000
    #: An endpoint is going away (server shutdown, page navigated away).
    CloseCodeGoingAway = 1001
    #: The peer broke the protocol.
    CloseCodeProtocolError = 1002
    #: A type of data the endpoint cannot accept (binary to a text-only endpoint).
    CloseCodeDatatypeNotSupported = 1003
    #: Reserved; never sent on the wire.
    CloseCodeReserved1004 = 1004
    #: No status code was present; reported locally, never sent.
    CloseCodeMissingStatusCode = 1005
    #: The connection dropped without a Close frame; reported locally, never sent.
    CloseCodeAbnormalDisconnection = 1006
    #: Message data not consistent with its type (e.g. non-UTF-8 in a text message).
    CloseCodeWrongDatatype = 1007
    #: A message that violates the endpoint's policy.
    CloseCodePolicyViolated = 1008
    #: A message too big to process.
    CloseCodeTooMuchData = 1009
    #: The client expected an extension the server did not negotiate.
    CloseCodeMissingExtension = 1010
    #: The server met an unexpected condition.
    CloseCodeBadOperation = 1011
    #: The server is restarting (IANA registry).
    CloseCodeServiceRestart = 1012
    #: Temporary condition; try again later (IANA registry).
    CloseCodeTryAgainLater = 1013
    #: A gateway received an invalid answer upstream (IANA registry).
    CloseCodeBadGateway = 1014
    #: The TLS handshake failed; reported locally, never sent.
    CloseCodeTlsHandshakeFailed = 1015

    @property
    def description(self) -> str:
        """The code's short human description, e.g. "Normal closure"."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    CloseCode.CloseCodeNormal: "Normal closure",
    CloseCode.CloseCodeGoingAway: "Going away",
    CloseCode.CloseCodeProtocolError: "Protocol error",
    CloseCode.CloseCodeDatatypeNotSupported: "Unsupported data",
    CloseCode.CloseCodeReserved1004: "Reserved",
    CloseCode.CloseCodeMissingStatusCode: "No status received",
    CloseCode.CloseCodeAbnormalDisconnection: "Abnormal closure",
    CloseCode.CloseCodeWrongDatatype: "Invalid frame payload data",
    CloseCode.CloseCodePolicyViolated: "Policy violation",
    CloseCode.CloseCodeTooMuchData: "Message too big",
    CloseCode.CloseCodeMissingExtension: "Mandatory extension missing",
    CloseCode.CloseCodeBadOperation: "Internal server error",
    CloseCode.CloseCodeServiceRestart: "Service restart",
    CloseCode.CloseCodeTryAgainLater: "Try again later",
    CloseCode.CloseCodeBadGateway: "Bad gateway",
    CloseCode.CloseCodeTlsHandshakeFailed: "TLS handshake failed",
}

_BY_NUMBER: dict[int, int] = {int(code): code for code in CloseCode}
_NEVER_ON_WIRE = frozenset({1004, 1005, 1006, 1015})


def is_sendable(code: int) -> bool:
    """May ``code`` be sent in a Close frame? (RFC 6455 §7.4.1, §7.4.2)

    0-999 are never used; 1004-1006 and 1015 are for local reporting only;
    1016-2999 are reserved for future RFCs; 3000-4999 are for libraries and
    applications.
    """
    if 3000 <= code <= 4999:
        return True
    return 1000 <= code <= 1014 and code not in _NEVER_ON_WIRE


def is_valid_received(code: int) -> bool:
    """Is a ``code`` received in a Close frame valid, or must the endpoint fail
    the connection with 1002? A code the peer must not send is invalid to receive,
    so the rule is the one of ``is_sendable`` (RFC 6455 §7.4, §8.1)."""
    return is_sendable(code)


#: A Close frame's payload is a control-frame payload: 125 bytes at most (§5.5).
MAX_CLOSE_PAYLOAD = 125


@dataclass(frozen=True, slots=True)
class ClosePayload:
    """A decoded Close frame payload. ``code`` is a ``CloseCode`` member where one
    exists, else the plain number (3000-4999); 1005 stands for "no code sent"."""

    code: int
    reason: str = ""


def encode_close_payload(code: int | None, reason: str = "") -> bytes:
    """Build a Close payload: a 2-byte code then a UTF-8 reason (RFC 6455 §5.5.1).

    ``code=None`` gives the empty payload, which cannot carry a reason.
    Raises ``LocalProtocolError`` for a code that may not be sent, a reason that
    has no UTF-8 form (a lone surrogate) or a payload over 125 bytes.
    """
    if code is None:
        if reason:
            raise LocalProtocolError("a Close reason needs a status code (RFC 6455 §5.5.1)")
        return b""
    if not is_sendable(code):
        raise LocalProtocolError(f"close code {code} may not be sent (RFC 6455 §7.4)")
    try:
        text = reason.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 for it
        raise LocalProtocolError(
            f"a Close reason is UTF-8 text (RFC 6455 §5.5.1): {exc.reason} at {exc.start}"
        ) from None
    payload = code.to_bytes(2, "big") + text
    if len(payload) > MAX_CLOSE_PAYLOAD:
        raise LocalProtocolError(
            f"Close payload of {len(payload)} bytes exceeds {MAX_CLOSE_PAYLOAD} (RFC 6455 §5.5)"
        )
    return payload


def decode_close_payload(payload: bytes | bytearray | memoryview) -> ClosePayload:
    """Read a received Close payload; ``InvalidClosePayload`` says what to answer."""
    data = bytes(payload)
    if not data:
        return ClosePayload(CloseCode.CloseCodeMissingStatusCode)  # §7.1.5
    if len(data) == 1:
        raise InvalidClosePayload(
            "Close payload of 1 byte: a code needs 2 (RFC 6455 §5.5.1)",
            close_code=CloseCode.CloseCodeProtocolError,
        )
    if len(data) > MAX_CLOSE_PAYLOAD:
        raise InvalidClosePayload(
            f"Close payload of {len(data)} bytes exceeds {MAX_CLOSE_PAYLOAD} (RFC 6455 §5.5)",
            close_code=CloseCode.CloseCodeProtocolError,
        )
    number = int.from_bytes(data[:2], "big")
    if not is_valid_received(number):
        raise InvalidClosePayload(
            f"close code {number} is not valid on the wire (RFC 6455 §7.4)",
            close_code=CloseCode.CloseCodeProtocolError,
        )
    try:
        reason = data[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidClosePayload(
            f"Close reason is not UTF-8 ({exc.reason} at byte {exc.start})",
            close_code=CloseCode.CloseCodeWrongDatatype,
        ) from None
    return ClosePayload(_BY_NUMBER.get(number, number), reason)
