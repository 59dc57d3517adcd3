"""The handshake benchmark suite: every contender in one process, interleaved
round by round, medians of the rounds, ratios to bare h11 fed the same bytes.

Server side: bare h11, the floor (``benchmarks/floor.py``), wsnegotiate (reading the
common head in one pass, as by default), wsnegotiate with h11 reading every head
(``Policy(fast_path=False)``), wsproto and websockets' sans-IO ``ServerProtocol``.
Client side: bare h11, wsnegotiate, wsnegotiate with h11 only, wsproto and
websockets' ``ClientProtocol``. Memory: tracemalloc peak while 1 MiB of garbage
arrives in 4 KiB chunks, and the bytes one idle connection holds after half a request.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h11
import websockets.client
import wsproto
import wsproto.handshake
from websockets.client import ClientProtocol
from websockets.server import ServerProtocol
from websockets.uri import parse_uri
from wsproto.events import AcceptConnection
from wsproto.events import Request as WsprotoRequest
from wsproto.utilities import RemoteProtocolError as WsprotoError

import wsnegotiate
from wsnegotiate import NeedData, Rejected, Request, ServerNegotiator
from wsnegotiate.cli.samples import SAMPLES

from .floor import floor_answer

#: The committed tables and chart: written only when asked (``--update``).
RESULTS = Path(__file__).parent / "results"


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--update`` (write ``benchmarks/results/``) or ``--out DIR``; neither: a new
    temporary directory, so a run never overwrites the committed figures by chance."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--update", action="store_true", help="write benchmarks/results/ (the committed figures)"
    )
    where.add_argument(
        "--out", type=Path, metavar="DIR", help="write to DIR (default: a new temporary directory)"
    )


def output_directory(args: argparse.Namespace) -> Path:
    """Where a run writes, by ``add_output_options``; a temporary one is made here."""
    if args.update:
        return RESULTS
    if args.out is not None:
        return Path(args.out)
    return Path(tempfile.mkdtemp(prefix="wsnegotiate-bench-"))


Chunks = tuple[bytes, ...]
Contender = Callable[[Chunks], object]

_SAMPLE = {sample.name: sample.data for sample in SAMPLES}
CHROME = _SAMPLE["chrome"]
NONCE = b"the sample nonce"  # RFC 6455 §1.3: its base64 is dGhlIHNhbXBsZSBub25jZQ==
KEY = base64.b64encode(NONCE)
RFC_SAMPLE = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY + b"\r\n"
    b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)  # RFC 6455 §1.2
MALFORMED = b"GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade websocket\r\n\r\n"


def _with_extra_headers(count: int) -> bytes:
    extra = b"".join(b"X-Extra-%d: value %d\r\n" % (n, n) for n in range(count))
    return CHROME[:-2] + extra + b"\r\n"


def _split(data: bytes, size: int) -> Chunks:
    return tuple(data[i : i + size] for i in range(0, len(data), size))


# -- server contenders: feed the chunks as a server reads them, answer once -----


def bare_h11(chunks: Chunks) -> object:
    connection = h11.Connection(h11.SERVER)
    for chunk in chunks:
        connection.receive_data(chunk)
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError:
            return None
        if event is not h11.NEED_DATA:
            return event
    return None


def floor(chunks: Chunks) -> object:
    return floor_answer(chunks[0])


# The default policy but for its limit of 100 field lines, which the request with
# 100 extra headers passes (the others are far below it); and the same with h11
# reading every head.
POLICY = wsnegotiate.Policy(max_field_lines=200)
H11_POLICY = wsnegotiate.Policy(max_field_lines=200, fast_path=False)


def _negotiating(policy: wsnegotiate.Policy) -> Contender:
    def negotiate(chunks: Chunks) -> object:
        negotiator = ServerNegotiator(policy)
        for chunk in chunks:
            negotiator.receive_data(chunk)
            event = negotiator.next_event()
            if isinstance(event, NeedData):  # one test a chunk, as bare h11's loop makes
                continue
            if isinstance(event, Request):
                return negotiator.accept().response
            return event.response if isinstance(event, Rejected) else None
        return None

    return negotiate


with_wsnegotiate = _negotiating(POLICY)
with_wsnegotiate_h11 = _negotiating(H11_POLICY)


def with_wsproto(chunks: Chunks) -> object:
    connection = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    for chunk in chunks:
        try:
            connection.receive_data(chunk)
            for event in connection.events():
                if isinstance(event, WsprotoRequest):
                    return connection.send(AcceptConnection())
        except WsprotoError as exc:
            return exc.event_hint
    return None


def with_websockets(chunks: Chunks) -> object:
    protocol = ServerProtocol()
    for chunk in chunks:
        protocol.receive_data(chunk)
        events = protocol.events_received()
        if events:
            request = events[0]
            assert isinstance(request, websockets.http11.Request)
            protocol.send_response(protocol.accept(request))
            return protocol.data_to_send()
        if protocol.handshake_exc is not None:
            return protocol.data_to_send()
    return None


H11_ONLY = "wsnegotiate, h11 only"
SERVERS: dict[str, Contender] = {
    "bare h11": bare_h11,
    "floor": floor,
    "wsnegotiate": with_wsnegotiate,
    H11_ONLY: with_wsnegotiate_h11,
    "wsproto": with_wsproto,
    "websockets": with_websockets,
}


@dataclass(frozen=True)
class Case:
    name: str
    chunks: Chunks
    contenders: tuple[str, ...]
    status: int = 101  # wsnegotiate's answer, checked before timing: a case times what it says


ALL = tuple(SERVERS)
# The floor takes whole heads only.
STREAMING = ("bare h11", "wsnegotiate", H11_ONLY, "wsproto", "websockets")
GARBAGE = _split(b"GET /chat HTTP/1.1\r\nX-Garbage: " + b"a" * (1 << 20), 4096)

SERVER_CASES = (
    Case("RFC 6455 sample", (RFC_SAMPLE,), ALL),
    Case("Chrome", (CHROME,), ALL),
    Case("Firefox", (_SAMPLE["firefox"],), ALL),
    Case("version 8 refused", (_SAMPLE["hybi-08"],), ALL, 426),
    Case("malformed", (MALFORMED,), ALL, 400),
    Case("Chrome, 1-byte chunks", _split(CHROME, 1), STREAMING),
    Case("Chrome, 7-byte chunks", _split(CHROME, 7), STREAMING),
    *(Case(f"Chrome + {n} headers", (_with_extra_headers(n),), ALL) for n in (5, 20, 50, 100)),
    Case("1 MiB garbage, 4 KiB chunks", GARBAGE, STREAMING, 431),
)


# -- client contenders: write the request, read the 101 -------------------------

ANSWER = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: "
    + base64.b64encode(hashlib.sha1(KEY + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    + b"\r\n\r\n"
)
# Every client sends the RFC sample nonce, so one 101 answers them all.
wsproto.handshake.generate_nonce = lambda: KEY  # type: ignore[attr-defined]
websockets.client.generate_key = lambda: KEY.decode()  # type: ignore[attr-defined]
_URI = parse_uri("ws://localhost:8765/chat")


def client_h11(chunks: Chunks) -> object:
    connection = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target="/chat",
        headers=[
            ("Host", "localhost:8765"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", KEY.decode()),
            ("Sec-WebSocket-Version", "13"),
        ],
    )
    connection.send(request)
    connection.receive_data(chunks[0])
    return connection.next_event()


def _connecting(fast_path: bool) -> Contender:
    def connect(chunks: Chunks) -> object:
        client = wsnegotiate.ClientNegotiator(
            "localhost:8765", "/chat", random=lambda n: NONCE, fast_path=fast_path
        )
        client.data_to_send()
        client.receive_data(chunks[0])
        event = client.next_event()
        assert isinstance(event, wsnegotiate.Connected)
        return event

    return connect


client_wsnegotiate = _connecting(True)
client_wsnegotiate_h11 = _connecting(False)


def client_wsproto(chunks: Chunks) -> object:
    connection = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    connection.send(WsprotoRequest(host="localhost:8765", target="/chat"))
    connection.receive_data(chunks[0])
    [event] = connection.events()
    assert isinstance(event, AcceptConnection)
    return event


def client_websockets(chunks: Chunks) -> object:
    protocol = ClientProtocol(_URI)
    protocol.send_request(protocol.connect())
    protocol.data_to_send()
    protocol.receive_data(chunks[0])
    [event] = protocol.events_received()
    assert protocol.handshake_exc is None
    return event


CLIENTS: dict[str, Contender] = {
    "bare h11": client_h11,
    "wsnegotiate": client_wsnegotiate,
    H11_ONLY: client_wsnegotiate_h11,
    "wsproto": client_wsproto,
    "websockets": client_websockets,
}
CLIENT_CASE = Case("client: request, 101", (ANSWER,), tuple(CLIENTS))


# -- measurement ----------------------------------------------------------------


def _calibrate(function: Contender, chunks: Chunks, seconds: float) -> int:
    """How many calls take about ``seconds``."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            function(chunks)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 4 or number >= 1 << 20:
            return max(1, int(number * seconds / max(elapsed, 1e-9)))
        number *= 4


