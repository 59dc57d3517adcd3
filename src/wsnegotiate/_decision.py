"""What the adapters share: how a caller's decision on a request is taken, and
what goes on the wire when the decision fails.

- no ``on_request``: the policy decides (``accept()``);
- ``on_request`` returns ``negotiator.accept(...)`` or ``negotiator.reject(...)``,
  or an awaitable of either;
- it raises: a 500 goes out, then the exception goes on to the adapter's caller;
- it returns anything else: a 500 goes out, and ``LocalProtocolError`` is raised;
- it is still deciding when the request's deadline passes: a 503 goes out
  (RFC 9110 §15.6.4), and the adapter returns that ``Rejected``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from ._answers import rejection_body, rejection_headers, render
from ._errors import LocalProtocolError
from ._events import Accepted, Rejected, Request
from ._server import ServerNegotiator, State

__all__ = ["OnRequest", "failed_decision", "take_decision"]

#: Decides a request: returns ``negotiator.accept(...)`` or ``negotiator.reject(...)``,
#: or an awaitable of either. Without one, the request is accepted with the
#: policy's choices.
OnRequest = Callable[
    [ServerNegotiator, Request], Accepted | Rejected | Awaitable[Accepted | Rejected]
]


async def take_decision(
    negotiator: ServerNegotiator, request: Request, on_request: OnRequest | None
) -> tuple[Accepted | Rejected, BaseException | None]:
    """The decision, or a 500 and the error to raise once the 500 is sent."""
    if on_request is None:
        return negotiator.accept(), None
    try:
        decided: object = on_request(negotiator, request)
        if inspect.isawaitable(decided):
            decided = await decided
    except Exception as raised:  # the caller's bug: answered, then raised to the caller
        return failed_decision(negotiator, 500, "internal error while deciding"), raised
    if not isinstance(decided, Accepted | Rejected):
        wrong = LocalProtocolError(
            f"on_request returned {type(decided).__name__}; it must return "
            "negotiator.accept(...) or negotiator.reject(...)"
        )
        return failed_decision(negotiator, 500, "internal error while deciding"), wrong
    return decided, None


def failed_decision(negotiator: ServerNegotiator, status: int, reason: str) -> Rejected:
    """The refusal to send when no decision came: through the negotiator while it
    still waits for one, else (the callback decided, then failed) written anew."""
    if negotiator.state is State.DECIDING:
        return negotiator.reject(status, reason)
    headers = rejection_headers(status, reason)
    return Rejected(status, reason, headers, render(status, headers, rejection_body(reason)))
