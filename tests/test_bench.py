"""The benchmark harness's own logic (bench/): a real wrk against a tiny real server.

Only what would make `make bench` print a wrong figure: parsing wrk's output, a non-2xx or
socket error making a run invalid, and a probe that sees the wrong export or a GraphQL error
making the scenario invalid before anything is timed. The figures themselves live in bench/.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench import load
from bench.run import probe_all
from bench.scenarios import ProbeFailed, Scenario, probe, same_members
from tests.servers import free_port

# Answers like the gateway would, and wrongly on purpose: /wrong/ names another export,
# /graphql-error/ carries GraphQL errors, /flaky/ answers 404 for ids ending in 7.
SERVER = """
import sys
import threading
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
import uvicorn

def export(i):
    return {"id": i, "userId": "u1", "_links": [], "_embedded": {"user": {"id": "u1"}}}

async def ok(request):
    return JSONResponse(export(request.path_params["id"]))

async def wrong(request):
    return JSONResponse(export(request.path_params["id"] + "-other"))

async def graphql_error(request):
    return JSONResponse({"data": None, "errors": [{"message": "Unknown field 'x'"}]})

async def flaky(request):
    i = request.path_params["id"]
    return JSONResponse(export(i), 404 if i.endswith("7") else 200)

routes = [Route("/ok/{id}", ok), Route("/wrong/{id}", wrong),
          Route("/graphql-error/{id}", graphql_error, methods=["POST"]),
          Route("/flaky/{id}", flaky)]
uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    script = tmp_path_factory.mktemp("bench") / "server.py"
    script.write_text(SERVER)
    port = free_port()
    process = subprocess.Popen([sys.executable, str(script), str(port)])
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base_url}/ok/1", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def ids(tmp_path: Path) -> Path:
    path = tmp_path / "ids.txt"
    path.write_text("".join(f"exp_{n:02d}\n" for n in range(20)))
    return path


def test_a_clean_wrk_run_is_parsed_into_a_valid_figure(server: str, ids: Path) -> None:
    result = load.run(server, ids_file=ids, path="/ok/{id}", seconds=1, connections=4)
    assert result.valid, result.problems
    assert result.requests > 10
    assert 0.9 < result.seconds < 2
    assert result.rps == pytest.approx(result.requests / result.seconds)
    assert 0 < result.p50_ms <= result.p99_ms


def test_non_2xx_answers_make_the_run_invalid(server: str, ids: Path) -> None:
    result = load.run(server, ids_file=ids, path="/flaky/{id}", seconds=1, connections=4)
    assert result.non2xx > 0
    assert not result.valid
    assert f"{result.non2xx} non-2xx" in result.problems


