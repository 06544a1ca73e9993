"""`creneau doctor`: one line per check, exit 1 on any failure, run as the release step is."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg
from tests.conftest import env_for
from tests.fake_telegram import FakeBotAPI
from tests.procs import CRENEAU, base_env, production_env, run

LINE = re.compile(r"^(ok|warn|FAIL)\s+[a-zA-Z ]+(: .+)?$")


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (a release migrates it)."""
    if pg.enabled():
        url = pg.create_database("creneau_doctor")
        yield url
        pg.drop_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'release.sqlite3'}"


def doctor(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, tuple[str, str]]]:
    """Run `creneau doctor`; its exit code and each check's status and text by name."""
    proc = run([CRENEAU, "doctor"], env, cwd)
    assert "Traceback" not in proc.stderr, proc.stderr
    checks = {}
    for line in proc.stdout.splitlines():
        assert LINE.match(line), line
        status, rest = line.split(None, 1)
        name, _, text = rest.partition(": ")
        checks[name] = (status, text)
    return proc.returncode, checks


def test_development_warns_about_what_production_refuses(tmp_path):
    code, checks = doctor(base_env(**env_for(tmp_path)), tmp_path)
    assert code == 0
    assert checks["database connection"][0] == "ok"
    assert checks["example practice"][0] == "warn"
    assert checks["operator"][0] == "warn" and checks["channels"][0] == "warn"


def test_a_release_passes_then_each_problem_is_one_failed_line(tmp_path, fresh_url):
    env = production_env(tmp_path, DATABASE_URL=fresh_url)
    code, checks = doctor(env, tmp_path)
    assert code == 1 and checks["migrations"][0] == "FAIL"
    assert "run `creneau db upgrade`" in checks["migrations"][1]

    upgrade = run([CRENEAU, "db", "upgrade"], env, tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    code, checks = doctor(env, tmp_path)
    assert code == 0, checks
    assert {status for status, _ in checks.values()} == {"ok"}
    for name in ("data keys", "index key", "secret key", "stored data", "migrations", "Twilio"):
        assert name in checks
    assert "clock" in checks and "time zone" in checks

    broken = {**env, "TWILIO_ACCOUNT_SID": "AC123", "CRENEAU_OPERATOR": ""}
    broken.pop("CRENEAU_OPERATOR")
    code, checks = doctor(broken, tmp_path)
    assert code == 1
    failed = {name for name, (status, _) in checks.items() if status == "FAIL"}
    assert failed == {"Twilio", "operator"}
    assert "AC followed by 32 hex digits" in checks["Twilio"][1]


def test_the_telegram_webhook_is_where_it_should_be(tmp_path, fresh_url):
    with FakeBotAPI() as api:
        env = production_env(
            tmp_path,
            DATABASE_URL=fresh_url,
            TELEGRAM_BOT_TOKEN="123:abc",
            TELEGRAM_WEBHOOK_SECRET="s" * 24,
            TELEGRAM_API_BASE_URL=api.base,
        )
        assert run([CRENEAU, "db", "upgrade"], env, tmp_path).returncode == 0
        code, checks = doctor(env, tmp_path)
        assert code == 1
        status, text = checks["Telegram webhook"]
        assert status == "FAIL" and "nowhere (no webhook set)" in text
        assert "run `creneau telegram set-webhook`" in text

        assert run([CRENEAU, "telegram", "set-webhook"], env, tmp_path).returncode == 0
        code, checks = doctor(env, tmp_path)
        assert code == 0, checks
        assert checks["Telegram webhook"][1].startswith(
            env["PUBLIC_BASE_URL"] + "/telegram/webhook"
        )
        assert [c.method for c in api.calls].count("getWebhookInfo") == 2
