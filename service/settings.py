"""Every runtime setting, in one place: defaults in code, overrides from the environment.

One typed `Settings` object serves the HTTP app, the server (gunicorn), the model pull at
boot and the metrics. `SETTINGS` is the one list of them: `.env.example` and the README's
table are checked against it by tests/code/test_settings.py. Nothing here runs at import
time; `Settings.from_env()` is called by the start sequence (deploy/serve.py) or the app
factory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

ROOT = Path(__file__).resolve().parent.parent
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """An environment variable the service cannot use."""


def parse_bool(value: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case)."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def choice(*choices: str, case: Callable[[str], str] = str) -> Callable[[str], str]:
    """A parser accepting one of `choices` (after `case`)."""

    def parse(value: str) -> str:
        value = case(value.strip())
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def positive(kind: type) -> Callable[[str], Any]:
    """A parser for a number above zero."""

    def parse(value: str) -> Any:
        number = kind(value)
        if number <= 0:
            raise ValueError("expected a number above 0")
        return number

    return parse


def fraction(value: str) -> float:
    """A share above 0, at most 1."""
    number = float(value)
    if not 0 < number <= 1:
        raise ValueError("expected a number above 0 and at most 1")
    return number


def tristate(value: str) -> bool | None:
    """true/false, or empty for "decide from the platform"."""
    return None if value.strip() == "" else parse_bool(value)


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


def setting(
    env: str, default: Any, parse: Callable[[str], Any], doc: str, secret: bool = False
) -> Any:
    """A dataclass field that knows its environment variable, parser and meaning; a
    secret's value is never shown in an error."""
    metadata = {"env": env, "parse": parse, "doc": doc, "secret": secret}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """The service's settings, typed. Field metadata: env name, parser, meaning."""

    # -- the app ----------------------------------------------------------------------
    model_dir: str = setting("MODEL_DIR", "model", str, "the model bundle to serve")
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
    # -- the server (gunicorn) --------------------------------------------------------
    host: str = setting(
        "HOST",
        "",
        str,
        "address to listen on; empty: 0.0.0.0 on a platform (DYNO or RENDER set), "
        "else 127.0.0.1",
    )
    port: int = setting("PORT", 8000, positive(int), "port to listen on")
    web_concurrency: int = setting(
        "WEB_CONCURRENCY", 2, positive(int), "server worker processes"
    )
    gunicorn_timeout: int = setting(
        "GUNICORN_TIMEOUT",
        25,
        positive(int),
        "seconds before a stuck worker is killed; also the most a request may take "
        "after its headers (body, answer)",
    )
    gunicorn_graceful_timeout: int = setting(
        "GUNICORN_GRACEFUL_TIMEOUT",
        20,
        positive(int),
        "seconds in-flight requests get after SIGTERM",
    )
    gunicorn_keepalive: int = setting(
        "GUNICORN_KEEPALIVE",
        5,
        positive(int),
        "seconds a keep-alive connection idles, and a client has to send a request's "
        "headers",
    )
    gunicorn_accesslog: str = setting(
        "GUNICORN_ACCESSLOG", "", str, "`-` adds gunicorn's own access log"
    )
    # -- the model pull at boot -------------------------------------------------------
    dyno: str = setting("DYNO", "", str, "set by Heroku: pull the model at boot")
    render: str = setting("RENDER", "", str, "set by Render: listen on 0.0.0.0")
    pull_model: bool | None = setting(
        "PULL_MODEL",
        None,
        tristate,
        "1 pulls the model from the DVC remote at boot anywhere, 0 never; "
        "empty: pull on a dyno",
    )
    dvc_remote_url: str = setting(
        "DVC_REMOTE_URL", "", str, "where the boot pulls from; overrides .dvc/config"
    )
    dvc_remote: str = setting(
        "DVC_REMOTE", "", str, "name of a remote in .dvc/config to pull from"
    )
    dvc_pull_timeout: float = setting(
        "DVC_PULL_TIMEOUT", 40.0, positive(float), "seconds the boot may spend pulling"
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Defaults overridden by every set environment variable; ConfigError names a
        variable that does not parse."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            env, parse = f.metadata["env"], f.metadata["parse"]
            raw = environ.get(env, "")
            if raw == "":
                continue
            try:
                values[f.name] = parse(raw)
            except ValueError as exc:
                shown = env if f.metadata["secret"] else f"{env}={raw!r}"
                raise ConfigError(f"{shown} is not valid: {exc}") from exc
        return cls(**values)

    @property
    def model_path(self) -> Path:
        """MODEL_DIR, a relative one taken from the project root."""
        return ROOT / self.model_dir

    @property
    def on_platform(self) -> bool:
        """Whether a hosting platform runs us (it routes to 0.0.0.0:$PORT)."""
        return bool(self.dyno or self.render)

    @property
    def bind(self) -> str:
        host = self.host or ("0.0.0.0" if self.on_platform else "127.0.0.1")
        return f"{host}:{self.port}"

    @property
    def should_pull(self) -> bool:
        """PULL_MODEL decides when set; otherwise pull exactly when on a dyno."""
        return self.pull_model if self.pull_model is not None else bool(self.dyno)

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
        }


SETTINGS = tuple(
    (f.metadata["env"], f.default, f.metadata["doc"]) for f in fields(Settings)
)


def shown_default(value: Any) -> str:
    """A default as an environment variable would spell it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def env_example() -> str:
    """`.env.example`: every setting with its default and meaning, derived from SETTINGS."""
    lines = [
        "# Every setting the service reads, with its default (generated from",
        "# service/settings.py by `python -m service.settings`). Copy to .env (git-ignored)",
        "# or set them as platform config vars; empty means the default.",
    ]
    for env, default, doc in SETTINGS:
        lines += [f"# {doc}", f"{env}={shown_default(default)}"]
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """The settings table of docs/configuration.md, derived from SETTINGS."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for env, default, doc in SETTINGS:
        shown = shown_default(default)
        rows.append(f"| `{env}` | {f'`{shown}`' if shown else '(empty)'} | {doc} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    (ROOT / ".env.example").write_text(env_example(), encoding="utf-8")
    print(markdown_table(), end="")
