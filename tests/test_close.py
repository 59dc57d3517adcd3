"""CloseCode, the RFC 6455 §7.4 wire rules and the Close payload codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionState
from wsproto.events import CloseConnection, TextMessage

import wsnegotiate as ws
import wsnegotiate.wsproto
from wsnegotiate import CloseCode

SEED = {
    "CloseCodeNormal": (1000, "Normal closure"),
    "CloseCodeGoingAway": (1001, "Going away"),
    "CloseCodeProtocolError": (1002, "Protocol error"),
    "CloseCodeDatatypeNotSupported": (1003, "Unsupported data"),
    "CloseCodeReserved1004": (1004, "Reserved"),
    "CloseCodeMissingStatusCode": (1005, "No status received"),
    "CloseCodeAbnormalDisconnection": (1006, "Abnormal closure"),
    "CloseCodeWrongDatatype": (1007, "Invalid frame payload data"),
    "CloseCodePolicyViolated": (1008, "Policy violation"),
    "CloseCodeTooMuchData": (1009, "Message too big"),
    "CloseCodeMissingExtension": (1010, "Mandatory extension missing"),
    "CloseCodeBadOperation": (1011, "Internal server error"),
    "CloseCodeServiceRestart": (1012, "Service restart"),
    "CloseCodeTryAgainLater": (1013, "Try again later"),
    "CloseCodeBadGateway": (1014, "Bad gateway"),
    "CloseCodeTlsHandshakeFailed": (1015, "TLS handshake failed"),
}


def test_members_values_and_descriptions() -> None:
    assert {m.name: (m.value, m.description) for m in CloseCode} == SEED
    assert CloseCode(1000) is CloseCode.CloseCodeNormal
    assert int(CloseCode.CloseCodeNormal) == 1000
    assert isinstance(CloseCode.CloseCodeNormal, int)


WIRE_RULES = [
    (0, False),
    (999, False),
    (1000, True),
    (1003, True),
    (1004, False),
    (1005, False),
    (1006, False),
    (1007, True),
    (1011, True),
    (1012, True),
    (1014, True),
    (1015, False),
    (1016, False),
    (2999, False),
    (3000, True),
    (4999, True),
    (5000, False),
    (65535, False),
]


@pytest.mark.parametrize(("code", "allowed"), WIRE_RULES)
def test_wire_rules(code: int, allowed: bool) -> None:
    assert ws.is_sendable(code) is allowed
    assert ws.is_valid_received(code) is allowed


def test_encode() -> None:
    assert ws.encode_close_payload(1000, "bye") == b"\x03\xe8bye"
    assert ws.encode_close_payload(CloseCode.CloseCodeGoingAway) == b"\x03\xe9"
    assert ws.encode_close_payload(None) == b""
    assert ws.encode_close_payload(4000, "é" * 61) == b"\x0f\xa0" + "é".encode() * 61  # 124 bytes


@pytest.mark.parametrize(
    ("code", "reason", "message"),
    [
        (None, "why", "needs a status code"),
        (1005, "", "may not be sent"),
        (999, "", "may not be sent"),
        (1000, "x" * 124, "exceeds 125"),
        (1000, "é" * 62, "exceeds 125"),
        # found by fuzz/close.py: a lone surrogate escaped as UnicodeEncodeError
        (1000, "caf\udce9", "UTF-8 text .* surrogates not allowed at 3"),
    ],
)
def test_encode_refuses(code: int | None, reason: str, message: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match=message):
        ws.encode_close_payload(code, reason)


def test_decode() -> None:
    assert ws.decode_close_payload(b"") == ws.ClosePayload(CloseCode.CloseCodeMissingStatusCode, "")
    decoded = ws.decode_close_payload(memoryview(b"\x03\xe8bye"))
    assert decoded == ws.ClosePayload(1000, "bye") and decoded.code is CloseCode.CloseCodeNormal
    private = ws.decode_close_payload(bytearray(b"\x0f\xa0"))
    assert private.code == 4000 and type(private.code) is int


@pytest.mark.parametrize(
    ("payload", "close_code", "message"),
    [
        (b"\x03", 1002, "1 byte"),
        (b"\x03\xe8" + b"x" * 124, 1002, "exceeds 125"),
        (b"\x03\xed", 1002, "1005 is not valid"),
        (b"\x00\x00", 1002, "code 0 is not valid"),
        (b"\x03\xe8\xff\xfe", 1007, "not UTF-8"),
    ],
)
def test_decode_refuses(payload: bytes, close_code: int, message: str) -> None:
    with pytest.raises(ws.InvalidClosePayload, match=message) as info:
        ws.decode_close_payload(payload)
    assert info.value.close_code == close_code
    assert isinstance(info.value, ws.ProtocolError)


@given(st.one_of(st.none(), st.integers(0, 70000)), st.text(max_size=130))
def test_codec_round_trip_or_typed_error(code: int | None, reason: str) -> None:
    try:
        payload = ws.encode_close_payload(code, reason)
    except ws.LocalProtocolError:
        return
    decoded = ws.decode_close_payload(payload)
    assert (decoded.code, decoded.reason) == ((1005, "") if code is None else (code, reason))


@given(st.binary(max_size=200))
def test_decode_arbitrary_bytes(payload: bytes) -> None:
    valid = 2 <= len(payload) <= 125 and ws.is_valid_received(int.from_bytes(payload[:2], "big"))
    if not payload or (valid and _utf8(payload[2:])):
        ws.decode_close_payload(payload)
        return
    with pytest.raises(ws.InvalidClosePayload) as info:
        ws.decode_close_payload(payload)
    assert info.value.close_code == (1002 if not valid else 1007)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_protocol_error_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        ws.ProtocolError("x")
    assert ws.LocalProtocolError("boom").message == "boom"


def open_connection() -> Connection:
    client = ws.ClientNegotiator("example.com")
    accepted = ws.negotiate(client.data_to_send())
    assert isinstance(accepted, ws.Accepted)
    return wsnegotiate.wsproto.connection(accepted)


# 1005 aside: to wsproto it means "no code", the empty payload (the test below).
@pytest.mark.parametrize(("code", "allowed"), [rule for rule in WIRE_RULES if rule[0] != 1005])
def test_a_close_we_send_carries_a_code_an_endpoint_may_send(code: int, allowed: bool) -> None:
    """The frame layer refuses what RFC 6455 §7.4 does not let an endpoint send
    (wsproto alone sent 999 as it was, and 1006 as 1000), and sends nothing then."""
    frames = open_connection()
    if allowed:
        wire = frames.send(CloseConnection(code=code, reason="bye"))
        assert wire == b"\x88\x05" + code.to_bytes(2, "big") + b"bye"
        return
    with pytest.raises(ws.LocalProtocolError, match=f"close code {code} may not be sent"):
        frames.send(CloseConnection(code=code, reason="bye"))
    assert frames.state is ConnectionState.OPEN
    assert frames.send(TextMessage(data="still open")) == b"\x81\x0astill open"


def test_a_close_without_a_code_is_still_sent_empty() -> None:
    """1005 is wsproto's "no status code": the empty payload (§5.5.1), as the
    answer to a peer's empty Close is."""
    frames = open_connection()
    frames.receive_data(b"\x88\x80\x00\x00\x00\x00")  # a masked, empty Close
    (close,) = frames.events()
    assert isinstance(close, CloseConnection) and close.code == 1005
    answer = wsnegotiate.wsproto.required_reply(frames, close)
    assert answer is not None
    assert frames.send(answer) == b"\x88\x00"
    for code in (1005, CloseCode.CloseCodeMissingStatusCode):
        assert open_connection().send(CloseConnection(code=code)) == b"\x88\x00"
    with pytest.raises(ws.LocalProtocolError, match="needs a status code"):
        open_connection().send(CloseConnection(code=1005, reason="why"))
