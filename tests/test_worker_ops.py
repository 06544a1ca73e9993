"""The worker reports what it does: every retry and every give-up is a log line (codes and
row ids, never a chat id or a text), and every send is counted for /metrics."""

from __future__ import annotations

import logging

from channels.metrics import SENDS
from channels.worker import Worker, WorkerConfig
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
