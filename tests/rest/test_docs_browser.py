"""`GET /docs`: the OpenAPI document rendered by the self-hosted Swagger UI, in a real headless
Chromium against the real app under uvicorn. Nothing may come from another origin, and the
page must run under its Content-Security-Policy without a violation.

Like the GraphiQL tests, these skip on a machine without Chromium or without `make docs`, and
fail there instead when GRAPHIQL_BROWSER_TESTS_REQUIRED is set (CI)."""

from __future__ import annotations

import pathlib
import re
import tempfile

import httpx
import pytest
from playwright.sync_api import Request

from app.main import create_app
from app.rest import docs
from app.rest.docs import DOCS_CONTENT_SECURITY_POLICY, docs_assets_present
from app.settings import Settings
from tests.graphql.browser import chromium_page, require_chromium, serve_asgi, skip_unconfigured

SCREENSHOT = pathlib.Path(tempfile.gettempdir()) / "api-docs.png"


def require_docs_assets() -> None:
    if not docs_assets_present():
        skip_unconfigured("API docs assets are not built: run `make docs` (app/rest/docs/build.sh)")


def test_docs_render_the_operations_offline(settings: Settings) -> None:
    chromium = require_chromium()
    require_docs_assets()
    requested: list[str] = []

    with serve_asgi(create_app(settings)) as base_url, chromium_page(chromium) as browser:
        page = browser.page

        def note(request: Request) -> None:
            requested.append(request.url)

        page.on("request", note)
        response = page.goto(f"{base_url}/docs")
        assert response is not None
        assert response.status == 200
        assert response.headers["content-security-policy"] == DOCS_CONTENT_SECURITY_POLICY
        # Swagger UI fetched /openapi.json and drew the operations from it.
        page.get_by_text("exports-gateway REST API").first.wait_for(state="visible")
        page.get_by_text("List data exports", exact=True).first.wait_for(state="visible")
        page.locator(".opblock-summary-path", has_text="/data-exports/{id}").first.wait_for()
        page.get_by_role("button", name=re.compile("Authorize")).first.wait_for()
        # Opening an operation resolves its $refs (parameters, body, problem responses).
        page.locator(".opblock-post .opblock-summary").first.click()  # POST /data-exports
        page.get_by_text("Request body").first.wait_for(state="visible")
        page.get_by_text("application/problem+json").first.wait_for(state="attached")
        assert page.get_by_text("Resolver error").count() == 0
        page.screenshot(path=SCREENSHOT, full_page=False)

        assert f"{base_url}/openapi.json" in requested
        foreign = [url for url in requested if not url.startswith((f"{base_url}/", "data:"))]
        assert foreign == []
        assert browser.csp_violations() == []
        assert [str(error) for error in browser.page_errors] == []
        assert browser.console_errors() == []


def test_docs_page_links_only_its_own_assets(settings: Settings) -> None:
    require_docs_assets()
    with serve_asgi(create_app(settings)) as base_url:
        page = httpx.get(f"{base_url}/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == DOCS_CONTENT_SECURITY_POLICY
        assert "<script>" not in page.text  # no inline script: the CSP allows none
        assert "<style" not in page.text
        links = re.findall(r'(?:href|src)="([^"]+)"', page.text)
        assets = [link for link in links if link != "/openapi.json"]  # the <noscript> link
        assert assets, page.text
        for asset in assets:
            assert asset.startswith("/docs/static/"), asset
            response = httpx.get(f"{base_url}{asset}")
            assert response.status_code == 200, asset
            assert response.headers["cache-control"].startswith("public, max-age="), asset
        assert 'data-spec-url="/openapi.json"' in page.text
        assert httpx.get(f"{base_url}/docs/static/nope.js").status_code == 404


def test_docs_explain_how_to_build_missing_assets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setattr(docs, "STATIC_DIR", tmp_path / "static")
    assert not docs.docs_assets_present()
    page = docs.docs_page_html()
    assert "make docs" in page
    assert "/openapi.json" in page
    assert "swagger-ui-bundle.js" not in page
    assert str(tmp_path) not in page
