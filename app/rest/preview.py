"""`POST /data-exports/preview` at every prefix: what a create of the same body would export.

Its own POST-only route: `GET /data-exports/preview` keeps reading the export whose id is
`preview`, and a POST to `/data-exports/{id}` was a 405 before, so no request that worked
before means something else now.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.exports import usecases
from app.exports.usecases import Preview
from app.rest.body import read_json_object
from app.rest.routes import PREFIXES, _both, _dispatch, _principal, core_of
from app.timefmt import isoz


def preview_json(preview: Preview) -> dict[str, Any]:
    period = preview.period
    return {
        "recordCount": preview.record_count,
        "runTime": isoz(preview.run_time),
        "period": None
        if period is None
        else {"start": isoz(period.start), "end": isoz(period.end), "field": period.field},
        "columns": preview.columns,
        "rows": preview.rows,
        "contentType": preview.content_type,
        "sample": preview.sample,
    }


async def preview_export(request: Request) -> Response:
    """Nothing is stored and no write is counted, so no rate-limit headers either."""
    principal = await _principal(request, "write")
    preview = await usecases.preview_export(
        core_of(request), principal=principal, body=lambda: read_json_object(request)
    )
    return JSONResponse(preview_json(preview))


def routes() -> list[BaseRoute]:
    endpoint = _dispatch({"POST": preview_export})
    return [Route(p, endpoint, methods=["POST"]) for x in PREFIXES for p in _both(x + "/preview")]
