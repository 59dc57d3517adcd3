"""Server handshakes per second for one realistic Chrome request, side by side:
bare h11 parsing of the same bytes (the floor), wsnegotiate, wsproto and
websockets' sans-IO server, in one run. Prints rates and ratios to bare h11.

    python benchmarks/bench_handshake.py [--seconds 0.3] [--repeat 7]
"""

from __future__ import annotations

import argparse
import platform
import timeit
from collections.abc import Callable
from importlib.metadata import version

import h11
import wsproto
from websockets.server import ServerProtocol
from wsproto.events import AcceptConnection
from wsproto.events import Request as WsprotoRequest

import wsnegotiate
from wsnegotiate._samples import SAMPLES

CHROME = next(sample.data for sample in SAMPLES if sample.name == "chrome")


def bare_h11() -> None:
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(CHROME)
    connection.next_event()


def with_wsnegotiate() -> None:
    negotiator = wsnegotiate.ServerNegotiator()
    negotiator.receive_data(CHROME)
    negotiator.next_event()
    negotiator.accept()


def with_wsproto() -> None:
    connection = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    connection.receive_data(CHROME)
    event = next(connection.events())
    assert isinstance(event, WsprotoRequest)
    connection.send(AcceptConnection())


def with_websockets() -> None:
    protocol = ServerProtocol()
    protocol.receive_data(CHROME)
    [request] = protocol.events_received()
    protocol.send_response(protocol.accept(request))  # type: ignore[arg-type]
    protocol.data_to_send()


CANDIDATES: dict[str, Callable[[], None]] = {
    "bare h11 parse": bare_h11,
    "wsnegotiate": with_wsnegotiate,
    "wsproto": with_wsproto,
    "websockets": with_websockets,
}


def measure(function: Callable[[], None], seconds: float, repeat: int) -> float:
    """Best time per call in seconds, over ``repeat`` runs of about ``seconds``."""
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    number = max(1, int(number * seconds / 0.2))
    return min(timer.repeat(repeat=repeat, number=number)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for function in CANDIDATES.values():  # each answers the same request, and warms up
        function()
    versions = ", ".join(f"{name} {version(name)}" for name in ("h11", "wsproto", "websockets"))
    print(f"Python {platform.python_version()}, {versions}, {len(CHROME)}-byte Chrome request")
    results = {name: measure(f, args.seconds, args.repeat) for name, f in CANDIDATES.items()}
    floor = results["bare h11 parse"]
    print(f"{'':16}{'us/handshake':>14}{'handshakes/s':>14}{'x bare h11':>12}")
    for name, seconds in results.items():
        print(f"{name:16}{seconds * 1e6:14.2f}{1 / seconds:14,.0f}{seconds / floor:12.2f}")


if __name__ == "__main__":
    main()
