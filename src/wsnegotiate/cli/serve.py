"""``wsnegotiate serve``: an asyncio echo server on the negotiator, with wsproto
for the frames after the handshake and h2 for HTTP/2 (``pip install
wsnegotiate[serve]``; with ``wsnegotiate[uvloop]`` it runs on uvloop).

HTTP/1.1 and HTTP/2 on one port: with ``--certfile`` (TLS), ALPN offers ``h2``
and ``http/1.1``; on a plain port, a connection whose first read starts as
HTTP/2's preface is HTTP/2 with prior knowledge (RFC 9113 §3.4), any other
HTTP/1.1. On HTTP/2 each WebSocket is an extended CONNECT on a stream of its own
(RFC 8441), many on one connection (``_echo_h2.py``), with the limits below per
stream.

Text and binary messages come back as they were sent (fragments too), pings get
their pongs, a Close is answered with the same code, and on SIGINT or SIGTERM
every open connection is closed with 1001 (going away) before the process exits.

No connection is held for good: the handshake has a total deadline (408); an
open connection that goes quiet is pinged every ``ping_interval`` seconds and
closed (1011) when ``ping_timeout`` passes without a word back; after our Close
1001 or 1011, TCP is closed once the peer's Close arrives or ``close_timeout``
passes, and at once after a Close that fails the connection (a frame that broke the
protocol, 1002 or 1007; a message past ``--max-message-size``, 1009; RFC 6455
§7.1.7). A message is bounded after inflation, so a decompression bomb costs
what the limit allows, not what it inflates to. Each connection is an
``asyncio.Protocol`` (``_echo.py``): no task and no stream per connection.

The number of open connections is capped (by default a little below the process's
file-descriptor limit). At the cap, or when the system runs out of descriptors,
the server stops accepting until a connection closes or a moment has passed; the
kernel's backlog holds the waiting clients. Either is logged once per
``_QUIET`` seconds, not once per attempt.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import enum
import functools
import logging
import resource
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable

from .._policy import Policy
from ._echo import EchoProtocol, Served, ServeOptions
from ._echo_h2 import AlpnProtocol

__all__ = [
    "ServeOptions",
    "default_max_connections",
    "echo_server",
    "event_loop",
    "run",
    "tls_context",
]

log = logging.getLogger("wsnegotiate.serve")

_QUIET = 10.0  # seconds between two log lines about the same condition
_RESERVED_FDS = 32  # descriptors kept for the listener, stdio, the event loop, logs
_STOP_GRACE = 1.0  # seconds the peers have to answer our 1001 when the server stops
_RETRY = 0.1  # seconds before accepting again after running out of descriptors
_ACCEPT_BATCH = 64  # connections accepted in one go, before the loop serves the others
_DEFAULT_OPTIONS = ServeOptions()


def tls_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """The server's TLS: the certificate chain (and its key, unless the key is in
    ``certfile``), ALPN ``h2`` then ``http/1.1``, and what RFC 9113 §9.2 asks of
    HTTP/2's TLS: version 1.2 or later, and on 1.2 only ephemeral key exchange with
    an AEAD cipher (none of its Appendix A list). Raises ``OSError`` (an
    ``ssl.SSLError`` too) when the files cannot be read or do not match."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")  # TLS 1.2; 1.3's are all AEAD
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION  # §9.2.1
    context.load_cert_chain(certfile, keyfile)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def default_max_connections() -> int:
    """The soft file-descriptor limit less a reserve: one descriptor a connection."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 1 << 20 if soft == resource.RLIM_INFINITY else soft
    return max(1, limit - _RESERVED_FDS)


class _Throttled:
    """Log a condition at most once per ``_QUIET`` seconds, counting the rest."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -_QUIET) < _QUIET:
            self._held[key] = self._held.get(key, 0) + 1
            return
        held = self._held.pop(key, 0)
        log.warning("%s%s", message, f" ({held} more times since the last report)" if held else "")
        self._last[key] = now


class _State(enum.Enum):
    """Whether the acceptor reads the listening socket, and if not, why."""

    ACCEPTING = "accepting"
    AT_CAP = "at the cap: until a connection closes"
    OUT_OF_FDS = "out of descriptors: for a moment"
    STOPPED = "stopped, or not started"


class _Accepted(socket.socket):
    """An accepted connection's socket whose ``family`` and ``type`` are the plain
    ints of ``_socket``, not ``socket``'s enum members: ``socket.accept()`` and the
    loops' ``connect_accepted_socket`` read them several times a connection, each a
    call into ``enum``. Made by ``_Acceptor._accept`` as ``socket.accept()`` makes
    its socket, from the descriptor of ``_socket.socket._accept()``. Under
    callgrind (the server's user-space instructions, 2,000 handshakes of
    ``benchmarks.e2e``) this is 33k fewer a handshake on either loop: 606k to 573k
    on uvloop, 792k to 760k on asyncio's; in ``benchmarks.e2e``'s CPU time, medians
    of 9 interleaved trials, 121 to 114 µs on uvloop and 155 to 146 µs on asyncio's."""

    __slots__ = ()
    family = _socket.socket.family  # type: ignore[assignment]
    type = _socket.socket.type  # type: ignore[assignment]


