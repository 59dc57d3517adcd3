"""A trio WebSocket echo server: wsnegotiate for the handshake, wsproto for frames.

Needs trio and wsproto: pip install 'wsnegotiate[trio]'

Try:
    python examples/trio_echo_server.py                 # ws://127.0.0.1:8766/ (--port, --host)
    python -m websockets ws://127.0.0.1:8766/           # type lines: they come back
    curl -i http://127.0.0.1:8766/                      # 426: not an upgrade
    curl -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' \\
         -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \\
         -H 'Sec-WebSocket-Version: 6' http://127.0.0.1:8766/   # 426 listing 13, 8, 7
"""

from __future__ import annotations

import argparse

import trio
import wsproto.events as frames
from wsproto.connection import ConnectionState

import wsnegotiate
import wsnegotiate.trio
import wsnegotiate.wsproto

POLICY = wsnegotiate.Policy([13, 8, 7])


async def handle(stream: trio.SocketStream) -> None:
    accepted = await wsnegotiate.trio.server_handshake(stream, POLICY, timeout=10)
    if not isinstance(accepted, wsnegotiate.Accepted):
        return  # refused: the answer was sent and the stream closed
    # The hand-off: wsproto's frame layer, fed the bytes that followed the request.
    connection = wsnegotiate.wsproto.connection(accepted)  # compresses as agreed
    async with stream:
        try:
            while True:
                for event in connection.events():
                    if isinstance(event, frames.Message):  # text or binary: the echo
                        answer: frames.Event | None = type(event)(
                            data=event.data, message_finished=event.message_finished
                        )
                    else:  # a pong, a Close with its code; nothing after a vanished client
                        answer = wsnegotiate.wsproto.required_reply(connection, event)
                    if answer is not None:
                        await stream.send_all(connection.send(answer))
                if connection.state is not ConnectionState.OPEN:
                    break  # closed, or failed with 1002/1007: close TCP now (RFC 6455 §7.1.7)
                connection.receive_data(await stream.receive_some(65536) or None)  # None: EOF
        except trio.BrokenResourceError:
            pass  # the client vanished: normal traffic, nothing to answer or log


async def main(host: str, port: int) -> None:
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_host, bound_port = listeners[0].socket.getsockname()[:2]
    print(f"listening on ws://{bound_host}:{bound_port}/", flush=True)
    await trio.serve_listeners(handle, listeners)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A WebSocket echo server on trio.")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", type=int, default=8766, help="0 picks a free port")
    args = parser.parse_args()
    if not 0 <= args.port <= 65535:
        parser.error(f"argument --port: {args.port} is not a port number (0-65535)")
    try:
        trio.run(main, args.host, args.port)
    except* KeyboardInterrupt:  # Ctrl-C stops it quietly (trio groups it with the rest)
        pass
    except* OSError as errors:  # the port in use, a host that does not resolve
        parser.exit(2, f"cannot listen on {args.host}:{args.port}: {errors.exceptions[0]}\n")
