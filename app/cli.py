"""`python -m app …` / `exports-gateway …`: serve, worker, migrate, seed-demo, create-api-key,
export-schema. Logs go to stderr; stdout carries only what a script may want to read.

Every command that uses the database first prints `database: …` on stderr. Whatever stops a
command before it starts (a bad argument, a bad setting, a busy port, a database that is
unreachable or not migrated) is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn, TypeVar

from app import logs, preflight
from app.ids import is_valid_id
from app.settings import MAX_BODY_BYTES, Settings, SettingsError

T = TypeVar("T")


def _with_session(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    from app.db import make_engine, make_sessionmaker

    async def run() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    with preflight.database_errors(settings.database_url):
        return asyncio.run(run())


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from app.migrate import upgrade

    preflight.require_database(settings.database_url, migrated=False)
    with preflight.database_errors(settings.database_url):
        upgrade(settings.database_url)
    print("database is at the latest schema", file=sys.stderr)
    return 0


def _seed(settings: Settings, args: argparse.Namespace) -> list[str]:
    from app.demo import seed_demo

    return _with_session(
        settings,
        lambda session: seed_demo(
            session,
            organization_id=args.organization,
            customers=args.customers,
            transactions=args.transactions,
            pepper=settings.api_key_pepper,
            keys_file=settings.var_dir / "demo-keys.txt" if args.organization == "demo" else None,
            show_progress=not args.quiet,
        ),
    )


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    preflight.require_database(settings.database_url)
    for line in _seed(settings, args):
        print(line)
    return 0


def cmd_create_api_key(settings: Settings, args: argparse.Namespace) -> int:
    from app.auth import issue_api_key
    from app.demo import ensure_user

    preflight.require_database(settings.database_url)

    async def work(session: object) -> str:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        user = await ensure_user(session, organization_id=args.organization, email=args.user)
        secret = await issue_api_key(
            session, user=user, permissions=args.permissions, pepper=settings.api_key_pepper
        )
        await session.commit()
        return secret

    print(_with_session(settings, work))
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    # Before anything is migrated or seeded: a second `make run` says so and changes nothing.
    preflight.check_port(args.host, args.port)
    if args.demo:
        cmd_migrate(settings, args)
        args.organization, args.customers, args.transactions, args.quiet = (
            "demo",
            500,
            5000,
            False,
        )
        _seed(settings, args)
    preflight.require_database(settings.database_url)
    preflight.require_own_storage(settings.database_url, settings.storage_dir)
    preflight.require_manifest(settings.graphql_trusted_documents)
    if args.demo:
        _print_welcome(settings, args.host, args.port)
    if args.workers > 1:  # /metrics adds up every process's files (app/metrics.py)
        from app.metrics import use_multiprocess_dir

        use_multiprocess_dir(settings.var_dir / "metrics")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        # The app's logging setup in every server process; access lines come from the app.
        log_config=logs.dict_config(settings.log_format, settings.log_level),
        access_log=False,
        proxy_headers=False,
        ws_max_size=MAX_BODY_BYTES,  # a WebSocket message is held to the HTTP body limit
    )
    return 0


def _print_welcome(settings: Settings, host: str, port: int) -> None:
    base = settings.public_base_url or f"http://{host}:{port}"
    keys_file = settings.var_dir / "demo-keys.txt"
    keys = keys_file.read_text().strip() if keys_file.exists() else "(no demo keys file)"
    print(
        f"\nexports-gateway is starting\n"
        f"  GraphiQL:  {base}/graphql\n"
        f"  GraphQL:   {base}/graphql (POST)\n"
        f"  REST:      {base}/data-exports\n"
        f"  API docs:  {base}/docs ({base}/openapi.json)\n"
        f"  Health:    {base}/health/ready\n"
        f"  Database:  {preflight.describe_database(settings.database_url)}\n"
        f"  State:     {settings.var_dir}\n"
        f"  Worker:    {settings.worker_mode}\n"
        f"Demo keys (also in {keys_file}):\n  {keys.replace(chr(10), chr(10) + '  ')}\n"
        f"Try: curl -H 'REB-APIKEY: <key>' {base}/data-exports?expand=user\n",
        flush=True,
    )


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from app.exports.worker import run_standalone

    preflight.require_database(settings.database_url)
    preflight.require_own_storage(settings.database_url, settings.storage_dir)
    concurrency = args.concurrency or settings.worker_concurrency
    return asyncio.run(run_standalone(settings, concurrency=concurrency, once=args.once))


def cmd_export_schema(_: Settings | None, __: argparse.Namespace) -> int:
    from app.graphql.schema import build_schema

    sys.stdout.write(build_schema().as_str() + "\n")
    return 0


# Argument types: argparse turns their ArgumentTypeError into `argument --x: <message>`.
def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    span = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {text!r}")
        return value

    return parse


_port = _integer(1, 65535)
_count = _integer(1)
_size = _integer(0)


def _organization(text: str) -> str:
    if not is_valid_id(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an organization id: 1-50 letters, digits and @~-._"
        )
    return text


def _email(text: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an email address ({exc})") from None
    return text


def _permissions(text: str) -> frozenset[str]:
    from app.auth import parse_permissions
    from app.exports.principal import PERMISSIONS

    allowed = f"allowed: {', '.join(PERMISSIONS)}, comma-separated"
    try:
        permissions = parse_permissions(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} ({allowed})") from None
    if not permissions:
        raise argparse.ArgumentTypeError(f"at least one permission is needed ({allowed})")
    return permissions


class _Parser(argparse.ArgumentParser):
    """Argument errors in one line (argparse would print the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="exports-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API (REST + GraphQL)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000, help="1-65535 (default 8000)")
    serve.add_argument("--workers", type=_count, default=1, help="server processes")
    serve.add_argument("--demo", action="store_true", help="migrate, seed demo data, print keys")
    serve.set_defaults(handler=cmd_serve)

    worker = sub.add_parser("worker", help="run the export worker standalone")
    worker.add_argument(
        "--concurrency", type=_count, default=None, help="default: WORKER_CONCURRENCY"
    )
    worker.add_argument("--once", action="store_true", help="drain what is due, then exit")
    worker.set_defaults(handler=cmd_worker)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(handler=cmd_migrate)

    seed = sub.add_parser("seed-demo", help="create demo organization, users, keys and data")
    seed.add_argument("--organization", type=_organization, default="demo")
    seed.add_argument("--customers", type=_size, default=500)
    seed.add_argument("--transactions", type=_size, default=5000)
    seed.add_argument("--quiet", action="store_true", help="no progress bar")
    seed.set_defaults(handler=cmd_seed_demo)

    key = sub.add_parser("create-api-key", help="create a secret key; prints it on the last line")
    key.add_argument("--organization", type=_organization, required=True)
    key.add_argument(
        "--user", type=_email, required=True, help="email of the user (created if missing)"
    )
    key.add_argument("--permissions", type=_permissions, default="read,write")
    key.set_defaults(handler=cmd_create_api_key)

    schema = sub.add_parser("export-schema", help="print the GraphQL SDL")
    schema.set_defaults(handler=cmd_export_schema, no_settings=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "no_settings", False):
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        return int(args.handler(None, args))
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.log_level)
    database = f"database: {preflight.describe_database(settings.database_url)}"
    if settings.log_format == "json":  # every line of a JSON log is JSON
        logging.getLogger("app.cli").info("%s", database)
    else:
        print(database, file=sys.stderr)
    try:
        return int(args.handler(settings, args))
    except preflight.PreflightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
