"""``ServerNegotiator``: the server's handshake as a sans-IO state machine over h11.

Theory of operation
-------------------
Bytes go in with ``receive_data()`` (``b""`` is end of file); events come out of
``next_event()``. The negotiator buffers only the request head: it scans for the
blank line that ends it (``\\n\\r?\\n``, the same rule as h11), enforces the size
limit on every call however the bytes are chunked, and reads the complete head
exactly once: in one strict pass when it has the common shape (``_fasthead``),
with h11 otherwise. Until the request line has ended, its own limit (the per-line
one, or the head's if that is lower) is enforced the same way: a request-target
too long gets its 414 (RFC 9112 §3) before the line's end arrives. Whatever
followed the head is kept, whole, as trailing data.

    AWAITING_REQUEST --next_event()--> Request ----------> DECIDING
                     --next_event()--> Rejected/Closed ---> CLOSED
                     --time_out()----> Rejected (408) ----> CLOSED
    DECIDING         --accept()------> Accepted ----------> SWITCHED
                     --reject()------> Rejected ----------> CLOSED

Every transition is a row of ``_TRANSITIONS``; a call that has no row in the
current state is a ``LocalProtocolError``, raised before the call does anything.
A fatal peer error (an oversized head, bytes that are not HTTP) drops the buffer
at once; from then on, and in CLOSED,
incoming bytes are discarded unread: bytes after a refused upgrade are never
parsed as a new request (request smuggling).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

import h11

from ._answers import TEXT_PLAIN, rejection_body, rejection_headers, render, switching_protocols
from ._decide import decide, failure, rejected
from ._deflate import (
    PERMESSAGE_DEFLATE,
    DeflateOptions,
    DeflateParams,
    answer_fault,
)
from ._deflate import agreed as agreed_params
from ._errors import Fault, LocalProtocolError, RemoteProtocolError
from ._events import Accepted, ConnectionClosed, NeedData, Rejected, Request
from ._fasthead import read_request, refused_by_h11
from ._forwarded import Effective, Invalid, Peer, direct, effective
from ._head import describe_malformed, field_limit_fault, long_line_fault
from ._headers import (
    FRAMING_FIELDS,
    Extension,
    check_field_name,
    check_field_value,
    field_value_fault,
    parse_extensions,
)
from ._policy import BY_POLICY, DEFAULT_POLICY, Policy, PolicyChoice

__all__ = ["ServerNegotiator", "State", "check_reason", "negotiate", "settle_choices"]


class State(enum.Enum):
    """Where a ``ServerNegotiator`` is in the handshake (see the module comment)."""

    AWAITING_REQUEST = "awaiting request"
    DECIDING = "deciding"
    SWITCHED = "switched"
    CLOSED = "closed"

    # Members are singletons: identity hashing keeps the transition table lookup
    # in C (``Enum.__hash__`` is Python code that hashes the name).
    __hash__ = object.__hash__


Event = NeedData | Request | Rejected | ConnectionClosed | Accepted

# (state, call, event the call produced) -> next state. The calls allowed in a
# state are exactly the ones with a row; any other call is checked before it
# does any work and raises LocalProtocolError.
_TRANSITIONS: dict[tuple[State, str, type[Event]], State] = {
    (State.AWAITING_REQUEST, "next_event", NeedData): State.AWAITING_REQUEST,
    (State.AWAITING_REQUEST, "next_event", Request): State.DECIDING,
    (State.AWAITING_REQUEST, "next_event", Rejected): State.CLOSED,
    (State.AWAITING_REQUEST, "next_event", ConnectionClosed): State.CLOSED,
    (State.AWAITING_REQUEST, "time_out", Rejected): State.CLOSED,
    (State.DECIDING, "accept", Accepted): State.SWITCHED,
    (State.DECIDING, "reject", Rejected): State.CLOSED,
}
_ALLOWED = frozenset((state, call) for state, call, _ in _TRANSITIONS)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_AWAITING = State.AWAITING_REQUEST

_HEAD_END = re.compile(rb"\n\r?\n")
_H11_HEAD_LIMIT = 16 * 1024  # h11.Connection's default max_incomplete_event_size
_NEED_DATA = NeedData()
# Header fields of a 101 that the negotiator writes itself (RFC 6455 §4.2.2).
_OWN_FIELDS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "content-length",
        "transfer-encoding",
    }
)


class ServerNegotiator:
    """One connection's server handshake. Not thread-safe; one per connection.

    ``peer`` is the connection's remote address, ``(host, port)`` as the socket
    gives it, and ``tls`` whether the connection is TLS: the adapter knows both.
    They make the request's effective scheme and client (``Request.scheme``,
    ``Request.client``), and with ``Policy.forwarded_allow_ips`` they say whether
    the peer is a proxy whose ``Forwarded``/``X-Forwarded-*`` fields are believed.
    """

    __slots__ = (
        "_buffer", "_eof", "_fatal", "_head_end", "_limit", "_line_open", "_peer", "_policy",
        "_receiving", "_request", "_searched", "_state", "_tls", "_trailing", "_where",
    )  # fmt: skip

    def __init__(
        self, policy: Policy | None = None, *, peer: Peer | None = None, tls: bool = False
    ) -> None:
        self._policy = policy if policy is not None else DEFAULT_POLICY
        self._peer = None if peer is None else (str(peer[0]), int(peer[1]))
        self._tls = tls
        # What the connection says, unless the peer is a trusted proxy: then the
        # request's own fields are read (None).
        trusted = self._peer is not None and self._policy.proxies.trusts(self._peer[0])
        self._where: Effective | None = None if trusted else direct(self._peer, tls)
        # The length past which the buffer is scanned even without a new line feed,
        # read on every chunk: until the request line ends, one byte past its limit
        # (a CR may still come before the LF), the head's limit if that is lower;
        # the head's limit after.
        self._limit = min(self._policy.max_request_bytes, self._policy.max_field_line_bytes + 1)
        self._line_open = True  # no line feed seen yet
        self._state = State.AWAITING_REQUEST
        self._buffer: bytes | bytearray = b""
        self._searched = 0  # where the next scan for the head's end starts
        self._head_end: int | None = None
        self._eof = False
        self._fatal: Rejected | None = None
        self._request: Request | None = None
        self._trailing = b""
        # AWAITING_REQUEST, the head not complete, not refused, not at end of file: one
        # flag that the per-chunk fast paths test instead of four fields (kept by _move,
        # _scan, _fail and end of file).
        self._receiving = True

    @property
    def state(self) -> State:
        return self._state

    @property
    def policy(self) -> Policy:
        """The policy this negotiator decides by (fixed when it is made)."""
        return self._policy

    @property
    def buffered(self) -> int:
        """How many received bytes the negotiator holds: the partial head (never more
        than the size limit plus the last chunk), then the bytes that followed the
        head until ``accept()`` hands them over; zero after a refusal."""
        return len(self._buffer) + len(self._trailing)

    def _check(self, call: str) -> None:
        if (self._state, call) not in _ALLOWED:
            raise LocalProtocolError(f"{call}() cannot be called in state {self._state.name}")

    def _move(self, call: str, event: Event) -> None:
        self._state = _TRANSITIONS[self._state, call, type(event)]
        self._receiving = self._state is _AWAITING and self._receiving

    # -- bytes in ---------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed its side."""
        if not (self._receiving and data):
            self._receive_other(data)
            return
        if data.__class__ is not bytes:
            data = bytes(data)
        buffer = self._buffer
        if buffer:
            if buffer.__class__ is bytes:  # the second chunk: from here on, one bytearray
                buffer = self._buffer = bytearray(buffer)
            buffer += data
        else:  # the usual single chunk is kept as it came, without a copy
            buffer = self._buffer = data
            if data[0] < 0x21:  # RFC 9112 §2.2: a request line starts with a method token
                self._fail(_not_http(data[0]))
                return
        # The head ends with a line feed and the bytes before these were scanned, so
        # new bytes without one cannot end it: then only the size limit is checked, with
        # no call (this saves most of the cost of a request fed a few bytes at a time).
        # ``0x0A in data`` is one memchr; ``b"\n" in data`` first tries, and fails, to
        # read b"\n" as an integer (an exception made and cleared per call).
        if 0x0A in data or len(buffer) > self._limit:
            self._scan()

    def _receive_other(self, data: bytes | bytearray | memoryview) -> None:
        """``receive_data()`` once refused or closed, out of turn, at end of file, or
        after the head is complete (until ``next_event()`` reads it)."""
        if self._state is State.CLOSED or self._fatal is not None:
            return  # refused: the rest of the connection is never parsed
        if self._state is not State.AWAITING_REQUEST:
            raise LocalProtocolError(
                f"receive_data() in state {self._state.name}: after the request, bytes "
                "belong to the frame layer (see Accepted.trailing_data)"
            )
        if self._eof:
            raise LocalProtocolError("receive_data() after end of file")
        if data:  # bytes after a complete head: trailing data, kept whole
            if self._buffer.__class__ is bytes:
                self._buffer = bytearray(self._buffer)
            self._buffer += data
            return
        self._eof = True  # b"": the peer closed its side
        self._receiving = False

    def _scan(self) -> None:
        buffer, limit = self._buffer, self._limit
        if self._line_open:
            # Called with a line feed in the new bytes or past the limit: no line feed
            # up to the limit means the buffer is past it, the request line too long.
            if buffer.find(b"\n", 0, limit + 1) < 0:
                self._fail(self._long_line(buffer))
                return
            self._line_open = False
            limit = self._limit = self._policy.max_request_bytes
        match = _HEAD_END.search(buffer, self._searched)
        end = match.end() if match else len(buffer)
        if end > limit:
            reason = f"request head: too large (more than {limit} bytes)"
            self._fail(failure(431, reason, None, Fault.TOO_LARGE))
        elif match:
            self._head_end = end
            self._receiving = False  # complete: next_event() reads it
        else:
            self._searched = max(0, end - 2)

    def _long_line(self, buffer: bytes | bytearray) -> RemoteProtocolError:
        """The request line passed its limit: a 414 if the request-target is what runs
        past it, else the 431 of the limit it passed (``_head.long_line_fault``)."""
        line_limit = self._policy.max_field_line_bytes
        head_limit = self._policy.max_request_bytes
        if line_limit < head_limit:
            status, reason = long_line_fault(buffer, line_limit)
        else:  # the head's limit is the lower: the line passed it
            too_large = f"request head: too large (more than {head_limit} bytes)"
            status, reason = long_line_fault(buffer, head_limit, too_large)
        return failure(status, reason, None, Fault.TOO_LARGE)

    def _fail(self, error: RemoteProtocolError) -> None:
        self._fatal = rejected(error, head=_to_head(self._buffer))
        self._receiving = False
        self._buffer = b""  # store nothing after a fatal error

    # -- events out -------------------------------------------------------------

    def next_event(self) -> NeedData | Request | Rejected | ConnectionClosed:
        """The next event: ``NeedData`` until the request head is complete."""
        if self._receiving:
            # Still waiting: the row (AWAITING_REQUEST, next_event, NeedData) keeps the
            # state, so no table lookups and no new event per partial chunk.
            return _NEED_DATA
        self._check("next_event")
        event: Request | Rejected | ConnectionClosed
        if self._fatal is not None:
            event = self._fatal
        elif self._head_end is not None:
            event = self._parse(self._head_end)
        elif not self._buffer:  # end of file before any byte
            event = ConnectionClosed()
        else:  # end of file inside the head
            reason = (
                f"request head: incomplete (the connection closed after {len(self._buffer)} bytes)"
            )
            event = rejected(
                failure(400, reason, None, Fault.INCOMPLETE), head=_to_head(self._buffer)
            )
            self._buffer = b""
        self._move("next_event", event)
        return event

    def _parse(self, end: int) -> Request | Rejected:
        buffer = self._buffer
        if end == len(buffer) and isinstance(buffer, bytes):  # one chunk, nothing after
            head, self._trailing = buffer, b""  # the head as it came: two copies saved
        else:
            head, self._trailing = bytes(buffer[:end]), bytes(buffer[end:])
        self._buffer = b""
        policy = self._policy
        too_many = field_limit_fault(head, policy.max_field_lines, policy.max_field_line_bytes)
        if too_many is not None:
            self._trailing = b""
            error = failure(*too_many, None, Fault.TOO_LARGE)
            return rejected(error, head=_to_head(head))
        read = read_request(head) if policy.fast_path else None  # the common head, one pass
        if read is None:
            if policy.fast_path and refused_by_h11(head):  # h11's answer, known without it
                self._trailing = b""
                reason, field = describe_malformed(head, "")
                return rejected(failure(400, reason, field, Fault.MALFORMED), head=_to_head(head))
            if end <= _H11_HEAD_LIMIT:  # the usual head: h11 as it comes (a keyword costs 1%)
                http = h11.Connection(h11.SERVER)
            else:  # a policy may allow heads longer than h11's own limit
                http = h11.Connection(h11.SERVER, max_incomplete_event_size=end)
            http.receive_data(head)
            try:
                parsed = http.next_event()
            except h11.RemoteProtocolError as exc:
                self._trailing = b""
                reason, field = describe_malformed(head, str(exc))
                error = failure(exc.error_status_hint, reason, field, Fault.MALFORMED)
                return rejected(error, head=_to_head(head))
            if not isinstance(parsed, h11.Request):  # pragma: no cover - h11 ends heads as we do
                self._trailing = b""
                return rejected(failure(400, "malformed HTTP request", None, Fault.MALFORMED))
            read = parsed.method, parsed.target, parsed.http_version, parsed.headers.raw_items()
        method, target, http_version, fields = read
        where: Effective | Invalid | None = self._where
        if where is None:  # the peer is a trusted proxy: its fields say
            assert self._peer is not None
            where = effective(fields, self._peer, self._tls, policy.proxies)
        if not isinstance(where, Effective):  # a trusted proxy's field is unreadable
            self._trailing = b""
            return rejected(failure(400, where.reason, where.field, Fault.INVALID))
        result = decide(
            method,
            target,
            http_version,
            fields,
            policy,
            scheme=where.scheme,
            authority=where.authority,
            client=where.client,
        )
        return self._decided(result)

    def _decided(self, result: Request | Rejected) -> Request | Rejected:
        if isinstance(result, Request):
            self._request = result
        else:
            self._trailing = b""  # never read bytes after a refused upgrade
        return result

    def time_out(self, seconds: float) -> Rejected:
        """The caller's clock ran out before the request was complete (a slow or
        stalled client): a 408 to send before closing (RFC 9110 §15.5.9). The
        negotiator keeps no clock itself."""
        self._check("time_out")
        reason = f"request head: incomplete after {seconds:g} s"
        event = rejected(failure(408, reason, None, Fault.INCOMPLETE), head=_to_head(self._buffer))
        self._move("time_out", event)
        self._buffer = b""
        return event

    # -- the caller's decision --------------------------------------------------

    def accept(
        self,
        subprotocol: str | PolicyChoice | None = BY_POLICY,
        extensions: Iterable[str] = (),
        extra_headers: Iterable[tuple[str, str]] = (),
        *,
        deflate: bool = True,
    ) -> Accepted:
        """Accept the request: the 101 and the trailing data.

        ``subprotocol``: by default the policy's choice among the client's offers;
        a name the client offered; or ``None`` for none. ``deflate=False`` declines
        permessage-deflate for this request (the policy's ``deflate`` settles it
        otherwise). ``extensions`` are extension answers of your own
        (``permessage-deflate; server_no_context_takeover``), each accepting an
        offer the client made; a permessage-deflate answer there replaces the
        policy's.
        """
        self._check("accept")
        request = self._request
        assert request is not None  # DECIDING always has one
        subprotocol, answers, agreed = settle_choices(
            request, self._policy, subprotocol, extensions, deflate
        )
        extra = _checked_headers(extra_headers, forbidden=_OWN_FIELDS) if extra_headers else ()
        headers, response = switching_protocols(request.key.encode(), subprotocol, answers, extra)
        event = Accepted(request, subprotocol, answers, headers, response, self._trailing, agreed)
        self._move("accept", event)
        self._trailing = b""
        return event

    def reject(
        self,
        status: int = 403,
        reason: str = "Forbidden",
        headers: Iterable[tuple[str, str]] = (),
        *,
        body: bytes | None = None,
        content_type: str = TEXT_PLAIN,
    ) -> Rejected:
        """Refuse the request with ``status`` and a one-line ``reason``, sent as the
        body unless ``body`` (of ``content_type``) is given. ``status`` is 4xx or
        5xx, or a redirect (301, 302, 303, 307, 308) with a ``Location`` header
        (RFC 9110 §15.4). The connection closes after it either way."""
        self._check("reject")
        redirect = status in _REDIRECTS
        if not (redirect or 400 <= status <= 599):
            raise LocalProtocolError(
                f"a rejection's status is 4xx, 5xx or a redirect (301-308), not {status}"
            )
        check_reason(reason)
        extra = _checked_headers(headers, forbidden=frozenset({"content-length", "content-type"}))
        _checked_headers((("Content-Type", content_type),), forbidden=frozenset())
        if redirect and not any(name.lower() == "location" for name, _ in extra):
            raise LocalProtocolError(f"a {status} redirect needs a Location header")
        answer = rejection_headers(status, reason, extra, body=body, content_type=content_type)
        response = render(status, answer, rejection_body(reason) if body is None else body)
        assert self._request is not None
        event = Rejected(status, reason, answer, response, None, self._request.detection)
        self._move("reject", event)
        self._trailing = b""
        return event


