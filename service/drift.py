"""Model monitoring in the app: after each prediction, drift counting and data capture.

This is the Flask side only (hooks, views, the /metrics collector); the counting, the
PSI, the thresholds and the metric names are the monitoring package's.

- Drift (MONITORING_ENABLED, on by default): every scored record is counted into the
  bins of the bundle's reference profile (monitoring/counts.py). /metrics gains counters
  and the drift computed at scrape time; GET /monitoring shows the same per feature
  and per slice for a person (behind the token when API_TOKEN is set).
- Capture (CAPTURE_ENABLED, off by default): a sample of scored records as JSON lines
  (service/capture.py), the input of `make monitor`.
- Shadow (SHADOW_MODEL_DIR, off by default): a sample of answered requests scored by a
  second model off the request path (service/shadow.py); its agreement with the served
  model, the PSI between their predictions and its latency on /monitoring and /metrics.

Records are observed once answered: the predict views leave them on `flask.g`, and an
after_request hook counts (and captures) them only when the response is a 200, so a
request that failed is never counted. Nothing observing does can fail a prediction: a
drift counting error or a capture write that fails (a full disk) drops those records
from monitoring, counts them (`<slug>_drift_dropped_records_total`,
`<slug>_capture_dropped_records_total` on /metrics) and logs one line a minute at most.

With all three off nothing is registered and a prediction costs what it did before.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from bundle.format import MULTICLASS, REGRESSION
from bundle.predictor import Prediction
from monitoring import catalogue
from monitoring.catalogue import Metric
from monitoring.counts import DriftCounter
from monitoring.agreement import ShadowCounts
from monitoring.profile import read_profile
from monitoring.stability import mark_flagged, reading
from service.capture import WARN_INTERVAL, Capture, Throttle
from service.logs import REQUEST_ID_KEY
from service.metrics import family, instrument
from service.settings import ConfigError
from service.shadow import Shadow, load_shadow

EXTENSION = "model_monitor"
PENDING = "model_monitor_pending"  # on flask.g: the request's records, until answered
# The logger keeps the name it had before this module was renamed: log filters hold.
LOG = logging.getLogger("service.monitoring")


class Monitor:
    """What happens to scored records after the answer is ready."""

    def __init__(
        self,
        drift: DriftCounter | None,
        capture: Capture | None,
        dropped: Callable[[int], None] | None = None,
        shadow: Shadow | None = None,
    ) -> None:
        self.drift = drift
        self.capture = capture
        self.dropped = dropped
        self.shadow = shadow
        self._warn = Throttle(WARN_INTERVAL)

    def observe_one(self, record: Mapping[str, Any], result: Prediction) -> None:
        if self.drift is not None:
            try:
                score = self.drift.score(result.label, result.probability, result.value)
                self.drift.count_one(record, score)
            except Exception:
                self._drift_failed(1)
        if self.capture is not None:
            rid = request.environ.get(REQUEST_ID_KEY, "-")
            self.capture.write(rid, [record], [result])
        if self.shadow is not None:
            self.shadow.offer([record], [result])

    def observe_many(
        self, records: Sequence[Mapping[str, Any]], results: list[Prediction]
    ) -> None:
        if self.drift is not None:
            try:
                score = self.drift.score
                scores = (score(r.label, r.probability, r.value) for r in results)
                self.drift.count_many(records, np.fromiter(scores, np.float64))
            except Exception:
                self._drift_failed(len(results))
        if self.capture is not None:
            rid = request.environ.get(REQUEST_ID_KEY, "-")
            self.capture.write(rid, records, results)
        if self.shadow is not None:
            self.shadow.offer(records, results)

    def _drift_failed(self, n: int) -> None:
        """Count n records drift could not count; log (with the error) once a minute."""
        if self.dropped is not None:
            self.dropped(n)
        held = self._warn.due(n)
        if held:
            LOG.error(
                "drift counting failed: %d record(s) not counted since the last such "
                "error (at most one every %d s)",
                held,
                WARN_INTERVAL,
                exc_info=True,
            )


def observe_one(record: Mapping[str, Any], result: Prediction) -> None:
    """Count (and maybe capture) one scored record once answered, when monitoring is on."""
    if EXTENSION in current_app.extensions:
        setattr(g, PENDING, (False, record, result))


def observe_many(records, results: list[Prediction]) -> None:
    """Count (and maybe capture) a scored batch once answered, when monitoring is on."""
    if EXTENSION in current_app.extensions:
        setattr(g, PENDING, (True, records, results))


def observe_answered(response: Response) -> Response:
    """Flask after_request: observe the request's records if it answered 200; the
    records of a request that failed are never counted."""
    pending = g.pop(PENDING, None)
    if pending is not None and response.status_code == 200:
        batch, records, results = pending
        monitor = current_app.extensions[EXTENSION]
        if batch:
            monitor.observe_many(records, results)
        else:
            monitor.observe_one(records, results)
    return response


def dropped_counter(app: Flask, metric: Metric) -> Callable[[int], None] | None:
    """The catalogue's counter of dropped records on /metrics, when metrics are on:
    its inc."""
    metrics = app.extensions.get("service_metrics")
    if metrics is None:
        return None
    from prometheus_client import Counter

    return instrument(Counter, metric, metrics.namespace, metrics.registry).inc


def report(drift: DriftCounter, version: str) -> dict[str, Any]:
    """GET /monitoring's body: the drift figures with how to read them."""
    figures = mark_flagged(drift.figures())
    return {"model_version": version, "reading": reading(drift.task), **figures}


