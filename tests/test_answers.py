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


@pytest.mark.parametrize("method", ["POST", "PUT", "OPTIONS", "get"])
def test_method_other_than_get_gets_405(method: str) -> None:
    result = assert_rejection(
        outcome(raw_request(rfc6455(), method=method)),
        405,
        f"method '{method}': not allowed; the handshake is a GET (RFC 6455 §4.1)",
    )
    assert header_values(result.headers, "Allow") == ["GET"]
    assert result.error is not None and result.error.fault is ws.Fault.NOT_ALLOWED


def test_head_gets_the_405_without_content() -> None:
    """RFC 9110 §9.3.2: no content in an answer to HEAD; its Content-Length may
    stay, telling the length a GET would get. The event's bytes are the wire's."""
    reason = "method 'HEAD': not allowed; the handshake is a GET (RFC 6455 §4.1)"
    result = outcome(raw_request(rfc6455(), method="HEAD") + b"\x81\x00")
    assert_rejection(result, 405, reason, method="HEAD")
    assert header_values(result.headers, "Allow") == ["GET"]
    assert not result.response.endswith(reason.encode() + b"\n")


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (  # refused by the reader of the head, before the decision
            b"HEAD / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
            400,
            "line 3: not a field line, no colon (RFC 9112 §5)",
        ),
        (
            raw_request(rfc6455(extra=[(f"X-{n}", "a") for n in range(100)]), method="HEAD"),
            431,
            "request head: too many field lines (105; the limit is 100)",
        ),
        (
            b"HEAD / HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"p" * 17000,
            431,
            "request head: too large (more than 16384 bytes)",
        ),
    ],
)
def test_every_refusal_of_a_head_request_is_without_content(
    data: bytes, status: int, reason: str
) -> None:
    negotiator = ws.ServerNegotiator()
    for at in range(0, len(data), 1000):  # however chunked
        negotiator.receive_data(data[at : at + 1000])
    assert_rejection(negotiator.next_event(), status, reason, method="HEAD")


def test_a_head_request_cut_short_is_answered_without_content() -> None:
    negotiator = ws.ServerNegotiator()
    negotiator.receive_data(b"HEAD /chat HTTP/1.1\r\nHost: a\r\n")
    assert isinstance(negotiator.next_event(), ws.NeedData)
    assert_rejection(negotiator.time_out(10), 408, "request head: incomplete after 10 s", "HEAD")
    negotiator = ws.ServerNegotiator()
    negotiator.receive_data(b"HEAD /chat HTTP/1.1\r\nHost: a\r\n")
    negotiator.receive_data(b"")
    reason = "request head: incomplete (the connection closed after 30 bytes)"
    assert_rejection(negotiator.next_event(), 400, reason, "HEAD")


@pytest.mark.parametrize(
    "host",
    ["user@host", "user:pw@example.com", "host:80:80", "host:abc", "ho st", "[::1", ":80", "a%zz"],
)
def test_an_invalid_host_gets_400(host: str) -> None:
    """RFC 9112 §3.2: a server MUST answer 400 to a Host field with an invalid value."""
    data = raw_request([("Host", host), *rfc6455()[1:]])
    shown = "'" + host + "'"
    reason = (
        f'Host: invalid value {shown}; expected uri-host [ ":" port ], no userinfo'
        " (RFC 9110 §7.2, RFC 3986 §3.2.2)"
    )
    result = assert_rejection(outcome(data), 400, reason)
    assert result.error is not None
    assert (result.error.field, result.error.fault) == ("Host", ws.Fault.INVALID)


@pytest.mark.parametrize("host", ["example.com", "example.com:8080", "[::1]:80", "127.0.0.1", "h:"])
def test_a_valid_host_is_the_requests(host: str) -> None:
    result = outcome(raw_request([("Host", host), *rfc6455()[1:]]))
    assert isinstance(result, ws.Accepted) and result.request.host == host


