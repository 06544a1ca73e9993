"""Production refuses what is unsafe: each refusal is one line naming the fix, read from a
real `creneau serve` (or gunicorn) process, and nothing starts."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import requests
from sqlmodel import select

from channels.runtime import Runtime
from channels.settings import Settings
from store.crypto import generate_key
from store.db import normalise_url, tls_problem
from store.models import Appointment
from tests import pg
from tests.conftest import EXAMPLE, Patient, env_for
from tests.procs import (
    CRENEAU,
    GUNICORN,
    base_env,
    free_port,
    own_practice,
    production_env,
    run,
    started,
)

ZERO = base64.b64encode(bytes(32)).decode()
SHORT = base64.b64encode(bytes(range(1, 17))).decode()


def refused(proc, fragment: str) -> str:  # type: ignore[no-untyped-def]
    """The process stopped with exit code 1 and exactly one error line holding fragment."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode == 1, out
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0], lines[0]
    return lines[0]


def serve(tmp_path: Path, env: dict[str, str], *extra: str):  # type: ignore[no-untyped-def]
    return run([CRENEAU, "serve", "--port", str(free_port()), *extra], env, tmp_path)


def dev_keys(tmp_path: Path) -> dict[str, str]:
    """The development keys a development run writes into the production's var/."""
    env = env_for(tmp_path)
    del env["CRENEAU_DATA_KEYS"], env["CRENEAU_INDEX_KEY"]
    s = Settings.from_env(env)
    material = s.data_keys.partition(":")[2]
    return {"data": material, "index": s.index_key, "secret": s.secret_key}


def seed(tmp_path: Path, data_keys: str, index_key: str) -> str:
    """One patient and an appointment stored under these keys; the appointment's local day."""
    rt = Runtime(
        Settings.from_env(
            env_for(tmp_path, CRENEAU_DATA_KEYS=data_keys, CRENEAU_INDEX_KEY=index_key)
        )
    )
    p = Patient(rt.assistant, "+33612345678", channel="sms")
    for text in ("RDV", "1", "1", "Paul Martin", "1"):
        p.send(text)
    with rt.db.read() as session:
        start = session.exec(select(Appointment.start)).one()
    rt.db.dispose()
    return start.astimezone(rt.practice.tz).date().isoformat()


# ---------------------------------------------------------------- one refusal per setting

