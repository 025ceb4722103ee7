"""Logs of a real server (`python -m app serve` under uvicorn, stderr captured): JSON lines in
the JSON format, plain lines in the text one, a request id on every line of a request, each
error logged once (app/logs.py)."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import app.exports.worker as worker_module
from app.logs import _response_headers
from tests.conftest import Harness, Tenant, run_cli
from tests.exports.conftest import create, make_worker, seed
from tests.servers import free_port

# The server, with one use case made to fail: `GET /data-exports` is a forced 500.
SERVE = """
import sys
from app.exports import usecases

async def broken(*args, **kwargs):
    raise RuntimeError("forced failure for the log test")

usecases.list_exports = broken
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path
    key: str

    def stop(self) -> str:
        """Stop the server; its whole stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.log.read_text()


def _start(tmp_path: Path, log_format: str) -> Iterator[Server]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env = {
        **keep,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}",
        "VAR_DIR": str(tmp_path / "var"),
        "WORKER_MODE": "off",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": log_format,
    }
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for args in (
        ["migrate"],
        ["create-api-key", "--organization", "logs", "--user", "logs@example.com"],
    ):
        result = run_cli(args, env, cwd)
        assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    port = free_port()
    log = tmp_path / "stderr.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log, key)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(f"{server.base_url}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield server
    finally:
        server.stop()


@pytest.fixture
def json_server(tmp_path: Path) -> Iterator[Server]:
    yield from _start(tmp_path, "json")


@pytest.fixture
def text_server(tmp_path: Path) -> Iterator[Server]:
    yield from _start(tmp_path, "text")


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = stderr.splitlines()
    assert lines, "no log lines"
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}\n{stderr}")
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= record.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), line
        records.append(record)
    return records


def test_json_lines_carry_the_request_id(json_server: Server) -> None:
    with httpx.Client(base_url=json_server.base_url, timeout=10) as client:
        missing = client.get("/no-such-route", headers={"X-Request-Id": "abc-123"})
        bad = client.get("/no-such-route", headers={"X-Request-Id": "no spaces/allowed"})
        plain = client.get("/health/live")
        broken = client.get(
            "/data-exports", headers={"REB-APIKEY": json_server.key, "X-Request-Id": "boom-1"}
        )
    stderr = json_server.stop()
    records = _json_lines(stderr)

    # The caller's id comes back in the header, in the problem body and on every line.
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "abc-123"
    body = missing.json()
    assert body["requestId"] == "abc-123"
    assert list(body)[:4] == ["type", "title", "status", "detail"]
    assert list(body)[-1] == "requestId"
    ours = [r for r in records if r.get("requestId") == "abc-123"]
    access = [r for r in ours if r["logger"] == "app.access"]
    assert len(access) == 1, ours
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/no-such-route"
    assert access[0]["status"] == 404
    assert isinstance(access[0]["durationMs"], float)

    # A bad id is replaced with a new one; a request without one gets one.
    replaced = bad.headers["x-request-id"]
    assert replaced != "no spaces/allowed"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert bad.json()["requestId"] == replaced
    assert re.fullmatch(r"[0-9a-f]{32}", plain.headers["x-request-id"])
    assert not any("no spaces/allowed" in json.dumps(r) for r in records)

    # A 500: logged once, with its traceback as one field and the request id; none in the body.
    assert broken.status_code == 500
    problem = broken.json()
    assert problem["requestId"] == "boom-1"
    assert "Traceback" not in broken.text
    assert "forced failure" not in broken.text
    errors = [r for r in records if "exc" in r]
    assert len(errors) == 1, errors
    assert errors[0]["requestId"] == "boom-1"
    assert errors[0]["level"] == "ERROR"
    assert "RuntimeError: forced failure for the log test" in errors[0]["exc"]
    assert problem["correlationId"] in errors[0]["message"]
    assert sum("forced failure" in line for line in stderr.splitlines()) == 1
    boom = [r for r in records if r.get("requestId") == "boom-1"]
    assert [r["logger"] for r in boom] == ["app.rest", "app.access"], boom
    assert boom[-1]["status"] == 500

    # Every answer, the 500 of Starlette's error middleware too, carries the security headers.
    for response in (missing, bad, plain, broken):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"

    # uvicorn's own lines are JSON lines of the same shape, outside any request.
    started = [r for r in records if r["logger"].startswith("uvicorn")]
    assert any("Uvicorn running on" in r["message"] for r in started), records
    assert all("requestId" not in r for r in started)


def test_text_lines_are_plain_and_alike(text_server: Server) -> None:
    with httpx.Client(base_url=text_server.base_url, timeout=10) as client:
        response = client.get("/no-such-route", headers={"X-Request-Id": "txt-1"})
    assert response.headers["x-request-id"] == "txt-1"
    stderr = text_server.stop()
    lines = stderr.splitlines()
    assert lines[0].startswith("database: "), stderr
    shape = re.compile(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
        r"[\w.]+( \[[A-Za-z0-9._:-]+\])?: .+"
    )
    for line in lines[1:]:
        assert shape.fullmatch(line), f"{line!r}\n{stderr}"
        assert not line.startswith("{")
    assert any(" uvicorn.error: Uvicorn running on " in line for line in lines), stderr
    assert any(
        " app.access [txt-1]: GET /no-such-route 404 " in line and line.endswith(" ms")
        for line in lines
    ), stderr


async def test_a_failed_export_names_itself_its_attempt_and_its_cause(
    harness: Harness,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(harness, customers=2, transactions=5, resources=("transactions",))
    body = await create(
        harness, tenant, {"name": "Doomed", "resource": "transactions", "format": "csv"}
    )

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cannot reach postgresql://app:hunter2@db.internal/exports")

    monkeypatch.setattr(worker_module, "make_writer", broken)
    worker = make_worker(harness, worker_max_attempts=3)
    with caplog.at_level(logging.ERROR, logger="app.worker"):
        assert await worker.run_one("w1") is True
    [record] = [r for r in caplog.records if r.name == "app.worker"]
    assert record.getMessage() == (
        f"export {body['id']} failed on attempt 1 of 3: database-unavailable: ConnectionError: "
        "cannot reach postgresql://app:***@db.internal/exports"
    )
    assert record.exc_info is not None  # the traceback is kept


def test_response_headers_keep_the_apps_own_security_headers() -> None:
    """The app's own value of a security header wins; the request id always replaces the app's."""
    message = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"X-Frame-Options", b"SAMEORIGIN"), (b"x-request-id", b"from-the-app")],
    }
    headers = _response_headers(message, (b"x-request-id", b"ours"))
    assert headers == [
        (b"X-Frame-Options", b"SAMEORIGIN"),
        (b"x-request-id", b"ours"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
