"""``ClientNegotiator``: the client's handshake, sans-IO, for any protocol version.

It writes the request's bytes itself, exactly as h11's client writer would
(``_write_request``; every value the caller gives is checked first, as RFC 9110
§5.5 and §5.6.2 draw it), and reads the answer in one strict pass when it is a
101 of the common shape (``_fasthead``). Only for any other answer (or with
``fast_path=False``) is h11 given the request, its bytes dropped, so that its
state machine reads the response. What it speaks:

- ``Version13``/``8``/``7``/``6``/``5``/``4``: ``Sec-WebSocket-Key`` (16 random
  bytes, base64) and ``Sec-WebSocket-Version``; ``Origin`` for 13,
  ``Sec-WebSocket-Origin`` below (hybi-04..12 named it so).
- ``Version0``: hixie-76, ``Sec-WebSocket-Key1``/``Key2`` and an 8-byte key3 after
  the head, optionally ``Sec-WebSocket-Draft`` (hybi-00..03).
- ``VersionUnknown``: hixie-75, no key at all.
- a ``str``: a raw ``Sec-WebSocket-Version`` value for probing (``"14"``,
  ``"013"``); the empty string sends no version field at all.

A 101 is checked as RFC 6455 §4.1 requires: ``Upgrade`` holds ``websocket`` and
``Connection`` holds ``upgrade`` (token lists, any case), ``Sec-WebSocket-Accept``
matches, the subprotocol and the extensions are ones the client offered; for
hixie-76 the 16-byte MD5 answer matches. A failure raises ``InvalidResponse``
naming the field. Any other status is a ``Refused`` event carrying the versions
the server advertised, and ``retry()`` builds the next attempt (RFC 6455 §4.4).
Interim answers (1xx other than 101) are skipped, eight at most and
``max_response_bytes`` in all; a server that sends more gets ``InvalidResponse``.
"""

from __future__ import annotations

import base64
import enum
import os
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple, NoReturn

import h11

from ._answers import accept_token
from ._deflate import PERMESSAGE_DEFLATE, DeflateOptions, DeflateParams, agreed, answer_fault
from ._errors import Fault, InvalidResponse, LocalProtocolError, NoCommonVersion
from ._events import Connected, NeedData, Refused
from ._fasthead import read_switch
from ._headers import (
    FRAMING_FIELDS,
    Extension,
    check_field_name,
    extension_name,
    field_lines,
    field_value_fault,
    has_token,
    parse_advertised,
    parse_extensions,
    parse_token_list,
    parse_version_value,
    quote_for_reason,
)
from ._hixie import challenge_answer, make_key
from ._version import Version

__all__ = ["ClientNegotiator", "ClientState"]

Random = Callable[[int], bytes]
Speak = Version | str  # a version member, or a raw Sec-WebSocket-Version value

_HYBI = frozenset(Version(n) for n in (4, 5, 6, 7, 8, 13))

# Interim (1xx) answers a client reads before the final answer, at most.
_MAX_INTERIM = 8


class ClientState(enum.Enum):
    """Where a ``ClientNegotiator`` is: waiting for the answer, or done."""

    AWAITING_RESPONSE = "awaiting response"
    CONNECTED = "connected"
    REFUSED = "refused"
    FAILED = "failed"


_AWAITING = ClientState.AWAITING_RESPONSE

# The fields a 101 must carry (RFC 6455 §4.1, the client's steps 2 and 3): name, key
# in the lower-case field table, and the token the list must hold.
_SWITCH_FIELDS = (("Upgrade", b"upgrade", b"websocket"), ("Connection", b"connection", b"upgrade"))

# RFC 9110 §5.5: a field value is nothing, or field-vchar [ 1*( SP / HTAB /
# field-vchar ) field-vchar ]; the caller's values go out as ASCII, so a field-vchar
# is a VCHAR here. No control character (CR, LF, NUL, DEL...), no padding.
_ASCII_VALUE = re.compile(r"(?:[!-~]+(?:[ \t]+[!-~]+)*)?\Z")
# RFC 9112 §3.2: a request-target is one or more visible ASCII characters (which of
# its four forms is the caller's choice; a server judges it).
_TARGET = re.compile(r"[!-~]+\Z")


