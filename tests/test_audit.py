"""`audit` offline: the answer reader, the judges against fake servers in this
process (conformant, broken, hostile), the reports and the exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import tracemalloc
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path

import pytest
from factory import QuietHandler, http_server

import wsnegotiate as ws
import wsnegotiate.aio
from wsnegotiate._answers import accept_token
from wsnegotiate.cli import main
from wsnegotiate.cli.audit import Report, as_html, as_json, as_junit, audit, table
from wsnegotiate.cli.audit_answer import Ended, parse_frame, parse_responses
from wsnegotiate.cli.audit_cases import CASES, GROUPS, Verdict
from wsnegotiate.cli.probe import Target
from wsnegotiate.cli.serve import echo_server

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# -- the answer reader ------------------------------------------------------------------------


def test_a_refusal_with_a_length_then_a_second_response() -> None:
    data = (
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad"
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00"
    )
    parse = parse_responses(data)
    assert [r.status for r in parse.responses] == [400, 101]
    assert parse.responses[0].body == b"bad" and parse.responses[0].complete
    assert parse.final is parse.responses[0] and not parse.switched
    assert parse.rest == b"\x81\x00"


def test_chunked_interim_and_head_answers() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"
    )
    parse = parse_responses(chunked)
    assert parse.final is not None and parse.final.body == b"abcde" and parse.final.complete
    partial = parse_responses(chunked[:-9])
    assert partial.final is not None and not partial.final.complete
    interim = parse_responses(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\nbody")
    assert [r.status for r in interim.responses] == [100, 404]
    assert interim.final is not None and interim.final.body == b"body"
    assert not interim.final.complete  # no length: the body ends with the connection
    head = parse_responses(b"HTTP/1.1 405 No\r\nContent-Length: 10\r\n\r\n", head_request=True)
    assert head.final is not None and head.final.complete and head.final.body == b""


def test_faults_of_syntax_are_recorded_not_fatal() -> None:
    data = (
        b"HTTP/1.1 101 OK\nUpgrade : websocket\r\nX-Folded: a\r\n b\r\nno colon\r\nb@d: 1\r\n\r\n"
    )
    parse = parse_responses(data)
    response = parse.final
    assert response is not None and response.status == 101
    assert response.values("x-folded") == ["a b"]
    assert response.tokens("Upgrade") == ["websocket"]
    assert len(response.faults) == 5
    assert "bare LF" in response.faults[0] and "obs-fold" in response.faults[2]


def test_bytes_that_are_not_http() -> None:
    assert (
        parse_responses(b"\x16\x03\x01garbage").error
        == "not an HTTP response: b'\\x16\\x03\\x01ga'..."
    )
    assert parse_responses(b"HTT").error is None  # could still become one
    assert parse_responses(b"HTTP/1.1 abc\r\n\r\n").error is not None


def test_frames() -> None:
    frame = parse_frame(b"\x8a\x05audit")
    assert frame is not None and (frame.opcode, frame.payload, frame.masked) == (
        0xA,
        b"audit",
        False,
    )
    long = parse_frame(b"\x82\x7e\x00\x80" + bytes(128))
    assert long is not None and len(long.payload) == 128 and long.size == 132
    masked = parse_frame(b"\x81\x82\x01\x02\x03\x04" + bytes([ord("h") ^ 1, ord("i") ^ 2]))
    assert masked is not None and masked.payload == b"hi"
    assert parse_frame(b"\x8a") is None and parse_frame(b"\x82\x7e\x00") is None
    assert parse_frame(b"\x82\x05abc") is None


# -- servers in this process ------------------------------------------------------------------


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[Target]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the audit went away, or the test is over
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    try:
        yield Target("127.0.0.1", server.sockets[0].getsockname()[1], "/")
    finally:
        server.close()
        await server.wait_closed()


def audit_with(handler: Handler, timeout: float = 2.0, groups: list[str] | None = None) -> Report:
    async def run() -> Report:
        async with raw_server(handler) as target:
            return await audit(target, timeout=timeout, groups=groups)

    return asyncio.run(run())


def answering(response: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(response)
        await writer.drain()

    return handler


async def _head(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        chunk = await reader.read(4096)
        if not chunk:
            break
        data += chunk
    return data


def verdicts(report: Report) -> dict[str, Verdict]:
    return {result.case.id: result.verdict for result in report.results}


def findings(report: Report) -> dict[str, str]:
    return {result.case.id: result.finding for result in report.results}


def test_our_own_server_in_this_process_fails_nothing() -> None:
    async def run() -> Report:
        stop = asyncio.Event()
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        policy = ws.Policy(subprotocols=["chat"])
        server = asyncio.create_task(
            echo_server("127.0.0.1", 0, policy, ready=lambda h, p: ready.set_result(p), stop=stop)
        )
        port = await ready
        try:
            return await audit(Target("127.0.0.1", port, "/"), timeout=2, subprotocol="chat")
        finally:
            stop.set()
            await server

    report = asyncio.run(run())
    # our reasons' § is shown as § (the body is UTF-8), never as Â§
    page, data = as_html(report), as_json(report)  # JSON escapes non-ASCII: § is \u00a7
    cases = {case["id"]: case for case in json.loads(data)["cases"]}
    assert cases["http-post"]["got"]["body"].endswith("(RFC 6455 §4.1)\n")
    assert "§4.1" in page and "Â" not in page
    assert "\\u00a74.1" in data and "\\u00c2" not in data
    got = verdicts(report)
    assert len(got) == len(CASES)
    assert [i for i, v in got.items() if v is Verdict.FAIL] == []
    assert [i for i, v in got.items() if v is Verdict.WARN] == []
    assert sorted(i for i, v in got.items() if v is Verdict.INFO) == [
        "http-body",
        "origin-foreign",
        "origin-null",
    ]
    assert findings(report)["subprotocol-second"] == "selected 'chat'"
    assert findings(report)["pipeline-ping"] == "101, then the Pong"
    assert findings(report)["pipeline-http-after-101"] == "101, then Close 1002"


def switching(headers: bytes, after: bytes = b"") -> Handler:
    """A server that answers every request with a 101 carrying ``headers`` (and
    the right accept value unless ``headers`` brings its own)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _head(reader)
        lines = head.split(b"\r\n")
        keys = [
            line[18:].strip() for line in lines if line.lower().startswith(b"sec-websocket-key:")
        ]
        token = accept_token(keys[0] if keys else b"").encode()
        accept = b"" if b"Accept" in headers else b"Sec-WebSocket-Accept: " + token + b"\r\n"
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\n" + headers + accept + b"\r\n" + after)
        await writer.drain()
        await reader.read(65536)

    return handler


