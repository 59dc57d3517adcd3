"""Hostile peers after the handshake, against `wsnegotiate serve` as a real process
on 127.0.0.1: decompression bombs, a frame trickled a byte at a time, and Pings
from a client that never reads. Each is bounded in bytes and time; the server's
CPU time and memory are read from /proc while it runs."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from test_bounds import MiB, bomb_in_fragments, bomb_in_one_frame, frame_head
from test_serve import LOOPS, serve

BOMBS = {"one frame": bomb_in_one_frame, "1,024 fragments": bomb_in_fragments}
DEFLATE_REQUEST = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kib(pid: int, key: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def switched(port: int, request: bytes = DEFLATE_REQUEST) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    assert b"permessage-deflate" in head or request is not DEFLATE_REQUEST, head
    return sock


def first_close(data: bytes) -> int | None:
    """The code of the first complete Close frame in ``data``, the server's frames
    (unmasked) one after another; None when there is none yet."""
    while len(data) >= 2:
        length, start = data[1] & 0x7F, 2
        if length == 126:
            length, start = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            length, start = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < start + length:
            return None
        if data[0] & 0x0F == 0x8:
            return int(struct.unpack("!H", data[start : start + 2])[0])
        data = data[start + length :]
    return None


def close_code(sock: socket.socket, within: float) -> int | None:
    """The code of the first Close frame the server sends within ``within`` seconds
    (None: TCP ended or time ran out without one). Other frames are skipped."""
    deadline = time.monotonic() + within
    data = b""
    while (code := first_close(data)) is None and time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return None
        if not chunk:
            return None
        data += chunk
    return code


def send_bomb(sock: socket.socket, writes: Iterator[bytes]) -> None:
    """Send the bomb until it is all out or the server stops reading it (it has
    failed the connection and closed TCP)."""
    sock.settimeout(5)
    try:
        for data in writes:
            sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_decompression_bomb_ends_in_1009(loop: str, bomb: str) -> None:
    """1 GiB of zeros in about 1 MB of deflate, against serve's defaults: Close 1009
    within a second, at most 2 s of CPU and +64 MB of peak memory, no traceback."""
    with serve(loop=loop) as (process, port):
        cpu, peak = cpu_seconds(process.pid), memory_kib(process.pid, "VmHWM")
        with switched(port) as sock:
            started = time.monotonic()
            send_bomb(sock, BOMBS[bomb](masked=True))
            code = close_code(sock, within=5)
            seconds = time.monotonic() - started
        used = cpu_seconds(process.pid) - cpu
        grown = memory_kib(process.pid, "VmHWM") - peak
    print(f"{bomb} on {loop}: {seconds:.2f} s, CPU {used:.2f} s, peak +{grown} KiB")
    assert code == 1009
    assert seconds < 1.0
    assert used <= 2.0
    assert grown <= 64 * 1024
    assert process.stderr is not None  # closed by serve(): read nothing more
    assert process.returncode == 0


def test_ten_bombs_in_a_row_leave_memory_where_it_was() -> None:
    with serve() as (process, port):
        with switched(port) as sock:  # one first: the loop's and zlib's own allocations
            send_bomb(sock, bomb_in_one_frame(masked=True))
            assert close_code(sock, within=5) == 1009
        before = memory_kib(process.pid, "VmRSS")
        for _ in range(10):
            with switched(port) as sock:
                send_bomb(sock, bomb_in_fragments(masked=True))
                assert close_code(sock, within=5) == 1009
        after = memory_kib(process.pid, "VmRSS")
    print(f"RSS before {before} KiB, after ten bombs {after} KiB")
    assert after - before <= 8 * 1024


def test_a_frame_trickled_a_byte_at_a_time_is_closed_at_the_ping_timeout() -> None:
    """Bytes of a frame that never completes are no sign of life: the peer cannot
    answer a Ping from inside a frame, so it gets 1011 when the Ping times out."""
    request = DEFLATE_REQUEST.replace(b"Sec-WebSocket-Extensions", b"X-Not-Offered")
    options = ("--ping-interval", "1", "--ping-timeout", "1")
    with serve(*options) as (_, port), switched(port, request) as sock:
        sock.sendall(frame_head(0x1, 100, fin=True, rsv1=False, masked=True))
        sock.setblocking(False)
        started, received, code = time.monotonic(), b"", None
        for _ in range(99):  # 99 of the 100 bytes, 0.1 s apart: 10 s at the most
            try:
                sock.sendall(b"x")
            except OSError:  # closed by the server
                break
            time.sleep(0.1)
            with contextlib.suppress(BlockingIOError):
                received += sock.recv(65536)  # the echo of each byte, its Ping...
            if (code := first_close(received)) is not None:
                break
        seconds = time.monotonic() - started
    assert code == 1011
    assert seconds < 4.0  # a ping after 1 s without a complete frame, its timeout 1 s later


def test_pings_from_a_client_that_never_reads_do_not_grow_the_server() -> None:
    """Each Ping is answered with a Pong; a client that never reads them fills the
    socket buffers, and then the server stops reading it instead of queueing."""
    ping = frame_head(0x9, 125, fin=True, rsv1=False, masked=True) + b"p" * 125
    with serve() as (process, port), switched(port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        before = memory_kib(process.pid, "VmRSS")
        sock.settimeout(0.5)
        sent, end = 0, time.monotonic() + 5
        try:
            while sent < 256 * MiB and time.monotonic() < end:
                sent += sock.send(ping * 64)
        except TimeoutError:
            pass  # the server stopped reading: the point
        grown = memory_kib(process.pid, "VmRSS") - before
    print(f"sent {sent} bytes of Pings; server RSS +{grown} KiB")
    assert grown <= 32 * 1024
