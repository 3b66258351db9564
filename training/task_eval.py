"""The evaluate stage's measures of a multiclass or a regression model: test metrics,
slices, the bias audit, figures and the model card, in the files a binary model's
evaluation writes (training/evaluate.py calls `evaluate_task` for these tasks).

Multiclass: the label is the most probable class; slices report accuracy, macro F1 and
each class's recall, and the audit each class's recall and selection rate by group.
Regression: slices report RMSE, MAE and the mean prediction against the mean actual,
and the audit the error and the mean prediction by group.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from bundle.files import write_json_atomic, write_text_atomic
from bundle.format import MULTICLASS, REGRESSION, Target
from bundle.store import LoadedBundle
from monitoring.slices import add_bands, slice_groups
from training import bias, figures
from training.config import Paths
from training.features import model_frame, split_xy
from training.metrics import task_metrics
from training.model_card import render_task_card
from training.params import EvaluateParams, Params

SLICE_COLUMNS = {
    MULTICLASS: ["accuracy", "f1_macro", "recall"],
    REGRESSION: ["rmse", "mae", "mean_prediction", "mean_actual"],
}


def per_class(y, y_pred, names: list[str]) -> dict[str, float]:
    """Each class's precision and recall on the test set, as `precision:<name>` and
    `recall:<name>` (the names the bias audit uses)."""
    precision, recall, _, _ = precision_recall_fscore_support(
        y, y_pred, labels=list(range(len(names))), zero_division=0
    )
    return {
        **{f"precision:{n}": float(p) for n, p in zip(names, precision)},
        **{f"recall:{n}": float(r) for n, r in zip(names, recall)},
    }


def class_slice(y, y_pred, names: list[str], min_positives: int) -> dict[str, Any]:
    """A multiclass slice's accuracy, and its macro F1 and each class's recall over the
    classes it holds min_positives records of: a band that holds one class (and a
    stray record of another) is judged on that class, not marked down for the rest."""
    held = [k for k in range(len(names)) if (y == k).sum() >= max(min_positives, 1)]
    recall = {
        name: (
            float(((y == k) & (y_pred == k)).sum() / (y == k).sum())
            if k in held
            else None
        )
        for k, name in enumerate(names)
    }
    f1 = f1_score(y, y_pred, labels=held or None, average="macro", zero_division=0)
    return {
        "accuracy": float(accuracy_score(y, y_pred)),
        "f1_macro": float(f1),
        "recall": recall,
    }


def value_slice(y, value) -> dict[str, float]:
    """A regression slice's RMSE, MAE, mean prediction and mean actual."""
    error = value - y
    return {
        "rmse": float(np.sqrt((error**2).mean())),
        "mae": float(np.abs(error).mean()),
        "mean_prediction": float(value.mean()),
        "mean_actual": float(y.mean()),
    }


def slice_table(
    target: Target, frame: pd.DataFrame, y, predicted, features, ev: EvaluateParams
) -> pd.DataFrame:
    """One row per (feature, value): support, the task's measures, too_small and flagged.

    Multiclass: flagged when judgeable and its macro F1 is below the overall one by more
    than evaluate.slices.f1_margin. Regression: when its RMSE exceeds the overall RMSE
    by more than that margin as a share of it (0.10: 10% worse)."""
    sp, multiclass = ev.slices, target.task == MULTICLASS
    if multiclass:
        names = list(target.class_names)
        measure = partial(class_slice, names=names, min_positives=sp.min_positives)
    else:
        measure = value_slice
    rank = "f1_macro" if multiclass else "rmse"
    overall = measure(y, predicted)[rank]
    limit = overall - sp.f1_margin if multiclass else overall * (1 + sp.f1_margin)
    rows = []
    for feature, value, index in slice_groups(frame, features):
        row = {"feature": feature, "value": value, "support": len(index)}
        row.update(measure(y[index], predicted[index]))
        row["too_small"] = len(index) < sp.min_support
        worse = row[rank] < limit if multiclass else row[rank] > limit
        row["flagged"] = (not row["too_small"]) and worse
        rows.append(row)
    columns = ["feature", "value", "support", *SLICE_COLUMNS[target.task]]
    table = pd.DataFrame(rows, columns=[*columns, "too_small", "flagged"])
    table["value"] = table["value"].astype(object)
    # training/slicing.weakest_slices ranks by this column; errors worst-first.
    table.attrs.update(rank_by=rank, overall=overall, limit=limit)
    table.attrs.update(f1_margin=sp.f1_margin, min_support=sp.min_support)
    return table


