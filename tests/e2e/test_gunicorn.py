"""End to end: the README's request against a real gunicorn server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT, free_port, start_gunicorn, stop

pytestmark = pytest.mark.slow


def readme_example() -> dict:
    """The JSON body of the README's curl example for POST /predict."""
    import json

    text = (ROOT / "README.md").read_text()
    match = re.search(
        r"curl -s (?:-X POST )?\S+/predict \\\n.*?-d '(\{.*?\})'", text, re.S
    )
    assert match, "README has no curl example for /predict"
    return json.loads(match.group(1))


def test_readme_example_request_gets_a_prediction(live_server):
    r = requests.post(f"{live_server}/predict", json=readme_example(), timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["prediction"] in {"<=50K", ">50K"}
    assert 0.0 <= body["probability"] <= 1.0


def test_server_answers_health_and_errors_as_json(live_server):
    assert requests.get(f"{live_server}/health", timeout=5).json()["status"] == "ok"
    r = requests.post(f"{live_server}/predict", json={"age": 40}, timeout=5)
    assert r.status_code == 422
    assert "workclass" in r.json()["errors"]["json"]


def test_server_refuses_to_start_without_a_model(tmp_path: Path):
    proc = start_gunicorn(tmp_path / "nothing-here", free_port())
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail("gunicorn kept running without a model")
    assert proc.returncode != 0
    assert "metadata.json not found" in out


def test_server_refuses_to_start_with_a_bad_setting_naming_it(
    model_dir, tmp_path: Path
):
    proc = start_gunicorn(model_dir, free_port(), BATCH_LIMIT="lots")
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail("gunicorn kept running with BATCH_LIMIT=lots")
    assert proc.returncode == 3
    assert "refusing to start: BATCH_LIMIT='lots' is not valid" in out
