"""The CLI contract of DESIGN.md: demo, and check with --json and exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from factory import h11_request, rfc6455

from wsnegotiate import Policy, negotiate
from wsnegotiate._answers import accept_token
from wsnegotiate.cli import main
from wsnegotiate.cli._main import summary
from wsnegotiate.cli.audit_cases import CASES
from wsnegotiate.cli.samples import SAMPLES


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def check_json(tmp_path: Path, data: bytes, *options: str) -> tuple[int, dict[str, object]]:
    path = tmp_path / "request.http"
    path.write_bytes(data)
    code, text = cli("check", str(path), "--json", *options)
    return code, json.loads(text)


def test_demo_table_has_every_sample() -> None:
    code, text = cli("demo")
    lines = text.splitlines()
    assert code == 0
    assert lines[0].split() == ["sample", "version", "family", "status", "advertised", "reason"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {sample.name for sample in SAMPLES}
    assert rows["chrome"][1:4] == ["Version13", "rfc6455", "101"]
    assert rows["hybi-08"][1:5] == ["Version8", "hybi-08", "426", "13"]
    assert rows["hixie-76"][1:5] == ["Version0", "hixie-76", "426", "13"]
    assert rows["hixie-75"][1:5] == ["VersionUnknown", "hixie-75", "426", "13"]
    assert rows["malformed-013"][3] == "400"


def test_demo_with_a_wider_policy() -> None:
    _, text = cli("demo", "--versions", "13,8,7")
    rows = {line.split()[0]: line.split() for line in text.splitlines()[1:]}
    assert rows["hybi-08"][3] == "101" and rows["hybi-07"][3] == "101"
    assert rows["hybi-06"][4] == "13,8,7"  # as probe's table lists them


def test_check_json_accepted(tmp_path: Path) -> None:
    code, result = check_json(tmp_path, h11_request(rfc6455()) + b"\x81\x00")
    assert code == 0
    assert result["status"] == 101 and result["accepted"] is True
    assert (result["version"], result["raw_version"], result["family"]) == (
        "Version13",
        "13",
        "rfc6455",
    )
    assert ["Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="] in result["headers"]  # type: ignore[operator]
    assert str(result["response"]).startswith("HTTP/1.1 101 Switching Protocols\r\n")
    assert result["trailing_data"] == "8100"
    assert result["advertised"] == []


def test_check_json_refused(tmp_path: Path) -> None:
    code, result = check_json(
        tmp_path, h11_request(rfc6455("8")), "--versions", "13,7", "--reject-status", "400"
    )
    assert code == 1
    assert (result["status"], result["accepted"], result["version"], result["family"]) == (
        400,
        False,
        "Version8",
        "hybi-08",
    )
    assert (
        result["reason"]
        == "Sec-WebSocket-Version: unsupported version 8 (hybi-08); supported: 13, 7"
    )
    assert ["Sec-WebSocket-Version", "13, 7"] in result["headers"]  # type: ignore[operator]
    assert result["advertised"] == [13, 7]  # versions, as probe --json lists them


def test_check_json_options(tmp_path: Path) -> None:
    request = h11_request(
        rfc6455(extra=[("Origin", "http://a.example"), ("Sec-WebSocket-Protocol", "x, y")])
    )
    code, result = check_json(
        tmp_path, request, "--subprotocols", "y", "--origins", "http://a.example"
    )
    assert code == 0 and ["Sec-WebSocket-Protocol", "y"] in result["headers"]  # type: ignore[operator]
    code, result = check_json(tmp_path, request, "--origins", "http://b.example")
    assert (code, result["status"]) == (1, 403)
    code, result = check_json(tmp_path, request, "--max-request-bytes", "64")
    assert (code, result["status"]) == (1, 431)


def test_check_takes_every_limit_of_the_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    offers = h11_request(rfc6455(extra=[("Sec-WebSocket-Protocol", "a, b, c")]))
    assert check_json(tmp_path, offers, "--max-offers", "3")[1]["status"] == 101
    code, result = check_json(tmp_path, offers, "--max-offers", "2")
    assert (code, result["reason"]) == (
        1,
        "Sec-WebSocket-Protocol: too many offers (3; the limit is 2)",
    )
    code, result = check_json(tmp_path, offers, "--max-field-lines", "5")
    assert (code, result["status"]) == (1, 431)
    code, result = check_json(tmp_path, offers, "--max-field-line-bytes", "64")
    assert (code, result["status"]) == (0, 101)  # every line of it is shorter
    capsys.readouterr()
    path = tmp_path / "request.http"
    assert cli("check", str(path), "--max-field-lines", "3") == (2, "")
    assert "max_field_lines below 4" in capsys.readouterr().err


# -- admission: origins, proxies, credentials, the health path ----------------------------


def proxied(*extra: tuple[str, str], host: str = "backend:8000") -> bytes:
    """A browser's request from https://app.example, as a proxy that rewrites Host
    passes it on, saying what the browser used."""
    fields = [("Host", host), *rfc6455()[1:], ("Origin", "https://app.example")]
    return h11_request([*fields, *extra])


FORWARDED = (("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "app.example"))
NOT_BELIEVED = (
    "Origin: forbidden 'https://app.example'; this request's origin is 'http://backend:8000'"
)


def test_check_same_origin_believes_the_named_proxies_only(tmp_path: Path) -> None:
    request = proxied(*FORWARDED)
    same = ("--same-origin", "--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8")
    assert check_json(tmp_path, request, *same, "--peer", "10.0.0.2:41000")[1]["status"] == 101
    assert check_json(tmp_path, request, *same, "--peer", "[::ffff:10.0.0.2]:1")[0] == 0
    for refused in (
        [*same, "--peer", "203.0.113.9"],  # not a proxy named
        [*same],  # no peer: nobody to believe
        ["--same-origin", "--peer", "10.0.0.2"],  # no proxy named at all
    ):
        code, result = check_json(tmp_path, request, *refused)
        assert (code, result["status"], result["reason"]) == (1, 403, NOT_BELIEVED), refused
    anyone = ("--same-origin", "--forwarded-allow-ips", "*", "--peer", "198.51.100.1")
    assert check_json(tmp_path, request, *anyone)[1]["status"] == 101


def test_check_same_origin_over_tls_and_fetch_metadata(tmp_path: Path) -> None:
    direct = proxied(host="app.example")
    assert check_json(tmp_path, direct, "--same-origin", "--tls")[1]["status"] == 101
    code, result = check_json(tmp_path, direct, "--same-origin")
    assert (code, result["reason"]) == (
        1,
        "Origin: forbidden 'https://app.example'; this request's origin is "
        "'http://app.example' (TLS ended at a proxy? trust it: forwarded_allow_ips)",
    )
    cross = proxied(("Sec-Fetch-Site", "cross-site"), host="app.example")
    code, result = check_json(tmp_path, cross, "--same-origin", "--tls")
    assert (code, result["status"], result["reason"]) == (
        1,
        403,
        "Sec-Fetch-Site: cross-site; the browser says another site opened this socket",
    )


@pytest.mark.parametrize(
    ("origin", "origins", "status"),
    [
        ("https://a.b.example.com", "https://*.example.com", 101),
        ("https://example.com", "https://*.example.com", 403),
        ("https://example.com.evil.net", "https://*.example.com,https://example.com", 403),
        ("https://xn--bcher-kva.example", "https://bücher.example", 101),
        (None, "https://app.example", 403),
        (None, "https://app.example,none", 101),
        ("null", "https://app.example,none", 403),
    ],
)
def test_check_origins_take_patterns_and_none(
    tmp_path: Path, origin: str | None, origins: str, status: int
) -> None:
    extra = [] if origin is None else [("Origin", origin)]
    result = check_json(tmp_path, h11_request(rfc6455(extra=extra)), "--origins", origins)[1]
    assert result["status"] == status


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--origins", "null"], "wsnegotiate check: origin 'null' cannot be listed: any page"),
        (
            ["--origins", "https://app.example/"],
            "wsnegotiate check: origin 'https://app.example/' is not an origin",
        ),
        (
            ["--forwarded-allow-ips", "10.0.0.1/8"],
            "wsnegotiate check: forwarded_allow_ips: '10.0.0.1/8' is not a network",
        ),
        (["--health-path", "healthz"], "wsnegotiate check: health_path 'healthz' is not an"),
        (
            ["--credential-prefix", "a b"],
            "wsnegotiate check: credential_prefix 'a b' is not an RFC 9110 token",
        ),
    ],
)
def test_check_refuses_a_bad_admission_option_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    path = tmp_path / "request.http"
    path.write_bytes(h11_request(rfc6455()))
    assert cli("check", str(path), *argv) == (2, "")
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(message)


@pytest.mark.parametrize(
    "peer", ["host:80", "10.0.0.2:", "[::1", "[::1]x", "10.0.0.2:65536", "1.2.3.4:²"]
)
def test_check_peer_must_be_an_address(peer: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli("check", "--peer", peer)
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "wsnegotiate check: error: argument --peer: not an IP address and an optional port"
        f" (10.0.0.2, 10.0.0.2:41000, [2001:db8::1]:41000): {peer!r}"
    )


SECRET = "c2VjcmV0LXRva2VuLXZhbHVl"  # what no output may hold
K8S = "base64url.bearer.authorization.k8s.io."


def test_check_never_prints_the_credential(tmp_path: Path) -> None:
    offer = ("Sec-WebSocket-Protocol", f"{K8S}{SECRET}, v4.channel.k8s.io")
    request = h11_request(rfc6455(extra=[offer]))
    policy = ("--credential-prefix", K8S, "--subprotocols", "v4.channel.k8s.io")
    code, result = check_json(tmp_path, request, *policy)
    assert (code, result["subprotocol"]) == (0, "v4.channel.k8s.io")
    assert ["Sec-WebSocket-Protocol", "v4.channel.k8s.io"] in result["headers"]  # type: ignore[operator]
    code, text = cli("check", str(tmp_path / "request.http"), *policy)
    assert code == 0 and text.startswith("101 rfc6455 accepted\n")
    # refused for another reason, in both shapes of output
    code, refused = cli(
        "check", str(tmp_path / "request.http"), *policy, "--origins", "https://a.example", "--json"
    )
    assert code == 1 and json.loads(refused)["status"] == 403
    code, plain = cli("check", str(tmp_path / "request.http"), *policy, "--versions", "8")
    assert code == 1 and plain.startswith("426 rfc6455 Sec-WebSocket-Version: unsupported")
    for output in (json.dumps(result), text, refused, plain):
        assert SECRET not in output and "c2VjcmV0" not in output
    # without the prefix the offer is an ordinary subprotocol, and is in the request
    code, result = check_json(tmp_path, request, "--subprotocols", "v4.channel.k8s.io")
    assert code == 0 and result["subprotocol"] == "v4.channel.k8s.io"


def test_check_health_path(tmp_path: Path) -> None:
    health = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
    code, result = check_json(tmp_path, health, "--health-path", "/healthz")
    assert (code, result["status"], result["accepted"]) == (1, 200, False)  # not an upgrade
    assert str(result["response"]).endswith("\r\n\r\nok\n")
    code, result = check_json(tmp_path, health, "--health-path", "/ready")
    assert (code, result["status"]) == (1, 426)


def test_check_json_incomplete(tmp_path: Path) -> None:
    code, result = check_json(tmp_path, b"GET / HTTP/1.1\r\nHost: a\r\n")
    assert code == 1
    assert result["status"] is None and result["accepted"] is False and result["family"] is None
    assert result["advertised"] == []


def test_check_text_output_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(h11_request(rfc6455("7")))))
    code, text = cli("check")
    assert code == 1
    assert (
        text.splitlines()[0]
        == "426 hybi-07 Sec-WebSocket-Version: unsupported version 7 (hybi-07); supported: 13"
    )
    assert "HTTP/1.1 426 Upgrade Required" in text


def test_check_bad_arguments_and_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("check", str(tmp_path / "missing.http"))[0] == 2
    assert "cannot read" in capsys.readouterr().err
    assert cli("check", "--versions", "13,6")[0] == 2
    assert "version 6 cannot be accepted" in capsys.readouterr().err
    for argv in (["check", "--versions", "x"], ["check", "--reject-status", "404"], ["nothing"]):
        with pytest.raises(SystemExit) as info:
            cli(*argv)
        assert info.value.code == 2


def test_console_entry_point_runs_the_demo() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wsnegotiate", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "chrome" in done.stdout and "hixie-75" in done.stdout


def test_probe_cli_against_a_live_server() -> None:
    import threading

    from websockets.sync.server import ServerConnection, serve

    def echo(connection: ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    with serve(echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        code, text = cli("probe", url, "--json", "--timeout", "5")
        table_code, table = cli("probe", url, "--timeout", "5")
        server.shutdown()
        thread.join(10)
    assert (code, table_code) == (0, 0)
    result = json.loads(text)
    assert (result["url"], result["error"]) == (url, None)
    rows = {row["family"]: row for row in result["rows"]}
    assert list(rows) == [
        "hixie-75",
        "hixie-76",
        "hybi-04",
        "hybi-05",
        "hybi-06",
        "hybi-07",
        "hybi-08",
        "rfc6455",
        "unassigned",
        "malformed",
        "none",
    ]
    accepted = rows["rfc6455"]
    assert {k: v for k, v in accepted.items() if k not in ("headers", "status_line")} == {
        "family": "rfc6455",
        "sent": "13",
        "reached": True,
        "status": 101,
        "advertised": [],
        "accepted": True,
        "findings": [],
        "body": "",
    }
    assert accepted["status_line"] == "HTTP/1.1 101"
    assert ["Upgrade", "websocket"] in accepted["headers"]
    refused = rows["hybi-08"]
    assert (refused["status"], refused["status_line"]) == (400, "HTTP/1.1 400 Bad Request")
    assert refused["body"].startswith("Failed to open a WebSocket connection")
    lines = table.splitlines()
    assert lines[0].split() == ["family", "sent", "status", "advertised", "accepted", "findings"]
    assert lines[8].split()[:5] == ["rfc6455", "'13'", "101", "-", "yes"]


def test_probe_cli_unreachable_and_bad_urls(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as closed:  # bound, not listening: every connection is refused
        closed.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{closed.getsockname()[1]}/"
        said = f"wsnegotiate probe: {url}: connection failed: Connection refused\n"
        assert cli("probe", url, "--timeout", "2") == (2, "")  # once, not a row per family
        assert capsys.readouterr().err == said
        code, text = cli("probe", url, "--timeout", "2", "--json")
        assert code == 2
        assert json.loads(text) == {
            "url": url,
            "error": "connection failed: Connection refused",
            "rows": [],
        }
        assert capsys.readouterr().err == said
    # an unknown host: every family fails the same way, said once, in the resolver's words
    assert cli("probe", "ws://nonexistent.invalid/", "--timeout", "2") == (2, "")
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("wsnegotiate probe: ws://nonexistent.invalid/: connection failed: ")
    assert "Connect call" not in line
    for url in ("https://example.com/", "http://example.com/", "ws:///nohost", "ws://a:99999/"):
        assert cli("probe", url)[0] == 2
        assert capsys.readouterr().err.startswith(f"wsnegotiate probe: {url!r}: ")


# -- bounded input, plain lines, pipes, --version and --help ------------------------------


def run_cli(
    *argv: str, stdin: bytes | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "wsnegotiate", *argv],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def test_check_reads_an_endless_input_only_up_to_the_limit() -> None:
    """/dev/zero and an endless pipe are answered at once, with bounded memory."""
    zero = run_cli("check", "/dev/zero", "--json")
    assert zero.returncode == 1
    assert json.loads(zero.stdout)["status"] == 400  # not HTTP: it starts with 0x00
    endless = subprocess.Popen(
        [sys.executable, "-m", "wsnegotiate", "check", "-", "--json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert endless.stdin is not None and endless.stdout is not None
    endless.stdin.write(b"GET / HTTP/1.1\r\nX-Padding: ")
    try:
        for _ in range(1000):  # 64 MB, if it were all read; the answer comes at 16 KiB
            endless.stdin.write(b"a" * 65536)
    except BrokenPipeError:
        pass  # check answered and stopped reading: the point
    answer = json.loads(endless.stdout.read())
    endless.stdout.close()
    with contextlib.suppress(BrokenPipeError):
        endless.stdin.close()
    assert endless.wait(10) == 1
    assert answer["status"] == 431


def test_check_on_an_empty_or_truncated_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.http"
    empty.write_bytes(b"")
    assert cli("check", str(empty)) == (1, "incomplete: the input is empty\n")
    cut = tmp_path / "cut.http"
    cut.write_bytes(b"GET / HTTP/1.1\r\nHost: a\r\n")
    assert cli("check", str(cut)) == (
        1,
        "incomplete: the request head does not end (25 bytes read)\n",
    )


@pytest.mark.parametrize("argv", [["demo"], ["check", "-"]])
def test_a_closed_pipe_is_no_traceback(argv: list[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "wsnegotiate", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdin is not None
    process.stdout.close()  # the reader is gone before anything is written
    _, err = process.communicate(h11_request(rfc6455("8")), timeout=20)
    assert err == b""
    assert process.returncode == 141


def test_version_and_help() -> None:
    from wsnegotiate import __version__

    assert run_cli("--version").stdout.decode() == f"wsnegotiate {__version__}\n"
    top = run_cli("--help").stdout.decode()
    assert "check: exit codes: 0 accepted, 1 refused or incomplete" in top
    check = run_cli("check", "--help").stdout.decode()
    assert "(default: 16384)" in check and "(default: 426)" in check
    assert "exit codes: 0 accepted" in check
    assert "any command but serve: 130 when interrupted (Ctrl-C)" in top
    for command in ("check", "probe", "audit"):  # each lists the 130 its Ctrl-C gives
        assert "130 interrupted" in " ".join(run_cli(command, "--help").stdout.decode().split())
    serve = " ".join(run_cli("serve", "--help").stdout.decode().split())
    assert "2 bad arguments, cannot listen on the address" in serve


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_timeouts_must_be_positive(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli("probe", "ws://127.0.0.1:1/", "--timeout", value)
    assert info.value.code == 2
    assert "not a positive number of seconds" in capsys.readouterr().err


def test_serve_loop_uvloop_without_uvloop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # an import of it fails, as if not installed
    assert cli("serve", "--port", "0", "--loop", "uvloop")[0] == 2
    assert capsys.readouterr().err == (
        "wsnegotiate serve: --loop uvloop: uvloop is not installed "
        "(pip install 'wsnegotiate[uvloop]')\n"
    )


def test_serve_loop_auto_falls_back_to_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from wsnegotiate.cli.serve import event_loop

    assert event_loop("asyncio") == ("asyncio", asyncio.new_event_loop)
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert event_loop("auto") == ("asyncio", asyncio.new_event_loop)


def test_serve_loop_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli("serve", "--loop", "trio")
    assert info.value.code == 2
    assert "invalid choice: 'trio'" in capsys.readouterr().err


# -- serve: where it cannot listen -----------------------------------------------------------


def test_serve_on_a_port_in_use_is_one_line() -> None:
    import socket

    with socket.socket() as held:  # a port this test holds while serve tries it
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = run_cli("serve", "--host", "127.0.0.1", "--port", str(port))
    assert done.returncode == 2
    err = done.stderr.decode()
    assert err.splitlines() == [
        f"wsnegotiate serve: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_serve_on_an_unresolvable_host_is_one_line() -> None:
    done = run_cli("serve", "--host", "nonexistent.invalid", "--port", "0")
    assert done.returncode == 2
    [line] = done.stderr.decode().splitlines()
    assert line.startswith("wsnegotiate serve: cannot listen on nonexistent.invalid:0: ")
    assert line.count("nonexistent.invalid") == 1  # the cause alone follows the address


@pytest.mark.parametrize("port", ["99999", "-1", "65536", "http"])
def test_serve_port_out_of_range_is_a_usage_error(port: str) -> None:
    done = run_cli("serve", "--port", port)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"wsnegotiate serve: error: argument --port: not a port number (0-65535): {port!r}"
    )


# -- Ctrl-C: exit 130, no traceback; audit keeps what it finished ------------------------------


class Holding:
    """A server on 127.0.0.1 that answers the first ``answers`` request heads with a
    400 (with ``switch_first``, the first of them with a valid 101) and then holds
    every connection open without a word; ``held`` is set once it holds one (the
    client is then surely waiting on it)."""

    def __init__(self, answers: int, *, switch_first: bool = False) -> None:
        self.answers = answers
        self.switch_first = switch_first
        self.held = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept)]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(connection,))
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(0.1)
            data = b""
            while not self._stop.is_set():
                try:
                    chunk = connection.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
                if b"\r\n\r\n" in data or b"\n\n" in data:
                    break
            with self._lock:
                answer = self.answers > 0
                self.answers -= 1
                switch, self.switch_first = self.switch_first, False
            if switch:
                key = data.split(b"Sec-WebSocket-Key: ", 1)[1].split(b"\r\n", 1)[0]
                connection.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                    % accept_token(key).encode()
                )
                return
            if answer:
                with contextlib.suppress(OSError):  # the client may be gone
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            self.held.set()
            self._stop.wait(30)

    def __enter__(self) -> Holding:
        self._threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(10)
        self._listener.close()


def interrupted(argv: list[str], server: Holding) -> tuple[int, str, str]:
    """Run the CLI, send SIGINT once the server holds a connection of it; its exit
    code, standard output and standard error."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wsnegotiate", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert server.held.wait(30), "the command never reached the held connection"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:  # pragma: no cover - a hung command fails the test
            process.kill()
            process.communicate()
    return process.returncode, out.decode(), err.decode()


