"""Typed settings read from environment variables, with defaults that work on a laptop.

Secrets have no default in production (`APP_ENV=production`); in development they are
generated once into the var directory so every process on the machine shares them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

MAX_BODY_BYTES = 1024 * 1024
"""Request bodies over 1 MiB are a 413 on every surface (spec §3); not configurable."""


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(
    env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: set[str]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise SettingsError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _dev_secret(var_dir: Path, filename: str) -> str:
    """A random secret kept in the var directory, created once with mode 0600."""
    path = var_dir / filename
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    var_dir: Path = Path("var")
    database_url: str = "sqlite+aiosqlite:///var/exports.db"
    public_base_url: str | None = None
    log_level: str = "INFO"

    api_key_pepper: str = field(default="", repr=False)
    signing_secret: str = field(default="", repr=False)
    jwt_algorithm: str = "HS256"
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_public_key: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway_seconds: int = 30

    rate_limit_writes: int = 3000
    rate_limit_window_seconds: int = 600

    worker_mode: str = "inprocess"
    worker_concurrency: int = 1
    worker_poll_seconds: float = 1.0
    worker_lease_seconds: int = 60
    worker_max_attempts: int = 5
    worker_retry_base_seconds: int = 30

    storage_dir: Path = Path("var/files")
    signed_link_ttl_seconds: int = 3600
    email_link_ttl_seconds: int = 7 * 24 * 3600
    export_max_records: int = 1_000_000
    export_pdf_max_records: int = 10_000
    export_file_retention_days: int = 30

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "none"
    smtp_sender: str = "exports@localhost"

    graphql_max_depth: int = 10
    graphql_max_aliases: int = 15
    graphql_max_tokens: int = 2000
    graphql_timeout_seconds: float = 10.0
    graphql_introspection: bool = True
    graphql_ide: bool = True

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        app_env = _choice(env, "APP_ENV", "development", {"development", "production"})
        production = app_env == "production"
        var_dir = Path(env.get("VAR_DIR") or "var")

        def secret(name: str, filename: str) -> str:
            value = env.get(name)
            if value:
                return value
            if production:
                raise SettingsError(f"{name} is required when APP_ENV=production")
            return _dev_secret(var_dir, filename)

        jwt_algorithm = env.get("JWT_ALGORITHM") or "HS256"
        if jwt_algorithm.lower() == "none" or jwt_algorithm not in {
            "HS256",
            "HS384",
            "HS512",
            "RS256",
            "RS384",
            "RS512",
            "ES256",
            "EdDSA",
        }:
            raise SettingsError(f"JWT_ALGORITHM {jwt_algorithm!r} is not allowed")
        public_key = env.get("JWT_PUBLIC_KEY") or None
        if public_key and not public_key.lstrip().startswith("-----BEGIN"):
            public_key = Path(public_key).read_text()
        if production and public_key and not env.get("JWT_AUDIENCE"):
            # An identity provider's key also signs tokens meant for its other APIs.
            raise SettingsError("JWT_AUDIENCE is required with JWT_PUBLIC_KEY in production")

        return cls(
            app_env=app_env,
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir}/exports.db",
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            log_level=env.get("LOG_LEVEL") or "INFO",
            api_key_pepper=secret("API_KEY_PEPPER", "pepper.key"),
            signing_secret=secret("SIGNING_SECRET", "signing.key"),
            jwt_algorithm=jwt_algorithm,
            jwt_secret=env.get("JWT_SECRET") or None,
            jwt_public_key=public_key,
            jwt_audience=env.get("JWT_AUDIENCE") or None,
            jwt_issuer=env.get("JWT_ISSUER") or None,
            jwt_leeway_seconds=_int(env, "JWT_LEEWAY_SECONDS", 30, minimum=0, maximum=300),
            rate_limit_writes=_int(env, "RATE_LIMIT_WRITES", 3000, minimum=1),
            rate_limit_window_seconds=_int(env, "RATE_LIMIT_WINDOW_SECONDS", 600, minimum=1),
            worker_mode=_choice(env, "WORKER_MODE", "inprocess", {"inprocess", "off"}),
            worker_concurrency=_int(env, "WORKER_CONCURRENCY", 1, minimum=1),
            worker_poll_seconds=float(env.get("WORKER_POLL_SECONDS") or 1.0),
            worker_lease_seconds=_int(env, "WORKER_LEASE_SECONDS", 60, minimum=3),
            worker_max_attempts=_int(env, "WORKER_MAX_ATTEMPTS", 5, minimum=1),
            worker_retry_base_seconds=_int(env, "WORKER_RETRY_BASE_SECONDS", 30, minimum=0),
            storage_dir=Path(env.get("STORAGE_DIR") or var_dir / "files"),
            signed_link_ttl_seconds=_int(env, "SIGNED_LINK_TTL", 3600, minimum=1),
            email_link_ttl_seconds=_int(env, "EMAIL_LINK_TTL", 7 * 24 * 3600, minimum=1),
            export_max_records=_int(env, "EXPORT_MAX_RECORDS", 1_000_000, minimum=1),
            export_pdf_max_records=_int(env, "EXPORT_PDF_MAX_RECORDS", 10_000, minimum=1),
            export_file_retention_days=_int(env, "EXPORT_FILE_RETENTION_DAYS", 30, minimum=0),
            smtp_host=env.get("SMTP_HOST") or None,
            smtp_port=_int(env, "SMTP_PORT", 25, minimum=1),
            smtp_username=env.get("SMTP_USERNAME") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_tls=_choice(env, "SMTP_TLS", "none", {"none", "starttls", "tls"}),
            smtp_sender=env.get("SMTP_SENDER") or "exports@localhost",
            graphql_max_depth=_int(env, "GRAPHQL_MAX_DEPTH", 10, minimum=1),
            graphql_max_aliases=_int(env, "GRAPHQL_MAX_ALIASES", 15, minimum=1),
            graphql_max_tokens=_int(env, "GRAPHQL_MAX_TOKENS", 2000, minimum=10),
            graphql_timeout_seconds=float(env.get("GRAPHQL_TIMEOUT_SECONDS") or 10.0),
            graphql_introspection=_bool(env, "GRAPHQL_INTROSPECTION", not production),
            graphql_ide=_bool(env, "GRAPHQL_IDE", not production),
        )
