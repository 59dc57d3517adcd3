"""Run inputs through a harness without atheris: a crash file to reproduce a finding
with its traceback, or a whole corpus to measure the line coverage it reaches.

    python fuzz/replay.py server crash-1a2b...
    coverage run --branch --source=wsnegotiate fuzz/replay.py server fuzz/corpus/server
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(name: str, paths: list[str]) -> None:
    test_one_input = importlib.import_module(name).test_one_input
    files = [
        file
        for path in map(Path, paths)
        for file in (sorted(path.iterdir()) if path.is_dir() else [path])
    ]
    for file in files:
        test_one_input(file.read_bytes())
    print(f"{name}: {len(files)} inputs passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
