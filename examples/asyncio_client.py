"""Connect with the version you prefer, fall back by the server's list (RFC 6455 §4.4),
and print what was negotiated.

Try (with a server running, e.g. `wsnegotiate serve --versions 13`):
    python examples/asyncio_client.py ws://127.0.0.1:8765/ 7 13 8
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit

import wsnegotiate


async def connect(url: str, versions: list[int]) -> wsnegotiate.Connected:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    client = wsnegotiate.ClientNegotiator(
        f"{host}:{port}", parts.path or "/", versions[0], fallback=versions[1:]
    )
    while True:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(client.data_to_send())
        event = client.next_event()
        while isinstance(event, wsnegotiate.NeedData):
            client.receive_data(await reader.read(65536))
            event = client.next_event()
        writer.close()  # a real client keeps the stream for the frame layer
        if isinstance(event, wsnegotiate.Connected):
            return event
        print(
            f"version {client.speaking} refused ({event.status}); server speaks {event.advertised}"
        )
        client = client.retry()  # raises NoCommonVersion when nothing is left


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/"
    versions = [int(v) for v in sys.argv[2:]] or [13, 8, 7]
    try:
        connected = asyncio.run(connect(url, versions))
    except (OSError, wsnegotiate.ProtocolError) as error:
        print(f"failed: {error}")
        return 1
    print(f"connected with {connected.version.name}, subprotocol {connected.subprotocol}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
