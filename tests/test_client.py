"""ClientNegotiator: requests for every version, answer checks, RFC 6455 §4.4 retry."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import h11
import pytest
from factory import parse_response
from hypothesis import given
from hypothesis import strategies as st

import wsnegotiate as ws
from wsnegotiate import Version
from wsnegotiate._hixie import challenge_answer, key_number, make_key


def counter() -> Callable[[int], bytes]:
    """A deterministic random source, so requests are reproducible."""
    count = itertools.count()
    return lambda n: bytes(next(count) % 256 for _ in range(n))


def request_of(client: ws.ClientNegotiator) -> tuple[h11.Request, bytes]:
    """Parse the client's request with h11's server: the head and what follows it."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(client.data_to_send())
    head = server.next_event()
    assert isinstance(head, h11.Request)
    return head, server.trailing_data[0]


def fields(request: h11.Request) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in request.headers.raw_items()}


@pytest.mark.parametrize(
    ("version", "origin_field"),
    [
        (13, "Origin"),
        (8, "Sec-WebSocket-Origin"),
        (7, "Sec-WebSocket-Origin"),
        (6, "Sec-WebSocket-Origin"),
        (5, "Sec-WebSocket-Origin"),
        (4, "Sec-WebSocket-Origin"),
    ],
)
def test_hybi_requests(version: int, origin_field: str) -> None:
    client = ws.ClientNegotiator(
        "example.com:80",
        "/chat?x=1",
        version,
        origin="http://o.example",
        subprotocols=["chat", "v2"],
        extensions=["permessage-deflate"],
        headers=[("X-A", "b")],
        random=counter(),
    )
    head, after = request_of(client)
    assert (head.method, head.target) == (b"GET", b"/chat?x=1")
    assert fields(head) == {
        "Host": "example.com:80",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "AAECAwQFBgcICQoLDA0ODw==",
        "Sec-WebSocket-Version": str(version),
        origin_field: "http://o.example",
        "Sec-WebSocket-Protocol": "chat, v2",
        "Sec-WebSocket-Extensions": "permessage-deflate",
        "X-A": "b",
    }
    assert after == b""
    assert client.data_to_send() == b""
    assert client.version is Version(version)


def test_hixie_76_request_and_the_draft_vector() -> None:
    # draft-hixie-thewebsocketprotocol-76 §1.3's own example
    n1, n2 = key_number("4 @1  46546xW%0l 1 5"), key_number("12998 5 Y3 1  .P00")
    assert (n1, n2) == (829309203, 259970620)
    assert challenge_answer(829309203, 259970620, b"^n:ds[4U") == b"8jKS'y:G*Co,Wxa-"
    client = ws.ClientNegotiator(
        "example.com",
        "/demo",
        Version.Version0,
        origin="http://example.com",
        draft=2,
        subprotocols=["sample"],
        random=counter(),
    )
    head, key3 = request_of(client)
    sent = fields(head)
    assert sent["Upgrade"] == "WebSocket" and sent["Sec-WebSocket-Draft"] == "2"
    assert sent["Origin"] == "http://example.com" and sent["Sec-WebSocket-Protocol"] == "sample"
    assert "Sec-WebSocket-Key" not in sent and "Sec-WebSocket-Version" not in sent
    assert len(key3) == 8
    numbers = key_number(sent["Sec-WebSocket-Key1"]), key_number(sent["Sec-WebSocket-Key2"])
    assert None not in numbers


@given(st.binary(min_size=200, max_size=200))
def test_hixie_76_keys_follow_the_draft(seed: bytes) -> None:
    stream = iter(seed * 50)
    key, number = make_key(lambda n: bytes(next(stream) for _ in range(n)))
    assert key_number(key) == number
    assert not key.startswith(" ") and not key.endswith(" ")
    assert 1 <= key.count(" ") <= 12
    assert number * key.count(" ") <= 4294967295
    assert all(c == " " or c.isdigit() or 0x21 <= ord(c) <= 0x7E for c in key)