def settle_choices(
    request: Request,
    policy: Policy,
    subprotocol: str | PolicyChoice | None,
    extensions: Iterable[str],
    deflate: bool,
) -> tuple[str | None, tuple[str, ...], DeflateParams | None]:
    """What ``accept()`` answers, on HTTP/1.1 and HTTP/2 alike: the subprotocol (the
    policy's choice, one the client offered, or none), the extension answers, and
    the permessage-deflate parameters agreed."""
    if subprotocol is BY_POLICY:
        subprotocol = policy.subprotocol_for(request)
    elif subprotocol is not None and subprotocol not in request.subprotocols:
        raise LocalProtocolError(  # RFC 6455 §4.1 step 6 on the client
            f"subprotocol {subprotocol!r} was not offered; offers: {request.subprotocols}"
        )
    answers = tuple(extensions)
    agreed = _checked_extension_answers(answers, request, policy) if answers else None
    if agreed is None and deflate:
        agreed = policy.deflate_for(request)
        if agreed is not None:
            answers = (*answers, agreed.answer())
    return subprotocol, answers, agreed


def check_reason(reason: str) -> None:
    """A rejection's reason is one line of UTF-8 text (it is sent as the body)."""
    if "\n" in reason or "\r" in reason or "\x00" in reason:
        raise LocalProtocolError("a rejection's reason is one line")
    if not reason.isascii():  # the body is UTF-8: a lone surrogate has no encoding
        try:
            reason.encode("utf-8")
        except UnicodeEncodeError as error:
            raise LocalProtocolError(
                f"a rejection's reason must be UTF-8 text; character {error.start} is not"
            ) from None


