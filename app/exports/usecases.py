"""The use cases: one keyword-only function per operation, the only way the surfaces reach data.

Each takes plain values (the principal, the input, the core's collaborators: sessions, storage,
limits, clock), opens its own short units of work, commits or rolls back, and owns the file
effects that follow a commit. REST and GraphQL translate a request into one call and the result
or the domain error back. Checks run in the order spec §3 gives: 404, 429, 422 (body), 409.
The body's checks are all in that 422's place, in the order 415 (not declared as JSON), 413,
422 (app/rest/body.py): a body is read only after the write is counted. The rate counter has
its own short transaction, so a refused write still counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.errors import (
    Conflict,
    FieldError,
    Forbidden,
    Invalid,
    NotFound,
    RecordLimitExceeded,
    TimedOut,
)
from app.exports import ratelimit, reads, service
from app.exports.changes import ChangeFeed, Watch, announce
from app.exports.expand import EXPANSIONS, BatchLoader
from app.exports.fields import Kind
from app.exports.formats import make_writer
from app.exports.formats.base import Period, text_value
from app.exports.formats.csv_writer import cell_formatter
from app.exports.keyset import Position as Position  # what a cursor holds, for the surfaces
from app.exports.limits import Limits
from app.exports.principal import Principal
from app.exports.resources import RESOURCES
from app.exports.schedule import first_run
from app.exports.service import MAX_LIMIT as MAX_LIMIT  # the listing's bounds, re-exported
from app.exports.service import ListQuery as ListQuery
from app.exports.service import Page as Page
from app.exports.service import SeekPage as SeekPage
from app.exports.service import SeekQuery as SeekQuery
from app.exports.signing import verify
from app.exports.source import (
    check_record_limit,
    count_all,
    count_bounded,
    export_fields,
    record_keys,
    resolve_period,
    source_query_for,
    to_record,
)
from app.exports.storage import Storage
from app.exports.validation import ExportSpec, validate_export
from app.exports.webhooks import MAX_PER_ORGANIZATION as MAX_WEBHOOKS
from app.exports.webhooks import check_destination, new_salt, validate_webhook
from app.exports.webhooks import signing_secret as webhook_secret
from app.ids import new_id
from app.models import DataExport, ExportFile, User, Webhook, WebhookDelivery, utcnow
from app.timefmt import parse_iso_datetime

T = TypeVar("T")
Body = Mapping[str, Any] | Callable[[], Awaitable[Mapping[str, Any]]]
"""A request body, or how to read it: a surface whose body may be refused (413, malformed)
hands over the reader, so those errors come after the rate count, as spec §3 orders."""
OnCounted = Callable[[ratelimit.RateState], None]


@dataclass(frozen=True)
class Core:
    """What every use case works with; built once per process from the settings."""

    sessions: async_sessionmaker[AsyncSession]
    storage: Storage
    limits: Limits
    signing_secret: str
    clock: Callable[[], datetime] = utcnow
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    """The process's change feed (app/exports/changes.py); the default rings nobody."""
    webhook_allow_private: bool = False
    """WEBHOOK_ALLOW_PRIVATE: endpoints on private and loopback addresses may be registered."""


@dataclass(frozen=True)
class Written:
    export: DataExport
    created: bool
    rate: ratelimit.RateState


@dataclass(frozen=True)
class Download:
    path: Path
    content_type: str
    name: str


@dataclass(frozen=True)
class Viewer:
    user: User
    organization_id: str
    permissions: list[str]


# --- reads ------------------------------------------------------------------------------------


def _engine(core: Core) -> AsyncEngine:
    """The engine the core's sessions are bound to (the hot reads use it directly)."""
    engine = core.sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return engine


async def find_export(core: Core, *, principal: Principal, export_id: str) -> DataExport | None:
    principal.require("read")
    async with unit_of_work(core.sessions) as session:
        return await service.find_export(
            session, organization_id=principal.organization_id, export_id=export_id
        )


def watch_export(
    core: Core, *, principal: Principal, export_id: str
) -> AbstractContextManager[Watch]:
    """Rung when the export may have changed (or was deleted): re-read it with find_export.
    Enter it before the first read, so no change falls between the read and the watch."""
    principal.require("read")
    return core.changes.watch(principal.organization_id, export_id)


