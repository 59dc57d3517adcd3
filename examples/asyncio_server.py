"""The README's 20-line server: the handshake on asyncio streams, then a hand-off.

Try: python examples/asyncio_server.py, then `curl -i http://127.0.0.1:8765/` (426).
"""

import asyncio

import wsnegotiate

POLICY = wsnegotiate.Policy([13, 8, 7], subprotocols=["chat"])


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    negotiator = wsnegotiate.ServerNegotiator(POLICY)
    event = negotiator.next_event()
    while isinstance(event, wsnegotiate.NeedData):
        negotiator.receive_data(await reader.read(4096))  # b"" at EOF
        event = negotiator.next_event()
    if isinstance(event, wsnegotiate.Request):  # or: negotiator.reject(403, "go away")
        accepted = negotiator.accept()
        writer.write(accepted.response)
        print(accepted.version.name, accepted.subprotocol, accepted.trailing_data, flush=True)
        # hand the stream and accepted.trailing_data to a frame layer (wsproto) here
    elif isinstance(event, wsnegotiate.Rejected):
        writer.write(event.response)
    writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 8765)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
