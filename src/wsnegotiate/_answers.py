"""The server's answers, written directly as bytes (no second round through an
HTTP writer: their shape is fixed).

- 101 (RFC 6455 §4.2.2): ``Upgrade: websocket``, ``Connection: Upgrade``,
  ``Sec-WebSocket-Accept`` = base64(SHA-1(key + GUID)), then the chosen
  subprotocol and extensions.
- A rejection: ``Content-Type: text/plain; charset=utf-8``, ``Content-Length``, a
  one-line reason body (none to HEAD, RFC 9110 §9.3.2) and ``Connection: close``. A 426 also carries
  ``Upgrade: websocket`` (RFC 9110 §15.5.22: it MUST send Upgrade) and says
  ``Connection: Upgrade, close``; a 405 carries ``Allow: GET`` (RFC 9110 §15.5.6).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable

__all__ = [
    "accept_token",
    "refusal_headers",
    "refusal_response",
    "rejection_headers",
    "render",
    "switching_protocols",
]

#: RFC 6455 §1.3: the GUID appended to the key before hashing.
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

REASON_PHRASES = {
    101: "Switching Protocols",
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    414: "URI Too Long",
    426: "Upgrade Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def accept_token(key: bytes) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2 step 5)."""
    return base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest()).decode("ascii")


def rejection_body(reason: str) -> bytes:
    return reason.encode("utf-8") + b"\n"


TEXT_PLAIN = "text/plain; charset=utf-8"


def rejection_headers(
    status: int,
    reason: str,
    extra: Iterable[tuple[str, str]] = (),
    *,
    body: bytes | None = None,
    content_type: str = TEXT_PLAIN,
) -> tuple[tuple[str, str], ...]:
    """Every header field of a rejection, in the order they are sent; the body is
    the one-line ``reason`` unless one is given."""
    headers: list[tuple[str, str]] = []
    if status == 426:
        headers += [("Upgrade", "websocket"), ("Connection", "Upgrade, close")]
    else:
        headers.append(("Connection", "close"))
    headers += extra
    length = len(rejection_body(reason) if body is None else body)
    headers += [("Content-Type", content_type), ("Content-Length", str(length))]
    return tuple(headers)


def render(status: int, headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """The bytes of an HTTP/1.1 response. Values were validated by the caller."""
    phrase = REASON_PHRASES.get(status, "")
    lines = [f"HTTP/1.1 {status} {phrase}".rstrip()]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# The negotiator's own refusals recur: every request of an old client gets the same
# 426, every scanner the same 400. Their header fields and bytes are remembered,
# least recently used out, 256 of each; a reason quotes at most 64 bytes of the
# peer's, so that is a few hundred KiB at the very worst. It saves a refusal about
# a fifth of what it costs beyond h11's parse.


@functools.lru_cache(maxsize=256)
def refusal_headers(
    status: int, reason: str, extra: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[str, str], ...]:
    """``rejection_headers`` of a refusal with the one-line ``reason`` as its body."""
    return rejection_headers(status, reason, extra)


@functools.lru_cache(maxsize=256)
def refusal_response(status: int, headers: tuple[tuple[str, str], ...], reason: str) -> bytes:
    """The bytes of a refusal with these header fields and the one-line ``reason``."""
    return render(status, headers, rejection_body(reason))


_BARE_101 = (("Upgrade", "websocket"), ("Connection", "Upgrade"))
_BARE_101_HEAD = render(101, _BARE_101)[:-2] + b"Sec-WebSocket-Accept: "


def switching_protocols(
    key: bytes,
    subprotocol: str | None,
    extensions: tuple[str, ...],
    extra: tuple[tuple[str, str], ...],
) -> tuple[tuple[tuple[str, str], ...], bytes]:
    """The 101's header fields and its bytes."""
    token = accept_token(key)
    if subprotocol is None and not extra:  # the usual answers, written directly
        head = _BARE_101_HEAD + token.encode("ascii") + b"\r\n"
        if not extensions:
            return (*_BARE_101, ("Sec-WebSocket-Accept", token)), head + b"\r\n"
        answer = ", ".join(extensions)
        field = ("Sec-WebSocket-Extensions", answer)
        response = head + b"Sec-WebSocket-Extensions: " + answer.encode("latin-1") + b"\r\n\r\n"
        return (*_BARE_101, ("Sec-WebSocket-Accept", token), field), response
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", token),
    ]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", ", ".join(extensions)))
    headers += extra
    return tuple(headers), render(101, headers)