class _Acceptor:
    """Takes connections off the listening socket and makes each an ``EchoProtocol``
    (with TLS, an ``AlpnProtocol``, which becomes one or an ``H2EchoProtocol``).

    A reader callback on the listener accepts what is waiting, a batch at a time,
    and hands each socket to ``loop.connect_accepted_socket``. At the cap, or out
    of descriptors, it stops reading the listener (the kernel's backlog holds the
    clients) until a connection closes, or for ``_RETRY`` seconds.

    Why not ``loop.create_server``: it has no pause (at the cap the server would
    be closed and made again), asyncio's accepts a whole batch before it makes
    any protocol, and neither keeps the contract when descriptors run out. Under
    RLIMIT_NOFILE 64 and a flood of 300 clients, asyncio's logged a traceback
    for each failed accept (161 in 3 s; 346 in 4 s with 150 clients);
    uvloop's (libuv's) accepted the waiting clients and closed them at once,
    without a word. Measured with ``benchmarks/e2e.py``, this callback costs
    about 4 µs of CPU a handshake more than ``create_server`` on uvloop (100 µs
    against 104 µs, medians of 9 interleaved trials; callgrind: 526k against 569k
    instructions, and uv_tcp_open's getsockname and FIONBIO), and nothing on
    asyncio's (763k against 749k); and 15-25 µs less than a task awaiting
    ``loop.sock_accept`` (which adds and removes a reader whenever no client is
    waiting, and wakes once per connection).

    Nor ``create_server`` while there is room and this reader near the cap (its
    saving is the figure above; not built): the protocol factory cannot refuse a
    connection, and closing the server inside it closes the socket being
    accepted, so a switch would have to come a whole accept burst (libuv's loop
    runs to EAGAIN in the versions that do not accept one at a time) below the
    cap; and libuv meets EMFILE and ENFILE by accepting and closing every waiting
    client (its "emfile trick", seen above) before Python hears of it. A count can
    keep EMFILE away, not ENFILE (the system's table), so the contract would not
    hold. For 4 µs on uvloop and nothing on asyncio's, not kept.

    Nor one task adopting a whole accept batch, one socket after the other
    (tried): 21-33k fewer instructions, but each socket waits a loop iteration for
    the one before it, and the extra iterations (epoll_wait) made it 5-9 µs
    slower in ``benchmarks/e2e.py``.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: socket.socket,
        limit: int,
        make: Callable[[set[Served], Callable[[], None]], asyncio.Protocol],
        tls: ssl.SSLContext | None = None,
        tls_timeout: float | None = None,
    ) -> None:
        self._loop, self._listener, self._limit = loop, listener, limit
        self._tls, self._tls_timeout = tls, tls_timeout
        self.connections: set[Served] = set()  # each joins when made, leaves when lost
        # A partial of a partial is one partial: the loop calls EchoProtocol directly
        # (callgrind: 2k fewer instructions a handshake on uvloop, none on asyncio's).
        self._protocol = functools.partial(make, self.connections, self.room)
        # What socket.accept() does, without its enum lookups (see _Accepted).
        self._accept_fd: Callable[[], tuple[int, object]] = listener._accept  # type: ignore[attr-defined]
        # The accepted sockets say IPPROTO_TCP, which they are (the listener was made
        # with protocol 0, "the default"): asyncio's transport sets TCP_NODELAY only
        # on a socket that says so, and without it a handshake's answer waits for the
        # client's delayed ACK (Nagle's algorithm). uvloop sets it on every TCP socket.
        self._kind = (int(listener.family), int(socket.SOCK_STREAM), int(socket.IPPROTO_TCP))
        # accepted, protocol not made yet: each task by its socket, which the task
        # knows (asyncio.current_task() would cost a getpid() a connection on 3.11)
        self._adopting: dict[socket.socket, asyncio.Task[None]] = {}
        self._state = _State.STOPPED  # until start()
        self._throttled = _Throttled()
        self._drained = asyncio.Event()

    def start(self) -> None:
        self._resume()

    def room(self) -> None:
        """A connection is gone (``EchoProtocol`` calls it): accept again if the cap
        held us."""
        if self._state is _State.AT_CAP:
            self._resume()
        elif self._state is _State.STOPPED and not self.connections:
            self._drained.set()

    def _resume(self) -> None:
        self._state = _State.ACCEPTING
        self._loop.add_reader(self._listener.fileno(), self._accept)

    def _pause(self, state: _State) -> None:
        if self._state is _State.ACCEPTING:
            self._loop.remove_reader(self._listener.fileno())
        self._state = state

    def _accept(self) -> None:
        for _ in range(_ACCEPT_BATCH):  # then the loop serves the open connections
            if len(self.connections) + len(self._adopting) >= self._limit:
                self._pause(_State.AT_CAP)
                self._throttled.warning(
                    "cap",
                    f"{self._limit} connections open (the cap): not accepting until one closes",
                )
                return
            try:
                fd, _ = self._accept_fd()
            except BlockingIOError:
                return  # no one else is waiting
            except ConnectionAbortedError:
                continue  # the client left while it waited
            except OSError as error:  # EMFILE, ENFILE, ENOBUFS, ENOMEM: let the backlog wait
                self._pause(_State.OUT_OF_FDS)
                open_now = len(self.connections) + len(self._adopting)
                self._throttled.warning(
                    "fds", f"cannot accept: {error.strerror}; {open_now} connections open"
                )
                self._loop.call_later(_RETRY, self._retry)
                return
            sock = _Accepted(*self._kind, fd)
            self._adopting[sock] = self._loop.create_task(self._adopt(sock))

    def _retry(self) -> None:
        if self._state is _State.OUT_OF_FDS:
            self._resume()

    async def _adopt(self, sock: socket.socket) -> None:
        # The task's own bookkeeping, at its end rather than in a done callback (one
        # callback less to schedule and run a connection): callgrind, 2,000
        # handshakes, 10k fewer instructions a handshake on asyncio's loop (759k to
        # 749k), 2k on uvloop.
        try:
            if self._tls is None:
                await self._loop.connect_accepted_socket(self._protocol, sock)
            else:  # the TLS handshake has --handshake-timeout of its own
                await self._loop.connect_accepted_socket(
                    self._protocol, sock, ssl=self._tls, ssl_handshake_timeout=self._tls_timeout
                )
        except OSError:  # the client left before its transport was made, or TLS failed
            sock.close()
        finally:
            del self._adopting[sock]
            self.room()

    async def stop(self) -> None:
        """Accept no more; Close 1001 to every open connection; wait a moment for
        the clients' Close frames, then drop what is left."""
        self._pause(_State.STOPPED)
        if self._adopting:  # their protocols are about to be made: close them too
            await asyncio.wait(list(self._adopting.values()), timeout=_STOP_GRACE)
        for each in list(self.connections):
            each.going_away()
        self._drained.clear()  # room() sets it once the last connection is lost
        if self.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), _STOP_GRACE)
        for each in list(self.connections):
            each.abort()
        await asyncio.sleep(0)  # the aborted connections are lost


