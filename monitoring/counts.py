"""Live drift: every scored record counted into the training reference's bins.

Each worker process keeps one vector of counts (every feature's bins, the prediction's
bins, each slice's records and outcome, the records total and outcome). The outcome is
the task's: records predicted positive (binary), records predicted each class
(multiclass) or the sum of the predicted values (regression: the vector holds floats).
Under gunicorn the vector lives in a file of PROMETHEUS_MULTIPROC_DIR, mapped into
memory, so a scrape on any worker adds up every worker's counts. Counting a record is a
handful of list lookups and in-place additions (a batch: one numpy pass per feature);
the drift figures (PSI per feature and of the prediction, per slice the predicted-positive
rate, each class's rate or the mean prediction) are computed when
someone asks: a scrape of /metrics or GET /monitoring, or `make monitor` (which counts
captured records with this same code, so the report and /monitoring agree).
"""

from __future__ import annotations

import errno
import math
import mmap
import os
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from bundle.format import MULTICLASS, REGRESSION
from monitoring.profile import NumericBins, Profile
from monitoring.stability import psi, psi_status, smoothed_shares

FILE_PREFIX = "drift-counts-"
FILE_SUFFIX = ".bin"


def allocate(fd: int, nbytes: int) -> None:
    """Give the file its disk blocks now: on a full disk this raises OSError, where a
    count written through the map into a hole would kill the worker (SIGBUS)."""
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except AttributeError:  # not Linux: a sparse file, as before
        os.ftruncate(fd, nbytes)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        os.ftruncate(fd, nbytes)  # a file system that cannot allocate ahead


class CountStore:
    """This process's count vector, in memory or in a file other processes can read.

    The file is made lazily by the process that first counts (a gunicorn worker, after
    the fork), named after its pid, and kept when the worker exits: counts are counters.
    """

    def __init__(
        self, size: int, directory: str = "", dtype=np.int64, prefix=FILE_PREFIX
    ) -> None:
        self.size = size
        self.prefix = prefix
        self.dtype = np.dtype(dtype)
        self.directory = Path(directory) if directory else None
        self._pid = -1
        self._array: np.ndarray | None = None
        self._view: memoryview | None = None

    def clear(self) -> None:
        """Remove an earlier run's files (called once, in the server's master)."""
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            for path in self.directory.glob(f"{self.prefix}*{FILE_SUFFIX}"):
                path.unlink(missing_ok=True)

    def _open(self) -> None:
        nbytes = self.size * 8
        if self.directory is None:
            buffer: Any = bytearray(nbytes)
        else:
            path = self.directory / f"{self.prefix}{os.getpid()}{FILE_SUFFIX}"
            # Not O_APPEND: glibc's fallocate emulation refuses appending descriptors.
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                allocate(fd, nbytes)
                buffer = mmap.mmap(fd, nbytes)
            finally:
                os.close(fd)
        self._array = np.frombuffer(buffer, dtype=self.dtype)
        self._view = memoryview(buffer).cast(self.dtype.char)
        self._pid = os.getpid()

    def view(self) -> memoryview:
        """This process's counts as a memoryview (fast single-item updates)."""
        if self._pid != os.getpid():
            self._open()
        return self._view

    def array(self) -> np.ndarray:
        """This process's counts as a numpy array (vectorised updates)."""
        if self._pid != os.getpid():
            self._open()
        return self._array

    def total(self) -> np.ndarray:
        """Every process's counts added up."""
        if self.directory is None:
            return self.array().copy()
        total = np.zeros(self.size, dtype=self.dtype)
        for path in self.directory.glob(f"{self.prefix}*{FILE_SUFFIX}"):
            counts = np.fromfile(path, dtype=self.dtype)
            if counts.shape == total.shape:  # a file being created is skipped
                total += counts
        return total


def outcome_width(profile: Profile) -> int:
    """Slots per outcome: one per class (multiclass), else one (the predicted
    positives, or the sum of the predicted values)."""
    return len(profile.prediction.shares) if profile.task == MULTICLASS else 1


