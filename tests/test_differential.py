"""The one-pass readers of the common head (``_fasthead``), and the client's own
request writer, against h11.

Every request the suite knows (the bundled samples, the audit's requests, the
factory's), hand-made edge cases, and 20,000 seeded mutations of five base
requests go through two server negotiators, one reading the common head in one
pass and one giving every head to h11 (``Policy(fast_path=False)``), under
several policies and chunkings; the client's answers likewise through two
client negotiators. Everything that comes out must be equal: events with every
field, errors, response bytes, states, bytes held, trailing data
(``fuzz/differential.py`` says what is compared, and fuzzes the same).
Where the reader takes a head, what it read is also compared with h11's own
reading of it, so a difference is caught even where the decision hides it.

The client writes its request itself, and gives h11 the request only when h11
reads the answer: its bytes are compared with what h11's client writer makes of
the same request, for every version and option (``h11_written``, a reading of
the drafts of its own), and every answer above is also read by clients that
gave h11 the request as they were made, as the client did when h11 wrote it.
"""

from __future__ import annotations

import base64
import functools
import itertools
import random
from collections.abc import Callable, Iterator, Sequence

import h11
import pytest
from factory import KEY, h11_request, raw_request, rfc6455
from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_fuzz_harnesses import load

import wsnegotiate as ws
from wsnegotiate import DeflateOptions
from wsnegotiate._hixie import make_key
from wsnegotiate.cli.audit_cases import CASES, Context
from wsnegotiate.cli.samples import SAMPLES, Sample

differential = load("differential")
POLICIES: tuple[tuple[ws.Policy, ws.Policy], ...] = differential.POLICIES
FRAME: bytes = differential.FRAME
SAMPLE = {sample.name: sample.data for sample in SAMPLES}
CHROME = SAMPLE["chrome"]
RFC_SAMPLE = raw_request(
    [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Origin", "http://example.com"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Version", "13"),
    ]
)  # RFC 6455 §1.2


def chunkings(data: bytes, small: bool) -> Iterator[list[bytes]]:
    yield [data]
    yield [data[i : i + 7] for i in range(0, len(data), 7)]
    if small:
        yield [data[i : i + 1] for i in range(len(data))]


def assert_same_server(data: bytes, policy: int, chunks: list[bytes], eof: bool) -> None:
    fast, h11_only = POLICIES[policy]
    one_pass = differential.server_trace(chunks, fast, eof)
    assert one_pass == differential.server_trace(chunks, h11_only, eof), (data, policy, eof)


def assert_same_everywhere(data: bytes) -> None:
    """``data`` under every policy, whole and in chunks, with and without an end of
    file after it (1-byte chunks under the first two policies)."""
    differential.check_request_reader(data)
    for policy in range(len(POLICIES)):
        for chunks in chunkings(data, small=policy < 2):
            for eof in (False, True):
                assert_same_server(data, policy, chunks, eof)


# -- every request the suite knows --------------------------------------------------------


def audit_requests() -> list[bytes]:
    stream = random.Random(20)
    context = Context(
        "localhost:8765",
        "/chat",
        "http://localhost:8000",
        "chat",
        random=lambda size: stream.randbytes(size),
    )
    return [case.build(context).data for case in CASES]


def factory_requests() -> list[bytes]:
    found = []
    for version in ("13", "8", "7", "0", "14", "013", None):
        for key in (KEY, "short", None):
            found.append(h11_request(rfc6455(version, key)))
    extra = [
        ("Origin", "http://localhost:8000"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits, x-foo"),
    ]
    found.append(h11_request(rfc6455(extra=extra), target="/path?q=1"))
    found.append(raw_request(rfc6455(extra=extra), http="1.0"))
    found.append(raw_request(rfc6455(), method="POST", body=b"x"))
    return found


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.name for sample in SAMPLES])
def test_bundled_samples(sample: Sample) -> None:
    assert_same_everywhere(sample.data + FRAME)


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
def test_audit_requests() -> None:
    requests = audit_requests()
    assert len(requests) >= 70
    for data in requests:
        assert_same_everywhere(data)


def test_factory_requests() -> None:
    for data in factory_requests():
        assert_same_everywhere(data)


