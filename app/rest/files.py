"""File download responses: the export's bytes, with ranges and errors the way spec §3 wants."""

from __future__ import annotations

import os
import unicodedata
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from app.rest.problems import problem


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII `filename` every client reads, followed (RFC 6266 §4.3) by the
    exact name as RFC 8187 `filename*` when the fallback had to change it."""
    fallback = _ascii_fallback(name)
    header = f'attachment; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


def _ascii_fallback(name: str) -> str:
    """Accents dropped (é → e), then `_` for what a quoted-string or a browser could misread:
    non-ASCII, control characters, `"`, `\\` and `%` (some browsers percent-decode it)."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in stripped)


MAX_RANGES = 100  # more parts than this: the header is ignored and the whole file sent


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"no requested range starts inside the file's {size} bytes")
        self.size = size


def byte_ranges(header: str, size: int) -> list[tuple[int, int]]:
    """The `[start, end)` byte ranges a `Range` header asks of a file of `size` bytes, sorted
    and merged; `[]` when the header is to be ignored (RFC 9110 §14.2 allows it for one that
    is invalid, in an unknown unit, or of too many parts). Raises RangeNotSatisfiable when a
    range starts at or past the end (`bytes=-0` included).

    These are the answers Starlette's FileResponse gives (tolerant of unreadable parts among
    valid ones), with RFC 9110's digits only: `+5` or `٣` is no position."""
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return []
    parts = spec.split(",")
    if len(parts) > MAX_RANGES:
        return []
    ranges: list[tuple[int, int]] = []
    for part in parts:
        first, dash, last = (piece.strip() for piece in part.partition("-"))
        if not dash or not (first or last) or not all(_digits(p) for p in (first, last) if p):
            continue  # an unreadable part is skipped, as Starlette does
        if first:
            start = int(first)
            end = int(last) + 1 if last and int(last) < size else size
        else:  # a suffix: the last N bytes
            start, end = max(size - int(last), 0), size
        ranges.append((start, end))
    if not ranges:
        return []
    if any(not 0 <= start < size for start, _ in ranges):
        raise RangeNotSatisfiable(size)
    if any(start >= end for start, end in ranges):
        return []  # "bytes=5-1": invalid
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


class FileDownload(FileResponse):
    """Starlette's FileResponse, minus its text/plain answers to a bad `Range`: an invalid one is
    ignored and the whole file sent (RFC 9110 §14.2 allows it), an unsatisfiable one is a 416
    problem with `Content-Range: bytes */SIZE`. The range is read here (`byte_ranges`), and
    Starlette is handed either no `Range` or the ranges re-spelled plainly, which it serves as
    206 as before: nothing depends on how Starlette reads a header it would refuse."""

    def __init__(self, path: str | os.PathLike[str], *, media_type: str, filename: str) -> None:
        headers = {
            "Content-Disposition": content_disposition(filename),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        }
        # Stat now: the range check needs the size and the If-Range validators up front.
        stat_result = os.stat(path)
        super().__init__(path, media_type=media_type, headers=headers, stat_result=stat_result)
        self.file_size = stat_result.st_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            ranges = self.requested_ranges(Headers(scope=scope))
        except RangeNotSatisfiable as exc:
            refused = problem(
                416,
                f"The requested range is outside the file's {exc.size} bytes.",
                headers={"Content-Range": f"bytes */{exc.size}"},
            )
            await refused(scope, receive, send)
            return
        spelled = ",".join(f"{start}-{end - 1}" for start, end in ranges)
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"range", b"if-range")]
        if spelled:
            headers.append((b"range", f"bytes={spelled}".encode("latin-1")))
        await super().__call__({**scope, "headers": headers}, receive, send)

    def requested_ranges(self, headers: Headers) -> list[tuple[int, int]]:
        """The ranges to send (`[]`: the whole file), or RangeNotSatisfiable."""
        http_range, if_range = headers.get("range"), headers.get("if-range")
        if http_range is None or (if_range is not None and not self.is_current(if_range)):
            return []
        return byte_ranges(http_range, self.file_size)

    def is_current(self, if_range: str) -> bool:
        """RFC 9110 §13.1.5: a strong ETag or the exact Last-Modified date of this file."""
        validators = (self.headers.get("etag"), self.headers.get("last-modified"))
        return not if_range.startswith("W/") and if_range in validators
