"""Properties of the server negotiator, checked with hypothesis."""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import pairwise

from factory import mutate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wsnegotiate as ws
from wsnegotiate._head import describe_malformed, line_fault
from wsnegotiate.cli.samples import SAMPLES

Outcome = ws.Accepted | ws.Rejected | ws.NeedData | ws.ConnectionClosed


def run(chunks: list[bytes], policy: ws.Policy | None = None, eof: bool = False) -> Outcome:
    """Feed chunks one at a time, as a server loop would, asking for an event after
    each; on an accept, the chunks not yet fed are what the frame layer reads next,
    so they are appended to the trailing data."""
    negotiator = ws.ServerNegotiator(policy)
    limit = negotiator.policy.max_request_bytes
    event: object = ws.NeedData()
    pending = [*chunks, *([b""] if eof else [])]
    while pending:
        chunk = pending.pop(0)
        negotiator.receive_data(chunk)
        assert (
            negotiator.buffered <= limit + len(chunk)
            or negotiator.state is not ws.State.AWAITING_REQUEST
        )
        event = negotiator.next_event()
        if not isinstance(event, ws.NeedData):
            break
    if isinstance(event, ws.Request):
        accepted = negotiator.accept()
        return replace(accepted, trailing_data=accepted.trailing_data + b"".join(pending))
    assert isinstance(event, ws.NeedData | ws.Rejected | ws.ConnectionClosed)
    if isinstance(event, ws.Rejected):
        assert negotiator.buffered == 0  # nothing kept after a refusal
    return event


def key(outcome: Outcome) -> tuple[object, ...]:
    if isinstance(outcome, ws.Accepted):
        return ("accepted", outcome.response, outcome.trailing_data)
    if isinstance(outcome, ws.Rejected):
        return ("rejected", outcome.response)
    return (type(outcome).__name__,)


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in pairwise(bounds) if b > a] or [data]


samples = st.sampled_from(SAMPLES).map(lambda sample: sample.data + b"\x81\x00trailing")


@given(st.data(), samples)
def test_chunking_never_changes_the_outcome(data: st.DataObject, request: bytes) -> None:
    whole = run([request])
    assert key(run(data.draw(split(request)))) == key(whole)


@given(st.binary(max_size=600), st.data())
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_bytes_give_an_answer_or_need_data(blob: bytes, data: st.DataObject) -> None:
    outcome = run(data.draw(split(blob)) if blob else [], eof=data.draw(st.booleans()))
    if isinstance(outcome, ws.Rejected):
        assert outcome.error is not None
        assert outcome.response.startswith(f"HTTP/1.1 {outcome.status} ".encode())
        # no content in an answer to HEAD (RFC 9110 §9.3.2)
        body = b"" if blob.startswith(b"HEAD ") else outcome.reason.encode() + b"\n"
        assert outcome.response.endswith(b"\r\n\r\n" + body)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(SAMPLES)).data
    return mutate(draw, data, [0, 9, 10, 13, 32, 44, 58, 59, 61, 34, 255, *b'Aa0,;:="'], 6)


@given(mutated(), st.data())
def test_mutated_requests_give_an_answer_or_a_documented_error(
    request: bytes, data: st.DataObject
) -> None:
    outcome = run(data.draw(split(request)), eof=True)
    assert key(outcome) == key(run([request], eof=True))
    if isinstance(outcome, ws.Rejected):
        assert isinstance(outcome.error, ws.RemoteProtocolError)
        assert 400 <= outcome.status <= 599


@given(st.integers(64, 2048), st.integers(1, 3000), st.data())
def test_size_limit_holds_however_chunked(limit: int, extra: int, data: st.DataObject) -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"p" * (limit + extra)
    outcome = run(data.draw(split(head + b"\r\n\r\n")), ws.Policy(max_request_bytes=limit))
    assert isinstance(outcome, ws.Rejected) and outcome.status == 431


@given(st.integers(64, 2048), st.integers(64, 2048), st.integers(1, 3000), st.data())
def test_a_long_target_is_a_414_however_chunked(
    line_limit: int, head_limit: int, extra: int, data: st.DataObject
) -> None:
    """RFC 9112 §3: 414 for a request-target past the limit, whether the request
    line ends in the same chunk or long after the limit was passed."""
    target = b"/" + b"p" * (min(line_limit, head_limit) + extra)
    request = b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    policy = ws.Policy(max_request_bytes=head_limit, max_field_line_bytes=line_limit)
    for sent in (request, request[: len(target) + 4]):
        outcome = run(data.draw(split(sent)), policy)
        assert isinstance(outcome, ws.Rejected) and outcome.status == 414, outcome


def first_line_fault(head: bytes) -> str | None:
    """The first fault of a head, read line by line: what the one-match scan in
    ``describe_malformed`` must find."""
    for number, line in enumerate(head.split(b"\n"), start=1):
        fault = line_fault(number, line[:-1] if line.endswith(b"\r") else line)
        if fault is not None or (number > 1 and not line.rstrip(b"\r")):
            return fault
    return None  # pragma: no cover - a head ends with its blank line


_LINE_BYTES = [*b"Aa0-:;/. \t\r\x00\x08\x7f\x80\xff", 0x1F]
head_lines = st.lists(
    st.one_of(
        st.sampled_from(
            [b"Host: a", b"X: \tb\x80", b" fold", b"\tfold", b"X : a", b"X:", b"X: \x08", b"X:\x7f"]
        ),
        st.lists(st.sampled_from(_LINE_BYTES), max_size=8).map(bytes),
    ),
    max_size=6,
)


@settings(max_examples=500)
@given(
    st.sampled_from([b"GET / HTTP/1.1", b"GET  / HTTP/1.1", b"GET / HTTP/1.1\r", b"\x00GET / X"]),
    head_lines,
    st.sampled_from([b"\r\n", b"\n"]),
)
def test_the_line_to_blame_is_the_first_at_fault(
    request_line: bytes, lines: list[bytes], ending: bytes
) -> None:
    head = ending.join([request_line, *(line for line in lines if line.strip(b"\r"))]) + ending * 2
    if re.search(rb"\n\r?\n", head).end() != len(head):  # type: ignore[union-attr]
        return  # a line of \r made the blank line come sooner: another head
    reason, _ = describe_malformed(head, "")
    assert reason == (first_line_fault(head) or "malformed HTTP request head (RFC 9112)")
