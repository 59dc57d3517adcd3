"""The ServerNegotiator state machine: chunking, trailing data, EOF, misuse."""

from __future__ import annotations

import pytest
from factory import ACCEPT, assert_rejection, h11_request, header_values, parse_response, rfc6455

import wsnegotiate as ws
from wsnegotiate import State

REQUEST = h11_request(
    rfc6455(
        extra=[
            ("Sec-WebSocket-Protocol", "chat"),
            ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits, x-foo"),
        ]
    )
)
FRAME = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # RFC 6455 §5.7 masked "Hello"


def deciding(
    data: bytes = REQUEST, policy: ws.Policy | None = None
) -> tuple[ws.ServerNegotiator, ws.Request]:
    negotiator = ws.ServerNegotiator(policy)
    negotiator.receive_data(data)
    event = negotiator.next_event()
    assert isinstance(event, ws.Request)
    assert negotiator.state is State.DECIDING
    return negotiator, event


def test_request_event_fields() -> None:
    data = h11_request(
        [
            *rfc6455(extra=[("Origin", "http://o.example"), ("Sec-WebSocket-Protocol", "a, b")]),
            ("X-Custom", "Yes"),
        ],
        target="/path?q=1",
    )
    _, request = deciding(data)
    assert (request.method, request.target, request.http_version, request.host) == (
        "GET",
        "/path?q=1",
        "1.1",
        "example.com",
    )
    assert (request.origin, request.key, request.subprotocols) == (
        "http://o.example",
        "dGhlIHNhbXBsZSBub25jZQ==",
        ("a", "b"),
    )
    assert (request.version, request.raw_version, request.family) == (
        ws.Version.Version13,
        "13",
        "rfc6455",
    )
    assert (b"X-Custom", b"Yes") in request.headers  # wire casing kept


def test_byte_at_a_time_gives_need_data_then_the_request() -> None:
    negotiator = ws.ServerNegotiator()
    for index in range(len(REQUEST) - 1):
        negotiator.receive_data(REQUEST[index : index + 1])
        assert isinstance(negotiator.next_event(), ws.NeedData)
        assert negotiator.state is State.AWAITING_REQUEST
    negotiator.receive_data(REQUEST[-1:] + FRAME)
    assert isinstance(negotiator.next_event(), ws.Request)
    accepted = negotiator.accept()
    assert accepted.trailing_data == FRAME


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_like_input(kind: type) -> None:
    negotiator = ws.ServerNegotiator()
    negotiator.receive_data(kind(REQUEST[:10]))
    negotiator.receive_data(kind(REQUEST[10:] + FRAME))
    assert isinstance(negotiator.next_event(), ws.Request)
    assert negotiator.accept().trailing_data == FRAME


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_fed_after_a_complete_head_before_next_event_are_trailing_data(kind: type) -> None:
    negotiator = ws.ServerNegotiator()
    negotiator.receive_data(REQUEST)
    negotiator.receive_data(kind(FRAME))  # the head is complete, not read yet
    negotiator.receive_data(kind(FRAME))
    negotiator.receive_data(b"")  # and the peer closed its side
    assert isinstance(negotiator.next_event(), ws.Request)
    assert negotiator.accept().trailing_data == FRAME + FRAME


def test_trailing_data_is_handed_over_whole_and_once() -> None:
    negotiator, _ = deciding(REQUEST + FRAME + FRAME)
    assert negotiator.buffered == 2 * len(FRAME)
    accepted = negotiator.accept()
    assert accepted.trailing_data == FRAME + FRAME
    assert negotiator.state is State.SWITCHED and negotiator.buffered == 0
    with pytest.raises(ws.LocalProtocolError, match="frame layer"):
        negotiator.receive_data(FRAME)


