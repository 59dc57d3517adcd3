"""``Policy``: what a server accepts. Validated once, when it is built."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._deflate import DeflateOptions, DeflateParams, negotiate_offers
from ._errors import LocalProtocolError
from ._forwarded import Proxies
from ._headers import is_token, parse_token_list
from ._origin import OriginRules, Verdict, judge, parse_authority
from ._version import Version

if TYPE_CHECKING:
    from ._events import Request

__all__ = ["ACCEPTABLE_VERSIONS", "BY_POLICY", "DEFAULT_POLICY", "Policy", "PolicyChoice"]


class PolicyChoice(enum.Enum):
    """``accept()``'s default subprotocol: whatever the policy picks."""

    BY_POLICY = "by policy"


BY_POLICY = PolicyChoice.BY_POLICY

#: The versions a server may accept: the ones framed exactly like RFC 6455, so
#: wsproto (or any RFC 6455 frame layer) serves them after the handshake.
ACCEPTABLE_VERSIONS = frozenset({Version.Version13, Version.Version8, Version.Version7})

_DEFLATE = DeflateOptions()  # permessage-deflate is on by default, as in websockets


@dataclass(frozen=True, slots=True)
class Policy:
    """What the server accepts.

    - ``versions``: any of 13, 8 and 7 (default 13 only); advertised in descending
      order in ``Sec-WebSocket-Version`` whenever a version is refused.
    - ``reject_status``: 426 (default, RFC 9110 §15.5.22) or 400 for an unsupported
      version; some clients (Qt's) read the list only from a 400 (RFC 6455 §4.4).
    - ``max_request_bytes``: the request head limit, however it is chunked (431).
    - ``max_field_lines``: how many header field lines a request may have (431).
    - ``max_field_line_bytes``: how long one header field line may be (431), or the
      request line (414 when its request-target runs past it, RFC 9112 §3).
    - ``max_offers``: how many subprotocols, and how many extensions, a request
      may offer (400).
    - ``origins``: ``None`` (and no ``same_origin``) accepts any origin; otherwise
      the origins allowed, compared as RFC 6454 origins (scheme, host, port;
      default ports filled in; host case-insensitive, in IDNA A-labels, which
      is what browsers send; names given in Unicode are encoded):
      ``https://app.example``; a subdomain pattern ``https://*.example.com`` (any
      subdomain, not the domain itself); ``None`` to admit a request without an
      Origin field (not a browser's: every browser sends one). Anything else gets
      a 403 before any 101: another origin, ``null``, a value that is not one
      serialized origin (``https://a.example/``), no Origin field.
    - ``same_origin``: admit the request's own origin: its effective scheme
      (``tls``, or a trusted proxy's ``proto``) and authority (Host, or a trusted
      proxy's ``host``). Unless it is also listed in ``origins``, the request's
      own origin is refused when the browser says ``Sec-Fetch-Site: cross-site``
      (Fetch Metadata).
    - ``forwarded_allow_ips``: the proxies whose ``Forwarded`` or ``X-Forwarded-*``
      fields are believed (uvicorn's ``--forwarded-allow-ips``): IP addresses,
      networks (``10.0.0.0/8``), ``"*"`` for any peer; a comma-separated string
      or an iterable. The negotiator needs the peer's address to use it.
    - ``subprotocols``: the server's subprotocols, most preferred first; the first
      one the client offered is chosen (RFC 6455 §4.2.2).
    - ``deflate``: the server's permessage-deflate wishes (RFC 7692); on by
      default, ``None`` turns compression off.
    - ``choose_subprotocol``: instead of ``subprotocols``, a callable that picks
      one of ``request.subprotocols`` (or ``None``) for a request.
    - ``check_origin``: instead of ``origins``, a callable that says whether an
      origin (``None`` when the request has none) may connect; a refusal is a 403.
    - ``credential_prefix``: subprotocol offers that start with it carry a
      credential (Kubernetes: ``base64url.bearer.authorization.k8s.io.``). They
      are taken out before a subprotocol is selected and never answered; the rest
      of the offer (after the prefix) is ``Request.credential``. One at most (400).
    - ``check_credential``: a callable given ``Request.credential`` (``None`` when
      no offer carried one) that returns ``True`` to admit the request, or
      ``False``, ``401`` or ``403`` to refuse it (``False`` is 403; a 401 carries
      ``WWW-Authenticate: Bearer``). Without it, the caller's ``on_request`` decides.
    - ``health_path``: a plain ``GET`` (no ``Upgrade: websocket``) or a ``HEAD``
      of this path gets a 200 (``ok``; no body for HEAD) and the connection
      closes: a load balancer's health check on the WebSocket port.
    - ``fast_path``: read the common request head in one strict pass of our own
      (on by default; see ``_fasthead.py``), h11 every other; ``False``: h11 reads
      every head. The decision is the same either way.
    """

    versions: tuple[Version, ...] = (Version.Version13,)
    reject_status: int = 426
    max_request_bytes: int = 16 * 1024
    max_field_lines: int = 100
    max_field_line_bytes: int = 8 * 1024
    max_offers: int = 32
    origins: frozenset[str | None] | None = None
    subprotocols: tuple[str, ...] = ()
    deflate: DeflateOptions | None = _DEFLATE
    choose_subprotocol: Callable[[Request], str | None] | None = None
    check_origin: Callable[[str | None], bool] | None = None
    same_origin: bool = False
    forwarded_allow_ips: tuple[str, ...] = ()
    credential_prefix: str | None = None
    check_credential: Callable[[str | None], bool | int] | None = None
    health_path: str | None = None
    #: The rules ``origins`` and ``same_origin`` make (``None``: any origin).
    origin_rules: OriginRules | None = field(init=False, repr=False, compare=False)
    #: The proxies ``forwarded_allow_ips`` names.
    proxies: Proxies = field(init=False, repr=False, compare=False)
    fast_path: bool = True
    #: ``Sec-WebSocket-Version`` value advertised on refusals, e.g. ``"13, 8, 7"``.
    advertised: str = field(init=False, repr=False, compare=False)
    #: The permessage-deflate answers to offers already seen (see ``deflate_for``).
    _deflate_memo: dict[tuple[str, ...], DeflateParams | None] = field(
        init=False, repr=False, compare=False
    )

    def __init__(
        self,
        versions: Iterable[int] = (Version.Version13,),
        *,
        reject_status: int = 426,
        max_request_bytes: int = 16 * 1024,
        max_field_lines: int = 100,
        max_field_line_bytes: int = 8 * 1024,
        max_offers: int = 32,
        origins: Iterable[str | None] | None = None,
        subprotocols: Iterable[str] = (),
        deflate: DeflateOptions | None = _DEFLATE,
        choose_subprotocol: Callable[[Request], str | None] | None = None,
        check_origin: Callable[[str | None], bool] | None = None,
        same_origin: bool = False,
        forwarded_allow_ips: Iterable[str] | str = (),
        credential_prefix: str | None = None,
        check_credential: Callable[[str | None], bool | int] | None = None,
        health_path: str | None = None,
        fast_path: bool = True,
    ) -> None:
        chosen = sorted({_acceptable(v) for v in versions}, reverse=True)
        if not chosen:
            raise LocalProtocolError("a policy must accept at least one version")
        if reject_status not in (400, 426):
            raise LocalProtocolError(f"reject_status must be 426 or 400, not {reject_status}")
        if max_request_bytes < 64:
            raise LocalProtocolError("max_request_bytes below 64 cannot hold a handshake")
        if max_field_lines < 4:  # Host, Upgrade, Connection, Sec-WebSocket-Key
            raise LocalProtocolError("max_field_lines below 4 cannot hold a handshake")
        if max_field_line_bytes < 64:
            raise LocalProtocolError("max_field_line_bytes below 64 cannot hold a handshake")
        if max_offers < 1:
            raise LocalProtocolError("max_offers must be at least 1")
        protocols = tuple(subprotocols)
        for name in protocols:
            if not name.isascii() or parse_token_list(name.encode()) != [name.encode()]:
                raise LocalProtocolError(f"subprotocol {name!r} is not an RFC 9110 token")
        if check_origin is not None and (origins is not None or same_origin):
            what = "origins" if origins is not None else "same_origin"
            raise LocalProtocolError(f"give {what} or check_origin, not both")
        rules = None
        if origins is not None or same_origin:
            try:
                rules = OriginRules.build(() if origins is None else origins, same_origin)
            except ValueError as error:
                raise LocalProtocolError(str(error)) from None
        if protocols and choose_subprotocol is not None:
            raise LocalProtocolError("give subprotocols or choose_subprotocol, not both")
        if isinstance(forwarded_allow_ips, str):
            forwarded_allow_ips = forwarded_allow_ips.split(",")
        trusted = tuple(entry.strip() for entry in forwarded_allow_ips if entry.strip())
        try:
            proxies = Proxies(trusted)
        except ValueError as error:
            raise LocalProtocolError(str(error)) from None
        _check_credential_rules(credential_prefix, check_credential, protocols)
        if health_path is not None and _health_path_re.fullmatch(health_path) is None:
            raise LocalProtocolError(
                f"health_path {health_path!r} is not an absolute path such as '/healthz' "
                "(RFC 3986 §3.3; no query, no spaces)"
            )
        setter = object.__setattr__
        setter(self, "versions", tuple(chosen))
        setter(self, "reject_status", reject_status)
        setter(self, "max_request_bytes", max_request_bytes)
        setter(self, "max_field_lines", max_field_lines)
        setter(self, "max_field_line_bytes", max_field_line_bytes)
        setter(self, "max_offers", max_offers)
        setter(self, "origins", None if rules is None or origins is None else rules.listed())
        setter(self, "subprotocols", protocols)
        setter(self, "deflate", deflate)
        setter(self, "choose_subprotocol", choose_subprotocol)
        setter(self, "check_origin", check_origin)
        setter(self, "same_origin", same_origin)
        setter(self, "forwarded_allow_ips", trusted)
        setter(self, "credential_prefix", credential_prefix)
        setter(self, "check_credential", check_credential)
        setter(self, "health_path", health_path)
        setter(self, "origin_rules", rules)
        setter(self, "proxies", proxies)
        setter(self, "fast_path", fast_path)
        setter(self, "advertised", ", ".join(str(int(v)) for v in chosen))
        setter(self, "_deflate_memo", {})

    def select_subprotocol(self, offered: Iterable[str]) -> str | None:
        """The server's most preferred subprotocol among ``offered``, or ``None``."""
        if not self.subprotocols:
            return None
        offers = set(offered)
        return next((p for p in self.subprotocols if p in offers), None)

    def subprotocol_for(self, request: Request) -> str | None:
        """The policy's subprotocol for ``request``: ``choose_subprotocol``'s pick,
        which must be one the client offered (RFC 6455 §4.2.2), or the list's."""
        if self.choose_subprotocol is None:
            return self.select_subprotocol(request.subprotocols)
        chosen = self.choose_subprotocol(request)
        if chosen is not None and chosen not in request.subprotocols:
            raise LocalProtocolError(
                f"choose_subprotocol picked {chosen!r}, which the client did not offer; "
                f"offers: {request.subprotocols}"
            )
        return chosen

    def deflate_for(self, request: Request) -> DeflateParams | None:
        """The permessage-deflate parameters the policy agrees to for ``request``'s
        offers (RFC 7692 §7.1), or ``None``. Browsers send a handful of distinct
        short offers, so answers are remembered per policy: only for offers of at
        most 128 characters, and at most 256 of them, so a peer cannot grow it."""
        if self.deflate is None or not request.extension_offers:
            return None
        offers = request.extensions
        if offers in self._deflate_memo:
            return self._deflate_memo[offers]
        agreed = negotiate_offers(request.extension_offers, self.deflate)
        if len(self._deflate_memo) < 256 and sum(map(len, offers)) <= 128:
            self._deflate_memo[offers] = agreed
        return agreed

    def allows_origin(self, origin: str | None, own: str | None = None) -> bool:
        """May a request with this origin (``None``: none sent) connect? ``own`` is
        the request's own origin for ``same_origin`` (``https://host[:port]``); the
        negotiator also reads ``Sec-Fetch-Site``, which this does not."""
        if self.check_origin is not None:
            return self.check_origin(origin)
        if self.origin_rules is None:
            return True
        scheme, _, authority = (own or "").partition("://")
        mine = parse_authority(authority, scheme.lower()) if authority else None
        return judge(self.origin_rules, origin, mine, False)[0] is Verdict.ADMITTED


