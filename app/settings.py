"""Typed settings read from environment variables, with defaults that work on a laptop.

Each variable is declared once, as a field of `Settings`: its name, default, type, allowed
values and a one-line meaning (the README's configuration table is checked against these
declarations). A bad value is a `SettingsError` whose one-line message names the variable, the
value and what is allowed.

Secrets have no default in production (`APP_ENV=production`); in development they are
generated once into the var directory so every process on the machine shares them. The var
directory does not follow the working directory: see `default_var_dir`.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MAX_BODY_BYTES = 1024 * 1024
"""Request bodies over 1 MiB are a 413 on every surface (spec §3); not configurable."""

PACKAGE_DIR = Path(__file__).resolve().parent
SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
_KINDS = frozenset({"str", "int", "float", "bool", "Path"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_PASSWORD_IN_URL = re.compile(r"(://[^/?#@:]*:)[^/?#@]*@")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def default_var_dir(env: Mapping[str, str], package_dir: Path = PACKAGE_DIR) -> Path:
    """Where state lives when `VAR_DIR` is not set, whatever the working directory.

    From a source checkout (the package sits next to the project's pyproject.toml, as with
    `pip install -e .` or `make run`) it is the checkout's `var/`; from an installed package
    it is `$XDG_STATE_HOME/exports-gateway` (`~/.local/state/exports-gateway` by default).
    """
    checkout = package_dir.parent
    try:
        project = (checkout / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        project = ""
    if 'name = "exports-gateway"' in project:
        return checkout / "var"
    state = env.get("XDG_STATE_HOME") or ""
    if not os.path.isabs(state):  # the XDG spec says to ignore a relative value
        home = env.get("HOME") or str(Path.home())
        state = os.path.join(home, ".local", "state")
    return Path(state) / "exports-gateway"


def sqlite_url(path: Path) -> str:
    return f"{SQLITE_DRIVER}:///{path}"


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***` (works on URLs that do not parse, too)."""
    return _PASSWORD_IN_URL.sub(r"\1***@", url)


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


# Derivations: a default computed when the variable is unset, from the values read before it.
Derive = Callable[["Setting", Mapping[str, Any], Mapping[str, str]], Any]


def _generated(filename: str) -> Derive:
    def derive(setting: Setting, values: Mapping[str, Any], _env: Mapping[str, str]) -> str:
        if values["app_env"] == "production":
            raise SettingsError(f"{setting.name} is required when APP_ENV=production")
        var_dir: Path = values["var_dir"]
        try:
            return _dev_secret(var_dir, filename)
        except OSError as exc:
            raise SettingsError(
                f"VAR_DIR={str(var_dir)!r}: cannot keep {filename} there ({exc.strerror}): "
                f"choose a writable VAR_DIR or set {setting.name}"
            ) from None

    return derive


def _var_dir(_s: Setting, _values: Mapping[str, Any], env: Mapping[str, str]) -> Path:
    return default_var_dir(env)


def _database_in_var_dir(_s: Setting, values: Mapping[str, Any], _e: Mapping[str, str]) -> str:
    return sqlite_url(values["var_dir"] / "exports.db")


def _files_in_var_dir(_s: Setting, values: Mapping[str, Any], _e: Mapping[str, str]) -> Path:
    path: Path = values["var_dir"] / "files"
    return path


def _off_in_production(_s: Setting, values: Mapping[str, Any], _e: Mapping[str, str]) -> bool:
    return bool(values["app_env"] != "production")


def _json_in_production(_s: Setting, values: Mapping[str, Any], _e: Mapping[str, str]) -> str:
    return "json" if values["app_env"] == "production" else "text"


# Conversions for text settings with a shape: raise ValueError (its text, if any, is a detail).
def _database_url(raw: str) -> str:
    value = raw.strip()
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError from None
    if url.drivername not in (SQLITE_DRIVER, POSTGRES_DRIVER):
        raise ValueError
    database = url.database or ""
    relative = not (database in ("", ":memory:") or database.startswith("file:"))
    if url.drivername == SQLITE_DRIVER and relative and not os.path.isabs(database):
        # A relative path is taken from the working directory: say which one it was.
        return url.set(database=os.path.abspath(database)).render_as_string(hide_password=False)
    return value


