"""The README's small server: the handshake on asyncio streams, then a hand-off.

Try: python examples/asyncio_server.py, then `curl -i http://127.0.0.1:8765/` (426).
"""

import asyncio
import contextlib

import wsnegotiate

POLICY = wsnegotiate.Policy([13, 8, 7], subprotocols=["chat"])
DEADLINE = 10.0  # seconds for the whole request: a client that stalls gets a 408


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    negotiator = wsnegotiate.ServerNegotiator(POLICY)
    event = negotiator.next_event()
    try:
        async with asyncio.timeout(DEADLINE):
            while isinstance(event, wsnegotiate.NeedData):
                negotiator.receive_data(await reader.read(4096))  # b"" at EOF
                event = negotiator.next_event()
    except TimeoutError:
        event = negotiator.time_out(DEADLINE)
    except asyncio.CancelledError:  # Ctrl-C with a client connected: end quietly
        writer.close()  # (a handler that ends cancelled gets a traceback on Python 3.11)
        return
    if isinstance(event, wsnegotiate.Request):  # or: negotiator.reject(403, "go away")
        accepted = negotiator.accept()
        writer.write(accepted.response)
        print(accepted.version.name, accepted.subprotocol, accepted.trailing_data, flush=True)
        # the frame layer from here on: wsnegotiate.wsproto.connection(accepted)
    elif isinstance(event, wsnegotiate.Rejected):
        writer.write(event.response)
    writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 8765)
    await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it quietly
        asyncio.run(main())
