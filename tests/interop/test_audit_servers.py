"""`wsnegotiate audit` against real servers on 127.0.0.1, each started by the test
and always stopped, with the verdicts measured and explained; the security group
against the peers and our own serve; and the HTML report in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websockets
from peers import needs_node, node_ws_server
from test_browser import CHROMIUM, FLAGS
from test_client_with_real_servers import aiohttp_server, tornado_server, websockets_server
from test_serve import serve
from test_uvicorn import uvicorn

from wsnegotiate.cli.audit import Report, as_html, audit
from wsnegotiate.cli.audit_answer import Ended
from wsnegotiate.cli.audit_cases import (
    CASES,
    CREDENTIAL_PREFIX,
    CROSS_ORIGIN,
    FAKE_TOKEN,
    Verdict,
)
from wsnegotiate.cli.probe import Target

TIMEOUT = 2.0


# -- what a peer really answered, read independently ---------------------------------------
#
# The peers are pinned (pyproject's dev extra, tests/interop/package-lock.json), but a test of
# the audit must not depend on a peer's defect staying unfixed. So each known defect below is a
# small check of the bytes the peer sent back, parsed here by hand (not by the audit's reader):
# the audit must fail a case exactly when that check finds the defect in the same run. The
# bytes are those the audit's own socket received, not a second send, because some answers
# depend on how the peer's reads split the request (websockets and hixie-76's key3).


@dataclass(frozen=True)
class Raw:
    """The bytes a server sent back, the first response head in them, and whether
    the server ended the connection."""

    data: bytes
    status: int | None  # None: no complete response head (closed, silent, or not HTTP)
    fields: frozenset[str]  # lower-cased names of the head's fields
    rest: bytes  # what came after that head
    closed: bool

    def has(self, name: str) -> bool:
        return name in self.fields


def raw_answer(data: bytes, closed: bool) -> Raw:
    head, found, rest = data.partition(b"\r\n\r\n")
    if not found or not head.startswith(b"HTTP/1."):
        return Raw(data, None, frozenset(), b"", closed)
    lines = head.split(b"\r\n")
    names = (line.split(b":", 1)[0].strip().lower().decode("latin-1") for line in lines[1:])
    return Raw(data, int(lines[0].split(b" ")[1]), frozenset(names), rest, closed)


Defect = Callable[[Raw], bool]


def switched(raw: Raw) -> bool:
    """A 101 where the request must be refused."""
    return raw.status == 101


def refused_without_list(raw: Raw) -> bool:
    """RFC 6455 §4.2.2: a refusal of a version not understood that names no version."""
    return raw.status is not None and raw.status >= 400 and not raw.has("sec-websocket-version")


def status_426_without_upgrade(raw: Raw) -> bool:
    """RFC 9110 §15.5.22: a 426 MUST carry Upgrade."""
    return raw.status == 426 and not raw.has("upgrade")


def status_405_without_allow(raw: Raw) -> bool:
    """RFC 9110 §15.5.6: a 405 MUST carry Allow."""
    return raw.status == 405 and not raw.has("allow")


def no_answer(raw: Raw) -> bool:
    """Closed (or silent) without any HTTP answer."""
    return raw.status is None


def not_answer_first(raw: Raw) -> bool:
    """Something (a frame) written before the HTTP answer."""
    return bool(raw.data) and not raw.data.startswith(b"HTTP/")


def foreign_subprotocol(raw: Raw) -> bool:
    """RFC 6455 §4.2.2: a 101 selecting a subprotocol the client never offered."""
    return raw.status == 101 and raw.has("sec-websocket-protocol")


def head_content(raw: Raw) -> bool:
    """RFC 9110 §9.3.2: content after the head of an answer to HEAD."""
    return raw.status not in (None, 101) and bool(raw.rest)


def deflate_accepted(raw: Raw) -> bool:
    """RFC 7692 §7: a 101 that accepts permessage-deflate for an offer the server MUST
    decline (a parameter not defined for an offer, or one given twice)."""
    return raw.status == 101 and raw.has("sec-websocket-extensions")


def unmasked_kept(raw: Raw) -> bool:
    """RFC 6455 §5.1: a server that neither closes nor sends a Close after an unmasked
    frame, or reads it as data (it echoes the Text frame \x81\x05audit)."""
    return raw.status == 101 and (
        b"\x81\x05audit" in raw.rest or (not raw.closed and not raw.rest.startswith(b"\x88"))
    )


def any_of(*defects: Defect) -> Defect:
    return lambda raw: any(defect(raw) for defect in defects)


#: What fails a case the server must refuse, by its answer alone.
REFUSAL = any_of(switched, no_answer, status_426_without_upgrade, status_405_without_allow)
#: What fails a case where any answer but a 101 passes.
ANY_ANSWER = any_of(switched, status_426_without_upgrade, status_405_without_allow)
#: What fails a version the server does not understand: the refusals above, and one
#: that lists no version (RFC 6455 §4.2.2). A malformed, repeated or missing version
#: refused without a list is a warn (§4.2.1 asks only for an error).
VERSION_REFUSAL = any_of(REFUSAL, refused_without_list)
MALFORMED = ("013", "plus-13", "13.0", "list", "1_3", "256", "non-ascii", "repeated", "missing")
UNDERSTOOD_NOT = ("0", "4", "5", "6", "7", "8", "9", "14", "255")
#: The four list fields a server must refuse (RFC 6455 §4.2.1: the ABNF of §4.3, §9.1).
LISTS = ("subprotocol-malformed", "subprotocol-empty", "extension-malformed", "extension-empty")

#: websockets 17: 400 without Sec-WebSocket-Version to every version it does not speak
#: (RFC 6455 §4.2.2); closes without any answer on hixie-76 and hybi-00 (their 8 bytes after
#: the head; the audit's are fixed, and these are closed on), on a request that breaks HTTP/1.1
#: framing or carries an invalid Content-Length (RFC 9112 §5.1, §5.2, §6.3); switches without
#: a Host, with two, or with an invalid one (RFC 9112 §3.2); sends content in its 405 to HEAD
#: (RFC 9110 §9.3.2); sends the Pong to a pipelined Ping before its 101.
WEBSOCKETS: dict[str, Defect] = {
    **{f"version-{v}": VERSION_REFUSAL for v in UNDERSTOOD_NOT},
    **{f"version-{v}": REFUSAL for v in ("hixie-76", "hybi-00")},
    **{f"http-{h}": REFUSAL for h in ("no-host", "two-hosts", "invalid-host")},
    "http-space-before-colon": REFUSAL,
    "http-obs-fold": any_of(no_answer, lambda raw: raw.status not in (101, 400)),
    "http-bad-content-length": REFUSAL,
    "http-head-no-content": head_content,
    "pipeline-after-bad-length": REFUSAL,
    "pipeline-ping": not_answer_first,
}

#: aiohttp: 400 without the version list to versions it does not speak (it speaks 7, 8 and
#: 13); a 101 to HTTP/1.0 (RFC 9110 §7.8), to HEAD, to two keys or two version lines, to an
#: invalid Host, and to malformed or empty Sec-WebSocket-Protocol and -Extensions; a
#: permessage-deflate offer with a repeated parameter accepted; an unmasked frame read as data.
AIOHTTP: dict[str, Defect] = {
    **{f"version-{v}": VERSION_REFUSAL for v in ("0", "4", "5", "6", "9", "14", "255")},
    "version-repeated": REFUSAL,
    "key-repeated": REFUSAL,
    "http-1.0": ANY_ANSWER,
    "http-head": REFUSAL,
    "http-invalid-host": REFUSAL,
    **dict.fromkeys(LISTS, REFUSAL),
    "deflate-repeated-param": deflate_accepted,
    "frame-unmasked": unmasked_kept,
}

#: tornado: no check of the key beyond its presence (RFC 6455 §4.2.1 item 5), a 101 to
#: HTTP/1.0, 405 without Allow, the absolute-form target routed as a path (404; RFC 9112
#: §3.2.2), every version refusal a 426 without Upgrade (though it lists 13), malformed and
#: empty Sec-WebSocket-Protocol and -Extensions taken, an unmasked frame read as data.
TORNADO: dict[str, Defect] = {
    **{f"version-{v}": VERSION_REFUSAL for v in UNDERSTOOD_NOT},
    **{f"version-{v}": REFUSAL for v in (*MALFORMED, "hixie-75", "hixie-76", "hybi-00")},
    **{f"key-{k}": REFUSAL for k in ("15-bytes", "17-bytes", "not-base64", "unpadded", "repeated")},
    "http-1.0": ANY_ANSWER,
    "http-post": REFUSAL,
    "http-head": REFUSAL,
    "http-get-lowercase": ANY_ANSWER,
    "http-absolute-form": lambda raw: raw.status != 101,
    **dict.fromkeys(LISTS, REFUSAL),
    "frame-unmasked": unmasked_kept,
}

#: Node ws 8: a 101 to HTTP/1.0 and without a Host, with two, or with an invalid one; 405
#: without Allow, with content in its answer to HEAD; a 426 without Upgrade (Node's http
#: server) to a request that is no upgrade; with no handleProtocols, the first subprotocol
#: offered selected; malformed and empty Sec-WebSocket-Extensions taken.
NODE: dict[str, Defect] = {
    "upgrade-missing": REFUSAL,
    "connection-missing": REFUSAL,
    "connection-no-upgrade": REFUSAL,
    "http-1.0": ANY_ANSWER,
    **{f"http-{h}": REFUSAL for h in ("no-host", "two-hosts", "invalid-host")},
    "http-post": REFUSAL,
    "http-head": REFUSAL,
    "http-head-no-content": head_content,
    "subprotocol-unknown": foreign_subprotocol,
    "extension-malformed": REFUSAL,
    "extension-empty": REFUSAL,
}


def failing(report: Report) -> set[str]:
    return {result.case.id for result in report.results if result.verdict is Verdict.FAIL}


def audit_of(server: Callable[[], AbstractAsyncContextManager[int]], path: str = "/") -> Report:
    async def run() -> Report:
        async with server() as port:
            target = Target("127.0.0.1", port, path)
            return await audit(target, timeout=TIMEOUT, slow_timeout=TIMEOUT)

    return asyncio.run(asyncio.wait_for(run(), 120))


def found_defects(report: Report, known: dict[str, Defect]) -> set[str]:
    """The known defects that the bytes the server sent show in this run."""
    answers = {result.case.id: result.answer for result in report.results}
    found = set()
    for case_id, defect in known.items():
        answer = answers[case_id]
        closed = answer is not None and answer.ended in (Ended.CLOSED, Ended.RESET)
        if defect(raw_answer(answer.raw if answer else b"", closed)):
            found.add(case_id)
    return found


def assert_fails_as_measured(
    server: Callable[[], AbstractAsyncContextManager[int]],
    known: dict[str, Defect],
    path: str = "/",
) -> Report:
    """The audit (of ``path``) fails exactly the known defects still present, and nothing else."""
    report = audit_of(server, path)
    assert report.stopped is None, report.stopped
    found = found_defects(report, known)
    assert failing(report) == found, {
        "audit fails but no defect seen": sorted(failing(report) - found),
        "defect seen but audit passes": sorted(found - failing(report)),
    }
    return report


def test_our_own_serve_fails_nothing(tmp_path: Path) -> None:
    with serve("--subprotocols", "chat", "--handshake-timeout", "1") as (_, port):
        url = f"ws://127.0.0.1:{port}/"
        options = ["--timeout", str(TIMEOUT), "--subprotocol", "chat", "--strict"]
        options += ["--slow-timeout", "3"]
        command = [sys.executable, "-m", "wsnegotiate", "audit", url, *options]
        done = subprocess.run(
            [*command, "--json", str(tmp_path / "serve.json")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout
    report = json.loads((tmp_path / "serve.json").read_text())
    assert len(report["cases"]) == len(CASES)
    assert report["summary"]["fail"] == report["summary"]["warn"] == 0
    assert f"{len(CASES)} cases: " in done.stdout.splitlines()[-1]


@pytest.mark.parametrize("parser", ["h11", "httptools"])
def test_uvicorn_with_our_protocol_fails_nothing(parser: str, tmp_path: Path) -> None:
    """uvicorn's own HTTP parsing stays uvicorn's (a warn at most: HTTP/1.2 refused by
    httptools, Upgrade: foo, websocket routed as plain HTTP); every handshake rule is ours."""
    with uvicorn("starlette_app:app", "--http", parser) as (_, port):
        url = f"ws://127.0.0.1:{port}/echo"
        options = ["--timeout", str(TIMEOUT), "--subprotocol", "chat", "--slow-timeout", "2"]
        command = [sys.executable, "-m", "wsnegotiate", "audit", url, *options]
        done = subprocess.run(
            [*command, "--json", str(tmp_path / "uvicorn.json")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout
    report = json.loads((tmp_path / "uvicorn.json").read_text())
    assert report["summary"]["fail"] == 0
    warned = {case["id"] for case in report["cases"] if case["verdict"] == "warn"}
    assert warned <= {"http-1.2", "upgrade-list"}


def test_two_runs_against_a_peer_agree() -> None:
    first, second = audit_of(websockets_server), audit_of(websockets_server)
    verdicts = [{r.case.id: r.verdict for r in report.results} for report in (first, second)]
    assert verdicts[0] == verdicts[1]


def test_websockets_server() -> None:
    assert_fails_as_measured(websockets_server, WEBSOCKETS)


def test_aiohttp_server() -> None:
    assert_fails_as_measured(aiohttp_server, AIOHTTP)


def test_tornado_server() -> None:
    report = assert_fails_as_measured(tornado_server, TORNADO)
    verdicts = {result.case.id: result.verdict for result in report.results}
    assert verdicts["key-missing"] is Verdict.PASS  # a key must be there, of any shape


@needs_node
def test_node_ws_server() -> None:
    assert_fails_as_measured(node_ws_server, NODE)


def test_the_html_report_in_chromium(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright (the dev extra) drives Chromium"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium package is needed (.ci/run installs it)")
    report = audit_of(websockets_server)
    page_file = tmp_path / "audit.html"
    page_file.write_text(as_html(report))
    summary = report.as_dict()["summary"]
    screenshot = Path(os.environ.get("WSNEGOTIATE_AUDIT_SCREENSHOT", tmp_path / "audit.png"))
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 860})
            requests: list[str] = []
            tab.on("request", lambda request: requests.append(request.url))
            tab.goto(page_file.as_uri())
            shown = {
                name: int(tab.locator(f"#count-{name}").get_attribute("data-count") or -1)
                for name in summary
            }
            text = {name: tab.locator(f"#count-{name}").inner_text() for name in summary}
            rows = tab.locator("tr[data-verdict]").count()
            failing_rows = tab.locator('tr[data-verdict="fail"]').count()
            visible = tab.locator("h1").is_visible()
            closed = tab.locator("tr[data-verdict] details pre").first.is_visible()
            tab.screenshot(path=str(screenshot))
            tab.locator("tr[data-verdict] details").first.locator("summary").click()
            opened = tab.locator("tr[data-verdict] details pre").first.is_visible()
        finally:
            browser.close()
    assert shown == summary
    assert text == {name: f"{n} {name.replace('_', ' ')}" for name, n in summary.items()}
    assert (rows, failing_rows) == (len(CASES), summary["fail"])
    assert visible and not closed and opened  # the wire on demand
    assert requests == [page_file.as_uri()]  # self-contained: nothing else was fetched
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the security group: who gets in, read off the status line the peer sent ---------------

#: websockets with its recommended configuration: the origins listed (both schemes, for
#: the pages behind a TLS proxy), as the admission table measures it.
SITE = "http://app.example"


@asynccontextmanager
async def websockets_listing() -> AsyncIterator[int]:
    async def echo(connection: websockets.ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    origins = [websockets.Origin(SITE), websockets.Origin("https://app.example")]
    async with websockets.serve(echo, "127.0.0.1", 0, origins=origins) as server:
        yield server.sockets[0].getsockname()[1]


def security_of(
    server: Callable[[], AbstractAsyncContextManager[int]], origin: str | None = None
) -> Report:
    async def run() -> Report:
        async with server() as port:
            target = Target("127.0.0.1", port, "/")
            return await audit(target, timeout=TIMEOUT, groups=["security"], origin=origin)

    return asyncio.run(asyncio.wait_for(run(), 60))


def assert_security_as_sent(report: Report) -> dict[str, Verdict]:
    """Each variant's verdict from the status line the peer sent back: a 101 to a
    cross-origin variant warns, unless the foreign origin got one too (then each is
    a note of that); a refusal passes. The credential warns exactly when its token's
    bytes came back."""
    assert report.stopped is None, report.stopped
    answers = {r.case.id: r.answer.raw if r.answer else b"" for r in report.results}
    got = {r.case.id: r.verdict for r in report.results}
    admitted = {case_id for case_id, raw in answers.items() if raw.startswith(b"HTTP/1.1 101 ")}
    any_origin = "origin-foreign" in admitted
    for case_id in CROSS_ORIGIN:
        if case_id not in admitted:
            expected = Verdict.PASS
        else:
            expected = Verdict.INFO if any_origin else Verdict.WARN
        assert got[case_id] is expected, (case_id, answers[case_id][:200])
    leaked = FAKE_TOKEN.encode() in answers["credential-offer"]
    assert (got["credential-offer"] is Verdict.WARN) is leaked
    assert not any(verdict is Verdict.FAIL for verdict in got.values())
    return got


@pytest.mark.parametrize(
    ("server", "origin"),
    [
        (websockets_listing, SITE),
        (aiohttp_server, None),
        (tornado_server, None),
        pytest.param(node_ws_server, None, marks=needs_node),
    ],
    ids=["websockets-origins", "aiohttp", "tornado", "node-ws"],
)
def test_security_group_against_peers(
    server: Callable[[], AbstractAsyncContextManager[int]], origin: str | None
) -> None:
    assert_security_as_sent(security_of(server, origin))


def _audit_serve(tmp_path: Path, serve_options: list[str], *options: str) -> tuple[int, Any]:
    with serve("--subprotocols", "chat", *serve_options) as (_, port):
        url = f"ws://127.0.0.1:{port}/"
        report = tmp_path / "security.json"
        command = [sys.executable, "-m", "wsnegotiate", "audit", url, "--only", "origin"]
        options += ("--strict", "--timeout", str(TIMEOUT), "--subprotocol", "chat")
        done = subprocess.run(
            [*command, *options, "--json", str(report)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    return done.returncode, json.loads(report.read_text())


def test_our_own_serve_admitting_its_own_origin(tmp_path: Path) -> None:
    """serve --same-origin (with a credential prefix), and serve --origins with the audit's
    --origin: nothing fails or warns (--strict), every variant refused; through the
    group's old name, --only origin."""
    runs = [
        (["--same-origin", "--credential-prefix", CREDENTIAL_PREFIX], []),
        (["--origins", SITE], ["--origin", SITE]),
    ]
    for serve_options, options in runs:
        code, report = _audit_serve(tmp_path, serve_options, *options)
        got = {case["id"]: case["verdict"] for case in report["cases"]}
        assert code == 0, report["summary"]
        assert {case["group"] for case in report["cases"]} == {"security"}
        assert {case_id for case_id in CROSS_ORIGIN if got[case_id] == "pass"} == CROSS_ORIGIN
        assert got["origin-upper-case"] == got["credential-offer"] == "pass"


def test_our_own_serve_behind_a_proxy(tmp_path: Path) -> None:
    """serve --same-origin trusting 127.0.0.1 as its proxy: from there, the forwarded
    fields are believed, rightly (--from-proxy); said without it, the audit warns, and
    the finding says which fields let the foreign origin in and what to give."""
    proxied = ["--same-origin", "--forwarded-allow-ips", "127.0.0.1"]
    code, report = _audit_serve(tmp_path, proxied, "--from-proxy")
    cases = {case["id"]: case for case in report["cases"]}
    assert code == 0, report["summary"]
    assert cases["forwarded"]["finding"] == "101: the proxy's Forwarded believed"
    code, report = _audit_serve(tmp_path, proxied)
    cases = {case["id"]: case for case in report["cases"]}
    assert code == 1
    assert {i for i, case in cases.items() if case["verdict"] == "warn"} == {
        "forwarded",
        "forwarded-x",
    }
    assert cases["forwarded-x"]["finding"].endswith(
        "by X-Forwarded-Proto and -Host from this address (if the server trusts it as its "
        "proxy: --from-proxy)"
    )
