"""ASGI apps on wsnegotiate: a WebSocket protocol for uvicorn (``pip install
'wsnegotiate[uvicorn]'``; uvicorn and wsproto are imported only here).

    uvicorn app:app --ws wsnegotiate.uvicorn:WebSocketProtocol
    uvicorn.run(app, ws=wsnegotiate.uvicorn.WebSocketProtocol)
    uvicorn.run(app, ws=wsnegotiate.uvicorn.protocol(Policy([13, 8], origins=[...])))

uvicorn parses the HTTP request, writes its head out again (as HTTP/1.1, without
the bytes that followed it) and hands it over; this class takes the request's HTTP
version and those bytes back from the HTTP protocol it replaces (``_taken_back``),
so the negotiator decides what the client sent. The handshake is wsnegotiate's: a
request the policy refuses (an unsupported or malformed version, a bad key, no
Host, HTTP/1.0, a POST, a hixie-76 handshake, an origin not allowed) gets
wsnegotiate's answer and the app is never called. The app sees the others, with
``scope["extensions"]["wsnegotiate"]``: ``version`` (a ``Version``),
``raw_version``, ``family`` and ``credential`` (the rest of the offer that starts
with the credential prefix, or ``None``: a ``str`` whose ``repr`` hides it). Then
the ASGI WebSocket protocol (spec 2.4) runs over wsproto frames:
``websocket.accept`` (subprotocol, headers), ``receive``/``send`` of text and
bytes, ``close`` with code and reason, ``disconnect``, and the denial response
(``websocket.http.response.start`` and ``.body``) for an app that refuses with its
own HTTP answer.

Settings: uvicorn's own where they exist (``--ws-max-size``: a message past it
fails the connection with 1009; ``--ws-ping-interval`` and ``--ws-ping-timeout``:
keepalive, failing with 1011 when no whole frame answers a Ping in time, and the
time a frame begun has to complete, or 1008; ``--ws-per-message-deflate``:
permessage-deflate, negotiated by wsnegotiate; ``--ws-max-queue`` is not used: one
message at a time waits for the app); the rest from the environment, read when
uvicorn imports this module at startup: ``WSNEGOTIATE_VERSIONS`` (``13,8,7``;
default ``13``), ``WSNEGOTIATE_ORIGINS`` (the allowed origins, comma-separated,
as ``--origins`` takes them: ``https://*.example.com`` for subdomains, ``none``
for a request without Origin; others get a 403 before the app runs),
``WSNEGOTIATE_SAME_ORIGIN`` (``1``: the request's own origin is admitted too),
``WSNEGOTIATE_CREDENTIAL_PREFIX`` (subprotocol offers that carry a credential: taken
out of ``subprotocols`` and ``headers``, never answered) and
``WSNEGOTIATE_HANDSHAKE_TIMEOUT`` (the seconds the app has to accept or deny,
default 10; then a 503). No health path: a plain GET is uvicorn's, for the HTTP
app. A bad value stops the server there, with one line naming
the variable and its value, and uvicorn's exit status for a failed startup (3). Or
a policy of your own through ``protocol()``.

Proxies: the negotiator is told the connection's peer address and whether it is
TLS, and trusts the proxies uvicorn trusts (``--forwarded-allow-ips``, or
``$FORWARDED_ALLOW_IPS``, else 127.0.0.1 and ::1, while ``--proxy-headers`` is on;
none when it is off), so the scope's ``scheme`` and ``client`` are the request as
its client made it, and uvicorn's proxy middleware is not run over them. An address
``Policy`` refuses (uvicorn takes it for a literal) stops the server when uvicorn
imports this module by name as it loads its config; a class handed to
``uvicorn.run()`` learns it at the first WebSocket, logs it once, and answers every
WebSocket request with a 500.

After the 101, reading pauses while a message waits for the app and while the
client does not read what is written (the transport's high-water mark). A failed
connection (RFC 6455 §7.1.7) gets our Close, then our end of TCP, and the client's
bytes are discarded; a client that neither reads our last bytes nor answers our
Close is dropped 10 s later.

Each handshake outcome, the 101 or a refusal, gets one line in uvicorn's access
log, in the shape uvicorn gives an HTTP request (``--no-access-log``: none).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn, cast
from urllib.parse import unquote, urlsplit

import h11
import uvicorn
import wsproto.events as frames
from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.utils import ClientDisconnected, get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState
from wsproto.connection import Connection, ConnectionState

from ._answers import TEXT_PLAIN
from ._close import CloseCode
from ._deflate import DeflateOptions
from ._errors import LocalProtocolError
from ._events import Accepted, Rejected, Request
from ._origin import listed_origins
from ._policy import Policy
from ._server import ServerNegotiator, State
from .wsproto import connection, required_reply

__all__ = ["WebSocketProtocol", "policy_from", "protocol"]

Message = dict[str, Any]
#: A setting's name, its value and what is wrong with it.
Fault = tuple[str, str, str]

log = logging.getLogger("uvicorn.error")
access = logging.getLogger("uvicorn.access")

# Seconds our Close waits for the client's, or our last bytes for the client to read
# them, before TCP is dropped (uvicorn's own protocols wait 10 s for the Close).
_CLOSE_TIMEOUT = 10.0
# Each server's policy, and what is wrong with its proxy setting (see _built).
_PER_CONFIG: dict[int, tuple[Config, Policy, Fault | None]] = {}
_SOME_VERSIONS = "give some of 13, 8 and 7"


def _stop(name: str, value: str, fault: str) -> NoReturn:
    """A bad setting: one line, and uvicorn's own exit status for a failed startup."""
    log.error("%s=%r: %s", name, value, fault)
    raise SystemExit(STARTUP_FAILURE)


