"""The HTTP app's settings, typed: defaults in code, overrides from the environment.

`Settings` covers what the app reads (MODEL_DIR, limits, auth, logs, metrics,
monitoring and capture); the server's own settings (gunicorn, platform, model pull) are
`ServerSettings` in deploy/settings.py, built by the same machinery (bundle/settings.py).
`python -m deploy.settings` writes `.env.example` and prints docs/configuration.md's table
from both; tests/deploy/test_settings.py checks them. Nothing here runs at import time;
`Settings.from_env()` is called by the start sequence (deploy/serve.py) or the app
factory.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bundle.errors import ConfigError
from bundle.paths import DEFAULT_MODEL_DIR, resolve_model_dir
from bundle.settings import EnvSettings, choice, fraction, parse_bool, positive, setting

__all__ = ["ConfigError", "LOG_LEVELS", "Settings", "bearer_secret"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def bearer_secret(value: str) -> str:
    """A token without the whitespace around it (a Kubernetes secret made from a file
    ends in a newline, which no client sends); whitespace or control characters inside
    it are refused."""
    token = value.strip()
    if not token:
        raise ValueError("it is only whitespace; leave it empty for no auth")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError("it has whitespace or control characters inside")
    return token


@dataclass(frozen=True)
class Settings(EnvSettings):
    """The app's settings, typed. Field metadata: env name, parser, meaning."""

    # -- the app ----------------------------------------------------------------------
    model_dir: str = setting(
        "MODEL_DIR", DEFAULT_MODEL_DIR, str, "the model bundle to serve"
    )
    batch_limit: int = setting(
        "BATCH_LIMIT", 1000, positive(int), "most records per POST /predict/batch"
    )
    max_content_length: int = setting(
        "MAX_CONTENT_LENGTH", 1048576, positive(int), "largest request body, bytes"
    )
    api_token: str = setting(
        "API_TOKEN",
        "",
        bearer_secret,
        "bearer token for /predict*, /metrics, /monitoring (whitespace around it is "
        "dropped); empty: no auth",
        secret=True,
    )
    log_level: str = setting(
        "LOG_LEVEL", "INFO", choice(*LOG_LEVELS, case=str.upper), "log level"
    )
    log_format: str = setting(
        "LOG_FORMAT", "json", choice("json", "text", case=str.lower), "json or text"
    )
    metrics_enabled: bool = setting(
        "METRICS_ENABLED", True, parse_bool, "serve Prometheus metrics at /metrics"
    )
    prometheus_multiproc_dir: str = setting(
        "PROMETHEUS_MULTIPROC_DIR",
        "",
        str,
        "where server workers write their metrics; empty: a temporary folder",
    )
    # -- model monitoring (service/monitoring.py, service/capture.py) -----------------
    monitoring_enabled: bool = setting(
        "MONITORING_ENABLED",
        True,
        parse_bool,
        "count scored records against the training reference: drift on /metrics "
        "and /monitoring",
    )
    capture_enabled: bool = setting(
        "CAPTURE_ENABLED", False, parse_bool, "log scored records as JSON lines"
    )
    capture_sample_rate: float = setting(
        "CAPTURE_SAMPLE_RATE", 1.0, fraction, "share of scored records captured"
    )
    capture_destination: str = setting(
        "CAPTURE_DESTINATION",
        "stdout",
        str,
        "`stdout` (Heroku's log drains carry it) or a file path",
    )
    capture_max_bytes: int = setting(
        "CAPTURE_MAX_BYTES",
        104857600,
        positive(int),
        "capture stops at this size: the file's, or what a worker wrote to stdout",
    )
    # -- shadow scoring (service/shadow.py) ---------------------------------------------
    shadow_model_dir: str = setting(
        "SHADOW_MODEL_DIR",
        "",
        str,
        "a second model bundle that scores a sample of requests beside the served one "
        "(agreement, PSI, latency on /monitoring and /metrics); empty: no shadow",
    )
    shadow_sample_rate: float = setting(
        "SHADOW_SAMPLE_RATE",
        0.1,
        fraction,
        "share of answered requests the shadow model scores too",
    )
    shadow_queue_records: int = setting(
        "SHADOW_QUEUE_RECORDS",
        1000,
        positive(int),
        "most records waiting for the shadow model per worker; more are dropped "
        "and counted",
    )

    @property
    def model_path(self) -> Path:
        """MODEL_DIR, a relative one taken from the project root."""
        return resolve_model_dir(self.model_dir)

    def flask_config(self) -> dict[str, Any]:
        """What the Flask app reads from app.config."""
        return {
            "MODEL_DIR": str(self.model_path),
            "BATCH_LIMIT": self.batch_limit,
            "MAX_CONTENT_LENGTH": self.max_content_length,
            "API_TOKEN": self.api_token,
            "LOG_LEVEL": self.log_level,
            "LOG_FORMAT": self.log_format,
            "METRICS_ENABLED": self.metrics_enabled,
            "PROMETHEUS_MULTIPROC_DIR": self.prometheus_multiproc_dir,
            "MONITORING_ENABLED": self.monitoring_enabled,
            "CAPTURE_ENABLED": self.capture_enabled,
            "CAPTURE_SAMPLE_RATE": self.capture_sample_rate,
            "CAPTURE_DESTINATION": self.capture_destination,
            "CAPTURE_MAX_BYTES": self.capture_max_bytes,
            "SHADOW_MODEL_DIR": (
                str(resolve_model_dir(self.shadow_model_dir))
                if self.shadow_model_dir
                else ""
            ),
            "SHADOW_SAMPLE_RATE": self.shadow_sample_rate,
            "SHADOW_QUEUE_RECORDS": self.shadow_queue_records,
        }


if __name__ == "__main__":
    # The one generated list holds the server's settings too, so deploy/ writes it.
    sys.exit(
        "service.settings: the settings list is generated by `python -m deploy.settings`"
    )
