"""Prometheus metrics: request counts and latency by route and status, predictions by class.

Under gunicorn each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR
(prepared by the server's start sequence, deploy/serve.py), and /metrics merges
the files, so a scrape sees every worker, not only the one that answered it.

Every label value comes from a closed set, so no request can add one: methods outside
HTTP's standard ones are counted as `other`, paths no route matches as `<unmatched>`
(service/observability.py), classes and statuses are the app's own.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from flask import Response, current_app

# The methods that keep their name as a label. A client may send any token as a method
# (werkzeug and gunicorn pass it on, and it is answered 405 or 404): 2,000 random ones
# grew /metrics from 98 KB to 4.4 MB, for good, since the worker files outlive workers.
METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
OTHER_METHOD = "other"

# Request latencies here are sub-millisecond to seconds (a full batch).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
LATENCY_BUCKETS += (1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's Prometheus metrics, in a registry of their own.

    Named after the model's project: `<namespace>_http_requests_total`,
    `<namespace>_http_request_duration_seconds`, `<namespace>_predictions_total`.
    """

    def __init__(self, namespace: str, multiprocess_dir: str = "") -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.namespace = namespace
        # Set (by deploy/serve.py, in the environment prometheus_client reads too) when
        # several server workers share the figures.
        self.multiprocess_dir = multiprocess_dir
        # A registry per app, so tests can build many apps in one process.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            f"{namespace}_http_requests_total",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{namespace}_http_request_duration_seconds",
            "Time to answer a request, by method, route and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            f"{namespace}_predictions_total",
            "Records scored, by predicted class.",
            ["label"],
            registry=self.registry,
        )
        # labels() costs microseconds per call; the label sets are few, so keep them.
        self._children: dict[tuple, tuple] = {}
        # Figures computed at scrape time (service/monitoring.py), not stored samples.
        self.collectors: list = []

    def add_collector(self, collector) -> None:
        """Serve a scrape-time collector's families at /metrics too."""
        self.collectors.append(collector)
        self.registry.register(collector)

    def observe_request(
        self, method: str, route: str, status: str, seconds: float
    ) -> None:
        """Count one answered request and its latency."""
        key = (method if method in METHODS else OTHER_METHOD, route, status)
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
        if self.multiprocess_dir:
            from prometheus_client import CollectorRegistry, multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            for collector in self.collectors:
                registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def metrics_view():
    """GET /metrics: Prometheus text exposition."""
    data, content_type = current_app.extensions["service_metrics"].exposition()
    return Response(data, content_type=content_type)
