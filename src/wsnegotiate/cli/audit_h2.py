"""``audit --http2``: the HTTP/2 group (RFC 8441, RFC 9113), its cases and their I/O.
Needs h2 (``pip install wsnegotiate[h2]``).

Each case goes on a connection of its own: HTTP/2 with prior knowledge on a ws://
URL (the client's preface at once, RFC 9113 §3.3), ALPN ``h2`` on a wss:// one
(§3.2). It waits for the server's SETTINGS, then sends its header blocks, each on
a stream of its own: the extended CONNECT our client sends
(``wsnegotiate.h2.connect_block``), edited where the case breaks a rule on
purpose. h2 checks nothing either way (``ClientConnection(check_headers=False)``),
so a malformed request goes out as it is and an answer is read as it came, a
``connection`` field or a 101 included. A case that talks WebSocket after the 200
sends its frame on the stream (masked, as RFC 6455 §5.3 asks of a client, which
RFC 8441 §5 keeps) and reads until the answer to it comes.

Two cases are gates, run first and alone: ``h2-settings`` (the server's SETTINGS:
without them the server is no HTTP/2 one; without SETTINGS_ENABLE_CONNECT_PROTOCOL
= 1 it serves no WebSocket over HTTP/2, and only ``h2-without-setting`` is judged
then), and ``h2-valid`` (the plainest extended CONNECT gets a 200). Each case names
its rule, its level and the answers the rule allows, and the verdict follows the
audit's one rule (``audit_cases``): a MUST broken is ``fail``, a SHOULD ``warn``, a
MAY or a choice ``info``. A refusal on HTTP/2 may be an answer (a status, fields, a
body), a stream reset or a GOAWAY: RFC 9113 §8.1.1 makes a malformed request a
stream error, after an HTTP answer or without one, and §5.4.1 lets a server end the
whole connection for it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from h2.errors import ErrorCodes

from .. import h2 as wh
from .._client import ClientNegotiator
from .._errors import InvalidResponse
from .._events import NeedData
from .._headers import field_lines
from .audit import (
    _HINTS,
    LIMIT,
    Result,
    Stop,
    _connect,
    _unreached,
    connect_error,
    speaks_tls,
)
from .audit_answer import Answer, Block, Ended, H2Answer, H2Stream, Parse, Response, as_text
from .audit_cases import (
    R6455_421,
    R6455_422_VERSION,
    R6455_GRAMMAR,
    R_SERVER_MASK,
    Build,
    Case,
    Context,
    Judge,
    Judged,
    Rule,
    Sent,
    _masked,
    blame,
    broke,
    may,
    must,
    noted,
    passed,
    refuses_version,
    said,
    should,
    worst,
)
from .probe import Target

__all__ = ["H2_CASES", "H2_GATES", "H2_GROUPS", "exchange_h2", "gate"]

# -- the rules -----------------------------------------------------------------------

R_FIELDS = must(
    'RFC 9113 §8.2.2: "An endpoint MUST NOT generate an HTTP/2 message containing '
    "connection-specific header fields. This includes the Connection header field and those "
    "listed as having connection-specific semantics in Section 7.6.1 of [HTTP] (that is, "
    'Proxy-Connection, Keep-Alive, Transfer-Encoding, and Upgrade)."'
)
R_426 = must(
    'RFC 9110 §15.5.22: "The server MUST send an Upgrade header field in a 426 response", '
    "and RFC 9113 §8.2.2 forbids Upgrade in HTTP/2: no 426 can be right there; RFC 6455 "
    '§4.2.2 asks for "an appropriate HTTP error code", such as 400'
)
R_101 = must(
    'RFC 9113 §8.6: "HTTP/2 removes support for the 101 (Switching Protocols) informational '
    'status code"; a 101 "MUST send an Upgrade header field" (RFC 9110 §7.8), which HTTP/2 '
    "forbids (RFC 9113 §8.2.2); RFC 9110 §9.3.6: a 2xx to a CONNECT is what opens the tunnel, "
    "and RFC 8441 §5's example answers :status 200"
)
R_OFFERED = must(
    'RFC 6455 §4.1: the client "MUST _Fail the WebSocket Connection_" when the answer names '
    "an extension or a subprotocol that was not offered; RFC 8441 §5: Sec-WebSocket-Protocol "
    'and -Extensions "are used in the CONNECT request and response-header fields as defined '
    'in [RFC6455]"'
)
R_SETTING_VALUE = must(
    'RFC 8441 §3: "The value of the parameter MUST be 0 or 1." "A sender MUST NOT send a '
    "SETTINGS_ENABLE_CONNECT_PROTOCOL parameter with the value of 0 after previously sending "
    'a value of 1."'
)
R_GOAWAY = should(
    'RFC 9113 §5.4.1: "An endpoint that encounters a connection error SHOULD first send a '
    'GOAWAY frame"; a connection closed without one, and without an answer, explains nothing'
)
R_PONG = must(
    'RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in '
    'response", with the Ping\'s "Application data" (§5.5.3); RFC 8441 §5: the peers '
    '"proceed with the WebSocket Protocol [RFC6455] using the HTTP/2 stream from the CONNECT '
    'transaction as if it were the TCP connection referred to in [RFC6455]"'
)
_MALFORMED = (
    'RFC 9113 §8.1.1: "Malformed requests or responses that are detected MUST be treated as a '
    "stream error (Section 5.4.2) of type PROTOCOL_ERROR. For malformed requests, a server "
    'MAY send an HTTP response prior to closing or resetting the stream."'
)
_STOP = (
    '; a request that is no WebSocket handshake the server "MUST stop processing" (RFC 6455 '
    "§4.2.1), and a 2xx to a CONNECT opens a tunnel (RFC 9110 §9.3.6)"
)
_PROTOCOL = (
    'RFC 8441 §5: "The :protocol pseudo-header field MUST be included in the CONNECT request, '
    'and it MUST have a value of "websocket" to initiate a WebSocket connection on an HTTP/2 '
    'stream"' + _STOP + "; RFC 9220 §3, on the same semantics over HTTP/3: a :protocol "
    '"that is unknown or is not supported" gets a 501'
)

REFUSED = "a refusal (an HTTP answer that is no 2xx), RST_STREAM or GOAWAY; never a 2xx"
NOT_OURS = "501 (Not Implemented), another refusal, RST_STREAM or GOAWAY; never a 2xx"
LISTED = "a 400 (never a 426) with sec-websocket-version listing the versions the server speaks"
OK_200 = "a 200 a client accepts (RFC 6455 §4.1): no 101, nothing that was not offered"

# -- building the requests ------------------------------------------------------------

Pairs = list[tuple[bytes, bytes]]


def _negotiator(ctx: Context, version: int | str = 13) -> ClientNegotiator:
    """Our client's request, as ``valid()`` makes it on HTTP/1.1: the user's origin
    and subprotocol offered."""
    return ClientNegotiator(
        ctx.host,
        ctx.path,
        version,
        origin=ctx.origin,
        subprotocols=[ctx.subprotocol] if ctx.subprotocol else [],
        random=ctx.random,
    )


def without(name: bytes) -> Callable[[Pairs], Pairs]:
    return lambda block: [(n, v) for n, v in block if n != name]


def replaced(name: bytes, value: bytes) -> Callable[[Pairs], Pairs]:
    return lambda block: [(n, value if n == name else v) for n, v in block]


def request(
    edit: Callable[[Pairs], Pairs] | None = None,
    *,
    version: int | str = 13,
    streams: int = 1,
    unadvertised: bool = False,
    sent: bool = True,
) -> Build:
    """The extended CONNECT our client sends (``edit``: changed as the case says),
    on ``streams`` streams of one connection; without ``sent`` only the SETTINGS
    are awaited."""

    def build(ctx: Context) -> Sent:
        negotiator = _negotiator(ctx, version)
        block = wh.connect_block(negotiator, ctx.scheme)
        block = edit(block) if edit else block
        blocks = (tuple(block),) * streams if sent else ()
        account = b"".join(_headers(2 * i + 1, b"HEADERS", block) for i, block in enumerate(blocks))
        return Sent(account, negotiator, blocks=blocks, unadvertised=unadvertised)

    return build


def _headers(stream_id: int, what: bytes, block: Block | Pairs) -> bytes:
    lines = b"".join(b"  %s: %s\n" % pair for pair in block)
    return b"stream %d %s\n%s" % (stream_id, what, lines)


# -- the exchange ----------------------------------------------------------------------


@dataclass
class _Stream:
    stream_id: int
    blocks: list[Block] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    ended: bool = False
    reset: int | None = None
    then_sent: bool = False

    def frozen(self) -> H2Stream:
        return H2Stream(
            self.stream_id, tuple(self.blocks), bytes(self.data), self.ended, self.reset
        )


def error_name(code: int) -> str:
    """An HTTP/2 error code by its name (RFC 9113 §7)."""
    try:
        return ErrorCodes(code).name
    except ValueError:
        return f"error code {code:#x}"


class _Run:
    """One case's HTTP/2 connection, without I/O: bytes in, bytes out, and the
    account of what came (``lines``) and of what went (``written``)."""

    def __init__(self, case: Case, sent: Sent) -> None:
        self.case, self.sent = case, sent
        self.client = wh.ClientConnection(check_headers=False, max_response_bytes=LIMIT)
        self.settings: list[bool] = []
        self.streams: dict[int, _Stream] = {}
        self.goaway: tuple[int, int, bytes] | None = None
        self.failed: str | None = None
        self.closed = False
        self.lines: list[bytes] = []
        self.written = bytearray(b"the connection preface and SETTINGS (RFC 9113 section 3.4)\n")
        self.head = b""

    def start(self) -> bytes:
        return self.client.data_to_send()

    def feed(self, data: bytes) -> bytes:
        """The server's bytes (``b""``: it closed the connection); returns ours."""
        if not self.head:
            self.head = data[:200]
        self.client.receive_data(data)
        while not isinstance(event := self.client.next_event(), NeedData):
            self._on(event)
        return self.client.data_to_send()

    def _on(self, event: object) -> None:
        if isinstance(event, wh.ServerSettings):
            enabled = event.extended_connect
            self.settings.append(enabled)
            self.lines.append(
                b"SETTINGS: SETTINGS_ENABLE_CONNECT_PROTOCOL = %d\n" % enabled
                if enabled
                else b"SETTINGS without SETTINGS_ENABLE_CONNECT_PROTOCOL = 1\n"
            )
            if len(self.settings) == 1 and enabled is not self.sent.unadvertised:
                for block in self.sent.blocks:
                    stream_id = self.client.send_request(block)
                    self.streams[stream_id] = _Stream(stream_id)
                self.written += self.sent.data
        elif isinstance(event, wh.StreamAnswer):
            stream = self.streams[event.stream_id]
            stream.blocks.append(event.headers)
            self.lines.append(_headers(event.stream_id, b"HEADERS", event.headers))
            status = dict(event.headers).get(b":status", b"")
            if status == b"200" and self.case.then and not stream.then_sent:
                stream.then_sent = True
                self.client.send(event.stream_id, self.case.then)
                self.written += b"stream %d DATA: %s\n" % (event.stream_id, self.case.then)
        elif isinstance(event, wh.StreamData):
            stream = self.streams[event.stream_id]
            stream.data += event.data
            self.lines.append(b"stream %d DATA: %s\n" % (event.stream_id, event.data))
        elif isinstance(event, wh.StreamEnded):
            self.streams[event.stream_id].ended = True
            self.lines.append(b"stream %d END_STREAM\n" % event.stream_id)
        elif isinstance(event, wh.StreamReset):
            self.streams[event.stream_id].reset = event.error_code
            name = error_name(event.error_code).encode()
            self.lines.append(b"stream %d RST_STREAM %s\n" % (event.stream_id, name))
        elif isinstance(event, wh.GoAway):
            self.goaway = (event.error_code, event.last_stream_id, event.debug)
            name = error_name(event.error_code).encode()
            debug = b": " + event.debug if event.debug else b""
            last = event.last_stream_id
            self.lines.append(b"GOAWAY %s (last stream %d)%s\n" % (name, last, debug))
        elif isinstance(event, wh.ConnectionFailed):
            self.failed = event.reason
            if not self.settings:
                self.lines.append(b"not HTTP/2: %s\n" % self.head[:80])
            self.lines.append(b"%s\n" % event.reason.encode())
        elif isinstance(event, wh.ConnectionEnded):
            self.closed = True

    @property
    def done(self) -> bool:
        if self.closed or self.failed or self.goaway:
            return True
        if not self.settings:
            return False
        return all(self._answered(stream) for stream in self.streams.values())

    def _answered(self, stream: _Stream) -> bool:
        if stream.reset is not None:
            return True
        frozen = stream.frozen()
        status = frozen.status
        if status is None:
            return False
        if status == 200 and self.case.frames:
            return any(frame.opcode in self.case.frames for frame in frozen.frames)
        return status == 200 or stream.ended

    def answer(
        self, ended: Ended, first: float | None, size: int, lasted: float, alpn: str | None
    ) -> Answer:
        streams = tuple(stream.frozen() for stream in self.streams.values())
        h2 = H2Answer(tuple(self.settings), streams, self.goaway, self.failed, alpn, self.head)
        return Answer(
            b"".join(self.lines), ended, first, _parse(h2), size=size, lasted=lasted, h2=h2
        )


