"""The fitted preprocessing as plain data: records in, the classifier's dense matrix out.

The bundle can carry a second ONNX graph holding the classifier alone, together with this
encoding (numeric offsets and scales, the one-hot column of every known category), both
taken from the fitted Pipeline at training time. Encoding a record here and running that
small graph skips the dozens of tiny string-handling nodes of the whole-Pipeline graph;
training proves on the whole test split that the result is the Pipeline's (parity gate).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


class DenseEncoder:
    """Builds the float32 matrix the classifier was trained on, from validated records."""

    def __init__(self, encoding: Mapping[str, Any]) -> None:
        self.width = int(encoding["width"])
        # (feature, column, offset, scale): value -> (value - offset) / scale
        self.numeric = [
            (n["name"], int(n["column"]), float(n["offset"]), float(n["scale"]))
            for n in encoding["numeric"]
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

    def encode_one(self, record: Mapping[str, Any]) -> np.ndarray:
        """A [1, width] matrix for one record."""
        x = np.zeros((1, self.width), dtype=np.float32)
        row = x[0]
        for name, column, offset, scale in self.numeric:
            row[column] = (record[name] - offset) / scale
        for name, columns in self.categorical:
            column = columns.get(record[name])
            if column is not None:
                row[column] = 1.0
        return x

    def encode_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """An [n, width] matrix from column arrays (feature name -> values)."""
        n = len(columns[self.numeric[0][0] if self.numeric else self.categorical[0][0]])
        x = np.zeros((n, self.width), dtype=np.float32)
        for name, column, offset, scale in self.numeric:
            x[:, column] = (
                np.asarray(columns[name], dtype=np.float64) - offset
            ) / scale
        rows = np.arange(n)
        for name, lookup in self.categorical:
            hit = np.fromiter(
                (lookup.get(v, -1) for v in columns[name]), dtype=np.int64, count=n
            )
            found = hit >= 0
            x[rows[found], hit[found]] = 1.0
        return x
