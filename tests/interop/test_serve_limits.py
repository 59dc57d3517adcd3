"""`wsnegotiate serve` lets go of every connection in time, and a flood of
connections under a low file-descriptor limit costs bounded log lines and idle CPU.

Keepalive: an open connection that goes quiet is pinged, then closed with 1011,
then TCP closes. A frame that breaks the protocol gets Close 1002, and TCP closes
at once, whether a Close comes back or not. A client that answers pings stays
connected."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import pytest
import websockets
import wsproto.events as frames
from test_serve import LOOPS, SharedServers, serve
from wsproto.connection import Connection, ConnectionType

import wsnegotiate as ws

FAST = ("--ping-interval", "0.3", "--ping-timeout", "0.3", "--close-timeout", "0.3")


def cpu_seconds(pid: int) -> float:
    """The process's user and system CPU time so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def handshake(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = ws.ClientNegotiator(f"127.0.0.1:{port}", "/")
    writer.write(client.data_to_send())
    while isinstance(event := client.next_event(), ws.NeedData):
        client.receive_data(await asyncio.wait_for(reader.read(4096), 10))
    assert isinstance(event, ws.Connected), event
    return reader, writer, event.trailing_data


async def frames_until_eof(reader: asyncio.StreamReader, trailing: bytes) -> list[frames.Event]:
    """Everything the server sends, as frames, until it closes TCP; never answers."""
    connection = Connection(ConnectionType.CLIENT, trailing_data=trailing)
    seen: list[frames.Event] = []
    while data := await asyncio.wait_for(reader.read(4096), 10):
        connection.receive_data(data)
        seen += connection.events()
    return seen


@pytest.mark.parametrize("loop", LOOPS)
def test_a_quiet_connection_is_pinged_then_closed(loop: str, shared: SharedServers) -> None:
    async def scenario(port: int) -> tuple[list[frames.Event], float]:
        reader, writer, trailing = await handshake(port)
        started = time.monotonic()
        seen = await frames_until_eof(reader, trailing)
        writer.close()
        return seen, time.monotonic() - started

    port = shared.port(*FAST, loop=loop)
    seen, took = asyncio.run(scenario(port))
    assert [type(event) for event in seen] == [frames.Ping, frames.CloseConnection]
    assert isinstance(seen[1], frames.CloseConnection)
    assert (seen[1].code, seen[1].reason) == (1011, "ping timeout")
    assert 0.8 < took < 5  # ping at 0.3 s, Close at 0.6 s, TCP closed at 0.9 s


def test_fifty_idle_connections_are_all_let_go() -> None:
    async def scenario(port: int) -> list[list[frames.Event]]:
        connections = await asyncio.gather(*(handshake(port) for _ in range(50)))
        seen = await asyncio.gather(*(frames_until_eof(r, t) for r, _, t in connections))
        for _, writer, _ in connections:
            writer.close()
        return list(seen)

    with serve(*FAST) as (process, port):
        seen = asyncio.run(asyncio.wait_for(scenario(port), 30))
        open_fds = len(os.listdir(f"/proc/{process.pid}/fd"))
    assert len(seen) == 50
    assert all(isinstance(events[-1], frames.CloseConnection) for events in seen)
    assert open_fds < 20  # every connection's socket is closed


@pytest.mark.parametrize("loop", LOOPS)
def test_a_protocol_error_closes_tcp_when_no_close_comes_back(
    loop: str, shared: SharedServers
) -> None:
    async def scenario(port: int) -> list[frames.Event]:
        reader, writer, trailing = await handshake(port)
        writer.write(b"\x81\x05hello")  # unmasked: a client MUST mask (RFC 6455 §5.1)
        seen = await frames_until_eof(reader, trailing)
        writer.close()
        return seen

    port = shared.port(*FAST, loop=loop)
    seen = asyncio.run(scenario(port))
    assert len(seen) == 1 and isinstance(seen[0], frames.CloseConnection)
    assert seen[0].code == 1002


@pytest.mark.parametrize("loop", LOOPS)
def test_a_client_that_answers_pings_stays(loop: str, shared: SharedServers) -> None:
    async def scenario(port: int) -> str:
        async with websockets.connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as client:
            await asyncio.sleep(1.5)  # five ping intervals; websockets answers each ping
            await client.send("still here")
            return str(await client.recv())

    port = shared.port(*FAST, loop=loop)
    assert asyncio.run(scenario(port)) == "still here"


