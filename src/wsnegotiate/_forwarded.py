"""The request as its client made it, when a trusted proxy stands between:
the effective scheme, authority and client address, from ``Forwarded`` (RFC 7239)
or ``X-Forwarded-Proto``, ``-Host``, ``-Port`` and ``-For``. Pure: the adapter
says who the peer is and whether the connection is TLS.

Whom to trust follows uvicorn's ``--forwarded-allow-ips``: IP addresses, networks
(``10.0.0.0/8``), ``*`` for any peer, and other strings (a UNIX socket's path)
matched as they are. The headers are read only when the connection's peer is
trusted; from anyone else they are ignored, so a forged ``X-Forwarded-Host``
changes nothing.

Facts this module relies on:

- RFC 7239 §4: ``Forwarded = 1#forwarded-element``; ``forwarded-element =
  [ forwarded-pair ] *( ";" [ forwarded-pair ] )``; ``forwarded-pair = token "="
  value``; ``value = token / quoted-string``. Parameter names are
  case-insensitive; a parameter occurs at most once per element. (Whitespace
  around ``;`` is not in the grammar but common; it is allowed.)
- RFC 7239 §4: each proxy appends one element, so the last one is the nearest
  proxy's; §5.2 ``for`` is the node that made the request to that proxy, §5.3
  ``host`` the Host field it received, §5.4 ``proto`` the scheme it was reached by.
- RFC 7239 §6: ``node = nodename [ ":" node-port ]``; ``nodename = IPv4address /
  "[" IPv6address "]" / "unknown" / obfnode``. An IPv6 node has a colon, which is
  not a token character, so it is always quoted, as is a node with a port:
  ``for="[2001:db8::17]:4711"``, ``for="192.0.2.43:47011"``.

Which element describes the client: walking from the last element back, each
``for`` that is itself a trusted proxy leads to the element before; the first
``for`` that is not (or that is ``unknown`` or obfuscated) is the client's hop,
and that element's ``proto`` and ``host`` are what the client used. When every
``for`` is trusted (``*``), the first element is taken. ``X-Forwarded-For`` is
walked the same way (as uvicorn's proxy middleware does); ``X-Forwarded-Proto``,
``-Host`` and ``-Port`` are single values, of which the last element (the
nearest proxy's) is taken. ``Forwarded``, when present, is the only one read.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ._headers import _QUOTED, TOKEN, quote_for_reason
from ._origin import parse_authority

__all__ = ["Effective", "Invalid", "Peer", "Proxies", "direct", "effective"]

#: A connection's peer as the socket gives it: host (an IP address) and port.
Peer = tuple[str, int]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    """An IP address, IPv4-mapped IPv6 (a dual-stack socket's view of an IPv4
    peer) taken as the IPv4 address it maps."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


_IP_LIKE = re.compile(r"[0-9.]+|.*:.*")


class Proxies:
    """The peers whose forwarding headers are believed (``forwarded_allow_ips``)."""

    __slots__ = ("addresses", "everyone", "literals", "networks", "written")

    def __init__(self, entries: Iterable[str]) -> None:
        self.everyone = False
        self.addresses: set[Address] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.literals: set[str] = set()
        for entry in entries:
            if entry == "*":
                self.everyone = True
            elif "/" in entry and not entry.startswith("/"):
                try:
                    self.networks.append(ipaddress.ip_network(entry))
                except ValueError:
                    raise ValueError(
                        f"forwarded_allow_ips: {entry!r} is not a network "
                        "(address/prefix with no host bits set, e.g. 10.0.0.0/8)"
                    ) from None
            elif (address := _address(entry)) is not None:
                self.addresses.add(address)
            elif _IP_LIKE.fullmatch(entry):
                raise ValueError(f"forwarded_allow_ips: {entry!r} is not an IP address")
            else:
                self.literals.add(entry)  # uvicorn's literals: a UNIX socket's path
        # The addresses as a socket writes a peer's: such a peer is known without
        # parsing its address (the usual proxy, 127.0.0.1, on every connection).
        self.written = frozenset(map(str, self.addresses))

    def trusts(self, host: str) -> bool:
        """Is a peer at ``host`` a trusted proxy?"""
        if self.everyone or host in self.written:
            return True
        if not (self.addresses or self.networks or self.literals):
            return False  # trusting nobody, the default: no address to parse
        address = _address(host)
        if address is None:
            return host in self.literals
        return address in self.addresses or any(address in net for net in self.networks)


