"""Write each harness's seeds (built from the bundled samples, see each harness's
``seeds()``) into ``fuzz/corpus/NAME/``; each harness also does so by itself when
its corpus directory is empty or missing.

    python fuzz/make_corpus.py [server client close extensions]
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from fuzzlib import write_seeds

HERE = Path(__file__).resolve().parent
TARGETS = ("server", "client", "close", "extensions", "differential")


def main(targets: list[str]) -> None:
    for name in targets or TARGETS:
        seeds = importlib.import_module(name).seeds()
        write_seeds(HERE / "corpus" / name, seeds)
        print(f"{len(seeds)} seeds in {HERE / 'corpus' / name}")


if __name__ == "__main__":
    main(sys.argv[1:])