class _Offer(NamedTuple):
    """What stays the same from one attempt to the next (a tuple: made per client,
    it takes a quarter of a frozen dataclass's time)."""

    host: str
    target: str
    origin: str | None
    subprotocols: tuple[str, ...]
    extensions: tuple[str, ...]
    deflate: DeflateOptions | None
    headers: tuple[tuple[str, str], ...]
    draft: int | None
    random: Random
    max_response_bytes: int
    preference: tuple[Speak, ...]
    fast_path: bool


def _speak(version: Version | int | str) -> Speak:
    if isinstance(version, str):
        return version
    if version not in Version._value2member_map_:
        raise LocalProtocolError(
            f"version {version} has no Version member; pass it as a string to send it raw"
        )
    return Version(version)


class ClientNegotiator:
    """One connection's client handshake. ``data_to_send()`` gives the request;
    feed the answer to ``receive_data()`` and read ``next_event()``."""

    def __init__(
        self,
        host: str,
        target: str = "/",
        version: Version | int | str = Version.Version13,
        *,
        fallback: Iterable[Version | int] = (),
        origin: str | None = None,
        subprotocols: Iterable[str] = (),
        extensions: Iterable[str] = (),
        deflate: DeflateOptions | bool = False,
        headers: Iterable[tuple[str, str]] = (),
        draft: int | None = None,
        random: Random = os.urandom,
        max_response_bytes: int = 64 * 1024,
        fast_path: bool = True,
    ) -> None:
        speak = _speak(version)
        if isinstance(speak, str):
            _check_raw_version(speak)
        subprotocols = tuple(subprotocols)
        for name in subprotocols:
            if not name.isascii() or parse_token_list(name.encode()) != [name.encode()]:
                raise LocalProtocolError(f"subprotocol {name!r} is not an RFC 9110 token")
        if draft is not None and speak is not Version.Version0:
            raise LocalProtocolError("draft= goes with Version0 (hixie-76 / hybi-00..03) only")
        preference = tuple(dict.fromkeys([speak, *(_speak(v) for v in fallback)]))
        options = DeflateOptions.for_client() if deflate is True else deflate or None
        offers = tuple(extensions)
        if options is not None:
            if PERMESSAGE_DEFLATE in (extension_name(offer) for offer in offers):
                raise LocalProtocolError("permessage-deflate: offer it with deflate=, not twice")
            offers += (options.offer(),)
        extra = tuple(headers)
        _check_request(host, target, origin, offers, extra)
        offer = _Offer(
            host,
            target,
            origin,
            subprotocols,
            offers,
            options,
            extra,
            draft,
            random,
            max_response_bytes,
            preference,
            fast_path,
        )
        self._start(offer, speak, ())

    def _start(self, offer: _Offer, speak: Speak, tried: tuple[Speak, ...]) -> None:
        self._offer, self.speaking, self.tried = offer, speak, (*tried, speak)
        self.state = ClientState.AWAITING_RESPONSE
        self._http: h11.Connection | None = None  # made when the answer needs it (_h11)
        self._key = b""
        self._challenge = b""
        self._response: h11.Response | None = None
        self._body = bytearray()
        self._switched: h11.InformationalResponse | None = None
        self._eof = False
        self._received = 0
        self._interims = 0
        # The answer's bytes, for the one-pass reader of the common 101 (_fasthead):
        # kept, and not given to h11, until the first next_event() or an end of file;
        # kept after that only when that reader read the head (``_fast``: its field
        # lines and where the head ends), and given to h11 otherwise.
        self._head: bytes | bytearray | None = b"" if offer.fast_path else None
        self._fast: tuple[list[tuple[bytes, bytes]], int] | None = None
        self.refused: Refused | None = None
        self._lines = self._request_headers(speak)  # every value checked by __init__
        self._to_send = _write_request(offer.target.encode("ascii"), self._lines) + self._key3

    @property
    def version(self) -> Version:
        """The version this attempt speaks (``VersionUnknown`` for raw values)."""
        if isinstance(self.speaking, Version):
            return self.speaking
        number = parse_version_value(self.speaking.encode())
        if number is None or number not in Version._value2member_map_:
            return Version.VersionUnknown
        return Version(number)

    # -- the request -------------------------------------------------------------

    def _request_headers(self, speak: Speak) -> list[tuple[bytes, bytes]]:
        """The request's header fields as bytes, in the order they are written,
        Host first; ASCII (``_check_request`` made sure of it), but for a raw
        version value, which goes out as UTF-8 so that "١٣" can be sent too."""
        offer = self._offer
        self._key3 = b""
        headers = [(b"Host", offer.host.encode("ascii"))]
        if isinstance(speak, str) or speak in _HYBI:
            self._key = base64.b64encode(offer.random(16))
            headers += [
                (b"Upgrade", b"websocket"),
                (b"Connection", b"Upgrade"),
                (b"Sec-WebSocket-Key", self._key),
            ]
            if speak != "":
                headers.append((b"Sec-WebSocket-Version", _raw(speak).encode()))
            if offer.origin is not None:
                new_name = isinstance(speak, str) or speak >= Version.Version13
                name = b"Origin" if new_name else b"Sec-WebSocket-Origin"
                headers.append((name, offer.origin.encode("ascii")))
            if offer.subprotocols:
                protocols = ", ".join(offer.subprotocols).encode("ascii")
                headers.append((b"Sec-WebSocket-Protocol", protocols))
            if offer.extensions:
                extensions = ", ".join(offer.extensions).encode("ascii")
                headers.append((b"Sec-WebSocket-Extensions", extensions))
        else:  # hixie-76 (Version0) and hixie-75 (VersionUnknown)
            headers += [(b"Upgrade", b"WebSocket"), (b"Connection", b"Upgrade")]
            if speak is Version.Version0:
                (key1, number1), (key2, number2) = make_key(offer.random), make_key(offer.random)
                self._key3 = offer.random(8)
                self._challenge = challenge_answer(number1, number2, self._key3)
                if offer.draft is not None:
                    headers.append((b"Sec-WebSocket-Draft", str(offer.draft).encode("ascii")))
                headers += [
                    (b"Sec-WebSocket-Key1", key1.encode("ascii")),
                    (b"Sec-WebSocket-Key2", key2.encode("ascii")),
                ]
            if offer.origin is not None:
                headers.append((b"Origin", offer.origin.encode("ascii")))
            if offer.subprotocols:
                hixie76 = speak is Version.Version0
                name = b"Sec-WebSocket-Protocol" if hixie76 else b"WebSocket-Protocol"
                headers.append((name, " ".join(offer.subprotocols).encode("ascii")))
        headers += [(name.encode("ascii"), value.encode("ascii")) for name, value in offer.headers]
        return headers

    def data_to_send(self) -> bytes:
        """The request bytes, once; later calls return ``b""``."""
        data, self._to_send = self._to_send, b""
        return data

    def _h11(self) -> h11.Connection:
        """h11's side of the connection, made the first time an answer needs it
        (one the one-pass reader does not take, or ``fast_path=False``): it is
        given the request, whose bytes ``_write_request`` wrote already and are
        dropped here, so that its state machine expects the response (and the 101
        of an Upgrade). The request has no body, and h11 reads the answer without
        being told so (sending its EndOfMessage would cost 8% of the handshake):
        h11's side stays in SEND_BODY, and is dropped after the answer."""
        http = self._http
        if http is None:
            # max_incomplete_event_size, given by position: as a keyword it costs 1%
            http = self._http = h11.Connection(h11.CLIENT, self._offer.max_response_bytes)
            http.send(h11.Request(method="GET", target=self._offer.target, headers=self._lines))
        return http

    # -- the answer --------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed the server's bytes; ``b""`` means the server closed the connection."""
        if self.state is not _AWAITING:
            if self.state is ClientState.CONNECTED:
                raise LocalProtocolError("after the 101, bytes belong to the frame layer")
            return  # the handshake is over; nothing more is read
        if not data:
            self._eof = True
        self._received += len(data)
        data = bytes(data)
        head = self._head
        if head is None:
            self._h11().receive_data(data)
            return
        if not data and self._fast is None:  # closed before the answer was read: h11 reads it
            self._to_h11()
            self._h11().receive_data(data)
            return
        if head:
            if head.__class__ is bytes:
                head = self._head = bytearray(head)
            head += data
        else:
            self._head = data
        if self._fast is not None:  # h11 keeps its rule on bytes after the end of file
            self._h11().receive_data(data)

    def _to_h11(self) -> None:
        """The answer's bytes, kept so far for the one-pass reader, go to h11."""
        assert self._head is not None
        if self._head:  # h11 reads b"" as the end of the file
            self._h11().receive_data(bytes(self._head))
        self._head = None

    def next_event(self) -> NeedData | Connected | Refused:
        """``NeedData`` until the answer is complete, then ``Connected`` or
        ``Refused``; raises ``InvalidResponse`` for an answer that must fail."""
        if self.state is not _AWAITING:
            raise LocalProtocolError(f"next_event() cannot be called in state {self.state.name}")
        try:
            event = self._advance()
        except InvalidResponse:
            self.state = ClientState.FAILED
            raise
        if isinstance(event, Connected):
            self.state = ClientState.CONNECTED
        elif isinstance(event, Refused):
            self.state = ClientState.REFUSED
            self.refused = event
        return event

    def _advance(self) -> NeedData | Connected | Refused:
        if self._head is not None:
            if self._fast is None:
                self._fast = read_switch(bytes(self._head))
            if self._fast is not None:  # the common 101, read in one strict pass
                lines, end = self._fast
                return self._connected(b"1.1", lines, bytes(self._head[end:]))
            self._to_h11()  # any other answer (or none yet): h11's, from here on
        http = self._h11()
        while self._switched is None:
            try:
                event = http.next_event()
            except h11.RemoteProtocolError as exc:
                if self._eof and not self._received:
                    reason = "the server closed the connection without answering"
                    raise InvalidResponse(reason, fault=Fault.INCOMPLETE) from None
                reason = f"not an HTTP response: {str(exc)[:200]}"
                raise InvalidResponse(reason, fault=Fault.MALFORMED) from None
            if event is h11.NEED_DATA:
                return NeedData()
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    self._switched = event
                else:  # 1xx other than 101 are skipped (RFC 9110 §15.2), a few only
                    self._interim(event.status_code)
                continue
            if isinstance(event, h11.Response):
                self._response = event
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) >= self._offer.max_response_bytes:
                    return self._refused()
            elif isinstance(event, h11.EndOfMessage):
                return self._refused()
            else:  # ConnectionClosed with no response: h11 raises first, this is a guard
                reason = "the server closed the connection without answering"
                raise InvalidResponse(reason, fault=Fault.INCOMPLETE)
        switched = self._switched
        return self._connected(
            switched.http_version, switched.headers.raw_items(), http.trailing_data[0]
        )

    def _interim(self, status: int) -> None:
        """Count an interim answer: a server that sends them without end would keep
        the client waiting for ever, so at most eight of them, and at most
        ``max_response_bytes`` in all, are read before the final answer."""
        self._interims += 1
        limit = self._offer.max_response_bytes
        if self._interims > _MAX_INTERIM:
            reason = f"more than {_MAX_INTERIM} interim (1xx) answers before the final one"
        elif self._received - len(self._h11().trailing_data[0]) > limit:
            reason = f"interim (1xx) answers of more than {limit} bytes before the final one"
        else:
            return
        raise InvalidResponse(reason, status=status, fault=Fault.TOO_LARGE)

    def _refused(self) -> Refused:
        response = self._response
        assert response is not None  # h11 sends Data and EndOfMessage after a Response
        lines = response.headers.raw_items()
        headers = _decoded(lines)
        versions = field_lines(lines).get(b"sec-websocket-version", [])
        advertised, ignored = parse_advertised(versions)
        reason = response.reason.decode("latin-1")
        body = bytes(self._body[: self._offer.max_response_bytes])
        version = response.http_version.decode("ascii")
        return Refused(response.status_code, reason, headers, body, advertised, ignored, version)

    def _connected(
        self, http_version: bytes, lines: list[tuple[bytes, bytes]], trailing: bytes
    ) -> NeedData | Connected:
        headers = _decoded(lines)
        fields = field_lines(lines)

        for field, key, token in _SWITCH_FIELDS:
            values = fields.get(key)
            if not values:
                raise _invalid(headers, field, Fault.MISSING)
            if not has_token(values, token):
                shown = quote_for_reason(b", ".join(values))
                raise _invalid(
                    headers, field, Fault.INVALID, f" {shown}; no {token.decode()!r} token"
                )
        if self.speaking is Version.Version0:
            if len(trailing) < 16:
                if self._eof:
                    detail = f" ({len(trailing)} of 16 bytes)"
                    raise _invalid(headers, "challenge answer", Fault.INCOMPLETE, detail)
                return NeedData()
            if trailing[:16] != self._challenge:
                detail = " (not the MD5 of the keys, hixie-76 §5.2)"
                raise _invalid(headers, "challenge answer", Fault.INVALID, detail)
            trailing = trailing[16:]
        elif self._key:
            accept = fields.get(b"sec-websocket-accept")
            if not accept:
                raise _invalid(headers, "Sec-WebSocket-Accept", Fault.MISSING)
            if len(accept) > 1:
                raise _invalid(headers, "Sec-WebSocket-Accept", Fault.REPEATED)
            if accept[0] != accept_token(self._key).encode():
                detail = f" {quote_for_reason(accept[0])} does not match the key"
                raise _invalid(headers, "Sec-WebSocket-Accept", Fault.INVALID, detail)
        subprotocol = self._chosen_subprotocol(fields, headers)
        extensions, deflate = self._accepted_extensions(fields, headers)
        raw = _raw(self.speaking) if self._key else None  # hixie-75/76: no key, no version
        return Connected(
            self.version,
            raw,
            subprotocol,
            extensions,
            101,
            headers,
            bytes(trailing),
            deflate,
            http_version.decode("ascii"),
        )

    def _chosen_subprotocol(
        self, fields: dict[bytes, list[bytes]], headers: tuple[tuple[str, str], ...]
    ) -> str | None:
        hixie75 = self.speaking is Version.VersionUnknown
        name = "WebSocket-Protocol" if hixie75 else "Sec-WebSocket-Protocol"
        values = fields.get(b"websocket-protocol" if hixie75 else b"sec-websocket-protocol")
        if not values:
            return None
        if len(values) > 1:
            raise _invalid(headers, name, Fault.REPEATED, "")
        chosen = values[0].decode("latin-1")
        if chosen not in self._offer.subprotocols:  # RFC 6455 §4.1, the client's step 6
            raise _invalid(
                headers, name, Fault.INVALID, f" {quote_for_reason(values[0])} was not offered"
            )
        return chosen

    def _accepted_extensions(
        self, fields: dict[bytes, list[bytes]], headers: tuple[tuple[str, str], ...]
    ) -> tuple[tuple[str, ...], DeflateParams | None]:
        """RFC 6455 §4.1 step 5: only extensions the client offered, each once; a
        permessage-deflate answer that accepts the client's offer (RFC 7692 §7.1)."""
        values = fields.get(b"sec-websocket-extensions")
        if not values:
            return (), None
        field = "Sec-WebSocket-Extensions"
        parsed = parse_extensions(b", ".join(values))
        if isinstance(parsed, int):
            raise _invalid(headers, field, Fault.INVALID, f" at byte {parsed}")
        texts, answers = parsed
        offered = {extension_name(offer) for offer in self._offer.extensions}
        named: set[str] = set()
        deflate = None
        for text, answer in zip(texts, answers, strict=True):
            name = answer.name.lower()
            if name not in offered:
                raise _invalid(headers, field, Fault.INVALID, f" {text!r} was not offered")
            if name in named:
                raise _invalid(headers, field, Fault.REPEATED, f": {name} answered twice")
            named.add(name)
            if name == PERMESSAGE_DEFLATE and self._offer.deflate is not None:
                agreed_or_fault = _deflate_answer(answer, self._offer.deflate)
                if isinstance(agreed_or_fault, str):
                    raise _invalid(
                        headers, field, Fault.INVALID, f": {agreed_or_fault} (RFC 7692 §7.1)"
                    )
                deflate = agreed_or_fault
        return texts, deflate

    # -- RFC 6455 §4.4 -------------------------------------------------------------

    def retry(self) -> ClientNegotiator:
        """After ``Refused``: a new negotiator, for a new connection, speaking the
        first version in the client's preference (``version``, then ``fallback``)
        that the server advertised and this chain has not tried (RFC 6455 §4.4).
        When the server advertised nothing, the untried fallbacks are tried in
        order, each once. Raises ``NoCommonVersion`` when none is left."""
        if self.state is not ClientState.REFUSED:
            raise LocalProtocolError(f"retry() follows a refusal, not state {self.state.name}")
        assert self.refused is not None  # REFUSED always has one
        advertised = self.refused.advertised
        for speak in self._offer.preference:
            if not isinstance(speak, Version) or speak in self.tried:
                continue
            if speak in advertised or self.refused.advertised_nothing:
                following = object.__new__(ClientNegotiator)
                following._start(self._offer, speak, self.tried)
                return following
        tried = tuple(_label(v) for v in self.tried)
        listed = ", ".join(tried)
        if advertised:
            what = f"the server speaks {list(advertised)}, this client tried {listed}"
        else:
            what = f"the server advertised no versions; fallbacks left: none (tried {listed})"
        raise NoCommonVersion(f"no version to retry: {what}", advertised=advertised, tried=tried)


