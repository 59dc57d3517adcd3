"""``wsnegotiate probe``: which protocol versions does a live server accept?

One fresh connection per family, each bounded by the timeout; ``wss://`` over
TLS (ALPN ``http/1.1``). Every answer is checked the way a client of that
version checks it (``ClientNegotiator``), and the rows carry findings where the
answer breaks the RFCs:

- a 426 without ``Upgrade`` (RFC 9110 §15.5.22: the server MUST send Upgrade);
- a refused version without ``Sec-WebSocket-Version`` (RFC 6455 §4.2.2), a
  missing version refused without it too (a client reads it to retry, §4.4);
- a refusal that advertises the very version it refused;
- a malformed version accepted (RFC 6455 §4.3 grammar);
- an answer that is not WebSocket at all: a 2xx (the Upgrade was ignored), a
  redirect, an HTTP/1.0 status line to an HTTP/1.1 request;
- a 101 whose answer a client must reject (RFC 6455 §4.1), or no answer at all.

Over HTTP/2 (``http2=True``; RFC 8441): prior knowledge on ``ws://``, ALPN ``h2``
on ``wss://``. Each family but hixie-75 and hixie-76 (which have no HTTP/2 form)
is an extended CONNECT on a fresh connection, once the server's SETTINGS say
``SETTINGS_ENABLE_CONNECT_PROTOCOL = 1``, with its version as
``sec-websocket-version``. A 200 is accepted (no Accept to check, §5); any other
status is a refusal, its advertised versions read from its
``sec-websocket-version``. The findings are HTTP/1.1's, less those about
``Upgrade``, and these: a 426 (it needs ``Upgrade``, which HTTP/2 forbids), a
2xx other than 200, the setting not sent, ALPN not choosing ``h2``, an answer
that is not HTTP/2, a stream reset or a GOAWAY instead of an answer.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._client import ClientNegotiator
from .._errors import InvalidResponse, LocalProtocolError
from .._events import Connected, NeedData, Refused
from .._headers import parse_version_value
from .._version import Version
from .audit_answer import as_text, shown

if TYPE_CHECKING:  # h2 is imported only to probe over HTTP/2
    from ..h2 import StreamConnected, StreamFailed, StreamRefused

    _H2Answer = StreamConnected | StreamRefused | StreamFailed | str

__all__ = [
    "H2_PROBES",
    "PROBES",
    "ProbeRow",
    "Target",
    "cause",
    "client_tls",
    "parse_target",
    "probe",
    "unreached",
]


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
#: The families with an HTTP/2 form: hixie-75 and hixie-76 have none (RFC 8441 §5
#: carries Sec-WebSocket-Version, and they send none).
H2_PROBES = tuple(probe for probe in PROBES if not probe.family.startswith("hixie"))


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


def parse_target(url: str) -> Target:
    """``ws://HOST:PORT/PATH`` or ``wss://``; raises ``ValueError`` naming what is
    wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"{url!r}: not a ws:// or wss:// URL")
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


def client_tls(
    cafile: str | None = None, *, insecure: bool = False, http2: bool = False
) -> ssl.SSLContext:
    """The probe's TLS: the system's CAs (or ``cafile``'s), the host name checked
    unless ``insecure``; ALPN ``h2`` for HTTP/2, else ``http/1.1``. Raises
    ``OSError`` when ``cafile`` cannot be read."""
    context = ssl.create_default_context(cafile=cafile)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"] if http2 else ["http/1.1"])
    return context


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
    failed (address)" keeps the cause only in ``errno``; TLS's in its reason (its
    ``errno`` is OpenSSL's, not the system's)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc.strerror or exc}"
    if exc.errno is not None and exc.errno > 0:  # a resolver's errors are negative
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


