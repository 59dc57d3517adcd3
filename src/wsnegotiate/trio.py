"""The handshake on a trio stream. Needs trio (``pip install wsnegotiate[trio]``).

    async def handle(stream):
        accepted = await wsnegotiate.trio.server_handshake(stream, policy)
        if isinstance(accepted, wsnegotiate.Accepted):
            ...  # the frame layer: feed it accepted.trailing_data first

Reads with a bounded buffer, writes the answer, and on a refusal closes the
stream after the whole answer is sent. ``timeout`` is a total deadline for the
request and the decision: a client that has not completed its request by then
gets a 408 and is closed (slowloris), however it trickles its bytes.

The negotiator is told who the peer is and whether the stream is TLS: the
socket's peer address (through ``SSLStream.transport_stream`` for TLS), and
whether the stream is a ``trio.SSLStream``. They make ``Request.client`` and
``Request.scheme``, the request's own origin for ``Policy(same_origin=True)``,
and whether the peer is a proxy named in ``Policy.forwarded_allow_ips``.
"""

from __future__ import annotations

import trio

from ._decision import OnRequest, failed_decision, take_decision
from ._events import Accepted, NeedData, Rejected, Request
from ._forwarded import Peer
from ._policy import Policy
from ._server import ServerNegotiator

__all__ = ["OnRequest", "server_handshake"]


def _stream_facts(stream: trio.abc.Stream) -> tuple[Peer | None, bool]:
    """The peer's address and whether ``stream`` is TLS: the address of the
    ``trio.SocketStream`` under it, cut to (host, port) for IPv4 and IPv6, ``None``
    for a UNIX socket or a stream with no socket under it; TLS when it is a
    ``trio.SSLStream``."""
    tls = isinstance(stream, trio.SSLStream)
    inner = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
    if not isinstance(inner, trio.SocketStream):
        return None, tls
    try:
        name = inner.socket.getpeername()
    except OSError:  # the peer is already gone: the handshake finds out soon enough
        return None, tls
    peer = (str(name[0]), int(name[1])) if isinstance(name, tuple) and len(name) >= 2 else None
    return peer, tls


async def server_handshake(
    stream: trio.abc.Stream,
    policy: Policy | None = None,
    *,
    timeout: float = 10.0,
    on_request: OnRequest | None = None,
    read_size: int = 4096,
    peer: Peer | None = None,
    tls: bool | None = None,
) -> Accepted | Rejected | None:
    """Run the server handshake on one stream.

    Returns ``Accepted`` (the 101 is sent; the stream now belongs to the frame
    layer, which reads ``trailing_data`` first), ``Rejected`` (the answer is sent
    and the stream closed), or ``None`` when the client went away before a
    request (the stream is closed).

    ``timeout`` is a total deadline for the request and the decision, not an idle
    timeout: a client still sending after it gets a 408, an ``on_request`` still
    deciding gets the client a 503. If ``on_request`` raises, or returns anything
    but an ``Accepted`` or ``Rejected``, the client gets a 500 and the error is
    raised here (``LocalProtocolError`` for a wrong return).

    ``peer`` and ``tls`` default to what the stream says (see the module); give
    them when it cannot tell: a stream of your own over a socket, a peer address
    that a PROXY protocol header carried.
    """
    if peer is None or tls is None:
        known_peer, known_tls = _stream_facts(stream)
        peer = known_peer if peer is None else peer
        tls = known_tls if tls is None else tls
    negotiator = ServerNegotiator(policy, peer=peer, tls=tls)
    request: Request | Rejected | None = None
    outcome: Accepted | Rejected | None = None
    error = None
    with trio.move_on_after(timeout) as deadline:
        try:
            while isinstance(event := negotiator.next_event(), NeedData):
                negotiator.receive_data(await stream.receive_some(read_size))
            request = event if isinstance(event, Request | Rejected) else None
        except trio.BrokenResourceError:  # reset before a request: nobody to answer
            request = None
        if isinstance(request, Request):
            outcome, error = await take_decision(negotiator, request, on_request)
        else:
            outcome = request
    if deadline.cancelled_caught:
        if request is None:
            outcome = negotiator.time_out(timeout)
        else:
            reason = f"no decision within the {timeout:g} s deadline"
            outcome = failed_decision(negotiator, 503, reason)
    if outcome is not None:
        try:
            await stream.send_all(outcome.response)
        except trio.BrokenResourceError:  # gone while we answered
            outcome = None if isinstance(outcome, Accepted) else outcome
    if not isinstance(outcome, Accepted):
        await stream.aclose()
    if error is not None:
        raise error
    return outcome