def full_report(monitor: Monitor, version: str) -> dict[str, Any]:
    """GET /monitoring's body: the drift report (when counted) and the shadow's
    figures (when a shadow runs)."""
    body = {"model_version": version}
    if monitor.drift is not None:
        body = report(monitor.drift, version)
    if monitor.shadow is not None:
        body["shadow"] = monitor.shadow.figures()
    return body


class DriftCollector:
    """Scrape-time Prometheus families from every worker's drift counts."""

    def __init__(self, drift: DriftCounter, namespace: str) -> None:
        self.drift = drift
        self.ns = namespace

    def collect(self):
        ns, fig = self.ns, self.drift.figures()
        yield family(catalogue.MONITORED_RECORDS, ns, value=fig["records"])
        bins = family(catalogue.FEATURE_BIN_RECORDS, ns)
        shares = family(catalogue.FEATURE_REFERENCE_SHARE, ns)
        psi = family(catalogue.FEATURE_DRIFT_PSI, ns)
        for feature in fig["features"]:
            for b in feature["bins"]:
                bins.add_metric([feature["name"], b["bin"]], b["records"])
                shares.add_metric([feature["name"], b["bin"]], b["reference_smoothed"])
            if feature["psi"] is not None:
                psi.add_metric([feature["name"]], feature["psi"])
        yield bins
        yield shares
        yield psi
        yield from self.prediction_families(fig["prediction"])
        yield from self.slice_families(fig["slices"])

    def prediction_families(self, pred: dict):
        ns = self.ns
        bins = family(catalogue.PREDICTION_BIN_RECORDS, ns)
        shares = family(catalogue.PREDICTION_REFERENCE_SHARE, ns)
        for b in pred["bins"]:
            bins.add_metric([b["bin"]], b["records"])
            shares.add_metric([b["bin"]], b["reference_smoothed"])
        yield bins
        yield shares
        if pred["psi"] is not None:
            yield family(catalogue.PREDICTION_DRIFT_PSI, ns, value=pred["psi"])
        if "mean_prediction" in pred:  # regression
            for key, metric in (
                ("mean_prediction", catalogue.PREDICTION_MEAN),
                ("reference_mean_prediction", catalogue.PREDICTION_REFERENCE_MEAN),
            ):
                if pred[key] is not None:
                    yield family(metric, ns, value=pred[key])

    def slice_families(self, slices: list[dict]):
        """Per slice: its records and the task's figure."""
        if self.drift.task == MULTICLASS:
            yield from self.class_slice_families(slices)
        elif self.drift.task == REGRESSION:
            yield from self.mean_slice_families(slices)
        else:
            yield from self.positive_slice_families(slices)

    def slice_records(self, slices: list[dict]):
        records = family(catalogue.SLICE_RECORDS, self.ns)
        for group in slices:
            for value in group["values"]:
                records.add_metric([group["feature"], value["value"]], value["records"])
        return records

    def class_slice_families(self, slices: list[dict]):
        ns = self.ns
        families = {
            key: family(metric, ns)
            for key, metric in (
                ("predicted", catalogue.SLICE_CLASS_PREDICTED),
                ("rate", catalogue.SLICE_CLASS_RATE),
                ("reference_rate", catalogue.SLICE_REFERENCE_CLASS_RATE),
                ("z", catalogue.SLICE_CLASS_RATE_Z),
            )
        }
        for group in slices:
            for value in group["values"]:
                for c in value["classes"]:
                    key = [group["feature"], value["value"], c["class"]]
                    for name, found in families.items():
                        if c[name] is not None:
                            found.add_metric(key, c[name])
        yield self.slice_records(slices)
        yield from families.values()

    def mean_slice_families(self, slices: list[dict]):
        ns = self.ns
        families = {
            key: family(metric, ns)
            for key, metric in (
                ("mean_prediction", catalogue.SLICE_MEAN_PREDICTION),
                (
                    "reference_mean_prediction",
                    catalogue.SLICE_REFERENCE_MEAN_PREDICTION,
                ),
            )
        }
        for group in slices:
            for value in group["values"]:
                for name, found in families.items():
                    if value[name] is not None:
                        found.add_metric(
                            [group["feature"], value["value"]], value[name]
                        )
        yield self.slice_records(slices)
        yield from families.values()

    def positive_slice_families(self, slices: list[dict]):
        ns = self.ns
        families = {
            key: family(metric, ns)
            for key, metric in (
                ("records", catalogue.SLICE_RECORDS),
                ("predicted_positive", catalogue.SLICE_PREDICTED_POSITIVE),
                ("positive_rate", catalogue.SLICE_POSITIVE_RATE),
                ("reference_positive_rate", catalogue.SLICE_REFERENCE_POSITIVE_RATE),
                ("z", catalogue.SLICE_POSITIVE_RATE_Z),
            )
        }
        for group in slices:
            for value in group["values"]:
                key = [group["feature"], value["value"]]
                for name, found in families.items():
                    if value[name] is not None:
                        found.add_metric(key, value[name])
        yield from families.values()


