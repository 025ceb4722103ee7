"""Automatic persisted queries with the client libraries' own links, against a real
`python -m app serve`: Apollo Client 4's `PersistedQueryLink` (POST; GET for hashed queries;
a legacy `Accept: application/json`) and urql's `persistedExchange` (GET; POST), pinned in
tests/clients/js. For each, a first page load sends the hash alone, gets
`PersistedQueryNotFound` and falls back to sending the document; a second page load (a fresh
client) is answered by hash alone. The server's own count (`/metrics`) agrees. Needs node and
`bash tests/clients/js/install.sh`; without them the test skips, or fails when
GRAPHIQL_BROWSER_TESTS_REQUIRED=1 (as CI sets it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.clients.test_rebilly_js_sdk import (
    JS_DIR,
    ORGANIZATION,
    Server,
    require_js_clients,
    server,
)
from tests.graphql.browser import skip_unconfigured
from tests.servers import cli, cli_env, serving

__all__ = ["server"]

SCRIPT = JS_DIR / "persisted-links.mjs"
NODE_TIMEOUT_SECONDS = 60
PACKAGES = ("@apollo/client", "@urql/core", "@urql/exchange-persisted")
#: Variant → the methods of its hash-only requests and of the fallback with the document
#: (Apollo falls back to POST; urql keeps GET while the URL stays short).
VARIANTS = {
    "apollo-post": ("POST", "POST"),
    "apollo-get": ("GET", "POST"),
    "apollo-legacy-json": ("POST", "POST"),
    "urql-get": ("GET", "GET"),
    "urql-post": ("POST", "POST"),
}


def run_links(srv: Server) -> dict[str, Any]:
    for package in PACKAGES:
        if not (JS_DIR / "node_modules" / package / "package.json").is_file():
            skip_unconfigured(f"{package} is not installed: run `bash tests/clients/js/install.sh`")
    result = subprocess.run(
        [srv.node, str(SCRIPT), "--url", f"{srv.base_url}/graphql"],
        cwd=JS_DIR,
        env={**os.environ, "EXPORTS_GATEWAY_API_KEY": srv.key, "NODE_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    observed: dict[str, Any] = json.loads(result.stdout)
    return observed


def _persisted_counts(srv: Server) -> dict[str, float]:
    text = httpx.get(f"{srv.base_url}/metrics", timeout=10).text
    pattern = r'^exports_gateway_graphql_persisted_queries_total\{outcome="(\w+)"\} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.MULTILINE)}


def test_apollo_and_urql_fall_back_once_then_send_only_the_hash(server: Server) -> None:
    observed = run_links(server)
    assert set(observed) == set(VARIANTS)
    for variant, (method, fallback_method) in VARIANTS.items():
        first, second = observed[variant]["runs"]
        for run in (first, second):
            assert run["error"] is None, (variant, run)
            assert run["data"]["viewer"]["organizationId"] == ORGANIZATION, (variant, run)
        miss, fallback = first["requests"]
        legacy = variant == "apollo-legacy-json"
        assert miss["method"] == method, (variant, miss)
        assert not miss["hasQuery"], (variant, miss)
        assert miss["messages"] == ["PersistedQueryNotFound"], (variant, miss)
        assert miss["status"] == (200 if legacy else 400), (variant, miss)
        assert fallback["method"] == fallback_method, (variant, fallback)
        assert fallback["hasQuery"], (variant, fallback)
        assert fallback["hash"] == miss["hash"], (variant, fallback)
        assert fallback["status"] == 200, (variant, fallback)
        [hit] = second["requests"]
        assert hit["method"] == method, (variant, hit)
        assert not hit["hasQuery"], (variant, hit)
        assert hit["hash"] == miss["hash"], (variant, hit)
        assert (hit["status"], hit["messages"]) == (200, []), (variant, hit)
    counts = _persisted_counts(server)
    assert counts.get("miss") == len(VARIANTS), counts
    assert counts.get("registered") == len(VARIANTS), counts
    assert counts.get("hit") == len(VARIANTS), counts


MANIFEST_SCRIPT = JS_DIR / "apollo-manifest.mjs"


def _node(node: str, args: list[str], key: str = "") -> str:
    result = subprocess.run(
        [node, str(MANIFEST_SCRIPT), *args],
        cwd=JS_DIR,
        env={**os.environ, "EXPORTS_GATEWAY_API_KEY": key, "NODE_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_apollo_runs_its_generated_manifest_on_a_trusted_only_server(
    database_url: str, tmp_path: Path
) -> None:
    """Apollo's own tooling end to end: `generate-persisted-query-manifest` writes the
    manifest, the server loads it with GRAPHQL_TRUSTED_DOCUMENTS_ONLY, and Apollo Client (ids
    from the manifest by `@apollo/persisted-query-lists`) runs a query and a mutation by id
    alone, one request each."""
    node = require_js_clients()
    for package in ("@apollo/generate-persisted-query-manifest", "@apollo/persisted-query-lists"):
        if not (JS_DIR / "node_modules" / package / "package.json").is_file():
            skip_unconfigured(f"{package} is not installed: run `bash tests/clients/js/install.sh`")
    manifest = tmp_path / "persisted-query-manifest.json"
    _node(node, ["--generate", str(manifest)])
    assert json.loads(manifest.read_text())["format"] == "apollo-persisted-query-manifest"
    env = cli_env(
        database_url,
        tmp_path / "var",
        GRAPHQL_TRUSTED_DOCUMENTS=str(manifest),
        GRAPHQL_TRUSTED_DOCUMENTS_ONLY="true",
    )
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cli(["migrate"], env, cwd)
    user = ["--organization", ORGANIZATION, "--user", "manifest@example.com"]
    cli(["seed-demo", "--organization", ORGANIZATION, "--customers", "1", "--quiet"], env, cwd)
    key = cli(["create-api-key", *user], env, cwd).strip().splitlines()[-1]
    with serving(env, cwd, tmp_path / "server.log") as (base_url, _):
        observed = json.loads(
            _node(node, ["--url", f"{base_url}/graphql", "--manifest", str(manifest)], key)
        )
        refused = httpx.post(
            f"{base_url}/graphql",
            json={"query": "{ viewer { organizationId } }"},
            headers={"REB-APIKEY": key},
            timeout=10,
        )
    results = observed["results"]
    assert "error" not in results, observed
    assert results["ManifestViewer"]["viewer"]["organizationId"] == ORGANIZATION
    assert results["ManifestCreate"]["createDataExport"]["__typename"] == "DataExport"
    assert [(r["method"], r["hasQuery"], r["status"]) for r in observed["requests"]] == [
        ("POST", False, 200),
        ("POST", False, 200),
    ]
    assert sorted(r["hash"] for r in observed["requests"]) == sorted(observed["ids"])
    assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_NOT_IN_SAFELIST"
