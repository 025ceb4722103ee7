"""GraphiQL on the real application: a migrated database, a real key, uvicorn, headless
Chromium. Skips (or fails under GRAPHIQL_BROWSER_TESTS_REQUIRED=1) only when the machine lacks
Chromium or the built assets."""

from __future__ import annotations

import asyncio
import json

from app.auth import issue_api_key
from app.db import make_engine, make_sessionmaker
from app.demo import ensure_user
from app.main import create_app
from app.settings import Settings
from tests.graphql.browser import (
    GraphiQLPage,
    chromium_page,
    require_chromium,
    require_ide_assets,
    serve_asgi,
)

EMAIL = "browser.user@example.com"


def _create_key(settings: Settings) -> str:
    """A read key for a fresh user, written before the server starts (its own engine)."""

    async def work() -> str:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                user = await ensure_user(session, organization_id="acme", email=EMAIL)
                key = await issue_api_key(
                    session,
                    user=user,
                    permissions=frozenset({"read"}),
                    pepper=settings.api_key_pepper,
                )
                await session.commit()
                return key
        finally:
            await engine.dispose()

    return asyncio.run(work())


def test_graphiql_runs_a_query_against_the_real_app(settings: Settings) -> None:
    chromium = require_chromium()
    require_ide_assets()
    key = _create_key(settings)

    with serve_asgi(create_app(settings)) as base_url, chromium_page(chromium) as browser:
        ide = GraphiQLPage(browser.page)
        ide.open(f"{base_url}/graphql")
        ide.set_headers({"REB-APIKEY": key})
        ide.set_query("{ viewer { user { email } } }")
        ide.run()
        result = ide.wait_for_response_containing(EMAIL)
        ide.wait_for_no_query_errors()  # the editor validated it against the real schema

        assert json.loads(result) == {"data": {"viewer": {"user": {"email": EMAIL}}}}
        assert browser.csp_violations() == []
        assert [str(error) for error in browser.page_errors] == []

        # A wrong key shows the GraphQL-shaped 401 in the same pane.
        ide.set_headers({"REB-APIKEY": "not-a-valid-key-not-a-valid-key-0"})
        ide.run()
        failed = json.loads(ide.wait_for_response_containing("UNAUTHENTICATED"))
        assert failed["data"] is None
        assert failed["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
