"""Rebilly's official JavaScript SDK (npm `rebilly-js-sdk`, pinned in tests/clients/js) against a
real `python -m app serve` with its worker in-process: REST callers and SDKs keep working, shown
by a client nobody here wrote.

tests/clients/js/rebilly-sdk-check.mjs does the SDK calls and prints what it observed as one JSON
object; the assertions are here. Needs node and `bash tests/clients/js/install.sh`; without them
the tests skip, or fail when GRAPHIQL_BROWSER_TESTS_REQUIRED=1 (as CI sets it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.graphql.browser import skip_unconfigured
from tests.servers import cli, cli_env, serving

JS_DIR = Path(__file__).parent / "js"
SCRIPT = JS_DIR / "rebilly-sdk-check.mjs"
ORGANIZATION = "sdk"
#: Members the service adds after Rebilly's; the SDK knows nothing of them and must pass them on.
EXTRA_MEMBERS = ("csvDialect", "attempts", "lastError", "nextAttemptTime", "progress")
NODE_TIMEOUT_SECONDS = 45
#: Checks of the script that the last two tests assert, each on its own.
OWN_TESTS = ("update-read-back", "org-scoped-download")


def require_js_clients() -> str:
    """The node binary, once the SDK is installed as the lockfile says; else skip (or fail)."""
    node = shutil.which("node")
    if node is None:
        skip_unconfigured("node is not installed (need node >= 18 for tests/clients/js)")
    install = "run `bash tests/clients/js/install.sh`"
    manifest = JS_DIR / "node_modules" / "rebilly-js-sdk" / "package.json"
    stamp = JS_DIR / "node_modules" / ".package-lock.json"
    if not manifest.is_file() or not stamp.is_file():
        skip_unconfigured(
            f"rebilly-js-sdk is not installed in {JS_DIR / 'node_modules'}: {install}"
        )
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/rebilly-js-sdk"]["version"]
    installed = json.loads(manifest.read_text())["version"]
    if (
        installed != locked
        or stamp.stat().st_mtime < (JS_DIR / "package-lock.json").stat().st_mtime
    ):
        skip_unconfigured(
            f"rebilly-js-sdk {installed} is installed but the lockfile pins {locked}: {install}"
        )
    return node


@dataclass
class Server:
    base_url: str
    key: str
    log: Path
    node: str

    @property
    def headers(self) -> dict[str, str]:
        return {"REB-APIKEY": self.key}


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """`python -m app serve` on a free port, on the suite's database (SQLite file, or
    PostgreSQL with TEST_DATABASE_URL), its worker in-process, with demo billing data."""
    node = require_js_clients()
    env = cli_env(database_url, tmp_path / "var", WORKER_MODE="inprocess", LOG_LEVEL="INFO")
    env["WORKER_POLL_SECONDS"] = "0.1"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cli(["migrate"], env, cwd)  # already at head: a no-op that proves it
    seed = ["--customers", "20", "--transactions", "200", "--quiet"]
    cli(["seed-demo", "--organization", ORGANIZATION, *seed], env, cwd)
    user = ["--organization", ORGANIZATION, "--user", "sdk@example.com"]
    key = cli(["create-api-key", *user], env, cwd).strip().splitlines()[-1]
    log = tmp_path / "server.log"
    with serving(env, cwd, log) as (base_url, _):
        yield Server(base_url, key, log, node)
    assert "Traceback" not in log.read_text(), log.read_text()


def completed_export(srv: Server) -> dict[str, Any]:
    """An export made and completed over plain HTTP, for the SDK to read back."""
    body = {"name": "Raw customers", "resource": "customers", "format": "json"}
    with httpx.Client(base_url=srv.base_url, headers=srv.headers, timeout=10) as client:
        created = client.post("/data-exports", json=body)
        assert created.status_code == 201, created.text
        export: dict[str, Any] = created.json()
        deadline = time.monotonic() + 30
        while export["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, export
            time.sleep(0.1)
            export = client.get(f"/data-exports/{export['id']}").json()
    assert export["status"] == "completed", export
    return export


def run_sdk_check(srv: Server, existing_id: str) -> dict[str, Any]:
    args = ["--base-url", srv.base_url, "--organization", ORGANIZATION]
    args += ["--existing-id", existing_id, "--timeout-seconds", "30"]
    result = subprocess.run(
        [srv.node, str(SCRIPT), *args],
        cwd=JS_DIR,
        env={**os.environ, "EXPORTS_GATEWAY_API_KEY": srv.key},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.stdout.strip(), f"no output (exit {result.returncode}): {result.stderr}"
    observed: dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == (1 if observed["failures"] else 0), result.stderr
    return observed


def failures_except(observed: dict[str, Any], *owned: str) -> list[dict[str, Any]]:
    """The script's failed checks, but those named in `owned` (a test of their own asserts them)."""
    return [f for f in observed["failures"] if f["check"] not in owned]


