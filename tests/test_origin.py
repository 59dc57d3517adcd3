"""Origins compared as RFC 6454 origins, through the public API: every variant a
cross-site WebSocket hijacking attempt tries, the exact status and reason of each
refusal, and the legitimate pages that must still get through."""

from __future__ import annotations

import re

import pytest
from factory import assert_rejection, raw_request, rfc6455
from hypothesis import given
from hypothesis import strategies as st

import wsnegotiate as ws

LISTED = ws.Policy([13, 8, 7], origins=["https://app.example", "https://*.example.com"])
SAME = ws.Policy(same_origin=True)
INVALID = "expected one serialized origin, scheme://host[:port] (RFC 6454 §7.1)"


def handshake(
    policy: ws.Policy,
    origin: str | None,
    *,
    host: str = "app.example",
    extra: tuple[tuple[str, str], ...] = (),
    version: str = "13",
    field: str = "Origin",
    tls: bool = False,
) -> ws.Accepted | ws.Rejected:
    """The policy's answer to a request from a page at ``origin`` (``None``: no
    field), written byte for byte (UTF-8), to ``host``."""
    headers = [
        ("Host", host) if name == "Host" else (name, value) for name, value in rfc6455(version)
    ]
    if origin is not None:
        headers.append((field, origin))
    result = ws.negotiate(raw_request([*headers, *extra]), policy, tls=tls)
    assert not isinstance(result, ws.NeedData)
    return result


def accepted(result: ws.Accepted | ws.Rejected) -> ws.Accepted:
    assert isinstance(result, ws.Accepted), result
    return result


# -- a list of origins and patterns --------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example",
        "HTTPS://APP.EXAMPLE",  # scheme and host are case-insensitive (RFC 6454 §4)
        "https://app.example:443",  # the default port, written out
        "https://a.example.com",  # a subdomain the pattern admits
        "https://a.b.example.com",  # any depth of subdomain
        "HTTPS://Deep.Sub.EXAMPLE.com",
    ],
)
def test_listed_origins_get_through(origin: str) -> None:
    assert accepted(handshake(LISTED, origin)).request.origin == origin


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        # another scheme, another port, another host: another origin (RFC 6454 §5)
        ("http://app.example", "Origin: forbidden 'http://app.example'"),
        ("https://app.example:8443", "Origin: forbidden 'https://app.example:8443'"),
        ("https://evil.example", "Origin: forbidden 'https://evil.example'"),
        # suffix tricks: the listed name inside a foreign one
        ("https://app.example.evil.net", "Origin: forbidden 'https://app.example.evil.net'"),
        ("https://example.com.evil.net", "Origin: forbidden 'https://example.com.evil.net'"),
        ("https://evilexample.com", "Origin: forbidden 'https://evilexample.com'"),
        # the pattern admits subdomains, not the domain itself
        ("https://example.com", "Origin: forbidden 'https://example.com'"),
        # the pattern's dots are dots, not a regular expression's wildcards
        ("https://a.examplexcom", "Origin: forbidden 'https://a.examplexcom'"),
        ("https://aexample.com", "Origin: forbidden 'https://aexample.com'"),
        # a trailing dot is another host to a browser
        ("https://app.example.", "Origin: forbidden 'https://app.example.'"),
        # null: an opaque origin any page can make (RFC 6454 §7.3)
        ("null", "Origin: forbidden 'null' (an opaque origin: a sandboxed frame, a file, data:)"),
        # not a serialized origin at all (RFC 6454 §7.1)
        ("https://app.example/", f"Origin: invalid value 'https://app.example/'; {INVALID}"),
        (
            "https://app.example`.evil.net",
            f"Origin: invalid value 'https://app.example`.evil.net'; {INVALID}",
        ),
        (
            "https://app.example@evil.net",
            f"Origin: invalid value 'https://app.example@evil.net'; {INVALID}",
        ),
        (
            "https://evil.net#@app.example",
            f"Origin: invalid value 'https://evil.net#@app.example'; {INVALID}",
        ),
        ("app.example", f"Origin: invalid value 'app.example'; {INVALID}"),
        ("https://app.example:", f"Origin: invalid value 'https://app.example:'; {INVALID}"),
        (
            "https://app.example:99999",
            f"Origin: invalid value 'https://app.example:99999'; {INVALID}",
        ),
        (
            "https://a..example.com",
            f"Origin: invalid value 'https://a..example.com'; {INVALID}",
        ),
        ("https://.example.com", f"Origin: invalid value 'https://.example.com'; {INVALID}"),
        (
            "https://a%2eexample.com",
            f"Origin: invalid value 'https://a%2eexample.com'; {INVALID}",
        ),
        ("NULL", f"Origin: invalid value 'NULL'; {INVALID}"),
        ("http://[1:2:3]", f"Origin: invalid value 'http://[1:2:3]'; {INVALID}"),
        # a list of origins (RFC 6454 §7.1 allows one; browsers send one)
        (
            "https://evil.example https://app.example",
            f"Origin: invalid value 'https://evil.example https://app.example'; {INVALID}",
        ),
    ],
)
def test_every_other_origin_is_refused_with_403(origin: str, reason: str) -> None:
    rejected = assert_rejection(handshake(LISTED, origin), 403, reason)
    assert rejected.error is not None and rejected.error.field == "Origin"


