"""``ServerNegotiator``: the server's handshake as a sans-IO state machine over h11.

Theory of operation
-------------------
Bytes go in with ``receive_data()`` (``b""`` is end of file); events come out of
``next_event()``. The negotiator buffers only the request head: it scans for the
blank line that ends it (``\\n\\r?\\n``, the same rule as h11), enforces the size
limit on every call however the bytes are chunked, and hands h11 the complete
head exactly once. Whatever followed the head is kept, whole, as trailing data.

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

from ._answers import rejection_body, rejection_headers, render, switching_protocols
from ._decide import decide, failure, rejected
from ._errors import Fault, LocalProtocolError, RemoteProtocolError
from ._events import Accepted, ConnectionClosed, NeedData, Rejected, Request
from ._headers import check_field_name, check_field_value, extension_name, parse_extension_list
from ._policy import DEFAULT_POLICY, Policy

__all__ = ["ServerNegotiator", "State", "negotiate"]


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
_AWAITING = State.AWAITING_REQUEST

_HEAD_END = re.compile(rb"\n\r?\n")
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
    """One connection's server handshake. Not thread-safe; one per connection."""

    __slots__ = (
        "_buffer", "_eof", "_fatal", "_head_end", "_receiving", "_request", "_searched",
        "_state", "_trailing", "policy",
    )  # fmt: skip

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy if policy is not None else DEFAULT_POLICY
        self._state = State.AWAITING_REQUEST
        self._buffer: bytes | bytearray = b""
        self._searched = 0  # where the next scan for the head's end starts
        self._head_end: int | None = None
        self._eof = False
        self._fatal: Rejected | None = None
        self._request: Request | None = None
        self._trailing = b""
        # AWAITING_REQUEST, not refused, not at end of file: one flag that the per-chunk
        # fast paths test instead of three fields (kept by _move, _fail and end of file).
        self._receiving = True

    @property
    def state(self) -> State:
        return self._state

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
        buffer = self._buffer
        if buffer:
            if isinstance(buffer, bytes):
                buffer = self._buffer = bytearray(buffer)
            fresh = len(buffer)
            buffer += data
        else:  # the usual single chunk is kept as it came, without a copy
            buffer = self._buffer = data if isinstance(data, bytes) else bytes(data)
            fresh = 0
            if buffer[0] < 0x21:  # RFC 9112 §2.2: a request line starts with a method token
                self._fail(_not_http(buffer[0]))
                return
        # The head ends with a line feed and the bytes before ``fresh`` were scanned, so
        # new bytes without one cannot end it: then only the size limit is checked, with
        # no call (this saves most of the cost of a request fed a few bytes at a time).
        if self._head_end is None and (
            buffer.find(b"\n", fresh) >= 0 or len(buffer) > self.policy.max_request_bytes
        ):
            self._scan()

    def _receive_other(self, data: bytes | bytearray | memoryview) -> None:
        """``receive_data()`` once refused or closed, out of turn, or at end of file."""
        if self._state is State.CLOSED or self._fatal is not None:
            return  # refused: the rest of the connection is never parsed
        if self._state is not State.AWAITING_REQUEST:
            raise LocalProtocolError(
                f"receive_data() in state {self._state.name}: after the request, bytes "
                "belong to the frame layer (see Accepted.trailing_data)"
            )
        if self._eof:
            raise LocalProtocolError("receive_data() after end of file")
        self._eof = True  # b"": the peer closed its side
        self._receiving = False

    def _scan(self) -> None:
        buffer, limit = self._buffer, self.policy.max_request_bytes
        match = _HEAD_END.search(buffer, self._searched)
        end = match.end() if match else len(buffer)
        if end > limit:
            reason = f"request head: too large (more than {limit} bytes)"
            self._fail(failure(431, reason, None, Fault.TOO_LARGE))
        elif match:
            self._head_end = end
        else:
            self._searched = max(0, end - 2)

    def _fail(self, error: RemoteProtocolError) -> None:
        self._fatal = rejected(error)
        self._receiving = False
        self._buffer = b""  # store nothing after a fatal error

    # -- events out -------------------------------------------------------------

    def next_event(self) -> NeedData | Request | Rejected | ConnectionClosed:
        """The next event: ``NeedData`` until the request head is complete."""
        if self._receiving and self._head_end is None:
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
            event = rejected(failure(400, reason, None, Fault.INCOMPLETE))
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
        http = h11.Connection(h11.SERVER, max_incomplete_event_size=max(end, 16384))
        http.receive_data(head)
        try:
            parsed = http.next_event()
        except h11.RemoteProtocolError as exc:
            self._trailing = b""
            reason = f"malformed HTTP request: {str(exc)[:200]}"
            return rejected(failure(exc.error_status_hint, reason, None, Fault.MALFORMED))
        if not isinstance(parsed, h11.Request):  # pragma: no cover - h11 ends heads as we do
            self._trailing = b""
            return rejected(failure(400, "malformed HTTP request", None, Fault.MALFORMED))
        result = decide(
            parsed.method,
            parsed.target,
            parsed.http_version,
            parsed.headers.raw_items(),
            self.policy,
        )
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
        event = rejected(failure(408, reason, None, Fault.INCOMPLETE))
        self._move("time_out", event)
        self._buffer = b""
        return event

    # -- the caller's decision --------------------------------------------------

    def accept(
        self,
        subprotocol: str | None = None,
        extensions: Iterable[str] = (),
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Accepted:
        """Accept the request: the 101 and the trailing data.

        ``subprotocol=None`` takes the policy's choice among the client's offers.
        ``extensions`` are the accepted extension answers (``permessage-deflate;
        server_no_context_takeover``), each naming an extension the client offered.
        """
        self._check("accept")
        request = self._request
        assert request is not None  # DECIDING always has one
        if subprotocol is None:
            subprotocol = self.policy.select_subprotocol(request.subprotocols)
        elif subprotocol not in request.subprotocols:  # RFC 6455 §4.1 step 6 on the client
            raise LocalProtocolError(
                f"subprotocol {subprotocol!r} was not offered; offers: {request.subprotocols}"
            )
        accepted = tuple(extensions)
        if accepted:
            _check_extension_answers(accepted, request.extensions)
        extra = _checked_headers(extra_headers, forbidden=_OWN_FIELDS) if extra_headers else ()
        headers, response = switching_protocols(request.key.encode(), subprotocol, accepted, extra)
        event = Accepted(request, subprotocol, accepted, headers, response, self._trailing)
        self._move("accept", event)
        self._trailing = b""
        return event

    def reject(
        self, status: int = 403, reason: str = "Forbidden", headers: Iterable[tuple[str, str]] = ()
    ) -> Rejected:
        """Refuse the request with ``status`` (4xx or 5xx) and a one-line ``reason``."""
        self._check("reject")
        if not 400 <= status <= 599:
            raise LocalProtocolError(f"a rejection's status is 4xx or 5xx, not {status}")
        if "\n" in reason or "\r" in reason or "\x00" in reason:
            raise LocalProtocolError("a rejection's reason is one line")
        extra = _checked_headers(headers, forbidden=frozenset({"content-length", "content-type"}))
        answer = rejection_headers(status, reason, extra)
        response = render(status, answer, rejection_body(reason))
        assert self._request is not None
        event = Rejected(status, reason, answer, response, None, self._request.detection)
        self._move("reject", event)
        self._trailing = b""
        return event


def _not_http(first: int) -> RemoteProtocolError:
    if first in b"\r\n":
        reason = "request line: missing (the bytes start with an empty line)"
    elif first == 0x16:
        reason = "not HTTP: a TLS handshake (0x16) reached a plain-text port"
    else:
        reason = f"not HTTP: the request line starts with byte 0x{first:02x}"
    return failure(400, reason, None, Fault.MALFORMED)


def _check_extension_answers(answers: tuple[str, ...], offers: tuple[str, ...]) -> None:
    """Each accepted extension is well formed and was offered (RFC 6455 §9.1)."""
    offered = {extension_name(offer) for offer in offers}
    for answer in answers:
        parsed = parse_extension_list(answer.encode("latin-1", "replace"))
        if isinstance(parsed, int) or len(parsed) != 1:
            raise LocalProtocolError(f"extension {answer!r} breaks RFC 6455 §9.1")
        if extension_name(answer) not in offered:
            raise LocalProtocolError(f"extension {answer!r} was not offered (RFC 6455 §9.1)")


def _checked_headers(
    headers: Iterable[tuple[str, str]], forbidden: frozenset[str]
) -> tuple[tuple[str, str], ...]:
    """Caller-supplied header fields: tokens for names, no CR/LF/NUL in values."""
    checked = tuple(headers)
    for name, value in checked:
        if not check_field_name(name):
            raise LocalProtocolError(f"header name {name!r} is not a token (RFC 9110 §5.1)")
        if not check_field_value(value):
            raise LocalProtocolError(f"header value {value!r} of {name}: CR, LF, NUL or padding")
        if name.lower() in forbidden:
            raise LocalProtocolError(f"header {name} is written by the negotiator itself")
    return checked


def negotiate(
    data: bytes | bytearray | memoryview, policy: Policy | None = None
) -> Accepted | Rejected | NeedData:
    """Negotiate a whole captured request in one call, letting the policy decide:
    ``Accepted`` (with the policy's subprotocol), ``Rejected``, or ``NeedData``
    when ``data`` ends before the request head does."""
    negotiator = ServerNegotiator(policy)
    negotiator.receive_data(data)
    event = negotiator.next_event()
    if isinstance(event, Request):
        return negotiator.accept()
    if isinstance(event, ConnectionClosed):  # empty data: nothing to negotiate yet
        return _NEED_DATA
    return event
