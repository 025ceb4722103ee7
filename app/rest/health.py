"""Health for operators and orchestrators, without credentials: `/health/live` (the process
answers), `/health/ready` (app/exports/health.py says what is checked), and `/`, which links
to where to go next."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.exports.health import Readiness, check_ready
from app.exports.links import base_url
from app.settings import Settings

NO_STORE = {"Cache-Control": "no-store"}


async def live(request: Request) -> Response:
    """Answers while the event loop does; touches nothing else."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def ready(request: Request) -> Response:
    """200 when every check passes, else 503 naming the failing ones."""
    readiness: Readiness = request.app.state.readiness
    report = await check_ready(readiness)
    return JSONResponse(report.body(), status_code=200 if report.ready else 503, headers=NO_STORE)


async def index(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    base = base_url(settings.public_base_url, request.url.scheme, request.url.netloc)
    links = [
        ("graphql", "/graphql"),
        ("dataExports", "/data-exports"),
        ("docs", "/docs"),
        ("openapi", "/openapi.json"),
        ("ready", "/health/ready"),
    ]
    return JSONResponse(
        {
            "name": "exports-gateway",
            "_links": [{"rel": rel, "href": f"{base}{path}"} for rel, path in links],
        }
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
    ]
