"""The events of the server negotiator: frozen, slotted dataclasses.

``next_event()`` returns ``NeedData``, ``Request``, ``Rejected`` or
``ConnectionClosed``; ``accept()`` returns ``Accepted`` and ``reject()`` returns
``Rejected``. Every event that ends the handshake carries the bytes to send.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._detect import Detection
from ._errors import RemoteProtocolError
from ._version import Version

__all__ = ["Accepted", "ConnectionClosed", "NeedData", "Rejected", "Request"]


@dataclass(frozen=True, slots=True)
class NeedData:
    """The request head is not complete yet: read more and call ``receive_data``."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed the connection before sending a single byte."""


@dataclass(frozen=True, slots=True)
class Request:
    """A well-formed WebSocket upgrade request in a version the policy accepts.

    Call ``accept()`` or ``reject()`` on the negotiator next. ``origin`` is
    ``Origin``, or ``Sec-WebSocket-Origin`` for versions below 13; ``subprotocols``
    and ``extensions`` are the client's offers in order, as sent; ``headers`` are
    all field lines with the casing they had on the wire.
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

    @property
    def version(self) -> Version:
        return self.detection.version

    @property
    def raw_version(self) -> str | None:
        return self.detection.raw_version

    @property
    def family(self) -> str:
        return self.detection.family


@dataclass(frozen=True, slots=True)
class Accepted:
    """The handshake succeeded: send ``response`` (the 101, whose header fields are
    ``headers``), then hand ``trailing_data`` (bytes the client sent after its
    request) to the frame layer."""

    request: Request
    subprotocol: str | None
    extensions: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    response: bytes
    trailing_data: bytes

    @property
    def version(self) -> Version:
        return self.request.version


@dataclass(frozen=True, slots=True)
class Rejected:
    """The handshake was refused: send ``response``, then close the connection.

    ``error`` is the peer's fault when the negotiator refused by itself, ``None``
    when the caller called ``reject()``. ``detection`` is the protocol the
    request spoke, where it got that far.
    """

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    response: bytes
    error: RemoteProtocolError | None = None
    detection: Detection | None = None

    @property
    def version(self) -> Version:
        return self.detection.version if self.detection else Version.VersionUnknown