def test_a_server_that_switches_for_anything() -> None:
    report = audit_with(
        switching(
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n"
            b"Sec-WebSocket-Protocol: wsnegotiate-audit-unknown\r\n"
            b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n"
        ),
        timeout=0.5,
    )
    got, said = verdicts(report), findings(report)
    for case in (
        "version-14",
        "version-013",
        "key-missing",
        "http-1.0",
        "upgrade-missing",
        "http-no-host",
    ):
        assert got[case] is Verdict.FAIL, case
    assert said["http-no-host"] == "switched (101) where it must not"
    assert said["version-013"] == "accepted version '013' (101)"
    assert got["version-8"] is Verdict.FAIL  # a subprotocol that was never offered
    assert said["101-no-content-length"] == "the 101 carries Content-Length: 0"
    assert said["101-no-subprotocol"].startswith("the 101 carries Sec-WebSocket-Protocol")
    assert "was not offered" in said["101-valid"]
    assert got["subprotocol-unknown"] is Verdict.FAIL
    assert said["deflate-unknown-param"].startswith("accepted permessage-deflate")
    assert got["101-accept"] is Verdict.PASS


def test_a_101_that_breaks_the_rules_of_its_own() -> None:
    report = audit_with(
        switching(b"Upgrade: h2c\r\nConnection : keep-alive\r\nSec-WebSocket-Accept: bogus\r\n"),
        timeout=0.5,
        groups=["101"],
    )
    said = findings(report)
    assert (
        said["101-accept"]
        == f"Sec-WebSocket-Accept 'bogus' is not {said['101-accept'].split(' is not ')[1]}"
    )
    assert said["101-upgrade"] == "Upgrade: h2c has no 'websocket'"
    assert said["101-connection"] == "Connection: keep-alive has no 'upgrade'"
    assert said["101-syntax"] == "whitespace before the colon in b'Connection' (RFC 9112 §5.1)"
    assert set(verdicts(report).values()) == {Verdict.FAIL, Verdict.PASS}