@dataclass(frozen=True)
class Layout:
    """Where each figure sits in the count vector."""

    features: tuple[tuple[int, int], ...]  # (offset, bins) per feature
    prediction: int
    # (records offset, outcomes offset) per group: value i's outcome at outcomes + i * w
    slices: tuple[tuple[int, int], ...]
    total: int  # records counted; the next `width` slots: their outcome
    size: int
    width: int = 1

    @property
    def positives(self) -> int:
        """Where the outcome of every record starts (binary: the predicted positives)."""
        return self.total + 1

    @classmethod
    def of(cls, profile: Profile) -> "Layout":
        at, features, slices, w = 0, [], [], outcome_width(profile)
        for bins in profile.features:
            features.append((at, len(bins.shares)))
            at += len(bins.shares)
        prediction, at = at, at + len(profile.prediction.shares)
        for group in profile.slices:
            n = len(group.values)
            slices.append((at, at + n))
            at += n + n * w
        return cls(tuple(features), prediction, tuple(slices), at, at + 1 + w, w)


class DriftCounter:
    """Counts scored records against the reference profile; reports the drift.

    A record's score is the task's: the positive class's probability (binary), the
    predicted class's index (multiclass) or the predicted value (regression);
    `score` reads it from a prediction."""

    def __init__(self, profile: Profile, threshold: float, directory: str = "") -> None:
        self.profile = profile
        self.task = profile.task
        self.threshold = float(threshold)
        self.layout = layout = Layout.of(profile)
        dtype = np.float64 if self.task == REGRESSION else np.int64
        self.store = CountStore(layout.size, directory, dtype)
        labels = profile.prediction.labels
        self._class_index = {name: i for i, name in enumerate(labels)}
        self._features = [
            (offset, bins.name, bins.bin_one, bins.bins)
            for (offset, _), bins in zip(layout.features, profile.features)
        ]
        self._slices = [
            (records, positives, group.source, group.index_one, group.indices)
            for (records, positives), group in zip(layout.slices, profile.slices)
        ]
        self._prediction_edges = list(getattr(profile.prediction, "edges", ()))
        self._plan()
        self._names = [b.name for b in profile.features]
        self._getter = itemgetter(*self._names)

    # -- counting (the hot path) ------------------------------------------------------

    def _plan(self) -> None:
        """Precompute, per record field, the count slots each value adds to: one dict
        lookup per categorical field, two bisections per numeric field."""
        layout, profile = self.layout, self.profile
        by_source: dict[str, list] = {}
        for (records, positives), group in zip(layout.slices, profile.slices):
            by_source.setdefault(group.source, []).append((records, positives, group))
        self._categorical, self._numeric = [], []
        w = layout.width
        for (offset, _), bins in zip(layout.features, profile.features):
            groups = by_source.pop(bins.name, [])
            if isinstance(bins, NumericBins):
                bands = [
                    (list(g.band_edges), r, p, len(g.values) - 1, w)
                    for r, p, g in groups
                ]
                if any(g.band_edges is None for _, _, g in groups):
                    raise ValueError(f"{bins.name}: a numeric slice needs band edges")
                self._numeric.append(
                    (bins.name, list(bins.edges), offset, bins.null_bin, bands)
                )
                continue
            table = {}
            for value in {*bins._lookup, *(v for _, _, g in groups for v in g._lookup)}:
                always, when_positive = [offset + bins.bin_one(value)], []
                for r, p, g in groups:
                    i = g.index_one(value)
                    if i >= 0:
                        always.append(r + i)
                        when_positive.append(p + i * w)
                table[value] = (tuple(always), tuple(when_positive))
            default = ((offset + bins.unknown,), ())
            self._categorical.append((bins.name, table, default))
        if by_source:
            raise ValueError(f"slices of {sorted(by_source)}, which is no feature")

    def score(self, label: str | None, probability: float | None, value=None):
        """A prediction's score as the counter takes it (its class's index for a
        multiclass model, by display name)."""
        if self.task == MULTICLASS:
            return self._class_index[label]
        return value if self.task == REGRESSION else probability

    def outcome(self, score) -> tuple[int, int, float]:
        """A score's prediction bin, outcome slot (from an outcome's start) and what it
        adds there (0: nothing; binary: 1 when predicted positive)."""
        if self.task == MULTICLASS:
            return score, score, 1
        at = bisect_left(self._prediction_edges, score)
        if self.task == REGRESSION:
            return at, 0, score
        return at, 0, int(score >= self.threshold)

    def count_one(self, record: Mapping[str, Any], score) -> None:
        """Count one validated record and its score."""
        counts = self.store.view()
        layout = self.layout
        at, shift, weight = self.outcome(score)
        counts[layout.prediction + at] += 1
        for name, table, default in self._categorical:
            always, outcomes = table.get(record[name], default)
            for slot in always:
                counts[slot] += 1
            if weight:
                for slot in outcomes:
                    counts[slot + shift] += weight
        for name, edges, offset, null_bin, bands in self._numeric:
            value = record[name]
            if value is None:  # a nullable number: its bin as count_many's NaN
                counts[offset + null_bin] += 1
                value = math.inf  # in no band: the bands' last value ("other")
            else:
                counts[offset + bisect_left(edges, value)] += 1
            for band_edges, records, outcomes, other, w in bands:
                i = bisect_right(band_edges, value) - 1
                if not 0 <= i < other:
                    i = other
                counts[records + i] += 1
                if weight:
                    counts[outcomes + i * w + shift] += weight
        counts[layout.total] += 1
        if weight:
            counts[layout.positives + shift] += weight

    def outcomes(self, scores: np.ndarray):
        """count_many's `outcome`: prediction bins, outcome slots and what each adds."""
        if self.task == MULTICLASS:
            at = scores.astype(np.int64)
            return at, at, np.ones(len(at), np.int64)
        at = np.searchsorted(self._prediction_edges, scores, side="left")
        if self.task == REGRESSION:
            return at, np.zeros(len(at), np.int64), scores
        return at, np.zeros(len(at), np.int64), (scores >= self.threshold).astype(int)

    def count_many(self, records: Sequence[Mapping[str, Any]], scores) -> None:
        """Count validated records and their scores (vectorised: one numpy pass per
        feature)."""
        n = len(records)
        if not n:
            return
        rows = map(self._getter, records)
        columns = dict(zip(self._names, zip(*rows) if len(self._names) > 1 else [rows]))
        at, shift, weight = self.outcomes(np.asarray(scores, dtype=np.float64))
        layout = self.layout
        found = [
            bins(columns[name]) + offset for offset, name, _, bins in self._features
        ]
        found.append(at + layout.prediction)
        adds = weight != 0
        slots, weights = [shift[adds] + layout.positives], [weight[adds]]
        for records_at, outcomes_at, source, _, indices in self._slices:
            i = indices(columns[source])
            hit = i >= 0
            found.append(i[hit] + records_at)
            pick = hit & adds
            slots.append(i[pick] * layout.width + shift[pick] + outcomes_at)
            weights.append(weight[pick])
        counts = self.store.array()
        if self.task == REGRESSION:  # sums of values: a weighted count
            joined = np.concatenate(slots)
            counts += np.bincount(joined, np.concatenate(weights), layout.size)
        else:  # each outcome adds 1
            found += slots
        counts += np.bincount(np.concatenate(found), minlength=layout.size)
        counts[layout.total] += n

    # -- reporting (when asked) -------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """Drift per feature (worst first), prediction drift and slice positive rates,
        from every worker's counts."""
        counts = self.store.total()
        layout, profile = self.layout, self.profile
        features = []
        for (offset, n), bins in zip(layout.features, profile.features):
            live = counts[offset : offset + n]
            drift = psi(bins.shares, live, profile.rows)
            features.append(
                {
                    "name": bins.name,
                    "kind": "numeric" if isinstance(bins, NumericBins) else "category",
                    "psi": drift,
                    "status": psi_status(drift),
                    "bins": bin_figures(bins.labels, bins.shares, live, profile.rows),
                }
            )
        features.sort(key=lambda f: -(f["psi"] or 0.0))
        return {
            "records": int(counts[layout.total]),
            "features": features,
            "prediction": self.prediction_figures(counts),
            "slices": [
                self.slice_figures(group, counts, r, p)
                for (r, p), group in zip(layout.slices, profile.slices)
            ],
        }

    def prediction_figures(self, counts: np.ndarray) -> dict[str, Any]:
        """The prediction's PSI and bins, with the task's overall figure: the
        predicted-positive rate (binary) or the mean prediction (regression)."""
        layout, profile = self.layout, self.profile
        pred = profile.prediction
        live = counts[layout.prediction : layout.prediction + len(pred.shares)]
        records = int(counts[layout.total])
        drift = psi(pred.shares, live, profile.prediction_rows)
        out: dict[str, Any] = {"psi": drift, "status": psi_status(drift)}
        outcome = float(counts[layout.positives])
        if self.task == REGRESSION:
            out["mean_prediction"] = outcome / records if records else None
            out["reference_mean_prediction"] = profile.mean_prediction
        elif self.task != MULTICLASS:  # binary: the class shares are its bins
            out["positive_rate"] = int(outcome) / records if records else None
            out["reference_positive_rate"] = profile.positive_rate
        out["bins"] = bin_figures(
            pred.labels, pred.shares, live, profile.prediction_rows
        )
        return out

    def slice_figures(self, group, counts: np.ndarray, records: int, outcomes: int):
        """One feature's slices by the task's figure."""
        n, w = len(group.values), self.layout.width
        live = counts[records : records + n]
        if self.task == MULTICLASS:
            per_class = counts[outcomes : outcomes + n * w].reshape(n, w)
            classes = self.profile.prediction.labels
            return class_slice_figures(group, live, per_class, classes)
        if self.task == REGRESSION:
            return mean_slice_figures(group, live, counts[outcomes : outcomes + n])
        return slice_figures(group, live, counts[outcomes:])