def _checked(name: str, value: str, **settings: Any) -> None:
    """Stop unless ``Policy`` takes ``settings``, with its own words for the fault."""
    try:
        Policy(**settings)
    except LocalProtocolError as error:
        _stop(name, value, str(error))


def _versions() -> list[int]:
    """``WSNEGOTIATE_VERSIONS``, checked. Read, as every variable here, when this
    module is imported, which uvicorn does at startup (``--ws``): a bad value stops
    the server there, instead of failing every WebSocket client."""
    name, value = "WSNEGOTIATE_VERSIONS", os.environ.get("WSNEGOTIATE_VERSIONS", "13")
    versions = []
    for item in filter(None, map(str.strip, value.split(","))):
        if not re.fullmatch("[0-9]{1,3}", item):
            _stop(name, value, f"{item!r} is not a version; {_SOME_VERSIONS}")
        versions.append(int(item))
    if not versions:
        _stop(name, value, f"no version; {_SOME_VERSIONS}")
    _checked(name, value, versions=versions)
    return versions


def _origins() -> list[str | None] | None:
    """``WSNEGOTIATE_ORIGINS``, as ``--origins`` takes them (origins, patterns,
    ``none``), checked by ``Policy``; ``None`` when unset (any origin)."""
    name, value = "WSNEGOTIATE_ORIGINS", os.environ.get("WSNEGOTIATE_ORIGINS")
    if value is None:
        return None
    origins = listed_origins(value)
    if not origins:
        _stop(name, value, "no origin; unset it to allow any origin")
    _checked(name, value, origins=origins)
    return origins


def _same_origin() -> bool:
    """``WSNEGOTIATE_SAME_ORIGIN``: ``1`` admits the request's own origin, ``0`` (or
    unset) does not."""
    name, value = "WSNEGOTIATE_SAME_ORIGIN", os.environ.get("WSNEGOTIATE_SAME_ORIGIN", "0")
    if value not in ("0", "1"):
        _stop(name, value, "expected 1 (on) or 0 (off)")
    return value == "1"


def _credential_prefix() -> str | None:
    """``WSNEGOTIATE_CREDENTIAL_PREFIX``, checked by ``Policy``; ``None`` when unset."""
    name = "WSNEGOTIATE_CREDENTIAL_PREFIX"
    value = os.environ.get(name)
    if value is not None:
        _checked(name, value, credential_prefix=value)
    return value


def _seconds(name: str, default: str) -> float:
    """A number of seconds above 0 from the environment, checked as the others are."""
    value = os.environ.get(name, default)
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        _stop(name, value, "not a number of seconds above 0")
    return seconds


_VERSIONS, _ORIGINS, _SAME_ORIGIN = _versions(), _origins(), _same_origin()
_CREDENTIAL_PREFIX = _credential_prefix()
# How long the app has to accept or deny (the adapters' default deadline).
_HANDSHAKE_TIMEOUT = _seconds("WSNEGOTIATE_HANDSHAKE_TIMEOUT", "10")


