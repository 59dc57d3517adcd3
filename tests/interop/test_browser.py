"""Headless Chromium (Debian's package) opens `new WebSocket(...)` to `wsnegotiate serve`
from a page served by a real HTTP server on 127.0.0.1, as a user's dev page would be,
sends text and binary, and reports the echoes back."""

from __future__ import annotations

import functools
import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from factory import QuietHandler, http_server
from test_serve import serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As this machine's notes advise: no sandbox as root, and no background traffic to
# hosts this network cannot reach.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PAGE = """<!doctype html>
<title>wsnegotiate</title>
<script>
function exchange(url) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    const received = [];
    socket.onopen = () => { socket.send("hello chromium"); socket.send(new Uint8Array([1, 2, 3]).buffer); };
    socket.onmessage = (event) => {
      received.push(typeof event.data === "string" ? event.data : Array.from(new Uint8Array(event.data)));
      if (received.length === 2) socket.close(1000, "done");
    };
    socket.onclose = (event) => resolve({received, code: event.code, reason: event.reason,
                                          protocol: socket.protocol, extensions: socket.extensions});
    socket.onerror = () => reject(new Error("WebSocket error"));
  });
}
</script>
"""


def page_server(root: Path) -> AbstractContextManager[int]:
    return http_server(functools.partial(QuietHandler, directory=str(root)))


def in_chromium(page: str, root: Path, url: str) -> Any:
    """Serve ``page`` over HTTP from 127.0.0.1, open it in headless Chromium and
    return what its ``exchange(url)`` resolves to."""
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright (the dev extra) drives Chromium"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium package is needed (.ci/run installs it)")
    (root / "index.html").write_text(page)
    with page_server(root) as http_port, playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            tab = browser.new_page()
            tab.goto(f"http://127.0.0.1:{http_port}/index.html")
            return tab.evaluate("url => exchange(url)", url)
        finally:
            browser.close()


def test_chromium_talks_to_wsnegotiate_serve(tmp_path: Path) -> None:
    with serve("--subprotocols", "chat") as (_, ws_port):
        result = in_chromium(PAGE, tmp_path, f"ws://127.0.0.1:{ws_port}/")
    assert result["received"] == ["hello chromium", [1, 2, 3]]
    assert (result["code"], result["reason"]) == (1000, "done")
    # no subprotocol offered by the page; Chromium offers permessage-deflate itself
    assert (result["protocol"], result["extensions"]) == (
        "",
        "permessage-deflate; client_max_window_bits=12",
    )
