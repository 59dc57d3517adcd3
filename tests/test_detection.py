"""Every row of DESIGN.md's version table, on real request bytes."""

from __future__ import annotations

import pytest
from factory import KEY, UPGRADE, assert_rejection, h11_request, header_values, raw_request, rfc6455

import wsnegotiate as ws
from wsnegotiate import Version

V = Version
HIXIE_KEYS = (
    ("Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5"),
    ("Sec-WebSocket-Key2", "12998 5 Y3 1  .P00"),
)


def outcome(data: bytes, policy: ws.Policy | None = None) -> ws.Accepted | ws.Rejected:
    result = ws.negotiate(data, policy)
    assert not isinstance(result, ws.NeedData)
    return result


def test_version_members_are_the_seed() -> None:
    assert {m.name: m.value for m in Version} == {
        "VersionUnknown": -1,
        "Version0": 0,
        "Version4": 4,
        "Version5": 5,
        "Version6": 6,
        "Version7": 7,
        "Version8": 8,
        "Version13": 13,
    }
    latest: Version = Version.VersionLatest
    assert latest is Version.Version13
    assert Version["VersionLatest"] is Version.Version13
    assert Version(13) is Version.VersionLatest


@pytest.mark.parametrize(
    ("number", "version", "family"),
    [
        ("13", V.Version13, "rfc6455"),
        ("8", V.Version8, "hybi-08"),
        ("7", V.Version7, "hybi-07"),
        ("6", V.Version6, "hybi-06"),
        ("5", V.Version5, "hybi-05"),
        ("4", V.Version4, "hybi-04"),
        ("0", V.Version0, "hybi-00"),
        ("1", V.VersionUnknown, "hybi-01"),
        ("3", V.VersionUnknown, "hybi-03"),
        ("9", V.VersionUnknown, "reserved"),
        ("12", V.VersionUnknown, "reserved"),
        ("14", V.VersionUnknown, "unassigned"),
        ("25", V.VersionUnknown, "unassigned"),
        ("255", V.VersionUnknown, "unassigned"),
    ],
)
def test_sec_websocket_version_rows(number: str, version: Version, family: str) -> None:
    policy = ws.Policy([13, 8, 7])
    result = outcome(h11_request(rfc6455(number)), policy)
    if isinstance(result, ws.Accepted):
        assert version in policy.versions
        detection = result.request.detection
    else:
        assert version not in policy.versions
        assert_rejection(
            result,
            426,
            f"Sec-WebSocket-Version: unsupported version {number} ({family}); supported: 13, 8, 7",
        )
        assert header_values(result.headers, "Sec-WebSocket-Version") == ["13, 8, 7"]
        assert result.detection is not None
        detection = result.detection
    assert (detection.version, detection.raw_version, detection.family) == (version, number, family)
    assert detection.marker == "Sec-WebSocket-Version"


@pytest.mark.parametrize(
    ("draft", "version", "family"),
    [
        ("0", V.Version0, "hybi-00"),
        ("1", V.VersionUnknown, "hybi-01"),
        ("2", V.VersionUnknown, "hybi-02"),
        ("3", V.VersionUnknown, "hybi-03"),
        ("9", V.VersionUnknown, "unassigned"),
    ],
)
@pytest.mark.parametrize("with_keys", [True, False])
def test_sec_websocket_draft_rows(
    draft: str, version: Version, family: str, with_keys: bool
) -> None:
    keys = HIXIE_KEYS if with_keys else ()
    data = (
        h11_request([("Host", "example.com"), *UPGRADE, ("Sec-WebSocket-Draft", draft), *keys])
        + b"^n:ds[4U"
    )
    result = assert_rejection(
        outcome(data),
        426,
        f"Sec-WebSocket-Draft: unsupported draft {draft} ({family}); supported: 13",
    )
    assert result.detection == ws.Detection(version, draft, family, "Sec-WebSocket-Draft")
    assert result.version is version


def test_version_wins_over_draft_and_keys() -> None:
    data = h11_request([*rfc6455("8"), ("Sec-WebSocket-Draft", "2"), *HIXIE_KEYS])
    result = outcome(data)
    assert isinstance(result, ws.Rejected)
    assert result.detection is not None
    assert (result.version, result.detection.marker) == (V.Version8, "Sec-WebSocket-Version")


@pytest.mark.parametrize("keys", [HIXIE_KEYS, HIXIE_KEYS[:1], HIXIE_KEYS[1:]])
def test_hixie_76(keys: tuple[tuple[str, str], ...]) -> None:
    data = (
        h11_request(
            [("Host", "example.com"), ("Upgrade", "WebSocket"), ("Connection", "Upgrade"), *keys]
        )
        + b"^n:ds[4U"
    )
    result = assert_rejection(
        outcome(data), 426, "Sec-WebSocket-Key1/Key2: hixie-76 is not supported; supported: 13"
    )
    assert result.detection == ws.Detection(V.Version0, None, "hixie-76", "Sec-WebSocket-Key1/Key2")
    assert header_values(result.headers, "Sec-WebSocket-Version") == ["13"]


