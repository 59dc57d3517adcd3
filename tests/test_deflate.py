"""permessage-deflate (RFC 7692) on real request bytes, with the 101 asserted
byte-exact; the caller's own extension answers; the client's checks of an answer;
and the hand-off to wsproto, which must compress exactly as agreed."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import wsproto.events as frames
from factory import ACCEPT, h11_request, parse_response, raw_request, rfc6455
from hypothesis import given
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.uri import parse_uri

import wsnegotiate as ws
import wsnegotiate.wsproto
from wsnegotiate.cli.samples import SAMPLES

HEAD_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n"
)


def accept(*offers: str, policy: ws.Policy | None = None) -> ws.Accepted:
    """The policy's answer to a request with these Sec-WebSocket-Extensions lines."""
    extra = [("Sec-WebSocket-Extensions", offer) for offer in offers]
    result = ws.negotiate(raw_request(rfc6455(extra=extra)), policy)
    assert isinstance(result, ws.Accepted), result
    return result


def answered(answer: str | None) -> bytes:
    """The exact 101 with this Sec-WebSocket-Extensions answer, or none."""
    field = b"" if answer is None else f"Sec-WebSocket-Extensions: {answer}\r\n".encode()
    return HEAD_101 + field + b"\r\n"


def sample(name: str) -> bytes:
    return next(s.data for s in SAMPLES if s.name == name)


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("chrome", "permessage-deflate; client_max_window_bits=12"),  # bare client bits
        ("firefox", "permessage-deflate"),
        ("safari", "permessage-deflate"),
        ("node-ws", "permessage-deflate; client_max_window_bits=12"),
    ],
)
def test_browser_and_library_offers(name: str, answer: str) -> None:
    result = ws.negotiate(sample(name))
    assert isinstance(result, ws.Accepted)
    assert result.response == answered(answer)
    assert result.extensions == (answer,)
    assert result.deflate is not None and result.deflate.answer() == answer


def test_websockets_clients_own_offer() -> None:
    client = ClientProtocol(
        parse_uri("ws://localhost/"),
        extensions=[ClientPerMessageDeflateFactory(client_max_window_bits=True)],
    )
    request = client.connect()
    offer = request.headers["Sec-WebSocket-Extensions"]
    result = accept(offer)
    assert result.deflate == ws.DeflateParams(
        client_max_window_bits=12, window_bits=12, memory_level=5
    )
    assert result.extensions == ("permessage-deflate; client_max_window_bits=12",)


@pytest.mark.parametrize(
    ("offers", "answer"),
    [
        # RFC 7692 §7.1: an invalid offer is declined, the next valid one accepted
        (("permessage-deflate; foo, permessage-deflate; server_no_context_takeover",),
         "permessage-deflate; server_no_context_takeover"),
        (("permessage-deflate; server_max_window_bits=7",), None),
        (("permessage-deflate; server_max_window_bits=16",), None),
        (("permessage-deflate; server_max_window_bits=010",), None),
        (("permessage-deflate; server_max_window_bits",), None),  # needs a value
        (("permessage-deflate; client_max_window_bits=7",), None),
        (("permessage-deflate; server_no_context_takeover=1",), None),  # takes no value
        (("permessage-deflate; client_no_context_takeover; client_no_context_takeover",), None),
        (("permessage-deflate; x-unknown",), None),
        # zlib widens an 8-bit raw window to 9: never promise 8 (declined, then the next)
        (("permessage-deflate; server_max_window_bits=8, permessage-deflate",), "permessage-deflate"),
        # the server's own window is announced only when the client asked for a limit
        (("permessage-deflate; server_max_window_bits=10",),
         "permessage-deflate; server_max_window_bits=10"),
        (("permessage-deflate; server_max_window_bits=14",),
         "permessage-deflate; server_max_window_bits=12"),
        (('permessage-deflate; server_max_window_bits="10"',),  # a quoted value
         "permessage-deflate; server_max_window_bits=10"),
        (("permessage-deflate; client_max_window_bits=10",),
         "permessage-deflate; client_max_window_bits=10"),
        (("permessage-deflate; client_max_window_bits=15",),
         "permessage-deflate; client_max_window_bits=12"),
        (("permessage-deflate; client_no_context_takeover",),
         "permessage-deflate; client_no_context_takeover"),
        (("x-webkit-deflate-frame, permessage-deflate",), "permessage-deflate"),
        (("x-webkit-deflate-frame", "permessage-deflate; client_max_window_bits"),  # 2 lines
         "permessage-deflate; client_max_window_bits=12"),
        (("x-webkit-deflate-frame",), None),
    ],
)  # fmt: skip
def test_offers_in_order(offers: tuple[str, ...], answer: str | None) -> None:
    result = accept(*offers)
    assert result.response == answered(answer)
    assert (result.deflate.answer() if result.deflate else None) == answer


