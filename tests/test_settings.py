"""Settings: development generates keys once; production refuses to start without real ones."""

from __future__ import annotations

import stat

import pytest

from channels.settings import Settings, SettingsError
from store.crypto import generate_key
from tests.conftest import env_for


def test_development_generates_keys_once_with_mode_0600(tmp_path):
    env = env_for(tmp_path)
    del env["CRENEAU_DATA_KEYS"], env["CRENEAU_INDEX_KEY"]
    first = Settings.from_env(env)
    second = Settings.from_env(env)
    assert first.data_keys == second.data_keys and first.index_key == second.index_key
    path = tmp_path / "var" / "dev-keys.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_production_refuses_missing_keys(tmp_path):
    env = env_for(tmp_path, CRENEAU_ENV="production")
    del env["CRENEAU_DATA_KEYS"]
    with pytest.raises(SettingsError, match=r"CRENEAU_DATA_KEYS.*creneau keys generate"):
        Settings.from_env(env)


def test_production_refuses_development_keys(tmp_path):
    dev = env_for(tmp_path)
    del dev["CRENEAU_DATA_KEYS"], dev["CRENEAU_INDEX_KEY"]
    generated = Settings.from_env(dev)
    prod = env_for(
        tmp_path,
        CRENEAU_ENV="production",
        CRENEAU_DATA_KEYS=generated.data_keys,
        CRENEAU_INDEX_KEY=generated.index_key,
    )
    with pytest.raises(SettingsError, match="development keys"):
        Settings.from_env(prod)


def test_production_needs_https_and_webhook_secret(tmp_path):
    env = env_for(
        tmp_path,
        CRENEAU_ENV="production",
        CRENEAU_DATA_KEYS=f"k1:{generate_key()}",
        TELEGRAM_BOT_TOKEN="1:x",
        TELEGRAM_WEBHOOK_SECRET="short",
    )
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        Settings.from_env(env)
    env["TELEGRAM_WEBHOOK_SECRET"] = "s" * 24
    env["PUBLIC_BASE_URL"] = "http://insecure.example"
    with pytest.raises(SettingsError, match="https"):
        Settings.from_env(env)
    env["PUBLIC_BASE_URL"] = "https://creneau.example/"
    assert Settings.from_env(env).public_base_url == "https://creneau.example"


def test_bad_values_named(tmp_path):
    with pytest.raises(SettingsError, match="CRENEAU_ENV"):
        Settings.from_env(env_for(tmp_path, CRENEAU_ENV="prod"))
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env(env_for(tmp_path, PORT="eighty"))
    with pytest.raises(SettingsError, match="CRENEAU_INDEX_KEY"):
        Settings.from_env(env_for(tmp_path, CRENEAU_INDEX_KEY="tooshort"))