def test_the_common_requests_take_the_fast_path() -> None:
    """The proof is not empty: the browsers' requests, the RFC's, a refusal and
    hixie-76's are read in one pass; unusual ones are not."""
    for name in ("chrome", "firefox", "hybi-08", "hixie-76"):
        assert differential.check_request_reader(SAMPLE[name]), name
    assert differential.check_request_reader(RFC_SAMPLE)
    for data in (
        CHROME.replace(b"\r\n", b"\n"),
        CHROME.replace(b"GET", b"POST", 1),
        CHROME.replace(b"Pragma: no-cache", b"Pragma: no-cache\r\n folded"),
        CHROME.replace(b"Pragma: no-cache", b"Content-Length: 0"),
    ):
        assert not differential.check_request_reader(data), data


# -- hand-made edges ----------------------------------------------------------------------


def _edit(old: bytes, new: bytes) -> bytes:
    assert old in CHROME, old
    return CHROME.replace(old, new, 1)


PRAGMA = b"Pragma: no-cache"
EDGES: tuple[bytes, ...] = (
    _edit(PRAGMA, b"Pragma: no-cache\r\n folded"),  # obs-fold
    _edit(PRAGMA, b"Pragma: no-cache\r\n\tfolded: too"),
    CHROME.replace(b"\r\n", b"\n"),  # bare LF line ends
    _edit(PRAGMA + b"\r\n", PRAGMA + b"\n"),  # one bare LF
    _edit(PRAGMA, b"Pragma: no\rcache"),  # a bare CR
    _edit(PRAGMA, b"Pragma: no-cache\r"),
    _edit(PRAGMA, b"Host: localhost:8765"),  # two Hosts
    _edit(PRAGMA, b"HOST: other"),
    _edit(b"Host: localhost:8765", b"X-Host: localhost:8765"),  # no Host
    _edit(b"Host: localhost:8765", b"Host:"),  # an empty Host
    _edit(b"Host: localhost:8765", b"Host: user:pass@localhost:8765"),  # userinfo
    _edit(b"Host: localhost:8765", b"Host: [::1]:8765"),
    _edit(b"Host: localhost:8765", b"Host: localhost"),
    _edit(b"Host: localhost:8765", b"host:localhost:8765"),
    _edit(PRAGMA, b"Content-Length: 0"),
    _edit(PRAGMA, b"content-length: 0, 0"),
    _edit(PRAGMA, b"Content-Length: 5") + b"hello",
    _edit(PRAGMA, b"Content-Length: x"),
    _edit(PRAGMA, b"Transfer-Encoding: chunked") + b"0\r\n\r\n",
    _edit(PRAGMA, b"transfer-encoding: gzip"),
    _edit(PRAGMA, b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
    _edit(b"HTTP/1.1", b"HTTP/1.0"),
    _edit(b"HTTP/1.1", b"HTTP/2.0"),
    _edit(b"HTTP/1.1", b"HTTP/1.10"),
    _edit(b"HTTP/1.1", b"http/1.1"),
    _edit(b"GET /chat", b"GET http://localhost:8765/chat"),  # absolute-form
    _edit(b"GET /chat", b"GET localhost:8765"),  # authority-form
    _edit(b"GET /chat", b"GET *"),
    _edit(b"GET /chat", b"GET /chat#fragment"),
    _edit(b"GET /chat", b"GET /chat?q=1&r=/x"),
    _edit(b"GET /chat", b"GET /"),
    _edit(b"GET /chat", b"GET /caf\xc3\xa9"),  # non-ASCII in the target
    _edit(b"GET /chat", b"GET /ch at"),
    _edit(b"GET /chat", b"GET  /chat"),
    _edit(b"GET", b"POST"),
    _edit(b"GET", b"get"),
    _edit(b"GET", b"HEAD"),
    _edit(b"GET", b"CONNECT"),
    _edit(PRAGMA, b"Pragma: caf\xc3\xa9"),  # non-ASCII in a value
    _edit(PRAGMA, b"Pragma: caf\xe9"),
    _edit(PRAGMA, b"Pragma: no\x00cache"),  # NUL
    _edit(PRAGMA, b"Pragma: no\x01cache"),  # controls h11 takes
    _edit(PRAGMA, b"Pragma: no\x7fcache"),
    _edit(PRAGMA, b"Pragma: no\x0bcache"),
    _edit(PRAGMA, b"Pragma:"),  # empty values
    _edit(PRAGMA, b"Pragma: \t "),
    _edit(b"Sec-WebSocket-Key: ", b"Sec-WebSocket-Key:\t"),  # tabs
    _edit(PRAGMA, b"Pragma:\tno-cache\t"),
    _edit(PRAGMA, b"Pragma: no  \t cache"),
    _edit(PRAGMA, b"Pragma: no-cache  "),  # trailing whitespace
    _edit(b"Upgrade: websocket", b"Upgrade: websocket \t"),
    _edit(
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Key: dGhl IHNhbXBsZSBub25jZQ==",
    ),
    _edit(b"Upgrade: websocket", b"UPGRADE: WEBSOCKET"),  # case
    _edit(b"Connection: Upgrade", b"connection: upgrade"),
    _edit(b"Sec-WebSocket-Version: 13", b"SEC-WEBSOCKET-VERSION: 13"),
    _edit(PRAGMA, b"Upgrade: websocket"),  # duplicate fields
    _edit(PRAGMA, b"Connection: keep-alive"),
    _edit(PRAGMA, b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
    _edit(PRAGMA, b"Sec-WebSocket-Version: 13"),
    _edit(PRAGMA, b"Origin: http://other.example"),
    _edit(PRAGMA, b"Sec-WebSocket-Extensions: x-foo"),
    _edit(PRAGMA, b"Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat"),
    _edit(PRAGMA, b"Pragma : no-cache"),  # whitespace before the colon
    _edit(PRAGMA, b"Pragma\t: no-cache"),
    _edit(PRAGMA, b"Pra(gma: no-cache"),  # not a token
    _edit(PRAGMA, b": no-cache"),
    _edit(PRAGMA, b"Pragma no-cache"),  # no colon: refused without h11
    _edit(PRAGMA, b"Pragma"),
    _edit(PRAGMA, b"\rPragma no-cache"),
    _edit(PRAGMA, b"Pragma no-cache\r\n continued: with a colon"),
    _edit(PRAGMA, b"Pragma: no-cache\r\n no colon, a continuation"),
    _edit(PRAGMA, b"Pragma: no\x0bcache\r\nno colon"),  # an earlier fault h11 meets first
    _edit(PRAGMA, b"no colon\r\nPragma: no\x0bcache"),
    _edit(PRAGMA, b"Transfer-Encoding: gzip\r\nno colon"),
    _edit(PRAGMA, b"Host: again\r\nno colon"),
    _edit(b"GET /chat", b"GET /chat\xe9").replace(PRAGMA, b"no colon"),  # h11 refuses line 1
    b"GET /chat HTTP/1.1\r\nno colon\r\n\r\n",
    b"NOT A REQUEST LINE\r\nno colon\r\n\r\n",
    _edit(PRAGMA, b"Pragma: no:cache"),  # a colon in the value
    _edit(PRAGMA, b" Pragma: no-cache"),
    _edit(b"\r\n\r\n", b"\r\n\r\n\r\n"),  # one more blank line
    _edit(b"\r\n\r\n", b"\r\n\n"),
    _edit(b"\r\n\r\n", b"\r\n\r\n" + FRAME + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),  # pipelined
    b"GET /chat HTTP/1.1\r\n\r\n",
    b"GET /chat HTTP/1.1\r\nHost: a\r\n\r\n",
    b" GET /chat HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\r\nGET /chat HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    b"GET /chat HTTP/1.1\r\nHost: a",  # incomplete
    b"",
    RFC_SAMPLE,
)


@pytest.mark.parametrize("data", EDGES)
def test_edges(data: bytes) -> None:
    assert_same_everywhere(data)


def near_limits(policy: ws.Policy) -> Iterator[bytes]:
    """The Chrome request grown to a byte below, at and above each of the
    policy's limits: head bytes, field lines, bytes of one field line."""
    head = CHROME[:-2]
    room = policy.max_request_bytes - len(CHROME)
    for delta in (-1, 0, 1):
        size = room + delta - len(b"X-Pad: \r\n")
        if size >= 0:
            yield head + b"X-Pad: " + b"p" * size + b"\r\n\r\n"
    lines = policy.max_field_lines - CHROME.count(b"\r\n") + 2
    for delta in (-1, 0, 1):
        if lines + delta >= 0:
            yield head + b"X: y\r\n" * (lines + delta) + b"\r\n"
    for delta in (-1, 0, 1):
        size = policy.max_field_line_bytes + delta - len(b"X-Long: ")
        yield head + b"X-Long: " + b"l" * size + b"\r\n\r\n"


def test_heads_at_the_limits() -> None:
    for index, (fast, _) in enumerate(POLICIES):
        for data in near_limits(fast):
            differential.check_request_reader(data)
            for chunks in ([data], [data[i : i + 97] for i in range(0, len(data), 97)]):
                for eof in (False, True):
                    assert_same_server(data, index, chunks, eof)


# -- 20,000 seeded mutations ------------------------------------------------------------

BASES = {
    "chrome": CHROME,
    "firefox": SAMPLE["firefox"],
    "rfc6455": RFC_SAMPLE + FRAME,
    "refusal": SAMPLE["hybi-08"],
    "hixie-76": SAMPLE["hixie-76"],
}
MUTATIONS_PER_BASE = 4_000
_ALPHABET = b'\x00\t\n\r !"#,:;=?@/AZaz09~\x7f\x80\xe9\xff'
_LINES = (
    b"Host: other",
    b"host:other",
    b"Content-Length: 0",
    b"Transfer-Encoding: chunked",
    b" folded",
    b"\tfolded: x",
    b"X:",
    b"X: \t",
    b"X : y",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Version: 8",
    b"Sec-WebSocket-Protocol: chat",
    b"Origin: http://localhost:8000",
    b"no colon",
)


def mutate(data: bytes, others: list[bytes], rng: random.Random) -> bytes:
    """``data`` with one to three edits: a byte flipped, replaced, inserted or
    deleted; whitespace at a line's edge; lines swapped, repeated, dropped or
    added; a name's case changed; a splice with another request."""
    for _ in range(rng.randint(1, 3)):
        lines = data.split(b"\r\n")
        at = rng.randrange(len(data) + 1)
        edit = rng.randrange(11)
        if edit == 0 and data:
            flipped = data[min(at, len(data) - 1)] ^ (1 << rng.randrange(8))
            data = data[:at] + bytes([flipped]) + data[at + 1 :]
        elif edit == 1:
            data = data[:at] + bytes([rng.choice(_ALPHABET)]) + data[at + 1 :]
        elif edit == 2:
            data = data[:at] + bytes([rng.choice(_ALPHABET)]) + data[at:]
        elif edit == 3:
            data = data[:at] + data[at + 1 :]
        elif edit == 4:
            where = rng.randrange(len(lines))
            lines[where] = (
                rng.choice([b" ", b"\t", b""]) + lines[where] + rng.choice([b" ", b"\t", b" \t"])
            )
            data = b"\r\n".join(lines)
        elif edit == 5 and len(lines) > 2:
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\r\n".join(lines)
        elif edit == 6 and len(lines) > 2:
            where = rng.randrange(1, len(lines))
            lines.insert(where, lines[where - 1] if rng.random() < 0.5 else rng.choice(_LINES))
            data = b"\r\n".join(lines)
        elif edit == 7 and len(lines) > 3:
            del lines[rng.randrange(1, len(lines) - 2)]
            data = b"\r\n".join(lines)
        elif edit == 8:
            where = rng.randrange(len(lines))
            name, colon, value = lines[where].partition(b":")
            lines[where] = (name.upper() if rng.random() < 0.5 else name.lower()) + colon + value
            data = b"\r\n".join(lines)
        elif edit == 9:
            other = rng.choice(others)
            data = data[:at] + other[rng.randrange(len(other) + 1) :]
        else:
            where = rng.randrange(len(lines))
            name, colon, value = lines[where].partition(b":")
            lines[where] = name + colon + rng.choice([b" ", b"\t", b"  "]) + value.strip()
            data = b"\r\n".join(lines)
    return data


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
@pytest.mark.parametrize("base", BASES)
def test_seeded_mutations(base: str) -> None:
    """4,000 mutations of each base request (20,000 in all), each under a policy
    drawn with it, whole and, for some, in 7-byte or 1-byte chunks, some with an
    end of file after them."""
    rng = random.Random(f"differential {base}")
    others = list(BASES.values())
    taken = 0
    for number in range(MUTATIONS_PER_BASE):
        data = mutate(BASES[base], others, rng)
        taken += differential.check_request_reader(data)
        policy, eof = rng.randrange(len(POLICIES)), rng.random() < 0.25
        assert_same_server(data, policy, [data], eof)
        if number % 8 == 0:
            assert_same_server(data, policy, [data[i : i + 7] for i in range(0, len(data), 7)], eof)
        if number % 200 == 0:
            assert_same_server(data, policy, [data[i : i + 1] for i in range(len(data))], eof)
    # Both paths are exercised: the proof is not made of heads the reader declined.
    assert MUTATIONS_PER_BASE * 0.2 < taken < MUTATIONS_PER_BASE * 0.9, taken


# -- the client's answer ------------------------------------------------------------------

CLIENTS = range(6)


def h11_from_the_start(client: int, fast_path: bool) -> ws.ClientNegotiator:
    """Client ``client`` as it was when h11 wrote its request: h11 made, and given
    the request, as the client is made, whatever the answer turns out to be."""
    negotiator: ws.ClientNegotiator = differential.make_client(client, fast_path)
    negotiator._h11()
    return negotiator


def assert_same_client(client: int, chunks: list[bytes], eof: bool) -> None:
    """The answer ``chunks`` to client ``client``, read in one pass where it can be
    (and by h11 otherwise), and by h11 only; each with h11 given the request only
    when it reads the answer, and as the client is made."""
    one_pass, h11_only, *from_the_start = (
        differential.client_trace(functools.partial(make, client, fast_path), chunks, eof)
        for make in (differential.make_client, h11_from_the_start)
        for fast_path in (True, False)
    )
    assert one_pass == h11_only, (client, chunks, eof)
    assert from_the_start == [one_pass, h11_only], (client, chunks, eof)


def _answer_edits(answer: bytes) -> list[bytes]:
    head, _, after = answer.partition(b"\r\n\r\n")
    first, _, rest = head.partition(b"\r\n")
    edits = [
        answer,
        answer + FRAME,
        first
        + b"\r\nServer: x\r\nDate: Tue, 01 Dec 2026 00:00:00 GMT\r\n"
        + rest
        + b"\r\n\r\n"
        + after,
        answer.lower(),
        answer.replace(b": ", b":\t "),
        answer.replace(b"\r\n\r\n", b"\r\nX: \t\r\n\r\n", 1),
        answer.replace(b"\r\n", b"\n"),
        answer.replace(b"\r\n\r\n", b"\r\n folded\r\n\r\n", 1),
        answer.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n", 1),
        answer.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n", 1),
        answer.replace(b"\r\n\r\n", b"\r\nX: caf\xe9\r\n\r\n", 1),
        b"HTTP/1.1 100 Continue\r\n\r\n" + answer,
        answer.replace(first, b"HTTP/1.0 101 Switching Protocols"),
        answer.replace(first, b"HTTP/1.1 101"),
        answer.replace(first, b"HTTP/1.1 101 "),
        answer.replace(first, b"HTTP/1.1 101 Switching\tProtocols"),
        answer.replace(first, b"HTTP/1.1 101 Caf\xe9"),
        answer.replace(first, b"HTTP/1.1  101 Switching Protocols"),
        answer[: len(head) + 2],  # incomplete
        answer[: len(head) + 4 + 8],  # half of a hixie-76 answer
    ]
    return edits


def client_answers() -> list[tuple[int, bytes]]:
    return [
        (client, edited)
        for client in CLIENTS
        for answer in differential.answers(client)
        for edited in _answer_edits(answer)
    ]


def test_client_answers() -> None:
    taken = 0
    for client, answer in client_answers():
        taken += differential.check_switch_reader(answer)
        for chunks in chunkings(answer, small=False):
            for eof in (False, True):
                assert_same_client(client, chunks, eof)
    for client, answer in CLIENT_BASES:
        assert_same_client(client, [answer[i : i + 1] for i in range(len(answer))], False)
    assert taken >= 30


CLIENT_BASES = [(client, answer) for client in CLIENTS for answer in differential.answers(client)]


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
@pytest.mark.parametrize("quarter", range(4))
def test_seeded_client_mutations(quarter: int) -> None:
    """10,000 mutations of the answers to the clients (2,500 here), whole and, for
    some, in 7-byte or 1-byte chunks, some with an end of file after them."""
    rng = random.Random(f"differential client {quarter}")
    others = [answer for _, answer in CLIENT_BASES]
    taken = 0
    for number in range(2_500):
        client, base = rng.choice(CLIENT_BASES)
        data = mutate(base, others, rng)
        taken += differential.check_switch_reader(data)
        eof = rng.random() < 0.25
        assert_same_client(client, [data], eof)
        if number % 8 == 0:
            assert_same_client(client, [data[i : i + 7] for i in range(0, len(data), 7)], eof)
        if number % 200 == 0:
            assert_same_client(client, [data[i : i + 1] for i in range(len(data))], eof)
    assert 500 < taken < 2_250, taken


def test_the_common_answers_take_the_fast_path() -> None:
    for client in CLIENTS:
        switch = differential.answers(client)[0]
        assert differential.check_switch_reader(switch), client
        assert not differential.check_switch_reader(switch.replace(b"\r\n", b"\n")), client


def test_the_switch_is_off_by_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fast_path=False`` leaves every head to h11: the reader is not called."""
    calls: list[bytes] = []

    def counting(head: bytes) -> None:
        calls.append(head)

    monkeypatch.setattr("wsnegotiate._server.read_request", counting)
    ws.negotiate(CHROME, POLICIES[0][1])
    assert calls == []
    ws.negotiate(CHROME, POLICIES[0][0])
    assert calls == [CHROME]


# -- the client's request -----------------------------------------------------------------

V = ws.Version
Random = Callable[[int], bytes]


def counter() -> Random:
    """A random source that gives the same bytes to two clients made alike."""
    count = itertools.count()
    return lambda n: bytes(next(count) % 256 for _ in range(n))


def h11_written(
    host: str,
    target: str,
    speak: V | str,
    random: Random,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    extensions: Sequence[str] = (),
    deflate: DeflateOptions | bool = False,
    headers: Sequence[tuple[str, str]] = (),
    draft: int | None = None,
) -> bytes:
    """The reference: the request of a client made with these arguments, as h11's
    client writer writes it, with the field lines each draft's handshake has (RFC
    6455 §4.1 for 13; hybi-04..08, whose origin is ``Sec-WebSocket-Origin``, for 4
    to 8; a raw value as version 13 sends it, in UTF-8; hixie-76 with its 8 key
    bytes after the head; hixie-75), then the caller's. Raises what h11 raises
    where it refuses to write it (or ``UnicodeEncodeError``, for a value that is
    not ASCII)."""
    fields: list[tuple[bytes, bytes]] = [(b"Host", host.encode("ascii"))]
    after = b""
    if speak not in (V.Version0, V.VersionUnknown):
        key = base64.b64encode(random(16))
        fields += [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")]
        fields.append((b"Sec-WebSocket-Key", key))
        raw = speak if isinstance(speak, str) else str(speak.value)
        if raw:
            fields.append((b"Sec-WebSocket-Version", raw.encode()))
        if origin is not None:
            new = isinstance(speak, str) or speak is V.Version13
            name = b"Origin" if new else b"Sec-WebSocket-Origin"
            fields.append((name, origin.encode("ascii")))
        if subprotocols:
            fields.append((b"Sec-WebSocket-Protocol", ", ".join(subprotocols).encode("ascii")))
        offers = list(extensions)
        if deflate:
            options = DeflateOptions.for_client() if deflate is True else deflate
            offers.append(options.offer())
        if offers:
            fields.append((b"Sec-WebSocket-Extensions", ", ".join(offers).encode("ascii")))
    else:
        fields += [(b"Upgrade", b"WebSocket"), (b"Connection", b"Upgrade")]
        if speak is V.Version0:
            (key1, _), (key2, _) = make_key(random), make_key(random)
            after = random(8)
            if draft is not None:
                fields.append((b"Sec-WebSocket-Draft", str(draft).encode("ascii")))
            fields += [
                (b"Sec-WebSocket-Key1", key1.encode()),
                (b"Sec-WebSocket-Key2", key2.encode()),
            ]
        if origin is not None:
            fields.append((b"Origin", origin.encode("ascii")))
        if subprotocols:
            name = b"Sec-WebSocket-Protocol" if speak is V.Version0 else b"WebSocket-Protocol"
            fields.append((name, " ".join(subprotocols).encode("ascii")))
    fields += [(name.encode("ascii"), value.encode("ascii")) for name, value in headers]
    connection = h11.Connection(h11.CLIENT)
    request = h11.Request(method="GET", target=target.encode("ascii"), headers=fields)
    return (connection.send(request) or b"") + after


def _speak(version: int | V | str) -> V | str:
    return version if isinstance(version, str) else V(version)


VERSIONS: tuple[int | V | str, ...] = (
    13,
    8,
    7,
    6,
    5,
    4,
    V.Version0,
    V.VersionUnknown,
    "14",
    "013",
    "",
    "١٣",
    "1 3",
)
REQUEST_OPTIONS: dict[str, dict[str, object]] = {
    "plain": {},
    "subprotocols": {"subprotocols": ["chat", "superchat"]},
    "extensions": {"extensions": ["x-webkit-deflate-frame", 'x-foo; a=1; b="x y"']},
    "deflate": {"deflate": True},
    "deflate options": {
        "deflate": DeflateOptions(client_no_context_takeover=True, server_max_window_bits=10)
    },
    "extensions and deflate": {"extensions": ["x-foo"], "deflate": True},
    "origin": {"origin": "http://o.example:8000"},
    "headers": {
        "headers": [
            ("X-A", "b"),
            ("cookie", "a=1; b=2"),
            ("X-Empty", ""),
            ("X-Tabs", "a \t b"),
            ("Upgrade", "h2c"),  # the caller's, after the client's
            ("Sec-WebSocket-Protocol", "extra"),
        ]
    },
    "everything": {
        "origin": "http://o.example",
        "subprotocols": ["chat"],
        "extensions": ["x-foo"],
        "deflate": True,
        "headers": [("Authorization", "Basic dXNlcjpwYXNz"), ("X-B", "!#$%&'*+-.^_`|~")],
    },
    "draft": {"draft": 2},
    "draft and everything": {
        "draft": 0,
        "origin": "http://o.example",
        "subprotocols": ["chat", "superchat"],
        "headers": [("X-A", "b")],
    },
}
PLACES = (
    ("localhost:8765", "/chat"),
    ("[::1]:443", "/a/b?c=d&e=%20&f=/g#h"),
    ("example.com", "http://example.com/abs"),
    ("", "*"),
)


@pytest.mark.parametrize("options", REQUEST_OPTIONS)
@pytest.mark.parametrize("version", VERSIONS, ids=repr)
def test_the_request_is_the_one_h11_writes(version: int | V | str, options: str) -> None:
    """Every version the client speaks, with each option and all of them, in
    several places: ``data_to_send()`` is, byte for byte, what h11 writes."""
    kwargs = REQUEST_OPTIONS[options]
    if "draft" in kwargs and version is not V.Version0:
        return  # draft= goes with Version0 only (test_client's local errors)
    for host, target in PLACES:
        client = ws.ClientNegotiator(host, target, version, random=counter(), **kwargs)  # type: ignore[arg-type]
        expected = h11_written(host, target, _speak(version), counter(), **kwargs)  # type: ignore[arg-type]
        assert client.data_to_send() == expected, (version, options, host, target)


def test_every_attempt_of_a_retry_chain_is_the_one_h11_writes() -> None:
    random, reference = counter(), counter()
    client = ws.ClientNegotiator(
        "h", "/chat", 7, fallback=[13, 8, 4], origin="http://o", random=random
    )
    refusal = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    for version in (7, 13, 8, 4):
        sent = client.data_to_send()
        assert sent == h11_written("h", "/chat", V(version), reference, origin="http://o")
        client.receive_data(refusal)
        assert isinstance(client.next_event(), ws.Refused)
        if version != 4:
            client = client.retry()


def test_the_differential_clients_request_is_the_one_h11_writes() -> None:
    """The requests of the clients every answer above is read by."""
    for client in CLIENTS:
        speak, options = differential._CLIENT_OPTIONS[client]
        written = {k: v for k, v in options.items() if k not in ("fallback", "max_response_bytes")}
        expected = h11_written(
            "localhost:8765", "/chat", _speak(speak), differential._random, **written
        )
        for fast_path in (True, False):
            assert differential.make_client(client, fast_path).data_to_send() == expected


# The control characters h11 writes in a value, and RFC 9110 §5.5 does not admit.
_LOOSE = "".join(map(chr, [*range(1, 9), *range(14, 32), 127]))
# What goes into a value now and then: whitespace (padding at either end, allowed
# inside), what h11 refuses (CR, LF, NUL, VT, FF, non-ASCII) and what it lets through.
_ODD = (" ", "\t", "\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "é", "ـ", "\x01", "\x1f", "\x7f")


@st.composite
def _values(draw: st.DrawFn) -> str:
    """Visible ASCII, and in one of five, an odd character somewhere in it."""
    text = draw(st.text(st.sampled_from("aZ09-_.:;,=/*#\"'"), max_size=8))
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_ODD)) + text[at:]
    return text


_TEXT = _values()
_TOKENS = st.lists(st.sampled_from(["chat", "superchat", "v1.x", "a+b"]), max_size=3, unique=True)
_NAMES = st.sampled_from(["X-A", "cookie", "Host", "content-length", "Transfer-Encoding"]) | _TEXT


@pytest.mark.untraced  # thousands of repetitions: the rest measures their lines
@settings(max_examples=500, deadline=None)
@given(
    host=_TEXT,
    target=_TEXT,
    version=st.sampled_from(VERSIONS) | _TEXT,
    origin=st.none() | _TEXT,
    subprotocols=_TOKENS,
    extensions=st.lists(_TEXT, max_size=2),
    deflate=st.booleans(),
    headers=st.lists(
        st.tuples(_NAMES, _TEXT),
        max_size=2,
    ),
)
def test_any_request_is_h11s_or_refused_more_strictly(
    host: str,
    target: str,
    version: int | V | str,
    origin: str | None,
    subprotocols: list[str],
    extensions: list[str],
    deflate: bool,
    headers: list[tuple[str, str]],
) -> None:
    """Whatever the arguments, the client writes h11's bytes or refuses to write;
    it refuses all h11 refuses, and beyond that only a value with a control
    character h11 lets through, a field that frames a body (h11 rewrites them), or
    extensions for a hixie version, which does not send them on this attempt."""
    kwargs = {
        "origin": origin,
        "subprotocols": subprotocols,
        "extensions": extensions,
        "deflate": deflate,
        "headers": headers,
    }
    ours: bytes | str
    try:
        client = ws.ClientNegotiator(host, target, version, random=counter(), **kwargs)  # type: ignore[arg-type]
        ours = client.data_to_send()
    except ws.LocalProtocolError as error:
        ours = error.message
    theirs: bytes | None
    try:
        theirs = h11_written(host, target, _speak(version), counter(), **kwargs)  # type: ignore[arg-type]
    except (h11.LocalProtocolError, UnicodeEncodeError):
        theirs = None
    if isinstance(ours, bytes):
        event("written as h11 writes it")
        assert ours == theirs
        return
    assert ours.startswith("cannot write this request: "), ours
    event("refused, as h11 refuses" if theirs is None else "refused, where h11 writes")
    if theirs is not None:
        values = [host, origin or "", ", ".join(extensions), *(value for _, value in headers)]
        values.append(version if isinstance(version, str) else "")
        loose = any(char in _LOOSE for value in values for char in value)
        framing = any(
            name.lower() in ("content-length", "transfer-encoding") for name, _ in headers
        )
        unsent = _speak(version) in (V.Version0, V.VersionUnknown) and bool(extensions)
        assert loose or framing or unsent, (ours, kwargs)