def _public_base_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError
    return value


def _public_key(raw: str) -> str:
    if raw.lstrip().startswith("-----BEGIN"):
        return raw
    try:
        return Path(raw).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(getattr(exc, "strerror", None) or str(exc)) from None


def _redis_url(raw: str) -> str:
    value = raw.strip()
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError
    return value


def _path(raw: str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(raw)))


@dataclass(frozen=True)
class Setting:
    """One environment variable: what it is called, means, accepts, and defaults to."""

    name: str
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    casefold: bool = False
    accepts: str | None = None
    """What a `convert`ed text setting accepts, in words."""
    convert: Callable[[str], Any] | None = None
    derive: Derive | None = None
    """Computes the default when the variable is unset (`Settings(...)` uses `default`)."""
    shown: str | None = None
    """The default as the README shows it, when it is computed."""
    secret: bool = False
    attr: str = ""
    kind: str = ""
    default: Any = None

    @property
    def allowed(self) -> str:
        """What the variable accepts, in words (error messages and the README say the same)."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            low, high = (None if v is None else f"{v:g}" for v in (self.low, self.high))
            if low is not None and high is not None:
                return f"{noun} between {low} and {high}"
            if low is not None:
                return f"{noun} of at least {low}"
            return noun
        if self.accepts:
            return self.accepts
        return "a path" if self.kind == "Path" else "any text"

    @property
    def shown_default(self) -> str:
        """The default in the README's words: computed ones are described, others literal."""
        if self.shown is not None:
            return self.shown
        value = self.default
        if value is None:
            return "—"
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        return f"`{text}`"

    def read(self, env: Mapping[str, str], values: Mapping[str, Any]) -> Any:
        raw = env.get(self.name) or ""
        if not raw.strip():
            return self.derive(self, values, env) if self.derive else self.default
        try:
            return self.parse(raw)
        except ValueError as exc:
            shown = "***" if self.secret else redact_url(raw)
            detail = f" ({exc})" if str(exc) else ""
            raise SettingsError(f"{self.name}={shown!r}: must be {self.allowed}{detail}") from None

    def parse(self, raw: str) -> Any:
        if self.convert is not None:
            return self.convert(raw)
        if self.choices:
            value = raw.strip()
            if self.casefold:
                value = value.upper()
            if value not in self.choices:
                raise ValueError
            return value
        if self.kind == "bool":
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError
            return lowered in _TRUE
        if self.kind in ("int", "float"):
            try:
                number: float = int(raw) if self.kind == "int" else float(raw)
            except ValueError:
                raise ValueError from None  # what is allowed says it better than int() does
            if not math.isfinite(number):
                raise ValueError
            if (self.low is not None and number < self.low) or (
                self.high is not None and number > self.high
            ):
                raise ValueError
            return number
        if self.kind == "Path":
            return _path(raw)
        return raw


def variable(
    name: str,
    default: Any,
    help: str,
    *,
    factory: Callable[[], Any] | None = None,
    secret: bool = False,
    **rules: Any,
) -> Any:
    """Declare a `Settings` field read from the variable `name` (see `Setting`)."""
    setting = Setting(name, help, secret=secret, **rules)
    metadata = {"setting": setting}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, repr=not secret, metadata=metadata)


def _default_var_dir() -> Path:
    return default_var_dir(os.environ)


