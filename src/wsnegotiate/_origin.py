"""Origins compared as origins (RFC 6454), and the rules a policy admits them by.
Pure functions over strings; the reasons a refusal gives are ``_decide``'s.

Facts this module relies on:

- RFC 6454 §4: an origin is a triple (scheme, host, port): scheme and host lower
  case, the host in A-labels (IDNA: the user agent has already converted any
  non-ASCII label, RFC 5890), the port the URI's or else the scheme's default.
  So an ``Origin`` field is ASCII: one in Unicode is no browser's, and is refused
  as not an origin; the names a policy lists are converted (Python's IDNA
  codec), so ``https://bücher.example`` admits ``https://xn--bcher-kva.example``.
- RFC 6454 §5: two origins are the same if, and only if, their schemes, hosts
  and ports are identical: ``https://a.example`` and ``https://a.example:443`` are
  one origin; ``http://a.example`` and ``https://a.example`` are two.
- RFC 6454 §6.2: the serialization is scheme ``://`` host, then ``:`` port when
  the port is not the scheme's default.
- RFC 6454 §7.1: the ``Origin`` field is ``null`` (exactly these four lower-case
  letters) or serialized origins separated by SP, each ``scheme "://" host [ ":"
  port ]`` with RFC 3986's scheme, host and port. Nothing else belongs to it: no
  path (``https://a.example/`` is not an origin: a slash is outside the grammar),
  no user information (``https://a.example@evil.example``), no query or fragment.
  Browsers send one origin (Fetch §3.1, "Origin header"); a list is refused here.
- RFC 6454 §7.3: a user agent sends ``null`` from a privacy-sensitive context: a
  sandboxed frame, a file, a ``data:`` URL. Any page can make one, so ``null``
  is never listed as an allowed origin.
- RFC 3986 §3.1: ``scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )``,
  case-insensitive; §3.2.2: ``host = IP-literal / IPv4address / reg-name``,
  ``reg-name = *( unreserved / pct-encoded / sub-delims )``, case-insensitive.
  A browser decodes percent-encoding in hosts, so ``%`` is refused too; so are
  empty labels (``a..example``), which no browser resolves. A backtick, which
  some browsers allow in a host and naive prefix checks let through
  (``https://a.example`.evil.example``), is outside the grammar.

A pattern ``scheme://*.host[:port]`` admits the origins of that scheme and port
whose host ends with ``.host`` after at least one label: ``https://*.example.com``
admits ``https://a.example.com`` and ``https://a.b.example.com``, never
``https://example.com`` itself (list it too), ``https://example.com.evil.net`` or
``https://evilexample.com``. Hosts are compared label by label as strings, never
as regular expressions, so no dot acts as a wildcard.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_PORTS",
    "Origin",
    "OriginRules",
    "Verdict",
    "judge",
    "listed_origins",
    "parse_authority",
    "parse_origin",
    "serialize",
]

#: (scheme, host, port): lower case, the host in A-labels, the port filled in from
#: the scheme's default, ``None`` for a scheme without one and no port given.
Origin = tuple[str, str, int | None]

#: The default ports of the schemes a WebSocket meets (RFC 9110 §4.2, RFC 6455 §3).
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"
# host [ ":" port ]: an IP-literal in brackets, or anything up to the port's colon
# that is not a delimiter of a URI (the host's own grammar is checked apart, so a
# fault there is told from a fault in the shape).
_AUTHORITY = r"(\[[0-9A-Fa-f:.]*\]|[^\s/?#@\[\]:]*)(?::([0-9]{1,5}))?"
_origin_re = re.compile(rf"({_SCHEME})://{_AUTHORITY}")
_authority_re = re.compile(_AUTHORITY)
# RFC 3986 reg-name without pct-encoded, lower case: unreserved and sub-delims.
_reg_name_re = re.compile(r"[a-z0-9\-._~!$&'()*+,;=]+")


def _host(text: str, idna: bool) -> str | None:
    """A host as RFC 6454 §4 compares it, or ``None`` when it is not one: lower
    case, an IPv6 literal in its canonical form, no empty label but a final dot's;
    with ``idna``, a Unicode name in A-labels (one that has none is refused)."""
    if text.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(text[1:-1]).compressed}]"
        except ValueError:
            return None
    if not text.isascii():  # checked before lower(): the Kelvin sign lowers to "k"
        if not idna:
            return None
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = text.lower()
    if _reg_name_re.fullmatch(host) is None or "" in host.removesuffix(".").split("."):
        return None
    return host


def _triple(scheme: str, host_text: str, digits: str | None, idna: bool) -> Origin | None:
    """The origin of these parts, or ``None``: the port given (at most 65535), else
    the scheme's default."""
    host = _host(host_text, idna)
    if host is None:
        return None
    if digits is None:
        return scheme, host, DEFAULT_PORTS.get(scheme)
    port = int(digits)
    return (scheme, host, port) if port <= 65535 else None


def parse_origin(value: str, idna: bool = False) -> Origin | None:
    """A serialized origin (RFC 6454 §7.1) as a triple, or ``None`` when ``value``
    is not exactly one (``null`` included: it is no triple). ``idna``: a host in
    Unicode is converted to A-labels (for the names a policy lists)."""
    match = _origin_re.fullmatch(value)
    return None if match is None else _triple(match[1].lower(), match[2], match[3], idna)


