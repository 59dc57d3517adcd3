"""A FastAPI echo endpoint with wsnegotiate's handshake:
uvicorn --app-dir examples fastapi_app:app --ws wsnegotiate.uvicorn:WebSocketProtocol"""

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