def _fmt(value: float | None, width: int, spec: str) -> str:
    """A table cell: the value by `spec`, or n/a where it is not measured."""
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}{spec}}"


def format_task_slices(table: pd.DataFrame, target: Target) -> str:
    """Plain-text slice report of a multiclass or regression model: the overall
    measure and the flag rule, then one block per feature."""
    rank, a = table.attrs["rank_by"], table.attrs
    if target.task == MULTICLASS:
        names = list(target.class_names)
        header = ["accuracy", "f1_macro", *(f"recall:{n}" for n in names)]
        rule = f"macro F1 more than {a['f1_margin']:.3f} below overall"
        overall = f"Overall: macro F1 {a['overall']:.3f}"
    else:
        header = SLICE_COLUMNS[target.task]
        rule = f"RMSE more than {a['f1_margin']:.0%} above overall"
        overall = f"Overall: RMSE {a['overall']:.4g}"
    lines = [
        "Slice performance",
        overall,
        f"Flagged: {rule}; slices with support < {a['min_support']} are too small "
        "to judge.",
    ]
    for feature, block in table.groupby("feature", sort=False):
        values = [str(v) for v in block["value"]]
        width = max([len("value"), *(len(v) for v in values)])
        widths = [max(9, len(h)) for h in header]
        spec = ".3f" if target.task == MULTICLASS else ".4g"
        lines += [
            "",
            f"== {feature} ==",
            f"  {'value':<{width}}  {'support':>7}  "
            + "  ".join(f"{h:>{w}}" for h, w in zip(header, widths)),
        ]
        for value, row in zip(values, block.to_dict("records")):
            if target.task == MULTICLASS:
                cells = [row["accuracy"], row["f1_macro"]]
                cells += [row["recall"][n] for n in names]
            else:
                cells = [row[h] for h in header]
            line = f"  {value:<{width}}  {row['support']:>7d}  " + "  ".join(
                _fmt(c, w, spec) for c, w in zip(cells, widths)
            )
            if row["too_small"]:
                line += "  too small to judge"
            elif row["flagged"]:
                line += f"  FLAGGED: {rank} {row[rank]:.4g} ({rule})"
            lines.append(line)
    return "\n".join(lines) + "\n"


def task_audit(
    target: Target, frame, y, predicted, ev: EvaluateParams, rules=()
) -> dict:
    """The bias audit of the task over evaluate.bias.attributes: each class's recall and
    selection rate (multiclass), or the error and mean prediction (regression), per
    group (a category as the model takes it, `rules`: the rare ones one group) and as a
    ratio to the reference group's."""
    b, names = ev.bias, list(target.class_names)
    if target.task == MULTICLASS:
        per_group = partial(bias.class_group_metrics, y, predicted, names)
        judged = bias.class_metric_names(names)
    else:
        per_group = partial(bias.regression_group_metrics, y, predicted)
        judged = bias.REGRESSION_METRICS
    banded = add_bands(model_frame(frame, tuple(rules)), ev.slices.bands)
    return bias.audit_groups(
        per_group, judged, banded, list(b.attributes), b.reference or None, b.fair_band
    )


