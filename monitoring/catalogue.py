"""Every Prometheus metric the service exposes, named once.

Each name is the project's slug (the namespace) then the suffix here: the service's
instruments and scrape-time families, the alert rules and dashboard (monitoring/alerts.py)
and the table in docs/monitoring.md (checked by tests/monitoring/test_catalogue.py) are
all built from this list:

    python -m monitoring.catalogue     # prints the docs table
"""

from __future__ import annotations

from dataclasses import dataclass

from bundle.format import BINARY, MULTICLASS, REGRESSION, TASKS

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
# What Prometheus appends to a sample's name, by metric type.
SAMPLE_SUFFIX = {COUNTER: "_total", GAUGE: "", HISTOGRAM: ""}


@dataclass(frozen=True)
class Metric:
    """One metric: its name after `<namespace>_`, type, labels, help text and the
    tasks whose service exposes it."""

    suffix: str
    kind: str
    labels: tuple[str, ...]
    help: str
    tasks: tuple[str, ...] = TASKS

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
SLICE_CLASS_LABELS = ("feature", "value", "class")

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
    "Scored records by reference bin of the prediction (probability, class or value).",
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
    "Population stability index of the prediction (probability, class or value).",
)
PREDICTION_MEAN = Metric(
    "prediction_mean",
    GAUGE,
    (),
    "Mean predicted value, live.",
    (REGRESSION,),
)
PREDICTION_REFERENCE_MEAN = Metric(
    "prediction_reference_mean",
    GAUGE,
    (),
    "Mean predicted value on held-out training data.",
    (REGRESSION,),
)
SLICE_RECORDS = Metric(
    "slice_records", COUNTER, SLICE_LABELS, "Scored records by slice."
)
SLICE_PREDICTED_POSITIVE = Metric(
    "slice_predicted_positive",
    COUNTER,
    SLICE_LABELS,
    "Scored records predicted positive, by slice.",
    (BINARY,),
)
SLICE_POSITIVE_RATE = Metric(
    "slice_positive_rate",
    GAUGE,
    SLICE_LABELS,
    "Predicted-positive rate of the slice, live.",
    (BINARY,),
)
SLICE_REFERENCE_POSITIVE_RATE = Metric(
    "slice_reference_positive_rate",
    GAUGE,
    SLICE_LABELS,
    "Predicted-positive rate of the slice on held-out training data.",
    (BINARY,),
)
SLICE_POSITIVE_RATE_Z = Metric(
    "slice_positive_rate_z",
    GAUGE,
    SLICE_LABELS,
    "Live minus reference positive rate, in standard errors.",
    (BINARY,),
)
SLICE_CLASS_PREDICTED = Metric(
    "slice_class_predicted",
    COUNTER,
    SLICE_CLASS_LABELS,
    "Scored records predicted the class, by slice.",
    (MULTICLASS,),
)
SLICE_CLASS_RATE = Metric(
    "slice_class_rate",
    GAUGE,
    SLICE_CLASS_LABELS,
    "Share of the slice's records predicted the class, live.",
    (MULTICLASS,),
)
SLICE_REFERENCE_CLASS_RATE = Metric(
    "slice_reference_class_rate",
    GAUGE,
    SLICE_CLASS_LABELS,
    "Share of the slice's records predicted the class on held-out training data.",
    (MULTICLASS,),
)
SLICE_CLASS_RATE_Z = Metric(
    "slice_class_rate_z",
    GAUGE,
    SLICE_CLASS_LABELS,
    "Live minus reference class rate, in standard errors.",
    (MULTICLASS,),
)
SLICE_MEAN_PREDICTION = Metric(
    "slice_mean_prediction",
    GAUGE,
    SLICE_LABELS,
    "Mean predicted value of the slice, live.",
    (REGRESSION,),
)
SLICE_REFERENCE_MEAN_PREDICTION = Metric(
    "slice_reference_mean_prediction",
    GAUGE,
    SLICE_LABELS,
    "Mean predicted value of the slice on held-out training data.",
    (REGRESSION,),
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
SHADOW_SCORED_RECORDS = Metric(
    "shadow_scored_records",
    COUNTER,
    (),
    "Sampled records the shadow model scored (SHADOW_MODEL_DIR).",
)
SHADOW_DROPPED_RECORDS = Metric(
    "shadow_dropped_records",
    COUNTER,
    ("reason",),
    "Sampled records the shadow did not score: queue_full or error.",
)
SHADOW_AGREEMENT_RATE = Metric(
    "shadow_agreement_rate",
    GAUGE,
    (),
    "Share of shadow-scored records where the shadow agrees with the served model "
    "(same class; a regression: within 5% of the served value).",
)
SHADOW_PREDICTION_PSI = Metric(
    "shadow_prediction_psi",
    GAUGE,
    (),
    "PSI of the shadow's predictions against the served model's, same records.",
)
SHADOW_PREDICTION_BIN_RECORDS = Metric(
    "shadow_prediction_bin_records",
    COUNTER,
    ("model", "bin"),
    "Shadow-scored records by model (served, shadow) and prediction bin.",
)
SHADOW_LATENCY = Metric(
    "shadow_latency_seconds",
    HISTOGRAM,
    (),
    "The shadow model's scoring time per record (a batch's shared by its records).",
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
    PREDICTION_MEAN,
    PREDICTION_REFERENCE_MEAN,
    SLICE_RECORDS,
    SLICE_PREDICTED_POSITIVE,
    SLICE_POSITIVE_RATE,
    SLICE_REFERENCE_POSITIVE_RATE,
    SLICE_POSITIVE_RATE_Z,
    SLICE_CLASS_PREDICTED,
    SLICE_CLASS_RATE,
    SLICE_REFERENCE_CLASS_RATE,
    SLICE_CLASS_RATE_Z,
    SLICE_MEAN_PREDICTION,
    SLICE_REFERENCE_MEAN_PREDICTION,
    DRIFT_DROPPED_RECORDS,
    CAPTURE_DROPPED_RECORDS,
    SHADOW_SCORED_RECORDS,
    SHADOW_DROPPED_RECORDS,
    SHADOW_AGREEMENT_RATE,
    SHADOW_PREDICTION_PSI,
    SHADOW_PREDICTION_BIN_RECORDS,
    SHADOW_LATENCY,
)


def of_task(task: str) -> tuple[Metric, ...]:
    """The metrics the service of a model of `task` exposes."""
    return tuple(m for m in CATALOGUE if task in m.tasks)


def markdown_table(namespace: str = "<slug>") -> str:
    """The metrics table of docs/monitoring.md, derived from CATALOGUE."""
    lines = [
        "| metric | type | labels | tasks | what |",
        "|---|---|---|---|---|",
    ]
    for m in CATALOGUE:
        labels = ", ".join(f"`{label}`" for label in m.labels)
        tasks = "all" if m.tasks == TASKS else ", ".join(m.tasks)
        lines.append(
            f"| `{m.series(namespace)}` | {m.kind} | {labels} | {tasks} | {m.help} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
