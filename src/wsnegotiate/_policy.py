"""``Policy``: what a server accepts. Validated once, when it is built."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ._errors import LocalProtocolError
from ._headers import parse_token_list
from ._version import Version

__all__ = ["ACCEPTABLE_VERSIONS", "DEFAULT_POLICY", "Policy"]

#: The versions a server may accept: the ones framed exactly like RFC 6455, so
#: wsproto (or any RFC 6455 frame layer) serves them after the handshake.
ACCEPTABLE_VERSIONS = frozenset({Version.Version13, Version.Version8, Version.Version7})


@dataclass(frozen=True, slots=True)
class Policy:
    """What the server accepts.

    - ``versions``: any of 13, 8 and 7 (default 13 only); advertised in descending
      order in ``Sec-WebSocket-Version`` whenever a version is refused.
    - ``reject_status``: 426 (default, RFC 9110 §15.5.22) or 400 for an unsupported
      version; some clients (Qt's) read the list only from a 400 (RFC 6455 §4.4).
    - ``max_request_bytes``: the request head limit, however it is chunked (431).
    - ``origins``: ``None`` accepts any origin; otherwise the exact serialized
      origins allowed (RFC 6454), and a request without an origin is refused (403).
    - ``subprotocols``: the server's subprotocols, most preferred first; the first
      one the client offered is chosen (RFC 6455 §4.2.2).
    """

    versions: tuple[Version, ...] = (Version.Version13,)
    reject_status: int = 426
    max_request_bytes: int = 16 * 1024
    origins: frozenset[str] | None = None
    subprotocols: tuple[str, ...] = ()
    #: ``Sec-WebSocket-Version`` value advertised on refusals, e.g. ``"13, 8, 7"``.
    advertised: str = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        versions: Iterable[int] = (Version.Version13,),
        *,
        reject_status: int = 426,
        max_request_bytes: int = 16 * 1024,
        origins: Iterable[str] | None = None,
        subprotocols: Iterable[str] = (),
    ) -> None:
        chosen = sorted({_acceptable(v) for v in versions}, reverse=True)
        if not chosen:
            raise LocalProtocolError("a policy must accept at least one version")
        if reject_status not in (400, 426):
            raise LocalProtocolError(f"reject_status must be 426 or 400, not {reject_status}")
        if max_request_bytes < 64:
            raise LocalProtocolError("max_request_bytes below 64 cannot hold a handshake")
        protocols = tuple(subprotocols)
        for name in protocols:
            if not name.isascii() or parse_token_list(name.encode()) != [name.encode()]:
                raise LocalProtocolError(f"subprotocol {name!r} is not an RFC 9110 token")
        allowed = None if origins is None else frozenset(o.lower() for o in origins)
        setter = object.__setattr__
        setter(self, "versions", tuple(chosen))
        setter(self, "reject_status", reject_status)
        setter(self, "max_request_bytes", max_request_bytes)
        setter(self, "origins", allowed)
        setter(self, "subprotocols", protocols)
        setter(self, "advertised", ", ".join(str(int(v)) for v in chosen))

    def select_subprotocol(self, offered: Iterable[str]) -> str | None:
        """The server's most preferred subprotocol among ``offered``, or ``None``."""
        if not self.subprotocols:
            return None
        offers = set(offered)
        return next((p for p in self.subprotocols if p in offers), None)


def _acceptable(version: int) -> Version:
    if version not in ACCEPTABLE_VERSIONS:
        raise LocalProtocolError(
            f"version {version} cannot be accepted; choose among 13, 8 and 7 "
            "(the versions framed like RFC 6455)"
        )
    return Version(version)


#: Version 13 only, refusals with 426, a 16 KiB head, any origin, no subprotocol.
DEFAULT_POLICY = Policy()
