"""The ``wsnegotiate`` command: ``demo``, ``check``, ``probe``, ``audit`` and ``serve``
(DESIGN.md).

Exit codes of ``check``: 0 accepted, 1 refused or incomplete, 2 bad arguments or
an unreadable input. ``probe``: 0 when the server answered, 1 when it was reached
but answered no row, 2 when it could not be reached or the URL is not a ws://
URL. Any command: 141 when the reader of its output went away; any but ``serve``
(which stops with 0): 130 when interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, BinaryIO, TextIO

from .. import __version__
from .._deflate import DeflateOptions, DeflateParams
from .._detect import Detection
from .._errors import LocalProtocolError
from .._events import Accepted, NeedData, Rejected, Request
from .._headers import parse_advertised
from .._origin import listed_origins
from .._policy import Policy
from .._server import ServerNegotiator, negotiate
from .._version import Version
from .audit_groups import GROUP_ALIASES, GROUPS
from .samples import SAMPLES

__all__ = ["main"]

Outcome = Accepted | Rejected | NeedData


def summary(outcome: Outcome) -> dict[str, Any]:
    """The ``check --json`` object for one negotiation."""
    if isinstance(outcome, NeedData):
        return {
            "status": None,
            "accepted": False,
            "reason": "incomplete: the request head does not end",
            "version": Version.VersionUnknown.name,
            "raw_version": None,
            "family": None,
            "advertised": [],
            "subprotocol": None,
            "extensions": None,
            "headers": [],
            "response": "",
            "trailing_data": "",
        }
    detection: Detection | None
    if isinstance(outcome, Accepted):
        detection, status, reason = outcome.request.detection, 101, "accepted"
        trailing = outcome.trailing_data
    else:
        detection, status, reason = outcome.detection, outcome.status, outcome.reason
        trailing = b""
    headers = [list(header) for header in outcome.headers]
    # the versions our Sec-WebSocket-Version lists, as numbers (probe --json's shape)
    listed = [value.encode("ascii") for name, value in headers if name == "Sec-WebSocket-Version"]
    advertised = list(parse_advertised(listed)[0])
    accepted = outcome if isinstance(outcome, Accepted) else None
    deflate = accepted.deflate if accepted else None
    return {
        "status": status,
        "accepted": isinstance(outcome, Accepted),
        "reason": reason,
        "version": (detection.version if detection else Version.VersionUnknown).name,
        "raw_version": detection.raw_version if detection else None,
        "family": detection.family if detection else None,
        "advertised": advertised,
        "subprotocol": accepted.subprotocol if accepted else None,
        "extensions": None if deflate is None else {"permessage-deflate": _agreed(deflate)},
        "headers": headers,
        "response": outcome.response.decode("utf-8", "backslashreplace"),  # reasons are UTF-8
        "trailing_data": trailing.hex(),
    }


def _agreed(deflate: DeflateParams) -> dict[str, bool | int | None]:
    """The agreed permessage-deflate parameters, as ``check --json`` reports them."""
    return {
        "server_no_context_takeover": deflate.server_no_context_takeover,
        "client_no_context_takeover": deflate.client_no_context_takeover,
        "server_max_window_bits": deflate.server_max_window_bits,
        "client_max_window_bits": deflate.client_max_window_bits,
    }


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _peer(text: str) -> tuple[str, int]:
    """``--peer``: an IP address and a port (0 when none is given):
    ``10.0.0.2``, ``10.0.0.2:41000``, ``2001:db8::1``, ``[2001:db8::1]:41000``."""
    host, port = text, "0"
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or rest[:1] not in ("", ":"):
            host = ""
        port = rest[1:] or "0"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        host = ""
    if not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"not an IP address and an optional port (10.0.0.2, 10.0.0.2:41000,"
            f" [2001:db8::1]:41000): {text!r}"
        )
    return host, int(port)


def _versions(text: str) -> list[int]:
    try:
        return [int(part) for part in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of version numbers: {text!r}") from None


_EXIT_CODES = {
    "demo": "exit codes: 0 printed",
    "check": "exit codes: 0 accepted, 1 refused or incomplete, 2 bad arguments or unreadable "
    "input, 130 interrupted",
    "probe": "exit codes: 0 the server answered, 1 reached but no row got an answer, "
    "2 unreachable or not a usable ws:// URL, 130 interrupted",
    "serve": "exit codes: 0 stopped by SIGINT or SIGTERM, 2 bad arguments, cannot listen on "
    "the address (in use, unresolvable host), a --certfile or --keyfile that cannot be "
    "loaded, or --loop uvloop without uvloop installed",
    "audit": "exit codes: 0 no case fails, 1 a case fails (or warns, with --strict), or no 101 "
    "to the plainest valid request (not a WebSocket server; with --http2: no HTTP/2, no "
    "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, or no 200 to the plainest extended CONNECT), "
    "2 unreachable, no answer to the "
    "plainest valid request, TLS that fails or is on the wrong scheme, the server gone mid-run, "
    "not a ws:// or wss:// URL, a --subprotocol or --origin that cannot go in a request, or an "
    "unwritable report file, 130 interrupted (the reports hold the cases that finished)",
}
_BROKEN_PIPE = 141  # as a shell reports a command ended by SIGPIPE (128 + 13)
_INTERRUPTED = 130  # as a shell reports a command ended by SIGINT (128 + 2)


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number from 0: {text!r}")
    return int(text)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


_GROUP_NAMES = ",".join(GROUPS)


def _groups(text: str) -> list[str]:
    """Group names; an old name (``origin``) stands for the group it became."""
    groups = [GROUP_ALIASES.get(group, group) for group in _csv(text)]
    unknown = [group for group in groups if group not in GROUPS]
    if unknown or not groups:
        raise argparse.ArgumentTypeError(f"not a list of groups ({_GROUP_NAMES}): {text!r}")
    return groups


def _port(text: str) -> int:
    """A TCP port number (0 lets the system pick one)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def _bytes_or_off(text: str) -> int | None:
    """A number of bytes, or 0 for no limit (``None``)."""
    number = _positive_int(text) if text.strip() != "0" else 0
    return number or None


