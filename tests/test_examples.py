"""examples/ runs: the TypeScript client (GraphQL Codegen's client preset, urql sending only
persisted-document hashes) against a real server that runs trusted documents only, from the
manifest Codegen wrote, and the Python `gql` client against a real server with the defaults.
Each server is `serve --demo` (the worker in-process) on the suite's database. Each client
creates a CSV export, follows it to completion and downloads a file whose size and SHA-256
match what the API says.

`bash examples/typescript/build.sh` (`make examples`) runs codegen and tsc when schema.graphql
or the example changed; the test runs it too, so a stale build cannot pass. Without node the
TypeScript half skips, or fails when GRAPHIQL_BROWSER_TESTS_REQUIRED=1 (as CI sets it)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.graphql.browser import skip_unconfigured
from tests.servers import cli_env, serving

REPO = Path(__file__).resolve().parent.parent
TS_DIR = REPO / "examples" / "typescript"
MANIFEST = TS_DIR / "gql" / "persisted-documents.json"
PY_EXAMPLE = REPO / "examples" / "python" / "export_client.py"
DEMO_CUSTOMERS = 500
"""What `serve --demo` seeds (app/cli.py)."""
TIMEOUT_SECONDS = 120


@contextmanager
def _server(
    database_url: str, tmp_path: Path, name: str, **settings: str
) -> Iterator[tuple[str, str]]:
    """`serve --demo` (migrated, seeded, its worker in-process), as `make run` starts it;
    yields its URL and the demo's read-write key."""
    var_dir = tmp_path / name / "var"
    env = cli_env(database_url, var_dir, WORKER_POLL_SECONDS="0.1", **settings)
    cwd = tmp_path / name / "cwd"
    cwd.mkdir(parents=True)
    log = tmp_path / name / "server.log"
    with serving(env, cwd, log, "--demo") as (base_url, _):
        keys = (var_dir / "demo-keys.txt").read_text().splitlines()
        key = next(line for line in keys if line.startswith("read,write")).rsplit(" ", 1)[-1]
        yield base_url, key
    assert "Traceback" not in log.read_text(), log.read_text()


def _run(command: list[str], key: str, cwd: Path) -> dict[str, Any]:
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, "EXPORTS_GATEWAY_API_KEY": key},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def _assert_a_real_export(summary: dict[str, Any], out: Path) -> None:
    assert summary["statuses"][-1] == "COMPLETED", summary
    assert summary["sha256Matches"] is True, summary
    assert summary["contentType"].startswith("text/csv"), summary
    content = out.read_bytes()
    assert len(content) == summary["bytes"] > 0
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(rows) == summary["recordCount"] + 1 == DEMO_CUSTOMERS + 1, rows[:2]
    assert "id" in rows[0], rows[0]


def test_the_typescript_example_runs_on_trusted_documents_only(
    database_url: str, tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        skip_unconfigured("node and npm are needed for examples/typescript")
    built = subprocess.run(
        ["bash", str(TS_DIR / "build.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    assert built.returncode == 0, built.stderr
    manifest = json.loads(MANIFEST.read_text())
    assert {body.split("(")[0] for body in manifest.values()} == {
        "mutation CreateExport",
        "query FollowExport",
    }
    settings = {
        "GRAPHQL_TRUSTED_DOCUMENTS": str(MANIFEST),
        "GRAPHQL_TRUSTED_DOCUMENTS_ONLY": "true",
    }
    with _server(database_url, tmp_path, "typescript", **settings) as (base_url, key):
        # Trusted-only is on: a document outside the manifest is refused.
        refused = httpx.post(
            f"{base_url}/graphql",
            json={"query": "{ viewer { organizationId } }"},
            headers={"REB-APIKEY": key},
            timeout=10,
        )
        assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_NOT_IN_SAFELIST"
        out = tmp_path / "typescript.csv"
        command = [node, "dist/src/main.js", "--url", base_url, "--out", str(out)]
        summary = _run(command, key, TS_DIR)
    _assert_a_real_export(summary, out)


def test_the_python_example_runs(database_url: str, tmp_path: Path) -> None:
    with _server(database_url, tmp_path, "python") as (base_url, key):
        out = tmp_path / "python.csv"
        command = [sys.executable, str(PY_EXAMPLE), "--url", base_url, "--out", str(out)]
        summary = _run(command, key, tmp_path)
    _assert_a_real_export(summary, out)