def test_accept_with_subprotocol_extensions_and_headers() -> None:
    negotiator, _ = deciding()
    accepted = negotiator.accept(
        "chat", ["permessage-deflate; server_no_context_takeover"], [("Set-Cookie", "a=b")]
    )
    status, headers, _ = parse_response(accepted.response)
    assert status == 101
    assert headers == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", ACCEPT),
        ("Sec-WebSocket-Protocol", "chat"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover"),
        ("Set-Cookie", "a=b"),
    ]
    assert (accepted.subprotocol, accepted.extensions, accepted.version) == (
        "chat",
        ("permessage-deflate; server_no_context_takeover",),
        ws.Version.Version13,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subprotocol": "mqtt"}, "subprotocol 'mqtt' was not offered"),
        ({"extensions": ["x-bar"]}, "extension 'x-bar' was not offered"),
        ({"extensions": ["a, b"]}, "extension 'a, b' breaks RFC 6455"),
        ({"extensions": ["bad ext"]}, "extension 'bad ext' breaks RFC 6455"),
        ({"extra_headers": [("Bad Name", "v")]}, "is not a token"),
        ({"extra_headers": [("X-A", "v\r\nInjected: 1")]}, "CR, LF, NUL"),
        ({"extra_headers": [("X-A", "nul\x00")]}, "CR, LF, NUL"),
        ({"extra_headers": [("Sec-WebSocket-Accept", "forged")]}, "written by the negotiator"),
    ],
)
def test_accept_refuses_values_that_would_break_the_answer(
    kwargs: dict[str, object], message: str
) -> None:
    negotiator, _ = deciding()
    with pytest.raises(ws.LocalProtocolError, match=message):
        negotiator.accept(**kwargs)  # type: ignore[arg-type]
    assert negotiator.state is State.DECIDING  # nothing half-done
    assert negotiator.accept().response.startswith(b"HTTP/1.1 101 ")


def test_caller_rejection() -> None:
    negotiator, request = deciding(REQUEST + FRAME)
    rejected = negotiator.reject(401, "login first", [("WWW-Authenticate", "Bearer")])
    assert_rejection(rejected, 401, "login first")
    assert rejected.error is None and rejected.detection == request.detection
    assert header_values(rejected.headers, "WWW-Authenticate") == ["Bearer"]
    assert negotiator.state is State.CLOSED and negotiator.buffered == 0
    negotiator.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")  # never parsed
    assert negotiator.buffered == 0


def test_default_caller_rejection_is_403() -> None:
    negotiator, _ = deciding()
    assert_rejection(negotiator.reject(), 403, "Forbidden")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((101, "x"), "4xx, 5xx or a redirect \\(301-308\\), not 101"),
        ((200, "x"), "4xx, 5xx or a redirect \\(301-308\\), not 200"),
        ((304, "x"), "not 304"),
        ((302, "moved"), "a 302 redirect needs a Location header"),
        ((400, "two\nlines"), "one line"),
        ((400, "caf\udce9"), "must be UTF-8 text; character 3 is not"),  # a lone surrogate
        ((400, "x", [("Content-Length", "1")]), "written by the negotiator"),
        ((400, "x", [("Content-Type", "text/html")]), "written by the negotiator"),
    ],
)
def test_reject_refuses_bad_values(args: tuple[object, ...], message: str) -> None:
    negotiator, _ = deciding()
    with pytest.raises(ws.LocalProtocolError, match=message):
        negotiator.reject(*args)  # type: ignore[arg-type]
    with pytest.raises(ws.LocalProtocolError, match="CR, LF, NUL"):
        negotiator.reject(400, "x", content_type="text/html\r\nX-Injected: 1")
    assert negotiator.state is State.DECIDING


def test_reject_with_a_redirect() -> None:
    negotiator, _ = deciding()
    rejected = negotiator.reject(307, "use the new path", [("Location", "/v2/chat")])
    status, headers, body = parse_response(rejected.response)
    assert (status, body) == (307, b"use the new path\n")
    assert headers == [
        ("Connection", "close"),
        ("Location", "/v2/chat"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", "17"),
    ]
    assert rejected.response.startswith(b"HTTP/1.1 307 Temporary Redirect\r\n")


def test_reject_with_a_body_of_its_own() -> None:
    negotiator, _ = deciding()
    document = b'{"error": "quota exceeded", "retry_after": 30}'
    rejected = negotiator.reject(
        429,
        "quota exceeded",
        [("Retry-After", "30")],
        body=document,
        content_type="application/json",
    )
    status, headers, body = parse_response(rejected.response)
    assert (status, body, rejected.reason) == (429, document, "quota exceeded")
    assert headers == [
        ("Connection", "close"),
        ("Retry-After", "30"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(document))),
    ]


