"""Soak: real processes, SIGKILLed workers and DELETEs timed around publishes; afterwards the
storage directory must hold exactly the files the database owns, each with its sha256.

`python -m tests.soak [--database sqlite|postgres] [--exports N] [--workers K] [--kills S]
[--deletes D] [--seed N]` (`make soak` runs the full size on both databases); tests/test_soak.py
runs a short fixed-seed pass. Everything is observed from outside: a fresh database migrated and
seeded by `python -m app`, one `serve` process, K `worker` processes (each SIGKILLed one is
replaced by a new one), the REST API, the database tables and the storage directory.

Deletes are timed by a strategy drawn per export (seeded):

- `queued`: right after the POST answers, usually before a worker claims it;
- `processing`: when the database shows it claimed, after 0-250 ms;
- `partial`: when its `.partial-*.tmp` file has reached 5-80 % of its estimated final size;
- `near-end`: when that file has reached 90-100 % of the estimate, so the DELETE is in flight
  while the worker renames and commits;
- `publish`: the moment its published (non-partial) file appears, i.e. between the rename and
  the worker's commit, or just after it;
- `completed`: once the database shows it completed (the plain path).

A partial or published file is mapped to its export by content: every transactions export asks
for its own order of fields, which its first record shows (CSV header, JSON keys, XML elements).
A delete whose moment never came (the export completed first) is sent on completion and counted
as a fallback.

Kills: S times, once a drawn share (3-85 %) of the exports is done and a drawn 0-0.5 s later, the
worker in a drawn slot gets SIGKILL and a replacement starts; /proc tells whether it had a
`.partial` file open. When every export is completed or deleted, all workers but one stop, that
one runs WORKER_LEASE_SECONDS + 2 x WORKER_SWEEP_SECONDS + 1 s more (its sweeper's window), then
every process stops and the check runs. Bad figures (any above 0 fails): exports lost (missing
or failed) or stuck, deleted exports still there, `.partial` files left, files no
`export_files.storage_key` names, rows whose file is missing or whose size or sha256 differs,
file rows of no export, completed exports without their file row, unexpected HTTP answers,
workers that died by themselves. A seed replays the plan (exports, fields, formats, strategies,
kill moments and slots); the processes' timing is the machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.exports.storage import STAMP

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ORGANIZATION = "demo"
PARTIAL_NAME = re.compile(r"\.partial-.*\.tmp\Z")

# Top-level transaction fields whose order identifies an export's file ("id" and "type" are
# left out: JSON:API writes its own `id` and `type` members).
SIGNATURE_FIELDS = (
    "customerId",
    "invoiceId",
    "status",
    "result",
    "amount",
    "currency",
    "gatewayName",
    "description",
    "processedTime",
    "createdTime",
    "updatedTime",
)
_SIGNATURE_SET = frozenset(SIGNATURE_FIELDS)
EXTRA_FIELDS = (
    "id",
    "type",
    "paymentInstrument/method",
    "billingAddress/firstName",
    "billingAddress/lastName",
    "billingAddress/country",
)
PDF_FIELDS = ("id", "email", "firstName", "lastName", "primaryAddress/country")
FORMAT_WEIGHTS = {"csv": 30, "json": 25, "xml": 20, "json-api": 20, "pdf": 5}
STRATEGY_WEIGHTS = {
    "queued": 1,
    "processing": 2,
    "partial": 2,
    "near-end": 3,
    "publish": 3,
    "completed": 1,
}
PDF_STRATEGIES = ("queued", "processing", "completed")
_JSON_KEY = re.compile(rb'"([A-Za-z]+)":')
_XML_TAG = re.compile(rb"<([A-Za-z]+)/?>")
HEAD_BYTES = 16_384
WATCH_SECONDS = 0.002
POLL_SECONDS = 0.05
CREATE_IN_FLIGHT = 8


@dataclass(frozen=True)
class SoakConfig:
    database: str = "sqlite"
    exports: int = 200
    workers: int = 4
    kills: int = 10
    deletes: int = 100
    seed: int = 0
    transactions: int = 20_000
    customers: int = 2_000
    concurrency: int = 2
    lease_seconds: int = 3
    sweep_seconds: float = 0.5
    drain_seconds: float = 240.0
    postgres_url: str = DEFAULT_PG_URL
    app_dir: Path = REPO  # the checkout whose `app` package the processes run
    keep: bool = False
    progress: bool = False


# --- the plan: everything random is drawn here, from the seed ------------------------------


@dataclass(frozen=True)
class PlannedExport:
    index: int
    body: dict[str, Any]
    signature: tuple[str, ...] | None  # None: PDF, not recognisable by content
    strategy: str | None  # None: never deleted
    threshold: float  # size fraction (partial, near-end) or delay in seconds (processing)


@dataclass(frozen=True)
class PlannedKill:
    after_terminal: float  # once this many tracked exports are done...
    jitter: float  # ...wait this long (seconds), then...
    slot: int  # ...SIGKILL the worker in this slot


@dataclass(frozen=True)
class Plan:
    exports: list[PlannedExport]
    kills: list[PlannedKill]


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def make_plan(config: SoakConfig) -> Plan:
    rng = random.Random(config.seed)
    formats = [_weighted(rng, FORMAT_WEIGHTS) for _ in range(config.exports)]
    if config.exports >= 10 and "pdf" not in formats:
        formats[rng.randrange(config.exports)] = "pdf"
    doomed = set(rng.sample(range(config.exports), min(config.deletes, config.exports)))
    used: set[tuple[str, ...]] = set()
    exports: list[PlannedExport] = []
    for index, fmt in enumerate(formats):
        signature: tuple[str, ...] | None = None
        if fmt == "pdf":
            fields = rng.sample(PDF_FIELDS, rng.randint(2, 3))
            body: dict[str, Any] = {"resource": "customers", "fields": fields}
        else:
            while signature is None or signature in used:
                signature = tuple(rng.sample(SIGNATURE_FIELDS, rng.randint(3, 7)))
            used.add(signature)
            fields = list(signature)
            for extra in rng.sample(EXTRA_FIELDS, rng.randint(0, 3)):
                fields.insert(rng.randint(0, len(fields)), extra)
            body = {"resource": "transactions", "fields": fields}
        body = {"name": f"soak {index}", "format": fmt, **body}
        strategy: str | None = None
        threshold = 0.0
        if index in doomed:
            if fmt == "pdf":
                strategy = rng.choice(PDF_STRATEGIES)
            else:
                strategy = _weighted(rng, STRATEGY_WEIGHTS)
            if strategy == "processing":
                threshold = rng.uniform(0.0, 0.25)
            elif strategy == "partial":
                threshold = rng.uniform(0.05, 0.8)
            elif strategy == "near-end":
                threshold = rng.uniform(0.9, 1.0)
        exports.append(PlannedExport(index, body, signature, strategy, threshold))
    kills = sorted(
        (
            PlannedKill(
                after_terminal=rng.uniform(0.03, 0.85) * config.exports,
                jitter=rng.uniform(0.0, 0.5),
                slot=rng.randrange(config.workers),
            )
            for _ in range(config.kills)
        ),
        key=lambda k: k.after_terminal,
    )
    return Plan(exports, kills)


# --- reading an export file's first bytes ----------------------------------------------------


@dataclass(frozen=True)
class Head:
    signature: tuple[str, ...]
    header_bytes: int
    record_bytes: float  # average size of one record


def read_head(data: bytes) -> Head | None:
    """The field order and record size a file's first bytes show; None when they show too
    little (fewer than 5 whole records) or the format cannot tell (PDF)."""
    if data.startswith(b"%PDF"):
        return None
    lines = data.split(b"\n")[:-1]  # the last piece may be cut short
    if data.startswith(b"<?xml"):
        header, pattern = 2, _XML_TAG
    elif data.startswith((b"[", b'{"data"')):
        header, pattern = 1, _JSON_KEY
    else:  # CSV: the header row names the fields
        header, pattern = 1, None
    records = lines[header:]
    if len(records) < 5:
        return None
    if pattern is None:
        names = [n.strip().decode("utf-8", "replace") for n in lines[0].split(b",")]
    else:
        names = [n.decode() for n in pattern.findall(records[0])]
    signature = tuple(dict.fromkeys(n for n in names if n in _SIGNATURE_SET))
    return Head(
        signature=signature,
        header_bytes=sum(len(line) + 1 for line in lines[:header]),
        record_bytes=sum(len(line) + 1 for line in records) / len(records),
    )


def _read_prefix(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(HEAD_BYTES)
    except (FileNotFoundError, IsADirectoryError):
        return None


def open_partials(pid: int, storage: Path) -> int:
    """How many `.partial-*` files of `storage` the process has open (Linux /proc; else 0)."""
    prefix = os.path.join(os.path.realpath(storage), ".partial-")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    count = 0
    for fd in fds:
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix)
    return count


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(
    config: SoakConfig, database_url: str, var_dir: Path, storage: Path
) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        APP_ENV="development",
        PYTHONPATH=str(config.app_dir),
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url,
        VAR_DIR=str(var_dir),
        STORAGE_DIR=str(storage),
        LOG_LEVEL="INFO",
        WORKER_MODE="off",
        WORKER_LEASE_SECONDS=str(config.lease_seconds),
        WORKER_SWEEP_SECONDS=str(config.sweep_seconds),
        WORKER_POLL_SECONDS="0.05",
        WORKER_MAX_ATTEMPTS="100",
        WORKER_RETRY_BASE_SECONDS="0",
        RATE_LIMIT_WRITES="1000000",
    )
    return env


def run_app(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> str:
    """`python -m app ARGS`; its stdout, or an error carrying its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"`python -m app {' '.join(args)}` failed:\n{result.stderr[-3000:]}")
    return result.stdout


