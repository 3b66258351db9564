"""Classification metrics shared by training, evaluation and the model card."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

# Defined with the slice arithmetic it checks the input of; the bias audit imports it here.
from monitoring.slices import as_binary

__all__ = ["as_binary", "labels_from_proba", "classification_metrics"]


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
