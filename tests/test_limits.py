"""The policy's limits on a request: field lines, their length, and offers. A peer
past a limit gets the answer that names it, and nothing more is stored."""

from __future__ import annotations

from typing import Any

import pytest
from factory import parse_response, raw_request, rfc6455

import wsnegotiate as ws


def negotiate(data: bytes, policy: ws.Policy) -> tuple[ws.ServerNegotiator, object]:
    negotiator = ws.ServerNegotiator(policy)
    negotiator.receive_data(data)
    return negotiator, negotiator.next_event()


def refused(data: bytes, policy: ws.Policy | None = None) -> ws.Rejected:
    negotiator, event = negotiate(data, policy or ws.Policy())
    assert isinstance(event, ws.Rejected), event
    assert negotiator.buffered == 0
    negotiator.receive_data(b"GET / HTTP/1.1\r\n\r\n")  # never parsed, never stored
    assert negotiator.buffered == 0
    status, headers, body = parse_response(event.response)
    assert status == event.status
    assert ("Connection", "close") in headers
    assert body.decode().strip() == event.reason
    return event


def fillers(count: int) -> list[tuple[str, str]]:
    return [(f"X-Filler-{n}", "a") for n in range(count)]


def test_defaults_are_documented_values() -> None:
    policy = ws.Policy()
    assert (policy.max_field_lines, policy.max_field_line_bytes, policy.max_offers) == (
        100,
        8192,
        32,
    )


@pytest.mark.parametrize("limit", [100, 10])
def test_field_lines_up_to_the_limit_are_accepted(limit: int) -> None:
    headers = rfc6455(extra=fillers(limit - 5))  # five fields of the handshake
    assert len(headers) == limit
    _, event = negotiate(raw_request(headers), ws.Policy(max_field_lines=limit))
    assert isinstance(event, ws.Request)


@pytest.mark.parametrize("limit", [100, 10])
def test_one_field_line_past_the_limit_is_a_431(limit: int) -> None:
    data = raw_request(rfc6455(extra=fillers(limit - 4)))
    event = refused(data + b"\x81\x80junk", ws.Policy(max_field_lines=limit))
    assert event.status == 431
    assert event.reason == f"request head: too many field lines ({limit + 1}; the limit is {limit})"
    assert event.error is not None and event.error.fault is ws.Fault.TOO_LARGE


def test_many_tiny_field_lines_are_refused_before_h11_parses_them() -> None:
    """4,000 lines of "a:" fit in 16 KiB; they are counted, not parsed."""
    data = b"GET / HTTP/1.1\r\n" + b"a:\r\n" * 3000 + b"\r\n"
    assert refused(data).reason == "request head: too many field lines (3000; the limit is 100)"


def test_a_long_field_line_is_a_431_naming_the_field() -> None:
    limit = 8192
    fits = ("Cookie", "c" * (limit - len("Cookie: ")))
    _, event = negotiate(raw_request(rfc6455(extra=[fits])), ws.Policy())
    assert isinstance(event, ws.Request)
    too_long = ("Cookie", "c" * (limit - len("Cookie: ") + 1))
    event = refused(raw_request(rfc6455(extra=[too_long])))
    assert event.status == 431
    assert event.reason == (
        "line 7: too long ('Cookie', more than 8192 bytes; the limit is per field line)"
    )


TOO_LONG = "request-target: too long (the request line is over the limit of {} bytes, RFC 9112 §3)"


@pytest.mark.parametrize("chunk", [1, 7, 64, 100_000])
def test_a_request_target_past_the_line_limit_is_a_414(chunk: int) -> None:
    """RFC 9112 §3: a server MUST answer 414 to a request-target longer than it
    wishes to parse; however chunked, and before the line ends."""
    data = raw_request(rfc6455(), target="/" + "p" * 200)
    for cut in (len(data), 120):  # the whole request; the line only begun
        negotiator = ws.ServerNegotiator(ws.Policy(max_field_line_bytes=100))
        for at in range(0, cut, chunk):
            negotiator.receive_data(data[at : min(at + chunk, cut)])
        event = negotiator.next_event()
        assert isinstance(event, ws.Rejected), event
        assert (event.status, event.reason) == (414, TOO_LONG.format(100))
        assert event.error is not None and event.error.fault is ws.Fault.TOO_LARGE
        assert negotiator.buffered == 0
        assert parse_response(event.response)[0] == 414


