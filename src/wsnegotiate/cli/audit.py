"""``wsnegotiate audit``: the handshake conformance suite, run against a live server.

The plainest valid request (``101-valid``) goes first, alone: without a 101 to
it the server is not one to audit (nothing else is judged), and without any
answer within the deadline the run stops there. (An HTTP/2 audit, ``audit_h2``,
has two such gates: the server's SETTINGS, then its plainest extended CONNECT.)
Then every other case goes on a fresh TCP (or TLS) connection of its own, at
most ``jobs`` at a time, each within its own deadline, at most 64 KiB of any
answer read; the slow, incomplete request goes last, alone. Results come in the
table's order whatever order the cases end in. A server that never answers,
closes early, resets or sends garbage is a result, never an error; a server that
stops taking connections mid-run ends the run, the cases left marked "not run".
Every random byte a case sends comes from a source seeded by the run's seed and
the case id, so two runs with one seed send the same bytes. Reports: a terminal
table by group, JSON, a self-contained HTML page and JUnit XML.

JSON schema (stable; README, "Audit a server"): ``server``, ``started``,
``timeout``, ``seed``, ``jobs``, ``slow_timeout``, ``incomplete``, ``stopped``,
``cases`` (each ``id``, ``group``, ``title``, ``rule``, ``level``, ``allowed``,
``request``, ``got`` (with ``http2``, stream by stream, for an HTTP/2 case),
``answer``, ``verdict``, ``finding``, ``broke``, ``ran``), and ``summary``
(counts by verdict, and ``not_run``).
"""

from __future__ import annotations

import asyncio
import datetime
import html
import json
import random
import re
import ssl
import textwrap
import xml.etree.ElementTree as ElementTree
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .audit_answer import (
    Answer,
    Ended,
    H2Answer,
    Parse,
    as_text,
    parse_frames,
    parse_responses,
    shown,
)
from .audit_cases import (
    CASES,
    Case,
    Context,
    Judged,
    Level,
    Sent,
    Verdict,
    blame,
    noted,
    review,
    said,
)
from .probe import Target, cause

__all__ = [
    "LIMIT",
    "Report",
    "Result",
    "Stop",
    "audit",
    "connect_error",
    "exit_code",
    "reachable",
    "seeded",
]

#: At most this much is read of any answer.
LIMIT = 64 * 1024
#: After a complete refusal, how long to wait to see whether the server closes.
GRACE = 0.05
#: The slow case sends a field line this often.
SLOW_STEP = 1.0
_BODY_EXCERPT = 512
#: What a report keeps of each answer (and of each response's head and body).
_ANSWER_EXCERPT = 8 * 1024


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    request: bytes
    answer: Answer | None  # None: the case did not run
    judged: Judged
    ran: bool = True

    @property
    def verdict(self) -> Verdict:
        return self.judged.verdict

    @property
    def finding(self) -> str:
        return self.judged.finding

    @property
    def level(self) -> Level | None:
        """The level of the rule the verdict rests on: of the rule broken; of the
        case's rule for a pass (or an info on a MAY); none for a case that did not
        apply or did not run."""
        if self.judged.broke is not None:
            return self.judged.broke.level
        if self.ran and (self.verdict is Verdict.PASS or self.case.level is Level.MAY):
            return self.case.level
        return None

    @property
    def rule(self) -> str:
        """The rule a reader of this row needs: the one broken, else the case's."""
        return (self.judged.broke or self.case.rule).text

    def as_dict(self) -> dict[str, Any]:
        case, broken = self.case, self.judged.broke
        return {
            "id": case.id,
            "group": case.group,
            "title": case.title,
            "rule": case.rule.text,
            "level": self.level.value if self.level else None,
            "allowed": list(case.allowed),
            "request": as_text(self.request),
            "got": _got(self.answer),
            "answer": as_text(self.answer.raw) if self.answer else "",
            "verdict": self.verdict.value,
            "finding": self.finding,
            "broke": {"level": broken.level.value, "rule": broken.text} if broken else None,
            "ran": self.ran,
        }