def test_agreed_windows_and_levels() -> None:
    result = accept("permessage-deflate; server_max_window_bits=10; client_max_window_bits")
    assert result.deflate == ws.DeflateParams(
        server_max_window_bits=10, client_max_window_bits=12, window_bits=10, memory_level=5
    )
    assert (result.deflate.server_window, result.deflate.client_window) == (10, 12)
    firefox = accept("permessage-deflate").deflate
    assert firefox is not None
    assert (firefox.server_window, firefox.client_window, firefox.window_bits) == (15, 15, 12)


def test_policy_wishes() -> None:
    wishes = ws.DeflateOptions(
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=10,
        client_max_window_bits=9,
        memory_level=8,
    )
    result = accept("permessage-deflate; client_max_window_bits", policy=ws.Policy(deflate=wishes))
    assert result.extensions == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "client_max_window_bits=9",
    )
    assert result.deflate is not None and result.deflate.window_bits == 10


def test_compression_off_by_policy_or_per_request() -> None:
    chrome = sample("chrome")
    result = ws.negotiate(chrome, ws.Policy(deflate=None))
    assert isinstance(result, ws.Accepted) and result.deflate is None
    assert result.response == answered(None)
    negotiator = ws.ServerNegotiator()
    negotiator.receive_data(chrome)
    request = negotiator.next_event()
    assert isinstance(request, ws.Request)
    assert request.extension_offers == (
        ws.Extension("permessage-deflate", (("client_max_window_bits", None),)),
    )
    declined = negotiator.accept(deflate=False)  # e.g. a Safari whose inflate is broken
    assert declined.deflate is None and declined.extensions == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"server_max_window_bits": 8}, "server_max_window_bits must be 9-15, not 8"),
        ({"client_max_window_bits": 16}, "client_max_window_bits must be 9-15, not 16"),
        ({"memory_level": 0}, "memory_level must be 1-9, not 0"),
    ],
)
def test_options_are_checked(options: dict[str, int], message: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match=message):
        ws.DeflateOptions(**options)  # type: ignore[arg-type]


# -- the caller's own answers (accept(extensions=...)) ------------------------------


def deciding(*offers: str) -> ws.ServerNegotiator:
    negotiator = ws.ServerNegotiator()
    extra = [("Sec-WebSocket-Extensions", offer) for offer in offers]
    negotiator.receive_data(h11_request(rfc6455(extra=extra)))
    assert isinstance(negotiator.next_event(), ws.Request)
    return negotiator


@pytest.mark.parametrize(
    ("offer", "answer", "message"),
    [
        ("permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=99",
         "client_max_window_bits=99 is not 8-15"),
        ("permessage-deflate", "permessage-deflate; server_max_window_bits=3; bogus_param",
         "server_max_window_bits=3 is not 8-15"),
        ("permessage-deflate", "permessage-deflate; permessage-deflate",
         "unknown parameter permessage-deflate"),
        ("permessage-deflate", "permessage-deflate, permessage-deflate", "breaks RFC 6455"),
        ("permessage-deflate", "permessage-deflate; client_max_window_bits=10",
         "client_max_window_bits was not offered"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits",
         "client_max_window_bits has no value"),
        ("permessage-deflate; client_max_window_bits=10",
         "permessage-deflate; client_max_window_bits=11", "is more than the 10 offered"),
        ("permessage-deflate; server_max_window_bits=10",
         "permessage-deflate; server_max_window_bits=11", "is more than the 10 offered"),
        ("permessage-deflate; server_no_context_takeover", "permessage-deflate",
         "server_no_context_takeover was offered and is missing"),
    ],
)  # fmt: skip
def test_caller_answers_that_break_rfc7692(offer: str, answer: str, message: str) -> None:
    negotiator = deciding(offer)
    with pytest.raises(ws.LocalProtocolError, match=message):
        negotiator.accept(extensions=[answer])
    assert negotiator.state is ws.State.DECIDING  # nothing half-done


