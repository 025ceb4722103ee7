"""Helpers to drive the GraphiQL page in a real headless Chromium.

Reusable by any test that serves an ASGI app (the test app of
``test_ide_browser.py`` or the real ``app.main.create_app()``)::

    chromium = require_chromium()              # pytest.skip when there is none
    require_ide_assets()                       # pytest.skip when `make ide` was not run
    with serve_asgi(app) as base_url, chromium_page(chromium) as browser:
        ide = GraphiQLPage(browser.page)
        ide.open(f"{base_url}/graphql")
        ide.set_headers({"REB-APIKEY": "..."})
        ide.set_query("{ whoami }")
        ide.run()
        text = ide.wait_for_response_containing("...")
        assert browser.csp_violations() == []

Chromium is the system one (Debian's ``chromium`` package), never a Playwright
download: set ``CHROMIUM_PATH`` to point at another binary.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
import uvicorn
from playwright.sync_api import ConsoleMessage, Error, Locator, Page, sync_playwright
from starlette.types import ASGIApp

CHROMIUM_ENV = "CHROMIUM_PATH"
#: Set to 1 (e.g. in CI) to fail, not skip, when Chromium or the built assets are missing.
REQUIRED_ENV = "GRAPHIQL_BROWSER_TESTS_REQUIRED"
CHROMIUM_CANDIDATES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/lib/chromium/chromium",
    "/usr/bin/google-chrome-stable",
    "/usr/bin/google-chrome",
)
#: The machine has no internet: without these Chromium keeps trying to reach
#: Google services and fills the logs with refused connections.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
DEFAULT_TIMEOUT_MS = 30_000
SERVER_START_TIMEOUT_S = 15.0


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary: ``$CHROMIUM_PATH``, then the usual places."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if _is_executable(configured) else None
    for candidate in CHROMIUM_CANDIDATES:
        if _is_executable(candidate):
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary, or skip the calling test when the machine has none."""
    chromium = find_chromium()
    if chromium is None:
        skip_unconfigured(
            "no Chromium binary found (install Debian's `chromium` package, "
            f"or set {CHROMIUM_ENV}); Playwright's own browser downloads are not used"
        )
    return chromium


def require_ide_assets() -> None:
    """Skip the calling test when the GraphiQL bundle has not been built."""
    from app.graphql.ide import ide_assets_present

    if not ide_assets_present():
        skip_unconfigured(
            "GraphiQL assets are not built: run `make ide` (app/graphql/ide/build.sh)"
        )


def skip_unconfigured(reason: str) -> NoReturn:
    """Skip for a machine that lacks a browser or build; fail if ``$REQUIRED_ENV`` is set."""
    if os.environ.get(REQUIRED_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} [{REQUIRED_ENV} is set]")
    pytest.skip(reason)


def _is_executable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


