"""Data capture: opt-in, sampled JSON lines of scored records, bounded, never the token."""

from __future__ import annotations

import json

import pytest

from service import create_app
from service.capture import Capture
from service.settings import ConfigError, Settings


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
