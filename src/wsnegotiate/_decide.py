"""The pure decision: a parsed request's parts and a policy in, a ``Request`` to
accept or a ``Rejected`` (with the bytes of its answer) out.

It takes plain values, not an ``h11.Request``, so a request that another HTTP
stack parsed is decided the same way. Checks run in this order, and the first
that fails decides the answer:

0. the policy's ``health_path``: a plain GET or a HEAD of it ........... 200 ``ok``
1. method GET (RFC 6455 §4.1) .......................................... else 405
   (to HEAD without content, RFC 9110 §9.3.2)
2. HTTP/1.1 or later (§4.1) ............................................ else 400
3. the request-target: origin-form, or absolute-form of an http(s) URI
   (RFC 9112 §3.2; RFC 6455 §4.2.1 item 2); no fragment ................ else 400
4. exactly one Host, ``host [ ":" port ]`` by RFC 3986 (RFC 9112 §3.2) ... else 400
5. no body: no Content-Length other than 0, no Transfer-Encoding ........ else 400
6. ``websocket`` in Upgrade, ``upgrade`` in Connection (§4.2.1 items 3, 4)  else 426
7. the version markers (``_detect``): broken ..................... 400 + versions
   well formed but not accepted by the policy ...... 426 (or 400) + versions
8. Sec-WebSocket-Key: one field line, base64 of 16 bytes (§4.2.1 item 5) else 400
9. Origin (``Sec-WebSocket-Origin`` below version 13) against the policy
   (``_origin``; same-origin against the effective scheme and authority, and
   ``Sec-Fetch-Site``) ..................................................... else 403
10. Sec-WebSocket-Protocol and -Extensions by their grammars, at least one
    element in each (§4.3, §9.1), at most ``policy.max_offers`` offers .... else 400
11. the credential offer (``policy.credential_prefix``): at most one (else 400),
    and the policy's ``check_credential`` ................................ else 401/403

The ``Request`` holds the target in origin form: an absolute-form target gives
its path and query (``/`` at least, RFC 9112 §3.2.1), and its authority is the
request's ``host``, the Host field ignored as §3.2.2 requires (but still checked
by step 4, and kept in ``headers``).

The effective scheme, authority and client come in as plain values: the caller
(``ServerNegotiator``) reads them off the connection, or off a trusted proxy's
fields (``_forwarded``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._answers import refusal_headers, refusal_response, render
from ._detect import VERSION, Detection, MarkerFault, detect
from ._errors import Fault, LocalProtocolError, RemoteProtocolError
from ._events import Rejected, Request
from ._headers import (
    Extension,
    field_lines,
    has_token,
    parse_extensions,
    parse_token_list,
    quote_for_reason,
    valid_host,
    valid_key,
)
from ._origin import Origin, Verdict, judge, parse_authority, serialize
from ._policy import Policy
from ._version import Version

__all__ = ["admission", "decide", "failure", "rejected"]

_GRAMMAR = {
    "Host": 'uri-host [ ":" port ], no userinfo (RFC 9110 §7.2, RFC 3986 §3.2.2)',
    VERSION: "one number 0-255 in ASCII digits, no leading zero (RFC 6455 §4.3)",
    "Sec-WebSocket-Draft": "one number 0-255 in ASCII digits, no leading zero",
    "Sec-WebSocket-Key": "the base64 of 16 bytes (RFC 6455 §4.1)",
}


# How the fields this module reads are spelled in reasons; ``fields`` is keyed by
# the lower-case bytes.
_NAMES = {
    name.lower().encode("ascii"): name
    for name in (
        "Host",
        "Upgrade",
        "Connection",
        VERSION,
        "Sec-WebSocket-Draft",
        "Sec-WebSocket-Key",
        "Origin",
        "Sec-WebSocket-Origin",
    )
}
_KEYS = {name: key for key, name in _NAMES.items()}


def failure(
    status: int,
    reason: str,
    field: str | None = None,
    fault: Fault | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> RemoteProtocolError:
    """The error for a peer's fault, carrying every header of its answer."""
    headers = refusal_headers(status, reason, extra)
    return RemoteProtocolError(reason, status=status, headers=headers, field=field, fault=fault)