def _got(answer: Answer | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    final = answer.final
    interim = [r.status_line for r in answer.parse.responses if r is not final][:8]
    return {
        "status": final.status if final else None,
        "status_line": final.status_line if final else None,
        "headers": [[name, shown(value)] for name, value in final.headers] if final else [],
        "body": as_text(final.body[:_BODY_EXCERPT]) if final else "",
        "other_responses": interim,
        "frames": [
            {"opcode": frame.opcode, "payload": as_text(frame.payload[:_BODY_EXCERPT])}
            for frame in answer.frames[:8]
        ],
        "ended": answer.ended.value,
        "seconds": None if answer.seconds is None else round(answer.seconds, 4),
        "bytes": answer.read,
        "error": answer.error or answer.parse.error or (answer.h2.failed if answer.h2 else None),
        **({"http2": _got_h2(answer.h2)} if answer.h2 is not None else {}),
    }


def _got_h2(h2: H2Answer) -> dict[str, Any]:
    """An HTTP/2 answer, stream by stream, every header block as it came."""
    return {
        "settings": [int(enabled) for enabled in h2.settings],
        "alpn": h2.alpn,
        "streams": [
            {
                "id": stream.stream_id,
                "blocks": [[[as_text(n), as_text(v)] for n, v in block] for block in stream.blocks],
                "data": as_text(stream.data[:_BODY_EXCERPT]),
                "ended": stream.ended,
                "reset": stream.reset,
            }
            for stream in h2.streams
        ],
        "goaway": list(h2.goaway[:2]) if h2.goaway else None,
    }


@dataclass(frozen=True, slots=True)
class Stop:
    """Why a run ended before its last case."""

    why: str
    #: The exit status it gives: 1, not a WebSocket server; 2, the audit could not go on.
    code: int
    #: Stopped on the first case, before any other: said in one line, no table.
    at_gate: bool = False
    #: The cases that still run: they judge what stopped the run (a CONNECT sent
    #: to an HTTP/2 server that did not advertise extended CONNECT).
    then: tuple[str, ...] = ()
    #: Why the cases left did not run, as the table says it.
    left: str = "the run stopped"


@dataclass(frozen=True, slots=True)
class Report:
    server: str
    started: str
    timeout: float
    results: tuple[Result, ...]
    seed: int = 0
    jobs: int = 1
    slow_timeout: float = 0.0
    #: The run was cut short (Ctrl-C): ``results`` are the cases that finished.
    incomplete: bool = False
    stopped: Stop | None = None
    #: How many cases the run meant to judge.
    planned: int = 0
    #: The case that ended last (what a progress line shows).
    last: str = ""

    @property
    def note(self) -> str | None:
        """What a reader must know first; ``None`` for a run that went to its end."""
        if self.stopped is not None:
            return self.stopped.why
        if not self.incomplete:
            return None
        count = len(self.results)
        return f"interrupted: the report holds the {count} case{'s' * (count != 1)} that finished"

    def summary(self) -> dict[str, int]:
        """Counts by verdict (every case, run or not), and how many did not run
        (each an ``info``)."""
        counts = {verdict.value: 0 for verdict in Verdict}
        for result in self.results:
            counts[result.verdict.value] += 1
        counts["not_run"] = sum(not result.ran for result in self.results)
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "started": self.started,
            "timeout": self.timeout,
            "seed": self.seed,
            "jobs": self.jobs,
            "slow_timeout": self.slow_timeout,
            "incomplete": self.incomplete,
            "stopped": self.stopped.why if self.stopped else None,
            "cases": [result.as_dict() for result in self.results],
            "summary": self.summary(),
        }


def _failing(strict: bool) -> frozenset[Verdict]:
    """The verdicts that fail a run: a fail, and a warn too under ``strict``."""
    return frozenset({Verdict.FAIL, Verdict.WARN} if strict else {Verdict.FAIL})


def exit_code(report: Report, *, strict: bool = False) -> int:
    """The stop's status when the run stopped; else 0 when nothing fails, 1 when a
    case fails (or warns, under ``strict``)."""
    if report.stopped is not None:
        return report.stopped.code
    failing = _failing(strict)
    return 1 if any(result.verdict in failing for result in report.results) else 0


# -- running ------------------------------------------------------------------------------


def seeded(seed: int, case_id: str) -> Callable[[int], bytes]:
    """The random source of one case: the same seed and case, the same bytes,
    whatever the order or the concurrency the cases run in."""
    return random.Random(f"{seed}:{case_id}").randbytes


