"""The fitted preprocessing as plain data: records in, the classifier's dense matrix out.

The bundle can carry a second ONNX graph holding the classifier alone, together with this
encoding (numeric offsets and scales, an imputed numeric's fill value and missing
indicator column, the one-hot column of every known category), both
taken from the fitted Pipeline at training time. Encoding a record here and running that
small graph skips the dozens of tiny string-handling nodes of the whole-Pipeline graph;
training proves on the whole test split that the result is the Pipeline's (parity gate).
"""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter
from typing import Any, Callable, Mapping, Sequence

import numpy as np


def tuple_getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple]:
    """record -> tuple of its values for `names` (a C-level itemgetter when it can)."""
    if len(names) == 1:
        name = names[0]
        return lambda record: (record[name],)
    return itemgetter(*names) if names else lambda record: ()


def indicator_of(entry: Mapping[str, Any] | None) -> tuple[int, float, float] | None:
    """An imputed numeric's indicator as (column, offset, scale), or None."""
    if entry is None:
        return None
    return int(entry["column"]), float(entry["offset"]), float(entry["scale"])


class DenseEncoder:
    """Builds the float32 matrix the classifier was trained on, from validated records."""

    def __init__(self, encoding: Mapping[str, Any]) -> None:
        self.width = int(encoding["width"])
        # (feature, column, offset, scale): value -> (value - offset) / scale
        self.numeric = [
            (n["name"], int(n["column"]), float(n["offset"]), float(n["scale"]))
            for n in encoding["numeric"]
            if "fill" not in n
        ]
        # (feature, column, offset, scale, fill, indicator): null is `fill`, and the
        # indicator (column, offset, scale), when there is one, is 1 for null else 0.
        self.imputed = [
            (
                n["name"],
                int(n["column"]),
                float(n["offset"]),
                float(n["scale"]),
                float(n["fill"]),
                indicator_of(n.get("indicator")),
            )
            for n in encoding["numeric"]
            if "fill" in n
        ]
        missing = encoding["missing"]
        # (feature, {category or None: column}); an unknown category sets no column,
        # a missing one (None) the column of the imputed category, as in the Pipeline.
        self.categorical = []
        for c in encoding["categorical"]:
            columns: dict[Any, int] = {k: int(v) for k, v in c["columns"].items()}
            if missing in columns:
                columns[None] = columns[missing]
            self.categorical.append((c["name"], columns))
        # For whole batches: every record's values pulled in C, then one column each.
        self._names = [n for n, *_ in self.numeric + self.imputed] + [
            n for n, _ in self.categorical
        ]
        self._values = tuple_getter(self._names)

    def encode_one(self, record: Mapping[str, Any]) -> np.ndarray:
        """A [1, width] matrix for one record."""
        x = np.zeros((1, self.width), dtype=np.float32)
        row = x[0]
        for name, column, offset, scale in self.numeric:
            row[column] = (record[name] - offset) / scale
        for name, column, offset, scale, fill, indicator in self.imputed:
            value = record[name]
            row[column] = ((fill if value is None else value) - offset) / scale
            if indicator is not None:
                at, ind_offset, ind_scale = indicator
                row[at] = ((value is None) - ind_offset) / ind_scale
        for name, columns in self.categorical:
            column = columns.get(record[name])
            if column is not None:
                row[column] = 1.0
        return x

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """An [n, width] matrix for a list of records."""
        columns = zip(*map(self._values, records)) if records else repeat(())
        return self.encode_columns(dict(zip(self._names, columns)))

    def _set_one_hot(self, x: np.ndarray, lookups_and_values) -> None:
        """Set the one-hot column of each row's category, feature by feature."""
        n = x.shape[0]
        rows = np.arange(n)
        for (_, lookup), values in lookups_and_values:
            hit = np.fromiter(map(lookup.get, values, repeat(-1, n)), np.int64, n)
            found = hit >= 0
            x[rows[found], hit[found]] = 1.0

    def encode_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """An [n, width] matrix from column arrays (feature name -> values)."""
        n = len(columns[self._names[0]])
        x = np.zeros((n, self.width), dtype=np.float32)
        for name, column, offset, scale in self.numeric:
            values = np.asarray(columns[name], dtype=np.float64)
            x[:, column] = (values - offset) / scale
        for name, column, offset, scale, fill, indicator in self.imputed:
            values = np.asarray(columns[name], dtype=np.float64)  # null as NaN
            missing = np.isnan(values)
            x[:, column] = (np.where(missing, fill, values) - offset) / scale
            if indicator is not None:
                at, ind_offset, ind_scale = indicator
                x[:, at] = (missing - ind_offset) / ind_scale
        values = (columns[name] for name, _ in self.categorical)
        self._set_one_hot(x, zip(self.categorical, values))
        return x