def rejected(
    error: RemoteProtocolError, detection: Detection | None = None, *, head: bool = False
) -> Rejected:
    """The ``Rejected`` event, with the answer's bytes, for a peer's fault. ``head``:
    the request's method is HEAD, so the answer has no content (RFC 9110 §9.3.2); its
    Content-Length stays, the length a GET would get (§8.6)."""
    if head:
        response = render(error.status, error.headers)
    else:
        response = refusal_response(error.status, error.headers, error.reason)
    return Rejected(error.status, error.reason, error.headers, response, error, detection)


def _field_failure(
    field: str,
    fault: Fault,
    values: list[bytes],
    extra: tuple[tuple[str, str], ...] = (),
    suffix: str = "",
) -> RemoteProtocolError:
    if fault is Fault.REPEATED:
        reason = f"{field}: repeated ({len(values)} field lines; one is allowed)"
    elif fault is Fault.INVALID:
        shown = quote_for_reason(values[0])
        reason = f"{field}: invalid value {shown}; expected {_GRAMMAR[field]}"
    else:
        reason = f"{field}: {fault.value}"
    return failure(400, reason + suffix, field, fault, extra)


def _one_value(fields: dict[bytes, list[bytes]], key: bytes) -> bytes | RemoteProtocolError:
    """The value of a field that must appear once, non-empty."""
    values = fields.get(key)
    if values is not None and len(values) == 1 and values[0]:
        return values[0]
    field = _NAMES[key]
    if not values:
        return _field_failure(field, Fault.MISSING, [])
    if len(values) > 1:
        return _field_failure(field, Fault.REPEATED, values)
    return _field_failure(field, Fault.EMPTY, values)


def _token_fault(
    fields: dict[bytes, list[bytes]], key: bytes, token: bytes
) -> RemoteProtocolError | None:
    """``token`` must be in the list-based field ``key`` (RFC 9110 §5.6.1), else 426."""
    values = fields.get(key)
    if values and has_token(values, token):
        return None
    field = _NAMES[key]
    if not values:
        reason = f"{field}: missing; this resource speaks WebSocket"
        return failure(426, reason, field, Fault.MISSING)
    shown = quote_for_reason(b", ".join(values))
    reason = f"{field}: invalid value {shown}; no {token.decode()!r} token"
    return failure(426, reason, field, Fault.INVALID)


# RFC 9112 §3.2, the four forms of a request-target:
#   origin-form    = absolute-path [ "?" query ]   "/chat?room=1", the usual one
#   absolute-form  = absolute-URI                  "http://host:port/chat" (§3.2.2)
#   authority-form = uri-host ":" port             for CONNECT only (§3.2.3)
#   asterisk-form  = "*"                           for OPTIONS only (§3.2.4)
# None of them has a fragment: "#" is refused in any target. A server MUST accept
# absolute-form, and then MUST ignore the Host field for the target's authority
# (§3.2.2). Its scheme: RFC 6455 §4.2.1 item 2 allows "an absolute HTTP/HTTPS URI
# containing the /resource name/". A ws: or wss: URI (RFC 6455 §3) is what a client
# is given, not what it sends: it turns it into an HTTP request for the resource
# name (§4.1), so a ws:, wss: or any other scheme on the request line is a 400.
_scheme_re = re.compile(rb"[A-Za-z][A-Za-z0-9+\-.]*:")
_HTTP_SCHEMES = (b"http", b"https")
_AUTHORITY_END = re.compile(rb"[/?]")