def test_refusals_that_hinder_clients() -> None:
    report = audit_with(
        answering(b"HTTP/1.0 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n"), timeout=0.5
    )
    said, got = findings(report), verdicts(report)
    assert said["version-14"] == (
        "HTTP/1.0 426 Upgrade Required; refused without Sec-WebSocket-Version; "
        "426 without Upgrade (RFC 9110 §15.5.22: MUST); answered HTTP/1.0 to HTTP/1.1"
    )
    assert got["version-14"] is Verdict.FAIL
    assert got["version-hixie-76"] is Verdict.FAIL  # 426 without Upgrade: a MUST
    assert got["key-missing"] is Verdict.FAIL
    assert said["http-no-host"] == "HTTP/1.0 426 Upgrade Required, where the rule asks for 400"
    assert got["101-valid"] is Verdict.FAIL and got["101-accept"] is Verdict.INFO
    assert got["upgrade-list"] is Verdict.WARN  # a SHOULD
    plain = audit_with(answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
    got = verdicts(plain)
    assert got["version-hixie-76"] is Verdict.WARN  # no list, but no version was asked for
    assert got["key-missing"] is Verdict.PASS  # a 400 is the answer to a missing key


def test_a_refusal_that_lists_what_it_refused() -> None:
    report = audit_with(
        answering(
            b"HTTP/1.1 400 No\r\nSec-WebSocket-Version: 13, 8, x\r\nContent-Length: 0\r\n\r\n"
        ),
        timeout=0.5,
        groups=["versions"],
    )
    said = findings(report)
    assert said["version-8"] == (
        "HTTP/1.1 400 No; lists 13, 8; Sec-WebSocket-Version lists garbage: x; "
        "refused 8, yet lists it as supported"
    )
    assert verdicts(report)["version-8"] is Verdict.WARN


def test_answers_to_pipelined_bytes() -> None:
    pong_first = audit_with(
        switching(b"Upgrade: websocket\r\nConnection: Upgrade\r\n"), 0.3, ["pipelining"]
    )
    said = findings(pong_first)
    assert said["pipeline-ping"] == "no Pong after the 101 (the deadline passed)"
    assert said["pipeline-http-after-101"] == "101, no HTTP answer (open)"

    async def frame_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"\x8a\x05audit")
        await writer.drain()

    report = audit_with(frame_first, 0.3, ["pipelining"])
    assert findings(report)["pipeline-ping"] == "a frame (opcode 0xa) came before any HTTP answer"

    two = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 2
    report = audit_with(answering(two), 0.5, ["pipelining"])
    got, said = verdicts(report), findings(report)
    assert said["pipeline-after-bad-length"] == (
        "HTTP/1.1 400 Bad Request, then HTTP/1.1 400 Bad Request to the request pipelined behind it"
    )
    assert got["pipeline-after-bad-length"] is Verdict.FAIL
    assert got["pipeline-after-refused"] is Verdict.WARN
    assert said["pipeline-ping"] == "not applicable: HTTP/1.1 400 Bad Request"


# -- hostile servers: deadlines, bounded reads ------------------------------------------------


def test_a_server_that_never_answers() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    report = audit_with(silent, timeout=0.1, groups=["keys", "101"])
    assert len(report.results) == 16
    for result in report.results:
        assert result.answer is not None and result.answer.ended is Ended.TIMEOUT
    assert findings(report)["key-missing"] == "no answer before the deadline"
    assert verdicts(report)["101-valid"] is Verdict.FAIL


