"""Opaque cursors: a keyset position (app/exports/keyset.py), signed and base64url-encoded.

The position carries the sort and a fingerprint of filter and q it was made for; the signature
(HMAC-SHA256 under a key derived from SIGNING_SECRET, truncated to 128 bits) makes a changed or
made-up cursor a clear error naming its argument instead of a page from somewhere else. Nothing
in a cursor is a secret (the values are the row's own sort keys); clients must not parse it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from app.errors import Invalid
from app.exports.usecases import Position

VERSION = 1
_MAC_BYTES = 16
MAX_LENGTH = 4096


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"graphql-cursor", hashlib.sha256).digest()


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(_key(secret), payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(position: Position, secret: str) -> str:
    payload = json.dumps(
        [VERSION, position.sort, position.scope, list(position.values)],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    raw = payload + _mac(secret, payload)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, secret: str, argument: str) -> Position:
    """The position in a cursor this API made; anything else (another API version's offset
    cursor, a changed or truncated one, garbage) is an Invalid naming `argument`."""
    refused = Invalid.one(
        argument,
        "Not a cursor of this connection (cursors are opaque; an old or changed one does not "
        f"work): use a cursor from this connection's answer, or start again without {argument}.",
    )
    if len(cursor) > MAX_LENGTH:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        raise refused from None
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != cursor.rstrip("="):
        raise refused  # one spelling per cursor: no ignored characters or trailing bits
    payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(secret, payload)):
        raise refused
    try:
        version, sort, scope, values = json.loads(payload)
    except (ValueError, TypeError):
        raise refused from None
    if version != VERSION or not isinstance(sort, str) or not isinstance(scope, str):
        raise refused
    if not isinstance(values, list) or not all(
        v is None or isinstance(v, str | int | bool) for v in values
    ):
        raise refused
    return Position(sort=sort, scope=scope, values=tuple(values))
