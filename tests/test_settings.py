"""Settings come from the environment with laptop defaults; production demands its secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.settings import Settings, SettingsError


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
