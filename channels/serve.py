"""`creneau serve`: the web app plus, in background threads, the outbound worker and clock.

For one machine: a threaded production WSGI server (waitress) in one process. Several
processes or machines use the Procfile instead (gunicorn, `creneau worker`, `creneau clock`).

Waitress refuses a body over the limit from its headers, before reading it (its own default
is 1 GB, spooled to a temporary file), and `/healthz` has threads of its own, so it answers
even when every request thread waits on the database.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from waitress import create_server
from waitress.task import ThreadedTaskDispatcher

from channels.clock import run_clock
from channels.runtime import Runtime, settle
from channels.web import MAX_BODY, create_app
from channels.worker import run_worker

log = logging.getLogger(__name__)
BackgroundJob = Callable[[Runtime, threading.Event], None]
WEB_THREADS = 8
HEALTH_THREADS = 2
HEALTH_PATHS = frozenset({"/healthz"})


class HealthFirstDispatcher(ThreadedTaskDispatcher):
    """Waitress's thread pool, with health checks served by threads of their own."""

    def __init__(self) -> None:
        super().__init__()
        self.health = ThreadedTaskDispatcher()

    def set_thread_count(self, count: int) -> None:
        super().set_thread_count(count)
        self.health.set_thread_count(HEALTH_THREADS if count else 0)

    def add_task(self, task: Any) -> None:
        requests = getattr(task, "requests", None)
        path = getattr(requests[0], "path", "") if requests else ""
        if path in HEALTH_PATHS:
            self.health.add_task(task)
        else:
            super().add_task(task)

    def shutdown(self, cancel_pending: bool = True, timeout: int = 5) -> bool:
        self.health.shutdown(cancel_pending, timeout)
        return bool(super().shutdown(cancel_pending, timeout))


def server_options() -> dict[str, Any]:
    """Waitress settings: threads, and the body cap checked against the headers."""
    # waitress refuses a body of `max_request_body_size` bytes or more: allow exactly MAX_BODY
    return {"threads": WEB_THREADS, "max_request_body_size": MAX_BODY + 1}


def serve(runtime: Runtime, port: int | None = None, background: bool = True) -> None:
    """Serve until SIGTERM/SIGINT, then stop the background loops cleanly."""
    app = create_app(runtime)
    settle(runtime)
    stop = threading.Event()
    jobs: list[BackgroundJob] = [run_worker, run_clock] if background else []
    threads = [
        threading.Thread(target=job, args=(runtime, stop), daemon=True, name=job.__name__)
        for job in jobs
    ]
    for t in threads:
        t.start()
    port = port or runtime.settings.port
    dispatcher = HealthFirstDispatcher()
    dispatcher.set_thread_count(WEB_THREADS)
    server = create_server(
        app, host="0.0.0.0", port=port, _dispatcher=dispatcher, **server_options()
    )

    def _shutdown(*_: object) -> None:
        stop.set()
        server.close()

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    log.info("serving on port %d with %d background job(s)", port, len(threads))
    with contextlib.suppress(OSError):  # the listening socket closed under run() by _shutdown
        server.run()
    for t in threads:
        t.join(timeout=10)
