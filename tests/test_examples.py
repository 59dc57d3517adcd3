"""The README's code is the examples' code, and the examples work as programs: on the
port asked for, with what their docstrings say to install."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.metadata
import logging
import os
import re
import selectors
import shlex
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import cast

import pytest
import trio
import websockets
import wsproto.events as frames
from factory import load_example
from wsproto.connection import Connection
from wsproto.utilities import LocalProtocolError as WsprotoUsageError

import wsnegotiate as ws
import wsnegotiate.aio as aio
import wsnegotiate.wsproto as ws_frames

ROOT = Path(__file__).parent.parent


def test_readme_server_is_the_example() -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("```python\n", 1)[1].split("```", 1)[0]
    example = (ROOT / "examples" / "asyncio_server.py").read_text()
    body, guard = example[example.index("import argparse") :].split(
        '\n\nif __name__ == "__main__":\n'
    )
    assert snippet == body + "\n\n" + textwrap.dedent(guard)


def test_readme_server_handshakes_and_refuses() -> None:
    example = load_example("asyncio_server")

    async def run() -> tuple[str | None, bytes]:
        server = await asyncio.start_server(example.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/", subprotocols=["chat"]) as conn:  # type: ignore[list-item]
            subprotocol = conn.subprotocol
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = await reader.read()
        writer.close()
        server.close()
        await server.wait_closed()
        return subprotocol, answer

    subprotocol, answer = asyncio.run(run())
    assert subprotocol == "chat"
    assert answer.startswith(b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n")


def test_readme_server_gives_a_stalled_client_408(monkeypatch: pytest.MonkeyPatch) -> None:
    example = load_example("asyncio_server")
    monkeypatch.setattr(example, "DEADLINE", 0.2)

    async def run() -> bytes:
        server = await asyncio.start_server(example.handle, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.sockets[0].getsockname()[1]
        )
        writer.write(b"GET /chat HTTP/1.1\r\nHost: a\r\n")  # and nothing more
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        server.close()
        await server.wait_closed()
        return answer

    answer = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b"request head: incomplete after 0.2 s\n")


def test_offline_check_example(tmp_path: Path) -> None:
    script = str(ROOT / "examples" / "offline_check.py")
    done = subprocess.run(
        [sys.executable, script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "accepted Version13 (rfc6455) from http://localhost:8000\nHTTP/1.1 101 "
    )
    plain = tmp_path / "plain.http"
    plain.write_bytes(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    done = subprocess.run(
        [sys.executable, script, str(plain)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.startswith("refused 426: Upgrade: missing")
    missing = subprocess.run(
        [sys.executable, script, str(tmp_path / "missing.http")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr == f"cannot read {tmp_path / 'missing.http'}: No such file or directory\n"
    endless = subprocess.run(
        [sys.executable, script, "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert endless.returncode == 1
    assert endless.stdout.startswith("refused 400: not HTTP")


@pytest.mark.heavy
def test_a_run_of_chosen_paths_is_not_failed_by_the_coverage_gate(tmp_path: Path) -> None:
    """The README's interop recipe runs part of the suite; the gate is the full run's.
    (Its coverage data goes to a file of its own: a run erases its data files, and
    this run's own must survive.)"""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_exports.py",
            "--cov",  # after the path: `--cov PATH` would read PATH as what to measure
            "-p",
            "no:cacheprovider",
            "-q",
            "-n",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "COVERAGE_FILE": str(tmp_path / ".coverage")},
    )
    assert done.returncode == 0, done.stdout
    assert "passed" in done.stdout and "Required test coverage" not in done.stdout
    assert "TOTAL" in done.stdout  # coverage measured and reported, only not gated


