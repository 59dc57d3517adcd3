"""The events of both negotiators: frozen, slotted dataclasses.

Server: ``next_event()`` returns ``NeedData``, ``Request``, ``Rejected`` or
``ConnectionClosed``; ``accept()`` returns ``Accepted`` and ``reject()`` returns
``Rejected``. Every event that ends the handshake carries the bytes to send.

Client: ``next_event()`` returns ``NeedData``, ``Connected`` or ``Refused``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

from ._deflate import DeflateParams
from ._detect import Detection
from ._errors import RemoteProtocolError
from ._headers import Extension
from ._version import Version

__all__ = [
    "Accepted",
    "Connected",
    "ConnectionClosed",
    "NeedData",
    "Refused",
    "Rejected",
    "Request",
]


@dataclass(frozen=True, slots=True)
class NeedData:
    """The request head is not complete yet: read more and call ``receive_data``."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed the connection before sending a single byte."""


@dataclass(frozen=True, slots=True, init=False)
class Request:
    """A well-formed WebSocket upgrade request in a version the policy accepts.

    Call ``accept()`` or ``reject()`` on the negotiator next. ``target`` is the
    request-target in origin form, path and query (``/chat?room=1``), what a server
    routes on: an absolute-form target (``GET http://host:8080/chat``, RFC 9112
    §3.2.2) comes as its path and query, and its authority is then ``host`` (§3.2.2:
    the Host field is ignored for it; the field as sent stays in ``headers``);
    otherwise ``host`` is the Host field. ``origin`` is
    ``Origin``, or ``Sec-WebSocket-Origin`` for versions below 13; ``subprotocols``
    and ``extensions`` are the client's offers in order, as sent, and
    ``extension_offers`` the same offers parsed (name and parameters); ``headers``
    are all field lines with the casing they had on the wire.

    ``scheme`` (``http`` or ``https``) and ``client`` (address and port, ``None``
    when unknown) are the request as its client made it: the connection's, or a
    trusted proxy's ``Forwarded``/``X-Forwarded-*`` (``Policy.forwarded_allow_ips``).
    ``credential`` is the rest of the subprotocol offer that starts with
    ``Policy.credential_prefix``; it is kept out of ``subprotocols``, out of the
    ``Sec-WebSocket-Protocol`` field line in ``headers``, out of the answer, and
    out of this event's ``repr``.

    An extended CONNECT (RFC 8441, ``http_version`` ``"2"``) has ``method``
    ``"CONNECT"``, ``target`` its ``:path``, ``host`` its ``:authority``, an empty
    ``key`` (RFC 8441 §5: no key, no Accept), and ``headers`` without the
    pseudo-header fields.
    """

    method: str
    target: str
    http_version: str
    host: str
    origin: str | None
    detection: Detection
    key: str
    subprotocols: tuple[str, ...]
    extensions: tuple[str, ...]
    headers: tuple[tuple[bytes, bytes], ...]
    extension_offers: tuple[Extension, ...] = ()
    scheme: str = "http"
    client: tuple[str, int] | None = None
    credential: str | None = field(default=None, repr=False)

    def __init__(
        self,
        method: str,
        target: str,
        http_version: str,
        host: str,
        origin: str | None,
        detection: Detection,
        key: str,
        subprotocols: tuple[str, ...],
        extensions: tuple[str, ...],
        headers: tuple[tuple[bytes, bytes], ...],
        extension_offers: tuple[Extension, ...] = (),
        scheme: str = "http",
        client: tuple[str, int] | None = None,
        credential: str | None = None,
    ) -> None:
        set_ = _REQUEST_SLOTS  # in field order; see _slot_setters
        set_[0](self, method)
        set_[1](self, target)
        set_[2](self, http_version)
        set_[3](self, host)
        set_[4](self, origin)
        set_[5](self, detection)
        set_[6](self, key)
        set_[7](self, subprotocols)
        set_[8](self, extensions)
        set_[9](self, headers)
        set_[10](self, extension_offers)
        set_[11](self, scheme)
        set_[12](self, client)
        set_[13](self, credential)

    @property
    def version(self) -> Version:
        return self.detection.version

    @property
    def raw_version(self) -> str | None:
        return self.detection.raw_version

    @property
    def family(self) -> str:
        return self.detection.family


@dataclass(frozen=True, slots=True, init=False)
class Accepted:
    """The handshake succeeded: send ``response`` (the 101, whose header fields are
    ``headers``), then hand ``trailing_data`` (bytes the client sent after its
    request) to the frame layer. ``extensions`` are the accepted extensions as
    answered; ``deflate`` the permessage-deflate parameters agreed, if any
    (``wsnegotiate.wsproto.connection(accepted)`` gives a frame layer that
    compresses exactly so). On HTTP/2 (``request.http_version`` ``"2"``) the
    HTTP/2 side sent the 200 itself: ``response`` is empty, ``headers`` are the
    200's fields, and ``trailing_data`` is the stream's DATA that came before it."""

    request: Request
    subprotocol: str | None
    extensions: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    response: bytes
    trailing_data: bytes
    deflate: DeflateParams | None = None

    def __init__(
        self,
        request: Request,
        subprotocol: str | None,
        extensions: tuple[str, ...],
        headers: tuple[tuple[str, str], ...],
        response: bytes,
        trailing_data: bytes,
        deflate: DeflateParams | None = None,
    ) -> None:
        set_ = _ACCEPTED_SLOTS  # in field order; see _slot_setters
        set_[0](self, request)
        set_[1](self, subprotocol)
        set_[2](self, extensions)
        set_[3](self, headers)
        set_[4](self, response)
        set_[5](self, trailing_data)
        set_[6](self, deflate)

    @property
    def version(self) -> Version:
        return self.request.version


