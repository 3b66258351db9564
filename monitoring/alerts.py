"""Prometheus alerting rules and a Grafana dashboard for the served model.

Metric names carry the project's slug (`census_income_http_requests_total`), so both
are generated for the bundle being served rather than committed for one data set:

    python -m monitoring.alerts [--model model] [--out build/monitoring] [--shadow]

writes `alerts.yml` (rules), `dashboard.json` (Grafana) and `prometheus.yml` (a scrape
config that loads the rules). The drift thresholds are monitoring/stability.py's, the same
that GET /monitoring reads with. Both follow the model's task: a slice's
predicted-positive rate (binary) or each class's rate (multiclass) is alerted on; a
regression's slice means are shown, not alerted on (they have no standard error).
The champion vs shadow panels are always there, in a row of their own, collapsed and
showing no data while no shadow runs, so a shadow started later (SHADOW_MODEL_DIR) shows
without generating the dashboard again; `--shadow` opens that row.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from bundle.files import write_text_atomic
from bundle.format import BINARY, MULTICLASS, REGRESSION
from bundle.paths import ROOT
from monitoring import catalogue
from monitoring.stability import (
    MIN_RECORDS,
    PSI_SIGNIFICANT,
    SLICE_GAP,
    SLICE_MIN_RECORDS,
    SLICE_Z,
    SMOOTHING,
)

ERROR_RATE = 0.05  # share of requests answered 5xx
P99_SECONDS = 0.5  # per prediction route
PREDICT_ROUTES = '"/predict.*"'
# The windowed PSI's inputs and output, for the features and the predicted probability.
BIN_RECORDS = {
    "feature": catalogue.FEATURE_BIN_RECORDS,
    "prediction": catalogue.PREDICTION_BIN_RECORDS,
}
REFERENCE_SHARE = {
    "feature": catalogue.FEATURE_REFERENCE_SHARE,
    "prediction": catalogue.PREDICTION_REFERENCE_SHARE,
}
DRIFT_PSI = {
    "feature": catalogue.FEATURE_DRIFT_PSI,
    "prediction": catalogue.PREDICTION_DRIFT_PSI,
}
# The dashboard's row of champion vs shadow panels (no data while no shadow runs).
SHADOW_ROW = "Champion vs shadow (SHADOW_MODEL_DIR; no data while no shadow runs)"

# What a drift alert's description says to do about it: the retraining loop.
RETRAIN = (
    "If the data has changed for good, retrain on recent data: make challenger "
    "[DATA=recent.csv] [LABELLED=reports/monitoring/labelled.csv (make monitor with "
    "LABELS=)], make compare, and make promote when the gate passes "
    "(docs/lifecycle.md)."
)


def alert(
    name: str, expr: str, pending: str, severity: str, summary: str, description=""
) -> dict:
    notes = {
        "summary": summary,
        **({"description": description} if description else {}),
    }
    return {
        "alert": name,
        "expr": " ".join(expr.split()),
        "for": pending,
        "labels": {"severity": severity},
        "annotations": notes,
    }


def windowed_psi(ns: str, what: str, by: str, window: str) -> str:
    """PromQL for the PSI of the records counted in the last `window` against the
    reference shares the service exposes; only where the window holds MIN_RECORDS.

    The service's own `*_drift_psi` gauges cover everything since it started, which
    a drift that begins late in a long run moves only slowly; this is the recent view.
    """
    keys = f"job, instance{by}"
    records = catalogue.MONITORED_RECORDS.series(ns)
    live = f"(increase({BIN_RECORDS[what].series(ns)}[{window}]) + {SMOOTHING})"
    share = f"({live} / on ({keys}) group_left () sum by ({keys}) {live})"
    ref = REFERENCE_SHARE[what].series(ns)
    return (
        f"sum by ({keys}) (({share} - {ref}) * ln({share} / {ref})) and on (job, "
        f"instance) increase({records}[{window}]) >= {MIN_RECORDS}"
    )


def recorded(ns: str, what: str, window: str) -> str:
    """The name of a windowed-PSI recording rule."""
    return f"{ns}:{DRIFT_PSI[what].suffix}:increase{window}"


def recording_rules(ns: str, window: str) -> list[dict]:
    return [
        {
            "record": recorded(ns, "feature", window),
            "expr": windowed_psi(ns, "feature", ", feature", window),
        },
        {
            "record": recorded(ns, "prediction", window),
            "expr": windowed_psi(ns, "prediction", "", window),
        },
    ]


# What the prediction is, by task, in an alert's words.
PREDICTED = {
    BINARY: "predicted probabilities",
    MULTICLASS: "predicted class shares",
    REGRESSION: "predicted values",
}


def slice_alert(ns: str, project: str, task: str, pending: str) -> list[dict]:
    """The task's slice alert: a slice's predicted-positive rate (binary) or a class's
    rate in a slice (multiclass) far from training; none for a regression."""
    slice_records = catalogue.SLICE_RECORDS.series(ns)
    if task == REGRESSION:
        return []
    if task == MULTICLASS:
        rate, reference_rate, z = (
            m.series(ns)
            for m in (
                catalogue.SLICE_CLASS_RATE,
                catalogue.SLICE_REFERENCE_CLASS_RATE,
                catalogue.SLICE_CLASS_RATE_Z,
            )
        )
        return [
            alert(
                "ModelSliceClassRate",
                f"""abs({rate} - {reference_rate})
                > {SLICE_GAP} and abs({z}) > {SLICE_Z}
                and on (job, instance, feature, value) {slice_records}
                >= {SLICE_MIN_RECORDS}""",
                pending,
                "ticket",
                f"{project}: rate of class {{{{ $labels.class }}}} in "
                "{{ $labels.feature }}={{ $labels.value }} is far from training",
            )
        ]
    rate, reference_rate, z = (
        m.series(ns)
        for m in (
            catalogue.SLICE_POSITIVE_RATE,
            catalogue.SLICE_REFERENCE_POSITIVE_RATE,
            catalogue.SLICE_POSITIVE_RATE_Z,
        )
    )
    return [
        alert(
            "ModelSlicePositiveRate",
            f"""abs({rate} - {reference_rate})
            > {SLICE_GAP} and abs({z}) > {SLICE_Z}
            and {slice_records} >= {SLICE_MIN_RECORDS}""",
            pending,
            "ticket",
            f"{project}: predicted-positive rate of {{{{ $labels.feature }}}}="
            "{{ $labels.value }} is far from training",
        )
    ]


def rules(
    namespace: str,
    project: str,
    pending: str | None = None,
    window: str = "1h",
    task: str = BINARY,
) -> dict[str, Any]:
    """The recording and alerting rules for a service whose metrics start with
    `namespace`, serving a model of `task`. Drift is judged on the records of the last
    `window`.

    `pending` overrides every rule's `for:` (the end-to-end test uses seconds)."""
    ns = namespace
    requests = catalogue.HTTP_REQUESTS.series(ns)
    latency = catalogue.HTTP_REQUEST_DURATION.series(ns, "bucket")
    records = catalogue.MONITORED_RECORDS.series(ns)

    def wait(default: str) -> str:
        return pending or default

    group = [
        alert(
            "ModelServiceErrorRate",
            f"""sum by (job, instance) (rate({requests}{{status=~"5.."}}[5m]))
            / sum by (job, instance) (rate({requests}[5m])) > {ERROR_RATE}""",
            wait("5m"),
            "page",
            f"{project}: more than {ERROR_RATE:.0%} of requests fail (5xx)",
        ),
        alert(
            "ModelServiceLatencyP99",
            f"""histogram_quantile(0.99, sum by (job, instance, route, le)
            (rate({latency}{{route=~{PREDICT_ROUTES}}}[5m])))
            > {P99_SECONDS}""",
            wait("10m"),
            "page",
            f"{project}: p99 latency of {{{{ $labels.route }}}} above {P99_SECONDS} s",
        ),
        alert(
            "ModelServiceNoTraffic",
            # The monitoring counter exists from the first scrape (at 0), so a rate of
            # 0 means no records were scored; the request counters appear only with
            # the first request. Needs MONITORING_ENABLED (the default).
            f"sum by (job, instance) (rate({records}[15m])) == 0",
            wait("30m"),
            "ticket",
            f"{project}: no prediction requests for 15 minutes",
        ),
        alert(
            "ModelFeatureDrift",
            f"{recorded(ns, 'feature', window)} > {PSI_SIGNIFICANT}",
            wait("15m"),
            "ticket",
            f"{project}: feature {{{{ $labels.feature }}}} drifted from training "
            f"(PSI above {PSI_SIGNIFICANT} over {window})",
            RETRAIN,
        ),
        alert(
            "ModelPredictionDrift",
            f"{recorded(ns, 'prediction', window)} > {PSI_SIGNIFICANT}",
            wait("15m"),
            "ticket",
            f"{project}: {PREDICTED[task]} drifted from training "
            f"(PSI above {PSI_SIGNIFICANT} over {window})",
            RETRAIN,
        ),
        *slice_alert(ns, project, task, wait("15m")),
    ]
    return {
        "groups": [
            {"name": f"{ns}-drift", "rules": recording_rules(ns, window)},
            {"name": f"{ns}-model-service", "rules": group},
        ]
    }