async def _open(
    target: Target, tls: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if tls is None:
        return await asyncio.open_connection(target.host, target.port)
    return await asyncio.open_connection(
        target.host, target.port, ssl=tls, server_hostname=target.host
    )


async def _exchange(
    client: ClientNegotiator, target: Target, tls: ssl.SSLContext | None
) -> Connected | Refused:
    reader, writer = await _open(target, tls)
    try:
        writer.write(client.data_to_send())
        await writer.drain()
        while isinstance(event := client.next_event(), NeedData):
            client.receive_data(await reader.read(65536))
        return event
    finally:
        _close(writer)


def _close(writer: asyncio.StreamWriter) -> None:
    """Done with a connection: TLS is dropped at once (its close would wait for
    the server's close_notify, up to half a minute)."""
    if writer.get_extra_info("ssl_object") is not None:
        writer.transport.abort()
    else:
        writer.close()


async def _probe_one(
    probe: Probe, target: Target, timeout: float, tls: ssl.SSLContext | None, http2: bool
) -> ProbeRow:
    row = ProbeRow(probe.family, probe.sent)
    scheme = "https" if target.secure else "http"
    authority = f"{target.host}:{target.port}"
    try:
        if http2:
            answer = await asyncio.wait_for(_h2_answer(probe, target, tls), timeout)
            _h2_row(row, probe, answer)
            return row
        client = ClientNegotiator(
            authority, target.path, probe.speak, origin=f"{scheme}://{authority}"
        )
        event = await asyncio.wait_for(_exchange(client, target, tls), timeout)
    except TimeoutError:  # before OSError: TimeoutError is one
        row.findings.append(f"no answer within {timeout:g} s")
        return row
    except (ConnectionResetError, BrokenPipeError) as exc:
        row.findings.append(f"connection reset: {cause(exc)}")
        return row
    except OSError as exc:  # refused, unreachable, TLS refused: the server was not reached
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
    _refused_row(row, probe, event, http2=False)
    return row


_BODY_EXCERPT = 200


def _refused_row(row: ProbeRow, probe: Probe, event: Refused, *, http2: bool) -> None:
    row.body = as_text(event.body[:_BODY_EXCERPT])
    row.advertised = list(event.advertised)
    row.findings += _refusal_findings(probe, event, http2=http2)


def _refusal_findings(probe: Probe, event: Refused, *, http2: bool = False) -> list[str]:
    """What is wrong with a refusal, as a client of the probe's version sees it."""
    findings = []
    names = {name.lower(): value for name, value in event.headers}
    if 200 <= event.status < 300:
        findings.append(
            f"{event.status} to an extended CONNECT: a WebSocket is accepted with 200 (RFC 8441 §5)"
            if http2
            else f"{event.status} to an upgrade request: the Upgrade was ignored"
        )
    elif 300 <= event.status < 400:
        where = names.get("location", "nowhere")
        findings.append(f"redirected ({event.status}) to {where!r} instead of an answer")
    if http2 and event.status == 426:
        findings.append(
            "426 over HTTP/2: a 426 needs Upgrade (RFC 9110 §15.5.22), which HTTP/2 "
            "forbids (RFC 9113 §8.2.2); a refused version is a 400"
        )
    elif event.status == 426 and "upgrade" not in names:
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


# -- HTTP/2 -------------------------------------------------------------------------


async def _h2_answer(probe: Probe, target: Target, tls: ssl.SSLContext | None) -> _H2Answer:
    """One extended CONNECT on a fresh HTTP/2 connection: the client's event that
    answers it (``StreamConnected``, ``StreamRefused``, ``StreamFailed``), or a
    finding that says why there is none."""
    from .. import h2  # h2 only for HTTP/2

    reader, writer = await _open(target, tls)
    try:
        if tls is not None:
            chosen = writer.get_extra_info("ssl_object").selected_alpn_protocol()
            if chosen != "h2":
                return f"ALPN chose {chosen or 'no protocol'}, not h2: no HTTP/2 on this port"
        client = h2.ClientConnection()
        scheme = "https" if tls is not None else "http"
        authority = f"{target.host}:{target.port}"
        stream_id = 0
        while True:
            writer.write(client.data_to_send())
            client.receive_data(await reader.read(65536))
            while not isinstance(event := client.next_event(), NeedData):
                if isinstance(event, h2.ServerSettings) and not stream_id:
                    if not event.extended_connect:
                        return (
                            "no SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3): "
                            "no WebSocket over HTTP/2 here"
                        )
                    stream_id = client.connect(
                        authority,
                        target.path,
                        probe.speak,
                        scheme=scheme,
                        origin=f"{scheme}://{authority}",
                    )
                elif isinstance(event, (h2.StreamConnected, h2.StreamRefused, h2.StreamFailed)):
                    return event  # the only stream
                elif isinstance(event, h2.StreamReset):
                    return f"stream reset ({_h2_code(event.error_code)}) instead of an answer"
                elif isinstance(event, h2.GoAway):
                    return f"GOAWAY ({_h2_code(event.error_code)}) instead of an answer"
                elif isinstance(event, h2.ConnectionFailed):
                    return f"not HTTP/2: {event.reason}"
                elif isinstance(event, h2.ConnectionEnded):
                    return "the server closed the connection without an answer"
    finally:
        _close(writer)


def _h2_code(code: int) -> str:
    from h2.errors import ErrorCodes

    try:
        return ErrorCodes(code).name
    except ValueError:
        return f"error code {code}"


def _h2_row(row: ProbeRow, probe: Probe, answer: _H2Answer) -> None:
    from .. import h2

    if isinstance(answer, str):
        row.findings.append(answer)
    elif isinstance(answer, h2.StreamFailed):
        row.status = answer.error.status
        row.findings.append(f"a 200 a client must reject (RFC 6455 §4.1): {answer.error.reason}")
    elif isinstance(answer, h2.StreamConnected):
        connected = answer.connected
        row.status, row.status_line, row.accepted = connected.status, "HTTP/2 200", True
        row.headers = [(name, shown(value)) for name, value in connected.headers]
        if probe.family == "malformed":
            row.findings.append(f"malformed version {probe.sent!r} accepted (RFC 6455 §4.3)")
    else:
        assert isinstance(answer, h2.StreamRefused)
        refused = answer.refused
        row.status, row.status_line = refused.status, f"HTTP/2 {refused.status}"
        row.headers = [(name, shown(value)) for name, value in refused.headers]
        _refused_row(row, probe, refused, http2=True)


async def probe(
    target: Target,
    timeout: float = 5.0,
    *,
    http2: bool = False,
    tls: ssl.SSLContext | None = None,
) -> list[ProbeRow]:
    """Probe every family, one after the other (a server may limit connections);
    ``http2``: over HTTP/2, the families that have an HTTP/2 form. ``tls``: the
    context for a ``wss://`` target (``client_tls()``)."""
    if target.secure and tls is None:
        tls = client_tls(http2=http2)
    probes = H2_PROBES if http2 else PROBES
    return [await _probe_one(p, target, timeout, tls, http2) for p in probes]


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