@dataclass(frozen=True, slots=True, init=False)
class Rejected:
    """The handshake was refused: send ``response``, then close the connection.
    ``response`` is exactly the bytes to send: to a HEAD request, the head alone
    (RFC 9110 §9.3.2), its ``Content-Length`` the length of ``reason``'s line.

    ``error`` is the peer's fault when the negotiator refused by itself, ``None``
    when the caller called ``reject()``. ``detection`` is the protocol the
    request spoke, where it got that far.

    On HTTP/2 (``http_version`` ``"2"``, an extended CONNECT refused, RFC 8441)
    there are no bytes of a response to write: ``response`` is empty, and the
    answer is ``status``, ``headers`` (no ``Connection`` or ``Upgrade``, RFC 9113
    §8.2.2) and ``body``, which the HTTP/2 side sends as HEADERS and DATA on the
    request's stream. On HTTP/1.1, ``body`` is empty: the body is inside ``response``.
    """

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    response: bytes
    error: RemoteProtocolError | None = None
    detection: Detection | None = None
    #: ``"1.1"``, or ``"2"`` for an extended CONNECT (RFC 8441).
    http_version: str = "1.1"
    #: The body of an HTTP/2 refusal (on HTTP/1.1 the body is inside ``response``).
    body: bytes = b""

    def __init__(
        self,
        status: int,
        reason: str,
        headers: tuple[tuple[str, str], ...],
        response: bytes,
        error: RemoteProtocolError | None = None,
        detection: Detection | None = None,
        http_version: str = "1.1",
        body: bytes = b"",
    ) -> None:
        set_ = _REJECTED_SLOTS  # in field order; see _slot_setters
        set_[0](self, status)
        set_[1](self, reason)
        set_[2](self, headers)
        set_[3](self, response)
        set_[4](self, error)
        set_[5](self, detection)
        set_[6](self, http_version)
        set_[7](self, body)

    @property
    def version(self) -> Version:
        return self.detection.version if self.detection else Version.VersionUnknown


@dataclass(frozen=True, slots=True, init=False)
class Connected:
    """The server accepted the client's handshake, and the answer checked out.

    ``trailing_data`` are the bytes the server sent after its 101 (after the
    16-byte challenge answer for hixie-76): the frame layer's first bytes.
    ``deflate`` is the permessage-deflate the server agreed to, if any.
    """

    version: Version
    raw_version: str | None
    subprotocol: str | None
    extensions: tuple[str, ...]
    status: int
    headers: tuple[tuple[str, str], ...]
    trailing_data: bytes
    deflate: DeflateParams | None = None
    #: The HTTP version of the server's status line (``"1.1"``).
    http_version: str = "1.1"

    def __init__(
        self,
        version: Version,
        raw_version: str | None,
        subprotocol: str | None,
        extensions: tuple[str, ...],
        status: int,
        headers: tuple[tuple[str, str], ...],
        trailing_data: bytes,
        deflate: DeflateParams | None = None,
        http_version: str = "1.1",
    ) -> None:
        set_ = _CONNECTED_SLOTS  # in field order; see _slot_setters
        set_[0](self, version)
        set_[1](self, raw_version)
        set_[2](self, subprotocol)
        set_[3](self, extensions)
        set_[4](self, status)
        set_[5](self, headers)
        set_[6](self, trailing_data)
        set_[7](self, deflate)
        set_[8](self, http_version)


@dataclass(frozen=True, slots=True)
class Refused:
    """The server answered with something other than 101.

    ``advertised`` are the versions it listed in ``Sec-WebSocket-Version`` (RFC
    6455 §4.4), in its order; ``ignored`` the list elements that broke the grammar.
    ``body`` holds at most the client's ``max_response_bytes``.
    """

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    advertised: tuple[int, ...]
    ignored: tuple[str, ...]
    #: The HTTP version of the server's status line (``"1.1"``; ``"1.0"`` is a finding).
    http_version: str = "1.1"

    @property
    def advertised_nothing(self) -> bool:
        """The server listed no version it speaks (RFC 6455 §4.2.2 asks it to when
        it refuses one): ``retry()`` then tries the client's fallbacks in order."""
        return not self.advertised


# -- construction on every handshake ---------------------------------------------
# A frozen dataclass's generated __init__ sets each field with object.__setattr__,
# a generic attribute lookup per field. The events a handshake makes set their
# slots through the slot descriptors instead, which takes half the time (Request,
# keywords: 0.6-0.9 µs instead of 1.4). tests/test_events.py holds each __init__
# to its fields.

_Setter = Callable[[object, object], None]


def _slot_setters(cls: type) -> tuple[_Setter, ...]:
    """The ``__set__`` of each field's slot descriptor, in field order."""
    return tuple(cls.__dict__[field.name].__set__ for field in fields(cls))


_REQUEST_SLOTS = _slot_setters(Request)
_ACCEPTED_SLOTS = _slot_setters(Accepted)
_REJECTED_SLOTS = _slot_setters(Rejected)
_CONNECTED_SLOTS = _slot_setters(Connected)
