"""Every row of DESIGN.md's answer table: exact status, headers and reason."""

from __future__ import annotations

import pytest
from factory import (
    ACCEPT,
    KEY,
    UPGRADE,
    assert_rejection,
    h11_request,
    header_values,
    parse_response,
    raw_request,
    rfc6455,
)

import wsnegotiate as ws


def outcome(data: bytes, policy: ws.Policy | None = None) -> ws.Accepted | ws.Rejected:
    result = ws.negotiate(data, policy)
    assert not isinstance(result, ws.NeedData)
    return result


def test_valid_request_gets_exactly_the_101() -> None:
    result = outcome(h11_request(rfc6455()))
    assert isinstance(result, ws.Accepted)
    assert result.response == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n\r\n"
    )
    assert parse_response(result.response) == (101, list(result.headers), b"")
    assert result.subprotocol is None and result.extensions == ()


def test_unsupported_version_gets_426_with_upgrade_and_list() -> None:
    result = assert_rejection(
        outcome(h11_request(rfc6455("8"))),
        426,
        "Sec-WebSocket-Version: unsupported version 8 (hybi-08); supported: 13",
    )
    assert result.headers[:3] == (
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade, close"),
        ("Sec-WebSocket-Version", "13"),
    )
    assert result.error is not None
    assert (result.error.field, result.error.fault, result.error.error_status_hint) == (
        "Sec-WebSocket-Version",
        ws.Fault.UNSUPPORTED,
        426,
    )


def test_policy_list_is_advertised_descending() -> None:
    result = outcome(h11_request(rfc6455("4")), ws.Policy([7, 13, 8]))
    assert isinstance(result, ws.Rejected)
    assert header_values(result.headers, "Sec-WebSocket-Version") == ["13, 8, 7"]


