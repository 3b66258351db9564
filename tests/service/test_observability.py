"""Request IDs, structured logs and Prometheus metrics."""

from __future__ import annotations

import json
import os
import random
import string

import pytest

from service.settings import ConfigError, Settings


@pytest.fixture
def make_app(loaded_model):
    from service import create_app

    def make(**config):
        return create_app(
            {"TESTING": True, **config}, model=loaded_model, settings=Settings()
        )

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
    client.post("/predict", json={"not_a_feature": 7}, headers={"X-Request-ID": "abc"})
    [line] = [
        e for e in log_lines(capsys.readouterr().err) if e["logger"] == "service.access"
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
    assert "service.access" not in capsys.readouterr().err


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return 0.0


@pytest.mark.task("binary")  # a binary model's two classes counted
def test_metrics_named_after_the_project_count_requests_latency_and_classes(
    make_app, loaded_model
):
    client = make_app(LOG_LEVEL="WARNING").test_client()
    ns = loaded_model.metadata.project.slug
    ex = loaded_model.metadata.examples
    low, high = ex.negative.record, ex.positive.record
    labels = [
        client.post("/predict", json=r).get_json()["prediction"] for r in (low, high)
    ]
    batch = client.post("/predict/batch", json={"records": [high, high, low]})
    labels += [p["prediction"] for p in batch.get_json()["predictions"]]
    client.post("/predict", json={"not_a_feature": 1})
    client.get("/nowhere")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    ok = {"method": "POST", "route": "/predict", "status": "200"}
    assert sample(text, f"{ns}_http_requests_total", **ok) == 2
    assert sample(text, f"{ns}_http_requests_total", **{**ok, "status": "422"}) == 1
    assert (
        sample(
            text,
            f"{ns}_http_requests_total",
            method="GET",
            route="<unmatched>",
            status="404",
        )
        == 1
    )
    assert sample(text, f"{ns}_http_request_duration_seconds_count", **ok) == 2
    assert (
        sample(text, f"{ns}_http_request_duration_seconds_bucket", **ok, le="+Inf") == 2
    )
    for label in set(labels):
        assert sample(text, f"{ns}_predictions_total", label=label) == labels.count(
            label
        )
    target = loaded_model.metadata.target
    assert set(labels) == {target.negative_name, target.positive_name}


def label_values(text: str) -> dict[str, set[str]]:
    """Every value each label takes in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            for name, value in s.labels.items():
                values.setdefault(name, set()).add(value)
    return values


def test_random_methods_and_paths_cannot_grow_the_metrics(make_app, example_record):
    from service.metrics import METHODS

    client = make_app(LOG_LEVEL="WARNING").test_client()
    rng = random.Random(15)

    def scan(n: int) -> None:
        for _ in range(n):
            method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
            path = rng.choice(["/predict", "/health", "/"]) + rng.choice(["", "x"])
            assert client.open(path, method=method).status_code in (404, 405)

    client.post("/predict", json=example_record)
    client.get("/metrics")  # a scrape is counted once answered: its labels come next
    scan(20)
    before = client.get("/metrics").get_data(as_text=True)
    scan(2000)
    after = client.get("/metrics").get_data(as_text=True)
    print(f"/metrics: {len(before)} bytes after 20 random methods, {len(after)} after")
    assert len(after) - len(before) < 1000  # only the counts' digits grew
    labels = label_values(after)
    assert labels["method"] <= METHODS | {"other"}
    assert labels["route"] <= {"/predict", "/metrics", "<unmatched>"}
    assert labels["status"] <= {"200", "404", "405"}


def test_metrics_can_be_switched_off(make_app):
    client = make_app(METRICS_ENABLED=False).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/health").status_code == 200


def test_logging_and_metrics_settings_come_from_the_environment():
    settings = Settings.from_env(
        {"LOG_LEVEL": "debug", "LOG_FORMAT": "TEXT", "METRICS_ENABLED": "off"}
    )
    assert (settings.log_level, settings.log_format, settings.metrics_enabled) == (
        "DEBUG", "text", False,
    )  # fmt: skip
    assert Settings.from_env({}).metrics_enabled is True
    for bad in (
        {"METRICS_ENABLED": "maybe"},
        {"LOG_FORMAT": "xml"},
        {"LOG_LEVEL": "loud"},
    ):
        with pytest.raises(ConfigError, match=list(bad)[0]):
            Settings.from_env(bad)


def test_multiprocess_dir_is_made_and_emptied_and_skipped_when_metrics_are_off(
    tmp_path, monkeypatch
):
    from deploy.serve import prepare_metrics_dir

    # prepare_metrics_dir exports the variable: recorded here so it is undone afterwards
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    shared = tmp_path / "m"
    shared.mkdir()
    stale = shared / "counter_123.db"
    stale.write_bytes(b"old")
    given = Settings(prometheus_multiproc_dir=str(shared))
    assert prepare_metrics_dir(given).prometheus_multiproc_dir == str(shared)
    assert not stale.exists() and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(shared)
    made = prepare_metrics_dir(Settings()).prometheus_multiproc_dir
    assert os.path.isdir(made) and made != str(shared)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == made
    os.rmdir(made)
    off = Settings(metrics_enabled=False, monitoring_enabled=False)
    assert prepare_metrics_dir(off).prometheus_multiproc_dir == ""
