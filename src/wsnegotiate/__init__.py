"""wsnegotiate: sans-IO WebSocket opening-handshake version negotiation on h11.

Bytes of an HTTP/1.1 upgrade request go in; out come the protocol ``Version``
the peer speaks (any since hixie-75), a decision, and the exact bytes of the
answer: a 101, or a 426/400 that advertises the versions this server speaks.
The client side writes requests for any version, checks the answer, and
retries with a version the server advertised (RFC 6455 §4.4). permessage-deflate
(RFC 7692) is negotiated on both sides and handed to wsproto by
``wsnegotiate.wsproto.connection()``. ``decide_connect()`` decides a WebSocket's
extended CONNECT on HTTP/2 (RFC 8441) with the same steps, and
``wsnegotiate.h2`` (on python-hyper's h2) is the HTTP/2 side around it.
"""

from ._client import ClientNegotiator as ClientNegotiator
from ._client import ClientState as ClientState
from ._close import CloseCode as CloseCode
from ._close import ClosePayload as ClosePayload
from ._close import decode_close_payload as decode_close_payload
from ._close import encode_close_payload as encode_close_payload
from ._close import is_sendable as is_sendable
from ._close import is_valid_received as is_valid_received
from ._connect import decide_connect as decide_connect
from ._decide import decide as decide
from ._deflate import DeflateOptions as DeflateOptions
from ._deflate import DeflateParams as DeflateParams
from ._detect import Detection as Detection
from ._errors import Fault as Fault
from ._errors import InvalidClosePayload as InvalidClosePayload
from ._errors import InvalidResponse as InvalidResponse
from ._errors import LocalProtocolError as LocalProtocolError
from ._errors import NoCommonVersion as NoCommonVersion
from ._errors import ProtocolError as ProtocolError
from ._errors import RemoteProtocolError as RemoteProtocolError
from ._events import Accepted as Accepted
from ._events import Connected as Connected
from ._events import ConnectionClosed as ConnectionClosed
from ._events import NeedData as NeedData
from ._events import Refused as Refused
from ._events import Rejected as Rejected
from ._events import Request as Request
from ._headers import Extension as Extension
from ._policy import BY_POLICY as BY_POLICY
from ._policy import Policy as Policy
from ._policy import PolicyChoice as PolicyChoice
from ._server import ServerNegotiator as ServerNegotiator
from ._server import State as State
from ._server import negotiate as negotiate
from ._version import Version as Version

__version__ = "0.1.0"

__all__ = [
    "BY_POLICY",
    "Accepted",
    "ClientNegotiator",
    "ClientState",
    "CloseCode",
    "ClosePayload",
    "Connected",
    "ConnectionClosed",
    "DeflateOptions",
    "DeflateParams",
    "Detection",
    "Extension",
    "Fault",
    "InvalidClosePayload",
    "InvalidResponse",
    "LocalProtocolError",
    "NeedData",
    "NoCommonVersion",
    "Policy",
    "PolicyChoice",
    "ProtocolError",
    "Refused",
    "Rejected",
    "RemoteProtocolError",
    "Request",
    "ServerNegotiator",
    "State",
    "Version",
    "decide",
    "decide_connect",
    "decode_close_payload",
    "encode_close_payload",
    "is_sendable",
    "is_valid_received",
    "negotiate",
]
