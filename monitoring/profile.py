"""The reference profile: what the training data looked like, bin by bin.

Training writes it into the bundle (`reference.json`, hash-verified like every bundle
file); the service counts live records into the same bins and `make monitor` does the
same with captured records. The bins are defined here once, so all three agree:

- a numeric feature: right-closed bins (e[i-1], e[i]] between the training data's
  deciles (repeated deciles merged, so a spike such as many zeros is one bin), then
  `(missing)` when the feature may be null (the model imputes it);
- a categorical feature: one bucket per category holding at least 1% of the training
  rows and not grouped by training, then `(other)` for the rarer known ones (training's
  own value for them), `(unknown)` and `(missing)`;
- the prediction, by task: the predicted probability's deciles (binary), the predicted
  class's share (multiclass) or the predicted value's deciles (regression), all of the
  held-out predictions;
- slices: the ones the evaluation reports (every value of a categorical feature, the
  numeric bands), each with the task's figure on held-out data: its predicted-positive
  rate and metrics (binary), each class's predicted share (multiclass) or the mean
  predicted value (regression).

How far live counts are from these shares, and when that matters, is
monitoring/stability.py's.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Sequence

import numpy as np

from bundle.format import BINARY, MULTICLASS, REFERENCE_PROFILE, TASKS, BundleError
from bundle.profile import MISSING
from bundle.rules import OTHER  # the rare categories' bucket: training's grouped value

UNKNOWN = "(unknown)"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


def rounded(values) -> tuple[float | None, ...]:
    """JSON-safe floats (None for NaN), rounded so the file is short and stable."""
    return tuple(
        None if v is None or not math.isfinite(v) else round(float(v), 6)
        for v in values
    )


@dataclass(frozen=True)
class NumericBins:
    """A numeric feature's bins: (-inf, e0], (e0, e1], ..., (e_last, inf), and
    (missing) last when `missing` (a nullable feature); else a null goes in the last."""

    name: str
    edges: tuple[float, ...]
    shares: tuple[float, ...]
    missing: bool = False

    def __post_init__(self) -> None:
        if len(self.shares) != len(self.edges) + 1 + self.missing:
            raise ValueError(
                f"{self.name}: {len(self.edges)} edges need "
                f"{len(self.edges) + 1 + self.missing} shares"
            )

    @property
    def labels(self) -> list[str]:
        e = [_num(x) for x in self.edges]
        tail = [MISSING] if self.missing else []
        if not e:
            return ["all", *tail]
        inner = [f"({lo}, {hi}]" for lo, hi in zip(e[:-1], e[1:])]
        return [f"<= {e[0]}", *inner, f"> {e[-1]}", *tail]

    @property
    def null_bin(self) -> int:
        """Where a null value is counted: (missing), else the last bin."""
        return len(self.edges) + self.missing

    def bin_one(self, value: float | None) -> int:
        if value is None or value != value:  # null, or NaN as a column holds it
            return self.null_bin
        return bisect_left(self.edges, value)

    def bins(self, values: Sequence[Any]) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)  # null as NaN
        found = np.searchsorted(np.asarray(self.edges), v, side="left")
        return np.where(np.isnan(v), self.null_bin, found)

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "edges": list(self.edges), "shares": self.shares}
        return out | ({"missing": True} if self.missing else {})


@dataclass(frozen=True)
class CategoryBins:
    """A categorical feature's buckets: frequent categories, (other), (unknown),
    (missing). `other` lists the rarer known categories counted in (other)."""

    name: str
    buckets: tuple[str, ...]
    shares: tuple[float, ...]
    other: tuple[str, ...] = ()
    _lookup: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.buckets[-3:] != (OTHER, UNKNOWN, MISSING):
            raise ValueError(f"{self.name}: buckets must end with {OTHER}, ...")
        if len(self.shares) != len(self.buckets):
            raise ValueError(f"{self.name}: one share per bucket")
        lookup: dict[Any, int] = {b: i for i, b in enumerate(self.buckets[:-3])}
        lookup.update((c, len(self.buckets) - 3) for c in self.other)
        lookup[None] = len(self.buckets) - 1
        object.__setattr__(self, "_lookup", lookup)

    @property
    def labels(self) -> list[str]:
        return list(self.buckets)

    @property
    def unknown(self) -> int:
        return len(self.buckets) - 2

    def bin_one(self, value: Any) -> int:
        return self._lookup.get(value, self.unknown)

    def bins(self, values: Sequence[Any]) -> np.ndarray:
        get, n = self._lookup.get, len(values)
        return np.fromiter(map(get, values, repeat(self.unknown, n)), np.int64, n)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "buckets": list(self.buckets),
            "shares": self.shares,
            "other": list(self.other),
        }


@dataclass(frozen=True)
class ClassBins:
    """A multiclass model's predictions: one bin per class (display names, in the
    model's class order); a prediction is counted by its class's index."""

    name: str
    classes: tuple[str, ...]
    shares: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.shares) != len(self.classes):
            raise ValueError(f"{self.name}: one share per class")

    @property
    def labels(self) -> list[str]:
        return list(self.classes)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "classes": list(self.classes), "shares": self.shares}


Bins = NumericBins | CategoryBins


@dataclass(frozen=True)
class SliceGroup:
    """The slices of one feature the evaluation reports, with held-out figures.

    `source` is the record field; `band_edges` (right-open [lo, hi), as
    monitoring/slices.py add_bands) turn a number into a band, the last value ("other")
    taking what falls outside; else the values are the field's categories and
    (missing). The figures are the task's: `positive_rate`, `f1` and `too_small`
    (binary), `class_rates` (multiclass: per value, each class's predicted share) or
    `mean_prediction` (regression); another task's are empty.
    """

    feature: str
    source: str
    values: tuple[str, ...]
    band_edges: tuple[float, ...] | None
    support: tuple[int, ...]
    positive_rate: tuple[float | None, ...]
    f1: tuple[float | None, ...]
    too_small: tuple[bool, ...]
    class_rates: tuple[tuple[float | None, ...], ...] = ()
    mean_prediction: tuple[float | None, ...] = ()
    _lookup: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.values)
        figures = (
            self.positive_rate,
            self.f1,
            self.too_small,
            self.class_rates,
            self.mean_prediction,
        )
        if len(self.support) != n or any(len(x) not in (0, n) for x in figures):
            raise ValueError(f"slices of {self.feature}: one figure per value")
        lookup: dict[Any, int] = {v: i for i, v in enumerate(self.values)}
        if MISSING in lookup:
            lookup[None] = lookup[MISSING]
        object.__setattr__(self, "_lookup", lookup)

    def index_one(self, value: Any) -> int:
        """The slice of one value; -1 when it is in none (an unknown category)."""
        if self.band_edges is None:
            return self._lookup.get(value, -1)
        i = bisect_right(self.band_edges, value) - 1
        return i if 0 <= i < len(self.band_edges) - 1 else len(self.values) - 1

    def indices(self, values: Sequence[Any]) -> np.ndarray:
        if self.band_edges is None:
            get, n = self._lookup.get, len(values)
            return np.fromiter(map(get, values, repeat(-1, n)), np.int64, n)
        edges = np.asarray(self.band_edges)
        i = np.searchsorted(edges, np.asarray(values, dtype=np.float64), "right") - 1
        return np.where((i >= 0) & (i < len(edges) - 1), i, len(self.values) - 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "source": self.source,
            "values": list(self.values),
            "band_edges": None if self.band_edges is None else list(self.band_edges),
            "support": list(self.support),
            "positive_rate": list(self.positive_rate),
            "f1": list(self.f1),
            "too_small": list(self.too_small),
        } | self.task_json()

    def task_json(self) -> dict[str, Any]:
        """The figures of a multiclass or regression model (none for binary)."""
        out: dict[str, Any] = {}
        if self.class_rates:
            out["class_rates"] = [list(rates) for rates in self.class_rates]
        if self.mean_prediction:
            out["mean_prediction"] = list(self.mean_prediction)
        return out


@dataclass(frozen=True)
class SliceRules:
    """When the evaluation judged a slice and flagged it (evaluate.slices at training
    time), so slices of labelled live records are judged by the same rules."""

    min_support: int
    f1_margin: float
    min_positives: int

    def to_json(self) -> dict[str, Any]:
        return {
            "min_support": self.min_support,
            "f1_margin": self.f1_margin,
            "min_positives": self.min_positives,
        }


@dataclass(frozen=True)
class Profile:
    """The reference: feature bins from the training split; predictions and slices
    from the held-out split scored by the served engine.

    `prediction` is the task's: the probability's bins (binary), the classes'
    (ClassBins, multiclass) or the predicted value's (regression); `positive_rate` is a
    binary model's, `mean_prediction` a regression's. A binary profile's JSON has
    neither `task` nor `mean_prediction`: as written before other tasks had one."""

    rows: int
    features: tuple[Bins, ...]
    prediction: NumericBins | ClassBins
    prediction_rows: int
    positive_rate: float | None
    slices: tuple[SliceGroup, ...]
    # None in a bundle trained before the rules travelled with the profile.
    slice_rules: SliceRules | None = None
    task: str = BINARY
    mean_prediction: float | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r} is not one of {TASKS}")
        if (self.task == MULTICLASS) != isinstance(self.prediction, ClassBins):
            raise ValueError("a multiclass profile, and only one, has class bins")

    def to_json(self) -> dict[str, Any]:
        data = {
            "rows": self.rows,
            "features": [
                {"kind": "numeric" if isinstance(b, NumericBins) else "category"}
                | b.to_json()
                for b in self.features
            ],
            "prediction": self.prediction.to_json(),
            "prediction_rows": self.prediction_rows,
            "positive_rate": self.positive_rate,
            "slices": [s.to_json() for s in self.slices],
        }
        if self.slice_rules is not None:
            data["slice_rules"] = self.slice_rules.to_json()
        if self.task != BINARY:
            data["task"] = self.task
        if self.positive_rate is None:
            del data["positive_rate"]
        if self.mean_prediction is not None:
            data["mean_prediction"] = self.mean_prediction
        return data

    def to_bytes(self) -> bytes:
        """reference.json's exact bytes (sorted keys: equal profiles, equal bytes)."""
        text = json.dumps(self.to_json(), indent=1, sort_keys=True)
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Profile":
        def bins(d: dict) -> Bins:
            if d["kind"] == "numeric":
                return NumericBins(
                    d["name"],
                    tuple(d["edges"]),
                    tuple(d["shares"]),
                    bool(d.get("missing", False)),
                )
            return CategoryBins(
                d["name"], tuple(d["buckets"]), tuple(d["shares"]), tuple(d["other"])
            )

        def slice_rules(d: dict) -> SliceRules:
            return SliceRules(
                int(d["min_support"]), float(d["f1_margin"]), int(d["min_positives"])
            )

        def group(d: dict) -> SliceGroup:
            edges = d["band_edges"]
            return SliceGroup(
                feature=d["feature"],
                source=d["source"],
                values=tuple(d["values"]),
                band_edges=None if edges is None else tuple(edges),
                support=tuple(d["support"]),
                positive_rate=tuple(d["positive_rate"]),
                f1=tuple(d["f1"]),
                too_small=tuple(d["too_small"]),
                class_rates=tuple(tuple(r) for r in d.get("class_rates", ())),
                mean_prediction=tuple(d.get("mean_prediction", ())),
            )

        def prediction(d: dict) -> NumericBins | ClassBins:
            if "classes" in d:
                return ClassBins(d["name"], tuple(d["classes"]), tuple(d["shares"]))
            return NumericBins(d["name"], tuple(d["edges"]), tuple(d["shares"]))

        def optional(key: str) -> float | None:
            return None if data.get(key) is None else float(data[key])

        p, rules = data["prediction"], data.get("slice_rules")
        return cls(
            rows=int(data["rows"]),
            features=tuple(bins(d) for d in data["features"]),
            prediction=prediction(p),
            prediction_rows=int(data["prediction_rows"]),
            positive_rate=optional("positive_rate"),
            slices=tuple(group(d) for d in data["slices"]),
            slice_rules=None if rules is None else slice_rules(rules),
            task=data.get("task", BINARY),
            mean_prediction=optional("mean_prediction"),
        )


def read_profile(model) -> Profile | None:
    """The reference profile of a loaded bundle (re-verified against its SHA-256), or
    None when the bundle has none (trained before profiles existed)."""
    from bundle.store import verified_bytes

    entry = model.metadata.entry(REFERENCE_PROFILE)
    if entry is None:
        return None
    data = verified_bytes(model.path, entry)
    try:
        return Profile.from_json(json.loads(data))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{model.path / entry.file} is invalid: {exc!r}") from exc