def _target(target: bytes) -> tuple[bytes, bytes | None] | RemoteProtocolError:
    """Step 3: the request-target as an origin-form path and query, and the
    authority when it came in absolute-form; or why it is refused."""
    if target[:1] == b"/" and b"#" not in target:  # origin-form: the usual target
        return target, None
    if b"#" in target:
        fault = "a fragment ('#') is in no request-target form (RFC 9112 §3.2)"
    elif target == b"*":
        fault = "asterisk-form is for OPTIONS only (RFC 9112 §3.2.4)"
    elif _authority_form(target):
        fault = "authority-form is for CONNECT only (RFC 9112 §3.2.3)"
    elif (scheme := _scheme_re.match(target)) is None:
        fault = "no request-target form (origin-form starts with '/', RFC 9112 §3.2)"
    elif (name := scheme.group()[:-1]).lower() not in _HTTP_SCHEMES:
        fault = (
            f"absolute-form with scheme {quote_for_reason(name)}; the handshake's is http or"
            " https (RFC 6455 §4.2.1 item 2)"
        )
    elif target[scheme.end() : scheme.end() + 2] != b"//":
        fault = "an http(s) URI without an authority (RFC 9110 §4.2.1)"
    else:
        start = scheme.end() + 2
        end = _AUTHORITY_END.search(target, start)
        split = end.start() if end else len(target)
        authority, path = target[start:split], target[split:]
        if valid_host(authority):
            return path if path[:1] == b"/" else b"/" + path, authority  # §3.2.1: "/" at least
        if b"@" in authority:
            fault = "userinfo in the authority (RFC 9110 §4.2.4)"
        else:
            fault = (
                f"the authority {quote_for_reason(authority)} is not uri-host"
                ' [ ":" port ] (RFC 9110 §4.2.1, RFC 3986 §3.2.2)'
            )
    reason = f"request-target {quote_for_reason(target)}: {fault}"
    return failure(400, reason, None, Fault.INVALID)


def _authority_form(target: bytes) -> bool:
    """Is ``target`` ``uri-host ":" port`` (RFC 9112 §3.2.3), the port *DIGIT?"""
    _, colon, port = target.rpartition(b":")
    return bool(colon) and (not port or port.isdigit()) and valid_host(target)


