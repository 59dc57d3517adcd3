"""`audit --http2` offline: the HTTP/2 group against servers in this process: one
on our sans-IO ``wsnegotiate.h2.ServerConnection`` (nothing fails), and ones on
python-hyper's h2 that break the rules on purpose; the gates, the reports, the
command."""

from __future__ import annotations

import asyncio
import io
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import wsproto.events as wse
from test_audit import Handler, answering, assert_one_rule, findings, raw_server, verdicts

import wsnegotiate as ws
import wsnegotiate.wsproto as ws_frames
from wsnegotiate import h2 as wh
from wsnegotiate.cli import main
from wsnegotiate.cli.audit import Report, as_html, as_junit, audit, exit_code, table
from wsnegotiate.cli.audit_cases import Level, Verdict
from wsnegotiate.cli.audit_h2 import H2_CASES, H2_GATES
from wsnegotiate.cli.probe import Target

# -- servers --------------------------------------------------------------------------------


def our_server(policy: ws.Policy | None = None, *, websockets: bool = True) -> Handler:
    """An echo server on ``wsnegotiate.h2.ServerConnection``: every WebSocket the
    policy accepts, its Pings answered and its messages echoed."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = wh.ServerConnection(policy, websockets=websockets)
        frames: dict[int, Any] = {}
        writer.write(server.data_to_send())
        for _ in range(1000):
            data = await reader.read(65536)
            server.receive_data(data)
            while not isinstance(event := server.next_event(), ws.NeedData):
                if isinstance(event, wh.StreamRequest):
                    connection = ws_frames.connection(server.accept(event.stream_id))
                    frames[event.stream_id] = connection
                elif isinstance(event, wh.StreamData):
                    connection = frames[event.stream_id]
                    connection.receive_data(event.data)
                    for message in connection.events():
                        if isinstance(message, wse.Ping | wse.CloseConnection):
                            server.send(event.stream_id, connection.send(message.response()))
                        elif isinstance(message, wse.Message):
                            server.send(event.stream_id, connection.send(message))
            writer.write(server.data_to_send())
            await writer.drain()
            if not data:
                return

    return handler


Answer = Callable[[h2.connection.H2Connection, int, dict[bytes, bytes]], None]


def h2_server(answer: Answer, *, enable_connect: bool = True, checks: bool = True) -> Handler:
    """python-hyper's h2 as a server that answers each request as ``answer`` says
    (given the connection, the stream and the pseudo-header fields and fields),
    with h2's own checks of what it reads and sends, or without."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_inbound_headers=checks,
            validate_outbound_headers=checks,
            normalize_outbound_headers=checks,
        )
        server = h2.connection.H2Connection(config)
        if enable_connect:
            codes = h2.settings.SettingCodes
            server.local_settings = h2.settings.Settings(
                client=False, initial_values={codes.ENABLE_CONNECT_PROTOCOL: 1}
            )
        server.initiate_connection()
        writer.write(server.data_to_send())
        for _ in range(1000):
            data = await reader.read(65536)
            if not data:
                return
            for event in server.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    answer(server, event.stream_id, dict(event.headers or ()))
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return
            writer.write(server.data_to_send())
            await writer.drain()

    return handler


def audits(handler: Handler, *runs: dict[str, Any]) -> list[Report]:
    """HTTP/2 audits of ``handler``, one per entry of ``runs`` (the audit's options;
    ``gate=False``: the gates are cases like the others), against one server."""

    async def run() -> list[Report]:
        async with raw_server(handler, "/chat") as target:
            return [
                await audit(target, **{"timeout": 2, "cases": H2_CASES, **options})
                for options in runs
            ]

    reports = asyncio.run(run())
    for report in reports:
        assert_one_rule(report)
    return reports


def audit_h2(handler: Handler, **options: Any) -> Report:
    return audits(handler, options)[0]


# -- our own server --------------------------------------------------------------------------


