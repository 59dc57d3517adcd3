"""A trio WebSocket echo server: wsnegotiate for the handshake, wsproto for frames.

Try:
    python examples/trio_echo_server.py                 # ws://127.0.0.1:8766/, 13, 8 and 7
    python -m websockets ws://127.0.0.1:8766/           # type lines: they come back
    curl -i http://127.0.0.1:8766/                      # 426: not an upgrade
    curl -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' \\
         -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \\
         -H 'Sec-WebSocket-Version: 6' http://127.0.0.1:8766/   # 426 listing 13, 8, 7
"""

from __future__ import annotations

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
                        data, finished = event.data, event.message_finished
                        answer: frames.Event | None = type(event)(
                            data=data, message_finished=finished
                        )
                    else:  # a pong, a Close with its code; nothing after a vanished client
                        answer = wsnegotiate.wsproto.required_reply(connection, event)
                    if answer is not None:
                        await stream.send_all(connection.send(answer))
                if connection.state is ConnectionState.CLOSED:
                    break
                connection.receive_data(await stream.receive_some(65536) or None)  # None: EOF
        except trio.BrokenResourceError:
            pass  # the client vanished: normal traffic, nothing to answer or log


async def main(host: str = "127.0.0.1", port: int = 8766) -> None:
    print(f"listening on ws://{host}:{port}/")
    await trio.serve_tcp(handle, port, host=host)


if __name__ == "__main__":
    try:
        trio.run(main)
    except* KeyboardInterrupt:  # Ctrl-C stops it quietly (trio groups it with the rest)
        pass
