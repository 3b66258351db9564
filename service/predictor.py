"""The prediction core: validated records in, probabilities out. Knows nothing of HTTP.

It runs the ONNX export of the trained scikit-learn Pipeline (preprocessing included) with
onnxruntime: a one-row pandas round trip through scikit-learn costs milliseconds, this
costs tens of microseconds, and the training stage proves both give the same answers.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

# The ONNX graph replaces this string with the imputer's "missing" category; a missing
# (None) categorical value is sent as it.
MISSING_INPUT = ""


class Prediction(NamedTuple):
    """One scored record (a named tuple: built fast, thousands at a time)."""

    label: str
    probability: float


class Predictor:
    """Scores records with an onnxruntime session built from the exported Pipeline."""

    def __init__(
        self,
        session: Any,
        features: Sequence[Mapping[str, Any]],
        labels: tuple[str, str],
        threshold: float = 0.5,
        dense: tuple[Any, Any] | None = None,
    ) -> None:
        names = [i.name for i in session.get_inputs()]
        if len(names) != len(features):
            raise ValueError(
                f"model has {len(names)} inputs but metadata lists {len(features)} features"
            )
        self._session = session
        # (ONNX input name, feature name, is_numeric), in the graph's input order.
        self._inputs = [
            (name, f["name"], f["kind"] == "numeric")
            for name, f in zip(names, features)
        ]
        # Feeds are built as one array per kind, then split into [1, 1] views: two
        # allocations per record instead of fourteen (see docs/performance.md).
        self._numeric = [(n, f) for n, f, numeric in self._inputs if numeric]
        self._categorical = [(n, f) for n, f, numeric in self._inputs if not numeric]
        # Only the probabilities: the graph's label output is computed but not copied out.
        self._output = ["probabilities"]
        self.negative_label, self.positive_label = labels
        self.threshold = float(threshold)
        # (session over the classifier alone, DenseEncoder): when the bundle has it,
        # records are encoded here and only the classifier runs in onnxruntime.
        self._dense = dense
        if dense is not None:
            self._dense_input = dense[0].get_inputs()[0].name

    @property
    def graph(self) -> str:
        """Which ONNX graph scores: "dense" (classifier alone) or "pipeline" (whole)."""
        return "pipeline" if self._dense is None else "dense"

    def label(self, probability: float) -> str:
        """The class label for a positive-class probability."""
        if probability >= self.threshold:
            return self.positive_label
        return self.negative_label

    def _run_dense(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities from the classifier-only graph for an encoded matrix."""
        return self._dense[0].run(self._output, {self._dense_input: x})[0]

    def proba_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Positive-class probabilities for column arrays (feature name -> values)."""
        if self._dense is not None:
            return self._run_dense(self._dense[1].encode_columns(columns))[:, 1]
        feeds = {}
        for name, feature in self._numeric:
            feeds[name] = np.asarray(columns[feature], dtype=np.float32).reshape(-1, 1)
        for name, feature in self._categorical:
            feeds[name] = np.array(
                [MISSING_INPUT if v is None else v for v in columns[feature]],
                dtype=object,
            ).reshape(-1, 1)
        return self._session.run(self._output, feeds)[0][:, 1]

    def proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Positive-class probabilities for a list of validated records."""
        if not records:
            return np.empty(0, dtype=np.float32)
        if self._dense is not None:
            return self._run_dense(self._dense[1].encode_records(records))[:, 1]
        return self.proba_columns(
            {feature: [r[feature] for r in records] for _, feature, _ in self._inputs}
        )

    def proba_one(self, record: Mapping[str, Any]) -> float:
        """Positive-class probability of one validated record."""
        if self._dense is not None:
            return float(self._run_dense(self._dense[1].encode_one(record))[0, 1])
        numbers = np.array(
            [record[f] for _, f in self._numeric], dtype=np.float32
        ).reshape(-1, 1, 1)
        strings = np.array(
            [
                MISSING_INPUT if (v := record[f]) is None else v
                for _, f in self._categorical
            ],
            dtype=object,
        ).reshape(-1, 1, 1)
        feeds = {name: numbers[i] for i, (name, _) in enumerate(self._numeric)}
        for i, (name, _) in enumerate(self._categorical):
            feeds[name] = strings[i]
        return float(self._session.run(self._output, feeds)[0][0, 1])

    def predict_one(self, record: Mapping[str, Any]) -> Prediction:
        """Score one validated record."""
        p = self.proba_one(record)
        return Prediction(self.label(p), p)

    def predict_many(self, records: Sequence[Mapping[str, Any]]) -> list[Prediction]:
        """Score validated records in order."""
        return self.predictions(self.proba_records(records))

    def predictions(self, proba: Iterable[float]) -> list[Prediction]:
        """Wrap probabilities as labelled predictions."""
        label = self.label
        return [
            Prediction(label(p), p) for p in np.asarray(proba, dtype=float).tolist()
        ]
