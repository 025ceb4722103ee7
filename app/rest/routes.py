"""The Rebilly-compatible `/data-exports` REST API at every documented prefix (spec §2)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from app.auth import Principal, authenticate
from app.errors import Conflict, DomainError, FieldError, Forbidden, Invalid, NotFound
from app.exports import service
from app.exports.expand import load_files, load_users, parse_expand
from app.exports.links import Linker
from app.exports.ratelimit import RateState, consume_write
from app.exports.signing import link_parameters, verify
from app.exports.source import check_record_limit
from app.exports.storage import Storage
from app.exports.validation import ExportSpec, validate_export
from app.ids import is_valid_id
from app.models import DataExport, ExportFile, User, utcnow
from app.rest.body import PayloadTooLarge, read_json_object
from app.rest.files import FileDownload
from app.rest.problems import from_domain, problem
from app.rest.serializers import export_json, user_json
from app.settings import Settings

PREFIXES = (
    "/data-exports",
    "/experimental/data-exports",
    "/organizations/{organizationId}/data-exports",
    "/organizations/{organizationId}/experimental/data-exports",
    "/experimental/organizations/{organizationId}/data-exports",
)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def linker_for(request: Request) -> Linker:
    settings = settings_of(request)
    base = settings.public_base_url or f"{request.url.scheme}://{request.url.netloc}"
    return Linker(base, settings.signing_secret, settings.signed_link_ttl_seconds)


@asynccontextmanager
async def open_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def _principal(request: Request, session: AsyncSession, permission: str) -> Principal:
    principal = await authenticate(session, request.headers, settings_of(request))
    principal.require(permission)
    organization = request.path_params.get("organizationId")
    if organization is not None and organization != principal.organization_id:
        raise Forbidden("The organization in the path is not yours.")
    return principal


def _path_id(request: Request, name: str = "id") -> str:
    value: str = request.path_params[name]
    if not is_valid_id(value):
        raise Invalid.one("id", "Must be 1-50 characters of letters, digits and @~-._")
    return value


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    # ASCII digits only: int() would also take " 5", "1_0" and non-ASCII digits.
    if not re.fullmatch(r"-?[0-9]{1,30}", raw):
        raise Invalid.one(name, "Must be an integer.")
    return int(raw)


def _expand(request: Request) -> set[str]:
    try:
        return parse_expand(request.query_params.get("expand"))
    except ValueError as exc:
        raise Invalid.one("expand", str(exc)) from None


def _rate_headers(state: RateState) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(state.limit), "X-RateLimit-Remaining": str(state.remaining)}


async def _consume(request: Request, session: AsyncSession, principal: Principal) -> RateState:
    """Count the write; the state is kept so even a rejected write reports its budget."""
    settings = settings_of(request)
    state = await consume_write(
        session,
        organization_id=principal.organization_id,
        limit=settings.rate_limit_writes,
        window_seconds=settings.rate_limit_window_seconds,
    )
    request.state.rate = state
    return state


async def _render(
    session: AsyncSession, request: Request, exports: list[DataExport], expand: set[str]
) -> list[dict[str, Any]]:
    """Serialise a page; each expansion costs one batched query for the whole page."""
    if not exports:
        return []
    organization = exports[0].organization_id
    users = (
        await load_users(session, organization_id=organization, ids=[e.user_id for e in exports])
        if "user" in expand
        else None
    )
    files = (
        await load_files(
            session, organization_id=organization, ids=[e.file_id for e in exports if e.file_id]
        )
        if "file" in expand
        else None
    )
    linker = linker_for(request)
    return [export_json(e, linker, expand=expand, users=users, files=files) for e in exports]


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    """Turn domain errors into problems at the edge, so handlers read as the happy path."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except PayloadTooLarge as exc:
            response: Response = problem(413, exc.message)
        except DomainError as exc:
            response = from_domain(exc)
        rate: RateState | None = getattr(request.state, "rate", None)
        if rate is not None and response.status_code != 429:
            response.headers.update(_rate_headers(rate))
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


