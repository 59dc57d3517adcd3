"""Memory held per connection by permessage-deflate, server side: wsnegotiate's
hand-off with the default policy (12-bit windows, zlib memLevel 5) against wsproto
left to its own defaults (15-bit windows, memLevel 8). Each connection has received
one compressed message from a Chrome-like client and sent one back, so both its
inflater and its deflater exist. Measured with tracemalloc, which sees zlib's
allocations (CPython hands zlib its own allocator).

    python benchmarks/deflate_memory.py [--connections 200]
"""

from __future__ import annotations

import argparse
import tracemalloc
from collections.abc import Callable

import wsproto.events as frames
from wsproto.connection import Connection, ConnectionType
from wsproto.extensions import PerMessageDeflate

import wsnegotiate
import wsnegotiate.wsproto
from wsnegotiate.cli.samples import SAMPLES

CHROME = next(sample.data for sample in SAMPLES if sample.name == "chrome")
MESSAGE = "all work and no play makes a dull message " * 400  # 17 kB


def ours() -> Connection:
    accepted = wsnegotiate.negotiate(CHROME)
    assert isinstance(accepted, wsnegotiate.Accepted)
    assert accepted.deflate is not None
    return wsnegotiate.wsproto.connection(accepted)


def wsproto_defaults() -> Connection:
    extension = PerMessageDeflate()
    extension.finalize("permessage-deflate")
    return Connection(ConnectionType.SERVER, [extension])


def client_frame(window_bits: int) -> bytes:
    extension = PerMessageDeflate(client_max_window_bits=window_bits)
    extension.finalize(f"permessage-deflate; client_max_window_bits={window_bits}")
    return Connection(ConnectionType.CLIENT, [extension]).send(frames.TextMessage(data=MESSAGE))


def per_connection(make: Callable[[], Connection], incoming: bytes, count: int) -> float:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    connections = [make() for _ in range(count)]
    for connection in connections:
        connection.receive_data(incoming)
        (message,) = connection.events()
        assert isinstance(message, frames.TextMessage)
        assert message.data == MESSAGE
        connection.send(frames.TextMessage(data=message.data))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=200)
    count = parser.parse_args().connections
    rows = [
        ("wsnegotiate default policy (12/12, memLevel 5)", ours, 12),
        ("wsproto defaults (15/15, memLevel 8)", wsproto_defaults, 15),
    ]
    sizes = [(name, per_connection(make, client_frame(bits), count)) for name, make, bits in rows]
    width = max(len(name) for name, _ in sizes)
    for name, size in sizes:
        print(f"{name:<{width}}  {size / 1024:6.0f} KiB per connection")
    print(f"ratio: {sizes[1][1] / sizes[0][1]:.1f}x less")


if __name__ == "__main__":
    main()