def test_rebilly_js_sdk_drives_the_data_exports_api(server: Server) -> None:
    existing = completed_export(server)
    observed = run_sdk_check(server, existing["id"])
    unexpected = failures_except(observed, *OWN_TESTS)
    assert "completed" in observed, json.dumps(unexpected, indent=1)

    # Create round-trips what was sent; the export starts pending, with no file.
    sent = observed["createdRequest"]
    created = observed["created"]
    item = created["item"]
    assert created["status"] == 201
    assert created["location"] == f"{server.base_url}/data-exports/{item['id']}"
    for member in ("name", "resource", "format", "fields", "arguments", "recurring"):
        assert item[member] == sent[member], member
    assert (item["resource"], item["format"]) == ("transactions", "csv")
    assert item["dateRange"] == {**sent["dateRange"], "field": "processedTime"}
    assert (item["status"], item["fileId"], item["recordCount"]) == ("pending", None, None)
    assert observed["got"]["item"] == item
    assert observed["got"]["pagination"] == {"total": "1", "limit": "1", "offset": "0"}
    assert observed["expandedUser"]["email"] == "sdk@example.com"
    assert observed["expandedUser"]["id"] == item["userId"]

    # The SDK reads Pagination-* into total/limit/offset; the total grows by one.
    before, after = observed["listBefore"], observed["listAfter"]
    assert (before["limit"], before["offset"], before["count"]) == (1, 0, 1)
    assert after["total"] == before["total"] + 1
    assert after["firstId"] == item["id"]
    assert observed["pageTwo"] == {
        "total": after["total"],
        "limit": 2,
        "offset": 1,
        "count": min(2, after["total"] - 1),
    }

    # Update (a PUT of the writable members) changed the name and dropped the schedule.
    updated = observed["updated"]
    assert updated["status"] == 200
    assert updated["item"]["id"] == item["id"]
    assert updated["item"]["name"] == "SDK transactions (renamed)" != item["name"]
    assert updated["item"]["recurring"] is None

    # The worker completed it: record count, file and its links, as the SDK sees them.
    completed = observed["completed"]
    assert completed["status"] == "completed"
    assert completed["name"] == "SDK transactions (renamed)"
    assert completed["failureReason"] is None
    assert isinstance(completed["recordCount"], int)
    assert completed["recordCount"] > 0
    file_id = completed["fileId"]
    links = observed["file"]["links"]
    assert links["download"] == f"{server.base_url}/files/{file_id}/download"
    assert links["signedLink"].startswith(f"{server.base_url}/files/{file_id}/signed?")
    embedded = observed["file"]["embedded"]
    assert embedded["id"] == file_id
    assert embedded["contentType"].startswith("text/csv")
    download = observed["download"]
    assert download["status"] == 200
    assert download["contentType"].startswith("text/csv")
    assert download["bytes"] == embedded["size"]
    assert download["header"] == ",".join(sent["fields"])
    assert download["lines"] == completed["recordCount"] + 1
    assert observed["signedLink"] == {"status": 200, "sameBytes": True}

    # The SDK's create with an id of one's own: GET (404), then PUT (201).
    assert observed["ownId"]["status"] == 201
    assert observed["ownIdAgain"]["name"] == "RebillyConflictError"

    # Delete, then the SDK's not-found error.
    assert observed["deleted"] == {"status": 204}
    for after_delete in (observed["afterDelete"], observed["deleteAgain"]):
        assert after_delete["name"] == "RebillyNotFoundError"
        assert after_delete["status"] == 404
        assert after_delete["body"]["status"] == 404
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=10) as client:
        assert client.get(f"/data-exports/{item['id']}").status_code == 404

    # The 422 problem, as the SDK surfaces it: status, detail as the message, invalidFields.
    invalid = observed["invalid"]
    assert invalid["name"] == "RebillyValidationError"
    assert invalid["status"] == 422
    assert invalid["message"] == invalid["body"]["detail"]
    assert "fields.1" in invalid["message"]
    assert [f["field"] for f in invalid["invalidFields"]] == ["fields.1"]
    assert invalid["body"]["type"] == "validation-error"

    # What the SDK sent: its experimental API, organization-scoped, with the key on every call.
    prefix = f"{server.base_url}/experimental/organizations/{ORGANIZATION}/data-exports"
    calls = [(r["method"], r["url"], r["status"]) for r in observed["requests"]]
    assert ("POST", f"{prefix}/", 201) in calls
    assert ("PUT", f"{prefix}/{item['id']}", 200) in calls
    assert ("DELETE", f"{prefix}/{item['id']}", 204) in calls
    assert all(r["apiKeyHeader"] for r in observed["requests"])
    assert all(r["consumer"].startswith("Rebilly/js-sdk@") for r in observed["requests"])
    bodies = [r for r in observed["requests"] if r["body"] is not None]
    assert bodies
    assert all(r["contentType"].startswith("application/json") for r in bodies)

    # Members the SDK does not know pass through unchanged, in the service's order.
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=10) as client:
        raw = client.get(f"/data-exports/{existing['id']}").json()
    through_sdk = observed["existing"]
    assert list(through_sdk) == list(raw)
    for name in EXTRA_MEMBERS:
        if name in raw:
            assert name in through_sdk, name
            assert through_sdk[name] == raw[name], name
    assert {k: v for k, v in through_sdk.items() if k != "_links"} == {
        k: v for k, v in raw.items() if k != "_links"
    }
    assert [link["rel"] for link in through_sdk["_links"]] == [
        link["rel"] for link in raw["_links"]
    ]

    assert unexpected == []