def test_no_origin_is_refused_unless_listed_as_none() -> None:
    assert_rejection(
        handshake(LISTED, None), 403, "Origin: missing; this server accepts listed origins only"
    )
    lenient = ws.Policy(origins=["https://app.example", None])
    assert accepted(handshake(lenient, None)).request.origin is None
    assert lenient.origins == frozenset({"https://app.example", None})
    assert_rejection(
        handshake(lenient, "https://evil.example"), 403, "Origin: forbidden 'https://evil.example'"
    )


@pytest.mark.parametrize(
    ("version", "field"),
    [("8", "Sec-WebSocket-Origin"), ("7", "Sec-WebSocket-Origin"), ("13", "Origin")],
)
def test_hybi_07_to_12_named_it_sec_websocket_origin(version: str, field: str) -> None:
    good = handshake(LISTED, "https://a.example.com", version=version, field=field)
    assert accepted(good).request.origin == "https://a.example.com"
    evil = handshake(LISTED, "https://app.example/", version=version, field=field)
    assert_rejection(evil, 403, f"{field}: invalid value 'https://app.example/'; {INVALID}")
    assert_rejection(
        handshake(LISTED, None, version=version),
        403,
        f"{field}: missing; this server accepts listed origins only",
    )


# -- international names ----------------------------------------------------------------

IDN = ws.Policy(origins=["https://bücher.example", "https://*.bücher.example"])


def test_unicode_names_are_listed_as_their_a_labels() -> None:
    assert IDN.origins == frozenset(
        {"https://xn--bcher-kva.example", "https://*.xn--bcher-kva.example"}
    )
    # what a browser sends: the A-label (RFC 6454 §4)
    for origin in ("https://xn--bcher-kva.example", "https://XN--BCHER-KVA.example"):
        assert accepted(handshake(IDN, origin)).request.origin == origin
    assert isinstance(handshake(IDN, "https://shop.xn--bcher-kva.example"), ws.Accepted)


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        # a look-alike page's origin, as its browser sends it: Cyrillic U+0435 in
        # place of the 'e' of "example", another A-label
        (
            b"https://xn--bcher-kva.xn--xample-2of",
            "Origin: forbidden 'https://xn--bcher-kva.xn--xample-2of'",
        ),
        (b"https://bucher.example", "Origin: forbidden 'https://bucher.example'"),
        # a host in Unicode is no serialization (RFC 6454 §7.1 takes RFC 3986's host;
        # browsers send A-labels): refused, never normalised into a listed name
        (
            "https://bücher.example".encode(),
            f"Origin: invalid value 'https://b\\xc3\\xbccher.example'; {INVALID}",
        ),
        (
            "https://xn--bcher-kva.\u0435xample".encode(),
            f"Origin: invalid value 'https://xn--bcher-kva.\\xd0\\xb5xample'; {INVALID}",
        ),
        (
            "https://app.exampl\u212a".encode(),  # the Kelvin sign, which lower() makes "k"
            f"Origin: invalid value 'https://app.exampl\\xe2\\x84\\xaa'; {INVALID}",
        ),
        (
            b"https://b\xfccher.example",
            f"Origin: invalid value 'https://b\\xfccher.example'; {INVALID}",
        ),
    ],
)
def test_look_alike_and_broken_names_are_refused(origin: bytes, reason: str) -> None:
    data = raw_request([*rfc6455(), ("Origin", "ORIGIN")]).replace(b"ORIGIN", origin)
    assert_rejection(ws.negotiate(data, IDN), 403, reason)


