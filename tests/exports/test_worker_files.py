"""Spec §2 and §7 files: credentialed download, signed links and what tampering gets, and
DELETE taking the files with the export."""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from app.exports.signing import signed_path
from tests.conftest import Harness, Tenant
from tests.exports.conftest import (
    completed_export,
    file_rows,
    links,
    local,
    published,
    seed,
)


@pytest.fixture
async def done(harness: Harness, tenant: Tenant) -> dict[str, Any]:
    await seed(harness, customers=30, transactions=200, resources=("transactions",))
    return await completed_export(harness, tenant)


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [
        ("csv", "text/csv; charset=utf-8", "csv"),
        ("json", "application/json", "json"),
        ("json-api", "application/vnd.api+json", "json"),
        ("xml", "application/xml; charset=utf-8", "xml"),
        ("pdf", "application/pdf", "pdf"),
    ],
)
async def test_download_with_credentials(
    harness: Harness, tenant: Tenant, fmt: str, content_type: str, extension: str
) -> None:
    await seed(harness, customers=30, transactions=200, resources=("transactions",))
    done = await completed_export(harness, tenant, fmt, name="Q1 / EU report")
    file = done["_embedded"]["file"]
    response = await harness.client.get(local(links(done)["download"]), headers=tenant.read_headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type == file["contentType"]
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="{file["name"]}"' in disposition
    assert file["name"].startswith("q1-eu-report-")
    assert file["name"].endswith(f".{extension}")
    assert "/" not in file["name"]
    assert len(response.content) == file["size"] > 0
    assert hashlib.sha256(response.content).hexdigest() == file["sha256"]


async def test_download_needs_credentials_of_the_owner(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    path = local(links(done)["download"])
    anonymous = await harness.client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    wrong_key = await harness.client.get(path, headers={"REB-APIKEY": "x" * 40})
    assert wrong_key.status_code == 401

    other = await harness.tenant("globex", email="eve@example.com")
    foreign = await harness.client.get(path, headers=other.headers)
    assert foreign.status_code == 404
    missing = await harness.client.get("/files/file_nope/download", headers=tenant.headers)
    assert missing.status_code == 404


async def test_signed_link_needs_no_credentials(harness: Harness, done: dict[str, Any]) -> None:
    file = done["_embedded"]["file"]
    for href in (links(done)["signedLink"], links(file)["signedLink"]):
        response = await harness.client.get(local(href))
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == file["sha256"]
        assert response.headers["content-type"] == file["contentType"]


def _parts(href: str) -> tuple[str, str, str]:
    split = urlsplit(href)
    query = parse_qs(split.query)
    file_id = split.path.split("/")[2]
    return file_id, query["expires"][0], query["signature"][0]


def _url(file_id: str, **query: str) -> str:
    return f"/files/{file_id}/signed" + (f"?{urlencode(query)}" if query else "")


def _flip(text: str) -> str:
    return text[:-1] + ("0" if text[-1] != "0" else "1")


TAMPERINGS = {
    "altered signature": lambda f, e, s: _url(f, expires=e, signature=_flip(s)),
    "uppercase signature": lambda f, e, s: _url(f, expires=e, signature=s.upper()),
    "signature one char short": lambda f, e, s: _url(f, expires=e, signature=s[:-1]),
    "signature one char long": lambda f, e, s: _url(f, expires=e, signature=s + "0"),
    "non-hex signature": lambda f, e, s: _url(f, expires=e, signature="z" * 64),
    "non-ascii signature": lambda f, e, s: _url(f, expires=e, signature="é" * 64),
    "altered expires": lambda f, e, s: _url(f, expires=str(int(e) + 1), signature=s),
    "expires with a leading zero": lambda f, e, s: _url(f, expires="0" + e, signature=s),
    "expires with a plus sign": lambda f, e, s: _url(f, expires="+" + e, signature=s),
    "negative expires": lambda f, e, s: _url(f, expires="-" + e, signature=s),
    "non-numeric expires": lambda f, e, s: _url(f, expires="soon", signature=s),
    "huge expires": lambda f, e, s: _url(f, expires="9" * 40, signature=s),
    "non-ascii digits": lambda f, e, s: _url(f, expires="١٢٣", signature=s),
    "altered file id": lambda f, e, s: _url(_flip(f), expires=e, signature=s),
    "unknown file id": lambda f, e, s: _url("file_unknown", expires=e, signature=s),
    "invalid file id": lambda f, e, s: _url("file%20x", expires=e, signature=s),
    "missing signature": lambda f, e, s: _url(f, expires=e),
    "missing expires": lambda f, e, s: _url(f, signature=s),
    "empty signature": lambda f, e, s: _url(f, expires=e, signature=""),
    "no query": lambda f, e, s: _url(f),
    "repeated parameter": lambda f, e, s: _url(f, expires=e, signature=s) + f"&expires={e}0",
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
async def test_tampered_signed_links_are_forbidden(
    harness: Harness, done: dict[str, Any], tampering: str
) -> None:
    file_id, expires, signature = _parts(links(done)["signedLink"])
    url = TAMPERINGS[tampering](file_id, expires, signature)
    response = await harness.client.get(url)
    assert response.status_code == 403, (tampering, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 403


async def test_a_link_for_one_file_does_not_open_another(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    second = await completed_export(harness, tenant, "json", name="Second")
    _, expires, signature = _parts(links(done)["signedLink"])
    response = await harness.client.get(
        _url(second["fileId"], expires=expires, signature=signature)
    )
    assert response.status_code == 403


async def test_expired_links_are_forbidden(harness: Harness, done: dict[str, Any]) -> None:
    secret = harness.settings.signing_secret
    fresh = await harness.client.get(signed_path(secret, done["fileId"], 60))
    assert fresh.status_code == 200
    for ttl in (-1, -3600):
        stale = await harness.client.get(signed_path(secret, done["fileId"], ttl))
        assert stale.status_code == 403
    # Expiry is checked against the clock at request time, not when the link was made.
    made_earlier = signed_path(secret, done["fileId"], 30, now=time.time() - 31)
    assert (await harness.client.get(made_earlier)).status_code == 403
    other_secret = signed_path("not-the-secret", done["fileId"], 60)
    assert (await harness.client.get(other_secret)).status_code == 403


async def test_delete_removes_the_files_and_their_rows(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    keep = await completed_export(harness, tenant, "json", name="Keep me")
    storage = harness.settings.storage_dir
    assert len(published(storage)) == 2
    signed = local(links(done)["signedLink"])

    response = await harness.client.delete(f"/data-exports/{done['id']}", headers=tenant.headers)
    assert response.status_code == 204
    assert response.content == b""

    remaining = published(storage)
    assert len(remaining) == 1
    assert remaining[0].name.startswith(keep["fileId"])
    assert [f.id for f in await file_rows(harness)] == [keep["fileId"]]
    gone = await harness.client.get(local(links(done)["download"]), headers=tenant.headers)
    assert gone.status_code == 404
    assert (await harness.client.get(signed)).status_code == 403
    still = await harness.client.get(local(links(keep)["download"]), headers=tenant.headers)
    assert still.status_code == 200