def bin_figures(labels, shares, counts, rows: int) -> list[dict[str, Any]]:
    """One feature's bins: reference share (as is, and smoothed as PSI takes it),
    live records and live share."""
    total = int(np.sum(counts))
    smoothed = smoothed_shares(shares, rows).tolist()
    return [
        {
            "bin": label,
            "reference_share": share,
            "reference_smoothed": q,
            "records": int(c),
            "share": (int(c) / total) if total else None,
        }
        for label, share, q, c in zip(labels, shares, smoothed, counts)
    ]


def two_proportion_z(x1: float, n1: int, x2: float, n2: int) -> float | None:
    """z of the difference between two rates (pooled standard error); None when either
    side is empty or the pooled rate is 0 or 1 with no difference."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0
    return (x1 / n1 - x2 / n2) / se


def slice_figures(group, records, positives) -> dict[str, Any]:
    """One feature's slices: live records and positive rate against the reference."""
    values = []
    for i, value in enumerate(group.values):
        n, k = int(records[i]), int(positives[i])
        ref_rate, ref_n = group.positive_rate[i], group.support[i]
        rate = k / n if n else None
        z = None
        if ref_rate is not None and n:
            z = two_proportion_z(k, n, ref_rate * ref_n, ref_n)
        values.append(
            {
                "value": value,
                "records": n,
                "predicted_positive": k,
                "positive_rate": rate,
                "reference_positive_rate": ref_rate,
                "reference_support": ref_n,
                "z": z,
            }
        )
    return {"feature": group.feature, "values": values}