def connect_error(exc: OSError) -> str:
    """Why a connection (TCP, then TLS) could not be made, in a line."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS: the server's certificate is not trusted ({exc.verify_message}); --cafile FILE "
            "trusts the CA that signed it, --insecure skips the check"
        )
    if isinstance(exc, ssl.SSLError):
        if exc.reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE"):
            return "TLS: the server does not speak TLS on this port (a ws:// URL?)"
        return f"TLS: the handshake failed ({exc.reason or exc})"
    return f"connection failed: {cause(exc)}"


async def _connect(
    target: Target, tls: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if tls is None:
        return await asyncio.open_connection(target.host, target.port, limit=LIMIT)
    return await asyncio.open_connection(
        target.host, target.port, limit=LIMIT, ssl=tls, server_hostname=target.host
    )


async def reachable(target: Target, timeout: float) -> str | None:
    """``None`` when a TCP connection to the target opens, else why not."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(target.host, target.port)
    except TimeoutError:
        return f"no connection within {timeout:g} s"
    except OSError as exc:
        return f"connection failed: {cause(exc)}"
    writer.transport.abort()
    return None


async def speaks_tls(target: Target, timeout: float) -> bool:
    """Does a TLS handshake (any certificate) complete on the target's port?"""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(timeout):
            _, writer = await _connect(target, context)
    except (TimeoutError, OSError):
        return False
    writer.transport.abort()
    return True


def _enough(parse: Parse, case: Case) -> bool:
    """Has the answer come far enough to judge it?"""
    if parse.error:
        return True
    final = parse.final
    if final is None:
        return False
    if final.status == 101:
        rest = parse.rest
        if len(rest) < case.after_101:
            return False
        if case.frames:
            return any(frame.opcode in case.frames for frame in parse_frames(rest))
        return True
    return final.complete


async def _read_more(reader: asyncio.StreamReader, data: bytearray) -> Ended | None:
    """One read into ``data``: ``Ended.CLOSED`` at end of file, ``Ended.LIMIT`` when
    the limit is reached, else ``None``."""
    if len(data) >= LIMIT:
        return Ended.LIMIT
    chunk = await reader.read(LIMIT - len(data))
    if not chunk:
        return Ended.CLOSED
    data += chunk
    return Ended.LIMIT if len(data) >= LIMIT else None


def _unreached(error: str, ended: Ended = Ended.UNREACHABLE) -> tuple[Answer, bytes]:
    return Answer(b"", ended, None, Parse((), b""), error), b""


async def exchange(
    target: Target, case: Case, sent: Sent, timeout: float, tls: ssl.SSLContext | None = None
) -> tuple[Answer, bytes]:
    """One case on its own connection, within ``timeout`` seconds in all; the
    answer, and every byte written."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            reader, writer = await _connect(target, tls)
    except TimeoutError:
        return _unreached("no connection before the deadline", Ended.TIMEOUT)
    except OSError as exc:
        return _unreached(connect_error(exc))
    data = bytearray()
    written = sent.data
    ended: Ended | None = None
    first: float | None = None
    sent_at = loop.time()
    try:
        try:
            async with asyncio.timeout_at(deadline):
                writer.write(sent.data)
                await writer.drain()
                while ended is None:
                    parse = parse_responses(bytes(data), head_request=sent.head_request)
                    if case.then and len(written) == len(sent.data) and parse.switched:
                        writer.write(case.then)  # once, as soon as the 101 is there
                        await writer.drain()
                        written += case.then
                    if _enough(parse, case):
                        break
                    ended = await _read_more(reader, data)
                    if first is None and data:
                        first = loop.time() - sent_at
        except TimeoutError:
            ended = Ended.TIMEOUT
        parse = parse_responses(bytes(data), head_request=sent.head_request)
        settle = case.settle or (GRACE if parse.final and not parse.switched else 0.0)
        settle = min(settle, deadline - loop.time())
        if ended is None and settle > 0:
            try:
                async with asyncio.timeout(settle):
                    while ended is None:
                        ended = await _read_more(reader, data)
            except TimeoutError:
                pass
    except (ConnectionError, OSError):
        ended = Ended.RESET
    finally:
        writer.transport.abort()
    raw = bytes(data)
    parse = parse_responses(raw, head_request=sent.head_request)
    return Answer(raw, ended or Ended.OPEN, first, parse, lasted=loop.time() - sent_at), written


async def slow_exchange(
    target: Target, sent: Sent, timeout: float, slow_timeout: float, tls: ssl.SSLContext | None
) -> tuple[Answer, bytes]:
    """A request head that never ends: what it has, then a field line every
    ``SLOW_STEP`` seconds, until the server answers or closes, or ``slow_timeout``
    passes."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await _connect(target, tls)
    except TimeoutError:
        return _unreached("no connection before the deadline", Ended.TIMEOUT)
    except OSError as exc:
        return _unreached(connect_error(exc))
    data, written = bytearray(), bytearray(sent.data)
    ended: Ended | None = None
    first: float | None = None
    sent_at = loop.time()
    end = sent_at + slow_timeout
    lines = 0
    try:
        writer.write(sent.data)
        await writer.drain()
        while ended is None and (left := end - loop.time()) > 0:
            try:
                async with asyncio.timeout(min(SLOW_STEP, left)):
                    ended = await _read_more(reader, data)
            except TimeoutError:
                if loop.time() >= end:
                    break
                lines += 1
                line = b"X-Audit-Slow: %d\r\n" % lines
                writer.write(line)
                written += line
                await writer.drain()
                continue
            if first is None and data:
                first = loop.time() - sent_at
            final = parse_responses(bytes(data)).final
            if final is not None and final.complete:
                break
    except (ConnectionError, OSError):
        ended = Ended.RESET
    finally:
        writer.transport.abort()
    raw = bytes(data)
    answer = Answer(
        raw, ended or Ended.OPEN, first, parse_responses(raw), lasted=loop.time() - sent_at
    )
    return answer, bytes(written)