def test_key_number_refuses_keys_a_server_would_refuse() -> None:
    assert key_number("123") is None  # no spaces
    assert key_number("1 2 3") is None  # 123 % 2
    assert key_number(" ") is None  # no digits


def test_hixie_75_and_raw_requests() -> None:
    head, _ = request_of(
        ws.ClientNegotiator("h", "/", Version.VersionUnknown, origin="http://h", subprotocols=["s"])
    )
    assert fields(head) == {
        "Host": "h",
        "Upgrade": "WebSocket",
        "Connection": "Upgrade",
        "Origin": "http://h",
        "WebSocket-Protocol": "s",
    }
    raw = ws.ClientNegotiator("h", "/", "013", origin="http://h")
    sent = fields(request_of(raw)[0])
    assert sent["Sec-WebSocket-Version"] == "013" and sent["Origin"] == "http://h"
    assert raw.version is Version.VersionUnknown  # 013 is malformed, not 13
    assert ws.ClientNegotiator("h", "/", "99").version is Version.VersionUnknown
    arabic = ws.ClientNegotiator("h", "/", "١٣")
    assert arabic.version is Version.VersionUnknown
    result = ws.negotiate(arabic.data_to_send())  # our server names the bytes it refused
    assert isinstance(result, ws.Rejected)
    assert result.reason.startswith("Sec-WebSocket-Version: invalid value '\\xd9\\xa1\\xd9\\xa3'")
    none = fields(request_of(ws.ClientNegotiator("h", "/", ""))[0])
    assert "Sec-WebSocket-Version" not in none and "Sec-WebSocket-Key" in none


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": 14}, "version 14 has no Version member"),
        ({"subprotocols": ["a b"]}, "not an RFC 9110 token"),
        ({"subprotocols": ["€"]}, "not an RFC 9110 token"),
        ({"draft": 2}, "draft= goes with Version0"),
        ({"origin": "http://café.example"}, "cannot write this request"),
        ({"headers": [("X", "a\r\nb")]}, "cannot write this request"),
        ({"target": "no space allowed"}, "cannot write this request"),
    ],
)
def test_local_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match=message):
        ws.ClientNegotiator("h", **kwargs)  # type: ignore[arg-type]


_CONTROL = "no CR, LF, NUL or other control character (RFC 9110 §5.5)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "h\x00"}, f"Host: value 'h\\x00' holds '\\x00' at 1: {_CONTROL}"),
        ({"host": "h "}, "Host: value 'h ' has padding: whitespace at either end (RFC 9110 §5.5)"),
        ({"origin": "http://café.example"}, "Origin: value 'http://caf\\xe9.example' is not ASCII"),
        ({"headers": [("X", "a\r\nb")]}, f"X: value 'a\\r\\nb' holds '\\r' at 1: {_CONTROL}"),
        # h11 writes these control characters; RFC 9110 §5.5 has no place for them
        ({"headers": [("X", "a\x01b")]}, f"X: value 'a\\x01b' holds '\\x01' at 1: {_CONTROL}"),
        (
            {"origin": "http://h\x7f"},
            f"Origin: value 'http://h\\x7f' holds '\\x7f' at 8: {_CONTROL}",
        ),
        ({"headers": [("X Y", "b")]}, "header name 'X Y' is not a token (RFC 9110 §5.1, §5.6.2)"),
        ({"headers": [("HOST", "b")]}, "header HOST is written from host=; a request has exactly"),
        # h11 rewrites or refuses these; the handshake's request has no body to frame
        ({"headers": [("Content-Length", "0")]}, "header Content-Length would frame a body"),
        ({"headers": [("transfer-encoding", "chunked")]}, "header transfer-encoding would frame"),
        (
            {"target": "/a b"},
            "target '/a b' is not one or more visible ASCII characters (RFC 9112 §3.2)",
        ),
        ({"target": ""}, "target '' is not one or more visible ASCII characters"),
        ({"extensions": ["x-a", "x-b\n"]}, "Sec-WebSocket-Extensions: value 'x-a, x-b\\n' holds"),
        # refused at once, though hixie-76 does not send them: a retry() would
        (
            {"version": Version.Version0, "extensions": ["x "]},
            "Sec-WebSocket-Extensions: value 'x ' has padding",
        ),
        (
            {"version": "1\x0b3"},
            f"Sec-WebSocket-Version: value '1\\x0b3' holds '\\x0b' at 1: {_CONTROL}",
        ),
        ({"version": "\ud800"}, "Sec-WebSocket-Version: value '\\ud800' has no UTF-8 form"),
    ],
)
def test_local_errors_name_the_field(kwargs: dict[str, object], message: str) -> None:
    """Every value the caller gives is checked before the request is written: a
    field value by RFC 9110 §5.5 (ASCII, but for a raw version), a name as a token,
    the target as visible ASCII; no Host of the caller's, nothing that frames a body."""
    with pytest.raises(ws.LocalProtocolError) as info:
        ws.ClientNegotiator(**{"host": "h", **kwargs})  # type: ignore[arg-type]
    assert info.value.message.startswith(f"cannot write this request: {message}")