@pytest.mark.parametrize(
    "name",
    [
        "\u05d0a.example",  # right-to-left and left-to-right letters in one label (RFC 3454 §6)
        "a\u2028b.example",  # a line separator
        "\u3000.example",  # an ideographic space, which IDNA maps to a space
        "ü" * 60 + ".example",  # a label longer than 63 octets once encoded
    ],
)
def test_policy_refuses_names_idna_cannot_encode(name: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match="is not an origin"):
        ws.Policy(origins=[f"https://{name}"])
    with pytest.raises(ws.LocalProtocolError, match="is not scheme://"):
        ws.Policy(origins=[f"https://*.{name}"])


# -- same origin -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "tls"),
    [
        ("http://app.example", "app.example", False),
        ("https://app.example", "app.example", True),
        ("HTTPS://App.Example", "APP.example", True),
        ("https://app.example:8443", "app.example:8443", True),
        ("http://app.example", "app.example:80", False),
        ("http://[::1]:8000", "[0:0::1]:8000", False),
    ],
)
def test_same_origin_admits_the_requests_own_origin(origin: str, host: str, tls: bool) -> None:
    assert accepted(handshake(SAME, origin, host=host, tls=tls)).request.scheme == (
        "https" if tls else "http"
    )


@pytest.mark.parametrize(
    ("origin", "host", "tls", "reason"),
    [
        # the scheme swap: a page over https opening a socket on a plain server
        (
            "https://app.example",
            "app.example",
            False,
            "Origin: forbidden 'https://app.example'; this request's origin is "
            "'http://app.example' (TLS ended at a proxy? trust it: forwarded_allow_ips)",
        ),
        (
            "http://app.example",
            "app.example",
            True,
            "Origin: forbidden 'http://app.example'; this request's origin is "
            "'https://app.example'",
        ),
        (
            "https://app.example",
            "app.example:8443",
            True,
            "Origin: forbidden 'https://app.example'; this request's origin is "
            "'https://app.example:8443'",
        ),
        (
            "https://evil.example",
            "app.example",
            True,
            "Origin: forbidden 'https://evil.example'; this request's origin is "
            "'https://app.example'",
        ),
    ],
)
def test_same_origin_refuses_every_other_origin(
    origin: str, host: str, tls: bool, reason: str
) -> None:
    assert_rejection(handshake(SAME, origin, host=host, tls=tls), 403, reason)


def test_a_host_that_names_no_origin_is_refused_before_the_origin_is_read() -> None:
    # RFC 9112 §3.2: an invalid Host is a 400, whatever the Origin.
    refused = handshake(SAME, "https://app.example", host="app.example/x", tls=True)
    assert isinstance(refused, ws.Rejected) and refused.status == 400
    assert refused.reason.startswith("Host: invalid value 'app.example/x'")


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        (None, "Origin: missing; this server accepts its own origin only"),
        ("null", "Origin: forbidden 'null' (an opaque origin: a sandboxed frame, a file, data:)"),
        ("https://app.example/", f"Origin: invalid value 'https://app.example/'; {INVALID}"),
    ],
)
def test_same_origin_refuses_null_absent_and_invalid(origin: str | None, reason: str) -> None:
    assert_rejection(handshake(SAME, origin, tls=True), 403, reason)


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none", "something-new"])
def test_fetch_metadata_other_than_cross_site_leaves_it_to_the_origin(site: str) -> None:
    extra = (("Sec-Fetch-Site", site),)
    assert isinstance(handshake(SAME, "https://app.example", extra=extra, tls=True), ws.Accepted)


def test_same_origin_that_the_browser_calls_cross_site_is_refused() -> None:
    extra = (("Sec-Fetch-Mode", "websocket"), ("Sec-Fetch-Site", "cross-site"))
    rejected = assert_rejection(
        handshake(SAME, "https://app.example", extra=extra, tls=True),
        403,
        "Sec-Fetch-Site: cross-site; the browser says another site opened this socket",
    )
    assert rejected.error is not None and rejected.error.field == "Sec-Fetch-Site"