async def run_case(
    target: Target,
    ctx: Context,
    case: Case,
    timeout: float,
    *,
    seed: int = 0,
    tls: ssl.SSLContext | None = None,
    slow_timeout: float = 15.0,
) -> Result:
    if case.needs_subprotocol and ctx.subprotocol is None:
        return Result(case, b"", None, noted("not run: give --subprotocol NAME"), ran=False)
    ctx = replace(ctx, random=seeded(seed, case.id))
    sent = case.build(ctx)
    if case.slow:
        answer, written = await slow_exchange(target, sent, timeout, slow_timeout, tls)
    elif case.http2:
        from .audit_h2 import exchange_h2  # h2 is an optional dependency

        answer, written = await exchange_h2(target, case, sent, timeout, tls)
    else:
        answer, written = await exchange(target, case, sent, timeout, tls)
    judged = case.judge(case, ctx, sent, answer)
    return Result(case, written, answer.trimmed(_ANSWER_EXCERPT), judged)


def _reviewed(results: tuple[Result, ...]) -> tuple[Result, ...]:
    """The results with the verdicts that rest on other cases' answers too (``review``)."""
    changed = review([(result.case, result.judged) for result in results if result.ran])
    return tuple(
        replace(result, judged=changed[result.case.id]) if result.case.id in changed else result
        for result in results
    )


def _not_run(case: Case, why: str) -> Result:
    return Result(case, b"", None, noted(f"not run: {why}"), ran=False)


#: What to give when the plainest request's refusal names a field the user sets.
_HINTS = {
    "Sec-WebSocket-Protocol": " (a server that needs a subprotocol: give --subprotocol NAME)",
    "Origin": " (a server with an origin policy: give --origin URL)",
}


async def _gate(result: Result, target: Target, timeout: float) -> Stop | None:
    """Why the run stops after a gate case, if it does. The plainest valid request:
    no 101 to it (not a WebSocket server, exit 1), or no answer, or no connection
    (exit 2); an HTTP/2 gate says its own (``audit_h2.gate``)."""
    if result.case.http2:
        from .audit_h2 import gate

        return await gate(result, target, timeout)
    answer = result.answer
    assert answer is not None
    final = answer.final
    if final is not None and final.status == 101:
        return None
    if final is not None:
        field, why = blame(final)
        return Stop(
            f"not a WebSocket server at {target.url}: the plainest valid request got "
            f"{final.status_line}; {why}{_HINTS.get(field or '', '')}; no other case was judged",
            1,
            left="not a WebSocket server",
        )
    if answer.ended is Ended.TIMEOUT:
        return Stop(
            f"{target.url}: {said(answer)} to the plainest valid request ({timeout:g} s): stopped",
            2,
            at_gate=True,
        )
    if answer.ended is Ended.UNREACHABLE:
        return Stop(f"{target.url}: {answer.error}", 2, at_gate=True)
    if not target.secure and await speaks_tls(target, timeout):
        secure = replace(target, secure=True)
        return Stop(
            f"{target.url}: the server speaks TLS on this port: audit {secure.url}", 2, at_gate=True
        )
    return Stop(
        f"not a WebSocket server at {target.url}: the plainest valid request got "
        f"{said(answer)}; no other case was judged",
        1,
        left="not a WebSocket server",
    )


