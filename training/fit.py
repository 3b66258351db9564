"""Stage 3: choose a model by K-fold CV and refit it on all training data.

The folds are stratified by class for a classification (binary, multiclass), plain for a
regression; the candidates' estimators and the CV metrics are the task's (ESTIMATORS,
CV_SCORING), and the selection metric must be one of the task's.

`python -m training.fit` writes the fitted Pipeline (build/fitted/pipeline.skops, canonical
bytes: the same data, params and code give the same file) and its CV table
(build/fitted/cv_results.json; evaluate publishes it as reports/cv_results.json), with
the decision threshold `evaluate.threshold` gives on the winner's out-of-fold
predictions (training/threshold.py; binary).
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
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import (  # noqa: E402
    LinearRegression,
    LogisticRegression,
    Ridge,
)
from sklearn.metrics import (  # noqa: E402
    check_scoring,
    f1_score,
    make_scorer,
    precision_score,
)
from sklearn.model_selection import KFold, StratifiedKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from bundle.files import write_bytes_atomic, write_json_atomic  # noqa: E402
from bundle.format import BINARY, MULTICLASS, REGRESSION  # noqa: E402
from training import fitted  # noqa: E402
from training.config import ConfigError, FeatureSpec, Paths  # noqa: E402
from training.features import (  # noqa: E402
    Imputation,
    build_preprocessor,
    feature_rules,
    id_warnings,
    imputations,
    model_frame,
    read_processed,
    split_xy,
)
from training.params import (  # noqa: E402
    Candidate,
    Params,
    ThresholdRule,
    TrainParams,
    load,
)
from training.stage import run_stage  # noqa: E402
from training.threshold import choose as choose_threshold  # noqa: E402
from training.threshold import describe  # noqa: E402


class Estimator:
    """A candidate kind: its scikit-learn class, and whether numerics are scaled first."""

    def __init__(self, cls: type, scale_numeric: bool) -> None:
        self.cls, self.scale_numeric = cls, scale_numeric


CLASSIFIERS = {
    # Multinomial for more than two classes (scikit-learn's default since 1.5).
    "logistic_regression": Estimator(LogisticRegression, True),
    "gradient_boosting": Estimator(GradientBoostingClassifier, False),
    # Binned, multi-threaded boosting: minutes instead of hours at 500k rows.
    "hist_gradient_boosting": Estimator(HistGradientBoostingClassifier, False),
}
# A regression's candidates: the boosting names stand for their regressors.
REGRESSORS = {
    "ridge": Estimator(Ridge, True),
    "linear_regression": Estimator(LinearRegression, True),
    "gradient_boosting": Estimator(GradientBoostingRegressor, False),
    "hist_gradient_boosting": Estimator(HistGradientBoostingRegressor, False),
}
ESTIMATORS = {BINARY: CLASSIFIERS, MULTICLASS: CLASSIFIERS, REGRESSION: REGRESSORS}
# The CV metrics of each task, by their names in cv_results.json and params.yaml.
CV_SCORING = {
    BINARY: {
        "roc_auc": "roc_auc",
        "accuracy": "accuracy",
        # 0 for a fold that predicts no positive (a rare class at 0.5), as in
        # training/metrics.py, instead of a warning per fold.
        "f1": make_scorer(f1_score, zero_division=0),
        "precision": make_scorer(precision_score, zero_division=0),
        "recall": "recall",
        "brier": "neg_brier_score",
    },
    MULTICLASS: {
        "log_loss": "neg_log_loss",
        "f1_macro": "f1_macro",
        "balanced_accuracy": "balanced_accuracy",
        "accuracy": "accuracy",
    },
    REGRESSION: {
        "rmse": "neg_root_mean_squared_error",
        "mae": "neg_mean_absolute_error",
        "r2": "r2",
    },
}
# Errors and losses: scikit-learn scores them negated; cv_results.json holds them as
# they are, and the lowest wins.
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "rmse", "mae"})


def build_pipeline(
    spec: FeatureSpec,
    estimator: str,
    params: dict,
    seed: int,
    imputed: dict[str, Imputation] | None = None,
) -> Pipeline:
    """Preprocessing (numerics in `imputed` filled by their policy) and the task's
    estimator as one Pipeline (the step keeps the name `classifier` for every task: the
    export and the bundle look it up by that name)."""
    kinds = ESTIMATORS[spec.task]
    if estimator not in kinds:
        raise ConfigError(
            f"train.candidates: estimator {estimator!r} is not one of "
            f"{', '.join(kinds)} (features.task is {spec.task})"
        )
    kind = kinds[estimator]
    kwargs = dict(params)
    if "random_state" in kind.cls().get_params():
        kwargs.setdefault("random_state", seed)
    try:
        classifier = kind.cls(**kwargs)
        # Checked now, not in the first fold's fit: a value the estimator refuses
        # (class_weight: balance) is one line, before minutes of fitting.
        classifier._validate_params()
    except TypeError as exc:  # InvalidParameterError is a TypeError too
        raise ConfigError(f"train.candidates: {estimator}: {exc}") from exc
    preprocess = build_preprocessor(spec, kind.scale_numeric, imputed)
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def progress(line: str) -> None:
    """One progress line on stderr (stdout keeps the stage's result)."""
    print(f"fit: {line}", file=sys.stderr, flush=True)


def fit_fold(
    pipe: Pipeline, X, y, train, test, scoring: dict, keep_proba: bool = False
) -> tuple[dict[str, float], np.ndarray | None, float]:
    """Every CV metric of a fresh copy of `pipe` fitted on one fold, its positive-class
    probabilities for the held-out rows (`keep_proba`: a binary model's threshold is
    chosen on them), and the seconds."""
    start = time.perf_counter()
    model = clone(pipe).fit(X.iloc[train], y[train])
    scores = check_scoring(model, scoring=scoring)(model, X.iloc[test], y[test])
    proba = model.predict_proba(X.iloc[test])[:, 1] if keep_proba else None
    return scores, proba, time.perf_counter() - start


def folds_for(task: str, folds: int, seed: int):
    """Stratified folds for a classification, plain shuffled ones for a regression."""
    cls = KFold if task == REGRESSION else StratifiedKFold
    return cls(folds, shuffle=True, random_state=seed)


def cross_validate_candidates(
    candidates: dict[str, Candidate],
    spec: FeatureSpec,
    X,
    y,
    folds: int,
    seed: int,
    metric: str = "roc_auc",
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Mean and standard deviation of every CV metric of the task for each candidate,
    and its out-of-fold positive-class probabilities (binary: each row scored by the fold
    that held it out), with a progress line per fold (`metric`) as each finishes; folds
    run in parallel."""
    splits = list(folds_for(spec.task, folds, seed).split(X, y))
    scoring = CV_SCORING[spec.task]
    sign = {m: -1 if m in LOWER_IS_BETTER else 1 for m in scoring}
    imputed = imputations(spec, X)
    rows, oof = [], {}
    for name, cand in candidates.items():
        pipe = build_pipeline(spec, cand.estimator, cand.params, seed, imputed)
        runs = Parallel(n_jobs=-1, return_as="generator")(
            delayed(fit_fold)(pipe, X, y, train, test, scoring, spec.binary)
            for train, test in splits
        )
        scores: dict[str, list[float]] = {m: [] for m in scoring}
        oof[name] = np.empty(len(y), dtype=np.float64)
        for fold, (fold_scores, proba, seconds) in enumerate(runs, 1):
            if proba is not None:
                oof[name][splits[fold - 1][1]] = proba
            for m in scoring:
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
    return rows, oof


def check_metric(metric: str, task: str = BINARY) -> str:
    """`metric` if the CV computes it for the task, else a ConfigError naming the
    choices."""
    if metric not in CV_SCORING[task]:
        raise ConfigError(
            f"train.selection_metric {metric!r} is not one of "
            f"{', '.join(CV_SCORING[task])} (features.task is {task})"
        )
    return metric


def select(rows: list[dict[str, Any]], metric: str, task: str = BINARY) -> str:
    """The declared criterion: highest mean CV `metric` (lowest for an error or loss:
    the Brier score, log loss, RMSE, MAE)."""
    check_metric(metric, task)
    sign = -1 if metric in LOWER_IS_BETTER else 1
    return max(rows, key=lambda r: sign * r[f"{metric}_mean"])["candidate"]


def select_and_fit(
    spec: FeatureSpec, tp: TrainParams, X, y, rule: float | ThresholdRule = 0.5
) -> tuple[str, Pipeline, list, dict | None]:
    """Cross-validate every candidate, pick one by the declared criterion, choose a
    binary model's decision threshold by `rule` on its out-of-fold predictions (None for
    the other tasks), refit it."""
    metric = check_metric(tp.selection_metric, spec.task)  # before minutes of fitting
    for name, cand in tp.candidates.items():  # every estimator fits the task
        build_pipeline(spec, cand.estimator, cand.params, tp.seed)
    cv_rows, oof = cross_validate_candidates(
        tp.candidates, spec, X, y, tp.cv_folds, tp.seed, metric
    )
    chosen = select(cv_rows, metric, spec.task)
    threshold = None
    if spec.binary:
        threshold = choose_threshold(rule, y, oof[chosen])  # refused before the refit
        oof_scores = " ".join(
            f"{k}={v:.4f}" for k, v in threshold["out_of_fold"].items()
        )
        progress(
            f"threshold {threshold['value']:.4f} "
            f"({describe(threshold['rule'], threshold['at_least'])}; out of fold "
            f"{oof_scores})"
        )
    cand = tp.candidates[chosen]
    imputed = imputations(spec, X)
    pipeline = build_pipeline(spec, cand.estimator, cand.params, tp.seed, imputed)
    start = time.perf_counter()
    pipeline.fit(X, y)
    progress(f"refit {chosen} on {len(y)} rows ({time.perf_counter() - start:.1f} s)")
    return chosen, pipeline, cv_rows, threshold


def fit(paths: Paths, params: Params) -> dict[str, Any]:
    """CV selection, threshold and refit; writes the fitted Pipeline and the CV table
    (with the threshold the export puts in the bundle)."""
    spec, tp = params.features, params.train
    X, y = split_xy(read_processed(paths.train_csv, spec, "train"), spec)
    for line in id_warnings(X, spec):
        progress(line)
    X = model_frame(X, feature_rules(X, spec))
    chosen, pipeline, cv_rows, threshold = select_and_fit(
        spec, tp, X, y, params.evaluate.threshold
    )
    write_bytes_atomic(paths.pipeline, fitted.dumps(pipeline))
    cv = {"selection_metric": tp.selection_metric, "selected": chosen, "rows": cv_rows}
    if threshold is not None:
        cv["threshold"] = threshold
    write_json_atomic(paths.cv_results, cv)
    return cv


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    cv = fit(Paths(), load())
    row = next(r for r in cv["rows"] if r["candidate"] == cv["selected"])
    metric = cv["selection_metric"]
    line = f"selected {cv['selected']}: mean CV {metric} {row[f'{metric}_mean']:.4f}"
    if "threshold" in cv:
        line += (
            f", threshold {cv['threshold']['value']:.4f} ({cv['threshold']['rule']})"
        )
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("fit", main))
