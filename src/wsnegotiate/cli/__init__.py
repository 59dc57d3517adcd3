"""The tools: the ``wsnegotiate`` command (``demo``, ``check``, ``probe``,
``audit``, ``serve``) and what they need of their own. All printing and all sockets of the
command line live in this sub-package; the protocol lives above it (DESIGN.md,
"Layout")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """The ``wsnegotiate`` command; its exit status. The commands load when called, so
    that importing a module of the sub-package (``wsnegotiate.cli.samples``) stays cheap."""
    from ._main import main as run

    return run(argv, out)


__all__ = ["main"]
