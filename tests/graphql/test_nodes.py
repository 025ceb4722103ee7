"""Relay Object Identification: the Node interface, `node(id:)` and `nodes(ids:)` on the batch
loaders (a constant number of statements), tenancy, and the ID-typed id fields."""

from __future__ import annotations

from typing import Any

import graphql

from app.exports import service
from app.exports.validation import validate_export
from app.exports.worker import Worker
from app.graphql.schema import build_schema
from app.models import utcnow
from tests.conftest import Harness, Tenant, add_user
from tests.graphql.conftest import data, errors, invalid_field_names, post, rest_body, seed_exports

PUBLIC = "https://93.184.215.14/hooks/exports"
NODE = """query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on DataExport { name requesterId }
    ... on User { email }
    ... on ExportFile { name size }
    ... on Webhook { url }
  }
}"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"""


async def _objects(harness: Harness, tenant: Tenant) -> dict[str, str]:
    """One object of every node type in the tenant's organization: type → id."""
    export_id = (await seed_exports(harness, tenant.organization_id, [tenant.user], 1))[0]
    await Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage).run(
        once=True
    )
    shown = await harness.client.get(f"/data-exports/{export_id}", headers=tenant.headers)
    webhook = await harness.client.post("/webhooks", headers=tenant.headers, json={"url": PUBLIC})
    assert webhook.status_code == 201, webhook.text
    return {
        "DataExport": export_id,
        "User": tenant.user.id,
        "ExportFile": shown.json()["fileId"],
        "Webhook": webhook.json()["id"],
    }


async def test_node_finds_every_type_by_its_own_id(harness: Harness, tenant: Tenant) -> None:
    made = await _objects(harness, tenant)
    assert made["ExportFile"]
    for typename, object_id in made.items():
        found = (await data(harness.client, NODE, tenant.headers, {"id": object_id}))["node"]
        assert (found["__typename"], found["id"]) == (typename, object_id)
    export = (await data(harness.client, NODE, tenant.headers, {"id": made["DataExport"]}))["node"]
    assert export["requesterId"] == tenant.user.id
    missing = await data(harness.client, NODE, tenant.headers, {"id": "exp_nope"})
    assert missing == {"node": None}


async def test_another_organizations_ids_are_null(harness: Harness, tenant: Tenant) -> None:
    stranger = await harness.tenant("globex", "eve@example.com")
    theirs = await _objects(harness, stranger)
    for object_id in theirs.values():
        found = await data(harness.client, NODE, tenant.headers, {"id": object_id})
        assert found == {"node": None}, object_id
    listed = await data(harness.client, NODES, tenant.headers, {"ids": list(theirs.values())})
    assert listed == {"nodes": [None] * 4}
    # ...and the owner sees them all.
    own = await data(harness.client, NODES, stranger.headers, {"ids": list(theirs.values())})
    assert [n["__typename"] for n in own["nodes"]] == list(theirs)


async def test_nodes_keep_the_order_given(harness: Harness, tenant: Tenant) -> None:
    made = await _objects(harness, tenant)
    ids = [made["Webhook"], "nope", made["User"], made["DataExport"], made["ExportFile"]]
    found = (await data(harness.client, NODES, tenant.headers, {"ids": ids}))["nodes"]
    assert found == [
        {"__typename": "Webhook", "id": made["Webhook"]},
        None,
        {"__typename": "User", "id": made["User"]},
        {"__typename": "DataExport", "id": made["DataExport"]},
        {"__typename": "ExportFile", "id": made["ExportFile"]},
    ]


