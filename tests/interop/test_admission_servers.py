"""Who gets in: the origin variants of the README's admission table sent as raw
bytes to `wsnegotiate serve`, to uvicorn on our protocol, and to websockets, tornado
and aiohttp, each with its recommended configuration, started here on 127.0.0.1 and
always stopped. Our answers (serve's and uvicorn's) are asserted; the peers' are
only recorded (printed with ``-s``, for the README), so a peer's change cannot turn
this red. And Chromium: a page of another
origin is refused, a page of the allowed origin gets its echo."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets
from factory import QuietHandler, http_server
from test_browser import CHROMIUM, FLAGS
from test_client_with_real_servers import aiohttp_server, tornado_server
from test_serve import serve
from test_uvicorn import bare_apps

#: The site: pages of http://app.example open ws://app.example/; behind the proxy, pages
#: of https://app.example reach the backend as Host: backend:8000.
SITE = "app.example"
BACKEND = "backend:8000"
TRUSTED, UNTRUSTED = "127.0.0.1", "127.0.0.2"  # the peers' addresses; any of 127/8 on Linux
REWRITTEN = (
    ("X-Forwarded-For", "198.51.100.7"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", SITE),
)
FORWARDED = (("Forwarded", f'for=198.51.100.7;proto=https;host="{SITE}"'),)


def origin(value: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("Origin", value), *extra)


#: (variant, fields, Host, the address the request comes from, our status)
VARIANTS: list[tuple[str, tuple[tuple[str, str], ...], str, str, int]] = [
    ("same origin `http://app.example`", origin("http://app.example"), SITE, TRUSTED, 101),
    ("scheme swap `https://app.example`", origin("https://app.example"), SITE, TRUSTED, 403),
    ("`null`", origin("null"), SITE, TRUSTED, 403),
    ("absent", (), SITE, TRUSTED, 403),
    ("foreign `http://evil.example`", origin("http://evil.example"), SITE, TRUSTED, 403),
    ("suffix `http://app.example.evil.net`", origin("http://app.example.evil.net"), SITE, TRUSTED, 403),
    ("subdomain `http://evil.app.example`", origin("http://evil.app.example"), SITE, TRUSTED, 403),
    ("dot as wildcard `http://appxexample`", origin("http://appxexample"), SITE, TRUSTED, 403),
    ("backtick ``http://app.example`.evil.net``", origin("http://app.example`.evil.net"), SITE, TRUSTED, 403),
    ("upper case `HTTP://APP.EXAMPLE`", origin("HTTP://APP.EXAMPLE"), SITE, TRUSTED, 101),
    ("trailing slash `http://app.example/`", origin("http://app.example/"), SITE, TRUSTED, 403),
    ("IDN `http://\uff41pp.example` (fullwidth a: IDNA maps it to `app.example`)", origin("http://\uff41pp.example"), SITE, TRUSTED, 403),
    (
        "same origin, `Sec-Fetch-Site: cross-site`",
        origin("http://app.example", ("Sec-Fetch-Site", "cross-site")),
        SITE, TRUSTED, 403,
    ),
    (
        "`https://app.example` through a trusted proxy that rewrites Host (`X-Forwarded-*`)",
        origin("https://app.example", *REWRITTEN), BACKEND, TRUSTED, 101,
    ),
    (
        "the same through a trusted proxy (`Forwarded`)",
        origin("https://app.example", *FORWARDED), BACKEND, TRUSTED, 101,
    ),
    (
        "the same `X-Forwarded-*` fields from an untrusted address",
        origin("https://app.example", *REWRITTEN), BACKEND, UNTRUSTED, 403,
    ),
    (
        "the same `Forwarded` field from an untrusted address",
        origin("https://app.example", *FORWARDED), BACKEND, UNTRUSTED, 403,
    ),
]  # fmt: skip

#: Each server's recommended configuration, as the table's header says it.
OURS = ("--same-origin", "--forwarded-allow-ips", TRUSTED)
UVICORN = ("--proxy-headers", "--forwarded-allow-ips", TRUSTED)  # and WSNEGOTIATE_SAME_ORIGIN=1
SITE_ORIGINS = ["http://app.example", "https://app.example"]
CONFIGURATIONS = {
    "wsnegotiate serve": f"`{' '.join(OURS)}`",
    "uvicorn 0.55.0 + our protocol": f"`WSNEGOTIATE_SAME_ORIGIN=1`, `{' '.join(UVICORN)}`",
    "websockets 17.4": f"`origins={json.dumps(SITE_ORIGINS)}`",
    "tornado 6.6.1": "default `check_origin`",
    "aiohttp 3.14.5": "default (no origin check)",
}


def request(fields: tuple[tuple[str, str], ...], host: str) -> bytes:
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in fields),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()  # UTF-8: the IDN variant's bytes


async def status(port: int, data: bytes, source: str) -> str:
    """The status a server answers ``data`` with, from ``source``; ``no answer`` if it
    closes without one or takes more than 10 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(data)
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
        return "no answer"
    finally:
        writer.close()
    parts = line.split(b" ")
    return (
        parts[1].decode("latin-1") if line.startswith(b"HTTP/1.") and len(parts) > 1 else "not HTTP"
    )


