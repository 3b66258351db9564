"""The prediction core: validated records in, labelled probabilities out. No HTTP here."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from bundle.engines import Engine
from bundle.format import Target


class Prediction(NamedTuple):
    """One scored record (a named tuple: built fast, thousands at a time)."""

    label: str
    probability: float


class Predictor:
    """Scores records with the bundle's engine and names the class for display."""

    def __init__(self, engine: Engine, target: Target) -> None:
        self.engine = engine
        self.target = target
        self.threshold = float(target.threshold)
        self.positive_label = target.positive_name
        self.negative_label = target.negative_name

    @property
    def graph(self) -> str:
        """The bundle role of the graph that scores (classifier or whole pipeline)."""
        return self.engine.graph

    def label(self, probability: float) -> str:
        """The class display name for a positive-class probability."""
        if probability >= self.threshold:
            return self.positive_label
        return self.negative_label

    def labels(self, proba: np.ndarray) -> np.ndarray:
        """Display names for an array of probabilities (vectorised)."""
        names = np.array([self.negative_label, self.positive_label], dtype=object)
        return names[(np.asarray(proba) >= self.threshold).astype(np.int8)]

    def proba_one(self, record: Mapping[str, Any]) -> float:
        return self.engine.proba_one(record)

    def proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.engine.proba_records(records)

    def proba_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        return self.engine.proba_columns(columns)

    def predict_one(self, record: Mapping[str, Any]) -> Prediction:
        """Score one validated record."""
        p = self.engine.proba_one(record)
        return Prediction(self.label(p), p)

    def predict_many(self, records: Sequence[Mapping[str, Any]]) -> list[Prediction]:
        """Score validated records in order."""
        return self.predictions(self.engine.proba_records(records))

    def predictions(self, proba: Iterable[float]) -> list[Prediction]:
        """Wrap probabilities as labelled predictions."""
        label = self.label
        return [
            Prediction(label(p), p) for p in np.asarray(proba, dtype=float).tolist()
        ]