def monitoring_view():
    """GET /monitoring: drift per feature, prediction drift, slice positive rates."""
    monitor = current_app.extensions[EXTENSION]
    model = current_app.extensions["model_bundle"]
    return jsonify(full_report(monitor, model.version))


def register_monitoring(app: Flask, model) -> None:
    """Drift counting (+ /monitoring, + /metrics families) and capture, as configured."""
    config = app.config
    if model is None:
        return
    drift = None
    if config["MONITORING_ENABLED"]:
        profile = read_profile(model)
        if profile is None:
            LOG.warning("monitoring off: the model bundle has no reference profile")
        else:
            directory = config.get("PROMETHEUS_MULTIPROC_DIR", "")
            drift = DriftCounter(profile, model.metadata.target.threshold, directory)
            drift.store.clear()  # the master, before the fork (preload_app)
    capture = None
    if config["CAPTURE_ENABLED"]:
        capture = Capture(
            config["CAPTURE_DESTINATION"],
            config["CAPTURE_SAMPLE_RATE"],
            config["CAPTURE_MAX_BYTES"],
            model.version,
            dropped_counter(app, catalogue.CAPTURE_DROPPED_RECORDS),
        )
    shadow = make_shadow(config, model)
    if drift is None and capture is None and shadow is None:
        return
    drift_dropped = None
    if drift is not None:
        drift_dropped = dropped_counter(app, catalogue.DRIFT_DROPPED_RECORDS)
    app.extensions[EXTENSION] = Monitor(drift, capture, drift_dropped, shadow)
    app.after_request(observe_answered)
    metrics = app.extensions.get("service_metrics")
    if metrics is not None:
        slug = model.metadata.project.slug
        if drift is not None:
            metrics.add_collector(DriftCollector(drift, slug))
        if shadow is not None:
            metrics.add_collector(ShadowCollector(shadow, slug))
    if drift is not None or shadow is not None:
        blp = Blueprint("monitoring", __name__)
        blp.add_url_rule("/monitoring", "monitoring", monitoring_view, methods=["GET"])
        app.register_blueprint(blp)


def make_shadow(config: Mapping[str, Any], model) -> Shadow | None:
    """The shadow model with its counts, when SHADOW_MODEL_DIR is set; ConfigError
    (the server refuses to start) when it cannot shadow the served model."""
    if not config.get("SHADOW_MODEL_DIR"):
        return None
    shadow = load_shadow(Path(config["SHADOW_MODEL_DIR"]), model)
    profile = read_profile(model)
    if profile is None:
        raise ConfigError(
            "SHADOW_MODEL_DIR: the served bundle has no reference profile to compare "
            "the two models' predictions in"
        )
    directory = config.get("PROMETHEUS_MULTIPROC_DIR", "")
    counts = ShadowCounts(profile.task, profile.prediction, directory)
    counts.store.clear()  # the master, before the fork (preload_app)
    return Shadow(
        shadow,
        counts,
        float(config["SHADOW_SAMPLE_RATE"]),
        int(config["SHADOW_QUEUE_RECORDS"]),
    )


class ShadowCollector:
    """Scrape-time Prometheus families of the shadow's counts, every worker's."""

    def __init__(self, shadow: Shadow, namespace: str) -> None:
        self.shadow = shadow
        self.ns = namespace

    def collect(self):
        from prometheus_client.core import HistogramMetricFamily

        ns, fig = self.ns, self.shadow.figures()
        scored = family(
            catalogue.SHADOW_SCORED_RECORDS, ns, value=fig["records_scored"]
        )
        yield scored
        dropped = family(catalogue.SHADOW_DROPPED_RECORDS, ns)
        dropped.add_metric(["queue_full"], fig["records_dropped"])
        dropped.add_metric(["error"], fig["records_failed"])
        yield dropped
        if fig["agreement_rate"] is not None:
            rate = fig["agreement_rate"]
            yield family(catalogue.SHADOW_AGREEMENT_RATE, ns, value=rate)
        if fig["prediction_psi"] is not None:
            value = fig["prediction_psi"]
            yield family(catalogue.SHADOW_PREDICTION_PSI, ns, value=value)
        bins = family(catalogue.SHADOW_PREDICTION_BIN_RECORDS, ns)
        for b in fig["prediction_bins"]:
            bins.add_metric(["served", b["bin"]], b["served"])
            bins.add_metric(["shadow", b["bin"]], b["shadow"])
        yield bins
        latency = fig["latency_seconds"]
        buckets = [(b["le"], b["records"]) for b in latency["buckets"]]
        yield HistogramMetricFamily(
            catalogue.SHADOW_LATENCY.name(ns),
            catalogue.SHADOW_LATENCY.help,
            buckets=buckets,
            sum_value=latency["sum"],
        )