def test_calls_out_of_state_are_local_errors() -> None:
    negotiator = ws.ServerNegotiator()
    with pytest.raises(
        ws.LocalProtocolError, match="accept\\(\\) cannot be called in state AWAITING_REQUEST"
    ):
        negotiator.accept()
    with pytest.raises(ws.LocalProtocolError, match="reject\\(\\) cannot be called"):
        negotiator.reject()
    negotiator, _ = deciding()
    with pytest.raises(
        ws.LocalProtocolError, match="next_event\\(\\) cannot be called in state DECIDING"
    ):
        negotiator.next_event()
    with pytest.raises(ws.LocalProtocolError, match="receive_data\\(\\) in state DECIDING"):
        negotiator.receive_data(b"x")
    negotiator.accept()
    with pytest.raises(
        ws.LocalProtocolError, match="accept\\(\\) cannot be called in state SWITCHED"
    ):
        negotiator.accept()


def test_eof_before_any_byte_is_connection_closed() -> None:
    negotiator = ws.ServerNegotiator()
    negotiator.receive_data(b"")
    assert isinstance(negotiator.next_event(), ws.ConnectionClosed)
    assert negotiator.state is State.CLOSED
    with pytest.raises(ws.LocalProtocolError):
        negotiator.next_event()


def test_eof_mid_request_is_a_400() -> None:
    negotiator = ws.ServerNegotiator()
    negotiator.receive_data(REQUEST[:40])
    negotiator.receive_data(b"")
    with pytest.raises(ws.LocalProtocolError, match="after end of file"):
        negotiator.receive_data(b"more")
    event = negotiator.next_event()
    assert_rejection(event, 400, "request head: incomplete (the connection closed after 40 bytes)")
    assert negotiator.buffered == 0


def test_size_limit_holds_byte_by_byte_and_stores_nothing_after() -> None:
    negotiator = ws.ServerNegotiator(ws.Policy(max_request_bytes=200))
    chunks = iter(bytes([b]) for b in b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 1000)
    for chunk in chunks:
        negotiator.receive_data(chunk)
        assert negotiator.buffered <= 200
        if negotiator.buffered == 0:
            break
    for chunk in chunks:  # the rest of the flood is dropped unread
        negotiator.receive_data(chunk)
        assert negotiator.buffered == 0
    assert_rejection(negotiator.next_event(), 431, "request head: too large (more than 200 bytes)")
    assert negotiator.state is State.CLOSED


def test_a_peer_refusal_drops_trailing_bytes() -> None:
    smuggled = b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
    negotiator = ws.ServerNegotiator()
    negotiator.receive_data(h11_request(rfc6455("8")) + smuggled)
    event = negotiator.next_event()
    assert isinstance(event, ws.Rejected) and event.status == 426
    assert negotiator.buffered == 0
    negotiator.receive_data(smuggled)
    assert negotiator.buffered == 0


def test_negotiate_incomplete_and_empty_input() -> None:
    assert isinstance(ws.negotiate(REQUEST[:-1]), ws.NeedData)
    assert isinstance(ws.negotiate(b""), ws.NeedData)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"versions": []}, "at least one version"),
        ({"versions": [13, 6]}, "version 6 cannot be accepted"),
        ({"reject_status": 404}, "426 or 400"),
        ({"max_request_bytes": 10}, "below 64"),
        ({"subprotocols": ["a b"]}, "not an RFC 9110 token"),
        ({"subprotocols": ["é"]}, "not an RFC 9110 token"),
    ],
)
def test_policy_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match=message):
        ws.Policy(**kwargs)  # type: ignore[arg-type]


def test_policy_normalizes() -> None:
    policy = ws.Policy([7, 13, 7, 8], origins=["HTTP://A.example"])
    assert policy.versions == (ws.Version.Version13, ws.Version.Version8, ws.Version.Version7)
    assert policy.advertised == "13, 8, 7"
    assert policy.origins == frozenset({"http://a.example"})
    assert policy == ws.Policy([13, 8, 7], origins=["http://a.example"])


def test_time_out_gives_a_408_and_closes() -> None:
    negotiator = ws.ServerNegotiator()
    negotiator.receive_data(REQUEST[:30])
    event = negotiator.time_out(10)
    assert_rejection(event, 408, "request head: incomplete after 10 s")
    assert negotiator.state is State.CLOSED and negotiator.buffered == 0
    with pytest.raises(
        ws.LocalProtocolError, match="time_out\\(\\) cannot be called in state CLOSED"
    ):
        negotiator.time_out(10)
    negotiator, _ = deciding()
    with pytest.raises(
        ws.LocalProtocolError, match="time_out\\(\\) cannot be called in state DECIDING"
    ):
        negotiator.time_out(1.5)