def test_ten_megabytes_of_headers_read_as_64_kib() -> None:
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n")
        for _ in range(10 * 1024):  # 10 MB, never more than the transport's buffer at once
            writer.write(line)
            await writer.drain()

    tracemalloc.start()
    try:
        report = audit_with(flood, timeout=2, groups=["keys", "http"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(report.results) == 19
    for result in report.results:
        assert result.answer is not None and result.answer.ended is Ended.LIMIT
        assert result.answer.read == 64 * 1024
        assert len(result.answer.raw) == 8 * 1024  # what the report keeps of it
    assert verdicts(report)["key-missing"] is Verdict.FAIL
    assert peak < 4 * 1024 * 1024, peak


def test_random_bytes_and_a_reset() -> None:
    async def noise(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"\x00\xff" + os.urandom(1024))
        await writer.drain()
        await reader.read()  # until the audit closes: no reset for bytes left unread

    report = audit_with(noise, timeout=1, groups=["versions"])
    assert set(verdicts(report).values()) == {Verdict.FAIL}
    assert all(f.startswith("not an HTTP response") for f in findings(report).values()), findings(
        report
    )

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.transport.abort()

    report = audit_with(reset, timeout=1, groups=["keys"])
    for result in report.results:
        assert result.answer is not None and result.answer.ended in (Ended.RESET, Ended.CLOSED)
        assert result.verdict is Verdict.FAIL


class _Plain(QuietHandler):
    def do_GET(self) -> None:
        body = b"<h1>hello</h1>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def plain_http() -> AbstractContextManager[int]:
    return http_server(_Plain)


def test_a_plain_http_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with plain_http() as port:
        code = main(
            [
                "audit",
                f"ws://127.0.0.1:{port}/",
                "--timeout",
                "1",
                "--json",
                str(tmp_path / "a.json"),
            ]
        )
    capsys.readouterr()
    assert code == 1
    report = json.loads((tmp_path / "a.json").read_text())
    assert len(report["cases"]) == len(CASES)
    cases = {case["id"]: case for case in report["cases"]}
    assert cases["101-valid"]["verdict"] == "fail"
    assert cases["101-valid"]["finding"] == "a valid request refused: HTTP/1.0 200 OK"
    assert cases["http-1.0"]["verdict"] == "pass"  # any answer but a 101
    assert cases["version-14"]["got"]["status"] == 200
    assert cases["version-14"]["got"]["body"] == "<h1>hello</h1>"


# -- the command: reports and exit codes ------------------------------------------------------


def test_the_reports_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reason = b"<script>alert(1)</script>"
    answer = b"HTTP/1.1 426 " + reason + b"\r\nContent-Length: 0\r\n\r\n"

    async def run() -> tuple[int, int]:
        async with raw_server(answering(answer)) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            files = ["--json", str(tmp_path / "a.json"), "--html", str(tmp_path / "a.html")]
            files += ["--junit", str(tmp_path / "a.xml")]
            loose = await asyncio.to_thread(
                main, ["audit", url, "--only", "upgrade", "--timeout", "1", *files]
            )
            strict = await asyncio.to_thread(
                main, ["audit", url, "--only", "upgrade,101", "--strict", "--timeout", "1"]
            )
            return loose, strict

    loose, strict = asyncio.run(run())
    out = capsys.readouterr().out
    assert (loose, strict) == (1, 1)
    report = json.loads((tmp_path / "a.json").read_text())
    assert set(report) == {"server", "started", "timeout", "incomplete", "cases", "summary"}
    assert report["incomplete"] is False
    assert {c["group"] for c in report["cases"]} == {"upgrade"}
    counts = {v.value: sum(c["verdict"] == v.value for c in report["cases"]) for v in Verdict}
    assert report["summary"] == counts
    first = report["cases"][0]
    assert set(first) >= {"id", "group", "rule", "level", "allowed", "got", "verdict", "finding"}
    assert first["got"]["ended"] in {e.value for e in Ended}
    page = (tmp_path / "a.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'id="count-fail" data-count="{counts["fail"]}"' in page
    assert "http://" not in page.split("<body>")[0] and "<link" not in page
    suite = ElementTree.parse(tmp_path / "a.xml").getroot().find("testsuite")
    assert suite is not None and len(suite.findall("testcase")) == len(report["cases"])
    assert int(suite.get("failures", "")) == counts["fail"]
    assert "upgrade" in out and "\033[" not in out  # not a terminal: no colours


def test_strict_turns_warnings_into_failures(capsys: pytest.CaptureFixture[str]) -> None:
    async def run() -> tuple[int, int]:
        # a server that only warns: it refuses the SHOULD cases, accepts the rest
        negotiating = ws.Policy()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await wsnegotiate.aio.server_handshake(reader, writer, negotiating)

        async with raw_server(handler) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            args = ["audit", url, "--only", "origin,subprotocols", "--timeout", "1"]
            return (
                await asyncio.to_thread(main, args),
                await asyncio.to_thread(main, [*args, "--strict", "--subprotocol", "chat"]),
            )

    assert asyncio.run(run()) == (0, 1)  # chat is offered but not selected: a warning
    capsys.readouterr()


def test_unreachable_and_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        assert main(["audit", f"ws://127.0.0.1:{port}/", "--timeout", "1"]) == 2
    assert "connection failed" in capsys.readouterr().err
    assert main(["audit", "http://example.com/"]) == 2
    with pytest.raises(SystemExit) as exit:
        main(["audit", "ws://127.0.0.1:1/", "--only", "versions,nope"])
    assert exit.value.code == 2
    assert "not a list of groups" in capsys.readouterr().err


def test_an_unwritable_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def run() -> int:
        async with raw_server(answering(b"HTTP/1.1 400 No\r\nContent-Length: 0\r\n\r\n")) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            where = str(tmp_path / "missing" / "a.json")
            return await asyncio.to_thread(main, ["audit", url, "--only", "keys", "--json", where])

    assert asyncio.run(run()) == 2
    assert "cannot write" in capsys.readouterr().err


def test_terminal_table_colours_and_groups() -> None:
    report = audit_with(
        answering(b"HTTP/1.1 400 No\r\nContent-Length: 0\r\n\r\n"), 0.5, ["keys", "101"]
    )
    plain, coloured = table(report), table(report, colour=True)
    assert "\033[32mpass\033[0m" in coloured and "\033[31;1mfail\033[0m" in coloured
    lines = plain.splitlines()
    assert lines[2] == "keys" and "101" in lines
    assert lines[-1] == "16 cases: 7 pass, 1 fail, 0 warn, 8 info"
    assert json.loads(as_json(report))["summary"] == report.summary()
    assert as_html(report).count("<tr id=") == 16
    assert as_junit(report, strict=True).count("<failure") == 1


def test_case_table() -> None:
    assert 60 <= len(CASES) <= 100
    assert GROUPS == (
        "versions",
        "keys",
        "http",
        "upgrade",
        "subprotocols",
        "extensions",
        "origin",
        "pipelining",
        "101",
    )
    for case in CASES:
        assert "RFC " in case.rule and "§" in case.rule, case.id
        assert case.allowed, case.id


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--subprotocol", "a b", "subprotocol 'a b' is not an RFC 9110 token"),
        ("--subprotocol", "", "subprotocol '' is not an RFC 9110 token"),
        ("--origin", "http://a\r\nX-Evil: 1", "--origin 'http://a\\r\\nX-Evil: 1': not a"),
        ("--origin", "http://\u00e9.example", "--origin 'http://\u00e9.example': not a"),
    ],
)
def test_values_that_cannot_go_in_a_request_are_usage_errors(
    option: str, value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1

    async def run() -> int:
        async with raw_server(count) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            return await asyncio.to_thread(main, ["audit", url, option, value, "--timeout", "1"])

    assert asyncio.run(run()) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"wsnegotiate audit: {said}")
    assert connections == 0  # refused before any case ran, before any connection


def test_a_path_that_cannot_go_in_a_request_line(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("audit", "probe"):
        assert main([command, "ws://127.0.0.1:1/a b"]) == 2
        [line] = capsys.readouterr().err.splitlines()
        assert line == (
            f"wsnegotiate {command}: 'ws://127.0.0.1:1/a b': the path '/a b' cannot go "
            "in a request line (RFC 9112 §3.2)"
        )


def test_what_a_server_sent_is_shown_as_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = b"R\xc3\xa8gle \xc2\xa7 4.2 \xff"  # UTF-8, but for the last byte
    answer = b"HTTP/1.1 400 Requ\xc3\xaate \xe9\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def run() -> int:
        async with raw_server(answering(answer)) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            files = ["--json", str(tmp_path / "a.json"), "--html", str(tmp_path / "a.html")]
            return await asyncio.to_thread(
                main, ["audit", url, "--only", "keys", "--timeout", "1", *files]
            )

    asyncio.run(run())
    table = capsys.readouterr().out
    assert "HTTP/1.1 400 Requête \\xe9" in table and "Ã" not in table
    case = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["cases"][0]
    assert case["got"]["status_line"] == "HTTP/1.1 400 Requête \\xe9"
    assert case["got"]["body"] == "Règle § 4.2 \\xff"
    assert case["answer"].endswith("\r\n\r\nRègle § 4.2 \\xff")
    page = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert "Règle § 4.2 \\xff" in page and "Ã" not in page and "Â" not in page


@pytest.mark.parametrize("kind", ["json", "html", "junit"])
def test_a_report_to_standard_output(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # where a file named "-" would land
    out = io.StringIO()

    async def run() -> int:
        async with raw_server(answering(b"HTTP/1.1 400 No\r\nContent-Length: 0\r\n\r\n")) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            argv = ["audit", url, "--only", "keys", "--timeout", "1", f"--{kind}", "-"]
            return await asyncio.to_thread(main, argv, out)

    assert asyncio.run(run()) == 0  # every key case refused: they pass
    assert list(tmp_path.iterdir()) == []
    text = out.getvalue()
    if kind == "json":
        assert len(json.loads(text)["cases"]) == 7  # the report alone: it parses
    elif kind == "html":
        assert text.startswith("<!doctype html>") and text.endswith("</html>\n")
    else:
        assert ElementTree.fromstring(text.split("\n", 1)[1]).tag == "testsuites"
    assert "7 cases: " in capsys.readouterr().err  # the table goes beside it, to stderr


def test_two_reports_cannot_share_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "ws://127.0.0.1:1/", "--json", "-", "--html", "-"]) == 2
    assert capsys.readouterr().err == (
        "wsnegotiate audit: only one report can go to standard output (-)\n"
    )
