"""`audit` offline: the answer reader, the judges against fake servers in this
process (conformant, broken, hostile), the reports and the exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import ssl
import tracemalloc
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from factory import QuietHandler, http_server

import wsnegotiate as ws
import wsnegotiate.aio
from wsnegotiate._answers import accept_token
from wsnegotiate.cli import main
from wsnegotiate.cli.audit import Report, as_html, as_json, as_junit, audit, table
from wsnegotiate.cli.audit_answer import Ended, parse_frame, parse_responses
from wsnegotiate.cli.audit_cases import (
    CASES,
    CREDENTIAL_PREFIX,
    CROSS_ORIGIN,
    FAKE_TOKEN,
    GATE,
    GROUP_ALIASES,
    GROUPS,
    Level,
    Verdict,
    blame,
)
from wsnegotiate.cli.probe import Target
from wsnegotiate.cli.serve import ServeOptions, echo_server

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
async def raw_server(
    handler: Handler, path: str = "/", tls: ssl.SSLContext | None = None
) -> AsyncIterator[Target]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the audit went away, or the test is over
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0, ssl=tls)
    try:
        yield Target("127.0.0.1", server.sockets[0].getsockname()[1], path, tls is not None)
    finally:
        server.close()
        await server.wait_closed()


def assert_one_rule(report: Report) -> None:
    """A MUST broken is fail, a SHOULD broken warn, a MAY or a choice info; the
    level shown is the level of the rule broken."""
    shown: dict[Verdict, set[Level | None]] = {
        Verdict.FAIL: {Level.MUST},
        Verdict.WARN: {Level.SHOULD},
        Verdict.INFO: {Level.MAY, None},
        Verdict.PASS: set(Level),
    }
    for result in report.results:
        assert result.level in shown[result.verdict], (result.case.id, result.verdict)
        broken = result.verdict in (Verdict.FAIL, Verdict.WARN)
        assert broken <= (result.judged.broke is not None), result.case.id
        assert result.verdict is not Verdict.PASS or result.judged.broke is None


def audit_with(
    handler: Handler,
    timeout: float = 2.0,
    groups: list[str] | None = None,
    *,
    gate: bool = False,
    path: str = "/",
    **options: Any,
) -> Report:
    """The audit against ``handler``; without ``gate``, every case but the plainest
    request (whose refusal stops a run), for servers that answer every request alike."""

    async def run() -> Report:
        async with raw_server(handler, path) as target:
            return await audit(
                target,
                timeout=timeout,
                groups=groups,
                gate=gate,
                **{"slow_timeout": 1.0, **options},
            )

    report = asyncio.run(run())
    assert_one_rule(report)
    return report


def answering(response: bytes, *, hold: bool = False) -> Handler:
    """A server that answers every request head with ``response``, then closes (or
    with ``hold``, keeps the connection until the audit leaves)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(response)
        await writer.drain()
        if hold:
            await reader.read()

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


SWITCH = switching(b"Upgrade: websocket\r\nConnection: Upgrade\r\n")


def gate_then(response: bytes) -> Handler:
    """A server whose first request (the audit's plainest, which runs alone before
    any other) gets a valid 101, and every later one ``response``, the connection
    then held open until the audit leaves."""
    requests = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        head = await _head(reader)
        if not head:
            return  # a connection that sent nothing (the command's reachability check)
        requests += 1
        if requests == 1:
            writer.write(_switch(head))
        else:
            writer.write(response)
        await writer.drain()
        await reader.read()

    return handler


def _switch(head: bytes) -> bytes:
    keys = [
        line[18:].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    ]
    token = accept_token(keys[0] if keys else b"").encode()
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + token + b"\r\n\r\n"
    )


def in_process_serve(*runs: dict[str, Any], policy: ws.Policy | None = None) -> list[Report]:
    """Audits of our own echo server (``policy``, by default subprotocol chat; handshake
    timeout 1 s), one per ``runs`` entry (the audit's options), against one server."""

    async def run() -> list[Report]:
        stop = asyncio.Event()
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(
            echo_server(
                "127.0.0.1",
                0,
                policy or ws.Policy(subprotocols=["chat"]),
                ServeOptions(handshake_timeout=1.0),
                ready=lambda h, p: ready.set_result(p),
                stop=stop,
            )
        )
        port = await ready
        try:
            target = Target("127.0.0.1", port, "/")
            return [await audit(target, timeout=2, slow_timeout=3, **options) for options in runs]
        finally:
            stop.set()
            await server

    return asyncio.run(run())


def test_our_own_server_in_this_process_fails_nothing() -> None:
    [report] = in_process_serve({"subprotocol": "chat"})
    assert_one_rule(report)
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
    # any origin admitted (the default policy): said once, each variant a note of it
    infos = {i for i, v in got.items() if v is Verdict.INFO}
    assert infos == {"http-body", "origin-fetch-cross-site", *CROSS_ORIGIN}
    assert {i for i in infos if findings(report)[i].endswith("(origin-foreign)")} == (
        CROSS_ORIGIN - {"origin-foreign"}
    )
    said = findings(report)
    assert said["subprotocol-second"] == "selected 'chat'"
    assert said["pipeline-ping"] == "101, then the Pong"
    assert said["pipeline-http-after-101"] == "101, then Close 1002"
    assert said["frame-ping"] == "101, then the Pong"
    assert said["frame-close"] == "101, then a Close 1000"
    assert said["slow-request"].startswith("HTTP/1.1 408 Request Timeout after 1.")
    assert report.seed == 0 and json.loads(data)["seed"] == 0


# -- security: who gets in, and what comes back ---------------------------------------------


def _fields(head: bytes) -> dict[str, str]:
    """A request head's fields by lower-case name (the last line of each), as UTF-8."""
    lines = head.decode("utf-8", "replace").split("\r\n")[1:]
    return {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines if ":" in line)
    }


FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"


