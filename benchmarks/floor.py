"""The floor: h11's parse of a request head plus the RFC 6455 §4.2.1 checks the
negotiator makes, inlined in one function, with no state machine, no events, no
policy object and no reasons: the least a negotiator built on h11's public API
can do for each request.

It answers the same requests the same way for the cases the suite measures (101
with the §4.2.2 accept, 426 for another version, 400 for a malformed request), so
its time is the physical limit of a negotiator built on h11 under this design.
Each refusal is one constant; each field is read once, into a dict of values
(repeats joined as the list-based fields combine them, RFC 9110 §5.3).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

import h11

from wsnegotiate._headers import EXTENSION, TOKEN  # the same grammars

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: "
)
_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
_405 = b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\n\r\n"
_426_UPGRADE = b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n"
_426_VERSION = (
    b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
)
_ONE_LINE_ONLY = (b"host", b"sec-websocket-version", b"sec-websocket-key")


# §4.2.1 items 8 and 9: a list (RFC 9110 §5.6.1, empty elements allowed) of tokens,
# and of extensions (RFC 6455 §9.1), each matched whole in one call.
def _list_of(element: bytes) -> re.Pattern[bytes]:
    return re.compile(
        rb"[ \t,]*(?:" + element + rb"(?:[ \t]*,[ \t,]*" + element + rb")*)?[ \t,]*\Z"
    )


_LISTS = (
    (b"sec-websocket-protocol", _list_of(TOKEN)),
    (b"sec-websocket-extensions", _list_of(EXTENSION)),
)


def _has_token(value: bytes, token: bytes) -> bool:
    """``token`` (lower case) is an element of the list ``value`` (RFC 9110 §5.6.1)."""
    return value.lower() == token or token in [
        element.strip(b" \t").lower() for element in value.split(b",")
    ]


def floor_answer(data: bytes) -> bytes:
    """The answer to one complete request head: the bytes a server sends."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    try:
        request = connection.next_event()
    except h11.RemoteProtocolError:
        return _400
    if request.__class__ is not h11.Request:
        return _400
    if request.method != b"GET":  # RFC 6455 §4.1
        return _405
    if request.http_version < b"1.1":
        return _400
    fields: dict[bytes, bytes] = {}
    repeated: list[bytes] = []
    for name, value in request.headers.raw_items():
        name = name.lower()
        if name in fields:
            repeated.append(name)
            fields[name] += b", " + value
        else:
            fields[name] = value
    if repeated and any(name in repeated for name in _ONE_LINE_ONLY):
        return _400  # RFC 9112 §3.2; RFC 6455 §11.3.1, §11.3.5
    if not fields.get(b"host") or b"transfer-encoding" in fields:
        return _400
    if fields.get(b"content-length", b"0") != b"0":
        return _400
    if not _has_token(fields.get(b"upgrade", b""), b"websocket"):  # §4.2.1 item 3
        return _426_UPGRADE
    if not _has_token(fields.get(b"connection", b""), b"upgrade"):  # §4.2.1 item 4
        return _426_UPGRADE
    if fields.get(b"sec-websocket-version") != b"13":  # §4.2.1 item 6
        return _426_VERSION
    key = fields.get(b"sec-websocket-key", b"")
    try:  # §4.2.1 item 5: the base64 of 16 bytes
        if len(key) != 24 or len(binascii.a2b_base64(key, strict_mode=True)) != 16:
            return _400
    except binascii.Error:
        return _400
    for name, grammar in _LISTS:
        offers = fields.get(name)
        if offers is not None and grammar.match(offers) is None:
            return _400
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())  # §4.2.2 step 5
    return _101 + accept + b"\r\n\r\n"
