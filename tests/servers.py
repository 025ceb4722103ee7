"""`python -m app …` as separate processes, for the tests that drive a real server over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import run_cli


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    result = run_cli(args, env, cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def cli_env(database_url: str, var_dir: Path, **settings: str) -> dict[str, str]:
    """A clean environment for the CLI: only what a shell needs, plus the given settings."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, "DATABASE_URL": database_url, "VAR_DIR": str(var_dir), **settings}


@contextmanager
def serving(
    env: dict[str, str], cwd: Path, log: Path, *args: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m app serve [args]` on a free port until /health/live answers; stopped
    (SIGTERM, then SIGKILL) on exit. Yields its base URL and process; its output goes to `log`."""
    port = free_port()
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", *serve],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(f"{base_url}/health/live", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