async def audit(
    target: Target,
    *,
    timeout: float = 5.0,
    subprotocol: str | None = None,
    origin: str | None = None,
    groups: Iterable[str] | None = None,
    cases: Sequence[Case] = CASES,
    progress: Callable[[Report], None] | None = None,
    seed: int = 0,
    jobs: int = 4,
    slow_timeout: float = 15.0,
    tls: ssl.SSLContext | None = None,
    gate: bool = True,
    from_proxy: bool = False,
) -> Report:
    """Every case (of ``groups``, when given): the plainest valid request first,
    then the others ``jobs`` at a time, the slow one last. ``progress``, when
    given, gets the report so far (``incomplete``) as each case ends: what the
    caller still holds when the run is cut short. ``tls``: the context of a
    wss:// target (the system's trust store when not given; for HTTP/2 cases
    its ALPN is set to ``h2``). Without ``gate`` the gate cases (the plainest
    request) are cases like the others, and stop nothing (a test of the judges
    against a server that answers every request alike).
    ``from_proxy``: the audit runs from an address the server trusts as its proxy."""
    if target.secure and tls is None:
        tls = ssl.create_default_context()
    if tls is not None and any(case.http2 for case in cases):
        tls.set_alpn_protocols(["h2"])  # RFC 9113 §3.2
    chosen = set(groups) if groups is not None else None
    planned = [case for case in cases if chosen is None or case.group in chosen]
    scheme = "https" if target.secure else "http"
    ctx = Context(
        target.authority,
        target.path,
        origin or f"{scheme}://{target.authority}",
        subprotocol,
        scheme=scheme,
        from_proxy=from_proxy,
    )
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    results: dict[str, Result] = {}

    last = ""

    def report(stopped: Stop | None = None, *, incomplete: bool = False) -> Report:
        return Report(
            target.url,
            started,
            timeout,
            _reviewed(tuple(results[case.id] for case in cases if case.id in results)),
            seed,
            jobs,
            slow_timeout,
            incomplete,
            stopped,
            len(planned),
            last,
        )

    def tell() -> None:
        if progress is not None:
            progress(report(incomplete=True))

    async def run(case: Case) -> Result:
        return await run_case(
            target, ctx, case, timeout, seed=seed, tls=tls, slow_timeout=slow_timeout
        )

    stop: Stop | None = None
    gates = [case for case in cases if case.gate and gate]
    for first_case in gates:
        first = await run(first_case)
        stop = await _gate(first, target, timeout)
        if first_case in planned or stop is not None:
            results[first_case.id] = first
        last = first_case.id
        tell()
        if stop is not None:
            break
    for case in cases:
        if stop is not None and case.id in stop.then and case.id not in results:
            results[case.id] = await run(case)
            last = case.id
            tell()
    queue = deque(case for case in planned if case not in gates and not case.slow)

    answered = last  # the last case whose connection brought any byte back
    silent: list[str] = []  # the cases since then whose connection ended without a byte

    def went_away(case: Case, why: str) -> Stop:
        """The server is gone: the cases that ended without a byte since the last one
        answered ended with it (one of them, likely, is what it could not take)."""
        for case_id in silent:
            results[case_id] = _not_run(results[case_id].case, "the server went away during it")
        during = f"{', '.join(silent)} ended without a byte, and " if silent else ""
        return Stop(
            f"the server went away after case {answered}: {during}case {case.id} found no "
            f"server ({why})",
            2,
        )

    async def worker() -> None:
        nonlocal stop, last, answered
        while queue and stop is None:
            case = queue.popleft()
            result = await run(case)
            if result.answer is not None and result.answer.ended is Ended.UNREACHABLE:
                if stop is None and (gone := await reachable(target, timeout)) is not None:
                    stop = went_away(case, gone)
                if stop is not None:
                    return
                result = await run(case)  # it took connections again: once more
            results[case.id] = result
            last = case.id
            if result.answer is not None and result.answer.read:
                answered, silent[:] = case.id, []
            elif result.answer is not None:
                silent.append(case.id)
            tell()

    await asyncio.gather(*(worker() for _ in range(max(1, jobs))))
    for case in planned:
        if case.slow and stop is None:
            results[case.id] = await run(case)
            last = case.id
            tell()
    for case in planned:
        if case.id not in results:
            results[case.id] = _not_run(case, stop.left if stop else "the run stopped")
    return report(stop)


