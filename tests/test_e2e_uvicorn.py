"""End to end over real HTTP: `python -m app serve` in its own process, driven with httpx."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.servers import cli, cli_env, serving


class Server:
    def __init__(self, base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base_url = base_url
        self.process = process
        self.log = log


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    env = cli_env(
        f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
        tmp_path / "var",
        WORKER_MODE="off",
        LOG_LEVEL="INFO",
    )
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cli(["migrate"], env, cwd)
    key = cli(["create-api-key", "--organization", "e2e", "--user", "e2e@example.com"], env, cwd)
    log = tmp_path / "server.log"
    with serving(env, cwd, log) as (base_url, process):
        yield Server(base_url, process, log), key.strip().splitlines()[-1]


def test_crud_over_real_http(server: tuple[Server, str]) -> None:
    srv, key = server
    headers = {"REB-APIKEY": key}
    payload = {"name": "Over HTTP", "resource": "transactions", "format": "csv"}
    with httpx.Client(base_url=srv.base_url, headers=headers, timeout=10) as client:
        created = client.post("/data-exports", json=payload)
        assert created.status_code == 201, created.text
        export = created.json()
        location = created.headers["location"]
        assert location == f"{srv.base_url}/data-exports/{export['id']}"
        assert created.headers["x-ratelimit-limit"]

        fetched = client.get(location)
        assert fetched.status_code == 200
        assert fetched.json() == export
        assert fetched.headers["pagination-total"] == "1"

        replaced = client.put(
            f"/organizations/e2e/data-exports/{export['id']}/", json={**payload, "format": "xml"}
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["format"] == "xml"
        assert replaced.json()["_links"][0]["href"] == location

        chosen = client.put("/experimental/data-exports/e2e-chosen", json=payload)
        assert chosen.status_code == 201
        assert chosen.headers["location"] == f"{srv.base_url}/data-exports/e2e-chosen"

        listed = client.get("/data-exports?sort=name&expand=user")
        assert listed.status_code == 200
        assert listed.headers["pagination-total"] == "2"
        assert all(
            item["_embedded"]["user"]["email"] == "e2e@example.com" for item in listed.json()
        )

        deleted = client.delete(f"/data-exports/{export['id']}")
        assert deleted.status_code == 204
        assert deleted.content == b""

        missing = client.get(location)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert missing.json()["status"] == 404
        assert {"type", "title", "detail"} <= set(missing.json())

        wrong_method = client.patch("/data-exports")
        assert wrong_method.status_code == 405
        assert "GET" in wrong_method.headers["allow"]
        unknown = client.get("/nowhere")
        assert unknown.status_code == 404
        assert unknown.json()["status"] == 404
        assert client.get("/data-exports", headers={"REB-APIKEY": "nope"}).status_code == 401

    srv.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert srv.process.wait(timeout=20) in (0, -signal.SIGTERM)
    output = srv.log.read_text()
    assert "Traceback" not in output
    assert "Application shutdown complete" in output


async def test_websocket_messages_are_held_to_the_body_limit(server: tuple[Server, str]) -> None:
    """`serve` caps WebSocket messages at 1 MiB like HTTP bodies: a bigger `connection_init`
    closes the socket (1009) before it is parsed, with or without credentials."""
    running, key = server
    url = running.base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        small = {"type": "connection_init", "payload": {"REB-APIKEY": key, "pad": "x" * 1000}}
        await ws.send(json.dumps(small))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
    async with connect(url, subprotocols=["graphql-transport-ws"], max_size=None) as ws:
        huge = {"type": "connection_init", "payload": {"pad": "x" * (2 * 1024 * 1024)}}
        await ws.send(json.dumps(huge))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
