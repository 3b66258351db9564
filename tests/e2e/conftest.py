"""A real server (the Procfile's command) on a free 127.0.0.1 port, for the session."""

from __future__ import annotations

import pytest

from testkit.servers import start_server, stop, wait_healthy


@pytest.fixture(scope="session")
def live_server(model_dir, tmp_path_factory):
    """Base URL of a running server serving the session's trained model."""
    log = tmp_path_factory.mktemp("live_server") / "server.log"
    proc, url = start_server(model_dir, log=log)
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        stop(proc)
