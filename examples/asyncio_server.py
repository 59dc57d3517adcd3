"""The README's small server: the handshake on asyncio streams, then a hand-off.

Try: python examples/asyncio_server.py (--port, --host), then
`curl -i http://127.0.0.1:8765/` (426).
"""

import argparse
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


async def main(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"listening on ws://{bound_host}:{bound_port}/", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A WebSocket handshake server on asyncio.")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    args = parser.parse_args()
    if not 0 <= args.port <= 65535:
        parser.error(f"argument --port: {args.port} is not a port number (0-65535)")
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it quietly
            asyncio.run(main(args.host, args.port))
    except OSError as error:  # the port in use, a host that does not resolve
        parser.exit(2, f"cannot listen on {args.host}:{args.port}: {error.strerror or error}\n")