def _parse(h2: H2Answer) -> Parse:
    """The first stream's final answer as a ``Response``."""
    stream = h2.streams[0] if h2.streams else None
    final = stream.final if stream is not None else None
    if stream is None or final is None or stream.status is None:
        return Parse((), b"")
    status = stream.status
    fields = tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in final if n[:1] != b":")
    body = b"" if 200 <= status < 300 else stream.data
    done = stream.ended or stream.reset is not None
    head = _headers(stream.stream_id, b"HEADERS", final)
    return Parse((Response("2", status, "", fields, head, body, done),), b"")


async def exchange_h2(
    target: Target, case: Case, sent: Sent, timeout: float, tls: ssl.SSLContext | None = None
) -> tuple[Answer, bytes]:
    """One HTTP/2 case on its own connection, within ``timeout`` seconds in all; the
    answer, and the account of every frame written."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            reader, writer = await _connect(target, tls)
    except TimeoutError:
        return _unreached_h2("no connection before the deadline", Ended.TIMEOUT)
    except OSError as exc:
        return _unreached_h2(connect_error(exc), Ended.UNREACHABLE)
    run = _Run(case, sent)
    sent_at = loop.time()
    alpn = None
    if tls is not None:
        ssl_object = writer.get_extra_info("ssl_object")
        alpn = (ssl_object.selected_alpn_protocol() if ssl_object is not None else None) or ""
        if alpn != "h2":  # RFC 9113 §3.2: no h2, no HTTP/2 on this connection
            writer.transport.abort()
            account = b"TLS: ALPN chose %s, not h2\n" % (alpn or "no protocol").encode()
            return Answer(account, Ended.OPEN, None, Parse((), b""), h2=H2Answer(alpn=alpn)), b""
    ended: Ended | None = None
    first: float | None = None
    size = 0
    try:
        async with asyncio.timeout_at(deadline):
            writer.write(run.start())
            await writer.drain()
            while not run.done:
                chunk = await reader.read(LIMIT)
                if first is None and chunk:
                    first = loop.time() - sent_at
                size += len(chunk)
                out = run.feed(chunk)
                if not chunk:
                    ended = Ended.CLOSED
                elif out:
                    writer.write(out)
                    await writer.drain()
                if size >= LIMIT:
                    ended = Ended.LIMIT
                    break
    except TimeoutError:
        ended = Ended.TIMEOUT
    except (ConnectionError, OSError):
        ended = Ended.RESET
    finally:
        writer.transport.abort()
    answer = run.answer(ended or Ended.OPEN, first, size, loop.time() - sent_at, alpn)
    return answer, bytes(run.written)


def _unreached_h2(error: str, ended: Ended) -> tuple[Answer, bytes]:
    answer, written = _unreached(error, ended)
    return replace(answer, h2=H2Answer()), written


# -- judging ---------------------------------------------------------------------------


def _h2(answer: Answer) -> H2Answer:
    assert answer.h2 is not None  # an HTTP/2 case's answer
    return answer.h2


def said_h2(answer: Answer, stream: H2Stream | None = None) -> str:
    """What came back on ``stream`` (the case's first), in a few words."""
    h2 = _h2(answer)
    if stream is None and h2.streams:
        stream = h2.streams[0]
    if stream is not None and stream.status is not None:
        return f"HTTP/2 {stream.status}"
    if stream is not None and stream.reset is not None:
        return f"RST_STREAM {error_name(stream.reset)}"
    if h2.goaway is not None:
        code, _, debug = h2.goaway
        return f"GOAWAY {error_name(code)}" + (f" ({as_text(debug[:80])})" if debug else "")
    if h2.failed is not None:
        return f"bytes that are not HTTP/2 ({h2.failed})"
    if stream is not None and stream.blocks:
        return f"only an interim :status {as_text(stream.statuses[0])}"
    return said(answer)


#: RFC 9113 §8.2.2: the fields that are connection-specific, never in an HTTP/2 message.
_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding", b"upgrade"}
)