def test_ctrl_c_during_probe_is_quiet() -> None:
    with Holding(answers=0) as server:
        code, _, err = interrupted(
            ["probe", f"ws://127.0.0.1:{server.port}/", "--timeout", "60"], server
        )
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert code == 130


def test_ctrl_c_during_audit_writes_what_it_finished(tmp_path: Path) -> None:
    files = {kind: tmp_path / f"a.{kind}" for kind in ("json", "html", "junit")}
    options = [arg for kind, path in files.items() for arg in (f"--{kind}", str(path))]
    # the plainest request switched, three cases answered, one at a time, the fourth held
    with Holding(answers=4, switch_first=True) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        argv = ["audit", url, "--only", "versions", "--timeout", "60", "--jobs", "1", *options]
        code, out, err = interrupted(argv, server)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert code == 130
    report = json.loads(files["json"].read_text(encoding="utf-8"))
    assert report["incomplete"] is True
    first = [case.id for case in CASES if case.group == "versions"][:3]
    assert [case["id"] for case in report["cases"]] == first
    assert all(case["got"]["status"] == 400 for case in report["cases"])
    assert sum(report["summary"].values()) == 3
    note = "interrupted: the report holds the 3 cases that finished"
    assert note in files["html"].read_text(encoding="utf-8")
    assert note in files["junit"].read_text(encoding="utf-8")
    assert note in out


