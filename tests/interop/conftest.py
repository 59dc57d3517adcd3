"""Fixtures of the interop tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from test_serve import SharedServers


@pytest.fixture(scope="module")
def shared() -> Iterator[SharedServers]:
    """The module's shared ``wsnegotiate serve`` processes (``SharedServers``)."""
    with contextlib.ExitStack() as stack:
        yield SharedServers(stack)