@dataclass(frozen=True, slots=True)
class Effective:
    """The request as its client made it: ``scheme`` (``http`` or ``https``),
    ``authority`` (the Host it asked for; ``None``: the request's own Host field)
    and ``client`` (its address, ``None`` when unknown)."""

    scheme: str
    authority: str | None
    client: Peer | None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A trusted proxy's forwarding field that cannot be read: a 400 naming it."""

    field: str
    reason: str


_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_OWS = " \t"
_pair_re = re.compile(rb"[ \t]*(" + TOKEN + rb")=(" + TOKEN + rb"|" + _QUOTED + rb")[ \t]*")
_unescape_re = re.compile(rb"\\(.)", re.DOTALL)
_node_re = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[0-9.]+|unknown|_[A-Za-z0-9._\-]+)(?::(\S+))?")
_port_re = re.compile(r"[0-9]{1,5}")


def direct(peer: Peer | None, tls: bool) -> Effective:
    """The request as the connection shows it: no proxy believed."""
    return Effective("https" if tls else "http", None, peer)


def effective(
    headers: Iterable[tuple[bytes, bytes]], peer: Peer, tls: bool, proxies: Proxies
) -> Effective | Invalid:
    """The effective request of a connection from ``peer``, a trusted proxy."""
    forwarded: list[bytes] = []
    legacy: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        name = name.lower()
        if name == b"forwarded":
            forwarded.append(value)
        elif name.startswith(b"x-forwarded-") or name == b"host":
            legacy.setdefault(name, []).append(value)
    if forwarded:
        return _from_forwarded(b", ".join(forwarded), peer, tls, proxies)
    if legacy.keys() <= {b"host"}:  # no X-Forwarded-* field: the connection's own view
        return direct(peer, tls)
    return _from_legacy(legacy, peer, tls, proxies)


def _elements(value: bytes) -> list[dict[str, str]] | int:
    """The elements of a ``Forwarded`` value, each its parameters by lower-case
    name, unquoted; or the offset of the first fault (RFC 7239 §4)."""
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    position, end = 0, len(value)
    while True:
        match = _pair_re.match(value, position)
        if match is not None:
            name = match[1].decode("ascii").lower()
            if name in element:  # RFC 7239 §4: at most once per element
                return position
            raw = match[2]
            if raw.startswith(b'"'):
                raw = _unescape_re.sub(rb"\1", raw[1:-1])
            element[name] = raw.decode("latin-1")
            position = match.end()
        else:  # an empty pair or element: skip the whitespace before its separator
            while position < end and value[position] in b" \t":
                position += 1
        if position == end:
            elements.append(element)
            return [e for e in elements if e]
        separator = value[position]
        if separator == 0x2C:  # ","
            elements.append(element)
            element = {}
        elif separator != 0x3B:  # ";"
            return position
        position += 1


def _node(text: str) -> tuple[Peer | None, bool]:
    """A ``for`` node: the address and port (``None`` for ``unknown``, obfuscated
    or unreadable nodes), and whether it may be a trusted proxy (an IP address)."""
    match = _node_re.fullmatch(text)
    if match is None:
        return None, False
    name, port = match[1], match[2]
    host = name[1:-1] if name.startswith("[") else name
    if _address(host) is None:
        return None, False
    number = int(port) if port is not None and _port_re.fullmatch(port) else 0
    return (host, number if number <= 65535 else 0), True


