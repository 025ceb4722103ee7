"""Self-hosted GraphiQL for ``GET /graphql``.

The IDE is a JavaScript bundle built from ``frontend/`` by ``build.sh`` (``make ide``)
into ``static/``, which ships inside the Python package; nothing is loaded from a CDN.

Wiring it into an app::

    graphql_app = strawberry.asgi.GraphQL(schema, graphql_ide=None)
    routes = [
        *ide_routes(),                               # /graphql/ide/static/...
        Route("/graphql", with_ide(graphql_app), methods=["GET", "HEAD", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
    ]

The page has no inline script (settings travel in ``data-`` attributes), so it runs
under :data:`IDE_CONTENT_SECURITY_POLICY`.
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
import os
from pathlib import Path
from string import Template

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from app.graphql.negotiation import OFFERED, accept_ranges

__all__ = [
    "DEFAULT_ASSETS_PATH",
    "DEFAULT_GRAPHQL_PATH",
    "IDE_CONTENT_SECURITY_POLICY",
    "REQUIRED_ASSETS",
    "STATIC_DIR",
    "ide_assets_present",
    "ide_page_html",
    "ide_routes",
    "wants_ide",
    "with_ide",
]

IDE_DIR = Path(__file__).resolve().parent
STATIC_DIR = IDE_DIR / "static"
DEFAULT_GRAPHQL_PATH = "/graphql"
DEFAULT_ASSETS_PATH = "/graphql/ide/static"

#: Files ``build.sh`` must have produced for the IDE to work (relative to ``STATIC_DIR``).
REQUIRED_ASSETS: tuple[str, ...] = (
    "graphiql.js",
    "graphiql.css",
    "workers/editor.worker.js",
    "workers/json.worker.js",
    "workers/graphql.worker.js",
)

#: A policy the IDE page works under: no inline or eval'd script, same-origin
#: workers, fonts served as files (build.sh moves GraphiQL's data: fonts out).
#: ``'unsafe-inline'`` styles are needed by Monaco, which sets style attributes.
IDE_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; worker-src 'self' blob:"
)

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_OPERATION_PARAMS = ("query", "extensions", "documentId")
_GRAPHQL_TYPES = OFFERED
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".map": "application/json",
}


def ide_assets_present() -> bool:
    """True when the GraphiQL bundle has been built into ``STATIC_DIR``."""
    return all(_nonempty_file(STATIC_DIR / name) for name in REQUIRED_ASSETS)


def ide_page_html(
    *, graphql_path: str = DEFAULT_GRAPHQL_PATH, assets_path: str = DEFAULT_ASSETS_PATH
) -> str:
    """The HTML document for ``GET /graphql`` in a browser.

    Links ``graphiql.css``/``graphiql.js`` under ``assets_path`` (with a version
    query so browsers may cache them for long); when the bundle is not built, a
    plain page that tells how to build it (``make ide``).
    """
    assets = assets_path.rstrip("/")
    if not ide_assets_present():
        # Show the path inside the package, never the server's filesystem layout.
        return _render(
            "missing.html", graphql_path=graphql_path, static_dir="app/graphql/ide/static/"
        )
    version = _assets_version()
    return _render(
        "index.html",
        graphql_path=graphql_path,
        assets_path=assets,
        css_href=f"{assets}/graphiql.css?v={version}",
        js_href=f"{assets}/graphiql.js?v={version}",
    )


def ide_routes(*, assets_path: str = DEFAULT_ASSETS_PATH) -> list[BaseRoute]:
    """Routes serving the built assets at ``assets_path`` (``/graphql/ide/static``).

    The folder may be missing (``check_dir=False``): then every asset is a 404 and
    :func:`ide_page_html` explains how to build it.
    """
    return [
        Mount(
            assets_path.rstrip("/"),
            app=_IDEStaticFiles(directory=STATIC_DIR, check_dir=False),
            name="graphiql-static",
        )
    ]


def wants_ide(request: Request) -> bool:
    """Whether a request to the GraphQL endpoint should get the IDE page.

    True for a browser navigation: ``GET``/``HEAD`` naming no operation (no ``query``,
    ``extensions`` with a persisted query's hash, or ``documentId``) whose ``Accept`` names
    ``text/html`` explicitly (not via ``*/*``) and ranks it at least as high as JSON. API
    clients (``Accept: */*`` or JSON) and GraphQL over ``GET`` go to the GraphQL app.
    """
    if request.method not in ("GET", "HEAD"):
        return False
    if any(name in request.query_params for name in _OPERATION_PARAMS):
        return False
    accept = accept_ranges(request.headers.get("accept", ""))
    html_q = max((q for media, q in accept if media in _HTML_TYPES), default=0.0)
    if html_q <= 0.0:
        return False
    json_q = max((q for media, q in accept if _media_matches(media, _GRAPHQL_TYPES)), default=0.0)
    return html_q >= json_q


def with_ide(
    graphql_app: ASGIApp,
    *,
    graphql_path: str = DEFAULT_GRAPHQL_PATH,
    assets_path: str = DEFAULT_ASSETS_PATH,
) -> ASGIApp:
    """Wrap the GraphQL ASGI app so browser navigations get the IDE page.

    Everything else (POST, GraphQL over GET, websockets) goes to ``graphql_app``.
    The result is an ASGI app object (not a function), so Starlette's ``Route``
    hands it the raw ASGI call.
    """
    return _IDEDispatch(graphql_app, graphql_path=graphql_path, assets_path=assets_path)


class _IDEDispatch:
    def __init__(self, graphql_app: ASGIApp, *, graphql_path: str, assets_path: str) -> None:
        self.graphql_app = graphql_app
        self.graphql_path = graphql_path
        self.assets_path = assets_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and wants_ide(Request(scope)):
            page = ide_page_html(graphql_path=self.graphql_path, assets_path=self.assets_path)
            headers = {
                "Cache-Control": _REVALIDATE,
                "Vary": "Accept",
                "Content-Security-Policy": IDE_CONTENT_SECURITY_POLICY,
            }
            await HTMLResponse(page, headers=headers)(scope, receive, send)
            return
        await self.graphql_app(scope, receive, send)


class _IDEStaticFiles(StaticFiles):
    """StaticFiles with explicit media types and cache headers.

    Fonts have content-hashed names and the page links the entry files with a
    ``?v=`` version, so those may be cached for a year; anything else (the
    workers) is revalidated with ETag/Last-Modified.
    """

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        path = Path(full_path)
        media_type = _MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        response: Response = FileResponse(
            full_path, status_code=status_code, stat_result=stat_result, media_type=media_type
        )
        immutable = path.parent.name == "fonts" or b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = _IMMUTABLE if immutable else _REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def _render(template: str, **values: str) -> str:
    text = (IDE_DIR / template).read_text(encoding="utf-8")
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    return Template(text).substitute(escaped)


def _nonempty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _assets_version() -> str:
    digest = hashlib.sha256()
    for name in ("graphiql.js", "graphiql.css"):
        stat_result = (STATIC_DIR / name).stat()
        digest.update(f"{name}:{stat_result.st_size}:{stat_result.st_mtime_ns};".encode())
    return digest.hexdigest()[:12]


def _media_matches(media: str, candidates: tuple[str, ...]) -> bool:
    if media == "*/*":
        return True
    if media.endswith("/*"):
        prefix = media[:-1]
        return any(candidate.startswith(prefix) for candidate in candidates)
    return media in candidates