def _connection_fields(stream: H2Stream) -> list[Judged]:
    """RFC 9113 §8.2.2: no connection-specific field in any answer on the stream."""
    found = [
        f"{as_text(n)}: {as_text(v)}"
        for block in stream.blocks
        for n, v in block
        if n in _CONNECTION_SPECIFIC
    ]
    return [broke(R_FIELDS, f"the answer carries {'; '.join(found)}")] if found else []


def _notes(stream: H2Stream) -> list[Judged]:
    """What breaks HTTP/2 in any answer, whatever the case: a 101, a 426,
    connection-specific fields."""
    notes = _connection_fields(stream)
    if b"101" in stream.statuses:
        notes.append(broke(R_101, "a 101 (Switching Protocols), which HTTP/2 does not have"))
    if stream.status == 426:
        notes.append(broke(R_426, "426, which needs the Upgrade field HTTP/2 forbids"))
    return notes


def _not_sent(answer: Answer) -> Judged | None:
    """``info`` for a case whose request never went: the server's SETTINGS did
    not allow it (the gate says so once), or never came."""
    h2 = _h2(answer)
    if h2.streams:
        return None
    if not h2.settings:
        return noted(f"not applicable: no SETTINGS ({said_h2(answer)})")
    if h2.advertised:
        return noted(
            "not applicable: the server sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, so "
            ":protocol is allowed on its connections (RFC 8441 §3)"
        )
    return noted("not applicable: the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1")


