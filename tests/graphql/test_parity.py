"""Every export reads the same over GraphQL as over REST `?expand=user,file`, member for member,
once the GraphQL names and enum values are mapped back to their REST spelling."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from app.demo import seed_demo
from app.exports.worker import Worker
from app.graphql.enums import (
    CsvDialect,
    ExportErrorCode,
    ExportFormat,
    ExportResource,
    ExportStatus,
    FailureReason,
)
from tests.conftest import Harness, Tenant, add_user
from tests.graphql.conftest import data, rest_body

LINKS = "links { rel href }"
USER = f"id email firstName lastName createdTime {LINKS}"
FILE = f"id name contentType size sha256 createdTime {LINKS}"
EXPORT = f"""
  id name resource format
  arguments {{ filter sort q }}
  emailNotification fields
  recurring {{ instruction start }}
  userId fileId recordCount scheduledTime createdTime updatedTime status failureReason
  {LINKS}
  dateRange {{ start end field }}
  csvDialect
  attempts lastError {{ code message time }} nextAttemptTime
  progress {{ rowsWritten rowsTotal }}
  user {{ {USER} }}
  file {{ {FILE} }}
"""
GET = f"query($id: ID!) {{ dataExport(id: $id) {{ {EXPORT} }} }}"
PAGE = f"{{ dataExports(limit: 1000) {{ total items {{ {EXPORT} }} }} }}"


def _linked(node: dict[str, Any], members: list[str]) -> dict[str, Any]:
    out = {m: node[m] for m in members}
    out["_links"] = node["links"]
    return out


def graphql_to_rest(node: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL DataExport (with user and file) in the REST shape of `expand=user,file`."""
    user = node["user"]
    file = node["file"]
    reason = node["failureReason"]
    return {
        "id": node["id"],
        "name": node["name"],
        "resource": ExportResource[node["resource"]].value,
        "format": ExportFormat[node["format"]].value,
        "arguments": {k: v for k, v in node["arguments"].items() if v is not None},
        "emailNotification": node["emailNotification"],
        "fields": node["fields"],
        "recurring": node["recurring"],
        "userId": node["userId"],
        "fileId": node["fileId"],
        "recordCount": node["recordCount"],
        "scheduledTime": node["scheduledTime"],
        "createdTime": node["createdTime"],
        "updatedTime": node["updatedTime"],
        "status": ExportStatus[node["status"]].value,
        "failureReason": FailureReason[reason].value if reason else None,
        "_links": node["links"],
        "dateRange": node["dateRange"],
        "csvDialect": node["csvDialect"] and CsvDialect[node["csvDialect"]].value,
        "attempts": node["attempts"],
        "lastError": (
            {**node["lastError"], "code": ExportErrorCode[node["lastError"]["code"]].value}
            if node["lastError"]
            else None
        ),
        "nextAttemptTime": node["nextAttemptTime"],
        "progress": node["progress"],
        # REST leaves out what there is nothing to embed; GraphQL answers null for it.
        "_embedded": {
            name: _linked(value, members)
            for name, value, members in (
                ("user", user, ["id", "email", "firstName", "lastName", "createdTime"]),
                ("file", file, ["id", "name", "contentType", "size", "sha256", "createdTime"]),
            )
            if value
        },
    }


