"""The servers a benchmark run measures, each in its own process, all stopped together.

The gateway is `python -m app serve` (uvicorn, N workers); the ceiling is bench/ceiling.py
(uvicorn, one worker); PostGraphile 4 runs from bench/postgraphile/node_modules under node.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
POSTGRAPHILE = BENCH / "postgraphile" / "node_modules" / "postgraphile" / "cli.js"
PEPPER = "bench-pepper"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Servers(contextlib.ExitStack):
    """Starts servers on free ports, waits until each answers, stops them all on exit."""

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir

    def _start(self, name: str, command: list[str], ready: str, env: dict[str, str]) -> str:
        port = free_port()
        command = [part.replace("{port}", str(port)) for part in command]
        log = self.workdir / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        self.callback(stop, process)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()}")
            try:
                httpx.get(base_url + ready, timeout=2)
                return base_url
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    why = f"{name} did not answer in 60 s:\n{log.read_text()}"
                    raise RuntimeError(why) from None
                time.sleep(0.1)

    def gateway(self, name: str, database_url: str, workers: int = 1) -> str:
        env = {
            **os.environ,
            "APP_ENV": "development",
            "VAR_DIR": str(self.workdir / f"var-{name}"),
            "DATABASE_URL": database_url,
            "API_KEY_PEPPER": PEPPER,
            "SIGNING_SECRET": "bench-signing-secret",
            "WORKER_MODE": "off",
            "LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", "{port}"]
        return self._start(name, [*command, "--workers", str(workers)], "/health/live", env)

    def ceiling(self, name: str, url: str, organization: str) -> str:
        command = [sys.executable, str(BENCH / "ceiling.py"), "--url", url]
        command += ["--organization", organization, "--port", "{port}"]
        return self._start(name, command, "/ceiling/data-exports?limit=1", dict(os.environ))

    def postgraphile(self, name: str, url: str) -> str:
        if not POSTGRAPHILE.exists():
            raise RuntimeError("no PostGraphile: run bash bench/postgraphile/install.sh")
        command = ["node", str(POSTGRAPHILE), "--connection", url, "--schema", "public"]
        command += ["--host", "127.0.0.1", "--port", "{port}", "--disable-query-log"]
        command += ["--no-ignore-rbac", "--disable-default-mutations"]
        env = {**os.environ, "NODE_ENV": "production"}
        return self._start(name, command, "/graphql", env)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
