"""Data capture: opt-in, sampled JSON lines of scored records, bounded, never the token."""

from __future__ import annotations

import errno
import json
import os

import pytest

from bundle.predictor import Prediction
from service import create_app
from service.capture import Capture
from service.settings import ConfigError, Settings

# These assert a binary model's figures (positive rates); every task's drift, capture and
# make monitor are tested in tests/monitoring/test_task_monitoring.py.
pytestmark = pytest.mark.task("binary")


def capturing_app(model, path, **settings):
    settings = {"capture_enabled": True, "capture_destination": str(path), **settings}
    return create_app({"TESTING": True}, model=model, settings=Settings(**settings))


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_scored_record_is_captured_with_its_request_id_row_and_answer(
    loaded_model, held_out, tmp_path
):
    path = tmp_path / "capture.jsonl"
    client = capturing_app(loaded_model, path).test_client()
    one = client.post("/predict", json=held_out[0], headers={"X-Request-ID": "req-1"})
    batch = client.post(
        "/predict/batch", json={"records": held_out[1:4]}, headers={"X-Request-ID": "b"}
    )
    captured = lines(path)
    assert [(c["request_id"], c["row"]) for c in captured] == [
        ("req-1", 0),
        ("b", 0),
        ("b", 1),
        ("b", 2),
    ]
    assert captured[0]["record"] == held_out[0]
    assert captured[0]["prediction"] == one.json["prediction"]
    assert captured[0]["probability"] == pytest.approx(one.json["probability"])
    answers = batch.json["predictions"]
    assert [c["prediction"] for c in captured[1:]] == [a["prediction"] for a in answers]
    assert {c["model_version"] for c in captured} == {loaded_model.version}
    assert {c["type"] for c in captured} == {"capture"}


def test_capture_never_writes_the_bearer_token(loaded_model, held_out, tmp_path):
    path = tmp_path / "capture.jsonl"
    client = capturing_app(
        loaded_model, path, api_token="tok-s3cret-value"
    ).test_client()
    auth = {"Authorization": "Bearer tok-s3cret-value"}
    assert client.post("/predict", json=held_out[0], headers=auth).status_code == 200
    text = path.read_text()
    assert text.count("\n") == 1 and "s3cret" not in text and "Bearer" not in text


def test_capture_is_off_unless_enabled(loaded_model, held_out, tmp_path, capfd):
    client = create_app(
        {"TESTING": True}, model=loaded_model, settings=Settings()
    ).test_client()
    client.post("/predict/batch", json={"records": held_out[:5]})
    assert '"type":"capture"' not in capfd.readouterr().out


def test_sampling_captures_about_the_configured_share(loaded_model, held_out, tmp_path):
    path = tmp_path / "capture.jsonl"
    client = capturing_app(loaded_model, path, capture_sample_rate=0.25).test_client()
    for start in range(0, 2000, 500):
        client.post("/predict/batch", json={"records": held_out[start : start + 500]})
    share = len(lines(path)) / 2000
    assert 0.2 < share < 0.3, share


def test_capture_stops_at_its_size_bound(loaded_model, held_out, tmp_path):
    path = tmp_path / "capture.jsonl"
    client = capturing_app(loaded_model, path, capture_max_bytes=5000).test_client()
    for record in held_out[:100]:
        assert client.post("/predict", json=record).status_code == 200
    size = path.stat().st_size
    assert 4000 < size <= 5000
    assert all(line["type"] == "capture" for line in lines(path))


def test_capture_to_stdout_writes_whole_json_lines(loaded_model, held_out, capfd):
    app = create_app(
        {"TESTING": True},
        model=loaded_model,
        settings=Settings(capture_enabled=True, capture_destination="stdout"),
    )
    app.test_client().post("/predict/batch", json={"records": held_out[:3]})
    out = [json.loads(x) for x in capfd.readouterr().out.splitlines() if x]
    assert [o["row"] for o in out if o.get("type") == "capture"] == [0, 1, 2]


def test_an_unwritable_capture_file_stops_the_start_with_one_line(tmp_path):
    with pytest.raises(ConfigError, match="CAPTURE_DESTINATION=.* cannot be written"):
        Capture(str(tmp_path / "missing-dir" / "capture.jsonl"), 1.0, 1000, "v")


