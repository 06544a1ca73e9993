"""`creneau serve`: the web app plus, in background threads, the outbound worker and clock.

For one machine: a threaded production WSGI server (waitress) in one process. Several
processes or machines use the Procfile instead (gunicorn, `creneau worker`, `creneau clock`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable

from waitress import create_server

from channels.clock import run_clock
from channels.runtime import Runtime
from channels.web import create_app
from channels.worker import run_worker

log = logging.getLogger(__name__)
BackgroundJob = Callable[[Runtime, threading.Event], None]
WEB_THREADS = 8


def serve(runtime: Runtime, port: int | None = None, background: bool = True) -> None:
    """Serve until SIGTERM/SIGINT, then stop the background loops cleanly."""
    app = create_app(runtime)
    stop = threading.Event()
    jobs: list[BackgroundJob] = [run_worker, run_clock] if background else []
    threads = [
        threading.Thread(target=job, args=(runtime, stop), daemon=True, name=job.__name__)
        for job in jobs
    ]
    for t in threads:
        t.start()
    port = port or runtime.settings.port
    server = create_server(app, host="0.0.0.0", port=port, threads=WEB_THREADS)

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
