"""Model card rendering: every number comes from the pipeline's context dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bundle.format import MULTICLASS
from bundle.registry import REGISTRY
from monitoring import rendering
from training.bias import format_bias
from training.config import Paths
from training.threshold import describe

METRIC_NAMES = {
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "brier": "Brier score (lower is better)",
    "log_loss": "Log loss (lower is better)",
    "f1_macro": "Macro F1",
    "balanced_accuracy": "Balanced accuracy",
    "rmse": "RMSE (lower is better)",
    "mae": "MAE (lower is better)",
    "r2": "R²",
}
FIGURE_TITLES = {
    "roc": "ROC curve",
    "calibration": "Calibration (reliability) curve",
    "slice_f1": "F1 by slice",
    "disparity": "Bias disparities",
    "confusion_matrix": "Confusion matrix",
    "predicted_vs_actual": "Predicted vs actual",
    "residuals": "Residuals",
    "slice_f1_macro": "Macro F1 by slice",
    "slice_rmse": "RMSE by slice",
}


def _cv_parts(ctx: dict) -> tuple[list[dict], str | None, str | None]:
    """CV rows, selection criterion and selected candidate.

    Accepts ctx["cv"] as a list of rows (criterion and selection at the top level of
    ctx) or as a dict {"rows", "selection_criterion", "selected"}.
    """
    cv = ctx.get("cv") or []
    if isinstance(cv, dict):
        return (
            list(cv.get("rows", [])),
            cv.get("selection_criterion"),
            cv.get("selected"),
        )
    return list(cv), ctx.get("selection_criterion"), ctx.get("selected")


def _model_details(model: dict) -> list[str]:
    lines = ["## Model details", ""]
    lines += rendering.table(
        ["Field", "Value"],
        [
            ["Name", model["name"]],
            ["Version", model["version"]],
            ["Estimator", f"`{model['estimator']}`"],
        ],
    )
    params = model.get("params") or {}
    if params:
        lines += ["", "Hyperparameters:", ""]
        lines += rendering.table(
            ["Parameter", "Value"],
            [[f"`{k}`", f"`{rendering.plain(v)!r}`"] for k, v in params.items()],
        )
    versions = model.get("library_versions") or {}
    if versions:
        lines += ["", "Library versions:", ""]
        lines += rendering.table(
            ["Library", "Version"], [[k, v] for k, v in versions.items()]
        )
    hashes = model.get("data_sha256") or {}
    if hashes:
        lines += ["", "Data checksums (SHA-256):", ""]
        lines += rendering.table(
            ["File", "SHA-256"], [[k, f"`{v}`"] for k, v in hashes.items()]
        )
    return lines


def _promotion(entry: dict) -> list[str]:
    """How this version became the served model: its entry in the bundle's registry
    (`make promote`; bundle/registry.py), the gate's figures included."""
    d = entry["difference"]
    lines = [
        "## Promotion",
        "",
        f"Made the served model by `make promote`; cited from the bundle's registry "
        f"(`model/{REGISTRY}`, docs/lifecycle.md).",
        "",
    ]
    lines += rendering.table(
        ["Field", "Value"],
        [
            ["Version", entry["version"]],
            ["Promoted at (UTC)", entry["promoted_at"]],
            ["Previous version", entry["previous"] or "none"],
            [
                f"{entry['selection_metric']} difference with the previous version",
                f"{d['value']:+.4f} ({d['confidence']:.0%} CI [{d['low']:+.4f}, "
                f"{d['high']:+.4f}])",
            ],
        ],
    )
    lines += [
        "",
        "The promotion gate (params.yaml `promote:`), every check passed:",
        "",
    ]
    return lines + [f"- {line}" for line in entry["gate"].values()]


def _bullets(items: list[str], none: str) -> list[str]:
    return [f"- {item}" for item in items] or [f"- {none}"]


def _intended(ctx: dict) -> list[str]:
    data, use, project = ctx["data"], ctx["use"], ctx["project"]
    lines = [
        "## Intended use",
        "",
        f"Predicts {project['description']} (target `{data['target']}`: "
        f"`{data['positive_label']}` against `{data['negative_label']}`).",
        "",
    ]
    return lines + _uses(use)


def _uses(use: dict) -> list[str]:
    """The intended and out-of-scope uses, as params.yaml's model_card states them."""
    lines = _bullets(use["intended"], "not stated (model_card.intended_use)")
    lines += ["", "## Out-of-scope uses", ""]
    lines += _bullets(use["out_of_scope"], "not stated (model_card.out_of_scope)")
    return lines


