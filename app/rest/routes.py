"""The Rebilly-compatible `/data-exports` REST API at every documented prefix (spec §2)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from app.auth import KeyCache, sign_in
from app.errors import DomainError, Forbidden, Invalid, NotFound
from app.exports import usecases
from app.exports.expand import parse_expand
from app.exports.links import Linker, base_url
from app.exports.principal import Principal
from app.exports.ratelimit import RateState
from app.exports.representation import export_json, user_json
from app.exports.signing import link_parameters
from app.exports.usecases import Core, Download, ListQuery
from app.ids import is_valid_id
from app.models import DataExport
from app.rest.body import PayloadTooLarge, UnsupportedMediaType, read_json_object
from app.rest.files import FileDownload
from app.rest.jsonbody import FastJSONResponse
from app.rest.metrics import metrics_endpoint
from app.rest.problems import from_domain, problem
from app.settings import Settings

PREFIXES = (
    "/data-exports",
    "/experimental/data-exports",
    "/organizations/{organizationId}/data-exports",
    "/organizations/{organizationId}/experimental/data-exports",
    "/experimental/organizations/{organizationId}/data-exports",
)


ACCOUNT = ("", "/organizations/{organizationId}")
"""Users and files are Rebilly's main API: unprefixed, or under the organization (which
rebilly-js-sdk sends when given an organizationId)."""


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def core_of(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


def linker_for(request: Request) -> Linker:
    settings = settings_of(request)
    base = base_url(settings.public_base_url, request.url.scheme, request.url.netloc)
    return Linker(base, settings.signing_secret, settings.signed_link_ttl_seconds)


async def _principal(request: Request, permission: str) -> Principal:
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    principal = await sign_in(
        core_of(request).sessions, request.headers, settings_of(request), cache
    )
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
    """The write budget; `X-RateLimit-Reset` is when the window ends and it is whole again
    (UTC epoch seconds, like the 429's `X-RateLimit-Retry-After`)."""
    return {
        "X-RateLimit-Limit": str(state.limit),
        "X-RateLimit-Remaining": str(state.remaining),
        "X-RateLimit-Reset": str(state.reset_epoch),
    }


def _counted(request: Request) -> usecases.OnCounted:
    """Keep the write's budget, so even a refused write reports it."""

    def keep(state: RateState) -> None:
        request.state.rate = state

    return keep


def _render(
    request: Request,
    exports: Sequence[DataExport],
    expand: set[str],
    loaded: Mapping[str, Mapping[Any, Any]],
) -> list[dict[str, Any]]:
    """Serialise exports with the expansions the use case loaded (one query per expansion)."""
    linker = linker_for(request)
    memo: dict[tuple[str, Any], dict[str, Any]] = {}  # each user once per page
    return [
        export_json(e, linker, expand=expand, loaded=loaded, embedded_memo=memo) for e in exports
    ]


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    """Turn domain errors into problems at the edge, so handlers read as the happy path."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except PayloadTooLarge as exc:
            response: Response = problem(413, exc.message)
        except UnsupportedMediaType as exc:
            response = problem(415, exc.message)
        except DomainError as exc:
            response = from_domain(exc)
        rate: RateState | None = getattr(request.state, "rate", None)
        if rate is not None and response.status_code != 429:
            response.headers.update(_rate_headers(rate))
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


async def list_exports(request: Request) -> Response:
    principal = await _principal(request, "read")
    expand = _expand(request)
    query = ListQuery(
        filter=request.query_params.get("filter"),
        sort=request.query_params.get("sort"),
        q=request.query_params.get("q"),
        limit=_int_param(request, "limit"),
        offset=_int_param(request, "offset"),
    )
    page = await usecases.list_exports(
        core_of(request), principal=principal, query=query, expand=expand
    )
    body = _render(request, page.items, expand, page.loaded)
    return FastJSONResponse(
        body,
        headers={
            "Pagination-Total": str(page.total),
            "Pagination-Limit": str(page.limit),
            "Pagination-Offset": str(page.offset),
        },
    )


async def get_export(request: Request) -> Response:
    principal = await _principal(request, "read")
    export_id = _path_id(request)
    expand = _expand(request)
    shown = await usecases.show_export(
        core_of(request), principal=principal, export_id=export_id, expand=expand
    )
    (body,) = _render(request, [shown.export], expand, shown.loaded)
    headers = {"Pagination-Total": "1", "Pagination-Limit": "1", "Pagination-Offset": "0"}
    return FastJSONResponse(body, headers=headers)


async def create_export(request: Request) -> Response:
    principal = await _principal(request, "write")
    expand = _expand(request)
    written = await usecases.create_export(
        core_of(request),
        principal=principal,
        body=lambda: read_json_object(request),
        counted=_counted(request),
    )
    return await _written(request, principal, written, expand)


async def put_export(request: Request) -> Response:
    principal = await _principal(request, "write")
    export_id = _path_id(request)
    expand = _expand(request)
    written = await usecases.replace_export(
        core_of(request),
        principal=principal,
        export_id=export_id,
        body=lambda: read_json_object(request),
        counted=_counted(request),
    )
    return await _written(request, principal, written, expand)


async def _written(
    request: Request, principal: Principal, written: usecases.Written, expand: set[str]
) -> Response:
    loaded = await usecases.expand(
        core_of(request), principal=principal, exports=[written.export], names=expand
    )
    (body,) = _render(request, [written.export], expand, loaded)
    headers = _rate_headers(written.rate)
    if written.created:
        headers["Location"] = linker_for(request).export(written.export.id)
    return FastJSONResponse(body, status_code=201 if written.created else 200, headers=headers)


async def delete_export(request: Request) -> Response:
    principal = await _principal(request, "write")
    export_id = _path_id(request)
    _expand(request)  # nothing to embed in a 204, but an unknown name is still a 422
    rate = await usecases.delete_export(
        core_of(request), principal=principal, export_id=export_id, counted=_counted(request)
    )
    return Response(status_code=204, headers=_rate_headers(rate))


async def get_user(request: Request) -> Response:
    principal = await _principal(request, "read")
    user_id = _path_id(request)
    user = await usecases.get_user(core_of(request), principal=principal, user_id=user_id)
    if user is None:
        raise NotFound(f"User {user_id!r} was not found.")
    return FastJSONResponse(user_json(user, linker_for(request)))


def _file_response(download: Download) -> Response:
    try:  # one stat: a file deleted meanwhile is a 404, not a 500
        return FileDownload(download.path, media_type=download.content_type, filename=download.name)
    except FileNotFoundError:
        raise NotFound("The file is no longer available.") from None


async def download_file(request: Request) -> Response:
    principal = await _principal(request, "read")
    file_id = _path_id(request)
    download = await usecases.download_file(core_of(request), principal=principal, file_id=file_id)
    return _file_response(download)


async def signed_download(request: Request) -> Response:
    """No credentials: the link itself is the permission. Anything off is a plain 403."""
    file_id: str = request.path_params["id"]
    parameters = link_parameters(request.scope["query_string"].decode("latin-1"))
    try:
        if not is_valid_id(file_id) or parameters is None:
            raise Forbidden("This link is invalid or has expired.")
        download = await usecases.signed_download(
            core_of(request), file_id=file_id, expires=parameters[0], signature=parameters[1]
        )
        return _file_response(download)
    except (Forbidden, NotFound):
        return problem(403, "This link is invalid or has expired.")


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
        raw: bytes | None = scope.get("raw_path")
        if raw is None or b"%2f" not in raw.lower():  # no encoded slash: nothing to match
            return Match.NONE, {}
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        in_id: int = child["path_params"]["id"].count("/")
        encoded = scope["path"].count("/") - raw.count(b"/") == in_id
        return (match, child) if in_id and encoded else (Match.NONE, {})


class EncodedSlashRoutes(BaseRoute):
    """The `EncodedSlashRoute`s as one entry of the routing table: a path with no encoded
    slash (nearly all of them) is turned away by one check instead of one per route, which
    every request behind them paid (issue 8: 17 of the 36 matches a REST read by id tried).
    Otherwise its routes are tried in order, exactly as the router would try them."""

    def __init__(self, routes: list[EncodedSlashRoute]) -> None:
        self.routes = routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raw: bytes | None = scope.get("raw_path")
        if raw is None or b"%2f" not in raw.lower():
            return Match.NONE, {}
        partial: tuple[Match, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, {**child, "route": route}
            if match is Match.PARTIAL and partial is None:
                partial = (match, {**child, "route": route})
        return partial or (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["route"].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        for route in self.routes:
            with contextlib.suppress(NoMatchFound):
                return route.url_path_for(name, **path_params)
        raise NoMatchFound(name, path_params)


def routes() -> list[BaseRoute]:
    collection = _dispatch({"GET": list_exports, "POST": create_export})
    item = _dispatch({"GET": get_export, "PUT": put_export, "DELETE": delete_export})
    by_id: list[tuple[str, Handler, list[str]]] = [
        *[(p, item, ["GET", "PUT", "DELETE"]) for x in PREFIXES for p in _both(x + "/{id}")],
        *[(p, _guarded(get_user), ["GET"]) for x in ACCOUNT for p in _both(x + "/users/{id}")],
        *[(x + "/files/{id}/download", _guarded(download_file), ["GET"]) for x in ACCOUNT],
        ("/files/{id}/signed", _guarded(signed_download), ["GET"]),
    ]
    # First, so that `a%2F` is not taken for `a` by an `{id}/` route.
    table: list[BaseRoute] = [
        EncodedSlashRoutes([EncodedSlashRoute(p, h, methods=m) for p, h, m in by_id])
    ]
    table += [Route(p, collection, methods=["GET", "POST"]) for x in PREFIXES for p in _both(x)]
    table += [Route(p, h, methods=m) for p, h, m in by_id]
    table.append(Route("/metrics", metrics_endpoint, methods=["GET"]))  # app/rest/metrics.py
    return table
