"""A FastAPI echo endpoint with wsnegotiate's handshake. Needs uvicorn, wsproto and FastAPI:
pip install 'wsnegotiate[uvicorn]' fastapi

Try:
    uvicorn --app-dir examples fastapi_app:app --ws wsnegotiate.uvicorn:WebSocketProtocol
    python -m websockets ws://127.0.0.1:8000/echo          # type lines: they come back
"""

from __future__ import annotations

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
