"""File downloads over REST: `Range` answers that stay inside spec §3 (problem+json or the whole
file), `Content-Disposition` for any file name, and signed links that carry exactly the query
they were issued with."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from app.exports.signing import stable_window
from app.rest.files import RangeNotSatisfiable, byte_ranges, content_disposition
from tests.conftest import Harness, Tenant
from tests.exports.conftest import completed_export, links, local, published
from tests.graphql.conftest import data
from tests.rest.conftest import assert_problem, invalid_fields


@pytest.fixture
async def done(harness: Harness, tenant: Tenant) -> dict[str, Any]:
    return await completed_export(harness, tenant)


def both_routes(done: dict[str, Any]) -> list[str]:
    """The credentialed download path and the signed link path of one file."""
    return [local(links(done)["download"]), local(links(done)["signedLink"])]


# --- Range ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["garbage", "bytes=5-1", "bytes=", "bytes=a-b", "bytes=-", "items=0-5", "bytes 0-5"],
)
async def test_an_invalid_range_is_ignored_and_the_whole_file_sent(
    harness: Harness, tenant: Tenant, done: dict[str, Any], header: str
) -> None:
    for path in both_routes(done):
        whole = await harness.client.get(path, headers=tenant.headers)
        response = await harness.client.get(path, headers={**tenant.headers, "Range": header})
        assert response.status_code == 200, (path, response.text)
        assert response.content == whole.content
        assert len(response.content) == done["_embedded"]["file"]["size"]
        assert "content-range" not in response.headers


@pytest.mark.parametrize("header", ["bytes=99999999-", "bytes=99999999-100000000", "bytes=-0"])
async def test_an_unsatisfiable_range_is_a_416_problem(
    harness: Harness, tenant: Tenant, done: dict[str, Any], header: str
) -> None:
    size = done["_embedded"]["file"]["size"]
    for path in both_routes(done):
        response = await harness.client.get(path, headers={**tenant.headers, "Range": header})
        problem = assert_problem(response, 416)
        assert str(size) in problem["detail"]
        assert response.headers["content-range"] == f"bytes */{size}"


async def test_valid_ranges_still_get_206(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    size = done["_embedded"]["file"]["size"]
    for path in both_routes(done):
        whole = (await harness.client.get(path, headers=tenant.headers)).content
        first = await harness.client.get(path, headers={**tenant.headers, "Range": "bytes=0-9"})
        assert first.status_code == 206
        assert first.headers["content-range"] == f"bytes 0-9/{size}"
        assert first.content == whole[:10]
        tail = await harness.client.get(path, headers={**tenant.headers, "Range": "bytes=-5"})
        assert tail.status_code == 206
        assert tail.headers["content-range"] == f"bytes {size - 5}-{size - 1}/{size}"
        assert tail.content == whole[-5:]


async def test_a_stale_if_range_sends_the_whole_file_even_for_an_unsatisfiable_range(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    headers = {**tenant.headers, "Range": "bytes=99999999-", "If-Range": '"another-etag"'}
    for path in both_routes(done):
        response = await harness.client.get(path, headers=headers)
        assert response.status_code == 200
        assert len(response.content) == done["_embedded"]["file"]["size"]


async def test_several_ranges_are_one_multipart_answer(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    size = done["_embedded"]["file"]["size"]
    for path in both_routes(done):
        whole = (await harness.client.get(path, headers=tenant.headers)).content
        headers = {**tenant.headers, "Range": "bytes=4-5, 0-1,1-2"}  # overlapping: merged
        response = await harness.client.get(path, headers=headers)
        assert response.status_code == 206
        assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
        assert f"Content-Range: bytes 0-2/{size}" in response.text
        assert f"Content-Range: bytes 4-5/{size}" in response.text
        assert whole[0:3] in response.content
        assert whole[4:6] in response.content


async def test_a_current_if_range_keeps_the_range(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    for path in both_routes(done):
        etag = (await harness.client.get(path, headers=tenant.headers)).headers["etag"]
        headers = {**tenant.headers, "Range": "bytes=0-9", "If-Range": etag}
        assert (await harness.client.get(path, headers=headers)).status_code == 206
        headers["If-Range"] = f"W/{etag}"  # a weak validator never matches (RFC 9110 §13.1.5)
        assert (await harness.client.get(path, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", [(0, 10)]),
        ("BYTES = 0-9", [(0, 10)]),
        ("bytes=90-", [(90, 100)]),
        ("bytes=-10", [(90, 100)]),
        ("bytes=-1000", [(0, 100)]),
        ("bytes=0-1000", [(0, 100)]),
        ("bytes=50-59,0-9,5-14", [(0, 15), (50, 60)]),
        ("bytes=0-9,x,-", [(0, 10)]),  # unreadable parts are skipped, as Starlette does
        ("bytes=+0-9", []),
        ("bytes=\u0660-9", []),  # Arabic-Indic zero: not an RFC 9110 digit
        ("bytes=5-1", []),
        ("bytes=", []),
        ("items=0-9", []),
        ("bytes 0-9", []),
        ("bytes=" + ",".join(["0-1"] * 101), []),  # too many parts
    ],
)
def test_byte_ranges(header: str, expected: list[tuple[int, int]]) -> None:
    assert byte_ranges(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=0-9,100-200"])
def test_byte_ranges_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_ranges(header, 100)


# --- Content-Disposition ----------------------------------------------------------------------


async def test_a_non_ascii_file_name_has_an_ascii_fallback_first(
    harness: Harness, tenant: Tenant
) -> None:
    done = await completed_export(harness, tenant, name="Café Ünïcode 日本")
    name = done["_embedded"]["file"]["name"]
    assert name.startswith("café-ünïcode-日本-")
    for path in both_routes(done):
        response = await harness.client.get(path, headers=tenant.headers)
        disposition = response.headers["content-disposition"]
        fallback, _, extended = disposition.partition("; filename*=UTF-8''")
        assert fallback.startswith('attachment; filename="cafe-unicode-__-')
        assert fallback.isascii()
        assert unquote(extended) == name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.csv", 'attachment; filename="report.csv"'),
        ("a b.csv", 'attachment; filename="a b.csv"'),
        (
            'say "hi".csv',
            "attachment; filename=\"say _hi_.csv\"; filename*=UTF-8''say%20%22hi%22.csv",
        ),
        (
            "back\\slash.csv",
            "attachment; filename=\"back_slash.csv\"; filename*=UTF-8''back%5Cslash.csv",
        ),
        (
            "line\r\nbreak.csv",
            "attachment; filename=\"line__break.csv\"; filename*=UTF-8''line%0D%0Abreak.csv",
        ),
        ("100%.csv", "attachment; filename=\"100_.csv\"; filename*=UTF-8''100%25.csv"),
        ("naïve.csv", "attachment; filename=\"naive.csv\"; filename*=UTF-8''na%C3%AFve.csv"),
    ],
)
def test_content_disposition_makes_the_fallback_safe(name: str, expected: str) -> None:
    assert content_disposition(name) == expected


# --- signed links -----------------------------------------------------------------------------


def _parts(done: dict[str, Any]) -> tuple[str, str, str]:
    split = urlsplit(links(done)["signedLink"])
    query = parse_qs(split.query)
    return split.path, query["expires"][0], query["signature"][0]


def _flip(text: str) -> str:
    return text[:-1] + ("0" if text[-1] != "0" else "1")


ALTERED_QUERIES = {
    "bad then good signature": "expires={e}&signature={bad}&signature={s}",
    "good then bad signature": "expires={e}&signature={s}&signature={bad}",
    "expires twice": "expires={e}&expires={e}&signature={s}",
    "extra parameter": "expires={e}&signature={s}&foo=bar",
    "extra parameter first": "foo=bar&expires={e}&signature={s}",
    "extra name without value": "expires={e}&signature={s}&download",
    "percent-encoded signature": "expires={e}&signature=%{hex}{rest}",
    "percent-encoded name": "expires={e}&%73ignature={s}",
}


@pytest.mark.parametrize("alteration", list(ALTERED_QUERIES))
async def test_a_signed_link_with_other_parameters_is_forbidden(
    harness: Harness, done: dict[str, Any], alteration: str
) -> None:
    path, expires, signature = _parts(done)
    query = ALTERED_QUERIES[alteration].format(
        e=expires,
        s=signature,
        bad=_flip(signature),
        hex=f"{ord(signature[0]):02X}",
        rest=signature[1:],
    )
    response = await harness.client.get(f"{path}?{query}")
    assert_problem(response, 403)


async def test_a_signed_link_with_its_parameters_swapped_still_works(
    harness: Harness, done: dict[str, Any]
) -> None:
    path, expires, signature = _parts(done)
    response = await harness.client.get(f"{path}?signature={signature}&expires={expires}")
    assert response.status_code == 200
    assert len(response.content) == done["_embedded"]["file"]["size"]


async def test_an_encoded_slash_in_a_file_id(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    _, expires, signature = _parts(done)
    download = await harness.client.get("/files/a%2Fb/download", headers=tenant.headers)
    assert invalid_fields(download) == ["id"]
    signed = await harness.client.get(
        f"/files/a%2Fb/signed?expires={expires}&signature={signature}"
    )
    assert_problem(signed, 403)


async def test_refetches_within_a_window_return_the_same_signed_link(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    """REST `_links`, GraphQL `links` and `downloadUrl` hand out one string per window, so a
    client cache is not rewritten by a refetch; the link still has most of its TTL left."""
    ttl = harness.settings.signed_link_ttl_seconds
    window = stable_window(ttl)
    query = "query($id: ID!) { dataExport(id: $id) { links { rel href } file { downloadUrl } } }"
    before = time.time()
    hrefs = []
    for _ in range(2):
        rest = await harness.client.get(f"/data-exports/{done['id']}", headers=tenant.headers)
        hrefs.append(links(rest.json())["signedLink"])
        node = (await data(harness.client, query, tenant.headers, {"id": done["id"]}))["dataExport"]
        hrefs += [link["href"] for link in node["links"] if link["rel"] == "signedLink"]
        hrefs.append(node["file"]["downloadUrl"])
    after = time.time()
    if (int(before) + ttl) // window == (int(after) + ttl) // window:  # not across a boundary
        assert len(set(hrefs)) == 1, hrefs
    for href in hrefs:
        expires = int(parse_qs(urlsplit(href).query)["expires"][0])
        assert expires % window == 0
        assert before + ttl - window - 1 < expires <= after + ttl
        assert (await harness.client.get(local(href))).status_code == 200


async def test_a_file_gone_from_storage_is_a_problem_not_a_500(
    harness: Harness, tenant: Tenant, done: dict[str, Any]
) -> None:
    """404 with credentials; the signed link, which tells strangers nothing, says 403."""
    (path,) = published(harness.settings.storage_dir)
    path.unlink()
    download, signed = both_routes(done)
    assert_problem(await harness.client.get(download, headers=tenant.headers), 404)
    assert_problem(await harness.client.get(signed), 403)


async def test_files_and_users_are_served_under_the_organization_too(
    harness: Harness, tenant: Tenant
) -> None:
    """Rebilly's SDKs prefix every call with /organizations/{id} when given an organization."""
    done = await completed_export(harness, tenant)
    plain = await harness.client.get(local(links(done)["download"]), headers=tenant.headers)
    prefixed = await harness.client.get(
        f"/organizations/acme/files/{done['fileId']}/download", headers=tenant.headers
    )
    assert prefixed.status_code == 200
    assert prefixed.content == plain.content
    user = await harness.client.get(
        f"/organizations/acme/users/{tenant.user.id}", headers=tenant.headers
    )
    assert user.json()["id"] == tenant.user.id
    other = await harness.client.get(
        f"/organizations/globex/files/{done['fileId']}/download", headers=tenant.headers
    )
    assert other.status_code == 403
