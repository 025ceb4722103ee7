"""Checks that stop a command before it starts wrong: the listening port is free, the database
is reachable and migrated to the head of the shipped migrations. A failure is a
`PreflightError` whose message is one line saying what is wrong and what to do; the command line
prints it instead of a traceback.

Only the command line imports this module.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.db import is_sqlite, make_engine, make_sessionmaker
from app.migrate import alembic_config, current_heads, shipped_heads
from app.persisted.manifest import ManifestError
from app.persisted.manifest import load as load_manifest

CONNECT_TIMEOUT_SECONDS = 10.0
MIGRATE_HINT = "run python -m app migrate"
_DRIVER_CLASS = re.compile(r"^<class '[\w.]+'>: ")


class PreflightError(Exception):
    """Why a command cannot go on, in one line that says what to do about it."""


def describe_database(url: str) -> str:
    """The database as an operator needs to see it: a SQLite URL with its absolute path, any
    other URL without its password."""
    parsed = make_url(url)
    database = parsed.database or ""
    if is_sqlite(url) and database not in ("", ":memory:") and not database.startswith("file:"):
        parsed = parsed.set(database=os.path.abspath(database))
    return parsed.render_as_string(hide_password=True)


def check_port(host: str, port: int) -> None:
    """Bind the address uvicorn is about to bind (same options), then let it go."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except socket.gaierror as exc:
            raise PreflightError(
                f"cannot listen on {host}:{port}: unknown host ({exc.strerror}): pass --host"
            ) from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PreflightError(
                    f"port {port} on {host} is already in use: pass --port with a free port "
                    f"(make run PORT=...)"
                ) from None
            raise PreflightError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}: pass --host or --port"
            ) from None


def require_database(url: str, *, migrated: bool = True) -> None:
    """The database answers and, when `migrated`, is at the head revision.

    A SQLite file that does not exist is not created here: only `migrate` makes one.
    """
    shown = describe_database(url)
    if migrated and is_sqlite(url):
        database = make_url(url).database or ""
        if database not in ("", ":memory:") and not os.path.exists(database):
            raise PreflightError(f"database {shown} does not exist: {MIGRATE_HINT}")
    current = asyncio.run(_current_heads(url))
    if not migrated:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(alembic_config(url))
    head = shipped_heads()
    if current == head:
        return
    at = ", ".join(sorted(current)) or "none"
    want = ", ".join(sorted(head))
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            raise PreflightError(
                f"database {shown} is at revision {at}, which this version does not know "
                f"(its head is {want}): check DATABASE_URL or run the version that migrated it"
            ) from None
    raise PreflightError(
        f"database {shown} is not migrated (at {at}, head is {want}): {MIGRATE_HINT}"
    )


def require_own_storage(url: str, storage_dir: Path) -> None:
    """STORAGE_DIR serves this database only (its stamp says so, or it gets one now): a worker
    sweeps the export files its database does not own, so two databases must not share one."""
    from app.exports.storage import ForeignStorage, Storage
    from app.exports.sweeper import database_identity

    async def identity() -> str:
        engine = make_engine(url)
        try:
            return await database_identity(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    with database_errors(url):
        database_id = asyncio.run(identity())
    try:
        Storage(storage_dir).claim_for(database_id)
    except ForeignStorage as exc:
        raise PreflightError(f"STORAGE_DIR {exc}") from None
    except OSError as exc:
        raise PreflightError(f"STORAGE_DIR {storage_dir}: {exc.strerror or exc}") from None


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn what the database (or the way to it) refuses into one line."""
    try:
        yield
    except DBAPIError as exc:
        reason = _reason(exc)
        missing = "no such table" in reason or reason.startswith("relation ")
        hint = f": {MIGRATE_HINT}" if missing else ""
        raise PreflightError(f"database {describe_database(url)}: {reason}{hint}") from None
    except TimeoutError:  # before OSError, of which it is a subclass
        raise PreflightError(
            f"database {describe_database(url)}: no answer within "
            f"{CONNECT_TIMEOUT_SECONDS:g} s: is the server up? check DATABASE_URL"
        ) from None
    except OSError as exc:
        raise PreflightError(
            f"database {describe_database(url)}: {_reason(exc)}: is the server up? "
            f"check DATABASE_URL"
        ) from None


async def _current_heads(url: str) -> frozenset[str]:
    with _connecting(url):
        engine = make_engine(url)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), engine.connect() as conn:
                return await conn.run_sync(current_heads)
        finally:
            await engine.dispose()


@contextmanager
def _connecting(url: str) -> Iterator[None]:
    shown = describe_database(url)
    try:
        yield
    except DBAPIError as exc:
        reason = _reason(exc)
        hint = (
            "create it or check DATABASE_URL"
            if "does not exist" in reason
            else "check DATABASE_URL"
        )
        raise PreflightError(f"cannot use database {shown}: {reason}: {hint}") from None
    except TimeoutError:
        raise PreflightError(
            f"cannot connect to database {shown}: no answer within "
            f"{CONNECT_TIMEOUT_SECONDS:g} s: is the server up? check DATABASE_URL"
        ) from None
    except OSError as exc:
        raise PreflightError(
            f"cannot connect to database {shown}: {_reason(exc)}: is the server up? "
            f"check DATABASE_URL"
        ) from None


def _reason(exc: BaseException) -> str:
    """The driver's own words, first line only, without SQLAlchemy's wrapping."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig)
    elif isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    elif isinstance(exc, OSError):
        text = exc.strerror or str(exc)
        if exc.filename:
            text = f"{text}: {exc.filename}"
    else:
        text = str(exc)
    lines = [line for line in text.splitlines() if line.strip()]
    return _DRIVER_CLASS.sub("", lines[0].strip()) if lines else type(exc).__name__


def require_manifest(path: Path | None) -> None:
    """GRAPHQL_TRUSTED_DOCUMENTS names a manifest that loads (else every process would fail
    its startup with a traceback)."""
    if path is None:
        return
    try:
        load_manifest(path)
    except ManifestError as exc:
        raise PreflightError(f"GRAPHQL_TRUSTED_DOCUMENTS: {exc}") from None
