"""Fuzz the ``Sec-WebSocket-Extensions`` parser (RFC 6455 §9.1) and the
permessage-deflate negotiation over what it parses (RFC 7692 §7).

    python fuzz/extensions.py -max_total_time=600 fuzz/corpus/extensions

Input: an options byte (which server wishes), then a field value. Only
documented outcomes pass: ``parse_extensions`` returns the offers or the offset
of the first fault, never raises; the negotiation returns parameters or
``None``. Checked: each offer's text parses back to that one offer, and so does
its ``str()``; a fault's offset lies inside the value; an agreed answer is
well-formed, accepts one of the offers (RFC 7692 §7.1), keeps the windows in
range, and a server negotiator fed a request with this value answers with it.
"""

from __future__ import annotations

from fuzzlib import Choices, check_switch, header_values, main

import wsnegotiate as ws
from wsnegotiate._deflate import agreed, answer_fault, negotiate_offers
from wsnegotiate._headers import parse_extension_list, parse_extensions

WISHES = (
    ws.DeflateOptions(),
    ws.DeflateOptions.for_client(),
    ws.DeflateOptions(
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=9,
        client_max_window_bits=9,
        memory_level=1,
    ),
    ws.DeflateOptions(server_max_window_bits=15, client_max_window_bits=15, memory_level=9),
)
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def test_one_input(data: bytes) -> None:
    choices = Choices(data)
    wishes = choices.pick(WISHES)
    value = choices.rest()
    parsed = parse_extensions(value)
    assert parse_extensions(value) == parsed  # remembered or not, the same answer
    assert parse_extension_list(value) == (parsed if isinstance(parsed, int) else parsed[0])
    if isinstance(parsed, int):
        assert 0 <= parsed < len(value)
        return
    texts, offers = parsed
    assert len(texts) == len(offers)
    for text, offer in zip(texts, offers, strict=True):
        assert parse_extensions(text.encode("latin-1")) == ((text,), (offer,))
        written = str(offer)
        assert parse_extensions(written.encode("latin-1"))[1] == (offer,), written  # type: ignore[index]
        for other in offers:
            answer_fault(offer, other)  # any pair: a reason or None, never an exception
    check_negotiation(offers, wishes)
    check_server(value, wishes)


def check_negotiation(offers: tuple[ws.Extension, ...], wishes: ws.DeflateOptions) -> None:
    params = negotiate_offers(offers, wishes)
    if params is None:
        return
    answer = parse_extensions(params.answer().encode("ascii"))
    assert not isinstance(answer, int) and len(answer[1]) == 1, params.answer()
    (element,) = answer[1]
    deflate_offers = [o for o in offers if o.name.lower() == "permessage-deflate"]
    assert any(answer_fault(element, offer) is None for offer in deflate_offers), params
    # The server never compresses within 8 bits (zlib keeps 9); the client's window
    # may be 8 when the client offered 8 itself (answer_fault checked "at most").
    assert params.server_max_window_bits in (None, *range(9, 16)), params
    assert params.client_max_window_bits in (None, *range(8, 16)), params
    assert 9 <= params.window_bits <= wishes.server_max_window_bits
    assert agreed(element, wishes, client=False) == params


def check_server(value: bytes, wishes: ws.DeflateOptions) -> None:
    """A request offering ``value`` gets the negotiation's answer in its 101."""
    if any(c in value for c in b"\r\n\x00") or value != value.strip(b" \t"):
        return  # not one field value
    request = (
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + KEY + b"\r\n"
        b"Sec-WebSocket-Extensions: " + value + b"\r\n\r\n"
    )
    event = ws.negotiate(request, ws.Policy(deflate=wishes, max_request_bytes=1 << 20))
    if isinstance(event, ws.Rejected):
        assert event.status == 400 and event.error is not None, event
        assert event.error.field == "Sec-WebSocket-Extensions", event.error
        return
    assert isinstance(event, ws.Accepted), event
    headers = check_switch(event.response, KEY)
    answers = header_values(headers, b"sec-websocket-extensions")
    if event.deflate is None:
        assert answers == []
    else:
        assert answers == [event.deflate.answer().encode()]


def seeds() -> list[bytes]:
    """Browsers' offers, RFC 7692's examples, and the ones that must be declined
    or fail the grammar, with each set of wishes."""
    values = [
        b"permessage-deflate; client_max_window_bits",
        b"permessage-deflate",
        b"permessage-deflate; server_max_window_bits=10",
        b"permessage-deflate; server_max_window_bits=8",
        b"permessage-deflate; server_max_window_bits=16",
        b"permessage-deflate; server_max_window_bits=010",
        b"permessage-deflate; foo",
        b"permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
        b"permessage-deflate; client_max_window_bits",
        b'permessage-deflate; server_max_window_bits="10", x-webkit-deflate-frame',
        b"permessage-deflate;server_no_context_takeover;client_no_context_takeover",
        b"permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
        b"permessage-deflate; server_no_context_takeover=1",
        b'foo; bar="a \\"quoted\\" value", , ,baz',
        b",,\t, permessage-deflate ,,",
        b"permessage-deflate; =",
        b"permessage-deflate;",
        b"x; y=\xe9",
    ]
    return [bytes([wishes]) + value for value in values for wishes in range(len(WISHES))]


if __name__ == "__main__":
    main(test_one_input, seeds)
