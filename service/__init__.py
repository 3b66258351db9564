"""census-service: a Flask app factory serving a verified census-income model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from flask import Flask

__version__ = "1.0.0"


def create_app(config: Mapping[str, Any] | None = None, model=None) -> Flask:
    """Build the app: config, model, observability, security, blueprints, errors.

    `model` is a verified LoadedModel; when None it is loaded from MODEL_DIR, and a model
    that cannot be loaded raises ModelError (the server then refuses to start).
    """
    from service.config import from_env
    from service.errors import register_error_handlers
    from service.observability import register_observability
    from service.security import register_security

    app = Flask(__name__)
    app.config.update(from_env())
    app.config.update(config or {})
    if model is None and app.config.get("LOAD_MODEL", True):
        model = load_configured_model(app)
    app.extensions["census_model"] = model
    register_observability(app)
    register_security(app)
    register_blueprints(app, model)
    register_error_handlers(app)
    return app


def load_configured_model(app: Flask):
    """Load and verify the bundle at MODEL_DIR."""
    from service.model_store import load_model

    return load_model(Path(app.config["MODEL_DIR"]))


def register_blueprints(app: Flask, model) -> None:
    """The OpenAPI-documented API; the predict blueprint only when a model is loaded."""
    from service import api, meta
    from service.errors import CensusApi

    smorest = CensusApi(app)
    smorest.register_blueprint(meta.blp)
    if model is not None:
        smorest.register_blueprint(
            api.create_blueprint(model, int(app.config["BATCH_LIMIT"]))
        )
    app.add_url_rule(
        "/docs/assets/<path:filename>", "swagger_assets", meta.swagger_assets
    )
