"""The tools: the ``wsnegotiate`` command (``demo``, ``check``, ``probe``,
``audit``, ``serve``) and what they need of their own. All printing and all sockets of the
command line live in this sub-package; the protocol lives above it (DESIGN.md,
"Layout")."""

from ._main import main as main

__all__ = ["main"]