def test_policy_may_answer_400_for_an_unsupported_version() -> None:
    result = assert_rejection(
        outcome(h11_request(rfc6455("8")), ws.Policy(reject_status=400)),
        400,
        "Sec-WebSocket-Version: unsupported version 8 (hybi-08); supported: 13",
    )
    assert result.headers[:2] == (("Connection", "close"), ("Sec-WebSocket-Version", "13"))


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([("Host", "a")], "Upgrade: missing; this resource speaks WebSocket"),
        (
            [("Host", "a"), ("Upgrade", "h2c"), ("Connection", "Upgrade")],
            "Upgrade: invalid value 'h2c'; no 'websocket' token",
        ),
        (
            [("Host", "a"), ("Upgrade", "websocket")],
            "Connection: missing; this resource speaks WebSocket",
        ),
        (
            [("Host", "a"), ("Upgrade", "websocket"), ("Connection", "keep-alive")],
            "Connection: invalid value 'keep-alive'; no 'upgrade' token",
        ),
        (
            [
                ("Host", "a"),
                ("Upgrade", "websocket"),
                ("Connection", "keep-alive, upgrade-insecure"),
            ],
            "Connection: invalid value 'keep-alive, upgrade-insecure'; no 'upgrade' token",
        ),
    ],
)
def test_not_an_upgrade_gets_426(headers: list[tuple[str, str]], reason: str) -> None:
    result = assert_rejection(
        outcome(
            h11_request([*headers, ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")])
        ),
        426,
        reason,
    )
    assert result.headers[:2] == (("Upgrade", "websocket"), ("Connection", "Upgrade, close"))
    assert header_values(result.headers, "Sec-WebSocket-Version") == []


@pytest.mark.parametrize(
    "connection", ["keep-alive, Upgrade", "UPGRADE", ",,\t,  , ,Upgrade  ,,", "upgrade, keep-alive"]
)
@pytest.mark.parametrize("upgrade", ["websocket", "WebSocket", "h2c, websocket", "websocket/13"])
def test_token_lists_are_read_per_rfc_9110(connection: str, upgrade: str) -> None:
    data = h11_request(
        [
            ("Host", "a"),
            ("Upgrade", upgrade),
            ("Connection", connection),
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Version", "13"),
        ]
    )
    result = outcome(data)
    assert isinstance(result, ws.Accepted) == (upgrade != "websocket/13")


def test_upgrade_and_connection_may_span_field_lines() -> None:
    data = h11_request(
        [
            ("Host", "a"),
            ("Upgrade", "h2c"),
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Version", "13"),
        ]
    )
    assert isinstance(outcome(data), ws.Accepted)


@pytest.mark.parametrize("method", ["POST", "PUT", "HEAD", "OPTIONS", "get"])
def test_method_other_than_get_gets_405(method: str) -> None:
    result = assert_rejection(
        outcome(raw_request(rfc6455(), method=method)),
        405,
        f"method '{method}': not allowed; the handshake is a GET (RFC 6455 §4.1)",
    )
    assert header_values(result.headers, "Allow") == ["GET"]
    assert result.error is not None and result.error.fault is ws.Fault.NOT_ALLOWED


def test_http_1_0_gets_400() -> None:
    assert_rejection(
        outcome(raw_request(rfc6455(), http="1.0")),
        400,
        "HTTP/1.0: the handshake needs HTTP/1.1 (RFC 6455 §4.1); usually a proxy speaking"
        " HTTP/1.0 to its backend (nginx: proxy_http_version 1.1)",
    )


@pytest.mark.parametrize(
    ("keys", "reason", "fault"),
    [
        ([], "Sec-WebSocket-Key: missing", ws.Fault.MISSING),
        ([""], "Sec-WebSocket-Key: empty", ws.Fault.EMPTY),
        (
            [KEY, KEY],
            "Sec-WebSocket-Key: repeated (2 field lines; one is allowed)",
            ws.Fault.REPEATED,
        ),
        (
            "dGhlIHNhbXBsZSBub25jZQ",
            "Sec-WebSocket-Key: invalid value 'dGhlIHNhbXBsZSBub25jZQ'; expected the base64 of 16 bytes (RFC 6455 §4.1)",
            ws.Fault.INVALID,
        ),
        (
            "dGhlIHNhbXBsZSBub25jZQ!=",
            "Sec-WebSocket-Key: invalid value 'dGhlIHNhbXBsZSBub25jZQ!='; expected the base64 of 16 bytes (RFC 6455 §4.1)",
            ws.Fault.INVALID,
        ),
        (
            "AAAAAAAAAAAAAAAAAAAAAAAAAA==",
            "Sec-WebSocket-Key: invalid value 'AAAAAAAAAAAAAAAAAAAAAAAAAA=='; expected the base64 of 16 bytes (RFC 6455 §4.1)",
            ws.Fault.INVALID,
        ),
    ],
)
def test_key_faults_get_400(keys: list[str] | str, reason: str, fault: ws.Fault) -> None:
    values = [keys] if isinstance(keys, str) else keys
    data = raw_request(rfc6455("13", None, [("Sec-WebSocket-Key", k) for k in values]))
    result = assert_rejection(outcome(data), 400, reason)
    assert result.error is not None
    assert (result.error.field, result.error.fault) == ("Sec-WebSocket-Key", fault)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            raw_request([*UPGRADE, ("Sec-WebSocket-Key", KEY), ("Sec-WebSocket-Version", "13")]),
            "Host: missing (RFC 9112 §3.2)",
        ),
        (
            raw_request([("Host", "a"), ("Host", "b"), *UPGRADE]),
            "Host: repeated (RFC 9112 §3.2: exactly one)",
        ),
        (
            raw_request(
                [
                    ("Host", ""),
                    *UPGRADE,
                    ("Sec-WebSocket-Key", KEY),
                    ("Sec-WebSocket-Version", "13"),
                ]
            ),
            "Host: empty",
        ),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            "not HTTP: a TLS handshake (0x16) reached a plain-text port",
        ),
        (b"\x00\x01garbage", "not HTTP: the request line starts with byte 0x00"),
        (
            b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            "request line: missing (the bytes start with an empty line)",
        ),
        (
            b"GET /\r\nHost: a\r\n\r\n",
            "line 1: not a request line (method SP target SP HTTP/1.1, RFC 9112 §3)",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
            "line 3: not a field line, no colon (RFC 9112 §5)",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade : websocket\r\n\r\n",
            "line 3: whitespace between the field name and the colon (RFC 9112 §5.1)",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n",
            "line 3: the field name is not a token (RFC 9110 §5.1)",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
            "line 3: control character 0x00 in the value of 'X-A'",
        ),
        (
            b"GET / HTTP/1.1\r\n folded\r\nHost: a\r\n\r\n",
            "line 2: a continuation (obs-fold) before any field line (RFC 9112 §5.2)",
        ),
        (
            raw_request([("Host", "a"), ("Content-Length", "1"), ("Content-Length", "2")]),
            "Content-Length: conflicting values",
        ),
        (
            # h11 0.14 raised ValueError for this (CPython's integer digit limit)
            raw_request([*rfc6455(), ("Content-Length", "9" * 5000)]),
            "Content-Length: invalid value (RFC 9110 §8.6)",
        ),
    ],
)
def test_bytes_that_are_not_a_valid_request_get_400(data: bytes, reason: str) -> None:
    result = assert_rejection(outcome(data), 400, reason)
    assert result.error is not None and result.error.status == 400