@pytest.mark.parametrize("loop", LOOPS)
def test_keepalive_starts_after_the_handshake_deadline_passed(loop: str) -> None:
    """The handshake deadline (0.4 s) passes on an open connection first: that is
    not a ping; the ping comes after 0.8 s of quiet, the Close 0.4 s later."""

    async def scenario(port: int) -> list[tuple[type[frames.Event], float]]:
        reader, writer, trailing = await handshake(port)
        started = time.monotonic()
        connection = Connection(ConnectionType.CLIENT, trailing_data=trailing)
        seen = []
        while data := await asyncio.wait_for(reader.read(4096), 10):
            connection.receive_data(data)
            seen += [(type(event), time.monotonic() - started) for event in connection.events()]
        writer.close()
        return seen

    timeouts = ("--handshake-timeout", "0.4", "--ping-interval", "0.8", "--ping-timeout", "0.4")
    with serve(*timeouts, "--close-timeout", "0.3", loop=loop) as (_, port):
        seen = asyncio.run(scenario(port))
    assert [kind for kind, _ in seen] == [frames.Ping, frames.CloseConnection]
    assert 0.7 < seen[0][1] < 1.5, seen
    assert 1.1 < seen[1][1] < 2.5, seen


@pytest.mark.parametrize("loop", LOOPS)
def test_a_message_after_our_close_is_not_echoed(loop: str) -> None:
    """After its Close (here 1011, the ping unanswered), the server sends nothing
    but that Close (RFC 6455 §5.5.1), and ends TCP at the client's Close."""

    async def scenario(port: int) -> list[frames.Event]:
        reader, writer, trailing = await handshake(port)
        connection = Connection(ConnectionType.CLIENT, trailing_data=trailing)
        seen: list[frames.Event] = []
        while not any(isinstance(event, frames.CloseConnection) for event in seen):
            connection.receive_data(await asyncio.wait_for(reader.read(4096), 10))
            seen += connection.events()
        late = Connection(ConnectionType.CLIENT)  # frames of a connection still open
        writer.write(late.send(frames.TextMessage(data="too late")))
        writer.write(late.send(frames.CloseConnection(code=1000)))
        while data := await asyncio.wait_for(reader.read(4096), 10):
            connection.receive_data(data)
            seen += connection.events()
        writer.close()
        return seen

    with serve(*FAST, "--no-access-log", loop=loop) as (process, port):
        seen = asyncio.run(scenario(port))
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert [type(event) for event in seen] == [frames.Ping, frames.CloseConnection]
    assert err == ""  # no traceback


@pytest.mark.parametrize("loop", LOOPS)
def test_a_client_that_does_not_read_cannot_make_the_server_buffer(loop: str) -> None:
    """64 MiB of messages from a client that never reads its echoes: once the
    server's writes back up it stops reading, so the client's sends stall after
    the socket buffers fill; then it reads, and the echoes are whole."""
    frame = Connection(ConnectionType.CLIENT).send(frames.BytesMessage(data=b"x" * 65536))
    wanted = 1024 * len(frame)

    def scenario(port: int) -> tuple[int, bytes]:
        client = ws.ClientNegotiator(f"127.0.0.1:{port}", "/")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(client.data_to_send())
            while isinstance(event := client.next_event(), ws.NeedData):
                client.receive_data(sock.recv(65536))
            assert isinstance(event, ws.Connected), event
            sock.setblocking(False)
            sent, deadline = 0, time.monotonic() + 3
            while sent < wanted and time.monotonic() < deadline:
                try:
                    sent += sock.send(frame[sent % len(frame) :])
                except BlockingIOError:
                    time.sleep(0.01)
            sock.setblocking(True)
            echoes = Connection(ConnectionType.CLIENT, trailing_data=event.trailing_data)
            echoed = b""
            while len(echoed) < 1 << 20:
                echoes.receive_data(sock.recv(1 << 20))
                echoed += b"".join(
                    e.data for e in echoes.events() if isinstance(e, frames.BytesMessage)
                )
        return sent, echoed

    with serve(loop=loop) as (process, port):
        sent, echoed = scenario(port)
        assert process.poll() is None
    assert sent < wanted // 2, sent  # the kernel's buffers hold a few MiB, not 64
    assert echoed[: 1 << 20] == b"x" * (1 << 20)


def flood(port: int, count: int, hold: float) -> int:
    """``count`` connections that send nothing, held ``hold`` seconds; returns how
    many were let in by the kernel (the rest wait behind the backlog)."""

    async def one() -> asyncio.StreamWriter | None:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
        except (TimeoutError, OSError):
            return None
        return writer

    async def scenario() -> int:
        writers = [w for w in await asyncio.gather(*(one() for _ in range(count))) if w]
        await asyncio.sleep(hold)
        for writer in writers:
            writer.transport.abort()
        return len(writers)

    return asyncio.run(scenario())


def served(port: int) -> str:
    async def scenario() -> str:
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
            await client.send("after the flood")
            return str(await client.recv())

    return asyncio.run(asyncio.wait_for(scenario(), 20))