def _http_checks(
    method: bytes, target: bytes, http_version: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> tuple[dict[bytes, list[bytes]], bytes, bytes | None] | RemoteProtocolError:
    """Steps 1-6: the field lines by lower-case name, the target in origin form and
    the authority of an absolute-form target; or the first fault."""
    if method != b"GET":
        shown = quote_for_reason(method)
        reason = f"method {shown}: not allowed; the handshake is a GET (RFC 6455 §4.1)"
        return failure(405, reason, None, Fault.NOT_ALLOWED, (("Allow", "GET"),))
    if http_version < b"1.1":
        reason = (
            f"HTTP/{http_version.decode('latin-1')}: the handshake needs HTTP/1.1 (RFC 6455 §4.1);"
            " usually a proxy speaking HTTP/1.0 to its backend (nginx: proxy_http_version 1.1)"
        )
        return failure(400, reason, None, Fault.UNSUPPORTED)
    read = _target(target)
    if isinstance(read, RemoteProtocolError):
        return read
    fields = field_lines(headers)
    host = _one_value(fields, b"host")
    if isinstance(host, RemoteProtocolError):
        return host
    if not valid_host(host):  # RFC 9112 §3.2: MUST answer 400 to an invalid Host
        return _field_failure("Host", Fault.INVALID, [host])
    if b"transfer-encoding" in fields or (
        b"content-length" in fields and fields[b"content-length"] != [b"0"]
    ):
        field = "Transfer-Encoding" if b"transfer-encoding" in fields else "Content-Length"
        reason = f"{field}: the handshake request must not carry a body"
        return failure(400, reason, field, Fault.INVALID)
    fault = _token_fault(fields, b"upgrade", b"websocket") or _token_fault(
        fields, b"connection", b"upgrade"
    )
    return (fields, *read) if fault is None else fault


def _version_failure(
    fields: dict[bytes, list[bytes]],
    found: Detection | MarkerFault | None,
    policy: Policy,
    required: str = "required with Sec-WebSocket-Key, RFC 6455 §4.1",
) -> RemoteProtocolError:
    """Step 7 failed: the error that says why (``required``: the rule that asks for
    the version, when it is missing)."""
    advertise = (("Sec-WebSocket-Version", policy.advertised),)
    supported = f"supported: {policy.advertised}"
    if found is None:
        reason = f"{VERSION}: missing ({required}); {supported}"
        return failure(400, reason, VERSION, Fault.MISSING, advertise)
    if isinstance(found, MarkerFault):
        values = fields[_KEYS[found.field]]
        return _field_failure(found.field, found.fault, values, advertise, f"; {supported}")
    if found.raw_version is not None:
        what = "draft" if found.marker != VERSION else "version"
        reason = (
            f"{found.marker}: unsupported {what} {found.raw_version} ({found.family}); {supported}"
        )
    elif found.family == "hixie-76":
        reason = f"{found.marker}: hixie-76 is not supported; {supported}"
    else:
        reason = f"{VERSION}: missing, a hixie-75 handshake, which is not supported; {supported}"
    field = found.marker or VERSION
    return failure(policy.reject_status, reason, field, Fault.UNSUPPORTED, advertise)


_ORIGIN_KEYS = (b"origin", b"sec-websocket-origin")
_ORIGIN_KEYS_BEFORE_13 = _ORIGIN_KEYS[::-1]


def _origin(
    fields: dict[bytes, list[bytes]],
    version: Version,
    policy: Policy,
    scheme: str,
    authority: str | None,
) -> str | RemoteProtocolError | None:
    """Step 9: RFC 6455 §4.1 sends Origin from version 13 on, hybi-07/08 sent
    Sec-WebSocket-Origin; either is read, the version's own name first."""
    keys = _ORIGIN_KEYS if version >= 13 else _ORIGIN_KEYS_BEFORE_13
    key = keys[0] if keys[0] in fields else keys[1]
    raw: bytes | None = None
    origin = None
    if key in fields:
        value = _one_value(fields, key)
        if isinstance(value, RemoteProtocolError):
            return value
        raw, origin = value, value.decode("latin-1")
    rules = policy.origin_rules
    if rules is None and policy.check_origin is None:
        return origin
    field = _NAMES[key] if origin is not None else _NAMES[keys[0]]
    if rules is None:  # the policy's check_origin decides
        assert policy.check_origin is not None
        if policy.check_origin(origin):
            return origin
        verdict = Verdict.FORBIDDEN if origin is not None else Verdict.MISSING
        return _origin_failure(field, origin, verdict, policy)
    if authority is None:
        authority = fields[b"host"][0].decode("latin-1")
    own = parse_authority(authority, scheme) if rules.same_origin else None
    cross_site = fields.get(b"sec-fetch-site") == [b"cross-site"]
    verdict, parsed = judge(rules, raw, own, cross_site)
    if verdict is Verdict.ADMITTED:
        return origin
    if verdict is Verdict.FORBIDDEN and rules.same_origin and origin is not None:
        return _not_own_origin(field, origin, parsed, own, authority)
    return _origin_failure(field, origin, verdict, policy)


def _origin_failure(
    field: str, origin: str | None, verdict: Verdict, policy: Policy
) -> RemoteProtocolError:
    """Step 9 refused: a 403 whose reason names the origin safely."""
    if origin is None:
        rules = policy.origin_rules
        accepts = "listed origins"
        if rules is not None and rules.same_origin:
            accepts = "its own origin" if policy.origins is None else "its own and listed origins"
        reason = f"{field}: missing; this server accepts {accepts} only"
        return failure(403, reason, field, Fault.MISSING)
    shown = quote_for_reason(origin.encode("latin-1"))
    if verdict is Verdict.NULL:  # RFC 6454 §7.3
        reason = f"{field}: forbidden 'null' (an opaque origin: a sandboxed frame, a file, data:)"
    elif verdict is Verdict.INVALID:
        reason = (
            f"{field}: invalid value {shown}; expected one serialized origin,"
            " scheme://host[:port] (RFC 6454 §7.1)"
        )
        return failure(403, reason, field, Fault.INVALID)
    elif verdict is Verdict.CROSS_SITE:  # Fetch Metadata: the browser's own word
        reason = "Sec-Fetch-Site: cross-site; the browser says another site opened this socket"
        return failure(403, reason, "Sec-Fetch-Site", Fault.FORBIDDEN)
    else:
        reason = f"{field}: forbidden {shown}"
    return failure(403, reason, field, Fault.FORBIDDEN)


def _not_own_origin(
    field: str, origin: str, parsed: Origin | None, own: Origin | None, authority: str
) -> RemoteProtocolError:
    """A same-origin refusal: the origin, the request's own origin, and the likely
    cause when only the scheme differs (TLS ended at a proxy that is not trusted)."""
    reason = f"{field}: forbidden {quote_for_reason(origin.encode('latin-1'))}"
    if own is None:
        shown = quote_for_reason(authority.encode("latin-1"))
        reason += f"; the request's authority {shown} names no origin"
    else:
        reason += f"; this request's origin is {quote_for_reason(serialize(own).encode())}"
        if parsed is not None and parsed[:2] == ("https", own[1]) and own[0] == "http":
            reason += " (TLS ended at a proxy? trust it: forwarded_allow_ips)"
    return failure(403, reason, field, Fault.FORBIDDEN)


def _no_element(field: str, values: list[bytes], combined: bytes, what: str) -> RemoteProtocolError:
    """A list field that needs one element at least has none (RFC 9110 §5.6.1.2:
    ``""``, ``","`` and ``", ,"`` are invalid for a ``1#element`` list)."""
    if not any(values):
        return failure(400, f"{field}: empty; expected {what}", field, Fault.EMPTY)
    reason = f"{field}: invalid value {quote_for_reason(combined)}; expected {what}"
    return failure(400, reason, field, Fault.INVALID)


_ONE_TOKEN = "at least one token (RFC 6455 §4.3: 1#token; RFC 9110 §5.6.1.2)"
_ONE_EXTENSION = "at least one extension (RFC 6455 §9.1: 1#extension; RFC 9110 §5.6.1.2)"


def _too_many_offers(field: str, count: int, limit: int) -> RemoteProtocolError:
    reason = f"{field}: too many offers ({count}; the limit is {limit})"
    return failure(400, reason, field, Fault.TOO_LARGE)


def _offers(
    fields: dict[bytes, list[bytes]], limit: int, secret: bytes | None = None
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[Extension, ...]] | RemoteProtocolError:
    """Step 10: the offered subprotocols and extensions, in order, as sent; and the
    extensions parsed. One at least in a field that is sent, at most ``limit`` (the
    policy's ``max_offers``). A value holding ``secret`` (the credential prefix) is
    never shown."""
    subprotocols: tuple[str, ...] = ()
    if b"sec-websocket-protocol" in fields:
        values = fields[b"sec-websocket-protocol"]
        combined = b", ".join(values)
        tokens = parse_token_list(combined)
        if tokens is None:
            hidden = secret is not None and secret in combined
            shown = "(not shown: it holds a credential)" if hidden else quote_for_reason(combined)
            reason = f"Sec-WebSocket-Protocol: invalid value {shown}; expected tokens"
            return failure(400, reason, "Sec-WebSocket-Protocol", Fault.INVALID)
        if not tokens:
            return _no_element("Sec-WebSocket-Protocol", values, combined, _ONE_TOKEN)
        if len(tokens) > limit:
            return _too_many_offers("Sec-WebSocket-Protocol", len(tokens), limit)
        subprotocols = tuple(t.decode("ascii") for t in tokens)
    if b"sec-websocket-extensions" not in fields:
        return subprotocols, (), ()
    values = fields[b"sec-websocket-extensions"]
    combined = values[0] if len(values) == 1 else b", ".join(values)
    parsed = parse_extensions(combined)
    if isinstance(parsed, int):
        reason = (
            f"Sec-WebSocket-Extensions: invalid value {quote_for_reason(combined)}"
            f" at byte {parsed} (RFC 6455 §9.1)"
        )
        return failure(400, reason, "Sec-WebSocket-Extensions", Fault.INVALID)
    if not parsed[0]:
        return _no_element("Sec-WebSocket-Extensions", values, combined, _ONE_EXTENSION)
    if len(parsed[0]) > limit:
        return _too_many_offers("Sec-WebSocket-Extensions", len(parsed[0]), limit)
    return subprotocols, *parsed


def decide(
    method: bytes,
    target: bytes,
    http_version: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    policy: Policy,
    *,
    scheme: str = "http",
    authority: str | None = None,
    client: tuple[str, int] | None = None,
) -> Request | Rejected:
    """Decide a parsed upgrade request.

    ``headers`` are the field lines as (name, value) byte pairs in wire order, any
    name casing, values with surrounding whitespace removed (as h11 gives them).
    ``scheme`` (``http``, or ``https`` over TLS), ``authority`` (``None``: the
    Host field) and ``client`` are the request as its client made it, for
    ``policy.same_origin`` and the ``Request``: the connection's, or what a
    trusted proxy forwarded (``ServerNegotiator(peer=..., tls=...)`` reads them).
    """
    headers = tuple(headers)
    if policy.health_path is not None:
        health = _health_check(method, target, headers, policy.health_path)
        if health is not None:
            return health
    checked = _http_checks(method, target, http_version, headers)
    if isinstance(checked, RemoteProtocolError):
        return rejected(checked, head=method == b"HEAD")
    fields, path, target_authority = checked
    if authority is None and target_authority is not None:  # RFC 9112 §3.2.2
        authority = target_authority.decode("latin-1")
    found = detect(fields)
    if isinstance(found, Detection) and found.version in policy.versions:
        detection = found
    else:  # step 7: the version markers are broken, missing or not the policy's
        detection = found if isinstance(found, Detection) else _malformed(fields, found)
        return rejected(_version_failure(fields, found, policy), detection)
    key = _one_value(fields, b"sec-websocket-key")
    if isinstance(key, RemoteProtocolError):
        return rejected(key, detection)
    if not valid_key(key):
        return rejected(_field_failure("Sec-WebSocket-Key", Fault.INVALID, [key]), detection)
    admitted = admission(fields, headers, detection.version, policy, scheme, authority)
    if isinstance(admitted, RemoteProtocolError):
        return rejected(admitted, detection)
    origin, subprotocols, extensions, extension_offers, credential, headers = admitted
    return Request(  # positional, in field order: keywords cost 0.3 µs more here
        "GET",
        path.decode("latin-1"),
        http_version.decode("latin-1"),
        (target_authority or fields[b"host"][0]).decode("latin-1"),
        origin,
        detection,
        key.decode("ascii"),
        subprotocols,
        extensions,
        headers,
        extension_offers,
        scheme,
        client,
        credential,
    )


Admitted = tuple[
    str | None,  # the origin
    tuple[str, ...],  # subprotocols offered (the credential taken out)
    tuple[str, ...],  # extensions offered, as sent
    tuple[Extension, ...],  # the same, parsed
    str | None,  # the credential
    tuple[tuple[bytes, bytes], ...],  # the field lines (the credential taken out)
]


def admission(
    fields: dict[bytes, list[bytes]],
    headers: tuple[tuple[bytes, bytes], ...],
    version: Version,
    policy: Policy,
    scheme: str,
    authority: str | None,
) -> Admitted | RemoteProtocolError:
    """Steps 9-11, the same for an HTTP/1.1 upgrade and an HTTP/2 extended CONNECT:
    the origin, the offers, the credential."""
    origin = _origin(fields, version, policy, scheme, authority)
    if isinstance(origin, RemoteProtocolError):
        return origin
    prefix = policy.credential_prefix
    secret = None if prefix is None else prefix.encode("ascii")
    offers = _offers(fields, policy.max_offers, secret)
    if isinstance(offers, RemoteProtocolError):
        return offers
    subprotocols, extensions, extension_offers = offers
    credential = None
    if prefix is not None:
        taken = _credential(subprotocols, headers, policy, prefix)
        if isinstance(taken, RemoteProtocolError):
            return taken
        subprotocols, credential, headers = taken
    return origin, subprotocols, extensions, extension_offers, credential, headers


def _malformed(fields: dict[bytes, list[bytes]], found: MarkerFault | None) -> Detection:
    """What a request with broken or missing version markers is reported as."""
    if found is None:
        return Detection(Version.VersionUnknown, None, "missing", None)
    raw = fields[_KEYS[found.field]][0].decode("latin-1")
    return Detection(Version.VersionUnknown, raw, "malformed", found.field)


def _credential(
    subprotocols: tuple[str, ...],
    headers: tuple[tuple[bytes, bytes], ...],
    policy: Policy,
    prefix: str,
) -> tuple[tuple[str, ...], str | None, tuple[tuple[bytes, bytes], ...]] | RemoteProtocolError:
    """Step 11: the credential offer taken out of the subprotocols and out of the
    ``Sec-WebSocket-Protocol`` field lines, and checked by the policy. A reason
    never holds the credential."""
    offers = [offer for offer in subprotocols if offer.startswith(prefix)]
    if len(offers) > 1:
        reason = f"Sec-WebSocket-Protocol: {len(offers)} credential offers; one is allowed"
        return failure(400, reason, "Sec-WebSocket-Protocol", Fault.REPEATED)
    credential = offers[0][len(prefix) :] if offers else None
    if policy.check_credential is not None:
        refusal = _credential_refusal(policy.check_credential(credential), credential, prefix)
        if refusal is not None:
            return refusal
    if not offers:
        return subprotocols, None, headers
    rest = tuple(offer for offer in subprotocols if offer != offers[0])
    return rest, credential, _without_offer(headers, offers[0].encode("ascii"))


def _credential_refusal(
    verdict: bool | int, credential: str | None, prefix: str
) -> RemoteProtocolError | None:
    """``check_credential``'s answer: ``True`` admits; ``False`` and 403 refuse with
    a 403, 401 with a 401 and its challenge (RFC 9110 §15.5.2: a 401 MUST carry
    ``WWW-Authenticate``; RFC 6750 §3 names the Bearer scheme)."""
    if verdict is True:
        return None
    if verdict is False:
        verdict = 403
    if verdict not in (401, 403):
        raise LocalProtocolError(
            f"check_credential returned {verdict!r}; it returns True, False, 401 or 403"
        )
    extra = (("WWW-Authenticate", "Bearer"),) if verdict == 401 else ()
    if credential is None:
        reason = f"Sec-WebSocket-Protocol: missing credential (an offer starting with {prefix!r})"
        return failure(verdict, reason, "Sec-WebSocket-Protocol", Fault.MISSING, extra)
    reason = "Sec-WebSocket-Protocol: credential refused"
    return failure(verdict, reason, "Sec-WebSocket-Protocol", Fault.FORBIDDEN, extra)


def _without_offer(
    headers: tuple[tuple[bytes, bytes], ...], offer: bytes
) -> tuple[tuple[bytes, bytes], ...]:
    """The field lines with the credential offer left out of Sec-WebSocket-Protocol
    (a line left empty goes), so ``Request.headers`` never carries it."""
    kept: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name.lower() == b"sec-websocket-protocol" and offer in value:
            rest = [e.strip(b" \t") for e in value.split(b",") if e.strip(b" \t") != offer]
            value = b", ".join(e for e in rest if e)
            if not value:
                continue
        kept.append((name, value))
    return tuple(kept)


def _health_check(
    method: bytes, target: bytes, headers: tuple[tuple[bytes, bytes], ...], path: str
) -> Rejected | None:
    """Step 0: a GET that asks for no upgrade, or a HEAD, of the health path gets
    a 200 and the connection closes; any HTTP version (a load balancer's check
    may speak HTTP/1.0). A HEAD's answer has the GET's fields and no body (RFC
    9110 §9.3.2). The event is a ``Rejected``: an answer, then the end."""
    if method not in (b"GET", b"HEAD") or target.partition(b"?")[0] != path.encode("ascii"):
        return None
    if method == b"GET" and has_token(
        [value for name, value in headers if name.lower() == b"upgrade"], b"websocket"
    ):
        return None  # a WebSocket handshake on the health path: decided as any other
    headers_out = refusal_headers(200, "ok")
    body = b"" if method == b"HEAD" else b"ok\n"
    return Rejected(200, "ok", headers_out, render(200, headers_out, body))