def test_asyncio_client_example_falls_back() -> None:
    example = load_example("asyncio_client")
    server = load_example("asyncio_server")  # accepts 13, 8 and 7

    async def run() -> tuple[object, object]:
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        first = await example.connect(f"ws://127.0.0.1:{port}/", [6, 8, 13])
        try:
            await example.connect(f"ws://127.0.0.1:{port}/", [6, 5])
        except ws.NoCommonVersion as error:
            second: object = error
        listener.close()
        await listener.wait_closed()
        return first, second

    connected, failure = asyncio.run(run())
    assert isinstance(connected, ws.Connected) and connected.version is ws.Version.Version8
    assert isinstance(failure, ws.NoCommonVersion) and failure.advertised == (13, 8, 7)


SERVERS = ["asyncio_server", "asyncio_echo_server", "trio_echo_server"]


@contextlib.contextmanager
def example_server(example: str, *options: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A server example run as a program on ``--port 0`` (a free port), with the
    port it printed; stopped with SIGKILL at the end if it still runs."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / f"{example}.py"), "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(20), f"{example} printed nothing"
        line = process.stdout.readline().decode()
        match = re.fullmatch(r"listening on ws://127\.0\.0\.1:(\d+)/\n", line)
        assert match, (line, process.communicate(timeout=10) if process.poll() is not None else b"")
        yield process, int(match[1])
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.mark.parametrize("example", SERVERS)
def test_ctrl_c_stops_a_server_example_quietly(example: str) -> None:
    """SIGINT (Ctrl-C) ends the example with exit 0 and nothing on stderr, not a
    KeyboardInterrupt traceback, even with a client connected mid-request (its
    handler is cancelled)."""
    with (
        example_server(example) as (process, port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as client,
    ):
        client.sendall(b"GET / HTTP/1.1\r\n")  # half a request: its handler waits
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=10)
    assert (process.returncode, errors) == (0, b"")


@pytest.mark.parametrize("example", SERVERS)
def test_server_examples_listen_where_asked_and_print_it(example: str) -> None:
    """``--port 0`` listens on a free port and prints it; two run side by side; the
    printed address is the one that answers."""
    with example_server(example) as (_, first), example_server(example) as (_, second):
        assert first != second
        for port in (first, second):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                assert sock.recv(65536).startswith(b"HTTP/1.1 426 Upgrade Required\r\n")


@pytest.mark.parametrize("example", SERVERS)
def test_server_examples_explain_their_options(example: str) -> None:
    script = str(ROOT / "examples" / f"{example}.py")
    done = subprocess.run(
        [sys.executable, script, "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "--host HOST" in done.stdout and "--port PORT" in done.stdout
    assert "0 picks a free port" in done.stdout


@pytest.mark.parametrize("example", SERVERS)
def test_server_examples_refuse_an_address_in_one_line(example: str) -> None:
    """A port in use, out of range, or a host that does not resolve: one line on
    stderr and exit 2, no traceback."""
    script = str(ROOT / "examples" / f"{example}.py")
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = str(busy.getsockname()[1])
        for options, message in [
            (["--port", port], f"cannot listen on 127.0.0.1:{port}: "),
            (["--port", "65536"], "argument --port: 65536 is not a port number (0-65535)"),
            (["--port", "-1"], "argument --port: -1 is not a port number (0-65535)"),
            (["--host", "no-such-host.invalid", "--port", "0"], "cannot listen on no-such-host"),
        ]:
            done = subprocess.run(
                [sys.executable, script, *options],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert done.returncode == 2, (options, done.stderr)
            assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
            assert done.stdout == ""


# -- the README's hand-off ("Use it in your server") -------------------------------


def readme_section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else len(readme)]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def readme_code(index: int) -> dict[str, object]:
    """The ``index``-th Python block of "Use it in your server", run as it stands
    in a namespace of its own."""
    code = python_blocks(readme_section("Use it in your server"))[index]
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


def test_readme_frame_loops_are_the_examples() -> None:
    """The README's asyncio and trio loops are the echo examples, word for word."""
    aio, trio_loop = python_blocks(readme_section("Use it in your server"))[:2]
    assert aio.startswith("import asyncio\n") and "required_reply" in aio
    assert aio in (ROOT / "examples" / "asyncio_echo_server.py").read_text()
    assert trio_loop.startswith("import trio\n") and "required_reply" in trio_loop
    assert trio_loop in (ROOT / "examples" / "trio_echo_server.py").read_text()


def handshake(port: int) -> tuple[socket.socket, Connection]:
    """A version-13 handshake on a raw socket: the socket and the client's frames."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        client = ws.ClientNegotiator(f"127.0.0.1:{port}", "/")
        sock.sendall(client.data_to_send())
        while isinstance(event := client.next_event(), ws.NeedData):
            client.receive_data(sock.recv(65536))
        assert isinstance(event, ws.Connected), event
    except BaseException:
        sock.close()
        raise
    return sock, ws_frames.connection(event)


def read_until_eof(sock: socket.socket, connection: Connection) -> list[frames.Event]:
    seen: list[frames.Event] = []
    while chunk := sock.recv(65536):
        connection.receive_data(chunk)
        seen += connection.events()
    return seen


def rude_client(port: int, how: str) -> list[frames.Event]:
    """A client that completes the handshake and then leaves: ``fin`` closes TCP,
    ``reset`` resets it, ``unmasked`` sends a frame a client must mask (RFC 6455
    §5.1) and reads what comes back until the server closes."""
    sock, connection = handshake(port)
    with sock:
        if how == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif how == "unmasked":
            sock.sendall(b"\x81\x05hello")
            return read_until_eof(sock, connection)
    return []


def polite_client(port: int) -> list[frames.Event]:
    """Text, binary and a ping, then a Close: everything that comes back."""
    sock, connection = handshake(port)
    with sock:
        sock.sendall(
            connection.send(frames.TextMessage(data="héllo"))
            + connection.send(frames.BytesMessage(data=b"\x00\xff"))
            + connection.send(frames.Ping(payload=b"p"))
            + connection.send(frames.CloseConnection(code=1000, reason="bye"))
        )
        return read_until_eof(sock, connection)


RUDE = ["fin", "reset", "unmasked"]
POLITE = [
    frames.TextMessage(data="héllo"),
    frames.BytesMessage(data=b"\x00\xff"),
    frames.Pong(payload=b"p"),
    frames.CloseConnection(code=1000, reason="bye"),
]


def assert_served(rude: list[list[frames.Event]], polite: list[frames.Event]) -> None:
    fin, reset, unmasked = rude
    assert fin == reset == []
    assert [(type(e), getattr(e, "code", None)) for e in unmasked] == [
        (frames.CloseConnection, 1002)
    ]
    assert polite == POLITE


def test_readme_asyncio_loop_survives_rude_clients(caplog: pytest.LogCaptureFixture) -> None:
    """The README's asyncio loop, copied as it stands: clients that leave right after
    the 101 (FIN, reset, a frame that breaks the protocol) cost nothing, and the
    next client still gets its echo."""
    handle = readme_code(0)["handle"]

    async def scenario() -> tuple[list[list[frames.Event]], list[frames.Event]]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)  # type: ignore[arg-type]
        port = server.sockets[0].getsockname()[1]
        try:
            rude = [await asyncio.to_thread(rude_client, port, how) for how in RUDE]
            polite = await asyncio.to_thread(polite_client, port)
            await asyncio.sleep(0.1)  # the handlers end
        finally:
            server.close()
            await server.wait_closed()
        return rude, polite

    assert_served(*asyncio.run(asyncio.wait_for(scenario(), 60)))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def serve_readme_trio(
    handle: Callable[[trio.SocketStream], Awaitable[None]],
) -> tuple[list[list[frames.Event]], list[frames.Event]]:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        with trio.fail_after(60):
            rude = [await trio.to_thread.run_sync(rude_client, port, how) for how in RUDE]
            polite = await trio.to_thread.run_sync(polite_client, port)
        nursery.cancel_scope.cancel()
    return rude, polite


@pytest.mark.trio
async def test_readme_trio_loop_survives_rude_clients() -> None:
    """The README's trio loop, copied as it stands, under trio.serve_tcp: a handler
    that raises would end the whole server; this one serves the next client."""
    handle = readme_code(1)["handle"]
    assert_served(*await serve_readme_trio(handle))  # type: ignore[arg-type]


@pytest.mark.trio
async def test_without_required_reply_one_client_ends_a_trio_server() -> None:
    """Why the README names required_reply: the same loop answering with wsproto's
    usual ``event.response()`` raises at the first client that closes TCP after the
    101, and under trio.serve_tcp that ends the server."""
    code = python_blocks(readme_section("Use it in your server"))[1]
    usual = "answer = event.response() if isinstance(event, frames.Ping | frames.CloseConnection) else None"
    code = code.replace("answer = wsnegotiate.wsproto.required_reply(connection, event)", usual)
    assert usual in code
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    handle = cast(Callable[[trio.SocketStream], Awaitable[None]], namespace["handle"])

    async def serve_one_rude_client() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            assert await trio.to_thread.run_sync(rude_client, port, "fin") == []
            await trio.sleep(5)  # the server ends well before
            nursery.cancel_scope.cancel()  # pragma: no cover - it did not: the test fails

    with pytest.raises(BaseExceptionGroup) as caught:
        await serve_one_rude_client()
    # wsproto refuses a Close in state CLOSED; our frame layer refuses the 1006 first
    # (an endpoint never sends 1006, RFC 6455 §7.4.1): either way the server is gone.
    assert caught.group_contains((WsprotoUsageError, ws.LocalProtocolError), depth=None)


def test_readme_on_request_takes_the_negotiator_then_the_request() -> None:
    decide = readme_code(2)["decide"]

    async def scenario() -> list[bytes]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await aio.server_handshake(reader, writer, on_request=decide)  # type: ignore[arg-type]
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        answers = []
        try:
            for target in ("/chat", "/other"):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                client = ws.ClientNegotiator(f"127.0.0.1:{port}", target, subprotocols=["chat"])
                writer.write(client.data_to_send())
                answers.append(await asyncio.wait_for(reader.read(), 10))
                writer.close()
        finally:
            server.close()
            await server.wait_closed()
        return answers

    chat, other = asyncio.run(scenario())
    assert chat.startswith(b"HTTP/1.1 101 ") and b"\r\nSec-WebSocket-Protocol: chat\r\n" in chat
    assert other.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert other.endswith(b"\r\n\r\nno WebSocket here\n")


# -- what each example needs installed ----------------------------------------------

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PACKAGE = ROOT / "src" / "wsnegotiate"


def requirement_name(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def extra_names(extras: str) -> set[str]:
    """The distributions ``wsnegotiate[extras]`` installs, through nested extras."""
    names = {requirement_name(r) for r in PYPROJECT["dependencies"]}
    for extra in extras.split(","):
        for requirement in PYPROJECT["optional-dependencies"][extra.strip()]:
            nested = re.fullmatch(r"wsnegotiate\[(.+)\]", requirement)
            names |= extra_names(nested[1]) if nested else {requirement_name(requirement)}
    return names


def installed_by(text: str) -> set[str]:
    """The distributions the ``pip install ...`` commands in ``text`` install, and
    wsnegotiate's own dependencies (with no command: ``pip install wsnegotiate``)."""
    names = {requirement_name(r) for r in PYPROJECT["dependencies"]}
    for command in re.findall(r"pip install ([^`\n]+)", text):
        for word in shlex.split(re.split(r"&&|;|\|", command)[0], comments=True):
            if extras := re.fullmatch(r"(?:wsnegotiate|\.)\[(.+)\]", word):
                names |= extra_names(extras[1])
            elif not word.startswith("-"):
                names.add(requirement_name(word))
    return names


def imports_of(source: str, path: Path | None = None) -> set[str]:
    """The modules ``source`` imports (relative imports resolved, for a module of
    wsnegotiate at ``path``), and the modules of wsnegotiate an example's docstring
    names (such as ``--ws wsnegotiate.uvicorn:WebSocketProtocol``)."""
    tree = ast.parse(source)
    modules = set()
    if path is None:  # an example: what it runs may be in its docstring
        text = ast.get_docstring(tree) or ""
        modules = {f"wsnegotiate.{name}" for name in re.findall(r"\bwsnegotiate\.(\w+)", text)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                package = node.module or ""
            else:  # relative: only in wsnegotiate's own modules
                assert path is not None
                parts = ["wsnegotiate", *path.parent.relative_to(PACKAGE).parts]
                package = ".".join(parts[: len(parts) - node.level + 1])
                package += f".{node.module}" if node.module else ""
            modules.add(package)
            modules |= {f"{package}.{alias.name}" for alias in node.names}
    return modules


def module_file(name: str) -> Path | None:
    """The file of a module of wsnegotiate (``wsnegotiate.trio``), or None."""
    parts = name.split(".")[1:]
    files = [PACKAGE.joinpath(*parts).with_suffix(".py")] if parts else []
    return next((f for f in [*files, PACKAGE.joinpath(*parts, "__init__.py")] if f.is_file()), None)


def needed(source: str) -> set[str]:
    """The top-level modules from outside the standard library that running
    ``source`` imports, through the modules of wsnegotiate it uses."""
    outside: set[str] = set()
    todo: list[tuple[str, Path | None]] = [(source, None)]
    seen: set[Path] = set()
    while todo:
        text, path = todo.pop()
        for module in imports_of(text, path) | {"wsnegotiate"}:
            top = module.split(".")[0]
            if top != "wsnegotiate":
                outside.add(top)
            elif (file := module_file(module)) is not None and file not in seen:
                seen.add(file)
                todo.append((file.read_text(), file))
    return outside - set(sys.stdlib_module_names) - {"__future__"}


DISTRIBUTIONS = importlib.metadata.packages_distributions()


def not_installed(modules: set[str], installed: set[str]) -> set[str]:
    return {
        module
        for module in modules
        if not {requirement_name(d) for d in DISTRIBUTIONS.get(module, [module])} & installed
    }


EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES)
def test_an_example_says_what_to_install_for_it(example: str) -> None:
    """The ``pip install`` in an example's docstring installs every module it
    imports, and every one the modules of wsnegotiate it uses import."""
    source = (ROOT / "examples" / f"{example}.py").read_text()
    docstring = ast.get_docstring(ast.parse(source)) or ""
    assert not_installed(needed(source), installed_by(docstring)) == set()


def test_the_readme_loops_say_what_to_install_for_them() -> None:
    """Each block of "Use it in your server" is preceded by a ``pip install`` that
    covers it, and every extra the README names exists."""
    readme = (ROOT / "README.md").read_text()
    installed_by(readme)  # a KeyError names an extra pyproject.toml lacks
    section = readme_section("Use it in your server")
    for block in python_blocks(section):
        before = section[: section.index(block)]
        commands = re.findall(r"pip install [^`\n]+", before)
        assert not_installed(needed(block), installed_by(commands[-1] if commands else "")) == set()


def test_the_install_check_sees_what_a_module_of_ours_needs() -> None:
    """The check is not vacuous: the trio example needs trio and wsproto (through
    wsnegotiate.trio and wsnegotiate.wsproto), the uvicorn apps need uvicorn."""
    assert needed((ROOT / "examples" / "trio_echo_server.py").read_text()) == {
        "trio",
        "wsproto",
        "h11",
    }
    assert needed('"""--ws wsnegotiate.uvicorn:WebSocketProtocol"""') == {
        "uvicorn",
        "wsproto",
        "h11",
    }
    assert not_installed({"trio", "wsproto"}, installed_by("pip install trio")) == {"wsproto"}
    assert not_installed({"uvicorn", "h11"}, installed_by("")) == {"uvicorn"}


def test_the_setup_says_where_the_commands_run() -> None:
    """The commands after the setup block (``wsnegotiate ...``, ``python examples/...``)
    exist only in the venv it makes: the paragraph after it says so, both ways."""
    setup = readme_section("Set up, run, test")
    after = setup[setup.index("```\n\n", setup.index("```sh")) :]
    assert "`.venv/bin/`" in after and "`. .venv/bin/activate`" in after
