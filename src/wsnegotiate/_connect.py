"""The extended-CONNECT decision (RFC 8441): an HTTP/2 request's pseudo-header
fields, its header fields, a policy, and whether the connection advertised
``SETTINGS_ENABLE_CONNECT_PROTOCOL`` in; a ``Request`` to accept or a
``Rejected`` out.

It is ``decide()`` on another transport: the WebSocket steps (version, origin,
offers) are ``_decide``'s own functions, so a fault gets the same reason on both;
only the transport's steps are this module's. Checks run in this order, and the
first that fails decides the answer:

1. the header list within the policy's limits (RFC 9113 §6.5.2, RFC 6585 §5) ...... else 431
2. :method CONNECT (RFC 8441 §4) ................................... else 405 + Allow: CONNECT
3. :protocol present; a CONNECT without it asks for a tunnel (RFC 9113 §8.5),
   and this is not a proxy ........................................................ else 501
4. the connection advertised SETTINGS_ENABLE_CONNECT_PROTOCOL = 1; without it
   :protocol is undefined and the request malformed (RFC 8441 §3, RFC 9113 §8.1.1)  else 400
5. :protocol a token (RFC 8441 §4: an Upgrade token, RFC 9110 §5.6.2) .............. else 400
   and ``websocket``, in any case (RFC 8441 §5; RFC 6455 §4.2.1 item 3) ........... else 501
6. :scheme http or https (RFC 8441 §5) ............................................. else 400
7. :path, an absolute path (RFC 8441 §4, RFC 9113 §8.3.1) ........................... else 400
8. :authority, and a Host field, if any, naming the same (RFC 9113 §8.3.1) .......... else 400
9. ``decide()``'s step 6, the version (RFC 8441 §5 keeps Sec-WebSocket-Version);
   a version refused is a 400 with the list, never a 426: a 426 MUST carry
   Upgrade (RFC 9110 §15.5.22), which HTTP/2 forbids (RFC 9113 §8.2.2) ............ else 400
10. ``decide()``'s step 8, the origin .............................................. else 403
11. ``decide()``'s step 9, subprotocol and extension offers ........................ else 400

There is no Sec-WebSocket-Key and no Accept (RFC 8441 §5): a key sent is ignored.
A refusal carries no ``Connection`` or ``Upgrade`` field (RFC 9113 §8.2.2) and no
bytes to write: the HTTP/2 side sends its status, fields and body on the stream.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._answers import rejection_body
from ._decide import _malformed, _version_failure, admission, failure
from ._detect import HIXIE_75, Detection, detect
from ._errors import Fault, RemoteProtocolError
from ._events import Rejected, Request
from ._headers import field_lines, is_token, quote_for_reason
from ._policy import Policy

__all__ = [
    "ENABLE_CONNECT_PROTOCOL",
    "PseudoFields",
    "decide_connect",
    "local_settings",
    "rejected_h2",
    "split_header_block",
]

#: The SETTINGS parameter of RFC 8441 §3 (IANA "HTTP/2 Settings": 0x8).
ENABLE_CONNECT_PROTOCOL = 0x8

#: The pseudo-header fields of a request (RFC 9113 §8.3.1, RFC 8441 §4), by name.
PseudoFields = dict[bytes, bytes]

# RFC 9113 §8.2.2: connection-specific fields are not sent on HTTP/2; the
# HTTP/1.1 refusal's Connection (and a 426's Upgrade) are left out.
_CONNECTION_SPECIFIC = frozenset({"connection", "upgrade"})
_SCHEMES = frozenset({b"http", b"https"})
_VERSION_REQUIRED = "required with :protocol websocket, RFC 8441 §5"


def local_settings(serves_websockets: bool) -> dict[int, int]:
    """The settings that say whether this connection serves WebSockets: the
    parameter only when it does (RFC 8441 §3; advertising it where nothing serves
    a WebSocket invites requests that can only fail). Once sent as 1 it is never
    sent as 0 (§3), so it is decided once, when the connection starts."""
    return {ENABLE_CONNECT_PROTOCOL: 1} if serves_websockets else {}


def split_header_block(
    block: Iterable[tuple[bytes, bytes]], policy: Policy
) -> tuple[PseudoFields, tuple[tuple[bytes, bytes], ...]] | Rejected:
    """A request's header block as its pseudo-header fields and its other fields
    (in order), or a 431 when it breaks one of the policy's limits: the header
    list size as RFC 9113 §6.5.2 counts it (each field's name and value plus 32
    bytes) against ``max_request_bytes``, ``max_field_lines`` and
    ``max_field_line_bytes`` (a field counted as ``name: value``). The block has
    passed the HTTP/2 layer's checks (RFC 9113 §8.2-8.3: lower-case names, each
    pseudo-header field once and first)."""
    pseudo: PseudoFields = {}
    fields: list[tuple[bytes, bytes]] = []
    size = 0
    longest = b""
    for name, value in block:
        size += len(name) + len(value) + 32
        if name[:1] == b":":
            pseudo[name] = value
            continue
        fields.append((name, value))
        if len(name) + 2 + len(value) > policy.max_field_line_bytes and not longest:
            longest = name
    if size > policy.max_request_bytes:
        reason = (
            f"header list: too large ({size} bytes as RFC 9113 §6.5.2 counts them; "
            f"the limit is {policy.max_request_bytes})"
        )
    elif len(fields) > policy.max_field_lines:
        reason = (
            f"header list: too many fields ({len(fields)}; the limit is {policy.max_field_lines})"
        )
    elif longest:
        reason = (
            f"{quote_for_reason(longest)}: too long (more than "
            f"{policy.max_field_line_bytes} bytes; the limit is per field)"
        )
    else:
        return pseudo, tuple(fields)
    return rejected_h2(failure(431, reason, None, Fault.TOO_LARGE))


def rejected_h2(error: RemoteProtocolError, detection: Detection | None = None) -> Rejected:
    """The ``Rejected`` event of an HTTP/2 refusal for a peer's fault: the HTTP/1.1
    answer's status and fields, less the connection-specific ones (RFC 9113
    §8.2.2), names in lower case (§8.2.1), and a 400 for a 426 (no Upgrade)."""
    status = 400 if error.status == 426 else error.status
    headers = tuple(
        (name.lower(), value)
        for name, value in error.headers
        if name.lower() not in _CONNECTION_SPECIFIC
    )
    error = RemoteProtocolError(
        error.reason, status=status, headers=headers, field=error.field, fault=error.fault
    )
    body = rejection_body(error.reason)
    return Rejected(status, error.reason, headers, b"", error, detection, "2", body)


def _pseudo_fault(name: str, value: bytes | None, rule: str, expected: str) -> RemoteProtocolError:
    """A pseudo-header field that is missing, empty or not of its grammar (400)."""
    if value is None:
        return failure(400, f"{name}: missing ({rule})", name, Fault.MISSING)
    if not value:
        return failure(400, f"{name}: empty ({rule})", name, Fault.EMPTY)
    reason = f"{name}: invalid value {quote_for_reason(value)}; expected {expected} ({rule})"
    return failure(400, reason, name, Fault.INVALID)


def _transport_fault(
    method: bytes,
    protocol: bytes | None,
    scheme: bytes | None,
    path: bytes | None,
    authority: bytes | None,
    fields: dict[bytes, list[bytes]],
    enabled: bool,
) -> RemoteProtocolError | None:
    """Steps 2-8: the request is an extended CONNECT for a WebSocket."""
    if method != b"CONNECT":
        reason = (
            f"method {quote_for_reason(method)}: not allowed; a WebSocket over HTTP/2 is an "
            "extended CONNECT (RFC 8441 §4)"
        )
        return failure(405, reason, None, Fault.NOT_ALLOWED, (("Allow", "CONNECT"),))
    if protocol is None:
        reason = (
            ":protocol: missing; a CONNECT without it asks for a tunnel (RFC 9113 §8.5), "
            "and this server is not a proxy"
        )
        return failure(501, reason, ":protocol", Fault.MISSING)
    if not enabled:
        reason = (
            ":protocol: not allowed on this connection, which did not send "
            "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3)"
        )
        return failure(400, reason, ":protocol", Fault.UNSUPPORTED)
    if not is_token(protocol):
        return _pseudo_fault(":protocol", protocol, "RFC 8441 §4", "an upgrade token")
    if protocol.lower() != b"websocket":
        reason = (
            f":protocol: unsupported {quote_for_reason(protocol)}; this server speaks "
            "websocket (RFC 8441 §5)"
        )
        return failure(501, reason, ":protocol", Fault.UNSUPPORTED)
    if scheme is None or scheme.lower() not in _SCHEMES:
        return _pseudo_fault(":scheme", scheme, "RFC 8441 §5", "http or https")
    if not path or path[:1] != b"/":
        return _pseudo_fault(":path", path, "RFC 8441 §4", "an absolute path")
    if not authority:
        return _pseudo_fault(":authority", authority, "RFC 9113 §8.3.1", "host and port")
    for host in fields.get(b"host", ()):
        if host.lower() != authority.lower():
            reason = (
                f"Host: {quote_for_reason(host)} differs from :authority "
                f"{quote_for_reason(authority)} (RFC 9113 §8.3.1)"
            )
            return failure(400, reason, "Host", Fault.INVALID)
    return None


def decide_connect(
    method: bytes,
    protocol: bytes | None,
    scheme: bytes | None,
    path: bytes | None,
    authority: bytes | None,
    headers: Iterable[tuple[bytes, bytes]],
    policy: Policy,
    *,
    enabled: bool,
    client: tuple[str, int] | None = None,
) -> Request | Rejected:
    """Decide an HTTP/2 request as a WebSocket's extended CONNECT (RFC 8441).

    ``method``, ``protocol``, ``scheme``, ``path`` and ``authority`` are the
    pseudo-header fields ``:method``, ``:protocol``, ``:scheme``, ``:path`` and
    ``:authority`` (``None`` when absent); ``headers`` the other fields as
    (name, value) byte pairs in order; ``enabled`` whether this connection sent
    ``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1``; ``client`` the peer's address (or
    what a trusted proxy forwarded), for the ``Request``. The checks, in order, are in the
    module comment; the WebSocket ones are ``decide()``'s. A ``Request`` has
    ``http_version`` ``"2"``; a ``Rejected`` is answered on the stream.
    """
    headers = tuple(headers)
    fields = field_lines(headers)
    fault = _transport_fault(method, protocol, scheme, path, authority, fields, enabled)
    if fault is not None:
        return rejected_h2(fault)
    assert path is not None  # checked above, as the authority and the scheme are
    assert authority is not None
    assert scheme is not None
    found = detect(fields)
    if found is HIXIE_75:  # no marker at all: there is no key on HTTP/2 to say more
        found = None
    if isinstance(found, Detection) and found.version in policy.versions:
        detection = found
    else:  # decide()'s step 6
        detection = found if isinstance(found, Detection) else _malformed(fields, found)
        error = _version_failure(fields, found, policy, _VERSION_REQUIRED)
        return rejected_h2(error, detection)
    admitted = admission(
        fields,
        headers,
        detection.version,
        policy,
        scheme.decode("ascii"),  # checked above: http or https
        authority.decode("latin-1"),
    )
    if isinstance(admitted, RemoteProtocolError):
        return rejected_h2(admitted, detection)
    origin, subprotocols, extensions, extension_offers, credential, headers = admitted
    return Request(
        "CONNECT",
        path.decode("latin-1"),
        "2",
        authority.decode("latin-1"),
        origin,
        detection,
        "",
        subprotocols,
        extensions,
        headers,
        extension_offers,
        scheme.decode("ascii"),
        client,
        credential,
    )