def test_same_origin_with_listed_origins() -> None:
    both = ws.Policy(same_origin=True, origins=["https://admin.other.example", None])
    cross = (("Sec-Fetch-Site", "cross-site"),)
    # a listed page on another site is cross-site by nature: admitted
    assert isinstance(
        handshake(both, "https://admin.other.example", extra=cross, tls=True), ws.Accepted
    )
    assert isinstance(handshake(both, "https://app.example", tls=True), ws.Accepted)
    assert isinstance(handshake(both, None, tls=True), ws.Accepted)
    assert_rejection(
        handshake(ws.Policy(same_origin=True, origins=[]), None),
        403,
        "Origin: missing; this server accepts its own and listed origins only",
    )


# -- the policy's own list ---------------------------------------------------------------


def test_policy_normalises_origins_and_patterns() -> None:
    policy = ws.Policy(
        origins=["HTTPS://App.Example:443", "http://[0:0::1]:8000", "https://*.Example.COM:8443"]
    )
    assert policy.origins == frozenset(
        {"https://app.example", "http://[::1]:8000", "https://*.example.com:8443"}
    )
    assert policy == ws.Policy(
        origins=["https://app.example", "http://[::1]:8000", "https://*.example.com:8443"]
    )
    assert isinstance(handshake(policy, "https://a.example.com:8443"), ws.Accepted)
    assert isinstance(handshake(policy, "https://a.example.com"), ws.Rejected)


@pytest.mark.parametrize(
    ("origins", "message"),
    [
        (["https://app.example/"], "not an origin.*write 'https://app.example'"),
        (["https://user@app.example"], "not an origin"),
        (["app.example"], "not an origin"),
        (["null"], "'null' cannot be listed"),
        (["https://*.example.com/"], "not scheme://\\*.host"),
        (["*.example.com"], "not scheme://\\*.host"),
        (["https://*"], "not scheme://\\*.host"),
        (["https://a.*.example.com"], "not scheme://\\*.host"),
        (["https://*.*.example.com"], "not scheme://\\*.host"),
        (["https://*example.com"], "not scheme://\\*.host"),
    ],
)
def test_policy_refuses_what_is_not_an_origin(origins: list[str], message: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match=message):
        ws.Policy(origins=origins)


def test_check_origin_excludes_origins_and_same_origin() -> None:
    with pytest.raises(ws.LocalProtocolError, match="give same_origin or check_origin"):
        ws.Policy(same_origin=True, check_origin=bool)
    with pytest.raises(ws.LocalProtocolError, match="give origins or check_origin"):
        ws.Policy(origins=[], check_origin=bool)


def test_allows_origin_answers_as_the_negotiator() -> None:
    assert LISTED.allows_origin("https://a.example.com")
    assert not LISTED.allows_origin("https://example.com.evil.net")
    assert not LISTED.allows_origin(None)
    assert not LISTED.allows_origin("https://app.example/")
    assert SAME.allows_origin("https://app.example", own="HTTPS://app.example:443")
    assert not SAME.allows_origin("https://app.example", own="http://app.example")
    assert not SAME.allows_origin("https://app.example")
    assert ws.Policy().allows_origin("https://anything.example")
    same_site = ws.Policy(check_origin=lambda origin: origin == "https://app.example")
    assert same_site.allows_origin("https://app.example")
    assert not same_site.allows_origin("https://app.example:443")


# -- properties --------------------------------------------------------------------------

# The characters of URIs and of the tricks above, and a few beyond ASCII.
_TRICKY = st.text(st.sampled_from("aAeE.-_:/@`*%#?[]0134 \u0435\u3002\uff0e\u00ad"), max_size=12)


@given(_TRICKY)
def test_nothing_appended_to_a_listed_origin_gets_in_but_its_default_port(tail: str) -> None:
    policy = ws.Policy(origins=["https://app.example"])
    admitted = policy.allows_origin("https://app.example" + tail)
    assert admitted == (re.fullmatch(r"(?::0*443)?", tail) is not None)


@given(_TRICKY, _TRICKY)
def test_a_pattern_admits_only_hosts_under_its_domain(head: str, tail: str) -> None:
    policy = ws.Policy(origins=["https://*.example.com"])
    origin = f"https://{head}example.com{tail}"
    if policy.allows_origin(origin):
        host = origin.removeprefix("https://").lower().removesuffix(":443")
        assert host.endswith(".example.com") and host != ".example.com"
        assert re.fullmatch(r"(?:[a-z0-9\-._]+\.)+example\.com", host), host
