"""GET / (welcome), GET /health, and the Swagger UI assets served locally (no CDN)."""

from __future__ import annotations

from flask import current_app, send_from_directory, url_for
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from bundle.format import BINARY, MULTICLASS, BundleError, Target
from bundle.registry import promotion
from service import __version__

blp = Blueprint("meta", __name__, description="Service information.")


class WelcomeSchema(Schema):
    message = fields.String(required=True)
    version = fields.String(required=True)
    links = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class HealthSchema(Schema):
    status = fields.String(required=True)
    service_version = fields.String(required=True)
    model = fields.Dict(required=True)


def answer_words(target: Target) -> str:
    """What /predict answers for a task other than binary, in words ("" for binary,
    whose welcome text is unchanged)."""
    if target.task == BINARY:
        return ""
    if target.task == MULTICLASS:
        return (
            f" It answers one of {', '.join(target.class_names)}, with every class's "
            "probability."
        )
    return f" It answers the predicted {target.column}, a number."


def served_model():
    """The verified model this app serves, or None."""
    return current_app.extensions.get("model_bundle")


def promotion_record(model) -> dict | None:
    """The registry's record of the served version (make promote), read once: None for
    a model never promoted, or whose registry cannot be read (/health stays up)."""
    cache = current_app.extensions.setdefault("model_promotion", {})
    if model.version not in cache:
        try:
            cache[model.version] = promotion(model.path, model.version)
        except BundleError:
            cache[model.version] = None
    return cache[model.version]


@blp.route("/", methods=["GET"])
@blp.response(200, WelcomeSchema)
def index():
    """Welcome: what this is and where to look next."""
    model = served_model()
    if model is None:
        message = "No verified model is loaded."
    else:
        project = model.metadata.project
        message = (
            f"{project.name}: predicts {project.description}."
            f"{answer_words(model.metadata.target)} "
            "POST a record to /predict; /docs has the fields and examples."
        )
    return {
        "message": message,
        "version": __version__,
        "links": {
            "docs": url_for("api-docs.openapi_swagger_ui"),
            "openapi": url_for("api-docs.openapi_json"),
            "health": url_for("meta.health"),
            "predict": "/predict",
        },
    }


@blp.route("/health", methods=["GET"])
@blp.response(200, HealthSchema)
@blp.alt_response(503, description="No verified model is loaded")
def health():
    """200 only while a verified model is loaded; names the service and model versions."""
    model = served_model()
    if model is None:
        abort(503, message="No verified model is loaded.")
    meta = model.metadata
    about = {
        "project": meta.project.name,
        "version": model.version,
        "sha256": model.sha256,
        "graph": model.predictor.graph,
        "estimator": meta.model.get("estimator"),
        "classes": meta.target.labels,
        "metrics": meta.metrics,
        # When make promote made it the model, what it replaced, the gate's figures.
        "promotion": promotion_record(model),
    }
    # A binary model's answer is as before tasks; another names its task.
    if meta.target.task != BINARY:
        about["task"] = meta.target.task
    return {"status": "ok", "service_version": __version__, "model": about}


def swagger_assets(filename: str):
    """Swagger UI's JS and CSS from the swagger-ui-bundle package (works offline)."""
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(swagger_ui_path, filename, max_age=86400)