def test_raw_versions_go_out_as_utf8() -> None:
    sent = ws.ClientNegotiator("h", "/", "١٣", random=counter()).data_to_send()
    assert b"\r\nSec-WebSocket-Version: \xd9\xa1\xd9\xa3\r\n" in sent


# -- answers -----------------------------------------------------------------------


def answer(
    client: ws.ClientNegotiator, response: bytes, eof: bool = False
) -> ws.NeedData | ws.Connected | ws.Refused:
    client.receive_data(response)
    if eof:
        client.receive_data(b"")
    return client.next_event()


def accept_for(
    client: ws.ClientNegotiator, policy: ws.Policy | None = None, extra: bytes = b""
) -> bytes:
    result = ws.negotiate(client.data_to_send(), policy)
    assert isinstance(result, ws.Accepted)
    return result.response + extra


def response(*lines: str, status: str = "101 Switching Protocols", body: bytes = b"") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n"
    ).encode() + body


KEY_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def rfc_client(**kwargs: object) -> ws.ClientNegotiator:
    fixed = iter([bytes.fromhex("746865207361") + b"mple nonce"])  # the RFC 6455 §1.3 nonce
    return ws.ClientNegotiator("h", random=lambda n: next(fixed), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lines", "field", "fault", "reason"),
    [
        (
            ["Connection: Upgrade", f"Sec-WebSocket-Accept: {KEY_ACCEPT}"],
            "Upgrade",
            ws.Fault.MISSING,
            "Upgrade: missing",
        ),
        (
            ["Upgrade: h2c", "Connection: Upgrade", f"Sec-WebSocket-Accept: {KEY_ACCEPT}"],
            "Upgrade",
            ws.Fault.INVALID,
            "Upgrade: invalid 'h2c'; no 'websocket' token",
        ),
        (
            ["Upgrade: websocket", f"Sec-WebSocket-Accept: {KEY_ACCEPT}"],
            "Connection",
            ws.Fault.MISSING,
            "Connection: missing",
        ),
        (
            ["Upgrade: websocket", "Connection: close", f"Sec-WebSocket-Accept: {KEY_ACCEPT}"],
            "Connection",
            ws.Fault.INVALID,
            "Connection: invalid 'close'; no 'upgrade' token",
        ),
        (
            ["Upgrade: websocket", "Connection: Upgrade"],
            "Sec-WebSocket-Accept",
            ws.Fault.MISSING,
            "Sec-WebSocket-Accept: missing",
        ),
        (
            [
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Accept: {KEY_ACCEPT}",
                f"Sec-WebSocket-Accept: {KEY_ACCEPT}",
            ],
            "Sec-WebSocket-Accept",
            ws.Fault.REPEATED,
            "Sec-WebSocket-Accept: repeated",
        ),
        (
            ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: AAAA"],
            "Sec-WebSocket-Accept",
            ws.Fault.INVALID,
            "Sec-WebSocket-Accept: invalid 'AAAA' does not match the key",
        ),
        (
            [
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Accept: {KEY_ACCEPT}",
                "Sec-WebSocket-Protocol: mqtt",
            ],
            "Sec-WebSocket-Protocol",
            ws.Fault.INVALID,
            "Sec-WebSocket-Protocol: invalid 'mqtt' was not offered",
        ),
        (
            [
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Accept: {KEY_ACCEPT}",
                "Sec-WebSocket-Protocol: chat",
                "Sec-WebSocket-Protocol: chat",
            ],
            "Sec-WebSocket-Protocol",
            ws.Fault.REPEATED,
            "Sec-WebSocket-Protocol: repeated",
        ),
        (
            [
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Accept: {KEY_ACCEPT}",
                "Sec-WebSocket-Extensions: x-other",
            ],
            "Sec-WebSocket-Extensions",
            ws.Fault.INVALID,
            "Sec-WebSocket-Extensions: invalid 'x-other' was not offered",
        ),
        (
            [
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Accept: {KEY_ACCEPT}",
                "Sec-WebSocket-Extensions: a;",
            ],
            "Sec-WebSocket-Extensions",
            ws.Fault.INVALID,
            "Sec-WebSocket-Extensions: invalid at byte 0",
        ),
    ],
)
def test_invalid_101s_fail_naming_the_field(
    lines: list[str], field: str, fault: ws.Fault, reason: str
) -> None:
    client = rfc_client(subprotocols=["chat"], extensions=["permessage-deflate"])
    client.data_to_send()
    with pytest.raises(ws.InvalidResponse) as info:
        answer(client, response(*lines))
    assert (info.value.field, info.value.fault, info.value.reason, info.value.status) == (
        field,
        fault,
        reason,
        101,
    )
    assert client.state is ws.ClientState.FAILED
    with pytest.raises(ws.LocalProtocolError):
        client.next_event()