def _no_answer(case: Case, answer: Answer) -> Judged:
    """No HTTP answer and no reset on the stream: a GOAWAY refuses it (§5.4.1), a
    connection closed without one breaks a SHOULD, silence the case's rule."""
    h2 = _h2(answer)
    if h2.goaway is not None:
        return passed(said_h2(answer))
    if answer.ended in (Ended.CLOSED, Ended.RESET) or h2.failed:
        return broke(R_GOAWAY, said_h2(answer))
    return broke(case.rule, said_h2(answer))


def refuses(fault: str) -> Judge:
    """A request no server may serve as a WebSocket, because of ``fault`` (a phrase:
    "a CONNECT without :path"): any answer but a 2xx, a reset or a GOAWAY."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        if (skipped := _not_sent(answer)) is not None:
            return skipped
        stream = _h2(answer).streams[0]
        status = stream.status
        if status is None:
            return passed(said_h2(answer)) if stream.reset is not None else _no_answer(case, answer)
        if 200 <= status < 300:
            return worst([broke(case.rule, f"served {fault}: HTTP/2 {status}"), *_notes(stream)])
        return worst([passed(f"HTTP/2 {status}"), *_notes(stream)])

    return judge


def refuses_version_h2(what: str, *, may_speak: bool, list_required: bool) -> Judge:
    """A version refused as on HTTP/1.1 (``audit_cases.refuses_version``: the list
    of the versions the server speaks), with an HTTP answer: a reset or a GOAWAY
    says nothing of the versions; never a 426 (``R_426``)."""
    inner = refuses_version(what, may_speak=may_speak, list_required=list_required)

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        if (skipped := _not_sent(answer)) is not None:
            return skipped
        stream = _h2(answer).streams[0]
        status = stream.status
        if status is None:
            return broke(case.rule, f"{said_h2(answer)}, not an HTTP answer to {what}")
        if 200 <= status < 300:
            if not may_speak:
                return worst([broke(case.rule, f"served {what}: HTTP/2 {status}"), *_notes(stream)])
            return worst([noted(f"speaks it (HTTP/2 {status})"), *_notes(stream)])
        return worst([inner(case, ctx, sent, answer), *_notes(stream)])

    return judge


def _offer_fault(sent: Sent, stream: H2Stream) -> str | None:
    """Why a client must reject the 200 (RFC 6455 §4.1 steps 5 and 6), as our
    client checks it, or ``None``."""
    negotiator, final = sent.client, stream.final
    assert negotiator is not None  # request() keeps the client that wrote the request
    assert final is not None
    lines = [(n, v) for n, v in final if n[:1] != b":"]
    headers = tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in lines)
    fields = field_lines(lines)
    try:
        negotiator._chosen_subprotocol(fields, headers)
        negotiator._accepted_extensions(fields, headers)
    except InvalidResponse as error:
        return error.reason
    return None


def accepts(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """The valid extended CONNECT: a 200 a client accepts."""
    if (skipped := _not_sent(answer)) is not None:
        return skipped
    stream = _h2(answer).streams[0]
    status = stream.status
    if status is None:
        return broke(case.rule, said_h2(answer))
    if 200 <= status < 300:
        fault = _offer_fault(sent, stream)
        sound = broke(R_OFFERED, f"a 200 a client must reject: {fault}") if fault else passed("200")
        return worst([sound, *_notes(stream)])
    final = answer.final
    assert final is not None
    refused = broke(case.rule, f"a valid request refused: HTTP/2 {status}; {blame(final)[1]}")
    return worst([refused, *_notes(stream)])


def _the_200(check: Callable[[H2Stream], str | None]) -> Judge:
    """One property of the answer to the valid request; ``info`` when it is no 2xx
    (``h2-valid`` judges that)."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        if (skipped := _not_sent(answer)) is not None:
            return skipped
        stream = _h2(answer).streams[0]
        if b"101" not in stream.statuses and not 200 <= (stream.status or 0) < 300:
            return noted(f"not applicable: {said_h2(answer)}")
        fault = check(stream)
        return broke(case.rule, fault) if fault else passed(f"HTTP/2 {stream.status}")

    return judge