def test_rebilly_js_sdk_downloads_a_file_with_an_organization_id(server: Server) -> None:
    """The SDK configured with `organizationId` (as Rebilly's docs show) prefixes every call,
    files included: `files.download` asks for `/organizations/{org}/files/{id}/download`.
    The service serves data exports at that prefix but files only at `/files/{id}/download`."""
    existing = completed_export(server)
    observed = run_sdk_check(server, existing["id"])
    scoped = observed["orgScopedDownload"]
    call = next(r for r in observed["requests"] if r["client"] == "main+org")
    assert call["method"] == "GET"
    assert call["url"].endswith(
        f"/organizations/{ORGANIZATION}/files/{observed['completed']['fileId']}/download"
    )
    refused = {k: scoped.get(k) for k in ("name", "status", "body")}
    assert scoped.get("resolved") is True, f"files.download was refused: {refused}"
    assert scoped["status"] == 200


def test_rebilly_js_sdk_updates_with_the_item_it_read(server: Server) -> None:
    """GET, change, PUT back: `update` sends every member of the item the SDK returned, the
    service's own additions included. Spec §1: read-only members sent back are ignored."""
    existing = completed_export(server)
    observed = run_sdk_check(server, existing["id"])
    read_back = observed["updateReadBack"]
    sent = read_back["sentMembers"]
    assert {"id", "status", "_links", "name"} <= set(sent)
    refused = {k: read_back.get(k) for k in ("name", "status", "message", "invalidFields")}
    assert read_back.get("resolved") is True, f"the SDK's update was refused: {refused}"
    assert read_back["status"] == 200
    assert read_back["fields"]["name"] == "SDK transactions (read back)"