def _seconds_or_off(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else _positive_seconds(text)


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="wsnegotiate",
        description="WebSocket opening-handshake version negotiation.",
        epilog="\n".join(
            [
                *(f"{name}: {codes}" for name, codes in _EXIT_CODES.items()),
                f"any command: {_BROKEN_PIPE} when the reader of its output goes away",
                f"any command but serve: {_INTERRUPTED} when interrupted (Ctrl-C)",
            ]
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wsnegotiate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=help, description=help, epilog=_EXIT_CODES[name], formatter_class=formatter
        )

    demo = command("demo", "negotiate the bundled sample requests")
    _add_policy_options(demo)
    check = command("check", "negotiate one captured request")
    check.add_argument("file", nargs="?", default="-", help="request bytes; - for stdin")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    _add_policy_options(check)
    check.add_argument(
        "--peer",
        type=_peer,
        default=None,
        metavar="HOST[:PORT]",
        help="the address the request came from, as a server's socket would see it: a proxy"
        " named in --forwarded-allow-ips has its Forwarded fields believed",
    )
    check.add_argument(
        "--tls", action="store_true", help="the request came over TLS (its scheme is https)"
    )
    probe = command("probe", "which versions does a live server accept?")
    probe.add_argument("url", help="ws://HOST:PORT/PATH or wss://...")
    probe.add_argument("--json", action="store_true", help="print one JSON object")
    probe.add_argument(
        "--timeout", type=_positive_seconds, default=5.0, help="seconds per handshake"
    )
    probe.add_argument(
        "--http2",
        action="store_true",
        help="over HTTP/2 (RFC 8441): prior knowledge on ws://, ALPN h2 on wss://",
    )
    probe.add_argument("--cafile", metavar="FILE", help="wss://: trust the CAs in FILE (PEM)")
    probe.add_argument(
        "--insecure", action="store_true", help="wss://: do not verify the certificate"
    )
    audit = command("audit", "the handshake conformance suite, against a live server")
    audit.add_argument("url", help="ws://HOST:PORT/PATH or wss://HOST:PORT/PATH")
    audit.add_argument(
        "--timeout", type=_positive_seconds, default=5.0, help="seconds per case, at most"
    )
    audit.add_argument(
        "--slow-timeout",
        type=_positive_seconds,
        default=15.0,
        help="seconds the slow, incomplete request (run last) waits for the server to end it",
    )
    audit.add_argument(
        "--jobs", type=_positive_int, default=4, help="cases run at the same time, at most"
    )
    audit.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="the seed of every random byte sent (keys, masks): one seed, the same bytes",
    )
    audit.add_argument("--cafile", metavar="FILE", help="wss://: trust the CAs in this PEM file")
    audit.add_argument(
        "--insecure", action="store_true", help="wss://: do not check the server's certificate"
    )
    audit.add_argument("--json", metavar="FILE", help="write the report as JSON (- for stdout)")
    audit.add_argument(
        "--html", metavar="FILE", help="write the report as one HTML page (- for stdout)"
    )
    audit.add_argument(
        "--junit", metavar="FILE", help="write the report as JUnit XML (- for stdout)"
    )
    audit.add_argument("--subprotocol", metavar="NAME", help="a subprotocol the server speaks")
    audit.add_argument(
        "--origin", metavar="URL", help="the Origin the server admits (http://HOST:PORT)"
    )
    audit.add_argument(
        "--from-proxy",
        action="store_true",
        help="the server trusts this machine as its proxy: it should believe X-Forwarded-*",
    )
    audit.add_argument(
        "--only", type=_groups, default=None, metavar="GROUP,...", help=f"groups: {_GROUP_NAMES}"
    )
    audit.add_argument("--strict", action="store_true", help="a warning fails too")
    audit.add_argument(
        "--http2",
        action="store_true",
        help="the HTTP/2 group instead (RFC 8441): prior knowledge on ws://, ALPN h2 on wss://",
    )
    serve = command("serve", "an asyncio echo server on the negotiator")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8765, help="0 picks a free port")
    serve.add_argument(
        "--handshake-timeout",
        type=_positive_seconds,
        default=10.0,
        help="seconds a client has to complete its request (then 408)",
    )
    serve.add_argument(
        "--ping-interval",
        type=_seconds_or_off,
        default=20.0,
        help="seconds of quiet before a ping (0: never ping)",
    )
    serve.add_argument(
        "--ping-timeout",
        type=_positive_seconds,
        default=20.0,
        help="seconds a ping waits for an answer (then Close 1011)",
    )
    serve.add_argument(
        "--close-timeout",
        type=_positive_seconds,
        default=10.0,
        help="seconds our Close waits for the client's (then TCP closes)",
    )
    serve.add_argument(
        "--max-message-size",
        type=_bytes_or_off,
        default=1024 * 1024,
        help="bytes a received message may have, after inflation (then Close 1009;"
        " 0: no limit; default 1 MiB)",
    )
    serve.add_argument(
        "--max-connections",
        type=_positive_int,
        default=None,
        help="open connections at most (default: the file-descriptor limit less 32)",
    )
    serve.add_argument(
        "--certfile",
        metavar="FILE",
        help="TLS: the certificate chain (PEM); ALPN offers h2 and http/1.1",
    )
    serve.add_argument(
        "--keyfile", metavar="FILE", help="TLS: its private key (PEM; default: in --certfile)"
    )
    serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="no line per handshake on stderr",
    )
    serve.add_argument(
        "--loop",
        choices=("auto", "asyncio", "uvloop"),
        default="auto",
        help="the event loop (auto: uvloop when installed, else asyncio's own)",
    )
    _add_policy_options(serve)
    return parser