def _data(data: dict) -> list[str]:
    lines = [
        "## Data and processing",
        "",
        f"- Source: {data['source']}",
        f"- Training rows: {data['n_train']}; test rows: {data['n_test']}",
        f"- Target: `{data['target']}`, "
        + data.get("target_is", f"positive class `{data['positive_label']}`"),
        f"- Features ({len(data['features'])}): "
        + ", ".join(f"`{f}`" for f in data["features"]),
        "",
    ]
    imputed = data.get("imputed") or {}
    if (
        imputed
    ):  # the features.numeric.<col>.missing policies, as the API documents them
        lines += ["Missing numbers (null in the API) are filled inside the model:", ""]
        lines += [f"- `{name}`: {how}" for name, how in imputed.items()]
        lines += [""]
    lines += ["Cleaning steps:", ""]
    lines += [f"- {step}" for step in data.get("cleaning") or []] or ["- none"]
    return lines + _removed(data.get("removed"))


def _removed(report: dict | None) -> list[str]:
    """What cleaning removed, step by step, citing the report that counts it."""
    if not report:
        return []
    path = str(Paths(root=Path()).published_cleaning)
    lines = [
        "",
        f"Rows removed by cleaning ([{path}]({path})): "
        f"{report['rows_read'] - sum(report['rows_kept'].values())} of "
        f"{report['rows_read']} read ({report['removed_share']:.1%}).",
        "",
    ]
    rows = [[r["step"], str(r["rows"]), r["why"]] for r in report["removed"]]
    if rows:
        lines += rendering.table(["Step", "Rows", "Why"], rows)
    labelled = report.get("labelled")
    if labelled:  # make challenger LABELLED=: training/labelled.py
        lines += [
            "",
            f"Labelled captured records added to the training split: "
            f"{labelled['rows_added']} of the {labelled['rows_read']} in "
            f"`{Path(labelled['path']).name}` (the others repeated a training row or "
            "were in the test split).",
        ]
    return lines


def _metrics(ctx: dict) -> list[str]:
    metrics = ctx["metrics"]
    lines = ["## Metrics", "", "Held-out test set:", ""]
    lines += rendering.table(
        ["Metric", "Value"],
        [[METRIC_NAMES.get(k, k), rendering.number(v)] for k, v in metrics.items()],
    )
    rows, criterion, selected = _cv_parts(ctx)
    if rows:
        names: list[str] = []
        for row in rows:
            names += [
                k[: -len("_mean")]
                for k in row
                if k.endswith("_mean") and k[: -len("_mean")] not in names
            ]
        table_rows = []
        for row in rows:
            cells = []
            for name in names:
                mean, std = row.get(f"{name}_mean"), row.get(f"{name}_std")
                cells.append(
                    rendering.number(mean)
                    + ("" if std is None else f" ± {rendering.number(std)}")
                )
            candidate = row.get("candidate", "")
            mark = (
                " (selected)" if selected is not None and candidate == selected else ""
            )
            table_rows.append([f"{candidate}{mark}", *cells])
        lines += ["", "Cross-validation on the training set (mean ± std over folds):"]
        lines += [""] + rendering.table(["Candidate", *names], table_rows)
    if criterion or selected:
        lines += [
            "",
            f"Selection criterion: {criterion or 'n/a'}. Selected: "
            f"**{selected or 'n/a'}**.",
        ]
    return lines


def _threshold(t: dict) -> list[str]:
    """How the decision threshold was chosen and what it gives out of fold."""
    value = rendering.number(t["value"])
    how = (
        "fixed in params.yaml (`evaluate.threshold`)"
        if t["rule"] == "fixed"
        else "chosen by the rule in `evaluate.threshold`, "
        f"{describe(t['rule'], t['at_least'])}, on the out-of-fold predictions of "
        "the selected candidate (the test set took no part)"
    )
    lines = [
        "## Decision threshold",
        "",
        f"A record is predicted `{t['positive_label']}` when its probability reaches "
        f"**{value}**: {how}.",
        "",
        f"Out of fold ({t['folds']}-fold CV on the training set) at this threshold:",
        "",
    ]
    lines += rendering.table(
        ["Metric", "Value"],
        [
            [METRIC_NAMES[k], rendering.number(t["out_of_fold"][k])]
            for k in ("precision", "recall", "f1")
        ],
    )
    for name in t["lacking_examples"]:
        lines += [
            "",
            f"No valid test record is predicted `{name}` at this threshold: the "
            f"bundle publishes no `{name}` example, and /docs and the smoke test use "
            "the others.",
        ]
    return lines


def _calibration(ctx: dict) -> list[str]:
    brier = ctx["metrics"].get("brier")
    lines = [
        "## Calibration",
        "",
        f"Brier score on the test set: {rendering.number(brier)} (mean squared error of the "
        "predicted probability; lower is better).",
    ]
    path = ctx["figures"].get("calibration")
    if path:
        lines += [
            "",
            f"See the [reliability curve]({path}): points below the diagonal mean "
            "the model over-estimates the chance of the positive class there.",
        ]
    return lines


