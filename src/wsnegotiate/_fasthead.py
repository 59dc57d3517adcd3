"""The common request head, and the common 101, each read in one strict pass.

h11 reads a head line by line in Python; for a handshake that is three quarters
of the negotiator's cost. Nearly every head a server or client meets has one
plain shape, and this module reads that shape with two C-level passes of a
regular expression, handing on exactly the values h11 would: the server's
``(method, target, http_version, field lines)`` go to ``decide()``, the client's
101 to its checks. Any head it does not recognise returns ``None`` and goes to
h11 unchanged, as does every head when ``Policy(fast_path=False)`` (or
``ClientNegotiator(fast_path=False)``) says so.

A second parser beside h11 is a request-smuggling risk: where two parsers
disagree on where a head ends, what a field holds or whether a body follows, the
same bytes mean one thing to one and another to the other. So this reader
accepts a strict subset of what h11 accepts, and for it gives what h11 gives:
``tests/test_differential.py`` and ``fuzz/differential.py`` run both paths on the
same bytes and compare every event, status, reason, header, response byte and
trailing byte.

What it accepts, and why each exclusion is there:

- The request line exactly ``GET SP origin-form SP HTTP/1.1`` (RFC 9112 §3):
  origin-form is ``/`` then visible ASCII other than ``#`` (§3.2.1: an absolute
  path and query, no fragment). Other methods, versions and target forms
  (absolute-form, authority-form, ``*``) are rare and decided by h11 and
  ``decide()`` (405, 400...); non-ASCII h11 refuses itself. The client's status
  line is exactly ``HTTP/1.1 101``, then nothing or a space and a reason of
  visible ASCII, spaces and tabs (RFC 9112 §4).
- Every line ends in CRLF; no CR or LF anywhere else. RFC 9112 §2.2 lets a
  recipient take a bare LF as a line end and h11 does: such heads go to h11,
  which is where a line end means what h11 says it means.
- Each field line is ``field-name ":" OWS field-value OWS`` (RFC 9112 §5): the
  name an RFC 9110 §5.6.2 token, nothing between it and the colon (§5.1); the
  value visible ASCII with single or repeated SP/HTAB inside (RFC 9110 §5.5
  field-content, without obs-text). The value runs from its first visible byte
  to its last: OWS before and after it is dropped, exactly as h11's pattern
  drops it (the same regular expression shape over a narrower alphabet).
  Excluded: obs-fold (a line starting with whitespace, §5.2: h11 joins it to
  the line before), obs-text (bytes 0x80-0xFF) and control characters (h11
  admits most of them), whitespace before the colon (h11 refuses it).
- Exactly one ``Host`` on the server (RFC 9112 §3.2: h11 refuses none or two,
  with its own message that the negotiator turns into the reason).
- No ``Content-Length`` and no ``Transfer-Encoding`` (RFC 9112 §6: they frame a
  body, the fields smuggling plays on; h11 also rewrites their values).
- A request head no longer than h11's default limit of 16 KiB (a policy may
  allow longer heads; they are rare). The policy's own limits are checked
  before either reader runs, so both see the same heads.

One kind of head is refused without h11, with h11's answer: one with a field
line that has no colon and does not start with whitespace (``refused_by_h11``).
h11 reads every line not starting with SP or HTAB as a new field line (joined
with the continuation lines after it), and its field-line pattern wants a token
and a colon right after it: such a line has no colon, or whitespace after its
name. So h11 refuses the head at that line or at an earlier one, with 400, and
its message only ever says which line failed, which the negotiator's reason
(``_head.describe_malformed``) finds by itself. This is the usual garbage of
scanners; h11 would cost it three quarters of its answer.

How one pass reads every line: each match of ``_FIELD_LINE`` starts at a CRLF
and, since neither name nor value holds CR or LF, ends right before the next
CRLF: one match is one whole line. With the request line matched up to its CRLF
and the head ending in CRLF CRLF, the head has ``count(CRLF) - 2`` field lines,
and they all matched exactly when ``findall`` found that many.
"""

from __future__ import annotations

import re

from ._headers import TOKEN

__all__ = ["read_request", "read_switch", "refused_by_h11"]

_H11_HEAD_LIMIT = 16 * 1024  # h11.Connection's default max_incomplete_event_size
_REQUEST_LINE = re.compile(rb"GET (/[!\"$-~]*) HTTP/1\.1(?=\r\n)")
_STATUS_LINE = re.compile(rb"HTTP/1\.1 101(?: [\t -~]*)?(?=\r\n)")
# h11's field line is ``name ":" OWS (vchar+ ([ \t]+ vchar+)*)? OWS``; this is the
# same language over visible ASCII (a vchar, then any run ending in a vchar), in
# a shape the regex engine runs in a tight loop.
# A Content-Length or Transfer-Encoding line is not one of these lines.
_FIELD_LINE = re.compile(
    rb"\r\n(?!(?i:content-length|transfer-encoding):)"
    rb"(" + TOKEN + rb"):[ \t]*([!-~](?:[\t -~]*[!-~])?|)[ \t]*(?=\r\n)"
)

# A line after the first with no colon, not starting with whitespace (nor the blank
# line that ends the head).
_NO_COLON = re.compile(rb"\n(?!\r\n)[^ \t:\n][^:\n]*\n")

FieldLines = list[tuple[bytes, bytes]]


def read_request(head: bytes) -> tuple[bytes, bytes, bytes, FieldLines] | None:
    """``(method, target, http_version, field lines)`` of a request head of the
    common shape, as h11 reads them (names as sent, values without OWS); ``None``
    for any other head. ``head`` ends at its blank line."""
    line = _REQUEST_LINE.match(head)
    if line is None or len(head) > _H11_HEAD_LIMIT or head[-4:] != b"\r\n\r\n":
        return None
    fields = _FIELD_LINE.findall(head, line.end())
    if len(fields) != head.count(b"\r\n") - 2 or head.lower().count(b"\r\nhost:") != 1:
        return None
    return b"GET", line.group(1), b"1.1", fields


def read_switch(data: bytes) -> tuple[FieldLines, int] | None:
    """The field lines of a 101 of the common shape at the start of ``data``, as
    h11 reads them, and where its head ends; ``None`` for anything else, and
    while the head is incomplete."""
    line = _STATUS_LINE.match(data)
    end = data.find(b"\r\n\r\n") + 4
    if line is None or end < 4:
        return None
    fields = _FIELD_LINE.findall(data, line.end(), end - 2)
    if len(fields) != data.count(b"\r\n", 0, end) - 2:
        return None
    return fields, end


def refused_by_h11(head: bytes) -> bool:
    """Does h11 refuse ``head`` at one of its lines, with 400, whatever the rest?
    True for a head with a field line that has no colon and does not start with
    whitespace (see the module comment); ``False`` says nothing."""
    return _NO_COLON.search(head) is not None
