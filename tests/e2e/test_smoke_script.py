"""smoke_test.py passes against a healthy server and fails loudly against a broken one."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from contextlib import contextmanager
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from testkit.servers import ROOT, free_port, start_server, stop, wait_healthy

pytestmark = pytest.mark.slow


def run_smoke(url: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "smoke_test.py"), url, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def always_negative(spec: dict, negative: str):
    """A server that publishes the real spec but answers every prediction with the
    negative class, and never 422."""

    def app(environ, start_response):
        body = {
            "/": {"version": "0"},
            "/health": {"status": "ok", "model": {"version": "stub"}},
            "/openapi.json": spec,
        }.get(environ["PATH_INFO"], {"prediction": negative, "probability": 0.1})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return app


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def altered(app, change):
    """The Flask app behind a WSGI server, each 200 answer to a POST passed through
    `change` (a JSON body in, one out) before it is sent."""
    client = app.test_client()

    def wsgi(environ, start_response):
        path = environ["PATH_INFO"]
        if environ["REQUEST_METHOD"] == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(size))
            response = client.post(path, json=body)
        else:
            response = client.get(path)
        data = response.get_json()
        if environ["REQUEST_METHOD"] == "POST" and response.status_code == 200:
            data = change(data)
        start_response(
            f"{response.status_code} -", [("Content-Type", "application/json")]
        )
        return [json.dumps(data).encode()]

    return wsgi


@contextmanager
def serving_wsgi(app):
    """`app` on a free local port, in a thread, for the block; its base URL."""
    server = make_server("127.0.0.1", free_port(), app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def wrong_server(client, loaded_model):
    spec = client.get("/openapi.json").get_json()
    wrong = always_negative(spec, loaded_model.metadata.target.negative_name)
    with serving_wsgi(wrong) as url:
        yield url


def test_smoke_test_passes_against_the_real_server_and_names_the_model(
    live_server, loaded_model
):
    done = run_smoke(live_server)
    assert done.returncode == 0, done.stdout
    assert "all checks passed" in done.stdout
    assert loaded_model.version in done.stdout
    # GET /, /health, the spec, each published example and the broken one
    examples = len(loaded_model.metadata.examples.scored())
    assert done.stdout.count("PASS") == 3 + examples + 1


@pytest.mark.task("binary")  # answers a binary model's negative class
def test_smoke_test_fails_when_predictions_and_validation_are_wrong(
    wrong_server, loaded_model
):
    done = run_smoke(wrong_server, "--attempts", "1")
    assert done.returncode == 1
    failed = [line for line in done.stdout.splitlines() if "FAIL" in line]
    assert len(failed) == 2, done.stdout
    positive = loaded_model.metadata.target.positive_name
    assert f"'prediction': '{positive}'" in failed[0]
    assert "HTTP 200" in failed[1] and "invalid" in failed[1]


def test_smoke_test_gives_up_after_bounded_retries_when_nothing_answers():
    done = run_smoke(
        f"http://127.0.0.1:{free_port()}", "--attempts", "3", "--delay", "0.1"
    )
    assert done.returncode == 1
    assert "not up after 3 attempts" in done.stdout


def test_smoke_test_sends_the_api_token_when_the_service_requires_one(
    model_dir, tmp_path
):
    proc, url = start_server(model_dir, log=tmp_path / "log", API_TOKEN="s3cret-token")
    try:
        wait_healthy(url, proc)
        without = run_smoke(url, "--attempts", "1", "--token", "")
        with_token = run_smoke(url, "--attempts", "1", "--token", "s3cret-token")
    finally:
        stop(proc)
    assert without.returncode == 1 and "401" in without.stdout
    assert with_token.returncode == 0, with_token.stdout


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_a_model_of_each_task_passes_the_smoke_test_behind_the_real_server(
    task_models, task, tmp_path, capsys
):
    import smoke_test
    from testkit.servers import serving

    with serving(task_models(task), log=tmp_path / "server.log") as (url, _):
        assert smoke_test.run(url, attempts=3, delay=0.5) == 0
    out = capsys.readouterr().out
    names = ["low", "median", "high"] if task == "regression" else ["mid", "whale"]
    assert all(f"PASS  POST /predict {name}" in out for name in names)


def task_app(task_models, task: str):
    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings

    model = load_bundle(task_models(task))
    return create_app({"TESTING": True}, model=model, settings=Settings())


def halved_probabilities(body: dict) -> dict:
    """Every class's probability halved: each in [0, 1], no longer summing to 1."""
    body["probabilities"] = {k: v / 2 for k, v in body["probabilities"].items()}
    return body


def test_a_multiclass_answer_whose_probabilities_do_not_sum_to_one_fails_the_smoke_test(
    task_models,
):
    app = altered(task_app(task_models, "multiclass"), halved_probabilities)
    with serving_wsgi(app) as url:
        done = run_smoke(url, "--attempts", "1")
    assert done.returncode == 1, done.stdout
    assert "PASS  GET /health" in done.stdout and "multiclass model" in done.stdout
    failed = [line for line in done.stdout.splitlines() if "FAIL" in line]
    assert failed and all("probabilities sum to 0.5, not 1" in f for f in failed)
    assert "PASS  POST /predict invalid" in done.stdout


def test_a_regression_answer_that_is_not_a_finite_number_fails_the_smoke_test(
    task_models,
):
    not_a_number = {"prediction": float("nan")}  # JSON's NaN, as Python writes it
    app = altered(task_app(task_models, "regression"), lambda b: {**b, **not_a_number})
    with serving_wsgi(app) as url:
        done = run_smoke(url, "--attempts", "1")
    assert done.returncode == 1, done.stdout
    failed = [line for line in done.stdout.splitlines() if "FAIL" in line]
    assert len(failed) == 3 and all("nan is not a finite number" in f for f in failed)