def test_valid_101_with_any_case_and_lists() -> None:
    client = rfc_client(
        subprotocols=["chat"], extensions=["permessage-deflate; client_max_window_bits"]
    )
    event = answer(
        client,
        response(
            "upgrade: WebSocket",
            "connection: keep-alive, UPGRADE",
            f"sec-websocket-accept: {KEY_ACCEPT}",
            "Sec-WebSocket-Protocol: chat",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover",
        )
        + b"\x81\x02hi",
    )
    assert isinstance(event, ws.Connected)
    assert (event.subprotocol, event.extensions, event.trailing_data) == (
        "chat",
        ("permessage-deflate; server_no_context_takeover",),
        b"\x81\x02hi",
    )
    with pytest.raises(ws.LocalProtocolError, match="frame layer"):
        client.receive_data(b"more")


def test_hixie_76_answer_is_checked() -> None:
    def server_answer(client: ws.ClientNegotiator, tamper: bool = False) -> tuple[bytes, bytes]:
        head, key3 = request_of(client)
        sent = fields(head)
        number1, number2 = (
            key_number(sent["Sec-WebSocket-Key1"]),
            key_number(sent["Sec-WebSocket-Key2"]),
        )
        assert number1 is not None and number2 is not None
        md5 = challenge_answer(number1, number2, key3)
        if tamper:
            md5 = bytes([md5[0] ^ 1]) + md5[1:]
        head_bytes = response(
            "Upgrade: WebSocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Origin: http://h",
            "Sec-WebSocket-Location: ws://h/",
            status="101 WebSocket Protocol Handshake",
        )
        return head_bytes, md5

    client = ws.ClientNegotiator("h", "/", Version.Version0, origin="http://h")
    head, md5 = server_answer(client)
    assert isinstance(answer(client, head + md5[:10]), ws.NeedData)  # the answer comes in pieces
    event = answer(client, md5[10:] + b"\x00hello\xff")
    assert isinstance(event, ws.Connected)
    assert (event.version, event.raw_version, event.trailing_data) == (
        Version.Version0,
        None,
        b"\x00hello\xff",
    )

    tampered = ws.ClientNegotiator("h", "/", Version.Version0)
    head, md5 = server_answer(tampered, tamper=True)
    with pytest.raises(ws.InvalidResponse, match="challenge answer: invalid"):
        answer(tampered, head + md5)

    short = ws.ClientNegotiator("h", "/", Version.Version0)
    head, md5 = server_answer(short)
    with pytest.raises(
        ws.InvalidResponse, match="challenge answer: incomplete \\(4 of 16 bytes\\)"
    ):
        answer(short, head + md5[:4], eof=True)


