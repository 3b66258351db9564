"""Live-like traffic for the monitoring tests and the bench, for any data set.

In-distribution traffic is the held-out split as API records (the training split when
the held-out one is too small: see in_distribution_split); drifted traffic is the same
with one feature moved: the bundle's first numeric feature up by a share of its training
spread, or, on a data set without a number, every record given one category of a
categorical feature (so nothing here names a column).
"""

from __future__ import annotations

import csv
import math
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from monitoring.profile import CategoryBins, NumericBins, Profile
from bundle.rules import FeatureRule, record_errors

# The shift: this share of the spread between the training data's 10th and 90th
# percentiles (for census age, about 15 years).
SHIFT_SHARE = 0.4
# The PSI the tests read as "no drift"; a sample whose chance PSI is over a third of it
# is too small to show that (its own noise would read as drift).
NO_DRIFT = 0.1
CHANCE_SHARE = 1 / 3


def chance_psi(bins: int, rows: int) -> float:
    """The PSI `rows` records drawn from the reference show by chance, about
    (bins - 1) / rows: PSI is close to a chi-square statistic over the rows."""
    return (bins - 1) / rows


def most_bins(profile: Profile) -> int:
    """The number of bins of the profile's most finely binned feature."""
    return max(len(b.labels) for b in profile.features)


def in_distribution_split(processed: Path, profile: Profile) -> Path:
    """The held-out split when it is large enough to read as undrifted, else the
    training split: the reference the feature bins were made from (a few hundred rows of
    a small data set drift by chance; penguins' 84 test rows reach PSI 0.35)."""
    held_out = chance_psi(most_bins(profile), profile.prediction_rows)
    if held_out <= CHANCE_SHARE * NO_DRIFT:
        return processed / "test.csv"
    return processed / "train.csv"


def prediction_tolerance(profile: Profile) -> float:
    """The prediction PSI in-distribution traffic stays under: NO_DRIFT, or more when
    the held-out split the prediction bins come from is small."""
    bins = len(profile.prediction.labels)
    return max(NO_DRIFT, chance_psi(bins, profile.prediction_rows) / CHANCE_SHARE)


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


def shifted_feature(rules: tuple[FeatureRule, ...], profile: Profile) -> FeatureRule:
    """The feature the drift tests move: the bundle's first numeric feature, else the
    categorical feature holding the rarest category of its own (see shift_amount)."""
    numeric = [r for r in rules if r.numeric]
    if numeric:
        return numeric[0]
    return min(rules, key=lambda r: rarest_bucket(profile, r.name)[1])


def rarest_bucket(profile: Profile, name: str) -> tuple[str, float]:
    """A categorical feature's least frequent category of its own (not grouped as
    (other)) and its training share; ("", 1.0) when it has none."""
    bins = next(b for b in profile.features if b.name == name)
    assert isinstance(bins, CategoryBins)
    own = list(zip(bins.buckets[:-3], bins.shares[: len(bins.buckets) - 3]))
    return min(own, key=lambda pair: pair[1], default=("", 1.0))


def shift_amount(rule: FeatureRule, profile: Profile) -> float | str:
    """A numeric feature: SHIFT_SHARE of its training spread (of its allowed range when
    the training deciles coincide), whole for an integer feature. A categorical one: its
    rarest category of its own, which every record then takes (all records in a bucket
    of a few percent read as drift as plainly as a numeric shift)."""
    if not rule.numeric:
        return rarest_bucket(profile, rule.name)[0]
    bins = next(b for b in profile.features if b.name == rule.name)
    assert isinstance(bins, NumericBins)
    spread = bins.edges[-1] - bins.edges[0] if len(bins.edges) > 1 else 0.0
    if spread <= 0:
        spread = (rule.maximum - rule.minimum) / 4
    amount = SHIFT_SHARE * spread
    return max(1, math.ceil(amount)) if rule.kind == "integer" else amount


def shift(records: list[dict], rule: FeatureRule, amount: float | str) -> list[dict]:
    """The records with `rule`'s field moved: a number up by `amount`, kept within its
    bounds; a category replaced by `amount` in every record."""

    def moved(value: Any) -> Any:
        if not rule.numeric:
            return amount
        if value is None:
            return None
        value = min(value + amount, rule.maximum)
        return int(value) if rule.kind == "integer" else float(value)

    return [{**r, rule.name: moved(r[rule.name])} for r in records]
