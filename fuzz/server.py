"""Fuzz the server negotiator: arbitrary bytes, in arbitrary chunks, under one of
several policies, then ``accept()`` (with and without the caller's choices),
``reject()`` or ``time_out()`` as a server would.

    python fuzz/server.py -max_total_time=600 fuzz/corpus/server

Input: a policy byte, an action byte, a chunking byte, a time-out byte, then the
bytes the client sends. Only documented outcomes pass: events, and
``LocalProtocolError`` where the caller's own choice is refused (an extension
answer that accepts no offer, a call out of turn). Checked on every run: each
refusal is one complete HTTP/1.1 response with ``Connection: close`` and a right
``Content-Length``, with no body when the request's method is HEAD; each 101
carries the ``Sec-WebSocket-Accept`` of the request's key (computed here); after
a refusal nothing more is parsed; the trailing data after a 101 are the bytes
after the head; chunking changes nothing.
"""

from __future__ import annotations

from fuzzlib import (
    Choices,
    check_refusal,
    check_switch,
    header_values,
    main,
    parse_request,
    split,
)

import wsnegotiate as ws
from wsnegotiate._headers import parse_extensions
from wsnegotiate.cli.samples import SAMPLES

Event = ws.NeedData | ws.Request | ws.Rejected | ws.ConnectionClosed | ws.Accepted

POLICIES = (
    ws.Policy(),
    ws.Policy([13, 8, 7]),
    ws.Policy([13, 8, 7], subprotocols=["chat", "superchat", "sample"], reject_status=400),
    ws.Policy(origins=["http://localhost:8000", "http://example.com"]),
    ws.Policy(max_request_bytes=64),
    ws.Policy([13, 8], max_request_bytes=300, deflate=None),
    ws.Policy(deflate=None, reject_status=400),
    ws.Policy([13, 8], max_field_lines=8, max_field_line_bytes=80, max_offers=2),
    ws.Policy(
        [7, 8, 13],
        deflate=ws.DeflateOptions(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=9,
            client_max_window_bits=15,
            memory_level=1,
        ),
    ),
    ws.Policy(
        [13, 7],
        choose_subprotocol=lambda request: (
            request.subprotocols[-1] if request.subprotocols else None
        ),
        check_origin=lambda origin: origin is None or origin.endswith(":8000"),
    ),
)

#: What the server does with a Request; the first ones must never raise.
ACTIONS = (
    "accept",
    "accept-none",
    "accept-offered",
    "accept-no-deflate",
    "accept-headers",
    "accept-policy-extension",
    "accept-first-extension",  # may be refused: LocalProtocolError
    "reject",
    "reject-reason",
    "reject-redirect",
    "reject-body",
    "out-of-turn",
)


def decide(negotiator: ws.ServerNegotiator, request: ws.Request, action: str) -> Event:
    """What a server does with the request (``action``)."""
    if action == "accept-none":
        return negotiator.accept(None)
    if action == "accept-offered":
        offered = request.subprotocols[0] if request.subprotocols else None
        return negotiator.accept(offered)
    if action == "accept-no-deflate":
        return negotiator.accept(deflate=False)
    if action == "accept-headers":
        return negotiator.accept(extra_headers=[("Server", "fuzz"), ("X-Request", "1")])
    if action == "accept-policy-extension":
        agreed = negotiator.policy.deflate_for(request)
        return negotiator.accept(extensions=[agreed.answer()] if agreed else [])
    if action == "accept-first-extension" and request.extensions:
        try:
            return negotiator.accept(extensions=request.extensions[:1])
        except ws.LocalProtocolError:  # documented: an answer that accepts no offer
            assert negotiator.state is ws.State.DECIDING
            return negotiator.accept()
    if action == "reject":
        return negotiator.reject()
    if action == "reject-reason":
        return negotiator.reject(404, f"no route to {request.target!r} for {request.host!r}")
    if action == "reject-redirect":
        return negotiator.reject(302, "moved", [("Location", "/elsewhere")])
    if action == "reject-body":
        headers = [("Retry-After", "30")]
        body = b'{"retry": 30}'
        return negotiator.reject(429, "slow down", headers, body=body, content_type="a/json")
    if action == "out-of-turn":
        for call in (lambda: negotiator.time_out(1), negotiator.next_event):
            try:
                call()
            except ws.LocalProtocolError:
                assert negotiator.state is ws.State.DECIDING
            else:
                raise AssertionError("a call out of turn was not refused")
    return negotiator.accept()