def test_hixie_75_answer() -> None:
    client = ws.ClientNegotiator("h", "/", Version.VersionUnknown, subprotocols=["s"])
    client.data_to_send()
    event = answer(
        client,
        response(
            "Upgrade: WebSocket",
            "Connection: Upgrade",
            "WebSocket-Protocol: s",
            status="101 Web Socket Protocol Handshake",
        ),
    )
    assert isinstance(event, ws.Connected)
    assert (event.version, event.subprotocol) == (Version.VersionUnknown, "s")


@pytest.mark.parametrize(
    ("data", "eof", "reason"),
    [
        (b"", True, "the server closed the connection without answering"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", False, "not an HTTP response"),
        (b"HTTP/1.1 400 Bad\r\nContent-Length: 10\r\n\r\nabc", True, "not an HTTP response"),
    ],
)
def test_answers_that_are_not_http(data: bytes, eof: bool, reason: str) -> None:
    client = rfc_client()
    with pytest.raises(ws.InvalidResponse, match=reason) as info:
        answer(client, data, eof=eof)
    assert info.value.status is None


def test_refused_carries_advertised_versions() -> None:
    client = rfc_client(version=7)
    event = answer(
        client,
        response(
            "Sec-WebSocket-Version: 13,8",
            "Sec-WebSocket-Version: 7 , x1, 013, 8, 256",
            "Content-Length: 4",
            status="400 Bad Request",
            body=b"nope",
        ),
    )
    assert isinstance(event, ws.Refused)
    assert (event.status, event.reason, event.body) == (400, "Bad Request", b"nope")
    assert event.advertised == (13, 8, 7)
    assert event.ignored == ("x1", "013", "256")


def test_interim_responses_are_skipped_and_bodies_bounded() -> None:
    client = ws.ClientNegotiator("h", max_response_bytes=64)
    client.data_to_send()
    event = answer(
        client,
        b"HTTP/1.1 100 Continue\r\n\r\n" + response(status="403 Forbidden", body=b"x" * 500),
        eof=True,
    )
    assert isinstance(event, ws.Refused)
    assert (event.status, len(event.body)) == (403, 64)
    client.receive_data(b"ignored")  # the handshake is over


def test_interim_responses_are_bounded_in_number() -> None:
    """A server that answers 100 Continue without end: NeedData for ever, until
    the ninth, which fails the handshake (it used to wait for ever)."""
    client = rfc_client()
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    for _ in range(8):
        assert isinstance(answer(client, interim), ws.NeedData)
    with pytest.raises(ws.InvalidResponse, match="more than 8 interim") as info:
        answer(client, interim)
    assert (info.value.status, info.value.fault) == (100, ws.Fault.TOO_LARGE)
    assert client.state is ws.ClientState.FAILED

    client = rfc_client()
    with pytest.raises(ws.InvalidResponse, match="more than 8 interim"):
        answer(client, interim * 1000)
    client = rfc_client()
    switched = response(
        "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {KEY_ACCEPT}"
    )
    assert isinstance(answer(client, interim * 8 + switched), ws.Connected)


def test_interim_responses_are_bounded_in_bytes() -> None:
    """Eight interim answers of 10 KB each fit h11's limit one by one, not the
    client's limit of 16 KiB for them all."""
    client = rfc_client(max_response_bytes=16 * 1024)
    interim = response("X-Filler: " + "x" * 10_000, status="103 Early Hints")
    assert isinstance(answer(client, interim), ws.NeedData)
    with pytest.raises(ws.InvalidResponse, match="more than 16384 bytes") as info:
        answer(client, interim)
    assert (info.value.status, info.value.fault) == (103, ws.Fault.TOO_LARGE)


def test_retry_follows_the_preference_and_never_repeats() -> None:
    client = ws.ClientNegotiator("h", "/", 7, fallback=[13, 8, 7])
    assert client.tried == (Version.Version7,)
    answer(
        client, response("Sec-WebSocket-Version: 8, 13", status="426 Upgrade Required"), eof=True
    )
    second = client.retry()
    assert (second.speaking, second.tried) == (
        Version.Version13,
        (Version.Version7, Version.Version13),
    )
    assert fields(request_of(second)[0])["Sec-WebSocket-Version"] == "13"
    answer(second, response("Sec-WebSocket-Version: 8, 13, 7", status="400 Bad Request"), eof=True)
    third = second.retry()
    assert third.speaking is Version.Version8
    answer(third, response("Sec-WebSocket-Version: 13, 8, 7", status="400 Bad Request"), eof=True)
    with pytest.raises(ws.NoCommonVersion) as info:
        third.retry()
    assert info.value.advertised == (13, 8, 7) and info.value.tried == ("7", "13", "8")
    assert (
        str(info.value)
        == "no version to retry: the server speaks [13, 8, 7], this client tried 7, 13, 8"
    )


def test_retry_needs_a_refusal_and_a_shared_version() -> None:
    client = ws.ClientNegotiator("h")
    with pytest.raises(ws.LocalProtocolError, match="retry\\(\\) follows a refusal"):
        client.retry()
    answer(client, response(status="404 Not Found"), eof=True)
    with pytest.raises(ws.NoCommonVersion) as info:
        client.retry()
    assert str(info.value) == (
        "no version to retry: the server advertised no versions; fallbacks left: none (tried 13)"
    )
    hixie = ws.ClientNegotiator("h", "/", Version.VersionUnknown, fallback=[13])
    answer(hixie, response("Sec-WebSocket-Version: 13", status="426 Upgrade Required"), eof=True)
    assert hixie.retry().speaking is Version.Version13
    raw = ws.ClientNegotiator("h", "/", "")
    answer(raw, response(status="400 Bad Request"), eof=True)
    with pytest.raises(ws.NoCommonVersion, match="tried no version"):
        raw.retry()


def test_a_server_that_advertises_nothing_gets_the_fallbacks_in_order() -> None:
    """A websockets server refuses version 7 with a 400 and no version list (against
    RFC 6455 §4.2.2): the client tries its fallbacks in order, each once."""
    client = ws.ClientNegotiator("h", "/chat", 7, fallback=[13, 8])
    answer(client, response(status="400 Bad Request"), eof=True)
    assert client.refused is not None and client.refused.advertised_nothing
    second = client.retry()
    assert second.speaking is Version.Version13
    answer(second, response(status="400 Bad Request"), eof=True)
    third = second.retry()
    assert (third.speaking, third.tried) == (
        Version.Version8,
        (Version.Version7, Version.Version13, Version.Version8),
    )
    answer(third, response(status="400 Bad Request"), eof=True)
    with pytest.raises(ws.NoCommonVersion) as info:
        third.retry()
    assert str(info.value) == (
        "no version to retry: the server advertised no versions; "
        "fallbacks left: none (tried 7, 13, 8)"
    )
    # a list, even one that names nothing the client speaks, is followed instead
    listed = ws.ClientNegotiator("h", "/chat", 7, fallback=[13, 8])
    answer(listed, response("Sec-WebSocket-Version: 8", status="426 Upgrade Required"), eof=True)
    assert listed.retry().speaking is Version.Version8


# -- against our own server ----------------------------------------------------------

POLICIES = {
    "13 only": ws.Policy(),
    "13+8+7": ws.Policy([13, 8, 7], subprotocols=["chat"]),
    "8 only": ws.Policy([8], subprotocols=["chat"]),
}


@pytest.mark.parametrize("name", POLICIES)
@pytest.mark.parametrize("version", [13, 8, 7])
def test_round_trip_with_our_server(name: str, version: int) -> None:
    policy = POLICIES[name]
    client = ws.ClientNegotiator("h", "/chat", version, origin="http://o", subprotocols=["chat"])
    result = ws.negotiate(client.data_to_send(), policy)
    if version not in policy.versions:
        assert isinstance(result, ws.Rejected)
        event = answer(client, result.response)
        assert isinstance(event, ws.Refused)
        assert event.advertised == tuple(int(v) for v in policy.versions)
        return
    assert isinstance(result, ws.Accepted)
    assert result.request.origin == "http://o"
    event = answer(client, result.response + b"\x81\x05hello")
    assert isinstance(event, ws.Connected)
    assert event.version is Version(version)
    assert event.subprotocol == ("chat" if policy.subprotocols else None)
    assert event.trailing_data == b"\x81\x05hello"


@pytest.mark.parametrize("name", POLICIES)
def test_retry_chain_with_our_server_ends_on_a_shared_version(name: str) -> None:
    policy = POLICIES[name]
    client = ws.ClientNegotiator("h", "/", 7, fallback=[13, 8])
    result = ws.negotiate(client.data_to_send(), policy)
    while isinstance(result, ws.Rejected):
        answer(client, result.response)
        client = client.retry()
        result = ws.negotiate(client.data_to_send(), policy)
    assert isinstance(result, ws.Accepted)
    event = answer(client, result.response)
    assert isinstance(event, ws.Connected)
    expected = next(v for v in (7, 13, 8) if v in policy.versions)
    assert event.version == expected
    assert client.tried[-1] == expected and len(client.tried) == len(set(client.tried))


@given(st.binary(max_size=400), st.booleans())
def test_random_answers_only_give_documented_errors(data: bytes, eof: bool) -> None:
    client = rfc_client()
    outcome: object
    try:
        outcome = answer(client, data, eof=eof)
    except ws.InvalidResponse as error:  # the one documented error
        outcome = error
    assert isinstance(outcome, ws.NeedData | ws.Connected | ws.Refused | ws.InvalidResponse)


@given(
    st.sampled_from(
        [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
            + KEY_ACCEPT.encode()
            + b"\r\n\r\n",
            b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13, 8\r\nContent-Length: 3\r\n\r\nno\n",
        ]
    ),
    st.data(),
)
def test_mutated_answers_only_give_documented_errors(good: bytes, data: st.DataObject) -> None:
    mutated = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(
            st.sampled_from(b"\r\n :,;x\x00\xff0")
        )
    client = rfc_client()
    outcome: object
    try:
        outcome = answer(client, bytes(mutated), eof=True)
    except ws.InvalidResponse as error:  # the one documented error, with a reason
        outcome = error.reason
    assert isinstance(outcome, ws.NeedData | ws.Connected | ws.Refused | str)
    assert outcome != ""


def test_parse_response_helper_reads_our_101() -> None:
    client = rfc_client()
    assert parse_response(accept_for(client))[0] == 101


@given(
    host=st.text(max_size=20),
    target=st.text(max_size=20),
    version=st.one_of(st.sampled_from([13, 8, 7, 4, 0, -1]), st.text(max_size=5)),
    origin=st.one_of(st.none(), st.text(max_size=20)),
    subprotocols=st.lists(st.text(max_size=8), max_size=3),
    extensions=st.lists(st.text(max_size=12), max_size=2),
    header=st.tuples(st.text(max_size=8), st.text(max_size=8)),
)
def test_arbitrary_arguments_only_give_local_errors(
    host: str,
    target: str,
    version: int | str,
    origin: str | None,
    subprotocols: list[str],
    extensions: list[str],
    header: tuple[str, str],
) -> None:
    outcome: bytes | str
    try:
        client = ws.ClientNegotiator(
            host,
            target,
            version,
            origin=origin,
            subprotocols=subprotocols,
            extensions=extensions,
            headers=[header],
        )
        outcome = client.data_to_send()
    except ws.LocalProtocolError as error:  # the one documented error, with a message
        outcome = error.message
    assert outcome.startswith(b"GET ") if isinstance(outcome, bytes) else outcome != ""
