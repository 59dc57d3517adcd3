"""The suite's server cases counted in CPU instructions instead of seconds: the
same contenders and bytes, run under valgrind's callgrind, so the figures do not
move with the machine's load or its other processes (timings on a shared
2-core machine do). Instructions are not time: code with more cache misses runs
fewer of them per second. Both tables together say where the time goes.

    python -m benchmarks.instructions [--calls 100] [--case NAME ...] [--stages]
                                      [--update | --out DIR]

The table goes to a new temporary directory unless told where (``--update``:
benchmarks/results/, the committed tables).

A second table, ``--stages``, splits wsnegotiate's Chrome handshake into its steps,
each counted as the path up to that step, so each row's increment is what that step
costs where it runs; beside them, the pieces of the parse step counted on their own.
With ``--case`` too, both tables come from one run (most of a run is Python starting
under valgrind).

Needs valgrind (Debian: ``apt-get install valgrind``). One run takes a minute or two.
How: each contender runs ``calls`` times (a tenth as many for the cases fed in
small chunks) inside one ``functools.reduce`` call; callgrind counts only inside
that C function and writes one total per call, from which an empty run of the
same loop is subtracted. Enough calls that the garbage collector's share lands in
the counts as it does in a server.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import stages
from .suite import (
    CLIENT_CASE,
    CLIENTS,
    CONTENDERS,
    SERVER_CASES,
    SERVERS,
    Chunks,
    add_output_options,
    output_directory,
)

_NOTHING = "nothing"  # the loop around the contenders, measured on its own
STAGES = "wsnegotiate's steps, Chrome"  # the case name of the --stages table
CASES = (*SERVER_CASES, CLIENT_CASE)  # the client's row: its request written, the 101 read


def _nothing(chunks: Chunks) -> object:
    return chunks


def _contenders(case_name: str) -> dict[str, Callable[[Chunks], object]]:
    if case_name == STAGES:
        return {_NOTHING: _nothing, **stages.STEPS, **stages.PIECES}
    if case_name == CLIENT_CASE.name:
        return {_NOTHING: _nothing, **CLIENTS}
    return {_NOTHING: _nothing, **SERVERS}


def _chunks(case_name: str) -> Chunks:
    if case_name == STAGES:
        return stages.CHUNKS
    return next(case.chunks for case in CASES if case.name == case_name)


def _plan(names: list[str]) -> list[tuple[str, str]]:
    """(case, contender) pairs in the order they are counted: each case's empty loop
    first, the steps last."""
    chosen = [case for case in CASES if case.name in names]
    plan = [(case.name, _NOTHING) for case in chosen]
    plan += [(case.name, name) for case in chosen for name in case.contenders]
    if STAGES in names:
        plan += [(STAGES, name) for name in _contenders(STAGES)]
    return plan


def _measure_in_this_process(calls: int, names: list[str]) -> None:
    """The child, under callgrind: one ``reduce`` per (case, contender), in the
    order printed as JSON on standard output."""
    plan = _plan(names)
    print(json.dumps(plan), flush=True)
    # The cyclic collector runs after so many allocations, wherever the count falls: a
    # collection inside one contender's calls and not another's would be counted as
    # theirs. Off while counting, so that a few calls give each its own count.
    gc.disable()
    for case_name, name in plan:
        gc.collect()
        function, chunks = _contenders(case_name)[name], _chunks(case_name)
        for _ in range(5):  # first calls fill caches (regexes, memos): not per handshake
            function(chunks)
        functools.reduce(lambda _, __: function(chunks), range(_calls(calls, chunks)), None)


def _calls(calls: int, chunks: Chunks) -> int:
    return calls if len(chunks) == 1 else max(1, calls // 10)


def count(calls: int, names: list[str]) -> dict[str, dict[str, int]]:
    """Instructions per handshake of the cases ``names``: case -> contender -> count."""
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "callgrind.out"
        child = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=functools_reduce",
                "--dump-after=functools_reduce",
                f"--callgrind-out-file={output}",
                sys.executable,
                "-m",
                "benchmarks.instructions",
                "--child",
                str(calls),
                *(option for name in names for option in ("--name", name)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        plan = json.loads(child.stdout.splitlines()[0])
        totals = [_total(Path(f"{output}.{n}")) for n in range(1, len(plan) + 1)]
    measured = list(zip(plan, totals, strict=True))
    loops = {case: total for (case, name), total in measured if name == _NOTHING}
    counts: dict[str, dict[str, int]] = {}
    for (case, name), total in measured:
        if name != _NOTHING:
            number = _calls(calls, _chunks(case))
            counts.setdefault(case, {})[name] = (total - loops[case]) // number
    return counts


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"{dump}: no totals line")


def markdown(counts: dict[str, dict[str, int]], calls: int) -> str:
    lines = [
        f"Instructions per handshake (callgrind, {calls} calls each), and the ratio to bare h11.",
        "",
        "| case | " + " | ".join(CONTENDERS) + " |",
        "|" + "---|" * (len(CONTENDERS) + 1),
    ]
    for case, by_name in counts.items():
        base = by_name["bare h11"]
        cells = [
            f"{by_name[n] / 1000:,.1f}k ({by_name[n] / base:.2f}x)" if n in by_name else "-"
            for n in CONTENDERS
        ]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def stages_markdown(counts: dict[str, int], calls: int) -> str:
    """The --stages table: each step's count and its increment over the step before,
    then the pieces of the parse step, each on its own."""
    lines = [
        f"wsnegotiate's Chrome handshake step by step (callgrind, {calls} calls each): each",
        "row is the path up to that step; the increment is what the step adds.",
        "",
        "| path up to | instructions | increment |",
        "|---|---|---|",
    ]
    before = 0
    for name in stages.STEPS:
        lines.append(f"| {name} | {counts[name]:,} | +{counts[name] - before:,} |")
        before = counts[name]
    lines += ["", "| a piece of the parse step, on its own | instructions |", "|---|---|"]
    lines += [f"| {name} | {counts[name]:,} |" for name in stages.PIECES]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=100, help="calls counted per contender")
    parser.add_argument(
        "--case",
        action="append",
        choices=[case.name for case in CASES],
        help="a case to count (repeat for more; all by default)",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="count wsnegotiate's steps instead of the cases (as well as them with --case)",
    )
    add_output_options(parser)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--name", action="append", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = parser().parse_args()
    if args.child:
        _measure_in_this_process(args.child, args.name)
        return
    if shutil.which("valgrind") is None:
        sys.exit("benchmarks.instructions needs valgrind (apt-get install valgrind)")
    names = args.case or ([] if args.stages else [case.name for case in CASES])
    counts = count(args.calls, names + [STAGES] * args.stages)
    tables = {}
    if STAGES in counts:
        tables["stages.md"] = stages_markdown(counts.pop(STAGES), args.calls)
    if counts:
        tables["instructions.md"] = markdown(counts, args.calls)
    out = output_directory(args)
    out.mkdir(parents=True, exist_ok=True)
    for file, table in tables.items():
        (out / file).write_text(table, encoding="utf-8")
        print(table, end="")
        print(f"wrote {out / file}")


if __name__ == "__main__":
    main()
