"""Prometheus metrics: request counts and latency by route and status, predictions by class.

Under gunicorn each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR
(prepared by gunicorn.conf.py through `prepare_multiprocess_dir`), and /metrics merges
the files, so a scrape sees every worker, not only the one that answered it.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Iterable

from flask import Response, current_app

# Request latencies here are sub-millisecond to seconds (a full batch).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
LATENCY_BUCKETS += (1.0, 2.5, 5.0, 10.0)
# Folders made by prepare_multiprocess_dir in this process, removed at exit.
_CREATED: list[str] = []


class Metrics:
    """The service's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        # A registry per app, so tests can build many apps in one process.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "census_http_requests_total",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "census_http_request_duration_seconds",
            "Time to answer a request, by method, route and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "census_predictions_total",
            "Records scored, by predicted class.",
            ["label"],
            registry=self.registry,
        )
        # labels() costs microseconds per call; the label sets are few, so keep them.
        self._children: dict[tuple, tuple] = {}

    def observe_request(
        self, method: str, route: str, status: str, seconds: float
    ) -> None:
        """Count one answered request and its latency."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(*key))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_predictions(self, labels: Iterable[str]) -> None:
        """Count the classes the predict views just answered with."""
        for label, n in Counter(labels).items():
            self.predictions.labels(label).inc(n)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition: all gunicorn workers' files in multiprocess mode."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import CollectorRegistry, multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_view():
    """GET /metrics: Prometheus text exposition."""
    data, content_type = current_app.extensions["census_metrics"].exposition()
    return Response(data, content_type=content_type)


def prepare_multiprocess_dir(environ=os.environ) -> str | None:
    """Make and empty PROMETHEUS_MULTIPROC_DIR before workers start (gunicorn master).

    Must run before prometheus_client is imported. Returns the directory, or None when
    metrics are off.
    """
    import atexit
    import tempfile

    from service.config import parse_bool

    if not parse_bool(environ.get("METRICS_ENABLED", "true")):
        return None
    path = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix="census-metrics-"
        )
        _CREATED.append(path)
        # Removed when the master exits, a failed boot included.
        atexit.register(remove_multiprocess_dir, os.getpid())
    os.makedirs(path, exist_ok=True)
    # Files left by an earlier run would add its counts to ours.
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    return path


def remove_multiprocess_dir(owner: int) -> None:
    """Remove the folders `prepare_multiprocess_dir` made, in the process that made them."""
    import shutil

    if os.getpid() != owner:  # a forked worker inherits this atexit hook: not its job
        return
    while _CREATED:
        shutil.rmtree(_CREATED.pop(), ignore_errors=True)


def worker_exited(pid: int) -> None:
    """Tell prometheus_client a worker is gone (gunicorn's child_exit hook)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