@contextmanager
def serve_asgi(app: ASGIApp, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Run ``app`` under a real uvicorn server on a free port; yields its base URL.

    The server runs in a daemon thread with its own event loop, so it works from
    plain (sync) tests and next to pytest-asyncio. Lifespan is on ("auto"), so an
    app's startup/shutdown handlers run as in production.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="asyncio",
        ws="websockets-sansio",
        lifespan="auto",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the test thread below
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not server.started:
            if failure:
                raise RuntimeError("uvicorn failed to start") from failure[0]
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {host}:{port}")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    if failure:
        raise RuntimeError("uvicorn stopped with an error") from failure[0]


@dataclass
class BrowserPage:
    """A Playwright page plus what the browser reported while it was open."""

    page: Page
    console: list[ConsoleMessage] = field(default_factory=list)
    page_errors: list[Error] = field(default_factory=list)

    def console_errors(self) -> list[str]:
        return [message.text for message in self.console if message.type == "error"]

    def csp_violations(self) -> list[str]:
        """Console reports of resources or code refused by the Content-Security-Policy."""
        return [
            message.text
            for message in self.console
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
        ]


@contextmanager
def chromium_page(
    executable_path: str,
    *,
    viewport: Mapping[str, int] | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Iterator[BrowserPage]:
    """A fresh headless Chromium page (own profile, nothing persisted)."""
    size = dict(viewport or {"width": 1400, "height": 900})
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable_path,
            headless=True,
            args=list(CHROMIUM_ARGS),
        )
        try:
            context = browser.new_context(
                viewport={"width": size["width"], "height": size["height"]}
            )
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            result = BrowserPage(page=page)
            page.on("console", lambda message: result.console.append(message))
            page.on("pageerror", lambda error: result.page_errors.append(error))
            yield result
            context.close()
        finally:
            browser.close()


_QUERY_EDITOR = '.graphiql-query-editor .monaco-editor[data-uri$="operation.graphql"]'
_HEADERS_EDITOR = '.graphiql-editor-tool .monaco-editor[data-uri$="request-headers.json"]'
_VARIABLES_EDITOR = '.graphiql-editor-tool .monaco-editor[data-uri$="variables.json"]'
_RESPONSE_EDITOR = '.graphiql-response .monaco-editor[data-uri$="response.json"]'
_RUN_BUTTON = ".graphiql-execute-button"
# Monaco draws spaces as U+00A0; innerText of the visible lines is the editor text.
_EDITOR_TEXT_JS = "el => el.querySelector('.view-lines').innerText.replace(/\\u00a0/g, ' ')"


class GraphiQLPage:
    """Drives the GraphiQL 5 (Monaco) UI: editors, headers, run button, result pane."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, url: str) -> None:
        """Load the IDE and wait until the editors are ready for input."""
        response = self.page.goto(url)
        if response is None or not response.ok:
            status = None if response is None else response.status
            raise AssertionError(f"GET {url} answered {status}")
        self.page.locator(".graphiql-container").wait_for(state="visible")
        self.page.locator(f"{_QUERY_EDITOR} .view-lines").wait_for(state="visible")
        self.page.locator(_RUN_BUTTON).wait_for(state="visible")

    def query_text(self) -> str:
        return self._editor_text(_QUERY_EDITOR)

    def headers_text(self) -> str:
        self.show_headers()
        return self._editor_text(_HEADERS_EDITOR)

    def response_text(self) -> str:
        return self._editor_text(_RESPONSE_EDITOR)

    def show_headers(self) -> None:
        """Make the headers editor visible (opens the editor tools if collapsed)."""
        editor = self.page.locator(_HEADERS_EDITOR)
        if editor.is_visible():
            return
        tools = self.page.locator(".graphiql-editor-tools")
        tools.get_by_role("button", name="Headers", exact=True).click()
        editor.wait_for(state="visible")

    def set_query(self, text: str) -> None:
        self._replace_editor_text(self.page.locator(_QUERY_EDITOR), text)
        self._let_graphiql_parse()

    def set_headers(self, headers: Mapping[str, Any] | str) -> None:
        text = headers if isinstance(headers, str) else json.dumps(dict(headers))
        self.show_headers()
        self._replace_editor_text(self.page.locator(_HEADERS_EDITOR), text)

    def set_variables(self, variables: Mapping[str, Any]) -> None:
        editor = self.page.locator(_VARIABLES_EDITOR)
        if not editor.is_visible():
            tools = self.page.locator(".graphiql-editor-tools")
            tools.get_by_role("button", name="Variables", exact=True).click()
            editor.wait_for(state="visible")
        self._replace_editor_text(editor, json.dumps(dict(variables)))

    def run(self) -> None:
        self.page.locator(_RUN_BUTTON).click()

    def open_tab(self, title: str) -> None:
        """Switch to the operation tab titled ``title`` (its operation name)."""
        self.page.locator(".graphiql-tab").filter(has_text=title).first.click()
        self.page.wait_for_function(
            "([selector, title]) => document.querySelector(selector)?.innerText.includes(title)",
            arg=[f"{_QUERY_EDITOR} .view-lines", title],
        )
        self._let_graphiql_parse()

    def new_tab(self) -> None:
        self.page.get_by_role("button", name="New tab", exact=True).click()

    def show_plugin(self, title: str) -> Locator:
        """Open the sidebar plugin ``title`` (e.g. "GraphiQL Explorer"); returns its pane."""
        button = self.page.get_by_role("button", name=f"Show {title}", exact=True)
        if button.count():
            button.click()
        self.page.get_by_role("button", name=f"Hide {title}", exact=True).wait_for()
        pane = self.page.locator(".graphiql-plugin")
        pane.wait_for(state="visible")
        return pane

    def visible_plugin(self) -> str | None:
        """Title of the open sidebar plugin (its button reads "Hide <title>"), or None."""
        labels = self.page.locator(".graphiql-sidebar button[aria-label^='Hide ']")
        if not labels.count():
            return None
        label: str = labels.first.get_attribute("aria-label") or ""
        return label.removeprefix("Hide ")

    def explorer_check(self, *path: str) -> None:
        """Tick the field at ``path`` in the explorer (query builder), e.g. ("dataExports",
        "items", "id"): fields on the way are opened with a click unless already open, then
        the last is clicked; the explorer rewrites the query to match."""
        scope = self.show_plugin("GraphiQL Explorer")
        for depth, name in enumerate(path, start=1):
            # An open (selected) object field wraps its row and its sub-fields in a
            # div.graphiql-explorer-<name>; a closed one is only its row.
            opened = scope.locator(f"div.graphiql-explorer-{name}:not(.graphiql-explorer-node)")
            last = depth == len(path)
            if last or not opened.count():
                scope.locator(f'[data-field-name="{name}"]').first.click()
            if not last:
                scope = opened.first
                scope.wait_for()

    def wait_for_response_containing(self, needle: str, *, timeout_ms: int | None = None) -> str:
        """Wait until the result pane shows ``needle``; returns the pane's text."""
        selector = f"{_RESPONSE_EDITOR} .view-lines"
        self.page.wait_for_function(
            """([selector, needle]) => {
                const el = document.querySelector(selector);
                return !!el && el.innerText.replace(/\\u00a0/g, ' ').includes(needle);
            }""",
            arg=[selector, needle],
            timeout=timeout_ms,
        )
        return self.response_text()

    def wait_for_no_query_errors(self, *, timeout_ms: int | None = None) -> None:
        """Wait until the query editor shows no error squiggles (schema validation done)."""
        self.page.wait_for_function(
            "selector => document.querySelectorAll(selector).length === 0",
            arg=f"{_QUERY_EDITOR} .squiggly-error",
            timeout=timeout_ms,
        )

    def _let_graphiql_parse(self) -> None:
        # GraphiQL parses the operation 100 ms after the editor changes (a debounce); a run
        # before that sends the previous text's operation name (e.g. a default tab's).
        self.page.wait_for_timeout(300)

    def _editor_text(self, selector: str) -> str:
        text: str = self.page.locator(selector).evaluate(_EDITOR_TEXT_JS)
        return text

    def _replace_editor_text(self, editor: Locator, text: str) -> None:
        # insert_text sends one input event (like a paste), so Monaco does not
        # auto-close brackets or quotes as it would for typed keys.
        editor.locator(".view-lines").click()
        self.page.keyboard.press("ControlOrMeta+A")
        self.page.keyboard.press("Delete")
        self.page.keyboard.insert_text(text)
        self.page.wait_for_function(
            """([el, expected]) => {
                const norm = s => s.replace(/\\u00a0/g, ' ').replace(/\\s+/g, '');
                return norm(el.querySelector('.view-lines').innerText) === norm(expected);
            }""",
            arg=[editor.element_handle(), text],
        )