async def statuses(port: int) -> list[str]:
    return [
        await status(port, request(fields, host), source) for _, fields, host, source, _ in VARIANTS
    ]


@asynccontextmanager
async def websockets_server() -> AsyncIterator[int]:
    async def echo(connection: websockets.ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    origins = [websockets.Origin(each) for each in SITE_ORIGINS]
    async with websockets.serve(echo, "127.0.0.1", 0, origins=origins) as server:
        yield server.sockets[0].getsockname()[1]


PEERS: dict[str, Callable[[], AbstractAsyncContextManager[int]]] = {
    "websockets 17.4": websockets_server,
    "tornado 6.6.1": tornado_server,
    "aiohttp 3.14.5": aiohttp_server,
}


async def peer_statuses(server: Callable[[], AbstractAsyncContextManager[int]]) -> list[str]:
    async with server() as port:
        return await asyncio.wait_for(statuses(port), 120)


def markdown(columns: dict[str, list[str]]) -> str:
    names = list(columns)
    lines = [
        "| variant | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| *configuration* | " + " | ".join(CONFIGURATIONS[name] for name in names) + " |",
    ]
    for index, (variant, *_) in enumerate(VARIANTS):
        lines.append(f"| {variant} | " + " | ".join(columns[name][index] for name in names) + " |")
    return "\n".join(lines)


def test_who_gets_in_with_each_servers_recommended_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serve(*OURS) as (_, port):
        ours = asyncio.run(asyncio.wait_for(statuses(port), 120))
    for name in ("WSNEGOTIATE_ORIGINS", "WSNEGOTIATE_CREDENTIAL_PREFIX", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WSNEGOTIATE_SAME_ORIGIN", "1")
    with bare_apps(*UVICORN) as (_, port):
        on_uvicorn = asyncio.run(asyncio.wait_for(statuses(port), 120))
    columns = {"wsnegotiate serve": ours, "uvicorn 0.55.0 + our protocol": on_uvicorn}
    for name, server in PEERS.items():
        columns[name] = asyncio.run(peer_statuses(server))
    print("\n" + markdown(columns))  # the README's table: pytest -n 0 -s -k who_gets_in
    names = [variant for variant, *_ in VARIANTS]
    expected = dict(zip(names, [str(status) for *_, status in VARIANTS], strict=True))
    assert dict(zip(names, ours, strict=True)) == expected
    assert dict(zip(names, on_uvicorn, strict=True)) == expected


# -- Chromium: a page of another origin is refused ---------------------------------------

ATTEMPT = """<!doctype html>
<title>wsnegotiate admission</title>
<script>
function attempt(url) {
  return new Promise((resolve) => {
    const seen = {opened: false, errored: false, received: [], code: null, timedOut: false};
    const socket = new WebSocket(url);
    const timer = setTimeout(() => { seen.timedOut = true; resolve(seen); }, 10000);
    socket.onopen = () => { seen.opened = true; socket.send("hello from " + location.origin); };
    socket.onmessage = (event) => { seen.received.push(event.data); socket.close(1000, "done"); };
    socket.onerror = () => { seen.errored = true; };
    socket.onclose = (event) => { clearTimeout(timer); seen.code = event.code; resolve(seen); };
  });
}
</script>
"""


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium (Debian's), always closed."""
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright (the dev extra) drives Chromium"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium package is needed (.ci/run installs it)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def test_chromium_from_another_origin_is_refused(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(ATTEMPT)
    pages = functools.partial(QuietHandler, directory=str(tmp_path))
    with http_server(pages) as allowed, http_server(pages) as other:  # two ports: two origins
        allowed_origin = f"http://127.0.0.1:{allowed}"
        with (
            serve("--same-origin", "--origins", allowed_origin) as (_, ws_port),
            chromium() as browser,
        ):
            results = {}
            for page_port in (allowed, other):
                tab = browser.new_page()
                tab.goto(f"http://127.0.0.1:{page_port}/index.html")
                results[page_port] = tab.evaluate(
                    "url => attempt(url)", f"ws://127.0.0.1:{ws_port}/"
                )
    assert results[allowed] == {
        "opened": True,
        "errored": False,
        "received": [f"hello from {allowed_origin}"],
        "code": 1000,
        "timedOut": False,
    }
    # refused before any 101: the page never sees an open socket, only the failure
    assert results[other] == {
        "opened": False,
        "errored": True,
        "received": [],
        "code": 1006,
        "timedOut": False,
    }