def admitting(
    admits: Callable[[dict[str, str]], bool],
    *,
    echo: bool = False,
    refusal: Callable[[dict[str, str]], bytes] = lambda fields: FORBIDDEN,
) -> Handler:
    """A server that switches for a request whose fields ``admits`` takes (with ``echo``,
    selecting the first subprotocol offered, whatever it is), and answers any other with
    ``refusal``'s bytes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _head(reader)
        fields = _fields(head)
        if not admits(fields):
            writer.write(refusal(fields))
            await writer.drain()
            return
        offered = fields.get("sec-websocket-protocol", "").split(",")[0].strip()
        selected = f"Sec-WebSocket-Protocol: {offered}\r\n".encode() if echo and offered else b""
        writer.write(_switch(head).replace(b"\r\n\r\n", b"\r\n" + selected + b"\r\n", 1))
        await writer.drain()
        await reader.read()

    return handler


def own_origin(fields: dict[str, str]) -> str:
    return f"http://{fields.get('host', '')}"


def security(handler: Handler, **options: Any) -> tuple[Report, dict[str, Verdict], dict[str, str]]:
    report = audit_with(handler, 1.0, ["security"], gate=True, **options)
    assert report.stopped is None, report.stopped
    return report, verdicts(report), findings(report)


def test_a_server_that_admits_only_its_origin() -> None:
    """Compared as a string: every variant refused, and the upper-case spelling of the
    same origin too (a note, not a fault); no credential comes back."""
    _, got, said = security(admitting(lambda fields: fields.get("origin") == own_origin(fields)))
    assert [i for i, v in got.items() if v in (Verdict.FAIL, Verdict.WARN)] == []
    assert {i for i in CROSS_ORIGIN if got[i] is Verdict.PASS} == CROSS_ORIGIN
    assert said["origin-suffix"] == "HTTP/1.1 403 Forbidden"
    assert got["origin-own"] is Verdict.PASS
    assert got["origin-upper-case"] is Verdict.INFO
    assert said["origin-upper-case"].startswith("refused: HTTP/1.1 403 Forbidden;")
    assert said["origin-fetch-cross-site"].startswith("admitted: Sec-Fetch-Site not read")
    assert got["origin-missing"] is Verdict.INFO  # refused: a server for browsers only
    assert (got["credential-offer"], said["credential-offer"]) == (
        Verdict.PASS,
        "101, selected none",
    )


def test_a_server_that_admits_any_origin_is_told_once() -> None:
    report, got, said = security(SWITCH)
    assert {i for i in CROSS_ORIGIN if got[i] is Verdict.INFO} == CROSS_ORIGIN
    assert said["origin-foreign"].startswith(
        "admitted a foreign origin: the server checks no origin, so any page can open a socket"
    )
    for case_id in CROSS_ORIGIN - {"origin-foreign"}:
        assert said[case_id] == "admitted too: the server checks no origin (origin-foreign)"
    assert report.summary()["warn"] == report.summary()["fail"] == 0
    # the JSON says the same as the table
    cases = {case["id"]: case for case in json.loads(as_json(report))["cases"]}
    assert cases["origin-suffix"]["verdict"] == "info"
    assert cases["origin-suffix"]["finding"] == said["origin-suffix"]


def test_a_prefix_check_lets_the_tricks_in_and_says_which() -> None:
    """A check that the Origin starts with http://HOST (a regex without its end): the
    suffix, the backtick and the trailing slash get in, each a warning that names it."""
    report, got, said = security(
        admitting(lambda fields: fields.get("origin", "").startswith("http://127.0.0.1"))
    )
    port = report.server.rsplit(":", 1)[1].rstrip("/")
    assert {i for i, v in got.items() if v is Verdict.WARN} == {
        "origin-suffix",
        "origin-backtick",
        "origin-trailing-slash",
    }
    assert said["origin-suffix"] == (
        f"admitted a name that only starts with the host: http://127.0.0.1.evil.example:{port}"
    )
    assert said["origin-backtick"].endswith(f": http://127.0.0.1`.evil.example:{port}")
    assert said["origin-trailing-slash"] == (
        f"admitted a URL that is no origin: http://127.0.0.1:{port}/"
    )
    rows = {result.case.id: result for result in report.results}
    assert rows["origin-suffix"].level is Level.SHOULD
    assert "RFC 6455 §10.2" in rows["origin-suffix"].rule
    assert got["origin-foreign"] is got["origin-prefix"] is got["origin-idn"] is Verdict.PASS


def test_variants_of_an_origin_given_with_origin() -> None:
    """--origin with a name and the default port: every variant is built from it, bytes
    fixed (the Unicode one in UTF-8)."""
    report, got, _ = security(
        admitting(lambda fields: fields.get("origin") == "https://app.example"),
        origin="https://app.example",
    )
    sent = {result.case.id: result.request for result in report.results}
    expected = {
        "origin-scheme": b"http://app.example",
        "origin-suffix": b"https://app.example.evil.example",
        "origin-prefix": b"https://evil-app.example",
        "origin-subdomain": b"https://evil.app.example",
        "origin-dot-wildcard": b"https://appxexample",
        "origin-backtick": b"https://app.example`.evil.example",
        "origin-upper-case": b"HTTPS://APP.EXAMPLE",
        "origin-trailing-slash": b"https://app.example/",
        "origin-idn": "https://\uff41pp.example".encode(),
        "origin-null": b"null",
        "origin-foreign": b"http://wsnegotiate-audit.invalid",
    }
    for case_id, origin in expected.items():
        assert b"\r\nOrigin: " + origin + b"\r\n" in sent[case_id], case_id
    assert b"\r\nSec-Fetch-Site: cross-site\r\n" in sent["origin-fetch-cross-site"]
    assert b"\r\nOrigin: https://app.example\r\n" in sent["origin-fetch-cross-site"]
    assert b"\r\nOrigin:" not in sent["origin-missing"]
    assert [i for i, v in got.items() if v in (Verdict.FAIL, Verdict.WARN)] == []


def test_variants_of_a_host_without_a_dot_or_of_no_origin() -> None:
    """No dot to read as a wildcard: that case does not apply. An --origin that is no
    origin (null): the variants are the target's own."""
    report, got, said = security(SWITCH, origin="http://localhost:8000")
    assert got["origin-dot-wildcard"] is Verdict.INFO
    assert (
        said["origin-dot-wildcard"]
        == "not applicable: the host of http://localhost:8000 has no dot"
    )
    sent = {result.case.id: result.request for result in report.results}
    assert b"\r\nOrigin: http://localhost.evil.example:8000\r\n" in sent["origin-suffix"]
    report, _, _ = security(SWITCH, origin="null")
    sent = {result.case.id: result.request for result in report.results}
    port = report.server.rsplit(":", 1)[1].rstrip("/")
    suffix = f"\r\nOrigin: http://127.0.0.1.evil.example:{port}\r\n".encode()
    assert suffix in sent["origin-suffix"]


