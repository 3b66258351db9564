"""smoke_test.py passes against a healthy server and fails loudly against a broken one."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from tests.e2e.conftest import ROOT, free_port

pytestmark = pytest.mark.slow


def run_smoke(url: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "smoke_test.py"), url, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def always_low_income(environ, start_response):
    """A server that looks alive but answers every prediction '<=50K', never 422."""
    body = {
        "/": {"version": "0"},
        "/health": {"status": "ok", "model": {"version": "stub"}},
    }.get(environ["PATH_INFO"], {"prediction": "<=50K", "probability": 0.1})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def wrong_server():
    server = make_server(
        "127.0.0.1", free_port(), always_low_income, handler_class=QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_smoke_test_passes_against_the_real_server_and_names_the_model(
    live_server, loaded_model
):
    done = run_smoke(live_server)
    assert done.returncode == 0, done.stdout
    assert "all checks passed" in done.stdout
    assert loaded_model.version in done.stdout
    assert done.stdout.count("PASS") == 5


def test_smoke_test_fails_when_predictions_and_validation_are_wrong(wrong_server):
    done = run_smoke(wrong_server, "--attempts", "1")
    assert done.returncode == 1
    failed = [line for line in done.stdout.splitlines() if "FAIL" in line]
    assert len(failed) == 2, done.stdout
    assert "expected '>50K'" in failed[0]
    assert "expected 422" in failed[1]


def test_smoke_test_gives_up_after_bounded_retries_when_nothing_answers():
    done = run_smoke(
        f"http://127.0.0.1:{free_port()}", "--attempts", "3", "--delay", "0.1"
    )
    assert done.returncode == 1
    assert "not up after 3 attempts" in done.stdout


def test_smoke_test_sends_the_api_token_when_the_service_requires_one(
    model_dir, tmp_path
):
    from tests.e2e.conftest import start_gunicorn, stop, wait_healthy

    port = free_port()
    proc = start_gunicorn(
        model_dir, port, log=tmp_path / "log", API_TOKEN="s3cret-token"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        without = run_smoke(url, "--attempts", "1", "--token", "")
        with_token = run_smoke(url, "--attempts", "1", "--token", "s3cret-token")
    finally:
        stop(proc)
    assert without.returncode == 1 and "401" in without.stdout
    assert with_token.returncode == 0, with_token.stdout