def test_caller_answers_one_extension_once() -> None:
    negotiator = deciding("x-a, x-a; p")
    with pytest.raises(ws.LocalProtocolError, match="extension x-a is answered twice"):
        negotiator.accept(extensions=["x-a", "x-a; p"])


def test_caller_answers_of_other_extensions_keep_the_policys_deflate() -> None:
    negotiator = deciding("x-other; level=1, permessage-deflate")
    result = negotiator.accept(extensions=["x-other"])
    assert result.extensions == ("x-other", "permessage-deflate")
    assert result.deflate is not None


def test_caller_answer_replaces_the_policys() -> None:
    negotiator = deciding("permessage-deflate; client_max_window_bits, x-other")
    result = negotiator.accept(
        extensions=["permessage-deflate; server_no_context_takeover; client_max_window_bits=9"]
    )
    assert result.deflate == ws.DeflateParams(
        server_no_context_takeover=True, client_max_window_bits=9, window_bits=12, memory_level=5
    )
    _, headers, _ = parse_response(result.response)
    assert headers[-1] == (
        "Sec-WebSocket-Extensions",
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
    )


# -- the caller's choice of subprotocol and origin ----------------------------------


def test_accept_may_decline_the_policys_subprotocol() -> None:
    policy = ws.Policy(subprotocols=["chat"])
    negotiator = ws.ServerNegotiator(policy)
    negotiator.receive_data(h11_request(rfc6455(extra=[("Sec-WebSocket-Protocol", "chat")])))
    assert isinstance(negotiator.next_event(), ws.Request)
    result = negotiator.accept(None)
    assert result.subprotocol is None
    assert b"Sec-WebSocket-Protocol" not in result.response


def test_subprotocol_chosen_by_a_callable() -> None:
    offers = [("Sec-WebSocket-Protocol", "v1.chat, v2.chat")]
    newest = ws.Policy(choose_subprotocol=lambda request: max(request.subprotocols))
    result = ws.negotiate(h11_request(rfc6455(extra=offers)), newest)
    assert isinstance(result, ws.Accepted) and result.subprotocol == "v2.chat"
    rogue = ws.Policy(choose_subprotocol=lambda request: "mqtt")
    with pytest.raises(ws.LocalProtocolError, match="picked 'mqtt', which the client did not"):
        ws.negotiate(h11_request(rfc6455(extra=offers)), rogue)


def test_origin_checked_by_a_callable() -> None:
    seen: list[str | None] = []

    def same_site(origin: str | None) -> bool:
        seen.append(origin)
        return origin is not None and origin.endswith(".example.com")

    policy = ws.Policy(check_origin=same_site)
    good = ws.negotiate(h11_request(rfc6455(extra=[("Origin", "https://a.example.com")])), policy)
    bad = ws.negotiate(h11_request(rfc6455(extra=[("Origin", "https://evil.test")])), policy)
    none = ws.negotiate(h11_request(rfc6455()), policy)
    assert isinstance(good, ws.Accepted)
    assert isinstance(bad, ws.Rejected) and bad.status == 403
    assert bad.reason == "Origin: forbidden 'https://evil.test'"
    assert isinstance(none, ws.Rejected) and none.status == 403
    assert seen == ["https://a.example.com", "https://evil.test", None]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origins": ["https://a"], "check_origin": bool}, "origins or check_origin"),
        ({"subprotocols": ["chat"], "choose_subprotocol": min}, "subprotocols or choose_"),
    ],
)
def test_a_list_or_a_callable_not_both(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ws.LocalProtocolError, match=message):
        ws.Policy(**kwargs)  # type: ignore[arg-type]


# -- the client ---------------------------------------------------------------------


def client(options: ws.DeflateOptions | bool = True) -> ws.ClientNegotiator:
    return ws.ClientNegotiator("example.com", "/", deflate=options, random=lambda n: b"\0" * n)