# RFC 3986 §3.3 path-absolute, as a request target carries it (RFC 9112 §3.2.1).
_health_path_re = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")


def _check_credential_rules(
    prefix: str | None,
    check: Callable[[str | None], bool | int] | None,
    subprotocols: tuple[str, ...],
) -> None:
    if prefix is None:
        if check is not None:
            raise LocalProtocolError("check_credential needs a credential_prefix")
        return
    if not prefix.isascii() or not is_token(prefix.encode("ascii")):
        raise LocalProtocolError(f"credential_prefix {prefix!r} is not an RFC 9110 token")
    for name in subprotocols:
        if name.startswith(prefix):
            raise LocalProtocolError(
                f"subprotocol {name!r} starts with the credential_prefix: it would be "
                "taken for a credential"
            )


def _acceptable(version: int) -> Version:
    if version not in ACCEPTABLE_VERSIONS:
        raise LocalProtocolError(
            f"version {version} cannot be accepted; choose among 13, 8 and 7 "
            "(the versions framed like RFC 6455)"
        )
    return Version(version)


#: Version 13 only, refusals with 426, a 16 KiB head of at most 100 field lines of
#: at most 8 KiB each, 32 offers of each kind, any origin, no subprotocol,
#: permessage-deflate with 12-bit windows.
DEFAULT_POLICY = Policy()
