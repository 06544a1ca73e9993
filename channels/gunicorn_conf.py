"""gunicorn settings for the Procfile's web process: `gunicorn -c python:channels.gunicorn_conf
'channels.web:wsgi()'`.

The master checks the configuration once before any worker starts, so a refused one stops
gunicorn with one line per problem (no traceback, no worker boot loop). Request lines and
headers are capped here; bodies over 256 KB are refused by the app from their declared
length before anything reads them (gunicorn has no body limit of its own, and never spools
a body to disk). Prometheus counters of every worker are shared through
PROMETHEUS_MULTIPROC_DIR, created fresh when it is not set.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# threads: a request waiting (at most a few seconds) on a database lock leaves the worker's
# other threads to answer, /healthz included
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_connections = threads  # a worker whose threads are all busy leaves new requests to
# another one instead of queueing them behind its own
timeout = 30  # a request never legitimately takes this long: the database waits are bounded
graceful_timeout = 20
limit_request_line = 4094
limit_request_fields = 60
limit_request_field_size = 8190
accesslog = None  # request lines carry no personal data, but the platform logs them already
control_socket_disable = True  # no shared socket in $HOME: several deployments may share a user


def on_starting(server: Any) -> None:
    """In the master, before the workers: a metrics directory, then the configuration
    checked once (as `wsgi(no_channels=True)` asks, if it does); refused, gunicorn stops
    with one line per problem."""
    _metrics_dir()
    from channels.preflight import startup_runtime
    from channels.settings import SettingsError

    no_channels = "no_channels=True" in str(getattr(server.app, "app_uri", "") or "")
    try:
        runtime = startup_runtime(no_channels=no_channels)
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        sys.exit(1)
    runtime.db.dispose()  # no connection crosses the fork


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: its live gauges leave the shared metrics."""
    from channels.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def _metrics_dir() -> None:
    """PROMETHEUS_MULTIPROC_DIR, emptied of a previous run's files (or a new one)."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not given:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="creneau-metrics-")
        return
    path = Path(given)
    if path.is_dir():
        for item in path.glob("*.db"):
            item.unlink(missing_ok=True)
    else:
        path.mkdir(parents=True, exist_ok=True)
