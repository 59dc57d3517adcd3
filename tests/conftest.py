from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from test_serve import SharedServers

pytest.register_assert_rewrite("factory")

IN_CI = os.environ.get("CI") == "true"


def _keep_bytecode() -> None:
    """Where PYTHONDONTWRITEBYTECODE is set, every Python process the suite starts
    (about 250: servers, the command line, the workers) would compile wsnegotiate and
    the tests from source, a fifth of the suite's CPU. The suite keeps the bytecode
    under .cache/pycache instead, away from the sources, as that setting wants."""
    if not os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
        return
    prefix = str(Path(__file__).resolve().parent.parent / ".cache" / "pycache")
    os.environ["PYTHONPYCACHEPREFIX"] = sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False


_keep_bytecode()


def pytest_configure(config: pytest.Config) -> None:
    """The coverage gate (``fail_under`` in pyproject.toml, applied by ``pytest --cov``)
    belongs to the full run: a run of chosen paths (``pytest --cov tests/interop``)
    reports coverage but cannot reach the gate, so it does not fail on it."""
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS:
        config.known_args_namespace.cov_fail_under = None


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: four workers a core. Most of the suite's time is spent waiting on
    real servers, sockets and deadlines, not computing (measured on 2 cores: 96 s with
    4 workers, 76 s with 6, 70 s with 8)."""
    return 4 * (os.cpu_count() or 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Heavy tests first: the workers take tests in this order, so a long one never starts
    last while the other worker sits idle."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, None, None]:
    """Under CI=true a skipped test is a failure: CI installs every peer a test needs."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may skip: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test marked ``untraced`` runs without coverage's tracing: thousands of repetitions
    whose lines the rest of the suite measures, at a third of the cost. Every coverage
    running in this process pauses (an xdist worker runs more than one: pytest-cov's and
    the one its subprocess patch starts), and resumes in the order it started."""
    if item.get_closest_marker("untraced") is None or "coverage" not in sys.modules:
        yield
        return
    import coverage

    stopped = []
    while (running := coverage.Coverage.current()) is not None:
        running.stop()
        stopped.append(running)
    try:
        yield
    finally:
        for running in reversed(stopped):
            running.start()


@pytest.fixture(scope="module")
def shared() -> Iterator[SharedServers]:
    """The module's shared ``wsnegotiate serve`` processes (tests/interop/test_serve.py)."""
    from test_serve import SharedServers  # tests/interop: on sys.path once its tests load

    with contextlib.ExitStack() as stack:
        yield SharedServers(stack)