def test_h11_status_hints_are_kept() -> None:
    data = raw_request([*rfc6455(), ("Transfer-Encoding", "gzip")])
    result = outcome(data)
    assert isinstance(result, ws.Rejected) and result.status == 501
    assert_rejection(result, 501, "Transfer-Encoding: only chunked is implemented (RFC 9112 §6.1)")
    assert result.error is not None and result.error.field == "Transfer-Encoding"


@pytest.mark.parametrize("body", [("Content-Length", "5"), ("Transfer-Encoding", "chunked")])
def test_a_request_body_is_refused(body: tuple[str, str]) -> None:
    result = outcome(raw_request([*rfc6455(), body], body=b"hello"))
    assert_rejection(result, 400, "Content-Length: the handshake request must not carry a body")


def test_content_length_zero_is_fine() -> None:
    assert isinstance(outcome(raw_request([*rfc6455(), ("Content-Length", "0")])), ws.Accepted)


def test_head_larger_than_the_limit_gets_431() -> None:
    big = raw_request(rfc6455(extra=[("X-Filler", "x" * 17000)]))
    assert_rejection(outcome(big), 431, "request head: too large (more than 16384 bytes)")
    small = ws.Policy(max_request_bytes=100)
    assert_rejection(
        outcome(h11_request(rfc6455()), small), 431, "request head: too large (more than 100 bytes)"
    )
    roomy = ws.Policy(max_request_bytes=20000, max_field_line_bytes=20000)
    assert isinstance(outcome(big, roomy), ws.Accepted)


def test_head_exactly_at_the_limit_is_accepted() -> None:
    data = h11_request(rfc6455())
    assert isinstance(outcome(data, ws.Policy(max_request_bytes=len(data))), ws.Accepted)
    assert isinstance(outcome(data, ws.Policy(max_request_bytes=len(data) - 1)), ws.Rejected)


