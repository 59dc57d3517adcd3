"""``wsnegotiate audit``: the handshake conformance suite, run against a live server.

Each case of ``audit_cases.CASES`` goes on a fresh TCP connection to the target
alone, one at a time, within its own deadline; at most 64 KiB of any answer is
read. A server that never answers, closes early, resets or sends garbage is a
result, never an error. Reports: a terminal table by group, JSON, a
self-contained HTML page and JUnit XML.

JSON schema (stable; README, "Audit a server"): ``server``, ``started``,
``timeout``, ``incomplete``, ``cases`` (each ``id``, ``group``, ``title``,
``rule``, ``level``, ``allowed``, ``request``, ``got``, ``answer``, ``verdict``,
``finding``), and ``summary`` (counts by verdict).
"""

from __future__ import annotations

import asyncio
import datetime
import html
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .audit_answer import Answer, Ended, Parse, as_text, parse_frame, parse_responses, shown
from .audit_cases import CASES, Case, Context, Sent, Verdict
from .probe import Target, cause

__all__ = ["LIMIT", "Report", "Result", "audit", "exit_code", "reachable"]

#: At most this much is read of any answer.
LIMIT = 64 * 1024
#: After a complete refusal, how long to wait to see whether the server closes.
GRACE = 0.05
_BODY_EXCERPT = 512
#: What a report keeps of each answer (and of each response's head and body).
_ANSWER_EXCERPT = 8 * 1024


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    request: bytes
    answer: Answer | None  # None: the case did not run
    verdict: Verdict
    finding: str

    def as_dict(self) -> dict[str, Any]:
        case = self.case
        return {
            "id": case.id,
            "group": case.group,
            "title": case.title,
            "rule": case.rule,
            "level": case.level.value,
            "allowed": list(case.allowed),
            "request": as_text(self.request),
            "got": _got(self.answer),
            "answer": as_text(self.answer.raw) if self.answer else "",
            "verdict": self.verdict.value,
            "finding": self.finding,
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
        "error": answer.error or answer.parse.error,
    }


@dataclass(frozen=True, slots=True)
class Report:
    server: str
    started: str
    timeout: float
    results: tuple[Result, ...]
    #: The run was cut short (Ctrl-C): ``results`` are the cases that finished.
    incomplete: bool = False

    @property
    def note(self) -> str | None:
        """What a reader of an incomplete report must know first; ``None`` when complete."""
        if not self.incomplete:
            return None
        count = len(self.results)
        return f"interrupted: the report holds the {count} case{'s' * (count != 1)} that finished"

    def summary(self) -> dict[str, int]:
        counts = {verdict.value: 0 for verdict in Verdict}
        for result in self.results:
            counts[result.verdict.value] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "started": self.started,
            "timeout": self.timeout,
            "incomplete": self.incomplete,
            "cases": [result.as_dict() for result in self.results],
            "summary": self.summary(),
        }


def _failing(strict: bool) -> frozenset[Verdict]:
    """The verdicts that fail a run: a fail, and a warn too under ``strict``."""
    return frozenset({Verdict.FAIL, Verdict.WARN} if strict else {Verdict.FAIL})


def exit_code(report: Report, *, strict: bool = False) -> int:
    """0 when nothing fails; 1 when a case fails (or warns, under ``strict``)."""
    failing = _failing(strict)
    return 1 if any(result.verdict in failing for result in report.results) else 0


# -- running ------------------------------------------------------------------------------


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


def _enough(data: bytes, case: Case, sent: Sent) -> bool:
    """Has the answer come far enough to judge it?"""
    parse = parse_responses(data, head_request=sent.head_request)
    if parse.error:
        return True
    final = parse.final
    if final is None:
        return False
    if final.status == 101:
        if case.frame:
            return parse_frame(parse.rest) is not None
        return len(parse.rest) >= case.after_101
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