def _to_head(data: bytes | bytearray) -> bool:
    """Is the request's method HEAD, so that its answer has no content (RFC 9110
    §9.3.2)? Read off the first bytes, the method token and the space after it (RFC
    9112 §3), so that a head refused before it is parsed is answered so too."""
    return data[:5] == b"HEAD "


def _not_http(first: int) -> RemoteProtocolError:
    if first in b"\r\n":
        reason = "request line: missing (the bytes start with an empty line)"
    elif first == 0x16:
        reason = "not HTTP: a TLS handshake (0x16) reached a plain-text port"
    else:
        reason = f"not HTTP: the request line starts with byte 0x{first:02x}"
    return failure(400, reason, None, Fault.MALFORMED)


def _checked_extension_answers(
    answers: tuple[str, ...], request: Request, policy: Policy
) -> DeflateParams | None:
    """A caller's extension answers: each one well-formed element (RFC 6455 §9.1)
    answering an extension the client offered, no extension answered twice, and a
    permessage-deflate answer one that accepts one of its offers (RFC 7692 §7.1).
    Returns the permessage-deflate parameters so answered, if any."""
    agreed = None
    named: set[str] = set()
    offers = {offer.name.lower() for offer in request.extension_offers}
    for text in answers:
        try:
            value = text.encode("latin-1")  # a field value goes out as latin-1
        except UnicodeEncodeError as error:
            raise LocalProtocolError(
                f"extension {text!r}: character {error.start} has no latin-1 byte"
            ) from None
        parsed = parse_extensions(value)
        if isinstance(parsed, int) or len(parsed[1]) != 1:
            raise LocalProtocolError(f"extension {text!r} breaks RFC 6455 §9.1")
        answer = parsed[1][0]
        name = answer.name.lower()
        if name not in offers:
            raise LocalProtocolError(f"extension {text!r} was not offered (RFC 6455 §9.1)")
        if name in named:
            raise LocalProtocolError(f"extension {name} is answered twice")
        named.add(name)
        if name == PERMESSAGE_DEFLATE:
            agreed = _deflate_answer(answer, text, request, policy)
    return agreed


