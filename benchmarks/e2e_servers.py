"""Echo servers of other Python libraries for the end-to-end benchmark, each on
127.0.0.1 and a free port; each prints ``listening PORT`` and stops at the end of
its standard input. And ``wsnegotiate serve`` as ``serve --port 0 --no-deflate --no-access-log``
runs it, but with h11 reading every head (``Policy(fast_path=False)``); it stops
on SIGTERM, as serve does.

    python -m benchmarks.e2e_servers websockets|aiohttp
    python -m benchmarks.e2e_servers wsnegotiate-h11 asyncio|uvloop
"""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import WSMsgType, web
from websockets.asyncio.server import ServerConnection, serve


async def _until_stdin_closes() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def websockets_server() -> None:
    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {port}", flush=True)
        await _until_stdin_closes()


async def aiohttp_server() -> None:
    async def echo(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(compress=False)
        await socket.prepare(request)
        async for message in socket:
            if message.type is WSMsgType.TEXT:
                await socket.send_str(message.data)
        return socket

    app = web.Application()
    app.router.add_get("/{path:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.addresses
    print(f"listening {runner.addresses[0][1]}", flush=True)
    await _until_stdin_closes()
    await runner.cleanup()


def wsnegotiate_h11(loop: str) -> int:
    from wsnegotiate import Policy
    from wsnegotiate.cli.serve import ServeOptions, run

    options = ServeOptions(access_log=False)  # as serve --no-access-log
    return run("127.0.0.1", 0, Policy(deflate=None, fast_path=False), options, loop)


if __name__ == "__main__":
    if sys.argv[1] == "wsnegotiate-h11":
        sys.exit(wsnegotiate_h11(sys.argv[2]))
    # The load generator closes each connection after the 101, without a close frame:
    # not worth a traceback per connection (which would also bill the server's CPU).
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    servers = {"websockets": websockets_server, "aiohttp": aiohttp_server}
    asyncio.run(servers[sys.argv[1]]())