def test_forwarded_fields_believed_from_anyone() -> None:
    """A same-origin check that takes X-Forwarded-Host from any peer: the foreign origin
    gets in by claiming it; from the server's own proxy (--from-proxy) that is right."""

    def same_origin(fields: dict[str, str]) -> bool:
        host = fields.get("x-forwarded-host") or fields.get("host", "")
        return fields.get("origin") == f"http://{host}"

    _, got, said = security(admitting(same_origin))
    assert {i for i, v in got.items() if v is Verdict.WARN} == {"forwarded-x"}
    assert said["forwarded-x"] == (
        "admitted the foreign origin http://wsnegotiate-audit.invalid, claimed as the request's "
        "own by X-Forwarded-Proto and -Host from this address (if the server trusts it as its "
        "proxy: --from-proxy)"
    )
    assert got["forwarded"] is Verdict.PASS  # Forwarded is not read at all
    _, got, said = security(admitting(same_origin), from_proxy=True)
    assert said["forwarded-x"] == "101: the proxy's X-Forwarded-Proto and -Host believed"
    assert got["forwarded-x"] is Verdict.PASS
    assert got["forwarded"] is Verdict.INFO
    assert said["forwarded"].startswith("refused: HTTP/1.1 403 Forbidden: the server does not")


def test_a_credential_offered_never_comes_back() -> None:
    """The token offered in Sec-WebSocket-Protocol, echoed as the subprotocol, named in
    a field of a refusal, or in its reason: a warning that says where."""
    offer = f"Sec-WebSocket-Protocol: {CREDENTIAL_PREFIX}{FAKE_TOKEN}, chat\r\n".encode()
    report, got, said = security(admitting(lambda fields: True, echo=True), subprotocol="chat")
    rows = {result.case.id: result for result in report.results}
    assert offer in rows["credential-offer"].request
    assert got["credential-offer"] is Verdict.WARN
    assert said["credential-offer"] == (
        "echoed the credential offered in Sec-WebSocket-Protocol as its subprotocol "
        "(Sec-WebSocket-Protocol)"
    )
    assert rows["credential-offer"].level is Level.SHOULD
    assert "RFC 6750 §5.3" in rows["credential-offer"].rule

    def naming(fields: dict[str, str]) -> bytes:
        offered = fields.get("sec-websocket-protocol", "").encode()
        return b"HTTP/1.1 400 Bad Request\r\nX-Refused-Protocol: %s\r\n\r\n" % offered

    def wants_chat_only(fields: dict[str, str]) -> bool:
        return fields.get("sec-websocket-protocol") == "chat"

    _, got, said = security(admitting(wants_chat_only, refusal=naming), subprotocol="chat")
    assert got["credential-offer"] is Verdict.WARN
    assert said["credential-offer"].endswith(" in X-Refused-Protocol")

    def in_reason(fields: dict[str, str]) -> bytes:
        offered = fields.get("sec-websocket-protocol", "").encode()
        return b"HTTP/1.1 400 unsupported %s\r\nContent-Length: 0\r\n\r\n" % offered

    _, got, said = security(admitting(wants_chat_only, refusal=in_reason), subprotocol="chat")
    assert said["credential-offer"].endswith(" in its status line")

    def in_body(fields: dict[str, str]) -> bytes:
        body = b"unsupported subprotocols: %s\n" % fields["sec-websocket-protocol"].encode()
        return b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    _, got, said = security(admitting(wants_chat_only, refusal=in_body), subprotocol="chat")
    assert (got["credential-offer"], said["credential-offer"]) == (
        Verdict.WARN,
        "echoed the credential offered in Sec-WebSocket-Protocol in the body of its 400",
    )
    # a 101 that echoes it and that a client must reject: both said, the MUST decides
    echoed = f"Sec-WebSocket-Protocol: {CREDENTIAL_PREFIX}{FAKE_TOKEN}\r\n".encode()
    broken = audit_with(
        switching(
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n" + echoed
        ),
        1.0,
        ["security"],
    )
    assert verdicts(broken)["credential-offer"] is Verdict.FAIL
    assert findings(broken)["credential-offer"].startswith("a 101 a client must reject: ")
    assert findings(broken)["credential-offer"].endswith(
        "; echoed the credential offered in Sec-WebSocket-Protocol as its subprotocol "
        "(Sec-WebSocket-Protocol)"
    )
    # refused without it: nothing leaked
    _, got, said = security(admitting(wants_chat_only), subprotocol="chat")
    assert (got["credential-offer"], said["credential-offer"]) == (
        Verdict.PASS,
        "refused: HTTP/1.1 403 Forbidden, the credential not in it",
    )


def test_our_own_server_admitting_its_own_origin_or_a_list() -> None:
    """serve --same-origin, and serve --origins with the audit's --origin: nothing fails
    or warns in the security group; the credential is taken out before a subprotocol is
    selected."""
    same = ws.Policy(subprotocols=["chat"], same_origin=True, credential_prefix=CREDENTIAL_PREFIX)
    listed = ws.Policy(subprotocols=["chat"], origins=["http://app.example"])
    for policy, origin, fetch in (
        (same, None, Verdict.PASS),  # refused: Fetch Metadata read
        (listed, "http://app.example", Verdict.INFO),  # a listed page, whatever its site
    ):
        [report] = in_process_serve(
            {"subprotocol": "chat", "groups": ["security"], "origin": origin}, policy=policy
        )
        assert_one_rule(report)
        assert report.stopped is None
        got, said = verdicts(report), findings(report)
        assert [i for i, v in got.items() if v in (Verdict.FAIL, Verdict.WARN)] == []
        assert {i for i in CROSS_ORIGIN if got[i] is Verdict.PASS} == CROSS_ORIGIN
        assert said["origin-upper-case"] == "101"  # the same origin (RFC 6454 §4)
        assert said["credential-offer"] == "101, selected 'chat'"
        assert got["origin-fetch-cross-site"] is fetch
        assert got["origin-missing"] is Verdict.INFO  # refused: not in the list