def _slice_rows(rows: list[dict]) -> list[list[Any]]:
    return [
        [
            r["feature"],
            r["value"],
            r["support"],
            rendering.number(r["precision"], 3),
            rendering.number(r["recall"], 3),
            rendering.number(r["f1"], 3),
        ]
        for r in rows
    ]


def _slices(ctx: dict) -> list[str]:
    slices = ctx.get("slices") or []
    overall_f1 = ctx["metrics"].get("f1")
    # The card sits at the project root: the report's path relative to it is its link.
    report = str(Paths(root=Path()).slices_text)
    header = ["Feature", "Value", "Support", "Precision", "Recall", "F1"]
    flagged = [r for r in slices if r.get("flagged")]
    small = [r for r in slices if r.get("too_small")]
    lines = [
        "## Slices",
        "",
        f"{len(slices)} slices evaluated; {len(small)} too small to judge; "
        f"{len(flagged)} flagged (F1 below the overall {rendering.number(overall_f1, 3)} by more "
        f"than the configured margin). Full table: [{report}]({report}).",
        "",
    ]
    if flagged:
        lines += ["Flagged slices:", ""] + rendering.table(header, _slice_rows(flagged))
    else:
        lines.append("No judgeable slice is flagged.")
    weakest = ctx.get("weakest_slices") or []
    if weakest:
        lines += ["", "Weakest judgeable slices (lowest F1):", ""]
        lines += rendering.table(header, _slice_rows(weakest))
    return lines


def _unfair(audit: dict) -> dict[str, list[str]]:
    """Unfair metrics per attribute, from the audit summary."""
    found = {}
    for attr, verdicts in (audit.get("summary") or {}).items():
        metrics = [m for m, v in verdicts.items() if v == "unfair"]
        if metrics:
            found[attr] = metrics
    return found


def _bias(audit: dict) -> list[str]:
    unfair = _unfair(audit)
    if unfair:
        named = "; ".join(f"{a}: {', '.join(ms)}" for a, ms in unfair.items())
        verdict = f"Unfair metrics found — {named}."
    else:
        verdict = "No audited metric is outside the fairness band."
    return ["## Bias findings", "", verdict, "", format_bias(audit).rstrip("\n")]


def _caveats(ctx: dict) -> list[str]:
    data, use = ctx["data"], ctx["use"]
    slices = ctx.get("slices") or []
    unfair = _unfair(ctx["bias"])
    used = [f for f in data["features"] if f in use["sensitive"]]
    lines = ["## Caveats and recommendations", ""]
    lines += [f"- {caveat}" for caveat in use["caveats"]]
    lines.append(
        "- Test metrics come from one held-out split of the same data; expect "
        "them to be optimistic for any other population."
    )
    if used:
        lines.append(
            "- The model takes sensitive or proxy attributes as inputs: "
            + ", ".join(f"`{f}`" for f in used)
            + ". Their effect on predictions should be reviewed before any reuse."
        )
    if unfair:
        lines.append(
            "- The bias audit finds disparities outside the band for "
            + ", ".join(f"`{a}`" for a in unfair)
            + "; report results per group, and treat any downstream use that "
            "relies on equal error rates across these groups as unsupported."
        )
    if any(r.get("flagged") for r in slices):
        lines.append(
            "- Flagged slices perform clearly worse than overall; collect more data "
            "or re-weight for them before relying on the model there."
        )
    if any(r.get("too_small") for r in slices):
        lines.append(
            "- Some slices are too small to judge; their metrics are noise, not "
            "evidence of good or bad performance."
        )
    lines += [
        "- Small groups make disparity ratios unstable; read them with the group "
        "sizes in the bias tables.",
        "- Re-run the evaluation, slicing and bias audit whenever the data, "
        "features or decision threshold change.",
    ]
    return lines


def _figures(figures: dict) -> list[str]:
    lines = ["## Figures", ""]
    for key, path in figures.items():
        title = FIGURE_TITLES.get(key, key)
        lines += [f"### {title}", "", f"![{title}]({path})", ""]
    return lines[:-1]


def _promoted(ctx: dict) -> list[list[str]]:
    """The promotion section, for a version `make promote` made the model (none for
    one `make train` trained: its card is as before)."""
    entry = ctx.get("promotion")
    return [_promotion(entry)] if entry else []


def render_model_card(ctx: dict) -> str:
    """The model card as a markdown string, built only from the pipeline's ctx."""
    model, data = ctx["model"], ctx["data"]
    sections = [
        [f"# Model card: {model['name']} {model['version']}"],
        _model_details(model),
        *_promoted(ctx),
        _intended(ctx),
        _data(data),
        _metrics(ctx),
        _threshold(ctx["threshold"]),
        _calibration(ctx),
        _slices(ctx),
        _bias(ctx["bias"]),
        _caveats(ctx),
        _figures(ctx["figures"]),
    ]
    return "\n\n".join("\n".join(s) for s in sections) + "\n"