def panel(title: str, targets: list[tuple[str, str]], y: int, x: int, unit: str):
    """A Grafana time-series panel, half the width of the dashboard."""
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(65 + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def prediction_panel(ns: str, task: str) -> tuple[str, list, str]:
    """The prediction's drift with the task's overall figure: the predicted-positive
    share (binary), each class's share (multiclass) or the mean prediction."""
    series = {m.suffix: m.series(ns) for m in catalogue.CATALOGUE}
    psi = [
        (f"max({recorded(ns, 'prediction', '1h')})", "prediction PSI, last hour"),
        (f"max({series['prediction_drift_psi']})", "prediction PSI, since start"),
    ]
    if task == MULTICLASS:
        bins = series["prediction_bin_records"]
        share = (
            f"sum by (bin) (rate({bins}[5m])) / ignoring (bin) group_left "
            f"sum(rate({bins}[5m]))",
            "share of {{bin}}",
        )
        return "Prediction drift (PSI) and class shares", [*psi, share], "none"
    if task == REGRESSION:
        means = [
            (f"max({series['prediction_mean']})", "mean prediction, since start"),
            (
                f"max({series['prediction_reference_mean']})",
                "mean prediction, training",
            ),
        ]
        return "Prediction drift (PSI) and mean prediction", [*psi, *means], "none"
    positive = (
        f"sum(rate({series['slice_predicted_positive']}[5m])) / "
        f"sum(rate({series['slice_records']}[5m]))",
        "positive share (all slices)",
    )
    return (
        "Prediction drift (PSI) and predicted-positive share",
        [*psi, positive],
        "none",
    )


def slice_panel(ns: str, task: str) -> tuple[str, list, str]:
    """The slices furthest from training by the task's figure."""
    series = {m.suffix: m.series(ns) for m in catalogue.CATALOGUE}
    if task == MULTICLASS:
        by, live, ref = (
            "feature, value, class",
            "slice_class_rate",
            "slice_reference_class_rate",
        )
        title, legend = "class rate", "{{feature}}={{value}} {{class}}"
    elif task == REGRESSION:
        by, live, ref = (
            "feature, value",
            "slice_mean_prediction",
            "slice_reference_mean_prediction",
        )
        title, legend = "mean prediction", "{{feature}}={{value}}"
    else:
        by, live, ref = (
            "feature, value",
            "slice_positive_rate",
            "slice_reference_positive_rate",
        )
        title, legend = "predicted-positive rate", "{{feature}}={{value}}"
    expr = (
        f"topk(10, abs(max by ({by}) ({series[live]}) - max by ({by}) "
        f"({series[ref]})))"
    )
    unit = "none" if task == REGRESSION else "percentunit"
    return (
        f"Slices furthest from training ({title}, live - training)",
        [(expr, legend)],
        unit,
    )


def shadow_panels(ns: str) -> list[tuple[str, list, str]]:
    """Champion (the served model) against the shadow (SHADOW_MODEL_DIR): agreement,
    PSI, both prediction distributions, the shadow's latency and drops."""
    series = {m.suffix: m.series(ns) for m in catalogue.CATALOGUE}
    bins = series["shadow_prediction_bin_records"]
    latency = catalogue.SHADOW_LATENCY.series(ns, "bucket")
    return [
        (
            "Champion vs shadow: agreement and prediction PSI",
            [
                (f"max({series['shadow_agreement_rate']})", "agreement rate"),
                (f"max({series['shadow_prediction_psi']})", "PSI shadow vs champion"),
            ],
            "none",
        ),
        (
            "Champion vs shadow: prediction distribution (share by bin)",
            [
                (
                    f"sum by (model, bin) (rate({bins}[5m])) / ignoring (bin) "
                    f"group_left sum by (model) (rate({bins}[5m]))",
                    "{{model}} {{bin}}",
                )
            ],
            "percentunit",
        ),
        (
            "Shadow latency per record (p50, p99)",
            [
                (
                    f"histogram_quantile({q}, sum by (le) (rate({latency}[5m])))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.99)
            ],
            "s",
        ),
        (
            "Shadow records scored and dropped per second",
            [
                (f"sum(rate({series['shadow_scored_records']}[5m]))", "scored"),
                (
                    f"sum by (reason) (rate({series['shadow_dropped_records']}[5m]))",
                    "dropped: {{reason}}",
                ),
            ],
            "ops",
        ),
    ]


def shadow_row(ns: str, y: int, expanded: bool) -> list[dict[str, Any]]:
    """The row of champion vs shadow panels starting at `y`: collapsed (its panels
    inside it, as Grafana keeps a collapsed row's) unless `expanded`."""
    panels = [
        panel(title, targets, y + 1 + 8 * (i // 2), 12 * (i % 2), unit)
        for i, (title, targets, unit) in enumerate(shadow_panels(ns))
    ]
    row = {
        "type": "row",
        "title": SHADOW_ROW,
        "collapsed": not expanded,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        "panels": [] if expanded else panels,
    }
    return [row, *panels] if expanded else [row]


def dashboard(
    namespace: str, project: str, task: str = BINARY, shadow: bool = False
) -> dict[str, Any]:
    """A Grafana dashboard of the service's traffic, latency, predictions and drift, for
    a model of `task`, and its champion vs shadow row (open with `shadow`)."""
    ns = namespace
    requests = catalogue.HTTP_REQUESTS.series(ns)
    latency = catalogue.HTTP_REQUEST_DURATION.series(ns, "bucket")
    series = {m.suffix: m.series(ns) for m in catalogue.CATALOGUE}
    specs = [
        (
            "Requests per second by route and status",
            [
                (
                    f"sum by (route, status) (rate({requests}[5m]))",
                    "{{route}} {{status}}",
                )
            ],
            "reqps",
        ),
        (
            "Error rate (5xx)",
            [
                (
                    f'sum(rate({requests}{{status=~"5.."}}[5m])) '
                    f"/ sum(rate({requests}[5m]))",
                    "5xx share",
                )
            ],
            "percentunit",
        ),
        (
            "Latency by route (p50, p99)",
            [
                (
                    f"histogram_quantile({q}, sum by (route, le) (rate({latency}[5m])))",
                    f"p{int(q * 100)} {{{{route}}}}",
                )
                for q in (0.5, 0.99)
            ],
            "s",
        ),
        (
            "Predictions per second by class",
            [(f"sum by (label) (rate({series['predictions']}[5m]))", "{{label}}")],
            "ops",
        ),
        (
            f"Feature drift, last hour (PSI; alert above {PSI_SIGNIFICANT})",
            [(f"max by (feature) ({recorded(ns, 'feature', '1h')})", "{{feature}}")],
            "none",
        ),
        (
            "Feature drift since the server started (PSI)",
            [(f"max by (feature) ({series['feature_drift_psi']})", "{{feature}}")],
            "none",
        ),
        prediction_panel(ns, task),
        slice_panel(ns, task),
        (
            "Records counted for monitoring per second",
            [(f"sum(rate({series['monitored_records']}[5m]))", "records/s")],
            "ops",
        ),
    ]
    panels = [
        panel(title, targets, 8 * (i // 2), 12 * (i % 2), unit)
        for i, (title, targets, unit) in enumerate(specs)
    ]
    panels += shadow_row(ns, 8 * ((len(specs) + 1) // 2), shadow)
    return {
        "title": f"{project} model service",
        "uid": f"{ns}-model"[:40],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }


def queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard, a collapsed row's panels included."""
    panels = [q for p in board["panels"] for q in [p, *p.get("panels", [])]]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def scrape_config(target: str, rules_file: str, interval: str = "15s") -> dict:
    """A Prometheus config scraping one service and loading the rules."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [rules_file],
        "scrape_configs": [
            {"job_name": "model-service", "static_configs": [{"targets": [target]}]}
        ],
    }


def write_all(
    out: Path, namespace: str, project: str, task: str = BINARY, shadow: bool = False
) -> list[Path]:
    """alerts.yml, dashboard.json and prometheus.yml into `out` (atomically)."""
    board = dashboard(namespace, project, task, shadow)
    files = {
        "alerts.yml": yaml.safe_dump(
            rules(namespace, project, task=task), sort_keys=False
        ),
        "dashboard.json": json.dumps(board, indent=2) + "\n",
        "prometheus.yml": yaml.safe_dump(
            scrape_config("127.0.0.1:8000", "alerts.yml"), sort_keys=False
        ),
    }
    return [write_text_atomic(out / name, text) for name, text in files.items()]


def main(argv: list[str] | None = None) -> int:
    from bundle.format import BundleError, read_metadata

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "monitoring")
    parser.add_argument(
        "--shadow",
        action="store_true",
        help="open the champion vs shadow row (a service run with SHADOW_MODEL_DIR)",
    )
    args = parser.parse_args(argv)
    try:
        meta = read_metadata(args.model)
    except BundleError as exc:
        print(f"alerts: {exc}", file=sys.stderr)
        return 2
    project = meta.project
    task = meta.target.task
    for path in write_all(args.out, project.slug, project.name, task, args.shadow):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