def _add_policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--versions", type=_versions, default=[13], help="e.g. 13,8,7")
    parser.add_argument("--subprotocols", type=_csv, default=[], help="e.g. chat,superchat")
    parser.add_argument(
        "--origins",
        type=listed_origins,
        default=None,
        metavar="ORIGIN,...",
        help="the origins allowed, others get a 403: scheme://host[:port] (RFC 6454),"
        " scheme://*.host[:port] for any subdomain of host; none: a request without Origin"
        " (no browser's)",
    )
    parser.add_argument(
        "--same-origin",
        action="store_true",
        help="allow the request's own origin: its scheme (https over TLS) and Host, or what a"
        " trusted proxy says they were; refused when the browser says Sec-Fetch-Site: cross-site",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IP,NETWORK,...",
        help="the proxies whose Forwarded and X-Forwarded-* fields are believed, as uvicorn's"
        " option of that name: addresses, networks (10.0.0.0/8), * for any peer; by default"
        " none, not even 127.0.0.1 (uvicorn's default): a proxy is believed only when named,"
        " and every run gives the same answer whatever the environment",
    )
    parser.add_argument(
        "--health-path",
        default=None,
        metavar="PATH",
        help="answer a plain GET or HEAD of PATH with 200 (a load balancer's health check)",
    )
    parser.add_argument(
        "--credential-prefix",
        default=None,
        metavar="PREFIX",
        help="a subprotocol offer that starts with PREFIX carries a credential"
        " (base64url.bearer.authorization.k8s.io.): taken out before a subprotocol is chosen,"
        " never answered, printed or logged; any credential is admitted (no check of its own)",
    )
    parser.add_argument(
        "--reject-status",
        type=int,
        choices=(426, 400),
        default=426,
        help="status for an unsupported version",
    )
    defaults = Policy()
    for option, help_text in (
        ("--max-request-bytes", "request head limit (431)"),
        ("--max-field-lines", "header field lines a request may have (431)"),
        ("--max-field-line-bytes", "length of one field line (431; the request line, 414)"),
        ("--max-offers", "subprotocols, and extensions, a request may offer (400)"),
    ):
        name = option.removeprefix("--").replace("-", "_")
        parser.add_argument(option, type=int, default=getattr(defaults, name), help=help_text)
    parser.add_argument(
        "--deflate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="agree to permessage-deflate (RFC 7692) when offered",
    )