async def list_exports(request: Request) -> Response:
    async with open_session(request) as session:
        principal = await _principal(request, session, "read")
        expand = _expand(request)
        page = await service.list_exports(
            session,
            organization_id=principal.organization_id,
            filter=request.query_params.get("filter"),
            sort=request.query_params.get("sort"),
            q=request.query_params.get("q"),
            limit=_int_param(request, "limit"),
            offset=_int_param(request, "offset"),
        )
        body = await _render(session, request, list(page.items), expand)
    return JSONResponse(
        body,
        headers={
            "Pagination-Total": str(page.total),
            "Pagination-Limit": str(page.limit),
            "Pagination-Offset": str(page.offset),
        },
    )


async def get_export(request: Request) -> Response:
    async with open_session(request) as session:
        principal = await _principal(request, session, "read")
        export_id = _path_id(request)
        expand = _expand(request)
        export = await service.get_export(
            session, organization_id=principal.organization_id, export_id=export_id
        )
        (body,) = await _render(session, request, [export], expand)
    headers = {"Pagination-Total": "1", "Pagination-Limit": "1", "Pagination-Offset": "0"}
    return JSONResponse(body, headers=headers)


async def create_export(request: Request) -> Response:
    async with open_session(request) as session:
        principal = await _principal(request, session, "write")
        expand = _expand(request)
        rate = await _consume(request, session, principal)
        now = utcnow()  # one clock per request: a default recurring.start equals createdTime
        spec = validate_export(await read_json_object(request), now=now)
        await check_record_limit(
            session,
            organization_id=principal.organization_id,
            spec=spec,
            settings=settings_of(request),
        )
        export = await service.create_export(
            session,
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            spec=spec,
            now=now,
        )
        await session.commit()
        (body,) = await _render(session, request, [export], expand)
    headers = {"Location": linker_for(request).export(export.id), **_rate_headers(rate)}
    return JSONResponse(body, status_code=201, headers=headers)


async def put_export(request: Request) -> Response:
    async with open_session(request) as session:
        principal = await _principal(request, session, "write")
        export_id = _path_id(request)
        expand = _expand(request)
        rate = await _consume(request, session, principal)
        raw = await read_json_object(request)
        id_errors = []
        if raw.get("id") is not None and raw["id"] != export_id:  # null means none (spec §1)
            id_errors.append(FieldError("id", "Must match the id in the path."))
        now = utcnow()
        current = await service.find_export(
            session, organization_id=principal.organization_id, export_id=export_id
        )
        try:
            spec = validate_export(
                raw, now=now, stored_recurring=current.recurring if current else None
            )
        except Invalid as exc:
            raise Invalid(id_errors + exc.errors) from None
        if id_errors:
            raise Invalid(id_errors)
        await check_record_limit(  # a body 422, so before any 409 (spec §3)
            session,
            organization_id=principal.organization_id,
            spec=spec,
            settings=settings_of(request),
        )
        export, status = await _upsert(session, principal, export_id, spec, now, current)
        await session.commit()
        (body,) = await _render(session, request, [export], expand)
    headers = _rate_headers(rate)
    if status == 201:
        headers["Location"] = linker_for(request).export(export.id)
    return JSONResponse(body, status_code=status, headers=headers)


async def _upsert(
    session: AsyncSession,
    principal: Principal,
    export_id: str,
    spec: ExportSpec,
    now: datetime,
    existing: DataExport | None,
) -> tuple[DataExport, int]:
    """Replace a pending export, or create it with the caller's id (201). When two PUTs race
    to create the same id, the loser replaces what the winner created, as if it came second."""
    for attempt in range(2):
        if attempt:  # the create lost a race: look again
            existing = await service.find_export(
                session, organization_id=principal.organization_id, export_id=export_id
            )
        if existing is not None:
            return await service.replace_export(session, export=existing, spec=spec, now=now), 200
        try:
            created = await service.create_export(
                session,
                organization_id=principal.organization_id,
                user_id=principal.user_id,
                spec=spec,
                export_id=export_id,
                now=now,
            )
        except Conflict:
            continue  # created meanwhile by a concurrent request
        return created, 201
    raise Conflict(f"The data export {export_id!r} is being changed by another request.")


async def delete_export(request: Request) -> Response:
    async with open_session(request) as session:
        principal = await _principal(request, session, "write")
        export_id = _path_id(request)
        _expand(request)  # nothing to embed in a 204, but an unknown name is still a 422
        export = await service.get_export(
            session, organization_id=principal.organization_id, export_id=export_id
        )
        rate = await _consume(request, session, principal)
        keys = await service.delete_export(session, export=export)
        await session.commit()
    storage: Storage = request.app.state.storage
    for key in keys:
        storage.delete(key)
    return Response(status_code=204, headers=_rate_headers(rate))


