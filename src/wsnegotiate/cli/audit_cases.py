"""The ``audit`` case table: what each case sends, the rule it tests, and how the
answer is judged. No I/O: a case builds bytes and judges an ``Answer``.

Requests are written by our own ``ClientNegotiator`` wherever a case asks
something legal, and edited as bytes where a case breaks a rule on purpose; the
same negotiator then checks any 101 the way a client of that version must (RFC
6455 §4.1), so its key is the one the request carried.

Verdicts: ``fail`` breaks a MUST (a 426 without ``Upgrade`` too: RFC 9110
§15.5.22); ``warn`` breaks a SHOULD, or is legal but hinders clients (a refusal
that lists no version to retry with); ``info`` is neither right nor wrong (a
version the server speaks, an origin policy); ``pass`` is an answer the rule
allows. Where the RFCs allow several answers, every one of them passes, and the
case quotes the sentence that decides it.
"""

from __future__ import annotations

import base64
import enum
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .._answers import accept_token
from .._client import ClientNegotiator
from .._deflate import PERMESSAGE_DEFLATE, DeflateOptions, _read_params, answer_fault
from .._errors import InvalidResponse
from .._events import NeedData, Refused
from .._headers import Extension, parse_advertised, parse_extensions, parse_version_value
from .._version import Version
from .audit_answer import Answer, Ended, Response, mask, parse_frame

__all__ = ["CASES", "GROUPS", "Case", "Context", "Level", "Sent", "Verdict"]


class Level(enum.Enum):
    """The requirement level of the rule a case tests (RFC 2119)."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


class Verdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    INFO = "info"


_WORST = (Verdict.FAIL, Verdict.WARN, Verdict.INFO, Verdict.PASS)
Judged = tuple[Verdict, str]


@dataclass(frozen=True, slots=True)
class Context:
    """What every case needs to know of the target and of the user's options."""

    host: str  # the Host field value: HOST:PORT
    path: str
    origin: str
    subprotocol: str | None = None
    random: Callable[[int], bytes] = os.urandom


@dataclass(frozen=True, slots=True)
class Sent:
    """A case's request: the bytes, and the negotiator that checks a 101 to it."""

    data: bytes
    client: ClientNegotiator | None = None
    head_request: bool = False
    #: The permessage-deflate offers the request made, as the client wrote them.
    offers: tuple[str, ...] = ()

    @property
    def key(self) -> bytes | None:
        """The (first) ``Sec-WebSocket-Key`` value sent, if any."""
        head = self.data.split(b"\r\n\r\n", 1)[0]
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                return value.strip()
        return None


Build = Callable[[Context], Sent]
Judge = Callable[[Context, Sent, Answer], Judged]


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    group: str
    title: str
    level: Level
    #: The rule, with its RFC and section, quoting the sentence that decides it.
    rule: str
    allowed: tuple[str, ...]
    build: Build
    judge: Judge
    #: Bytes that follow the 101's head and belong to the handshake (hixie-76's 16).
    after_101: int = 0
    #: Wait for a frame after the 101 (a frame was sent behind the request).
    frame: bool = False
    #: Seconds to keep reading after the answer, for anything that follows it.
    settle: float = 0.0
    needs_subprotocol: bool = False


# -- building requests --------------------------------------------------------------------


def valid(
    version: Version | int | str = 13,
    *,
    after: bytes = b"",
    origin: str | bool | None = True,
    subprotocols: Sequence[str] = (),
    extensions: Sequence[str] = (),
    deflate: bool = False,
    draft: int | None = None,
) -> Build:
    """A request our client writes as it stands (``origin=True``: the user's
    origin), with ``after`` sent in the same write behind it."""

    def build(ctx: Context) -> Sent:
        client = ClientNegotiator(
            ctx.host,
            ctx.path,
            version,
            origin=ctx.origin if origin is True else origin or None,
            subprotocols=subprotocols,
            extensions=extensions,
            deflate=deflate,
            draft=draft,
            random=ctx.random,
        )
        offers = (*extensions, *([DeflateOptions.for_client().offer()] if deflate else []))
        return Sent(client.data_to_send() + after, client, offers=offers)

    return build


Values = Sequence[str] | Callable[[Context], Sequence[str]]


def edited(
    fields: Mapping[str, Values] | None = None,
    *,
    lines: Sequence[bytes] = (),
    request_line: bytes | None = None,
    eol: bytes = b"\r\n",
    body: bytes = b"",
    after: Callable[[Context], bytes] | None = None,
) -> Build:
    """A valid request from our client, edited as bytes: ``fields`` replaces
    every line of a field by one line per value (none: the field is dropped),
    ``lines`` are appended as they are, and the request line and line ends can
    be changed; ``body`` follows the head, then ``after``."""

    def build(ctx: Context) -> Sent:
        sent = valid()(ctx)
        head, _, _ = sent.data.partition(b"\r\n\r\n")
        start, *field_lines = head.split(b"\r\n")
        for name, values in (fields or {}).items():
            named = name.lower().encode()
            where = [i for i, line in enumerate(field_lines) if _name(line) == named]
            field_lines = [line for line in field_lines if _name(line) != named]
            chosen = values(ctx) if callable(values) else values
            new = [f"{name}: {value}".encode() for value in chosen]
            at = where[0] if where else len(field_lines)
            field_lines[at:at] = new
        field_lines += lines
        data = eol.join([request_line or start, *field_lines]) + eol + eol + body
        line = request_line or start
        data += after(ctx) if after else b""
        return Sent(data, sent.client, line.startswith(b"HEAD "))

    return build


def _name(line: bytes) -> bytes:
    return line.split(b":", 1)[0].strip().lower()


def _key(size: int) -> Callable[[Context], Sequence[str]]:
    """A ``Sec-WebSocket-Key`` of ``size`` random bytes, base64."""
    return lambda ctx: [base64.b64encode(ctx.random(size)).decode()]


