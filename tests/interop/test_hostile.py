"""Hostile clients against `wsnegotiate serve` and against uvicorn on wsnegotiate's
protocol, each a real process on 127.0.0.1: half requests that stall, clients
that trickle, clients that leave mid-request, and a burst of handshakes. Every
scenario is bounded in count and time, and afterwards the server's open file
descriptors and asyncio tasks are back where they started. After the handshake,
against uvicorn (on asyncio's loop and on uvloop): an oversize message with more
frames behind it, bytes that cannot be parsed, a ping flood from a client that
reads nothing until it stalls, a client that stops reading (and uvicorn stopping
with one), and a frame trickled a byte at a time.

Figures (probe times, descriptor and task counts, memory) are printed; run with ``-s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from peers import handshake, stop

import wsnegotiate as ws

T = TypeVar("T")
SERVER = Path(__file__).with_name("hostile_server.py")
DEADLINE = 3.0  # the server's handshake deadline, in seconds
REQUEST = (  # a browser's request, to be sent in part
    b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
HALF = REQUEST[: len(REQUEST) // 2]


@dataclass
class Server:
    kind: str
    process: subprocess.Popen[bytes]
    port: int

    def line(self, timeout: float = 10) -> str:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout), "the server printed nothing"
        return self.process.stdout.readline().decode()

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def report(self) -> tuple[int, int]:
        """The server's asyncio tasks, and the connection transports it still holds."""
        self.process.send_signal(signal.SIGUSR1)
        words = self.line().split()
        assert words[0::2] == ["tasks", "transports"], words
        return int(words[1]), int(words[3])

    def tasks(self) -> int:
        return self.report()[0]

    def settled(self, fds: int, tasks: int, within: float = 10) -> tuple[int, int]:
        """Wait until the server holds no more descriptors and tasks than given."""
        end = time.monotonic() + within
        while (now := (self.fds(), self.tasks())) > (fds, tasks) and time.monotonic() < end:
            time.sleep(0.1)
        return now