async def get_user(request: Request) -> Response:
    async with open_session(request) as session:
        principal = await _principal(request, session, "read")
        user_id = _path_id(request)
        user = await session.scalar(
            select(User).where(
                User.id == user_id, User.organization_id == principal.organization_id
            )
        )
        if user is None:
            raise NotFound(f"User {user_id!r} was not found.")
    return JSONResponse(user_json(user, linker_for(request)))


def _file_response(request: Request, file: ExportFile) -> Response:
    storage: Storage = request.app.state.storage
    try:  # one stat: a file deleted meanwhile is a 404, not a 500
        return FileDownload(
            storage.path(file.storage_key), media_type=file.content_type, filename=file.name
        )
    except FileNotFoundError:
        raise NotFound("The file is no longer available.") from None


async def download_file(request: Request) -> Response:
    async with open_session(request) as session:
        principal = await _principal(request, session, "read")
        file_id = _path_id(request)
        file = await session.scalar(
            select(ExportFile).where(
                ExportFile.id == file_id, ExportFile.organization_id == principal.organization_id
            )
        )
        if file is None:
            raise NotFound(f"File {file_id!r} was not found.")
    return _file_response(request, file)


async def signed_download(request: Request) -> Response:
    """No credentials: the link itself is the permission. Anything off is a plain 403."""
    file_id: str = request.path_params["id"]
    denied = problem(403, "This link is invalid or has expired.")
    parameters = link_parameters(request.scope["query_string"].decode("latin-1"))
    if (
        not is_valid_id(file_id)
        or parameters is None
        or not verify(settings_of(request).signing_secret, file_id, *parameters)
    ):
        return denied
    async with open_session(request) as session:
        file = await session.get(ExportFile, file_id)
    if file is None:
        return denied
    try:
        return _file_response(request, file)
    except NotFound:
        return denied


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    """One route per path, so a wrong method is a 405 whose Allow lists every method."""
    guarded = {method: _guarded(handler) for method, handler in handlers.items()}

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await guarded[method](request)

    return endpoint


def _both(path: str) -> list[str]:
    return [path, path + "/"]


class EncodedSlashRoute(Route):
    """An `{id}` route for an id holding an encoded slash (`a%2Fb`). Starlette routes on the
    decoded path, where such an id spans two segments and matches nothing: a 404 "No such
    route" where spec §3 wants the handler's 422 naming `id` (or a signed link's 403). Only
    slashes that arrived encoded count, so a literal `a/b` still matches nothing."""

    def __init__(self, path: str, endpoint: Handler, *, methods: list[str]) -> None:
        super().__init__(path.replace("{id}", "{id:path}"), endpoint, methods=methods)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        in_id: int = child["path_params"]["id"].count("/")
        raw: bytes | None = scope.get("raw_path")
        encoded = raw is not None and scope["path"].count("/") - raw.count(b"/") == in_id
        return (match, child) if in_id and encoded else (Match.NONE, {})


def routes() -> list[BaseRoute]:
    collection = _dispatch({"GET": list_exports, "POST": create_export})
    item = _dispatch({"GET": get_export, "PUT": put_export, "DELETE": delete_export})
    by_id: list[tuple[str, Handler, list[str]]] = [
        *[(p, item, ["GET", "PUT", "DELETE"]) for x in PREFIXES for p in _both(x + "/{id}")],
        *[(p, _guarded(get_user), ["GET"]) for p in _both("/users/{id}")],
        ("/files/{id}/download", _guarded(download_file), ["GET"]),
        ("/files/{id}/signed", _guarded(signed_download), ["GET"]),
    ]
    # First, so that `a%2F` is not taken for `a` by an `{id}/` route.
    table: list[BaseRoute] = [EncodedSlashRoute(p, h, methods=m) for p, h, m in by_id]
    table += [Route(p, collection, methods=["GET", "POST"]) for x in PREFIXES for p in _both(x)]
    table += [Route(p, h, methods=m) for p, h, m in by_id]
    return table
