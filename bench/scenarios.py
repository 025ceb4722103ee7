"""What is measured, and the probe that must pass before any of it is timed.

A scenario is one HTTP request shape (method, path, body; "{id}" is a random export id under
load). Its probe sends it once for a known id and checks what the figure would otherwise hide:
status 200, the same export in the body (by id; a page: the same 100 ids in the same order as
its ceiling's), no GraphQL `errors`, and for GraphQL the same members as REST's answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

PAGE = 100
USER = "id email firstName lastName createdTime links { rel href }"
EXPORT = (
    "id name resource format arguments { filter sort q } emailNotification fields "
    "recurring { instruction start } userId fileId recordCount scheduledTime createdTime "
    "updatedTime status failureReason links { rel href } dateRange { start end field } "
    "csvDialect attempts lastError { code message time } nextAttemptTime "
    f"progress {{ rowsWritten rowsTotal }} user {{ {USER} }}"
)
GRAPHQL_ONE = f"query One($id: ID!) {{ dataExport(id: $id) {{ {EXPORT} }} }}"
GRAPHQL_PAGE = f"query Page {{ dataExports(limit: {PAGE}) {{ items {{ {EXPORT} }} }} }}"
# PostGraphile names the tables' columns; the same columns the gateway reads, and the user.
POSTGRAPHILE_ONE = (
    'query One($id: String!) { dataExportByOrganizationIdAndId(organizationId: "demo", id: $id) '
    "{ id name resource format arguments emailNotification fields recurring userId fileId "
    "recordCount scheduledTime createdTime updatedTime status failureReason dateRange "
    "csvDialect attempts lastErrorCode lastErrorMessage lastErrorTime notBefore rowsWritten "
    "rowsTotal userByUserId { id email firstName lastName createdTime } } }"
)


class ProbeFailed(Exception):
    """The scenario does not answer what it claims to: its run is invalid, not a figure."""


Extract = Callable[[Any], Any]


@dataclass(frozen=True)
class Scenario:
    key: str  # e.g. "sqlite/rest-one"
    label: str
    server: str  # the name of the server (bench/servers.py) it is sent to
    path: str
    method: str = "GET"
    body: str | None = None  # a JSON template; "{id}" is replaced
    headers: dict[str, str] = field(default_factory=dict)
    page: bool = False
    graphql: bool = False
    ceiling: str | None = None  # the key of the scenario it is divided by
    target: float | None = None
    extract: Extract = lambda body: body  # the export (or list of exports) in the body

    def request(self, client: httpx.Client, base_url: str, export_id: str) -> httpx.Response:
        body = None if self.body is None else self.body.replace("{id}", export_id)
        return client.request(
            self.method,
            base_url + self.path.replace("{id}", export_id),
            content=body,
            headers=self.headers,
        )


def graphql_body(query: str, variables: dict[str, Any] | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}})


def rest_members(export: dict[str, Any]) -> set[str]:
    """REST's members in GraphQL's names: `_links` is `links`, `_embedded.user` is `user`."""
    names = {name for name in export if name not in ("_links", "_embedded")}
    return names | {"links"} | set(export.get("_embedded", {}))


def user_of(export: dict[str, Any]) -> Any:
    """The embedded user: REST's `_embedded.user`, GraphQL's `user`, PostGraphile's."""
    if "_embedded" in export:
        return export["_embedded"].get("user")
    return export.get("user") or export.get("userByUserId")


def probe(
    scenario: Scenario, client: httpx.Client, base_url: str, export_id: str
) -> dict[str, Any] | list[dict[str, Any]]:
    """One request for `export_id`; the export(s) in its body, or ProbeFailed saying why."""
    response = scenario.request(client, base_url, export_id)
    if response.status_code != 200:
        raise ProbeFailed(f"status {response.status_code}: {response.text[:300]}")
    try:
        body = response.json()
    except ValueError as error:
        raise ProbeFailed(f"not JSON: {response.text[:300]}") from error
    if scenario.graphql and (body.get("errors") or body.get("data") is None):
        raise ProbeFailed(f"GraphQL errors: {json.dumps(body.get('errors'))[:300]}")
    try:
        found = scenario.extract(body)
    except (KeyError, TypeError, IndexError) as error:
        raise ProbeFailed(f"no export where expected ({error!r}): {response.text[:300]}") from error
    exports = found if scenario.page else [found]
    if not isinstance(exports, list) or not all(isinstance(e, dict) for e in exports):
        raise ProbeFailed(f"no export where expected: {response.text[:300]}")
    if scenario.page and len(exports) != PAGE:
        raise ProbeFailed(f"{len(exports)} exports in the page, expected {PAGE}")
    if not scenario.page and exports[0].get("id") != export_id:
        raise ProbeFailed(f"asked for {export_id}, got {exports[0].get('id')!r}")
    for export in exports:
        user = user_of(export)
        if not isinstance(user, dict) or user.get("id") != export.get("userId"):
            raise ProbeFailed(f"export {export.get('id')} came without its user")
    return found  # type: ignore[no-any-return]


def same_exports(a: Any, b: Any, page: bool) -> str | None:
    """Why two probes' answers are not the same export(s), or None."""
    ids_a = [e["id"] for e in a] if page else [a["id"]]
    ids_b = [e["id"] for e in b] if page else [b["id"]]
    return None if ids_a == ids_b else f"different exports: {ids_a[:3]}… vs {ids_b[:3]}…"


def same_members(rest: dict[str, Any], other: dict[str, Any]) -> str | None:
    """Why `other` (GraphQL or the ceiling) does not carry REST's members, or None."""
    want, have = rest_members(rest), rest_members(other)
    want_user, have_user = rest_members(user_of(rest) or {}), rest_members(user_of(other) or {})
    missing = sorted(want - have) + [f"user.{name}" for name in sorted(want_user - have_user)]
    extra = sorted(have - want) + [f"user.{name}" for name in sorted(have_user - want_user)]
    if missing or extra:
        return f"members differ from REST's: missing {missing}, extra {extra}"
    return None
