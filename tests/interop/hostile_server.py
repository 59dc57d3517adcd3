"""A server for test_hostile.py, run as its own process: ``serve``'s echo server,
or uvicorn serving the Starlette example on wsnegotiate's protocol, each on
asyncio's loop or on uvloop (their default when installed).

    python hostile_server.py serve|serve-uvloop|uvicorn|uvicorn-uvloop HANDSHAKE_TIMEOUT [NAME=JSON ...]

uvicorn takes settings after the timeout, each a ``uvicorn.Config`` keyword and its
value in JSON (``ws_ping_interval=1``, ``app="asgi_apps:app"`` for the bare apps).

It prints ``listening PORT`` once bound, then ``tasks N transports M`` (its asyncio
tasks, and the connection transports still alive) on every SIGUSR1, so the test
can check that nothing is left behind. SIGINT stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import sys
from pathlib import Path
from typing import Any


async def serve(timeout: float) -> None:
    from wsnegotiate import Policy
    from wsnegotiate.cli.serve import ServeOptions, echo_server

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    options = ServeOptions(handshake_timeout=timeout)
    ready = lambda host, port: print(f"listening {port}", flush=True)  # noqa: E731
    await echo_server("127.0.0.1", 0, Policy(), options, ready=ready, stop=stop)


async def uvicorn(settings: dict[str, Any]) -> None:
    import uvicorn

    sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))
    config = uvicorn.Config(
        settings.pop("app", "starlette_app:app"),
        host="127.0.0.1",
        port=0,
        ws="wsnegotiate.uvicorn:WebSocketProtocol",
        log_level="warning",
        lifespan="off",
        **settings,
    )
    server = uvicorn.Server(config)
    running = asyncio.create_task(server.serve())
    while not server.started:
        if running.done():
            await running  # it failed to start: say why
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    await running


async def main(kind: str, timeout: float, settings: dict[str, Any]) -> None:
    def report() -> None:
        gc.collect()
        alive = sum(_is_transport(o) for o in gc.get_objects())
        print(f"tasks {len(asyncio.all_tasks())} transports {alive}", flush=True)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, report)
    await (uvicorn(settings) if kind.startswith("uvicorn") else serve(timeout))


def _is_transport(thing: object) -> bool:
    # uvloop's transports are not asyncio.Transport subclasses
    return isinstance(thing, asyncio.Transport) or type(thing).__name__ == "TCPTransport"


if __name__ == "__main__":
    new_loop = asyncio.new_event_loop
    if sys.argv[1].endswith("-uvloop"):
        import uvloop

        new_loop = uvloop.new_event_loop
    with (
        contextlib.suppress(KeyboardInterrupt),  # uvicorn re-raises SIGINT when it stops
        asyncio.Runner(loop_factory=new_loop) as runner,
    ):
        given = dict(setting.split("=", 1) for setting in sys.argv[3:])
        runner.run(
            main(sys.argv[1], float(sys.argv[2]), {k: json.loads(v) for k, v in given.items()})
        )
