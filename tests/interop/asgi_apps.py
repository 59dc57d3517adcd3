"""Bare ASGI apps for test_uvicorn.py and test_hostile.py, by path:

- ``/``: takes its time to accept, so the client's first frame arrives while it
  decides; echoes one message, then closes (or returns when the client leaves);
- ``/send-first``: sends a message before accepting;
- ``/return``: returns without accepting or denying;
- ``/denial-then-send``: starts a denial response, then sends a WebSocket message;
- ``/unknown-after-accept``: accepts, then sends a message type that does not exist;
- ``/undecided``: neither accepts nor denies; returns when the client is gone;
- ``/flood``: accepts, then sends 64 KiB messages until the client is gone;
- ``/slow``: accepts, sleeps a second, then receives binary messages until
  something else comes (a text), and closes with how many came and their bytes
  as the reason, ``"64 67108864"``;
- any path with the query ``report``: accepts, sends its scope's ``path``,
  ``raw_path``, ``query_string`` and ``server`` as JSON, then closes;
- any path with the query ``admission``: accepts, sends as JSON what its scope says
  of admission: ``scheme``, ``client``, ``subprotocols``, the values of its
  ``sec-websocket-protocol`` headers, and ``credential``, the wsnegotiate
  extension's (``null`` when it has none), then closes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    path = scope["path"]
    if scope["query_string"] == b"report":
        await send({"type": "websocket.accept"})
        text = json.dumps(
            {
                "path": scope["path"],
                "raw_path": scope["raw_path"].decode("latin-1"),
                "query_string": scope["query_string"].decode("latin-1"),
                "server": scope["server"],
            }
        )
        await send({"type": "websocket.send", "text": text})
        await send({"type": "websocket.close", "code": 1000})
    elif scope["query_string"] == b"admission":
        await send({"type": "websocket.accept"})
        offers = [
            v.decode("latin-1") for n, v in scope["headers"] if n == b"sec-websocket-protocol"
        ]
        text = json.dumps(
            {
                "scheme": scope["scheme"],
                "client": scope["client"],
                "subprotocols": scope["subprotocols"],
                "sec-websocket-protocol": offers,
                "credential": scope["extensions"].get("wsnegotiate", {}).get("credential"),
            }
        )
        await send({"type": "websocket.send", "text": text})
        await send({"type": "websocket.close", "code": 1000})
    elif path == "/send-first":
        await send({"type": "websocket.send", "text": "too early"})
    elif path == "/return":
        return
    elif path == "/denial-then-send":
        await send({"type": "websocket.http.response.start", "status": 401, "headers": []})
        await send({"type": "websocket.send", "text": "not a body"})
    elif path == "/unknown-after-accept":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.shout", "text": "?"})
    elif path == "/undecided":
        assert (await receive())["type"] == "websocket.disconnect"
    elif path == "/flood":
        await send({"type": "websocket.accept"})
        try:
            while True:
                await send({"type": "websocket.send", "bytes": bytes(65536)})
        except ClientDisconnected:
            pass
    elif path == "/slow":
        await send({"type": "websocket.accept"})
        await asyncio.sleep(1)
        count = size = 0
        while (message := await receive()).get("bytes") is not None:
            count, size = count + 1, size + len(message["bytes"])
        await send({"type": "websocket.close", "code": 1000, "reason": f"{count} {size}"})
    else:
        await asyncio.sleep(0.3)  # deciding, while the client's first frame comes in
        await send({"type": "websocket.accept"})
        message = await receive()
        if message["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})
            await send({"type": "websocket.close", "code": 1000})
