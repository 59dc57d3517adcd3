"""Which WebSocket protocol a request speaks, from its version markers.

Precedence (DESIGN.md): ``Sec-WebSocket-Version`` > ``Sec-WebSocket-Draft`` >
``Sec-WebSocket-Key1`` + ``Key2`` (hixie-76) > nothing (hixie-75, or a missing
version when an RFC 6455 ``Sec-WebSocket-Key`` is present).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._errors import Fault
from ._headers import parse_version_value
from ._version import Version, family_of_draft, family_of_number

__all__ = ["Detection", "MarkerFault", "detect"]

VERSION = "Sec-WebSocket-Version"
DRAFT = "Sec-WebSocket-Draft"
KEY1_KEY2 = "Sec-WebSocket-Key1/Key2"


@dataclass(frozen=True, slots=True)
class Detection:
    """The protocol a request speaks.

    ``raw_version`` is the version or draft number as sent (``None`` for
    hixie-75/76); ``family`` names the specification (``rfc6455``, ``hybi-08``,
    ``hybi-00``, ``hixie-76``, ``hixie-75``, ``reserved``, ``unassigned``);
    ``marker`` is the header field that decided, or ``None``.
    """

    version: Version
    raw_version: str | None
    family: str
    marker: str | None


@dataclass(frozen=True, slots=True)
class MarkerFault:
    """A version marker that is present but broken: the field and what is wrong."""

    field: str
    fault: Fault
    value: bytes = b""


HIXIE_75 = Detection(Version.VersionUnknown, None, "hixie-75", None)
HIXIE_76 = Detection(Version.Version0, None, "hixie-76", KEY1_KEY2)


def _table(family_of: Callable[[int], tuple[Version, str]], marker: str) -> dict[int, Detection]:
    # One Detection object per number, shared by every request that sends it.
    return {
        n: Detection(v, str(n), family, marker) for n in range(256) for v, family in [family_of(n)]
    }


_BY_VERSION = _table(family_of_number, VERSION)
_BY_DRAFT = _table(family_of_draft, DRAFT)
# The same, by the number's one valid spelling (b"13"): a request's value is looked
# up before it is parsed; only values that are not in it go through the grammar.
_BY_VERSION_TEXT = {str(n).encode("ascii"): found for n, found in _BY_VERSION.items()}
_BY_DRAFT_TEXT = {str(n).encode("ascii"): found for n, found in _BY_DRAFT.items()}


def _read_number(
    values: list[bytes], field: str, table: dict[int, Detection], by_text: dict[bytes, Detection]
) -> Detection | MarkerFault:
    if len(values) > 1:
        return MarkerFault(field, Fault.REPEATED)  # one field line only (§11.3.5)
    found = by_text.get(values[0])
    if found is not None:
        return found
    if not values[0]:
        return MarkerFault(field, Fault.EMPTY)
    number = parse_version_value(values[0])
    if number is None:
        return MarkerFault(field, Fault.INVALID, values[0])
    return table[number]


def detect(fields: dict[bytes, list[bytes]]) -> Detection | MarkerFault | None:
    """Detect the protocol from ``fields`` (lower-case name -> field-line values).

    ``None`` means no marker at all but a ``Sec-WebSocket-Key``: an RFC 6455
    request that forgot its version.
    """
    if b"sec-websocket-version" in fields:
        return _read_number(
            fields[b"sec-websocket-version"], VERSION, _BY_VERSION, _BY_VERSION_TEXT
        )
    if b"sec-websocket-draft" in fields:
        return _read_number(fields[b"sec-websocket-draft"], DRAFT, _BY_DRAFT, _BY_DRAFT_TEXT)
    if b"sec-websocket-key1" in fields or b"sec-websocket-key2" in fields:
        return HIXIE_76
    if b"sec-websocket-key" in fields:
        return None
    return HIXIE_75
