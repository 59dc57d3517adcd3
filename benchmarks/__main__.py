"""Run the handshake suite and write its Markdown table and PNG chart.

pip install -e '.[bench]'
python -m benchmarks [--rounds 15] [--seconds 0.02] [--out benchmarks/results]
python -m benchmarks --quick    # a few short rounds: the shape, not the figures
"""

from __future__ import annotations

import argparse
import platform
from importlib.metadata import version
from pathlib import Path

from .suite import chart, markdown, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per case")
    parser.add_argument("--seconds", type=float, default=0.02, help="length of one timing")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1 ms")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    rounds, seconds = (3, 0.001) if args.quick else (args.rounds, args.seconds)
    results = run(rounds, seconds)
    versions = ", ".join(
        f"{name} {version(name)}" for name in ("h11", "wsnegotiate", "wsproto", "websockets")
    )
    table = f"Python {platform.python_version()}, {versions}; {rounds} rounds.\n\n"
    table += markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "handshake.md").write_text(table, encoding="utf-8")
    chart(results, args.out / "handshake.png")
    print(table, end="")
    print(f"wrote {args.out / 'handshake.md'} and {args.out / 'handshake.png'}")


if __name__ == "__main__":
    main()
