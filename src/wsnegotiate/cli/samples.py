"""Sample upgrade requests of every family, for ``wsnegotiate demo`` and the tests.

The browser and library requests have the header fields, order and casing those
clients send; keys are the RFC 6455 §1.3 sample nonce so answers are comparable.
The hixie-76 sample is the one of draft-hixie-thewebsocketprotocol-76 §1.3,
with its 8-byte key3 after the head.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SAMPLES", "Sample"]


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    description: str
    data: bytes


def _request(lines: list[str], body: bytes = b"", target: str = "/chat") -> bytes:
    head = f"GET {target} HTTP/1.1\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n"
    return head.encode("latin-1") + body


KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="

SAMPLES: tuple[Sample, ...] = (
    Sample(
        "chrome",
        "Chrome 131, RFC 6455",
        _request(
            [
                "Host: localhost:8765",
                "Connection: Upgrade",
                "Pragma: no-cache",
                "Cache-Control: no-cache",
                "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Upgrade: websocket",
                "Origin: http://localhost:8000",
                "Sec-WebSocket-Version: 13",
                "Accept-Encoding: gzip, deflate, br, zstd",
                "Accept-Language: en-US,en;q=0.9",
                KEY,
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            ]
        ),
    ),
    Sample(
        "firefox",
        "Firefox 133: Connection: keep-alive, Upgrade",
        _request(
            [
                "Host: localhost:8765",
                "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 "
                "Firefox/133.0",
                "Accept: */*",
                "Accept-Language: en-US,en;q=0.5",
                "Accept-Encoding: gzip, deflate, br, zstd",
                "Sec-WebSocket-Version: 13",
                "Origin: http://localhost:8000",
                "Sec-WebSocket-Extensions: permessage-deflate",
                KEY,
                "Connection: keep-alive, Upgrade",
                "Sec-Fetch-Dest: empty",
                "Sec-Fetch-Mode: websocket",
                "Sec-Fetch-Site: same-site",
                "Pragma: no-cache",
                "Cache-Control: no-cache",
                "Upgrade: websocket",
            ]
        ),
    ),
    Sample(
        "safari",
        "Safari 18",
        _request(
            [
                "Host: localhost:8765",
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Origin: http://localhost:8000",
                "Pragma: no-cache",
                "Cache-Control: no-cache",
                "Sec-WebSocket-Extensions: permessage-deflate",
                "Accept-Language: en-GB,en;q=0.9",
                "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
                "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Accept-Encoding: gzip, deflate",
                "Sec-WebSocket-Version: 13",
            ]
        ),
    ),
    Sample(
        "curl",
        "curl 8.11 ws://",
        _request(
            [
                "Host: localhost:8765",
                "User-Agent: curl/8.11.1",
                "Accept: */*",
                "Upgrade: websocket",
                "Sec-WebSocket-Version: 13",
                KEY,
                "Connection: Upgrade",
            ]
        ),
    ),
    Sample(
        "node-ws",
        "Node ws 8",
        _request(
            [
                "Sec-WebSocket-Version: 13",
                KEY,
                "Connection: Upgrade",
                "Upgrade: websocket",
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
                "Host: localhost:8765",
            ]
        ),
    ),
    Sample(
        "hybi-08",
        "Chrome 14 / Firefox 7, draft 8 (hybi-08..12)",
        _request(
            [
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Host: localhost:8765",
                "Sec-WebSocket-Origin: http://localhost:8000",
                KEY,
                "Sec-WebSocket-Version: 8",
            ]
        ),
    ),
    *(
        Sample(
            f"hybi-{n:02d}",
            f"draft {n} (hybi-{n:02d})",
            _request(
                [
                    "Host: localhost:8765",
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    KEY,
                    "Sec-WebSocket-Origin: http://localhost:8000",
                    f"Sec-WebSocket-Version: {n}",
                ]
            ),
        )
        for n in (7, 6, 5, 4)
    ),
    Sample(
        "hybi-03",
        "hybi-03: hixie-76 keys with Sec-WebSocket-Draft: 3",
        _request(
            [
                "Host: localhost:8765",
                "Upgrade: WebSocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Draft: 3",
                "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5",
                "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00",
                "Origin: http://localhost:8000",
            ],
            b"^n:ds[4U",
        ),
    ),
    Sample(
        "hybi-00",
        "hybi-00: hixie-76 keys with Sec-WebSocket-Draft: 0",
        _request(
            [
                "Host: localhost:8765",
                "Upgrade: WebSocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Draft: 0",
                "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5",
                "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00",
                "Origin: http://localhost:8000",
            ],
            b"^n:ds[4U",
        ),
    ),
    Sample(
        "hixie-76",
        "hixie-76 (Safari 5, Chrome 6): Key1, Key2 and an 8-byte key3",
        _request(
            [
                "Host: example.com",
                "Connection: Upgrade",
                "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00",
                "Sec-WebSocket-Protocol: sample",
                "Upgrade: WebSocket",
                "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5",
                "Origin: http://example.com",
            ],
            b"^n:ds[4U",
            target="/demo",
        ),
    ),
    Sample(
        "hixie-75",
        "hixie-75 (Chrome 4): no key, no version",
        _request(
            [
                "Upgrade: WebSocket",
                "Connection: Upgrade",
                "Host: example.com",
                "Origin: http://example.com",
                "WebSocket-Protocol: sample",
            ],
            target="/demo",
        ),
    ),
    Sample(
        "unassigned-14",
        "an unassigned version number",
        _request(
            [
                "Host: localhost:8765",
                "Upgrade: websocket",
                "Connection: Upgrade",
                KEY,
                "Sec-WebSocket-Version: 14",
            ]
        ),
    ),
    Sample(
        "malformed-013",
        "a version with a leading zero",
        _request(
            [
                "Host: localhost:8765",
                "Upgrade: websocket",
                "Connection: Upgrade",
                KEY,
                "Sec-WebSocket-Version: 013",
            ]
        ),
    ),
    Sample(
        "no-version",
        "an RFC 6455 key but no version",
        _request(["Host: localhost:8765", "Upgrade: websocket", "Connection: Upgrade", KEY]),
    ),
    Sample("plain-get", "a plain HTTP GET", _request(["Host: localhost:8765", "Accept: */*"])),
)
