"""Every Prometheus metric the service exposes, named once.

Each name is the project's slug (the namespace) then the suffix here: the service's
instruments and scrape-time families, the alert rules and dashboard (monitoring/alerts.py)
and the table in docs/monitoring.md (checked by tests/monitoring/test_catalogue.py) are
all built from this list:

    python -m monitoring.catalogue     # prints the docs table
"""

from __future__ import annotations

from dataclasses import dataclass

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
# What Prometheus appends to a sample's name, by metric type.
SAMPLE_SUFFIX = {COUNTER: "_total", GAUGE: "", HISTOGRAM: ""}


@dataclass(frozen=True)
class Metric:
    """One metric: its name after `<namespace>_`, type, labels and help text."""

    suffix: str
    kind: str
    labels: tuple[str, ...]
    help: str

    def name(self, namespace: str) -> str:
        """The metric's name, as prometheus_client takes it."""
        return f"{namespace}_{self.suffix}"

    def series(self, namespace: str, part: str = "") -> str:
        """A sample's name in PromQL: `_total` for a counter, `_bucket` (part) etc.
        for a histogram."""
        tail = f"_{part}" if part else SAMPLE_SUFFIX[self.kind]
        return self.name(namespace) + tail


REQUEST_LABELS = ("method", "route", "status")
BIN_LABELS = ("feature", "bin")
SLICE_LABELS = ("feature", "value")

HTTP_REQUESTS = Metric(
    "http_requests",
    COUNTER,
    REQUEST_LABELS,
    "HTTP requests answered, by method, route and status.",
)
HTTP_REQUEST_DURATION = Metric(
    "http_request_duration_seconds",
    HISTOGRAM,
    REQUEST_LABELS,
    "Time to answer a request, by method, route and status.",
)
PREDICTIONS = Metric(
    "predictions", COUNTER, ("label",), "Records scored, by predicted class."
)
MONITORED_RECORDS = Metric(
    "monitored_records",
    COUNTER,
    (),
    "Scored records counted against the training reference.",
)
FEATURE_BIN_RECORDS = Metric(
    "feature_bin_records",
    COUNTER,
    BIN_LABELS,
    "Scored records by feature and reference bin.",
)
FEATURE_REFERENCE_SHARE = Metric(
    "feature_reference_share",
    GAUGE,
    BIN_LABELS,
    "Share of the training data in the bin (smoothed as PSI takes it).",
)
FEATURE_DRIFT_PSI = Metric(
    "feature_drift_psi",
    GAUGE,
    ("feature",),
    "Population stability index of the feature against training, over the "
    "records counted since the server started.",
)
PREDICTION_BIN_RECORDS = Metric(
    "prediction_bin_records",
    COUNTER,
    ("bin",),
    "Scored records by reference bin of the predicted probability.",
)
PREDICTION_REFERENCE_SHARE = Metric(
    "prediction_reference_share",
    GAUGE,
    ("bin",),
    "Share of held-out predictions in the bin (smoothed as PSI takes it).",
)
PREDICTION_DRIFT_PSI = Metric(
    "prediction_drift_psi",
    GAUGE,
    (),
    "Population stability index of the predicted probability.",
)
SLICE_RECORDS = Metric(
    "slice_records", COUNTER, SLICE_LABELS, "Scored records by slice."
)
SLICE_PREDICTED_POSITIVE = Metric(
    "slice_predicted_positive",
    COUNTER,
    SLICE_LABELS,
    "Scored records predicted positive, by slice.",
)
SLICE_POSITIVE_RATE = Metric(
    "slice_positive_rate",
    GAUGE,
    SLICE_LABELS,
    "Predicted-positive rate of the slice, live.",
)
SLICE_REFERENCE_POSITIVE_RATE = Metric(
    "slice_reference_positive_rate",
    GAUGE,
    SLICE_LABELS,
    "Predicted-positive rate of the slice on held-out training data.",
)
SLICE_POSITIVE_RATE_Z = Metric(
    "slice_positive_rate_z",
    GAUGE,
    SLICE_LABELS,
    "Live minus reference positive rate, in standard errors.",
)
DRIFT_DROPPED_RECORDS = Metric(
    "drift_dropped_records",
    COUNTER,
    (),
    "Scored records not counted for drift: counting failed.",
)
CAPTURE_DROPPED_RECORDS = Metric(
    "capture_dropped_records",
    COUNTER,
    (),
    "Scored records data capture dropped: the write failed.",
)

CATALOGUE = (
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    PREDICTIONS,
    MONITORED_RECORDS,
    FEATURE_BIN_RECORDS,
    FEATURE_REFERENCE_SHARE,
    FEATURE_DRIFT_PSI,
    PREDICTION_BIN_RECORDS,
    PREDICTION_REFERENCE_SHARE,
    PREDICTION_DRIFT_PSI,
    SLICE_RECORDS,
    SLICE_PREDICTED_POSITIVE,
    SLICE_POSITIVE_RATE,
    SLICE_REFERENCE_POSITIVE_RATE,
    SLICE_POSITIVE_RATE_Z,
    DRIFT_DROPPED_RECORDS,
    CAPTURE_DROPPED_RECORDS,
)


def markdown_table(namespace: str = "<slug>") -> str:
    """The metrics table of docs/monitoring.md, derived from CATALOGUE."""
    lines = ["| metric | type | labels | what |", "|---|---|---|---|"]
    for m in CATALOGUE:
        labels = ", ".join(f"`{label}`" for label in m.labels)
        lines.append(f"| `{m.series(namespace)}` | {m.kind} | {labels} | {m.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