def test_a_request_line_at_the_limit_passes_and_one_byte_more_is_a_414() -> None:
    line = b"GET /" + b"p" * 86 + b" HTTP/1.1"
    assert len(line) == 100
    rest = raw_request(rfc6455()).partition(b"\r\n")[2]
    policy = ws.Policy(max_field_line_bytes=100)
    for ending in (b"\r\n", b"\n"):
        _, event = negotiate(line + ending + rest, policy)
        assert isinstance(event, ws.Request)
        for more in (1, 5, 9, 20):  # the HTTP-version passes the limit, then the target
            longer = line.replace(b"/", b"/" + b"p" * more, 1) + ending + rest
            event = refused(longer, policy)
            assert (event.status, event.reason) == (414, TOO_LONG.format(100))


def test_a_request_line_past_the_head_limit_is_a_414() -> None:
    """The head limit is below the line limit: the request line that passes it
    has a request-target too long as well."""
    data = raw_request(rfc6455(), target="/" + "p" * 200)
    event = refused(data, ws.Policy(max_request_bytes=100))
    assert (event.status, event.reason) == (414, TOO_LONG.format(100))
    event = refused(data[:150], ws.Policy(max_request_bytes=100))
    assert (event.status, event.reason) == (414, TOO_LONG.format(100))
    event = refused(b"G" * 150, ws.Policy(max_request_bytes=100))  # no target to blame
    assert (event.status, event.reason) == (431, "request head: too large (more than 100 bytes)")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (  # no space: no request-target to blame
            b"G" * 120,
            "line 1: too long (request line, more than 100 bytes; the limit is per field line)",
        ),
        (  # the target ends within the limit: the rest is not a request line's
            b"GET /chat HTTP/1.1" + b"x" * 100,
            "line 1: too long (request line, more than 100 bytes; the limit is per field line)",
        ),
    ],
)
def test_a_long_request_line_that_is_not_a_long_target_is_a_431(line: bytes, reason: str) -> None:
    event = refused(line + b"\r\nHost: a\r\n\r\n", ws.Policy(max_field_line_bytes=100))
    assert (event.status, event.reason) == (431, reason)


def test_a_field_name_in_a_long_line_is_escaped_not_reflected() -> None:
    data = raw_request(rfc6455(extra=[("X-\x7fEvil", "v" * 100)]))
    event = refused(data, ws.Policy(max_field_line_bytes=64))
    assert "'X-\\x7fEvil'" in event.reason
    assert b"\x7f" not in event.response


@pytest.mark.parametrize(
    ("field", "one"),
    [("Sec-WebSocket-Protocol", "p{}"), ("Sec-WebSocket-Extensions", "x-ext{}")],
)
def test_offers_up_to_the_limit_pass_and_past_it_are_a_400(field: str, one: str) -> None:
    def request(count: int) -> bytes:
        offers = ", ".join(one.format(n) for n in range(count))
        return raw_request(rfc6455(extra=[(field, offers)]))

    _, event = negotiate(request(4), ws.Policy(max_offers=4))
    assert isinstance(event, ws.Request)
    event = refused(request(5), ws.Policy(max_offers=4))
    assert event.status == 400
    assert event.reason == f"{field}: too many offers (5; the limit is 4)"
    assert event.error is not None and event.error.field == field
    assert refused(request(33)).reason == f"{field}: too many offers (33; the limit is 32)"


def test_offers_on_several_field_lines_count_together() -> None:
    extra = [("Sec-WebSocket-Protocol", "a, b"), ("Sec-WebSocket-Protocol", "c")]
    event = refused(raw_request(rfc6455(extra=extra)), ws.Policy(max_offers=2))
    assert event.reason == "Sec-WebSocket-Protocol: too many offers (3; the limit is 2)"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_field_lines": 3}, "max_field_lines below 4 cannot hold a handshake"),
        ({"max_field_line_bytes": 63}, "max_field_line_bytes below 64 cannot hold a handshake"),
        ({"max_offers": 0}, "max_offers must be at least 1"),
    ],
)
def test_limits_too_small_to_serve_are_refused_when_the_policy_is_built(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ws.LocalProtocolError, match=message):
        ws.Policy(**options)