def _deflate_answer(
    answer: Extension, text: str, request: Request, policy: Policy
) -> DeflateParams:
    faults = [
        answer_fault(answer, offer)
        for offer in request.extension_offers
        if offer.name.lower() == PERMESSAGE_DEFLATE
    ]
    if None not in faults:
        raise LocalProtocolError(
            f"extension {text!r} accepts no offer: {faults[0]} (RFC 7692 §7.1)"
        )
    return agreed_params(answer, policy.deflate or DeflateOptions(), client=False)


def _checked_headers(
    headers: Iterable[tuple[str, str]], forbidden: frozenset[str]
) -> tuple[tuple[str, str], ...]:
    """Caller-supplied header fields: tokens for names, values by RFC 9110 §5.5,
    none the negotiator writes itself and none that frames a body."""
    checked = tuple(headers)
    for name, value in checked:
        if not check_field_name(name):
            raise LocalProtocolError(f"header name {name!r} is not a token (RFC 9110 §5.1)")
        if not check_field_value(value):
            fault = field_value_fault(value)
            raise LocalProtocolError(f"header {name}: value {value!a} {fault}")
        key = name.lower()
        if key in forbidden:
            raise LocalProtocolError(f"header {name} is written by the negotiator itself")
        if key in FRAMING_FIELDS:
            raise LocalProtocolError(
                f"header {name} would frame the body a second time: the negotiator "
                "frames its answers itself (RFC 9112 §6.1)"
            )
    return checked


def negotiate(
    data: bytes | bytearray | memoryview,
    policy: Policy | None = None,
    *,
    peer: Peer | None = None,
    tls: bool = False,
) -> Accepted | Rejected | NeedData:
    """Negotiate a whole captured request in one call, letting the policy decide:
    ``Accepted`` (with the policy's subprotocol), ``Rejected``, or ``NeedData``
    when ``data`` ends before the request head does. ``peer`` and ``tls`` are
    ``ServerNegotiator``'s."""
    negotiator = ServerNegotiator(policy, peer=peer, tls=tls)
    negotiator.receive_data(data)
    event = negotiator.next_event()
    if isinstance(event, Request):
        return negotiator.accept()
    if isinstance(event, ConnectionClosed):  # empty data: nothing to negotiate yet
        return _NEED_DATA
    return event