def measure(
    case: Case, contenders: dict[str, Contender], rounds: int, seconds: float
) -> dict[str, float]:
    """Median seconds per call of each contender: each round times every contender
    once, in a shuffled order, so the machine's noise lands on all of them alike."""
    names = list(case.contenders)
    numbers = {name: _calibrate(contenders[name], case.chunks, seconds) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(names)
        for name in names:
            function, number = contenders[name], numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                function(case.chunks)
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(samples[name]) for name in case.contenders}


def peak_memory(function: Contender, chunks: Chunks) -> int:
    """tracemalloc's peak while ``function`` reads ``chunks`` (the chunks exist already)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    function(chunks)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def _half_h11() -> object:
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(CHROME[: len(CHROME) // 2])
    connection.next_event()
    return connection


def _half_wsnegotiate(policy: wsnegotiate.Policy | None = None) -> object:
    negotiator = wsnegotiate.ServerNegotiator(policy)
    negotiator.receive_data(CHROME[: len(CHROME) // 2])
    negotiator.next_event()
    return negotiator


def _half_wsproto() -> object:
    connection = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    connection.receive_data(CHROME[: len(CHROME) // 2])
    list(connection.events())
    return connection


def _half_websockets() -> object:
    protocol = ServerProtocol()
    protocol.receive_data(CHROME[: len(CHROME) // 2])
    protocol.events_received()
    return protocol


HALF_REQUEST: dict[str, Callable[[], object]] = {
    "bare h11": _half_h11,
    "wsnegotiate": _half_wsnegotiate,
    H11_ONLY: lambda: _half_wsnegotiate(H11_POLICY),
    "wsproto": _half_wsproto,
    "websockets": _half_websockets,
}


def idle_memory(make: Callable[[], object], count: int = 200) -> int:
    """Bytes each of ``count`` idle connections holds after half a Chrome request."""
    make()  # first-call caches (regexes, policies) are not per connection
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    held = [make() for _ in range(count)]
    size = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del held
    return size // count


# -- report -----------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    times: dict[str, dict[str, float]]  # case -> contender -> seconds per handshake
    garbage_peak: dict[str, int]  # contender -> bytes
    idle: dict[str, int]  # contender -> bytes per connection


def _check_answers() -> None:
    for case in SERVER_CASES:
        answer = with_wsnegotiate(case.chunks)
        if not (isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 %d " % case.status)):
            raise RuntimeError(f"{case.name}: expected a {case.status}, got {answer!r:.80}")
        if with_wsnegotiate_h11(case.chunks) != answer:
            raise RuntimeError(f"{case.name}: h11 alone answers otherwise")


def run(rounds: int, seconds: float) -> Results:
    _check_answers()
    times = {case.name: measure(case, SERVERS, rounds, seconds) for case in SERVER_CASES}
    times[CLIENT_CASE.name] = measure(CLIENT_CASE, CLIENTS, rounds, seconds)
    garbage = {name: peak_memory(SERVERS[name], GARBAGE) for name in STREAMING}
    idle = {name: idle_memory(make) for name, make in HALF_REQUEST.items()}
    return Results(times, garbage, idle)


CONTENDERS = tuple(SERVERS)


def markdown(results: Results) -> str:
    header = "| case | " + " | ".join(CONTENDERS) + " |"
    lines = [
        "Median time per handshake, and its ratio to bare h11 fed the same bytes.",
        "",
        header,
        "|" + "---|" * (len(CONTENDERS) + 1),
    ]
    for case, times in results.times.items():
        base = times["bare h11"]
        cells = [
            f"{times[name] * 1e6:.1f} µs ({times[name] / base:.2f}x)" if name in times else "-"
            for name in CONTENDERS
        ]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    lines += ["", "Memory (tracemalloc, bytes).", "", header, "|" + "---|" * (len(CONTENDERS) + 1)]
    for label, sizes in (
        ("peak, 1 MiB garbage in 4 KiB chunks", results.garbage_peak),
        ("idle connection, half a request", results.idle),
    ):
        cells = [f"{sizes[name]:,}" if name in sizes else "-" for name in CONTENDERS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(results: Results, path: Path) -> None:
    """Grouped horizontal bars: each case's ratio to bare h11, per contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(results.times)
    names = [name for name in CONTENDERS if name != "bare h11"]
    height = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(9, 0.5 * len(cases) + 1.5))
    for index, name in enumerate(names):
        ratios = [
            times[name] / times["bare h11"] if name in times else 0.0
            for times in results.times.values()
        ]
        positions = [row + index * height for row in range(len(cases))]
        axes.barh(positions, ratios, height=height, label=name)
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_yticks([row + 0.4 - height / 2 for row in range(len(cases))], cases)
    axes.invert_yaxis()
    axes.set_xlabel("time per handshake, ratio to bare h11 (lower is faster)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