@pytest.mark.parametrize(
    ("version", "origin_header", "origin", "status", "reason"),
    [
        ("13", "Origin", "https://good.example", 101, None),
        ("13", "Origin", "HTTPS://GOOD.example", 101, None),
        ("13", "Origin", "https://evil.example", 403, "Origin: forbidden 'https://evil.example'"),
        ("13", None, None, 403, "Origin: missing; this server accepts listed origins only"),
        ("8", "Sec-WebSocket-Origin", "https://good.example", 101, None),
        (
            "8",
            "Sec-WebSocket-Origin",
            "https://evil.example",
            403,
            "Sec-WebSocket-Origin: forbidden 'https://evil.example'",
        ),
        ("8", "Origin", "https://good.example", 101, None),
        (
            "8",
            None,
            None,
            403,
            "Sec-WebSocket-Origin: missing; this server accepts listed origins only",
        ),
    ],
)
def test_origin_policy(
    version: str, origin_header: str | None, origin: str | None, status: int, reason: str | None
) -> None:
    extra = [(origin_header, origin)] if origin_header and origin else []
    result = outcome(
        h11_request(rfc6455(version, extra=extra)),
        ws.Policy([13, 8], origins=["https://good.example"]),
    )
    if reason is None:
        assert isinstance(result, ws.Accepted) and result.request.origin == origin
    else:
        rejected = assert_rejection(result, status, reason)
        assert rejected.error is not None and rejected.error.status == 403


def test_repeated_origin_is_400() -> None:
    data = h11_request(rfc6455(extra=[("Origin", "http://a"), ("Origin", "http://b")]))
    assert_rejection(outcome(data), 400, "Origin: repeated (2 field lines; one is allowed)")


def test_subprotocol_chosen_by_server_preference() -> None:
    data = h11_request(
        rfc6455(
            extra=[("Sec-WebSocket-Protocol", "chat, superchat"), ("Sec-WebSocket-Protocol", "v2")]
        )
    )
    result = outcome(data, ws.Policy(subprotocols=["v2", "superchat"]))
    assert isinstance(result, ws.Accepted)
    assert result.request.subprotocols == ("chat", "superchat", "v2")
    assert result.subprotocol == "v2"
    assert header_values(result.headers, "Sec-WebSocket-Protocol") == ["v2"]
    assert b"\r\nSec-WebSocket-Protocol: v2\r\n" in result.response
    none_shared = outcome(data, ws.Policy(subprotocols=["mqtt"]))
    assert isinstance(none_shared, ws.Accepted) and none_shared.subprotocol is None
    assert b"Sec-WebSocket-Protocol" not in none_shared.response


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (
            "Sec-WebSocket-Protocol",
            "chat, a b",
            "Sec-WebSocket-Protocol: invalid value 'chat, a b'; expected tokens",
        ),
        (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; =1",
            "Sec-WebSocket-Extensions: invalid value 'permessage-deflate; =1' at byte 0 (RFC 6455 §9.1)",
        ),
        (
            "Sec-WebSocket-Extensions",
            'a, b; x="unterminated',
            "Sec-WebSocket-Extensions: invalid value 'a, b; x=\"unterminated' at byte 3 (RFC 6455 §9.1)",
        ),
    ],
)
def test_malformed_offers_get_400(field: str, value: str, reason: str) -> None:
    assert_rejection(outcome(h11_request(rfc6455(extra=[(field, value)]))), 400, reason)


def test_extension_offers_are_kept_as_sent() -> None:
    value = 'permessage-deflate; client_max_window_bits, x-custom; q="a, b"'
    result = outcome(h11_request(rfc6455(extra=[("Sec-WebSocket-Extensions", value)])))
    assert isinstance(result, ws.Accepted)
    assert result.request.extensions == (
        "permessage-deflate; client_max_window_bits",
        'x-custom; q="a, b"',
    )


def test_reason_never_breaks_the_response() -> None:
    nasty = "\x7f\xff" + "9" * 300
    result = outcome(raw_request(rfc6455(nasty)))
    assert isinstance(result, ws.Rejected)
    assert "\n" not in result.reason and "..." in result.reason
    assert_rejection(result, 400, result.reason)


def test_a_fault_h11_names_in_words_of_its_own_is_still_a_plain_reason() -> None:
    from wsnegotiate._head import describe_malformed

    head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"  # every line well formed
    assert describe_malformed(head, "some future h11 message") == (
        "malformed HTTP request head (RFC 9112)",
        None,
    )