NO_KEY = ""
CASES = {
    "example practice": ({"CRENEAU_PRACTICE": str(EXAMPLE)}, "is the bundled example practice"),
    "no database": ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
    "no data keys": ({"CRENEAU_DATA_KEYS": NO_KEY}, "CRENEAU_DATA_KEYS is not set"),
    "no index key": ({"CRENEAU_INDEX_KEY": NO_KEY}, "CRENEAU_INDEX_KEY is not set"),
    "zero data key": ({"CRENEAU_DATA_KEYS": f"k1:{ZERO}"}, "key 'k1' is not random"),
    "zero index key": ({"CRENEAU_INDEX_KEY": ZERO}, "CRENEAU_INDEX_KEY is not random"),
    "short data key": ({"CRENEAU_DATA_KEYS": f"k1:{SHORT}"}, "must decode to 32 bytes, got 16"),
    "short index key": ({"CRENEAU_INDEX_KEY": SHORT}, "CRENEAU_INDEX_KEY holds 16 bytes"),
    "no secret key": ({"CRENEAU_SECRET_KEY": NO_KEY}, "CRENEAU_SECRET_KEY is not set"),
    "short secret key": ({"CRENEAU_SECRET_KEY": SHORT}, "CRENEAU_SECRET_KEY holds 16 bytes"),
    "remote postgres in clear": (
        {"DATABASE_URL": "postgres://creneau@db.example.org:5432/creneau"},
        "at db.example.org with no sslmode: add ?sslmode=require",
    ),
    "weak sslmode": (
        {"DATABASE_URL": "postgresql://creneau@10.0.0.5/creneau?sslmode=prefer"},
        "with sslmode=prefer",
    ),
    "no operator": ({"CRENEAU_OPERATOR": ""}, "CRENEAU_OPERATOR is not set"),
    "weak metrics token": ({"CRENEAU_METRICS_TOKEN": "secret"}, "CRENEAU_METRICS_TOKEN is shorter"),
    "no channel": (
        {"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "", "PUBLIC_BASE_URL": ""},
        "no channel is configured",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_production_refuses_in_one_line(tmp_path, case):
    overrides, fragment = CASES[case]
    line = refused(serve(tmp_path, production_env(tmp_path, **overrides)), fragment)
    assert line.startswith("Error: configuration: ")


def test_refuses_a_data_key_equal_to_the_index_key(tmp_path):
    key = generate_key()
    env = production_env(tmp_path, CRENEAU_DATA_KEYS=f"k1:{key}", CRENEAU_INDEX_KEY=key)
    refused(serve(tmp_path, env), "CRENEAU_INDEX_KEY is the same key as CRENEAU_DATA_KEYS key")


@pytest.mark.parametrize(
    ("what", "setting", "fragment"),
    [
        ("data", "CRENEAU_DATA_KEYS", "is the development data key"),
        ("index", "CRENEAU_INDEX_KEY", "is the development index key"),
        ("secret", "CRENEAU_SECRET_KEY", "is the development secret key"),
    ],
)
def test_refuses_development_key_material_whatever_its_id(tmp_path, what, setting, fragment):
    dev = dev_keys(tmp_path)  # written into the var/ the production run reads
    value = f"prod1:{dev['data']}" if what == "data" else dev[what]
    refused(serve(tmp_path, production_env(tmp_path, **{setting: value})), fragment)


def test_refuses_a_practice_without_legal_basis(tmp_path):
    practice = own_practice(tmp_path, legal_basis=False)
    env = production_env(tmp_path, CRENEAU_PRACTICE=str(practice))
    refused(serve(tmp_path, env), "[practice] legal_basis is not set")


def test_refuses_keys_that_cannot_read_the_stored_data(tmp_path):
    index = generate_key()
    seed(tmp_path, f"old:{generate_key()}", index)
    env = production_env(tmp_path, CRENEAU_INDEX_KEY=index)  # a new data key only
    line = refused(serve(tmp_path, env), "cannot be read with CRENEAU_DATA_KEYS")
    assert "unknown key id 'old'" in line and "Paul" not in line


def test_refuses_an_index_key_the_patients_were_not_indexed_with(tmp_path):
    data = f"k1:{generate_key()}"
    seed(tmp_path, data, generate_key())
    env = production_env(tmp_path, CRENEAU_DATA_KEYS=data)  # another index key
    refused(serve(tmp_path, env), "CRENEAU_INDEX_KEY is not the key")


def test_several_problems_one_line_each(tmp_path):
    env = production_env(tmp_path, DATABASE_URL="", CRENEAU_SECRET_KEY="")
    proc = serve(tmp_path, env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 2, proc.stderr
    assert "DATABASE_URL" in lines[0] and "CRENEAU_SECRET_KEY" in lines[1]


def test_accepts_a_sound_configuration_and_no_channels_when_explicit(tmp_path):
    env = production_env(tmp_path, TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="")
    port = free_port()
    args = [CRENEAU, "serve", "--port", str(port), "--no-channels"]
    with started(args, env, tmp_path, port) as server:
        assert requests.get(server.base + "/healthz", timeout=5).json() == {"status": "ok"}


# ---------------------------------------------------------------- gunicorn and the CLI


def test_gunicorn_refuses_in_one_line_without_traceback(tmp_path):
    env = production_env(tmp_path, CRENEAU_OPERATOR="", PORT=str(free_port()))
    args = [GUNICORN, "--config", "python:channels.gunicorn_conf", "channels.web:wsgi()"]
    proc = run(args, env, tmp_path, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: CRENEAU_OPERATOR is not set: production names who runs commands on personal "
        "data in the audit log; set it to the person or team responsible"
    ]
    assert "Booting worker" not in out  # refused by the master, before any worker


def test_gunicorn_without_our_config_still_refuses_without_traceback(tmp_path):
    env = production_env(tmp_path, CRENEAU_SECRET_KEY="")
    args = [GUNICORN, "--workers", "1", "--bind", f"127.0.0.1:{free_port()}", "channels.web:wsgi()"]
    proc = run(args, env, tmp_path, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out, out
    assert "error: CRENEAU_SECRET_KEY is not set" in out


@pytest.mark.parametrize(
    ("env_overrides", "args", "fragment"),
    [
        ({"CRENEAU_ENV": "prod"}, ["check"], "CRENEAU_ENV must be `development` or `production`"),
        ({"CRENEAU_OPERATOR": ""}, ["worker"], "CRENEAU_OPERATOR is not set"),
        ({"CRENEAU_OPERATOR": ""}, ["clock"], "CRENEAU_OPERATOR is not set"),
        ({"DATABASE_URL": "not a url"}, ["agenda"], "DATABASE_URL cannot be read"),
        ({"DATABASE_URL": "mysql://x@127.0.0.1/db"}, ["agenda"], "names 'mysql', which is not"),
        (
            {"DATABASE_URL": "postgresql://creneau@127.0.0.1:1/none"},
            ["db", "current"],
            "127.0.0.1:1/none: OperationalError",
        ),
    ],
)
def test_cli_errors_are_one_line(tmp_path, env_overrides, args, fragment):
    env = production_env(tmp_path, **env_overrides)
    refused(run([CRENEAU, *args], env, tmp_path), fragment)


def test_a_wrong_key_in_a_command_is_one_line(tmp_path):
    index = generate_key()
    day = seed(tmp_path, f"old:{generate_key()}", index)
    env = base_env(**env_for(tmp_path, CRENEAU_INDEX_KEY=index))
    proc = run([CRENEAU, "agenda", "--date", day], env, tmp_path)
    # every cell unreadable under the wrong key: each shown as such, one warning, exit 3
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and proc.returncode == 3, out
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unreadable cell" in lines[0], proc.stderr
    assert "(illisible)" in proc.stdout


# ---------------------------------------------------------------- the database URL


def test_platform_database_urls_mean_psycopg():
    assert normalise_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///var/x.sqlite3") == "sqlite:///var/x.sqlite3"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("postgresql://u@127.0.0.1/db", True),
        ("postgresql://u@localhost:5432/db", True),
        ("postgresql://u@[::1]/db", True),
        ("postgresql://u@/db?host=/var/run/postgresql", True),
        ("postgresql://u@/db", True),
        ("postgresql://u@db.internal/db?sslmode=require", True),
        ("postgresql://u@db.internal/db?sslmode=verify-full", True),
        ("postgresql://u@db.internal/db", False),
        ("postgresql://u@db.internal/db?sslmode=disable", False),
        ("postgresql://u@/db?host=10.1.2.3", False),
        ("sqlite:////srv/creneau.sqlite3", True),
    ],
)
def test_tls_is_required_off_this_machine(url, safe):
    assert (tls_problem(url) is None) is safe


@pytest.mark.postgres
def test_postgres_url_as_platforms_set_it_connects(tmp_path):
    url = pg.session_url().replace("postgresql+psycopg://", "postgres://", 1)
    settings = Settings.from_env(env_for(tmp_path, DATABASE_URL=url))
    assert settings.database_url.startswith("postgresql+psycopg://")
    rt = Runtime(settings)
    try:
        assert rt.db.ping()
    finally:
        rt.db.dispose()
    env = production_env(tmp_path, DATABASE_URL=url)
    proc = run([CRENEAU, "db", "current"], env, tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