def test_our_server_connection_fails_nothing_and_two_runs_agree() -> None:
    policy = ws.Policy(subprotocols=["chat"])
    first, second = audits(
        our_server(policy), {"subprotocol": "chat"}, {"subprotocol": "chat", "jobs": 1}
    )
    assert first.stopped is None
    got, said = verdicts(first), findings(first)
    assert len(got) == len(H2_CASES) == 16
    assert [case for case, verdict in got.items() if verdict is not Verdict.PASS] == [
        "h2-without-setting"  # the server advertised the setting: nothing to send
    ]
    assert got["h2-without-setting"] is Verdict.INFO
    assert said["h2-settings"] == "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1"
    assert said["h2-valid"] == "200"
    assert said["h2-ping"] == "stream 1: 200, then the Pong"
    assert said["h2-two-websockets"] == (
        "stream 1: 200, then the Pong; stream 3: 200, then the Pong"
    )
    assert said["h2-protocol-other"] == "HTTP/2 501"
    assert said["h2-protocol-not-token"] == said["h2-scheme-other"] == "HTTP/2 400"
    # malformed as h2 reads it (RFC 9113 §8.3.1, §8.5): the connection refused
    assert said["h2-protocol-missing"] == said["h2-path-missing"] == "GOAWAY PROTOCOL_ERROR"
    assert said["h2-version-8"] == "HTTP/2 400; lists 13"
    assert said["h2-version-013"] == "HTTP/2 400; lists 13"
    # the same bytes, the same verdicts
    assert verdicts(second) == got
    requests = [{r.case.id: r.request for r in report.results} for report in (first, second)]
    assert requests[0] == requests[1]
    sent = requests[0]["h2-valid"].decode()
    assert "  :protocol: websocket\n  :scheme: http\n  :path: /chat\n" in sent
    assert "  sec-websocket-protocol: chat\n" in sent
    assert "  :protocol: wsnegotiate-audit\n" in requests[0]["h2-protocol-other"].decode()


def test_a_server_that_does_not_advertise_the_setting() -> None:
    """Said once at the top; only the case that needs a server without the setting
    is judged (our server refuses the CONNECT: 400), the rest not run; exit 1."""
    report = audit_h2(our_server(websockets=False))
    assert report.stopped is not None
    assert report.stopped.why.startswith("no WebSocket over HTTP/2 at ws://127.0.0.1:")
    assert report.stopped.why.endswith(
        "/chat: the server's SETTINGS do not carry SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 "
        "(RFC 8441 §3); only h2-without-setting was judged"
    )
    ran = {r.case.id: r for r in report.results if r.ran}
    assert list(ran) == ["h2-settings", "h2-without-setting"]
    assert ran["h2-settings"].verdict is Verdict.INFO
    assert (ran["h2-without-setting"].verdict, ran["h2-without-setting"].finding) == (
        Verdict.PASS,
        "HTTP/2 400",
    )
    assert exit_code(report) == 1
    text = table(report)
    assert text.splitlines()[1] == report.stopped.why
    assert "not run (no WebSocket over HTTP/2): h2-valid, h2-200, h2-no-connection-fields" in text


def _serve_all(server: h2.connection.H2Connection, stream_id: int, _: dict[bytes, bytes]) -> None:
    server.send_headers(stream_id, [(b":status", b"200")])


def test_a_server_that_serves_a_connect_without_the_setting_fails() -> None:
    report = audit_h2(h2_server(_serve_all, enable_connect=False, checks=False))
    result = {r.case.id: r for r in report.results}["h2-without-setting"]
    assert (result.verdict, result.finding) == (
        Verdict.FAIL,
        "served a CONNECT with :protocol on a connection without the setting: HTTP/2 200",
    )


# -- servers that break the rules ------------------------------------------------------------


def test_versions_served() -> None:
    said = findings(audit_h2(h2_server(_serve_all, checks=False), gate=False, timeout=0.5))
    assert said["h2-version-8"] == "speaks it (HTTP/2 200)"  # info: a server may speak 8
    assert said["h2-version-013"] == "served the malformed Sec-WebSocket-Version: 013: HTTP/2 200"


