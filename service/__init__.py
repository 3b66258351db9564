"""The HTTP service: a Flask app factory over a verified model bundle. HTTP only.

The model is loaded and verified before the app is built (deploy/serve.py, or a test),
and handed in; the app never reads files or the environment at import time.
"""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

# The app factory's interface, all the start sequence (deploy/) may import: the factory
# and the typed settings it takes.
from service.settings import Settings

__version__ = "2.0.0"
__all__ = ["Settings", "create_app"]


def create_app(
    config: Mapping[str, Any] | None = None, model=None, settings=None
) -> Flask:
    """Build the app: config, model, observability, monitoring, security, blueprints,
    errors.

    `model` is a verified LoadedBundle (None serves only / and a 503 /health);
    `settings` a service.settings.Settings (default: from the environment); `config`
    overrides single Flask config keys (tests).
    """
    from service.errors import register_error_handlers
    from service.drift import register_monitoring
    from service.observability import register_observability
    from service.security import register_security

    app = Flask(__name__)
    app.config.update((settings or Settings.from_env()).flask_config())
    app.config.update(api_config(model))
    app.config.update(config or {})
    app.extensions["model_bundle"] = model
    register_observability(app, model)
    register_monitoring(app, model)
    register_security(app)
    register_blueprints(app, model)
    register_error_handlers(app)
    return app


def api_config(model) -> dict[str, Any]:
    """flask-smorest / OpenAPI: titled after the model's project; served locally."""
    title = f"{model.metadata.project.name} API" if model is not None else "model API"
    return {
        "API_TITLE": title,
        "API_VERSION": __version__,
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
    }


def register_blueprints(app: Flask, model) -> None:
    """The OpenAPI-documented API; the predict blueprint only when a model is loaded."""
    from service import api, meta
    from service.errors import ServiceApi

    smorest = ServiceApi(app)
    smorest.register_blueprint(meta.blp)
    if model is not None:
        smorest.register_blueprint(
            api.create_blueprint(model, int(app.config["BATCH_LIMIT"]))
        )
    app.add_url_rule(
        "/docs/assets/<path:filename>", "swagger_assets", meta.swagger_assets
    )
