"""``Version`` (Qt's QWebSocketProtocol::Version) and the number -> version table.

The numbers are the IANA "WebSocket Version Number Registry" (RFC 6455 §11.6):
0-8 name the hybi drafts that introduced them, 9-12 are reserved, 13 is RFC 6455
and 14-255 are unassigned. Which *header* carried the number is decided in
``_detect``; this module only maps numbers and draft markers to members.
"""

from __future__ import annotations

import enum

__all__ = ["Version", "family_of_draft", "family_of_number"]


class Version(enum.IntEnum):
    """A WebSocket protocol version, with Qt's names and values."""

    #: No version this library knows by name: hixie-75, hybi-01..03, a reserved
    #: (9-12) or unassigned (14-255) number. The raw value is kept beside it.
    VersionUnknown = -1
    #: hixie-76 and hybi-00 (``Sec-WebSocket-Key1``/``Key2``, ``Draft: 0``, or ``Version: 0``).
    Version0 = 0
    #: hybi-04.
    Version4 = 4
    #: hybi-05.
    Version5 = 5
    #: hybi-06.
    Version6 = 6
    #: hybi-07 (same framing as RFC 6455).
    Version7 = 7
    #: hybi-08 to hybi-12, which all sent 8 (same framing as RFC 6455).
    Version8 = 8
    #: hybi-13 to hybi-17 and RFC 6455.
    Version13 = 13
    #: The newest version: an alias of ``Version13``.
    VersionLatest = 13


def _number_family(number: int) -> tuple[Version, str]:
    if number == 13:
        return Version.Version13, "rfc6455"
    if number in (0, 4, 5, 6, 7, 8):
        return Version(number), f"hybi-{number:02d}"
    if 1 <= number <= 3:
        return Version.VersionUnknown, f"hybi-{number:02d}"
    if 9 <= number <= 12:
        return Version.VersionUnknown, "reserved"
    return Version.VersionUnknown, "unassigned"


# Every legal Sec-WebSocket-Version value (RFC 6455 §4.3: 0-255), precomputed.
_BY_NUMBER: tuple[tuple[Version, str], ...] = tuple(_number_family(n) for n in range(256))


def family_of_number(number: int) -> tuple[Version, str]:
    """Map a ``Sec-WebSocket-Version`` number (0-255) to its member and family."""
    return _BY_NUMBER[number]


def family_of_draft(number: int) -> tuple[Version, str]:
    """Map a ``Sec-WebSocket-Draft`` number (hybi-00..03 only sent 0-3)."""
    if number == 0:
        return Version.Version0, "hybi-00"
    if number <= 3:
        return Version.VersionUnknown, f"hybi-{number:02d}"
    return Version.VersionUnknown, "unassigned"
