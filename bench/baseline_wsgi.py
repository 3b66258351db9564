"""Bench only: the production server with the model swapped for a constant answer.

Same gunicorn config, same app factory, same schema validation and response building;
only the predictor is replaced, so HTTP throughput against this app is the ceiling that
the real server's figure is compared with ("validation alone, no model").
"""

import dataclasses
from pathlib import Path

from service import create_app
from service.config import from_env
from service.model_store import load_model
from service.predictor import Prediction


class ConstantPredictor:
    """Answers every record with one fixed prediction, without running a model."""

    def __init__(self, label: str, probability: float) -> None:
        self.answer = Prediction(label, probability)

    def predict_one(self, record):
        return self.answer

    def predict_many(self, records):
        return [self.answer] * len(records)


def create_baseline_app():
    """The app over the real bundle's metadata (schema, version) but a constant model."""
    model = load_model(Path(from_env()["MODEL_DIR"]))
    constant = ConstantPredictor(model.predictor.negative_label, 0.25)
    return create_app(model=dataclasses.replace(model, predictor=constant))


app = create_baseline_app()