def answer_with(negotiator: ws.ClientNegotiator, extensions: str) -> ws.Connected:
    server = ws.ServerNegotiator(ws.Policy(deflate=None))
    server.receive_data(negotiator.data_to_send())
    assert isinstance(server.next_event(), ws.Request)
    negotiator.receive_data(server.accept(extensions=[extensions] if extensions else []).response)
    event = negotiator.next_event()
    assert isinstance(event, ws.Connected)
    return event


def test_client_offers() -> None:
    # like Chrome's: the parameter is supported, the server's window is the server's
    assert b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" in (
        client().data_to_send()
    )
    wishes = ws.DeflateOptions(
        server_no_context_takeover=True, server_max_window_bits=10, client_max_window_bits=9
    )
    assert (
        b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
        b"server_max_window_bits=10; client_max_window_bits\r\n"
    ) in client(wishes).data_to_send()
    assert b"Sec-WebSocket-Extensions" not in client(False).data_to_send()
    with pytest.raises(ws.LocalProtocolError, match="offer it with deflate="):
        ws.ClientNegotiator("h", extensions=["permessage-deflate"], deflate=True)


def test_client_agrees_what_the_server_answered() -> None:
    connected = answer_with(client(), "permessage-deflate; client_max_window_bits=10")
    assert connected.deflate == ws.DeflateParams(
        client_max_window_bits=10, window_bits=10, memory_level=5
    )
    plain = answer_with(client(), "")
    assert plain.deflate is None


def raw_101(negotiator: ws.ClientNegotiator, *extension_lines: str) -> bytes:
    from wsnegotiate._answers import accept_token

    request = negotiator.data_to_send()
    key = request.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_token(key)}",
        *(f"Sec-WebSocket-Extensions: {line}" for line in extension_lines),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("options", "lines", "reason"),
    [
        (True, ["x-other"], "'x-other' was not offered"),
        (True, ["permessage-deflate; foo"], "unknown parameter foo (RFC 7692 §7.1)"),
        (True, ["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
         "repeated parameter server_no_context_takeover"),
        (True, ["permessage-deflate; server_max_window_bits=16"], "server_max_window_bits=16 is not 8-15"),
        (True, ["permessage-deflate; client_max_window_bits"], "client_max_window_bits has no value"),
        (True, ["permessage-deflate; client_max_window_bits=8"], "=8 cannot be kept"),
        (True, ["permessage-deflate", "permessage-deflate"], "permessage-deflate answered twice"),
        (ws.DeflateOptions(server_max_window_bits=10), ["permessage-deflate; server_max_window_bits=11"],
         "server_max_window_bits=11 is more than the 10 offered"),
        (ws.DeflateOptions(server_no_context_takeover=True), ["permessage-deflate"],
         "server_no_context_takeover was offered and is missing"),
    ],
)  # fmt: skip
def test_client_fails_answers_that_break_rfc7692(
    options: ws.DeflateOptions | bool, lines: list[str], reason: str
) -> None:
    negotiator = client(options)
    negotiator.receive_data(raw_101(negotiator, *lines))
    with pytest.raises(ws.InvalidResponse, match=re.escape(reason)) as failure:
        negotiator.next_event()
    assert failure.value.field == "Sec-WebSocket-Extensions"


# -- the hand-off ---------------------------------------------------------------------


def exchange(server: ws.Accepted, client_event: ws.Connected, payload: str) -> tuple[int, str]:
    """One message from the client to the server and back through wsproto: the
    bytes on the wire each way, and what came back."""
    server_frames = wsnegotiate.wsproto.connection(server)
    client_frames = wsnegotiate.wsproto.connection(client_event)
    wire = client_frames.send(frames.TextMessage(data=payload))
    server_frames.receive_data(wire)
    (message,) = list(server_frames.events())
    assert isinstance(message, frames.TextMessage) and message.data == payload
    back = server_frames.send(frames.TextMessage(data=message.data))
    client_frames.receive_data(back)
    (echo,) = list(client_frames.events())
    assert isinstance(echo, frames.TextMessage)
    return len(wire) + len(back), echo.data