def _check_request(
    host: str,
    target: str,
    origin: str | None,
    extensions: tuple[str, ...],
    headers: tuple[tuple[str, str], ...],
) -> None:
    """Refuse, before anything is written, a value of the caller's that cannot go
    out in the request (all of them, whichever version an attempt speaks)."""
    if _TARGET.match(target) is None:
        raise LocalProtocolError(
            f"cannot write this request: target {target!a} is not one or more visible "
            "ASCII characters (RFC 9112 §3.2)"
        )
    _check_value("Host", host)
    if origin is not None:
        _check_value("Origin", origin)
    if extensions:
        _check_value("Sec-WebSocket-Extensions", ", ".join(extensions))
    for name, value in headers:
        if not check_field_name(name):
            raise LocalProtocolError(
                f"cannot write this request: header name {name!a} is not a token "
                "(RFC 9110 §5.1, §5.6.2)"
            )
        _check_value(name, value)
        key = name.lower()
        if key == "host":
            raise LocalProtocolError(
                f"cannot write this request: header {name} is written from host=; "
                "a request has exactly one Host (RFC 9112 §3.2)"
            )
        if key in FRAMING_FIELDS:
            raise LocalProtocolError(
                f"cannot write this request: header {name} would frame a body, and the "
                "handshake's request has none (RFC 9112 §6.1, RFC 6455 §4.1)"
            )


