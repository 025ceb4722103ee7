"""Writes that race: a replace or delete working from a row another request (or a worker) has
changed since it was read answers 409 or 404, never a 500, and never undoes a claim."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.exports import service
from app.exports.validation import ExportSpec, validate_export
from app.models import DataExport, utcnow
from tests.conftest import Harness, Tenant

BODY = {"name": "Race", "resource": "customers", "format": "csv"}


async def _create(harness: Harness, tenant: Tenant) -> str:
    response = await harness.client.post("/data-exports", json=BODY, headers=tenant.headers)
    assert response.status_code == 201, response.text
    export_id: str = response.json()["id"]
    return export_id


def _renamed() -> ExportSpec:
    return validate_export({**BODY, "name": "Renamed"}, now=utcnow())


async def _read(session: AsyncSession, export_id: str) -> DataExport:
    row = await service.find_export(session, organization_id="acme", export_id=export_id)
    assert row is not None
    return row


async def _status(harness: Harness, export_id: str) -> str | None:
    async with harness.session() as session:
        return await session.scalar(select(DataExport.status).where(DataExport.id == export_id))


@pytest.mark.parametrize(("write", "answer"), [("replace", Conflict), ("delete", NotFound)])
async def test_a_write_from_a_read_of_an_export_deleted_meanwhile_is_refused(
    harness: Harness, tenant: Tenant, write: str, answer: type[Exception]
) -> None:
    export_id = await _create(harness, tenant)
    async with harness.session() as session:
        row = await _read(session, export_id)
        deleted = await harness.client.delete(f"/data-exports/{export_id}", headers=tenant.headers)
        assert deleted.status_code == 204
        attempt = (
            service.replace_export(session, export=row, spec=_renamed())
            if write == "replace"
            else service.delete_export(session, organization_id="acme", export_id=row.id)
        )
        with pytest.raises(answer):
            await attempt
        await session.rollback()
    assert await _status(harness, export_id) is None


async def test_replacing_an_export_a_worker_claimed_meanwhile_keeps_the_claim(
    harness: Harness, tenant: Tenant
) -> None:
    export_id = await _create(harness, tenant)
    async with harness.session() as session:
        row = await _read(session, export_id)
        async with harness.session() as worker:
            await worker.execute(
                update(DataExport).where(DataExport.id == export_id).values(status="processing")
            )
            await worker.commit()
        with pytest.raises(Conflict, match="processing"):
            await service.replace_export(session, export=row, spec=_renamed())
        await session.rollback()
    assert await _status(harness, export_id) == "processing"


async def test_concurrent_put_and_delete_never_answer_5xx(harness: Harness, tenant: Tenant) -> None:
    client = harness.client
    headers = tenant.headers
    for n in range(15):
        export_id = f"race-{n}"
        created = await client.put(f"/data-exports/{export_id}", json=BODY, headers=headers)
        assert created.status_code == 201, created.text
        responses = await asyncio.gather(
            client.delete(f"/data-exports/{export_id}", headers=headers),
            client.delete(f"/data-exports/{export_id}", headers=headers),
            client.put(f"/data-exports/{export_id}", json=BODY, headers=headers),
        )
        first, second, put = (r.status_code for r in responses)
        assert sorted((first, second)) in ([204, 404], [204, 204]), responses[:2]
        assert put in (200, 201, 409), put
