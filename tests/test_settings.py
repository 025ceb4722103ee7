"""Settings come from the environment with laptop defaults; production demands its secrets."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest

from app.settings import SETTINGS, Setting, Settings, SettingsError, default_var_dir


def test_defaults_work_on_a_laptop(tmp_path: Path) -> None:
    settings = Settings.from_env({"VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/exports.db"
    assert settings.storage_dir == tmp_path / "files"
    assert settings.rate_limit_writes == 3000
    assert settings.rate_limit_window_seconds == 600
    assert settings.worker_lease_seconds == 60
    assert settings.graphql_max_depth == 10
    assert settings.graphql_max_aliases == 15
    assert settings.graphql_max_tokens == 2000
    assert settings.graphql_introspection is True
    assert settings.graphql_ide is True


def test_development_secrets_are_generated_once_and_shared(tmp_path: Path) -> None:
    first = Settings.from_env({"VAR_DIR": str(tmp_path)})
    second = Settings.from_env({"VAR_DIR": str(tmp_path)})
    assert len(first.signing_secret) >= 32
    assert first.signing_secret == second.signing_secret
    assert first.api_key_pepper == second.api_key_pepper
    assert first.signing_secret != first.api_key_pepper
    mode = stat.S_IMODE((tmp_path / "signing.key").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize("missing", ["API_KEY_PEPPER", "SIGNING_SECRET"])
def test_production_requires_secrets(tmp_path: Path, missing: str) -> None:
    env = {
        "APP_ENV": "production",
        "VAR_DIR": str(tmp_path),
        "API_KEY_PEPPER": "pepper",
        "SIGNING_SECRET": "signing",
    }
    del env[missing]
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)
    assert not (tmp_path / "signing.key").exists()


def test_production_turns_introspection_and_ide_off(tmp_path: Path) -> None:
    env = {"APP_ENV": "production", "API_KEY_PEPPER": "p", "SIGNING_SECRET": "s"}
    settings = Settings.from_env({**env, "VAR_DIR": str(tmp_path)})
    assert settings.graphql_introspection is False
    assert settings.graphql_ide is False


@pytest.mark.parametrize("algorithm", ["none", "None", "HS1", "whatever"])
def test_jwt_algorithm_is_pinned_to_safe_choices(tmp_path: Path, algorithm: str) -> None:
    with pytest.raises(SettingsError, match="JWT_ALGORITHM"):
        Settings.from_env({"VAR_DIR": str(tmp_path), "JWT_ALGORITHM": algorithm})


@pytest.mark.parametrize(
    ("name", "value"),
    [("RATE_LIMIT_WRITES", "many"), ("RATE_LIMIT_WRITES", "0"), ("GRAPHQL_IDE", "maybe")],
)
def test_malformed_values_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"VAR_DIR": str(tmp_path), name: value})


def test_public_base_url_loses_its_trailing_slash(tmp_path: Path) -> None:
    env = {"VAR_DIR": str(tmp_path), "PUBLIC_BASE_URL": "https://exports.example.com/"}
    assert Settings.from_env(env).public_base_url == "https://exports.example.com"


# --- Declared once: every variable has one default, type and range, and the README says so.

REPO = Path(__file__).resolve().parent.parent


def _readme_rows() -> list[str]:
    section = (REPO / "README.md").read_text().split("## Configuration\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_readme_table_is_the_declared_settings() -> None:
    """Names, defaults, allowed values and meanings come from `SETTINGS`; the README table must
    match them row for row (paste the expected rows into README.md when a setting changes)."""
    expected = [f"| `{s.name}` | {s.shown_default} | {s.allowed} | {s.help} |" for s in SETTINGS]
    assert _readme_rows() == expected, "\n" + "\n".join(expected)


def test_readme_defaults_are_the_real_defaults(tmp_path: Path) -> None:
    """The defaults the README shows literally are what `from_env({})` and `Settings()` give."""
    read = Settings.from_env({"VAR_DIR": str(tmp_path)})
    built = Settings()
    for setting in SETTINGS:
        if setting.shown is None:
            assert getattr(read, setting.attr) == setting.default, setting.name
            assert getattr(built, setting.attr) == setting.default, setting.name
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert {s.attr for s in SETTINGS} == {f.name for f in dataclasses.fields(Settings)}


def test_new_settings_for_the_core(tmp_path: Path) -> None:
    defaults = Settings.from_env({"VAR_DIR": str(tmp_path)})
    assert defaults.database_pool_size == 5
    assert defaults.worker_sweep_seconds == 30.0
    env = {"VAR_DIR": str(tmp_path), "DATABASE_POOL_SIZE": "12", "WORKER_SWEEP_SECONDS": "0.5"}
    chosen = Settings.from_env(env)
    assert chosen.database_pool_size == 12
    assert chosen.worker_sweep_seconds == 0.5
    assert Settings(database_pool_size=1, worker_sweep_seconds=0.05).database_pool_size == 1


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WORKER_POLL_SECONDS", "abc", "must be a number between 0.01 and 3600"),
        ("WORKER_POLL_SECONDS", "0", "must be a number between 0.01 and 3600"),
        ("WORKER_POLL_SECONDS", "nan", "must be a number between 0.01 and 3600"),
        ("WORKER_POLL_SECONDS", "inf", "must be a number between 0.01 and 3600"),
        ("GRAPHQL_TIMEOUT_SECONDS", "-5", "must be a number between 0.1 and 3600"),
        ("WORKER_SWEEP_SECONDS", "0.01", "must be a number between 0.05 and 3600"),
        ("DATABASE_POOL_SIZE", "0", "must be an integer between 1 and 100"),
        ("DATABASE_POOL_SIZE", "101", "must be an integer between 1 and 100"),
        ("DATABASE_POOL_SIZE", "2.5", "must be an integer between 1 and 100"),
        ("RATE_LIMIT_WRITES", "many", "must be an integer of at least 1"),
        ("SMTP_PORT", "70000", "must be an integer between 1 and 65535"),
        ("GRAPHQL_IDE", "maybe", "must be true or false"),
        ("SMTP_TLS", "ssl", "must be one of none, starttls, tls"),
        ("LOG_LEVEL", "loud", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("PUBLIC_BASE_URL", "exports.example.com", "must be an http or https URL"),
        ("DATABASE_URL", "foo://x", "must be sqlite+aiosqlite:///PATH or postgresql+asyncpg://"),
        ("DATABASE_URL", "postgresql://u@h/db", "must be sqlite+aiosqlite:///PATH or"),
    ],
)
def test_a_bad_value_is_one_line_naming_variable_value_and_what_is_allowed(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"VAR_DIR": str(tmp_path), name: value})
    text = str(raised.value)
    assert text.startswith(f"{name}={value!r}: {message}")
    assert "\n" not in text


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_refuses_what_it_does_not_allow(tmp_path: Path, setting: Setting) -> None:
    """Whatever the table declares is enforced: below the minimum, above the maximum, outside
    the choices, not a number, not a boolean."""
    bad: list[str] = []
    if setting.kind in ("int", "float"):
        bad.append("twelve")
        if setting.low is not None:
            bad.append(str(setting.low - 1))
        if setting.high is not None:
            bad.append(str(setting.high + 1))
    elif setting.kind == "bool":
        bad.append("perhaps")
    elif setting.choices:
        bad.append("something-else")
    for value in bad:
        with pytest.raises(SettingsError, match=f"^{setting.name}="):
            Settings.from_env({"VAR_DIR": str(tmp_path), setting.name: value})


def test_a_password_in_a_bad_url_is_not_repeated(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://user:hunter2@db:notaport/exports"
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"VAR_DIR": str(tmp_path), "DATABASE_URL": url})
    assert "hunter2" not in str(raised.value)
    assert "user:***@db" in str(raised.value)


def test_a_missing_public_key_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"VAR_DIR": str(tmp_path), "JWT_PUBLIC_KEY": str(missing)})
    assert str(raised.value) == (
        f"JWT_PUBLIC_KEY={str(missing)!r}: must be a PEM public key or the path of a file "
        "holding one (No such file or directory)"
    )


def test_a_var_dir_that_cannot_hold_secrets_is_one_line(tmp_path: Path) -> None:
    occupied = tmp_path / "a-file"
    occupied.write_text("")
    with pytest.raises(SettingsError, match=r"^VAR_DIR=.*cannot keep pepper\.key there"):
        Settings.from_env({"VAR_DIR": str(occupied / "var")})


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    assert Settings.from_env({"VAR_DIR": str(tmp_path), "LOG_LEVEL": "debug"}).log_level == "DEBUG"


# --- State does not follow the working directory.


def test_default_var_dir_is_the_checkout_var_from_a_source_checkout() -> None:
    assert default_var_dir({}) == REPO / "var"
    settings = Settings.from_env({"API_KEY_PEPPER": "p", "SIGNING_SECRET": "s"})
    assert settings.var_dir == REPO / "var"
    assert settings.database_url == f"sqlite+aiosqlite:///{REPO}/var/exports.db"
    assert settings.storage_dir == REPO / "var" / "files"


def test_default_var_dir_of_an_installed_package_is_per_user(tmp_path: Path) -> None:
    installed = tmp_path / "site-packages" / "app"
    installed.mkdir(parents=True)
    state = tmp_path / "state"
    assert default_var_dir({"XDG_STATE_HOME": str(state)}, installed) == state / "exports-gateway"
    home = {"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": "relative/is/ignored"}
    expected = tmp_path / "home" / ".local" / "state" / "exports-gateway"
    assert default_var_dir(home, installed) == expected
    other = tmp_path / "other-project"
    (other / "app").mkdir(parents=True)
    (other / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    assert (
        default_var_dir({"XDG_STATE_HOME": str(state)}, other / "app") == state / "exports-gateway"
    )


def test_relative_paths_are_taken_from_the_working_directory_and_kept_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env(
        {"VAR_DIR": "state", "STORAGE_DIR": "files", "DATABASE_URL": "sqlite+aiosqlite:///db/x.db"}
    )
    assert settings.var_dir == tmp_path / "state"
    assert settings.storage_dir == tmp_path / "files"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/db/x.db"
    derived = Settings.from_env({"VAR_DIR": "state"})
    assert derived.database_url == f"sqlite+aiosqlite:///{tmp_path}/state/exports.db"
    assert derived.storage_dir == tmp_path / "state" / "files"