@pytest.mark.parametrize(
    "options",
    [
        ws.DeflateOptions(),
        ws.DeflateOptions(server_no_context_takeover=True, client_no_context_takeover=True),
        ws.DeflateOptions(server_max_window_bits=9, client_max_window_bits=9, memory_level=1),
    ],
)
def test_both_sides_compress_as_agreed(options: ws.DeflateOptions) -> None:
    negotiator = ws.ClientNegotiator("example.com", deflate=options)
    server = ws.negotiate(negotiator.data_to_send(), ws.Policy(deflate=options))
    assert isinstance(server, ws.Accepted) and server.deflate is not None
    negotiator.receive_data(server.response)
    connected = negotiator.next_event()
    assert isinstance(connected, ws.Connected) and connected.deflate is not None
    assert connected.extensions == server.extensions
    payload = "compress me " * 20_000  # 240 kB
    for _ in range(2):  # a second message under each context-takeover setting
        size, echoed = exchange(server, connected, payload)
        assert echoed == payload
        assert size < len(payload) // 50


def test_without_deflate_the_frames_are_plain() -> None:
    negotiator = ws.ClientNegotiator("example.com")
    server = ws.negotiate(negotiator.data_to_send())
    assert isinstance(server, ws.Accepted)
    negotiator.receive_data(server.response)
    connected = negotiator.next_event()
    assert isinstance(connected, ws.Connected) and connected.deflate is None
    size, _ = exchange(server, connected, "x" * 1000)
    assert size > 2000


# -- properties -----------------------------------------------------------------------

PARAM = st.sampled_from(
    [
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "x",
    ]
)
VALUE = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=20).map(str),
    st.sampled_from(['"10"', "010", '"x"', "9", "15"]),
)
OFFER = st.builds(
    lambda name, params: "; ".join([name, *(p if v is None else f"{p}={v}" for p, v in params)]),
    st.sampled_from(["permessage-deflate", "permessage-deflate", "x-webkit-deflate-frame"]),
    st.lists(st.tuples(PARAM, VALUE), max_size=5),
)
HEADER = st.one_of(
    st.lists(OFFER, min_size=1, max_size=4).map(", ".join),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
)


@given(
    HEADER,
    st.sampled_from(
        [
            ws.DeflateOptions(),
            ws.DeflateOptions(True, True, server_max_window_bits=9, memory_level=1),
        ]
    ),
)
def test_any_offer_gets_a_101_or_the_documented_400(
    header: str, options: ws.DeflateOptions
) -> None:
    request = raw_request([*rfc6455(), ("Sec-WebSocket-Extensions", header)])
    policy = ws.Policy(deflate=options)
    result = ws.negotiate(request, policy)
    again = ws.negotiate(request, policy)
    assert isinstance(result, ws.Accepted | ws.Rejected)
    assert isinstance(again, type(result)) and again.response == result.response  # the same
    if isinstance(result, ws.Rejected):
        assert result.status == 400
        assert result.reason.startswith(
            ("Sec-WebSocket-Extensions: invalid value", "Sec-WebSocket-Extensions: empty;")
        )
        return
    assert isinstance(result, ws.Accepted)
    if result.deflate is None:
        assert result.extensions == ()
        return
    # every answer our server writes passes our own client's RFC 7692 §7.1 checks
    agreed = result.deflate.answer()
    offers = [o for o in header.split(",") if o.strip().startswith("permessage-deflate")]
    assert any(_client_accepts(offer.strip(), agreed) for offer in offers)


def _client_accepts(offer: str, answer: str) -> bool:
    from wsnegotiate._deflate import answer_fault
    from wsnegotiate._headers import parse_extensions

    parsed_offer, parsed_answer = (
        parse_extensions(offer.encode()),
        parse_extensions(answer.encode()),
    )
    assert not isinstance(parsed_answer, int)
    if isinstance(parsed_offer, int):
        return False
    return answer_fault(parsed_answer[1][0], parsed_offer[1][0]) is None


def test_check_json_reports_the_agreed_extension(tmp_path: Path) -> None:
    from wsnegotiate.cli import main

    capture = tmp_path / "chrome.http"
    capture.write_bytes(sample("chrome"))
    for flag, expected in (
        ("--deflate", {"permessage-deflate": {
            "server_no_context_takeover": False,
            "client_no_context_takeover": False,
            "server_max_window_bits": None,
            "client_max_window_bits": 12,
        }}),
        ("--no-deflate", None),
    ):  # fmt: skip
        out = io.StringIO()
        assert main(["check", str(capture), "--json", flag, "--subprotocols", "chat"], out) == 0
        result = json.loads(out.getvalue())
        assert (result["extensions"], result["subprotocol"]) == (expected, None)