async def list_exports(
    core: Core, *, principal: Principal, query: ListQuery, expand: Collection[str] = ()
) -> Page:
    """A page, and the expansions asked for with it: a plain listing (no filter or q) with at
    most its users in two statements (app/exports/reads.py), any other in one unit of work."""
    principal.require("read")
    listing = service.plan_listing(query)
    if reads.is_plain(listing) and reads.joinable(expand):
        page, users = await reads.export_page(
            _engine(core),
            organization_id=principal.organization_id,
            listing=listing,
            sort=query.sort,
            with_user="user" in expand,
        )
        return replace(page, loaded={"user": users} if "user" in expand else {})
    async with unit_of_work(core.sessions) as session:
        page = await service.list_exports(
            session, organization_id=principal.organization_id, query=query
        )
        if not expand:
            return page
        loaded = await _expansions(session, principal, page.items, expand)
    return replace(page, loaded=loaded)


async def seek_exports(core: Core, *, principal: Principal, query: SeekQuery) -> SeekPage:
    """A cursor page (keyset: stable while exports are created and deleted between pages)."""
    principal.require("read")
    async with unit_of_work(core.sessions) as session:
        return await service.seek_exports(
            session, organization_id=principal.organization_id, query=query
        )


@dataclass(frozen=True)
class Shown:
    export: DataExport
    loaded: Mapping[str, Mapping[Any, Any]]


async def show_export(
    core: Core, *, principal: Principal, export_id: str, expand: Collection[str]
) -> Shown:
    """One export (404 when missing) and the expansions asked for, in one unit of work: the
    REST read path, where each unit of work more is a pool round trip on every request. With
    at most the user expanded, one statement (app/exports/reads.py)."""
    principal.require("read")
    if reads.joinable(expand):
        found = await reads.export_by_id(
            _engine(core),
            organization_id=principal.organization_id,
            export_id=export_id,
            with_user="user" in expand,
        )
        if found is None:
            raise NotFound(f"Data export {export_id!r} was not found.")
        row, user = found
        users = {user.id: user} if user is not None else {}
        return Shown(export=row, loaded={"user": users} if "user" in expand else {})
    async with unit_of_work(core.sessions) as session:
        export = await service.find_export(
            session, organization_id=principal.organization_id, export_id=export_id
        )
        if export is None:
            raise NotFound(f"Data export {export_id!r} was not found.")
        loaded = await _expansions(session, principal, [export], expand)
    return Shown(export=export, loaded=loaded)


async def expand(
    core: Core, *, principal: Principal, exports: Sequence[DataExport], names: Collection[str]
) -> Mapping[str, Mapping[Any, Any]]:
    """Every named expansion for exports already in hand (a write's answer)."""
    principal.require("read")
    if not exports or not names:
        return {name: {} for name in names}
    async with unit_of_work(core.sessions) as session:
        return await _expansions(session, principal, exports, names)


async def load(
    core: Core, *, principal: Principal, loader: BatchLoader, keys: Collection[Any]
) -> Mapping[Any, Any]:
    """One batch of one batch loader (an expansion's or a node type's; GraphQL's
    dataloaders), in the caller's organization."""
    principal.require("read")
    async with unit_of_work(core.sessions) as session:
        return await loader(session, principal.organization_id, keys)


async def get_user(core: Core, *, principal: Principal, user_id: str) -> User | None:
    found = await load(core, principal=principal, loader=EXPANSIONS["user"].load, keys=[user_id])
    user: User | None = found.get(user_id)
    return user


def viewer(*, principal: Principal) -> Viewer:
    return Viewer(
        user=principal.user,
        organization_id=principal.organization_id,
        permissions=sorted(principal.permissions),
    )


async def download_file(core: Core, *, principal: Principal, file_id: str) -> Download:
    principal.require("read")
    async with unit_of_work(core.sessions) as session:
        file = await session.scalar(
            select(ExportFile).where(
                ExportFile.organization_id == principal.organization_id, ExportFile.id == file_id
            )
        )
    if file is None:
        raise NotFound(f"File {file_id!r} was not found.")
    return _download(core, file)


async def signed_download(core: Core, *, file_id: str, expires: str, signature: str) -> Download:
    """No principal: the link is the permission. Anything off is the same Forbidden."""
    denied = Forbidden("This link is invalid or has expired.")
    if not verify(core.signing_secret, file_id, expires, signature):
        raise denied
    async with unit_of_work(core.sessions) as session:
        file = await session.get(ExportFile, file_id)  # the signature names the file
    if file is None:
        raise denied
    try:
        return _download(core, file)
    except NotFound:
        raise denied from None


