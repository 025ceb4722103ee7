"""Load from a separate process: wrk, driven by bench/wrk/random.lua, and its output parsed.

A run is `invalid` when any answer was not 2xx or wrk saw any socket error (connect, read,
write, timeout): such a run measured something else than the scenario, so it gives no figure.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "wrk" / "random.lua"
MARK = "WRK_RESULT "
SOCKET_ERRORS = ("connect", "read", "write", "timeout")


@dataclass(frozen=True)
class Load:
    """One wrk run: throughput, latency and everything that makes it invalid."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def problems(self) -> list[str]:
        found = [f"{self.non2xx} non-2xx"] if self.non2xx else []
        found += [f"{n} socket {kind} errors" for kind, n in self.socket_errors.items() if n]
        if not self.requests:
            found.append("no requests completed")
        return found

    @property
    def valid(self) -> bool:
        return not self.problems


def parse(output: str) -> Load:
    """wrk's standard output with random.lua's `WRK_RESULT {json}` line in it."""
    for line in output.splitlines():
        if line.startswith(MARK):
            data = json.loads(line[len(MARK) :])
            break
    else:
        raise ValueError(f"no {MARK.strip()} line in wrk's output:\n{output[-2000:]}")
    # wrk's own count of status >= 400 ("Non-2xx or 3xx responses") must agree with ours.
    text = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    non2xx = max(data["non2xx"], data["status"], int(text.group(1)) if text else 0)
    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non2xx=non2xx,
        socket_errors={kind: data[kind] for kind in SOCKET_ERRORS},
    )


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "wrk not found: install Debian's package (`apt-get install wrk`); `make bench` does"
        )
    return found


def run(
    base_url: str,
    *,
    ids_file: Path,
    path: str,
    method: str = "GET",
    body_file: Path | None = None,
    headers: dict[str, str] | None = None,
    seconds: float = 10,
    connections: int = 16,
    threads: int = 1,
) -> Load:
    """`wrk` for `seconds` against `base_url` + `path` ("{id}" → a random id of `ids_file`)."""
    command = [wrk_path(), "-t", str(threads), "-c", str(connections)]
    command += ["-d", f"{max(1, round(seconds))}s", "--timeout", "10s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += ["-s", str(SCRIPT), base_url, "--", str(ids_file), method, path]
    command += [str(body_file)] if body_file else []
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr}{result.stdout}")
    return parse(result.stdout)
