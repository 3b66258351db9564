"""`make monitor`: a drift report, in the style of the model card, from captured records.

    python -m monitoring.report CAPTURE [--labels LABELS] [--model model]
                                        [--out reports/monitoring]

CAPTURE is what the service wrote with CAPTURE_ENABLED=true: a JSON-lines file, or a log
in which those lines appear after a prefix (`heroku logs` output, a log drain's file);
lines that are not capture lines are skipped. LABELS (optional) is a CSV of true labels,
joined by `request_id` (and `row`, for records sent in a batch; 0 when absent), with the
label in a `label` column or the target's own column; its values are the data's (e.g.
`1` or `yes`) or the class display names, or a regression's numbers. With labels the
report recomputes the task's metrics on live data: F1 per slice (binary), accuracy and
macro F1 (multiclass), RMSE and MAE (regression). Writes MONITORING.md and its PNG
figures to --out; with labels also labelled.csv, the labelled records as rows of the
training data (the features and the target column, the label as the data writes it),
which `make challenger LABELLED=...` adds to a challenger's training split.

The live figures are counted with the service's own code (monitoring/counts.py) against
the reference profile in the bundle, so the report and /monitoring agree.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from bundle.files import write_text_atomic
from bundle.format import BINARY, MULTICLASS, REGRESSION, BundleError, Scalar, Target
from bundle.paths import ROOT
from bundle.rules import code_text
from bundle.store import LoadedBundle, load_bundle
from monitoring import figures
from monitoring.counts import DriftCounter
from monitoring.profile import read_profile
from monitoring.slices import add_bands, slice_metrics
from monitoring.stability import PSI_SIGNIFICANT, mark_flagged

TOP_SLICES = 15
# The labelled records as training rows, beside MONITORING.md (make challenger LABELLED=).
LABELLED_FILE = "labelled.csv"
RATE = "predicted-positive rate"
# The slice figure's axis, by task (binary: RATE).
SLICE_AXES = {MULTICLASS: "predicted class rate", REGRESSION: "mean predicted value"}


class ReportError(ValueError):
    """A capture or labels file the report cannot use."""


@dataclass
class Capture:
    """The captured records, in order, with what the service answered (`predictions`:
    the class, or a regression's value; `probabilities`: the class's, if any)."""

    records: list[dict] = field(default_factory=list)
    keys: list[tuple[str, int]] = field(default_factory=list)
    probabilities: list[float | None] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)
    skipped: int = 0


def read_capture(lines: Iterable[str]) -> Capture:
    """Capture lines, wherever they start in a log line; other lines are skipped."""
    out = Capture()
    for line in lines:
        start = line.find("{")
        if start < 0:
            out.skipped += 1
            continue
        try:
            item = json.loads(line[start:])
        except json.JSONDecodeError:
            out.skipped += 1
            continue
        if not isinstance(item, dict) or item.get("type") != "capture":
            out.skipped += 1
            continue
        out.records.append(item["record"])
        out.keys.append((str(item["request_id"]), int(item.get("row", 0))))
        probability = item.get("probability")
        out.probabilities.append(None if probability is None else float(probability))
        out.predictions.append(item.get("prediction"))
        out.times.append(str(item.get("ts", "")))
        out.versions.add(str(item.get("model_version", "")))
    return out


def label_value(text: str, model: LoadedBundle) -> float | int | None:
    """The label as the model's scores read it, or None: a binary 1 / 0 as the data or
    the display names spell it (then 1/0 and true/false, unless the data uses those for
    something else); a class's index by its value or display name; a number."""
    target = model.metadata.target
    if target.task == REGRESSION:
        try:
            value = float(text)
        except ValueError:
            return None
        return value if np.isfinite(value) else None
    if target.task == MULTICLASS:
        index = {str(c): i for i, c in enumerate(target.classes)}
        index |= {name: i for i, name in enumerate(target.class_names)}
        return index.get(text.strip())
    names = {str(target.negative): 0, target.negative_name: 0}
    names |= {str(target.positive): 1, target.positive_name: 1}
    for alias, value in (("1", 1), ("0", 0), ("true", 1), ("false", 0)):
        names.setdefault(alias, value)
    return names.get(text.strip())


