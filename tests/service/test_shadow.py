"""Shadow scoring: a second model scores a sample of answered requests off the request
path; /monitoring and /metrics compare it with the served model (service/shadow.py)."""

from __future__ import annotations

import gc
import time
import weakref

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bundle.format import read_metadata
from bundle.store import load_bundle
from monitoring.profile import read_profile
from monitoring.agreement import agrees
from service import create_app
from service.settings import Settings
from service.shadow import IDLE
from testkit.shadow import train_other_model, wait_shadow_scored
from testkit.traffic import csv_records, in_distribution_split

RECORDS = 50


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory, sampled, params, loaded_model):
    """A different model of the same sample: the other quick candidate."""
    root = tmp_path_factory.mktemp("shadow-model")
    return train_other_model(root, sampled, params, loaded_model.metadata.candidate)


@pytest.fixture(scope="module")
def records(trained, loaded_model) -> list[dict]:
    split = in_distribution_split(trained.processed, read_profile(loaded_model))
    return csv_records(split, loaded_model.features, RECORDS)


def shadowed_app(model, shadow_dir, **settings):
    options = {"shadow_model_dir": str(shadow_dir), "shadow_sample_rate": 1.0}
    return create_app(
        {"TESTING": True, "BATCH_LIMIT": 1000},
        model=model,
        settings=Settings(**{**options, **settings}),
    )


def metric_values(client, name: str) -> dict[tuple, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_the_shadow_shows_its_agreement_and_psi_against_a_different_model(
    loaded_model, other_model_dir, records
):
    client = shadowed_app(loaded_model, other_model_dir).test_client()
    assert client.post("/predict/batch", json={"records": records}).status_code == 200
    for record in records[:10]:
        assert client.post("/predict", json=record).status_code == 200
    shadow = wait_shadow_scored(client, RECORDS + 10)

    other = load_bundle(other_model_dir)
    scored = records + records[:10]
    served = loaded_model.predictor.predict_many(scored)
    theirs = other.predictor.predict_many(scored)
    task = loaded_model.metadata.target.task
    agreed = sum(agrees(task, a, b) for a, b in zip(served, theirs))
    assert shadow["model_version"] == other.version != loaded_model.version
    assert shadow["records_scored"] == len(scored)
    assert shadow["records_dropped"] == shadow["records_failed"] == 0
    assert shadow["agreement_rate"] == pytest.approx(agreed / len(scored))
    served_bins = [b["served"] for b in shadow["prediction_bins"]]
    shadow_bins = [b["shadow"] for b in shadow["prediction_bins"]]
    assert sum(served_bins) == sum(shadow_bins) == len(scored)
    # Two models of easy data may predict alike: the PSI is 0 exactly when the bins agree.
    assert (shadow["prediction_psi"] > 0) == (served_bins != shadow_bins)
    assert shadow["latency_seconds"]["buckets"][-1]["records"] == len(scored)

    slug = loaded_model.metadata.project.slug
    assert metric_values(client, f"{slug}_shadow_agreement_rate") == {
        (): pytest.approx(agreed / len(scored))
    }
    assert metric_values(client, f"{slug}_shadow_prediction_psi") == {
        (): pytest.approx(shadow["prediction_psi"])
    }
    count = metric_values(client, f"{slug}_shadow_latency_seconds_count")
    assert count == {(): len(scored)}


def test_answers_are_the_same_with_the_shadow_on_and_off(
    loaded_model, other_model_dir, records
):
    on = shadowed_app(loaded_model, other_model_dir).test_client()
    off = create_app(
        {"TESTING": True, "BATCH_LIMIT": 1000}, model=loaded_model, settings=Settings()
    ).test_client()
    assert "shadow" not in off.get("/monitoring").get_json()
    batch = {"records": records}
    assert on.post("/predict/batch", json=batch).get_json() == (
        off.post("/predict/batch", json=batch).get_json()
    )
    for record in records[:5]:
        assert on.post("/predict", json=record).get_json() == (
            off.post("/predict", json=record).get_json()
        )
    assert wait_shadow_scored(on, RECORDS + 5)["records_scored"] == RECORDS + 5


def test_sampled_records_that_do_not_fit_the_queue_are_dropped_and_counted(
    loaded_model, other_model_dir, records
):
    app = shadowed_app(loaded_model, other_model_dir, shadow_queue_records=10)
    client = app.test_client()
    assert client.post("/predict/batch", json={"records": records}).status_code == 200
    shadow = wait_shadow_scored(client, RECORDS)
    assert (shadow["records_scored"], shadow["records_dropped"]) == (10, RECORDS - 10)
    slug = loaded_model.metadata.project.slug
    dropped = metric_values(client, f"{slug}_shadow_dropped_records_total")
    assert dropped[(("reason", "queue_full"),)] == RECORDS - 10


def test_unsampled_requests_never_reach_the_shadow(loaded_model, other_model_dir):
    client = shadowed_app(
        loaded_model, other_model_dir, shadow_sample_rate=0.0
    ).test_client()
    record = dict(loaded_model.metadata.examples.record)
    for _ in range(5):
        assert client.post("/predict", json=record).status_code == 200
    shadow = client.get("/monitoring").get_json()["shadow"]
    assert shadow["records_scored"] == shadow["records_dropped"] == 0


def test_the_scoring_thread_does_not_keep_a_dropped_app_s_shadow_alive(
    loaded_model, other_model_dir
):
    app = shadowed_app(loaded_model, other_model_dir)
    client = app.test_client()
    record = dict(loaded_model.metadata.examples.record)
    assert client.post("/predict", json=record).status_code == 200
    wait_shadow_scored(client, 1)  # its thread is running
    shadow = weakref.ref(app.extensions["model_monitor"].shadow)
    del app, client
    deadline = time.monotonic() + 5
    while shadow() is not None and time.monotonic() < deadline:
        gc.collect()
        time.sleep(IDLE)
    assert shadow() is None


@pytest.mark.parametrize("case", ["missing", "other task"])
def test_a_shadow_that_cannot_shadow_stops_startup_with_one_line(
    case, model_dir, task_models, tmp_path, capsys
):
    from deploy.serve import REFUSED, start

    served = read_metadata(model_dir).target.task
    other = "regression" if served != "regression" else "multiclass"
    shadow = tmp_path / "nowhere" if case == "missing" else task_models(other)
    environ = {
        "MODEL_DIR": str(model_dir),
        "SHADOW_MODEL_DIR": str(shadow),
        "METRICS_ENABLED": "false",
    }
    capsys.readouterr()  # training the other task's model prints its progress
    assert start(environ) == REFUSED
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("model-service: refusing to start: SHADOW_MODEL_DIR")
    if case == "other task":
        assert f"{other} model" in err
