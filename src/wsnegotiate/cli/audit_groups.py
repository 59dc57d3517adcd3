"""The audit's groups of cases by name, in report order: what ``audit --only`` takes.
A module of their own, so that the command line knows them without loading the cases
(``audit_cases`` checks that its cases use exactly these)."""

from __future__ import annotations

__all__ = ["GROUPS", "GROUP_ALIASES"]

GROUPS: tuple[str, ...] = (
    "versions",
    "keys",
    "http",
    "upgrade",
    "subprotocols",
    "extensions",
    "security",
    "pipelining",
    "frames",
    "101",
    "slow",
)
#: What ``--only`` also takes: a group's name before it grew.
GROUP_ALIASES = {"origin": "security"}
