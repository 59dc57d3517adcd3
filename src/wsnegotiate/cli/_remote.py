"""The commands that talk to a server, ``probe`` and ``audit``: loaded when one of them
runs, so that ``serve``, ``check`` and ``demo`` start without the audit's cases."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import ssl
import sys
from typing import TextIO

from .._client import ClientNegotiator
from .._errors import LocalProtocolError
from ._main import _INTERRUPTED, _aligned
from .audit import Report, as_html, as_json, as_junit, audit, exit_code, reachable, table
from .audit_cases import CASES
from .probe import Target, cause, client_tls, parse_target, probe, unreached
from .probe import table as probe_table

__all__ = ["audit_command", "probe_command"]


def _target(args: argparse.Namespace) -> Target | None:
    """The ws:// or wss:// URL of ``probe`` or ``audit``; ``None`` (said on stderr) if
    it is bad."""
    try:
        return parse_target(args.url)
    except ValueError as exc:
        print(f"wsnegotiate {args.command}: {exc}", file=sys.stderr)
        return None


def probe_command(args: argparse.Namespace, out: TextIO) -> int:
    """``wsnegotiate probe``: its exit status."""
    if (target := _target(args)) is None:
        return 2
    if args.http2 and importlib.util.find_spec("h2") is None:
        print("wsnegotiate probe --http2 needs h2: pip install 'wsnegotiate[h2]'", file=sys.stderr)
        return 2
    tls = None
    if target.secure:
        try:
            tls = client_tls(args.cafile, insecure=args.insecure, http2=args.http2)
        except OSError as exc:  # an ssl.SSLError too
            print(f"wsnegotiate probe: --cafile {args.cafile}: {cause(exc)}", file=sys.stderr)
            return 2
    elif args.cafile or args.insecure:
        print("wsnegotiate probe: --cafile and --insecure are for wss:// URLs", file=sys.stderr)
        return 2
    rows = asyncio.run(probe(target, args.timeout, http2=args.http2, tls=tls))
    if (error := unreached(rows)) is not None:  # once, not a row per family
        print(f"wsnegotiate probe: {args.url}: {error}", file=sys.stderr)
        if args.json:
            print(json.dumps({"url": args.url, "error": error, "rows": []}), file=out)
        return 2
    if args.json:
        listed = [row.as_dict() for row in rows]
        print(json.dumps({"url": args.url, "error": None, "rows": listed}), file=out)
    else:
        print(_aligned(probe_table(rows)), file=out)
    if not any(row.reached for row in rows):
        return 2
    return 0 if any(row.answered for row in rows) else 1


def _offer_fault(args: argparse.Namespace, target: Target) -> str | None:
    """Why ``--subprotocol`` or ``--origin`` cannot go in the audit's requests, if
    so: the client that writes them says so (the subprotocol as ``serve`` checks
    it), before any case runs instead of in the middle of the run."""
    authority = f"{target.host}:{target.port}"
    if args.subprotocol is not None:
        try:
            ClientNegotiator(authority, target.path, subprotocols=[args.subprotocol])
        except LocalProtocolError as exc:
            return exc.message
    if args.origin is not None:
        try:
            ClientNegotiator(authority, target.path, origin=args.origin)
        except LocalProtocolError:
            return (
                f"--origin {args.origin!r}: not a field value "
                "(visible ASCII, spaces only inside; RFC 9110 §5.5)"
            )
    return None


def _writable(path: str) -> str | None:
    """Why a report cannot be written to ``path``, if it cannot: checked before the
    first case, so no run ends with its results lost. Nothing is left behind."""
    if path == "-":
        return None
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror}"
    if not existed:
        os.remove(path)
    return None


def _tls(args: argparse.Namespace, target: Target) -> ssl.SSLContext | str | None:
    """The TLS context of a wss:// audit (``None`` for ws://), or why not."""
    if not target.secure:
        if args.cafile or args.insecure:
            return "--cafile and --insecure go with a wss:// URL"
        return None
    try:
        context = ssl.create_default_context(cafile=args.cafile)
    except ssl.SSLError as exc:  # an OSError too: first
        return f"--cafile {args.cafile}: no certificate in it ({exc.reason or exc})"
    except OSError as exc:
        return f"--cafile {args.cafile}: {exc.strerror or exc}"
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _progress(report: Report) -> None:
    """A line on the terminal, rewritten as each case ends: n of N, the last one."""
    sys.stderr.write(f"\r\033[K[{len(report.results)}/{report.planned}] {report.last}")
    sys.stderr.flush()