def _download(core: Core, file: ExportFile) -> Download:
    path = core.storage.path(file.storage_key)
    if not path.is_file():
        raise NotFound("The file is no longer available.")
    return Download(path=path, content_type=file.content_type, name=file.name)


# --- writes -----------------------------------------------------------------------------------


async def create_export(
    core: Core,
    *,
    principal: Principal,
    body: Body,
    export_id: str | None = None,
    counted: OnCounted | None = None,
) -> Written:
    """A new export; with `export_id`, the caller's own id (a 409 when it is taken)."""
    principal.require("write")
    rate = await _count_write(core, principal, counted)
    now = core.clock()  # one clock read: a default recurring.start equals createdTime
    spec = validate_export(await _read(body), now=now)
    async with unit_of_work(core.sessions) as session:
        await _check_records(core, session, principal, spec, now)
        export = await _insert(session, principal, spec, export_id, now)
        await announce(session, principal.organization_id, export.id)
        await session.commit()
    return Written(export=export, created=True, rate=rate)


async def replace_export(
    core: Core,
    *,
    principal: Principal,
    export_id: str,
    body: Body,
    counted: OnCounted | None = None,
) -> Written:
    """REST PUT: replace a pending export, or create it with the caller's id. When two PUTs
    race to create the same id, the loser replaces what the winner created, as if second."""
    principal.require("write")
    rate = await _count_write(core, principal, counted)
    raw = await _read(body)
    id_errors = []
    if raw.get("id") is not None and raw["id"] != export_id:  # null means none (spec §1)
        id_errors.append(FieldError("id", "Must match the id in the path."))
    now = core.clock()
    current = await _find(core, principal, export_id)
    try:
        spec = validate_export(
            raw, now=now, stored_recurring=current.recurring if current else None
        )
    except Invalid as exc:
        raise Invalid(id_errors + exc.errors) from None
    if id_errors:
        raise Invalid(id_errors)
    for attempt in range(2):
        if attempt:  # the create lost a race: look again
            current = await _find(core, principal, export_id)
        async with unit_of_work(core.sessions) as session:
            await _check_records(core, session, principal, spec, now)  # 422 before 409
            if current is not None:
                export = await service.replace_export(session, export=current, spec=spec, now=now)
                await announce(session, principal.organization_id, export_id)
                await session.commit()
                return Written(export=export, created=False, rate=rate)
            try:
                export = await _insert(session, principal, spec, export_id, now)
                await announce(session, principal.organization_id, export_id)
                await session.commit()
            except Conflict:
                continue  # created meanwhile by a concurrent request; rolled back
            return Written(export=export, created=True, rate=rate)
    raise Conflict(f"The data export {export_id!r} is being changed by another request.")


async def update_export(
    core: Core,
    *,
    principal: Principal,
    export_id: str,
    changes: Mapping[str, Any],
    counted: OnCounted | None = None,
) -> Written:
    """A partial update: `changes` holds only the REST body members to change; the result is
    validated like a PUT of the whole body."""
    principal.require("write")
    current = await _find(core, principal, export_id)
    if current is None:
        raise NotFound(f"Data export {export_id!r} was not found.")
    rate = await _count_write(core, principal, counted)
    now = core.clock()
    body = merged_body(stored_body(current), changes)
    spec = validate_export(body, now=now, stored_recurring=current.recurring)
    async with unit_of_work(core.sessions) as session:
        await _check_records(core, session, principal, spec, now)  # 422 before 409
        export = await service.replace_export(session, export=current, spec=spec, now=now)
        await announce(session, principal.organization_id, export_id)
        await session.commit()
    return Written(export=export, created=False, rate=rate)


async def delete_export(
    core: Core,
    *,
    principal: Principal,
    export_id: str,
    counted: OnCounted | None = None,
    deleted: Callable[[DataExport], None] | None = None,
) -> ratelimit.RateState:
    """Delete the export and its files: rows first, in one transaction that no worker can slip
    a file into; the files after the commit (a crash in between leaves them to the sweeper).
    `deleted` gets the row as last read, once the deletion is committed (GraphQL answers it, so
    a client cache can evict the object)."""
    principal.require("write")
    if (last := await _find(core, principal, export_id)) is None:
        raise NotFound(f"Data export {export_id!r} was not found.")
    rate = await _count_write(core, principal, counted)
    keys: list[str] = []
    try:
        async with unit_of_work(core.sessions) as session:
            found = await service.delete_export(
                session, organization_id=principal.organization_id, export_id=export_id
            )
            await announce(session, principal.organization_id, export_id)
            await session.commit()
            keys = found  # committed: the files go, even if this task is cancelled now
    finally:
        for key in keys:
            core.storage.delete(key)
    if deleted is not None:
        deleted(last)
    return rate