def _policy(args: argparse.Namespace) -> Policy:
    return Policy(
        args.versions,
        reject_status=args.reject_status,
        max_request_bytes=args.max_request_bytes,
        max_field_lines=args.max_field_lines,
        max_field_line_bytes=args.max_field_line_bytes,
        max_offers=args.max_offers,
        origins=args.origins,
        subprotocols=args.subprotocols,
        deflate=DeflateOptions() if args.deflate else None,
        same_origin=args.same_origin,
        forwarded_allow_ips=args.forwarded_allow_ips or (),
        health_path=args.health_path,
        credential_prefix=args.credential_prefix,
    )


def _aligned(rows: Sequence[tuple[str, ...]]) -> str:
    """A text table: every column but the last padded to its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ("  ".join([*map(str.ljust, row, widths), row[-1]]).rstrip() for row in rows)
    return "\n".join(lines)


def _demo(policy: Policy, out: TextIO) -> int:
    rows: list[tuple[str, ...]] = [
        ("sample", "version", "family", "status", "advertised", "reason")
    ]
    for sample in SAMPLES:
        result = summary(negotiate(sample.data, policy))
        rows.append(
            (
                sample.name,
                result["version"],
                result["family"] or "-",
                str(result["status"]),
                ",".join(map(str, result["advertised"])) or "-",
                result["reason"],
            )
        )
    print(_aligned(rows), file=out)
    return 0


def _negotiate_stream(
    stream: BinaryIO, policy: Policy, peer: tuple[str, int] | None = None, tls: bool = False
) -> tuple[Outcome, int]:
    """``negotiate()`` over a file or pipe, read a chunk at a time until the
    negotiator decides: at most the head limit and one chunk are ever read, so an
    endless input (``/dev/zero``, a pipe that never ends) gets its 400 or 431.
    Also returns how many bytes were read."""
    negotiator = ServerNegotiator(policy, peer=peer, tls=tls)
    event = negotiator.next_event()
    read = 0
    while isinstance(event, NeedData):
        chunk = stream.read(_CHUNK)
        if not chunk:
            return event, read  # the capture ends before the head does
        read += len(chunk)
        negotiator.receive_data(chunk)
        event = negotiator.next_event()
    if isinstance(event, Request):
        return negotiator.accept(), read
    assert isinstance(event, Rejected)  # data came before end of file: never ConnectionClosed
    return event, read


_CHUNK = 64 * 1024


def _check(args: argparse.Namespace, policy: Policy, out: TextIO) -> int:
    try:
        if args.file == "-":
            if sys.stdin.isatty():  # else the command would seem to hang
                print(
                    "wsnegotiate check: reading the request from standard input (end with Ctrl-D)",
                    file=sys.stderr,
                    flush=True,
                )
            outcome, read = _negotiate_stream(sys.stdin.buffer, policy, args.peer, args.tls)
        else:
            with open(args.file, "rb") as stream:
                outcome, read = _negotiate_stream(stream, policy, args.peer, args.tls)
    except OSError as exc:
        print(f"wsnegotiate check: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    result = summary(outcome)
    if isinstance(outcome, NeedData):
        result["reason"] = (
            f"incomplete: the request head does not end ({read} bytes read)"
            if read
            else "incomplete: the input is empty"
        )
    if args.json:
        print(json.dumps(result), file=out)
    elif result["status"] is None:
        print(result["reason"], file=out)
    else:
        print(f"{result['status']} {result['family'] or '-'} {result['reason']}", file=out)
        print(result["response"].replace("\r\n", "\n"), file=out, end="")
    return 0 if result["accepted"] else 1


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    try:
        return _main(argv, out)
    except KeyboardInterrupt:  # Ctrl-C: the user knows; no traceback
        return _INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`wsnegotiate demo | head -1`): no traceback, and
        # nothing more to flush at exit (the recipe of Python's signal docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _BROKEN_PIPE


def _main(argv: Sequence[str] | None, out: TextIO | None) -> int:
    args = _parser().parse_args(argv)
    stream = out if out is not None else sys.stdout
    if args.command in ("probe", "audit"):  # their modules load when they run
        from ._remote import audit_command, probe_command

        return (probe_command if args.command == "probe" else audit_command)(args, stream)
    try:
        policy = _policy(args)
    except LocalProtocolError as exc:
        print(f"wsnegotiate {args.command}: {exc.message}", file=sys.stderr)
        return 2
    if args.command == "demo":
        return _demo(policy, stream)
    if args.command == "serve":
        try:
            from .serve import ServeOptions, run, tls_context  # wsproto and h2: when serving
        except ImportError:  # pragma: no cover - wsproto and h2 are in the serve and dev extras
            print(
                "wsnegotiate serve needs wsproto and h2: pip install 'wsnegotiate[serve]'",
                file=sys.stderr,
            )
            return 2
        tls = None
        if args.keyfile is not None and args.certfile is None:
            print("wsnegotiate serve: --keyfile needs --certfile", file=sys.stderr)
            return 2
        if args.certfile is not None:
            try:
                tls = tls_context(args.certfile, args.keyfile)
            except OSError as exc:  # unreadable, not PEM, or a key that does not match
                files = " ".join(f for f in (args.certfile, args.keyfile) if f)
                reason = exc.strerror or getattr(exc, "reason", None) or str(exc)
                print(f"wsnegotiate serve: cannot load {files}: {reason}", file=sys.stderr)
                return 2
        options = ServeOptions(
            handshake_timeout=args.handshake_timeout,
            ping_interval=args.ping_interval,
            ping_timeout=args.ping_timeout,
            close_timeout=args.close_timeout,
            max_connections=args.max_connections,
            max_message_size=args.max_message_size,
            access_log=args.access_log,
        )
        return run(args.host, args.port, policy, options, args.loop, tls)
    return _check(args, policy, stream)
