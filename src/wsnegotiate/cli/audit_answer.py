"""What came back from a server in one ``audit`` case, read leniently and without I/O.

The audit must describe any answer, including ones that break HTTP, so this is
not h11: the head is split on LF with an optional CR before it, and every fault
of syntax is recorded beside the fields instead of ending the parse. The
facts it relies on:

- RFC 9112 §4: ``status-line = HTTP-version SP status-code SP [ reason-phrase ]``.
- RFC 9112 §2.2: fields end with CRLF; a recipient MAY take a bare LF (recorded).
- RFC 9112 §5.1: ``field-line = field-name ":" OWS field-value OWS``, no
  whitespace between the name and the colon.
- RFC 9112 §5.2: a line that starts with SP or HTAB continues the previous one
  (obs-fold), which no sender may generate.
- RFC 9112 §6.3: a response's content ends by ``Transfer-Encoding: chunked``, by
  ``Content-Length``, or by the close of the connection; a 1xx, 204 or 304 and
  any answer to HEAD has none.
- RFC 9110 §15.2: a 1xx other than 101 is interim: the final answer follows it.
  After a 101 the bytes belong to the new protocol (RFC 9110 §7.8).

An HTTP/2 case's answer (``H2Answer``) is what h2 read on its streams, each header
block as it came; the first stream's final answer is also given the shape of a
``Response`` (version ``2``, no reason phrase: RFC 9113 §8.3.2), so that what
describes an HTTP/1.1 answer describes it too.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace

from .._headers import is_token

__all__ = [
    "Answer",
    "Ended",
    "Frame",
    "H2Answer",
    "H2Stream",
    "Parse",
    "Response",
    "as_text",
    "mask",
    "parse_frame",
    "parse_frames",
    "parse_responses",
    "shown",
]

_status_re = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: (.*))?\Z", re.DOTALL)
_chunk_size_re = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r?\n")


def as_text(data: bytes) -> str:
    """Bytes as a report shows them: read as UTF-8 (our reasons are, and a text/plain
    body usually is), each byte that is not UTF-8 shown as ``\\xNN``."""
    return data.decode("utf-8", "backslashreplace")


def shown(value: str) -> str:
    """A field value kept as latin-1 (one character a byte, as the judges compare
    it) shown as ``as_text`` shows its bytes."""
    return as_text(value.encode("latin-1"))


class Ended(enum.Enum):
    """How a case's connection ended, as the JSON report spells it."""

    CLOSED = "closed"  # the server closed it (end of file)
    RESET = "reset"  # the server reset it
    TIMEOUT = "timeout"  # the case's deadline passed first
    OPEN = "open"  # still open when the answer was complete; the audit closed it
    LIMIT = "limit"  # 64 KiB were read; the audit stopped reading and closed it
    UNREACHABLE = "unreachable"  # no connection at all


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response as it came: the head as sent, the fields in order, and
    the body as far as it was read."""

    http_version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    head: bytes
    body: bytes
    #: Did the body end (by its length, its last chunk, or because it has none)?
    complete: bool
    #: What breaks RFC 9112's syntax in the head (bare LF, obs-fold, ...).
    faults: tuple[str, ...] = ()

    @property
    def status_line(self) -> str:
        return f"HTTP/{self.http_version} {self.status} {self.reason}".rstrip()

    def values(self, name: str) -> list[str]:
        """The values of every field line named ``name`` (any case), in order."""
        lower = name.lower()
        return [value for field, value in self.headers if field.lower() == lower]

    def tokens(self, name: str) -> list[str]:
        """The elements of a list-based field, lower case (RFC 9110 §5.6.1)."""
        parts = (part for value in self.values(name) for part in value.split(","))
        return [element for part in parts if (element := part.strip(" \t").lower())]


@dataclass(frozen=True, slots=True)
class Parse:
    """Every response found in the bytes read so far."""

    responses: tuple[Response, ...]
    #: After a 101: the bytes that followed its head (the new protocol). Else the
    #: bytes after the last complete response that do not make a response yet.
    rest: bytes
    #: Why the bytes are not an HTTP response, when they are not.
    error: str | None = None

    @property
    def final(self) -> Response | None:
        """The first answer that is not interim: a 101 or a status of 200 or more."""
        return next((r for r in self.responses if r.status == 101 or r.status >= 200), None)

    @property
    def switched(self) -> bool:
        final = self.final
        return final is not None and final.status == 101


def _split_lines(head: bytes) -> tuple[list[bytes], bool]:
    """The lines of a head (without its empty last line), and whether any ended
    with a bare LF."""
    lines = head.split(b"\n")[:-1]  # the head ends with LF: nothing after it
    bare = any(not line.endswith(b"\r") for line in lines)
    return [line.removesuffix(b"\r") for line in lines[:-1]], bare  # not the empty line


def _head_end(data: bytes, start: int) -> int | None:
    """Where the head that starts at ``start`` ends (after its empty line)."""
    found = ((data.find(end, start), len(end)) for end in (b"\r\n\r\n", b"\n\n", b"\n\r\n"))
    ends = [at + size for at, size in found if at >= 0]
    return min(ends) if ends else None


def _read_head(head: bytes) -> tuple[str, int, str, list[tuple[str, str]], list[str]] | str:
    lines, bare = _split_lines(head)
    match = _status_re.match(lines[0])
    if match is None:
        return f"not an HTTP response: the status line is {lines[0][:80]!r}"
    faults = ["a line ends with a bare LF, not CRLF (RFC 9112 §2.2)"] if bare else []
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            faults.append("obs-fold: a field line continued on the next line (RFC 9112 §5.2)")
            if headers:
                name, value = headers[-1]
                folded = line.strip(b" \t").decode("latin-1")
                headers[-1] = (name, f"{value} {folded}")
            continue
        raw_name, colon, raw_value = line.partition(b":")
        if not colon:
            faults.append(f"a field line without a colon: {line[:80]!r}")
            continue
        if raw_name != raw_name.rstrip(b" \t"):
            faults.append(f"whitespace before the colon in {raw_name.strip()!r} (RFC 9112 §5.1)")
        elif not is_token(raw_name):
            faults.append(f"field name {raw_name[:80]!r} is not a token (RFC 9110 §5.1)")
        name_text = raw_name.strip(b" \t").decode("latin-1")
        headers.append((name_text, raw_value.strip(b" \t").decode("latin-1")))
    major, minor, status, reason = match.groups()
    text = as_text(reason or b"")  # only ever shown
    return f"{major.decode()}.{minor.decode()}", int(status), text, headers, faults


def _body(data: bytes, headers: list[tuple[str, str]]) -> tuple[bytes, int | None]:
    """The body at the start of ``data`` and its length on the wire, or ``None``
    for the length when it has not ended yet (or ends only with the connection)."""
    fields = {name.lower(): value for name, value in headers}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body, position = b"", 0
        while (match := _chunk_size_re.match(data, position)) is not None:
            size = int(match[1], 16)
            start = match.end()
            if size == 0:
                end = _head_end(data, start - 2)  # the trailer section ends with an empty line
                return body, None if end is None else end
            if len(data) < start + size + 2:
                return body + data[start : start + size], None
            body += data[start : start + size]
            position = start + size + (2 if data[start + size : start + size + 2] == b"\r\n" else 1)
        return body, None
    length = fields.get("content-length")
    if length is not None and length.isdigit():
        size = int(length)
        return data[:size], size if len(data) >= size else None
    return data, None  # to the close of the connection


def parse_responses(data: bytes, *, head_request: bool = False) -> Parse:
    """Every response in ``data``, up to a 101 or to bytes that are not one yet."""
    responses: list[Response] = []
    position = 0
    while position < len(data):
        end = _head_end(data, position)
        if end is None:
            start = data[position : position + 5]
            if not b"HTTP/".startswith(start):
                error = f"not an HTTP response: {start!r}..."
                return Parse(tuple(responses), data[position:], error)
            return Parse(tuple(responses), data[position:])
        head = data[position:end]
        read = _read_head(head)
        if isinstance(read, str):
            return Parse(tuple(responses), data[position:], read)
        version, status, reason, headers, faults = read
        length: int | None = 0
        body = b""
        if not (status < 200 or status in (204, 304) or head_request):
            body, length = _body(data[end:], headers)
        response = Response(
            version, status, reason, tuple(headers), head, body, length is not None, tuple(faults)
        )
        responses.append(response)
        if status == 101 or length is None:
            return Parse(tuple(responses), data[end:] if status == 101 else b"")
        position = end + length
    return Parse(tuple(responses), b"")


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket frame (RFC 6455 §5.2) as a server sent it."""

    fin: bool
    opcode: int
    masked: bool
    payload: bytes
    size: int  # bytes on the wire


