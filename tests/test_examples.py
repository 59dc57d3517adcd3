"""The README's server is examples/asyncio_server.py, and the examples work, as
programs too: on the port asked for, printing where they listen, with what their
docstrings say to install."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.metadata
import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from factory import load_example

import wsnegotiate as ws

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


def test_a_run_of_chosen_paths_is_not_failed_by_the_coverage_gate(tmp_path: Path) -> None:
    """The README's interop recipe runs part of the suite; the gate is the full run's.
    (Its coverage data goes to a file of its own: a run erases its data files, and
    this run's own must survive.)"""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_exports.py", "-p", "no:cacheprovider", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "COVERAGE_FILE": str(tmp_path / ".coverage")},
    )
    assert done.returncode == 0, done.stdout
    assert "passed" in done.stdout and "Required test coverage" not in done.stdout


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
