"""A bare ASGI app for test_uvicorn.py that takes its time to accept: the client's
first frame arrives while it decides. It echoes one message, then closes."""

from __future__ import annotations

import asyncio
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await asyncio.sleep(0.3)  # deciding, while the client's first frame comes in
    await send({"type": "websocket.accept"})
    message = await receive()
    await send({"type": "websocket.send", "text": message["text"]})
    await send({"type": "websocket.close", "code": 1000})