def parse_frame(data: bytes) -> Frame | None:
    """The frame at the start of ``data``, or ``None`` while it is incomplete."""
    if len(data) < 2:
        return None
    length, position = data[1] & 0x7F, 2
    if length >= 126:
        width = 2 if length == 126 else 8
        if len(data) < 2 + width:
            return None
        length, position = int.from_bytes(data[2 : 2 + width], "big"), 2 + width
    masked = bool(data[1] & 0x80)
    key = data[position : position + 4] if masked else b""
    position += len(key)
    if (masked and len(key) < 4) or len(data) < position + length:
        return None
    payload = data[position : position + length]
    if masked:
        payload = mask(payload, key)
    return Frame(bool(data[0] & 0x80), data[0] & 0x0F, masked, payload, position + length)


def parse_frames(data: bytes) -> list[Frame]:
    """The complete frames at the start of ``data``, in order."""
    frames = []
    while (frame := parse_frame(data)) is not None:
        frames.append(frame)
        data = data[frame.size :]
    return frames


def mask(payload: bytes, key: bytes) -> bytes:
    """``payload`` XOR the 4-byte ``key``, repeated (RFC 6455 §5.3); its own inverse."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


#: A header block as it came: (name, value) byte pairs, pseudo-header fields included.
Block = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class H2Stream:
    """One stream of an HTTP/2 case, as the server answered on it."""

    stream_id: int
    #: Every header block, in order: interim answers (1xx), then the final one.
    blocks: tuple[Block, ...] = ()
    #: Its DATA, as far as it was read (after a 200: the server's WebSocket frames).
    data: bytes = b""
    ended: bool = False  # END_STREAM came
    reset: int | None = None  # the error code of the RST_STREAM that ended it

    @property
    def statuses(self) -> list[bytes]:
        return [value for block in self.blocks for name, value in block if name == b":status"]

    @property
    def final(self) -> Block | None:
        """The first block whose ``:status`` is not 1xx (RFC 9113 §8.1)."""
        return next(
            (
                block
                for block in self.blocks
                if not dict(block).get(b":status", b"").startswith(b"1")
            ),
            None,
        )

    @property
    def status(self) -> int | None:
        value = dict(self.final or ()).get(b":status", b"")
        return int(value) if len(value) == 3 and value.isdigit() else None

    @property
    def frames(self) -> list[Frame]:
        """The complete frames of a WebSocket: the DATA after a 2xx."""
        status = self.status
        return parse_frames(self.data) if status is not None and 200 <= status < 300 else []


@dataclass(frozen=True, slots=True)
class H2Answer:
    """Everything one HTTP/2 case's connection brought back."""

    #: Each SETTINGS_ENABLE_CONNECT_PROTOCOL state the server's SETTINGS gave, in
    #: order (True: 1); empty when no SETTINGS came.
    settings: tuple[bool, ...] = ()
    #: The streams the case opened, in the order it opened them.
    streams: tuple[H2Stream, ...] = ()
    #: The server's GOAWAY: its error code, last stream id and debug data.
    goaway: tuple[int, int, bytes] | None = None
    #: Why the server's bytes broke HTTP/2 (h2's account), when they did.
    failed: str | None = None
    #: The protocol TLS's ALPN chose (wss:// only).
    alpn: str | None = None
    #: The first bytes the server sent (what a server that is no HTTP/2 one said).
    head: bytes = b""

    @property
    def advertised(self) -> bool:
        """Did the server send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3)?"""
        return bool(self.settings) and self.settings[0]


