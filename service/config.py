"""Service settings: defaults in code, overrides from environment variables.

Nothing here runs at import time; `from_env` is called by the app factory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # Where the verified model bundle lives.
    "MODEL_DIR": str(ROOT / "model"),
    # Largest batch accepted by POST /predict/batch (documented in the API spec).
    "BATCH_LIMIT": 1000,
    # Request bodies above this many bytes get 413 (a full batch is ~400 KB).
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # flask-smorest / OpenAPI: spec at /openapi.json, Swagger UI at /docs, served locally.
    "API_TITLE": "census-service",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
    # Bearer token for /predict* and /metrics; empty means no auth (set it in production).
    "API_TOKEN": "",
    # Logs: level, and "json" (one object per line) or "text".
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",
    # Prometheus metrics at /metrics.
    "METRICS_ENABLED": True,
}


def parse_bool(value: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case)."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_choice(value: str, choices: tuple[str, ...]) -> str:
    """`value` if it is one of `choices`."""
    if value not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Environment variables read, and how to parse each.
ENV_PARSERS = {
    "MODEL_DIR": str,
    "BATCH_LIMIT": int,
    "MAX_CONTENT_LENGTH": int,
    "API_TOKEN": str,
    "LOG_LEVEL": lambda v: parse_choice(v.upper(), LOG_LEVELS),
    "LOG_FORMAT": lambda v: parse_choice(v.lower(), ("json", "text")),
    "METRICS_ENABLED": parse_bool,
}


class ConfigError(ValueError):
    """An environment variable the service cannot use."""


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Defaults overridden by any set environment variable."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, parse in ENV_PARSERS.items():
        if environ.get(key, "") != "":
            try:
                config[key] = parse(environ[key])
            except ValueError as exc:
                raise ConfigError(
                    f"{key}={environ[key]!r} is not valid: {exc}"
                ) from exc
    return config
