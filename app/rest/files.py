"""File download responses: the export's bytes, with ranges and errors the way spec §3 wants."""

from __future__ import annotations

import os
import unicodedata
from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable
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


class FileDownload(FileResponse):
    """Starlette's FileResponse, minus its text/plain answers to a bad `Range`: an invalid one is
    ignored and the whole file sent (RFC 9110 §14.2 allows it), an unsatisfiable one is a 416
    problem with `Content-Range: bytes */SIZE`. Valid ranges are Starlette's 206 as before."""

    def __init__(self, path: str | os.PathLike[str], *, media_type: str, filename: str) -> None:
        headers = {
            "Content-Disposition": content_disposition(filename),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        }
        # Stat now: the range check needs the size and the If-Range validators up front.
        super().__init__(path, media_type=media_type, headers=headers, stat_result=os.stat(path))

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []  # no range: Starlette sends the whole file with 200

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._check_range(Headers(scope=scope))
        except RangeNotSatisfiable as exc:
            refused = problem(
                416,
                f"The requested range is outside the file's {exc.max_size} bytes.",
                headers={"Content-Range": f"bytes */{exc.max_size}"},
            )
            await refused(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _check_range(self, headers: Headers) -> None:
        """Raise RangeNotSatisfiable exactly when Starlette would use the range and refuse it."""
        http_range, if_range = headers.get("range"), headers.get("if-range")
        if http_range is None or (if_range is not None and not self._should_use_range(if_range)):
            return
        assert self.stat_result is not None
        self._parse_range_header(http_range, self.stat_result.st_size)