def _task_intended(ctx: dict) -> list[str]:
    """Intended use of a multiclass or regression model: what it predicts."""
    data, task = ctx["data"], ctx["task"]
    what = (
        "one of " + ", ".join(f"`{c['name']}`" for c in task["classes"])
        if task["task"] == MULTICLASS
        else "a number"
    )
    lines = [
        "## Intended use",
        "",
        f"Predicts {ctx['project']['description']} (target `{data['target']}`: {what}).",
        "",
    ]
    return lines + _uses(ctx["use"])


def _classes(task: dict) -> list[str]:
    """A multiclass model's per-class test figures; a regression's target range."""
    if task["task"] != MULTICLASS:
        low, median, high = (rendering.number(v) for v in task["range"])
        return [
            "## Target",
            "",
            f"Test set target: lowest {low}, median {median}, highest {high}. RMSE and "
            "MAE are in the target's units; R² is the share of its variance explained.",
        ]
    lines = [
        "## Classes",
        "",
        "Each class on the held-out test set (the label is the most probable class; "
        "see the confusion matrix):",
        "",
    ]
    return lines + rendering.table(
        ["Class", "Support", "Precision", "Recall"],
        [
            [
                f"`{c['name']}`",
                c["support"],
                rendering.number(c["precision"]),
                rendering.number(c["recall"]),
            ]
            for c in task["classes"]
        ],
    )


def _task_slice_rows(rows: list[dict], task: dict) -> list[list[Any]]:
    if task["task"] == MULTICLASS:
        return [
            [
                r["feature"],
                r["value"],
                r["support"],
                rendering.number(r["accuracy"], 3),
                rendering.number(r["f1_macro"], 3),
            ]
            for r in rows
        ]
    return [
        [r["feature"], r["value"], r["support"]]
        + [rendering.number(r[k]) for k in ("rmse", "mae", "mean_prediction")]
        + [rendering.number(r["mean_actual"])]
        for r in rows
    ]


def _task_slices(ctx: dict) -> list[str]:
    """Slices of a multiclass (macro F1) or regression (RMSE) model."""
    slices, task = ctx.get("slices") or [], ctx["task"]
    report = str(Paths(root=Path()).slices_text)
    multiclass = task["task"] == MULTICLASS
    header = ["Feature", "Value", "Support"] + (
        ["Accuracy", "Macro F1"]
        if multiclass
        else ["RMSE", "MAE", "Mean prediction", "Mean actual"]
    )
    rule = (
        f"macro F1 below the overall {rendering.number(task['overall'], 3)} by more "
        f"than {rendering.number(task['margin'], 3)}"
        if multiclass
        else f"RMSE above {rendering.number(task['limit'])}, the overall "
        f"{rendering.number(task['overall'])} plus {task['margin']:.0%}"
    )
    flagged = [r for r in slices if r.get("flagged")]
    small = [r for r in slices if r.get("too_small")]
    lines = [
        "## Slices",
        "",
        (
            f"{len(slices)} slices evaluated; {len(small)} too small to judge; "
            f"{len(flagged)} flagged ({rule}). Full table, with each class's recall "
            f"where a slice has enough of it: [{report}]({report})."
            if multiclass
            else f"{len(slices)} slices evaluated; {len(small)} too small to judge; "
            f"{len(flagged)} flagged ({rule}). Full table: [{report}]({report})."
        ),
        "",
    ]
    if flagged:
        lines += ["Flagged slices:", ""]
        lines += rendering.table(header, _task_slice_rows(flagged, task))
    else:
        lines.append("No judgeable slice is flagged.")
    weakest = ctx.get("weakest_slices") or []
    if weakest:
        by = "lowest macro F1" if multiclass else "highest RMSE"
        lines += ["", f"Weakest judgeable slices ({by}):", ""]
        lines += rendering.table(header, _task_slice_rows(weakest, task))
    return lines


def render_task_card(ctx: dict) -> str:
    """The model card of a multiclass or regression model (ctx["task"] says which):
    the binary card's sections less the threshold and calibration, plus its classes
    or target range."""
    model = ctx["model"]
    sections = [
        [f"# Model card: {model['name']} {model['version']}"],
        _model_details(model),
        *_promoted(ctx),
        _task_intended(ctx),
        _data(ctx["data"]),
        _metrics(ctx),
        _classes(ctx["task"]),
        _task_slices(ctx),
        _bias(ctx["bias"]),
        _caveats(ctx),
        _figures(ctx["figures"]),
    ]
    return "\n\n".join("\n".join(s) for s in sections) + "\n"