def test_hixie_75() -> None:
    data = h11_request(
        [
            ("Host", "example.com"),
            ("Upgrade", "WebSocket"),
            ("Connection", "Upgrade"),
            ("Origin", "http://example.com"),
        ]
    )
    result = assert_rejection(
        outcome(data),
        426,
        "Sec-WebSocket-Version: missing, a hixie-75 handshake, which is not supported; supported: 13",
    )
    assert result.detection == ws.Detection(V.VersionUnknown, None, "hixie-75", None)
    assert result.version is V.VersionUnknown


MALFORMED = ["013", "+13", "1_3", "13.0", "0x0d", "١٣", "256", "13, 8", "-1", "1 3", "00", "1000"]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_versions_are_400_with_the_list(value: str) -> None:
    result = outcome(raw_request(rfc6455(value)), ws.Policy([13, 8]))
    assert isinstance(result, ws.Rejected)
    shown = value.encode().decode("ascii", "backslashreplace")
    assert result.reason.startswith(f"Sec-WebSocket-Version: invalid value '{shown}'")
    assert_rejection(result, 400, result.reason)
    assert result.reason.endswith("(RFC 6455 §4.3); supported: 13, 8")
    assert header_values(result.headers, "Sec-WebSocket-Version") == ["13, 8"]
    assert result.error is not None
    assert (result.error.field, result.error.fault) == ("Sec-WebSocket-Version", ws.Fault.INVALID)
    assert result.detection is not None
    assert (result.detection.family, result.detection.version) == ("malformed", V.VersionUnknown)


def test_two_version_field_lines_are_400() -> None:
    result = outcome(h11_request(rfc6455("13", extra=[("Sec-WebSocket-Version", "13")])))
    assert_rejection(
        result,
        400,
        "Sec-WebSocket-Version: repeated (2 field lines; one is allowed); supported: 13",
    )


def test_empty_version_is_400() -> None:
    result = outcome(raw_request(rfc6455("")))
    assert_rejection(result, 400, "Sec-WebSocket-Version: empty; supported: 13")


@pytest.mark.parametrize("value", ["", "x", "01", "2;"])
def test_broken_draft_is_400(value: str) -> None:
    data = raw_request(
        [("Host", "example.com"), *UPGRADE, ("Sec-WebSocket-Draft", value), *HIXIE_KEYS]
    )
    result = outcome(data)
    assert isinstance(result, ws.Rejected)
    assert result.status == 400 and result.reason.startswith("Sec-WebSocket-Draft: ")
    assert header_values(result.headers, "Sec-WebSocket-Version") == ["13"]


@pytest.mark.parametrize("number", ["0", "4", "5", "6", "7", "8", "9", "14", "25"])
@pytest.mark.parametrize("status", [426, 400])
def test_unsupported_versions_get_the_policy_status(number: str, status: int) -> None:
    result = outcome(h11_request(rfc6455(number)), ws.Policy(reject_status=status))
    assert isinstance(result, ws.Rejected)
    assert_rejection(result, status, result.reason)
    assert header_values(result.headers, "Sec-WebSocket-Version") == ["13"]
    upgrade = header_values(result.headers, "Upgrade")
    assert upgrade == (["websocket"] if status == 426 else [])


def test_ows_around_the_version_is_trimmed() -> None:
    result = outcome(raw_request(rfc6455(" \t13\t ")))
    assert isinstance(result, ws.Accepted)
    # h11 trims it; a value from another HTTP stack that did not goes through the grammar
    fields = [(name.encode(), value.encode()) for name, value in rfc6455("13")]
    untrimmed = [(n, b"\t13 " if n == b"Sec-WebSocket-Version" else v) for n, v in fields]
    request = ws.decide(b"GET", b"/", b"1.1", untrimmed, ws.Policy())
    assert isinstance(request, ws.Request) and request.version is Version.Version13


def test_key_without_a_version_is_400() -> None:
    result = outcome(h11_request(rfc6455(None)))
    assert_rejection(
        result,
        400,
        "Sec-WebSocket-Version: missing (required with Sec-WebSocket-Key, RFC 6455 §4.1); supported: 13",
    )
    assert isinstance(result, ws.Rejected) and result.detection is not None
    assert result.error is not None and result.error.fault is ws.Fault.MISSING
    assert result.detection.family == "missing"


@pytest.mark.parametrize("policy", [ws.Policy([13, 8, 7]), ws.Policy([8]), ws.Policy([7, 13])])
def test_every_acceptable_version_is_accepted(policy: ws.Policy) -> None:
    for version in policy.versions:
        origin = ("Origin" if version == 13 else "Sec-WebSocket-Origin", "http://a.example")
        result = outcome(h11_request(rfc6455(str(int(version)), KEY, [origin])), policy)
        assert isinstance(result, ws.Accepted)
        assert result.version is version
        assert result.request.origin == "http://a.example"