def test_one_input(data: bytes) -> None:
    choices = Choices(data)
    policy = choices.pick(POLICIES)
    action = choices.pick(ACTIONS)
    chunking = choices.byte()
    timing = choices.byte()
    sent = choices.rest()
    chunks = split(sent, chunking)
    eof, time_out_after = timing & 1, (timing >> 1) - 1  # -1: never time out

    negotiator = ws.ServerNegotiator(policy)
    event: Event = ws.NeedData()
    fed = 0
    timed_out = False
    for index, chunk in enumerate([*chunks, *([b""] if eof else [])]):
        if index == time_out_after:
            event, timed_out = negotiator.time_out(2.5), True
            break
        negotiator.receive_data(chunk)
        fed += 1
        if negotiator.state is ws.State.AWAITING_REQUEST:
            assert negotiator.buffered <= policy.max_request_bytes + len(chunk)
        event = negotiator.next_event()
        if not isinstance(event, ws.NeedData):
            break
    unfed = b"".join(chunks[fed:])

    if isinstance(event, ws.ConnectionClosed):
        assert not sent
    if isinstance(event, ws.Request):
        event = decide(negotiator, event, action)
    if isinstance(event, ws.Rejected):
        to_head = b"".join(chunks[:fed]).startswith(b"HEAD ")  # the method of what was read
        check_rejected(negotiator, event, timed_out, unfed, to_head)
    elif isinstance(event, ws.Accepted):
        check_accepted(negotiator, event, sent, unfed)
    if not timed_out and action == "accept":
        check_chunking_changes_nothing(sent, policy, event, eof=bool(eof) and not unfed)