class Fleet:
    """The server and the worker slots; every process is ours, stopped by its own pid."""

    def __init__(self, env: dict[str, str], cwd: Path, logs: Path, concurrency: int) -> None:
        self.env = env
        self.cwd = cwd
        self.logs = logs
        self.concurrency = concurrency
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.started = 0

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with (self.logs / log_name).open("wb") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "app", *args],
                env=self.env,
                cwd=self.cwd,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def start_server(self, port: int) -> None:
        self.server = self._spawn(
            ["serve", "--host", "127.0.0.1", "--port", str(port)], "server.log"
        )

    def wait_ready(self, base_url: str, within: float = 60) -> None:
        assert self.server is not None
        deadline = time.monotonic() + within
        while True:
            if self.server.poll() is not None:
                raise RuntimeError("server exited:\n" + self.log_tail("server.log"))
            try:
                httpx.get(f"{base_url}/data-exports", timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def start_worker(self, slot: int) -> None:
        self.started += 1
        self.workers[slot] = self._spawn(
            ["worker", "--concurrency", str(self.concurrency)],
            f"worker-{slot}-{self.started}.log",
        )

    def kill_worker(self, slot: int) -> int:
        """SIGKILL the slot's worker, reap it and start a replacement; returns the dead pid."""
        process = self.workers[slot]
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        self.start_worker(slot)
        return process.pid

    def dead_workers(self) -> list[int]:
        return [slot for slot, p in self.workers.items() if p.poll() is not None]

    @staticmethod
    def stop(process: subprocess.Popen[bytes], within: float = 60) -> None:
        """SIGTERM (a worker finishes its export), then SIGKILL if it does not exit in time."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=within)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def stop_workers(self, keep: int = 0) -> None:
        slots = sorted(self.workers)[keep:]
        for slot in slots:
            if self.workers[slot].poll() is None:
                self.workers[slot].send_signal(signal.SIGTERM)
        for slot in slots:
            self.stop(self.workers[slot])

    def close(self) -> None:
        processes = [*self.workers.values(), *([self.server] if self.server else [])]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / name
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def count_in_logs(self, needle: str) -> int:
        return sum(p.read_text(errors="replace").count(needle) for p in self.logs.glob("*.log"))


# --- the driver -------------------------------------------------------------------------------


@dataclass
class Tracked:
    plan: PlannedExport
    id: str | None = None
    status: str | None = None  # as last polled from the database
    seen: bool = False
    gone: bool = False  # seen once, then no longer in the database
    estimate: float | None = None  # expected final file size, from a partial's first bytes
    published_at: float | None = None
    scheduled: bool = False  # a delayed delete is waiting
    delete_sent_at: float | None = None
    delete_via: str | None = None
    delete_status: int | None = None  # HTTP status; -1 for a transport error

    def done(self) -> bool:
        if self.delete_sent_at is not None:
            return self.delete_status is not None
        return self.gone or self.status in ("completed", "failed")


@dataclass
class Report:
    config: SoakConfig
    figures: dict[str, int] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.bad.values())

    def table(self) -> str:
        c = self.config
        out = [
            f"soak on {c.database}: seed={c.seed} exports={c.exports} workers={c.workers}"
            f"x{c.concurrency} kills={c.kills} deletes={c.deletes}"
            f" transactions={c.transactions} lease={c.lease_seconds}s sweep={c.sweep_seconds}s",
            f"{'figure':<38} {'value':>7}",
            f"{'-' * 38} {'-' * 7}",
        ]
        for name, value in self.figures.items():
            note = self.notes.get(name, "")
            out.append(f"{name:<38} {value:>7}  {note}".rstrip())
        for name, value in self.bad.items():
            flag = "  BAD" if value else ""
            note = self.notes.get(name, "")
            out.append(f"{name:<38} {value:>7}{flag}  {note}".rstrip())
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        out.append(f"time: {timing}")
        verdict = "PASS" if self.ok else "FAIL"
        out.append(
            f"{verdict} (replay: python -m tests.soak --database {c.database} --seed {c.seed}"
        )
        out[-1] += f" --exports {c.exports} --workers {c.workers} --kills {c.kills}"
        out[-1] += f" --deletes {c.deletes} --transactions {c.transactions})"
        return "\n".join(out)


class Driver:
    def __init__(
        self,
        config: SoakConfig,
        plan: Plan,
        fleet: Fleet,
        database_url: str,
        base_url: str,
        key: str,
        storage: Path,
    ) -> None:
        self.config = config
        self.plan = plan
        self.fleet = fleet
        self.database_url = database_url
        self.base_url = base_url
        self.key = key
        self.storage = storage
        self.tracked = [Tracked(p) for p in plan.exports]
        self.by_id: dict[str, Tracked] = {}
        self.by_signature = {t.plan.signature: t for t in self.tracked if t.plan.signature}
        self.partials: dict[str, Tracked | None] = {}  # partial name -> its export, if known
        self.published: set[str] = set()
        self.deletes: set[asyncio.Task[None]] = set()
        self.kills_done = 0
        self.kills_writing = 0  # kills of a worker with a .partial file open
        self.http_errors: Counter[str] = Counter()
        self.died = 0  # workers that exited without being killed
        self.started = time.monotonic()

    # - deletes -

    def _fire(self, tracked: Tracked, via: str, client: httpx.AsyncClient) -> None:
        if tracked.delete_sent_at is not None or tracked.id is None:
            return
        tracked.delete_sent_at = time.monotonic()
        tracked.delete_via = via
        self._track(self._delete(tracked, client))

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.deletes.add(task)
        task.add_done_callback(self.deletes.discard)

    async def _delete(self, tracked: Tracked, client: httpx.AsyncClient) -> None:
        try:
            response = await client.delete(f"/data-exports/{tracked.id}")
            tracked.delete_status = response.status_code
        except httpx.HTTPError:
            tracked.delete_status = -1
        if tracked.delete_status != 204:
            self.http_errors[f"DELETE {tracked.delete_status}"] += 1

    async def _delete_later(
        self, tracked: Tracked, delay: float, client: httpx.AsyncClient
    ) -> None:
        await asyncio.sleep(delay)
        self._fire(tracked, "processing", client)

    # - creating -

    async def _create(self, tracked: Tracked, client: httpx.AsyncClient) -> None:
        try:
            response = await client.post("/data-exports", json=tracked.plan.body)
        except httpx.HTTPError as exc:
            self.http_errors[f"POST {type(exc).__name__}"] += 1
            return
        if response.status_code != 201:
            self.http_errors[f"POST {response.status_code}"] += 1
            return
        tracked.id = str(response.json()["id"])
        self.by_id[tracked.id] = tracked
        if tracked.plan.strategy == "queued":
            self._fire(tracked, "queued", client)

    async def _create_all(self, client: httpx.AsyncClient) -> None:
        """POSTs in plan order, CREATE_IN_FLIGHT at a time (a POST can wait seconds for
        SQLite's write lock while workers write)."""
        pending = iter(self.tracked)

        async def lane() -> None:
            for tracked in pending:
                await self._create(tracked, client)

        await asyncio.gather(*(lane() for _ in range(CREATE_IN_FLIGHT)))

    # - watching the storage directory -

    def _scan(self) -> list[tuple[str, int, bool]]:
        """(name, size, is_partial) of every entry; sizes only for partials."""
        found: list[tuple[str, int, bool]] = []
        try:
            with os.scandir(self.storage) as entries:
                for entry in entries:
                    partial = bool(PARTIAL_NAME.match(entry.name))
                    size = 0
                    if partial:
                        try:
                            size = entry.stat().st_size
                        except FileNotFoundError:
                            continue
                    found.append((entry.name, size, partial))
        except FileNotFoundError:
            pass
        return found

    def _identify(self, name: str) -> tuple[Tracked | None, bool]:
        """The export whose file this is, and whether the answer is final."""
        data = _read_prefix(self.storage / name)
        if data is None:
            return None, True
        head = read_head(data)
        if head is None:
            return None, data.startswith(b"%PDF")
        tracked = self.by_signature.get(head.signature)
        if tracked is not None and tracked.estimate is None:
            rows = self.config.transactions
            tracked.estimate = head.header_bytes + head.record_bytes * rows
        return tracked, True

    async def _watch(self, client: httpx.AsyncClient) -> None:
        while True:
            for name, size, partial in self._scan():
                if partial:
                    if name not in self.partials:
                        if size < 256:
                            continue
                        owner, final = self._identify(name)
                        if not final:
                            continue
                        self.partials[name] = owner
                    owner = self.partials[name]
                    if owner is None or owner.estimate is None:
                        continue
                    strategy = owner.plan.strategy
                    due = size >= owner.plan.threshold * owner.estimate
                    if strategy in ("partial", "near-end") and due:
                        self._fire(owner, strategy, client)
                elif name not in self.published:
                    self.published.add(name)
                    owner, _ = self._identify(name)  # its content says whose it is
                    if owner is None:
                        continue
                    if owner.published_at is None:
                        owner.published_at = time.monotonic()
                    if owner.plan.strategy in ("publish", "near-end"):  # near-end: not reached
                        self._fire(owner, owner.plan.strategy, client)
            await asyncio.sleep(WATCH_SECONDS)

    # - polling the database -

    async def _poll_once(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT id, status FROM data_exports WHERE organization_id = :org"),
                    {"org": ORGANIZATION},
                )
            ).all()
        statuses = {str(r[0]): str(r[1]) for r in rows}
        for export_id, tracked in list(self.by_id.items()):
            status = statuses.get(export_id)
            if status is None:
                tracked.gone = tracked.seen
            else:
                tracked.seen, tracked.status = True, status

    async def _poll(self, engine: AsyncEngine, client: httpx.AsyncClient) -> None:
        while True:
            await self._poll_once(engine)
            for tracked in self.by_id.values():
                strategy = tracked.plan.strategy
                if strategy is None or tracked.delete_sent_at is not None:
                    continue
                if strategy == "processing" and tracked.status == "processing":
                    if not tracked.scheduled:
                        tracked.scheduled = True
                        self._track(self._delete_later(tracked, tracked.plan.threshold, client))
                elif tracked.status == "completed":
                    via = "completed" if strategy == "completed" else "fallback"
                    self._fire(tracked, via, client)
            await asyncio.sleep(POLL_SECONDS)

    # - kills -

    def _kill(self, slot: int) -> None:
        writing = open_partials(self.fleet.workers[slot].pid, self.storage)
        self.fleet.kill_worker(slot)
        self.kills_done += 1
        self.kills_writing += int(writing > 0)

    # - the run -

    def _done(self) -> int:
        return sum(t.done() for t in self.tracked if t.id is not None)

    def _progress(self) -> str:
        c = Counter(t.status for t in self.tracked if t.id and t.delete_sent_at is None)
        deleted = sum(t.delete_status == 204 for t in self.tracked)
        return (
            f"[{time.monotonic() - self.started:6.1f}s] created {len(self.by_id)}"
            f" done {self._done()} deleted {deleted} kills {self.kills_done}"
            f" files {len(self.published)} statuses {dict(c)}"
        )

    async def run(self) -> Report:
        report = Report(self.config)
        engine = create_async_engine(self.database_url)
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(
            base_url=self.base_url,
            headers={"REB-APIKEY": self.key},
            timeout=60,
            limits=limits,
        ) as client:
            watcher = asyncio.create_task(self._watch(client))
            poller = asyncio.create_task(self._poll(engine, client))
            try:
                await self._supervise(client, engine, report, (watcher, poller))
                await self._settle(report)
            finally:
                for task in (watcher, poller, *self.deletes):
                    task.cancel()
                await asyncio.gather(watcher, poller, *self.deletes, return_exceptions=True)
        try:
            await self._check(engine, report)
        finally:
            await engine.dispose()
        return report

    async def _supervise(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        report: Report,
        observers: tuple[asyncio.Task[None], ...],
    ) -> None:
        creating = asyncio.create_task(self._create_all(client))
        kills = list(self.plan.kills)
        kill_at: float | None = None
        drain_deadline: float | None = None
        last_progress = time.monotonic()
        while True:
            now = time.monotonic()
            for observer in observers:  # the watcher and the poller never end by themselves
                if observer.done():
                    observer.result()
                    raise RuntimeError("a soak observer stopped")
            if creating.done() and drain_deadline is None:
                await creating
                drain_deadline = now + self.config.drain_seconds
                report.seconds["create"] = now - self.started
            done = self._done()
            finished = done == len(self.by_id) and not self.deletes
            if kills and kill_at is None and (done >= kills[0].after_terminal or finished):
                kill_at = now + kills[0].jitter  # (finished first: only when POSTs failed)
            if kills and kill_at is not None and now >= kill_at:
                self._kill(kills.pop(0).slot)
                kill_at = None
            for slot in self.fleet.dead_workers():  # a worker that died by itself
                self.died += 1
                self.fleet.start_worker(slot)
            if self.config.progress and now - last_progress >= 10:
                print(self._progress(), file=sys.stderr, flush=True)
                last_progress = now
            if drain_deadline is not None and finished and not kills:
                break
            if drain_deadline is not None and now > drain_deadline:
                print(f"soak: drain deadline passed: {self._progress()}", file=sys.stderr)
                break
            await asyncio.sleep(0.02)
        if self.deletes:
            await asyncio.wait(list(self.deletes), timeout=60)
        await self._poll_once(engine)
        report.seconds["drive"] = time.monotonic() - self.started

    async def _settle(self, report: Report) -> None:
        """One worker stays alive long enough for its sweeper; then everything stops."""
        began = time.monotonic()
        self.fleet.stop_workers(keep=1)
        await asyncio.sleep(self.config.lease_seconds + 2 * self.config.sweep_seconds + 1.0)
        self.fleet.stop_workers(keep=0)
        if self.fleet.server is not None:
            self.fleet.stop(self.fleet.server)
        report.seconds["settle"] = time.monotonic() - began

    async def _check(self, engine: AsyncEngine, report: Report) -> None:
        began = time.monotonic()
        async with engine.connect() as conn:
            exports = {
                str(r[0]): (str(r[1]), r[2])
                for r in (
                    await conn.execute(
                        text(
                            "SELECT id, status, file_id FROM data_exports "
                            "WHERE organization_id = :o"
                        ),
                        {"o": ORGANIZATION},
                    )
                ).all()
            }
            files = (
                await conn.execute(
                    text(
                        "SELECT f.id, f.storage_key, f.size, f.sha256, e.pk "
                        "FROM export_files f LEFT JOIN data_exports e ON e.pk = f.export_pk"
                    )
                )
            ).all()
        check = check_storage(self.storage, [(str(f[1]), int(f[2]), str(f[3])) for f in files])
        file_ids = {str(f[0]) for f in files}

        created = [t for t in self.tracked if t.id is not None]
        deleted = [t for t in created if t.delete_status == 204]
        kept = [t for t in created if t.delete_status != 204]
        final = {t.id: exports.get(t.id or "") for t in created}
        status = {t.id: (final[t.id] or ("missing",))[0] for t in created}
        completed = [t for t in kept if status[t.id] == "completed"]
        lost = [t for t in kept if status[t.id] in ("missing", "failed")]
        stuck = [t for t in kept if status[t.id] not in ("completed", "missing", "failed")]
        vias = Counter(t.delete_via for t in deleted)
        near = sum(
            t.published_at is not None
            and t.delete_sent_at is not None
            and abs(t.delete_sent_at - t.published_at) <= 0.1
            for t in deleted
        )
        report.figures.update(
            {
                "exports created": len(created),
                "exports deleted (204)": len(deleted),
                "exports completed": len(completed),
                "deletes within 100 ms of a publish": near,
                "worker kills (SIGKILL)": self.kills_done,
                "kills mid-write (a .partial open)": self.kills_writing,
                "worker processes started": self.fleet.started,
                "files in storage": check.entries,
                "file rows checked": len(files),
                "tracebacks in logs": self.fleet.count_in_logs("Traceback"),
            }
        )
        report.notes["exports deleted (204)"] = ", ".join(
            f"{via} {vias[via]}" for via in (*STRATEGY_WEIGHTS, "fallback") if vias[via]
        )
        completed_without_file = sum(
            1 for t in completed if (final[t.id] or ("", None))[1] not in file_ids
        )
        report.bad.update(
            {
                "exports lost (missing or failed)": len(lost),
                "exports stuck (not finished)": len(stuck),
                "exports deleted but still there": sum(final[t.id] is not None for t in deleted),
                "completed exports without a file row": completed_without_file,
                "partial files left": check.partials,
                "files no row owns": check.unowned,
                "rows whose file is missing": check.missing,
                "rows whose sha256 or size differs": check.mismatched,
                "file rows of no export": sum(f[4] is None for f in files),
                "unexpected HTTP answers": sum(self.http_errors.values()),
                "workers that exited on their own": self.died,
            }
        )
        if lost or stuck:
            states = Counter(status[t.id] for t in (*lost, *stuck))
            report.notes["exports stuck (not finished)"] = str(dict(states))
        if self.http_errors:
            report.notes["unexpected HTTP answers"] = str(dict(self.http_errors))
        report.seconds["check"] = time.monotonic() - began


# --- the storage check -----------------------------------------------------------------------


@dataclass(frozen=True)
class StorageCheck:
    entries: int
    partials: int
    unowned: int
    missing: int
    mismatched: int


def check_storage(storage: Path, rows: Sequence[tuple[str, int, str]]) -> StorageCheck:
    """Every entry is a row's file or a `.partial-*.tmp` (or the directory's database stamp);
    every row's file is there, whole."""
    names = sorted(p.name for p in storage.iterdir() if p.name != STAMP) if storage.is_dir() else []
    keys = {key for key, _, _ in rows}
    partials = sum(bool(PARTIAL_NAME.match(n)) for n in names)
    unowned = sum(not PARTIAL_NAME.match(n) and n not in keys for n in names)
    missing = mismatched = 0
    for key, size, sha256 in rows:
        path = storage / key
        if "/" in key or key.startswith(".") or not path.is_file():
            missing += 1
        elif path.stat().st_size != size or _sha256(path) != sha256:
            mismatched += 1
    return StorageCheck(len(names), partials, unowned, missing, mismatched)


# --- databases -------------------------------------------------------------------------------


def _asyncpg(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg")


async def _admin(admin: URL, statement: str) -> None:
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def create_postgres_database(admin_url: str, seed: int) -> tuple[str, str]:
    """A fresh database on the server of `admin_url`: (its name, its URL)."""
    admin = _asyncpg(admin_url)
    name = f"soak_{seed}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    return name, admin.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin_url: str, name: str) -> None:
    asyncio.run(_admin(_asyncpg(admin_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- one run ---------------------------------------------------------------------------------


def run_soak(config: SoakConfig) -> Report:
    """Set up, drive, check and tear down one soak; every process and directory goes after."""
    began = time.monotonic()
    plan = make_plan(config)
    workdir = Path(tempfile.mkdtemp(prefix=f"soak-{config.database}-"))
    var_dir, storage, logs = workdir / "var", workdir / "files", workdir / "logs"
    logs.mkdir()
    database_name: str | None = None
    fleet: Fleet | None = None
    try:
        if config.database == "postgres":
            database_name, url = create_postgres_database(config.postgres_url, config.seed)
        elif config.database == "sqlite":
            url = f"sqlite+aiosqlite:///{workdir / 'soak.db'}"
        else:
            raise ValueError(f"unknown database {config.database!r}")
        env = child_env(config, url, var_dir, storage)
        run_app(["migrate"], env, workdir)
        run_app(
            [
                "seed-demo",
                "--quiet",
                "--transactions",
                str(config.transactions),
                "--customers",
                str(config.customers),
            ],
            env,
            workdir,
        )
        key_args = ["create-api-key", "--organization", ORGANIZATION, "--user", "soak@example.com"]
        key = run_app(key_args, env, workdir).strip().splitlines()[-1]
        setup = time.monotonic() - began

        fleet = Fleet(env, workdir, logs, config.concurrency)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        fleet.start_server(port)
        for slot in range(config.workers):
            fleet.start_worker(slot)
        fleet.wait_ready(base_url)
        if config.progress:
            print(f"soak: set up in {setup:.1f}s; driving {base_url}", file=sys.stderr)
        driver = Driver(config, plan, fleet, url, base_url, key, storage)
        report = asyncio.run(driver.run())
        report.seconds = {"setup": setup, **report.seconds}
        report.seconds["total"] = time.monotonic() - began
        report.seconds["driver cpu"] = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        if config.keep:
            report.notes["tracebacks in logs"] = f"logs in {logs}"
        return report
    finally:
        if fleet is not None:
            fleet.close()
        if database_name is not None:
            drop_postgres_database(config.postgres_url, database_name)
        if config.keep:
            print(f"soak: kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    defaults = SoakConfig()
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default=defaults.database)
    parser.add_argument("--exports", type=int, default=defaults.exports)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--kills", type=int, default=defaults.kills)
    parser.add_argument("--deletes", type=int, default=defaults.deletes)
    parser.add_argument("--seed", type=int, default=None, help="default: the clock (printed)")
    parser.add_argument("--transactions", type=int, default=defaults.transactions)
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--lease-seconds", type=int, default=defaults.lease_seconds)
    parser.add_argument("--sweep-seconds", type=float, default=defaults.sweep_seconds)
    parser.add_argument("--drain-seconds", type=float, default=defaults.drain_seconds)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_URL,
        help="server to create the run's database on (default TEST_DATABASE_URL or %(default)s)",
    )
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=REPO,
        help="run the `app` package of this checkout (e.g. a `git archive` of a commit)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, files)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("exports", "workers", "concurrency", "transactions", "customers"):
        if getattr(args, name) < 1:
            print(f"--{name} must be at least 1", file=sys.stderr)
            return 2
    if not 0 <= args.deletes <= args.exports or args.kills < 0:
        print("--deletes must be 0..--exports and --kills at least 0", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else int(time.time())
    print(f"soak: --database {args.database} --seed {seed}", file=sys.stderr, flush=True)
    config = SoakConfig(
        database=args.database,
        exports=args.exports,
        workers=args.workers,
        kills=args.kills,
        deletes=args.deletes,
        seed=seed,
        transactions=args.transactions,
        customers=args.customers,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        sweep_seconds=args.sweep_seconds,
        drain_seconds=args.drain_seconds,
        postgres_url=args.postgres_url,
        app_dir=args.app_dir.resolve(),
        keep=args.keep,
        progress=True,
    )
    report = run_soak(config)
    print(report.table(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
