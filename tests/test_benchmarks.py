"""The benchmark suite runs: its quick mode writes the table and the chart with every
case and every contender, the instruction counts their tables (the figures themselves
are never asserted); and the floor gives the answer wsnegotiate gives, so it stays a
fair lower bound."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONTENDERS = ["bare h11", "floor", "wsnegotiate", "wsnegotiate, h11 only", "wsproto", "websockets"]


def _committed() -> dict[str, tuple[int, bytes]]:
    """Each file under benchmarks/results/: its modification time and its bytes."""
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(RESULTS.iterdir())}


@pytest.mark.heavy
def test_quick_suite_writes_table_and_chart(tmp_path: Path) -> None:
    # Without --update or --out, a run writes to a new temporary directory (here
    # under tmp_path, by TMPDIR) and says where; the committed results stay as they are.
    before = _committed()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert _committed() == before
    [out] = tmp_path.glob("wsnegotiate-bench-*")
    assert f"wrote {out / 'handshake.md'} and {out / 'handshake.png'}" in done.stdout
    table = (out / "handshake.md").read_text(encoding="utf-8").splitlines()
    header = "| case | " + " | ".join(CONTENDERS) + " |"
    assert table.count(header) == 2  # times, then memory
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in table if line[:2] == "| "}
    for case in (
        "RFC 6455 sample", "Chrome", "Firefox", "version 8 refused", "malformed",
        "Chrome, 1-byte chunks", "Chrome, 7-byte chunks", "Chrome + 5 headers",
        "Chrome + 20 headers", "Chrome + 50 headers", "Chrome + 100 headers",
        "1 MiB garbage, 4 KiB chunks", "client: request, 101",
        "peak, 1 MiB garbage in 4 KiB chunks", "idle connection, half a request",
    ):  # fmt: skip
        assert case in rows, case
        assert rows[case].count(" | ") == len(CONTENDERS)
    assert "(1.00x)" in rows["Chrome"].split(" | ")[1]  # ratios are to bare h11
    assert rows["Chrome, 1-byte chunks"].split(" | ")[2] == "-"  # the floor reads whole heads
    assert (out / "handshake.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _parsers() -> dict[str, Callable[[], argparse.ArgumentParser]]:
    from benchmarks import __main__ as suite
    from benchmarks import instructions

    return {"benchmarks": suite.parser, "benchmarks.instructions": instructions.parser}


@pytest.mark.parametrize("command", ["benchmarks", "benchmarks.instructions"])
def test_where_results_go(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks.suite import output_directory

    parser = _parsers()[command]()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fresh = output_directory(parser.parse_args([]))
    assert fresh.parent == tmp_path and fresh.name.startswith("wsnegotiate-bench-")
    assert output_directory(parser.parse_args(["--update"])) == RESULTS
    assert output_directory(parser.parse_args(["--out", "elsewhere"])) == Path("elsewhere")
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--update", "--out", "elsewhere"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def _instructions(out: Path, *options: str, calls: int) -> dict[str, list[str]]:
    """Run ``benchmarks.instructions`` with ``calls`` calls a count; each table's lines.
    Without coverage's tracing: under valgrind it costs a minute a run, and it would be
    counted too."""
    untraced = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.instructions",
            "--calls",
            str(calls),
            "--out",
            str(out),
            *options,
        ],
        cwd=ROOT,
        env=untraced,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return {table.name: table.read_text(encoding="utf-8").splitlines() for table in out.iterdir()}


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (Debian: valgrind)")
@pytest.mark.heavy
def test_instruction_counts_of_cases_and_of_steps_in_one_run(tmp_path: Path) -> None:
    # one valgrind run for both tables: most of a run is Python starting under valgrind
    tables = _instructions(
        tmp_path,
        "--case",
        "malformed",
        "--case",
        "client: request, 101",
        "--stages",
        calls=10,
    )
    assert sorted(tables) == ["instructions.md", "stages.md"]
    table = tables["instructions.md"]
    assert "| case | " + " | ".join(CONTENDERS) + " |" in table
    assert [line.split(" | ")[0] for line in table if line.startswith("| ") and "---" not in line][
        1:
    ] == ["| malformed", "| client: request, 101"]
    [row] = [line for line in table if line.startswith("| malformed |")]
    cells = row.strip("| ").split(" | ")[1:]
    assert cells[0].endswith("k (1.00x)")
    counts = [float(cell.split("k ")[0].replace(",", "")) for cell in cells]
    assert all(10 < count < 10_000 for count in counts), counts  # thousands a handshake
    [row] = [line for line in table if line.startswith("| client: request, 101 |")]
    client = dict(zip(CONTENDERS, row.strip("| ").split(" | ")[1:], strict=True))
    assert client["floor"] == "-"  # the floor is a server
    for name in ("bare h11", "wsnegotiate", "wsnegotiate, h11 only", "wsproto", "websockets"):
        assert 10 < float(client[name].split("k ")[0].replace(",", "")) < 10_000, client

    rows = [
        line.strip("| ").split(" | ")
        for line in tables["stages.md"]
        if line.startswith("| ") and not line.startswith("| path") and " | +" in line
    ]
    steps = [int(count.replace(",", "")) for _, count, _ in rows]
    assert len(steps) == 4
    assert steps == sorted(steps)  # each path holds the one before it
    assert 100_000 < steps[-1] < 10_000_000


def test_the_last_step_is_the_whole_handshake() -> None:
    from benchmarks.stages import CHUNKS, STEPS

    accepted = list(STEPS.values())[-1](CHUNKS)
    assert accepted.response.startswith(b"HTTP/1.1 101 ")  # type: ignore[attr-defined]


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# Edits of the Chrome request, and the answer each gets.
_EDITS = {
    "bad key": (b"dGhlIHNhbXBsZSBub25jZQ==", b"dGhlIHNhbXBsZSBub25jZQ", 400),
    "key of 15 bytes": (b"dGhlIHNhbXBsZSBub25jZQ==", b"dGhlIHNhbXBsZSBub25j", 400),
    "no websocket token": (b"Upgrade: websocket", b"Upgrade: h2c", 426),
    "no upgrade token": (b"Connection: Upgrade", b"Connection: keep-alive", 426),
    "version 8": (b"Version: 13", b"Version: 8", 426),
    "two hosts": (b"Host: localhost:8765", b"Host: a\r\nHost: b", 400),
    "a body": (b"Pragma: no-cache", b"Content-Length: 5", 400),
    "empty extension": (b"client_max_window_bits", b"client_max_window_bits, ,", 101),  # §5.6.1
    "bad extension": (b"client_max_window_bits", b"client_max_window_bits==", 400),
    "bad subprotocol": (b"Pragma: no-cache", b"Sec-WebSocket-Protocol: chat, a b", 400),
    "two subprotocol lines": (  # RFC 9110 §5.3: one list
        b"Pragma: no-cache",
        b"Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b",
        101,
    ),
    "a POST": (b"GET /chat", b"POST /chat", 405),
    "HTTP/1.0": (b"HTTP/1.1", b"HTTP/1.0", 400),
}


@pytest.mark.parametrize("edit", list(_EDITS))
def test_the_floor_answers_as_wsnegotiate_does(edit: str) -> None:
    # The floor is a fair lower bound only if it makes the same checks.
    from benchmarks.suite import CHROME, floor, with_wsnegotiate

    old, new, expected = _EDITS[edit]
    assert old in CHROME
    request = (CHROME.replace(old, new, 1),)
    ours = with_wsnegotiate(request)
    assert isinstance(ours, bytes)
    assert _status(floor(request)) == _status(ours) == expected  # type: ignore[arg-type]


def test_both_paths_answer_every_case_alike() -> None:
    from benchmarks.suite import (
        CLIENT_CASE,
        CLIENTS,
        SERVER_CASES,
        with_wsnegotiate,
        with_wsnegotiate_h11,
    )

    for case in SERVER_CASES:
        assert with_wsnegotiate(case.chunks) == with_wsnegotiate_h11(case.chunks), case.name
    connected = [
        CLIENTS[name](CLIENT_CASE.chunks) for name in ("wsnegotiate", "wsnegotiate, h11 only")
    ]
    assert connected[0] == connected[1]


def test_the_floor_answers_every_case_as_wsnegotiate_does() -> None:
    from benchmarks.suite import SERVER_CASES, floor, with_wsnegotiate

    for case in SERVER_CASES:
        if "floor" in case.contenders:
            ours = with_wsnegotiate(case.chunks)
            assert isinstance(ours, bytes)
            assert _status(floor(case.chunks)) == _status(ours) == case.status, case.name  # type: ignore[arg-type]
