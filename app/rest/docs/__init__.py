"""`GET /docs`: the OpenAPI document (`/openapi.json`) rendered by a self-hosted Swagger UI.

Swagger UI's prebuilt bundle comes from npm at build time (`make docs`, `build.sh`) into the
git-ignored `static/`, served at `/docs/static`; nothing is loaded from a CDN. The page has no
inline script or style, so it runs under :data:`DOCS_CONTENT_SECURITY_POLICY`, which names no
origin but this one. Without a build, `/docs` explains how to make one.
"""

from __future__ import annotations

import hashlib
import html
import os
from pathlib import Path
from string import Template

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from app.rest.openapi import DOCUMENT_PATH

DOCS_DIR = Path(__file__).resolve().parent
STATIC_DIR = DOCS_DIR / "static"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/static"

#: Files build.sh must have produced (relative to STATIC_DIR).
REQUIRED_ASSETS = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "favicon-32x32.png",
    "docs.js",
    "docs.css",
)

#: Same origin only, no inline or eval'd code; `data:` images are Swagger UI's inline icons.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}


def docs_assets_present() -> bool:
    return all(_nonempty_file(STATIC_DIR / name) for name in REQUIRED_ASSETS)


def docs_page_html() -> str:
    if not docs_assets_present():
        # The path inside the package, never the server's filesystem layout.
        return _render("missing.html", static_dir="app/rest/docs/static/", spec_url=DOCUMENT_PATH)
    version = _assets_version()
    return _render(
        "index.html",
        spec_url=DOCUMENT_PATH,
        favicon_href=f"{ASSETS_PATH}/favicon-32x32.png?v={version}",
        css_href=f"{ASSETS_PATH}/swagger-ui.css?v={version}",
        page_css_href=f"{ASSETS_PATH}/docs.css?v={version}",
        bundle_href=f"{ASSETS_PATH}/swagger-ui-bundle.js?v={version}",
        js_href=f"{ASSETS_PATH}/docs.js?v={version}",
    )


async def docs_endpoint(request: Request) -> Response:
    headers = {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY,
    }
    return HTMLResponse(docs_page_html(), headers=headers)


class _DocsStaticFiles(StaticFiles):
    """Explicit media types; files linked with `?v=` may be cached for a year."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        path = Path(full_path)
        response: Response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=_MEDIA_TYPES.get(path.suffix),
        )
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "no-cache"
        )
        response.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def routes() -> list[BaseRoute]:
    return [
        Route(DOCS_PATH, docs_endpoint, methods=["GET"]),
        # check_dir=False: without a build every asset is a 404 and the page says why.
        Mount(ASSETS_PATH, app=_DocsStaticFiles(directory=STATIC_DIR, check_dir=False)),
    ]


def _render(template: str, **values: str) -> str:
    text = (DOCS_DIR / template).read_text(encoding="utf-8")
    return Template(text).substitute({k: html.escape(v, quote=True) for k, v in values.items()})


def _nonempty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _assets_version() -> str:
    digest = hashlib.sha256()
    for name in REQUIRED_ASSETS:
        stat_result = (STATIC_DIR / name).stat()
        digest.update(f"{name}:{stat_result.st_size}:{stat_result.st_mtime_ns};".encode())
    return digest.hexdigest()[:12]
