"""Stage 5: measure the exported model on the held-out split, then publish it with every
report, together or not at all.

Scores the test split with the served artifact itself (the bundle export wrote to
build/bundle, through the loader the service uses), writes metrics, slice metrics, the
bias audit, figures, the model card, the CV table and the cleaning report into a staging
tree, and only then publishes the bundle into model/ and the reports over reports/ and
MODEL_CARD.md (training/publish.py). A failure before that leaves all of them as they
were. `python -m training.evaluate`
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from bundle.files import write_json_atomic, write_text_atomic
from bundle.format import BINARY
from bundle.store import LoadedBundle, load_bundle
from training import bias, figures, publish, slicing, task_eval
from training.config import ConfigError, FeatureSpec, Paths
from training.datasets import dataset_for
from training.features import (
    frame_to_columns,
    model_frame,
    read_processed,
    split_xy,
)
from training.metrics import classification_metrics, labels_from_proba
from training.model_card import render_model_card
from training.params import EvaluateParams, Params, load
from training.stage import run_stage


def score(model: LoadedBundle, X: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """Probabilities from the published bundle, exactly as the service computes them."""
    return model.predictor.proba_columns(frame_to_columns(X, spec)).astype(np.float64)


def check_columns(frame: pd.DataFrame, ev: EvaluateParams) -> None:
    """Every column the slices and the audit name must be in the test data."""
    lacking = [c for c in ev.named_columns if c not in frame.columns]
    if lacking:
        raise ConfigError(
            f"evaluate: column {lacking[0]!r} (in slices.bands or bias.attributes) "
            f"is not in the test data"
        )


def slice_report(
    X, y, y_pred, spec: FeatureSpec, ev: EvaluateParams, rules=()
) -> pd.DataFrame:
    """Slice metrics over every categorical feature and the numeric bands.

    `X` is the whole test table: a column kept only for the audit can be sliced too. A
    category is sliced as the model takes it (`rules`): the rare ones are one slice."""
    sp = ev.slices
    banded = slicing.add_bands(model_frame(X, tuple(rules)), sp.bands)
    return slicing.slice_metrics(
        banded,
        y,
        y_pred,
        spec.categorical + sp.band_columns,
        sp.min_support,
        sp.f1_margin,
        sp.min_positives,
    )


def audit(X, y, y_pred, ev: EvaluateParams, rules=()) -> dict:
    """The bias audit over the configured sensitive attributes; a category as the model
    takes it (`rules`): the rare ones are one group, not hundreds of tiny ones."""
    b = ev.bias
    banded = slicing.add_bands(model_frame(X, tuple(rules)), ev.slices.bands)
    return bias.bias_audit(
        y, y_pred, banded, list(b.attributes), b.reference or None, b.fair_band
    )


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-safe rows."""
    return json.loads(table.to_json(orient="records"))


def write_figures(paths: Paths, y, proba, table, overall_f1, audit_result) -> dict:
    """All four PNGs; returns their paths relative to the project root."""
    out = paths.figure
    made = {
        "roc": figures.roc_curve_png(y, proba, out("roc_curve")),
        "calibration": figures.calibration_png(y, proba, out("calibration")),
        "slice_f1": figures.slice_f1_png(table, overall_f1, out("slice_f1")),
        "disparity": figures.disparity_png(audit_result, out("disparity")),
    }
    return {k: str(p.relative_to(paths.root)) for k, p in made.items()}


def evaluate(paths: Paths, params: Params) -> dict[str, Any]:
    """Measure the exported bundle, then publish it with its reports; return the
    metrics."""
    with publish.staged_reports(paths.reports) as staging:
        metrics = write_reports(paths, Paths(root=staging), params)
        publish.publish_with_reports(
            paths.staged_bundle, paths.model_dir, staging, paths.root
        )
    return metrics