def _scheme(field: str, value: str, tls: bool) -> str | Invalid:
    if not value:
        return "https" if tls else "http"
    scheme = _SCHEMES.get(value.lower())
    if scheme is None:
        shown = quote_for_reason(value.encode("latin-1", "replace"))
        return Invalid(field, f"{field}: invalid scheme {shown}; expected http or https")
    return scheme


def _authority(field: str, value: str) -> str | Invalid:
    if parse_authority(value, "http") is None:
        shown = quote_for_reason(value.encode("latin-1", "replace"))
        return Invalid(field, f"{field}: invalid host {shown}; expected host[:port]")
    return value


def _from_forwarded(value: bytes, peer: Peer, tls: bool, proxies: Proxies) -> Effective | Invalid:
    elements = _elements(value)
    if isinstance(elements, int):
        shown = quote_for_reason(value)
        return Invalid(
            "Forwarded",
            f"Forwarded: invalid value {shown} at byte {elements} (RFC 7239 §4; "
            'a node with a colon is quoted: for="[2001:db8::1]:4711")',
        )
    if not elements:
        return direct(peer, tls)
    chosen, client = elements[0], None
    for element in reversed(elements):
        node, is_address = _node(element.get("for", ""))
        if not (is_address and node is not None and proxies.trusts(node[0])):
            chosen, client = element, node
            break
    else:  # every hop a trusted proxy: the first element is the client's
        client = _node(chosen.get("for", ""))[0]
    scheme = _scheme("Forwarded", chosen.get("proto", ""), tls)
    if isinstance(scheme, Invalid):
        return scheme
    host = chosen.get("host")
    authority = None if host is None else _authority("Forwarded", host)
    if isinstance(authority, Invalid):
        return authority
    return Effective(scheme, authority, client)


def _last(values: list[bytes] | None) -> str:
    """The last element of a comma-separated field, or ``""``."""
    if not values:
        return ""
    return values[-1].decode("latin-1").rsplit(",", 1)[-1].strip(_OWS)


def _from_legacy(
    fields: dict[bytes, list[bytes]], peer: Peer, tls: bool, proxies: Proxies
) -> Effective | Invalid:
    scheme = _scheme("X-Forwarded-Proto", _last(fields.get(b"x-forwarded-proto")), tls)
    if isinstance(scheme, Invalid):
        return scheme
    authority: str | None = None
    host = _last(fields.get(b"x-forwarded-host"))
    if host:
        checked = _authority("X-Forwarded-Host", host)
        if isinstance(checked, Invalid):
            return checked
        authority = checked
    port = _last(fields.get(b"x-forwarded-port"))
    if port:
        if _port_re.fullmatch(port) is None or int(port) > 65535:
            shown = quote_for_reason(port.encode("latin-1"))
            return Invalid("X-Forwarded-Port", f"X-Forwarded-Port: invalid port {shown}")
        if authority is None and fields.get(b"host"):  # the proxy kept the client's Host
            authority = fields[b"host"][0].decode("latin-1")
        if authority is not None and authority.rsplit("]", 1)[-1].count(":") == 0:
            authority = f"{authority}:{port}"  # X-Forwarded-Port fills in a port left out
    client: Peer | None = peer
    chain = b", ".join(fields.get(b"x-forwarded-for", [])).decode("latin-1").split(",")
    hops = [hop.strip(_OWS) for hop in chain if hop.strip(_OWS)]
    if hops:
        client = _node(_bracketed(hops[0]))[0]
        for hop in reversed(hops):
            node, is_address = _node(_bracketed(hop))
            if not (is_address and node is not None and proxies.trusts(node[0])):
                client = node
                break
    return Effective(scheme, authority, client)


def _bracketed(hop: str) -> str:
    """An ``X-Forwarded-For`` hop as a node: a bare IPv6 address gets its brackets."""
    return f"[{hop}]" if hop.count(":") > 1 and not hop.startswith("[") else hop
