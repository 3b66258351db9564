"""MONITORING.md: the monitoring report's text, in the model card's style (every number
computed, tables first, figures after)."""

from __future__ import annotations

from typing import Any

from bundle.format import MULTICLASS, REGRESSION
from monitoring import rendering
from monitoring.figures import MIN_SUPPORT, slice_points
from monitoring.stability import MIN_RECORDS, PSI_MODERATE, PSI_SIGNIFICANT

TOP_SLICES = 15


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _moved_bin(feature: dict) -> str:
    """The bin whose share moved most, as `bin: training -> live`."""
    bins = [b for b in feature["bins"] if b["share"] is not None]
    if not bins:
        return "n/a"
    b = max(bins, key=lambda b: abs(b["share"] - b["reference_share"]))
    return f"{b['bin']}: {_pct(b['reference_share'])} -> {_pct(b['share'])}"


def _header(ctx: dict) -> list[str]:
    model, capture, fig = ctx["model"], ctx["capture"], ctx["figures"]
    times = sorted(t for t in capture.times if t)
    versions = ", ".join(sorted(capture.versions)) or "n/a"
    lines = [
        f"# Monitoring report: {model.metadata.project.name}",
        "",
        f"Live traffic captured by the service, compared with the training reference "
        f"in the bundle of model `{model.version}`.",
        "",
        f"- Records: {fig['records']:,} (capture lines; {capture.skipped:,} other "
        "lines skipped)",
        f"- Captured from {times[0] if times else 'n/a'} to "
        f"{times[-1] if times else 'n/a'}",
        f"- Model version(s) in the capture: {versions}",
    ]
    if model.version not in capture.versions:
        lines.append(
            f"- **Note**: the capture was scored by another model than `{model.version}`"
        )
    if fig["records"] < MIN_RECORDS:
        lines.append(
            f"- **Note**: fewer than {MIN_RECORDS} records: drift figures are noisy"
        )
    return lines


def _drift(ctx: dict) -> list[str]:
    fig = ctx["figures"]
    rows = [
        [
            f["name"],
            f["kind"],
            rendering.number(f["psi"], 3),
            f["status"],
            _moved_bin(f),
        ]
        for f in fig["features"]
    ]
    moved = [f["name"] for f in fig["features"] if (f["psi"] or 0) > PSI_SIGNIFICANT]
    return [
        "",
        "## Feature drift",
        "",
        f"Population stability index (PSI) of each feature against training, most "
        f"moved first: below {PSI_MODERATE} stable, {PSI_MODERATE} to "
        f"{PSI_SIGNIFICANT} moderate, above {PSI_SIGNIFICANT} significant.",
        "",
        f"Drifted (PSI above {PSI_SIGNIFICANT}): {', '.join(moved) or 'none'}.",
        "",
        *rendering.table(
            ["feature", "kind", "PSI", "status", "bin that moved most"], rows
        ),
        "",
        f"![Training vs live histograms]({ctx['images']['features']})",
    ]


# Per task: what the prediction is, and each slice's figure.
PREDICTED = {MULTICLASS: "predicted class", REGRESSION: "predicted value"}
SLICE_FIGURE = {MULTICLASS: "class rates", REGRESSION: "mean predictions"}


def _prediction(ctx: dict) -> list[str]:
    pred, task = ctx["figures"]["prediction"], ctx["model"].metadata.target.task
    what = PREDICTED.get(task, "predicted probability")
    lines = [
        "",
        "## Prediction drift",
        "",
        f"- PSI of the {what}: {rendering.number(pred['psi'], 3)} ({pred['status']})",
    ]
    if task == MULTICLASS:
        lines += [
            f"- Class shares: {b['bin']} live {_pct(b['share'])}, held-out training "
            f"data {_pct(b['reference_share'])}"
            for b in pred["bins"]
        ]
    elif task == REGRESSION:
        lines.append(
            f"- Mean prediction: live {rendering.number(pred['mean_prediction'])}, "
            f"held-out training data "
            f"{rendering.number(pred['reference_mean_prediction'])}"
        )
    else:
        lines.append(
            f"- Predicted-positive rate: live {_pct(pred['positive_rate'])}, held-out "
            f"training data {_pct(pred['reference_positive_rate'])}"
        )
    return lines + ["", f"![{what.capitalize()}]({ctx['images']['prediction']})"]


