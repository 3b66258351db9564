"""How far live traffic is from the reference, and when that matters: PSI with its
smoothing, and every threshold the service, the report and the alert rules read with.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

# Pseudo-count added to every bin of both sides: a bin empty on one side stays finite.
SMOOTHING = 0.5
# The usual reading of PSI: below 0.1 stable, 0.1 to 0.2 a moderate shift, above 0.2 a
# significant one.
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.2
# Drift figures are read (and alerted on) once this many records are counted: PSI of a
# few records is mostly noise.
MIN_RECORDS = 500
# A slice's predicted-positive rate is "far from training" when it differs by more than
# SLICE_GAP, by more than SLICE_Z standard errors, over at least SLICE_MIN_RECORDS.
SLICE_GAP = 0.1
SLICE_Z = 4.0
SLICE_MIN_RECORDS = 200


def psi(reference: Sequence[float], counts: Sequence[float], rows: int) -> float | None:
    """Population stability index of live `counts` against `reference` shares (taken
    from `rows` rows): sum (live - ref) * ln(live / ref) over the bins, both sides
    smoothed by SMOOTHING per bin. Bins empty on both sides carry nothing and are left
    out. None before any live record."""
    ref = np.asarray(reference, dtype=np.float64) * rows
    live = np.asarray(counts, dtype=np.float64)
    if live.sum() <= 0:
        return None
    used = (ref > 0) | (live > 0)
    ref, live = ref[used] + SMOOTHING, live[used] + SMOOTHING
    q, p = ref / ref.sum(), live / live.sum()
    return float(np.sum((p - q) * np.log(p / q)))


def smoothed_shares(reference: Sequence[float], rows: int) -> np.ndarray:
    """Reference shares with SMOOTHING added to every bin, as PSI compares them
    (Prometheus's windowed PSI takes these, monitoring/alerts.py)."""
    ref = np.asarray(reference, dtype=np.float64) * rows + SMOOTHING
    return ref / ref.sum()


def psi_status(value: float | None) -> str:
    """stable / moderate / significant (or no data), the usual reading of PSI."""
    if value is None:
        return "no data"
    if value > PSI_SIGNIFICANT:
        return "significant"
    return "moderate" if value > PSI_MODERATE else "stable"


def far(records: int, rate, reference, z) -> bool:
    """A live rate far from training (as the alert): by more than SLICE_GAP and SLICE_Z
    standard errors over at least SLICE_MIN_RECORDS."""
    if rate is None or reference is None or z is None:
        return False
    return (
        records >= SLICE_MIN_RECORDS
        and abs(rate - reference) > SLICE_GAP
        and abs(z) > SLICE_Z
    )


def flagged(value: dict) -> bool:
    """A slice whose predicted-positive rate is far from training (as the alert)."""
    return far(
        value["records"],
        value["positive_rate"],
        value["reference_positive_rate"],
        value["z"],
    )


def mark_flagged(figures: dict[str, Any]) -> dict[str, Any]:
    """The drift figures with each slice value's `far_from_training` set: its
    predicted-positive rate's (binary), or any class's rate's, each class marked too
    (multiclass). A regression's mean prediction has no standard error: not judged."""
    for group in figures["slices"]:
        for value in group["values"]:
            if "classes" in value:
                for c in value["classes"]:
                    c["far_from_training"] = far(
                        value["records"], c["rate"], c["reference_rate"], c["z"]
                    )
                value["far_from_training"] = any(
                    c["far_from_training"] for c in value["classes"]
                )
            elif "positive_rate" in value:
                value["far_from_training"] = flagged(value)
    return figures


def reading(task: str = "binary") -> dict[str, Any]:
    """How to read the drift figures of a model of `task`, in words (GET /monitoring's
    `reading`)."""
    far = (
        f"more than {SLICE_GAP} and {SLICE_Z} standard errors from the held-out rate, "
        f"over >= {SLICE_MIN_RECORDS} records"
    )
    slices = {
        "multiclass": f"far from training: a class's predicted rate {far}",
        "regression": "mean predicted value, live and on held-out data (not judged: "
        "no standard error)",
    }
    return {
        "psi": f"population stability index against training: < {PSI_MODERATE} "
        f"stable, {PSI_MODERATE}-{PSI_SIGNIFICANT} moderate, > {PSI_SIGNIFICANT} "
        "significant",
        "min_records": MIN_RECORDS,
        "slices": slices.get(task, f"far from training: predicted-positive rate {far}"),
        "since": "counts since the server started, all workers",
    }
