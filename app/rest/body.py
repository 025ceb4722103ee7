"""Request bodies: at most 1 MiB of JSON as RFC 8259 defines it, holding one object."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from app.errors import DomainError, Invalid
from app.settings import MAX_BODY_BYTES


class PayloadTooLarge(DomainError):
    pass


class _Duplicated(dict[str, Any]):
    """An object that named `key` more than once, found again after parsing to report its path."""

    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.key = key


async def read_json_object(request: Request) -> dict[str, Any]:
    body = parse_json(await _read_limited(request))
    if not isinstance(body, dict):
        raise Invalid.one("body", "Must be a JSON object.")
    try:  # "\ud800" escapes decode to unpaired surrogates, which are not text (RFC 8259 §8.2)
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise Invalid.one("body", "Must not contain unpaired surrogates.") from None
    return body


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge("The request body is larger than 1 MiB.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge("The request body is larger than 1 MiB.")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> Any:
    """Python's json also takes NaN and Infinity, and lets the last of two equal keys win
    silently; neither is JSON a caller can rely on (RFC 8259 §6, §4), so both are a 422."""
    duplicated = False

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicated
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                duplicated = True
                return _Duplicated(pairs, key)
            seen.add(key)
        return dict(pairs)

    try:
        body = json.loads(raw, parse_constant=_no_constant, object_pairs_hook=members)
    except (ValueError, RecursionError):
        raise Invalid.one("body", "Must be a JSON object.") from None
    if duplicated:
        raise Invalid.one(_duplicate_path(body), "Sent more than once; send each member once.")
    return body


def _no_constant(name: str) -> Any:
    raise Invalid.one("body", f"{name} is not a JSON number (RFC 8259); send a finite number.")


def _duplicate_path(body: Any) -> str:
    """The dotted path of a member named twice (iterative: no recursion on deep bodies)."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        prefix, item = stack.pop()
        if isinstance(item, _Duplicated):
            return prefix + item.key
        if isinstance(item, dict):
            stack.extend((f"{prefix}{k}.", v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{prefix}{i}.", v) for i, v in enumerate(item))
    return "body"
