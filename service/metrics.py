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

from monitoring.catalogue import (
    COUNTER,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS,
    PREDICTIONS,
    Metric,
)

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


def instrument(kind, metric: Metric, namespace: str, registry, **options):
    """A prometheus_client instrument (Counter, Histogram) for a catalogue metric."""
    return kind(
        metric.name(namespace),
        metric.help,
        list(metric.labels),
        registry=registry,
        **options,
    )


def family(metric: Metric, namespace: str, **options):
    """A scrape-time family (counter or gauge) for a catalogue metric."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    kind = CounterMetricFamily if metric.kind == COUNTER else GaugeMetricFamily
    if "value" not in options:
        options["labels"] = list(metric.labels)
    return kind(metric.name(namespace), metric.help, **options)


class Metrics:
    """The service's Prometheus metrics, in a registry of their own.

    Named after the model's project, as monitoring/catalogue.py lists them:
    `<namespace>_http_requests_total`, `<namespace>_http_request_duration_seconds`,
    `<namespace>_predictions_total`.
    """

    def __init__(self, namespace: str, multiprocess_dir: str = "") -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.namespace = namespace
        # Set (by deploy/serve.py, in the environment prometheus_client reads too) when
        # several server workers share the figures.
        self.multiprocess_dir = multiprocess_dir
        # A registry per app, so tests can build many apps in one process.
        self.registry = CollectorRegistry()
        self.requests = instrument(Counter, HTTP_REQUESTS, namespace, self.registry)
        self.latency = instrument(
            Histogram,
            HTTP_REQUEST_DURATION,
            namespace,
            self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.predictions = instrument(Counter, PREDICTIONS, namespace, self.registry)
        # labels() costs microseconds per call; the label sets are few, so keep them.
        self._children: dict[tuple, tuple] = {}
        # Figures computed at scrape time (service/drift.py), not stored samples.
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