def audit_command(args: argparse.Namespace, out: TextIO) -> int:
    """``wsnegotiate audit``: its exit status."""
    if (target := _target(args)) is None:
        return 2
    reports = [args.json, args.html, args.junit]
    if reports.count("-") > 1:
        print("wsnegotiate audit: only one report can go to standard output (-)", file=sys.stderr)
        return 2
    cases = CASES
    if args.http2:
        if args.only is not None:
            why = "--only picks among the HTTP/1.1 groups; --http2 runs the http2 group"
            print(f"wsnegotiate audit: {why}", file=sys.stderr)
            return 2
        try:
            from .audit_h2 import H2_CASES  # h2, only for an HTTP/2 audit
        except ImportError:
            why = "--http2 needs h2: pip install 'wsnegotiate[h2]'"
            print(f"wsnegotiate audit: {why}", file=sys.stderr)
            return 2
        cases = H2_CASES
    fault = _offer_fault(args, target) or next(
        (error for path in reports if path and (error := _writable(path))), None
    )
    tls = _tls(args, target)
    if isinstance(tls, str):
        fault = fault or tls
    if fault is not None:
        print(f"wsnegotiate audit: {fault}", file=sys.stderr)
        return 2
    assert not isinstance(tls, str)
    unreachable = asyncio.run(reachable(target, args.timeout))
    if unreachable is not None:
        print(f"wsnegotiate audit: {args.url}: {unreachable}", file=sys.stderr)
        return 2
    so_far: Report | None = None
    terminal = sys.stderr.isatty()

    def keep(report: Report) -> None:
        nonlocal so_far
        so_far = report
        if terminal:
            _progress(report)

    try:
        try:
            report = asyncio.run(
                audit(
                    target,
                    timeout=args.timeout,
                    subprotocol=args.subprotocol,
                    origin=args.origin,
                    groups=args.only,
                    cases=cases,
                    progress=keep,
                    seed=args.seed,
                    jobs=args.jobs,
                    slow_timeout=args.slow_timeout,
                    tls=tls,
                    from_proxy=args.from_proxy,
                )
            )
        finally:
            if terminal:
                sys.stderr.write("\r\033[K")
                sys.stderr.flush()
    except KeyboardInterrupt:  # Ctrl-C: report the cases that finished, marked incomplete
        if so_far is None:
            raise
        report = so_far
    if report.stopped is not None and report.stopped.at_gate:  # nothing was judged
        print(f"wsnegotiate audit: {report.stopped.why}", file=sys.stderr)
        return report.stopped.code
    writers = ((args.json, as_json), (args.html, as_html))
    files = [(path, write(report)) for path, write in writers if path]
    if args.junit:
        files.append((args.junit, as_junit(report, strict=args.strict)))
    for path, text in files:
        if path == "-":  # standard output: the table goes beside it, to stderr
            out.write(text)
            continue
        try:
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text)
        except OSError as exc:
            print(f"wsnegotiate audit: cannot write {path}: {exc.strerror}", file=sys.stderr)
            return 2
    shown = sys.stderr if "-" in reports else out
    print(table(report, colour=shown.isatty()), file=shown)
    if report.stopped is not None and report.stopped.code == 2 and shown is not sys.stderr:
        print(f"wsnegotiate audit: {report.stopped.why}", file=sys.stderr)
    return _INTERRUPTED if report.incomplete else exit_code(report, strict=args.strict)