def read_json(path, stage: str) -> Any:
    """A stage's JSON output, or ConfigError saying which stage to run."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} is missing: run the {stage} stage first (make train)"
        ) from None


def write_reports(
    paths: Paths, out: Paths, params: Params, promotion: dict | None = None
) -> dict[str, Any]:
    """Every report and MODEL_CARD.md for the bundle in build/bundle, under `out`; the
    card cites `promotion`, the registry's entry of a promoted version."""
    spec, ev = params.features, params.evaluate
    cv = read_json(paths.cv_results, "fit")
    cleaning = read_json(paths.cleaning, "clean")
    test = read_processed(paths.test_csv, spec, "test")
    check_columns(test, ev)
    X, y = split_xy(test, spec)
    model = load_bundle(paths.staged_bundle)
    proba = score(model, X, spec)
    if model.metadata.target.task != BINARY:
        # Multiclass and regression: their own metrics, slices, audit and card.
        context = partial(card_context, promotion=promotion)
        return task_eval.evaluate_task(
            out, params, model, test, proba, context, cv, cleaning
        )
    # The bundle's threshold: the one the fit stage chose and the service predicts with.
    threshold = model.metadata.target.threshold
    y_pred = labels_from_proba(proba, threshold)
    metrics = classification_metrics(y, proba, threshold)
    table = slice_report(test, y, y_pred, spec, ev, model.features)
    audit_result = audit(test, y, y_pred, ev, model.features)
    write_json_atomic(out.metrics, metrics)
    write_text_atomic(out.slices_text, slicing.format_slices(table, metrics))
    write_json_atomic(out.slices_json, records(table))
    write_json_atomic(out.bias_json, audit_result)
    write_text_atomic(out.bias_markdown, bias.format_bias(audit_result))
    write_json_atomic(out.published_cv_results, cv)
    write_json_atomic(out.published_cleaning, cleaning)
    figs = write_figures(out, y, proba, table, metrics["f1"], audit_result)
    ctx = card_context(
        model,
        metrics,
        cv,
        table,
        audit_result,
        figs,
        params,
        len(X),
        cleaning,
        promotion,
    )
    write_text_atomic(out.model_card, render_model_card(ctx))
    return metrics


def card_context(
    model,
    metrics,
    cv,
    table,
    audit_result,
    figs,
    params: Params,
    n_test,
    cleaning,
    promotion: dict | None = None,
) -> dict:
    """Everything the model card shows, taken from the pipeline's own outputs (and the
    registry's entry of a promoted version)."""
    meta = model.metadata
    dataset = dataset_for(params.data.loader)
    card = params.model_card
    return {
        "project": {"name": meta.project.name, "description": meta.project.description},
        "model": {
            "name": meta.project.name,
            "version": meta.version,
            "estimator": meta.model["estimator"],
            "params": meta.model["params"],
            "library_versions": meta.provenance["library_versions"],
            "data_sha256": {k: v["sha256"] for k, v in meta.provenance["data"].items()},
        },
        "data": {
            "source": dataset.describe(params.data.options),
            "n_train": meta.provenance["data"]["train"]["rows"],
            "n_test": n_test,
            "features": meta.feature_names,
            "imputed": {f.name: f.imputed for f in meta.features if f.imputed},
            "target": meta.target.column,
            "positive_label": meta.target.positive_name,
            "negative_label": meta.target.negative_name,
            "cleaning": list(dataset.CLEANING_STEPS),
            "removed": cleaning,
        },
        "use": {
            "intended": list(card.intended_use),
            "out_of_scope": list(card.out_of_scope),
            "caveats": list(card.caveats),
            "sensitive": list(card.sensitive_features),
        },
        "metrics": metrics,
        "cv": {
            "rows": cv["rows"],
            "selection_criterion": meta.model["selection"],
            "selected": cv["selected"],
        },
        # A binary model's: the other tasks have no threshold.
        "threshold": threshold_context(meta, cv, params) if "threshold" in cv else None,
        "slices": records(table),
        "weakest_slices": records(slicing.weakest_slices(table, 3)),
        "bias": audit_result,
        "figures": figs,
        "promotion": promotion,
    }


def threshold_context(meta, cv: dict, params: Params) -> dict:
    """How the decision threshold was chosen, and the classes the bundle has no
    example of (none predicted at that threshold)."""
    chosen = cv["threshold"]
    return {
        "value": meta.target.threshold,
        "rule": chosen["rule"],
        "at_least": chosen["at_least"],
        "folds": params.train.cv_folds,
        "out_of_fold": chosen["out_of_fold"],
        "positive_label": meta.target.positive_name,
        "lacking_examples": meta.examples.lacking(meta.target),
    }


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    m = evaluate(Paths(), load())
    print("  ".join(f"{k}={v:.4f}" for k, v in m.items()))
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("evaluate", main))
