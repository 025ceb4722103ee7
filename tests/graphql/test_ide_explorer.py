"""GraphiQL's first screen, API key handling, query builder and examples in a real headless
Chromium, against `python -m app serve` on a seeded database (what `make run` starts): the key
goes in through the "Start here" panel, a query is built by clicking fields in the explorer and
run with the run button, and an export is created and followed to completion over the
WebSocket. Skips (fails under GRAPHIQL_BROWSER_TESTS_REQUIRED=1) only without Chromium or the
built assets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.graphql.browser import (
    BrowserPage,
    GraphiQLPage,
    chromium_page,
    require_chromium,
    require_ide_assets,
)
from tests.servers import cli, cli_env, serving

KEY_STORAGE = "exports-gateway:api-key"
BUILT_QUERY = "{ dataExports { items { id status } } }"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A served app on a seeded SQLite file: its base URL and the demo read/write key."""
    env = cli_env(f"sqlite+aiosqlite:///{tmp_path / 'ide.db'}", tmp_path / "var")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cli(["migrate"], env, cwd)
    seeded = cli(["seed-demo", "--customers", "3", "--transactions", "3", "--quiet"], env, cwd)
    key = next(
        line.rsplit(": ", 1)[1] for line in seeded.splitlines() if line.startswith("read,write key")
    )
    with serving(env, cwd, tmp_path / "server.log") as (base_url, _):
        yield base_url, key


def _pane_json(text: str) -> Any:
    """The result pane's JSON: Monaco soft-wraps long lines after a space, so the visual line
    breaks are dropped before parsing."""
    return json.loads(text.replace("\n", ""))


def _stored(browser: BrowserPage, name: str) -> str | None:
    value: str | None = browser.page.evaluate("name => localStorage.getItem(name)", name)
    return value


def test_first_screen_key_explorer_and_examples(demo: tuple[str, str]) -> None:
    chromium = require_chromium()
    require_ide_assets()
    base_url, key = demo

    with chromium_page(chromium, viewport={"width": 1600, "height": 1000}) as browser:
        page = browser.page
        ide = GraphiQLPage(page)
        ide.open(f"{base_url}/graphql")

        # No key stored: the first screen is open and says where keys come from.
        assert ide.visible_plugin() == "Start here"
        panel = page.locator(".graphiql-plugin")
        panel.get_by_text("Your API key").wait_for()
        text = panel.inner_text()
        for needed in (
            "make run",
            "python -m app create-api-key",
            "REB-APIKEY",
            "localStorage",
            KEY_STORAGE,
            "survives reloads",
        ):
            assert needed in text, needed
        assert _stored(browser, KEY_STORAGE) is None
        # The first visit's tabs are the examples, the first one with its variables.
        assert "query ListExports(" in ide.query_text()
        assert [t.strip() for t in page.locator(".graphiql-tab").all_inner_texts()] == [
            "ListExports",
            "CreateExport",
            "FollowExport",
            "DownloadExport",
        ]

        # The key goes in through the panel and is kept in localStorage.
        panel.get_by_role("textbox", name="API key").fill(key)
        panel.get_by_role("button", name="Use key").click()
        panel.get_by_role("status").get_by_text(key[-4:]).wait_for()
        assert _stored(browser, KEY_STORAGE) == key
        assert key not in page.content().replace(key[-4:], "")  # shown only as its last 4

        # After a reload the key is still there and the panel is out of the way.
        ide.open(f"{base_url}/graphql")
        assert _stored(browser, KEY_STORAGE) == key
        assert ide.visible_plugin() is None

        # Build a query by clicking fields in the explorer, then run it.
        ide.new_tab()
        ide.explorer_check("dataExports", "items", "id")
        ide.explorer_check("dataExports", "items", "status")
        built = ide.query_text()
        assert " ".join(built.split()) == "query MyQuery { dataExports { items { id status } } }"
        ide.run()
        expected = httpx.post(
            f"{base_url}/graphql", json={"query": BUILT_QUERY}, headers={"REB-APIKEY": key}
        ).json()
        assert expected["data"]["dataExports"]["items"], "the demo has exports"
        first_id = expected["data"]["dataExports"]["items"][0]["id"]
        assert _pane_json(ide.wait_for_response_containing(first_id)) == expected

        # The examples: create an export, then follow it to completion over the WebSocket
        # (the in-process worker runs it); the key travels in connection_init.
        ide.open_tab("CreateExport")
        ide.run()
        created = _pane_json(ide.wait_for_response_containing('"DataExport"'))
        export_id = created["data"]["createDataExport"]["id"]
        ide.open_tab("FollowExport")
        ide.set_variables({"id": export_id})
        ide.run()
        followed = _pane_json(ide.wait_for_response_containing('"COMPLETED"'))
        assert followed["data"]["dataExportUpdates"]["id"] == export_id

        assert browser.csp_violations() == []
        assert [str(error) for error in browser.page_errors] == []
        assert browser.console_errors() == []

        # A key typed into the Headers editor wins over the stored one (401s log a console
        # error from here on, so that check is above).
        ide.open_tab("MyQuery")
        ide.set_headers({"REB-APIKEY": "not-a-valid-key-not-a-valid-key-0"})
        ide.run()
        wrong = _pane_json(ide.wait_for_response_containing("UNAUTHENTICATED"))
        assert wrong["data"] is None
        ide.set_headers("{}")

        # "Forget key" clears it from the browser; the panel asks for one again.
        panel = ide.show_plugin("Start here")
        panel.get_by_role("button", name="Forget key").click()
        panel.get_by_role("textbox", name="API key").wait_for()
        assert _stored(browser, KEY_STORAGE) is None
        assert key not in json.dumps(
            page.evaluate("() => Object.fromEntries(Object.entries(localStorage))")
        )
        ide.run()
        refused = _pane_json(ide.wait_for_response_containing("Missing credentials"))
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert browser.csp_violations() == []
        assert [str(error) for error in browser.page_errors] == []
