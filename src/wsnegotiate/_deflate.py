"""permessage-deflate negotiation (RFC 7692 §5, §7): pure offer and answer logic.

``DeflateOptions`` are one side's wishes; ``DeflateParams`` what both sides agreed.
The server walks the client's offers in order and accepts the first it can; the
client checks the server's answer against what it offered. Neither fails the
handshake over compression: an offer the server cannot accept is declined (§5),
and only an answer that breaks §7.1 fails the client's handshake.

Facts this module relies on (RFC 7692):

- §7.1: four parameters; an offer with an unknown parameter, a parameter given
  twice, or a value out of range MUST be declined; an answer with any of those
  MUST fail the connection. ``*_no_context_takeover`` take no value.
- §7.1.1.1: an offer with ``server_no_context_takeover`` is accepted only by an
  answer that has it; a server MAY add it on its own.
- §7.1.1.2: a server MAY add ``client_no_context_takeover`` on its own.
- §7.1.2.1: ``server_max_window_bits`` is 8-15; an offer with it is accepted with
  the same or a smaller value.
- §7.1.2.2: ``client_max_window_bits`` may come without a value in an offer (the
  client supports the parameter); the answer MUST NOT have it unless offered,
  and in an answer it always has a value, 8-15.
- zlib silently widens an 8-bit raw deflate window to 9 bits, so a side that
  promised to compress within 8 bits would break its peer: this module never
  compresses within 8 bits, and declines an offer that asks it to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._errors import LocalProtocolError
from ._headers import Extension

__all__ = [
    "PERMESSAGE_DEFLATE",
    "DeflateOptions",
    "DeflateParams",
    "agreed",
    "answer_fault",
    "negotiate_offers",
]

PERMESSAGE_DEFLATE = "permessage-deflate"

_NO_TAKEOVER = ("server_no_context_takeover", "client_no_context_takeover")
_WINDOW = ("server_max_window_bits", "client_max_window_bits")
# §7.1.2.1: 1*DIGIT, a decimal 8-15 with no leading zero.
_bits_re = re.compile(r"(?:8|9|1[0-5])\Z")


@dataclass(frozen=True, slots=True)
class DeflateOptions:
    """One side's permessage-deflate wishes.

    - ``server_max_window_bits`` / ``client_max_window_bits``: the largest LZ77
      window (as a power of two) each side compresses with. The server's own
      window is never announced unless the client asked for a limit; the
      client's is asked for whenever the client offers the parameter.
      Defaults 12 and 12: about 51 KiB of zlib state per server connection with
      ``memory_level`` 5, against 303 KiB for wsproto's own defaults (15 and
      zlib's 8), as ``benchmarks/deflate_memory.py`` measures. A client built
      with ``deflate=True`` asks nothing of the server's window (``for_client``).
    - ``server_no_context_takeover`` / ``client_no_context_takeover``: reset the
      compressor after every message (less memory between messages, worse ratio).
    - ``memory_level``: zlib's ``memLevel`` (1-9) for this side's compressor.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 12
    client_max_window_bits: int = 12
    memory_level: int = 5

    def __post_init__(self) -> None:
        for name in _WINDOW:
            bits = getattr(self, name)
            if not 9 <= bits <= 15:
                raise LocalProtocolError(
                    f"{name} must be 9-15, not {bits} (zlib widens an 8-bit window to 9)"
                )
        if not 1 <= self.memory_level <= 9:
            raise LocalProtocolError(f"memory_level must be 1-9, not {self.memory_level}")

    def offer(self) -> str:
        """A client's offer (RFC 7692 §7.1) with these wishes, and with a bare
        ``client_max_window_bits`` (the server may limit the client's window; the
        client compresses within its own ``client_max_window_bits`` either way)."""
        params: list[tuple[str, str | None]] = [
            (name, None) for name in _NO_TAKEOVER if getattr(self, name)
        ]
        if self.server_max_window_bits < 15:
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        params.append(("client_max_window_bits", None))
        return str(Extension(PERMESSAGE_DEFLATE, tuple(params)))

    @classmethod
    def for_client(cls) -> DeflateOptions:
        """A client's defaults: a 12-bit window of its own, nothing asked of the
        server (whose window is the server's to choose), as browsers offer."""
        return cls(server_max_window_bits=15)


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """permessage-deflate as agreed: the answer's parameters (RFC 7692 §7.1),
    ``None`` for a window size the answer does not name (15 then), and how this
    side compresses within the agreement (``window_bits``, ``memory_level``:
    never sent)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None
    #: The LZ77 window this side compresses with: at most what the peer allows.
    window_bits: int = 15
    memory_level: int = 8

    #: The answer's text, written once (the server reuses agreed parameters).
    _text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        params: list[tuple[str, str | None]] = [
            (name, None) for name in _NO_TAKEOVER if getattr(self, name)
        ]
        params += [
            (name, str(bits)) for name in _WINDOW if (bits := getattr(self, name)) is not None
        ]
        object.__setattr__(self, "_text", str(Extension(PERMESSAGE_DEFLATE, tuple(params))))

    def answer(self) -> str:
        """The ``Sec-WebSocket-Extensions`` element of the answer."""
        return self._text

    @property
    def server_window(self) -> int:
        """The window the server compresses within (the client inflates with)."""
        return self.server_max_window_bits or 15

    @property
    def client_window(self) -> int:
        """The window the client compresses within (the server inflates with)."""
        return self.client_max_window_bits or 15


def _read_params(extension: Extension) -> dict[str, str | None] | str:
    """The parameters by name, or why they break §7.1 (unknown, repeated, a value
    where none belongs, a window size out of range)."""
    params: dict[str, str | None] = {}
    for name, value in extension.params:
        if name not in _NO_TAKEOVER and name not in _WINDOW:
            return f"unknown parameter {name}"
        if name in params:
            return f"repeated parameter {name}"
        if name in _NO_TAKEOVER and value is not None:
            return f"{name} takes no value"
        if name in _WINDOW and value is not None and not _bits_re.match(value):
            return f"{name}={value} is not 8-15"
        params[name] = value
    if "server_max_window_bits" in params and params["server_max_window_bits"] is None:
        return "server_max_window_bits needs a value"
    return params


def negotiate_offers(
    offers: tuple[Extension, ...], options: DeflateOptions
) -> DeflateParams | None:
    """The server's side: the first permessage-deflate offer it can accept, as
    agreed parameters, or ``None`` when every one is declined."""
    for offer in offers:
        if offer.name.lower() != PERMESSAGE_DEFLATE:
            continue
        params = _read_params(offer)
        if isinstance(params, str):
            continue  # §7.1: MUST decline
        server_bits = options.server_max_window_bits
        asked = _bits(params, "server_max_window_bits")
        if asked is not None:  # §7.1.2.1: answered with the same or a smaller value
            if asked < 9:
                continue  # a window of 8 bits cannot be kept (zlib)
            server_bits = min(server_bits, asked)
        client_bits = None
        if "client_max_window_bits" in params:  # §7.1.2.2: named only when offered
            client_bits = min(
                options.client_max_window_bits, _bits(params, "client_max_window_bits") or 15
            )
        return DeflateParams(
            server_no_context_takeover="server_no_context_takeover" in params
            or options.server_no_context_takeover,
            client_no_context_takeover="client_no_context_takeover" in params
            or options.client_no_context_takeover,
            server_max_window_bits=None if asked is None else server_bits,
            client_max_window_bits=client_bits,
            window_bits=server_bits,
            memory_level=options.memory_level,
        )
    return None


def answer_fault(answer: Extension, offer: Extension) -> str | None:
    """Why ``answer`` does not accept ``offer`` as §7.1 allows, or ``None`` when it
    does: its own parameters are valid, it keeps a ``server_no_context_takeover``
    or a ``server_max_window_bits`` limit that was offered, and it names
    ``client_max_window_bits`` only if offered, with a value within the offer's."""
    params = _read_params(answer)
    if isinstance(params, str):
        return params
    offered = _read_params(offer)
    if isinstance(offered, str):
        return f"the offer itself is invalid: {offered}"
    if "server_no_context_takeover" in offered and "server_no_context_takeover" not in params:
        return "server_no_context_takeover was offered and is missing"  # §7.1.1.1
    server_bits, limit = (
        _bits(params, "server_max_window_bits"),
        offered.get("server_max_window_bits"),
    )
    if server_bits is not None and limit is not None and server_bits > int(limit):
        return f"server_max_window_bits={server_bits} is more than the {limit} offered"
    if "client_max_window_bits" in params:  # §7.1.2.2
        client_bits, limit = _bits(params, "client_max_window_bits"), None
        if "client_max_window_bits" not in offered:
            return "client_max_window_bits was not offered"
        if client_bits is None:
            return "client_max_window_bits has no value"
        limit = offered["client_max_window_bits"]
        if limit is not None and client_bits > int(limit):
            return f"client_max_window_bits={client_bits} is more than the {limit} offered"
    return None


def agreed(answer: Extension, options: DeflateOptions, *, client: bool) -> DeflateParams:
    """The parameters of an answer that ``answer_fault`` passed, with the window
    this side (the client's or the server's) compresses within: its own wish,
    within the answer's limit. A context-takeover reset the client promised in
    its offer holds whether the answer repeats it or not."""
    names = {name for name, _ in answer.params}
    params = dict(answer.params)
    server_bits = _bits(params, "server_max_window_bits")
    client_bits = _bits(params, "client_max_window_bits")
    if client:
        window = min(options.client_max_window_bits, client_bits or 15)
    else:
        window = max(9, min(options.server_max_window_bits, server_bits or 15))
    return DeflateParams(
        server_no_context_takeover="server_no_context_takeover" in names,
        client_no_context_takeover="client_no_context_takeover" in names
        or (client and options.client_no_context_takeover),
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
        window_bits=window,
        memory_level=options.memory_level,
    )


def _bits(params: dict[str, str | None], name: str) -> int | None:
    value = params.get(name)
    return None if value is None else int(value)
