"""A tornado WebSocketHandler echo server on 127.0.0.1 and a free port, run by the Python
of a virtual environment of its own (tornado 6.5 cannot sit beside the dev extra's
tornado 6.6.1; .ci/run makes .cache/tornado65). Prints ``listening PORT VERSION`` (the
tornado it runs on) and ends when its standard input does: the test closes it."""

from __future__ import annotations

import asyncio
import sys
import threading

import tornado
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


async def main() -> None:
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(tornado.web.Application([("/", Echo)]))
    server.add_sockets(sockets)
    loop = asyncio.get_running_loop()
    stdin_ended = asyncio.Event()

    def wait_for_stdin() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stdin_ended.set)

    threading.Thread(target=wait_for_stdin, daemon=True).start()
    print(f"listening {sockets[0].getsockname()[1]} {tornado.version}", flush=True)
    await stdin_ended.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
