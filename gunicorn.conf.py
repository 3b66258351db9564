"""gunicorn settings, read by the Procfile, the Dockerfile and `make serve` alike.

Every value can be overridden by an environment variable, so Heroku's PORT and
WEB_CONCURRENCY apply without editing this file.
"""

import os

from service.metrics import (
    prepare_multiprocess_dir,
    worker_exited,
)
from service.workers import exit_worker

# Heroku routes to 0.0.0.0:$PORT; anywhere else we listen on loopback unless told.
_host = os.environ.get("HOST") or ("0.0.0.0" if os.environ.get("DYNO") else "127.0.0.1")
bind = f"{_host}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
# Load the app (and verify the model) once in the master, then fork: one model copy
# shared copy-on-write, and a bad model stops the master before any worker starts.
preload_app = True
# Below Heroku's 30 s router timeout, so a stuck worker is replaced before the router
# gives up on the request.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "25"))
# Inside Heroku's 30 s between SIGTERM and SIGKILL: in-flight requests finish first.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# The app writes its own access line (JSON, with request ID and latency); set
# GUNICORN_ACCESSLOG=- to get gunicorn's as well.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")

# Prometheus multiprocess mode: each worker writes its metrics to files in this folder
# and /metrics merges them. Made (or emptied) here, before the app is imported; a
# folder made here is removed when the master exits.
prepare_multiprocess_dir()


def child_exit(server, worker):
    """A worker is gone: let prometheus_client drop its live files."""
    worker_exited(worker.pid)


def worker_exit(server, worker):
    """Leave the worker without interpreter teardown (see service/workers.py)."""
    exit_worker()


def when_ready(server):
    """After the preload, before the first fork: move the master's objects out of the
    garbage collector's reach, so no worker's collection touches (and so copies) their
    pages. Measured: halves each worker's private memory (docs/performance.md)."""
    import gc

    gc.collect()
    gc.freeze()