def test_frames_and_settings_a_server_gets_wrong() -> None:
    """SETTINGS_ENABLE_CONNECT_PROTOCOL sent as 1 then as 0 (RFC 8441 §3); a
    masked Pong with another payload; the second WebSocket on a connection refused."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        server = h2.connection.H2Connection(config)
        codes = h2.settings.SettingCodes
        server.local_settings = h2.settings.Settings(
            client=False, initial_values={codes.ENABLE_CONNECT_PROTOCOL: 1}
        )
        server.initiate_connection()
        server.update_settings({codes.ENABLE_CONNECT_PROTOCOL: 0})
        writer.write(server.data_to_send())
        while data := await reader.read(65536):
            for event in server.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    status = b"200" if event.stream_id == 1 else b"403"
                    server.send_headers(event.stream_id, [(b":status", status)], status != b"200")
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == 1:
                    pong = b"\x8a\x85" + bytes(4) + b"other"  # masked, with a zero key
                    server.send_data(event.stream_id, pong)
            writer.write(server.data_to_send())
            await writer.drain()

    report = audit_h2(handler, gate=False)
    got, said = verdicts(report), findings(report)
    assert (got["h2-settings"], said["h2-settings"]) == (
        Verdict.FAIL,
        "SETTINGS_ENABLE_CONNECT_PROTOCOL sent as 1, then as 0",
    )
    assert said["h2-ping"] == "a masked frame on stream 1; stream 1: a Pong with b'other'"
    assert got["h2-two-websockets"] is Verdict.FAIL
    assert said["h2-two-websockets"] == (
        "a masked frame on stream 1; stream 1: a Pong with b'other'; "
        "WebSocket 3 on the connection: HTTP/2 403"
    )


def _lenient(
    server: h2.connection.H2Connection, stream_id: int, fields: dict[bytes, bytes]
) -> None:
    """Any CONNECT served, whatever its pseudo-header fields; a version other than
    13 refused with a 426 and Upgrade, as HTTP/1.1 would; a 101 before each 200,
    and Connection and Upgrade in it. Frames are never answered."""
    if fields.get(b"sec-websocket-version") != b"13":
        server.send_headers(
            stream_id,
            [(b":status", b"426"), (b"upgrade", b"websocket"), (b"sec-websocket-version", b"13")],
            end_stream=True,
        )
        return
    server.send_headers(stream_id, [(b":status", b"101")])
    server.send_headers(
        stream_id,
        [(b":status", b"200"), (b"connection", b"upgrade"), (b"sec-websocket-protocol", b"x")],
    )


def test_a_server_that_serves_anything_as_http_1_1_would() -> None:
    report = audit_h2(h2_server(_lenient, checks=False), gate=False, timeout=1)
    got, said = verdicts(report), findings(report)
    for case in (
        "h2-valid",
        "h2-200",
        "h2-no-connection-fields",
        "h2-ping",
        "h2-two-websockets",
        "h2-protocol-missing",
        "h2-protocol-not-token",
        "h2-protocol-other",
        "h2-scheme-other",
        "h2-path-missing",
        "h2-authority-missing",
        "h2-version-missing",
        "h2-version-8",
        "h2-version-013",
    ):
        assert got[case] is Verdict.FAIL, case
    assert said["h2-valid"] == (
        "a 200 a client must reject: Sec-WebSocket-Protocol: invalid 'x' was not offered; "
        "the answer carries connection: upgrade; "
        "a 101 (Switching Protocols), which HTTP/2 does not have"
    )
    assert said["h2-200"] == "answered :status 101, then 200: HTTP/2 has no 101"
    assert said["h2-no-connection-fields"] == "the answer carries connection: upgrade"
    assert said["h2-ping"].startswith("stream 1: 200, then no Pong: the deadline passed")
    assert said["h2-protocol-other"].startswith(
        "served :protocol: wsnegotiate-audit: HTTP/2 200; the answer carries connection: upgrade"
    )
    assert said["h2-path-missing"].startswith("served an extended CONNECT without :path")
    assert said["h2-version-8"] == (
        "HTTP/2 426; lists 13; the answer carries upgrade: websocket; "
        "426, which needs the Upgrade field HTTP/2 forbids"
    )
    results = {r.case.id: r for r in report.results}
    assert results["h2-version-013"].level is Level.MUST  # the 426, whatever the case's level
    assert got["h2-settings"] is Verdict.PASS and got["h2-without-setting"] is Verdict.INFO


def _silent(server: h2.connection.H2Connection, stream_id: int, _: dict[bytes, bytes]) -> None:
    """Every request read, none answered."""


def _closing(server: h2.connection.H2Connection, stream_id: int, _: dict[bytes, bytes]) -> None:
    raise ConnectionResetError  # the handler ends: the connection closes without GOAWAY


def test_silence_resets_and_closes() -> None:
    silent = audit_h2(h2_server(_silent), gate=False, timeout=0.5)
    said = findings(silent)
    assert verdicts(silent)["h2-protocol-other"] is Verdict.FAIL
    assert said["h2-protocol-other"] == "no answer before the deadline"
    assert said["h2-version-8"] == (
        "no answer before the deadline, not an HTTP answer to Sec-WebSocket-Version: 8"
    )
    closing = audit_h2(h2_server(_closing), gate=False)
    got = verdicts(closing)
    assert got["h2-protocol-other"] is Verdict.WARN  # closed without GOAWAY: RFC 9113 §5.4.1
    assert findings(closing)["h2-valid"] == "no answer: the server closed the connection"

    def reset(server: h2.connection.H2Connection, stream_id: int, _: dict[bytes, bytes]) -> None:
        server.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)

    refusing = audit_h2(h2_server(reset), gate=False)
    said = findings(refusing)
    assert said["h2-protocol-other"] == "RST_STREAM REFUSED_STREAM"
    assert verdicts(refusing)["h2-protocol-other"] is Verdict.PASS
    assert said["h2-version-013"] == (
        "RST_STREAM REFUSED_STREAM, not an HTTP answer to the malformed Sec-WebSocket-Version: 013"
    )


# -- the gates ---------------------------------------------------------------------------------


def test_a_server_that_does_not_speak_http2() -> None:
    report = audit_h2(answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
    assert report.stopped is not None
    assert report.stopped.code == 1
    assert report.stopped.why.endswith(
        "/chat: an HTTP/1 answer to the HTTP/2 preface (HTTP/1.1 400 Bad Request); "
        "no other case was judged"
    )
    assert report.stopped.why.startswith("not an HTTP/2 server at ws://127.0.0.1:")
    assert [r.case.id for r in report.results if r.ran] == ["h2-settings"]
    assert "not run (not an HTTP/2 server): h2-valid, " in table(report)


def test_a_server_that_says_nothing_or_nothing_of_http2() -> None:
    silent = audit_h2(_silent_tcp, timeout=0.5)
    assert silent.stopped is not None
    assert (silent.stopped.code, silent.stopped.at_gate) == (2, True)
    assert silent.stopped.why.endswith("/chat: no SETTINGS within 0.5 s: stopped")
    garbage = audit_h2(answering(b"hello, this is not HTTP/2\r\n\r\n"))
    assert garbage.stopped is not None
    assert garbage.stopped.why.endswith(
        "/chat: bytes that are not HTTP/2 (frame of 6841708 bytes: more than "
        "SETTINGS_MAX_FRAME_SIZE 16384 (RFC 9113 §4.2)); no other case was judged"
    )


def test_a_websocket_refused_stops_at_the_second_gate() -> None:
    def not_found(
        server: h2.connection.H2Connection, stream_id: int, _: dict[bytes, bytes]
    ) -> None:
        server.send_headers(stream_id, [(b":status", b"404")], end_stream=True)

    report = audit_h2(h2_server(not_found))
    assert report.stopped is not None
    assert report.stopped.why.endswith(
        "/chat: the plainest extended CONNECT got HTTP/2 404; the answer does not say why; "
        "no other case was judged"
    )
    assert [r.case.id for r in report.results if r.ran] == list(H2_GATES)
    assert exit_code(report) == 1
    silent = audit_h2(h2_server(_silent))
    assert silent.stopped is not None
    assert (silent.stopped.code, silent.stopped.at_gate) == (2, True)
    assert silent.stopped.why.endswith(
        ": no answer before the deadline to the plainest extended CONNECT (2 s): stopped"
    )


def test_no_server_at_all() -> None:
    async def run() -> Report:
        async with raw_server(_silent_tcp, "/chat") as target:  # a port, then nobody on it
            pass
        return await audit(target, timeout=1, cases=H2_CASES)

    report = asyncio.run(run())
    assert report.stopped is not None
    assert (report.stopped.code, report.stopped.at_gate) == (2, True)
    assert report.stopped.why.endswith("/chat: connection failed: Connection refused")
    [settings] = [r for r in report.results if r.ran]
    assert settings.finding == "no SETTINGS: connection failed: Connection refused"


async def _silent_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


# -- the command ---------------------------------------------------------------------------------


def test_the_command_and_its_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def run() -> list[int]:
        codes = []
        async with raw_server(our_server()) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            for argv in (
                [url, "--http2", "--json", str(tmp_path / "a.json")],
                [url, "--http2", "--only", "http"],
            ):
                codes.append(await asyncio.to_thread(main, ["audit", *argv], io.StringIO()))
        async with raw_server(answering(b"HTTP/1.1 400 Bad Request\r\n\r\n")) as target:
            argv = ["audit", f"ws://127.0.0.1:{target.port}/", "--http2", "--timeout", "1"]
            out = io.StringIO()
            codes.append(await asyncio.to_thread(main, argv, out))
            said.append(out.getvalue())
        return codes

    said: list[str] = []
    assert asyncio.run(run()) == [0, 2, 1]
    note = said[0].splitlines()[1]  # said once, at the top of the table
    assert note.startswith("not an HTTP/2 server at ws://127.0.0.1:")
    assert (
        "not run (not an HTTP/2 server): h2-valid, h2-200, h2-no-connection-fields and "
        in (said[0])
    )
    err = capsys.readouterr().err
    assert "--only picks among the HTTP/1.1 groups; --http2 runs the http2 group" in err
    report = json.loads((tmp_path / "a.json").read_text())
    assert [case["id"] for case in report["cases"]] == [case.id for case in H2_CASES]
    cases = {case["id"]: case for case in report["cases"]}
    got = cases["h2-version-8"]["got"]
    assert got["status_line"] == "HTTP/2 400"
    assert ["sec-websocket-version", "13"] in got["headers"]
    assert got["body"] == "Sec-WebSocket-Version: unsupported version 8 (hybi-08); supported: 13\n"
    assert got["http2"]["settings"] == [1]
    [stream] = got["http2"]["streams"]
    assert stream["blocks"][0][0] == [":status", "400"]
    assert stream["ended"] is True
    ping = cases["h2-ping"]
    assert ping["got"]["frames"] == [{"opcode": 10, "payload": "audit"}]
    assert "stream 1 DATA: " in ping["request"]


def test_reports_of_an_http2_run() -> None:
    report = audit_h2(our_server())
    page = as_html(report)
    assert "stream 1 HEADERS\n  :status: 200" in page
    junit = as_junit(report)
    assert junit.count("<testcase ") == len(H2_CASES)


def test_wss_with_alpn_h2(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme", reason="trustme (the dev extra) makes the CA")
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))

    def context(alpn: list[str]) -> ssl.SSLContext:
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(server)
        if alpn:
            server.set_alpn_protocols(alpn)
        return server

    @asynccontextmanager
    async def tls_server(handler: Handler, alpn: list[str]) -> AsyncIterator[Target]:
        async with raw_server(handler, tls=context(alpn)) as target:
            yield target

    async def run() -> tuple[Report, Report, Report]:
        reports = []
        for alpn in (["h2", "http/1.1"], ["http/1.1"]):
            async with tls_server(our_server(), alpn) as target:
                client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
                reports.append(await audit(target, timeout=2, cases=H2_CASES, tls=client))
                if len(reports) == 1:  # the same port as a ws:// URL; the command
                    plain = replace(target, secure=False)
                    reports.append(await audit(plain, timeout=2, cases=H2_CASES))
                    argv = ["audit", target.url, "--http2", "--cafile", str(tmp_path / "ca.pem")]
                    codes.append(await asyncio.to_thread(main, argv, io.StringIO()))
        return reports[0], reports[1], reports[2]

    codes: list[int] = []
    h2_ok, plain, http11 = asyncio.run(run())
    assert codes == [0]
    assert plain.stopped is not None
    assert (plain.stopped.code, plain.stopped.at_gate) == (2, True)
    assert plain.stopped.why.endswith(": the server speaks TLS on this port: audit " + h2_ok.server)
    assert h2_ok.stopped is None
    assert not [r for r in h2_ok.results if r.verdict in (Verdict.FAIL, Verdict.WARN)]
    [settings] = [r for r in h2_ok.results if r.case.id == "h2-settings"]
    assert settings.answer is not None and settings.answer.h2 is not None
    assert settings.answer.h2.alpn == "h2"
    assert http11.stopped is not None and http11.stopped.code == 1
    assert http11.stopped.why.endswith(
        "/: TLS's ALPN chose no protocol, not h2 (RFC 9113 §3.2); no other case was judged"
    )


# -- the table --------------------------------------------------------------------------------


def test_case_table() -> None:
    ids = [case.id for case in H2_CASES]
    assert len(ids) == len(set(ids))
    for case in H2_CASES:
        assert case.id.startswith("h2-") and case.group == "http2" and case.http2, case.id
        assert "RFC " in case.rule.text and "§" in case.rule.text, case.id
        assert case.allowed, case.id
    assert [case.id for case in H2_CASES if case.gate] == list(H2_GATES) == ids[:2]