def _slices(ctx: dict) -> list[str]:
    task = ctx["model"].metadata.target.task
    points = slice_points(ctx["figures"]["slices"])
    far = [p["name"] for p in points if p["far"]]
    if task == REGRESSION:
        return _mean_slices(ctx, points)
    rows = [
        [
            p["name"],
            p["records"],
            _pct(p["live"]),
            _pct(p["reference"]),
            rendering.number(p["z"], 1),
            "yes" if p["far"] else "",
        ]
        for p in points[:TOP_SLICES]
    ]
    if task == MULTICLASS:
        title, what = "## Slice class rates against training", "rate of each class"
    else:
        title, what = (
            "## Slice positive rates against training",
            "predicted-positive rate",
        )
    return [
        "",
        title,
        "",
        f"The slices the evaluation reports, by how far their {what} "
        f"moved (in standard errors; the {TOP_SLICES} furthest of those with at least "
        f"{MIN_SUPPORT} records live and held-out).",
        "",
        f"Far from training: {', '.join(far) or 'none'}.",
        "",
        *rendering.table(
            ["slice", "records", "live rate", "training rate", "z", "far"], rows
        ),
        "",
        f"![Slice {SLICE_FIGURE.get(task, 'positive rates')}]"
        f"({ctx['images']['slices']})",
    ]


def _mean_slices(ctx: dict, points: list[dict]) -> list[str]:
    """A regression's slices: live mean prediction against training's."""
    rows = [
        [
            p["name"],
            p["records"],
            rendering.number(p["live"]),
            rendering.number(p["reference"]),
            rendering.number(p["live"] - p["reference"]),
        ]
        for p in points[:TOP_SLICES]
    ]
    return [
        "",
        "## Slice mean predictions against training",
        "",
        "The slices the evaluation reports, by how far their mean predicted value "
        f"moved (the {TOP_SLICES} furthest of those with at least {MIN_SUPPORT} "
        "records live and held-out; a mean has no standard error here, so no slice is "
        "judged far from training).",
        "",
        *rendering.table(
            ["slice", "records", "live mean", "training mean", "difference"], rows
        ),
        "",
        f"![Slice mean predictions]({ctx['images']['slices']})",
    ]


def _labelled(ctx: dict) -> list[str]:
    if not ctx["labels_given"]:
        return [
            "",
            "## With true labels",
            "",
            "No labels file given: run `make monitor CAPTURE=... LABELS=labels.csv` "
            "to recompute the slice metrics of training on live data.",
        ]
    labelled = ctx["labelled"]
    frame, table = labelled["frame"], labelled["table"]
    lines = ["", "## With true labels", "", f"- Records with a label: {len(frame):,}"]
    if "metrics" in labelled:  # multiclass, regression
        return lines + _task_metrics(ctx, labelled["metrics"])
    if table is None:
        return lines + ["- Both classes are needed to score slices; not scored."]
    overall = table.attrs["overall_f1"]
    trained = ctx["model"].metadata.metrics.get("f1")
    lines.append(
        f"- Overall F1: live {rendering.number(overall, 3)}, held-out training "
        f"{rendering.number(trained, 3)}"
    )
    weak = table[table["flagged"].astype(bool)]
    names = [f"{r.feature}={r.value} (F1 {r.f1:.3f})" for r in weak.itertuples()]
    lines += [
        f"- Weak slices (F1 more than {table.attrs['f1_margin']:.2f} below the live "
        f"overall, support >= {table.attrs['min_support']}): {', '.join(names) or 'none'}",
        "",
    ]
    judged = table[~table["too_small"].astype(bool)].sort_values("f1")
    rows = [
        [
            f"{r.feature}={r.value}",
            r.support,
            rendering.number(r.precision, 3),
            rendering.number(r.recall, 3),
            rendering.number(r.f1, 3),
            rendering.number(r.training_f1, 3),
            "FLAGGED" if r.flagged else "",
        ]
        for r in judged.itertuples()
    ]
    lines += rendering.table(
        ["slice", "support", "precision", "recall", "F1", "training F1", ""], rows
    )
    return lines + ["", f"![Live slice F1]({ctx['images']['slice_f1']})"]


def _task_metrics(ctx: dict, metrics: dict[str, float] | None) -> list[str]:
    """A multiclass or regression model's metrics on labelled live records, next to the
    held-out test figures of training."""
    if metrics is None:
        return ["- No captured record has a label; not scored."]
    trained = ctx["model"].metadata.metrics
    return [
        f"- {name}: live {rendering.number(value, 4)}, held-out training "
        f"{rendering.number(trained.get(name), 4)}"
        for name, value in metrics.items()
    ]


def render(ctx: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    parts = _header(ctx) + _drift(ctx) + _prediction(ctx) + _slices(ctx)
    parts += _labelled(ctx)
    return "\n".join(parts) + "\n"