def _check_value(field: str, value: str) -> None:
    if _ASCII_VALUE.match(value) is None:
        _refuse_value(field, value)


def _refuse_value(field: str, value: str, fault: str | None = None) -> NoReturn:
    """A value the caller gave for ``field`` that is no field value (RFC 9110 §5.5)."""
    if fault is None:
        fault = field_value_fault(value) if value.isascii() else "is not ASCII"
    raise LocalProtocolError(f"cannot write this request: {field}: value {value!a} {fault}")


def _check_raw_version(raw: str) -> None:
    """A raw ``Sec-WebSocket-Version`` goes out as UTF-8, so that "١٣" can be sent
    too: its bytes, obs-text included, must make a field value (RFC 9110 §5.5)."""
    try:
        sent: str | None = raw.encode().decode("latin-1")
    except UnicodeEncodeError:  # a lone surrogate
        sent = None
    fault = "has no UTF-8 form" if sent is None else field_value_fault(sent)
    if fault is not None:
        _refuse_value("Sec-WebSocket-Version", raw, fault)


def _write_request(target: bytes, lines: list[tuple[bytes, bytes]]) -> bytes:
    """The request's bytes, exactly as h11's client writer makes them (RFC 9112 §3,
    §5): ``GET target HTTP/1.1``, each field line as ``name: value`` in the order
    given (Host first, where ``_request_headers`` puts it, as h11 moves it), and the
    blank line. The values were checked by ``_check_request``."""
    return b"\r\n".join([b"GET " + target + b" HTTP/1.1", *map(b": ".join, lines), b"", b""])