def _masked(opcode: int, payload: bytes, key: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    """A client's frame (RFC 6455 §5.2), masked as §5.3 requires; payload < 126 bytes."""
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + mask(payload, key)


# -- judging answers ------------------------------------------------------------------------


def _worst(judged: Sequence[Judged]) -> Judged:
    verdict = min((v for v, _ in judged), key=_WORST.index)
    return verdict, "; ".join(text for _, text in judged if text)


def said(answer: Answer) -> str:
    """What came back, in a few words."""
    final = answer.final
    if final is not None:
        return final.status_line
    if answer.error:
        return answer.error
    if answer.parse.error:
        return answer.parse.error
    return {
        Ended.CLOSED: "no answer: the server closed the connection",
        Ended.RESET: "no answer: the server reset the connection",
        Ended.TIMEOUT: "no answer before the deadline",
        Ended.LIMIT: "an answer head larger than 64 KiB",
        Ended.OPEN: "no complete answer",
        Ended.UNREACHABLE: "no connection",
    }[answer.ended]


def broken_101(sent: Sent, answer: Answer) -> Judged | None:
    """A ``fail`` for a 101 that a client of the request's version must reject."""
    fault = check_101(sent, answer)
    return (Verdict.FAIL, f"a 101 a client must reject: {fault}") if fault else None


def _sound_101(sent: Sent, answer: Answer) -> Judged:
    """A ``pass`` for a 101 a client of the request's version accepts, else why not."""
    return broken_101(sent, answer) or (Verdict.PASS, "101")


def check_101(sent: Sent, answer: Answer) -> str | None:
    """Why a client of the request's version must reject the 101, or ``None``."""
    response = answer.switched
    assert response is not None
    if sent.client is None:  # pragma: no cover - every case writes its request with a client
        return None
    client = sent.client
    client.receive_data(response.head + answer.parse.rest)
    try:
        event = client.next_event()
        if isinstance(event, NeedData):
            client.receive_data(b"")
            event = client.next_event()
    except InvalidResponse as exc:
        return exc.reason
    assert not isinstance(event, Refused | NeedData)  # a 101 head was fed
    return None


def _refusal_notes(response: Response, sent: Sent) -> list[Judged]:
    """What hinders a client in a refusal, though it refuses rightly."""
    notes: list[Judged] = []
    if response.status == 426 and not response.values("Upgrade"):
        notes.append((Verdict.FAIL, "426 without Upgrade (RFC 9110 §15.5.22: MUST)"))
    if response.status == 405 and not response.values("Allow"):
        notes.append((Verdict.FAIL, "405 without Allow (RFC 9110 §15.5.6: MUST)"))
    asked_11 = sent.data.split(b"\n", 1)[0].rstrip(b"\r").endswith(b" HTTP/1.1")
    if asked_11 and response.http_version != "1.1":
        notes.append((Verdict.WARN, f"answered HTTP/{response.http_version} to HTTP/1.1"))
    return notes


def _no_answer(answer: Answer, verdict: Verdict = Verdict.FAIL) -> Judged:
    return verdict, said(answer)


def accepts(level: Level) -> Judge:
    """A valid request: a 101 a client accepts. A refusal breaks the rule at its level."""

    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return _no_answer(answer)
        if final.status == 101:
            return _sound_101(sent, answer)
        verdict = Verdict.FAIL if level is Level.MUST else Verdict.WARN
        return verdict, f"a valid request refused: {final.status_line}"

    return judge


def refuses(*, exactly: int | None = None, any_answer: bool = False) -> Judge:
    """A request the server must not switch for: any 4xx (or ``exactly`` that
    status; with ``any_answer``, anything but a 101)."""

    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return _no_answer(answer, Verdict.WARN if any_answer else Verdict.FAIL)
        if final.status == 101:
            return Verdict.FAIL, "switched (101) where it must not"
        if exactly is not None and final.status != exactly:
            return Verdict.FAIL, f"{final.status_line}, where the rule asks for {exactly}"
        if not any_answer and not 400 <= final.status < 500:
            return Verdict.WARN, f"{final.status_line}: not a 4xx for a client's fault"
        return _worst([(Verdict.PASS, final.status_line), *_refusal_notes(final, sent)])

    return judge


def refuses_version(sent_value: str | None, *, may_speak: bool, missing_list: Verdict) -> Judge:
    """A version the server may not understand: a refusal with the list of the
    versions it does (RFC 6455 §4.2.2); ``may_speak``: a valid 101 is a server
    that speaks it (info); ``missing_list``: the verdict when the list is missing."""

    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return _no_answer(answer)
        if final.status == 101:
            if not may_speak:
                what = f"version {sent_value!r}" if sent_value else "a request without one version"
                return Verdict.FAIL, f"accepted {what} (101)"
            if (broken := broken_101(sent, answer)) is not None:
                return broken
            return Verdict.INFO, "speaks it (a valid 101)"
        judged: list[Judged] = [(Verdict.PASS, final.status_line)]
        if not 400 <= final.status < 500:
            judged.append((Verdict.WARN, "not a 4xx"))
        values = [v.encode("latin-1") for v in final.values("Sec-WebSocket-Version")]
        advertised, ignored = parse_advertised(values)
        if not values:
            judged.append((missing_list, "refused without Sec-WebSocket-Version"))
        else:
            judged.append((Verdict.PASS, f"lists {', '.join(map(str, advertised)) or 'nothing'}"))
        if ignored:
            garbage = ", ".join(ignored)
            judged.append((Verdict.WARN, f"Sec-WebSocket-Version lists garbage: {garbage}"))
        number = parse_version_value(sent_value.encode()) if sent_value else None
        if number is not None and number in advertised:
            judged.append((Verdict.WARN, f"refused {number}, yet lists it as supported"))
        return _worst([*judged, *_refusal_notes(final, sent)])

    return judge


def old_family(name: str) -> Judge:
    """hixie-75/76, hybi-00: no RFC 6455 handshake; a server refuses it, or
    speaks that family and answers as it requires."""
    inner = refuses_version(None, may_speak=True, missing_list=Verdict.WARN)

    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        verdict, text = inner(ctx, sent, answer)
        return verdict, text.replace("speaks it", f"speaks {name}")

    return judge


def any_allowed(ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """A MAY: a valid 101 or any refusal passes; no answer at all is a warning."""
    final = answer.final
    if final is None:
        return _no_answer(answer, Verdict.WARN)
    if final.status == 101:
        return _sound_101(sent, answer)
    return _worst([(Verdict.PASS, final.status_line), *_refusal_notes(final, sent)])


def told(ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """No rule decides: say what the server did (a broken 101 still fails)."""
    verdict, text = any_allowed(ctx, sent, answer)
    return (verdict, text) if verdict is Verdict.FAIL else (Verdict.INFO, text)


def the_101(check: Callable[[Context, Sent, Response], str | None]) -> Judge:
    """One property of the 101 to a valid request; ``info`` when there is no 101
    (the case ``101-valid`` fails that)."""

    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        response = answer.switched
        if response is None:
            return Verdict.INFO, f"not applicable: {said(answer)}"
        fault = check(ctx, sent, response)
        return (Verdict.FAIL, fault) if fault else (Verdict.PASS, "101")

    return judge


def _accept_value(ctx: Context, sent: Sent, response: Response) -> str | None:
    values = response.values("Sec-WebSocket-Accept")
    if len(values) != 1:
        return f"{len(values)} Sec-WebSocket-Accept field lines, not 1"
    key = sent.key
    assert key is not None
    if values[0] != accept_token(key):
        return f"Sec-WebSocket-Accept {values[0]!r} is not {accept_token(key)!r}"
    return None


def _token(name: str, token: str) -> Callable[[Context, Sent, Response], str | None]:
    def check(ctx: Context, sent: Sent, response: Response) -> str | None:
        if token not in response.tokens(name):
            return f"{name}: {', '.join(response.values(name)) or '(missing)'} has no {token!r}"
        return None

    return check


def _absent(*names: str) -> Callable[[Context, Sent, Response], str | None]:
    def check(ctx: Context, sent: Sent, response: Response) -> str | None:
        there = [f"{name}: {value}" for name in names for value in response.values(name)]
        return f"the 101 carries {'; '.join(there)}" if there else None

    return check


def _http11(ctx: Context, sent: Sent, response: Response) -> str | None:
    return None if response.http_version == "1.1" else f"status line {response.status_line!r}"


def _syntax(ctx: Context, sent: Sent, response: Response) -> str | None:
    return "; ".join(response.faults) or None


def subprotocol(chosen: Callable[[Context], str | None], offered: str) -> Judge:
    """A 101 that selects ``chosen(ctx)`` (``None``: selects nothing)."""

    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return _no_answer(answer)
        want = chosen(ctx)
        if final.status != 101:
            verdict = Verdict.WARN if want else Verdict.INFO
            return verdict, f"refused: {final.status_line}"
        if (broken := broken_101(sent, answer)) is not None:
            return broken
        got = response_protocol(final)
        if got == want:
            return Verdict.PASS, f"selected {got!r}" if got else "selected none"
        if want is None:
            return Verdict.FAIL, f"selected {got!r}, a name it cannot know ({offered})"
        return Verdict.WARN, f"selected {got!r}, not {want!r}, which it was said to support"

    return judge


def response_protocol(response: Response) -> str | None:
    values = response.values("Sec-WebSocket-Protocol")
    return values[0] if values else None


def extension_answer(must_decline: bool) -> Judge:
    """A 101 whose ``Sec-WebSocket-Extensions`` names only what was offered, and
    accepts a permessage-deflate offer only as RFC 7692 §7 allows."""

    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return _no_answer(answer)
        if final.status != 101:
            refused = final.status_line
            return Verdict.WARN, f"refused the handshake instead of declining the offer: {refused}"
        fault = _deflate_fault(sent, final, must_decline)
        if fault is None:
            fault = check_101(sent, answer)
        if fault:
            return Verdict.FAIL, fault
        answered = ", ".join(final.values("Sec-WebSocket-Extensions"))
        return Verdict.PASS, f"101; extensions: {answered or 'none (declined)'}"

    return judge


def _deflate_fault(sent: Sent, response: Response, must_decline: bool) -> str | None:
    value = ", ".join(response.values("Sec-WebSocket-Extensions")).encode("latin-1")
    if not value:
        return None
    parsed = parse_extensions(value)
    if isinstance(parsed, int):
        return f"Sec-WebSocket-Extensions breaks RFC 6455 §9.1 at byte {parsed}"
    offers: list[Extension] = []
    for offer in sent.offers:
        offered = parse_extensions(offer.encode())
        assert not isinstance(offered, int)  # our own offers parse
        offers += offered[1]
    for answered in parsed[1]:
        if answered.name.lower() != PERMESSAGE_DEFLATE:
            if answered.name.lower() not in {o.name.lower() for o in offers}:
                return f"accepted {answered.name!r}, which was not offered (RFC 6455 §4.1)"
            return f"accepted {answered.name!r}, an extension no server can know"
        acceptable = [o for o in offers if not isinstance(_read_params(o), str)]
        if must_decline and not acceptable:
            return f"accepted {answered}, an offer it must decline"
        faults = [answer_fault(answered, offer) for offer in acceptable]
        if all(faults):
            return f"{answered} accepts no offer: {faults[0]} (RFC 7692 §7)"
    return None


def pipelined_frame(reply: int, payload: Callable[[bytes], bool], what: str) -> Judge:
    """A frame sent behind the request must be read as a frame: the answer to it
    (``reply`` opcode) comes after the 101, and never an HTTP response."""

    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        early = parse_frame(answer.raw) if answer.parse.error else None
        if early is not None:  # RFC 9110 §7.8: the 101 comes first, the new protocol after it
            return Verdict.FAIL, f"a frame (opcode {early.opcode:#x}) came before any HTTP answer"
        if final is None:
            return _no_answer(answer, Verdict.WARN)
        if final.status != 101:
            return Verdict.INFO, f"not applicable: {final.status_line}"
        if answer.parse.rest.startswith(b"HTTP/"):
            return Verdict.FAIL, "the frame was read as HTTP: an HTTP answer followed the 101"
        frames = answer.frames
        if not frames:
            return Verdict.WARN, f"no {what} after the 101 ({said_end(answer)})"
        first = frames[0]
        if first.opcode == reply and payload(first.payload):
            return Verdict.PASS, f"101, then the {what}"
        got = f"opcode {first.opcode:#x} {first.payload[:40]!r}"
        return Verdict.WARN, f"101, then {got}, not the {what}"

    return judge


def said_end(answer: Answer) -> str:
    return {
        Ended.CLOSED: "the server closed the connection",
        Ended.RESET: "the server reset the connection",
        Ended.TIMEOUT: "the deadline passed",
    }.get(answer.ended, answer.ended.value)


def one_answer(*, close: bool, verdict: Verdict) -> Judge:
    """A refused request with a valid one pipelined behind it: exactly one
    answer (``verdict`` otherwise); with ``close`` the server must also close."""

    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return _no_answer(answer)
        if final.status == 101:
            return Verdict.FAIL, "switched (101) for the first request"
        answers = [r for r in answer.parse.responses if r.status >= 200 or r.status == 101]
        if len(answers) > 1 or answer.parse.rest.startswith(b"HTTP/"):
            second = answers[1].status_line if len(answers) > 1 else "a second answer"
            return verdict, f"{final.status_line}, then {second} to the request pipelined behind it"
        if close and answer.ended is not Ended.CLOSED:
            stayed = answer.ended.value
            return Verdict.FAIL, f"{final.status_line}, and the connection stayed {stayed}"
        notes = _refusal_notes(final, sent)
        return _worst([(Verdict.PASS, f"{final.status_line}, one answer"), *notes])

    return judge


def no_http_after_101(ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """After the 101 the connection speaks WebSocket: HTTP bytes behind the
    request are a (bad) frame, never a second request."""
    final = answer.final
    if final is None:
        return _no_answer(answer, Verdict.WARN)
    if final.status != 101:
        return Verdict.INFO, f"not applicable: {final.status_line}"
    if answer.parse.rest.startswith(b"HTTP/"):
        return Verdict.FAIL, "answered the bytes behind the request as a second HTTP request"
    frames = answer.frames
    close = next((f for f in frames if f.opcode == 0x8), None)
    if close is not None:
        code = int.from_bytes(close.payload[:2], "big") if len(close.payload) >= 2 else None
        return Verdict.PASS, f"101, then Close {code}"
    return Verdict.PASS, f"101, no HTTP answer ({said_end(answer)})"


def origin_judge(foreign: bool) -> Judge:
    def judge(ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return _no_answer(answer)
        if final.status == 101:
            if (broken := broken_101(sent, answer)) is not None:
                return broken
            if foreign:
                return Verdict.INFO, (
                    "accepted a foreign origin: if the server trusts cookies, any page can "
                    "open an authenticated socket (RFC 6455 §10.2)"
                )
            return Verdict.PASS, "101"
        if foreign:
            notes = _refusal_notes(final, sent)
            return _worst([(Verdict.PASS, f"refused: {final.status_line}"), *notes])
        return Verdict.INFO, f"refused: {final.status_line}"

    return judge


# -- the table ------------------------------------------------------------------------------

R6455_421 = (
    "RFC 6455 §4.2.1: if the client did not send a handshake that matches the description, "
    "\"the server MUST stop processing the client's handshake and return an HTTP response "
    'with an appropriate error code (such as 400 Bad Request)."'
)
R6455_422_VERSION = (
    'RFC 6455 §4.2.2: "If this version does not match a version understood by the server, the '
    "server MUST abort the WebSocket handshake described in this section and instead send an "
    "appropriate HTTP error code (such as 426 Upgrade Required) and a |Sec-WebSocket-Version| "
    'header field indicating the version(s) the server is capable of understanding."'
)
R6455_GRAMMAR = (
    'RFC 6455 §4.3: version = DIGIT | (NZDIGIT DIGIT) | ("1" DIGIT DIGIT) | ("2" DIGIT DIGIT), '
    '"Limited to 0-255 range, with no leading zeros"; a request that breaks the grammar gets an '
    "error (§4.2.1) and, as a version not understood, the list (§4.2.2)"
)
R6455_KEY = (
    'RFC 6455 §4.2.1 item 5: "A |Sec-WebSocket-Key| header field with a base64-encoded (see '
    'Section 4 of [RFC4648]) value that, when decoded, is 16 bytes in length."; otherwise '
    "\"the server MUST stop processing the client's handshake and return an HTTP response with "
    'an appropriate error code"'
)
R9112_HOST = (
    'RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 '
    "request message that lacks a Host header field and to any request message that contains "
    'more than one Host header field line or a Host header field with an invalid field value."'
)
R6455_101 = 'RFC 6455 §4.1: the client "MUST _Fail the WebSocket Connection_" when'
R7692_DECLINE = (
    'RFC 7692 §7: "A server MUST decline an extension negotiation offer for this extension if '
    'any of the following conditions are met": a parameter not defined for an offer, one with '
    "an invalid value, or two with the same name"
)
R6455_PIPELINE = (
    "RFC 6455 §4.1: the client MUST wait for the 101 before sending further data, so a server "
    "need not serve a frame sent early; but the bytes after the request belong to the new "
    "protocol (RFC 9110 §7.8), never to HTTP, and once read as a frame, RFC 6455 §5.5 answers it"
)

REFUSAL = "a 4xx (400, or 426 with Upgrade: websocket), never a 101"
LISTED = "a 4xx (426 or 400) with Sec-WebSocket-Version listing the versions the server speaks"
OK_101 = "a 101 a client accepts (RFC 6455 §4.1)"
SPEAKS = "a 101 valid for that version, from a server that speaks it"

_VERSION_TITLES = {4: "hybi-04", 5: "hybi-05", 6: "hybi-06", 7: "hybi-07", 8: "hybi-08..12"}


def _versions() -> list[Case]:
    cases = [
        Case(
            "version-hixie-75",
            "versions",
            "hixie-75: Upgrade and Connection, no key, no version",
            Level.MUST,
            R6455_421 + "; items 5 and 6 ask for a Sec-WebSocket-Key and a Sec-WebSocket-Version",
            (REFUSAL, SPEAKS),
            valid(Version.VersionUnknown),
            old_family("hixie-75"),
        ),
        Case(
            "version-hixie-76",
            "versions",
            "hixie-76: Sec-WebSocket-Key1/Key2 and 8 bytes after the head",
            Level.MUST,
            R6455_421 + "; items 5 and 6 ask for a Sec-WebSocket-Key and a Sec-WebSocket-Version",
            (REFUSAL, SPEAKS),
            valid(Version.Version0),
            old_family("hixie-76"),
            after_101=16,
        ),
        Case(
            "version-hybi-00",
            "versions",
            "hybi-00: hixie-76 keys with Sec-WebSocket-Draft: 0",
            Level.MUST,
            R6455_421 + "; items 5 and 6 ask for a Sec-WebSocket-Key and a Sec-WebSocket-Version",
            (REFUSAL, SPEAKS),
            valid(Version.Version0, draft=0),
            old_family("hybi-00"),
            after_101=16,
        ),
        Case(
            "version-0",
            "versions",
            "Sec-WebSocket-Version: 0 with a Sec-WebSocket-Key (no draft ever sent both)",
            Level.MUST,
            R6455_422_VERSION,
            (LISTED,),
            valid("0"),
            refuses_version("0", may_speak=False, missing_list=Verdict.FAIL),
        ),
    ]
    for number, title in _VERSION_TITLES.items():
        cases.append(
            Case(
                f"version-{number}",
                "versions",
                f"Sec-WebSocket-Version: {number} ({title})",
                Level.MUST,
                R6455_422_VERSION,
                (LISTED, SPEAKS),
                valid(Version(number)),
                refuses_version(str(number), may_speak=True, missing_list=Verdict.FAIL),
            )
        )
    for raw, title in (("9", "reserved"), ("14", "unassigned"), ("255", "unassigned, the largest")):
        cases.append(
            Case(
                f"version-{raw}",
                "versions",
                f"Sec-WebSocket-Version: {raw} ({title})",
                Level.MUST,
                R6455_422_VERSION,
                (LISTED,),
                valid(raw),
                refuses_version(raw, may_speak=False, missing_list=Verdict.FAIL),
            )
        )
    malformed = (
        ("013", "013", "a leading zero"),
        ("plus-13", "+13", "a sign"),
        ("13.0", "13.0", "a decimal point"),
        ("list", "13, 8", "a list"),
        ("1_3", "1_3", "an underscore, as Python's int() takes it"),
        ("256", "256", "out of range"),
        ("non-ascii", "\u0661\u0663", "Arabic-Indic digits, as Python's int() takes them"),
    )
    for suffix, raw, title in malformed:
        cases.append(
            Case(
                f"version-{suffix}",
                "versions",
                f"Sec-WebSocket-Version: {raw} ({title})",
                Level.MUST,
                R6455_GRAMMAR,
                (LISTED,),
                valid(raw),
                refuses_version(raw, may_speak=False, missing_list=Verdict.FAIL),
            )
        )
    cases += [
        Case(
            "version-repeated",
            "versions",
            "Sec-WebSocket-Version: 13 on two field lines",
            Level.MUST,
            R6455_GRAMMAR + '; two field lines combine into "13, 13" (RFC 9110 §5.3)',
            (LISTED,),
            edited({"Sec-WebSocket-Version": ["13", "13"]}),
            refuses_version(None, may_speak=False, missing_list=Verdict.WARN),
        ),
        Case(
            "version-missing",
            "versions",
            "a Sec-WebSocket-Key but no Sec-WebSocket-Version",
            Level.MUST,
            R6455_421 + '; item 6: "A |Sec-WebSocket-Version| header field, with a value of 13."',
            (REFUSAL + ", best with Sec-WebSocket-Version so the client can retry (§4.4)",),
            edited({"Sec-WebSocket-Version": []}),
            refuses_version(None, may_speak=False, missing_list=Verdict.WARN),
        ),
        Case(
            "version-ows",
            "versions",
            "Sec-WebSocket-Version:   13   (whitespace around the value)",
            Level.MUST,
            'RFC 9110 §5.5: "A field value does not include leading or trailing whitespace. [...] '
            "a field parsing implementation MUST exclude such whitespace prior to evaluating the "
            'field value."',
            (OK_101,),
            edited({"Sec-WebSocket-Version": ["  13\t "]}),
            accepts(Level.MUST),
        ),
    ]
    return cases


def _keys() -> list[Case]:
    def key_case(suffix: str, title: str, values: Values, rule: str = R6455_KEY) -> Case:
        return Case(
            f"key-{suffix}",
            "keys",
            title,
            Level.MUST,
            rule,
            ("a 4xx (400), never a 101",),
            edited({"Sec-WebSocket-Key": values}),
            refuses(),
        )

    return [
        key_case("missing", "no Sec-WebSocket-Key", []),
        key_case("15-bytes", "a key of 15 bytes (base64, 20 characters)", _key(15)),
        key_case("17-bytes", "a key of 17 bytes (base64, 24 characters)", _key(17)),
        key_case("not-base64", "24 characters that are not base64", ["!!!!!!!!!!!!!!!!!!!!!!=="]),
        key_case(
            "unpadded",
            "16 bytes in base64 without the == padding",
            lambda ctx: [base64.b64encode(ctx.random(16)).decode().rstrip("=")],
        ),
        key_case("empty", "an empty Sec-WebSocket-Key", [""]),
        key_case(
            "repeated",
            "two Sec-WebSocket-Key field lines, each a valid key",
            lambda ctx: [*_key(16)(ctx), *_key(16)(ctx)],
            'RFC 6455 §11.3.1: "The |Sec-WebSocket-Key| header field MUST NOT appear more than '
            'once in an HTTP request."; ' + R6455_421,
        ),
    ]


def _a_valid_request(ctx: Context) -> bytes:
    return valid()(ctx).data


def _http() -> list[Case]:
    return [
        Case(
            "http-post",
            "http",
            "POST instead of GET",
            Level.MUST,
            'RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request"; a 405 carries Allow '
            '(RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 '
            'response")',
            ("a 4xx (405 with Allow, or 400), never a 101",),
            edited({"Content-Length": ["0"]}, request_line=b"POST / HTTP/1.1"),
            refuses(),
        ),
        Case(
            "http-head",
            "http",
            "HEAD instead of GET",
            Level.MUST,
            'RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request"; ' + R6455_421,
            ("a 4xx (405 with Allow, or 400), never a 101",),
            edited(request_line=b"HEAD / HTTP/1.1"),
            refuses(),
        ),
        Case(
            "http-get-lowercase",
            "http",
            "get (lower case) instead of GET",
            Level.MUST,
            'RFC 9110 §9.1: "The method token is case-sensitive"; RFC 6455 §4.2.1 item 1 asks '
            "for GET",
            ("a 4xx (405 or 400, or 501 for an unknown method), never a 101",),
            edited(request_line=b"get / HTTP/1.1"),
            refuses(any_answer=True),
        ),
        Case(
            "http-1.0",
            "http",
            "an upgrade request in HTTP/1.0",
            Level.MUST,
            'RFC 9110 §7.8: "A server that receives an Upgrade header field in an HTTP/1.0 request '
            'MUST ignore that Upgrade field."',
            ("any answer but a 101 (a refusal, or the resource over HTTP/1.0)",),
            edited(request_line=b"GET / HTTP/1.0"),
            refuses(any_answer=True),
        ),
        Case(
            "http-no-host",
            "http",
            "no Host field",
            Level.MUST,
            R9112_HOST,
            ("400",),
            edited({"Host": []}),
            refuses(exactly=400),
        ),
        Case(
            "http-two-hosts",
            "http",
            "Host on two field lines",
            Level.MUST,
            R9112_HOST,
            ("400",),
            edited({"Host": lambda ctx: [ctx.host, ctx.host]}),
            refuses(exactly=400),
        ),
        Case(
            "http-space-before-colon",
            "http",
            "whitespace between a field name and its colon (X-Audit : 1)",
            Level.MUST,
            'RFC 9112 §5.1: "A server MUST reject, with a response status code of 400 (Bad '
            "Request), any received request message that contains whitespace between a header "
            'field name and colon."',
            ("400",),
            edited(lines=[b"X-Audit : 1"]),
            refuses(exactly=400),
        ),
        Case(
            "http-obs-fold",
            "http",
            "Connection folded over two lines (keep-alive,CRLF SP Upgrade)",
            Level.MUST,
            'RFC 9112 §5.2: a server that receives an obs-fold "MUST either reject the message by '
            "sending a 400 (Bad Request) [...] or replace each received obs-fold with one or more "
            'SP octets prior to interpreting the field value"',
            ("400", "a 101 (the fold read as a space: Connection holds Upgrade)"),
            edited({"Connection": ["keep-alive,\r\n Upgrade"]}),
            _obs_fold,
        ),
        Case(
            "http-bare-lf",
            "http",
            "every line ends with LF alone",
            Level.MAY,
            'RFC 9112 §2.2: "a recipient MAY recognize a single LF as a line terminator and '
            'ignore any preceding CR."',
            (OK_101, "a 400"),
            edited(eol=b"\n"),
            any_allowed,
        ),
        Case(
            "http-absolute-form",
            "http",
            "the target in absolute form (GET http://HOST:PORT/PATH)",
            Level.MUST,
            'RFC 9112 §3.2.2: "a server MUST accept the absolute-form in requests even though '
            'HTTP/1.1 clients will only send them in requests to proxies."',
            (OK_101,),
            _absolute_form,
            accepts(Level.MUST),
        ),
        Case(
            "http-body",
            "http",
            "a GET with Content-Length: 5 and a body",
            Level.MAY,
            'RFC 9110 §9.3.1: content in a GET "has no generally defined semantics [...] and might '
            "lead some implementations to reject the request and close the connection because of "
            'its potential as a request smuggling attack"',
            ("a 400", "a 101 after reading the body as the request's content"),
            edited({"Content-Length": ["5"]}, body=b"hello"),
            told,
        ),
        Case(
            "http-bad-content-length",
            "http",
            "Content-Length: abc",
            Level.MUST,
            'RFC 9112 §6.3: for an invalid Content-Length in a request "the server MUST respond '
            'with a 400 (Bad Request) status code and then close the connection."',
            ("400, then the connection closed",),
            edited({"Content-Length": ["abc"]}),
            one_answer(close=True, verdict=Verdict.FAIL),
            settle=0.5,
        ),
    ]


def _absolute_form(ctx: Context) -> Sent:
    line = f"GET http://{ctx.host}{ctx.path} HTTP/1.1".encode()
    return edited(request_line=line)(ctx)


def _obs_fold(ctx: Context, sent: Sent, answer: Answer) -> Judged:
    final = answer.final
    if final is not None and final.status not in (101, 400):
        return Verdict.FAIL, f"{final.status_line}: neither a 400 nor the fold read as a space"
    return any_allowed(ctx, sent, answer) if final else _no_answer(answer)


def _upgrade() -> list[Case]:
    upgrade_list = (
        'RFC 9110 §7.8: Upgrade is a list, "Upgrade = #protocol"; RFC 6455 §4.2.1 item 3: "An '
        '|Upgrade| header field containing the value "websocket", treated as an ASCII '
        'case-insensitive value."'
    )
    connection_token = (
        'RFC 6455 §4.2.1 item 4: "A |Connection| header field that includes the token '
        '"Upgrade", treated as an ASCII case-insensitive value."'
    )
    return [
        Case(
            "upgrade-missing",
            "upgrade",
            "no Upgrade field",
            Level.MUST,
            R6455_421 + '; item 3: "An |Upgrade| header field containing the value "websocket""',
            (REFUSAL,),
            edited({"Upgrade": []}),
            refuses(),
        ),
        Case(
            "upgrade-other-protocol",
            "upgrade",
            "Upgrade: h2c instead of websocket",
            Level.MUST,
            'RFC 9110 §7.8: "A server MUST NOT switch to a protocol that was not indicated by the '
            "client in the corresponding request's Upgrade header field.\"",
            ("any answer but a 101 to websocket",),
            edited({"Upgrade": ["h2c"]}),
            refuses(any_answer=True),
        ),
        Case(
            "upgrade-case",
            "upgrade",
            "Upgrade: WebSocket",
            Level.MUST,
            upgrade_list,
            (OK_101,),
            edited({"Upgrade": ["WebSocket"]}),
            accepts(Level.MUST),
        ),
        Case(
            "upgrade-list",
            "upgrade",
            "Upgrade: foo, websocket",
            Level.SHOULD,
            upgrade_list,
            (OK_101 + ", switching to websocket",),
            edited({"Upgrade": ["foo, websocket"]}),
            accepts(Level.SHOULD),
        ),
        Case(
            "upgrade-two-lines",
            "upgrade",
            "Upgrade: foo and Upgrade: websocket on two field lines",
            Level.SHOULD,
            upgrade_list + '; RFC 9110 §5.3: field lines of a list "combine"',
            (OK_101,),
            edited({"Upgrade": ["foo", "websocket"]}),
            accepts(Level.SHOULD),
        ),
        Case(
            "connection-missing",
            "upgrade",
            "no Connection field",
            Level.MUST,
            R6455_421 + "; " + connection_token,
            (REFUSAL,),
            edited({"Connection": []}),
            refuses(),
        ),
        Case(
            "connection-no-upgrade",
            "upgrade",
            "Connection: keep-alive (no upgrade token)",
            Level.MUST,
            R6455_421 + "; " + connection_token,
            (REFUSAL,),
            edited({"Connection": ["keep-alive"]}),
            refuses(),
        ),
        Case(
            "connection-list",
            "upgrade",
            "Connection: keep-alive, Upgrade (as Firefox sends it)",
            Level.MUST,
            connection_token,
            (OK_101,),
            edited({"Connection": ["keep-alive, Upgrade"]}),
            accepts(Level.MUST),
        ),
        Case(
            "connection-lowercase",
            "upgrade",
            "Connection: upgrade",
            Level.MUST,
            connection_token,
            (OK_101,),
            edited({"Connection": ["upgrade"]}),
            accepts(Level.MUST),
        ),
        Case(
            "connection-empty-elements",
            "upgrade",
            "Connection: , Upgrade ,, (empty list elements)",
            Level.MUST,
            'RFC 9110 §5.6.1: "A recipient MUST parse and ignore a reasonable number of empty list '
            'elements"',
            (OK_101,),
            edited({"Connection": [", Upgrade ,,"]}),
            accepts(Level.MUST),
        ),
    ]


UNKNOWN_PROTOCOL = "wsnegotiate-audit-unknown"
R6455_PROTOCOL = (
    "RFC 6455 §4.2.2: \"The value chosen MUST be derived from the client's handshake, "
    "specifically by selecting one of the values from the |Sec-WebSocket-Protocol| field that "
    'the server is willing to use for this connection (if any)."'
)


def _subprotocols() -> list[Case]:
    def offered(ctx: Context) -> Sent:
        assert ctx.subprotocol is not None
        return valid(subprotocols=[ctx.subprotocol])(ctx)

    def second(ctx: Context) -> Sent:
        assert ctx.subprotocol is not None
        return valid(subprotocols=[UNKNOWN_PROTOCOL, ctx.subprotocol])(ctx)

    return [
        Case(
            "subprotocol-supported",
            "subprotocols",
            "offers the subprotocol given with --subprotocol",
            Level.SHOULD,
            R6455_PROTOCOL,
            ("a 101 selecting it",),
            offered,
            subprotocol(lambda ctx: ctx.subprotocol, "--subprotocol"),
            needs_subprotocol=True,
        ),
        Case(
            "subprotocol-second",
            "subprotocols",
            f"offers {UNKNOWN_PROTOCOL}, then the one given with --subprotocol",
            Level.SHOULD,
            R6455_PROTOCOL,
            ("a 101 selecting the second",),
            second,
            subprotocol(lambda ctx: ctx.subprotocol, UNKNOWN_PROTOCOL),
            needs_subprotocol=True,
        ),
        Case(
            "subprotocol-unknown",
            "subprotocols",
            f"offers only {UNKNOWN_PROTOCOL}",
            Level.MUST,
            R6455_PROTOCOL,
            ("a 101 without Sec-WebSocket-Protocol", "a refusal (a server that needs one)"),
            valid(subprotocols=[UNKNOWN_PROTOCOL]),
            subprotocol(lambda ctx: None, f"{UNKNOWN_PROTOCOL} was made up"),
        ),
    ]


def _extensions() -> list[Case]:
    def offer(*offers: str) -> Build:
        return valid(extensions=list(offers))

    declined = ("a 101 without permessage-deflate (the offer declined)",)
    return [
        Case(
            "deflate-offer",
            "extensions",
            "permessage-deflate; client_max_window_bits (as browsers offer)",
            Level.MUST,
            "RFC 7692 §7: the server accepts the offer by answering with parameters it allows, "
            "or declines it; " + R6455_101 + " the answer names an extension not offered",
            ("a 101 with a valid permessage-deflate answer", "a 101 without it"),
            valid(deflate=True),
            extension_answer(must_decline=False),
        ),
        Case(
            "deflate-unknown-param",
            "extensions",
            "permessage-deflate; x-audit=1",
            Level.MUST,
            R7692_DECLINE,
            declined,
            offer("permessage-deflate; x-audit=1"),
            extension_answer(must_decline=True),
        ),
        Case(
            "deflate-repeated-param",
            "extensions",
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
            Level.MUST,
            R7692_DECLINE,
            declined,
            offer("permessage-deflate; client_max_window_bits; client_max_window_bits"),
            extension_answer(must_decline=True),
        ),
        Case(
            "deflate-bad-value",
            "extensions",
            "permessage-deflate; server_max_window_bits=16",
            Level.MUST,
            R7692_DECLINE,
            declined,
            offer("permessage-deflate; server_max_window_bits=16"),
            extension_answer(must_decline=True),
        ),
        Case(
            "deflate-window-8",
            "extensions",
            "permessage-deflate; server_max_window_bits=8",
            Level.MAY,
            "RFC 7692 §7.1.2.1: server_max_window_bits takes 8 to 15; a server that accepts the "
            "offer answers with a value no larger than the one offered, or it declines",
            ("a 101 with server_max_window_bits=8", "a 101 without permessage-deflate"),
            offer("permessage-deflate; server_max_window_bits=8"),
            extension_answer(must_decline=False),
        ),
        Case(
            "deflate-second-offer",
            "extensions",
            "permessage-deflate; x-audit=1, permessage-deflate",
            Level.MUST,
            R7692_DECLINE + "; the next offer may be accepted",
            ("a 101 accepting the second offer", "a 101 without permessage-deflate"),
            offer("permessage-deflate; x-audit=1", "permessage-deflate"),
            extension_answer(must_decline=False),
        ),
        Case(
            "extension-unknown",
            "extensions",
            "Sec-WebSocket-Extensions: x-wsnegotiate-audit",
            Level.MUST,
            'RFC 6455 §9.1: the server answers with "the extensions it supports" among those '
            "offered; no server supports a name made up for the audit",
            ("a 101 without Sec-WebSocket-Extensions",),
            offer("x-wsnegotiate-audit"),
            extension_answer(must_decline=True),
        ),
    ]


FOREIGN_ORIGIN = "http://wsnegotiate-audit.invalid"
R6455_ORIGIN = (
    'RFC 6455 §4.2.2 item 4: "If the server does not wish to accept this connection, it MUST '
    "return an appropriate HTTP error code (e.g., 403 Forbidden) and abort the WebSocket "
    'handshake"; §10.2: servers meant for certain sites only "SHOULD verify the |Origin| field"'
)


def _origin() -> list[Case]:
    return [
        Case(
            "origin-own",
            "origin",
            "Origin: the --origin value (default http://HOST:PORT)",
            Level.MAY,
            R6455_ORIGIN,
            (OK_101, "403 (the server refuses that origin)"),
            valid(),
            origin_judge(foreign=False),
        ),
        Case(
            "origin-foreign",
            "origin",
            f"Origin: {FOREIGN_ORIGIN}",
            Level.MAY,
            R6455_ORIGIN,
            ("403 (an origin policy)", "a 101 (any origin accepted)"),
            valid(origin=FOREIGN_ORIGIN),
            origin_judge(foreign=True),
        ),
        Case(
            "origin-null",
            "origin",
            "Origin: null (a sandboxed page, a file: URL)",
            Level.MAY,
            R6455_ORIGIN,
            ("403 (an origin policy)", "a 101 (any origin accepted)"),
            valid(origin="null"),
            origin_judge(foreign=True),
        ),
        Case(
            "origin-missing",
            "origin",
            "no Origin (a client that is not a browser)",
            Level.MAY,
            'RFC 6455 §4.1: "The request MUST include a header field with the name |Origin| '
            '[RFC6454] if the request is coming from a browser client."',
            (OK_101, "a refusal (a server that serves browsers only)"),
            valid(origin=None),
            origin_judge(foreign=False),
        ),
    ]


def _pipelining() -> list[Case]:
    return [
        Case(
            "pipeline-ping",
            "pipelining",
            "a masked Ping sent in the same write as the request",
            Level.SHOULD,
            R6455_PIPELINE + '; §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a '
            'Pong frame in response"',
            ("a 101, then a Pong with the same payload",),
            valid(after=_masked(0x9, b"audit")),
            pipelined_frame(0xA, lambda payload: payload == b"audit", "Pong"),
            frame=True,
        ),
        Case(
            "pipeline-close",
            "pipelining",
            "a masked Close 1000 sent in the same write as the request",
            Level.SHOULD,
            R6455_PIPELINE + '; §5.5.1: "If an endpoint receives a Close frame and did not '
            'previously send a Close frame, the endpoint MUST send a Close frame in response."',
            ("a 101, then a Close",),
            valid(after=_masked(0x8, (1000).to_bytes(2, "big"))),
            pipelined_frame(0x8, lambda payload: True, "Close"),
            frame=True,
        ),
        Case(
            "pipeline-http-after-101",
            "pipelining",
            "a second HTTP request sent in the same write as an accepted one",
            Level.MUST,
            "RFC 9110 §7.8: after a 101 the connection speaks the protocol switched to; the "
            "bytes that follow the request are WebSocket frames (here invalid ones, RFC 6455 "
            "§5.2), never a second HTTP request",
            ("a 101, and no HTTP answer after it",),
            edited(after=_a_valid_request),
            no_http_after_101,
            settle=0.5,
        ),
        Case(
            "pipeline-after-refused",
            "pipelining",
            "a valid request pipelined behind a refused one (version 14)",
            Level.MAY,
            'RFC 9110 §7.8: "A server MAY ignore a received Upgrade header field if it wishes to '
            'continue using the current protocol on that connection."; answering the next request '
            "is legal HTTP/1.1, but reads bytes a client sent in a WebSocket attempt as HTTP",
            ("one answer (the refusal), then the connection closed or silent",),
            _refused_then_valid,
            one_answer(close=False, verdict=Verdict.WARN),
            settle=0.5,
        ),
        Case(
            "pipeline-after-bad-length",
            "pipelining",
            "a valid request pipelined behind one with Content-Length: abc",
            Level.MUST,
            'RFC 9112 §6.3: for an invalid Content-Length in a request "the server MUST respond '
            'with a 400 (Bad Request) status code and then close the connection."',
            ("one 400, then the connection closed",),
            edited({"Content-Length": ["abc"]}, after=_a_valid_request),
            one_answer(close=True, verdict=Verdict.FAIL),
            settle=0.5,
        ),
    ]


def _refused_then_valid(ctx: Context) -> Sent:
    first = valid("14")(ctx)
    return Sent(first.data + valid()(ctx).data, first.client)


def _the_101() -> list[Case]:
    def case(suffix: str, title: str, rule: str, check: Judge, allowed: str = OK_101) -> Case:
        request = valid(origin=None)
        return Case(f"101-{suffix}", "101", title, Level.MUST, rule, (allowed,), request, check)

    return [
        case(
            "valid",
            "a valid RFC 6455 request gets a 101 a client accepts",
            'RFC 6455 §4.2.2: "If the server chooses to accept the incoming connection, it MUST '
            'reply with a valid HTTP response"; the other cases assume this one passes',
            accepts(Level.MUST),
        ),
        case(
            "accept",
            "Sec-WebSocket-Accept: one field line, base64(SHA-1(key + GUID))",
            R6455_101 + ' "the |Sec-WebSocket-Accept| contains a value other than the '
            "base64-encoded SHA-1 of the concatenation of the |Sec-WebSocket-Key| [...] with the "
            'string "258EAFA5-E914-47DA-95CA-C5AB0DC85B11""',
            the_101(_accept_value),
        ),
        case(
            "upgrade",
            "Upgrade: websocket in the 101",
            'RFC 9110 §7.8: "A server that sends a 101 (Switching Protocols) response MUST send an '
            'Upgrade header field to indicate the new protocol(s)"; ' + R6455_101 + " it lacks "
            '"websocket"',
            the_101(_token("Upgrade", "websocket")),
        ),
        case(
            "connection",
            "Connection: Upgrade in the 101",
            R6455_101 + " the |Connection| header field \"doesn't contain a token that is an ASCII "
            'case-insensitive match for the value "Upgrade""',
            the_101(_token("Connection", "upgrade")),
        ),
        case(
            "no-subprotocol",
            "no Sec-WebSocket-Protocol when none was offered",
            R6455_101 + " the 101 names a subprotocol that was not present in the client's "
            "handshake",
            the_101(_absent("Sec-WebSocket-Protocol")),
        ),
        case(
            "no-extensions",
            "no Sec-WebSocket-Extensions when none was offered",
            R6455_101 + " the 101 names an extension that was not present in the client's "
            "handshake",
            the_101(_absent("Sec-WebSocket-Extensions")),
        ),
        case(
            "no-content-length",
            "no Content-Length or Transfer-Encoding in the 101",
            'RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any response '
            'with a status code of 1xx (Informational)"; RFC 9112 §6.1: the same for '
            "Transfer-Encoding",
            the_101(_absent("Content-Length", "Transfer-Encoding")),
        ),
        case(
            "http-version",
            "the 101's status line says HTTP/1.1",
            'RFC 9110 §7.8: Upgrade is for "transitioning from HTTP/1.1 to some other protocol"; '
            "an HTTP/1.0 status line cannot switch",
            the_101(_http11),
        ),
        case(
            "syntax",
            "the 101's head follows RFC 9112 (CRLF, no obs-fold, names are tokens)",
            "RFC 9112 §2.2, §5.1, §5.2: CRLF line ends; field-name is a token followed by a "
            'colon; "A server MUST NOT generate a message that includes line folding (i.e., that '
            'has any field line value that contains a match to the obs-fold rule)"',
            the_101(_syntax),
        ),
    ]


CASES: tuple[Case, ...] = (
    *_versions(),
    *_keys(),
    *_http(),
    *_upgrade(),
    *_subprotocols(),
    *_extensions(),
    *_origin(),
    *_pipelining(),
    *_the_101(),
)
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(case.group for case in CASES))
_ids = [case.id for case in CASES]
assert len(_ids) == len(set(_ids)), "case ids are unique"
del _ids