# -- reports --------------------------------------------------------------------------------

_COLOURS = {
    Verdict.PASS: "\033[32m",
    Verdict.FAIL: "\033[31;1m",
    Verdict.WARN: "\033[33m",
    Verdict.INFO: "\033[36m",
}


def _by_group(results: Iterable[Result]) -> dict[str, list[Result]]:
    """The results by group, groups in the order they first come."""
    groups: dict[str, list[Result]] = {}
    for result in results:
        groups.setdefault(result.case.group, []).append(result)
    return groups


#: The terminal table's width, which the rule under a row wraps to.
_WIDTH = 100


def _counts(report: Report) -> str:
    counts = report.summary()
    not_run = counts.pop("not_run")
    text = f"{len(report.results)} cases: " + ", ".join(f"{n} {name}" for name, n in counts.items())
    return text + (f" ({not_run} not run)" if not_run else "")


def table(report: Report, *, colour: bool = False) -> str:
    """The terminal report: what stopped the run first, if anything; then one block
    per group, one line per case that ran, the rule under each that did not pass;
    the cases that did not run, by why; the counts."""
    ran = [result for result in report.results if result.ran]
    width = max((len(result.case.id) for result in ran), default=0)
    indent = " " * (2 + 4 + 2 + width + 2 + 6 + 2)
    lines = [f"audit of {report.server} ({report.started}, seed {report.seed})"]
    if report.note:
        lines.append(_escaped(report.note))
    for group, results in _by_group(ran).items():
        lines.append("")
        lines.append(group)
        for result in results:
            verdict = f"{result.verdict.value:<4}"
            if colour:
                verdict = f"{_COLOURS[result.verdict]}{verdict}\033[0m"
            level = f"{result.level.value if result.level else '-':<6}"
            finding = _escaped(result.finding)  # a server's words: no terminal control
            lines.append(f"  {verdict}  {result.case.id:<{width}}  {level}  {finding}")
            if result.verdict is not Verdict.PASS:
                lines += textwrap.wrap(
                    result.rule,
                    max(len(indent) + 40, _WIDTH),
                    initial_indent=indent,
                    subsequent_indent=indent,
                )
    skipped: dict[str, list[str]] = {}
    for result in report.results:
        if not result.ran:
            skipped.setdefault(result.finding.removeprefix("not run: "), []).append(result.case.id)
    if skipped:
        lines.append("")
    for why, ids in skipped.items():
        named = ", ".join(ids) if len(ids) <= 4 else f"{', '.join(ids[:3])} and {len(ids) - 3} more"
        lines.append(f"not run ({why}): {named}")
    lines += ["", _counts(report)]
    return "\n".join(lines)


def as_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=1)


_control_re = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escaped(text: str) -> str:
    """One line of text with every control character shown as ``\\xNN``."""
    return _any_control_re.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


_any_control_re = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(text: str) -> str:
    """Text as a reader should see it: line ends kept, control characters escaped."""
    text = text.replace("\r\n", "\n")
    return _control_re.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: .2em; }
.summary span { display: inline-block; padding: .3em .8em; margin-right: .5em;
                border-radius: 4px; }
table { border-collapse: collapse; width: 100%; margin-top: 1.5em; }
th, td { text-align: left; vertical-align: top; padding: .35em .5em;
         border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; }
