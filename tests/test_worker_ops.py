"""The worker reports what it does: every retry and every give-up is a log line (codes and
row ids, never a chat id or a text), and every send is counted for /metrics."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from channels.metrics import SENDS
from channels.web import create_app
from channels.worker import Worker, WorkerConfig
from store.models import utcnow
from store.scheduler import claim
from tests.test_ops_web import sample
from tests.test_telegram import FAST, RunningWorker, api, env, queue, runtime, the_row

__all__ = ["api", "env", "runtime"]  # the Telegram tests' fixtures, used here
CHAT, TEXT = 987654321, "Bonjour Madame Quintal"


def test_retries_and_the_give_up_are_logged_without_data(runtime, api, caplog):
    api.fail(502, "Bad Gateway", times=10)
    row = queue(runtime, CHAT, TEXT)
    before = SENDS.labels("telegram", "retry")._value.get()
    config = WorkerConfig(**{**FAST.__dict__, "max_attempts": 3, "backoff_base": 0.01})
    with (
        caplog.at_level(logging.INFO, logger="channels.worker"),
        RunningWorker(Worker(runtime, config=config)),
    ):
        assert api.wait_for(
            lambda: (r := the_row(runtime, row)) is not None and r.status == "failed"
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "channels.worker"]
    retries = [line for line in lines if "failed (telegram:" in line and "retry in" in line]
    assert [line.split(": attempt ")[1].split(" failed")[0] for line in retries] == [
        "1 of 3",
        "2 of 3",
    ]
    given_up = [line for line in lines if "given up" in line]
    assert len(given_up) == 1 and f"telegram reply {row}: given up after 3 attempts" in given_up[0]
    for line in lines:
        assert str(CHAT) not in line and "Quintal" not in line
    assert SENDS.labels("telegram", "retry")._value.get() - before == 3


def test_metrics_read_the_outbox_and_the_scheduler_from_the_database(runtime, api):
    queue(runtime, CHAT, TEXT)
    queue(runtime, CHAT, TEXT)
    with runtime.db.write() as session:
        claim(session, runtime.practice.id, "purge", "2026-12-01", utcnow() - timedelta(hours=1))
    runtime.settings = replace(runtime.settings, metrics_token="t" * 24)
    client = create_app(runtime).test_client()
    assert client.get("/metrics").status_code == 401
    body = client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 24}).text
    assert sample(body, "creneau_outbox_depth", channel="telegram", status="pending") == 2
    assert sample(body, "creneau_outbox_oldest_age_seconds", channel="telegram") >= 0
    assert sample(body, "creneau_scheduler_runs", job="purge") == 1
    last = sample(body, "creneau_scheduler_last_run_timestamp_seconds", job="purge")
    assert abs(last - (utcnow() - timedelta(hours=1)).timestamp()) < 5
    assert sample(body, "creneau_rate_limited_senders") == 0
    assert str(CHAT) not in body and "Quintal" not in body
