"""Why a request head that h11 refused is malformed, in our own words.

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

from ._headers import quote_for_reason

__all__ = ["describe_malformed"]

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_request_line_re = re.compile(_TOKEN + rb" [^\x00-\x20\x7f]+ HTTP/[0-9]\.[0-9]\Z")
_token_re = re.compile(_TOKEN + rb"\Z")
_control_re = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

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


def describe_malformed(head: bytes, h11_message: str) -> tuple[str, str | None]:
    """The reason to send for a head h11 refused, and the field to blame if one is."""
    lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")]
    fault = _line_fault(lines)
    if fault is not None:
        return fault, None
    for prefix, field, reason in _SEMANTIC:
        if h11_message.startswith(prefix):
            return reason, field
    return "malformed HTTP request head (RFC 9112)", None


def _line_fault(lines: list[bytes]) -> str | None:
    if not _request_line_re.match(lines[0]):
        return "line 1: not a request line (method SP target SP HTTP/1.1, RFC 9112 §3)"
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            return None  # the blank line that ends the head
        if line[0] in b" \t":
            if number == 2:
                return "line 2: a continuation (obs-fold) before any field line (RFC 9112 §5.2)"
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            return f"line {number}: not a field line, no colon (RFC 9112 §5)"
        if name[-1:] in (b" ", b"\t"):
            return f"line {number}: whitespace between the field name and the colon (RFC 9112 §5.1)"
        if not _token_re.match(name):
            return f"line {number}: the field name is not a token (RFC 9110 §5.1)"
        control = _control_re.search(value)
        if control is not None:
            shown = quote_for_reason(name)
            char = control.group()[0]
            return f"line {number}: control character 0x{char:02x} in the value of {shown}"
    return None
