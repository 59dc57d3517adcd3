"""``--ws benchmarks.uvicorn_h11:WebSocketProtocol``: wsnegotiate's uvicorn protocol
with h11 reading every head (``Policy(fast_path=False)``), and otherwise the policy
``bench_uvicorn``'s servers get (version 13, any origin, no permessage-deflate)."""

from __future__ import annotations

from wsnegotiate import Policy
from wsnegotiate.uvicorn import protocol

WebSocketProtocol = protocol(Policy(deflate=None, fast_path=False))
