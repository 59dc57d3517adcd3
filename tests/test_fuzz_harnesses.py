"""The fuzz harnesses of ``fuzz/``, run without atheris: each over its seeds and a
few hundred generated inputs (seeds cut, spliced and mutated, and plain random
bytes), so the harnesses cannot rot and their invariants hold in every run."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from factory import mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
TARGETS = ("server", "client", "close", "extensions", "differential")


def load(name: str) -> ModuleType:
    """``fuzz/NAME.py`` as module ``fuzz_NAME`` (its siblings import ``fuzzlib``)."""
    if str(FUZZ) not in sys.path:
        sys.path.append(str(FUZZ))
    module = sys.modules.get(f"fuzz_{name}")
    if module is None:
        spec = importlib.util.spec_from_file_location(f"fuzz_{name}", FUZZ / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def harness(name: str) -> tuple[Callable[[bytes], None], list[bytes]]:
    module = load(name)
    run: Callable[[bytes], None] = module.test_one_input
    seeds: list[bytes] = module.seeds()
    return run, seeds


def test_harnesses_do_not_need_atheris() -> None:
    for name in TARGETS:
        load(name)
    assert "atheris" not in sys.modules


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
@pytest.mark.parametrize("name", TARGETS)
def test_every_seed_passes(name: str) -> None:
    run, seeds = harness(name)
    assert len(seeds) >= 20
    for seed in seeds:
        run(seed)


@st.composite
def inputs(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few bytes inserted, deleted or replaced, or a splice of two
    seeds, or random bytes."""
    kind = draw(st.sampled_from(["mutate", "splice", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=400))
    data = draw(st.sampled_from(seeds))
    if kind == "splice":
        other = draw(st.sampled_from(seeds))
        cut = draw(st.integers(0, len(data)))
        return data[:cut] + other[draw(st.integers(0, len(other))) :]
    return mutate(draw, data, [0, 1, 9, 10, 13, 32, 34, 44, 59, 61, 92, 255, *b"A0,;=\\"], 8)


def _generated(name: str) -> Callable[[], None]:
    run, seeds = harness(name)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(inputs(seeds))
    def check(data: bytes) -> None:
        run(data)

    return check


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
@pytest.mark.parametrize("name", TARGETS)
def test_generated_inputs_pass(name: str) -> None:
    _generated(name)()
