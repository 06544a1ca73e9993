"""Real processes for the operations tests: `creneau` and gunicorn started as an operator
would, a production environment that passes every check, and clients for their webhooks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from twilio.request_validator import RequestValidator

from store.crypto import generate_key
from tests.conftest import EXAMPLE, ROOT, database_url

BIN = Path(sys.executable).parent
CRENEAU = str(BIN / "creneau")
GUNICORN = str(BIN / "gunicorn")
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fedcba9876543210" * 2
PUBLIC = "https://rdv.cabinet-test.example"
OURS = ("CRENEAU_", "TWILIO_", "TELEGRAM_", "DATABASE_URL", "PUBLIC_BASE_URL", "PROMETHEUS_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(**settings: str) -> dict[str, str]:
    """This process's environment without any of our settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return {**env, **settings}


def own_practice(tmp_path: Path, legal_basis: bool = True) -> Path:
    """A practice file of its own (not the bundled example), with or without legal_basis."""
    text = EXAMPLE.read_text().replace("Cabinet des Lilas", "Cabinet du Test")
    if not legal_basis:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("legal_basis"))
    path = tmp_path / ("practice.toml" if legal_basis else "practice-no-basis.toml")
    path.write_text(text)
    return path


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Settings production accepts: its own practice, a database, fresh keys, an operator,
    SMS configured; `overrides` replace some (an empty value removes the setting)."""
    settings = {
        "CRENEAU_ENV": "production",
        "CRENEAU_VAR_DIR": str(tmp_path / "var"),
        "CRENEAU_PRACTICE": str(own_practice(tmp_path)),
        "DATABASE_URL": database_url(tmp_path),
        "CRENEAU_DATA_KEYS": f"k1:{generate_key()}",
        "CRENEAU_INDEX_KEY": generate_key(),
        "CRENEAU_SECRET_KEY": generate_key(),
        "CRENEAU_OPERATOR": "ops-team",
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+33478000000",
    }
    settings.update(overrides)
    return base_env(**{k: v for k, v in settings.items() if v})


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 90, **kw):  # type: ignore[no-untyped-def]
    """Run a command to its end; its exit code, stdout and stderr."""
    return subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw
    )


@dataclass
class Server:
    """A started web server and how to reach it."""

    base: str
    proc: subprocess.Popen  # type: ignore[type-arg]
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def sms(self, sender: str, body: str, timeout: float = 30) -> requests.Response:
        """POST one inbound SMS signed as Twilio signs it (against the public URL)."""
        params = {"From": sender, "Body": body, "MessageSid": "SM" + uuid.uuid4().hex}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/sms/twilio", params)
        return requests.post(
            self.base + "/sms/twilio",
            data=params,
            headers={"X-Twilio-Signature": signature},
            timeout=timeout,
        )


@contextmanager
def started(args: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[Server]:
    """Start a server process and wait until /healthz answers; stop it afterwards."""
    log = cwd / f"server-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        yield Server(base, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait_healthy(base: str, proc: subprocess.Popen, log: Path) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server did not become healthy:\n{log.read_text()}")
