"""Fuzz the Close-frame payload codec (RFC 6455 §5.5.1, §7.4).

    python fuzz/close.py -max_total_time=600 fuzz/corpus/close

Input: a mode byte, then for ``decode`` the payload, for ``encode`` a 3-byte
signed code and the reason's bytes (read as UTF-8, undecodable bytes kept as
lone surrogates or replaced, as the mode says). Only documented outcomes pass:
``decode_close_payload`` returns a ``ClosePayload`` or raises
``InvalidClosePayload`` (answer 1002 or 1007); ``encode_close_payload`` returns
bytes or raises ``LocalProtocolError``. Checked: what decodes encodes back to
the same bytes, and what encodes decodes back to the same code and reason.
"""

from __future__ import annotations

from fuzzlib import Choices, main

import wsnegotiate as ws

_CODES = {int(code) for code in ws.CloseCode}


def test_one_input(data: bytes) -> None:
    choices = Choices(data)
    mode = choices.byte() % 4
    if mode == 0:
        check_decode(choices.rest())
        return
    code: int | None = int.from_bytes(bytes(choices.byte() for _ in range(3)), "big", signed=True)
    errors = "surrogateescape" if mode == 1 else "replace"
    reason = choices.rest().decode("utf-8", errors)
    if mode == 3:
        code = None if reason else 1000
    check_encode(code, reason)


def check_decode(payload: bytes) -> None:
    for form in (payload, bytearray(payload), memoryview(payload)):
        try:
            decoded = ws.decode_close_payload(form)
        except ws.InvalidClosePayload as exc:
            assert exc.close_code in (1002, 1007), exc.close_code
            continue
        if not payload:
            assert decoded == ws.ClosePayload(1005, "")
            assert ws.encode_close_payload(None) == b""
            continue
        assert ws.is_valid_received(decoded.code) and ws.is_sendable(decoded.code)
        assert isinstance(decoded.code, ws.CloseCode) == (decoded.code in _CODES)
        assert ws.encode_close_payload(decoded.code, decoded.reason) == payload


def check_encode(code: int | None, reason: str) -> None:
    try:
        payload = ws.encode_close_payload(code, reason)
    except ws.LocalProtocolError:
        return  # documented: a code that may not be sent, a payload too long
    assert len(payload) <= 125
    if code is None:
        assert payload == b""
        return
    assert ws.is_sendable(code)
    assert ws.decode_close_payload(payload) == ws.ClosePayload(code, reason)


def seeds() -> list[bytes]:
    """Every code the enum names and a few others, with and without reasons, as
    encode and as decode inputs; the payloads that must fail."""
    found = [b"\x00", b"\x00\x03", b"\x00\x03\xe8\xff\xfe", b"\x00" + b"\x03\xe8" + b"a" * 124]
    for number in (*sorted(_CODES), 0, 999, 1016, 2999, 3000, 4999, 5000, 65535):
        for reason in (b"", b"bye", "caf\u00e9 \u2603".encode(), b"\xc3\x28", b"x" * 124):
            code = number.to_bytes(3, "big", signed=True)
            found += [b"\x00" + code[1:] + reason, b"\x01" + code + reason, b"\x02" + code + reason]
    return found


if __name__ == "__main__":
    main(test_one_input, seeds)