def check_rejected(
    negotiator: ws.ServerNegotiator,
    event: ws.Rejected,
    timed_out: bool,
    unfed: bytes,
    to_head: bool,
) -> None:
    check_refusal(event.response, event.status, to_head=to_head)
    if event.error is not None:  # the negotiator's own refusal carries its answer
        assert isinstance(event.error, ws.RemoteProtocolError)
        assert event.error.status == event.status
        assert event.error.headers == event.headers
        assert (event.status == 408) if timed_out else (400 <= event.status <= 599)
    assert negotiator.state is ws.State.CLOSED
    negotiator.receive_data(unfed or b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    negotiator.receive_data(b"")
    assert negotiator.buffered == 0  # nothing after a refusal is kept, let alone parsed
    try:
        negotiator.next_event()
    except ws.LocalProtocolError:
        pass
    else:
        raise AssertionError("next_event() after a refusal did not refuse")


def check_accepted(
    negotiator: ws.ServerNegotiator, event: ws.Accepted, sent: bytes, unfed: bytes
) -> None:
    parsed = parse_request(sent)
    assert parsed is not None, "accepted a request h11 does not read to its end"
    request, after_head = parsed
    keys = header_values(request.headers, b"sec-websocket-key")
    assert len(keys) == 1, keys
    headers = check_switch(event.response, keys[0])
    assert event.trailing_data + unfed == after_head
    assert negotiator.state is ws.State.SWITCHED
    protocols = header_values(headers, b"sec-websocket-protocol")
    if event.subprotocol is None:
        assert protocols == []
    else:
        assert protocols == [event.subprotocol.encode()]
        assert event.subprotocol in event.request.subprotocols
    extensions = header_values(headers, b"sec-websocket-extensions")
    assert extensions == ([", ".join(event.extensions).encode()] if event.extensions else [])
    deflate = [
        dict(offer[1][0].params)
        for text in event.extensions
        if not isinstance(offer := parse_extensions(text.encode("latin-1")), int)
        and offer[1][0].name.lower() == "permessage-deflate"
    ]
    if event.deflate is None:
        assert deflate == [], event.extensions
    else:  # the answer as the caller wrote it (any case, any order) says what was agreed
        agreed = parse_extensions(event.deflate.answer().encode())
        assert not isinstance(agreed, int)
        assert deflate == [dict(agreed[1][0].params)], (event.extensions, event.deflate)
    try:
        negotiator.receive_data(b"\x81\x00")
    except ws.LocalProtocolError:
        pass  # documented: after the 101 the bytes belong to the frame layer
    else:
        raise AssertionError("receive_data() after the 101 was not refused")


def check_chunking_changes_nothing(
    sent: bytes, policy: ws.Policy, event: Event, *, eof: bool
) -> None:
    """The policy's decision on the whole input at once is the one reached chunk by
    chunk (an end of file matters only where the head was incomplete)."""
    whole = ws.negotiate(sent, policy)
    if isinstance(event, ws.Accepted):
        parsed = parse_request(sent)
        assert isinstance(whole, ws.Accepted) and parsed is not None, whole
        assert (whole.response, whole.trailing_data) == (event.response, parsed[1])
    elif isinstance(event, ws.Rejected) and not (eof and isinstance(whole, ws.NeedData)):
        assert isinstance(whole, ws.Rejected), whole
        assert whole.response == event.response
    elif isinstance(event, ws.NeedData):
        assert isinstance(whole, ws.NeedData), whole


def seeds() -> list[bytes]:
    """Every bundled sample under every policy, with the usual and a few odd
    actions and chunkings, with a frame after the head."""
    chrome = SAMPLES[0].data
    odd = [  # the faults the samples do not show, each on the Chrome request
        chrome.replace(b"GET", b"POST", 1),
        chrome.replace(b"GET", b"HEAD", 1),
        chrome.replace(b"HTTP/1.1", b"HTTP/1.0", 1),
        chrome.replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\nhello"),
        chrome.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        chrome.replace(b"Pragma: no-cache", b"Pragma: no\x01cache"),
        chrome.replace(b"Pragma: no-cache", b"Pragma : no-cache"),
        chrome.replace(b"Pragma: no-cache", b"Pragma: no-cache\r\n folded"),
        chrome.replace(b"Pragma: no-cache", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
        chrome.replace(b"Pragma: no-cache", b"Sec-WebSocket-Protocol: chat, superchat"),
        chrome.replace(b"\r\n", b"\n"),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        chrome.replace(b"/chat", b"*", 1),
        chrome.replace(b"/chat", b"/chat#room", 1),
        chrome.replace(b"/chat", b"http://localhost:8765/chat?room=1", 1),
        chrome.replace(b"/chat", b"ws://localhost:8765/chat", 1),
        chrome.replace(b"Host: localhost:8765", b"Host: user@localhost:8765", 1),
        chrome.replace(b"Pragma: no-cache", b"Sec-WebSocket-Protocol: , ,"),
    ]
    found = []
    for data in odd:
        found += [bytes([policy, 0, 0, 0]) + data for policy in (0, 2)]
    long_target = chrome.replace(b"/chat", b"/" + b"p" * 100, 1)  # past 80 bytes, and 64
    for policy in (4, 7):  # max_request_bytes=64; max_field_line_bytes=80
        found += [bytes([policy, 0, chunking, 0]) + long_target for chunking in (0, 1, 9)]
        found.append(bytes([policy, 0, 9, 0]) + long_target[:90])  # the line not ended
    for sample in SAMPLES:
        data = sample.data + b"\x81\x05hello"
        for policy in range(len(POLICIES)):
            found.append(bytes([policy, 0, 0, 0]) + data)
        for action in range(1, len(ACTIONS)):
            found.append(bytes([action % len(POLICIES), action, 7, 0]) + data)
        found.append(bytes([1, 0, 1, 0]) + data)  # a byte at a time
        found.append(bytes([2, 0, 13, 61]) + data[: len(data) // 2])  # a time-out
        found.append(bytes([0, 0, 0, 1]) + data[:-40])  # end of file inside the head
    return found


if __name__ == "__main__":
    main(test_one_input, seeds)
