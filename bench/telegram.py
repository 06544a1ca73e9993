"""Telegram: webhook acknowledgement throughput, and the outbox drain rate.

1. Créneau's `/telegram/webhook` under gunicorn (2 sync workers, SQLite in a temporary
   directory, loopback) against a bare Flask "hello" app with the same gunicorn settings,
   measured in the same run. A load generator (threads + http.client, one request in flight
   per connection) posts real-shaped updates: booking conversations (/start, button
   presses, a name, MES RDV) from many distinct chats. Target: ratio >= 0.6.
2. The outbox worker draining queued replies to a fake Bot API that answers in 100 ms.
   Targets: 30 messages/s reached, never more than 30 in any second, and never two
   messages to one chat less than 1 s apart.

    .venv/bin/python -m bench.telegram [--connections 16] [--seconds 10] [--messages 450]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from flask import Flask

from bench.sms_webhook import HOST, environment, gunicorn

PATH = "/telegram/webhook"
TOKEN = "4242:BENCHtokenFORaFAKEapi"
SECRET = "bench-secret-" + "7" * 20
STEPS = ("/start", "#1.1", "#2.1", "#3.1", "Camille Bench", "#4.1", "MES RDV")


def hello_app() -> Flask:
    """The baseline: the same route, an empty 200, no work at all."""
    app = Flask("hello")

    @app.post(PATH)
    def webhook() -> tuple[str, int]:
        return "ok", 200

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    return app


# ---------------------------------------------------------------- webhook load


class Updates:
    """Real-shaped updates: each chat walks STEPS; thread-safe."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._chats = itertools.count(900_000_000)
        self._lock = threading.Lock()

    def conversation(self) -> list[bytes]:
        with self._lock:
            chat = next(self._chats)
            ids = [next(self._ids) for _ in STEPS]
        return [
            json.dumps(self._one(uid, chat, step)).encode()
            for uid, step in zip(ids, STEPS, strict=True)
        ]

    @staticmethod
    def _one(uid: int, chat: int, step: str) -> dict[str, object]:
        user = {"id": chat, "is_bot": False, "first_name": "Bench", "language_code": "fr"}
        where = {"id": chat, "type": "private", "first_name": "Bench"}
        if step.startswith("#"):
            message = {"message_id": 1, "date": 1_790_000_000, "chat": where, "text": "..."}
            query = {
                "id": str(uid),
                "chat_instance": "1",
                "data": step[1:],
                "from": user,
                "message": message,
            }
            return {"update_id": uid, "callback_query": query}
        message = {
            "message_id": uid,
            "date": 1_790_000_000,
            "chat": where,
            "from": user,
            "text": step,
        }
        return {"update_id": uid, "message": message}


