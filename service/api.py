"""POST /predict and POST /predict/batch: validated records in, predictions out.

Every word and example in the spec comes from the model bundle: the project's description,
the feature rules, and the records the model publishes (one of each class, bar a class
nothing was predicted as, or a low, median and high target, and one broken, under the
request body's `examples`, each with the answer to expect), which is where smoke_test.py
takes its records from.

The answer follows the model's task (docs/api.md): `prediction` always (the class, or a
regression's value), `probability` for a classifier (the positive class's for a binary
model, the predicted class's for a multiclass one), `probabilities` (every class's) for
a multiclass model.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Response, current_app, request
from flask_smorest import abort

from bundle.format import MULTICLASS, REGRESSION, Target
from bundle.predictor import Prediction
from bundle.store import LoadedBundle
from service.drift import observe_many, observe_one
from service.parsing import JsonBlueprint
from service.schemas import batch_schema, record_schema, response_schemas


def require_json() -> None:
    """415 unless the body is declared as JSON (before any parsing happens)."""
    if request.method == "POST" and not request.is_json:
        abort(415, message="Content-Type must be application/json.")


def json_response(body: dict) -> Response:
    """A ready 200 JSON response: flask-smorest passes it through without dumping it
    through the response schema again (the body is built to match that schema)."""
    return current_app.json.response(body)


def count_predictions(labels: list[str | None]) -> None:
    """Predictions by class for /metrics, when metrics are on (a regression has none)."""
    metrics = current_app.extensions.get("service_metrics")
    if metrics is not None and labels and labels[0] is not None:
        metrics.count_predictions(labels)


def answer_for(target: Target) -> Callable[[Prediction], dict[str, Any]]:
    """One prediction as the task's answer (service/schemas.py's response_schemas)."""
    if target.task == MULTICLASS:
        return lambda r: {
            "prediction": r.label,
            "probability": r.probability,
            "probabilities": r.probabilities,
        }
    if target.task == REGRESSION:
        return lambda r: {"prediction": r.value}
    return lambda r: {"prediction": r.label, "probability": r.probability}


def expected_answer(example) -> tuple[str, Any]:
    """An example's summary and the prediction to expect for it."""
    if example.value is not None:  # regression: named low, median or high
        return (
            f"a {example.prediction} target: predicted {example.value:.6g}",
            example.value,
        )
    p = example.probability
    return f"predicted {example.prediction} (p={p:.3f})", example.prediction


def score_summary(target: Target) -> str:
    """What POST /predict answers, in words."""
    if target.task == MULTICLASS:
        return (
            f"Score one record: one of {', '.join(target.class_names)}, with every "
            "class's probability."
        )
    if target.task == REGRESSION:
        return f"Score one record: the predicted {target.column}."
    return f"Score one record: {target.positive_name} or {target.negative_name}."


def published_examples(model: LoadedBundle) -> dict[str, dict]:
    """The bundle's examples as OpenAPI named examples, each with its expected answer."""
    ex = model.metadata.examples
    out = {}
    for example in ex.scored():
        summary, expected = expected_answer(example)
        out[example.prediction] = {
            "summary": summary,
            "value": example.record,
            "x-expected": {"status": 200, "prediction": expected},
        }
    out["invalid"] = {
        "summary": f"invalid: {ex.invalid_field} is out of its range",
        "value": ex.invalid_record,
        "x-expected": {"status": 422, "field": ex.invalid_field},
    }
    return out


def create_blueprint(model: LoadedBundle, batch_limit: int) -> JsonBlueprint:
    """The prediction blueprint, its schemas built from the model's feature rules."""
    project, target = model.metadata.project, model.metadata.target
    blp = JsonBlueprint(
        "predict",
        __name__,
        url_prefix="/predict",
        description=f"Predict {project.description}.",
    )
    blp.before_request(require_json)
    shown = model.metadata.examples.record
    # Schema instances, not classes: given a class, webargs builds (and deep-copies the
    # fields of) a new schema on every request, which costs more than the model.
    record = record_schema(model.features, example=shown)()
    batch = batch_schema(type(record), batch_limit)()
    predictor = model.predictor
    version = model.version
    examples = published_examples(model)
    single, many = response_schemas(target)
    answer = answer_for(target)

    @blp.route("", methods=["POST"])
    @blp.arguments(record, examples=examples)
    @blp.response(200, single)
    @blp.alt_response(415, description="Content-Type is not application/json")
    @blp.doc(summary=score_summary(target))
    def predict(data):
        """Score one record."""
        result = predictor.predict_one(data)
        count_predictions([result.label])
        observe_one(data, result)
        body = answer(result)
        body["model_version"] = version
        return json_response(body)

    @blp.route("/batch", methods=["POST"])
    @blp.arguments(batch, example={"records": [shown, shown]})
    @blp.response(200, many)
    @blp.alt_response(415, description="Content-Type is not application/json")
    @blp.doc(summary=f"Score 1 to {batch_limit} records, answered in order.")
    def predict_batch(data):
        """Score a batch of records; answers come in request order."""
        records = data["records"]
        results = predictor.predict_many(records)
        count_predictions([r.label for r in results])
        observe_many(records, results)
        return json_response(
            {
                "predictions": [answer(r) for r in results],
                "model_version": version,
            }
        )

    return blp