async def test_a_page_of_nodes_costs_the_same_statements(harness: Harness, tenant: Tenant) -> None:
    users = [tenant.user, *[await add_user(harness, "acme", f"u{n}@example.com") for n in range(3)]]
    exports = await seed_exports(harness, "acme", users, 96)
    ids = exports + [u.id for u in users]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on DataExport { name } } }"

    async def count(chosen: list[str]) -> tuple[int, list[Any]]:
        with harness.count_statements() as counter:
            response = await post(harness.client, query, tenant.headers, {"ids": chosen})
        body = response.json()
        assert "errors" not in body, body
        return counter.count, body["data"]["nodes"]

    big, big_nodes = await count(ids)
    small, small_nodes = await count(ids[:5] + ids[-5:])
    print(f"\nstatements: nodes(100 ids) = {big}, nodes(10 ids) = {small}")
    assert len(big_nodes) == 100
    assert [n["id"] for n in big_nodes] == ids
    assert {n["__typename"] for n in big_nodes} == {"DataExport", "User"}
    assert len(small_nodes) == 10
    assert big == small
    assert big <= 5  # the caller, then one per node type


async def test_bad_ids_are_named(harness: Harness, tenant: Tenant) -> None:
    (error,) = await errors(harness.client, NODE, tenant.headers, {"id": "a b"})
    assert invalid_field_names(error) == ["id"]
    (error,) = await errors(harness.client, NODES, tenant.headers, {"ids": ["ok", "a/b", "", "x"]})
    assert invalid_field_names(error) == ["ids.1", "ids.2"]
    (error,) = await errors(harness.client, NODES, tenant.headers, {"ids": ["x"] * 1001})
    assert invalid_field_names(error) == ["ids"]
    (error,) = await errors(harness.client, NODES, {}, {"ids": ["x"]}, status=401)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_chosen_export_id_equal_to_a_users_id(harness: Harness, tenant: Tenant) -> None:
    """The one ambiguity a client can create: the type whose prefix the id carries wins, and
    the export stays reachable by dataExport(id:)."""
    async with harness.session() as session:
        spec = validate_export(rest_body(), now=utcnow())
        await service.create_export(
            session,
            organization_id="acme",
            user_id=tenant.user.id,
            spec=spec,
            export_id=tenant.user.id,
        )
        await session.commit()
    found = (await data(harness.client, NODE, tenant.headers, {"id": tenant.user.id}))["node"]
    assert found["__typename"] == "User"
    direct = await data(
        harness.client, "query($id: ID!) { dataExport(id: $id) { id } }", tenant.headers,
        {"id": tenant.user.id},
    )  # fmt: skip
    assert direct == {"dataExport": {"id": tenant.user.id}}


async def test_id_fields_are_ids_and_the_strings_are_deprecated(
    harness: Harness, tenant: Tenant
) -> None:
    made = await _objects(harness, tenant)
    query = """query($id: ID!) {
      viewer { organizationId currentOrganizationId }
      dataExport(id: $id) { userId requesterId fileId latestFileId }
    }"""
    got = await data(harness.client, query, tenant.headers, {"id": made["DataExport"]})
    assert got["viewer"] == {"organizationId": "acme", "currentOrganizationId": "acme"}
    assert got["dataExport"] == {
        "userId": tenant.user.id,
        "requesterId": tenant.user.id,
        "fileId": made["ExportFile"],
        "latestFileId": made["ExportFile"],
    }
    schema = graphql.build_client_schema(
        build_schema().execute_sync(graphql.get_introspection_query()).data  # type: ignore[arg-type]
    )
    for type_name, old, new in [
        ("DataExport", "userId", "requesterId"),
        ("DataExport", "fileId", "latestFileId"),
        ("Viewer", "organizationId", "currentOrganizationId"),
    ]:
        kind = schema.get_type(type_name)
        assert isinstance(kind, graphql.GraphQLObjectType)
        assert graphql.get_named_type(kind.fields[new].type).name == "ID"
        assert graphql.get_named_type(kind.fields[old].type).name == "String"
        assert new in (kind.fields[old].deprecation_reason or "")
        assert kind.fields[new].deprecation_reason is None
    node = schema.get_type("Node")
    assert isinstance(node, graphql.GraphQLInterfaceType)
    assert {t.name for t in schema.get_possible_types(node)} == {
        "DataExport",
        "User",
        "ExportFile",
        "Webhook",
    }
