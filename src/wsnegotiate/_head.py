"""What is wrong with a request head, in our own words: the policy's limits on
its field lines, checked on the raw bytes before h11 parses them, and why a
head that h11 refused is malformed.

h11's messages carry the raw bytes of the line they refuse (``illegal header
line: bytearray(b'Bad Header')``); a reason sent back to a peer must name the
line and the fault instead, and never reflect the peer's bytes. The grammar
(RFC 9112):

- §3: ``request-line = method SP request-target SP HTTP-version``.
- §5: ``field-line = field-name ":" OWS field-value OWS``; §5.1: no whitespace
  between the name and the colon; RFC 9110 §5.1: the name is a token.
- §5.2: obs-fold (a line starting with whitespace) continues the line before;
  h11 unfolds it, so only a fold before any field line is a fault.
- RFC 9110 §5.5: a field value holds no control character but HTAB.

Faults that are not in one line's grammar (no Host, two Content-Lengths...) are
recognised by h11's message and said again in these words.
"""

from __future__ import annotations

import re

from ._headers import TOKEN, is_token, quote_for_reason

__all__ = ["describe_malformed", "field_limit_fault", "line_fault", "long_line_fault"]

_REQUEST_LINE = TOKEN + rb" [^\x00-\x20\x7f]+ HTTP/[0-9]\.[0-9]"
_FIELD_VALUE = rb"[^\x00-\x08\x0a-\x1f\x7f]*"  # no control character but HTAB
_request_line_re = re.compile(_REQUEST_LINE + rb"\Z")
_control_re = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# HTTP-version (RFC 9112 §2.3), or its beginning: what may follow the target.
_version_start_re = re.compile(rb"(?:H(?:T(?:T(?:P(?:/(?:[0-9](?:\.[0-9]?)?)?)?)?)?)?)?\Z")
# The lines of a head up to its first fault, in one match: the request line, then
# field lines, each followed by any continuation lines. Where the match ends is the
# line to blame, or the blank line when every line is sound.
_sound_lines_re = re.compile(
    _REQUEST_LINE + rb"\r?\n(?:" + TOKEN + rb":" + _FIELD_VALUE + rb"\r?\n(?:[ \t][^\n]*\n)*)*"
)

# h11's messages for faults beyond one line, and what to say instead.
_SEMANTIC = (
    ("Missing mandatory Host", "Host", "Host: missing (RFC 9112 §3.2)"),
    ("Found multiple Host", "Host", "Host: repeated (RFC 9112 §3.2: exactly one)"),
    ("conflicting Content-Length", "Content-Length", "Content-Length: conflicting values"),
    ("bad Content-Length", "Content-Length", "Content-Length: invalid value (RFC 9110 §8.6)"),
    (
        "Only Transfer-Encoding: chunked",
        "Transfer-Encoding",
        "Transfer-Encoding: only chunked is implemented (RFC 9112 §6.1)",
    ),
)


def field_limit_fault(head: bytes, max_lines: int, max_line_bytes: int) -> tuple[int, str] | None:
    """The status and reason to send when ``head`` has more than ``max_lines``
    field lines or one longer than ``max_line_bytes`` (431, RFC 6585 §5; the
    request line: ``long_line_fault``), else ``None``. Counting line feeds is one
    C call, and no line can be too long in a head shorter than the limit, so a
    usual request costs one ``count`` here."""
    fields = head.count(b"\n") - 2  # less the request line and the blank line
    if fields > max_lines:
        return 431, f"request head: too many field lines ({fields}; the limit is {max_lines})"
    if len(head) <= max_line_bytes:
        return None
    for number, line in enumerate(head.split(b"\n"), start=1):
        if len(line.rstrip(b"\r")) > max_line_bytes:
            if number == 1:
                return long_line_fault(line, max_line_bytes)
            name = quote_for_reason(line.partition(b":")[0])
            return 431, (
                f"line {number}: too long ({name}, more than {max_line_bytes} bytes; "
                "the limit is per field line)"
            )
    return None


def long_line_fault(
    line: bytes | bytearray, limit: int, otherwise: str | None = None
) -> tuple[int, str]:
    """The status and reason for a request line longer than ``limit`` bytes, read
    off its first ``limit + 1`` bytes only (so the answer is the same whether the
    line has ended yet or not, however the bytes came). RFC 9112 §3: "A server that
    receives a request-target longer than any URI it wishes to parse MUST respond
    with a 414 (URI Too Long)": so when the target runs past the limit (the method
    and its space came, the space after the target has not). Otherwise the line
    is not a long target but no request line at all (no space, or after the target
    more than an HTTP-version): 431 with ``otherwise``, or the per-line reason."""
    start = line[: limit + 1]
    space = start.find(b" ")
    after = start.find(b" ", space + 1) if space >= 0 else -1
    if space >= 0 and (after < 0 or _version_start_re.match(start, after + 1)):
        return 414, (
            f"request-target: too long (the request line is over the limit of {limit} bytes,"
            " RFC 9112 §3)"
        )
    if otherwise is None:
        otherwise = (
            f"line 1: too long (request line, more than {limit} bytes; the limit is per field line)"
        )
    return 431, otherwise


def describe_malformed(head: bytes, h11_message: str) -> tuple[str, str | None]:
    """The reason to send for a head h11 refused, and the field to blame if one is."""
    match = _sound_lines_re.match(head)
    start = match.end() if match else 0
    end = head.find(b"\n", start)
    line = head[start : end if end >= 0 else len(head)]
    fault = line_fault(head.count(b"\n", 0, start) + 1, line[:-1] if line[-1:] == b"\r" else line)
    if fault is not None:
        return fault, None
    for prefix, field, reason in _SEMANTIC:
        if h11_message.startswith(prefix):
            return reason, field
    return "malformed HTTP request head (RFC 9112)", None


def line_fault(number: int, line: bytes) -> str | None:
    """What is wrong with line ``number`` of a head (its line ending removed), where
    the lines before it are sound; ``None`` for a sound line or the blank line."""
    if number == 1:
        if _request_line_re.match(line):
            return None
        return "line 1: not a request line (method SP target SP HTTP/1.1, RFC 9112 §3)"
    if not line:
        return None  # the blank line that ends the head
    if line[0] in b" \t":
        if number == 2:
            return "line 2: a continuation (obs-fold) before any field line (RFC 9112 §5.2)"
        return None
    name, colon, value = line.partition(b":")
    if not colon:
        return f"line {number}: not a field line, no colon (RFC 9112 §5)"
    if name[-1:] in (b" ", b"\t"):
        return f"line {number}: whitespace between the field name and the colon (RFC 9112 §5.1)"
    if not is_token(name):
        return f"line {number}: the field name is not a token (RFC 9110 §5.1)"
    control = _control_re.search(value)
    if control is not None:
        shown = quote_for_reason(name)
        char = control.group()[0]
        return f"line {number}: control character 0x{char:02x} in the value of {shown}"
    return None
