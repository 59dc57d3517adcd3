"""An asyncio WebSocket echo server: wsnegotiate for the handshake, wsproto for frames.

Needs wsproto: pip install 'wsnegotiate[serve]'

Try:
    python examples/asyncio_echo_server.py              # ws://127.0.0.1:8765/ (--port, --host)
    python -m websockets ws://127.0.0.1:8765/           # type lines: they come back
    curl -i http://127.0.0.1:8765/                      # 426: not an upgrade
    curl -i -X POST http://127.0.0.1:8765/              # 405 with Allow: GET
    curl -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' \\
         -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \\
         -H 'Sec-WebSocket-Version: 8' http://127.0.0.1:8765/   # 426 listing 13
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import wsproto.events as frames
from wsproto.connection import ConnectionState

import wsnegotiate
import wsnegotiate.aio
import wsnegotiate.wsproto

POLICY = wsnegotiate.Policy([13])


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Ctrl-C cancels the handlers of the clients still connected: they end quietly (a
    # handler that ends cancelled gets a traceback from Python 3.11's streams).
    with contextlib.suppress(asyncio.CancelledError):
        await echo(reader, writer)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    accepted = await wsnegotiate.aio.server_handshake(reader, writer, POLICY, timeout=10)
    if not isinstance(accepted, wsnegotiate.Accepted):
        return  # refused: the answer was written and the connection closed
    # The hand-off: wsproto's frame layer, fed the bytes that followed the request.
    connection = wsnegotiate.wsproto.connection(accepted)  # compresses as agreed
    try:
        while True:
            for event in connection.events():
                if isinstance(event, frames.Message):  # text or binary: the echo
                    answer: frames.Event | None = type(event)(
                        data=event.data, message_finished=event.message_finished
                    )
                else:  # a pong, a Close answered with its code; nothing after a vanished client
                    answer = wsnegotiate.wsproto.required_reply(connection, event)
                if answer is not None:
                    writer.write(connection.send(answer))
            await writer.drain()
            if connection.state is not ConnectionState.OPEN:
                break  # closed, or failed with 1002/1007: close TCP now (RFC 6455 §7.1.7)
            connection.receive_data(await reader.read(65536) or None)  # None: EOF
    except ConnectionError:
        pass  # the client vanished: normal traffic, nothing to answer or log
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"listening on ws://{bound_host}:{bound_port}/", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A WebSocket echo server on asyncio.")
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
