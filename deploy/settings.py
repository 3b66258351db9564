"""The server's settings, typed, beside the code that uses them: gunicorn (deploy/serve.py),
the platform (DYNO, RENDER) and the model pull at boot (deploy/model_pull.py).

Built by the same machinery as the app's `Settings` (bundle/settings.py). `SETTINGS` is
the one list of every setting, the app's then the server's: `.env.example` and
docs/configuration.md's table are generated from it (`python -m deploy.settings`) and
checked against it by tests/deploy/test_settings.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bundle.paths import ROOT
from bundle.settings import EnvSettings, documented, positive, setting, tristate
from service import Settings  # the app's settings: one list and table with the server's


@dataclass(frozen=True)
class ServerSettings(EnvSettings):
    """The server's settings, typed. Field metadata: env name, parser, meaning."""

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


SETTINGS = documented(Settings, ServerSettings)


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
        "# service/settings.py and deploy/settings.py by `python -m deploy.settings`).",
        "# Copy to .env (git-ignored) or set them as platform config vars; empty means",
        "# the default.",
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
