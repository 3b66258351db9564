"""Shadow scoring's figures: how a second model's predictions compare with the served one's.

The service scores a sample of live records with the shadow model too (service/shadow.py)
and counts each pair here: records scored, agreed, dropped or failed, the shadow's
latency per record in buckets, and both models' predictions in the bins of the served
model's reference profile (monitoring/profile.py), so the PSI between the two
distributions is monitoring/stability.py's PSI. Agreement is the same label for a
classifier and a relative error within REGRESSION_TOLERANCE for a regression.

Like the drift counts, the vector is a CountStore: in PROMETHEUS_MULTIPROC_DIR under
gunicorn, so every worker's counts add up on any worker's /metrics and /monitoring.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from bundle.format import REGRESSION
from bundle.predictor import Prediction
from monitoring.counts import CountStore
from monitoring.profile import ClassBins, NumericBins
from monitoring.stability import psi, psi_status

FILE_PREFIX = "shadow-counts-"
# A regression's shadow agrees when within this share of the served value.
REGRESSION_TOLERANCE = 0.05
# The shadow's time per record, seconds (a batch's time shared by its records).
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05)
LATENCY_BUCKETS += (0.1, 0.25, 1.0)
# The vector's head: then latency buckets (+ one over the last), then each model's bins.
SCORED, AGREED, DROPPED, FAILED, LATENCY_US = range(5)
HEAD = 5


def agrees(task: str, served: Prediction, shadow: Prediction) -> bool:
    """The same label (a classifier), or a value within REGRESSION_TOLERANCE of the
    served one's size (a regression)."""
    if task != REGRESSION:
        return served.label == shadow.label
    return math.isclose(shadow.value, served.value, rel_tol=REGRESSION_TOLERANCE)


def prediction_bin(bins: NumericBins | ClassBins, task: str, result: Prediction):
    """A prediction's bin in the reference's prediction bins: its class (multiclass),
    its value (regression) or its positive-class probability (binary)."""
    if isinstance(bins, ClassBins):
        return bins.classes.index(result.label)
    return bins.bin_one(result.value if task == REGRESSION else result.probability)


def agreement_reading(task: str) -> str:
    """What agreement means for a model of `task`, in words."""
    if task == REGRESSION:
        return f"shadow value within {REGRESSION_TOLERANCE:.0%} of the served one"
    return "same predicted class"


class ShadowCounts:
    """Counts of served/shadow prediction pairs, against the served reference's bins."""

    def __init__(
        self, task: str, bins: NumericBins | ClassBins, directory: str = ""
    ) -> None:
        self.task, self.bins = task, bins
        self.nbins = len(bins.labels)
        self.latency_at = HEAD
        self.served_at = HEAD + len(LATENCY_BUCKETS) + 1
        self.shadow_at = self.served_at + self.nbins
        size = self.shadow_at + self.nbins
        self.store = CountStore(size, directory, np.int64, FILE_PREFIX)

    def count(
        self, served: Sequence[Prediction], shadow: Sequence[Prediction], seconds: float
    ) -> None:
        """Count pairs of predictions the shadow took `seconds` to make."""
        counts, n = self.store.view(), len(served)
        if not n:
            return
        per_record = seconds / n
        counts[self.latency_at + int(np.searchsorted(LATENCY_BUCKETS, per_record))] += n
        counts[LATENCY_US] += int(round(seconds * 1e6))
        for a, b in zip(served, shadow):
            counts[self.served_at + prediction_bin(self.bins, self.task, a)] += 1
            counts[self.shadow_at + prediction_bin(self.bins, self.task, b)] += 1
            counts[AGREED] += agrees(self.task, a, b)
        counts[SCORED] += n

    def dropped(self, n: int) -> None:
        """Count n sampled records the queue had no room for."""
        self.store.view()[DROPPED] += n

    def failed(self, n: int) -> None:
        """Count n sampled records the shadow failed to score."""
        self.store.view()[FAILED] += n

    def figures(self) -> dict[str, Any]:
        """Every worker's counts as GET /monitoring's `shadow` figures."""
        total = self.store.total()
        scored = int(total[SCORED])
        served = total[self.served_at : self.shadow_at]
        shadow = total[self.shadow_at :]
        reference = served / served.sum() if served.sum() else served
        value = psi(reference, shadow, int(served.sum())) if scored else None
        buckets = total[self.latency_at : self.served_at]
        return {
            "records_scored": scored,
            "records_dropped": int(total[DROPPED]),
            "records_failed": int(total[FAILED]),
            "agreement_rate": float(total[AGREED]) / scored if scored else None,
            "agreement": agreement_reading(self.task),
            "prediction_psi": value,
            "prediction_psi_status": psi_status(value),
            "prediction_bins": [
                {"bin": label, "served": int(a), "shadow": int(b)}
                for label, a, b in zip(self.bins.labels, served, shadow)
            ],
            "latency_seconds": {
                "mean": float(total[LATENCY_US]) / 1e6 / scored if scored else None,
                "sum": float(total[LATENCY_US]) / 1e6,
                "buckets": [
                    {"le": str(le), "records": int(n)}
                    for le, n in zip((*LATENCY_BUCKETS, "+Inf"), np.cumsum(buckets))
                ],
            },
        }