def flood_report(*options: str, loop: str) -> tuple[str, float, float, str]:
    """serve under RLIMIT_NOFILE 64, flooded with 300 connections for 2 s: its log,
    its CPU seconds during the flood and in the second after, and an echo after."""
    options = ("--handshake-timeout", "30", "--no-access-log", *options)
    with serve(*options, loop=loop, max_fds=64) as (process, port):
        before = cpu_seconds(process.pid)
        flood(port, 300, hold=2.0)
        during = cpu_seconds(process.pid) - before
        time.sleep(0.5)  # the server notices the closed connections
        quiet = cpu_seconds(process.pid)
        time.sleep(1.0)
        after = cpu_seconds(process.pid) - quiet
        echoed = served(port)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    return err, during, after, echoed


@pytest.mark.parametrize("loop", LOOPS)
def test_flood_at_the_connection_cap(loop: str) -> None:
    err, during, after, echoed = flood_report(loop=loop)  # the cap: 64 descriptors less 32
    assert err.splitlines() == [
        "wsnegotiate serve: 32 connections open (the cap): not accepting until one closes"
    ]
    assert during < 1.0 and after < 0.1, (during, after)
    assert echoed == "after the flood"


@pytest.mark.parametrize("loop", LOOPS)
def test_flood_out_of_file_descriptors(loop: str) -> None:
    err, during, after, echoed = flood_report(
        "--max-connections", "1000", loop=loop
    )  # past the fd limit
    lines = err.splitlines()
    assert 1 <= len(lines) <= 2, lines  # once per 10 s, not once per attempt
    assert lines[0].startswith("wsnegotiate serve: cannot accept: Too many open files;")
    assert during < 1.0 and after < 0.1, (during, after)
    assert echoed == "after the flood"


def closed_promptly(port: int, bad: bytes | None) -> tuple[list[frames.Event], float]:
    """Handshake on a raw socket, send ``bad`` (or, with None, a Close 1000), answer
    the server's Close at once, and read until TCP ends: the frames seen, and the
    seconds from our Close (or ``bad``) to the end. An answer that reaches a socket
    the server has closed, or is closing, gets a reset instead of an EOF: either
    ends TCP."""
    client = ws.ClientNegotiator(f"127.0.0.1:{port}", "/")
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(client.data_to_send())
        while isinstance(event := client.next_event(), ws.NeedData):
            client.receive_data(sock.recv(65536))
        assert isinstance(event, ws.Connected), event
        connection = Connection(ConnectionType.CLIENT, trailing_data=event.trailing_data)
        started = time.monotonic()
        if bad is None:
            sock.sendall(connection.send(frames.CloseConnection(code=1000, reason="done")))
        else:
            sock.sendall(bad)
        seen: list[frames.Event] = []
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            while chunk := sock.recv(65536):
                connection.receive_data(chunk)
                for received in connection.events():
                    seen.append(received)
                    if isinstance(received, frames.CloseConnection) and bad is not None:
                        # a client that answers the Close at once (RFC 6455 §5.5.1)
                        sock.sendall(connection.send(received.response()))
        return seen, time.monotonic() - started


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"\x81\x05hello", id="unmasked"),  # a client MUST mask (RFC 6455 §5.1)
        pytest.param(b"\xc1\x80\x00\x00\x00\x00", id="reserved-bit"),  # RSV1, no extension (§5.2)
        pytest.param(b"\x09\x80\x00\x00\x00\x00", id="fragmented-ping"),  # §5.5: never fragmented
    ],
)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_failed_connection_closes_tcp_at_once(
    bad: bytes, loop: str, shared: SharedServers
) -> None:
    """RFC 6455 §7.1.7: to fail the connection is to close it. The server sends
    Close 1002 and closes TCP at once, long before --close-timeout, though the
    client answers its Close (wsproto cannot read that answer behind the bad frame)."""
    port = shared.port("--close-timeout", "30", "--no-deflate", loop=loop)
    seen, took = closed_promptly(port, bad)
    assert [(type(e), getattr(e, "code", None)) for e in seen] == [(frames.CloseConnection, 1002)]
    assert took < 3, took


@pytest.mark.parametrize("loop", LOOPS)
def test_tcp_closes_as_the_clients_close_is_answered(loop: str) -> None:
    """RFC 6455 §7.1.1: the server closes TCP first, right after its answering Close."""
    with serve("--close-timeout", "30", loop=loop) as (_, port):
        seen, took = closed_promptly(port, None)
    assert [(type(e), getattr(e, "code", None)) for e in seen] == [(frames.CloseConnection, 1000)]
    assert took < 3, took