tr.group td { background: #eef2f7; font-weight: bold; }
.v { font-weight: bold; text-transform: uppercase; font-size: .85em; }
.pass { background: #e3f4e1; color: #1c5e20; }
.fail { background: #fbe0de; color: #8e1c12; }
.warn { background: #fff2cc; color: #7a5500; }
.info { background: #e2eff9; color: #1b4f72; }
code, pre { font: 12px/1.35 ui-monospace, monospace; }
pre { background: #f7f7f7; padding: .5em; white-space: pre-wrap; word-break: break-all;
      max-height: 24em; overflow: auto; }
details summary { cursor: pointer; color: #555; }
.rule { color: #555; font-size: .9em; }
td.wire { width: 30%; }
.incomplete { font-weight: bold; color: #7a5500; }
"""


def as_html(report: Report) -> str:
    """One self-contained page: inline CSS, no script, no external resource."""
    counts = report.summary()
    esc = html.escape
    summary = "".join(
        f'<span class="{name}" id="count-{name}" data-count="{n}">{n} {name.replace("_", " ")}'
        "</span>"
        for name, n in counts.items()
    )
    note = f'<p class="incomplete">{esc(report.note)}</p>' if report.note else ""
    rows: list[str] = []
    for group, results in _by_group(report.results).items():
        rows.append(f'<tr class="group"><td colspan="5">{esc(group)}</td></tr>')
        for result in results:
            case, verdict = result.case, result.verdict.value
            answer = as_text(result.answer.raw) if result.answer else ""
            got = _got(result.answer)
            ended = f"connection {got['ended']}" if got else "not run"
            level = result.level.value if result.level else "-"
            rows.append(
                f'<tr id="case-{esc(case.id)}" data-verdict="{verdict}">'
                f'<td class="v {verdict}">{verdict if result.ran else "not run"}</td>'
                f"<td><code>{esc(case.id)}</code><br>{esc(case.title)}</td>"
                f"<td>{level}</td>"
                f"<td>{esc(result.finding)}"
                f'<div class="rule">{esc(result.rule)}</div>'
                f'<div class="rule">allowed: {esc("; ".join(case.allowed))}</div></td>'
                f'<td class="wire"><details><summary>request and answer ({esc(ended)})</summary>'
                f"<pre>{esc(_shown(as_text(result.request)))}</pre>"
                f"<pre>{esc(_shown(answer)) or '(nothing)'}</pre></details></td></tr>"
            )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>wsnegotiate audit: {esc(report.server)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>WebSocket handshake audit: {esc(report.server)}</h1>"
        f"<p>{len(report.results)} cases, started {esc(report.started)}, "
        f"{report.timeout:g} s per case, seed {report.seed}.</p>"
        f'<div class="summary">{summary}</div>{note}'
        "<table><thead><tr><th>verdict</th><th>case</th><th>level</th>"
        "<th>finding and rule</th><th>wire</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>\n"
    )


_xml_forbidden = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _xml_forbidden.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def as_junit(report: Report, *, strict: bool = False) -> str:
    """JUnit XML: one testcase per case; a fail (and a warn under ``strict``) is
    a <failure>, a warn otherwise a property and system-out, a case not run
    <skipped>."""
    failing = _failing(strict)
    failures = sum(result.verdict in failing for result in report.results)
    skipped = sum(not result.ran for result in report.results)
    suites = ElementTree.Element("testsuites", name="wsnegotiate audit")
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name=_xml(f"wsnegotiate audit {report.server}"),
        tests=str(len(report.results)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        timestamp=report.started,
    )
    if report.note:
        properties = ElementTree.SubElement(suite, "properties")
        ElementTree.SubElement(properties, "property", name="incomplete", value="true")
    for result in report.results:
        seconds = result.answer.seconds if result.answer and result.answer.seconds else 0.0
        testcase = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"audit.{result.case.group}",
            name=result.case.id,
            time=f"{seconds:.4f}",
        )
        level = result.level.value if result.level else "-"
        properties = ElementTree.SubElement(testcase, "properties")
        for name, value in (("verdict", result.verdict.value), ("level", level)):
            ElementTree.SubElement(properties, "property", name=name, value=value)
        text = f"{result.verdict.value}: {result.finding}\n{result.rule}"
        if not result.ran:
            ElementTree.SubElement(testcase, "skipped", message=_xml(result.finding))
        elif result.verdict in failing:
            failure = ElementTree.SubElement(
                testcase, "failure", message=_xml(result.finding), type=level
            )
            failure.text = _xml(text)
        else:
            ElementTree.SubElement(testcase, "system-out").text = _xml(text)
    if report.note:
        ElementTree.SubElement(suite, "system-out").text = report.note
    ElementTree.indent(suites)
    text = ElementTree.tostring(suites, "unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{text}\n'
