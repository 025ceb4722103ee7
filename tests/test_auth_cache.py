"""API keys verified within API_KEY_CACHE_SECONDS skip the database (app/auth.py, KeyCache), and
that is the bound: a deleted key, or one whose permissions changed, is refused or narrowed once
its entry is older than the TTL; a wrong secret sharing a cached prefix is always refused."""

from __future__ import annotations

from sqlalchemy import delete, update

from app.auth import KEY_PREFIX_LENGTH, KeyCache
from app.exports.principal import Principal
from app.models import ApiKey, User
from tests.conftest import Harness, Tenant, start_harness, with_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fake_clock(harness: Harness) -> Clock:
    clock = Clock()
    harness.app.state.key_cache.clock = clock
    return clock


async def _get(harness: Harness, headers: dict[str, str]) -> int:
    response = await harness.client.get("/data-exports", headers=headers)
    return response.status_code


async def test_a_deleted_key_is_refused_once_its_entry_expires(
    harness: Harness, tenant: Tenant
) -> None:
    clock = _fake_clock(harness)
    ttl = harness.settings.api_key_cache_seconds
    assert ttl == 5  # the documented default
    assert await _get(harness, tenant.headers) == 200
    async with harness.session() as session:
        await session.execute(delete(ApiKey).where(ApiKey.prefix == tenant.key[:8]))
        await session.commit()
    clock.now += ttl - 0.01
    assert await _get(harness, tenant.headers) == 200  # verified, within the bound: no query
    clock.now += 0.01
    assert await _get(harness, tenant.headers) == 401  # at the bound: looked up, and gone
    assert await _get(harness, tenant.headers) == 401  # failures are not cached


async def test_a_cached_key_costs_no_authentication_statement(
    harness: Harness, tenant: Tenant
) -> None:
    with harness.count_statements() as cold:
        assert await _get(harness, tenant.headers) == 200
    with StatementsOf(harness) as warm:  # the cache is kept this time
        assert await _get(harness, tenant.headers) == 200
    assert any("api_keys" in s for s in cold.statements)
    assert not any("api_keys" in s for s in warm.statements)
    assert len(warm.statements) == cold.count - 1


async def test_narrowed_permissions_apply_within_the_bound(
    harness: Harness, tenant: Tenant
) -> None:
    clock = _fake_clock(harness)
    body = {"name": "Cached", "resource": "customers", "format": "csv"}
    created = await harness.client.post("/data-exports", json=body, headers=tenant.headers)
    assert created.status_code == 201
    async with harness.session() as session:
        await session.execute(
            update(ApiKey).where(ApiKey.prefix == tenant.key[:8]).values(permissions="read")
        )
        await session.commit()
    clock.now += harness.settings.api_key_cache_seconds
    refused = await harness.client.post("/data-exports", json=body, headers=tenant.headers)
    assert refused.status_code == 403


async def test_a_wrong_secret_with_a_cached_prefix_is_refused(
    harness: Harness, tenant: Tenant
) -> None:
    assert await _get(harness, tenant.headers) == 200
    forged = tenant.key[:KEY_PREFIX_LENGTH] + "x" * (len(tenant.key) - KEY_PREFIX_LENGTH)
    assert await _get(harness, {"REB-APIKEY": forged}) == 401
    assert await _get(harness, tenant.headers) == 200  # the real key's entry is untouched


async def test_graphql_uses_the_same_cache_and_bound(harness: Harness, tenant: Tenant) -> None:
    clock = _fake_clock(harness)
    query = {"query": "{ viewer { organizationId } }"}
    ok = await harness.client.post("/graphql", json=query, headers=tenant.headers)
    assert ok.json() == {"data": {"viewer": {"organizationId": "acme"}}}
    async with harness.session() as session:
        await session.execute(delete(ApiKey).where(ApiKey.prefix == tenant.key[:8]))
        await session.commit()
    clock.now += harness.settings.api_key_cache_seconds
    gone = await harness.client.post("/graphql", json=query, headers=tenant.headers)
    assert gone.status_code == 401
    assert gone.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_zero_seconds_turns_the_cache_off(harness: Harness, tenant: Tenant) -> None:
    settings = with_settings(harness.settings, api_key_cache_seconds=0)
    async for h in start_harness(settings):
        for _ in range(2):
            with StatementsOf(h) as counter:
                assert await _get(h, tenant.headers) == 200
            assert any("api_keys" in s for s in counter.statements)


class StatementsOf:
    """A statement counter that leaves the key cache as it is."""

    def __init__(self, harness: Harness) -> None:
        from tests.conftest import StatementCounter

        self.counter = StatementCounter(harness.engine)

    def __enter__(self) -> StatementsOf:
        self.counter.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.counter.__exit__(*exc)

    @property
    def statements(self) -> list[str]:
        return self.counter.statements


def _principal(organization: str) -> Principal:
    user = User(id="usr", organization_id=organization, email="a@example.com")
    return Principal(organization_id=organization, user=user, permissions=frozenset({"read"}))


def test_the_cache_is_bounded_and_forgets_the_oldest_first() -> None:
    clock = Clock()
    cache = KeyCache(ttl=5, max_size=2, clock=clock)
    for n, prefix in enumerate(("aaaaaaaa", "bbbbbbbb", "cccccccc")):
        cache.put(prefix, f"digest-{n}", _principal(f"org{n}"))
    assert cache.get("aaaaaaaa", "digest-0") is None  # the oldest went to make room
    found = cache.get("cccccccc", "digest-2")
    assert found is not None
    assert found.organization_id == "org2"
    assert cache.get("cccccccc", "digest-x") is None  # the digest must match
    clock.now += 5
    assert cache.get("bbbbbbbb", "digest-1") is None  # expired exactly at the TTL
    off = KeyCache(ttl=0, clock=clock)
    off.put("aaaaaaaa", "digest-0", _principal("org0"))
    assert off.get("aaaaaaaa", "digest-0") is None
