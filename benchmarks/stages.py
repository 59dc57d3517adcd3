"""wsnegotiate's server handshake of the Chrome request, step by step, for
``python -m benchmarks.instructions --stages``: where its instructions go, beside
h11's parse of the same request and the floor (``floor.py``), the least any
negotiator that has h11 read the head can spend.

``STEPS`` are cumulative (each runs the path up to and including its step), so
each step is counted where it really runs, after the ones before it. ``PIECES``
are parts of the ``next_event()`` and ``accept()`` steps run on their own, on
inputs prepared once, for scale beside bare h11 and the floor.
"""

from __future__ import annotations

import h11

from wsnegotiate import ServerNegotiator
from wsnegotiate._answers import switching_protocols
from wsnegotiate._decide import decide
from wsnegotiate._events import Accepted, Request
from wsnegotiate._fasthead import read_request
from wsnegotiate._head import field_limit_fault
from wsnegotiate._headers import field_lines

from .suite import CHROME, POLICY, Chunks, bare_h11, floor

CHUNKS: Chunks = (CHROME,)


def _made(chunks: Chunks) -> ServerNegotiator:
    return ServerNegotiator(POLICY)


def _received(chunks: Chunks) -> ServerNegotiator:
    negotiator = ServerNegotiator(POLICY)
    negotiator.receive_data(chunks[0])
    return negotiator


def _request(chunks: Chunks) -> ServerNegotiator:
    negotiator = _received(chunks)
    negotiator.next_event()
    return negotiator


def _accepted(chunks: Chunks) -> object:
    return _request(chunks).accept()


STEPS = {
    "ServerNegotiator(policy)": _made,
    "receive_data(): the blank line found": _received,
    "next_event(): limits, the one-pass read, decide(), the Request": _request,
    "accept(): the policy's choices, the 101, the Accepted": _accepted,
}

_PARSED = h11.Connection(h11.SERVER)
_PARSED.receive_data(CHROME)
_parsed = _PARSED.next_event()
assert isinstance(_parsed, h11.Request)
_ITEMS = _parsed.headers.raw_items()
_decided = decide(b"GET", b"/chat", b"1.1", _ITEMS, POLICY)
assert isinstance(_decided, Request)
_REQUEST: Request = _decided
_ACCEPTED = _request(CHUNKS).accept()
_KEY = _REQUEST.key.encode("ascii")


def _request_event(chunks: Chunks) -> object:
    r = _REQUEST
    return Request(
        r.method, r.target, r.http_version, r.host, r.origin, r.detection, r.key,
        r.subprotocols, r.extensions, r.headers, r.extension_offers,
    )  # fmt: skip


def _accepted_event(chunks: Chunks) -> object:
    a = _ACCEPTED
    return Accepted(a.request, None, a.extensions, a.headers, a.response, b"", a.deflate)


PIECES = {
    "for scale: bare h11 (Connection, receive_data, next_event)": bare_h11,
    "for scale: the floor (h11 and every check, inlined)": floor,
    "the field-line limits": lambda chunks: field_limit_fault(chunks[0], 100, 8192),
    "the one-pass read of the head (_fasthead)": lambda chunks: read_request(chunks[0]),
    "decide(): every check and the Request": lambda chunks: decide(
        b"GET", b"/chat", b"1.1", _ITEMS, POLICY
    ),
    "  of which the field lines by name": lambda chunks: field_lines(_ITEMS),
    "  of which the Request event": _request_event,
    "the 101's bytes and fields": lambda chunks: switching_protocols(
        _KEY, None, _ACCEPTED.extensions, ()
    ),
    "the Accepted event": _accepted_event,
}
