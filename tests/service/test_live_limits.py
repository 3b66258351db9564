"""The body, batch and label limits hold on the real server (gunicorn), not only in the
test client: gunicorn hands the app a chunked body itself, passes any method on, and
kills a worker that takes longer than GUNICORN_TIMEOUT."""

from __future__ import annotations

import http.client
import json
import random
import string
import time
import urllib.request

import pytest

from service.settings import Settings
from testkit.servers import serving

pytestmark = pytest.mark.slow

LIMIT = Settings().max_content_length  # the server's, by default


@pytest.fixture(scope="module")
def live(model_dir, tmp_path_factory):
    """Base URL of a one-worker server with the default settings."""
    log = tmp_path_factory.mktemp("live_limits") / "server.log"
    env = {"LOG_LEVEL": "WARNING", "WEB_CONCURRENCY": "1"}
    with serving(model_dir, log=log, **env) as (url, _):
        yield url


def send(url: str, method: str, path: str, **kwargs) -> tuple[int, bytes]:
    """(status, body) of one request on a connection of its own."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    try:
        conn.request(method, path, **kwargs)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post_chunked(url: str, body: bytes) -> tuple[int, bytes]:
    """POST /predict with `body` sent in chunks of 1,000 bytes, no Content-Length."""
    chunks = (body[i : i + 1000] for i in range(0, len(body), 1000))
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    return send(
        url, "POST", "/predict", body=chunks, headers=headers, encode_chunked=True
    )


def test_the_server_answers_a_chunked_body_past_the_limit_413(live, example_record):
    record = json.dumps(example_record).encode()
    at_limit = record + b" " * (LIMIT - len(record))
    assert post_chunked(live, at_limit)[0] == 200
    status, body = post_chunked(live, at_limit + b" " * 100)
    assert status == 413
    assert json.loads(body)["message"] == "The request body is too large."


def test_the_server_refuses_300000_records_by_their_count_in_well_under_a_second(live):
    body = json.dumps({"records": [{}] * 300_000}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    status, answer = send(live, "POST", "/predict/batch", body=body, headers=headers)
    elapsed = time.perf_counter() - started
    print(f"{len(body)} bytes, 300,000 records: {status} in {elapsed:.3f} s")
    assert status == 422
    assert len(answer) < 4096
    assert "this batch has 300000" in answer.decode()
    assert elapsed < 1.0


def test_random_methods_leave_the_servers_metric_labels_in_their_closed_sets(live):
    from prometheus_client.parser import text_string_to_metric_families

    from service.metrics import METHODS

    rng = random.Random(15)
    for _ in range(300):
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
        assert send(live, method, rng.choice(["/predict", "/nowhere"]))[0] in (404, 405)
    with urllib.request.urlopen(f"{live}/metrics", timeout=10) as r:
        text = r.read().decode()
    methods = {
        s.labels["method"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if "method" in s.labels
    }
    assert "other" in methods and methods <= METHODS | {"other"}
