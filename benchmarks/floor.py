"""The floor: h11's parse of a request head plus the RFC 6455 §4.2.1 checks the
negotiator makes, inlined, with no state machine, no events and no policy object.

It answers the same requests the same way for the cases the suite measures (101
with the §4.2.2 accept, 426 for another version, 400 for a malformed request), so
its time is the physical limit of a negotiator built on h11 under this design.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import h11

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def _tokens(values: list[bytes]) -> set[bytes]:
    return {token.strip().lower() for value in values for token in value.split(b",")}


def _answer(status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return b"HTTP/1.1 %d %s\r\n%s\r\n" % (status, reason, lines)


def _refusal(status: int, reason: bytes, extra: list[tuple[bytes, bytes]]) -> bytes:
    return _answer(status, reason, [*extra, (b"Content-Length", b"0")])


def floor_answer(data: bytes) -> bytes:
    """The answer to one complete request head: the bytes a server sends."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    try:
        request = connection.next_event()
    except h11.RemoteProtocolError:
        return _refusal(400, b"Bad Request", [])
    if not isinstance(request, h11.Request):
        return _refusal(400, b"Bad Request", [])
    if request.method != b"GET":  # RFC 6455 §4.1
        return _refusal(405, b"Method Not Allowed", [(b"Allow", b"GET")])
    if request.http_version < b"1.1":
        return _refusal(400, b"Bad Request", [])
    fields: dict[bytes, list[bytes]] = {}
    for name, value in request.headers.raw_items():
        fields.setdefault(name.lower(), []).append(value)
    if len(fields.get(b"host", ())) != 1:  # RFC 9112 §3.2
        return _refusal(400, b"Bad Request", [])
    if b"transfer-encoding" in fields or fields.get(b"content-length", [b"0"]) != [b"0"]:
        return _refusal(400, b"Bad Request", [])
    if b"websocket" not in _tokens(fields.get(b"upgrade", [])) or b"upgrade" not in _tokens(
        fields.get(b"connection", [])
    ):  # §4.2.1 items 3, 4
        return _refusal(426, b"Upgrade Required", [(b"Upgrade", b"websocket")])
    if fields.get(b"sec-websocket-version") != [b"13"]:  # §4.2.1 item 6
        return _refusal(426, b"Upgrade Required", [(b"Sec-WebSocket-Version", b"13")])
    keys = fields.get(b"sec-websocket-key", [])
    try:  # §4.2.1 item 5
        valid = len(keys) == 1 and len(base64.b64decode(keys[0], validate=True)) == 16
    except binascii.Error:
        valid = False
    if not valid:
        return _refusal(400, b"Bad Request", [])
    for value in fields.get(b"sec-websocket-protocol", []) + fields.get(
        b"sec-websocket-extensions", []
    ):  # §4.2.1 items 8, 9: lists of tokens
        if any(not item.strip() for item in value.split(b",")):
            return _refusal(400, b"Bad Request", [])
    accept = base64.b64encode(hashlib.sha1(keys[0] + _GUID).digest())  # §4.2.2 step 5
    return _answer(
        101,
        b"Switching Protocols",
        [
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", accept),
        ],
    )
