"""Metrics shared by training, evaluation and the model card: the binary classification
ones, and the test metrics of a multiclass or a regression model (`task_metrics`)."""

from __future__ import annotations

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

from bundle.format import BINARY, MULTICLASS

# Defined with the slice arithmetic it checks the input of; the bias audit imports it here.
from monitoring.slices import as_binary

__all__ = [
    "as_binary",
    "labels_from_proba",
    "classification_metrics",
    "multiclass_metrics",
    "regression_metrics",
    "task_metrics",
]


def labels_from_proba(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The positive class wherever its probability reaches the threshold."""
    return (np.asarray(proba) >= threshold).astype(int)


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Precision, recall, F1 of the positive class, accuracy, ROC AUC and Brier score."""
    y_pred = labels_from_proba(proba, threshold)
    return {
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "roc_auc": float(roc_auc_score(y_true, proba)),
        "brier": float(brier_score_loss(y_true, proba)),
    }


def multiclass_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Log loss, macro F1, balanced accuracy and accuracy of class indices against the
    [n, k] probabilities (the label is the most probable class)."""
    y_pred = np.argmax(proba, axis=1)
    labels = list(range(proba.shape[1]))
    # float32 graph outputs sum to one only to float32 precision.
    rows = proba / proba.sum(axis=1, keepdims=True)
    return {
        "log_loss": float(log_loss(y_true, rows, labels=labels)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }


def regression_metrics(y_true: np.ndarray, value: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R2 of the predicted values."""
    return {
        "rmse": float(root_mean_squared_error(y_true, value)),
        "mae": float(mean_absolute_error(y_true, value)),
        "r2": float(r2_score(y_true, value)),
    }


def task_metrics(
    task: str, y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """The test metrics of the task, from the scores the engine gives."""
    if task == BINARY:
        return classification_metrics(y_true, scores, threshold)
    if task == MULTICLASS:
        return multiclass_metrics(y_true, scores)
    return regression_metrics(y_true, scores)