@dataclass(frozen=True, slots=True)
class Answer:
    """Everything one case's connection brought back."""

    raw: bytes
    ended: Ended
    #: Seconds from the request to the first byte of the answer; ``None`` if none came.
    seconds: float | None
    parse: Parse
    #: Why no connection could be made, when none could.
    error: str | None = None
    #: How many bytes were read (``raw`` may be cut short once the case is judged).
    size: int | None = None
    #: Seconds from the request to the end of reading (answer, close or deadline).
    lasted: float | None = None
    #: An HTTP/2 case's answer, stream by stream (``raw`` is then its account in text).
    h2: H2Answer | None = None

    @property
    def read(self) -> int:
        return len(self.raw) if self.size is None else self.size

    @property
    def final(self) -> Response | None:
        return self.parse.final

    def trimmed(self, limit: int) -> Answer:
        """The answer with every byte string cut to ``limit`` bytes: what a report
        keeps once the case is judged, so a long audit holds little per case."""
        responses = tuple(
            replace(r, head=r.head[:limit], body=r.body[:limit]) for r in self.parse.responses
        )
        parse = replace(self.parse, responses=responses, rest=self.parse.rest[:limit])
        h2 = self.h2
        if h2 is not None:
            streams = tuple(replace(stream, data=stream.data[:limit]) for stream in h2.streams)
            h2 = replace(h2, streams=streams, head=h2.head[:limit])
        return replace(self, raw=self.raw[:limit], parse=parse, size=self.read, h2=h2)

    @property
    def switched(self) -> Response | None:
        """The 101, when the server switched."""
        return self.parse.final if self.parse.switched else None

    @property
    def frames(self) -> list[Frame]:
        """The complete frames after a 101 (HTTP/2: after the first stream's 2xx)."""
        if self.h2 is not None:
            return self.h2.streams[0].frames if self.h2.streams else []
        return parse_frames(self.parse.rest) if self.switched else []
