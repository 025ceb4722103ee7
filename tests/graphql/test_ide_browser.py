"""GraphiQL, self-hosted at GET /graphql, driven in a real headless Chromium.

The app here is a stand-in for the real one: a one-field strawberry schema that
echoes the ``REB-APIKEY`` request header, wired exactly as the real app should
wire the IDE (``ide_routes()`` + ``with_ide(graphql_app)``), served by uvicorn and
sent with the Content-Security-Policy the gateway uses.
"""

from __future__ import annotations

import json
import pathlib
import re
import tempfile

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.types import Info

from app.graphql import ide
from app.graphql.ide import (
    IDE_CONTENT_SECURITY_POLICY,
    ide_page_html,
    ide_routes,
    wants_ide,
    with_ide,
)
from tests.graphql.browser import (
    GraphiQLPage,
    chromium_page,
    require_chromium,
    require_ide_assets,
    serve_asgi,
)

SCREENSHOT = pathlib.Path(tempfile.gettempdir()) / "graphiql.png"
API_KEY_HEADER = "REB-APIKEY"


@strawberry.type
class Query:
    @strawberry.field
    def whoami(self, info: Info) -> str:
        request: Request = info.context["request"]
        key = request.headers.get(API_KEY_HEADER)
        if not key:
            raise PermissionError(f"missing {API_KEY_HEADER} header")
        return key


class ContentSecurityPolicy:
    """Adds the gateway's CSP header to every HTTP response."""

    def __init__(self, app: ASGIApp, policy: str) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_csp(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = self.policy
            await send(message)

        await self.app(scope, receive, send_with_csp)


def make_app() -> ASGIApp:
    graphql_app = GraphQL(strawberry.Schema(query=Query), graphql_ide=None)
    starlette = Starlette(
        routes=[
            *ide_routes(),
            Route("/graphql", with_ide(graphql_app), methods=["GET", "HEAD", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
        ]
    )
    return ContentSecurityPolicy(starlette, IDE_CONTENT_SECURITY_POLICY)


def test_graphiql_sends_pasted_api_key_header() -> None:
    chromium = require_chromium()
    require_ide_assets()

    with serve_asgi(make_app()) as base_url, chromium_page(chromium) as browser:
        ide = GraphiQLPage(browser.page)
        ide.open(f"{base_url}/graphql")

        # The key normally comes from the "Start here" panel (test_ide_explorer.py); a
        # header typed into the (empty, unpersisted) headers editor is sent as well.
        assert json.loads(ide.headers_text()) == {}
        assert "query ListExports(" in ide.query_text()

        ide.set_headers({API_KEY_HEADER: "secret-123"})
        ide.set_query("{ whoami }")
        ide.run()
        result = ide.wait_for_response_containing("secret-123")
        ide.wait_for_no_query_errors()  # `{ whoami }` is valid against the introspected schema
        browser.page.screenshot(path=SCREENSHOT)

        assert json.loads(result) == {"data": {"whoami": "secret-123"}}
        assert browser.csp_violations() == []
        assert [str(error) for error in browser.page_errors] == []
        assert browser.console_errors() == []


def test_graphiql_shows_error_without_api_key() -> None:
    chromium = require_chromium()
    require_ide_assets()

    with serve_asgi(make_app()) as base_url, chromium_page(chromium) as browser:
        ide = GraphiQLPage(browser.page)
        ide.open(f"{base_url}/graphql")
        ide.set_headers("{}")
        ide.set_query("{ whoami }")
        ide.run()
        result = ide.wait_for_response_containing("missing REB-APIKEY header")
        assert json.loads(result)["data"] is None


def test_same_url_still_serves_graphql_to_api_clients() -> None:
    """No browser needed: the dispatch between IDE page and GraphQL endpoint."""
    require_ide_assets()
    with serve_asgi(make_app()) as base_url:
        page = httpx.get(f"{base_url}/graphql", headers={"Accept": "text/html,*/*;q=0.8"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<div id="graphiql" data-graphql-path="/graphql"' in page.text
        assert "<script>" not in page.text  # no inline script: CSP-friendly

        for asset in re.findall(r'(?:href|src)="(/graphql/ide/static/[^"]+)"', page.text):
            response = httpx.get(f"{base_url}{asset}")
            assert response.status_code == 200, asset
            assert response.headers["cache-control"].startswith("public, max-age=")

        worker = httpx.get(f"{base_url}/graphql/ide/static/workers/graphql.worker.js")
        assert worker.status_code == 200
        assert worker.headers["content-type"].startswith("text/javascript")

        api = httpx.post(
            f"{base_url}/graphql",
            json={"query": "{ whoami }"},
            headers={API_KEY_HEADER: "k-1"},
        )
        assert api.json() == {"data": {"whoami": "k-1"}}

        get_api = httpx.get(
            f"{base_url}/graphql",
            params={"query": "{ whoami }"},
            headers={API_KEY_HEADER: "k-2", "Accept": "text/html,*/*"},
        )
        assert get_api.json() == {"data": {"whoami": "k-2"}}


@pytest.mark.parametrize(
    ("method", "accept", "query", "expected"),
    [
        ("GET", "text/html,application/xhtml+xml,*/*;q=0.8", "", True),
        ("HEAD", "text/html", "", True),
        ("GET", "*/*", "", False),
        ("GET", "", "", False),
        ("GET", "application/json", "", False),
        ("GET", "application/json, text/html;q=0.5", "", False),
        ("GET", "text/html;q=0", "", False),
        ("GET", "text/html", "query=%7B__typename%7D", False),
        ("POST", "text/html", "", False),
    ],
)
def test_wants_ide(method: str, accept: str, query: str, expected: bool) -> None:
    headers = [(b"accept", accept.encode())] if accept else []
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": "/graphql",
        "query_string": query.encode(),
        "headers": headers,
    }
    assert wants_ide(Request(scope)) is expected


def test_page_escapes_paths() -> None:
    page = ide_page_html(graphql_path='/g"><x', assets_path="/a")
    assert '/g"><x' not in page
    assert "/g&quot;&gt;&lt;x" in page


def test_page_explains_how_to_build_missing_assets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setattr(ide, "STATIC_DIR", tmp_path / "static")
    assert not ide.ide_assets_present()
    page = ide.ide_page_html()
    assert "GraphiQL assets are not built" in page
    assert "make ide" in page
    assert "graphiql.js" not in page
