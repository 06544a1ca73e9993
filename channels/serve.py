"""`creneau serve`: the web app plus, in background threads, the outbound worker and clock."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from werkzeug.serving import make_server

from channels.runtime import Runtime
from channels.web import create_app

log = logging.getLogger(__name__)
BackgroundJob = Callable[[Runtime, threading.Event], None]


def background_jobs() -> list[BackgroundJob]:
    """The loops that run beside the web app in this build."""
    jobs: list[BackgroundJob] = []
    try:
        from channels.worker import run_worker

        jobs.append(run_worker)
    except ImportError:
        pass
    try:
        from channels.clock import run_clock

        jobs.append(run_clock)
    except ImportError:
        pass
    return jobs


def serve(runtime: Runtime, port: int | None = None, background: bool = True) -> None:
    """Serve until SIGTERM/SIGINT; stop the background loops cleanly."""
    app = create_app(runtime)
    stop = threading.Event()
    threads = [
        threading.Thread(target=job, args=(runtime, stop), daemon=True, name=job.__name__)
        for job in (background_jobs() if background else [])
    ]
    for t in threads:
        t.start()
    server = make_server("0.0.0.0", port or runtime.settings.port, app, threaded=True)

    def _shutdown(*_: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    log.info("serving on port %d with %d background job(s)", server.port, len(threads))
    server.serve_forever()
    for t in threads:
        t.join(timeout=10)
