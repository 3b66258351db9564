"""Live-like traffic for the monitoring tests and the bench, for any data set.

In-distribution traffic is the held-out split as API records; drifted traffic is the
same with one numeric feature moved by a share of its training spread (the first
numeric feature of the bundle, so nothing here names a column).
"""

from __future__ import annotations

import csv
import math
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from monitoring.profile import NumericBins, Profile
from bundle.rules import FeatureRule, record_errors

# The shift: this share of the spread between the training data's 10th and 90th
# percentiles (for census age, about 15 years).
SHIFT_SHARE = 0.4


def labelled_records(
    path: Path, rules: tuple[FeatureRule, ...], n: int, target: str | None = None
) -> list[tuple[dict, str | None]]:
    """n valid rows of a processed CSV as (API record, `target` cell), cycled if too
    few; a row the service would refuse (a category the training sample never saw) is
    left out."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pairs = [
        (
            {r.name: r.load(r.from_text(row[r.name])) for r in rules},
            row[target] if target else None,
        )
        for row in rows
    ]
    valid = [(record, y) for record, y in pairs if not record_errors(rules, record)]
    return list(islice(cycle(valid), n))


def csv_records(path: Path, rules: tuple[FeatureRule, ...], n: int) -> list[dict]:
    """n valid rows of a processed CSV as API records (see labelled_records)."""
    return [record for record, _ in labelled_records(path, rules, n)]


def shifted_feature(rules: tuple[FeatureRule, ...]) -> FeatureRule:
    """The feature the drift tests move: the bundle's first numeric feature."""
    return next(r for r in rules if r.numeric)


def shift_amount(rule: FeatureRule, profile: Profile) -> float:
    """SHIFT_SHARE of the feature's training spread (of its allowed range when the
    training deciles coincide); whole for an integer feature."""
    bins = next(b for b in profile.features if b.name == rule.name)
    assert isinstance(bins, NumericBins)
    spread = bins.edges[-1] - bins.edges[0] if len(bins.edges) > 1 else 0.0
    if spread <= 0:
        spread = (rule.maximum - rule.minimum) / 4
    amount = SHIFT_SHARE * spread
    return max(1, math.ceil(amount)) if rule.kind == "integer" else amount


def shift(records: list[dict], rule: FeatureRule, amount: float) -> list[dict]:
    """The records with `rule`'s field moved up by `amount`, kept within its bounds."""

    def moved(value: Any) -> Any:
        if value is None:
            return None
        value = min(value + amount, rule.maximum)
        return int(value) if rule.kind == "integer" else float(value)

    return [{**r, rule.name: moved(r[rule.name])} for r in records]