def test_two_runs_send_the_same_bytes_and_agree() -> None:
    """Every byte a case sends comes from the seed: one seed, the same requests (keys,
    hixie-76's key3 included) and the same verdicts; another seed, other keys."""
    first, second, other = in_process_serve(
        {"subprotocol": "chat", "groups": ["versions", "keys", "101"]},
        {"subprotocol": "chat", "groups": ["versions", "keys", "101"], "jobs": 1},
        {"subprotocol": "chat", "groups": ["versions", "keys", "101"], "seed": 7},
    )
    requests = [{r.case.id: r.request for r in report.results} for report in (first, second, other)]
    assert requests[0] == requests[1]
    assert verdicts(first) == verdicts(second) == verdicts(other)
    differ = {case for case in requests[0] if requests[0][case] != requests[2][case]}
    assert {"101-valid", "version-hixie-76", "key-15-bytes"} <= differ
    assert "key-not-base64" not in differ  # nothing random in it
    assert other.seed == 7


def test_a_server_that_switches_for_anything() -> None:
    report = audit_with(
        switching(
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n"
            b"Sec-WebSocket-Protocol: wsnegotiate-audit-unknown\r\n"
            b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n"
        ),
        timeout=0.5,
        gate=True,
    )
    got, said = verdicts(report), findings(report)
    for case in (
        "version-14",
        "version-013",
        "key-missing",
        "http-1.0",
        "upgrade-missing",
        "http-no-host",
        "http-invalid-host",
        "http-length-and-chunked",
        "subprotocol-malformed",
        "extension-empty",
    ):
        assert got[case] is Verdict.FAIL, case
    # the field or the line, and what was wrong with it
    assert said["http-no-host"] == "switched (101) for a request without Host"
    assert said["http-two-hosts"] == "switched (101) for Host on two field lines"
    assert said["key-15-bytes"] == "switched (101) for a Sec-WebSocket-Key of 15 bytes, not 16"
    assert said["version-013"] == "switched (101) for the malformed Sec-WebSocket-Version: 013"
    assert said["version-repeated"] == (
        "switched (101) for Sec-WebSocket-Version: 13 on two field lines"
    )
    assert said["version-missing"] == "switched (101) for a request without Sec-WebSocket-Version"
    assert said["http-target-asterisk"] == "switched (101) for the request-target *"
    assert got["http-target-asterisk"] is Verdict.WARN  # RFC 9112 §3: a SHOULD
    assert got["http-chunked"] is Verdict.WARN
    assert got["version-8"] is Verdict.FAIL  # a subprotocol that was never offered
    assert said["101-no-content-length"] == "the 101 carries Content-Length: 0"
    assert said["101-no-subprotocol"].startswith("the 101 carries Sec-WebSocket-Protocol")
    assert "was not offered" in said["101-valid"]
    assert got["subprotocol-unknown"] is Verdict.FAIL
    assert said["deflate-unknown-param"].startswith("accepted permessage-deflate")
    assert got["101-accept"] is Verdict.PASS
    assert (
        said["frame-ping"]
        == "101, then no Pong: the server closed the connection after "
        + (said["frame-ping"].rsplit("after ", 1)[1])
    )
    assert got["frame-unmasked"] is Verdict.PASS  # it closed


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
        "426 without Upgrade; answered HTTP/1.0 to HTTP/1.1"
    )
    assert got["version-14"] is Verdict.FAIL
    assert got["version-hixie-76"] is Verdict.FAIL  # 426 without Upgrade: a MUST
    assert got["key-missing"] is Verdict.FAIL
    assert said["http-no-host"] == (
        "HTTP/1.0 426 Upgrade Required for a request without Host, where the rule asks 400"
    )
    assert said["101-accept"].startswith("not applicable")
    # a SHOULD case whose answer breaks a MUST fails, and shows the MUST it broke
    results = {result.case.id: result for result in report.results}
    upgrade_list = results["upgrade-list"]
    assert upgrade_list.case.level is Level.SHOULD
    assert (upgrade_list.verdict, upgrade_list.level) == (Verdict.FAIL, Level.MUST)
    assert upgrade_list.finding == (
        "a valid request refused: HTTP/1.0 426 Upgrade Required; the answer does not say why; "
        "426 without Upgrade; answered HTTP/1.0 to HTTP/1.1"
    )
    assert upgrade_list.rule.startswith("RFC 9110 §15.5.22")
    plain = audit_with(answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
    got = verdicts(plain)
    assert got["version-hixie-76"] is Verdict.WARN  # no list, but no version was asked for
    assert got["key-missing"] is Verdict.PASS  # a 400 is the answer to a missing key
    # a malformed version refused without a list: an error is all RFC 6455 §4.2.1 asks
    for malformed in ("013", "plus-13", "13.0", "list", "1_3", "256", "non-ascii", "repeated"):
        result = next(r for r in plain.results if r.case.id == f"version-{malformed}")
        assert (result.verdict, result.level) == (Verdict.WARN, Level.SHOULD), malformed
        assert result.finding == "HTTP/1.1 400 Bad Request; refused without Sec-WebSocket-Version"
    assert got["version-14"] is Verdict.FAIL  # a version not understood: the list is a MUST


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
        "HTTP/1.1 400 No; lists 13, 8; Sec-WebSocket-Version lists x; "
        "refused 8, yet lists it as supported"
    )
    assert verdicts(report)["version-8"] is Verdict.WARN