@contextlib.contextmanager
def check_on_a_terminal() -> Iterator[tuple[int, subprocess.Popen[bytes], str]]:
    """``wsnegotiate check`` with a terminal as its standard input: the terminal's
    controlling side, the process, and the first line it printed on stderr. The
    process is killed if the test leaves it running."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "wsnegotiate", "check"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert process.stderr is not None
            ready, _, _ = select.select([process.stderr], [], [], 30)
            assert ready, "check said nothing on its terminal"
            yield controller, process, process.stderr.readline().decode()
        finally:
            if process.poll() is None:  # pragma: no cover - a hung command fails the test
                process.kill()
                process.communicate()
    finally:
        os.close(controller)
        os.close(terminal)


def test_ctrl_c_while_check_waits_on_a_terminal() -> None:
    with check_on_a_terminal() as (_, process, notice):
        assert notice == (
            "wsnegotiate check: reading the request from standard input (end with Ctrl-D)\n"
        )
        time.sleep(0.1)  # into the read
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert "Traceback" not in err.decode() and "KeyboardInterrupt" not in err.decode()
    assert (process.returncode, out) == (130, b"")


# -- what is shown is UTF-8: our reasons' § as §, never as Â§ -----------------------------


def test_check_shows_the_reason_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "post.http"
    path.write_bytes(h11_request(rfc6455(), method="POST"))
    code, text = cli("check", str(path))
    assert code == 1
    assert "(RFC 6455 §4.1)" in text and "Â" not in text
    assert text.count("§4.1") == 2  # the first line, and the body of the response
    code, result = check_json(tmp_path, path.read_bytes())
    response = str(result["response"])
    assert response.endswith("(RFC 6455 §4.1)\n") and "Â" not in response
    assert str(result["reason"]).endswith("(RFC 6455 §4.1)")
    for sample in SAMPLES:  # README, Security: no control character in a reason
        assert str(summary(negotiate(sample.data, Policy()))["reason"]).isprintable()


def test_check_on_a_terminal_says_it_reads_standard_input() -> None:
    with check_on_a_terminal() as (controller, process, notice):
        os.write(controller, b"\x04")  # Ctrl-D on an empty line: end of input
        out, err = process.communicate(timeout=20)
    assert notice == (
        "wsnegotiate check: reading the request from standard input (end with Ctrl-D)\n"
    )
    assert (process.returncode, out, err) == (1, b"incomplete: the input is empty\n", b"")
