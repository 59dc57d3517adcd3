"""Run the handshake suite and write its Markdown table and PNG chart, to a new
temporary directory unless told where (``--update``: benchmarks/results/).

pip install -e '.[bench]'
python -m benchmarks [--rounds 15] [--seconds 0.02] [--update | --out DIR]
python -m benchmarks --quick    # a few short rounds: the shape, not the figures
"""

from __future__ import annotations

import argparse
import platform
from importlib.metadata import version

from .suite import add_output_options, chart, markdown, output_directory, run


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per case")
    parser.add_argument("--seconds", type=float, default=0.02, help="length of one timing")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1 ms")
    add_output_options(parser)
    return parser


def main() -> None:
    args = parser().parse_args()
    rounds, seconds = (3, 0.001) if args.quick else (args.rounds, args.seconds)
    results = run(rounds, seconds)
    versions = ", ".join(
        f"{name} {version(name)}" for name in ("h11", "wsnegotiate", "wsproto", "websockets")
    )
    table = f"Python {platform.python_version()}, {versions}; {rounds} rounds.\n\n"
    table += markdown(results)
    out = output_directory(args)
    out.mkdir(parents=True, exist_ok=True)
    (out / "handshake.md").write_text(table, encoding="utf-8")
    chart(results, out / "handshake.png")
    print(table, end="")
    print(f"wrote {out / 'handshake.md'} and {out / 'handshake.png'}")


if __name__ == "__main__":
    main()
