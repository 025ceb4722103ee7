"""Signed download links (app.exports.signing): valid only untampered and unexpired."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest

from app.exports.signing import signed_path, stable_window, verify

SECRET = "a-signing-secret"
NOW = 1_800_000_000.0


def parts(path: str) -> tuple[str, str, str]:
    split = urlsplit(path)
    query = parse_qs(split.query)
    return split.path.split("/")[2], query["expires"][0], query["signature"][0]


def test_the_link_carries_an_hmac_of_file_and_expiry() -> None:
    path = signed_path(SECRET, "file_1", 3600, now=NOW)
    file_id, expires, signature = parts(path)
    assert path.startswith("/files/file_1/signed?")
    assert (file_id, expires) == ("file_1", str(int(NOW) + 3600))
    expected = hmac.new(SECRET.encode(), f"file:file_1:{expires}".encode(), hashlib.sha256)
    assert signature == expected.hexdigest()
    assert verify(SECRET, file_id, expires, signature, now=NOW)
    assert verify(SECRET, file_id, expires, signature, now=NOW + 3599)


def test_expiry_is_exclusive() -> None:
    _, expires, signature = parts(signed_path(SECRET, "file_1", 10, now=NOW))
    assert not verify(SECRET, "file_1", expires, signature, now=NOW + 10)
    assert not verify(SECRET, "file_1", expires, signature, now=NOW + 1000)
    _, expires, signature = parts(signed_path(SECRET, "file_1", -1, now=NOW))
    assert not verify(SECRET, "file_1", expires, signature, now=NOW)


@pytest.mark.parametrize(
    ("file_id", "expires", "signature"),
    [
        ("file_2", None, None),  # another file
        ("file_1", "+", None),  # expiry spelled differently
        ("file_1", "0", None),  # leading zero
        ("file_1", " ", None),
        ("file_1", "", None),
        ("file_1", None, ""),
        ("file_1", None, "upper"),
        ("file_1", None, "short"),
        ("file_1", None, "long"),
        ("file_1", None, "flipped"),
        ("file_1", None, "non-ascii"),
        ("file_1", "٣", None),  # non-ASCII digits
        ("file_1", "9" * 13, None),
        ("file_1", "1e9", None),
        ("file_1", "-1", None),
    ],
)
def test_anything_altered_is_rejected(
    file_id: str, expires: str | None, signature: str | None
) -> None:
    _, good_expires, good_signature = parts(signed_path(SECRET, "file_1", 3600, now=NOW))
    if expires == "+":
        expires = "+" + good_expires
    elif expires == "0":
        expires = "0" + good_expires
    elif expires is None:
        expires = good_expires
    signature = {
        None: good_signature,
        "": "",
        "upper": good_signature.upper(),
        "short": good_signature[:-1],
        "long": good_signature + "a",
        "flipped": good_signature[:-1] + ("b" if good_signature[-1] == "a" else "a"),
        "non-ascii": "\udcff" + good_signature[1:],
    }[signature]
    assert not verify(SECRET, file_id, expires, signature, now=NOW)


def test_missing_parts_and_other_secrets_are_rejected() -> None:
    _, expires, signature = parts(signed_path(SECRET, "file_1", 3600, now=NOW))
    assert not verify(SECRET, "file_1", None, signature, now=NOW)
    assert not verify(SECRET, "file_1", expires, None, now=NOW)
    assert not verify("another-secret", "file_1", expires, signature, now=NOW)
    assert verify(SECRET, "file_1", expires, signature, now=NOW)


def test_a_window_snaps_the_expiry_so_refetches_get_the_same_link() -> None:
    """Within one window the link is the same string; it changes at the boundary; and whenever
    it is issued it has more than TTL - window and at most TTL seconds left."""
    start = NOW - NOW % 900  # a window boundary for TTL 3600 (window 900)
    first = signed_path(SECRET, "file_1", 3600, now=start, window=900)
    for later in (1, 450, 899):
        assert signed_path(SECRET, "file_1", 3600, now=start + later, window=900) == first
    assert signed_path(SECRET, "file_1", 3600, now=start + 900, window=900) != first
    for offset in range(0, 1800, 37):
        issued = start + offset
        _, expires, signature = parts(signed_path(SECRET, "file_1", 3600, now=issued, window=900))
        assert int(expires) % 900 == 0
        assert 3600 - 900 < int(expires) - issued <= 3600
        assert verify(SECRET, "file_1", expires, signature, now=issued + 2700)
        assert not verify(SECRET, "file_1", expires, signature, now=issued + 3600 + 1)


def test_the_stable_window_is_a_quarter_of_the_ttl() -> None:
    assert [stable_window(t) for t in (1, 3, 4, 60, 3600, 7 * 24 * 3600)] == [
        1,
        1,
        1,
        15,
        900,
        42 * 3600,
    ]


def test_window_one_is_the_exact_ttl() -> None:
    _, expires, _ = parts(signed_path(SECRET, "file_1", 3600, now=NOW + 7))
    assert int(expires) == int(NOW) + 7 + 3600
