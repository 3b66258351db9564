"""The one server command: `python -m deploy.serve`.

The start sequence, step by step, in the server's master process:

1. read the settings (the app's, service/settings.py; the server's,
   deploy/settings.py) - a bad one stops here;
2. prepare the folder where the workers share their metrics;
3. pull the model from the DVC remote, on a platform that asks for it;
4. load and verify the model bundle (hashes, self-check);
5. build the app around it;
6. hand the app to gunicorn, which forks the workers from this process, so every worker
   shares the one verified model (copy-on-write).

A failure in steps 1-5 prints one line, `model-service: refusing to start: <why>`, and
exits 3 before anything listens. Heroku's 60 s to bind $PORT covers steps 3 to 6.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import os
import shutil
import sys
import tempfile
from typing import Any, Callable

from gunicorn.app.base import BaseApplication

from bundle.errors import ConfigError
from bundle.format import BundleError
from bundle.store import LoadedBundle, load_bundle
from deploy.model_pull import pull_if_configured
from deploy.settings import ServerSettings
from deploy.workers import Arbiter, Worker, exit_worker
from service import Settings  # the app factory's input, with create_app

PROGRAM = "model-service"
REFUSED = 3


def say(message: str) -> None:
    """One line on stderr, prefixed with the program's name."""
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)


def prepare_metrics_dir(settings: Settings) -> Settings:
    """Settings with PROMETHEUS_MULTIPROC_DIR made (or emptied), and exported when
    metrics are on.

    prometheus_client reads the variable from the environment, in every worker; the
    drift counts (service/drift.py) are shared there too, metrics on or off, or each
    worker would count alone. A folder made here is removed when the master exits.
    """
    if not (settings.metrics_enabled or settings.monitoring_enabled):
        return settings
    path = settings.prometheus_multiproc_dir
    if not path:
        path = tempfile.mkdtemp(prefix="model-service-metrics-")
        master = os.getpid()
        atexit.register(
            lambda: os.getpid() == master and shutil.rmtree(path, ignore_errors=True)
        )
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):  # an earlier run's counts would add to ours
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    if settings.metrics_enabled:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return dataclasses.replace(settings, prometheus_multiproc_dir=path)


def worker_gone(settings: Settings) -> Callable[[Any, Any], None]:
    """gunicorn's child_exit: prometheus_client drops the worker's live files."""

    def child_exit(server: Any, worker: Any) -> None:
        if settings.metrics_enabled and settings.prometheus_multiproc_dir:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(
                worker.pid, settings.prometheus_multiproc_dir
            )

    return child_exit


def freeze_before_fork(server: Any) -> None:
    """gunicorn's when_ready: move the master's objects out of the collector's reach, so
    no worker's collection touches (and so copies) their pages."""
    gc.collect()
    gc.freeze()


def gunicorn_options(server: ServerSettings, settings: Settings) -> dict[str, Any]:
    """gunicorn's configuration, all of it from the server's and the app's settings."""
    return {
        "bind": server.bind,
        "workers": server.web_concurrency,
        # gevent: a slow client waits in a greenlet, with deadlines (deploy/workers.py).
        "worker_class": Worker,
        # The app (and its verified model) is built once here, then the workers fork.
        "preload_app": True,
        # Below Heroku's 30 s router timeout: a stuck worker is replaced first.
        "timeout": server.gunicorn_timeout,
        # Inside the 30 s platforms give between SIGTERM and SIGKILL.
        "graceful_timeout": server.gunicorn_graceful_timeout,
        # Also the time a client has to send a request's headers.
        "keepalive": server.gunicorn_keepalive,
        # The app writes its own JSON access line; `-` adds gunicorn's.
        "accesslog": server.gunicorn_accesslog or None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "proc_name": PROGRAM,
        # gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn),
        # which the next server of that user would take over: nothing here uses it.
        "control_socket_disable": True,
        "child_exit": worker_gone(settings),
        "worker_exit": lambda server, worker: exit_worker(),
        "when_ready": freeze_before_fork,
    }


class Server(BaseApplication):
    """gunicorn serving an app that is already built (and its model verified)."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self.application, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application

    def run(self) -> None:
        """gunicorn's BaseApplication.run, with the master of deploy/workers.py."""
        try:
            Arbiter(self).run()
        except RuntimeError as e:
            print(f"\nError: {e}\n", file=sys.stderr, flush=True)
            sys.exit(1)


def build_app(settings: Settings, model: LoadedBundle) -> Any:
    """The HTTP app over the verified model."""
    from service import create_app

    return create_app(model=model, settings=settings)


def start(
    environ: dict | None = None,
    make_app: Callable[[Settings, LoadedBundle], Any] = build_app,
    **overrides: Any,
) -> int:
    """Run the start sequence, then serve until stopped; the exit code."""
    try:
        settings = Settings.from_env(environ)
        server = ServerSettings.from_env(environ)
        settings = prepare_metrics_dir(settings)
        pulled = pull_if_configured(server)
        if pulled:
            say(pulled)
        model = load_bundle(settings.model_path)
        app = make_app(settings, model)
    except (ConfigError, BundleError) as exc:
        say(f"refusing to start: {exc}")
        return REFUSED
    say(f"serving {model.version} on {server.bind}")
    Server(app, {**gunicorn_options(server, settings), **overrides}).run()
    return 0


if __name__ == "__main__":
    sys.exit(start())
