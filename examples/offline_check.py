"""Negotiate a captured upgrade request offline: no socket, no server.

Try:
    python examples/offline_check.py                      # a captured Firefox request
    python examples/offline_check.py request.http         # your own capture
    printf 'GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n' > plain.http
    python examples/offline_check.py plain.http           # 426: not an upgrade
"""

from __future__ import annotations

import sys
from pathlib import Path

import wsnegotiate

FIREFOX = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: localhost:8765\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Origin: http://localhost:8000\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Connection: keep-alive, Upgrade\r\n"
    b"Upgrade: websocket\r\n"
    b"\r\n"
)


def main() -> int:
    policy = wsnegotiate.Policy([13, 8], origins=["http://localhost:8000"])
    data = FIREFOX
    if len(sys.argv) > 1:
        try:  # the head limit and a little more is all a capture can need
            with Path(sys.argv[1]).open("rb") as capture:
                data = capture.read(policy.max_request_bytes + 1)
        except OSError as error:
            print(f"cannot read {sys.argv[1]}: {error.strerror}", file=sys.stderr)
            return 2
    outcome = wsnegotiate.negotiate(data, policy)
    if isinstance(outcome, wsnegotiate.NeedData):
        print("incomplete: the request head does not end with an empty line")
        return 1
    if isinstance(outcome, wsnegotiate.Accepted):
        request = outcome.request
        print(f"accepted {request.version.name} ({request.family}) from {request.origin}")
    else:
        print(f"refused {outcome.status}: {outcome.reason}")
    print(outcome.response.decode("latin-1"), end="")
    return 0 if isinstance(outcome, wsnegotiate.Accepted) else 1


if __name__ == "__main__":
    sys.exit(main())
