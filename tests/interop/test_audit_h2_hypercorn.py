"""`wsnegotiate audit --http2` against hypercorn (pinned by the dev extra) serving a
bare ASGI echo app over HTTP/2 with prior knowledge: a real process on 127.0.0.1
and a free port, always stopped, audited twice.

As in test_audit_servers.py, a test of the audit must not depend on a peer's defect
staying unfixed: each known defect is a check of what hypercorn really answered,
read off the header blocks the audit's HTTP/2 client recorded (``got.http2`` in the
JSON report, as h2 decoded them), not off the judges; the audit must fail a case
exactly when that check finds the defect in the same run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_h2_hypercorn import hypercorn

from wsnegotiate.cli.audit_h2 import H2_CASES

pytest.importorskip("hypercorn")

Case = dict[str, Any]


def final_block(case: Case) -> dict[str, str] | None:
    """The fields of the first answer on the case's first stream that is not 1xx."""
    streams = case["got"]["http2"]["streams"]
    for block in streams[0]["blocks"] if streams else ():
        fields = dict(block)
        if not fields.get(":status", "").startswith("1"):
            return fields
    return None


def served(case: Case) -> bool:
    """A 2xx: the request served as a WebSocket (RFC 9110 §9.3.6: a tunnel)."""
    final = final_block(case)
    return final is not None and final[":status"].startswith("2")


def refused_without_list(case: Case) -> bool:
    """RFC 6455 §4.2.2: a refusal of a version not understood that names no version."""
    final = final_block(case)
    return final is not None and final[":status"] >= "400" and "sec-websocket-version" not in final


#: hypercorn 0.18: every extended CONNECT a WebSocket, whatever its :protocol (not a
#: token, or not websocket) or its :scheme (ws); version 8 refused with a bare 400.
HYPERCORN: dict[str, Callable[[Case], bool]] = {
    "h2-protocol-not-token": served,
    "h2-protocol-other": served,
    "h2-scheme-other": served,
    "h2-version-8": refused_without_list,
}


@pytest.mark.heavy
def test_audit_http2_against_hypercorn(tmp_path: Path) -> None:
    reports, codes = [], []
    with hypercorn() as port:
        url = f"ws://127.0.0.1:{port}/echo"
        for run in ("first", "second"):
            path = tmp_path / f"{run}.json"
            command = [sys.executable, "-m", "wsnegotiate", "audit", url, "--http2"]
            done = subprocess.run(
                [*command, "--timeout", "2", "--json", str(path)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            codes.append(done.returncode)
            reports.append(json.loads(path.read_text()))
    first, second = reports
    assert first["stopped"] is None, first["stopped"]
    assert [case["id"] for case in first["cases"]] == [case.id for case in H2_CASES]
    cases = {case["id"]: case for case in first["cases"]}
    failing = {case_id for case_id, case in cases.items() if case["verdict"] == "fail"}
    found = {case_id for case_id, defect in HYPERCORN.items() if defect(cases[case_id])}
    assert failing == found, {
        "audit fails but no defect seen": sorted(failing - found),
        "defect seen but audit passes": sorted(found - failing),
    }
    # the issue's own case, said for itself: it fails exactly when hypercorn served it
    other = cases["h2-protocol-other"]
    assert (other["verdict"] == "fail") is served(other)
    assert codes[0] == (1 if failing else 0)
    # two runs, the same requests and the same verdicts
    assert [(c["id"], c["verdict"], c["request"]) for c in first["cases"]] == [
        (c["id"], c["verdict"], c["request"]) for c in second["cases"]
    ]
    assert codes[0] == codes[1]
