"""Stage 4: measure the published model on the held-out split and write every report.

Scores the test split with the served artifact itself (the ONNX bundle, through the
service's loader), then writes metrics, slice metrics, the bias audit, figures and the
model card. `python -m training.evaluate`
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np
import pandas as pd

from service.model_store import LoadedModel, load_model
from training import bias, figures, slicing
from training.config import Paths, load_params
from training.export import frame_to_columns
from training.features import FeatureSpec, load_split
from training.io import write_json_atomic, write_text_atomic
from training.metrics import classification_metrics, labels_from_proba
from training.model_card import render_model_card

CLEANING_STEPS = [
    "strip the blank after each comma",
    "'?' means missing (a category of its own for the model)",
    "labels normalised ('>50K.' -> '>50K')",
    "exact duplicate rows dropped",
    "adult.test's first (junk) line dropped",
]


def score(model: LoadedModel, X: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """Probabilities from the published bundle, exactly as the service computes them."""
    return model.predictor.proba_columns(frame_to_columns(X, spec)).astype(np.float64)


def slice_report(X, y, y_pred, spec: FeatureSpec, ev: dict) -> pd.DataFrame:
    """Slice metrics over every categorical feature and the numeric bands."""
    sp = ev["slices"]
    banded = slicing.add_bands(X, sp["bands"])
    features = spec.categorical + [f"{col}-band" for col in sp["bands"]]
    return slicing.slice_metrics(
        banded,
        y,
        y_pred,
        features,
        sp["min_support"],
        sp["f1_margin"],
        sp.get("min_positives", 0),
    )


def audit(X, y, y_pred, ev: dict) -> dict:
    """The bias audit over the configured sensitive attributes."""
    b = ev["bias"]
    banded = slicing.add_bands(X, ev["slices"]["bands"])
    return bias.bias_audit(
        y,
        y_pred,
        banded,
        b["attributes"],
        b.get("reference") or None,
        tuple(b["fair_band"]),
    )


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-safe rows."""
    return json.loads(table.to_json(orient="records"))


def write_figures(paths: Paths, y, proba, table, overall_f1, audit_result) -> dict:
    """All four PNGs; returns their paths relative to the project root."""
    out = paths.figures
    made = {
        "roc": figures.roc_curve_png(y, proba, out / "roc_curve.png"),
        "calibration": figures.calibration_png(y, proba, out / "calibration.png"),
        "slice_f1": figures.slice_f1_png(table, overall_f1, out / "slice_f1.png"),
        "disparity": figures.disparity_png(audit_result, out / "disparity.png"),
    }
    return {k: str(p.relative_to(paths.root)) for k, p in made.items()}


def evaluate(paths: Paths, params: dict) -> dict[str, Any]:
    """Write reports/ and MODEL_CARD.md for the published model; return the metrics."""
    spec, ev = FeatureSpec.from_params(params), params["evaluate"]
    X, y = load_split(paths.processed / "test.csv", spec)
    model = load_model(paths.model_dir)
    meta = model.metadata
    proba = score(model, X, spec)
    y_pred = labels_from_proba(proba, ev["threshold"])
    metrics = classification_metrics(y, proba, ev["threshold"])
    table = slice_report(X, y, y_pred, spec, ev)
    audit_result = audit(X, y, y_pred, ev)
    rep = paths.reports
    write_json_atomic(rep / "metrics.json", metrics)
    write_text_atomic(rep / "slice_output.txt", slicing.format_slices(table, metrics))
    write_json_atomic(rep / "slice_output.json", records(table))
    write_json_atomic(rep / "bias_report.json", audit_result)
    write_text_atomic(rep / "bias_report.md", bias.format_bias(audit_result))
    figs = write_figures(paths, y, proba, table, metrics["f1"], audit_result)
    cv = json.loads((rep / "cv_results.json").read_text())
    ctx = card_context(meta, metrics, cv, table, audit_result, figs, params, len(X))
    write_text_atomic(paths.root / "MODEL_CARD.md", render_model_card(ctx))
    return metrics


def card_context(meta, metrics, cv, table, audit_result, figs, params, n_test) -> dict:
    """Everything the model card shows, taken from the pipeline's own outputs."""
    return {
        "model": {
            "name": meta["name"],
            "version": meta["version"],
            "estimator": meta["estimator"],
            "params": meta["params"],
            "trained_at": meta["trained_at"],
            "git_commit": meta["git_commit"],
            "library_versions": meta["library_versions"],
            "data_sha256": {k: v["sha256"] for k, v in meta["data"].items()},
        },
        "data": {
            "source": (
                "UCI Adult (1994 US census extract), from the pinned wheel "
                f"{params['data']['wheel']}"
                if params["data"]["source"] == "uci-wheel"
                else f"your census CSV: {params['data']['source']}"
            ),
            "n_train": meta["data"]["train"]["rows"],
            "n_test": n_test,
            "features": [f["name"] for f in meta["features"]],
            "target": meta["target"],
            "positive_label": meta["labels"]["positive"],
            "cleaning": CLEANING_STEPS,
        },
        "metrics": metrics,
        "cv": {
            "rows": cv["rows"],
            "selection_criterion": meta["selection"]["criterion"],
            "selected": cv["selected"],
        },
        "slices": records(table),
        "weakest_slices": records(slicing.weakest_slices(table, 3)),
        "bias": audit_result,
        "figures": figs,
    }


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    m = evaluate(Paths(), load_params())
    print("  ".join(f"{k}={v:.4f}" for k, v in m.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