def test_every_request_uses_the_urls_path_and_query() -> None:
    report = audit_with(
        gate_then(b"HTTP/1.1 400 No\r\nContent-Length: 0\r\n\r\n"),
        0.5,
        gate=True,
        path="/echo?room=1",
    )
    for result in report.results:
        if not result.ran or result.case.id in ("http-target-asterisk", "http-tls-on-plain-port"):
            continue
        target = result.request.split(b"\n", 1)[0].split(b" ")[1]
        assert b"/echo?room=1" in target, (result.case.id, target)
    requests = {result.case.id: result.request for result in report.results}
    assert requests["http-1.0"].startswith(b"GET /echo?room=1 HTTP/1.0\r\n")
    assert requests["http-post"].startswith(b"POST /echo?room=1 HTTP/1.1\r\n")
    assert requests["http-head"].startswith(b"HEAD /echo?room=1 HTTP/1.1\r\n")
    assert requests["http-get-lowercase"].startswith(b"get /echo?room=1 HTTP/1.1\r\n")
    assert requests["http-target-fragment"].startswith(b"GET /echo?room=1#audit HTTP/1.1\r\n")
    assert requests["http-long-target"].startswith(b"GET /echo?room=1&audit=aaaa")
    port = report.server.split(":")[2].split("/")[0].encode()
    assert requests["http-absolute-form"].startswith(
        b"GET http://127.0.0.1:" + port + b"/echo?room=1 HTTP/1.1\r\n"
    )


def needing_chat(*, any_host: bool = True) -> Handler:
    """A server that refuses, naming Sec-WebSocket-Protocol, any request that does not
    offer chat, and switches for any other (with or without Host: a defect that the
    refusals would hide)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _head(reader)
        if b"Sec-WebSocket-Protocol: chat" not in head:
            body = b"Sec-WebSocket-Protocol: this server needs chat\n"
            writer.write(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            return
        keys = [
            line[18:].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        ]
        token = accept_token(keys[0] if keys else b"").encode()
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Accept: " + token + b"\r\n\r\n"
        )
        await writer.drain()
        await reader.read(65536)

    return handler


def test_the_subprotocol_goes_in_every_valid_request() -> None:
    report = audit_with(
        needing_chat(), 0.5, ["http", "extensions", "101"], gate=True, subprotocol="chat"
    )
    got, said = verdicts(report), findings(report)
    assert got["101-valid"] is Verdict.PASS and got["deflate-offer"] is Verdict.PASS
    assert said["http-no-host"] == "switched (101) for a request without Host"  # seen at last
    assert got["101-no-subprotocol"] is Verdict.INFO  # offers none on purpose: refused


def test_a_refusal_is_blamed_on_what_the_server_names() -> None:
    report = audit_with(needing_chat(), 0.5, ["extensions", "subprotocols"])
    said, got = findings(report), verdicts(report)
    assert said["deflate-offer"] == (
        'not applicable: refused, the answer names Sec-WebSocket-Protocol ("Sec-WebSocket-Protocol:'
        ' this server needs chat"): HTTP/1.1 400 Bad Request'
    )
    assert got["deflate-offer"] is Verdict.INFO
    unknown = audit_with(
        answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), 0.5, ["extensions"]
    )
    assert findings(unknown)["deflate-offer"] == (
        "refused the handshake instead of declining the offer: HTTP/1.1 400 Bad Request; the "
        "answer does not say why"
    )
    assert verdicts(unknown)["deflate-offer"] is Verdict.WARN
    # the plainest request refused for its subprotocol: said once, with what to give
    stopped = audit_with(needing_chat(), 0.5, ["keys"], gate=True)
    assert stopped.stopped is not None and stopped.stopped.code == 1
    assert stopped.stopped.why.endswith(
        "(a server that needs a subprotocol: give --subprotocol NAME); no other case was judged"
    )


def test_a_refusal_of_the_http_version_is_not_blamed_on_the_websocket_version() -> None:
    refused = parse_responses(
        b'HTTP/1.1 505 Unsupported HTTP version "HTTP/1.2"\r\nContent-Length: 0\r\n\r\n'
    ).final
    assert refused is not None
    assert blame(refused) == (None, "the answer does not say why")
    named = parse_responses(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 27\r\n\r\nunsupported version: 013\n"
    ).final
    assert named is not None and blame(named)[0] == "Sec-WebSocket-Version"


def test_answers_to_pipelined_bytes() -> None:
    pong_first = audit_with(SWITCH, 0.3, ["pipelining"])
    said = findings(pong_first)
    assert said["pipeline-ping"] == "no Pong after the 101 (the deadline passed)"
    assert said["pipeline-http-after-101"].startswith(
        "101, no HTTP answer (the connection still open"
    )

    async def frame_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"\x8a\x05audit")
        await writer.drain()

    report = audit_with(frame_first, 0.3, ["pipelining"])
    assert findings(report)["pipeline-ping"] == "a frame (opcode 0xa) came before any HTTP answer"
    assert verdicts(report)["pipeline-ping"] is Verdict.FAIL

    two = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 2
    report = audit_with(answering(two), 0.5, ["pipelining"])
    got, said = verdicts(report), findings(report)
    assert said["pipeline-after-bad-length"] == (
        "HTTP/1.1 400 Bad Request, then HTTP/1.1 400 Bad Request to the request pipelined behind it"
    )
    assert got["pipeline-after-bad-length"] is Verdict.FAIL
    # the client broke RFC 6455 §4.1 first: a second answer is legal HTTP/1.1
    assert got["pipeline-after-refused"] is Verdict.INFO
    assert said["pipeline-ping"] == "not applicable: HTTP/1.1 400 Bad Request"

    async def silent_on_more(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _head(reader)
        if head.count(b"GET ") < 2:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    report = audit_with(silent_on_more, 0.5, ["pipelining"])
    result = next(r for r in report.results if r.case.id == "pipeline-after-refused")
    assert (result.verdict, result.level) == (Verdict.WARN, Level.SHOULD)  # was a fail
    assert result.finding == "no answer: the server closed the connection"


def test_new_http_cases_on_servers_that_break_them() -> None:
    async def head_with_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _head(reader)
        if head.startswith(b"HEAD "):
            writer.write(
                b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 5\r\n\r\nnope!"
            )
        else:
            writer.write(
                b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            )
        await writer.drain()
        await reader.read()  # open until the audit leaves, Connection: close or not

    report = audit_with(head_with_body, 0.5, ["http"])
    got, said = verdicts(report), findings(report)
    assert (
        said["http-head-no-content"]
        == "HTTP/1.1 405 Method Not Allowed, then 5 bytes of content: 'nope!'"
    )
    assert got["http-head-no-content"] is Verdict.FAIL
    assert got["http-head"] is Verdict.PASS
    assert said["http-close-after-refusal"].startswith(
        "HTTP/1.1 400 Bad Request with Connection: close, and the connection still open"
    )
    assert got["http-close-after-refusal"] is Verdict.FAIL  # RFC 9112 §9.6
    assert got["http-length-and-chunked"] is Verdict.FAIL  # not closed: RFC 9112 §6.1

    kept_open = audit_with(
        answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", hold=True),
        0.5,
        ["http"],
    )
    result = next(r for r in kept_open.results if r.case.id == "http-close-after-refusal")
    assert result.verdict is Verdict.INFO  # no Connection: close, a persistent connection
    assert result.finding.startswith("HTTP/1.1 400 Bad Request, and the connection still open")

    async def silent_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)  # then closed without a word

    closing = audit_with(silent_close, 0.5, ["http"])
    got, said = verdicts(closing), findings(closing)
    assert said["http-large-head"] == (
        "no answer: the server closed the connection to a field section of 20 KiB"
    )
    assert got["http-large-head"] is Verdict.FAIL  # RFC 9110 §5.4: MUST answer a 4xx
    assert got["http-tls-on-plain-port"] is Verdict.WARN  # RFC 9112 §2.2: SHOULD answer 400
    # RFC 9112 §6.1 asks that the connection be closed, not that it be answered
    assert got["http-length-and-chunked"] is Verdict.WARN
    assert got["http-bad-content-length"] is Verdict.FAIL  # §6.3: MUST answer 400
    assert got["http-chunked"] is Verdict.WARN


def test_frames_after_the_101() -> None:
    async def echo_without_pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await switch_only(reader, writer)
        data = await reader.read(65536)
        # an echo that reads any frame as data, masked or not, and never answers a Ping
        if data[:1] == b"\x81":
            writer.write(b"\x81\x05audit")
        await writer.drain()
        await reader.read()  # until the audit leaves

    report = audit_with(echo_without_pong, 0.5, ["frames"])
    got, said = verdicts(report), findings(report)
    assert said["frame-ping"] == "101, then no Pong: the deadline passed"
    assert got["frame-ping"] is Verdict.FAIL
    assert said["frame-unmasked"] == "read the unmasked frame as data: it echoed it"
    assert got["frame-unmasked"] is Verdict.FAIL
    assert got["frame-close"] is Verdict.FAIL


async def switch_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A valid 101 to the request read, and nothing after it."""
    writer.write(_switch(await _head(reader)))
    await writer.drain()


