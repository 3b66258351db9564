"""POST /predict and POST /predict/batch: validated census records in, predictions out."""

from __future__ import annotations

from flask import Response, current_app, request
from flask_smorest import abort

from service.model_store import LoadedModel
from service.parsing import CensusBlueprint
from service.schemas import (
    BatchResponseSchema,
    PredictResponseSchema,
    batch_schema,
    record_schema,
)


def require_json() -> None:
    """415 unless the body is declared as JSON (before any parsing happens)."""
    if request.method == "POST" and not request.is_json:
        abort(415, message="Content-Type must be application/json.")


def json_response(body: dict) -> Response:
    """A ready 200 JSON response: flask-smorest passes it through without dumping it
    through the response schema again (the body is built to match that schema)."""
    return current_app.json.response(body)


def count_predictions(labels: list[str]) -> None:
    """Predictions by class for /metrics, when metrics are on."""
    metrics = current_app.extensions.get("census_metrics")
    if metrics is not None:
        metrics.count_predictions(labels)


def create_blueprint(model: LoadedModel, batch_limit: int) -> CensusBlueprint:
    """The prediction blueprint, its schemas built from the model's feature list."""
    blp = CensusBlueprint(
        "predict",
        __name__,
        url_prefix="/predict",
        description="Predict whether income exceeds $50K/yr from census data.",
    )
    blp.before_request(require_json)
    # Schema instances, not classes: given a class, webargs builds (and deep-copies the
    # fields of) a new schema on every request, which costs more than the model.
    record = record_schema(model.features)()
    batch = batch_schema(type(record), batch_limit)()
    example = model.metadata["example"]["record"]
    predictor = model.predictor
    version = model.version

    @blp.route("", methods=["POST"])
    @blp.arguments(record, example=example)
    @blp.response(200, PredictResponseSchema)
    @blp.alt_response(415, description="Content-Type is not application/json")
    def predict(data):
        """Score one census record."""
        result = predictor.predict_one(data)
        count_predictions([result.label])
        return json_response(
            {
                "prediction": result.label,
                "probability": result.probability,
                "model_version": version,
            }
        )

    @blp.route("/batch", methods=["POST"])
    @blp.arguments(batch, example={"records": [example, example]})
    @blp.response(200, BatchResponseSchema)
    @blp.alt_response(415, description="Content-Type is not application/json")
    @blp.doc(summary=f"Score 1 to {batch_limit} census records, answered in order.")
    def predict_batch(data):
        """Score a batch of census records; answers come in request order."""
        results = predictor.predict_many(data["records"])
        count_predictions([r.label for r in results])
        return json_response(
            {
                "predictions": [
                    {"prediction": r.label, "probability": r.probability}
                    for r in results
                ],
                "model_version": version,
            }
        )

    return blp