# --- shared steps -----------------------------------------------------------------------------


def stored_body(row: DataExport) -> dict[str, Any]:
    """An export's writable members in the REST input shape."""
    return {
        "name": row.name,
        "resource": row.resource,
        "format": row.format,
        "arguments": dict(row.arguments or {}),
        "dateRange": dict(row.date_range) if row.date_range else None,
        "emailNotification": list(row.email_notification or []),
        "fields": list(row.fields or []),
        "recurring": dict(row.recurring) if row.recurring else None,
        "csvDialect": row.csv_dialect,
    }


def merged_body(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The whole body after a partial update.

    Moving to another resource drops what was only the old resource's default (its default
    fields, its default date field) unless the update names them: those were never the
    client's choice, and they mean nothing for the new resource.
    """
    body = {**current, **changes}
    if changes.get("format", "csv") != "csv" and "csvDialect" not in changes:
        body.pop("csvDialect", None)  # a CSV dialect means nothing for the new format
    old, new = current.get("resource"), changes.get("resource")
    if new is None or new == old or old not in RESOURCES:
        return body
    previous = RESOURCES[old]
    if "fields" not in changes and current.get("fields") == list(previous.default_fields):
        body.pop("fields", None)
    date_range = body.get("dateRange")
    if (
        "dateRange" not in changes
        and isinstance(date_range, dict)
        and date_range.get("field") == previous.default_date_field
    ):
        body["dateRange"] = {k: v for k, v in date_range.items() if k != "field"}
    return body


async def _insert(
    session: AsyncSession,
    principal: Principal,
    spec: ExportSpec,
    export_id: str | None,
    now: datetime,
) -> DataExport:
    return await service.create_export(
        session,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        spec=spec,
        export_id=export_id,
        now=now,
    )


async def _expansions(
    session: AsyncSession,
    principal: Principal,
    exports: Sequence[DataExport],
    names: Collection[str],
) -> dict[str, Mapping[Any, Any]]:
    """One query per expansion, whatever the number of exports."""
    loaded: dict[str, Mapping[Any, Any]] = {}
    for name in names:
        expansion = EXPANSIONS[name]
        keys = [k for k in (expansion.key(e) for e in exports) if k is not None]
        loaded[name] = (
            await expansion.load(session, principal.organization_id, keys) if keys else {}
        )
    return loaded


async def _find(core: Core, principal: Principal, export_id: str) -> DataExport | None:
    async with unit_of_work(core.sessions) as session:
        return await service.find_export(
            session, organization_id=principal.organization_id, export_id=export_id
        )


async def _count_write(
    core: Core, principal: Principal, counted: OnCounted | None
) -> ratelimit.RateState:
    """Count one write in its own short transaction; RateLimited when the window is full."""
    async with unit_of_work(core.sessions) as session:
        state = await ratelimit.count_write(
            session,
            organization_id=principal.organization_id,
            limit=core.limits.writes_per_window,
            window_seconds=core.limits.window_seconds,
        )
        await session.commit()
    if state.exceeded:
        raise state.refusal()
    if counted is not None:
        counted(state)
    return state


async def _read(body: Body) -> Mapping[str, Any]:
    return body if isinstance(body, Mapping) else await body()


async def _check_records(
    core: Core, session: AsyncSession, principal: Principal, spec: ExportSpec, now: datetime
) -> None:
    await check_record_limit(
        session,
        organization_id=principal.organization_id,
        spec=spec,
        maximum=core.limits.records_for(spec.format),
        now=now,
    )


# --- webhooks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedWebhook:
    webhook: Webhook
    secret: str
    """The endpoint's signing secret: shown once, at creation (app/exports/webhooks.py)."""
    rate: ratelimit.RateState