def _proxies(config: Config) -> tuple[str, str | list[str]]:
    """uvicorn's trusted proxies, and the name of the setting they come from:
    ``--forwarded-allow-ips`` (or ``$FORWARDED_ALLOW_IPS``; uvicorn's default
    ``127.0.0.1,::1``) while ``--proxy-headers`` is on, as it is by default; none
    when it is off."""
    value = config.forwarded_allow_ips if config.proxy_headers else ""
    given = value if isinstance(value, str) else ",".join(value)
    from_environment = given == os.environ.get("FORWARDED_ALLOW_IPS")
    return ("FORWARDED_ALLOW_IPS" if from_environment else "--forwarded-allow-ips"), value


def _built(config: Config) -> tuple[Policy, Fault | None]:
    """The policy of a uvicorn server, and what is wrong with its proxy setting
    (``None``: nothing; otherwise the policy trusts no proxy)."""
    known = _PER_CONFIG.get(id(config))
    if known is not None and known[0] is config:
        return known[1], known[2]
    settings: dict[str, Any] = {
        "versions": _VERSIONS,
        "origins": _ORIGINS,
        "same_origin": _SAME_ORIGIN,
        "credential_prefix": _CREDENTIAL_PREFIX,
        "deflate": DeflateOptions() if config.ws_per_message_deflate else None,
    }
    name, trusted = _proxies(config)
    fault = None
    try:
        policy = Policy(forwarded_allow_ips=trusted, **settings)
    except LocalProtocolError as error:  # uvicorn takes a malformed address for a literal
        shown = trusted if isinstance(trusted, str) else ",".join(trusted)
        fault = name, shown, str(error).removeprefix("forwarded_allow_ips: ")
        policy = Policy(**settings)
    _PER_CONFIG[id(config)] = (config, policy, fault)
    return policy, fault


def policy_from(config: Config) -> Policy:
    """The policy of a uvicorn server: versions, origins, same origin and the
    credential prefix from the environment (as read at import), permessage-deflate
    as ``--ws-per-message-deflate`` says, and the proxies uvicorn trusts
    (``--forwarded-allow-ips`` while ``--proxy-headers`` is on). A proxy setting
    that ``Policy`` refuses (``10.0.0.300``, which uvicorn takes for a literal such
    as a UNIX socket's path) raises ``LocalProtocolError`` naming it."""
    policy, fault = _built(config)
    if fault is not None:
        raise LocalProtocolError("{}={!r}: {}".format(*fault))
    return policy


