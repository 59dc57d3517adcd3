"""The extended-CONNECT decision (RFC 8441), pure: every transport rule with its
exact status and reason, and the WebSocket rules shared with ``decide()``: the
same fault gets the same reason on HTTP/1.1 and on HTTP/2."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from factory import KEY, UPGRADE

import wsnegotiate as ws
from wsnegotiate._connect import local_settings, split_header_block

Pairs = Sequence[tuple[bytes, bytes]]
VERSION_13: Pairs = ((b"sec-websocket-version", b"13"),)
POLICY = ws.Policy()


def connect(
    headers: Pairs = VERSION_13,
    *,
    method: bytes = b"CONNECT",
    protocol: bytes | None = b"websocket",
    scheme: bytes | None = b"https",
    path: bytes | None = b"/chat",
    authority: bytes | None = b"example.com",
    policy: ws.Policy = POLICY,
    enabled: bool = True,
) -> ws.Request | ws.Rejected:
    return ws.decide_connect(
        method, protocol, scheme, path, authority, headers, policy, enabled=enabled
    )


def refused(event: ws.Request | ws.Rejected, status: int, reason: str) -> ws.Rejected:
    """An HTTP/2 refusal: no bytes to write, the body is the reason, and no field
    that HTTP/2 forbids (RFC 9113 §8.2.2), names in lower case (§8.2.1)."""
    assert isinstance(event, ws.Rejected), event
    assert (event.status, event.reason) == (status, reason)
    assert event.http_version == "2"
    assert event.response == b""
    assert event.body == reason.encode() + b"\n"
    names = [name for name, _ in event.headers]
    assert names == [name.lower() for name in names]
    assert not {"connection", "upgrade", "keep-alive", "transfer-encoding"} & set(names)
    assert ("content-length", str(len(event.body))) in event.headers
    assert ("content-type", "text/plain; charset=utf-8") in event.headers
    assert event.error is not None
    assert (event.error.status, event.error.headers) == (status, event.headers)
    return event


def test_a_websocket_connect_is_a_request() -> None:
    headers = (
        (b"sec-websocket-version", b"13"),
        (b"origin", b"https://example.com"),
        (b"sec-websocket-protocol", b"chat, superchat"),
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
    )
    event = connect(headers)
    assert isinstance(event, ws.Request)
    assert (event.method, event.target, event.http_version, event.host) == (
        "CONNECT",
        "/chat",
        "2",
        "example.com",
    )
    assert event.origin == "https://example.com"
    assert event.version is ws.Version.Version13
    assert event.key == ""  # RFC 8441 §5: no key
    assert event.subprotocols == ("chat", "superchat")
    assert event.extensions == ("permessage-deflate; client_max_window_bits",)
    assert event.extension_offers[0].name == "permessage-deflate"
    assert event.headers == headers


def test_a_key_sent_anyway_is_ignored() -> None:
    event = connect((*VERSION_13, (b"sec-websocket-key", b"not base64 at all")))
    assert isinstance(event, ws.Request)
    assert event.key == ""


@pytest.mark.parametrize("protocol", [b"websocket", b"WebSocket"])
def test_protocol_websocket_in_any_case(protocol: bytes) -> None:
    assert isinstance(connect(protocol=protocol), ws.Request)


@pytest.mark.parametrize("scheme", [b"http", b"https", b"HTTPS"])
def test_scheme_http_or_https(scheme: bytes) -> None:
    assert isinstance(connect(scheme=scheme), ws.Request)


def test_a_method_other_than_connect_is_405_with_allow() -> None:
    event = refused(
        connect(method=b"GET"),
        405,
        "method 'GET': not allowed; a WebSocket over HTTP/2 is an extended CONNECT (RFC 8441 §4)",
    )
    assert ("allow", "CONNECT") in event.headers


def test_a_connect_without_protocol_is_501() -> None:
    refused(
        connect(protocol=None),
        501,
        ":protocol: missing; a CONNECT without it asks for a tunnel (RFC 9113 §8.5), "
        "and this server is not a proxy",
    )


def test_protocol_without_the_setting_is_400() -> None:
    event = refused(
        connect(enabled=False),
        400,
        ":protocol: not allowed on this connection, which did not send "
        "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3)",
    )
    assert event.error is not None
    assert (event.error.field, event.error.fault) == (":protocol", ws.Fault.UNSUPPORTED)


@pytest.mark.parametrize(
    ("protocol", "status", "reason"),
    [
        (
            b"web socket",
            400,
            ":protocol: invalid value 'web socket'; expected an upgrade token (RFC 8441 §4)",
        ),
        (b"", 400, ":protocol: empty (RFC 8441 §4)"),
        (b"h2c", 501, ":protocol: unsupported 'h2c'; this server speaks websocket (RFC 8441 §5)"),
        (
            b"websocket2",
            501,
            ":protocol: unsupported 'websocket2'; this server speaks websocket (RFC 8441 §5)",
        ),
    ],
)
def test_protocol_not_a_token_or_not_websocket(protocol: bytes, status: int, reason: str) -> None:
    refused(connect(protocol=protocol), status, reason)


@pytest.mark.parametrize(
    ("pseudo", "value", "reason"),
    [
        ("scheme", None, ":scheme: missing (RFC 8441 §5)"),
        ("scheme", b"ftp", ":scheme: invalid value 'ftp'; expected http or https (RFC 8441 §5)"),
        ("scheme", b"wss", ":scheme: invalid value 'wss'; expected http or https (RFC 8441 §5)"),
        ("path", None, ":path: missing (RFC 8441 §4)"),
        ("path", b"", ":path: empty (RFC 8441 §4)"),
        ("path", b"chat", ":path: invalid value 'chat'; expected an absolute path (RFC 8441 §4)"),
        ("authority", None, ":authority: missing (RFC 9113 §8.3.1)"),
        ("authority", b"", ":authority: empty (RFC 9113 §8.3.1)"),
    ],
)
def test_scheme_path_and_authority(pseudo: str, value: bytes | None, reason: str) -> None:
    event = refused(connect(**{pseudo: value}), 400, reason)  # type: ignore[arg-type]
    assert event.error is not None
    assert event.error.field == f":{pseudo}"


def test_a_host_field_must_name_the_authority() -> None:
    assert isinstance(connect((*VERSION_13, (b"host", b"EXAMPLE.com"))), ws.Request)
    refused(
        connect((*VERSION_13, (b"host", b"other.example"))),
        400,
        "Host: 'other.example' differs from :authority 'example.com' (RFC 9113 §8.3.1)",
    )


def test_the_transport_is_checked_before_the_websocket_fields() -> None:
    # a bad version and a bad scheme: the scheme decides, as the module comment orders
    event = connect(((b"sec-websocket-version", b"8"),), scheme=b"ftp")
    assert isinstance(event, ws.Rejected)
    assert event.reason.startswith(":scheme:")


@pytest.mark.parametrize("reject_status", [426, 400])
def test_a_version_refused_is_400_with_the_list_never_426(reject_status: int) -> None:
    policy = ws.Policy([13, 8], reject_status=reject_status)
    event = refused(
        connect(((b"sec-websocket-version", b"7"),), policy=policy),
        400,
        "Sec-WebSocket-Version: unsupported version 7 (hybi-07); supported: 13, 8",
    )
    assert ("sec-websocket-version", "13, 8") in event.headers
    assert event.version is ws.Version.Version7


def test_a_missing_version_names_the_rfc_8441_rule() -> None:
    event = refused(
        connect(()),
        400,
        "Sec-WebSocket-Version: missing (required with :protocol websocket, RFC 8441 §5); "
        "supported: 13",
    )
    assert ("sec-websocket-version", "13") in event.headers
    assert event.detection is not None
    assert event.detection.family == "missing"


def test_version_8_is_served_when_the_policy_serves_it() -> None:
    event = connect(((b"sec-websocket-version", b"8"),), policy=ws.Policy([13, 8]))
    assert isinstance(event, ws.Request)
    assert event.version is ws.Version.Version8


# -- the same fault, the same reason, on both protocols ---------------------------
# Each case: the fields an HTTP/1.1 upgrade and an HTTP/2 extended CONNECT share,
# with one fault. HTTP/1.1 adds Host, Upgrade, Connection and the key.

SAME_FAULTS = {
    "version missing": ((), ws.Policy()),
    "version malformed 013": (((b"Sec-WebSocket-Version", b"013"),), ws.Policy()),
    "version malformed 13, 8": (((b"Sec-WebSocket-Version", b"13, 8"),), ws.Policy()),
    "version repeated": (
        ((b"Sec-WebSocket-Version", b"13"), (b"Sec-WebSocket-Version", b"13")),
        ws.Policy(),
    ),
    "version unsupported 8": (((b"Sec-WebSocket-Version", b"8"),), ws.Policy(reject_status=400)),
    "version unassigned 14": (((b"Sec-WebSocket-Version", b"14"),), ws.Policy(reject_status=400)),
    "subprotocols malformed": (
        ((b"Sec-WebSocket-Version", b"13"), (b"Sec-WebSocket-Protocol", b"chat;v=1")),
        ws.Policy(),
    ),
    "too many subprotocols": (
        ((b"Sec-WebSocket-Version", b"13"), (b"Sec-WebSocket-Protocol", b"a, b, c")),
        ws.Policy(max_offers=2),
    ),
    "extensions malformed": (
        ((b"Sec-WebSocket-Version", b"13"), (b"Sec-WebSocket-Extensions", b"x; =1")),
        ws.Policy(),
    ),
    "origin refused": (
        ((b"Sec-WebSocket-Version", b"13"), (b"Origin", b"https://evil.example")),
        ws.Policy(origins=["https://example.com"]),
    ),
    "origin missing": (
        ((b"Sec-WebSocket-Version", b"13"),),
        ws.Policy(origins=["https://example.com"]),
    ),
}


@pytest.mark.parametrize("case", SAME_FAULTS)
def test_the_same_fault_has_the_same_reason_on_both_protocols(case: str) -> None:
    shared, policy = SAME_FAULTS[case]
    http1 = [
        (b"Host", b"example.com"),
        *((n.encode(), v.encode()) for n, v in UPGRADE),
        (b"Sec-WebSocket-Key", KEY.encode()),
        *shared,
    ]
    one = ws.decide(b"GET", b"/chat", b"1.1", http1, policy)
    two = connect([(name.lower(), value) for name, value in shared], policy=policy)
    assert isinstance(one, ws.Rejected)
    assert isinstance(two, ws.Rejected)
    assert one.error is not None
    assert two.error is not None
    assert (two.error.field, two.error.fault) == (one.error.field, one.error.fault)
    assert two.detection == one.detection
    assert two.status == one.status
    expected = one.reason
    if case == "version missing":  # the rule that asks for it differs: the key, or :protocol
        expected = expected.replace(
            "required with Sec-WebSocket-Key, RFC 6455 §4.1",
            "required with :protocol websocket, RFC 8441 §5",
        )
    assert two.reason == expected
    # the fields both send, less HTTP/1.1's Connection (RFC 9113 §8.2.2)
    assert two.headers == tuple(
        (name.lower(), value) for name, value in one.headers if name != "Connection"
    )


# -- limits -------------------------------------------------------------------------


def test_split_header_block_separates_pseudo_fields() -> None:
    block = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b"origin", b"x")]
    split = split_header_block(block, POLICY)
    assert split == ({b":method": b"CONNECT", b":protocol": b"websocket"}, ((b"origin", b"x"),))


def test_a_header_list_over_the_limit_is_431() -> None:
    policy = ws.Policy(max_request_bytes=1024)
    block = [(b":method", b"CONNECT"), (b"x-big", b"a" * 1000)]
    split = split_header_block(block, policy)
    assert isinstance(split, ws.Rejected)
    refused(
        split,
        431,
        "header list: too large (1083 bytes as RFC 9113 §6.5.2 counts them; the limit is 1024)",
    )
    fits = [(b":method", b"CONNECT"), (b"x-big", b"a" * 900)]
    assert not isinstance(split_header_block(fits, policy), ws.Rejected)


def test_too_many_fields_or_one_too_long_is_431() -> None:
    policy = ws.Policy(max_field_lines=4, max_field_line_bytes=100)
    many = [(b":method", b"CONNECT"), *((b"x-%d" % n, b"v") for n in range(5))]
    split = split_header_block(many, policy)
    assert isinstance(split, ws.Rejected)
    refused(split, 431, "header list: too many fields (5; the limit is 4)")
    four = many[:5]
    assert not isinstance(split_header_block(four, policy), ws.Rejected)
    long = [(b":path", b"/" * 500), (b"x-long", b"v" * 93)]
    split = split_header_block(long, policy)
    assert isinstance(split, ws.Rejected)
    refused(split, 431, "'x-long': too long (more than 100 bytes; the limit is per field)")
    assert not isinstance(split_header_block([(b"x-long", b"v" * 92)], policy), ws.Rejected)


def test_only_a_connection_that_serves_websockets_advertises_the_setting() -> None:
    assert local_settings(True) == {0x8: 1}
    assert local_settings(False) == {}