async def echo_server(
    host: str,
    port: int,
    policy: Policy,
    options: ServeOptions = _DEFAULT_OPTIONS,
    *,
    ready: Callable[[str, int], None] = lambda host, port: None,
    stop: asyncio.Event | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Serve until ``stop`` is set, then close every connection with 1001 (on
    HTTP/2, every WebSocket, then GOAWAY). ``tls``: a context from
    ``tls_context()``."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    limit = options.max_connections or default_max_connections()

    protocol: Callable[[set[Served], Callable[[], None]], asyncio.Protocol]
    if tls is None:
        protocol = functools.partial(EchoProtocol, policy, options, loop)
    else:  # the protocol is chosen by ALPN once the TLS handshake is done
        protocol = functools.partial(AlpnProtocol, policy, options, loop)
    with socket.create_server((host, port), backlog=min(limit, 1024)) as listener:
        listener.setblocking(False)
        bound_host, bound_port = listener.getsockname()[:2]
        acceptor = _Acceptor(loop, listener, limit, protocol, tls, options.handshake_timeout)
        acceptor.start()
        ready(bound_host, bound_port)
        try:
            await stop.wait()
        finally:
            await acceptor.stop()


def event_loop(choice: str) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop ``serve`` runs on, by name, and its factory: ``auto`` is uvloop
    when it is installed, else asyncio's own. uvloop is imported only here;
    ``ImportError`` when ``uvloop`` is asked for and not installed."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", asyncio.new_event_loop


def run(
    host: str,
    port: int,
    policy: Policy,
    options: ServeOptions,
    loop: str = "auto",
    tls: ssl.SSLContext | None = None,
) -> int:
    """The CLI entry: print where it listens and on which loop, stop cleanly on
    SIGINT or SIGTERM."""
    try:
        name, new_loop = event_loop(loop)
    except ImportError:
        print(
            "wsnegotiate serve: --loop uvloop: uvloop is not installed "
            "(pip install 'wsnegotiate[uvloop]')",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(format="wsnegotiate serve: %(message)s", level=logging.INFO)

    listening = False

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(signum, stop.set)

        def ready(bound_host: str, bound_port: int) -> None:
            nonlocal listening
            listening = True
            scheme = "ws" if tls is None else "wss"
            print(f"listening on {scheme}://{bound_host}:{bound_port}/", flush=True)
            print(f"event loop: {name}", flush=True)

        await echo_server(host, port, policy, options, ready=ready, stop=stop, tls=tls)

    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(main())
    except OSError as exc:  # the address is in use, or the host does not resolve
        if listening:  # pragma: no cover - not the address's fault: a real error
            raise
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # socket.create_server raises a new error that appends the address to the
        # cause; the error it caught is the cause alone.
        original = exc.__context__ if isinstance(exc.__context__, OSError) else exc
        cause = original.strerror or str(original)
        print(f"wsnegotiate serve: cannot listen on {address}: {cause}", file=sys.stderr)
        return 2
    print("stopped", flush=True)
    return 0