def _unsign(value: Any) -> Any:
    """Signed links carry a fresh expiry: keep the URL, check and drop expires/signature."""
    if isinstance(value, dict):
        if value.get("rel") == "signedLink":
            parts = urlsplit(value["href"])
            query = parse_qs(parts.query)
            assert sorted(query) == ["expires", "signature"], value
            assert len(query["signature"][0]) == 64
            return {**value, "href": urlunsplit(parts._replace(query=""))}
        return {k: _unsign(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsign(v) for v in value]
    return value


async def _seed(harness: Harness, tenant: Tenant) -> None:
    async with harness.session() as session:
        await seed_demo(
            session,
            organization_id="acme",
            customers=15,
            transactions=40,
            pepper=harness.settings.api_key_pepper,
            keys_file=None,
            show_progress=False,
        )
    # Complete what is due now (the demo exports), so file members are filled in.
    await Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage).run(
        once=True
    )
    bob = await add_user(harness, "acme", "bob@example.com")
    async with harness.session() as session:
        from app.auth import issue_api_key

        bob_key = await issue_api_key(
            session,
            user=bob,
            permissions=frozenset({"read", "write"}),
            pepper=harness.settings.api_key_pepper,
        )
        await session.commit()
    bodies = [
        (
            tenant.key,
            rest_body(
                name="Ranged",
                dateRange={"start": "2026-01-01T00:00:00Z", "end": "3 days ago midnight"},
                arguments={"filter": "result:approved", "q": "x"},
                emailNotification=["a@example.com", "B@Example.com"],
                csvDialect="excel",
            ),
        ),
        (
            bob_key,
            rest_body(
                name="Weekly",
                resource="invoiceItems",
                format="json-api",
                recurring={"instruction": "RRULE:FREQ=WEEKLY;BYDAY=FR", "start": "2090-05-05"},
                dateRange={"start": "last monday", "end": "today", "field": "createdTime"},
            ),
        ),
        (
            bob_key,
            rest_body(
                name="Columns",
                resource="customers",
                format="xml",
                fields=["id", "email", "primaryAddress/country"],
                arguments={"sort": "-createdTime"},
            ),
        ),
        (tenant.key, rest_body(name="Plain", arguments={}, emailNotification=[], recurring=None)),
    ]
    for key, body in bodies:
        response = await harness.client.post(
            "/data-exports", json=body, headers={"REB-APIKEY": key}
        )
        assert response.status_code == 201, response.text


async def test_every_export_matches_rest(harness: Harness, tenant: Tenant) -> None:
    await _seed(harness, tenant)
    client = harness.client
    rest_page = await client.get(
        "/data-exports", params={"limit": 1000, "expand": "user,file"}, headers=tenant.headers
    )
    assert rest_page.status_code == 200
    rest_all = rest_page.json()
    assert len(rest_all) >= 9
    statuses = {e["status"] for e in rest_all}
    assert {"completed", "pending"} <= statuses
    assert any("file" in e["_embedded"] for e in rest_all)
    assert not all("file" in e["_embedded"] for e in rest_all)
    assert any(e["recurring"] for e in rest_all)
    assert any(e["dateRange"] for e in rest_all)
    assert any(e["arguments"] for e in rest_all)
    assert any(e["emailNotification"] for e in rest_all)
    assert len({e["userId"] for e in rest_all}) >= 2

    for summary in rest_all:
        export_id = summary["id"]
        rest = await client.get(
            f"/data-exports/{export_id}", params={"expand": "user,file"}, headers=tenant.headers
        )
        assert rest.status_code == 200
        node = (await data(client, GET, tenant.headers, {"id": export_id}))["dataExport"]
        converted = graphql_to_rest(node)
        assert _unsign(converted) == _unsign(rest.json()), export_id
        assert list(converted) == list(rest.json())  # same members, same order

    # The page agrees with the REST page, item for item.
    page = (await data(client, PAGE, tenant.headers))["dataExports"]
    assert page["total"] == len(rest_all)
    assert [_unsign(graphql_to_rest(n)) for n in page["items"]] == _unsign(rest_all)


async def test_signed_links_work_from_either_surface(harness: Harness, tenant: Tenant) -> None:
    response = await harness.client.post(
        "/data-exports",
        json=rest_body(resource="customers", format="json"),
        headers=tenant.headers,
    )
    export_id = response.json()["id"]
    await Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage).run(
        once=True
    )
    node = (
        await data(
            harness.client,
            "query($id: ID!) { dataExport(id: $id) { links { rel href } "
            "file { downloadUrl(ttlSeconds: 120) links { rel href } } } }",
            tenant.headers,
            {"id": export_id},
        )
    )["dataExport"]
    rest = (
        await harness.client.get(
            f"/data-exports/{export_id}", params={"expand": "file"}, headers=tenant.headers
        )
    ).json()
    hrefs = [link["href"] for link in node["links"] if link["rel"] == "signedLink"]
    hrefs.append(node["file"]["downloadUrl"])
    hrefs += [link["href"] for link in rest["_links"] if link["rel"] == "signedLink"]
    assert len(hrefs) == 3
    bodies = set()
    for href in hrefs:
        assert href.startswith("http://testserver/files/")
        got = await harness.client.get(href)  # no credentials
        assert got.status_code == 200, href
        bodies.add(got.content)
    assert len(bodies) == 1
