"""The hixie-76 (hybi-00) key challenge, for clients that speak it when probing.

draft-hixie-thewebsocketprotocol-76 §4.1 steps 17-23 build each of
``Sec-WebSocket-Key1``/``Key2`` from a random number times a random count of
spaces (1-12), with 1-12 random characters from U+0021-U+002F and U+003A-U+007E
and the spaces inserted at random places (never first or last). §5.2: the
server divides the key's digits by its spaces, and answers with the MD5 of the
two 32-bit big-endian quotients followed by the 8-byte key3.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

__all__ = ["challenge_answer", "key_number", "make_key"]

Random = Callable[[int], bytes]

_FILLERS = [chr(c) for c in (*range(0x21, 0x30), *range(0x3A, 0x7F))]


def _below(random: Random, bound: int) -> int:
    """A random integer in ``range(bound)`` from the caller's random source."""
    return int.from_bytes(random(8), "big") % bound


def make_key(random: Random) -> tuple[str, int]:
    """One ``Sec-WebSocket-Key1``/``Key2`` value and the number it encodes."""
    spaces = 1 + _below(random, 12)
    number = _below(random, 4294967295 // spaces + 1)
    key = list(str(number * spaces))
    for _ in range(1 + _below(random, 12)):
        key.insert(_below(random, len(key) + 1), _FILLERS[_below(random, len(_FILLERS))])
    for _ in range(spaces):
        key.insert(1 + _below(random, len(key) - 1), " ")
    return "".join(key), number


def key_number(key: str) -> int | None:
    """What a server reads from a key: its digits divided by its spaces (§5.2),
    or ``None`` when the key has no spaces or the division leaves a remainder."""
    spaces = key.count(" ")
    digits = "".join(c for c in key if "0" <= c <= "9")
    if not spaces or not digits or int(digits) % spaces:
        return None
    return int(digits) // spaces


def challenge_answer(number1: int, number2: int, key3: bytes) -> bytes:
    """The 16 bytes a hixie-76 server sends after its 101 head."""
    data = number1.to_bytes(4, "big") + number2.to_bytes(4, "big") + key3
    return hashlib.md5(data, usedforsecurity=False).digest()