def warm_up(server: Server) -> None:
    """One handshake before the tests count descriptors: libuv opens a spare one
    (/dev/null, for running out of descriptors) at a loop's first connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
        client.sendall(REQUEST)
        assert client.recv(12) == b"HTTP/1.1 101"
    end = time.monotonic() + 10
    while server.report()[1] and time.monotonic() < end:
        time.sleep(0.05)


@contextmanager
def running(kind: str, **settings: object) -> Iterator[Server]:
    """The server, started; ``settings`` are uvicorn's (``uvicorn.Config`` keywords)."""
    given = [f"{name}={json.dumps(value)}" for name, value in settings.items()]
    process = subprocess.Popen(
        [sys.executable, str(SERVER), kind, str(DEADLINE), *given],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        server = Server(kind, process, 0)
        words = server.line(30).split()
        assert words[0] == "listening", words
        server.port = int(words[1])
        warm_up(server)
        yield server
    finally:
        stop(process, signal.SIGINT, 15)
        assert process.stderr is not None and process.stdout is not None
        errors = process.stderr.read().decode()
        process.stderr.close()
        process.stdout.close()
        assert "Traceback" not in errors, errors


@pytest.fixture(scope="module", autouse=True)
def enough_descriptors() -> Iterator[None]:
    """500 held connections need more than a default 1,024-descriptor soft limit
    on both ends; the server process inherits the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(params=["serve", "serve-uvloop", "uvicorn"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with running(request.param) as started:
        yield started


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """A scenario on a fresh loop, bounded in time."""

    async def bounded() -> T:
        async with asyncio.timeout(60):
            return await scenario

    return asyncio.run(bounded())


async def probe(port: int) -> float:
    """One whole handshake; its duration in seconds."""
    started = time.perf_counter()
    event, _, writer = await handshake(ws.ClientNegotiator(f"127.0.0.1:{port}", "/echo"), port)
    elapsed = time.perf_counter() - started
    writer.close()
    assert isinstance(event, ws.Connected), event
    return elapsed


async def connect(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


def test_500_stalled_half_requests_do_not_slow_a_probe(server: Server) -> None:
    before = server.fds(), server.tasks()

    async def scenario() -> tuple[list[float], int]:
        stalled = [await connect(server.port, HALF) for _ in range(500)]
        await asyncio.sleep(0.2)
        held = server.fds()
        times = []
        for _ in range(10):  # a handshake every 0.2 s for 2 s, all 500 still held
            times.append(await probe(server.port))
            await asyncio.sleep(0.2)
        for _, writer in stalled:
            writer.close()
        return times, held

    times, held = run(scenario())
    print(f"\n{server.kind}: probe max {max(times) * 1000:.1f} ms, "
          f"fds {before[0]} -> {held} -> {server.settled(*before)}")  # fmt: skip
    assert held >= before[0] + 500  # the stalled clients were really held
    assert max(times) < 1.0
    assert server.settled(*before) == before


def test_100_tricklers_get_a_408_at_the_deadline() -> None:
    """One byte every 300 ms: the handshake deadline is total, not idle, so each
    trickler is answered 408 and closed about DEADLINE seconds after it came.
    (uvicorn reads the request head itself and has no deadline for it: README.)"""

    async def trickle(port: int) -> tuple[bytes, float]:
        started = time.monotonic()
        reader, writer = await connect(port, b"")
        answer = b""
        for byte in REQUEST:
            writer.write(bytes([byte]))
            try:
                answer = await asyncio.wait_for(reader.read(4096), 0.3)
            except TimeoutError:
                continue
            break
        answer += await reader.read()  # until the server closes
        writer.close()
        return answer, time.monotonic() - started

    with running("serve") as server:
        before = server.fds(), server.tasks()

        async def scenario() -> list[tuple[bytes, float]]:
            return await asyncio.gather(*(trickle(server.port) for _ in range(100)))

        results: list[tuple[bytes, float]] = run(scenario())
        after = server.settled(*before)
    durations = [elapsed for _, elapsed in results]
    print(f"\ntricklers closed after {min(durations):.2f}-{max(durations):.2f} s; {after=}")
    for answer, elapsed in results:
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
        assert answer.endswith(b"request head: incomplete after 3 s\n")
        assert DEADLINE <= elapsed < DEADLINE + 1.0
    assert after == before


def test_300_clients_that_leave_mid_request(server: Server) -> None:
    before = server.fds(), server.tasks()

    async def leave(index: int) -> None:
        _, writer = await connect(server.port, REQUEST[: 10 + index % 100])
        if index % 2:  # SO_LINGER 0: a reset instead of a FIN
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    async def scenario() -> float:
        await asyncio.gather(*(leave(i) for i in range(300)))
        return await probe(server.port)

    assert run(scenario()) < 1.0
    assert server.settled(*before) == before


def test_a_burst_of_2000_handshakes_at_concurrency_200(server: Server) -> None:
    before = server.fds(), server.tasks()

    async def scenario() -> list[float]:
        limit = asyncio.Semaphore(200)

        async def one() -> float:
            async with limit:
                return await probe(server.port)

        return await asyncio.gather(*(one() for _ in range(2000)))

    started = time.monotonic()
    times: list[float] = run(scenario())
    took = time.monotonic() - started
    times.sort()
    after = server.settled(*before)
    print(f"\n{server.kind}: 2000 handshakes in {took:.1f} s, "
          f"p50 {times[1000] * 1000:.1f} ms, p99 {times[1980] * 1000:.1f} ms; {after=}")  # fmt: skip
    assert len(times) == 2000
    assert after == before
    assert server.report()[1] == 0  # no transport held after its client left (a timer once did)


# -- after the handshake: floods and stuck clients (uvicorn) -----------------------

MiB = 1 << 20


def memory(pid: int) -> tuple[int, int]:
    """A process's resident memory now and at its peak (VmRSS, VmHWM), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A client's frame (RFC 6455 §5.2), masked with the key 0: any key is valid
    (§5.3), and that one leaves the payload as it is."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    size = len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 1 << 16:
        length = bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + size.to_bytes(8, "big")
    return bytes([first]) + length + bytes(4) + payload


def deflated(data: bytes) -> bytes:
    """A message's payload under permessage-deflate (RFC 7692 §7.2.1): deflated and
    flushed, less the 00 00 ff ff that ends the flush."""
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """The server's frames in ``data`` (unmasked, RFC 6455 §5.1): opcode and payload,
    up to the first incomplete one."""
    found, at = [], 0
    while len(data) >= at + 2:
        size, start = data[at + 1] & 0x7F, at + 2
        if size >= 126:
            width = 2 if size == 126 else 8
            size, start = int.from_bytes(data[start : start + width], "big"), start + width
        if len(data) < start + size:
            break
        found.append((data[at] & 0x0F, data[start : start + size]))
        at = start + size
    return found


def opened(
    port: int, path: str = "/echo", *, deflate: bool = False, buffers: int = 0
) -> tuple[socket.socket, bytes]:
    """A socket past the 101, and the response head; ``buffers``: the socket's send
    and receive buffer sizes, small to make the server wait sooner."""
    request = REQUEST.replace(b"/echo", path.encode())
    if deflate:
        request = request[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    sock = socket.socket()
    if buffers:  # before connecting, so the window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffers)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffers)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head and (chunk := sock.recv(1)):
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock, head


def until_closed(sock: socket.socket, within: float) -> bytes:
    """What the server sends until it closes TCP, or until ``within`` seconds passed."""
    received, end = b"", time.monotonic() + within
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while (left := end - time.monotonic()) > 0:
            sock.settimeout(left)
            if not (chunk := sock.recv(65536)):
                break
            received += chunk
    return received


def flood(sock: socket.socket, block: bytes, seconds: float, most: int) -> tuple[int, bool]:
    """Send ``block`` (whole frames) over and over without reading, for at most
    ``seconds`` and ``most`` bytes. The bytes sent, and whether the server stopped
    taking them (nothing for a second)."""
    sock.setblocking(False)
    view, offset, sent, end = memoryview(block), 0, 0, time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_WRITE)
        while sent < most and time.monotonic() < end:
            if not selector.select(1.0):
                return sent, True
            taken = sock.send(view[offset:])
            offset, sent = (offset + taken) % len(block), sent + taken
    return sent, False


UVICORN = ["uvicorn", "uvicorn-uvloop"]  # on asyncio's loop, and on uvicorn's default
CLOSE_1009 = struct.pack("!H", 1009) + b"message larger than 1024 bytes"


@pytest.mark.parametrize("kind", UVICORN)
@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_an_oversize_message_then_more_frames_get_one_close_1009(kind: str, deflate: bool) -> None:
    """Past ``--ws-max-size`` the connection fails with Close 1009 (RFC 6455 §7.4.1),
    and nothing more of the client's is processed (§7.1.7): the frames behind it get
    no second Close, uvicorn logs no traceback (``running`` reads its stderr), and
    TCP ends."""
    with running(kind, ws_max_size=1024) as server:
        sock, head = opened(server.port, deflate=deflate)
        with sock:
            for payload in (bytes(2000), bytes(10), bytes(2000)):
                sock.sendall(frame(0x2, deflated(payload) if deflate else payload, rsv1=deflate))
                time.sleep(0.1)  # each frame a read of its own
            received = until_closed(sock, 5)
    assert (b"permessage-deflate" in head) is deflate
    assert server_frames(received) == [(0x8, CLOSE_1009)]


PINGS = [i.to_bytes(4, "big") + b"p" * 121 for i in range(8192)]  # 131 bytes a frame
FLOOD = b"".join(frame(0x9, ping) for ping in PINGS)


@pytest.mark.parametrize("kind", UVICORN)
def test_a_ping_flood_from_a_client_that_does_not_read(kind: str) -> None:
    """Each Ping's Pong goes into the write buffer (RFC 6455 §5.5.2); once it is past
    its high-water mark, uvicorn reads no more from that client until it drains, so
    the flood stops in the kernel's buffers and uvicorn's memory stays put (it grew
    as fast as uvicorn could answer: 31 to 302 MB in 15 s). When the client reads at
    last, reading resumes where it paused: every Ping gets its Pong, in order."""
    with running(kind) as server:
        pid, before = server.process.pid, memory(server.process.pid)[0]
        sock, _ = opened(server.port, buffers=4096)
        with sock:
            sent, stalled = flood(sock, FLOOD, 8, 512 * MiB)
            peak = memory(pid)[1]
            count, at = -(-sent // 131), sent % len(FLOOD)  # the last Ping may be cut short
            sock.settimeout(10)
            rest = threading.Thread(target=sock.sendall, args=(FLOOD[at : at + -sent % 131],))
            rest.start()
            received, end = b"", time.monotonic() + 30
            while len(received) < 127 * count and time.monotonic() < end:
                received += sock.recv(65536)
            rest.join(10)
        print(f"\nping flood: {sent / MiB:.0f} MiB sent, stalled {stalled}, "
              f"RSS {before / MiB:.0f} MiB, peak {peak / MiB:.0f} MiB")  # fmt: skip
        assert stalled  # uvicorn stopped reading: the rest waits in the kernel's buffers
        assert peak - before < 16 * MiB
        assert server_frames(received) == [(0xA, PINGS[i % len(PINGS)]) for i in range(count)]
        assert run(probe(server.port)) < 1.0


@pytest.mark.parametrize("kind", UVICORN)
def test_bytes_that_cannot_be_parsed_fail_the_connection_once(kind: str) -> None:
    """An unmasked frame from a client (RFC 6455 §5.1) gets Close 1002 and fails the
    connection: the Ping behind it gets no Pong, and TCP ends."""
    with running(kind) as server:
        sock, _ = opened(server.port)
        with sock:
            sock.sendall(b"\x81\x02hi")  # FIN, text, no mask bit
            time.sleep(0.1)
            sock.sendall(frame(0x9, b"still there?"))
            received = until_closed(sock, 5)
    assert [opcode for opcode, _ in server_frames(received)] == [0x8]
    assert received[2:4] == struct.pack("!H", 1002)


@pytest.mark.parametrize("kind", UVICORN)
@pytest.mark.heavy
def test_a_client_that_stops_reading_is_dropped_at_the_close_timeout(kind: str) -> None:
    """The app sends to a client that reads nothing: the keepalive Ping gets no Pong,
    Close 1011 waits behind a write buffer that never drains, and at the close timeout
    (10 s, uvicorn's own) the connection is dropped, not held for ever."""
    settings = {"app": "asgi_apps:app", "ws_ping_interval": 0.5, "ws_ping_timeout": 0.5}
    with running(kind, **settings) as server:
        before = server.fds(), server.tasks()
        sock, _ = opened(server.port, "/flood")
        with sock:
            started = time.monotonic()
            held = server.fds()
            after = server.settled(*before, within=16)
            took = time.monotonic() - started
    print(f"\nnever reading: fds {before[0]} -> {held} -> {after[0]} after {took:.1f} s")
    assert held == before[0] + 1
    assert after == before


@pytest.mark.heavy
def test_shutdown_drops_a_client_that_stops_reading_at_the_close_timeout() -> None:
    """uvicorn stops (SIGINT) while its app sends to a client that reads nothing: the
    Close 1012 waits behind a write buffer that never drains, and TCP is dropped at the
    close timeout, so uvicorn exits instead of waiting for ever. (Keepalive at its
    default, 20 s, does not come into it.)"""
    with running("uvicorn-uvloop", app="asgi_apps:app") as server:
        sock, _ = opened(server.port, "/flood", buffers=4096)
        with sock:
            time.sleep(0.5)  # the app fills the buffers
            started = time.monotonic()
            server.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(15)
            took = time.monotonic() - started
    print(f"\nshutdown with a client that never reads: exited after {took:.1f} s")
    assert server.process.returncode is not None
    assert took < 12


@pytest.mark.parametrize("kind", UVICORN)
def test_a_frame_trickled_a_byte_at_a_time_fails_at_the_deadline(kind: str) -> None:
    """Bytes that do not complete a frame are no sign of life: a frame still incomplete
    ``--ws-ping-timeout`` (here 1 s) after it began fails the connection with Close
    1008 (a policy of this server's, RFC 6455 §7.4.1), where one byte every 0.5 s
    used to hold it for ever."""
    with running(kind, ws_ping_interval=1, ws_ping_timeout=1) as server:
        sock, _ = opened(server.port)
        with sock:
            sock.settimeout(0.5)
            received, started = b"", time.monotonic()
            for byte in frame(0x1, b"x" * 100):  # one a 0.5 s: 53 s, cut at 8 s
                if time.monotonic() - started > 8 or 0x8 in dict(server_frames(received)):
                    break
                sock.send(bytes([byte]))
                with contextlib.suppress(TimeoutError):
                    received += sock.recv(4096)
            took = time.monotonic() - started
            received += until_closed(sock, 5)
    closes = [payload for opcode, payload in server_frames(received) if opcode == 0x8]
    print(f"\ntrickled frame: closed after {took:.1f} s")
    assert took < 4  # the 1 s deadline; it was held past 8 s
    assert closes == [struct.pack("!H", 1008) + b"frame incomplete after 1 s"]