async def exchange(target: Target, case: Case, sent: Sent, timeout: float) -> Answer:
    """One case on its own connection, within ``timeout`` seconds in all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            reader, writer = await asyncio.open_connection(target.host, target.port, limit=LIMIT)
    except TimeoutError:
        return Answer(b"", Ended.TIMEOUT, None, Parse((), b""), "no connection before the deadline")
    except OSError as exc:
        error = f"connection failed: {cause(exc)}"
        return Answer(b"", Ended.UNREACHABLE, None, Parse((), b""), error)
    data = bytearray()
    ended: Ended | None = None
    first: float | None = None
    sent_at = loop.time()
    try:
        try:
            async with asyncio.timeout_at(deadline):
                writer.write(sent.data)
                await writer.drain()
                while ended is None and not _enough(bytes(data), case, sent):
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
    return Answer(raw, ended or Ended.OPEN, first, parse)


async def run_case(target: Target, ctx: Context, case: Case, timeout: float) -> Result:
    if case.needs_subprotocol and ctx.subprotocol is None:
        return Result(case, b"", None, Verdict.INFO, "not run: give --subprotocol NAME")
    sent = case.build(ctx)
    answer = await exchange(target, case, sent, timeout)
    verdict, finding = case.judge(ctx, sent, answer)
    return Result(case, sent.data, answer.trimmed(_ANSWER_EXCERPT), verdict, finding)


async def audit(
    target: Target,
    *,
    timeout: float = 5.0,
    subprotocol: str | None = None,
    origin: str | None = None,
    groups: Iterable[str] | None = None,
    cases: Sequence[Case] = CASES,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Every case (of ``groups``, when given), one after the other. ``progress``,
    when given, gets the report so far (``incomplete``) before each case: what the
    caller still holds when the run is cut short."""
    chosen = set(groups) if groups is not None else None
    authority = f"{target.host}:{target.port}"
    ctx = Context(authority, target.path, origin or f"http://{authority}", subprotocol)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    server = f"ws://{authority}{target.path}"
    results: list[Result] = []
    for case in cases:
        if chosen is None or case.group in chosen:
            if progress is not None:
                progress(Report(server, started, timeout, tuple(results), incomplete=True))
            results.append(await run_case(target, ctx, case, timeout))
    return Report(server, started, timeout, tuple(results))


# -- reports --------------------------------------------------------------------------------

_COLOURS = {
    Verdict.PASS: "\033[32m",
    Verdict.FAIL: "\033[31;1m",
    Verdict.WARN: "\033[33m",
    Verdict.INFO: "\033[36m",
}


def _by_group(report: Report) -> dict[str, list[Result]]:
    """The results by group, groups in the order they first come."""
    groups: dict[str, list[Result]] = {}
    for result in report.results:
        groups.setdefault(result.case.group, []).append(result)
    return groups


def table(report: Report, *, colour: bool = False) -> str:
    """The terminal report: one block per group, one line per case."""
    width = max((len(result.case.id) for result in report.results), default=0)
    lines = [f"audit of {report.server} ({report.started})"]
    for group, results in _by_group(report).items():
        lines.append("")
        lines.append(group)
        for result in results:
            verdict = f"{result.verdict.value:<4}"
            if colour:
                verdict = f"{_COLOURS[result.verdict]}{verdict}\033[0m"
            level = f"{result.case.level.value:<6}"
            lines.append(f"  {verdict}  {result.case.id:<{width}}  {level}  {result.finding}")
    counts = report.summary()
    total = len(report.results)
    lines += ["", f"{total} cases: " + ", ".join(f"{n} {name}" for name, n in counts.items())]
    if report.note:
        lines.append(report.note)
    return "\n".join(lines)


def as_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=1)


_control_re = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


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
        f'<span class="{name}" id="count-{name}" data-count="{n}">{n} {name}</span>'
        for name, n in counts.items()
    )
    note = f'<p class="incomplete">{esc(report.note)}</p>' if report.note else ""
    rows: list[str] = []
    for group, results in _by_group(report).items():
        rows.append(f'<tr class="group"><td colspan="5">{esc(group)}</td></tr>')
        for result in results:
            case, verdict = result.case, result.verdict.value
            answer = as_text(result.answer.raw) if result.answer else ""
            got = _got(result.answer)
            ended = f"connection {got['ended']}" if got else "not run"
            rows.append(
                f'<tr id="case-{esc(case.id)}" data-verdict="{verdict}">'
                f'<td class="v {verdict}">{verdict}</td>'
                f"<td><code>{esc(case.id)}</code><br>{esc(case.title)}</td>"
                f"<td>{case.level.value}</td>"
                f"<td>{esc(result.finding)}"
                f'<div class="rule">{esc(case.rule)}</div>'
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
        f"{report.timeout:g} s per case.</p>"
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
    a <failure>, a warn otherwise a property and system-out."""
    failing = _failing(strict)
    failures = sum(result.verdict in failing for result in report.results)
    suites = ElementTree.Element("testsuites", name="wsnegotiate audit")
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name=_xml(f"wsnegotiate audit {report.server}"),
        tests=str(len(report.results)),
        failures=str(failures),
        errors="0",
        skipped="0",
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
        properties = ElementTree.SubElement(testcase, "properties")
        for name, value in (("verdict", result.verdict.value), ("level", result.case.level.value)):
            ElementTree.SubElement(properties, "property", name=name, value=value)
        text = f"{result.verdict.value}: {result.finding}\n{result.case.rule}"
        if result.verdict in failing:
            failure = ElementTree.SubElement(
                testcase, "failure", message=_xml(result.finding), type=result.case.level.value
            )
            failure.text = _xml(text)
        else:
            ElementTree.SubElement(testcase, "system-out").text = _xml(text)
    if report.note:
        ElementTree.SubElement(suite, "system-out").text = report.note
    ElementTree.indent(suites)
    text = ElementTree.tostring(suites, "unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{text}\n'