def _status_200(stream: H2Stream) -> str | None:
    statuses = [as_text(status) for status in stream.statuses]
    if "101" in statuses:
        return f"answered :status {', then '.join(statuses)}: HTTP/2 has no 101"
    return None


def _no_connection_fields(stream: H2Stream) -> str | None:
    faults = _connection_fields(stream)
    return faults[0].finding if faults else None


def pongs(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """A Ping on each WebSocket the case opened, right after its 200: a Pong with
    the Ping's payload on the same stream, whatever else the server sends. A
    second WebSocket refused breaks the case's rule (two on one connection)."""
    if (skipped := _not_sent(answer)) is not None:
        return skipped
    streams = _h2(answer).streams
    first = streams[0]
    if first.status != 200:
        return noted(f"not applicable: {said_h2(answer)} (h2-valid judges it)")
    judged: list[Judged] = []
    for stream in streams:
        if stream.status != 200:
            refused = f"WebSocket {stream.stream_id} on the connection: {said_h2(answer, stream)}"
            judged.append(broke(case.rule, refused))
            continue
        frames = stream.frames
        masked = [frame for frame in frames if frame.masked]
        if masked:
            judged.append(broke(R_SERVER_MASK, f"a masked frame on stream {stream.stream_id}"))
        pong = next((frame for frame in frames if frame.opcode == 0xA), None)
        if pong is None:
            close = next((frame for frame in frames if frame.opcode == 0x8), None)
            other = "a Close" if close else _end_of(answer, stream)
            judged.append(broke(R_PONG, f"stream {stream.stream_id}: 200, then no Pong: {other}"))
        elif pong.payload != b"audit":
            judged.append(
                broke(R_PONG, f"stream {stream.stream_id}: a Pong with {pong.payload[:40]!r}")
            )
        else:
            judged.append(passed(f"stream {stream.stream_id}: 200, then the Pong"))
    return worst(judged)


def _end_of(answer: Answer, stream: H2Stream) -> str:
    if stream.reset is not None:
        return f"RST_STREAM {error_name(stream.reset)}"
    if stream.ended:
        return "END_STREAM"
    h2 = _h2(answer)
    if h2.goaway is not None:
        return f"GOAWAY {error_name(h2.goaway[0])}"
    return {
        Ended.CLOSED: "the server closed the connection",
        Ended.RESET: "the server reset the connection",
        Ended.TIMEOUT: "the deadline passed",
    }.get(answer.ended, answer.ended.value)


def settings(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """The server's SETTINGS: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 is its choice
    (``info`` without it); taking it back breaks RFC 8441 §3."""
    h2 = _h2(answer)
    if h2.settings[:1] == (True,) and False in h2.settings:
        return broke(R_SETTING_VALUE, "SETTINGS_ENABLE_CONNECT_PROTOCOL sent as 1, then as 0")
    if h2.advertised:
        return passed("SETTINGS_ENABLE_CONNECT_PROTOCOL = 1")
    if h2.settings:
        return noted(
            "SETTINGS without SETTINGS_ENABLE_CONNECT_PROTOCOL = 1: no WebSocket on HTTP/2"
        )
    return noted(f"no SETTINGS: {_no_settings(answer)}")


def _no_settings(answer: Answer) -> str:
    """Why no SETTINGS came, in a few words."""
    h2 = _h2(answer)
    if answer.error:
        return answer.error
    if h2.alpn is not None and h2.alpn != "h2":
        return f"TLS's ALPN chose {h2.alpn or 'no protocol'}, not h2 (RFC 9113 §3.2)"
    if h2.head.startswith(b"HTTP/"):
        line = h2.head.split(b"\r\n", 1)[0]
        return f"an HTTP/1 answer to the HTTP/2 preface ({as_text(line[:80])})"
    if h2.failed is not None:
        return f"bytes that are not HTTP/2 ({h2.failed})"
    return said(answer)


# -- the table -------------------------------------------------------------------------

_PING = _masked(0x9, b"audit")
_PONG_OR_CLOSE = frozenset({0xA, 0x8})
H2_GATES = ("h2-settings", "h2-valid")
_WITHOUT_SETTING = "h2-without-setting"
_VERSION_REFUSED = "a 400 (never a 426), best with sec-websocket-version so the client can retry"


def _case(
    case_id: str,
    title: str,
    rule: Rule,
    allowed: Sequence[str],
    build: Build,
    judge: Judge,
    *,
    gate: bool = False,
    ping: bool = False,
) -> Case:
    """A case of the group: ``ping`` sends a Ping on each stream after its 200."""
    then, frames = (_PING, _PONG_OR_CLOSE) if ping else (b"", frozenset[int]())
    return Case(
        case_id,
        "http2",
        title,
        rule,
        tuple(allowed),
        build,
        judge,
        then=then,
        frames=frames,
        gate=gate,
        http2=True,
    )


H2_CASES: tuple[Case, ...] = (
    _case(
        "h2-settings",
        "the server's SETTINGS carry SETTINGS_ENABLE_CONNECT_PROTOCOL = 1; run first: without "
        "them only h2-without-setting runs",
        may(
            'RFC 8441 §3: "Upon receipt of SETTINGS_ENABLE_CONNECT_PROTOCOL with a value of 1, '
            "a client MAY use the Extended CONNECT as defined in this document when creating new "
            'streams"; advertising it is the server\'s choice, then "A sender MUST NOT send a '
            "SETTINGS_ENABLE_CONNECT_PROTOCOL parameter with the value of 0 after previously "
            'sending a value of 1"'
        ),
        (
            "SETTINGS with SETTINGS_ENABLE_CONNECT_PROTOCOL = 1",
            "SETTINGS without it: no WebSocket over HTTP/2 (a choice: info)",
        ),
        request(sent=False),
        settings,
        gate=True,
    ),
    _case(
        "h2-valid",
        "the plainest extended CONNECT (with the --origin and --subprotocol given) gets a 200 "
        "a client accepts; run second: without it no other case runs",
        must(
            'RFC 8441 §5: the extended CONNECT "replaces the GET-based request in [RFC6455] and '
            'is used to process the WebSockets opening handshake"; RFC 6455 §4.2.2: "If the '
            "server chooses to accept the incoming connection, it MUST reply with a valid HTTP "
            'response"; the other cases assume this one passes'
        ),
        (OK_200,),
        request(),
        accepts,
        gate=True,
    ),
    _case(
        "h2-200",
        "the valid request gets :status 200, and no 101",
        R_101,
        ("a 200, no 101 before it",),
        request(),
        _the_200(_status_200),
    ),
    _case(
        "h2-no-connection-fields",
        "no Connection, Upgrade, Keep-Alive, Proxy-Connection or Transfer-Encoding in the 200",
        R_FIELDS,
        ("a 200 without any of them",),
        request(),
        _the_200(_no_connection_fields),
    ),
    _case(
        "h2-ping",
        "a masked Ping on the stream right after the 200",
        R_PONG,
        ("a Pong with the Ping's payload on the same stream, whatever else the server sends",),
        request(),
        pongs,
        ping=True,
    ),
    _case(
        "h2-two-websockets",
        "two extended CONNECTs on one connection, then a Ping on each stream after its 200",
        should(
            'RFC 8441 §1: "The other streams on the connection may carry more extended CONNECT '
            'tunnels, traditional HTTP/2 data, or a mixture of both"; a server that serves one '
            "WebSocket a connection fails a browser that shares one connection for all (RFC "
            "9113 §5.1.2 lets it refuse streams past its SETTINGS_MAX_CONCURRENT_STREAMS only): "
            "judged a SHOULD; each WebSocket then owes its Pong (RFC 6455 §5.5.2, a MUST)"
        ),
        ("two 200s, and on each stream the Pong to its own Ping",),
        request(streams=2),
        pongs,
        ping=True,
    ),
    _case(
        _WITHOUT_SETTING,
        "a CONNECT with :protocol to a server that did not advertise "
        "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (sent only then)",
        must(
            'RFC 8441 §3: "If a client were to use the provisions of the extended CONNECT '
            "method defined in this document without first receiving a "
            "SETTINGS_ENABLE_CONNECT_PROTOCOL parameter, a non-supporting peer would detect a "
            'malformed request and generate a stream error"; ' + _MALFORMED
        ),
        (REFUSED,),
        request(unadvertised=True),
        refuses("a CONNECT with :protocol on a connection without the setting"),
    ),
    _case(
        "h2-protocol-missing",
        "a CONNECT with :scheme and :path but no :protocol",
        must(
            'RFC 9113 §8.5: in a CONNECT without :protocol, "The ":scheme" and ":path" '
            'pseudo-header fields MUST be omitted", and "A CONNECT request that does not '
            'conform to these restrictions is malformed"; ' + _MALFORMED
        ),
        (NOT_OURS,),
        request(without(b":protocol")),
        refuses("a CONNECT without :protocol"),
    ),
    _case(
        "h2-protocol-not-token",
        ":protocol: web socket (not a token)",
        must(
            'RFC 8441 §4: :protocol "contains a value from the "Hypertext Transfer Protocol '
            '(HTTP) Upgrade Token Registry"", a token (RFC 9110 §7.8); ' + _PROTOCOL
        ),
        (NOT_OURS,),
        request(replaced(b":protocol", b"web socket")),
        refuses(":protocol: web socket"),
    ),
    _case(
        "h2-protocol-other",
        ":protocol: wsnegotiate-audit (a token, not websocket)",
        must(_PROTOCOL),
        (NOT_OURS,),
        request(replaced(b":protocol", b"wsnegotiate-audit")),
        refuses(":protocol: wsnegotiate-audit"),
    ),
    _case(
        "h2-scheme-other",
        ":scheme: ws (neither http nor https)",
        must(
            'RFC 8441 §5: "The scheme of the target URI (Section 5.1 of [RFC7230]) MUST be '
            '"https" for "wss"-schemed WebSockets and "http" for "ws"-schemed WebSockets"' + _STOP
        ),
        (REFUSED,),
        request(replaced(b":scheme", b"ws")),
        refuses(":scheme: ws"),
    ),
    _case(
        "h2-path-missing",
        "an extended CONNECT without :path",
        must(
            'RFC 8441 §4: "On requests that contain the :protocol pseudo-header field, the '
            ":scheme and :path pseudo-header fields of the target URI (see Section 5) MUST also "
            'be included."; ' + _MALFORMED
        ),
        (REFUSED,),
        request(without(b":path")),
        refuses("an extended CONNECT without :path"),
    ),
    _case(
        "h2-authority-missing",
        "an extended CONNECT without :authority",
        must(
            'RFC 8441 §5: "The Host information is conveyed as part of the :authority '
            'pseudo-header field, which is required on every HTTP/2 transaction"; without it '
            'the handshake lacks what RFC 6455 §4.2.1 item 2 asks for, and the server "MUST '
            "stop processing the client's handshake\""
        ),
        (REFUSED,),
        request(without(b":authority")),
        refuses("an extended CONNECT without :authority"),
    ),
    _case(
        "h2-version-missing",
        "no sec-websocket-version",
        must(
            R6455_421 + '; item 6: "A |Sec-WebSocket-Version| header field, with a value of 13", '
            'which RFC 8441 §5 keeps ("used in the CONNECT request [...] as defined in '
            '[RFC6455]")'
        ),
        (_VERSION_REFUSED,),
        request(without(b"sec-websocket-version")),
        refuses_version_h2(
            "a request without Sec-WebSocket-Version", may_speak=False, list_required=False
        ),
    ),
    _case(
        "h2-version-8",
        "sec-websocket-version: 8 (hybi-08..12)",
        must(R6455_422_VERSION + "; on HTTP/2 that code is a 400: " + R_426.text),
        (LISTED, "a 200 from a server that speaks version 8"),
        request(version=8),
        refuses_version_h2("Sec-WebSocket-Version: 8", may_speak=True, list_required=True),
    ),
    _case(
        "h2-version-013",
        "sec-websocket-version: 013 (a leading zero)",
        must(R6455_GRAMMAR),
        (_VERSION_REFUSED,),
        request(version="013"),
        refuses_version_h2(
            "the malformed Sec-WebSocket-Version: 013", may_speak=False, list_required=False
        ),
    ),
)
H2_GROUPS: tuple[str, ...] = ("http2",)
assert [case.id for case in H2_CASES if case.gate] == list(H2_GATES)


async def gate(result: Result, target: Target, timeout: float) -> Stop | None:
    """Why the run stops after an HTTP/2 gate, if it does. ``h2-settings``: no
    SETTINGS (no HTTP/2 server, exit 1; no connection or no answer, exit 2), or no
    SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (no WebSocket over HTTP/2, exit 1; only
    ``h2-without-setting`` still runs). ``h2-valid``: no 2xx to the plainest
    extended CONNECT (exit 1), or no answer (exit 2)."""
    answer = result.answer
    assert answer is not None
    h2 = _h2(answer)
    url = target.url
    if answer.ended is Ended.UNREACHABLE:
        return Stop(f"{url}: {answer.error}", 2, at_gate=True)
    if result.case.id == H2_GATES[0]:
        if h2.advertised:
            return None
        if h2.settings:
            return Stop(
                f"no WebSocket over HTTP/2 at {url}: the server's SETTINGS do not carry "
                f"SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3); only {_WITHOUT_SETTING} "
                "was judged",
                1,
                then=(_WITHOUT_SETTING,),
                left="no WebSocket over HTTP/2",
            )
        if answer.ended is Ended.TIMEOUT and not h2.head:
            return Stop(f"{url}: no SETTINGS within {timeout:g} s: stopped", 2, at_gate=True)
        if not target.secure and await speaks_tls(target, timeout):
            secure = replace(target, secure=True)
            return Stop(
                f"{url}: the server speaks TLS on this port: audit {secure.url}", 2, at_gate=True
            )
        return Stop(
            f"not an HTTP/2 server at {url}: {_no_settings(answer)}; no other case was judged",
            1,
            left="not an HTTP/2 server",
        )
    stream = h2.streams[0] if h2.streams else None
    status = stream.status if stream is not None else None
    if status is not None and 200 <= status < 300:
        return None
    final = answer.final
    if status is not None and final is not None:
        field, why = blame(final)
        got = f"HTTP/2 {status}; {why}{_HINTS.get(field or '', '')}"
    elif answer.ended is Ended.TIMEOUT:
        return Stop(
            f"{url}: {said_h2(answer)} to the plainest extended CONNECT ({timeout:g} s): stopped",
            2,
            at_gate=True,
        )
    else:
        got = said_h2(answer)
    return Stop(
        f"not a WebSocket server over HTTP/2 at {url}: the plainest extended CONNECT got "
        f"{got}; no other case was judged",
        1,
        left="not a WebSocket server over HTTP/2",
    )
