"""Live drift: every scored record counted into the training reference's bins.

Each worker process keeps one vector of counts (every feature's bins, the predicted
probability's bins, each slice's records and predicted positives, the records total).
Under gunicorn the vector lives in a file of PROMETHEUS_MULTIPROC_DIR, mapped into
memory, so a scrape on any worker adds up every worker's counts. Counting a record is a
handful of list lookups and in-place additions (a batch: one numpy pass per feature);
the drift figures (PSI per feature, predicted-positive rate per slice) are computed when
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

    def __init__(self, size: int, directory: str = "") -> None:
        self.size = size
        self.directory = Path(directory) if directory else None
        self._pid = -1
        self._array: np.ndarray | None = None
        self._view: memoryview | None = None

    def clear(self) -> None:
        """Remove an earlier run's files (called once, in the server's master)."""
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            for path in self.directory.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"):
                path.unlink(missing_ok=True)

    def _open(self) -> None:
        nbytes = self.size * 8
        if self.directory is None:
            buffer: Any = bytearray(nbytes)
        else:
            path = self.directory / f"{FILE_PREFIX}{os.getpid()}{FILE_SUFFIX}"
            # Not O_APPEND: glibc's fallocate emulation refuses appending descriptors.
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                allocate(fd, nbytes)
                buffer = mmap.mmap(fd, nbytes)
            finally:
                os.close(fd)
        self._array = np.frombuffer(buffer, dtype=np.int64)
        self._view = memoryview(buffer).cast("q")
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
        total = np.zeros(self.size, dtype=np.int64)
        for path in self.directory.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"):
            counts = np.fromfile(path, dtype=np.int64)
            if counts.shape == total.shape:  # a file being created is skipped
                total += counts
        return total


@dataclass(frozen=True)
class Layout:
    """Where each figure sits in the count vector."""

    features: tuple[tuple[int, int], ...]  # (offset, bins) per feature
    prediction: int
    slices: tuple[tuple[int, int], ...]  # (records offset, positives offset) per group
    total: int  # records counted; the next slot: those predicted positive
    size: int

    @property
    def positives(self) -> int:
        return self.total + 1

    @classmethod
    def of(cls, profile: Profile) -> "Layout":
        at, features, slices = 0, [], []
        for bins in profile.features:
            features.append((at, len(bins.shares)))
            at += len(bins.shares)
        prediction, at = at, at + len(profile.prediction.shares)
        for group in profile.slices:
            n = len(group.values)
            slices.append((at, at + n))
            at += 2 * n
        return cls(tuple(features), prediction, tuple(slices), at, at + 2)


class DriftCounter:
    """Counts scored records against the reference profile; reports the drift."""

    def __init__(self, profile: Profile, threshold: float, directory: str = "") -> None:
        self.profile = profile
        self.threshold = float(threshold)
        self.layout = layout = Layout.of(profile)
        self.store = CountStore(layout.size, directory)
        self._features = [
            (offset, bins.name, bins.bin_one, bins.bins)
            for (offset, _), bins in zip(layout.features, profile.features)
        ]
        self._slices = [
            (records, positives, group.source, group.index_one, group.indices)
            for (records, positives), group in zip(layout.slices, profile.slices)
        ]
        self._prediction_edges = list(profile.prediction.edges)
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
        for (offset, _), bins in zip(layout.features, profile.features):
            groups = by_source.pop(bins.name, [])
            if isinstance(bins, NumericBins):
                bands = [
                    (list(g.band_edges), r, p, len(g.values) - 1) for r, p, g in groups
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
                        when_positive.append(p + i)
                table[value] = (tuple(always), tuple(when_positive))
            default = ((offset + bins.unknown,), ())
            self._categorical.append((bins.name, table, default))
        if by_source:
            raise ValueError(f"slices of {sorted(by_source)}, which is no feature")

    def count_one(self, record: Mapping[str, Any], probability: float) -> None:
        """Count one validated record and its positive-class probability."""
        counts = self.store.view()
        layout = self.layout
        counts[
            layout.prediction + bisect_left(self._prediction_edges, probability)
        ] += 1
        positive = probability >= self.threshold
        for name, table, default in self._categorical:
            always, when_positive = table.get(record[name], default)
            for slot in always:
                counts[slot] += 1
            if positive:
                for slot in when_positive:
                    counts[slot] += 1
        for name, edges, offset, null_bin, bands in self._numeric:
            value = record[name]
            if value is None:  # a nullable number: its bin as count_many's NaN
                counts[offset + null_bin] += 1
                value = math.inf  # in no band: the bands' last value ("other")
            else:
                counts[offset + bisect_left(edges, value)] += 1
            for band_edges, records, positives, other in bands:
                i = bisect_right(band_edges, value) - 1
                if not 0 <= i < other:
                    i = other
                counts[records + i] += 1
                if positive:
                    counts[positives + i] += 1
        counts[layout.total] += 1
        if positive:
            counts[layout.positives] += 1

    def count_many(
        self, records: Sequence[Mapping[str, Any]], probabilities: np.ndarray
    ) -> None:
        """Count validated records (vectorised: one numpy pass per feature)."""
        n = len(records)
        if not n:
            return
        rows = map(self._getter, records)
        columns = dict(zip(self._names, zip(*rows) if len(self._names) > 1 else [rows]))
        proba = np.asarray(probabilities, dtype=np.float64)
        layout = self.layout
        found = [
            bins(columns[name]) + offset for offset, name, _, bins in self._features
        ]
        found.append(
            np.searchsorted(self._prediction_edges, proba, side="left")
            + layout.prediction
        )
        positive = proba >= self.threshold
        for records_at, positives_at, source, _, indices in self._slices:
            i = indices(columns[source])
            hit = i >= 0
            found += [i[hit] + records_at, i[hit & positive] + positives_at]
        counts = self.store.array()
        counts += np.bincount(np.concatenate(found), minlength=layout.size)
        counts[layout.total] += n
        counts[layout.positives] += int(np.count_nonzero(positive))

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
        pred = profile.prediction
        live = counts[layout.prediction : layout.prediction + len(pred.shares)]
        records = int(counts[layout.total])
        positives = int(counts[layout.positives])
        drift = psi(pred.shares, live, profile.prediction_rows)
        return {
            "records": records,
            "features": features,
            "prediction": {
                "psi": drift,
                "status": psi_status(drift),
                "positive_rate": positives / records if records else None,
                "reference_positive_rate": profile.positive_rate,
                "bins": bin_figures(
                    pred.labels, pred.shares, live, profile.prediction_rows
                ),
            },
            "slices": [
                slice_figures(group, counts[r : r + len(group.values)], counts[p:])
                for (r, p), group in zip(layout.slices, profile.slices)
            ],
        }


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
