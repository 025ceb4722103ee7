"""Authentication per spec §3: hashed keys, JWTs with pinned algorithms, and their errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

import app.auth
from app.auth import KEY_PREFIX_LENGTH
from app.models import ApiKey
from app.settings import Settings, SettingsError
from tests.conftest import Harness, Tenant, start_harness, with_settings

SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"
BODY = {"name": "Auth", "resource": "customers", "format": "csv"}


def claims(tenant: Tenant, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sub": tenant.user.id,
        "org": tenant.organization_id,
        "permissions": ["read", "write"],
        "exp": int(time.time()) + 300,
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A token built by hand: `alg: none`, or HMAC with an arbitrary key (no library checks)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def assert_401(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 401
    assert {"type", "title", "detail"} <= set(problem)


async def custom(settings: Settings, **changes: Any) -> AsyncIterator[Harness]:
    async for h in start_harness(with_settings(settings, **changes)):
        yield h


# --- keys -----------------------------------------------------------------------------------


async def test_keys_are_stored_only_as_keyed_hashes(harness: Harness, tenant: Tenant) -> None:
    async with harness.session() as session:
        rows = (await session.execute(select(ApiKey.__table__))).mappings().all()
    assert len(rows) == 2
    for secret in (tenant.key, tenant.read_key):
        assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) >= 32
        for row in rows:
            for column, value in row.items():
                assert secret not in str(value), column
        expected = hmac.new(b"test-pepper", secret.encode(), hashlib.sha256).hexdigest()
        plain = hashlib.sha256(secret.encode()).hexdigest()
        matching = [r for r in rows if r["secret_hash"] == expected]
        assert len(matching) == 1
        assert matching[0]["prefix"] == secret[:KEY_PREFIX_LENGTH]
        assert all(r["secret_hash"] != plain for r in rows)  # keyed, not a bare digest


async def test_keys_authenticate_with_their_permissions(harness: Harness, tenant: Tenant) -> None:
    client = harness.client
    created = await client.post("/data-exports", json=BODY, headers=tenant.headers)
    assert created.status_code == 201
    assert created.json()["userId"] == tenant.user.id
    assert (await client.get("/data-exports", headers=tenant.read_headers)).status_code == 200
    forbidden = await client.post("/data-exports", json=BODY, headers=tenant.read_headers)
    assert forbidden.status_code == 403
    # Surrounding whitespace in the header value is tolerated.
    padded = await client.get("/data-exports", headers={"REB-APIKEY": f"  {tenant.key} "})
    assert padded.status_code == 200


async def test_a_different_pepper_rejects_every_key(settings: Settings) -> None:
    async for h in custom(settings):
        tenant = await h.tenant("acme")
    async for h in custom(settings, api_key_pepper="another-pepper"):
        assert_401(await h.client.get("/data-exports", headers=tenant.headers))


async def test_key_comparison_is_constant_time(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real: Callable[[Any, Any], bool] = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(app.auth.hmac, "compare_digest", spy)
    ok = await harness.client.get("/data-exports", headers=tenant.headers)
    assert ok.status_code == 200
    assert len(calls) == 1
    forged = tenant.key[:KEY_PREFIX_LENGTH] + "x" * (len(tenant.key) - KEY_PREFIX_LENGTH)
    assert_401(await harness.client.get("/data-exports", headers={"REB-APIKEY": forged}))
    # The forged key was compared with the cached entry (app/auth.py, KeyCache), then the row.
    assert len(calls) == 3
    # An unknown prefix is compared too (against a dummy), so timing does not reveal prefixes.
    assert_401(await harness.client.get("/data-exports", headers={"REB-APIKEY": "z" * 43}))
    assert len(calls) == 4


async def test_authenticating_writes_nothing_and_costs_one_query(
    harness: Harness, tenant: Tenant
) -> None:
    token = hs256(claims(tenant))
    for headers, expected in (
        (tenant.headers, 2),  # the key (joined with its user), then the looked-up user
        (bearer(token), 2),  # the JWT's user, then the looked-up user
        ({"REB-APIKEY": "unknown-key-" * 4}, 1),
    ):
        with harness.count_statements() as counter:
            await harness.client.get("/users/usr_none", headers=headers)
        assert counter.count == expected, counter.statements
        writes = [s for s in counter.statements if not s.lstrip().upper().startswith("SELECT")]
        assert writes == []


# --- JWT ------------------------------------------------------------------------------------


async def test_a_valid_hs256_jwt_works(harness: Harness, tenant: Tenant) -> None:
    response = await harness.client.post(
        "/data-exports", json=BODY, headers=bearer(hs256(claims(tenant)))
    )
    assert response.status_code == 201, response.text
    assert response.json()["userId"] == tenant.user.id
    space_separated = hs256(claims(tenant, permissions="read write"))
    ok = await harness.client.post("/data-exports", json=BODY, headers=bearer(space_separated))
    assert ok.status_code == 201
    lower = {"authorization": "bearer " + hs256(claims(tenant))}
    assert (await harness.client.get("/data-exports", headers=lower)).status_code == 200


async def test_jwt_permissions_are_honoured(harness: Harness, tenant: Tenant) -> None:
    read_only = bearer(hs256(claims(tenant, permissions=["read"])))
    assert (await harness.client.get("/data-exports", headers=read_only)).status_code == 200
    response = await harness.client.post("/data-exports", json=BODY, headers=read_only)
    assert response.status_code == 403
    nothing = bearer(hs256(claims(tenant, permissions=["admin"])))
    assert (await harness.client.get("/data-exports", headers=nothing)).status_code == 403
    absent = bearer(hs256(claims(tenant, permissions=None)))
    assert (await harness.client.get("/data-exports", headers=absent)).status_code == 403
    bad_type = bearer(hs256(claims(tenant, permissions={"read": True})))
    assert_401(await harness.client.get("/data-exports", headers=bad_type))


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "no-exp",
        "no-sub",
        "no-org",
        "wrong-secret",
        "alg-none",
        "alg-none-signed",
        "tampered",
        "other-org-user",
        "unknown-user",
        "unknown-org",
        "not-yet-valid",
        "numeric-sub",
    ],
)
async def test_bad_jwts_are_401(harness: Harness, tenant: Tenant, case: str) -> None:
    other = await harness.tenant("globex", "bob@example.com")
    now = int(time.time())
    token = {
        "expired": lambda: hs256(claims(tenant, exp=now - 60)),
        "no-exp": lambda: hs256(claims(tenant, exp=None)),
        "no-sub": lambda: hs256(claims(tenant, sub=None)),
        "no-org": lambda: hs256(claims(tenant, org=None)),
        "wrong-secret": lambda: hs256(
            claims(tenant), "a-different-secret-that-is-also-long-enough"
        ),
        "alg-none": lambda: handmade({"alg": "none", "typ": "JWT"}, claims(tenant), None),
        "alg-none-signed": lambda: handmade({"alg": "none"}, claims(tenant), SECRET.encode()),
        "tampered": lambda: hs256(claims(tenant, permissions=["read"]))[:-4] + "AAAA",
        # A real user of another organization, claimed for this one (and vice versa).
        "other-org-user": lambda: hs256(claims(tenant, sub=other.user.id)),
        "unknown-user": lambda: hs256(claims(tenant, sub="usr_nobody")),
        "unknown-org": lambda: hs256(claims(tenant, org="initech")),
        "not-yet-valid": lambda: hs256(claims(tenant, nbf=now + 600)),
        "numeric-sub": lambda: hs256(claims(tenant, sub=12345)),
    }[case]()
    before = await harness.client.get("/data-exports", headers=tenant.headers)
    assert_401(await harness.client.get("/data-exports", headers=bearer(token)))
    assert_401(await harness.client.post("/data-exports", json=BODY, headers=bearer(token)))
    after = await harness.client.get("/data-exports", headers=tenant.headers)
    assert after.json() == before.json()


async def test_expired_token_says_so(harness: Harness, tenant: Tenant) -> None:
    token = hs256(claims(tenant, exp=int(time.time()) - 120))
    response = await harness.client.get("/data-exports", headers=bearer(token))
    assert_401(response)
    assert "expired" in response.json()["detail"]


async def test_bearer_wins_when_both_headers_are_sent(harness: Harness, tenant: Tenant) -> None:
    other = await harness.tenant("globex", "bob@example.com")
    token = hs256(claims(other))
    both = {**tenant.headers, **bearer(token)}
    response = await harness.client.post("/data-exports", json=BODY, headers=both)
    assert response.status_code == 201
    assert response.json()["userId"] == other.user.id
    listed = await harness.client.get("/data-exports", headers=tenant.headers)
    assert listed.json() == []
    # A bad Bearer is not rescued by a good key.
    rejected = {**tenant.headers, **bearer("garbage")}
    assert_401(await harness.client.get("/data-exports", headers=rejected))
    expired = {**tenant.headers, **bearer(hs256(claims(tenant, exp=int(time.time()) - 120)))}
    assert_401(await harness.client.get("/data-exports", headers=expired))


async def test_jwt_is_refused_when_not_configured(settings: Settings) -> None:
    async for h in custom(settings, jwt_secret=None):
        tenant = await h.tenant("acme")
        assert_401(await h.client.get("/data-exports", headers=bearer(hs256(claims(tenant)))))
        assert (await h.client.get("/data-exports", headers=tenant.headers)).status_code == 200


async def test_audience_and_issuer_are_ignored_when_not_configured(
    harness: Harness, tenant: Tenant
) -> None:
    for extra in ({"aud": "some-api"}, {"aud": ["a", "b"]}, {"iss": "https://idp.test/"}):
        token = hs256(claims(tenant, **extra))
        response = await harness.client.get("/data-exports", headers=bearer(token))
        assert response.status_code == 200, (extra, response.text)


async def test_clocks_may_differ_by_the_leeway_and_no_more(
    harness: Harness, tenant: Tenant
) -> None:
    leeway = harness.settings.jwt_leeway_seconds
    assert leeway == 30
    now = int(time.time())
    within = [
        {"iat": now + leeway // 2},
        {"nbf": now + leeway // 2},
        {"exp": now - leeway // 2},
    ]
    for changes in within:
        token = hs256(claims(tenant, **changes))
        response = await harness.client.get("/data-exports", headers=bearer(token))
        assert response.status_code == 200, (changes, response.text)
    beyond = [{"iat": now + leeway * 4}, {"nbf": now + leeway * 4}, {"exp": now - leeway * 4}]
    for changes in beyond:
        token = hs256(claims(tenant, **changes))
        assert_401(await harness.client.get("/data-exports", headers=bearer(token)))


async def test_audience_and_issuer_are_checked_when_configured(settings: Settings) -> None:
    async for h in custom(settings, jwt_audience="exports-api", jwt_issuer="https://idp.test/"):
        tenant = await h.tenant("acme")
        good = claims(tenant, aud="exports-api", iss="https://idp.test/")
        ok = await h.client.get("/data-exports", headers=bearer(hs256(good)))
        assert ok.status_code == 200, ok.text
        listed_aud = claims(tenant, aud=["other", "exports-api"], iss="https://idp.test/")
        assert (await h.client.get("/data-exports", headers=bearer(hs256(listed_aud)))).is_success
        for bad in (
            claims(tenant, iss="https://idp.test/"),
            claims(tenant, aud="exports-api"),
            claims(tenant, aud="someone-else", iss="https://idp.test/"),
            claims(tenant, aud="exports-api", iss="https://evil.test/"),
        ):
            assert_401(await h.client.get("/data-exports", headers=bearer(hs256(bad))))


def _rsa_pair() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


async def test_rs256_with_algorithm_pinning(settings: Settings) -> None:
    private, public = _rsa_pair()
    other_private, _ = _rsa_pair()
    async for h in custom(settings, jwt_algorithm="RS256", jwt_public_key=public):
        tenant = await h.tenant("acme")
        good = jwt.encode(claims(tenant), private, algorithm="RS256")
        response = await h.client.post("/data-exports", json=BODY, headers=bearer(good))
        assert response.status_code == 201, response.text
        assert response.json()["userId"] == tenant.user.id

        wrong_key = jwt.encode(claims(tenant), other_private, algorithm="RS256")
        assert_401(await h.client.get("/data-exports", headers=bearer(wrong_key)))
        # HS256 is refused when RS256 is configured: with the HMAC secret the server still has...
        assert_401(await h.client.get("/data-exports", headers=bearer(hs256(claims(tenant)))))
        # ...and in the classic confusion attack, HMAC keyed with the public key itself.
        confused = handmade({"alg": "HS256", "typ": "JWT"}, claims(tenant), public.encode())
        assert_401(await h.client.get("/data-exports", headers=bearer(confused)))
        unsigned = handmade({"alg": "none"}, claims(tenant), None)
        assert_401(await h.client.get("/data-exports", headers=bearer(unsigned)))
        rs512 = jwt.encode(claims(tenant), private, algorithm="RS512")
        assert_401(await h.client.get("/data-exports", headers=bearer(rs512)))


def test_settings_never_allow_alg_none(tmp_path: Path) -> None:
    base = {"VAR_DIR": str(tmp_path)}
    for algorithm in ("none", "None", "NONE", "HS1"):
        with pytest.raises(SettingsError, match="JWT_ALGORITHM"):
            Settings.from_env({**base, "JWT_ALGORITHM": algorithm})
    assert Settings.from_env({**base, "JWT_ALGORITHM": "RS256"}).jwt_algorithm == "RS256"
    assert Settings.from_env(base).jwt_algorithm == "HS256"


def test_production_requires_secrets(tmp_path: Path) -> None:
    env = {"VAR_DIR": str(tmp_path), "APP_ENV": "production"}
    with pytest.raises(SettingsError, match="API_KEY_PEPPER"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="SIGNING_SECRET"):
        Settings.from_env({**env, "API_KEY_PEPPER": "p"})
    ready = Settings.from_env({**env, "API_KEY_PEPPER": "p", "SIGNING_SECRET": "s"})
    assert ready.production
    assert not (tmp_path / "pepper.key").exists()


def test_production_public_keys_need_an_audience_and_leeway_is_bounded(tmp_path: Path) -> None:
    _, public = _rsa_pair()
    env = {"VAR_DIR": str(tmp_path), "APP_ENV": "production", "API_KEY_PEPPER": "p"}
    env |= {"SIGNING_SECRET": "s", "JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY": public}
    with pytest.raises(SettingsError, match="JWT_AUDIENCE"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "JWT_AUDIENCE": "exports-api"}).jwt_audience == "exports-api"
    development = {**env, "APP_ENV": "development"}
    assert Settings.from_env(development).jwt_audience is None
    with pytest.raises(SettingsError, match="JWT_LEEWAY_SECONDS"):
        Settings.from_env({**development, "JWT_LEEWAY_SECONDS": "301"})


def test_development_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = Settings.from_env({"VAR_DIR": str(tmp_path)})
    second = Settings.from_env({"VAR_DIR": str(tmp_path)})
    assert first.api_key_pepper == second.api_key_pepper
    assert first.signing_secret == second.signing_secret
    assert first.api_key_pepper != first.signing_secret
    for name in ("pepper.key", "signing.key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
