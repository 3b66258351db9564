"""Metrics shared by training, evaluation and the model card: the binary classification
ones, and the test metrics of a multiclass or a regression model (`task_metrics`)."""

from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from bundle.format import BINARY, MULTICLASS, REGRESSION

# Defined with the slice arithmetic it checks the input of; the bias audit imports it here.
from monitoring.slices import as_binary

__all__ = [
    "as_binary",
    "labels_from_proba",
    "metric",
    "classification_metrics",
    "multiclass_metrics",
    "regression_metrics",
    "task_metrics",
]


def labels_from_proba(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The positive class wherever its probability reaches the threshold."""
    return (np.asarray(proba) >= threshold).astype(int)


def _labels(metric):
    """A metric of the labels at the threshold, from the probabilities."""
    return lambda y, proba, threshold: metric(y, labels_from_proba(proba, threshold))


def _rows(proba: np.ndarray) -> np.ndarray:
    """float32 graph outputs sum to one only to float32 precision."""
    return proba / proba.sum(axis=1, keepdims=True)


def _likeliest(metric):
    """A metric of the likeliest class of each row."""
    return lambda y, proba, _: metric(y, np.argmax(proba, axis=1))


# Each task's test metrics, in report order: (y_true, scores, threshold) -> value.
METRICS = {
    BINARY: {
        "precision": _labels(partial(precision_score, zero_division=0)),
        "recall": _labels(partial(recall_score, zero_division=0)),
        "f1": _labels(partial(f1_score, zero_division=0)),
        "accuracy": _labels(accuracy_score),
        "roc_auc": lambda y, proba, _: roc_auc_score(y, proba),
        "brier": lambda y, proba, _: brier_score_loss(y, proba),
    },
    MULTICLASS: {
        "log_loss": lambda y, proba, _: log_loss(
            y, _rows(proba), labels=list(range(proba.shape[1]))
        ),
        "f1_macro": _likeliest(partial(f1_score, average="macro", zero_division=0)),
        "balanced_accuracy": _likeliest(balanced_accuracy_score),
        "accuracy": _likeliest(accuracy_score),
    },
    REGRESSION: {
        "rmse": lambda y, value, _: root_mean_squared_error(y, value),
        "mae": lambda y, value, _: mean_absolute_error(y, value),
        "r2": lambda y, value, _: r2_score(y, value),
    },
}


def metric(
    task: str, name: str, y_true: np.ndarray, scores: np.ndarray, threshold=0.5
) -> float:
    """One test metric of the task (a bootstrap computes only the one it compares)."""
    return float(METRICS[task][name](y_true, np.asarray(scores), threshold))


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Precision, recall, F1 of the positive class, accuracy, ROC AUC and Brier score."""
    return {k: metric(BINARY, k, y_true, proba, threshold) for k in METRICS[BINARY]}


def multiclass_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Log loss, macro F1, balanced accuracy and accuracy of class indices against the
    [n, k] probabilities (the label is the most probable class)."""
    return {k: metric(MULTICLASS, k, y_true, proba) for k in METRICS[MULTICLASS]}


def regression_metrics(y_true: np.ndarray, value: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R2 of the predicted values."""
    return {k: metric(REGRESSION, k, y_true, value) for k in METRICS[REGRESSION]}


def task_metrics(
    task: str, y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """The test metrics of the task, from the scores the engine gives."""
    if task == BINARY:
        return classification_metrics(y_true, scores, threshold)
    if task == MULTICLASS:
        return multiclass_metrics(y_true, scores)
    return regression_metrics(y_true, scores)
