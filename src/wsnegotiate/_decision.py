"""What the adapters share: how a caller's decision on a request is taken."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from ._events import Accepted, Rejected, Request
from ._server import ServerNegotiator

__all__ = ["OnRequest", "take_decision"]

#: Decides a request: returns ``negotiator.accept(...)`` or ``negotiator.reject(...)``,
#: or an awaitable of either. Without one, the request is accepted with the
#: policy's choices.
OnRequest = Callable[
    [ServerNegotiator, Request], Accepted | Rejected | Awaitable[Accepted | Rejected]
]


async def take_decision(
    negotiator: ServerNegotiator, request: Request, on_request: OnRequest | None
) -> Accepted | Rejected:
    if on_request is None:
        return negotiator.accept()
    decided = on_request(negotiator, request)
    return await decided if inspect.isawaitable(decided) else decided