@pytest.mark.parametrize(
    ("target", "fault"),
    [
        ("*", "asterisk-form is for OPTIONS only (RFC 9112 §3.2.4)"),
        ("/chat#room", "a fragment ('#') is in no request-target form (RFC 9112 §3.2)"),
        ("/#", "a fragment ('#') is in no request-target form (RFC 9112 §3.2)"),
        (
            "http://example.com/chat#room",
            "a fragment ('#') is in no request-target form (RFC 9112 §3.2)",
        ),
        ("example.com:443", "authority-form is for CONNECT only (RFC 9112 §3.2.3)"),
        ("[::1]:443", "authority-form is for CONNECT only (RFC 9112 §3.2.3)"),
        ("example.com:", "authority-form is for CONNECT only (RFC 9112 §3.2.3)"),
        ("8080", "no request-target form (origin-form starts with '/', RFC 9112 §3.2)"),
        ("[::1]", "no request-target form (origin-form starts with '/', RFC 9112 §3.2)"),
        (
            "ws://example.com/chat",
            "absolute-form with scheme 'ws'; the handshake's is http or https"
            " (RFC 6455 §4.2.1 item 2)",
        ),
        (
            "wss://example.com/chat",
            "absolute-form with scheme 'wss'; the handshake's is http or https"
            " (RFC 6455 §4.2.1 item 2)",
        ),
        (
            "mailto:a@example.com",
            "absolute-form with scheme 'mailto'; the handshake's is http or https"
            " (RFC 6455 §4.2.1 item 2)",
        ),
        (
            "http://user@example.com/chat",
            "userinfo in the authority (RFC 9110 §4.2.4)",
        ),
        (
            "http:///chat",
            "the authority '' is not uri-host [ \":\" port ] (RFC 9110 §4.2.1, RFC 3986 §3.2.2)",
        ),
        (
            "http://a:b:c/chat",
            "the authority 'a:b:c' is not uri-host [ \":\" port ] (RFC 9110 §4.2.1, RFC 3986 §3.2.2)",
        ),
        ("http:/chat", "an http(s) URI without an authority (RFC 9110 §4.2.1)"),
        ("chat", "no request-target form (origin-form starts with '/', RFC 9112 §3.2)"),
        ("?q=1", "no request-target form (origin-form starts with '/', RFC 9112 §3.2)"),
    ],
)
def test_a_request_target_in_no_form_of_a_get_gets_400(target: str, fault: str) -> None:
    shown = "'" + target + "'"
    result = assert_rejection(
        outcome(raw_request(rfc6455(), target=target)), 400, f"request-target {shown}: {fault}"
    )
    assert result.error is not None
    assert (result.error.field, result.error.fault) == (None, ws.Fault.INVALID)


@pytest.mark.parametrize(
    ("target", "path", "host"),
    [
        ("/chat?room=1", "/chat?room=1", "example.com"),
        ("http://example.net:8080/chat?room=1", "/chat?room=1", "example.net:8080"),
        ("HTTPS://Example.NET/chat", "/chat", "Example.NET"),
        ("http://[::1]:80", "/", "[::1]:80"),
        ("http://example.net?room=1", "/?room=1", "example.net"),
        ("http://example.net//a/b/", "//a/b/", "example.net"),
    ],
)
def test_absolute_form_is_accepted_and_read_in_origin_form(
    target: str, path: str, host: str
) -> None:
    """RFC 9112 §3.2.2: a server MUST accept absolute-form, and MUST ignore the Host
    field for the target's authority. ``target`` is what a server routes on, in
    origin form; ``host`` the authority; the Host field as sent stays in ``headers``
    (it is still checked: RFC 9112 §3.2)."""
    result = outcome(raw_request(rfc6455(), target=target))
    assert isinstance(result, ws.Accepted), result
    assert (result.request.target, result.request.host) == (path, host)
    assert (b"Host", b"example.com") in result.request.headers


