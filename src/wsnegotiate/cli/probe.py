"""``wsnegotiate probe``: which protocol versions does a live server accept?

One fresh connection per family, each bounded by the timeout. Every answer is
checked the way a client of that version checks it (``ClientNegotiator``), and
the rows carry findings where the answer breaks the RFCs:

- a 426 without ``Upgrade`` (RFC 9110 §15.5.22: the server MUST send Upgrade);
- a refused version without ``Sec-WebSocket-Version`` (RFC 6455 §4.2.2), a
  missing version refused without it too (a client reads it to retry, §4.4);
- a refusal that advertises the very version it refused;
- a malformed version accepted (RFC 6455 §4.3 grammar);
- an answer that is not WebSocket at all: a 2xx (the Upgrade was ignored), a
  redirect, an HTTP/1.0 status line to an HTTP/1.1 request;
- a 101 whose answer a client must reject (RFC 6455 §4.1), or no answer at all.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .._client import ClientNegotiator
from .._errors import InvalidResponse, LocalProtocolError
from .._events import Connected, NeedData, Refused
from .._headers import parse_version_value
from .._version import Version
from .audit_answer import as_text, shown

__all__ = ["PROBES", "ProbeRow", "Target", "cause", "parse_target", "probe", "unreached"]


@dataclass(frozen=True, slots=True)
class Probe:
    family: str
    speak: Version | str
    #: Whether the request carries a version number that RFC 6455 §4.2.2 covers.
    versioned: bool = True

    @property
    def sent(self) -> str | None:
        """The ``Sec-WebSocket-Version`` value the probe sends, if any."""
        if isinstance(self.speak, str):
            return self.speak or None
        return str(int(self.speak)) if self.versioned else None


PROBES = (
    Probe("hixie-75", Version.VersionUnknown, versioned=False),
    Probe("hixie-76", Version.Version0, versioned=False),
    *(Probe(f"hybi-{n:02d}", Version(n)) for n in (4, 5, 6, 7, 8)),
    Probe("rfc6455", Version.Version13),
    Probe("unassigned", "14"),
    Probe("malformed", "013"),
    Probe("none", "", versioned=False),
)


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    path: str
    #: A wss:// URL: TLS on the connection.
    secure: bool = False

    @property
    def authority(self) -> str:
        """HOST:PORT as a Host field and a URL carry it (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'wss' if self.secure else 'ws'}://{self.authority}{self.path}"


def parse_target(url: str, *, tls: bool = False) -> Target:
    """``ws://HOST:PORT/PATH`` (and ``wss://`` with ``tls``); raises ``ValueError``
    naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in (("ws", "wss") if tls else ("ws",)):
        if tls:
            raise ValueError(f"{url!r}: not a ws:// or wss:// URL")
        raise ValueError(f"{url!r}: only ws:// URLs can be probed (no TLS here)")
    if not parts.hostname:
        raise ValueError(f"{url!r}: no host")
    secure = parts.scheme == "wss"
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError as exc:  # not a number, or outside 0-65535
        raise ValueError(f"{url!r}: {exc}") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:  # the request every probe and audit case starts from
        ClientNegotiator(f"{parts.hostname}:{port}", path)
    except LocalProtocolError:
        raise ValueError(
            f"{url!r}: the path {path!r} cannot go in a request line (RFC 9112 §3.2)"
        ) from None
    return Target(parts.hostname, port, path, secure)


@dataclass(slots=True)
class ProbeRow:
    family: str
    sent: str | None  # the Sec-WebSocket-Version value sent, None when there was none
    reached: bool = True
    status: int | None = None
    advertised: list[int] = field(default_factory=list)
    accepted: bool = False
    findings: list[str] = field(default_factory=list)
    #: What came back, for a reader to check: the status line, the header fields
    #: as sent, and the first bytes of the body (read as UTF-8, any other byte
    #: shown as ``\xNN``).
    status_line: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    @property
    def answered(self) -> bool:
        """Did an HTTP answer come back (whatever it said)?"""
        return self.status is not None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "headers": [list(pair) for pair in self.headers]}


def cause(exc: OSError) -> str:
    """Why a connection failed, in the system's words: asyncio's "Connect call
    failed (address)" keeps the cause only in ``errno``."""
    if exc.errno is not None and exc.errno > 0:  # a resolver's errors are negative
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


async def _exchange(client: ClientNegotiator, target: Target) -> Connected | Refused:
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(client.data_to_send())
        await writer.drain()
        while isinstance(event := client.next_event(), NeedData):
            client.receive_data(await reader.read(65536))
        return event
    finally:
        writer.close()