@dataclass(frozen=True)
class Settings:
    """Every setting the service has. `Settings(...)` takes plain values (tests); the service
    reads `Settings.from_env()`, which validates each one and derives the computed defaults."""

    app_env: str = variable(
        "APP_ENV",
        "development",
        "`production` requires the secrets below and turns introspection and GraphiQL off by "
        "default",
        choices=("development", "production"),
    )
    var_dir: Path = variable(  # noqa: RUF009 (a dataclasses.field with a default_factory)
        "VAR_DIR",
        None,
        "development secrets, the SQLite file, export files and demo keys; "
        "a relative path is taken from the working directory",
        factory=_default_var_dir,
        derive=_var_dir,
        shown="the checkout's `var/` (see below)",
    )
    database_url: str = variable(
        "DATABASE_URL",
        None,
        "the database every process shares",
        factory=lambda: sqlite_url(_default_var_dir() / "exports.db"),
        derive=_database_in_var_dir,
        convert=_database_url,
        accepts=f"{SQLITE_DRIVER}:///PATH or {POSTGRES_DRIVER}://USER[:PASSWORD]@HOST[:PORT]/NAME",
        shown=f"`{SQLITE_DRIVER}:///$VAR_DIR/exports.db`",
    )
    database_pool_size: int = variable(
        "DATABASE_POOL_SIZE", 5, "connections serving requests, per process", low=1, high=100
    )
    public_base_url: str | None = variable(
        "PUBLIC_BASE_URL",
        None,
        "base of every link (`_links`, `Location`, GraphQL `links`) and of emailed links "
        "(which default to `http://127.0.0.1:8000`)",
        convert=_public_base_url,
        accepts="an http or https URL without query or fragment",
        shown="the request's `scheme://host:port`",
    )
    log_level: str = variable(
        "LOG_LEVEL",
        "INFO",
        "least severe level logged (to stderr)",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        casefold=True,
    )
    log_format: str = variable(
        "LOG_FORMAT",
        "text",
        "`json`: one JSON object per line (`time`, `level`, `logger`, `message`, `requestId`, "
        "`exc`); `text`: plain lines",
        choices=("text", "json"),
        derive=_json_in_production,
        shown="`text` (`json` in production)",
    )

    api_key_pepper: str = variable(
        "API_KEY_PEPPER",
        "",
        "HMAC key for stored API-key hashes",
        secret=True,
        derive=_generated("pepper.key"),
        shown="generated into `$VAR_DIR/pepper.key`",
    )
    signing_secret: str = variable(
        "SIGNING_SECRET",
        "",
        "HMAC key for signed download links; shared by every process",
        secret=True,
        derive=_generated("signing.key"),
        shown="generated into `$VAR_DIR/signing.key`",
    )
    jwt_algorithm: str = variable(
        "JWT_ALGORITHM",
        "HS256",
        "the one algorithm accepted for bearer tokens (never `none`)",
        choices=("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "EdDSA"),
    )
    jwt_secret: str | None = variable("JWT_SECRET", None, "secret for `HS*` tokens", secret=True)
    jwt_public_key: str | None = variable(
        "JWT_PUBLIC_KEY",
        None,
        "key for `RS*`, `ES*` and `EdDSA` tokens",
        convert=_public_key,
        accepts="a PEM public key or the path of a file holding one",
    )
    jwt_audience: str | None = variable(
        "JWT_AUDIENCE",
        None,
        "checked when set (a token's `aud` is ignored otherwise); "
        "required in production with `JWT_PUBLIC_KEY`",
    )
    jwt_issuer: str | None = variable("JWT_ISSUER", None, "checked when set")
    jwt_leeway_seconds: int = variable(
        "JWT_LEEWAY_SECONDS", 30, "clock skew allowed on `exp`, `nbf` and `iat`", low=0, high=300
    )

    api_key_cache_seconds: float = variable(
        "API_KEY_CACHE_SECONDS",
        5.0,
        "how long a process remembers a verified API key (0: never): a revoked or deleted key "
        "stops working within this time",
        low=0,
        high=60,
    )

    rate_limit_writes: int = variable(
        "RATE_LIMIT_WRITES",
        3000,
        "writes (REST POST/PUT/DELETE and GraphQL mutations) per organization per window",
        low=1,
    )
    rate_limit_window_seconds: int = variable(
        "RATE_LIMIT_WINDOW_SECONDS", 600, "the rate-limit window", low=1
    )

    worker_mode: str = variable(
        "WORKER_MODE",
        "inprocess",
        "`off` to run workers separately (`python -m app worker`)",
        choices=("inprocess", "off"),
    )
    worker_concurrency: int = variable(
        "WORKER_CONCURRENCY", 1, "exports processed at once per worker", low=1
    )
    worker_poll_seconds: float = variable(
        "WORKER_POLL_SECONDS", 1.0, "idle poll interval", low=0.01, high=3600
    )
    worker_lease_seconds: int = variable(
        "WORKER_LEASE_SECONDS",
        60,
        "a claim's lease, renewed every third of it; a dead worker's export is taken over after it",
        low=3,
    )
    worker_max_attempts: int = variable(
        "WORKER_MAX_ATTEMPTS", 5, "then `failed` with `max-retries-reached`", low=1
    )
    worker_retry_base_seconds: int = variable(
        "WORKER_RETRY_BASE_SECONDS", 30, "exponential backoff base between attempts", low=0
    )
    worker_sweep_seconds: float = variable(
        "WORKER_SWEEP_SECONDS",
        30.0,
        "how often a worker removes what crashed workers left",
        low=0.05,
        high=3600,
    )

    storage_dir: Path = variable(  # noqa: RUF009 (a dataclasses.field with a default_factory)
        "STORAGE_DIR",
        None,
        "export files; shared by every process",
        factory=lambda: _default_var_dir() / "files",
        derive=_files_in_var_dir,
        shown="`$VAR_DIR/files`",
    )
    signed_link_ttl_seconds: int = variable(
        "SIGNED_LINK_TTL", 3600, "seconds a `signedLink` works", low=1
    )
    email_link_ttl_seconds: int = variable(
        "EMAIL_LINK_TTL", 7 * 24 * 3600, "seconds an emailed link works", low=1
    )
    export_max_records: int = variable(
        "EXPORT_MAX_RECORDS",
        1_000_000,
        "larger exports fail (422 at request time when known)",
        low=1,
    )
    export_pdf_max_records: int = variable(
        "EXPORT_PDF_MAX_RECORDS", 10_000, "cap for PDF exports", low=1
    )
    preview_timeout_seconds: float = variable(
        "PREVIEW_TIMEOUT_SECONDS",
        5.0,
        "how long an export preview may read (count and first rows) before it answers 504",
        low=0.01,
        high=3600,
    )
    export_file_retention_days: int = variable(
        "EXPORT_FILE_RETENTION_DAYS",
        30,
        "older files of recurring exports are deleted; the newest is always kept",
        low=0,
    )

    smtp_host: str | None = variable(
        "SMTP_HOST", None, "without it, emails are logged instead of sent"
    )
    smtp_port: int = variable("SMTP_PORT", 25, "SMTP server port", low=1, high=65535)
    smtp_username: str | None = variable("SMTP_USERNAME", None, "SMTP login")
    smtp_password: str | None = variable("SMTP_PASSWORD", None, "SMTP password", secret=True)
    smtp_tls: str = variable(
        "SMTP_TLS",
        "none",
        "how the SMTP connection is encrypted",
        choices=("none", "starttls", "tls"),
    )
    smtp_sender: str = variable("SMTP_SENDER", "exports@localhost", "From address")

    webhook_allow_private: bool = variable(
        "WEBHOOK_ALLOW_PRIVATE",
        False,
        "allow webhook endpoints on private, loopback and link-local addresses",
    )
    webhook_timeout_seconds: float = variable(
        "WEBHOOK_TIMEOUT_SECONDS",
        10.0,
        "an endpoint that has not answered by then counts as a failed attempt",
        low=0.1,
        high=300,
    )
    webhook_max_attempts: int = variable(
        "WEBHOOK_MAX_ATTEMPTS", 8, "then the delivery is `failed`", low=1, high=50
    )
    webhook_retry_base_seconds: float = variable(
        "WEBHOOK_RETRY_BASE_SECONDS",
        30.0,
        "backoff base between attempts: base * 2^(attempt-1), at most an hour",
        low=0,
        high=3600,
    )

    graphql_max_depth: int = variable("GRAPHQL_MAX_DEPTH", 10, "query depth limit", low=1)
    graphql_max_aliases: int = variable("GRAPHQL_MAX_ALIASES", 15, "alias limit", low=1)
    graphql_max_tokens: int = variable("GRAPHQL_MAX_TOKENS", 2000, "token limit", low=10)
    graphql_timeout_seconds: float = variable(
        "GRAPHQL_TIMEOUT_SECONDS",
        10.0,
        "per-operation timeout: 504 with a GraphQL error body over HTTP, a `TIMEOUT` error "
        "over WebSocket (subscriptions excepted)",
        low=0.1,
        high=3600,
    )
    graphql_fast_path: bool = variable(
        "GRAPHQL_FAST_PATH",
        True,
        "serve `dataExport` and `dataExports` queries already answered once without errors "
        "through the fast path (same answers, less overhead); `false` sends every operation "
        "through the standard executor",
    )
    graphql_introspection: bool = variable(
        "GRAPHQL_INTROSPECTION",
        True,
        "allow introspection queries",
        derive=_off_in_production,
        shown="`true` (`false` in production)",
    )
    graphql_ide: bool = variable(
        "GRAPHQL_IDE",
        True,
        "serve GraphiQL on `GET /graphql` from a browser",
        derive=_off_in_production,
        shown="`true` (`false` in production)",
    )
    graphql_apq: bool = variable(
        "GRAPHQL_APQ",
        True,
        "automatic persisted queries (Apollo's protocol): a client sends a document's SHA-256 "
        "and the document only when the service does not know it yet",
    )
    graphql_apq_max_entries: int = variable(
        "GRAPHQL_APQ_MAX_ENTRIES",
        10000,
        "documents the persisted-query store keeps; the least recently used go first",
        low=1,
    )
    graphql_apq_redis_url: str | None = variable(
        "GRAPHQL_APQ_REDIS_URL",
        None,
        "keep persisted queries in this Redis instead of the database",
        accepts="a redis://, rediss:// or unix:// URL",
        convert=_redis_url,
    )
    graphql_trusted_documents: Path | None = variable(  # noqa: RUF009 (a dataclasses.field)
        "GRAPHQL_TRUSTED_DOCUMENTS",
        None,
        "a manifest of trusted documents (GraphQL Codegen's `persisted-documents.json` or "
        "Apollo's persisted query manifest); clients may send their ids instead of documents",
    )
    graphql_trusted_documents_only: bool = variable(
        "GRAPHQL_TRUSTED_DOCUMENTS_ONLY",
        False,
        "run only the manifest's documents (GraphiQL then runs only those too); needs "
        "`GRAPHQL_TRUSTED_DOCUMENTS`",
    )
    metrics_token: str | None = variable(
        "METRICS_TOKEN",
        None,
        "`/metrics` then needs `Authorization: Bearer <token>` (401 without); "
        "unset, `/metrics` is open in development and a 404 in production",
        secret=True,
    )

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every variable (the process environment by default)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            values[setting.attr] = setting.read(env, values)
        production = values["app_env"] == "production"
        if production and values["jwt_public_key"] and not values["jwt_audience"]:
            # An identity provider's key also signs tokens meant for its other APIs.
            raise SettingsError("JWT_AUDIENCE is required with JWT_PUBLIC_KEY in production")
        if values["graphql_trusted_documents_only"] and not values["graphql_trusted_documents"]:
            raise SettingsError(
                "GRAPHQL_TRUSTED_DOCUMENTS_ONLY=true needs GRAPHQL_TRUSTED_DOCUMENTS (a manifest)"
            )
        return cls(**values)


def _declared() -> tuple[Setting, ...]:
    declared: list[Setting] = []
    for item in fields(Settings):
        setting: Setting = item.metadata["setting"]
        kind = str(item.type).removesuffix(" | None")
        computed = item.default is MISSING
        assert kind in _KINDS, f"{setting.name}: no parser for {item.type}"
        assert setting.shown or not (computed or setting.derive), f"{setting.name}: shown?"
        declared.append(
            replace(setting, attr=item.name, kind=kind, default=None if computed else item.default)
        )
    return tuple(declared)


SETTINGS: tuple[Setting, ...] = _declared()
"""Every environment variable the service reads, in the README's order."""