@dataclass(frozen=True)
class Listed(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


async def create_webhook(
    core: Core, *, principal: Principal, body: Body, counted: OnCounted | None = None
) -> CreatedWebhook:
    principal.require("write")
    rate = await _count_write(core, principal, counted)
    given = validate_webhook(await _read(body), partial=False)
    url = given.url
    if url is None:  # validate_webhook names it already; this tells the type checker
        raise Invalid.one("url", "Required: an http or https URL.")
    await check_destination(url, allow_private=core.webhook_allow_private)
    now = core.clock()
    async with unit_of_work(core.sessions) as session:
        registered = await session.scalar(
            select(func.count())
            .select_from(Webhook)
            .where(Webhook.organization_id == principal.organization_id)
        )
        if (registered or 0) >= MAX_WEBHOOKS:
            raise Conflict(f"An organization has at most {MAX_WEBHOOKS} webhooks.")
        webhook = Webhook(
            id=new_id("whk"),
            organization_id=principal.organization_id,
            url=url,
            events_filter=given.events or [],
            status=given.status or "active",
            secret_salt=new_salt(),
            created_time=now,
            updated_time=now,
        )
        session.add(webhook)
        await session.commit()
    return CreatedWebhook(webhook, webhook_secret(core.signing_secret, webhook), rate)


async def list_webhooks(
    core: Core, *, principal: Principal, limit: int | None, offset: int | None
) -> Listed[Webhook]:
    principal.require("read")
    limit, offset = _page_bounds(limit, offset)
    mine = Webhook.organization_id == principal.organization_id
    async with unit_of_work(core.sessions) as session:
        total = await session.scalar(select(func.count()).select_from(Webhook).where(mine))
        items = await session.scalars(
            select(Webhook).where(mine).order_by(Webhook.pk.desc()).limit(limit).offset(offset)
        )
        return Listed(list(items), total or 0, limit, offset)


async def get_webhook(core: Core, *, principal: Principal, webhook_id: str) -> Webhook:
    principal.require("read")
    async with unit_of_work(core.sessions) as session:
        return await _webhook(session, principal, webhook_id)


async def update_webhook(
    core: Core,
    *,
    principal: Principal,
    webhook_id: str,
    body: Body,
    counted: OnCounted | None = None,
) -> tuple[Webhook, ratelimit.RateState]:
    """A partial update of url, eventsFilter and status; 404 before the rate count (§3)."""
    principal.require("write")
    await get_webhook(core, principal=principal, webhook_id=webhook_id)
    rate = await _count_write(core, principal, counted)
    given = validate_webhook(await _read(body), partial=True)
    if given.url is not None:
        await check_destination(given.url, allow_private=core.webhook_allow_private)
    async with unit_of_work(core.sessions) as session:
        webhook = await _webhook(session, principal, webhook_id)
        if given.url is not None:
            webhook.url = given.url
        if given.events is not None:
            webhook.events_filter = given.events
        if given.status is not None:
            webhook.status = given.status
        webhook.updated_time = core.clock()
        await session.commit()
    return webhook, rate


async def delete_webhook(
    core: Core,
    *,
    principal: Principal,
    webhook_id: str,
    counted: OnCounted | None = None,
    deleted: Callable[[Webhook], None] | None = None,
) -> ratelimit.RateState:
    """The endpoint and its deliveries (their log too): nothing more is sent to it. `deleted`
    gets the row's last state once the deletion is committed."""
    principal.require("write")
    await get_webhook(core, principal=principal, webhook_id=webhook_id)
    rate = await _count_write(core, principal, counted)
    async with unit_of_work(core.sessions) as session:
        webhook = await _webhook(session, principal, webhook_id)
        await session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.organization_id == principal.organization_id,
                WebhookDelivery.webhook_pk == webhook.pk,
            )
        )
        await session.delete(webhook)
        await session.commit()
    if deleted is not None:
        deleted(webhook)
    return rate


async def list_deliveries(
    core: Core,
    *,
    principal: Principal,
    webhook_id: str,
    limit: int | None,
    offset: int | None,
) -> Listed[WebhookDelivery]:
    """An endpoint's delivery log, newest first."""
    principal.require("read")
    limit, offset = _page_bounds(limit, offset)
    async with unit_of_work(core.sessions) as session:
        webhook = await _webhook(session, principal, webhook_id)
        mine = and_(
            WebhookDelivery.organization_id == principal.organization_id,
            WebhookDelivery.webhook_pk == webhook.pk,
        )
        total = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(mine))
        items = await session.scalars(
            select(WebhookDelivery)
            .where(mine)
            .order_by(WebhookDelivery.pk.desc())
            .limit(limit)
            .offset(offset)
        )
        return Listed(list(items), total or 0, limit, offset)


async def _webhook(session: AsyncSession, principal: Principal, webhook_id: str) -> Webhook:
    webhook = await session.scalar(
        select(Webhook).where(
            Webhook.organization_id == principal.organization_id, Webhook.id == webhook_id
        )
    )
    if webhook is None:
        raise NotFound(f"Webhook {webhook_id!r} was not found.")
    return webhook


