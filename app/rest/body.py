"""Request bodies: at most 1 MiB of JSON as RFC 8259 defines it, holding one object.

The body is checked after the rate count (spec §3: 429 before any body error), in this
order: its media type (415), its size (413), then its syntax and shape (422 naming `body`).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from app.errors import DomainError, Invalid
from app.settings import MAX_BODY_BYTES


class PayloadTooLarge(DomainError):
    pass


class UnsupportedMediaType(DomainError):
    """A body declared as something other than JSON: a form, text, a file (HTTP 415)."""


SEND_JSON = "Send the body as JSON with Content-Type: application/json."


class _Duplicated(dict[str, Any]):
    """An object that named `key` more than once, found again after parsing to report its path."""

    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.key = key


async def read_json_object(request: Request) -> dict[str, Any]:
    check_media_type(request.headers.get("content-type"))
    body = parse_json(await _read_limited(request))
    if not isinstance(body, dict):
        raise Invalid.one("body", "Must be a JSON object.")
    try:  # "\ud800" escapes decode to unpaired surrogates, which are not text (RFC 8259 §8.2)
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise Invalid.one("body", "Must not contain unpaired surrogates.") from None
    return body


def check_media_type(content_type: str | None) -> None:
    """`application/json` or any `application/*+json` (RFC 6839: JSON syntax), UTF-8 when a
    charset is named (RFC 8259 §8.1). No Content-Type at all is read as JSON: RFC 9110 §8.3
    lets the recipient look at the data, and clients that post a serialised string without
    naming it (Python's requests with `data=`) send none. Anything declared otherwise, such as
    the form encoding curl -d and many HTTP libraries default to, is refused before reading."""
    if content_type is None:
        return
    media, *parameters = content_type.split(";")
    kind, _, subtype = media.strip().lower().partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        shown = media.strip()[:100] or "empty"
        raise UnsupportedMediaType(f"{SEND_JSON} This body was declared as {shown!r}.")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType("JSON is UTF-8 (RFC 8259); send charset=utf-8, or none.")


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

    if not raw.strip():
        raise Invalid.one("body", "The body is empty; send a JSON object.")
    try:
        body = json.loads(raw, parse_constant=_no_constant, object_pairs_hook=members)
    except json.JSONDecodeError as exc:  # the parser's own words and where it stopped
        where = f"line {exc.lineno}, column {exc.colno} (character {exc.pos})"
        raise Invalid.one("body", f"Malformed JSON: {exc.msg} at {where}.") from None
    except UnicodeDecodeError as exc:
        message = f"Not UTF-8 text (RFC 8259 §8.1): undecodable byte at position {exc.start}."
        raise Invalid.one("body", message) from None
    except RecursionError:
        raise Invalid.one("body", "Malformed JSON: nested too deeply.") from None
    except ValueError:  # what else the parser refuses: integers past Python's 4,300 digits
        raise Invalid.one("body", "Malformed JSON: a number is too long to read.") from None
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
