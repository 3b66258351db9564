"""Request IDs, structured logs and Prometheus metrics."""

from __future__ import annotations

import json
import os

import pytest

from service.config import from_env
from service.metrics import prepare_multiprocess_dir


@pytest.fixture
def make_app(loaded_model):
    from service import create_app

    def make(**config):
        return create_app({"TESTING": True, **config}, model=loaded_model)

    return make


def log_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_a_sane_request_id_is_echoed_back(client):
    r = client.get("/health", headers={"X-Request-ID": "req-42.a:b_c"})
    assert r.headers["X-Request-ID"] == "req-42.a:b_c"


@pytest.mark.parametrize(
    "given", ["", "has space", "x" * 129, 'quote"d', "<script>", "\u00e9"]
)
def test_an_insane_request_id_is_replaced_by_a_fresh_one(client, given):
    r = client.get("/health", headers={"X-Request-ID": given})
    rid = r.headers["X-Request-ID"]
    assert rid != given and len(rid) == 32 and rid.isalnum()


def test_each_request_gets_its_own_generated_id(client):
    ids = {client.get("/health").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_access_log_is_one_json_line_with_id_route_status_and_latency(
    make_app, example_record, capsys
):
    client = make_app(LOG_FORMAT="json").test_client()
    capsys.readouterr()
    client.post(
        "/predict", json={**example_record, "age": 7}, headers={"X-Request-ID": "abc"}
    )
    [line] = [
        e for e in log_lines(capsys.readouterr().err) if e["logger"] == "census.access"
    ]
    assert line["request_id"] == "abc"
    assert line["method"] == "POST" and line["route"] == "/predict"
    assert line["status"] == 422
    assert 0 < line["duration_ms"] < 5000
    assert line["level"] == "info" and line["ts"].endswith("Z")


def test_application_logs_carry_the_request_id(make_app, capsys):
    app = make_app(LOG_FORMAT="json")

    @app.route("/boom")
    def boom():
        raise RuntimeError("kaput")

    capsys.readouterr()
    r = app.test_client().get("/boom", headers={"X-Request-ID": "boom-1"})
    assert r.status_code == 500
    [error] = [e for e in log_lines(capsys.readouterr().err) if e["level"] == "error"]
    assert error["request_id"] == "boom-1"
    assert "kaput" in error["exc_info"]


def test_text_log_format_writes_plain_lines(make_app, capsys):
    client = make_app(LOG_FORMAT="text").test_client()
    capsys.readouterr()
    client.get("/health", headers={"X-Request-ID": "plain-1"})
    err = capsys.readouterr().err
    assert "[plain-1] GET /health 200" in err
    assert not log_lines(err)


def test_log_level_warning_silences_the_access_log(make_app, capsys):
    client = make_app(LOG_LEVEL="WARNING").test_client()
    capsys.readouterr()
    client.get("/health")
    assert "census.access" not in capsys.readouterr().err


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


def test_metrics_count_requests_latency_and_predicted_classes(make_app, example_record):
    client = make_app(LOG_LEVEL="WARNING").test_client()
    rich = {**example_record, "capital-gain": 99999, "education-num": 16}
    rich.update({"marital-status": "Married-civ-spouse", "relationship": "Husband"})
    labels = [
        client.post("/predict", json=r).get_json()["prediction"]
        for r in (example_record, rich)
    ]
    batch = client.post(
        "/predict/batch", json={"records": [rich, rich, example_record]}
    )
    labels += [p["prediction"] for p in batch.get_json()["predictions"]]
    client.post("/predict", json={"age": 1})
    client.get("/nowhere")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    ok = {"method": "POST", "route": "/predict", "status": "200"}
    assert sample(text, "census_http_requests_total", **ok) == 2
    assert sample(text, "census_http_requests_total", **{**ok, "status": "422"}) == 1
    assert (
        sample(
            text,
            "census_http_requests_total",
            method="GET",
            route="<unmatched>",
            status="404",
        )
        == 1
    )
    assert sample(text, "census_http_request_duration_seconds_count", **ok) == 2
    assert (
        sample(text, "census_http_request_duration_seconds_bucket", **ok, le="+Inf")
        == 2
    )
    for label in set(labels):
        assert sample(text, "census_predictions_total", label=label) == labels.count(
            label
        )
    assert set(labels) == {"<=50K", ">50K"}


def test_metrics_can_be_switched_off(make_app):
    client = make_app(METRICS_ENABLED=False).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/health").status_code == 200


def test_logging_and_metrics_settings_come_from_the_environment():
    config = from_env(
        {"LOG_LEVEL": "debug", "LOG_FORMAT": "TEXT", "METRICS_ENABLED": "off"}
    )
    assert (config["LOG_LEVEL"], config["LOG_FORMAT"], config["METRICS_ENABLED"]) == (
        "DEBUG", "text", False,
    )  # fmt: skip
    assert from_env({})["METRICS_ENABLED"] is True
    for bad in (
        {"METRICS_ENABLED": "maybe"},
        {"LOG_FORMAT": "xml"},
        {"LOG_LEVEL": "loud"},
    ):
        with pytest.raises(ValueError, match=list(bad)[0]):
            from_env(bad)


def test_multiprocess_dir_is_made_and_emptied_and_skipped_when_metrics_are_off(
    tmp_path,
):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m")}
    os.makedirs(env["PROMETHEUS_MULTIPROC_DIR"])
    stale = tmp_path / "m" / "counter_123.db"
    stale.write_bytes(b"old")
    assert prepare_multiprocess_dir(env) == str(tmp_path / "m")
    assert not stale.exists()
    fresh: dict = {}
    made = prepare_multiprocess_dir(fresh)
    assert os.path.isdir(made) and fresh["PROMETHEUS_MULTIPROC_DIR"] == made
    os.rmdir(made)
    assert prepare_multiprocess_dir({"METRICS_ENABLED": "false"}) is None