def read_labels(path: Path, model: LoadedBundle) -> dict[tuple[str, int], Any]:
    """(request ID, row) -> label (label_value) from a CSV; ReportError names what is
    missing."""
    column_names = ("label", model.metadata.target.column)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        column = next((c for c in column_names if c in header), None)
        if "request_id" not in header or column is None:
            raise ReportError(
                f"{path}: needs a request_id column and a label column "
                f"({' or '.join(column_names)}); found {header}"
            )
        labels = {}
        for number, row in enumerate(reader, start=2):
            value = label_value(row[column], model)
            if value is None:
                raise ReportError(
                    f"{path} line {number}: unknown label {row[column]!r}"
                )
            labels[(row["request_id"], int(row.get("row") or 0))] = value
    return labels


def data_label(value: float | int, target: Target) -> Scalar:
    """A label_value as the data writes the target: the class's own value (not 0/1 or
    its display name), or a regression's number."""
    if target.task == REGRESSION:
        return value
    if target.task == MULTICLASS:
        return target.classes[int(value)]
    return target.positive if value == 1 else target.negative


def cell(value: Any) -> str:
    """A value as a CSV cell: missing empty, a number as the data's CSV writes it."""
    if value is None:
        return ""
    text = code_text(value)
    return str(value) if text is None else text


def labelled_rows(model: LoadedBundle, capture: Capture, labels: dict) -> list[list]:
    """The labelled captured records as rows of the training data, header first: the
    bundle's features and the target column, the label as the data writes it."""
    target, names = model.metadata.target, model.metadata.feature_names
    rows = [[*names, target.column]]
    for record, key in zip(capture.records, capture.keys):
        if key in labels:
            label = data_label(labels[key], target)
            rows.append([*(cell(record.get(n)) for n in names), cell(label)])
    return rows