def parse_authority(value: str, scheme: str) -> Origin | None:
    """The origin of a request for ``scheme`` to the authority ``value`` (a Host
    field, RFC 9110 §7.2: ``uri-host [ ":" port ]``), or ``None``."""
    match = _authority_re.fullmatch(value)
    return None if match is None else _triple(scheme, match[1], match[2], False)


def listed_origins(text: str) -> list[str | None]:
    """A comma-separated list of origins and patterns as ``Policy(origins=...)``
    takes them, the word ``none`` as ``None`` (a request without Origin): the
    syntax of ``--origins`` and of uvicorn's ``WSNEGOTIATE_ORIGINS``. The entries
    are checked where the policy is made (``OriginRules.build``)."""
    entries = (entry.strip() for entry in text.split(","))
    return [None if entry == "none" else entry for entry in entries if entry]


def serialize(origin: Origin) -> str:
    """The ASCII serialization (RFC 6454 §6.2): the port only when not the default."""
    scheme, host, port = origin
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class Verdict(enum.Enum):
    """What the rules say of a request's origin."""

    ADMITTED = "admitted"
    #: No Origin field, and the rules do not admit requests without one.
    MISSING = "missing"
    #: ``null``: an opaque origin (RFC 6454 §7.3).
    NULL = "null"
    #: Not one serialized origin (RFC 6454 §7.1).
    INVALID = "invalid"
    #: A well-formed origin that the rules do not admit.
    FORBIDDEN = "forbidden"
    #: The request's own origin, but the browser says another site sent it
    #: (``Sec-Fetch-Site: cross-site``, Fetch Metadata §2.1).
    CROSS_SITE = "cross-site"


@dataclass(frozen=True, slots=True)
class OriginRules:
    """The origins a policy admits: exact origins, subdomain patterns, the
    request's own origin (``same_origin``), and requests without an Origin
    field (``absent``, a ``None`` in the policy's list)."""

    exact: frozenset[Origin]
    #: (scheme, ".host", port) of each ``scheme://*.host[:port]`` pattern.
    suffixes: tuple[Origin, ...]
    same_origin: bool
    absent: bool

    @classmethod
    def build(cls, listed: Iterable[str | None], same_origin: bool) -> OriginRules:
        """The rules for a policy's ``origins`` and ``same_origin``; a ``ValueError``
        names an entry that is neither an origin nor a pattern."""
        exact: set[Origin] = set()
        suffixes: list[Origin] = []
        absent = False
        for entry in listed:
            if entry is None:
                absent = True
            elif "*" in entry:
                suffixes.append(_pattern(entry))
            else:
                exact.add(_listed(entry))
        return cls(frozenset(exact), tuple(dict.fromkeys(suffixes)), same_origin, absent)

    def listed(self) -> frozenset[str | None]:
        """The serializations of the exact origins and patterns, ``None`` for absent."""
        shown: set[str | None] = {serialize(origin) for origin in self.exact}
        shown.update(serialize((s, "*" + host, port)) for s, host, port in self.suffixes)
        if self.absent:
            shown.add(None)
        return frozenset(shown)

    def lists(self, origin: Origin) -> bool:
        """Is ``origin`` one of the exact origins, or does a pattern admit it?"""
        if origin in self.exact:
            return True
        scheme, host, port = origin
        return any(
            scheme == s and port == p and host.endswith(suffix) and len(host) > len(suffix)
            for s, suffix, p in self.suffixes
        )


def _listed(entry: str) -> Origin:
    if entry == "null":
        raise ValueError(
            "origin 'null' cannot be listed: any page can send it (a sandboxed frame, "
            "RFC 6454 §7.3); use check_origin to admit it knowingly"
        )
    origin = parse_origin(entry, idna=True)
    if origin is None:
        raise ValueError(
            f"origin {entry!r} is not an origin: expected scheme://host[:port], no path, "
            "no user information (RFC 6454 §7.1)"
            + (f"; write {entry.rstrip('/')!r}" if entry.endswith("/") else "")
        )
    return origin


def _pattern(entry: str) -> Origin:
    scheme, _, rest = entry.partition("://*.")
    origin = parse_origin(f"{scheme}://{rest}", idna=True) if scheme and rest else None
    if origin is None or "*" in rest:
        raise ValueError(
            f"origin pattern {entry!r} is not scheme://*.host[:port] "
            "(one leading '*.' label, then an origin's host)"
        )
    scheme, host, port = origin
    return scheme, "." + host, port


def judge(
    rules: OriginRules, value: bytes | str | None, own: Origin | None, cross_site: bool
) -> tuple[Verdict, Origin | None]:
    """The verdict on a request's origin field ``value`` (``None``: absent; bytes
    as received), with the origin as parsed. ``own`` is the
    request's own origin (its effective scheme and authority), ``None`` when its
    Host names none; ``cross_site`` is ``Sec-Fetch-Site: cross-site``. A listed
    origin or pattern admits whatever Fetch Metadata says (a page listed on another
    site is cross-site by nature); the request's own origin only when the browser
    does not call it cross-site."""
    if value is None:
        return (Verdict.ADMITTED if rules.absent else Verdict.MISSING), None
    if isinstance(value, bytes):
        value = value.decode("latin-1")  # anything beyond ASCII is no origin below
    if value == "null":
        return Verdict.NULL, None
    origin = parse_origin(value)
    if origin is None:
        return Verdict.INVALID, None
    if rules.lists(origin):
        return Verdict.ADMITTED, origin
    if rules.same_origin and origin == own:
        return (Verdict.CROSS_SITE if cross_site else Verdict.ADMITTED), origin
    return Verdict.FORBIDDEN, origin
