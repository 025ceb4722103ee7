"""Credentials to a principal: `REB-APIKEY` secret keys or `Authorization: Bearer` JWTs.

Keys are stored as HMAC-SHA-256 with a server pepper plus an 8-character lookup prefix, and
compared in constant time. JWT algorithms are pinned by configuration. Authenticating writes
nothing and costs one query, except for an API key this process verified within the last
API_KEY_CACHE_SECONDS (`KeyCache`): that is the bound on how long a revoked or deleted key (or a
changed permission) can still be used.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.errors import Unauthorized
from app.exports.principal import PERMISSIONS, Principal
from app.ids import new_id
from app.models import ApiKey, User, utcnow
from app.settings import Settings

CHALLENGE = 'REB-APIKEY realm="exports-gateway", Bearer realm="exports-gateway"'
"""`WWW-Authenticate` of every 401, REST and GraphQL (RFC 9110 §11.6.1): both ways to sign in.
One constant value: the Bearer challenge names no `error` (RFC 6750 §3.1 makes it optional,
and omits it when credentials are missing); the body's detail says what failed."""

KEY_PREFIX_LENGTH = 8
MAX_CREDENTIAL_LENGTH = 4096


def hash_secret(secret: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def parse_permissions(text: str) -> frozenset[str]:
    names = frozenset(p.strip() for p in text.replace(" ", ",").split(",") if p.strip())
    unknown = names - set(PERMISSIONS)
    if unknown:
        raise ValueError(f"unknown permissions: {', '.join(sorted(unknown))}")
    return names


async def issue_api_key(
    session: AsyncSession, *, user: User, permissions: frozenset[str], pepper: str
) -> str:
    """Create a key and return its secret: the only time it is ever visible."""
    while True:
        secret = secrets.token_urlsafe(32)  # 32 random bytes
        prefix = secret[:KEY_PREFIX_LENGTH]
        taken = await session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix))
        if taken is None:
            break
    session.add(
        ApiKey(
            id=new_id("key"),
            prefix=prefix,
            secret_hash=hash_secret(secret, pepper),
            organization_id=user.organization_id,
            user_id=user.id,
            permissions=",".join(sorted(permissions)),
            created_time=utcnow(),
        )
    )
    await session.flush()
    return secret


@dataclass
class KeyCache:
    """API keys this process verified recently: lookup prefix → (expiry, stored hash, principal).

    A hit is verified exactly as the database row is (constant-time compare of the presented
    key's HMAC against the stored one), so a wrong secret sharing a cached prefix is refused.
    Entries live `ttl` seconds from their verification, never longer: that is the documented
    bound on revocation. Failures are never cached. At most `max_size` entries; when full, the
    expired ones go, then the oldest."""

    ttl: float
    max_size: int = 4096
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, str, Principal]] = field(default_factory=dict)

    def get(self, prefix: str, digest: str) -> Principal | None:
        entry = self._entries.get(prefix)
        if entry is None:
            return None
        expires, stored, principal = entry
        if self.clock() >= expires:
            del self._entries[prefix]
            return None
        return principal if hmac.compare_digest(digest, stored) else None

    def clear(self) -> None:
        self._entries.clear()

    def put(self, prefix: str, digest: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        now = self.clock()
        if len(self._entries) >= self.max_size:
            for key in [k for k, (expires, _, _) in self._entries.items() if expires <= now]:
                del self._entries[key]
            while len(self._entries) >= self.max_size:
                del self._entries[next(iter(self._entries))]
        self._entries.pop(prefix, None)  # re-inserted last: the dict stays oldest first
        self._entries[prefix] = (now + self.ttl, digest, principal)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    if len(value) > MAX_CREDENTIAL_LENGTH or "\x00" in value:  # NUL: PostgreSQL rejects it
        raise Unauthorized("Invalid credentials.")
    return value.strip()


async def authenticate(
    session: AsyncSession, headers: Mapping[str, str], settings: Settings
) -> Principal:
    """Resolve the caller with one query (no cache)."""
    return await _authenticate(lambda: contextlib.nullcontext(session), headers, settings, None)


async def sign_in(
    sessions: async_sessionmaker[AsyncSession],
    credentials: Mapping[str, str],
    settings: Settings,
    cache: KeyCache | None = None,
) -> Principal:
    """Authenticate in a short session of its own (one read, nothing written), or none at all
    for an API key found in `cache`."""
    return await _authenticate(lambda: unit_of_work(sessions), credentials, settings, cache)


SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]
"""Opens the session a lookup runs in: the caller's own, or a short unit of work."""


