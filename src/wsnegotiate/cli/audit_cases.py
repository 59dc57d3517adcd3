"""The ``audit`` case table: what each case sends, the rule it tests, and how the
answer is judged. No I/O: a case builds bytes and judges an ``Answer``.

Requests are written by our own ``ClientNegotiator`` wherever a case asks
something legal, and edited as bytes where a case breaks a rule on purpose; the
same negotiator then checks any 101 the way a client of that version must (RFC
6455 §4.1), so its key is the one the request carried. Every random byte a case
sends comes from the case's own source (``Context.random``), which the runner
seeds from the run's seed and the case id: the same seed sends the same bytes.

One rule decides every verdict: an answer that breaks a MUST is ``fail``, one
that breaks a SHOULD is ``warn``, a MAY taken or a choice the RFCs leave open is
``info``, and an answer the rule allows is ``pass``. A judge never picks a
verdict itself: it names the ``Rule`` the answer broke (``broke``), and the
rule's level makes the verdict, so the level a report shows is always the level
of the rule broken, which may be another rule than the case's own (a 426 without
``Upgrade`` breaks RFC 9110 §15.5.22 whatever the case tested). Where the RFCs
allow several answers, every one of them passes, and the case quotes the
sentence that decides it.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import http
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from .._answers import accept_token
from .._client import ClientNegotiator
from .._deflate import PERMESSAGE_DEFLATE, DeflateOptions, _read_params, answer_fault
from .._errors import InvalidResponse
from .._events import NeedData, Refused
from .._headers import Extension, parse_advertised, parse_extensions, parse_version_value
from .._origin import DEFAULT_PORTS, parse_authority, parse_origin
from .._version import Version
from .audit_answer import Answer, Ended, Frame, Response, as_text, mask, parse_frame
from .audit_groups import GROUP_ALIASES, GROUPS

__all__ = [
    "CASES",
    "GATE",
    "GROUPS",
    "GROUP_ALIASES",
    "Case",
    "Context",
    "Judged",
    "Level",
    "Rule",
    "Sent",
    "Verdict",
    "review",
]


class Level(enum.Enum):
    """The requirement level of a rule (RFC 2119)."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


class Verdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    INFO = "info"


#: What breaking a rule of each level makes of an answer.
VERDICT_OF = {Level.MUST: Verdict.FAIL, Level.SHOULD: Verdict.WARN, Level.MAY: Verdict.INFO}
_WORST = (Verdict.FAIL, Verdict.WARN, Verdict.INFO, Verdict.PASS)


@dataclass(frozen=True, slots=True)
class Rule:
    """A requirement: its level, and its RFC, section and the sentence that says it."""

    level: Level
    text: str


@dataclass(frozen=True, slots=True)
class Judged:
    """A case's verdict, what the server did, and the rule its answer broke."""

    verdict: Verdict
    finding: str
    #: The rule the answer broke, whose level made the verdict; ``None`` when it
    #: broke none (a pass, a choice, a case that does not apply).
    broke: Rule | None = None


def passed(finding: str) -> Judged:
    return Judged(Verdict.PASS, finding)


def noted(finding: str) -> Judged:
    """Neither right nor wrong: a choice the RFCs leave open, or a case that does not apply."""
    return Judged(Verdict.INFO, finding)


def broke(rule: Rule, finding: str) -> Judged:
    return Judged(VERDICT_OF[rule.level], finding, rule)


def worst(judged: Sequence[Judged]) -> Judged:
    """The worst of several judgements of one answer, with every finding said."""
    first = min(judged, key=lambda j: _WORST.index(j.verdict))
    return Judged(first.verdict, "; ".join(j.finding for j in judged if j.finding), first.broke)


@dataclass(frozen=True, slots=True)
class Context:
    """What every case needs to know of the target and of the user's options."""

    host: str  # the Host field value: HOST:PORT
    path: str  # the request-target: the URL's path and query
    origin: str
    subprotocol: str | None = None
    #: The case's source of random bytes (the runner seeds one per case).
    random: Callable[[int], bytes] = os.urandom
    scheme: str = "http"  # the absolute-form's: http, or https for a wss:// URL
    #: The audit runs from an address the server trusts as its proxy (``--from-proxy``).
    from_proxy: bool = False


@dataclass(frozen=True, slots=True)
class Sent:
    """A case's request: the bytes, and the negotiator that checks a 101 to it."""

    data: bytes
    client: ClientNegotiator | None = None
    head_request: bool = False
    #: The permessage-deflate offers the request made, as the client wrote them.
    offers: tuple[str, ...] = ()
    #: HTTP/2: the header blocks, each sent on a stream of its own once the server's
    #: SETTINGS came (``data`` is then their account in text).
    blocks: tuple[tuple[tuple[bytes, bytes], ...], ...] = ()
    #: HTTP/2: send them only if the server did not advertise
    #: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (else only if it did).
    unadvertised: bool = False

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
Judge = Callable[["Case", Context, Sent, Answer], Judged]


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    group: str
    title: str
    #: The rule the case tests, quoting the sentence that decides it.
    rule: Rule
    allowed: tuple[str, ...]
    build: Build
    judge: Judge
    #: Bytes that follow the 101's head and belong to the handshake (hixie-76's 16).
    after_101: int = 0
    #: Bytes sent once the 101 has come: a frame, as a client sends one.
    then: bytes = b""
    #: After a 101: read until a frame with one of these opcodes comes.
    frames: frozenset[int] = frozenset()
    #: Seconds to keep reading after the answer, until the server closes.
    settle: float = 0.0
    needs_subprotocol: bool = False
    #: The slow, incomplete request: run last, alone, within ``--slow-timeout``.
    slow: bool = False
    #: Run first, alone, in the table's order: an answer that shows the server is
    #: not one to audit stops the run.
    gate: bool = False
    #: Sent over HTTP/2 (``audit --http2``): ``build`` gives ``Sent.blocks``.
    http2: bool = False

    @property
    def level(self) -> Level:
        return self.rule.level


# -- building requests --------------------------------------------------------------------


def valid(
    version: Version | int | str = 13,
    *,
    after: bytes = b"",
    origin: str | bool | None = True,
    subprotocols: Sequence[str] | None = None,
    extensions: Sequence[str] = (),
    deflate: bool = False,
    draft: int | None = None,
) -> Build:
    """A request our client writes as it stands (``origin=True``: the user's origin;
    ``subprotocols=None``: the one of ``--subprotocol``, if given, so that a server
    that needs it judges the rest of the request), with ``after`` sent in the same
    write behind it."""

    def build(ctx: Context) -> Sent:
        offered = subprotocols
        if offered is None:
            offered = [ctx.subprotocol] if ctx.subprotocol else []
        client = ClientNegotiator(
            ctx.host,
            ctx.path,
            version,
            origin=ctx.origin if origin is True else origin or None,
            subprotocols=offered,
            extensions=extensions,
            deflate=deflate,
            draft=draft,
            random=ctx.random,
        )
        offers = (*extensions, *([DeflateOptions.for_client().offer()] if deflate else []))
        return Sent(client.data_to_send() + after, client, offers=offers)

    return build


Values = Sequence[str] | Callable[[Context], Sequence[str]]
Line = bytes | Callable[[Context], bytes]


def line(method: str = "GET", version: str = "HTTP/1.1", target: str | None = None) -> Line:
    """A request line for the URL's path and query (or ``target``)."""
    return lambda ctx: f"{method} {ctx.path if target is None else target} {version}".encode()


def edited(
    fields: Mapping[str, Values] | None = None,
    *,
    lines: Sequence[bytes] = (),
    request_line: Line | None = None,
    eol: bytes = b"\r\n",
    body: bytes = b"",
    after: Callable[[Context], bytes] | None = None,
    ending: bool = True,
) -> Build:
    """A valid request from our client, edited as bytes: ``fields`` replaces
    every line of a field by one line per value (none: the field is dropped),
    ``lines`` are appended as they are, and the request line and line ends can
    be changed; ``body`` follows the head, then ``after``. Without ``ending`` the
    head stops before its empty line."""

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
        first = start if request_line is None else _line(request_line, ctx)
        data = eol.join([first, *field_lines]) + eol
        if ending:
            data += eol + body + (after(ctx) if after else b"")
        return Sent(data, sent.client, first.startswith(b"HEAD "), sent.offers)

    return build


def _line(request_line: Line, ctx: Context) -> bytes:
    return request_line(ctx) if callable(request_line) else request_line


def _name(line: bytes) -> bytes:
    return line.split(b":", 1)[0].strip().lower()


def _key(size: int) -> Callable[[Context], Sequence[str]]:
    """A ``Sec-WebSocket-Key`` of ``size`` random bytes, base64."""
    return lambda ctx: [base64.b64encode(ctx.random(size)).decode()]


def _masked(opcode: int, payload: bytes, key: bytes = b"\x37\xfa\x21\x3d") -> bytes:
    """A client's frame (RFC 6455 §5.2), masked as §5.3 requires; payload < 126 bytes."""
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + mask(payload, key)


def _client_hello(ctx: Context) -> Sent:
    """A TLS ClientHello record (RFC 8446 §4.1.2, §5.1): the first bytes of a client
    that took a plain port for a TLS one."""
    hello = (
        b"\x03\x03"  # legacy_version TLS 1.2
        + ctx.random(32)
        + b"\x00"  # no session id
        + b"\x00\x04\x13\x01\xc0\x2f"  # TLS_AES_128_GCM_SHA256, ECDHE_RSA_AES_128_GCM
        + b"\x01\x00"  # null compression
        + b"\x00\x00"  # no extensions
    )
    handshake = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return Sent(b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake)


# -- the rules that any answer can break --------------------------------------------------