def csv_text(rows: list[list]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def counter_of(model: LoadedBundle) -> DriftCounter:
    """A drift counter on the bundle's reference profile."""
    profile = read_profile(model)
    if profile is None:
        raise ReportError(f"{model.path}: the bundle has no reference profile")
    return DriftCounter(profile, model.metadata.target.threshold)


def captured_scores(counter: DriftCounter, capture: Capture) -> np.ndarray:
    """Each captured answer's score, as the service counted it; ReportError for an
    answer this model cannot give (a class it does not have, a missing field)."""
    try:
        return np.fromiter(
            (
                counter.score(p, q, p)
                for p, q in zip(capture.predictions, capture.probabilities)
            ),
            np.float64,
            len(capture.predictions),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ReportError(
            f"the capture holds an answer this {counter.task} model does not give: "
            f"{exc!r} (captured by another model?)"
        ) from exc


def drift_figures(model: LoadedBundle, capture: Capture) -> dict[str, Any]:
    """The service's figures, counted from the capture."""
    counter = counter_of(model)
    counter.count_many(capture.records, captured_scores(counter, capture))
    return counter.figures()


def live_frame(model: LoadedBundle, capture: Capture, labels: dict) -> pd.DataFrame:
    """The labelled captured records as a table, with the evaluation's bands."""
    keep = [i for i, key in enumerate(capture.keys) if key in labels]
    frame = pd.DataFrame([capture.records[i] for i in keep])
    frame["_y"] = [labels[capture.keys[i]] for i in keep]
    counter = counter_of(model)
    scores = captured_scores(counter, capture)[keep]
    if counter.task == BINARY:
        frame["_pred"] = (scores >= counter.threshold).astype(int)
    else:  # the class's index, or the value
        frame["_pred"] = scores.astype(int) if counter.task == MULTICLASS else scores
    bands = {
        g.source: list(g.band_edges)
        for g in read_profile(model).slices
        if g.band_edges is not None
    }
    return add_bands(frame, bands)


def labelled_slices(model: LoadedBundle, frame: pd.DataFrame):
    """Slice metrics of training, recomputed on the labelled live records with the
    rules the bundle's profile carries (not today's params.yaml: the model may be
    older)."""
    profile = read_profile(model)
    rules = profile.slice_rules
    if rules is None:
        raise ReportError(
            f"{model.path}: the bundle's reference profile has no slice rules (trained "
            "before they were kept); retrain it to score slices on labelled records"
        )
    groups = profile.slices
    table = slice_metrics(
        frame,
        frame["_y"].to_numpy(),
        frame["_pred"].to_numpy(),
        [g.feature for g in groups],
        rules.min_support,
        rules.f1_margin,
        rules.min_positives,
    )
    trained = {(g.feature, v): f for g in groups for v, f in zip(g.values, g.f1)}
    table["training_f1"] = [
        trained.get((f, str(v))) for f, v in zip(table["feature"], table["value"])
    ]
    return table


def task_metrics(task: str, y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """A multiclass model's accuracy and macro F1 (over the classes either side has,
    as the model card's), or a regression's RMSE and MAE, on labelled live records."""
    if task == REGRESSION:
        error = predicted.astype(float) - y.astype(float)
        return {
            "rmse": float(np.sqrt(np.mean(error**2))),
            "mae": float(np.mean(np.abs(error))),
        }
    f1 = []
    for c in np.union1d(y, predicted):
        tp = np.sum((y == c) & (predicted == c))
        wrong = np.sum((y == c) != (predicted == c))
        f1.append(2 * tp / (2 * tp + wrong))
    return {"accuracy": float(np.mean(y == predicted)), "f1_macro": float(np.mean(f1))}


def labelled_figures(model: LoadedBundle, frame: pd.DataFrame, out: Path) -> dict:
    """The labelled records' figures: slice F1 (binary, with both classes there) or
    the task's metrics; the figure files they make."""
    task = model.metadata.target.task
    if task != BINARY:
        metrics = None
        if len(frame):
            y, predicted = frame["_y"].to_numpy(), frame["_pred"].to_numpy()
            metrics = task_metrics(task, y, predicted)
        return {"frame": frame, "table": None, "metrics": metrics}
    if len(frame) and frame["_y"].nunique() == 2:
        table = labelled_slices(model, frame)
        figure = figures.slice_f1_png(table, out / "slice_f1.png")
        return {"frame": frame, "table": table, "image": figure}
    return {"frame": frame, "table": None}


def build(
    model: LoadedBundle,
    capture: Capture,
    labels: dict | None,
    out: Path,
) -> Path:
    """Write MONITORING.md and its figures into `out`; return the Markdown's path."""
    from monitoring.markdown import PREDICTED, render

    if not capture.records:
        raise ReportError("the capture holds no capture lines (CAPTURE_ENABLED=true?)")
    fig = mark_flagged(drift_figures(model, capture))
    task = model.metadata.target.task
    predicted = PREDICTED.get(task, "predicted probability")
    made = {
        "features": figures.feature_histograms(fig["features"], out / "drift.png"),
        "prediction": figures.prediction_png(
            fig["prediction"], out / "prediction.png", predicted.capitalize()
        ),
        "slices": figures.slice_rates_png(
            fig["slices"], out / "slice_rates.png", what=SLICE_AXES.get(task, RATE)
        ),
    }
    labelled = None
    if labels is not None:
        labelled = labelled_figures(model, live_frame(model, capture, labels), out)
        rows = labelled_rows(model, capture, labels)
        write_text_atomic(out / LABELLED_FILE, csv_text(rows))
        if "image" in labelled:
            made["slice_f1"] = labelled["image"]
    context = {
        "model": model,
        "capture": capture,
        "figures": fig,
        "images": {k: p.name for k, p in made.items()},
        "labelled": labelled,
        "labels_given": labels is not None,
    }
    return write_text_atomic(out / "MONITORING.md", render(context))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--labels", type=Path)
    parser.add_argument("--model", type=Path, default=ROOT / "model")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "monitoring")
    args = parser.parse_args(argv)
    try:
        model = load_bundle(args.model)
        with open(args.capture, encoding="utf-8", errors="replace") as fh:
            capture = read_capture(fh)
        labels = read_labels(args.labels, model) if args.labels else None
        path = build(model, capture, labels, args.out)
    except (OSError, ReportError, BundleError) as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return 2
    fig = drift_figures(model, capture)
    moved = [f["name"] for f in fig["features"] if (f["psi"] or 0) > PSI_SIGNIFICANT]
    print(
        f"wrote {path}: {len(capture.records)} records, drifted: "
        f"{', '.join(moved) or 'none'}"
    )
    if labels is not None:
        n = sum(key in labels for key in capture.keys)
        print(
            f"wrote {args.out / LABELLED_FILE}: {n} labelled records as training rows "
            f"(make challenger LABELLED={args.out / LABELLED_FILE})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
