"""`wsnegotiate audit` against real servers on 127.0.0.1, each started by the test
and always stopped, with the verdicts measured and explained; and the HTML report
in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from peers import needs_node, node_ws_server
from test_browser import CHROMIUM, FLAGS
from test_client_with_real_servers import aiohttp_server, tornado_server, websockets_server
from test_serve import serve

from wsnegotiate.cli.audit import Report, as_html, audit
from wsnegotiate.cli.audit_cases import CASES, Verdict
from wsnegotiate.cli.probe import Target

TIMEOUT = 2.0

#: websockets (17) answers 400 without Sec-WebSocket-Version to every version it
#: does not speak, malformed ones included (RFC 6455 §4.2.2); switches without a
#: Host (RFC 9112 §3.2); closes without any answer when a request breaks HTTP/1.1
#: framing or when bytes follow a request it refuses (an internal assertion, so
#: also for a frame or a request pipelined behind one); and sends the Pong to a
#: pipelined Ping before its 101.
WEBSOCKETS_FAILS = {
    *(f"version-{v}" for v in ("0", "4", "5", "6", "7", "8", "9", "14", "255")),
    *(f"version-{v}" for v in ("013", "plus-13", "13.0", "list", "1_3", "256", "non-ascii")),
    "http-no-host",
    "http-two-hosts",
    "http-space-before-colon",
    "http-obs-fold",
    "http-bad-content-length",
    "pipeline-after-bad-length",
    "pipeline-after-refused",
    "pipeline-ping",
}
#: hixie-76 and hybi-00 send 8 bytes after the head: whether they reach websockets
#: in the same read as the head (then it closes without answering) is timing.
WEBSOCKETS_SOMETIMES = {"version-hixie-76", "version-hybi-00"}

#: aiohttp: 400 without the version list to versions it does not speak (it speaks
#: 7, 8 and 13), malformed values included; a 101 to HTTP/1.0 (RFC 9110 §7.8) and
#: to HEAD; two keys and two version lines accepted; a permessage-deflate offer
#: with a repeated parameter accepted (RFC 7692 §7).
AIOHTTP_FAILS = {
    *(f"version-{v}" for v in ("0", "4", "5", "6", "9", "14", "255")),
    *(f"version-{v}" for v in ("013", "plus-13", "13.0", "list", "1_3", "256", "non-ascii")),
    "version-repeated",
    "key-repeated",
    "http-1.0",
    "http-head",
    "deflate-repeated-param",
}

#: tornado: no check of the key beyond its presence (RFC 6455 §4.2.1 item 5), a
#: 101 to HTTP/1.0, 405 without Allow (RFC 9110 §15.5.6), the absolute-form
#: target routed as a path (404; RFC 9112 §3.2.2), and every version refusal a
#: 426 without Upgrade (RFC 9110 §15.5.22), though it lists 13.
TORNADO_FAILS = {
    *(f"version-{v}" for v in ("0", "4", "5", "6", "7", "8", "9", "14", "255", "missing")),
    *(f"version-{v}" for v in ("013", "plus-13", "13.0", "list", "1_3", "256", "non-ascii")),
    *(f"version-{v}" for v in ("hixie-75", "hixie-76", "hybi-00", "repeated")),
    "key-15-bytes",
    "key-17-bytes",
    "key-not-base64",
    "key-unpadded",
    "key-repeated",
    "http-1.0",
    "http-post",
    "http-head",
    "http-get-lowercase",
    "http-absolute-form",
}

#: Node ws (8): reads the version with JavaScript's unary plus, so 013, +13 and
#: 13.0 are 13 (RFC 6455 §4.3); 101 to HTTP/1.0 and without a Host; 405 without
#: Allow; a 426 without Upgrade to a request that is no upgrade (RFC 9110
#: §15.5.22); and, with no handleProtocols, selects the first subprotocol offered.
NODE_FAILS = {
    "upgrade-missing",
    "connection-missing",
    "connection-no-upgrade",
    "version-013",
    "version-plus-13",
    "version-13.0",
    "http-1.0",
    "http-no-host",
    "http-two-hosts",
    "http-post",
    "http-head",
    "subprotocol-unknown",
}


def failing(report: Report) -> set[str]:
    return {result.case.id for result in report.results if result.verdict is Verdict.FAIL}


def audit_of(server: Callable[[], AbstractAsyncContextManager[int]]) -> Report:
    async def run() -> Report:
        async with server() as port:
            return await audit(Target("127.0.0.1", port, "/"), timeout=TIMEOUT)

    return asyncio.run(asyncio.wait_for(run(), 120))


def test_our_own_serve_fails_nothing(tmp_path: Path) -> None:
    with serve("--subprotocols", "chat") as (_, port):
        url = f"ws://127.0.0.1:{port}/"
        options = ["--timeout", str(TIMEOUT), "--subprotocol", "chat", "--strict"]
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


def test_websockets_server() -> None:
    fails = failing(audit_of(websockets_server))
    assert fails - WEBSOCKETS_SOMETIMES == WEBSOCKETS_FAILS


def test_aiohttp_server() -> None:
    assert failing(audit_of(aiohttp_server)) == AIOHTTP_FAILS


def test_tornado_server() -> None:
    report = audit_of(tornado_server)
    assert failing(report) == TORNADO_FAILS
    verdicts = {result.case.id: result.verdict for result in report.results}
    assert verdicts["key-missing"] is Verdict.PASS  # a key must be there, of any shape


@needs_node
def test_node_ws_server() -> None:
    assert failing(audit_of(node_ws_server)) == NODE_FAILS


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
    assert text == {name: f"{n} {name}" for name, n in summary.items()}
    assert (rows, failing_rows) == (len(CASES), summary["fail"])
    assert visible and not closed and opened  # the wire on demand
    assert requests == [page_file.as_uri()]  # self-contained: nothing else was fetched
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