def load(port: int, connections: int, seconds: float, max_requests: int) -> dict[str, float]:
    """Post conversations from `connections` threads; requests/s and latency percentiles."""
    updates = Updates()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    budget = itertools.count()

    def run() -> None:
        mine: list[float] = []
        while time.monotonic() < deadline:
            for body in updates.conversation():
                if next(budget) >= max_requests or time.monotonic() >= deadline:
                    break
                started = time.monotonic()
                ok = _post(port, body)
                mine.append(time.monotonic() - started)
                if not ok:
                    with lock:
                        errors[0] += 1
            else:
                continue
            break
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=run) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "n": len(latencies),
        "errors": errors[0],
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def _post(port: int, body: bytes) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(
            "POST",
            PATH,
            body,
            {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


def bench_webhook(args: argparse.Namespace, tmp: Path, api_base: str) -> None:
    env = environment(tmp)
    env.update(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": api_base,
        }
    )
    env.pop("TWILIO_ACCOUNT_SID", None)
    results = {}
    for name, app in (("hello", "bench.telegram:hello_app()"), ("creneau", "channels.web:wsgi()")):
        with gunicorn(app, env, tmp / f"{name}.log", workers=2) as port:
            load(port, args.connections, 1.0, 200)  # warm-up
            results[name] = load(port, args.connections, args.seconds, args.max_requests)
    for name, r in results.items():
        print(
            f"  {name:8s} {r['rps']:8.1f} req/s  n={r['n']:.0f}  errors={r['errors']:.0f}  "
            f"p50={r['p50']:.1f} ms  p99={r['p99']:.1f} ms"
        )
    ratio = results["creneau"]["rps"] / results["hello"]["rps"]
    print(f"  ratio creneau/hello: {ratio:.2f} (target >= 0.6)")


# ---------------------------------------------------------------- outbox drain


def bench_drain(messages: int, tmp: Path) -> None:
    from channels.outbound import SendOutcome
    from channels.runtime import Runtime
    from channels.settings import Settings
    from channels.telegram import TelegramSender
    from channels.worker import Worker
    from store import outbox
    from tests.fake_telegram import FakeBotAPI

    class Recording(TelegramSender):
        """Notes when each message leaves the worker (the pace the worker controls)."""

        dispatched: ClassVar[list[tuple[str, float]]] = []

        async def send(self, address: str, payload: dict[str, Any]) -> SendOutcome:
            self.dispatched.append((address, time.monotonic()))
            return await super().send(address, payload)

    per_chat = 3
    with FakeBotAPI(delay=0.1) as api:
        (tmp / "drain").mkdir()
        env = environment(tmp / "drain")
        env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base})
        env.pop("TWILIO_ACCOUNT_SID", None)
        runtime = Runtime(Settings.from_env(env))
        with runtime.db.write() as session:
            for i in range(messages):
                outbox.enqueue(
                    session,
                    runtime.vault,
                    practice_id=runtime.practice.id,
                    channel="telegram",
                    address=str(1000 + i // per_chat),
                    payload={"op": "send", "text": f"m{i}", "buttons": []},
                )
        stop = threading.Event()
        sender = Recording(TOKEN, api.base)
        worker = Worker(runtime, senders={"telegram": sender})
        thread = threading.Thread(target=lambda: asyncio.run(worker.run(stop)))
        thread.start()
        api.wait_for(lambda: len(api.sent()) >= messages, timeout=messages / 10 + 30)
        stop.set()
        thread.join(30)
        print(
            f"  sent {len(api.sent())}/{messages} to {messages // per_chat} chats "
            f"({per_chat} each), API answering in 100 ms"
        )
        report_pace("as dispatched by the worker", Recording.dispatched)
        report_pace("as received by the fake API", [(c.chat_id, c.at) for c in api.sent()])


def report_pace(what: str, sends: list[tuple[str, float]]) -> None:
    """Overall rate, the busiest 1 s window and the smallest gap within one chat."""
    times = sorted(t for _, t in sends)
    rate = (len(times) - 1) / (times[-1] - times[0])
    busiest = max(sum(1 for t in times if s <= t < s + 1.0) for s in times)
    chats: dict[str, list[float]] = {}
    for chat, t in sorted(sends, key=lambda x: x[1]):
        chats.setdefault(chat, []).append(t)
    gap = min(b - a for ts in chats.values() for a, b in itertools.pairwise(ts))
    print(
        f"  {what}: {rate:.1f} msg/s (target 30), busiest 1 s window {busiest} (max 30), "
        f"smallest gap within a chat {gap:.3f} s (min 1 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=450)
    args = parser.parse_args()
    from tests.fake_telegram import FakeBotAPI

    with tempfile.TemporaryDirectory(prefix="creneau-bench-tg-") as name:
        tmp = Path(name)
        print("Webhook acknowledgement (gunicorn, 2 sync workers, SQLite):")
        with FakeBotAPI() as api:
            bench_webhook(args, tmp, api.base)
        print("Outbox drain (one worker, fake Bot API answering in 100 ms):")
        bench_drain(args.messages, tmp)


if __name__ == "__main__":
    main()