async def _probe_one(probe: Probe, target: Target, timeout: float) -> ProbeRow:
    authority = f"{target.host}:{target.port}"
    client = ClientNegotiator(authority, target.path, probe.speak, origin=f"http://{authority}")
    row = ProbeRow(probe.family, probe.sent)
    try:
        event = await asyncio.wait_for(_exchange(client, target), timeout)
    except TimeoutError:  # before OSError: TimeoutError is one
        row.findings.append(f"no answer within {timeout:g} s")
        return row
    except (ConnectionResetError, BrokenPipeError) as exc:
        row.findings.append(f"connection reset: {cause(exc)}")
        return row
    except OSError as exc:  # refused, unreachable: the server was not reached
        row.reached = False
        row.findings.append(f"connection failed: {cause(exc)}")
        return row
    except InvalidResponse as exc:
        row.status = exc.status
        what = (
            "a 101 a client must reject (RFC 6455 §4.1)" if exc.status == 101 else "no valid answer"
        )
        row.findings.append(f"{what}: {exc.reason}")
        return row
    row.status = event.status
    row.headers = [(name, shown(value)) for name, value in event.headers]
    if event.http_version != "1.1":
        row.findings.append(f"answered with HTTP/{event.http_version} to an HTTP/1.1 request")
    if isinstance(event, Connected):
        row.status_line = f"HTTP/{event.http_version} 101"
        row.accepted = True
        if probe.family == "malformed":
            row.findings.append(f"malformed version {probe.sent!r} accepted (RFC 6455 §4.3)")
        return row
    reason = shown(event.reason)
    row.status_line = f"HTTP/{event.http_version} {event.status} {reason}".rstrip()
    row.body = as_text(event.body[:_BODY_EXCERPT])
    row.advertised = list(event.advertised)
    row.findings += _refusal_findings(probe, event)
    return row


_BODY_EXCERPT = 200


def _refusal_findings(probe: Probe, event: Refused) -> list[str]:
    """What is wrong with a refusal, as a client of the probe's version sees it."""
    findings = []
    names = {name.lower(): value for name, value in event.headers}
    if 200 <= event.status < 300:
        findings.append(f"{event.status} to an upgrade request: the Upgrade was ignored")
    elif 300 <= event.status < 400:
        where = names.get("location", "nowhere")
        findings.append(f"redirected ({event.status}) to {where!r} instead of an answer")
    if event.status == 426 and "upgrade" not in names:
        findings.append("426 without Upgrade (RFC 9110 §15.5.22)")
    refused = 400 <= event.status < 500 and "sec-websocket-version" not in names
    if probe.versioned and refused:
        findings.append(
            f"version {probe.sent!r} refused without Sec-WebSocket-Version (RFC 6455 §4.2.2)"
        )
    elif probe.family == "none" and refused:
        findings.append("a missing version refused without Sec-WebSocket-Version (RFC 6455 §4.4)")
    # by the strict grammar: "013" is not 13, and refusing it is right
    if probe.sent and parse_version_value(probe.sent.encode()) in event.advertised:
        findings.append(f"version {probe.sent} refused, yet advertised as supported")
    if event.ignored:
        findings.append(f"Sec-WebSocket-Version lists garbage: {', '.join(event.ignored)}")
    return findings


async def probe(target: Target, timeout: float = 5.0) -> list[ProbeRow]:
    """Probe every family, one after the other (a server may limit connections)."""
    return [await _probe_one(p, target, timeout) for p in PROBES]


def unreached(rows: Sequence[ProbeRow]) -> str | None:
    """The one error every row met when no row reached the server, all the same
    way (a closed port, an unknown host): said once instead of once a row."""
    errors = {tuple(row.findings) for row in rows}
    if rows and not any(row.reached for row in rows) and len(errors) == 1:
        return "; ".join(errors.pop())
    return None


def table(rows: Sequence[ProbeRow]) -> list[tuple[str, ...]]:
    """The rows as table cells, a header row first."""
    cells: list[tuple[str, ...]] = [
        ("family", "sent", "status", "advertised", "accepted", "findings")
    ]
    for row in rows:
        sent = "-" if row.sent is None else repr(row.sent)
        status = "-" if row.status is None else str(row.status)
        advertised = ",".join(map(str, row.advertised)) or "-"
        accepted = "yes" if row.accepted else "no"
        findings = "; ".join(row.findings) or "-"
        cells.append((row.family, sent, status, advertised, accepted, findings))
    return cells