R_BAD_101 = Rule(
    Level.MUST,
    'RFC 6455 §4.1: the client "MUST _Fail the WebSocket Connection_" when the 101 lacks '
    "Upgrade: websocket or Connection: Upgrade, carries a wrong Sec-WebSocket-Accept, or names "
    "an extension or a subprotocol the request did not offer",
)
R_VALID_RESPONSE = Rule(
    Level.MUST,
    'RFC 6455 §4.2.2: "If the server chooses to accept the incoming connection, it MUST reply '
    'with a valid HTTP response"; RFC 9110 §7.8: the new protocol starts "immediately after '
    'the empty line that terminates the 101 response", so nothing comes before it',
)
R_426_UPGRADE = Rule(
    Level.MUST,
    'RFC 9110 §15.5.22: "The server MUST send an Upgrade header field in a 426 response to '
    'indicate the required protocol(s)"',
)
R_405_ALLOW = Rule(
    Level.MUST,
    'RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 '
    "response containing a list of the target resource's currently supported methods.\"",
)
R_RESPONSE_VERSION = Rule(
    Level.SHOULD,
    'RFC 9110 §6.2: "A server SHOULD send a response version equal to the highest version to '
    "which the server is conformant that has a major version less than or equal to the one "
    'received in the request."',
)
R_NOT_4XX = Rule(
    Level.SHOULD,
    'RFC 6455 §4.2.1 asks for "an appropriate error code (such as 400 Bad Request)", and RFC '
    "9110 §15.5 makes 4xx the class of a client's error; RFC 9110 §7.8 lets a server ignore "
    "Upgrade and answer as HTTP, so another status is judged as a SHOULD",
)
R_EXPLAIN = Rule(
    Level.SHOULD,
    "RFC 9110 §15.5: to a client's error \"the server SHOULD send a representation containing "
    'an explanation of the error situation"; a connection closed without an answer explains '
    "nothing",
)
R_LIST_HELP = Rule(
    Level.SHOULD,
    "RFC 6455 §4.2.1 asks only for an error when the version is missing, malformed or repeated; "
    "the Sec-WebSocket-Version list that §4.2.2 requires for a version not understood is what "
    "lets a client retry (§4.4): judged a SHOULD here",
)
R_LIST_TRUE = Rule(
    Level.SHOULD,
    "RFC 6455 §4.2.2: the refusal's Sec-WebSocket-Version indicates \"the version(s) the server "
    'is capable of understanding"; a value that is no version, or the version just refused, '
    "misleads a client's retry (§4.4)",
)
R_CLOSE_OPTION = Rule(
    Level.MUST,
    'RFC 9112 §9.6: "A server that sends a "close" connection option MUST initiate closure of '
    'the connection (see below) after it sends the response containing the "close" connection '
    'option."',
)
R_SERVER_MASK = Rule(
    Level.MUST, 'RFC 6455 §5.1: "A server MUST NOT mask any frames that it sends to the client."'
)
R_AFTER_101 = Rule(
    Level.MUST,
    "RFC 9110 §15.2.2: the 101's Upgrade \"indicates which protocol(s) will be in effect after "
    'this response", and §7.8: the server switches "immediately after the empty line that '
    'terminates the 101 response"; the bytes that follow are WebSocket frames (RFC 6455 §5.2), '
    "never a second HTTP request",
)
R_DECLINE_OFFER = Rule(
    Level.SHOULD,
    "RFC 7692 §5: a server that does not accept an offer declines it and goes on with the "
    "handshake (the 101 without it); RFC 6455 §9.1: the server answers with the extensions it "
    "supports; refusing the whole connection for an offer fails every client that makes it: "
    "judged a SHOULD",
)


# -- judging answers ------------------------------------------------------------------------


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


#: Where a refusal's words point, the field first, then the words servers use for it.
_CAUSES = (
    ("Sec-WebSocket-Protocol", ("sec-websocket-protocol", "subprotocol")),
    ("Sec-WebSocket-Extensions", ("sec-websocket-extensions", "extension", "deflate")),
    ("Sec-WebSocket-Version", ("sec-websocket-version", "version")),
    ("Sec-WebSocket-Key", ("sec-websocket-key",)),
    ("Origin", ("origin",)),
    ("Host", ("host",)),
    ("Upgrade", ("upgrade",)),
    ("Connection", ("connection",)),
)


_HTTP_VERSION = re.compile(r"http[ /-]?version|http/\d(?:\.\d)?")


def blame(response: Response) -> tuple[str | None, str]:
    """What a refusal names as its cause, as the server put it (a reason phrase of
    its own, and the first line of its body): the field, and a phrase for a
    finding; ``None`` and "the answer does not say why" when it names none of the
    handshake's fields."""
    body = response.body[:200].split(b"\n", 1)[0].strip()
    reason = response.reason
    with contextlib.suppress(ValueError):  # a status's own phrase blames nothing
        if reason.lower() == http.HTTPStatus(response.status).phrase.lower():
            reason = ""
    words = f"{reason} {body.decode('latin-1')}".lower()
    words = _HTTP_VERSION.sub("", words)  # "Unsupported HTTP version": not the WebSocket's
    shown = as_text(body[:80]) or reason
    for field, names in _CAUSES:
        if any(name in words for name in names):
            return field, f'the answer names {field} ("{shown}")'
    return None, "the answer does not say why"


def check_101(sent: Sent, answer: Answer) -> str | None:
    """Why a client of the request's version must reject the 101, or ``None``."""
    response = answer.switched
    assert response is not None
    if sent.client is None:  # no client wrote the request: nothing to check it by
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


def broken_101(sent: Sent, answer: Answer) -> Judged | None:
    """A 101 that a client of the request's version must reject, if it is one."""
    fault = check_101(sent, answer)
    return broke(R_BAD_101, f"a 101 a client must reject: {fault}") if fault else None


def _sound_101(sent: Sent, answer: Answer) -> Judged:
    return broken_101(sent, answer) or passed("101")


def _refusal_notes(response: Response, sent: Sent) -> list[Judged]:
    """What hinders a client in a refusal, though it refuses rightly."""
    notes: list[Judged] = []
    if response.status == 426 and not response.values("Upgrade"):
        notes.append(broke(R_426_UPGRADE, "426 without Upgrade"))
    if response.status == 405 and not response.values("Allow"):
        notes.append(broke(R_405_ALLOW, "405 without Allow"))
    notes += _version_note(response, sent)
    return notes


_request_version_re = re.compile(rb"[!-~]+ [!-~]+ HTTP/(1\.[1-9])\r?\n")


def _version_note(response: Response, sent: Sent) -> list[Judged]:
    """An answer to HTTP/1.1 or a later 1.x that does not say HTTP/1.1."""
    asked = _request_version_re.match(sent.data)
    if asked is None or response.http_version == "1.1":
        return []
    said_version = f"HTTP/{response.http_version} to HTTP/{asked[1].decode()}"
    return [broke(R_RESPONSE_VERSION, f"answered {said_version}")]


def _refused(response: Response, sent: Sent) -> Judged:
    """A refusal the rule allows, with what hinders a client in it."""
    return worst([passed(response.status_line), *_refusal_notes(response, sent)])


