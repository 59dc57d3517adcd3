"""Header grammars, with realistic, synthetic and pathological cases."""

from __future__ import annotations

import pytest

from wsnegotiate._headers import (
    check_field_value,
    parse_extension_list,
    parse_token_list,
    parse_version_value,
    valid_host,
    valid_key,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"Upgrade", [b"Upgrade"]),  # realistic
        (b"keep-alive, Upgrade", [b"keep-alive", b"Upgrade"]),  # realistic: Firefox
        (b"a,b", [b"a", b"b"]),  # synthetic
        (
            b",,\t,  , ,Upgrade  ,,",
            [b"Upgrade"],
        ),  # pathological: empty elements ignored (RFC 9110 §5.6.1)
        (b"", []),
        (b"a b", None),
        (b"a;b", None),
        (b"\xffx", None),
    ],
)
def test_token_lists(value: bytes, expected: list[bytes] | None) -> None:
    assert parse_token_list(value) == expected


def test_protocol_lists() -> None:
    assert parse_token_list(b"h2c, websocket, HTTP/2.0", protocols=True) == [
        b"h2c",
        b"websocket",
        b"HTTP/2.0",
    ]
    assert parse_token_list(b"HTTP/2.0", protocols=False) is None
    assert parse_token_list(b"a/b/c", protocols=True) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            b"permessage-deflate; client_max_window_bits",
            ("permessage-deflate; client_max_window_bits",),
        ),
        (
            b"permessage-deflate; client_max_window_bits=15, permessage-deflate",
            ("permessage-deflate; client_max_window_bits=15", "permessage-deflate"),
        ),
        (b'x; a="1, 2";b=3 ,, y', ('x; a="1, 2";b=3', "y")),
        (b'x; a="esc\\"aped"', ('x; a="esc\\"aped"',)),
        (b", ,", ()),
        (b"x;", 0),
        (b"x; a=", 0),
        (b"a, b c", 3),
        (b'x; a="open', 0),
    ],
)
def test_extension_lists(value: bytes, expected: tuple[str, ...] | int) -> None:
    assert parse_extension_list(value) == expected
    assert parse_extension_list(value) == expected  # memoized answer is the same


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"13", 13),
        (b"0", 0),
        (b"255", 255),
        (b" 8\t", 8),
        (b"256", None),
        (b"013", None),
        (b"+1", None),
        (b"1_3", None),
        (b"13.0", None),
        (b"0x0d", None),
        ("١٣".encode(), None),
        (b"13, 8", None),
        (b"", None),
        (b"1000", None),
    ],
)
def test_version_values(value: bytes, expected: int | None) -> None:
    assert parse_version_value(value) == expected


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        (b"dGhlIHNhbXBsZSBub25jZQ==", True),
        (b"AAAAAAAAAAAAAAAAAAAAAA==", True),
        (b"dGhlIHNhbXBsZSBub25jZQ", False),
        (b"dGhlIHNhbXBsZSBub25jZQ=\n", False),
        (b"AAAAAAAAAAAAAAAAAAAAAAAA", False),
        (b"dGhl IHNhbXBsZSBub25jZQ=", False),
    ],
)
def test_keys(key: bytes, valid: bool) -> None:
    assert valid_key(key) is valid


HOSTS = [  # RFC 9110 §7.2: Host = uri-host [ ":" port ], by RFC 3986 §3.2.2-3.2.3
    # realistic
    (b"example.com", True),
    (b"example.com:8080", True),
    (b"localhost:8765", True),
    (b"127.0.0.1", True),
    (b"[::1]:80", True),
    (b"[2001:db8::7]", True),
    (b"xn--bcher-kva.example", True),
    # synthetic: what the grammar allows
    (b"host:", True),  # port = *DIGIT: empty (RFC 3986 §3.2.3; RFC 9110 §4.2.3: the default)
    (b"EXAMPLE.COM", True),
    (b"a%41b", True),  # pct-encoded
    (b"sub_domain~!$&'()*+,;=", True),  # unreserved and sub-delims
    (b"999.1.1.1", True),  # not an IPv4address, so a reg-name
    (b"[::ffff:192.0.2.1]", True),
    (b"[v1.fe80::a+en1]", True),  # IPvFuture
    (b"host:99999", True),  # port = *DIGIT, no range in the grammar
    # pathological
    (b"user@host", False),  # userinfo (RFC 9110 §4.2.4)
    (b"user:pw@host:80", False),
    (b"host:80:80", False),
    (b"host:abc", False),
    (b"host:-1", False),
    (b"ho st", False),
    (b"host\t", False),
    (b"[::1", False),
    (b"::1", False),
    (b"[::1]x", False),
    (b"[]", False),
    (b"[::g]", False),
    (b"[fe80::1%eth0]", False),  # a zone needs RFC 6874's %25, not in RFC 3986
    (b"[1.2.3.4]", False),
    (b":80", False),  # an http URI's host is never empty (RFC 9110 §4.2.1)
    (b"", False),
    (b"a%4", False),
    (b"a%zz", False),
    (b"host/path", False),
    (b"host?q", False),
    (b"host#f", False),
    ("bücher.example".encode(), False),  # raw UTF-8: RFC 3986 wants it pct-encoded
    (b"a\x00b", False),
]


@pytest.mark.parametrize(("value", "valid"), HOSTS)
def test_host_values(value: bytes, valid: bool) -> None:
    assert valid_host(value) is valid


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("fine", True),
        ("", True),
        ("a\r\nb", False),
        ("nul\x00", False),
        (" pad", False),
        ("é", True),
        ("€", False),
    ],
)
def test_outgoing_values(value: str, ok: bool) -> None:
    assert check_field_value(value) is ok


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
def test_the_extension_memo_is_bounded_in_bytes() -> None:
    """A peer that offers long, distinct extension lists must not grow the memo of
    parses: only short values are remembered (issue: 300 handshakes of 16 KB
    offers once pinned 112 MB)."""
    import tracemalloc

    import wsnegotiate as ws
    from wsnegotiate import _headers

    policy = ws.Policy(max_request_bytes=40_000, max_field_line_bytes=40_000, max_offers=2000)
    request = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(40):
        offers = ", ".join(f"x{i}-{j}; p" for j in range(1500))  # about 16 KB
        result = ws.negotiate(
            f"{request}Sec-WebSocket-Extensions: {offers}\r\n\r\n".encode(), policy
        )
        assert isinstance(result, ws.Accepted) and len(result.request.extensions) == 1500
        del result
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert all(len(value) <= 128 for value in _headers._extension_memo)
    assert grown < 500_000, grown  # 40 such parses, if kept, would hold about 10 MB