def _page_bounds(limit: int | None, offset: int | None) -> tuple[int, int]:
    errors = []
    if limit is not None and not 0 <= limit <= MAX_LIMIT:
        errors.append(FieldError("limit", f"Must be between 0 and {MAX_LIMIT}."))
    if offset is not None and offset < 0:
        errors.append(FieldError("offset", "Must be 0 or more."))
    if errors:
        raise Invalid(errors)
    return (100 if limit is None else limit), (offset or 0)


# --- preview ----------------------------------------------------------------------------------

PREVIEW_ROWS = 20
"""The most rows a preview shows."""


@dataclass(frozen=True)
class Preview:
    """What a run of the export would write, without storing anything."""

    record_count: int
    """Every record the run would write (at most the format's record limit: beyond it, 422)."""
    run_time: datetime
    """The moment the run counts as happening, at which relative dates are resolved."""
    period: Period | None
    """The date range as the run filters on it (start inclusive, end exclusive); None: all
    time."""
    columns: list[str]
    """The chosen field paths, in file order (a CSV header, a PDF table's heading)."""
    rows: list[list[str | None]]
    """The first records (at most PREVIEW_ROWS), one text per column as the file holds it: a
    CSV's cells exactly (formula-like text neutralised, "" for no value); for the other
    formats the value's text (money with two decimals, ISO date-times), None for no value."""
    sample: str | None
    """The file's first bytes exactly (its header and these rows), the whole file when these
    are all its records; None for pdf, which is not text."""
    content_type: str


async def preview_export(core: Core, *, principal: Principal, body: Body) -> Preview:
    """A create's body checked exactly as a create checks it (422s and the record limit), then
    counted and sampled the way the worker will read it; nothing is stored and no write is
    counted. `write` permission: it shows source records, which only an export (a write)
    would otherwise reveal. Bounded by `limits.preview_seconds` (TimedOut)."""
    principal.require("write")
    now = core.clock()
    spec = validate_export(await _read(body), now=now)
    # When the first run counts as happening (the worker's _occurrence for a new export).
    run_at = first_run(parse_iso_datetime(spec.recurring["start"]), now) if spec.recurring else now
    seconds = core.limits.preview_seconds
    try:
        async with asyncio.timeout(seconds):
            return await _preview(core, principal, spec, run_at)
    except TimeoutError:
        raise TimedOut(
            f"The preview took longer than {seconds:g} seconds; narrow dateRange or "
            "arguments.filter, or create the export: its run is not bounded this way.",
            seconds,
        ) from None


async def _preview(core: Core, principal: Principal, spec: ExportSpec, run_at: datetime) -> Preview:
    resource = RESOURCES[spec.resource]
    fields = export_fields(resource, spec.fields)
    keys = record_keys(fields)
    money = tuple(f.path for f in fields if f.kind is Kind.MONEY)
    maximum = core.limits.records_for(spec.format)
    statement = source_query_for(spec, principal.organization_id, run_at)
    async with unit_of_work(core.sessions) as session:
        if session.get_bind().dialect.name == "postgresql":  # the server gives up too, later
            milliseconds = int(core.limits.preview_seconds * 1000) + 1000
            await session.execute(text(f"SET LOCAL statement_timeout = {milliseconds}"))
        matched = await count_bounded(session, statement, maximum)  # the worker's bound
        if matched > maximum:  # the create's 422, with the exact count only it pays for
            raise RecordLimitExceeded(await count_all(session, statement), maximum)
        result = await session.execute(statement.limit(PREVIEW_ROWS))
        records = [to_record(row, keys, money) for row in result]
    writer = make_writer(  # as the worker's _plan makes it (the PDF header aside: no bytes)
        spec.format,
        fields=fields,
        resource=resource.name,
        title=spec.name,
        csv_dialect=spec.csv_dialect,
    )
    sample: str | None = None
    if spec.format != "pdf":
        data = writer.header() + writer.rows(records)
        if len(records) == matched:
            data += writer.footer()
        sample = data.decode("utf-8")
    cells: list[Callable[[object], str | None]] = [
        cell_formatter(f) if spec.format == "csv" else partial(text_value, field=f) for f in fields
    ]
    return Preview(
        record_count=matched,
        run_time=run_at,
        period=resolve_period(resource, spec.date_range, run_at),  # as the query resolves it
        columns=[f.path for f in fields],
        rows=[
            [cell(r.get(f.path)) for f, cell in zip(fields, cells, strict=True)] for r in records
        ],
        sample=sample,
        content_type=writer.content_type,
    )
