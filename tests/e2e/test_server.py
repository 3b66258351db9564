"""End to end: the real server (`python -m deploy.serve`) and the README's request."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import requests

from testkit.servers import ROOT, serving, start_server, stop

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


@pytest.mark.dataset("census-income")
def test_readme_example_request_gets_a_prediction(live_server, loaded_model):
    r = requests.post(f"{live_server}/predict", json=readme_example(), timeout=5)
    assert r.status_code == 200
    body = r.json()
    target = loaded_model.metadata.target
    assert body["prediction"] in {target.negative_name, target.positive_name}
    assert 0.0 <= body["probability"] <= 1.0


def test_server_answers_health_and_errors_as_json(live_server, loaded_model):
    assert requests.get(f"{live_server}/health", timeout=5).json()["status"] == "ok"
    r = requests.post(f"{live_server}/predict", json={"not_a_feature": 40}, timeout=5)
    assert r.status_code == 422
    assert loaded_model.features[0].name in r.json()["errors"]["json"]


def refused(tmp_path: Path, model_dir: Path, **env: str) -> tuple[int, str]:
    """Start the server expecting it to refuse; its exit code and output."""
    log = tmp_path / "server.log"
    proc, _ = start_server(model_dir, log=log, **env)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail(f"the server kept running ({env})")
    return proc.returncode, log.read_text()


def test_server_refuses_to_start_without_a_model_in_one_line(tmp_path: Path):
    code, out = refused(tmp_path, tmp_path / "nothing-here")
    assert code == 3
    assert out.strip().splitlines() == [
        f"model-service: refusing to start: no model at {tmp_path / 'nothing-here'}: "
        "metadata.json not found"
    ]


def test_server_refuses_to_start_with_a_bad_setting_naming_it(
    model_dir, tmp_path: Path
):
    code, out = refused(tmp_path, model_dir, BATCH_LIMIT="lots")
    assert code == 3
    assert "refusing to start: BATCH_LIMIT='lots' is not valid" in out


def test_server_leaves_no_control_socket_in_home_for_other_servers(
    model_dir, tmp_path: Path
):
    # gunicorn 27 opens one at $HOME/.gunicorn/gunicorn.ctl by default: shared by every
    # server of the user, the next one to start would take it over.
    home = tmp_path / "home"
    home.mkdir()
    with serving(model_dir, HOME=str(home)) as (url, _):
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
        sockets = [str(p.relative_to(home)) for p in home.rglob("*") if p.is_socket()]
    assert sockets == []
    assert not (home / ".gunicorn").exists()
