"""Admission beyond the origin: the request as its client made it behind a trusted
proxy (Forwarded, X-Forwarded-*), credentials carried in Sec-WebSocket-Protocol,
and the health path. All through the public API."""

from __future__ import annotations

import ipaddress
import json

import h11
import pytest
from factory import assert_rejection, header_values, parse_response, raw_request, rfc6455

import wsnegotiate as ws
from wsnegotiate.cli._main import summary

BROWSER = "https://app.example"
BACKEND = "backend:8000"  # the Host a rewriting proxy sends on
PROXY = ("10.0.0.2", 41000)
STRANGER = ("203.0.113.9", 52000)
BEHIND = ws.Policy(same_origin=True, forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"])


def request_bytes(*extra: tuple[str, str], host: str = BACKEND, origin: str = BROWSER) -> bytes:
    headers = [("Host", host) if n == "Host" else (n, v) for n, v in rfc6455()]
    return raw_request([*headers, ("Origin", origin), *extra])


def handshake(
    data: bytes, policy: ws.Policy = BEHIND, peer: tuple[str, int] | None = PROXY
) -> ws.Accepted | ws.Rejected:
    result = ws.negotiate(data, policy, peer=peer)
    assert not isinstance(result, ws.NeedData)
    return result


def accepted(result: object) -> ws.Request:
    assert isinstance(result, ws.Accepted), result
    return result.request


REWRITTEN = (
    ("X-Forwarded-For", "198.51.100.7"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "app.example"),
)


# -- the proxy's word, believed from a trusted peer only ---------------------------------


def test_browser_behind_a_host_rewriting_trusted_proxy_gets_through() -> None:
    request = accepted(handshake(request_bytes(*REWRITTEN)))
    assert (request.scheme, request.client, request.host) == (
        "https",
        ("198.51.100.7", 0),
        BACKEND,
    )
    forwarded = ("Forwarded", 'for=198.51.100.7;proto=https;host="app.example"')
    request = accepted(handshake(request_bytes(forwarded)))
    assert (request.scheme, request.client) == ("https", ("198.51.100.7", 0))


def test_the_same_forwarded_fields_from_anyone_else_are_ignored() -> None:
    reason = (
        "Origin: forbidden 'https://app.example'; this request's origin is 'http://backend:8000'"
    )
    for fields in (REWRITTEN, (("Forwarded", "for=1.2.3.4;proto=https;host=app.example"),)):
        rejected = assert_rejection(handshake(request_bytes(*fields), peer=STRANGER), 403, reason)
        assert rejected.error is not None and rejected.error.field == "Origin"
    # no peer given at all: nothing is trusted either
    assert_rejection(handshake(request_bytes(*REWRITTEN), peer=None), 403, reason)
    # and an untrusted peer is the client
    plain = ws.negotiate(request_bytes(*REWRITTEN), ws.Policy(), peer=STRANGER)
    assert accepted(plain).client == STRANGER and accepted(plain).scheme == "http"


def test_tls_is_the_connections_scheme_without_a_proxy() -> None:
    direct = request_bytes(host="app.example")
    assert accepted(ws.negotiate(direct, BEHIND, peer=STRANGER, tls=True)).scheme == "https"
    assert_rejection(
        ws.negotiate(direct, BEHIND, peer=STRANGER, tls=False),
        403,
        "Origin: forbidden 'https://app.example'; this request's origin is "
        "'http://app.example' (TLS ended at a proxy? trust it: forwarded_allow_ips)",
    )


@pytest.mark.parametrize(
    ("allow", "peer", "trusted"),
    [
        ("*", STRANGER, True),
        (["*"], ("2001:db8::5", 1), True),
        ("127.0.0.1, 10.0.0.0/8", ("10.200.1.1", 1), True),
        ("127.0.0.1", ("127.0.0.1", 1), True),
        ("127.0.0.1", ("127.0.0.2", 1), False),
        ("10.0.0.0/8", ("::ffff:10.1.1.1", 1), True),  # a dual-stack socket's IPv4 peer
        ("2001:db8::/32", ("2001:db8:0:0::9", 1), True),
        ("::1", ("0:0:0:0:0:0:0:1", 1), True),
        ("/run/proxy.sock", ("/run/proxy.sock", 0), True),  # uvicorn's literal
        ((), PROXY, False),
    ],
)
def test_forwarded_allow_ips_means_what_uvicorns_does(
    allow: str | list[str] | tuple[str, ...], peer: tuple[str, int], trusted: bool
) -> None:
    policy = ws.Policy(same_origin=True, forwarded_allow_ips=allow)
    result = handshake(request_bytes(*REWRITTEN), policy, peer)
    assert isinstance(result, ws.Accepted) is trusted


def test_a_trusted_peer_written_as_its_proxy_entry_is_known_without_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The usual proxy, at an address given as a socket writes it, is trusted on every
    connection by a string comparison, not by parsing the address again."""
    policy = ws.Policy(same_origin=True, forwarded_allow_ips="::1, 127.0.0.1")

    def unparsed(text: str) -> None:
        raise AssertionError(f"{text!r} parsed")

    monkeypatch.setattr(ipaddress, "ip_address", unparsed)
    # Proto and Host, not For: the same origin holds only if the proxy is believed.
    for peer in [("127.0.0.1", 1), ("::1", 1)]:
        assert isinstance(handshake(request_bytes(*REWRITTEN[1:]), policy, peer), ws.Accepted)


@pytest.mark.parametrize(
    ("allow", "message"),
    [
        ("10.0.0.1/8", "'10.0.0.1/8' is not a network"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not a network"),
        ("10.0.0.256", "'10.0.0.256' is not an IP address"),
        ("fe80::g", "'fe80::g' is not an IP address"),
    ],
)
def test_forwarded_allow_ips_refuses_broken_addresses(allow: str, message: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match=message):
        ws.Policy(forwarded_allow_ips=allow)


def test_forwarded_allow_ips_is_kept_normalised() -> None:
    policy = ws.Policy(forwarded_allow_ips=" 127.0.0.1 ,, 10.0.0.0/8 ")
    assert policy.forwarded_allow_ips == ("127.0.0.1", "10.0.0.0/8")
    assert policy == ws.Policy(forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"])


# -- Forwarded (RFC 7239) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "scheme", "client"),
    [
        (
            'for="[2001:db8:cafe::17]:4711";proto=https;host=app.example',
            "https",
            ("2001:db8:cafe::17", 4711),
        ),
        ('For="198.51.100.7:8080";PROTO=HTTPS;Host=app.example', "https", ("198.51.100.7", 8080)),
        ('for="198.51.100.7:_port";proto=https;host=app.example', "https", ("198.51.100.7", 0)),
        ("for=198.51.100.7 ; proto=https ; host=app.example", "https", ("198.51.100.7", 0)),
        ('for=unknown;proto=https;host="app.example"', "https", None),
        ("for=_hidden;proto=https;host=app.example", "https", None),
        ("proto=https;host=app.example", "https", None),
        ("proto=wss;host=app.example;by=10.0.0.2", "https", None),
        # empty elements and pairs are skipped
        (", ;for=198.51.100.7;;proto=https;host=app.example, ", "https", ("198.51.100.7", 0)),
        # a client's forged element first, the trusted proxy's appended last
        (
            "for=10.9.9.9;proto=http;host=evil.example, "
            "for=198.51.100.7;proto=https;host=app.example",
            "https",
            ("198.51.100.7", 0),
        ),
        # two trusted proxies: the element of the hop the client made
        (
            "for=198.51.100.7;proto=https;host=app.example, "
            "for=10.0.0.5;proto=http;host=internal.example",
            "https",
            ("198.51.100.7", 0),
        ),
        # split over two field lines: one list (RFC 9110 §5.3)
        (
            "for=198.51.100.7;proto=https;host=app.example\r\nForwarded: for=10.0.0.3",
            "https",
            ("198.51.100.7", 0),
        ),
    ],
)
def test_forwarded_elements(value: str, scheme: str, client: tuple[str, int] | None) -> None:
    request = accepted(handshake(request_bytes(("Forwarded", value))))
    assert (request.scheme, request.client) == (scheme, client)


def test_forwarded_of_empty_elements_says_nothing() -> None:
    loose = ws.Policy(forwarded_allow_ips="10.0.0.0/8")
    request = accepted(handshake(request_bytes(("Forwarded", " , ;,")), loose))
    assert (request.scheme, request.client) == ("http", PROXY)


@pytest.mark.parametrize(("tls", "scheme"), [(False, "http"), (True, "https")])
def test_a_trusted_proxy_that_forwards_no_field_leaves_the_connections_own(
    tls: bool, scheme: str
) -> None:
    same = request_bytes(origin=f"{scheme}://{BACKEND}")  # BEHIND admits its own origin
    result = ws.negotiate(same, BEHIND, peer=PROXY, tls=tls)
    request = accepted(result)
    assert (request.scheme, request.client, request.host) == (scheme, PROXY, BACKEND)


def test_forwarded_with_every_hop_trusted_takes_the_first_element() -> None:
    policy = ws.Policy(same_origin=True, forwarded_allow_ips="*")
    value = "for=198.51.100.7;proto=https;host=app.example, for=10.0.0.5;host=internal"
    request = accepted(handshake(request_bytes(("Forwarded", value)), policy, STRANGER))
    assert request.client == ("198.51.100.7", 0)


def test_forwarded_wins_over_x_forwarded() -> None:
    data = request_bytes(
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", "evil.example"),
        ("Forwarded", "for=198.51.100.7;proto=https;host=app.example"),
    )
    assert accepted(handshake(data)).scheme == "https"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "for=[2001:db8::1]",
            "Forwarded: invalid value 'for=[2001:db8::1]' at byte 0 "
            '(RFC 7239 §4; a node with a colon is quoted: for="[2001:db8::1]:4711")',
        ),
        (
            "for=1.2.3.4:80",
            "Forwarded: invalid value 'for=1.2.3.4:80' at byte 11 "
            '(RFC 7239 §4; a node with a colon is quoted: for="[2001:db8::1]:4711")',
        ),
        (
            "for=1.2.3.4;for=5.6.7.8",
            "Forwarded: invalid value 'for=1.2.3.4;for=5.6.7.8' at byte 12 "
            '(RFC 7239 §4; a node with a colon is quoted: for="[2001:db8::1]:4711")',
        ),
        (
            'for="1.2.3.4',
            "Forwarded: invalid value 'for=\"1.2.3.4' at byte 0 "
            '(RFC 7239 §4; a node with a colon is quoted: for="[2001:db8::1]:4711")',
        ),
        ("proto=ftp;host=app.example", "Forwarded: invalid scheme 'ftp'; expected http or https"),
        ('host="app.example/x"', "Forwarded: invalid host 'app.example/x'; expected host[:port]"),
        (
            'host="evil@app.example"',
            "Forwarded: invalid host 'evil@app.example'; expected host[:port]",
        ),
    ],
)
def test_unreadable_forwarded_from_a_trusted_proxy_is_400(value: str, reason: str) -> None:
    rejected = assert_rejection(handshake(request_bytes(("Forwarded", value))), 400, reason)
    assert rejected.error is not None and rejected.error.field == "Forwarded"
    # from a stranger the same field is not even read
    assert isinstance(handshake(request_bytes(("Forwarded", value)), peer=STRANGER), ws.Rejected)
    loose = ws.Policy()
    assert isinstance(handshake(request_bytes(("Forwarded", value)), loose, STRANGER), ws.Accepted)


# -- X-Forwarded-* -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        ("198.51.100.7", ("198.51.100.7", 0)),
        ("198.51.100.7:5555", ("198.51.100.7", 5555)),
        ("2001:db8::7", ("2001:db8::7", 0)),
        ("[2001:db8::7]:5555", ("2001:db8::7", 5555)),
        ("6.6.6.6, 198.51.100.7", ("198.51.100.7", 0)),  # a forged hop first
        ("198.51.100.7, 10.0.0.5, 127.0.0.1", ("198.51.100.7", 0)),  # trusted hops skipped
        ("10.0.0.5, 10.0.0.6", ("10.0.0.5", 0)),  # every hop trusted: the first
        ("unknown", None),
        ("", PROXY),  # nothing said: the peer
    ],
)
def test_x_forwarded_for_walks_back_past_trusted_hops(
    chain: str, client: tuple[str, int] | None
) -> None:
    data = request_bytes(("X-Forwarded-For", chain), *REWRITTEN[1:])
    assert accepted(handshake(data)).client == client


@pytest.mark.parametrize(
    ("fields", "origin"),
    [
        # proto as a list: the nearest proxy's, last
        ((("X-Forwarded-Proto", "http, https"), ("X-Forwarded-Host", "app.example")), BROWSER),
        ((("X-Forwarded-Proto", "WSS"), ("X-Forwarded-Host", "app.example")), BROWSER),
        # X-Forwarded-Port fills in the port the forwarded host leaves out
        (
            (
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "app.example"),
                ("X-Forwarded-Port", "8443"),
            ),
            "https://app.example:8443",
        ),
        (
            (
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "app.example:8443"),
                ("X-Forwarded-Port", "9999"),
            ),
            "https://app.example:8443",
        ),
    ],
)
def test_x_forwarded_proto_host_and_port(fields: tuple[tuple[str, str], ...], origin: str) -> None:
    assert isinstance(handshake(request_bytes(*fields, origin=origin)), ws.Accepted)


def test_x_forwarded_port_with_the_clients_own_host() -> None:
    data = request_bytes(
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "8443"),
        host="app.example",
        origin="https://app.example:8443",
    )
    assert isinstance(handshake(data), ws.Accepted)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (
            "X-Forwarded-Proto",
            "gopher",
            "X-Forwarded-Proto: invalid scheme 'gopher'; expected http or https",
        ),
        (
            "X-Forwarded-Host",
            "a.example/x",
            "X-Forwarded-Host: invalid host 'a.example/x'; expected host[:port]",
        ),
        ("X-Forwarded-Port", "99999", "X-Forwarded-Port: invalid port '99999'"),
        ("X-Forwarded-Port", "https", "X-Forwarded-Port: invalid port 'https'"),
    ],
)
def test_unreadable_x_forwarded_from_a_trusted_proxy_is_400(
    field: str, value: str, reason: str
) -> None:
    rejected = assert_rejection(handshake(request_bytes((field, value))), 400, reason)
    assert rejected.error is not None and rejected.error.field == field


def test_negotiator_takes_the_peer_and_tls() -> None:
    negotiator = ws.ServerNegotiator(BEHIND, peer=PROXY, tls=False)
    negotiator.receive_data(request_bytes(*REWRITTEN))
    event = negotiator.next_event()
    assert isinstance(event, ws.Request) and event.client == ("198.51.100.7", 0)
    # an asyncio IPv6 peer name is a 4-tuple: the address and port are what count
    negotiator = ws.ServerNegotiator(BEHIND, peer=("::1", 5, 0, 0), tls=True)  # type: ignore[arg-type]
    negotiator.receive_data(request_bytes(host="app.example"))
    event = negotiator.next_event()
    assert isinstance(event, ws.Request)
    assert (event.client, event.scheme) == (("::1", 5), "https")


# -- credentials in Sec-WebSocket-Protocol -----------------------------------------------

K8S = "base64url.bearer.authorization.k8s.io."
SECRET = "c2VjcmV0LXRva2Vu"


def credential_policy(check: object = None, **kwargs: object) -> ws.Policy:
    return ws.Policy(
        subprotocols=["v4.channel.k8s.io", "base64.binary.k8s.io"],
        credential_prefix=K8S,
        check_credential=check,  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def offer(value: str) -> bytes:
    return raw_request(rfc6455(extra=[("Sec-WebSocket-Protocol", value)]))


def leaks(*things: object) -> bool:
    return any(SECRET in (t.decode("latin-1") if isinstance(t, bytes) else str(t)) for t in things)


def test_credential_is_checked_and_never_answered() -> None:
    seen: list[str | None] = []

    def check(credential: str | None) -> bool:
        seen.append(credential)
        return credential == SECRET

    result = ws.negotiate(offer(f"{K8S}{SECRET}, base64.binary.k8s.io"), credential_policy(check))
    assert isinstance(result, ws.Accepted), result
    assert seen == [SECRET] and result.request.credential == SECRET
    assert result.subprotocol == "base64.binary.k8s.io"
    assert result.request.subprotocols == ("base64.binary.k8s.io",)
    assert (b"Sec-WebSocket-Protocol", b"base64.binary.k8s.io") in result.request.headers
    assert not leaks(result.response, result.headers, repr(result), repr(result.request))
    assert not leaks(result.request.headers, json.dumps(summary(result)))
    _, headers, _ = parse_response(result.response)
    assert header_values(headers, "Sec-WebSocket-Protocol") == ["base64.binary.k8s.io"]


def test_credential_alone_leaves_no_subprotocol_and_no_field_line() -> None:
    result = ws.negotiate(offer(f"{K8S}{SECRET}"), credential_policy(lambda c: True))
    assert isinstance(result, ws.Accepted)
    assert result.subprotocol is None and result.request.subprotocols == ()
    assert not any(n.lower() == b"sec-websocket-protocol" for n, _ in result.request.headers)
    assert b"Sec-WebSocket-Protocol" not in result.response


@pytest.mark.parametrize(("verdict", "status"), [(False, 403), (403, 403), (401, 401)])
def test_refused_credential_is_never_shown(verdict: bool | int, status: int) -> None:
    result = ws.negotiate(
        offer(f"v4.channel.k8s.io, {K8S}{SECRET}"), credential_policy(lambda c: verdict)
    )
    rejected = assert_rejection(result, status, "Sec-WebSocket-Protocol: credential refused")
    assert rejected.error is not None and rejected.error.fault is ws.Fault.FORBIDDEN
    assert header_values(rejected.headers, "WWW-Authenticate") == (
        ["Bearer"] if status == 401 else []
    )
    assert not leaks(rejected.response, repr(rejected), json.dumps(summary(rejected)))


def test_missing_credential_is_the_checks_to_judge() -> None:
    seen: list[str | None] = []

    def check(credential: str | None) -> int:
        seen.append(credential)
        return 401

    assert_rejection(
        ws.negotiate(offer("v4.channel.k8s.io"), credential_policy(check)),
        401,
        f"Sec-WebSocket-Protocol: missing credential (an offer starting with {K8S!r})",
    )
    assert seen == [None]
    anonymous = ws.negotiate(offer("v4.channel.k8s.io"), credential_policy(lambda c: c is None))
    assert isinstance(anonymous, ws.Accepted) and anonymous.subprotocol == "v4.channel.k8s.io"


def test_two_credentials_are_400_without_either() -> None:
    result = ws.negotiate(offer(f"{K8S}{SECRET}, {K8S}other"), credential_policy(lambda c: True))
    rejected = assert_rejection(
        result, 400, "Sec-WebSocket-Protocol: 2 credential offers; one is allowed"
    )
    assert not leaks(rejected.response)


def test_a_malformed_offer_holding_a_credential_is_not_quoted() -> None:
    result = ws.negotiate(offer(f"{K8S}{SECRET} chat"), credential_policy())
    rejected = assert_rejection(
        result,
        400,
        "Sec-WebSocket-Protocol: invalid value (not shown: it holds a credential); expected tokens",
    )
    assert not leaks(rejected.response)
    # without a credential in it, the value is quoted as ever
    assert_rejection(
        ws.negotiate(offer("a b"), credential_policy()),
        400,
        "Sec-WebSocket-Protocol: invalid value 'a b'; expected tokens",
    )


def test_without_a_check_the_credential_waits_for_the_caller() -> None:
    negotiator = ws.ServerNegotiator(credential_policy())
    negotiator.receive_data(offer(f"{K8S}{SECRET}, v4.channel.k8s.io"))
    request = negotiator.next_event()
    assert isinstance(request, ws.Request) and request.credential == SECRET
    assert SECRET not in repr(request)
    with pytest.raises(ws.LocalProtocolError, match="was not offered"):
        negotiator.accept(f"{K8S}{SECRET}")
    answer = negotiator.accept()
    assert answer.subprotocol == "v4.channel.k8s.io" and not leaks(answer.response)


def test_a_check_that_answers_otherwise_is_the_callers_bug() -> None:
    with pytest.raises(ws.LocalProtocolError, match="check_credential returned 200"):
        ws.negotiate(offer(f"{K8S}{SECRET}"), credential_policy(lambda c: 200))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"check_credential": bool}, "check_credential needs a credential_prefix"),
        ({"credential_prefix": "bearer token."}, "not an RFC 9110 token"),
        ({"credential_prefix": "bearér."}, "not an RFC 9110 token"),
        (
            {"credential_prefix": "auth.", "subprotocols": ["chat", "auth.v1"]},
            "subprotocol 'auth.v1' starts with the credential_prefix",
        ),
    ],
)
def test_credential_policy_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match=message):
        ws.Policy(**kwargs)  # type: ignore[arg-type]


# -- the health path ---------------------------------------------------------------------

HEALTH = ws.Policy(health_path="/healthz")


def plain(method: str = "GET", target: str = "/healthz", http: str = "1.1") -> bytes:
    headers = [] if http == "1.0" else [("Host", "app.example")]
    return raw_request([*headers, ("User-Agent", "kube-probe/1.31")], method, target, http)


@pytest.mark.parametrize(
    "data",
    [plain(), plain(target="/healthz?full=1"), plain(http="1.0")],
)
def test_health_path_get_is_200(data: bytes) -> None:
    negotiator = ws.ServerNegotiator(HEALTH)
    negotiator.receive_data(data)
    event = assert_rejection(negotiator.next_event(), 200, "ok")
    assert event.response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert header_values(event.headers, "Connection") == ["close"]
    assert negotiator.state is ws.State.CLOSED


def test_health_path_head_is_200_without_a_body() -> None:
    event = ws.negotiate(plain("HEAD"), HEALTH)
    assert isinstance(event, ws.Rejected) and event.status == 200
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="HEAD", target="/healthz", headers=[("Host", "x")]))
    client.receive_data(event.response)
    head = client.next_event()
    assert isinstance(head, h11.Response) and head.status_code == 200
    assert (b"content-length", b"3") in list(head.headers)  # as a GET's (RFC 9110 §9.3.2)
    assert isinstance(client.next_event(), h11.EndOfMessage)
    assert event.response.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("data", "policy", "status"),
    [
        (plain(target="/other"), HEALTH, 426),  # other plain GETs: 426 and Upgrade, as ever
        (plain(), ws.Policy(), 426),  # no health path: no health answer
        (plain("POST"), HEALTH, 405),
        (plain(target="/healthz/more"), HEALTH, 426),
    ],
)
def test_only_the_health_path_is_answered(data: bytes, policy: ws.Policy, status: int) -> None:
    event = ws.negotiate(data, policy)
    assert isinstance(event, ws.Rejected) and event.status == status
    if status == 426:
        assert header_values(event.headers, "Upgrade") == ["websocket"]


def test_a_websocket_handshake_on_the_health_path_is_a_handshake() -> None:
    data = raw_request(rfc6455(), target="/healthz")
    assert isinstance(ws.negotiate(data, HEALTH), ws.Accepted)


@pytest.mark.parametrize("path", ["healthz", "/health z", "/healthz?x=1", "/é"])
def test_health_path_validation(path: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match="not an absolute path"):
        ws.Policy(health_path=path)