def test_absolute_form_still_needs_a_valid_host_field() -> None:
    data = raw_request([("Host", "user@x"), *rfc6455()[1:]], target="http://example.net/")
    reason = (
        "Host: invalid value 'user@x'; expected uri-host [ \":\" port ], no userinfo"
        " (RFC 9110 §7.2, RFC 3986 §3.2.2)"
    )
    assert_rejection(outcome(data), 400, reason)


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
    assert_rejection(result, 400, f"{body[0]}: the handshake request must not carry a body")
    assert isinstance(result, ws.Rejected) and result.error is not None
    assert result.error.field == body[0]


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


PROTOCOL_NEEDS = "at least one token (RFC 6455 §4.3: 1#token; RFC 9110 §5.6.1.2)"
EXTENSIONS_NEED = "at least one extension (RFC 6455 §9.1: 1#extension; RFC 9110 §5.6.1.2)"


@pytest.mark.parametrize(
    ("field", "values", "reason", "fault"),
    [
        (
            "Sec-WebSocket-Protocol",
            [""],
            f"Sec-WebSocket-Protocol: empty; expected {PROTOCOL_NEEDS}",
            ws.Fault.EMPTY,
        ),
        (
            "Sec-WebSocket-Protocol",
            [","],
            f"Sec-WebSocket-Protocol: invalid value ','; expected {PROTOCOL_NEEDS}",
            ws.Fault.INVALID,
        ),
        (
            "Sec-WebSocket-Protocol",
            [", ,"],
            f"Sec-WebSocket-Protocol: invalid value ', ,'; expected {PROTOCOL_NEEDS}",
            ws.Fault.INVALID,
        ),
        (
            "Sec-WebSocket-Protocol",
            ["", ""],
            f"Sec-WebSocket-Protocol: empty; expected {PROTOCOL_NEEDS}",
            ws.Fault.EMPTY,
        ),
        (
            "Sec-WebSocket-Extensions",
            [""],
            f"Sec-WebSocket-Extensions: empty; expected {EXTENSIONS_NEED}",
            ws.Fault.EMPTY,
        ),
        (
            "Sec-WebSocket-Extensions",
            [", \t ,"],
            f"Sec-WebSocket-Extensions: invalid value ', \\x09 ,'; expected {EXTENSIONS_NEED}",
            ws.Fault.INVALID,
        ),
        (
            "Sec-WebSocket-Extensions",
            [",", ","],
            f"Sec-WebSocket-Extensions: invalid value ',, ,'; expected {EXTENSIONS_NEED}",
            ws.Fault.INVALID,
        ),
    ],
)
def test_an_offer_field_without_an_element_gets_400(
    field: str, values: list[str], reason: str, fault: ws.Fault
) -> None:
    """Both fields are 1#element lists: RFC 9110 §5.6.1.2 names "", "," and ", ,"
    as invalid for one; RFC 6455 §4.2.1 asks for a 400."""
    data = raw_request(rfc6455(extra=[(field, value) for value in values]))
    result = assert_rejection(outcome(data), 400, reason)
    assert result.error is not None
    assert (result.error.field, result.error.fault) == (field, fault)


@pytest.mark.parametrize(
    "extra",
    [
        [("Sec-WebSocket-Protocol", "chat, , superchat")],
        [("Sec-WebSocket-Protocol", ", chat,")],
        [("Sec-WebSocket-Protocol", ""), ("Sec-WebSocket-Protocol", "chat")],
        [("Sec-WebSocket-Extensions", ", x-foo, ,permessage-deflate")],
    ],
)
def test_empty_elements_beside_real_ones_are_ignored(extra: list[tuple[str, str]]) -> None:
    """RFC 9110 §5.6.1.2: a recipient MUST accept and ignore empty elements."""
    result = outcome(raw_request(rfc6455(extra=extra)))
    assert isinstance(result, ws.Accepted), result
    assert result.request.subprotocols + result.request.extensions in (
        ("chat", "superchat"),
        ("chat",),
        ("x-foo", "permessage-deflate"),
    )


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