def _loading() -> Config | None:
    """The uvicorn ``Config`` whose ``load()`` is importing this module, or ``None``.
    uvicorn imports a ``--ws`` class given by name (``--ws
    wsnegotiate.uvicorn:WebSocketProtocol``, ``uvicorn.run(ws="...")``) as it loads
    its config, before it listens: the earliest point its settings can be checked.
    A class handed over (``uvicorn.run(ws=WebSocketProtocol)``) was imported before
    any config existed; its server's settings are checked at the first WebSocket."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code is Config.load.__code__:
            config = frame.f_locals.get("self")
            return config if isinstance(config, Config) else None
        frame = frame.f_back
    return None


if (_CONFIG := _loading()) is not None and (_FAULT := _built(_CONFIG)[1]) is not None:
    _stop(*_FAULT)


def _taken_back(http: object) -> tuple[bytes, bytes] | str:
    """What uvicorn's HTTP protocol ``http`` read and does not hand over: the
    request's HTTP version (uvicorn writes the head out again as HTTP/1.1) and the
    bytes that came after the head. Or, if uvicorn changed, the attribute now missing.
    Called from ``connection_made``, which uvicorn calls before it swaps protocols."""
    name = type(http).__name__
    scope = getattr(http, "scope", None)
    version = scope.get("http_version") if isinstance(scope, dict) else None
    if not isinstance(version, str):
        return f"{name}.scope['http_version']"
    conn = getattr(http, "conn", None)
    if isinstance(conn, h11.Connection):  # --http h11: h11 still holds the bytes
        return version.encode("ascii"), conn.trailing_data[0]
    httptools = sys.modules.get("httptools")
    upgrade = sys.exception()
    if httptools is None or not isinstance(upgrade, httptools.HttpParserUpgrade):
        return f"{name}.conn (an h11.Connection), or httptools' HttpParserUpgrade being handled"
    # --http httptools: uvicorn hands over while it handles the parser's
    # HttpParserUpgrade, whose argument is where the head ended in the bytes that the
    # method catching it (data_received) was given.
    caught = upgrade.__traceback__.tb_frame.f_locals if upgrade.__traceback__ else {}
    data, end = caught.get("data"), upgrade.args[0] if upgrade.args else None
    if caught.get("self") is not http or not isinstance(data, bytes) or not isinstance(end, int):
        return f"{name}.data_received(data), catching HttpParserUpgrade(offset)"
    return version.encode("ascii"), data[end:]


def _addresses(
    http: object, transport: asyncio.Transport
) -> tuple[tuple[str, int] | None, tuple[str, int | None] | None]:
    """The connection's peer and local addresses: as uvicorn's own HTTP protocol
    ``http`` found them when the connection was made (uvicorn's functions, asked of
    the same socket: two system calls saved), else asked of the socket now."""
    client, server = getattr(http, "client", ()), getattr(http, "server", ())
    if not type(http).__module__.startswith("uvicorn.protocols.http."):
        client = server = ()
    if not (client is None or (isinstance(client, tuple) and len(client) == 2)):
        client = get_remote_addr(transport)
    if not (server is None or (isinstance(server, tuple) and len(server) == 2)):
        server = get_local_addr(transport)
    return client, server


_WARNED: set[str] = set()  # what could not be taken back, or a bad setting: said once


def protocol(policy: Policy) -> type[WebSocketProtocol]:
    """A ``WebSocketProtocol`` class that uses ``policy`` (instead of the
    environment's): ``uvicorn.run(app, ws=protocol(policy))``."""
    return type("WebSocketProtocol", (WebSocketProtocol,), {"policy": policy})


class WebSocketProtocol(asyncio.Protocol):
    """uvicorn's WebSocket protocol contract, with wsnegotiate's handshake."""

    #: Set by ``protocol()``; ``None``: ``policy_from(config)``.
    policy: Policy | None = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        app = config.loaded_app
        if isinstance(app, ProxyHeadersMiddleware):
            # The scope's scheme and client are the negotiator's, which read the
            # proxy's fields with uvicorn's trust (Forwarded too): the middleware
            # would read X-Forwarded-* a second time, over them.
            app = app.app
        # (The generic types named as strings: a subscript is evaluated per connection.)
        self.app = cast("Callable[..., Any]", app)
        self.loop = _loop or asyncio.get_event_loop()
        self.app_state = app_state
        self.connections = cast("set[Any]", server_state.connections)
        self.tasks = server_state.tasks
        self.default_headers = server_state.default_headers
        self.negotiator = cast(ServerNegotiator, None)  # made in connection_made
        self.misconfigured = False  # uvicorn's proxy setting is refused: see connection_made
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.frames: Connection | None = None
        self.early = bytearray()  # bytes that came while the app decided
        self.response: tuple[int, list[tuple[bytes, bytes]], bytearray] | None = None
        self.close_sent = False
        self.failed = False  # see _fail()
        self.disconnected = False
        self.read_paused = False
        self.writing_paused = False  # the peer does not read what we write
        self.unread = 0  # messages queued for the app that it has not received
        self.writable = asyncio.Event()
        self.writable.set()
        self.message: list[str | bytes] = []
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.partial = False  # the peer's last bytes did not complete a frame
        self.client: tuple[str, int] | None = None  # the peer's address, for the logs
        self.server: tuple[str, int | None] | None = None  # ours, for the scope
        self.handover: tuple[bytes, bytes] | None = None  # see _taken_back()
        self.request_line = b""  # for the access log
        # Each handshake gets a line in uvicorn's access log, as each HTTP request
        # does there (--no-access-log removes its handlers).
        self.access_log = config.access_log and access.hasHandlers()

    # -- the asyncio protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.connections.add(self)
        http = transport.get_protocol()  # uvicorn's HTTP protocol, handing over to us
        self.client, self.server = _addresses(http, self.transport)
        policy, fault = (self.policy, None) if self.policy is not None else _built(self.config)
        if fault is not None:
            # Known only now (the module was imported before uvicorn loaded its config):
            # said once, and every WebSocket request gets a 500 until it is fixed.
            self.misconfigured = True
            line = "{}={!r}: {}".format(*fault)
            if line not in _WARNED:
                _WARNED.add(line)
                log.error("%s; every WebSocket request gets a 500", line)
        # The peer and TLS make Request.scheme and .client, and say whether the peer
        # is a trusted proxy (Policy.forwarded_allow_ips).
        self.negotiator = ServerNegotiator(policy, peer=self.client, tls=is_ssl(self.transport))
        taken = _taken_back(http)
        if isinstance(taken, tuple):
            self.handover = taken
        elif taken not in _WARNED:
            _WARNED.add(taken)
            log.warning(
                "wsnegotiate.uvicorn cannot take back what uvicorn %s reads and does not hand "
                "over: %s is gone. An HTTP/1.0 upgrade is taken as HTTP/1.1, and bytes sent "
                "right behind a request head are lost.",
                uvicorn.__version__,
                taken,
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self.connections.discard(self)
        if not self.disconnected:
            self.disconnected = True
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
        self.writable.set()  # a paused transport that is lost never resumes

    def pause_writing(self) -> None:
        # The peer does not read what we write: read no more of its frames until it
        # does (as serve does), so neither Pongs nor anything else pile up here.
        self.writing_paused = True
        if not self.disconnected:  # a send after the disconnect raises at once
            self.writable.clear()
        self._flow()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.writable.set()
        self._read_frames()

    def data_received(self, data: bytes) -> None:
        if self.frames is not None:
            if not self.failed:  # failed: nothing more of the peer's is processed (§7.1.7)
                self._frames_received(data)
        elif self.negotiator.state is State.AWAITING_REQUEST:
            if self.handover is not None:  # the head as uvicorn wrote it out again
                data = _as_received(data, *self.handover)
                self.handover = None
            if not self.request_line:
                self.request_line = data[: data.find(b"\r\n")]
            self.negotiator.receive_data(data)
            event = self.negotiator.next_event()
            if isinstance(event, Rejected):
                self._refuse(event)
            elif isinstance(event, Request):
                self._start_app(event)
        else:  # the app is deciding: hold the bytes for the frame layer, and read no more
            self.early += data
            self._flow()

    def shutdown(self) -> None:
        """uvicorn stops: open connections get Close 1012 (service restart)."""
        self._cancel_timers()
        if self.frames is not None and self.frames.state is ConnectionState.OPEN:
            self._disconnect(1012, "")
            self._write(self.frames.send(frames.CloseConnection(code=1012)))
        elif self.negotiator.state is State.DECIDING:
            self._refuse(self.negotiator.reject(503, "the server is shutting down"))
        self._end()

    # -- the handshake -------------------------------------------------------------

    def _logged(self, status: int) -> None:
        """The handshake's line in uvicorn's access log, in the shape uvicorn gives
        an HTTP request's (its formatter adds the status phrase); not even built when
        the logger drops it (``--log-level warning``)."""
        if self.access_log and access.isEnabledFor(logging.INFO):
            method, _, rest = self.request_line.decode("latin-1").partition(" ")
            target, _, version = rest.rpartition(" ")
            path, query = _path_and_query(target)
            access.info(
                '%s - "%s %s HTTP/%s" %d',
                f"{self.client[0]}:{self.client[1]}" if self.client else "",
                method,
                (f"{path}?{query}" if query else path).replace('"', "%22"),
                version.removeprefix("HTTP/"),
                status,
            )

    def _refuse(self, rejected: Rejected) -> None:
        self._logged(rejected.status)
        self._write(rejected.response)
        self._disconnect(1006, "")
        self._end()

    def _start_app(self, request: Request) -> None:
        if self.misconfigured:
            self._refuse(self.negotiator.reject(500, "Internal Server Error"))
            return
        path, query = _path_and_query(request.target)
        root = self.config.root_path
        secret = request.credential
        scope = {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": request.http_version,
            # The request as its client made it: the connection's, or a trusted proxy's.
            "scheme": "wss" if request.scheme == "https" else "ws",
            "server": self.server,
            "client": request.client,
            "root_path": root,
            "path": root + unquote(path),
            "raw_path": root.encode("ascii") + path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "headers": [(name.lower(), value) for name, value in request.headers],
            "subprotocols": list(request.subprotocols),
            "state": self.app_state.copy(),
            "extensions": {
                "websocket.http.response": {},
                "wsnegotiate": {
                    "version": request.version,
                    "raw_version": request.raw_version,
                    "family": request.family,
                    "credential": None if secret is None else _Credential(secret),
                },
            },
        }
        self.queue.put_nowait({"type": "websocket.connect"})
        self.timers["decision"] = self.loop.call_later(_HANDSHAKE_TIMEOUT, self._undecided)
        task = self.loop.create_task(self._run_app(scope))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_app(self, scope: dict[str, Any]) -> None:
        code = CloseCode.CloseCodeNormal
        try:
            await self.app(scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            log.exception("Exception in ASGI application\n")
            self._fail_handshake()
            code = CloseCode.CloseCodeBadOperation  # 1011: the server failed (RFC 6455 §7.4.1)
        else:
            if self.negotiator.state is State.DECIDING and self.response is None:
                log.error("ASGI callable returned without completing handshake.")
            self._fail_handshake()
        layer = self.frames
        if layer is not None and layer.state is ConnectionState.OPEN and not self.disconnected:
            self._close(code, "")  # the app is done: close the WebSocket properly
        elif "close" not in self.timers:  # closed, or the client is gone: no Close to send
            self._end()

    def _undecided(self) -> None:
        """The app neither accepted nor denied in time: a 503 (RFC 9110 §15.6.4), as
        the asyncio and trio adapters answer an ``on_request`` still deciding at
        their deadline; the app's receive() gets the disconnect, its send() raises."""
        self.timers.pop("decision", None)
        if self.negotiator.state is State.DECIDING:
            self.response = None  # a denial response begun and not finished goes too
            log.warning("ASGI app neither accepted nor denied within %g s: 503", _HANDSHAKE_TIMEOUT)
            reason = f"no decision within the {_HANDSHAKE_TIMEOUT:g} s deadline"
            self._refuse(self.negotiator.reject(503, reason))

    def _fail_handshake(self) -> None:
        if self.negotiator.state is State.DECIDING and not self.transport.is_closing():
            self._refuse(self.negotiator.reject(500, "Internal Server Error"))

    # -- ASGI ----------------------------------------------------------------------

    async def receive(self) -> Message:
        message = await self.queue.get()
        if message["type"] == "websocket.receive":
            self.unread -= 1
            self._read_frames()  # the next message, if its frames are here
        return message

    async def send(self, message: Message) -> None:
        await self.writable.wait()
        layer = self.frames
        if (  # the usual message, checked first
            layer is not None
            and message["type"] == "websocket.send"
            and not (self.close_sent or self.disconnected)
        ):
            self._write(layer.send(_outgoing(message)))
            return
        if self.disconnected and self.frames is None and self.response is None:
            raise ClientDisconnected()
        kind = message["type"]
        if self.negotiator.state is State.DECIDING and self.response is None:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":  # before accepting: a 403 (as uvicorn does)
                self._refuse(self.negotiator.reject(403, "Forbidden"))
            elif kind == "websocket.http.response.start":
                headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", [])]
                self.response = (int(message["status"]), headers, bytearray())
            else:
                raise RuntimeError(f"unexpected ASGI message {kind!r} before the handshake")
        elif self.response is not None:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"expected 'websocket.http.response.body', got {kind!r}")
            self.response[2].extend(message.get("body", b""))
            if not message.get("more_body", False):
                self._deny()
        elif self.frames is not None and not self.close_sent:
            if self.disconnected:
                raise ClientDisconnected()
            if kind == "websocket.close":
                code, reason = message.get("code", 1000), message.get("reason") or ""
                self._close(code, reason)
            else:
                raise RuntimeError(f"unexpected ASGI message {kind!r}")
        elif self.disconnected or self.close_sent:
            raise ClientDisconnected()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    def _accept(self, message: Message) -> None:
        headers = [*self.default_headers, *message.get("headers", [])]
        extra = [(bytes(n).decode("latin-1"), bytes(v).decode("latin-1")) for n, v in headers]
        accepted: Accepted = self.negotiator.accept(
            message.get("subprotocol"),
            extra_headers=extra,
            deflate=self.config.ws_per_message_deflate,
        )
        self._cancel_timer("decision")
        self._write(accepted.response)
        self.frames = connection(accepted, max_message_size=self.config.ws_max_size)
        self._logged(101)
        self._keepalive()
        if self.early:  # bytes that came while the app decided (wsproto holds the head's)
            early, self.early = bytes(self.early), bytearray()
            self._frames_received(early)
        elif accepted.trailing_data:  # frames that came with the head
            self._read_frames()
        else:  # the usual: nothing yet; read on (unless the client does not read ours)
            self._flow()

    def _deny(self) -> None:
        """The app's own HTTP answer (the denial response extension)."""
        assert self.response is not None
        status, headers, body = self.response
        content_type = TEXT_PLAIN
        extra = []
        for name, value in headers:
            key = name.decode("latin-1").lower()
            if key == "content-type":
                content_type = value.decode("latin-1")
            elif key != "content-length":  # ours is counted
                extra.append((name.decode("latin-1"), value.decode("latin-1")))
        try:
            rejected = self.negotiator.reject(
                status,
                "denied by the application",
                extra,
                body=bytes(body),
                content_type=content_type,
            )
        except LocalProtocolError as error:
            self._refuse(self.negotiator.reject(500, "Internal Server Error"))
            raise RuntimeError(f"the denial response cannot be sent: {error}") from error
        self._refuse(rejected)

    # -- frames ----------------------------------------------------------------------

    def _frames_received(self, data: bytes) -> None:
        assert self.frames is not None
        if self.frames.state is ConnectionState.CLOSED:
            return
        self.frames.receive_data(data)
        self.partial = self.partial or bool(data)
        self._read_frames()

    def _read_frames(self) -> None:
        """Hand the frame layer's events on while nothing holds them (``_held``), then
        read on or pause reading. The frames that wait stay in wsproto's buffer as
        they came (deflated) until the hold is lifted: when the app receives, or the
        peer reads what we wrote."""
        layer = self.frames
        if layer is not None and layer.state is not ConnectionState.CLOSED:
            events = layer.events()
            while not (self.failed or self._held()) and (event := next(events, None)) is not None:
                self.partial = isinstance(event, frames.Message) and not event.frame_finished
                if not self.partial:
                    self._alive()  # a whole frame: bytes alone are no sign of life
                if isinstance(event, frames.CloseConnection):
                    self._close_received(event)
                elif layer.state is not ConnectionState.OPEN:
                    continue  # our Close is out: only the peer's matters now (RFC 6455 §5.5.1)
                elif isinstance(event, frames.Message):
                    self._message(event)
                elif (answer := required_reply(layer, event)) is not None:
                    self._write(layer.send(answer))  # a Ping's Pong
            self._frame_deadline(layer)
        self._flow()

    def _message(self, event: frames.Message[Any]) -> None:
        # --ws-max-size is the frame layer's: it fails a message with 1009 the moment it
        # would pass the limit, before inflating past it (a bomb never grows here).
        data = event.data
        whole = event.message_finished and not self.message  # one frame: the usual message
        self.message.append(data)
        if event.message_finished:
            key = "text" if isinstance(event, frames.TextMessage) else "bytes"
            if not whole:
                data = "".join(self.message) if key == "text" else b"".join(self.message)  # type: ignore[arg-type]
            self.message = []
            self.queue.put_nowait({"type": "websocket.receive", key: data})
            self.unread += 1  # the frames behind it wait until the app receives it

    def _close_received(self, event: frames.CloseConnection) -> None:
        """The peer's Close, answered with ours (RFC 6455 §5.5.1) unless ours went
        first; or, while open, the Close wsproto reports for bytes it could not parse
        (1002, 1007), which fails the connection."""
        assert self.frames is not None
        if self.frames.state is ConnectionState.OPEN:
            self._fail(event.code, event.reason or "")
            return
        answer = required_reply(self.frames, event)
        if answer is not None:
            self._write(self.frames.send(answer))
        self._disconnect(event.code, event.reason or "")
        self._end()

    def _close(self, code: int, reason: str) -> None:
        assert self.frames is not None
        self.close_sent = True
        self._disconnect(code, reason)
        self._write(self.frames.send(frames.CloseConnection(code=code, reason=reason)))
        self._cancel_timers()  # no keepalive, no frame deadline: the client's Close is due
        if self.transport.is_closing():
            return  # the connection is gone: no Close to wait for, no timer to hold us
        self._flow()  # read on, for the client's Close
        self.timers["close"] = self.loop.call_later(_CLOSE_TIMEOUT, self.transport.abort)

    def _fail(self, code: int, reason: str) -> None:
        """Fail the WebSocket connection (RFC 6455 §7.1.7): our Close, then nothing
        more of the peer's is processed. Our side of TCP ends behind the Close (the
        server closes first, §7.1.1), and the peer's bytes are read and discarded
        until it ends its side; over TLS, which cannot end one side, TCP closes."""
        assert self.frames is not None
        if self.frames.state is ConnectionState.OPEN:
            self._write(self.frames.send(frames.CloseConnection(code=code, reason=reason)))
        self.failed = self.close_sent = True
        self.message = []
        self._disconnect(code, reason)
        self._cancel_timers()
        if self.transport.is_closing():
            return
        if not self.transport.can_write_eof():
            self._end()
            return
        self.transport.write_eof()
        self._flow()  # read on, to see the peer's end
        self.timers["close"] = self.loop.call_later(_CLOSE_TIMEOUT, self.transport.abort)

    # -- keepalive -------------------------------------------------------------------

    def _keepalive(self) -> None:
        interval = self.config.ws_ping_interval
        if interval:
            self.timers["ping"] = self.loop.call_later(interval, self._ping)

    def _ping(self) -> None:
        if self.frames is None or self.frames.state is not ConnectionState.OPEN:
            return
        self._write(self.frames.send(frames.Ping(payload=os.urandom(4))))
        if self.config.ws_ping_timeout:  # the next Ping once this one is answered
            self.timers["pong"] = self.loop.call_later(self.config.ws_ping_timeout, self._silent)
        else:
            self._keepalive()

    def _alive(self) -> None:
        """A whole frame came: a Pong, or any other (a peer may send a Pong unasked,
        RFC 6455 §5.5.3, and cannot send one in the middle of a frame). Only that shows
        the peer is there, not a byte of a frame."""
        pong = self.timers.pop("pong", None)
        if pong is not None:
            pong.cancel()
            self._keepalive()

    def _silent(self) -> None:
        if self.frames is not None and self.frames.state is ConnectionState.OPEN:
            self._fail(CloseCode.CloseCodeBadOperation, "keepalive ping timeout")  # 1011

    def _frame_deadline(self, layer: Connection) -> None:
        """A frame the peer has begun is complete within ``--ws-ping-timeout``, or the
        connection fails with Close 1008 (the server's policy, RFC 6455 §7.4.1):
        otherwise a peer trickling the bytes of a frame would hold it for ever. Not
        counted while we hold its frames (``_held``)."""
        timeout = self.config.ws_ping_timeout
        begun = self.partial and not (self.failed or self._held())
        if not (begun and timeout and layer.state is ConnectionState.OPEN):
            self._cancel_timer("frame")
        elif "frame" not in self.timers:
            self.timers["frame"] = self.loop.call_later(timeout, self._frame_late, timeout)

    def _frame_late(self, timeout: float) -> None:
        self.timers.pop("frame", None)
        if self.frames is not None and self.frames.state is ConnectionState.OPEN:
            reason = f"frame incomplete after {timeout:g} s"
            self._fail(CloseCode.CloseCodePolicyViolated, reason)  # 1008

    # -- helpers -----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def _disconnect(self, code: int, reason: str) -> None:
        if not self.disconnected:
            self.disconnected = True
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
            self.writable.set()  # an app waiting to send learns it is gone

    def _end(self) -> None:
        """Close TCP behind what is written. A closing transport holds its socket until
        its buffer drains: a peer that never reads it is dropped at the close timeout."""
        self._cancel_timers()
        self.transport.close()
        if self.transport.get_write_buffer_size():
            self.timers["close"] = self.loop.call_later(_CLOSE_TIMEOUT, self.transport.abort)

    def _held(self) -> bool:
        """Whether the peer's frames wait: while the app decides (the bytes are kept
        for the frame layer), while a message waits for the app, and while the peer
        does not read what we write. Not once our Close is out: then the peer's Close,
        or its end of TCP, is awaited, and its messages are dropped."""
        if self.frames is None:
            return self.negotiator.state is State.DECIDING
        return not self.close_sent and (self.writing_paused or self.unread > 0)

    def _flow(self) -> None:
        """Reading paused while the peer's frames are held, resumed when not."""
        held = self._held()
        if held is not self.read_paused and not self.transport.is_closing():
            self.read_paused = held
            if held:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def _cancel_timer(self, name: str) -> None:
        timer = self.timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _cancel_timers(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()


class _Credential(str):
    """The credential of a subprotocol offer, for the app: a ``str`` whose ``repr``
    never shows it, so a scope printed in a log line (``--log-level trace`` prints
    each one) holds no secret."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<credential>"


def _outgoing(message: Message) -> frames.Event:
    """The frame event for a ``websocket.send`` message."""
    payload = message.get("bytes")
    if payload is None:
        return frames.TextMessage(data=message.get("text") or "")
    return frames.BytesMessage(data=payload)


def _as_received(head: bytes, version: bytes, trailing: bytes) -> bytes:
    """uvicorn's head with the request's own HTTP version, then the bytes that came
    after it: so the negotiator decides what the client sent (RFC 6455 §4.1 asks
    for HTTP/1.1), and the frame layer starts where the client's bytes do."""
    line_end = head.find(b"\r\n")
    if head[:line_end].endswith(b" HTTP/1.1"):
        head = head[: line_end - 3] + version + head[line_end:]
    return head + trailing


def _path_and_query(target: str) -> tuple[str, str]:
    """The path and query of a request-target, for the scope: origin-form's as they
    are; absolute-form's (RFC 9112 §3.2.2) those of its URI, an empty path being
    "/" (RFC 9110 §4.2.3)."""
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    uri = urlsplit(target)
    return uri.path or "/", uri.query