def _deflate_answer(answer: Extension, options: DeflateOptions) -> DeflateParams | str:
    """The parameters of a permessage-deflate answer to this client's offer, or
    why the answer must fail the connection."""
    offer = parse_extensions(options.offer().encode())
    assert not isinstance(offer, int)  # our own offer parses
    fault = answer_fault(answer, offer[1][0])
    if fault is not None:
        return fault
    params = agreed(answer, options, client=True)
    if params.client_max_window_bits == 8:
        return "client_max_window_bits=8 cannot be kept (zlib compresses within 9 bits)"
    return params


def _invalid(
    headers: tuple[tuple[str, str], ...], field: str, fault: Fault, detail: str = ""
) -> InvalidResponse:
    """A 101 that must fail the connection (RFC 6455 §4.1): the field and its fault."""
    reason = f"{field}: {fault.value}{detail}"
    return InvalidResponse(reason, status=101, headers=headers, field=field, fault=fault)


def _raw(speak: Speak) -> str:
    """The version as it goes on the wire."""
    return str(int(speak)) if isinstance(speak, Version) else speak


def _label(speak: Speak) -> str:
    """The version as a person reads it."""
    if speak is Version.VersionUnknown:
        return "hixie-75"
    return _raw(speak) or "no version"


def _decoded(items: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple([(name.decode("latin-1"), value.decode("latin-1")) for name, value in items])