def metric(client, name: str) -> float:
    """A sample's value on /metrics (0 when absent)."""
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_disk_under_capture_answers_every_prediction_and_counts_the_drops(
    loaded_model, held_out, caplog
):
    client = capturing_app(loaded_model, "/dev/full").test_client()
    ns = loaded_model.metadata.project.slug
    for record in held_out[:3]:
        assert client.post("/predict", json=record).status_code == 200
    batch = client.post("/predict/batch", json={"records": held_out[3:8]})
    assert batch.status_code == 200
    assert client.get("/health").status_code == 200
    assert metric(client, f"{ns}_capture_dropped_records_total") == 8
    assert client.get("/monitoring").json["records"] == 8  # answered, so counted
    warnings = [r for r in caplog.records if "data capture to" in r.getMessage()]
    assert len(warnings) == 1 and "No space left" in warnings[0].getMessage()


def test_a_write_cut_short_by_a_full_disk_leaves_no_half_line(
    loaded_model, held_out, tmp_path, monkeypatch
):
    path = tmp_path / "capture.jsonl"
    app = capturing_app(loaded_model, path)
    client = app.test_client()
    ns = loaded_model.metadata.project.slug
    headers = {"X-Request-ID": "before"}
    assert client.post("/predict", json=held_out[0], headers=headers).status_code == 200
    capture_fd = app.extensions["model_monitor"].capture._fd
    real_write, calls = os.write, []

    def disk_fills(fd, data):
        if fd != capture_fd:
            return real_write(fd, data)
        calls.append(len(data))
        if len(calls) == 1:  # the disk takes half the batch, then is full
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", disk_fills)
    body = {"records": held_out[1:4]}
    cut = client.post("/predict/batch", json=body, headers={"X-Request-ID": "cut"})
    monkeypatch.setattr(os, "write", real_write)
    assert cut.status_code == 200 and len(calls) == 2
    after = client.post("/predict", json=held_out[4], headers={"X-Request-ID": "after"})
    assert after.status_code == 200
    assert path.read_bytes().endswith(b"\n")
    assert [c["request_id"] for c in lines(path)] == ["before", "after"]
    assert metric(client, f"{ns}_capture_dropped_records_total") == 3


def test_capture_failures_are_logged_once_a_minute_with_the_records_dropped(
    tmp_path, caplog
):
    counted = []
    capture = Capture(str(tmp_path / "c.jsonl"), 1.0, 10**6, "v", counted.append)
    capture.destination = str(tmp_path / "gone" / "c.jsonl")  # every open now fails
    now = [1000.0]
    capture._warn.clock = lambda: now[0]
    records = [{"x": 1}, {"x": 2}]
    results = [Prediction("a", 0.1), Prediction("b", 0.9)]
    for _ in range(5):
        assert capture.write("r", records, results) == 0
        now[0] += 10
    now[0] += 20  # 60 s after the first warning
    assert capture.write("r", records[:1], results[:1]) == 0
    warned = [r.getMessage() for r in caplog.records if r.name == "service.capture"]
    assert len(warned) == 2, warned
    assert "2 record(s) dropped" in warned[0] and "9 record(s) dropped" in warned[1]
    assert sum(counted) == 11


def test_a_request_that_fails_after_scoring_is_neither_counted_nor_captured(
    loaded_model, held_out, tmp_path, monkeypatch
):
    import service.api

    path = tmp_path / "capture.jsonl"
    client = capturing_app(loaded_model, path).test_client()

    def broken(body):
        raise RuntimeError("the answer could not be built")

    monkeypatch.setattr(service.api, "json_response", broken)
    assert client.post("/predict", json=held_out[0]).status_code == 500
    batch = client.post("/predict/batch", json={"records": held_out[1:3]})
    assert batch.status_code == 500
    assert client.get("/monitoring").json["records"] == 0
    assert path.read_text() == ""


def test_a_drift_counting_error_answers_the_prediction_and_counts_the_drop(
    loaded_model, held_out, tmp_path, monkeypatch, caplog
):
    path = tmp_path / "capture.jsonl"
    app = capturing_app(loaded_model, path)
    client = app.test_client()
    ns = loaded_model.metadata.project.slug
    drift = app.extensions["model_monitor"].drift

    def fails(*args):
        raise ValueError("a value drift cannot bin")

    monkeypatch.setattr(drift, "count_one", fails)
    monkeypatch.setattr(drift, "count_many", fails)
    assert client.post("/predict", json=held_out[0]).status_code == 200
    batch = client.post("/predict/batch", json={"records": held_out[1:3]})
    assert batch.status_code == 200
    assert metric(client, f"{ns}_drift_dropped_records_total") == 3
    assert len(lines(path)) == 3  # capture goes on
    errors = [r for r in caplog.records if "drift counting failed" in r.getMessage()]
    assert len(errors) == 1 and errors[0].exc_info is not None
