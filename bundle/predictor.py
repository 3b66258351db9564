"""The prediction core: validated records in, predictions out. No HTTP here.

One predictor per task (`predictor_for`): binary (the label by the threshold and the
positive class's probability), multiclass (the most probable class, its probability and
every class's), regression (the value).

A category the model was not fitted on as itself (a rare one, grouped; an unseen one a
feature lets through) is given its model value here (`FeatureRule.model_value`), so every
engine, and every caller (the API, batch scoring, evaluation), scores it the same way.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from bundle.engines import Engine
from bundle.format import MULTICLASS, REGRESSION, Example, Target
from bundle.rules import FeatureRule


class Prediction(NamedTuple):
    """One scored record (a named tuple: built fast, thousands at a time): the class and
    its probability (the positive class's for a binary model; multiclass: the predicted
    class's, and every class's by name), or a regression's value."""

    label: str | None
    probability: float | None
    probabilities: dict[str, float] | None = None
    value: float | None = None


class Predictor:
    """Scores records with a binary bundle's engine and names the class for display."""

    def __init__(
        self, engine: Engine, target: Target, features: Sequence[FeatureRule] = ()
    ) -> None:
        self.engine = engine
        self.target = target
        # Only the features that change some value: none costs nothing.
        self._remapped = [(r.name, r) for r in features if r.remaps]
        self.setup(target)

    def setup(self, target: Target) -> None:
        """The task's own view of the target (a binary one's threshold and names)."""
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

    def model_record(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        """A record with each category as the model takes it."""
        if not self._remapped:
            return record
        out = dict(record)
        for name, rule in self._remapped:
            out[name] = rule.model_value(out[name])
        return out

    def model_columns(
        self, columns: Mapping[str, Sequence[Any]]
    ) -> Mapping[str, Sequence[Any]]:
        """Column arrays with each category as the model takes it."""
        if not self._remapped:
            return columns
        out = dict(columns)
        for name, rule in self._remapped:
            out[name] = rule.model_values(out[name])
        return out

    def proba_one(self, record: Mapping[str, Any]):
        return self.engine.proba_one(self.model_record(record))

    def proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if self._remapped:
            records = [self.model_record(r) for r in records]
        return self.engine.proba_records(records)

    def proba_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        return self.engine.proba_columns(self.model_columns(columns))

    def recorded(self, example: Example) -> tuple[float, float]:
        """What the model scores for a published example, and what was recorded."""
        return self.proba_one(example.record), example.probability

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


class MulticlassPredictor(Predictor):
    """The most probable class of a multiclass bundle, and every class's probability."""

    def setup(self, target: Target) -> None:
        self.names = list(target.class_names)

    def prediction(self, row: list[float]) -> Prediction:
        """One record's probabilities (in class order) as a prediction."""
        best = max(range(len(row)), key=row.__getitem__)
        return Prediction(self.names[best], row[best], dict(zip(self.names, row)))

    def predict_one(self, record: Mapping[str, Any]) -> Prediction:
        return self.prediction(self.proba_one(record).tolist())

    def predictions(self, proba: Iterable) -> list[Prediction]:
        return [self.prediction(row) for row in np.asarray(proba).tolist()]

    def recorded(self, example: Example) -> tuple[float, float]:
        """The probability the model gives the example's class, and the recorded one."""
        row = self.proba_one(example.record).tolist()
        return row[self.names.index(example.prediction)], example.probability


class RegressionPredictor(Predictor):
    """The predicted value of a regression bundle."""

    def setup(self, target: Target) -> None:
        pass

    def predict_one(self, record: Mapping[str, Any]) -> Prediction:
        return Prediction(None, None, None, self.proba_one(record))

    def predictions(self, values: Iterable[float]) -> list[Prediction]:
        return [
            Prediction(None, None, None, v)
            for v in np.asarray(values, dtype=float).tolist()
        ]

    def recorded(self, example: Example) -> tuple[float, float]:
        return self.proba_one(example.record), example.value


def predictor_for(
    engine: Engine, target: Target, features: Sequence[FeatureRule] = ()
) -> Predictor:
    """The predictor of the target's task."""
    kind = {MULTICLASS: MulticlassPredictor, REGRESSION: RegressionPredictor}
    return kind.get(target.task, Predictor)(engine, target, features)