async def _authenticate(
    opener: SessionOpener, headers: Mapping[str, str], settings: Settings, cache: KeyCache | None
) -> Principal:
    """Resolve the caller; the Bearer JWT wins when both credentials are sent."""
    authorization = _header(headers, "authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Invalid credentials: expected 'Authorization: Bearer <JWT>'.")
        async with opener() as session:
            return await _authenticate_jwt(session, token.strip(), settings)
    api_key = _header(headers, "reb-apikey")
    if api_key:
        prefix = api_key[:KEY_PREFIX_LENGTH]
        digest = hash_secret(api_key, settings.api_key_pepper)
        if cache is not None and (known := cache.get(prefix, digest)) is not None:
            return known
        async with opener() as session:
            principal = await _authenticate_key(session, api_key, digest, settings)
        if cache is not None:
            cache.put(prefix, digest, principal)
        return principal
    raise Unauthorized("Missing credentials: send REB-APIKEY or Authorization: Bearer.")


async def _authenticate_key(
    session: AsyncSession, secret: str, digest: str, settings: Settings
) -> Principal:
    row = (
        await session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.prefix == secret[:KEY_PREFIX_LENGTH])
        )
    ).first()
    expected = row[0].secret_hash if row else hash_secret("", settings.api_key_pepper)
    if not hmac.compare_digest(digest, expected) or row is None:
        raise Unauthorized("Invalid credentials.")
    key, user = row
    return Principal(
        organization_id=key.organization_id,
        user=user,
        permissions=frozenset(key.permissions.split(",")) & set(PERMISSIONS),
    )


def _jwt_key(settings: Settings) -> str | None:
    if settings.jwt_algorithm.startswith("HS"):
        return settings.jwt_secret
    return settings.jwt_public_key


async def _authenticate_jwt(session: AsyncSession, token: str, settings: Settings) -> Principal:
    key = _jwt_key(settings)
    if not key:
        raise Unauthorized("Invalid credentials: JWT authentication is not configured.")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            leeway=settings.jwt_leeway_seconds,
            # Identity providers put `aud` in every token: it is checked only when configured.
            options={"require": ["exp", "sub", "org"], "verify_aud": bool(settings.jwt_audience)},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Invalid credentials: the token has expired.") from None
    except jwt.PyJWTError:
        raise Unauthorized("Invalid credentials.") from None
    subject, organization = claims.get("sub"), claims.get("org")
    if not isinstance(subject, str) or not isinstance(organization, str):
        raise Unauthorized("Invalid credentials.")
    if "\x00" in subject or "\x00" in organization:
        raise Unauthorized("Invalid credentials.")
    raw_permissions = claims.get("permissions", [])
    if isinstance(raw_permissions, str):
        raw_permissions = raw_permissions.replace(" ", ",").split(",")
    if not isinstance(raw_permissions, list):
        raise Unauthorized("Invalid credentials.")
    user = await session.scalar(
        select(User).where(User.id == subject, User.organization_id == organization)
    )
    if user is None:
        raise Unauthorized("Invalid credentials.")
    permissions = frozenset(p for p in raw_permissions if isinstance(p, str)) & set(PERMISSIONS)
    return Principal(organization_id=organization, user=user, permissions=permissions)