def test_a_slow_request_is_bounded() -> None:
    async def holding(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never a word, open as long as the audit stays

    report = audit_with(holding, 0.3, ["slow"], slow_timeout=2.5)
    result = next(r for r in report.results if r.case.id == "slow-request")
    assert result.verdict is Verdict.INFO and result.level is Level.MAY
    assert result.finding.startswith("still waiting after 2.")
    assert "(a field line a second, the head never ended)" in result.finding
    assert result.request.endswith((b"\r\nX-Audit-Slow: 1\r\n", b"\r\nX-Audit-Slow: 2\r\n"))
    assert b"X-Audit-Slow: 3" not in result.request  # one a second, none after the bound
    assert b"\r\n\r\n" not in result.request  # the head never ends

    async def timing_out(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)

    report = audit_with(timing_out, 0.3, ["slow"])
    assert findings(report)["slow-request"].startswith("closed after 0.2 s")
    assert verdicts(report)["slow-request"] is Verdict.PASS


# -- hostile servers: deadlines, bounded reads ------------------------------------------------


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


def test_a_server_that_never_answers() -> None:
    report = audit_with(_silent, timeout=0.1, groups=["keys", "101"])
    assert len(report.results) == 16
    for result in report.results:
        assert result.answer is not None and result.answer.ended is Ended.TIMEOUT
    assert findings(report)["key-missing"] == "no answer before the deadline"


def test_a_hanging_server_stops_the_run_at_the_first_case(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = audit_with(_silent, timeout=0.3, gate=True)
    assert report.stopped is not None and report.stopped.code == 2 and report.stopped.at_gate
    assert [r.case.id for r in report.results if r.ran] == [GATE]
    assert report.summary()["not_run"] == len(CASES) - 1

    async def run() -> tuple[int, float, str]:
        async with raw_server(_silent) as target:
            loop = asyncio.get_running_loop()
            began = loop.time()
            url = f"ws://127.0.0.1:{target.port}/"
            code = await asyncio.to_thread(main, ["audit", url, "--timeout", "0.5"])
            return code, loop.time() - began, url

    code, took, url = asyncio.run(run())
    assert code == 2 and took < 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"wsnegotiate audit: {url}: no answer before the deadline to the plainest valid "
        "request (0.5 s): stopped\n"
    )


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
    flooded = [r for r in report.results if r.case.id != "http-tls-on-plain-port"]
    assert len(flooded) == len(report.results) - 1 > 20
    for result in flooded:
        assert result.answer is not None and result.answer.ended is Ended.LIMIT, result.case.id
        assert result.answer.read == 64 * 1024
        assert len(result.answer.raw) == 8 * 1024  # what the report keeps of it
    assert verdicts(report)["key-missing"] is Verdict.FAIL
    assert peak < 6 * 1024 * 1024, peak


def test_random_bytes_and_a_reset() -> None:
    async def noise(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _head(reader)
        writer.write(b"\x00\xff" + os.urandom(1024))
        await writer.drain()
        await reader.read()  # until the audit closes: no reset for bytes left unread

    report = audit_with(noise, timeout=1, groups=["versions"])
    assert Verdict.PASS not in set(verdicts(report).values())
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
                "--junit",
                str(tmp_path / "a.xml"),
            ]
        )
    out = capsys.readouterr().out
    assert code == 1
    why = (
        f"not a WebSocket server at ws://127.0.0.1:{port}/: the plainest valid request got "
        "HTTP/1.0 200 OK; the answer does not say why; no other case was judged"
    )
    assert out.splitlines()[1] == why  # said once, at the top
    assert "not run (not a WebSocket server): version-hixie-75, " in out
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["stopped"] == why
    assert len(report["cases"]) == len(CASES)
    cases = {case["id"]: case for case in report["cases"]}
    assert cases["101-valid"]["verdict"] == "fail"
    assert cases["101-valid"]["finding"] == (
        "a valid request refused: HTTP/1.0 200 OK; the answer does not say why; "
        "answered HTTP/1.0 to HTTP/1.1"
    )
    assert cases["101-valid"]["got"]["body"] == "<h1>hello</h1>"
    assert cases["version-14"]["ran"] is False and cases["version-14"]["got"] is None
    assert report["summary"]["not_run"] == len(CASES) - 1
    suite = ElementTree.parse(tmp_path / "a.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == str(len(CASES) - 1)
    assert (suite.get("failures"), len(suite.findall("testcase/skipped"))) == ("1", len(CASES) - 1)


def test_a_server_that_goes_away_mid_run(capsys: pytest.CaptureFixture[str]) -> None:
    async def run() -> tuple[Report, int]:
        connections = 0
        server: asyncio.Server | None = None

        async def dying(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            try:
                if connections == 1:
                    await SWITCH(reader, writer)
                    return
                await _head(reader)
                if connections == 4:  # it crashes on the third key case
                    assert server is not None
                    server.close()
                    writer.transport.abort()
                    return
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            finally:
                writer.close()

        server = await asyncio.start_server(dying, "127.0.0.1", 0)
        target = Target("127.0.0.1", server.sockets[0].getsockname()[1], "/")
        try:
            report = await audit(target, timeout=1, groups=["keys"], jobs=1)
        finally:
            server.close()
            await server.wait_closed()
        return report, connections

    report, connections = asyncio.run(run())
    assert connections == 4
    assert report.stopped is not None and report.stopped.code == 2
    assert report.stopped.why == (
        "the server went away after case key-15-bytes: key-17-bytes ended without a byte, and "
        "case key-not-base64 found no server (connection failed: Connection refused)"
    )
    got = {r.case.id: (r.ran, r.verdict) for r in report.results}
    assert got["key-missing"] == got["key-15-bytes"] == (True, Verdict.PASS)
    not_run = ["key-17-bytes", "key-not-base64", "key-unpadded", "key-empty", "key-repeated"]
    assert [r.case.id for r in report.results if not r.ran] == not_run
    assert findings(report)["key-17-bytes"] == "not run: the server went away during it"
    text = table(report)
    assert text.splitlines()[1] == report.stopped.why
    assert "not run (the server went away during it): key-17-bytes" in text
    assert (
        "not run (the run stopped): key-not-base64, key-unpadded, key-empty, key-repeated" in text
    )


# -- the command: reports and exit codes ------------------------------------------------------


def test_the_reports_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reason = b"<script>alert(1)</script>"
    answer = b"HTTP/1.1 426 " + reason + b"\r\nContent-Length: 0\r\n\r\n"

    async def run() -> tuple[int, int]:
        async with raw_server(gate_then(answer)) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            files = ["--json", str(tmp_path / "a.json"), "--html", str(tmp_path / "a.html")]
            files += ["--junit", str(tmp_path / "a.xml")]
            loose = await asyncio.to_thread(
                main, ["audit", url, "--only", "upgrade", "--timeout", "1", *files]
            )
        async with raw_server(gate_then(answer)) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            strict = await asyncio.to_thread(
                main, ["audit", url, "--only", "upgrade,101", "--strict", "--timeout", "1"]
            )
            return loose, strict

    loose, strict = asyncio.run(run())
    out = capsys.readouterr().out
    assert (loose, strict) == (1, 1)
    report = json.loads((tmp_path / "a.json").read_text())
    assert set(report) == {
        "server", "started", "timeout", "seed", "jobs", "slow_timeout", "incomplete", "stopped",
        "cases", "summary",
    }  # fmt: skip
    assert report["incomplete"] is False and report["stopped"] is None
    assert {c["group"] for c in report["cases"]} == {"upgrade"}
    counts = {v.value: sum(c["verdict"] == v.value for c in report["cases"]) for v in Verdict}
    assert report["summary"] == {**counts, "not_run": 0}
    first = report["cases"][0]
    assert set(first) >= {"id", "group", "rule", "level", "allowed", "got", "verdict", "finding"}
    assert first["got"]["ended"] in {e.value for e in Ended}
    broken = next(c for c in report["cases"] if c["id"] == "upgrade-case")
    assert broken["broke"]["level"] == broken["level"] == "MUST"
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
    assert "not a ws:// or wss:// URL" in capsys.readouterr().err
    assert main(["audit", "ws://127.0.0.1:1/", "--insecure"]) == 2
    assert capsys.readouterr().err == (
        "wsnegotiate audit: --cafile and --insecure go with a wss:// URL\n"
    )
    for option, value in (("--only", "versions,nope"), ("--jobs", "0"), ("--seed", "-1")):
        with pytest.raises(SystemExit) as exit:
            main(["audit", "ws://127.0.0.1:1/", option, value])
        assert exit.value.code == 2
    assert "not a list of groups" in capsys.readouterr().err


def test_tls_options_and_report_files_checked_before_any_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, junk = tmp_path / "missing.pem", tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for cafile, said in (
        (missing, f"--cafile {missing}: No such file or directory"),
        (junk, f"--cafile {junk}: no certificate in it ("),
    ):
        assert main(["audit", "wss://127.0.0.1:1/", "--cafile", str(cafile)]) == 2
        assert capsys.readouterr().err.startswith(f"wsnegotiate audit: {said}")
    kept = tmp_path / "kept.json"
    kept.write_text("an earlier report\n")
    assert main(["audit", "ws://127.0.0.1:1/", "--json", str(kept), "--timeout", "1"]) == 2
    assert kept.read_text() == "an earlier report\n"  # checked, neither emptied nor removed
    assert set(tmp_path.iterdir()) == {kept, junk}
    capsys.readouterr()


def test_an_unwritable_report_is_said_before_any_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1

    async def run() -> int:
        async with raw_server(count) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            where = str(tmp_path / "missing" / "a.json")
            return await asyncio.to_thread(main, ["audit", url, "--only", "keys", "--json", where])

    assert asyncio.run(run()) == 2
    assert capsys.readouterr().err == (
        f"wsnegotiate audit: cannot write {tmp_path / 'missing' / 'a.json'}: "
        "No such file or directory\n"
    )
    assert connections == 0  # not one case ran, none was lost
    assert list(tmp_path.iterdir()) == []


def test_terminal_table_colours_groups_and_rules() -> None:
    report = audit_with(
        answering(b"HTTP/1.1 400 No\r\nContent-Length: 0\r\n\r\n"), 0.5, ["keys", "101"]
    )
    plain, coloured = table(report), table(report, colour=True)
    assert "\033[32mpass\033[0m" in coloured and "\033[31;1mfail\033[0m" in coloured
    lines = plain.splitlines()
    assert lines[0].endswith(", seed 0)")
    assert lines[2] == "keys" and "101" in lines
    assert lines[-1] == "16 cases: 7 pass, 1 fail, 0 warn, 8 info"
    fail = lines.index(next(line for line in lines if line.startswith("  fail  101-valid")))
    assert lines[fail].endswith(
        "MUST    a valid request refused: HTTP/1.1 400 No; the answer does not say why"
    )
    # the rule it broke, under the row, wrapped to the table's width
    assert lines[fail + 1].strip().startswith('RFC 6455 §4.2.2: "If the server chooses to accept')
    assert all(len(line) <= 100 for line in lines[fail + 1 : fail + 3])
    assert not lines[fail - 1].startswith(" " * 10)  # a pass has no rule under it
    assert json.loads(as_json(report))["summary"] == report.summary()
    assert as_html(report).count("<tr id=") == 16
    assert as_junit(report, strict=True).count("<failure") == 1


def test_a_servers_control_characters_never_reach_the_terminal() -> None:
    body = b"Origin \x1b]0;owned\x07 refused"
    answer = b"HTTP/1.1 400 Bad\x1b[2J\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    report = audit_with(answering(answer), 0.5, ["101"])
    text = table(report)
    assert "\x1b" not in text and "\x07" not in text
    assert "HTTP/1.1 400 Bad\\x1b[2J; the answer names Origin" in text
    assert '("Origin \\x1b]0;owned\\x07 refused")' in text


def test_progress_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    async def run(stderr: io.StringIO | None) -> int:
        async with raw_server(gate_then(b"HTTP/1.1 400 No\r\nContent-Length: 0\r\n\r\n")) as target:
            url = f"ws://127.0.0.1:{target.port}/"
            if stderr is not None:
                monkeypatch.setattr("sys.stderr", stderr)
            argv = ["audit", url, "--only", "keys", "--timeout", "1"]
            try:
                return await asyncio.to_thread(main, argv, io.StringIO())
            finally:
                monkeypatch.undo()

    terminal = Terminal()
    assert asyncio.run(run(terminal)) == 0
    shown = terminal.getvalue()
    assert "\r\033[K[0/7] " in shown and "\r\033[K[7/7] key-" in shown
    assert shown.endswith("\r\033[K")  # the line is gone when the table comes
    assert asyncio.run(run(None)) == 0
    assert capsys.readouterr().err == ""  # not a terminal: nothing but the table


def test_cases_run_a_few_at_a_time_reported_in_table_order() -> None:
    open_now = most = 0

    async def slow_refusal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            await _head(reader)
            await asyncio.sleep(0.2)
            writer.write(b"HTTP/1.1 400 No\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        finally:
            open_now -= 1

    report = audit_with(slow_refusal, 1, ["keys"], jobs=3)
    assert most == 3
    assert [r.case.id for r in report.results] == [c.id for c in CASES if c.group == "keys"]
    most = 0
    audit_with(slow_refusal, 1, ["keys"], jobs=1)
    assert most == 1


async def _negotiating(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Our negotiator's answer to the request, then the connection held until the
    audit leaves."""
    await wsnegotiate.aio.server_handshake(reader, writer, ws.Policy())
    await reader.read()


def test_wss_with_a_self_signed_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trustme = pytest.importorskip("trustme", reason="trustme (the dev extra) makes the CA")
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)

    async def run() -> list[tuple[int, str]]:
        said: list[tuple[int, str]] = []
        async with raw_server(_negotiating, tls=context) as target:
            wss, ws_url = f"wss://127.0.0.1:{target.port}/", f"ws://127.0.0.1:{target.port}/"
            for argv in (
                [wss, "--cafile", str(tmp_path / "ca.pem")],
                [wss, "--insecure"],
                [wss],  # the system's trust store does not know the test's CA
                [ws_url],
            ):
                full = ["audit", *argv, "--only", "101", "--timeout", "2"]
                code = await asyncio.to_thread(main, full, io.StringIO())
                said.append((code, capsys.readouterr().err))
        async with raw_server(_negotiating) as target:  # no TLS there
            full = ["audit", f"wss://127.0.0.1:{target.port}/", "--timeout", "2"]
            said.append(
                (await asyncio.to_thread(main, full, io.StringIO()), capsys.readouterr().err)
            )
        return said

    trusted, insecure, untrusted, plain, no_tls = asyncio.run(run())
    assert trusted == (0, "") and insecure == (0, "")
    assert untrusted[0] == 2
    assert untrusted[1].startswith("wsnegotiate audit: wss://127.0.0.1:")
    assert ": TLS: the server's certificate is not trusted (" in untrusted[1]
    assert untrusted[1].endswith(
        "; --cafile FILE trusts the CA that signed it, --insecure skips the check\n"
    )
    port = plain[1].split(":")[3].split("/")[0]
    assert plain == (
        2,
        f"wsnegotiate audit: ws://127.0.0.1:{port}/: the server speaks TLS on this port: "
        f"audit wss://127.0.0.1:{port}/\n",
    )
    assert no_tls[0] == 2
    assert no_tls[1].endswith(": TLS: the server does not speak TLS on this port (a ws:// URL?)\n")


def test_case_table() -> None:
    assert 80 <= len(CASES) <= 130
    assert GROUPS == (
        "versions",
        "keys",
        "http",
        "upgrade",
        "subprotocols",
        "extensions",
        "security",
        "pipelining",
        "frames",
        "101",
        "slow",
    )
    for case in CASES:
        assert "RFC " in case.rule.text and "§" in case.rule.text, case.id
        assert case.allowed, case.id
    assert [case.id for case in CASES if case.slow] == ["slow-request"]
    assert GROUP_ALIASES == {"origin": "security"}  # --only origin: the group's old name
