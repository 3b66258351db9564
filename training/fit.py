"""Stage 3: choose a model by stratified K-fold CV and refit it on all training data.

`python -m training.fit` writes the fitted Pipeline (build/fitted/pipeline.skops, canonical
bytes: the same data, params and code give the same file) and its CV table
(build/fitted/cv_results.json; evaluate publishes it as reports/cv_results.json).
Nothing here is served yet: the export stage turns the Pipeline into the bundle.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

# Idle OpenMP threads sleep instead of spinning (read once, when scikit-learn loads
# libgomp): on a shared or busy machine, spinning made a HistGradientBoosting fit 10x
# slower (96 s instead of 9 s on census with a load of 6 on 2 cores).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import check_scoring  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from bundle.files import write_bytes_atomic, write_json_atomic  # noqa: E402
from training import fitted  # noqa: E402
from training.config import ConfigError, FeatureSpec, Paths  # noqa: E402
from training.features import build_preprocessor, read_processed, split_xy  # noqa: E402
from training.params import Candidate, Params, TrainParams, load  # noqa: E402
from training.stage import run_stage  # noqa: E402


class Estimator:
    """A candidate kind: its scikit-learn class, and whether numerics are scaled first."""

    def __init__(self, cls: type, scale_numeric: bool) -> None:
        self.cls, self.scale_numeric = cls, scale_numeric


ESTIMATORS = {
    "logistic_regression": Estimator(LogisticRegression, True),
    "gradient_boosting": Estimator(GradientBoostingClassifier, False),
    # Binned, multi-threaded boosting: minutes instead of hours at 500k rows.
    "hist_gradient_boosting": Estimator(HistGradientBoostingClassifier, False),
}
CV_SCORING = {
    "roc_auc": "roc_auc",
    "accuracy": "accuracy",
    "f1": "f1",
    "precision": "precision",
    "recall": "recall",
    "brier": "neg_brier_score",
}


def build_pipeline(
    spec: FeatureSpec, estimator: str, params: dict, seed: int
) -> Pipeline:
    """Preprocessing and classifier as one Pipeline."""
    if estimator not in ESTIMATORS:
        raise ConfigError(
            f"train.candidates: estimator {estimator!r} is not one of "
            f"{', '.join(ESTIMATORS)}"
        )
    kind = ESTIMATORS[estimator]
    kwargs = dict(params)
    if "random_state" in kind.cls().get_params():
        kwargs.setdefault("random_state", seed)
    try:
        classifier = kind.cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"train.candidates: {estimator}: {exc}") from exc
    preprocess = build_preprocessor(spec, kind.scale_numeric)
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def progress(line: str) -> None:
    """One progress line on stderr (stdout keeps the stage's result)."""
    print(f"fit: {line}", file=sys.stderr, flush=True)


def fit_fold(pipe: Pipeline, X, y, train, test) -> tuple[dict[str, float], float]:
    """Every CV metric of a fresh copy of `pipe` fitted on one fold, and the seconds."""
    start = time.perf_counter()
    model = clone(pipe).fit(X.iloc[train], y[train])
    scores = check_scoring(model, scoring=CV_SCORING)(model, X.iloc[test], y[test])
    return scores, time.perf_counter() - start


def cross_validate_candidates(
    candidates: dict[str, Candidate],
    spec: FeatureSpec,
    X,
    y,
    folds: int,
    seed: int,
    metric: str = "roc_auc",
) -> list[dict[str, Any]]:
    """Mean and standard deviation of every CV metric for each candidate, with a
    progress line per fold (`metric`) as each finishes; folds run in parallel."""
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y))
    sign = {m: -1 if m == "brier" else 1 for m in CV_SCORING}
    rows = []
    for name, cand in candidates.items():
        pipe = build_pipeline(spec, cand.estimator, cand.params, seed)
        runs = Parallel(n_jobs=-1, return_as="generator")(
            delayed(fit_fold)(pipe, X, y, train, test) for train, test in splits
        )
        scores: dict[str, list[float]] = {m: [] for m in CV_SCORING}
        for fold, (fold_scores, seconds) in enumerate(runs, 1):
            for m in CV_SCORING:
                scores[m].append(sign[m] * fold_scores[m])
            progress(
                f"{name} fold {fold}/{folds} {metric}={scores[metric][-1]:.4f} "
                f"({seconds:.1f} s)"
            )
        row: dict[str, Any] = {"candidate": name, "estimator": cand.estimator}
        for m, values in scores.items():
            row[f"{m}_mean"] = float(np.mean(values))
            row[f"{m}_std"] = float(np.std(values))
        rows.append(row)
    return rows


def check_metric(metric: str) -> str:
    """`metric` if the CV computes it, else a ConfigError naming the choices."""
    if metric not in CV_SCORING:
        raise ConfigError(
            f"train.selection_metric {metric!r} is not one of {', '.join(CV_SCORING)}"
        )
    return metric


def select(rows: list[dict[str, Any]], metric: str) -> str:
    """The declared criterion: highest mean CV `metric` (lowest for the Brier score)."""
    check_metric(metric)
    sign = -1 if metric == "brier" else 1
    return max(rows, key=lambda r: sign * r[f"{metric}_mean"])["candidate"]


def select_and_fit(
    spec: FeatureSpec, tp: TrainParams, X, y
) -> tuple[str, Pipeline, list]:
    """Cross-validate every candidate, pick one by the declared criterion, refit it."""
    metric = check_metric(tp.selection_metric)  # before minutes of fitting
    cv_rows = cross_validate_candidates(
        tp.candidates, spec, X, y, tp.cv_folds, tp.seed, metric
    )
    chosen = select(cv_rows, metric)
    cand = tp.candidates[chosen]
    pipeline = build_pipeline(spec, cand.estimator, cand.params, tp.seed)
    start = time.perf_counter()
    pipeline.fit(X, y)
    progress(f"refit {chosen} on {len(y)} rows ({time.perf_counter() - start:.1f} s)")
    return chosen, pipeline, cv_rows


def fit(paths: Paths, params: Params) -> dict[str, Any]:
    """CV selection and refit; writes the fitted Pipeline and the CV table."""
    spec, tp = params.features, params.train
    X, y = split_xy(read_processed(paths.train_csv, spec, "train"), spec)
    chosen, pipeline, cv_rows = select_and_fit(spec, tp, X, y)
    write_bytes_atomic(paths.pipeline, fitted.dumps(pipeline))
    cv = {
        "selection_metric": tp.selection_metric,
        "selected": chosen,
        "rows": cv_rows,
    }
    write_json_atomic(paths.cv_results, cv)
    return cv


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    cv = fit(Paths(), load())
    row = next(r for r in cv["rows"] if r["candidate"] == cv["selected"])
    metric = cv["selection_metric"]
    print(f"selected {cv['selected']}: mean CV {metric} {row[f'{metric}_mean']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("fit", main))
