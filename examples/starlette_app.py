"""A Starlette app whose WebSocket handshake is wsnegotiate's, under uvicorn.

Needs uvicorn, wsproto and Starlette: pip install 'wsnegotiate[uvicorn]' starlette

Try:
    uvicorn --app-dir examples starlette_app:app --ws wsnegotiate.uvicorn:WebSocketProtocol
    python -m websockets ws://127.0.0.1:8000/echo          # type lines: they come back
    curl -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' \\
         -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \\
         -H 'Sec-WebSocket-Version: 8' http://127.0.0.1:8000/echo   # 426 listing 13
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

accepted_requests = 0  # how often the app was called: refused handshakes never count


async def echo(websocket: WebSocket) -> None:
    global accepted_requests
    accepted_requests += 1
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol="chat" if "chat" in offered else None)
    negotiated = websocket.scope["extensions"].get("wsnegotiate")  # only with wsnegotiate's --ws
    version = negotiated["version"] if negotiated else None  # e.g. Version.Version13
    while (message := await websocket.receive())["type"] == "websocket.receive":
        if message.get("text") == "version?":
            await websocket.send_text(version.name if version else "unknown")
        elif message.get("text") == "bye":
            await websocket.close(4000, "bye yourself")
        elif message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


async def private(websocket: WebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("members only", status_code=401))


async def broken(websocket: WebSocket) -> None:
    raise RuntimeError("the application failed before accepting")


async def calls(request: Request) -> JSONResponse:
    return JSONResponse({"accepted_requests": accepted_requests})


app = Starlette(
    routes=[
        WebSocketRoute("/echo", echo),
        WebSocketRoute("/private", private),
        WebSocketRoute("/broken", broken),
        Route("/calls", calls),
    ]
)