def class_slice_figures(group, records, predicted, classes) -> dict[str, Any]:
    """A multiclass model's slices: each class's live predicted rate against the
    reference, as a binary model's positive rate."""
    values = []
    for i, value in enumerate(group.values):
        n, ref_n = int(records[i]), group.support[i]
        rates = []
        for c, name in enumerate(classes):
            k, ref_rate = int(predicted[i, c]), group.class_rates[i][c]
            z = None
            if ref_rate is not None and n:
                z = two_proportion_z(k, n, ref_rate * ref_n, ref_n)
            rates.append(
                {
                    "class": name,
                    "predicted": k,
                    "rate": k / n if n else None,
                    "reference_rate": ref_rate,
                    "z": z,
                }
            )
        values.append(
            {"value": value, "records": n, "reference_support": ref_n, "classes": rates}
        )
    return {"feature": group.feature, "values": values}


def mean_slice_figures(group, records, sums) -> dict[str, Any]:
    """A regression model's slices: the live mean prediction against the reference."""
    values = []
    for i, value in enumerate(group.values):
        n = int(records[i])
        values.append(
            {
                "value": value,
                "records": n,
                "mean_prediction": float(sums[i]) / n if n else None,
                "reference_mean_prediction": group.mean_prediction[i],
                "reference_support": group.support[i],
            }
        )
    return {"feature": group.feature, "values": values}
