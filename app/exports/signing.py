"""Signed, expiring download links: HMAC-SHA-256 over the file id and the expiry.

Verification compares the exact signature text in constant time (no decoding, no case folding)
and answers one thing only: valid or not, so a tampered link learns nothing.

Links shown in API answers snap their expiry to a window (`stable_window`), so refetching the
same file within one window returns the same string and a client cache sees no change.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

SIGNATURE_LENGTH = 64
MAX_EXPIRES_DIGITS = 12


def _signature(secret: str, file_id: str, expires: int) -> str:
    message = f"file:{file_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def stable_window(ttl_seconds: int) -> int:
    """A quarter of the TTL (at least one second): a stable link still has at least three
    quarters of its TTL left whenever it is handed out."""
    return max(1, ttl_seconds // 4)


def signed_path(
    secret: str,
    file_id: str,
    ttl_seconds: int,
    *,
    now: float | None = None,
    window: int = 1,
) -> str:
    """The path of a link that expires at the last multiple of `window` seconds (Unix time) at
    or before now + TTL: it stays the same string for up to `window` seconds and, when issued,
    has more than TTL - window and at most TTL seconds left. `window=1` is the exact TTL."""
    deadline = int(now if now is not None else time.time()) + ttl_seconds
    expires = deadline - deadline % max(1, window)
    query = urlencode({"expires": expires, "signature": _signature(secret, file_id, expires)})
    return f"/files/{file_id}/signed?{query}"


def link_parameters(query: str) -> tuple[str, str] | None:
    """`(expires, signature)` from a link's raw query string, or None unless it holds exactly
    those two, once each: with a repeat, whichever copy a parser keeps, a link carrying a bad
    value beside a good one would pass, and an extra parameter is an altered link. No
    percent-decoding: issued values never need it."""
    values: dict[str, str] = {}
    for part in query.split("&"):
        name, separator, value = part.partition("=")
        if not separator or name not in ("expires", "signature") or name in values:
            return None
        values[name] = value
    if len(values) != 2:
        return None
    return values["expires"], values["signature"]


def verify(
    secret: str,
    file_id: str,
    expires: str | None,
    signature: str | None,
    *,
    now: float | None = None,
) -> bool:
    """True only for an untampered, unexpired link."""
    if not expires or not signature or len(signature) != SIGNATURE_LENGTH:
        return False
    if not expires.isascii() or not expires.isdigit() or len(expires) > MAX_EXPIRES_DIGITS:
        return False
    expires_at = int(expires)
    if str(expires_at) != expires:  # leading zeros would let one link take many spellings
        return False
    expected = _signature(secret, file_id, expires_at)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass")):
        return False
    return expires_at > (now if now is not None else time.time())