def accepts(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """A valid request: a 101 a client accepts. A refusal breaks the case's rule,
    and the finding says what the refusal blames."""
    final = answer.final
    if final is None:
        return broke(case.rule, said(answer))
    if final.status == 101:
        return worst([_sound_101(sent, answer), *_version_note(final, sent)])
    refused = broke(case.rule, f"a valid request refused: {final.status_line}; {blame(final)[1]}")
    return worst([refused, *_refusal_notes(final, sent)])


def refuses(fault: str, *, statuses: Sequence[int] = (), any_answer: bool = False) -> Judge:
    """A request the server must not switch for, because of ``fault`` (a phrase:
    "a request without Host"): any 4xx (or one of ``statuses``; with
    ``any_answer``, anything but a 101)."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return broke(R_EXPLAIN if any_answer else case.rule, said(answer))
        if final.status == 101:
            return broke(case.rule, f"switched (101) for {fault}")
        if statuses and final.status not in statuses:
            asked = " or ".join(map(str, statuses))
            return broke(case.rule, f"{final.status_line} for {fault}, where the rule asks {asked}")
        if not any_answer and not 400 <= final.status < 500:
            return broke(R_NOT_4XX, f"{final.status_line} for {fault}: not a 4xx")
        return _refused(final, sent)

    return judge


def refuses_version(what: str, *, may_speak: bool, list_required: bool) -> Judge:
    """A version the server may not understand (``what``: the request's
    Sec-WebSocket-Version as sent): a refusal with the list of the versions it
    does (RFC 6455 §4.2.2); ``may_speak``: a valid 101 is a server that speaks
    it (info); ``list_required``: a refusal without the list breaks the case's
    rule, else it breaks ``R_LIST_HELP``."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return broke(case.rule, said(answer))
        if final.status == 101:
            if not may_speak:
                return broke(case.rule, f"switched (101) for {what}")
            return broken_101(sent, answer) or noted("speaks it (a valid 101)")
        judged = [passed(final.status_line)]
        if not 400 <= final.status < 500:
            judged.append(broke(R_NOT_4XX, "not a 4xx"))
        values = [v.encode("latin-1") for v in final.values("Sec-WebSocket-Version")]
        advertised, ignored = parse_advertised(values)
        if not values:
            missing = "refused without Sec-WebSocket-Version"
            judged.append(broke(case.rule if list_required else R_LIST_HELP, missing))
        else:
            judged.append(passed(f"lists {', '.join(map(str, advertised)) or 'nothing'}"))
        if ignored:
            judged.append(broke(R_LIST_TRUE, f"Sec-WebSocket-Version lists {', '.join(ignored)}"))
        number = _version_of(what)
        if number is not None and number in advertised:
            judged.append(broke(R_LIST_TRUE, f"refused {number}, yet lists it as supported"))
        return worst([*judged, *_refusal_notes(final, sent)])

    return judge


def _version_of(what: str) -> int | None:
    """The version number in "Sec-WebSocket-Version: N", when N is one."""
    prefix = "Sec-WebSocket-Version: "
    return parse_version_value(what[len(prefix) :].encode()) if what.startswith(prefix) else None


def old_family(name: str) -> Judge:
    """hixie-75/76, hybi-00: no RFC 6455 handshake; a server refuses it, or
    speaks that family and answers as it requires."""
    inner = refuses_version(f"a {name} request", may_speak=True, list_required=False)

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        judged = inner(case, ctx, sent, answer)
        return replace(judged, finding=judged.finding.replace("speaks it", f"speaks {name}"))

    return judge


def any_allowed(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """A MAY: a valid 101 or any refusal passes; no answer at all explains nothing."""
    final = answer.final
    if final is None:
        return broke(R_EXPLAIN, said(answer))
    if final.status == 101:
        return _sound_101(sent, answer)
    return _refused(final, sent)


def told(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """No rule decides: say what the server did (a broken 101 still fails)."""
    judged = any_allowed(case, ctx, sent, answer)
    return judged if judged.broke else noted(judged.finding)


def the_101(check: Callable[[Sent, Response], str | None]) -> Judge:
    """One property of the 101 to a valid request; ``info`` when there is no 101
    (the case ``101-valid`` judges that)."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        response = answer.switched
        if response is None:
            return noted(f"not applicable: {said(answer)}")
        fault = check(sent, response)
        return broke(case.rule, fault) if fault else passed("101")

    return judge


def _accept_value(sent: Sent, response: Response) -> str | None:
    values = response.values("Sec-WebSocket-Accept")
    if len(values) != 1:
        return f"{len(values)} Sec-WebSocket-Accept field lines, not 1"
    key = sent.key
    assert key is not None
    if values[0] != accept_token(key):
        return f"Sec-WebSocket-Accept {values[0]!r} is not {accept_token(key)!r}"
    return None


def _token(name: str, token: str) -> Callable[[Sent, Response], str | None]:
    def check(sent: Sent, response: Response) -> str | None:
        if token not in response.tokens(name):
            return f"{name}: {', '.join(response.values(name)) or '(missing)'} has no {token!r}"
        return None

    return check


def _absent(*names: str) -> Callable[[Sent, Response], str | None]:
    def check(sent: Sent, response: Response) -> str | None:
        there = [f"{name}: {value}" for name in names for value in response.values(name)]
        return f"the 101 carries {'; '.join(there)}" if there else None

    return check


def _http11(sent: Sent, response: Response) -> str | None:
    return None if response.http_version == "1.1" else f"status line {response.status_line!r}"


def _syntax(sent: Sent, response: Response) -> str | None:
    return "; ".join(response.faults) or None


def subprotocol(chosen: Callable[[Context], str | None], offered: str) -> Judge:
    """A 101 that selects ``chosen(ctx)`` (``None``: selects nothing)."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return broke(case.rule, said(answer))
        want = chosen(ctx)
        if final.status != 101:
            why = blame(final)[1]
            if want:
                return broke(case.rule, f"refused: {final.status_line}; {why}")
            return noted(f"refused (a server that needs a subprotocol): {final.status_line}; {why}")
        if (bad := broken_101(sent, answer)) is not None:
            return bad
        got = response_protocol(final)
        if got == want:
            return passed(f"selected {got!r}" if got else "selected none")
        if want is None:
            return broke(case.rule, f"selected {got!r}, a name it cannot know ({offered})")
        return broke(case.rule, f"selected {got!r}, not {want!r}, which it was said to support")

    return judge


def response_protocol(response: Response) -> str | None:
    values = response.values("Sec-WebSocket-Protocol")
    return values[0] if values else None


def extension_answer(must_decline: bool) -> Judge:
    """A 101 whose ``Sec-WebSocket-Extensions`` names only what was offered, and
    accepts a permessage-deflate offer only as RFC 7692 §7 allows."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return broke(case.rule, said(answer))
        if final.status != 101:
            field, why = blame(final)
            if field not in (None, "Sec-WebSocket-Extensions"):
                return noted(f"not applicable: refused, {why}: {final.status_line}")
            return broke(
                R_DECLINE_OFFER,
                f"refused the handshake instead of declining the offer: {final.status_line}; {why}",
            )
        fault = _deflate_fault(sent, final, must_decline)
        if fault:
            return broke(case.rule, fault)
        if (bad := broken_101(sent, answer)) is not None:
            return bad
        answered = ", ".join(final.values("Sec-WebSocket-Extensions"))
        return passed(f"101; extensions: {answered or 'none (declined)'}")

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


def _frame_faults(answer: Answer) -> list[Judged]:
    """What the server's frames after the 101 break whatever the case."""
    masked = [frame for frame in answer.frames if frame.masked]
    if masked:
        return [
            broke(R_SERVER_MASK, f"a masked frame (opcode {masked[0].opcode:#x}) from the server")
        ]
    return []


def _close_code(frame: Frame) -> str:
    return str(int.from_bytes(frame.payload[:2], "big")) if len(frame.payload) >= 2 else "(no code)"


def pipelined_frame(reply: int, payload: Callable[[bytes], bool], what: str) -> Judge:
    """A frame sent behind the request must be read as a frame: the answer to it
    (``reply`` opcode) comes after the 101, and never an HTTP response."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        early = parse_frame(answer.raw) if answer.parse.error else None
        if early is not None:
            return broke(
                R_VALID_RESPONSE, f"a frame (opcode {early.opcode:#x}) came before any HTTP answer"
            )
        if final is None:
            return broke(case.rule, said(answer))
        if final.status != 101:
            return noted(f"not applicable: {final.status_line}")
        if answer.parse.rest.startswith(b"HTTP/"):
            return broke(R_AFTER_101, "the frame was read as HTTP: an HTTP answer followed the 101")
        frames = answer.frames
        if not frames:
            return broke(case.rule, f"no {what} after the 101 ({said_end(answer)})")
        first = frames[0]
        if first.opcode == reply and payload(first.payload):
            return worst([passed(f"101, then the {what}"), *_frame_faults(answer)])
        got = f"opcode {first.opcode:#x} {first.payload[:40]!r}"
        return broke(case.rule, f"101, then {got}, not the {what}")

    return judge


def said_end(answer: Answer) -> str:
    took = f" after {answer.lasted:.1f} s" if answer.lasted is not None else ""
    return {
        Ended.CLOSED: f"the server closed the connection{took}",
        Ended.RESET: f"the server reset the connection{took}",
        Ended.TIMEOUT: "the deadline passed",
        Ended.OPEN: f"the connection still open{took}",
    }.get(answer.ended, answer.ended.value)


def frame_reply(reply: int, what: str, *, closes: bool = False) -> Judge:
    """A frame sent after the 101, as any client may: the server answers it with
    a frame of opcode ``reply`` (a Pong with the Ping's payload, a Close),
    whatever other frames its application sends; with ``closes`` it also closes
    the connection."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        if answer.switched is None:
            return noted(f"not applicable: {said(answer)}")
        frames = answer.frames
        found = next((frame for frame in frames if frame.opcode == reply), None)
        faults = _frame_faults(answer)
        if found is None:
            close = next((frame for frame in frames if frame.opcode == 0x8), None)
            other = f"a Close {_close_code(close)}" if close else said_end(answer)
            return worst([broke(case.rule, f"101, then no {what}: {other}"), *faults])
        if reply == 0xA and found.payload != b"audit":
            return worst(
                [broke(case.rule, f"a Pong with {found.payload[:40]!r}, not b'audit'"), *faults]
            )
        if closes and answer.ended not in (Ended.CLOSED, Ended.RESET):
            stayed = said_end(answer)
            return worst([broke(case.rule, f"a Close {_close_code(found)}, but {stayed}"), *faults])
        done = f"a Close {_close_code(found)}" if reply == 0x8 else f"the {what}"
        return worst([passed(f"101, then {done}"), *faults])

    return judge


def fails_unmasked(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """An unmasked frame after the 101: the server fails the connection, a Close
    (1002) and the TCP connection closed; a Close alone is the failing begun (the
    server may then wait a while for the client's, as RFC 6455 §7.1.1 lets it).
    Read as data, or no sign at all before the deadline, it breaks §5.1."""
    if answer.switched is None:
        return noted(f"not applicable: {said(answer)}")
    faults = _frame_faults(answer)
    echoed = [frame for frame in answer.frames if frame.payload == b"audit" and frame.opcode == 0x1]
    if echoed:
        return worst([broke(case.rule, "read the unmasked frame as data: it echoed it"), *faults])
    close = next((frame for frame in answer.frames if frame.opcode == 0x8), None)
    ended = answer.ended in (Ended.CLOSED, Ended.RESET)
    if close is None and not ended:
        return worst([broke(case.rule, f"101, then no Close, and {said_end(answer)}"), *faults])
    how = [f"a Close {_close_code(close)}"] if close else []
    how.append(said_end(answer) if ended else "the TCP close left to the client's Close")
    return worst([passed(f"101, then {', '.join(how)}"), *faults])


def one_answer(
    *, second_is_legal: bool = False, close: bool = False, must_answer: bool = True
) -> Judge:
    """A request with another one pipelined behind it: one answer, to the first;
    with ``close`` the server must also close the connection. ``second_is_legal``:
    a second answer is legal HTTP/1.1 (info). Without ``must_answer`` (or with
    ``second_is_legal``) no answer at all only explains nothing."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            explains = second_is_legal or not must_answer
            return broke(R_EXPLAIN if explains else case.rule, said(answer))
        if final.status == 101:
            return broke(case.rule, "switched (101) for the first request")
        answers = [r for r in answer.parse.responses if r.status >= 200 or r.status == 101]
        if len(answers) > 1 or answer.parse.rest.startswith(b"HTTP/"):
            second = answers[1].status_line if len(answers) > 1 else "a second answer"
            both = f"{final.status_line}, then {second} to the request pipelined behind it"
            if second_is_legal:
                return noted(
                    f"{both}: legal HTTP/1.1 (RFC 9110 §7.8 lets a server ignore Upgrade), but "
                    "the client broke RFC 6455 §4.1 by sending it before any answer"
                )
            return broke(case.rule, both)
        if close and answer.ended not in (Ended.CLOSED, Ended.RESET):
            return broke(case.rule, f"{final.status_line}, and {said_end(answer)}")
        return worst([passed(f"{final.status_line}, one answer"), *_refusal_notes(final, sent)])

    return judge


def no_http_after_101(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """After the 101 the connection speaks WebSocket: HTTP bytes behind the
    request are a (bad) frame, never a second request."""
    final = answer.final
    if final is None:
        return broke(R_EXPLAIN, said(answer))
    if final.status != 101:
        return noted(f"not applicable: {final.status_line}")
    if answer.parse.rest.startswith(b"HTTP/"):
        return broke(case.rule, "answered the bytes behind the request as a second HTTP request")
    close = next((f for f in answer.frames if f.opcode == 0x8), None)
    if close is not None:
        return passed(f"101, then Close {_close_code(close)}")
    return passed(f"101, no HTTP answer ({said_end(answer)})")


def head_content(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """A refusal of HEAD: a head, and not one byte of content after it."""
    final = answer.final
    if final is None or final.status == 101:
        return noted(f"not applicable: {said(answer)} (http-head judges it)")
    at = answer.raw.find(final.head)
    content = answer.raw[at + len(final.head) :] if at >= 0 else b""
    if content:
        shown = as_text(content[:40])
        return broke(
            case.rule, f"{final.status_line}, then {len(content)} bytes of content: {shown!r}"
        )
    return passed(f"{final.status_line}, no content")


def too_large(fault: str, statuses: Sequence[int]) -> Judge:
    """A request larger than many servers take: one of ``statuses``, or a 101 from
    a server that takes it (info); any other 4xx breaks the SHOULD that names the
    status; no answer, or one that is no 4xx, breaks the case's MUST."""
    names = " or ".join(map(str, statuses))
    rule = Rule(
        Level.SHOULD,
        f"RFC 6585 §5, RFC 9112 §3: {names} say which limit the request passed",
    )

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return broke(case.rule, f"{said(answer)} to {fault}")
        if final.status == 101:
            return broken_101(sent, answer) or noted(f"accepted {fault} (a valid 101)")
        if final.status in statuses:
            return _refused(final, sent)
        if 400 <= final.status < 500:
            return worst(
                [broke(rule, f"{final.status_line}, not {names}"), *_refusal_notes(final, sent)]
            )
        return broke(case.rule, f"{final.status_line} to {fault}: not a 4xx")

    return judge


def not_http(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """Bytes that are not HTTP: a 400, then the connection closed."""
    final = answer.final
    if final is None:
        return broke(case.rule, said(answer))
    if final.status == 101:
        return broke(R6455_421_RULE, "switched (101) for bytes that are not HTTP")
    judged = [passed(final.status_line)]
    if final.status != 400:
        judged.append(broke(case.rule, f"{final.status_line}, not 400"))
    if answer.ended not in (Ended.CLOSED, Ended.RESET):
        judged.append(broke(case.rule, f"then {said_end(answer)}"))
    return worst(judged)


def closes_after_refusal(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """After a refusal: is the connection closed? Only a ``Connection: close`` makes
    it a MUST (RFC 9112 §9.6); otherwise HTTP/1.1 keeps it open by default."""
    final = answer.final
    if final is None or final.status == 101:
        return noted(f"not applicable: {said(answer)} (version-14 judges it)")
    if answer.ended in (Ended.CLOSED, Ended.RESET):
        return passed(f"{final.status_line}, then {said_end(answer)}")
    if "close" in final.tokens("Connection"):
        return broke(
            R_CLOSE_OPTION, f"{final.status_line} with Connection: close, and {said_end(answer)}"
        )
    return noted(
        f"{final.status_line}, and {said_end(answer)}: a persistent connection (RFC 9112 §9.3), "
        "ready for another request"
    )


def times_out(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """A request whose head never ends: does the server end it, ever?"""
    final = answer.final
    took = f"{answer.lasted:.1f} s" if answer.lasted is not None else "a while"
    if final is not None:
        return passed(f"{final.status_line} after {took} of an unfinished request")
    if answer.ended in (Ended.CLOSED, Ended.RESET):
        return passed(f"{answer.ended.value} after {took} of an unfinished request")
    return noted(
        f"still waiting after {took} (a field line a second, the head never ended): a client "
        "this slow holds a connection as long as it likes"
    )


# -- the table ------------------------------------------------------------------------------

R6455_421 = (
    "RFC 6455 §4.2.1: if the client did not send a handshake that matches the description, "
    "\"the server MUST stop processing the client's handshake and return an HTTP response "
    'with an appropriate error code (such as 400 Bad Request)."'
)
R6455_421_RULE = Rule(Level.MUST, R6455_421)
R6455_422_VERSION = (
    'RFC 6455 §4.2.2: "If this version does not match a version understood by the server, the '
    "server MUST abort the WebSocket handshake described in this section and instead send an "
    "appropriate HTTP error code (such as 426 Upgrade Required) and a |Sec-WebSocket-Version| "
    'header field indicating the version(s) the server is capable of understanding."'
)
R6455_GRAMMAR = (
    'RFC 6455 §4.3: version = DIGIT | (NZDIGIT DIGIT) | ("1" DIGIT DIGIT) | ("2" DIGIT DIGIT), '
    '"Limited to 0-255 range, with no leading zeros"; a request that breaks the grammar gets an '
    'error (§4.2.1: "any violations of the ABNF grammar")'
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
R9112_REQUEST_LINE = (
    'RFC 9112 §3: "Recipients of an invalid request-line SHOULD respond with either a 400 (Bad '
    "Request) error or a 301 (Moved Permanently) redirect with the request-target properly "
    "encoded. A recipient SHOULD NOT attempt to autocorrect and then process the request "
    'without a redirect"'
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
R6455_LISTS = (
    "RFC 6455 §4.3: Sec-WebSocket-Protocol-Client = 1#token, §9.1: Sec-WebSocket-Extensions = "
    'extension-list, 1#extension, extension = extension-token *( ";" extension-param ); '
    '§4.2.1: "any violations of the ABNF grammar" get "an appropriate error code (such as 400 '
    'Bad Request)", which the server "MUST" return'
)

REFUSAL = "a 4xx (400, or 426 with Upgrade: websocket), never a 101"
LISTED = "a 4xx (426 or 400) with Sec-WebSocket-Version listing the versions the server speaks"
OK_101 = "a 101 a client accepts (RFC 6455 §4.1)"
SPEAKS = "a 101 valid for that version, from a server that speaks it"

_VERSION_TITLES = {4: "hybi-04", 5: "hybi-05", 6: "hybi-06", 7: "hybi-07", 8: "hybi-08..12"}


def must(text: str) -> Rule:
    return Rule(Level.MUST, text)


def should(text: str) -> Rule:
    return Rule(Level.SHOULD, text)


def may(text: str) -> Rule:
    return Rule(Level.MAY, text)


def _versions() -> list[Case]:
    old = must(
        R6455_421 + "; items 5 and 6 ask for a Sec-WebSocket-Key and a Sec-WebSocket-Version"
    )
    cases = [
        Case(
            "version-hixie-75",
            "versions",
            "hixie-75: Upgrade and Connection, no key, no version",
            old,
            (REFUSAL, SPEAKS),
            valid(Version.VersionUnknown),
            old_family("hixie-75"),
        ),
        Case(
            "version-hixie-76",
            "versions",
            "hixie-76: Sec-WebSocket-Key1/Key2 and 8 bytes after the head",
            old,
            (REFUSAL, SPEAKS),
            valid(Version.Version0),
            old_family("hixie-76"),
            after_101=16,
        ),
        Case(
            "version-hybi-00",
            "versions",
            "hybi-00: hixie-76 keys with Sec-WebSocket-Draft: 0",
            old,
            (REFUSAL, SPEAKS),
            valid(Version.Version0, draft=0),
            old_family("hybi-00"),
            after_101=16,
        ),
        Case(
            "version-0",
            "versions",
            "Sec-WebSocket-Version: 0 with a Sec-WebSocket-Key (no draft ever sent both)",
            must(R6455_422_VERSION),
            (LISTED,),
            valid("0"),
            refuses_version("Sec-WebSocket-Version: 0", may_speak=False, list_required=True),
        ),
    ]
    for number, title in _VERSION_TITLES.items():
        cases.append(
            Case(
                f"version-{number}",
                "versions",
                f"Sec-WebSocket-Version: {number} ({title})",
                must(R6455_422_VERSION),
                (LISTED, SPEAKS),
                valid(Version(number)),
                refuses_version(
                    f"Sec-WebSocket-Version: {number}", may_speak=True, list_required=True
                ),
            )
        )
    for raw, title in (("9", "reserved"), ("14", "unassigned"), ("255", "unassigned, the largest")):
        cases.append(
            Case(
                f"version-{raw}",
                "versions",
                f"Sec-WebSocket-Version: {raw} ({title})",
                must(R6455_422_VERSION),
                (LISTED,),
                valid(raw),
                refuses_version(
                    f"Sec-WebSocket-Version: {raw}", may_speak=False, list_required=True
                ),
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
    grammar = must(R6455_GRAMMAR)
    for suffix, raw, title in malformed:
        cases.append(
            Case(
                f"version-{suffix}",
                "versions",
                f"Sec-WebSocket-Version: {raw} ({title})",
                grammar,
                (REFUSAL + ", best with Sec-WebSocket-Version so the client can retry (§4.4)",),
                valid(raw),
                refuses_version(
                    f"the malformed Sec-WebSocket-Version: {raw}",
                    may_speak=False,
                    list_required=False,
                ),
            )
        )
    cases += [
        Case(
            "version-repeated",
            "versions",
            "Sec-WebSocket-Version: 13 on two field lines",
            must(R6455_GRAMMAR + '; two field lines combine into "13, 13" (RFC 9110 §5.3)'),
            (REFUSAL + ", best with Sec-WebSocket-Version so the client can retry (§4.4)",),
            edited({"Sec-WebSocket-Version": ["13", "13"]}),
            refuses_version(
                "Sec-WebSocket-Version: 13 on two field lines", may_speak=False, list_required=False
            ),
        ),
        Case(
            "version-missing",
            "versions",
            "a Sec-WebSocket-Key but no Sec-WebSocket-Version",
            must(
                R6455_421
                + '; item 6: "A |Sec-WebSocket-Version| header field, with a value of 13."'
            ),
            (REFUSAL + ", best with Sec-WebSocket-Version so the client can retry (§4.4)",),
            edited({"Sec-WebSocket-Version": []}),
            refuses_version(
                "a request without Sec-WebSocket-Version", may_speak=False, list_required=False
            ),
        ),
        Case(
            "version-ows",
            "versions",
            "Sec-WebSocket-Version:   13   (whitespace around the value)",
            must(
                'RFC 9110 §5.5: "A field value does not include leading or trailing whitespace. '
                "[...] a field parsing implementation MUST exclude such whitespace prior to "
                'evaluating the field value."'
            ),
            (OK_101,),
            edited({"Sec-WebSocket-Version": ["  13\t "]}),
            accepts,
        ),
        Case(
            "version-draft-beside-13",
            "versions",
            "Sec-WebSocket-Draft: 2 beside Sec-WebSocket-Version: 13",
            should(
                'RFC 9110 §5.1: "Other recipients SHOULD ignore unrecognized header and trailer '
                'fields."; RFC 6455 defines no Sec-WebSocket-Draft (the hybi-00..03 drafts did), '
                "so version 13 decides"
            ),
            (OK_101,),
            edited(lines=[b"Sec-WebSocket-Draft: 2"]),
            accepts,
        ),
    ]
    return cases


def _keys() -> list[Case]:
    def key_case(
        suffix: str, title: str, values: Values, fault: str, rule: str = R6455_KEY
    ) -> Case:
        return Case(
            f"key-{suffix}",
            "keys",
            title,
            must(rule),
            ("a 4xx (400), never a 101",),
            edited({"Sec-WebSocket-Key": values}),
            refuses(fault),
        )

    return [
        key_case("missing", "no Sec-WebSocket-Key", [], "a request without Sec-WebSocket-Key"),
        key_case(
            "15-bytes",
            "a key of 15 bytes (base64, 20 characters)",
            _key(15),
            "a Sec-WebSocket-Key of 15 bytes, not 16",
        ),
        key_case(
            "17-bytes",
            "a key of 17 bytes (base64, 24 characters)",
            _key(17),
            "a Sec-WebSocket-Key of 17 bytes, not 16",
        ),
        key_case(
            "not-base64",
            "24 characters that are not base64",
            ["!!!!!!!!!!!!!!!!!!!!!!=="],
            "a Sec-WebSocket-Key that is not base64 (!!!!!!!!!!!!!!!!!!!!!!==)",
        ),
        key_case(
            "unpadded",
            "16 bytes in base64 without the == padding",
            lambda ctx: [base64.b64encode(ctx.random(16)).decode().rstrip("=")],
            "a Sec-WebSocket-Key of 22 characters, its == padding missing",
        ),
        key_case("empty", "an empty Sec-WebSocket-Key", [""], "an empty Sec-WebSocket-Key"),
        key_case(
            "repeated",
            "two Sec-WebSocket-Key field lines, each a valid key",
            lambda ctx: [*_key(16)(ctx), *_key(16)(ctx)],
            "Sec-WebSocket-Key on two field lines",
            'RFC 6455 §11.3.1: "The |Sec-WebSocket-Key| header field MUST NOT appear more than '
            'once in an HTTP request."; ' + R6455_421,
        ),
    ]


def _a_valid_request(ctx: Context) -> bytes:
    return valid()(ctx).data


def _http() -> list[Case]:
    method = (
        'RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request"; a 405 carries Allow '
        '(RFC 9110 §15.5.6: "The origin server MUST generate an Allow header field in a 405 '
        'response")'
    )
    head = must(method)
    return [
        Case(
            "http-post",
            "http",
            "POST instead of GET",
            must(method),
            ("a 4xx (405 with Allow, or 400), never a 101",),
            edited({"Content-Length": ["0"]}, request_line=line("POST")),
            refuses("a POST request, not a GET"),
        ),
        Case(
            "http-head",
            "http",
            "HEAD instead of GET",
            head,
            ("a 4xx (405 with Allow, or 400), never a 101",),
            edited(request_line=line("HEAD")),
            refuses("a HEAD request, not a GET"),
        ),
        Case(
            "http-head-no-content",
            "http",
            "the refusal of a HEAD upgrade request carries no content",
            must(
                'RFC 9110 §9.3.2: "The HEAD method is identical to GET except that the server '
                'MUST NOT send content in the response."'
            ),
            ("a refusal whose head is all there is",),
            edited(request_line=line("HEAD")),
            head_content,
            settle=0.3,
        ),
        Case(
            "http-get-lowercase",
            "http",
            "get (lower case) instead of GET",
            must(
                'RFC 9110 §9.1: "The method token is case-sensitive"; RFC 6455 §4.2.1 item 1 asks '
                "for GET"
            ),
            ("a 4xx (405 or 400, or 501 for an unknown method), never a 101",),
            edited(request_line=line("get")),
            refuses("the method get, not GET", any_answer=True),
        ),
        Case(
            "http-1.0",
            "http",
            "an upgrade request in HTTP/1.0",
            must(
                'RFC 9110 §7.8: "A server that receives an Upgrade header field in an HTTP/1.0 '
                'request MUST ignore that Upgrade field."'
            ),
            ("any answer but a 101 (a refusal, or the resource over HTTP/1.0)",),
            edited(request_line=line(version="HTTP/1.0")),
            refuses("an HTTP/1.0 request", any_answer=True),
        ),
        Case(
            "http-1.2",
            "http",
            "HTTP/1.2 in the request line",
            should(
                'RFC 9110 §6.2: "A recipient that receives a message with a major version number '
                "that it implements and a minor version number higher than what it implements "
                "SHOULD process the message as if it were in the highest minor version within "
                'that major version to which the recipient is conformant."'
            ),
            (OK_101 + ", with an HTTP/1.1 status line",),
            edited(request_line=line(version="HTTP/1.2")),
            accepts,
        ),
        Case(
            "http-no-host",
            "http",
            "no Host field",
            must(R9112_HOST),
            ("400",),
            edited({"Host": []}),
            refuses("a request without Host", statuses=(400,)),
        ),
        Case(
            "http-two-hosts",
            "http",
            "Host on two field lines",
            must(R9112_HOST),
            ("400",),
            edited({"Host": lambda ctx: [ctx.host, ctx.host]}),
            refuses("Host on two field lines", statuses=(400,)),
        ),
        Case(
            "http-invalid-host",
            "http",
            "Host: wsnegotiate audit (a space: no uri-host)",
            must(
                R9112_HOST + '; RFC 9110 §7.2: Host = uri-host [ ":" port ], and a reg-name '
                "has no space (RFC 3986 §3.2.2)"
            ),
            ("400",),
            edited({"Host": ["wsnegotiate audit"]}),
            refuses("the invalid Host: wsnegotiate audit", statuses=(400,)),
        ),
        Case(
            "http-space-before-colon",
            "http",
            "whitespace between a field name and its colon (X-Audit : 1)",
            must(
                'RFC 9112 §5.1: "A server MUST reject, with a response status code of 400 (Bad '
                "Request), any received request message that contains whitespace between a "
                'header field name and colon."'
            ),
            ("400",),
            edited(lines=[b"X-Audit : 1"]),
            refuses("the field line X-Audit : 1 (a space before the colon)", statuses=(400,)),
        ),
        Case(
            "http-obs-fold",
            "http",
            "Connection folded over two lines (keep-alive,CRLF SP Upgrade)",
            must(
                'RFC 9112 §5.2: a server that receives an obs-fold "MUST either reject the '
                "message by sending a 400 (Bad Request) [...] or replace each received obs-fold "
                'with one or more SP octets prior to interpreting the field value"'
            ),
            ("400", "a 101 (the fold read as a space: Connection holds Upgrade)"),
            edited({"Connection": ["keep-alive,\r\n Upgrade"]}),
            _obs_fold,
        ),
        Case(
            "http-bare-lf",
            "http",
            "every line ends with LF alone",
            may(
                'RFC 9112 §2.2: "a recipient MAY recognize a single LF as a line terminator and '
                'ignore any preceding CR."'
            ),
            (OK_101, "a 400"),
            edited(eol=b"\n"),
            any_allowed,
        ),
        Case(
            "http-absolute-form",
            "http",
            "the target in absolute form (GET http://HOST:PORT/PATH)",
            must(
                'RFC 9112 §3.2.2: "a server MUST accept the absolute-form in requests even though '
                'most HTTP/1.1 clients will only send the absolute-form to a proxy."'
            ),
            (OK_101,),
            edited(
                request_line=lambda ctx: (
                    f"GET {ctx.scheme}://{ctx.host}{ctx.path} HTTP/1.1".encode()
                )
            ),
            accepts,
        ),
        Case(
            "http-target-asterisk",
            "http",
            "GET * (the asterisk-form, for OPTIONS only)",
            should(
                R9112_REQUEST_LINE + '; §3.2.4: the asterisk-form "is only used for a server-wide '
                'OPTIONS request"'
            ),
            ("400", "301"),
            edited(request_line=line(target="*")),
            refuses("the request-target *", statuses=(400, 301)),
        ),
        Case(
            "http-target-fragment",
            "http",
            "a #fragment in the request-target",
            should(
                R9112_REQUEST_LINE + "; §3.2: no form of request-target has a fragment; RFC 6455 "
                '§3: fragment identifiers "MUST NOT be used on these URIs"'
            ),
            ("400", "301"),
            edited(request_line=lambda ctx: f"GET {ctx.path}#audit HTTP/1.1".encode()),
            refuses("a request-target with #audit", statuses=(400, 301)),
        ),
        Case(
            "http-long-target",
            "http",
            "a request-target of more than 8 KiB",
            must(
                'RFC 9112 §3: "A server that receives a request-target longer than any URI it '
                'wishes to parse MUST respond with a 414 (URI Too Long) status code"; "It is '
                "RECOMMENDED that all HTTP senders and recipients support, at a minimum, "
                'request-line lengths of 8000 octets."'
            ),
            ("414", "431 or 400 (a line limit)", "a 101 (a server that parses longer targets)"),
            edited(request_line=_long_target),
            too_large("a request-target of 8,200 bytes", (414, 431, 400)),
        ),
        Case(
            "http-large-head",
            "http",
            "a field section of 20 KiB (five fields of 4,000 bytes)",
            must(
                'RFC 9110 §5.4: "A server that receives a request header field line, field value, '
                "or set of fields larger than it wishes to process MUST respond with an "
                'appropriate 4xx (Client Error) status code."; RFC 6585 §5: 431 (Request Header '
                "Fields Too Large)"
            ),
            ("431", "400", "a 101 (a server that takes larger heads)"),
            edited(lines=[b"X-Audit-Pad-%d: " % n + b"a" * 4000 for n in range(5)]),
            too_large("a field section of 20 KiB", (431, 400)),
        ),
        Case(
            "http-body",
            "http",
            "a GET with Content-Length: 5 and a body",
            may(
                'RFC 9110 §9.3.1: content in a GET "has no generally defined semantics [...] and '
                "might lead some implementations to reject the request and close the connection "
                'because of its potential as a request smuggling attack"'
            ),
            ("a 400", "a 101 after reading the body as the request's content"),
            edited({"Content-Length": ["5"]}, body=b"hello"),
            told,
        ),
        Case(
            "http-chunked",
            "http",
            "Transfer-Encoding: chunked on the handshake GET (an empty chunked body)",
            should(
                'RFC 9110 §9.3.1: content in a GET "might lead some implementations to reject the '
                "request and close the connection because of its potential as a request smuggling "
                'attack"; after a 101 the bytes that follow the head are frames (RFC 9110 §7.8), '
                "and a chunked body has no agreed end before them: refused, judged a SHOULD"
            ),
            ("a 4xx (400, 411 or 501), never a 101",),
            edited({"Transfer-Encoding": ["chunked"]}, body=b"0\r\n\r\n"),
            refuses("a handshake with a chunked body"),
        ),
        Case(
            "http-length-and-chunked",
            "http",
            "Content-Length and Transfer-Encoding: chunked, and a valid request behind it",
            must(
                'RFC 9112 §6.1: "A server MAY reject a request that contains both Content-Length '
                "and Transfer-Encoding or process such a request in accordance with the "
                "Transfer-Encoding alone. Regardless, the server MUST close the connection after "
                'responding to such a request to avoid the potential attacks."'
            ),
            ("one answer (a 400), then the connection closed",),
            edited(
                {"Content-Length": ["5"], "Transfer-Encoding": ["chunked"]},
                body=b"0\r\n\r\n",
                after=_a_valid_request,
            ),
            one_answer(close=True, must_answer=False),
            settle=0.5,
        ),
        Case(
            "http-bad-content-length",
            "http",
            "Content-Length: abc",
            must(
                'RFC 9112 §6.3: for an invalid Content-Length in a request "the server MUST '
                'respond with a 400 (Bad Request) status code and then close the connection."'
            ),
            ("400, then the connection closed",),
            edited({"Content-Length": ["abc"]}),
            one_answer(close=True),
            settle=0.5,
        ),
        Case(
            "http-tls-on-plain-port",
            "http",
            "a TLS ClientHello instead of a request (a client that took the port for TLS)",
            should(
                'RFC 9112 §2.2: a server that "receives a sequence of octets that does not match '
                "the HTTP-message grammar [...] SHOULD respond with a 400 (Bad Request) response "
                'and close the connection."'
            ),
            ("a 400, then the connection closed",),
            _client_hello,
            not_http,
            settle=1.0,
        ),
        Case(
            "http-close-after-refusal",
            "http",
            "is the connection closed after a refusal (version 14)?",
            may(
                "RFC 9112 §9.3: HTTP/1.1 connections persist by default, so a server may keep one "
                'open after a 4xx; §9.6: "A server that sends a "close" connection option MUST '
                "initiate closure of the connection [...] after it sends the response containing "
                'the "close" connection option."'
            ),
            ("closed", "kept open, when the refusal has no Connection: close"),
            valid("14"),
            closes_after_refusal,
            settle=2.0,
        ),
    ]


def _long_target(ctx: Context) -> bytes:
    joiner = "&" if "?" in ctx.path else "?"
    return f"GET {ctx.path}{joiner}audit={'a' * 8200} HTTP/1.1".encode()


def _obs_fold(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    final = answer.final
    if final is None:
        return broke(case.rule, said(answer))
    if final.status not in (101, 400):
        return broke(case.rule, f"{final.status_line}: neither a 400 nor the fold read as a space")
    return any_allowed(case, ctx, sent, answer)


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
            must(
                R6455_421 + '; item 3: "An |Upgrade| header field containing the value "websocket""'
            ),
            (REFUSAL,),
            edited({"Upgrade": []}),
            refuses("a request without Upgrade"),
        ),
        Case(
            "upgrade-other-protocol",
            "upgrade",
            "Upgrade: h2c instead of websocket",
            must(
                'RFC 9110 §7.8: "A server MUST NOT switch to a protocol that was not indicated by '
                "the client in the corresponding request's Upgrade header field.\""
            ),
            ("any answer but a 101 to websocket",),
            edited({"Upgrade": ["h2c"]}),
            refuses("Upgrade: h2c, no websocket", any_answer=True),
        ),
        Case(
            "upgrade-case",
            "upgrade",
            "Upgrade: WebSocket",
            must(upgrade_list),
            (OK_101,),
            edited({"Upgrade": ["WebSocket"]}),
            accepts,
        ),
        Case(
            "upgrade-list",
            "upgrade",
            "Upgrade: foo, websocket",
            should(upgrade_list),
            (OK_101 + ", switching to websocket",),
            edited({"Upgrade": ["foo, websocket"]}),
            accepts,
        ),
        Case(
            "upgrade-two-lines",
            "upgrade",
            "Upgrade: foo and Upgrade: websocket on two field lines",
            should(upgrade_list + '; RFC 9110 §5.3: field lines of a list "combine"'),
            (OK_101,),
            edited({"Upgrade": ["foo", "websocket"]}),
            accepts,
        ),
        Case(
            "connection-missing",
            "upgrade",
            "no Connection field",
            must(R6455_421 + "; " + connection_token),
            (REFUSAL,),
            edited({"Connection": []}),
            refuses("a request without Connection"),
        ),
        Case(
            "connection-no-upgrade",
            "upgrade",
            "Connection: keep-alive (no upgrade token)",
            must(R6455_421 + "; " + connection_token),
            (REFUSAL,),
            edited({"Connection": ["keep-alive"]}),
            refuses("Connection: keep-alive, without the upgrade token"),
        ),
        Case(
            "connection-list",
            "upgrade",
            "Connection: keep-alive, Upgrade (as Firefox sends it)",
            must(connection_token),
            (OK_101,),
            edited({"Connection": ["keep-alive, Upgrade"]}),
            accepts,
        ),
        Case(
            "connection-lowercase",
            "upgrade",
            "Connection: upgrade",
            must(connection_token),
            (OK_101,),
            edited({"Connection": ["upgrade"]}),
            accepts,
        ),
        Case(
            "connection-empty-elements",
            "upgrade",
            "Connection: , Upgrade ,, (empty list elements)",
            must(
                'RFC 9110 §5.6.1: "A recipient MUST parse and ignore a reasonable number of '
                'empty list elements"'
            ),
            (OK_101,),
            edited({"Connection": [", Upgrade ,,"]}),
            accepts,
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
            should(R6455_PROTOCOL),
            ("a 101 selecting it",),
            offered,
            subprotocol(lambda ctx: ctx.subprotocol, "--subprotocol"),
            needs_subprotocol=True,
        ),
        Case(
            "subprotocol-second",
            "subprotocols",
            f"offers {UNKNOWN_PROTOCOL}, then the one given with --subprotocol",
            should(R6455_PROTOCOL),
            ("a 101 selecting the second",),
            second,
            subprotocol(lambda ctx: ctx.subprotocol, UNKNOWN_PROTOCOL),
            needs_subprotocol=True,
        ),
        Case(
            "subprotocol-unknown",
            "subprotocols",
            f"offers only {UNKNOWN_PROTOCOL}",
            must(R6455_PROTOCOL),
            ("a 101 without Sec-WebSocket-Protocol", "a refusal (a server that needs one)"),
            valid(subprotocols=[UNKNOWN_PROTOCOL]),
            subprotocol(lambda ctx: None, f"{UNKNOWN_PROTOCOL} was made up"),
        ),
        Case(
            "subprotocol-malformed",
            "subprotocols",
            f"Sec-WebSocket-Protocol: {UNKNOWN_PROTOCOL} chat (a space where a comma belongs)",
            must(R6455_LISTS),
            ("a 4xx (400), never a 101",),
            edited({"Sec-WebSocket-Protocol": [f"{UNKNOWN_PROTOCOL} chat"]}),
            refuses(f"Sec-WebSocket-Protocol: {UNKNOWN_PROTOCOL} chat, which is no token list"),
        ),
        Case(
            "subprotocol-empty",
            "subprotocols",
            "Sec-WebSocket-Protocol with an empty value",
            must(
                R6455_LISTS + '; RFC 9110 §5.6.1.2: "Empty elements do not contribute to the count'
                ' of elements present."'
            ),
            ("a 4xx (400), never a 101",),
            edited({"Sec-WebSocket-Protocol": [""]}),
            refuses("an empty Sec-WebSocket-Protocol (1#token: one token at least)"),
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
            must(
                "RFC 7692 §7: the server accepts the offer by answering with parameters it "
                "allows, or declines it; " + R6455_101 + " the answer names an extension not "
                "offered"
            ),
            ("a 101 with a valid permessage-deflate answer", "a 101 without it"),
            valid(deflate=True),
            extension_answer(must_decline=False),
        ),
        Case(
            "deflate-unknown-param",
            "extensions",
            "permessage-deflate; x-audit=1",
            must(R7692_DECLINE),
            declined,
            offer("permessage-deflate; x-audit=1"),
            extension_answer(must_decline=True),
        ),
        Case(
            "deflate-repeated-param",
            "extensions",
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
            must(R7692_DECLINE),
            declined,
            offer("permessage-deflate; client_max_window_bits; client_max_window_bits"),
            extension_answer(must_decline=True),
        ),
        Case(
            "deflate-bad-value",
            "extensions",
            "permessage-deflate; server_max_window_bits=16",
            must(R7692_DECLINE),
            declined,
            offer("permessage-deflate; server_max_window_bits=16"),
            extension_answer(must_decline=True),
        ),
        Case(
            "deflate-window-8",
            "extensions",
            "permessage-deflate; server_max_window_bits=8",
            must(
                "RFC 7692 §7.1.2.1: server_max_window_bits takes 8 to 15; a server that accepts "
                "the offer answers with a value no larger than the one offered, or it declines"
            ),
            ("a 101 with server_max_window_bits=8", "a 101 without permessage-deflate"),
            offer("permessage-deflate; server_max_window_bits=8"),
            extension_answer(must_decline=False),
        ),
        Case(
            "deflate-second-offer",
            "extensions",
            "permessage-deflate; x-audit=1, permessage-deflate",
            must(R7692_DECLINE + "; the next offer may be accepted"),
            ("a 101 accepting the second offer", "a 101 without permessage-deflate"),
            offer("permessage-deflate; x-audit=1", "permessage-deflate"),
            extension_answer(must_decline=False),
        ),
        Case(
            "extension-unknown",
            "extensions",
            "Sec-WebSocket-Extensions: x-wsnegotiate-audit",
            must(
                'RFC 6455 §9.1: the server answers with "the extensions it supports" among those '
                "offered; no server supports a name made up for the audit"
            ),
            ("a 101 without Sec-WebSocket-Extensions",),
            offer("x-wsnegotiate-audit"),
            extension_answer(must_decline=True),
        ),
        Case(
            "extension-malformed",
            "extensions",
            "Sec-WebSocket-Extensions: permessage-deflate;; (an empty parameter)",
            must(R6455_LISTS),
            ("a 4xx (400), never a 101",),
            edited({"Sec-WebSocket-Extensions": ["permessage-deflate;;"]}),
            refuses("Sec-WebSocket-Extensions: permessage-deflate;;, an empty parameter"),
        ),
        Case(
            "extension-empty",
            "extensions",
            "Sec-WebSocket-Extensions with an empty value",
            must(
                R6455_LISTS + '; RFC 9110 §5.6.1.2: "Empty elements do not contribute to the count'
                ' of elements present."'
            ),
            ("a 4xx (400), never a 101",),
            edited({"Sec-WebSocket-Extensions": [""]}),
            refuses("an empty Sec-WebSocket-Extensions (1#extension: one at least)"),
        ),
    ]


# -- security: who gets in, and what comes back -----------------------------------------------
#
# The server is taken to admit one origin, O (--origin, by default its own), and every
# variant is judged by what a server that admits only O must do. A server that admits a
# plainly foreign origin checks none worth the name (a server not meant for browsers may);
# ``review`` then says so once and the other variants' admissions become notes of it.

FOREIGN_HOST = "wsnegotiate-audit.invalid"  # RFC 6761 §6.4: .invalid never resolves
FOREIGN_ORIGIN = f"http://{FOREIGN_HOST}"
#: The Kubernetes prefix of a bearer token offered as a subprotocol, and a token that is no
#: one's: base64url of "wsnegotiate-audit-not-a-real-token", no padding (a token, RFC 9110
#: §5.6.2, as Sec-WebSocket-Protocol's elements must be).
CREDENTIAL_PREFIX = "base64url.bearer.authorization.k8s.io."
FAKE_TOKEN = "d3NuZWdvdGlhdGUtYXVkaXQtbm90LWEtcmVhbC10b2tlbg"
CREDENTIAL = CREDENTIAL_PREFIX + FAKE_TOKEN

R6455_10_2 = (
    'RFC 6455 §10.2: "Servers that are not intended to process input from any web page but only '
    "for certain sites SHOULD verify the |Origin| field is an origin they expect. If the origin "
    "indicated is unacceptable to the server, then it SHOULD respond to the WebSocket handshake "
    'with a reply containing HTTP 403 Forbidden status code."'
)
R6454_SAME = (
    'RFC 6454 §5: two origins are "the same" "if, and only if, they are identical" (scheme, '
    "host and port, §4), never by a prefix, a suffix or a pattern of the host"
)
R6454_FIELD = (
    'RFC 6454 §7.1: the Origin field is "null" or serialized origins, scheme "://" host '
    '[ ":" port ] (RFC 3986 §3.2.2 host): no path, no character outside a host'
)
R7239_TRUST = (
    'RFC 7239 §8.1: the Forwarded field "cannot be relied upon to be correct, as it may be '
    "modified, whether mistakenly or for malicious reasons, by every node on the way to the "
    'server, including the client making the request"; X-Forwarded-Host and -Proto no less: '
    "believed from a proxy the server trusts only"
)
R_CREDENTIAL = should(
    'RFC 6749 §10.3: access token credentials "MUST be kept confidential in transit and '
    "storage, and only shared among the authorization server, the resource servers the access "
    'token is valid for, and the client to whom the access token is issued"; RFC 6750 §5.3: '
    '"Safeguard bearer tokens". An answer that carries the credential back hands it to every '
    "intermediary and log that keeps answers, and, as the selected subprotocol, to every script "
    "of the page (WebSocket.protocol); no sentence binds the server itself: judged a SHOULD"
)


def _own(ctx: Context) -> tuple[str, str, str]:
    """O as parts: its scheme, its host and ``:port`` (empty for the scheme's default);
    the target's own when ``--origin`` is no origin (``null``, a path)."""
    parsed = parse_origin(ctx.origin) or parse_authority(ctx.host, ctx.scheme)
    if parsed is None:
        return ctx.scheme, ctx.host, ""
    scheme, host, port = parsed
    return scheme, host, "" if port is None or port == DEFAULT_PORTS.get(scheme) else f":{port}"


Variant = Callable[[str, str, str], str | None]


def _fullwidth(host: str) -> str:
    """The host with its first character in its fullwidth form (U+FF01..U+FF5E), which
    IDNA's mapping (NFKC) turns back into the ASCII one."""
    return chr(ord(host[0]) + 0xFEE0) + host[1:] if "!" <= host[:1] <= "~" else "\uff41" + host


#: (id, title, the Origin sent from O's scheme, host and :port, what it is in a finding,
#: the rule beyond RFC 6455 §10.2's)
_VARIANTS: tuple[tuple[str, str, Variant, str, str], ...] = (
    (
        "origin-scheme",
        "Origin: the --origin with the other scheme (https://HOST:PORT for http, and back)",
        lambda s, h, p: f"{'http' if s == 'https' else 'https'}://{h}{p}",
        "the other scheme",
        R6454_SAME,
    ),
    (
        "origin-null",
        "Origin: null (a sandboxed frame, a file, a data: URL: any page can make one)",
        lambda s, h, p: "null",
        "the opaque origin",
        'RFC 6454 §7.3: a user agent sends "null" from a privacy-sensitive context; any page '
        "can make one, so no server admits it as its own",
    ),
    (
        "origin-foreign",
        f"Origin: {FOREIGN_ORIGIN} (another site)",
        lambda s, h, p: FOREIGN_ORIGIN,
        "a foreign origin",
        R6454_SAME,
    ),
    (
        "origin-suffix",
        "Origin: the --origin's host with .evil.example after it (http://HOST.evil.example:PORT)",
        lambda s, h, p: f"{s}://{h}.evil.example{p}",
        "a name that only starts with the host",
        R6454_SAME,
    ),
    (
        "origin-prefix",
        "Origin: the --origin's host with evil- before it (http://evil-HOST:PORT)",
        lambda s, h, p: f"{s}://evil-{h}{p}",
        "a name that only ends with the host",
        R6454_SAME,
    ),
    (
        "origin-subdomain",
        "Origin: a subdomain of the --origin's host (http://evil.HOST:PORT)",
        lambda s, h, p: f"{s}://evil.{h}{p}",
        "a subdomain (another origin, and maybe another owner)",
        R6454_SAME,
    ),
    (
        "origin-dot-wildcard",
        "Origin: the --origin's host with its first dot made an x (a dot read as a regex's any)",
        lambda s, h, p: f"{s}://{h.replace('.', 'x', 1)}{p}" if "." in h else None,
        "a name that an unescaped dot in a pattern matches",
        R6454_SAME,
    ),
    (
        "origin-backtick",
        "Origin: the --origin's host, then `.evil.example (http://HOST`.evil.example:PORT)",
        lambda s, h, p: f"{s}://{h}`.evil.example{p}",
        "a host with a backtick, another site's to a browser that allows one",
        R6454_FIELD,
    ),
    (
        "origin-trailing-slash",
        "Origin: the --origin with a trailing slash (a URL, not an origin)",
        lambda s, h, p: f"{s}://{h}{p}/",
        "a URL that is no origin",
        R6454_FIELD,
    ),
    (
        "origin-idn",
        "Origin: the --origin's host in Unicode, its first character fullwidth (IDNA maps it to "
        "the host)",
        lambda s, h, p: f"{s}://{_fullwidth(h)}{p}",
        "a Unicode host that IDNA maps onto the host",
        "RFC 6454 §4: the host is compared in A-labels, converted by the user agent (RFC 5890), "
        "so an Origin in Unicode is no browser's; mapping it onto an expected name lets in a "
        "look-alike",
    ),
)
#: The Forwarded element and the X-Forwarded-* fields of a proxy that says the request
#: came for the foreign origin's authority.
_FORWARDED = (
    (
        "forwarded-x",
        "X-Forwarded-Proto and -Host",
        {"X-Forwarded-Proto": ["http"], "X-Forwarded-Host": [FOREIGN_HOST]},
    ),
    (
        "forwarded",
        "Forwarded",
        {"Forwarded": [f"for=192.0.2.60;proto=http;host={FOREIGN_HOST}"]},
    ),
)
#: The cases whose 101 lets a page of another origin in: moot once the foreign one is.
CROSS_ORIGIN = frozenset(
    [*(case_id for case_id, *_ in _VARIANTS), *(case_id for case_id, *_ in _FORWARDED)]
)


def _variant(variant: Variant) -> Callable[[Context], str | None]:
    return lambda ctx: variant(*_own(ctx))


def _sending(value: Callable[[Context], str | None]) -> Build:
    """A valid request with ``value`` as its Origin (O when it has none)."""

    def build(ctx: Context) -> Sent:
        origin = value(ctx)
        return valid()(ctx) if origin is None else edited({"Origin": [origin]})(ctx)

    return build


def admits_only_own(value: Callable[[Context], str | None], what: str) -> Judge:
    """A variant of O that a server admitting only O refuses; the finding names the
    variant that got in."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        origin = value(ctx)
        if origin is None:
            return noted(f"not applicable: the host of {ctx.origin} has no dot")
        final = answer.final
        if final is None:
            return broke(R_EXPLAIN, said(answer))
        if final.status != 101:
            return _refused(final, sent)
        return broken_101(sent, answer) or broke(case.rule, f"admitted {what}: {origin}")

    return judge


def may_refuse(admitted: str | None, refused: str | None) -> Judge:
    """A request the server may admit or refuse: a 101 passes, or is a note of
    ``admitted``; a refusal passes, or is a note of ``refused``."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return broke(R_EXPLAIN, said(answer))
        if final.status == 101:
            bad = broken_101(sent, answer)
            return bad or (noted(admitted) if admitted else passed("101"))
        if refused:
            return noted(f"refused: {final.status_line}; {blame(final)[1]} ({refused})")
        return _refused(final, sent)

    return judge


def forwarded_claim(fields: str) -> Judge:
    """The foreign origin, claimed as the request's own by a proxy's ``fields``: from
    an address the server does not trust, never believed; with ``--from-proxy`` (the
    audit runs from the server's proxy), believed by a server that admits its own
    origin, and refused by one that lists origins."""

    def judge(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
        final = answer.final
        if final is None:
            return broke(R_EXPLAIN, said(answer))
        if final.status != 101:
            if ctx.from_proxy:
                return noted(
                    f"refused: {final.status_line}: the server does not take {fields} from its "
                    "proxy, or admits listed origins only"
                )
            return _refused(final, sent)
        if (bad := broken_101(sent, answer)) is not None:
            return bad
        if ctx.from_proxy:
            return passed(f"101: the proxy's {fields} believed")
        return broke(
            case.rule,
            f"admitted the foreign origin {FOREIGN_ORIGIN}, claimed as the request's own by "
            f"{fields} from this address (if the server trusts it as its proxy: --from-proxy)",
        )

    return judge


def _credential_offer(ctx: Context) -> Sent:
    return valid(subprotocols=[CREDENTIAL, *([ctx.subprotocol] if ctx.subprotocol else [])])(ctx)


def _credential_in(answer: Answer) -> str | None:
    """Where the fake token came back in the answer, if it did."""
    if FAKE_TOKEN.encode() not in answer.raw:
        return None
    final = answer.final
    if final is not None:
        if final.status == 101 and any(
            FAKE_TOKEN in value for value in final.values("Sec-WebSocket-Protocol")
        ):
            return "as its subprotocol (Sec-WebSocket-Protocol)"
        named = [name for name, value in final.headers if FAKE_TOKEN in value]
        if named:
            return f"in {', '.join(dict.fromkeys(named))}"
        if FAKE_TOKEN in final.reason:
            return "in its status line"
        if FAKE_TOKEN.encode() in final.body:
            return f"in the body of its {final.status}"
    return "in the bytes that came back"


def keeps_credential(case: Case, ctx: Context, sent: Sent, answer: Answer) -> Judged:
    """A credential offered as a subprotocol never comes back, wherever in the answer."""
    final = answer.final
    switched = final is not None and final.status == 101
    bad = broken_101(sent, answer) if switched else None
    where = _credential_in(answer)
    if where is not None:
        leaked = broke(
            case.rule, f"echoed the credential offered in Sec-WebSocket-Protocol {where}"
        )
        return worst([bad, leaked]) if bad else leaked
    if final is None:
        return noted(f"not applicable: {said(answer)}")
    if not switched:
        return passed(f"refused: {final.status_line}, the credential not in it")
    selected = response_protocol(final)
    return bad or passed(f"101, selected {selected!r}" if selected else "101, selected none")


def _security() -> list[Case]:
    cases = [
        Case(
            "origin-own",
            "security",
            "Origin: the --origin value (default http://HOST:PORT): the origin the server admits",
            must(
                'RFC 6455 §4.2.2: "If the server chooses to accept the incoming connection, it '
                'MUST reply with a valid HTTP response"; the --origin is the one the server '
                "admits (101-valid sent it), and every variant below is judged against it"
            ),
            (OK_101,),
            valid(),
            accepts,
        ),
        Case(
            "origin-missing",
            "security",
            "no Origin (a client that is not a browser)",
            may(
                'RFC 6455 §4.1: "The request MUST include a header field with the name |Origin| '
                '[RFC6454] if the request is coming from a browser client."; no browser leaves it '
                "out, so admitting it lets no page in"
            ),
            (OK_101, "a refusal (a server that serves browsers only)"),
            valid(origin=None),
            may_refuse(None, "a server for browsers only"),
        ),
        Case(
            "origin-upper-case",
            "security",
            "Origin: the --origin in upper case (HTTP://HOST:PORT: the same origin)",
            may(
                "RFC 6454 §4: scheme and host are compared in lower case, so the upper-case "
                "spelling is O itself; no browser sends it (§6.2 serializes in lower case): "
                "admitting it or not is a choice"
            ),
            (OK_101, "a refusal (a string compared as it came)"),
            _sending(_variant(lambda s, h, p: f"{s.upper()}://{h.upper()}{p}")),
            may_refuse(None, "the origin compared as a string, not as RFC 6454 §4 does"),
        ),
    ]
    for case_id, title, variant, what, rule in _VARIANTS:
        malformed = rule is R6454_FIELD or case_id == "origin-idn"
        cases.append(
            Case(
                case_id,
                "security",
                title,
                should(f"{R6455_10_2}; {rule}"),
                ("403 (or 400: not an origin)",) if malformed else ("403, or another refusal",),
                _sending(_variant(variant)),
                admits_only_own(_variant(variant), what),
            )
        )
    cases.append(
        Case(
            "origin-fetch-cross-site",
            "security",
            "Origin: the --origin, and Sec-Fetch-Site: cross-site (the browser says another "
            "site's page opened it)",
            may(
                R6455_10_2 + "; Fetch Metadata's Sec-Fetch-Site: cross-site says the page and "
                "the socket are not the same site: a server for its own pages may refuse it (as "
                "tornado does); one that lists pages of other sites admits them"
            ),
            ("a refusal (Fetch Metadata read)", "a 101 (the Origin alone decides)"),
            edited({"Sec-Fetch-Site": ["cross-site"]}),
            may_refuse(
                "admitted: Sec-Fetch-Site not read, or the --origin listed as another site's page",
                None,
            ),
        )
    )
    for case_id, fields, values in _FORWARDED:
        cases.append(
            Case(
                case_id,
                "security",
                f"Origin: {FOREIGN_ORIGIN}, and {fields} claiming it as the request's own",
                should(f"{R6455_10_2}; {R7239_TRUST}"),
                (
                    "a refusal: the fields ignored from a peer that is no trusted proxy",
                    "with --from-proxy: a 101 (the proxy believed), or a refusal (origins listed)",
                ),
                edited({"Origin": [FOREIGN_ORIGIN], **values}),
                forwarded_claim(fields),
            )
        )
    cases.append(
        Case(
            "credential-offer",
            "security",
            f"Sec-WebSocket-Protocol: {CREDENTIAL_PREFIX}<a fake token> (a browser's bearer "
            "token), then the --subprotocol",
            R_CREDENTIAL,
            ("any answer that does not carry the token back",),
            _credential_offer,
            keeps_credential,
        )
    )
    return cases


def review(judged: Sequence[tuple[Case, Judged]]) -> dict[str, Judged]:
    """The verdicts one answer cannot give alone: once the foreign origin got in, the
    server checks no origin (RFC 6455 §10.2 asks it only of a server meant for certain
    sites), so that is said once, and every variant that got in too is a note of it,
    not a finding of its own. The new judgements, by case id."""
    admitted = [
        case.id
        for case, verdict in judged
        if case.id in CROSS_ORIGIN and verdict.broke == case.rule
    ]
    if "origin-foreign" not in admitted:
        return {}
    return {
        case_id: noted(
            "admitted a foreign origin: the server checks no origin, so any page can open a "
            "socket here with its user's cookies (for a server not meant for browsers, a choice)"
            if case_id == "origin-foreign"
            else "admitted too: the server checks no origin (origin-foreign)"
        )
        for case_id in admitted
    }


def _pipelining() -> list[Case]:
    return [
        Case(
            "pipeline-ping",
            "pipelining",
            "a masked Ping sent in the same write as the request",
            should(
                R6455_PIPELINE + '; §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send '
                'a Pong frame in response"'
            ),
            ("a 101, then a Pong with the same payload",),
            valid(after=_masked(0x9, b"audit")),
            pipelined_frame(0xA, lambda payload: payload == b"audit", "Pong"),
            frames=frozenset({0xA, 0x8}),
        ),
        Case(
            "pipeline-close",
            "pipelining",
            "a masked Close 1000 sent in the same write as the request",
            should(
                R6455_PIPELINE + '; §5.5.1: "If an endpoint receives a Close frame and did not '
                "previously send a Close frame, the endpoint MUST send a Close frame in "
                'response."'
            ),
            ("a 101, then a Close",),
            valid(after=_masked(0x8, (1000).to_bytes(2, "big"))),
            pipelined_frame(0x8, lambda payload: True, "Close"),
            frames=frozenset({0x8}),
        ),
        Case(
            "pipeline-http-after-101",
            "pipelining",
            "a second HTTP request sent in the same write as an accepted one",
            R_AFTER_101,
            ("a 101, and no HTTP answer after it",),
            edited(after=_a_valid_request),
            no_http_after_101,
            settle=0.5,
        ),
        Case(
            "pipeline-after-refused",
            "pipelining",
            "a valid request pipelined behind a refused one (version 14)",
            may(
                'RFC 9110 §7.8: "A server MAY ignore a received Upgrade header field if it wishes '
                'to continue using the current protocol on that connection."; answering the next '
                "request is legal HTTP/1.1, though the client broke RFC 6455 §4.1 by sending it "
                "before any answer"
            ),
            ("one answer (the refusal), then the connection closed or silent", "two answers"),
            _refused_then_valid,
            one_answer(second_is_legal=True),
            settle=0.5,
        ),
        Case(
            "pipeline-after-bad-length",
            "pipelining",
            "a valid request pipelined behind one with Content-Length: abc",
            must(
                'RFC 9112 §6.3: for an invalid Content-Length in a request "the server MUST '
                'respond with a 400 (Bad Request) status code and then close the connection."'
            ),
            ("one 400, then the connection closed",),
            edited({"Content-Length": ["abc"]}, after=_a_valid_request),
            one_answer(close=True),
            settle=0.5,
        ),
    ]


def _refused_then_valid(ctx: Context) -> Sent:
    first = valid("14")(ctx)
    return Sent(first.data + valid()(ctx).data, first.client)


def _frames() -> list[Case]:
    return [
        Case(
            "frame-ping",
            "frames",
            "a masked Ping after the 101",
            must(
                'RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong '
                'frame in response"; §5.5.3: "A Pong frame sent in response to a Ping frame must '
                'have identical "Application data" as found in the message body of the Ping '
                'frame being replied to."'
            ),
            ("a Pong with the Ping's payload, whatever else the application sends",),
            valid(),
            frame_reply(0xA, "Pong"),
            then=_masked(0x9, b"audit"),
            frames=frozenset({0xA, 0x8}),
        ),
        Case(
            "frame-close",
            "frames",
            "a masked Close 1000 after the 101",
            must(
                'RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not previously '
                'send a Close frame, the endpoint MUST send a Close frame in response."; "After '
                "both sending and receiving a Close message, an endpoint considers the WebSocket "
                'connection closed and MUST close the underlying TCP connection."'
            ),
            ("a Close, then the connection closed",),
            valid(),
            frame_reply(0x8, "Close", closes=True),
            then=_masked(0x8, (1000).to_bytes(2, "big")),
            frames=frozenset({0x8}),
            settle=2.0,
        ),
        Case(
            "frame-unmasked",
            "frames",
            "an unmasked Text frame after the 101",
            must(
                'RFC 6455 §5.1: "A server MUST close the connection upon receiving a frame that is '
                "not masked. In this case, a server MAY send a Close frame with a status code of "
                '1002 (protocol error)"'
            ),
            (
                "a Close (1002), the connection closed then or once the client's Close comes",
                "the connection closed without a Close",
            ),
            valid(),
            fails_unmasked,
            then=b"\x81\x05audit",
            frames=frozenset({0x8}),
            settle=1.0,
        ),
    ]


GATE = "101-valid"


def _the_101() -> list[Case]:
    def case(suffix: str, title: str, rule: str, check: Judge, build: Build | None = None) -> Case:
        request = build or valid(origin=None)
        gate = f"101-{suffix}" == GATE
        return Case(f"101-{suffix}", "101", title, must(rule), (OK_101,), request, check, gate=gate)

    return [
        case(
            "valid",
            "the plainest valid request (with the --origin and --subprotocol given) gets a 101 a "
            "client accepts; run first: without it no other case runs",
            'RFC 6455 §4.2.2: "If the server chooses to accept the incoming connection, it MUST '
            'reply with a valid HTTP response"; the other cases assume this one passes',
            accepts,
            valid(),
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
            valid(origin=None, subprotocols=()),
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


def _slow() -> list[Case]:
    return [
        Case(
            "slow-request",
            "slow",
            "a request head that never ends: a field line a second, up to --slow-timeout",
            may(
                'RFC 9110 §15.5.9: 408 (Request Timeout) "indicates that the server did not '
                "receive a complete request message within the time that it was prepared to "
                'wait"; RFC 9112 §9.5: servers "will usually have some timeout value"; no rule '
                "sets one"
            ),
            ("a 408 or a close before --slow-timeout", "still waiting (a choice: info)"),
            edited(ending=False),
            times_out,
            slow=True,
        ),
    ]


CASES: tuple[Case, ...] = (
    *_versions(),
    *_keys(),
    *_http(),
    *_upgrade(),
    *_subprotocols(),
    *_extensions(),
    *_security(),
    *_pipelining(),
    *_frames(),
    *_the_101(),
    *_slow(),
)
assert tuple(dict.fromkeys(case.group for case in CASES)) == GROUPS, "the groups, in order"
_ids = [case.id for case in CASES]
assert len(_ids) == len(set(_ids)), "case ids are unique"
assert [case.id for case in CASES if case.gate] == [GATE]
del _ids
