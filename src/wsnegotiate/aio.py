"""The handshake on asyncio streams.

    async def handle(reader, writer):
        accepted = await wsnegotiate.aio.server_handshake(reader, writer, policy)
        if isinstance(accepted, wsnegotiate.Accepted):
            ...  # the frame layer: feed it accepted.trailing_data first

Reads with a bounded buffer (the policy's size limit holds however the bytes
arrive), writes the answer, and on a refusal closes the connection after the
whole answer is written. ``timeout`` is a total deadline for the request and
the decision: a client that has not completed its request by then gets a 408
and is closed (slowloris), however it trickles its bytes.

The negotiator is told who the peer is and whether the connection is TLS, read
from the writer (``peername``, ``sslcontext``): they make ``Request.client`` and
``Request.scheme``, the request's own origin for ``Policy(same_origin=True)``,
and whether the peer is a proxy named in ``Policy.forwarded_allow_ips``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from ._decision import OnRequest, failed_decision, take_decision
from ._events import Accepted, NeedData, Rejected, Request
from ._forwarded import Peer
from ._policy import Policy
from ._server import ServerNegotiator, State

__all__ = ["OnRequest", "server_handshake"]


class _HasExtraInfo(Protocol):
    def get_extra_info(self, name: str, default: object = None) -> object: ...


def _connection_facts(connection: _HasExtraInfo) -> tuple[Peer | None, bool]:
    """The peer's address and whether the connection is TLS, as an asyncio
    transport or ``StreamWriter`` tells them: ``peername`` cut to (host, port)
    for IPv4 and IPv6 (whose tuple also has flowinfo and scope id); ``None`` for
    a UNIX socket, whose peer has no address; TLS when there is an
    ``sslcontext``."""
    name = connection.get_extra_info("peername")
    peer = (str(name[0]), int(name[1])) if isinstance(name, tuple) and len(name) >= 2 else None
    return peer, connection.get_extra_info("sslcontext") is not None


async def _read_request(
    negotiator: ServerNegotiator, reader: asyncio.StreamReader, read_size: int
) -> Request | Rejected | None:
    while isinstance(event := negotiator.next_event(), NeedData):
        negotiator.receive_data(await reader.read(read_size))
    return None if not isinstance(event, Request | Rejected) else event


async def server_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    policy: Policy | None = None,
    *,
    timeout: float = 10.0,
    on_request: OnRequest | None = None,
    read_size: int = 4096,
    peer: Peer | None = None,
    tls: bool | None = None,
) -> Accepted | Rejected | None:
    """Run the server handshake on one connection.

    Returns ``Accepted`` (the 101 is written; the stream now belongs to the frame
    layer, which reads ``trailing_data`` first), ``Rejected`` (the answer is
    written and the connection closed), or ``None`` when the client went away
    before a request (the connection is closed).

    ``timeout`` is a total deadline for the request and the decision, not an idle
    timeout: a client still sending after it gets a 408, an ``on_request`` still
    deciding gets the client a 503. If ``on_request`` raises, or returns anything
    but an ``Accepted`` or ``Rejected``, the client gets a 500 and the error is
    raised here (``LocalProtocolError`` for a wrong return).

    ``peer`` and ``tls`` default to what the writer says (its ``peername`` and
    ``sslcontext``); give them when the socket does not tell the truth: a peer
    address that a PROXY protocol header carried, TLS ended by a wrapper the
    writer does not know of.
    """
    if peer is None or tls is None:
        known_peer, known_tls = _connection_facts(writer)
        peer = known_peer if peer is None else peer
        tls = known_tls if tls is None else tls
    negotiator = ServerNegotiator(policy, peer=peer, tls=tls)
    outcome: Accepted | Rejected | None = None
    error = None
    lost = False
    try:  # one deadline for the request and the decision, without a task of its own
        async with asyncio.timeout(timeout):
            request = await _read_request(negotiator, reader, read_size)
            if isinstance(request, Request):
                outcome, error = await take_decision(negotiator, request, on_request)
            else:
                outcome = request
    except TimeoutError:
        if negotiator.state is State.AWAITING_REQUEST:
            outcome = negotiator.time_out(timeout)
        else:
            reason = f"no decision within the {timeout:g} s deadline"
            outcome = failed_decision(negotiator, 503, reason)
    except ConnectionError:  # reset before a request: nobody to answer
        outcome, lost = None, True
    if outcome is not None:
        try:
            writer.write(outcome.response)
            await writer.drain()
        except ConnectionError:  # gone while we answered: a refusal is still the outcome
            outcome, lost = (None if isinstance(outcome, Accepted) else outcome), True
    if not isinstance(outcome, Accepted):
        writer.close()
    if lost:  # the streams keep the error for wait_closed() too: take it, or asyncio
        # logs it when its future is freed. The connection is gone: this returns at once.
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
    if error is not None:
        raise error
    return outcome
