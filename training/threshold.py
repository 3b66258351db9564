"""The decision threshold, chosen by the rule params.yaml declares (`evaluate.threshold`).

A number is used as it is; a rule (highest F1, or the best recall at a precision floor, or
the best precision at a recall floor) is applied to the selected candidate's out-of-fold
predictions, which no model saw while training, so the test split stays untouched until
evaluation. Either way the result says what was chosen and the out-of-fold precision,
recall and F1 at it, for the model card.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from training.config import ConfigError
from training.metrics import classification_metrics
from training.params import ThresholdRule

RULE_WORDS = {
    "fixed": "fixed in params.yaml",
    "max_f1": "highest F1 of the positive class",
    "precision": "highest recall with precision at least {at_least:g}",
    "recall": "highest precision with recall at least {at_least:g}",
}


def describe(rule: str, at_least: float | None) -> str:
    """The rule in words: `highest F1 of the positive class`."""
    return RULE_WORDS[rule].format(at_least=at_least)


def between(scores: np.ndarray, chosen: int) -> float:
    """A threshold that labels the out-of-fold scores as `scores[chosen]` does, halfway
    to the next lower score: a refitted model's probabilities are not the same numbers,
    and a threshold sitting on one would make that record's label a coin toss."""
    return float(
        scores[chosen] if chosen == 0 else scores[chosen - 1 : chosen + 1].mean()
    )


def candidate_index(rule: ThresholdRule, precision, recall) -> int | None:
    """The index of the curve point the rule picks, or None if no point meets its floor."""
    if rule.rule == "max_f1":
        f1 = np.where(
            precision + recall > 0,
            2 * precision * recall / np.maximum(precision + recall, 1e-300),
            0.0,
        )
        return int(np.argmax(f1))
    floor, best = (
        (precision, recall) if rule.rule == "precision" else (recall, precision)
    )
    meets = np.flatnonzero(floor >= rule.at_least)
    if not len(meets):
        return None
    return int(meets[np.argmax(best[meets])])


def choose(rule: float | ThresholdRule, y: np.ndarray, oof: np.ndarray) -> dict:
    """The threshold `rule` gives on out-of-fold probabilities `oof` of labels `y`, with
    the out-of-fold precision, recall and F1 at it; ConfigError if no threshold meets
    the rule's floor."""
    if isinstance(rule, ThresholdRule):
        precision, recall, scores = precision_recall_curve(y, oof)
        # The curve's last point (precision 1, recall 0) has no threshold.
        precision, recall = precision[:-1], recall[:-1]
        chosen = candidate_index(rule, precision, recall)
        if chosen is None:
            kept = precision if rule.rule == "precision" else recall
            raise ConfigError(
                f"evaluate.threshold: no threshold gives {rule.rule} >= "
                f"{rule.at_least:g} on the out-of-fold predictions (at most "
                f"{float(kept.max()):.4f}); lower at_least or choose another rule"
            )
        name, at_least, value = rule.rule, rule.at_least, between(scores, chosen)
    else:
        name, at_least, value = "fixed", None, float(rule)
    metrics = classification_metrics(y, oof, value)
    out: dict[str, Any] = {"rule": name, "at_least": at_least, "value": value}
    out["out_of_fold"] = {k: metrics[k] for k in ("precision", "recall", "f1")}
    return out