@pytest.fixture
def hang_up() -> Iterator[str]:
    """A listener that accepts each connection and closes it unanswered."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = listener.accept()
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_socket_errors_make_the_run_invalid(hang_up: str, ids: Path) -> None:
    result = load.run(hang_up, ids_file=ids, path="/ok/{id}", seconds=1, connections=2)
    assert not result.valid
    assert result.socket_errors["read"] + result.socket_errors["connect"] > 0, result


def test_a_server_that_is_not_there_is_an_error(ids: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RuntimeError, match="wrk failed"):
        load.run(nobody, ids_file=ids, path="/ok/{id}", seconds=1, connections=2)


def test_output_without_the_result_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="WRK_RESULT"):
        load.parse("Running 1s test @ http://127.0.0.1:1\n  0 requests in 1.00s\n")


def test_the_parser_takes_wrks_own_non_2xx_count_too() -> None:
    line = {
        "requests": 100, "duration_us": 2_000_000, "bytes": 1, "non2xx": 0, "connect": 0,
        "read": 0, "write": 0, "status": 0, "timeout": 0, "p50_us": 1500, "p99_us": 9000,
        "mean_us": 2000.0, "max_us": 9500,
    }  # fmt: skip
    parsed = load.parse(f"Non-2xx or 3xx responses: 3\nWRK_RESULT {json.dumps(line)}\n")
    assert (parsed.rps, parsed.p50_ms, parsed.p99_ms) == (50, 1.5, 9)
    assert parsed.problems == ["3 non-2xx"]


def test_a_probe_that_sees_another_export_fails(server: str) -> None:
    scenario = Scenario("t/rest-one", "wrong", "s", "/wrong/{id}")
    with httpx.Client() as client, pytest.raises(ProbeFailed, match="asked for exp_01"):
        probe(scenario, client, server, "exp_01")
    right = Scenario("t/rest-one", "ok", "s", "/ok/{id}")
    with httpx.Client() as client:
        assert probe(right, client, server, "exp_01")["id"] == "exp_01"


def test_a_probe_that_sees_graphql_errors_fails(server: str) -> None:
    scenario = Scenario(
        "t/graphql-one", "g", "s", "/graphql-error/{id}", "POST", "{}", graphql=True
    )
    with httpx.Client() as client, pytest.raises(ProbeFailed, match="Unknown field"):
        probe(scenario, client, server, "exp_01")


def test_a_failed_probe_marks_the_scenario_invalid_before_timing(server: str) -> None:
    todo = [
        Scenario("t/rest-one", "rest", "s", "/ok/{id}"),
        Scenario("t/graphql-one", "g", "s", "/graphql-error/{id}", "POST", "{}", graphql=True),
        Scenario("t/ceiling-one", "wrong", "s", "/wrong/{id}"),
    ]
    measured = probe_all(todo, {"s": server}, {"t": ["exp_00", "exp_01", "exp_02"]})
    assert measured["t/rest-one"].problem is None
    assert "Unknown field" in (measured["t/graphql-one"].problem or "")
    assert "asked for exp_01" in (measured["t/ceiling-one"].problem or "")
    assert not any(m.valid for m in measured.values())  # nothing timed yet


def test_graphql_must_carry_every_member_rest_shows() -> None:
    rest = {"id": "e", "status": "x", "_links": [], "_embedded": {"user": {"id": "u"}}}
    graphql = {"id": "e", "links": [], "user": {"id": "u"}}
    assert "missing ['status']" in (same_members(rest, graphql) or "")
    assert same_members(rest, {**graphql, "status": "x"}) is None


# --- the export bench's seed: the demo rows, loaded in bulk ----------------------------------


async def _transactions(url: str, org: str, *, stored: bool = False) -> list[tuple[object, ...]]:
    """The organization's transactions through the ORM's types, or as stored (`stored`: on
    SQLite the date-times' text, which the export's fast path checks the shape of)."""
    from sqlalchemy import select, text

    from app.db import make_engine
    from app.models import Transaction

    engine = make_engine(url)
    table = Transaction.__table__
    statement = (
        text("SELECT * FROM transactions WHERE organization_id = :org ORDER BY id")
        if stored
        else select(table).where(table.c.organization_id == org).order_by(table.c.id)
    )
    try:
        async with engine.connect() as connection:
            result = await connection.execute(statement, {"org": org} if stored else {})
            return [tuple(row) for row in result]
    finally:
        await engine.dispose()


async def test_the_export_bench_seed_loads_exactly_the_rows_demo_data_generates(
    database_url: str, tmp_path: Path
) -> None:
    """bench/export.py loads a fresh organization in bulk (executemany or COPY); the rows,
    read back through the ORM's types, are the ones app.demo_data.generate inserts, and an
    organization already holding some is topped up by generate itself."""
    from sqlalchemy import inspect

    from app.db import is_sqlite, make_engine, make_sessionmaker
    from app.demo import ensure_user
    from app.demo_data import generate
    from app.migrate import upgrade
    from bench import export as exports

    await exports.seed(database_url, {"bulk": 12_345, "small": 3}, 50)
    reference = f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}"
    await asyncio.to_thread(upgrade, reference)  # it runs its own event loop
    engine = make_engine(reference)
    try:
        async with make_sessionmaker(engine)() as session:
            for org, size in (("bulk", 12_345), ("small", 3), ("grown", 7_000)):
                await ensure_user(session, organization_id=org, email="bench@example.com")
                await session.commit()
                await generate(
                    session,
                    organization_id=org,
                    customers=50,
                    transactions=size,
                    anchor=exports.ANCHOR,
                    resources=("transactions",),
                )
    finally:
        await engine.dispose()
    for org in ("bulk", "small"):
        ours = await _transactions(database_url, org)
        assert len(ours) == {"bulk": 12_345, "small": 3}[org]
        assert ours == await _transactions(reference, org)
        if is_sqlite(database_url):
            raw = await _transactions(database_url, org, stored=True)
            assert raw == await _transactions(reference, org, stored=True)
            assert isinstance(raw[0][-1], str)
            assert len(raw[0][-1]) == 26  # `YYYY-MM-DD HH:MM:SS.ffffff`, as SQLAlchemy writes
    # Some rows already there: the rest come from generate, the same as one go would give.
    await exports.seed(database_url, {"grown": 5_001}, 50)
    await exports.seed(database_url, {"grown": 7_000}, 50)
    assert await _transactions(database_url, "grown") == await _transactions(reference, "grown")
    # The indexes dropped for the load are back.
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            indexes = await connection.run_sync(
                lambda sync: inspect(sync).get_indexes("transactions")
            )
    finally:
        await engine.dispose()
    assert {"ix_transactions_org_created", "ix_transactions_org_status"} <= {
        index["name"] for index in indexes
    }
