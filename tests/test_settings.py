"""Settings: development generates keys once; production refuses to start without real ones."""

from __future__ import annotations

import base64
import fcntl
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from channels.settings import Settings, SettingsError, decode_secret
from tests.conftest import env_for

ROOT = Path(__file__).resolve().parent.parent


def test_development_generates_keys_once_with_mode_0600(tmp_path):
    env = env_for(tmp_path)
    del env["CRENEAU_DATA_KEYS"], env["CRENEAU_INDEX_KEY"]
    first = Settings.from_env(env)
    second = Settings.from_env(env)
    assert first.data_keys == second.data_keys and first.index_key == second.index_key
    path = tmp_path / "var" / "dev-keys.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


PROCESSES = 8
KEYS_OF = """
import json, os, sys
from channels.settings import Settings
while not os.path.exists(sys.argv[1]):
    pass  # spin: all of them leave within microseconds of each other
s = Settings.from_env({"CRENEAU_ENV": "development", "CRENEAU_VAR_DIR": sys.argv[2]})
print(json.dumps([s.secret_key, s.index_key, s.data_keys]))
"""


def test_processes_starting_together_share_one_set_of_development_keys(tmp_path):
    """gunicorn's workers read the settings at the same moment on a first start: none
    fails, and all get the keys of the one file written."""
    go, var = tmp_path / "go", tmp_path / "var"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", KEYS_OF, str(go), str(var)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    time.sleep(0.5)  # all of them waiting for the signal
    go.touch()
    outcomes = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * PROCESSES, [err for _, err in outcomes]
    assert len({out for out, _ in outcomes}) == 1
    lines = (var / "dev-keys.env").read_text().splitlines()
    assert sorted(line.split("=")[0] for line in lines) == [
        "CRENEAU_DATA_KEYS",
        "CRENEAU_INDEX_KEY",
        "CRENEAU_SECRET_KEY",
    ]


def test_development_keys_are_written_by_one_process_at_a_time(tmp_path):
    """While another process holds the key file's lock (writing it), a starting process
    waits for it rather than writing keys of its own."""
    var = tmp_path / "var"
    var.mkdir()
    lock = os.open(var / "dev-keys.env.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    child = subprocess.Popen(
        [sys.executable, "-c", KEYS_OF, str(tmp_path), str(var)],  # tmp_path exists: go
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        assert child.poll() is None  # waiting for the lock
        assert not (var / "dev-keys.env").exists()
    finally:
        os.close(lock)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert (var / "dev-keys.env").exists() and out.strip()


def production(tmp_path, **overrides):
    from tests.procs import production_env

    return production_env(tmp_path, **overrides)


def test_production_accepts_sound_settings(tmp_path):
    settings = Settings.from_env(production(tmp_path, PUBLIC_BASE_URL="https://creneau.example/"))
    assert settings.production and settings.public_base_url == "https://creneau.example"
    assert not (tmp_path / "var" / "dev-keys.env").exists()  # production never writes one


def test_production_refuses_missing_keys_all_at_once(tmp_path):
    env = production(tmp_path, CRENEAU_DATA_KEYS="", CRENEAU_INDEX_KEY="")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert [p.split(" is not set")[0] for p in caught.value.problems] == [
        "CRENEAU_DATA_KEYS",
        "CRENEAU_INDEX_KEY",
    ]
    assert all("creneau keys generate" in p for p in caught.value.problems)


def test_production_refuses_development_keys(tmp_path):
    dev = env_for(tmp_path)
    del dev["CRENEAU_DATA_KEYS"], dev["CRENEAU_INDEX_KEY"]
    generated = Settings.from_env(dev)
    prod = production(
        tmp_path, CRENEAU_DATA_KEYS=generated.data_keys, CRENEAU_INDEX_KEY=generated.index_key
    )
    with pytest.raises(SettingsError, match="development") as caught:
        Settings.from_env(prod)
    assert len(caught.value.problems) == 2  # the data key (its id) and the index key


def test_production_needs_https_and_webhook_secret(tmp_path):
    env = production(tmp_path, TELEGRAM_BOT_TOKEN="1:x", TELEGRAM_WEBHOOK_SECRET="short")
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET"):
        Settings.from_env(env)
    env["TELEGRAM_WEBHOOK_SECRET"] = "s" * 24
    env["PUBLIC_BASE_URL"] = "http://insecure.example"
    with pytest.raises(SettingsError, match="https"):
        Settings.from_env(env)


def test_doctor_reads_refused_settings_without_raising(tmp_path):
    env = production(tmp_path, CRENEAU_DATA_KEYS="", CRENEAU_SECRET_KEY="")
    settings = Settings.from_env(env, enforce=False)
    assert settings.data_keys == "" and settings.secret_key == ""


def test_secrets_decode_from_base64_or_hex():
    assert decode_secret("00" * 32) == bytes(32)
    assert decode_secret(base64.urlsafe_b64encode(b"\xfb" * 32).decode().rstrip("=")) == (
        b"\xfb" * 32
    )
    assert decode_secret("not a key!") is None


def test_bad_values_named(tmp_path):
    with pytest.raises(SettingsError, match="CRENEAU_ENV"):
        Settings.from_env(env_for(tmp_path, CRENEAU_ENV="prod"))
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env(env_for(tmp_path, PORT="eighty"))
    with pytest.raises(SettingsError, match="CRENEAU_INDEX_KEY"):
        Settings.from_env(env_for(tmp_path, CRENEAU_INDEX_KEY="tooshort"))