def write_task_figures(paths: Paths, target: Target, y, predicted, table, audit):
    """The task's PNGs; returns their paths relative to the project root."""
    out, a = paths.figure, table.attrs
    if target.task == MULTICLASS:
        names = list(target.class_names)
        made = {
            "confusion_matrix": figures.confusion_matrix_png(
                y, predicted, names, out("confusion_matrix")
            ),
            "slice_f1_macro": figures.slice_f1_png(
                table, a["overall"], out("slice_f1_macro"), "f1_macro", "Macro F1"
            ),
            "disparity": figures.disparity_png(
                audit, out("disparity"), tuple(f"recall:{n}" for n in names)
            ),
        }
    else:
        made = {
            "predicted_vs_actual": figures.predicted_vs_actual_png(
                y, predicted, out("predicted_vs_actual")
            ),
            "residuals": figures.residuals_png(y, predicted, out("residuals")),
            "slice_rmse": figures.slice_f1_png(
                table, a["overall"], out("slice_rmse"), "rmse", "RMSE"
            ),
            "disparity": figures.disparity_png(
                audit, out("disparity"), ("mae", "mean_prediction")
            ),
        }
    return {k: str(p.relative_to(paths.root)) for k, p in made.items()}


def evaluate_task(
    paths: Paths,
    params: Params,
    model: LoadedBundle,
    test: pd.DataFrame,
    scores,
    card_context: Callable[..., dict],
    cv: dict,
    cleaning: dict,
) -> dict[str, float]:
    """Write the reports and MODEL_CARD.md of a multiclass or regression model from its
    `scores` on the test split (probabilities or values) under `paths` (the stage's
    staging folder); return the metrics. `cv` and `cleaning` are the fit and clean
    stages' reports, published beside them.

    `card_context` is the stage's (training/evaluate.py, which imports this module): the
    card's model, data, use and CV sections are built as the binary card's."""
    spec, ev, target = params.features, params.evaluate, model.metadata.target
    multiclass = target.task == MULTICLASS
    _, y = split_xy(test, spec, list(target.classes) if multiclass else None)
    predicted = np.argmax(scores, axis=1) if multiclass else scores
    headline = task_metrics(target.task, y, scores)
    names = list(target.class_names)
    metrics = {**headline, **(per_class(y, predicted, names) if multiclass else {})}
    frame = add_bands(model_frame(test, tuple(model.features)), ev.slices.bands)
    features = spec.categorical + ev.slices.band_columns
    table = slice_table(target, frame, y, predicted, features, ev)
    audit = task_audit(target, test, y, predicted, ev, model.features)
    figs = write_task_figures(paths, target, y, predicted, table, audit)
    ctx = card_context(
        model, headline, cv, table, audit, figs, params, len(test), cleaning
    )
    write_json_atomic(paths.metrics, metrics)
    write_json_atomic(paths.published_cv_results, cv)
    write_json_atomic(paths.published_cleaning, cleaning)
    write_text_atomic(paths.slices_text, format_task_slices(table, target))
    # The card's context holds the table as JSON-safe rows.
    write_json_atomic(paths.slices_json, ctx["slices"])
    write_json_atomic(paths.bias_json, audit)
    write_text_atomic(paths.bias_markdown, bias.format_bias(audit))
    ctx["task"] = task_context(target, y, metrics, table)
    ctx["data"]["target_is"] = (
        "one of the classes " + ", ".join(f"`{n}`" for n in names)
        if multiclass
        else "a number (regression)"
    )
    write_text_atomic(paths.model_card, render_task_card(ctx))
    return metrics


def task_context(target: Target, y, metrics: dict, table: pd.DataFrame) -> dict:
    """What the card says of the task: its classes with their test support and
    per-class figures, or the target's range; and the slice flag rule."""
    a = table.attrs
    out: dict[str, Any] = {
        "task": target.task,
        "overall": a["overall"],
        "limit": a["limit"],
        "margin": a["f1_margin"],
    }
    if target.task == MULTICLASS:
        out["classes"] = [
            {
                "name": name,
                "support": int((y == k).sum()),
                "precision": metrics[f"precision:{name}"],
                "recall": metrics[f"recall:{name}"],
            }
            for k, name in enumerate(target.class_names)
        ]
    else:
        out["range"] = [float(np.min(y)), float(np.median(y)), float(np.max(y))]
    return out
