"""The Redis store (GRAPHQL_APQ_REDIS_URL) on a real Redis: shared, bounded, least recently
used evicted first. TEST_REDIS_URL names the server (default 127.0.0.1:6379, database 15);
Redis runs beside PostgreSQL on every machine this project builds on (.ci/run starts it when it
is down), so an unreachable server fails these tests rather than skipping them."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from app.persisted.operations import sha256_hex
from app.persisted.store import RedisStore
from app.settings import Settings
from tests.conftest import Tenant, start_harness, with_settings

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def store() -> AsyncIterator[RedisStore]:
    prefix = f"exports-gateway-test:{uuid.uuid4().hex}:"
    store = RedisStore(REDIS_URL, max_entries=2, prefix=prefix)
    try:
        await store.redis.ping()
    except Exception as exc:  # any connection failure: no server here
        await store.close()
        pytest.fail(f"no Redis at {REDIS_URL} (start redis-server, or set TEST_REDIS_URL): {exc}")
    yield store
    keys = [key async for key in store.redis.scan_iter(match=prefix + "*")]
    if keys:
        await store.redis.delete(*keys)
    await store.close()


async def test_documents_are_kept_and_the_least_recently_used_evicted(store: RedisStore) -> None:
    await store.put("a" * 64, "query A { __typename }")
    await store.put("b" * 64, "query B { __typename }")
    assert await store.get("a" * 64) == "query A { __typename }"  # now more recent than b
    await store.put("c" * 64, "query C { __typename }")
    assert await store.get("b" * 64) is None
    assert await store.get("a" * 64) == "query A { __typename }"
    assert await store.get("c" * 64) == "query C { __typename }"
    assert await store.redis.zcard(store.recency) == 2


async def test_two_apps_share_the_redis_store(
    store: RedisStore, settings: Settings, tenant: Tenant
) -> None:
    changed = with_settings(settings, graphql_apq_redis_url=REDIS_URL)
    query = f"query Unique{uuid.uuid4().hex} {{ __typename }}"
    sha = sha256_hex(query)
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    answers: list[httpx.Response] = []
    async for first in start_harness(changed):
        answers.append(await first.client.post("/graphql", json={"extensions": extensions}))
        body = {"query": query, "extensions": extensions}
        answers.append(await first.client.post("/graphql", json=body))
    async for second in start_harness(changed):
        answers.append(await second.client.post("/graphql", json={"extensions": extensions}))
    assert answers[0].json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert answers[1].json() == {"data": {"__typename": "Query"}}
    assert answers[2].json() == {"data": {"__typename": "Query"}}
    assert await store.redis.get("exports-gateway:apq:doc:" + sha) == query
    await store.redis.delete("exports-gateway:apq:doc:" + sha)
    await store.redis.zrem("exports-gateway:apq:lru", sha)
