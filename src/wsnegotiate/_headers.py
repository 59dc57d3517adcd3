"""Header-field grammars the handshake relies on. Pure functions over bytes.

Facts this module relies on:

- RFC 9110 §5.6.1: a list-based field is ``#element``: elements separated by
  commas with optional whitespace (OWS = SP / HTAB) around them; a recipient
  MUST accept and ignore empty elements (``,,\\t, Upgrade``).
- RFC 9110 §5.6.2: ``token = 1*tchar``; tchar is ``!#$%&'*+-.^_`|~``, DIGIT, ALPHA.
- RFC 9110 §5.6.4: ``quoted-string`` with ``\\``-escapes, used by extension params.
- RFC 9110 §7.8: ``Upgrade`` elements are ``protocol-name ["/" protocol-version]``.
- RFC 6455 §4.3: ``version = DIGIT | NZDIGIT DIGIT | "1" DIGIT DIGIT | "2" DIGIT2 DIGIT``,
  limited to 0-255 with no leading zeros; ``Sec-WebSocket-Version`` is one field line
  (§11.3.5), so ``13, 8`` is malformed from a client.
- RFC 6455 §4.1: ``Sec-WebSocket-Key`` is the base64 of 16 random bytes (24 chars).
- RFC 6455 §9.1: ``extension = token *( ";" token [ "=" (token | quoted-string) ] )``.
- RFC 9110 §7.2: ``Host = uri-host [ ":" port ]``; RFC 3986 §3.2.2-3.2.3: ``host =
  IP-literal / IPv4address / reg-name``, ``port = *DIGIT``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "EXTENSION",
    "FRAMING_FIELDS",
    "TOKEN",
    "Extension",
    "check_field_name",
    "check_field_value",
    "extension_name",
    "field_lines",
    "field_value_fault",
    "has_token",
    "is_token",
    "parse_advertised",
    "parse_extension_list",
    "parse_extensions",
    "parse_token_list",
    "parse_version_value",
    "quote_for_reason",
    "valid_host",
    "valid_key",
]

#: RFC 9110 §5.6.2 ``token``, as a pattern to build others with.
TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_token_re = re.compile(TOKEN + rb"\Z")
_protocol_re = re.compile(TOKEN + rb"(?:/" + TOKEN + rb")?\Z")
_OWS = b" \t"

# Strict RFC 6455 §4.3 version: ASCII digits only, no sign, no leading zero, <= 3 digits.
_version_re = re.compile(rb"(?:0|[1-9][0-9]{0,2})\Z")

# One extension offer, as RFC 6455 §9.1 and RFC 9110 §5.6.4 draw it (``EXTENSION``);
# used with match() at a position, so the whole list is walked in one pass and faults
# have a position.
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
EXTENSION = (
    TOKEN
    + rb"(?:[ \t]*;[ \t]*"
    + TOKEN
    + rb"(?:[ \t]*=[ \t]*(?:"
    + TOKEN
    + rb"|"
    + _QUOTED
    + rb"))?)*"
)
_extension_re = re.compile(rb"[ \t]*(?P<ext>" + EXTENSION + rb")[ \t]*(?:,|\Z)")


def field_lines(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    """Field lines by lower-case name, each name's values in wire order
    (RFC 9110 §5.1: field names are case-insensitive)."""
    fields: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        fields.setdefault(name.lower(), []).append(value)
    return fields


def parse_token_list(value: bytes, *, protocols: bool = False) -> list[bytes] | None:
    """Split a ``#token`` list (RFC 9110 §5.6.1), dropping empty elements.

    ``protocols=True`` admits ``name/version`` elements (the ``Upgrade`` field).
    Returns ``None`` when an element breaks the grammar.
    """
    pattern = _protocol_re if protocols else _token_re
    elements = []
    for part in value.split(b","):
        element = part.strip(_OWS)
        if not element:
            continue
        if pattern.match(element) is None:
            return None
        elements.append(element)
    return elements


@dataclass(frozen=True, slots=True)
class Extension:
    """One element of ``Sec-WebSocket-Extensions`` (RFC 6455 §9.1): the extension
    token and its parameters in order. A parameter without a value has ``None``; a
    quoted-string value is given unquoted and unescaped (RFC 9110 §5.6.4)."""

    name: str
    params: tuple[tuple[str, str | None], ...] = ()

    def __str__(self) -> str:
        parts = [self.name]
        for key, value in self.params:
            if value is None:
                parts.append(key)
            elif is_token(value.encode("latin-1", "replace")):
                parts.append(f"{key}={value}")
            else:
                escaped = value.replace("\\", "\\\\").replace('"', '\\"')
                parts.append(f'{key}="{escaped}"')
        return "; ".join(parts)


_param_re = re.compile(
    rb";[ \t]*(" + TOKEN + rb")(?:[ \t]*=[ \t]*(?:(" + TOKEN + rb")|(" + _QUOTED + rb")))?"
)
_unescape_re = re.compile(rb"\\(.)", re.DOTALL)

#: What a parse of one field value gives: each offer as sent, and as data; or the
#: byte offset of the first fault.
Parsed = tuple[tuple[str, ...], tuple[Extension, ...]] | int

# Browsers send a handful of distinct, short offers (Chrome's is 42 bytes), so their
# parses are remembered. A peer can fill the memo, but only with short values:
# at most _MEMO_ENTRIES values of at most _MEMO_VALUE_BYTES each, a few hundred KiB
# at the very worst, and longer values are parsed every time.
_MEMO_ENTRIES = 256
_MEMO_VALUE_BYTES = 128
_extension_memo: dict[bytes, Parsed] = {}


def parse_extensions(value: bytes) -> Parsed:
    """Split ``Sec-WebSocket-Extensions`` into its offers, empty elements dropped:
    each offer's text as sent (``permessage-deflate; client_max_window_bits``) and
    its ``Extension``. Returns the byte offset of the first fault instead when the
    grammar breaks."""
    parsed = _extension_memo.get(value)
    if parsed is None:
        parsed = _parse_extensions(value)
        if len(value) <= _MEMO_VALUE_BYTES and len(_extension_memo) < _MEMO_ENTRIES:
            _extension_memo[value] = parsed
    return parsed


def parse_extension_list(value: bytes) -> tuple[str, ...] | int:
    """The offers of ``parse_extensions`` as sent, or the offset of the first fault."""
    parsed = parse_extensions(value)
    return parsed if isinstance(parsed, int) else parsed[0]


def _parse_extensions(value: bytes) -> Parsed:
    texts: list[str] = []
    offers: list[Extension] = []
    position, end = 0, len(value)
    while position < end:
        if value[position] in b" \t,":  # empty list elements and OWS
            position += 1
            continue
        match = _extension_re.match(value, position)
        if match is None:
            return position
        text = match.group("ext")
        name_end = _token_prefix_re.match(text)
        assert name_end is not None  # the element matched the grammar
        params = tuple(
            (key.decode("ascii"), _param_value(token, quoted))
            for key, token, quoted in _param_re.findall(text, name_end.end())
        )
        texts.append(text.decode("latin-1"))
        offers.append(Extension(name_end.group().decode("ascii"), params))
        position = match.end()
    return tuple(texts), tuple(offers)


_token_prefix_re = re.compile(TOKEN)


def _param_value(token: bytes, quoted: bytes) -> str | None:
    if token:
        return token.decode("ascii")
    if quoted:
        return _unescape_re.sub(rb"\1", quoted[1:-1]).decode("latin-1")
    return None


def extension_name(offer: str) -> str:
    """The extension token of one offer or answer, lower case (RFC 6455 §9.1):
    ``permessage-deflate`` for ``permessage-deflate; client_max_window_bits``."""
    return offer.split(";", 1)[0].strip().lower()


def parse_version_value(value: bytes) -> int | None:
    """Read a version number by the strict RFC 6455 §4.3 grammar, or ``None``."""
    value = value.strip(_OWS)
    if _version_re.match(value) is None:
        return None
    number = int(value)
    return number if number <= 255 else None


# 16 bytes are 22 base64 characters and "==" padding; nothing else decodes to 16.
_key_re = re.compile(rb"[A-Za-z0-9+/]{22}==\Z")


def valid_key(value: bytes) -> bool:
    """Is ``value`` the base64 encoding of exactly 16 bytes? (RFC 6455 §4.1)"""
    return _key_re.match(value) is not None


# RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ). Every
# IPv4address is a reg-name too ("999.1.1.1" is a name), so it needs no rule of its
# own. An http(s) host is never empty (RFC 9110 §4.2.1: a recipient MUST reject
# such a URI), so one character at least; "@" is not allowed, so no userinfo
# (RFC 9110 §4.2.4). Port: *DIGIT (§3.2.3), so "host:" is valid, the default port
# (RFC 9110 §4.2.3: an empty port is equivalent to it).
_REG_NAME = rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+"
_host_re = re.compile(rb"(?:" + _REG_NAME + rb"|\[(?P<literal>[^\]]*)\])(?::[0-9]*)?\Z")
# IP-literal = "[" ( IPv6address / IPvFuture ) "]"; IPvFuture = "v" 1*HEXDIG "."
# 1*( unreserved / sub-delims / ":" ).
_ipvfuture_re = re.compile(rb"[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\Z")


def valid_host(value: bytes) -> bool:
    """Is ``value`` ``host [ ":" port ]`` by RFC 3986 §3.2.2-3.2.3, as a Host field
    (RFC 9110 §7.2) or an http(s) authority without userinfo must be?"""
    match = _host_re.match(value)
    if match is None:
        return False
    literal = match.group("literal")
    if literal is None or _ipvfuture_re.match(literal):
        return True
    # IPv6address by the standard library's reader, but no zone: "%eth0" is RFC 6874's,
    # which RFC 3986 (and so HTTP) does not have.
    try:
        ipaddress.IPv6Address(literal.decode("ascii"))
    except ValueError:  # UnicodeDecodeError included
        return False
    return b"%" not in literal


def quote_for_reason(value: bytes, limit: int = 64) -> str:
    """Show a peer's value inside a one-line reason: printable ASCII kept, anything
    else escaped, long values cut, so a reason can never break the response."""
    shown = value[:limit].decode("ascii", "backslashreplace")
    shown = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in shown)
    return f"'{shown}{'...' if len(value) > limit else ''}'"


# RFC 9110 §5.5: field-value = *field-content; field-content = field-vchar
# [ 1*( SP / HTAB / field-vchar ) field-vchar ]; field-vchar = VCHAR / obs-text.
# A str value goes out as latin-1, so obs-text (0x80-0xFF) is U+0080-U+00FF.
_field_value_fault_re = re.compile(r"[^\t\x20-\x7e\x80-\xff]")

#: Fields that frame a message's body (RFC 9112 §6): the negotiator frames its
#: answers itself (a rejection's body by its Content-Length; a 101 has none,
#: RFC 9110 §8.6), and a second framing is how requests are smuggled (§6.3).
FRAMING_FIELDS = frozenset({"content-length", "transfer-encoding"})


def is_token(value: bytes) -> bool:
    """Is ``value`` a token (RFC 9110 §5.6.2)?"""
    return _token_re.match(value) is not None


def check_field_name(name: str) -> bool:
    """Is ``name`` a token, and so a legal field name? (RFC 9110 §5.1)"""
    return name.isascii() and is_token(name.encode("ascii"))


def check_field_value(value: str) -> bool:
    """May ``value`` go out as a field value? (RFC 9110 §5.5; ``field_value_fault``
    says why not.)"""
    return _field_value_fault_re.search(value) is None and value == value.strip(" \t")


def field_value_fault(value: str) -> str | None:
    """Why ``value`` cannot go out as a field value, or ``None``. RFC 9110 §5.5
    allows visible ASCII (VCHAR), obs-text (latin-1 here), SP and HTAB inside, and
    no whitespace at either end: no control character (CR, LF, NUL, 0x0b, DEL...)."""
    bad = _field_value_fault_re.search(value)
    if bad is not None:
        char, at = ascii(bad.group()), bad.start()
        if bad.group() > "\xff":
            return f"holds {char} at {at}, which has no latin-1 byte"
        return f"holds {char} at {at}: no CR, LF, NUL or other control character (RFC 9110 §5.5)"
    if value != value.strip(" \t"):
        return "has padding: whitespace at either end (RFC 9110 §5.5)"
    return None


def parse_advertised(values: list[bytes]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Versions a server lists in ``Sec-WebSocket-Version`` (RFC 6455 §4.4): every
    field line, comma lists with or without spaces, each element by the strict
    §4.3 grammar. Returns the versions in the server's order without repeats, and
    the elements that broke the grammar (ignored, and reported)."""
    versions: list[int] = []
    ignored: list[str] = []
    for value in values:
        for part in value.split(b","):
            element = part.strip(_OWS)
            if not element:
                continue
            number = parse_version_value(element)
            if number is None:
                ignored.append(element.decode("latin-1"))
            elif number not in versions:
                versions.append(number)
    return tuple(versions), tuple(ignored)


def has_token(values: list[bytes], token: bytes) -> bool:
    """Does the list-based field with these field lines hold ``token`` (lower case),
    ASCII case-insensitively? Field lines combine (RFC 9110 §5.3); an element that
    breaks the grammar makes the whole field unreadable, so the answer is no."""
    if len(values) == 1 and values[0].lower() == token:
        return True  # the usual single-element list, no need to split it
    elements = parse_token_list(b", ".join(values), protocols=True) or []
    return any(element.lower() == token for element in elements)
