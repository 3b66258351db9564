"""Monitoring for every task: a multiclass model's profile, drift and slices follow its
class shares, a regression's the bins and means of its predicted value; capture, `make
monitor` with labels and `make alerts` work for both."""

from __future__ import annotations

import csv
import json
import math
import subprocess

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bundle.store import load_bundle
from monitoring import alerts, report
from monitoring.counts import DriftCounter
from monitoring.profile import ClassBins, read_profile
from service import create_app
from service.settings import Settings
from testkit.prometheus import find_or_install
from testkit.tools import required
from testkit.traffic import labelled_records
from training.config import Paths

TASKS = ["multiclass", "regression"]


@pytest.fixture(scope="module")
def task_model(task_models):
    """The task's loaded bundle and its held-out records with their true labels."""

    def of(task: str):
        model_dir = task_models(task)
        model = load_bundle(model_dir)
        test_csv = Paths(root=model_dir.parent).split("test")
        with open(test_csv, newline="", encoding="utf-8") as fh:
            rows = sum(1 for _ in csv.DictReader(fh))
        target = model.metadata.target.column
        return model, labelled_records(test_csv, model.features, rows, target)

    return of


def serve(model, tmp_path, **settings):
    """A test client of the app serving `model` with monitoring (and these settings)."""
    app = create_app(
        {"TESTING": True, "BATCH_LIMIT": 10_000},
        model=model,
        settings=Settings(**settings),
    )
    return app.test_client()


def answers(client, records: list[dict], request_id: str = "r") -> list[dict]:
    """POST /predict/batch's answers for the records."""
    response = client.post(
        "/predict/batch",
        json={"records": records},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["predictions"]


@pytest.mark.parametrize("task", TASKS)
def test_export_writes_a_reference_profile_of_the_task_s_predictions(task_model, task):
    model, pairs = task_model(task)
    profile = read_profile(model)
    assert profile is not None and profile.task == task
    assert profile.prediction_rows == len(pairs)
    assert profile.positive_rate is None
    assert sum(profile.prediction.shares) == pytest.approx(1, abs=1e-5)
    if task == "multiclass":
        assert isinstance(profile.prediction, ClassBins)
        assert profile.prediction.labels == list(model.metadata.target.class_names)
        for group in profile.slices:
            assert not group.positive_rate and not group.mean_prediction
            for n, rates in zip(group.support, group.class_rates):
                if n:
                    assert sum(rates) == pytest.approx(1, abs=1e-5)
    else:
        assert profile.prediction.name == "value" and profile.prediction.edges
        assert profile.mean_prediction is not None
        for group in profile.slices:
            assert not group.class_rates and len(group.mean_prediction) == len(
                group.values
            )
    assert [s.feature for s in profile.slices], "no slice in the profile"


@pytest.mark.parametrize("task", TASKS)
def test_the_held_out_records_served_live_give_back_the_reference_figures(
    task_model, task, tmp_path
):
    model, pairs = task_model(task)
    client = serve(model, tmp_path)
    records = [r for r, _ in pairs]
    served = answers(client, records)
    body = client.get("/monitoring").get_json()
    assert body["records"] == len(records)
    words = {"multiclass": "a class's predicted rate", "regression": "mean predicted"}
    assert words[task] in body["reading"]["slices"]
    pred = body["prediction"]
    assert sum(b["records"] for b in pred["bins"]) == len(records)
    for b in pred["bins"]:  # the same records through the same engine
        assert b["share"] == pytest.approx(b["reference_share"], abs=2e-6)
    assert pred["psi"] == pytest.approx(0, abs=1e-3)
    if task == "multiclass":
        shown = {b["bin"]: b["records"] for b in pred["bins"]}
        for name in shown:
            assert shown[name] == sum(a["prediction"] == name for a in served)
        for group in body["slices"]:
            for value in group["values"]:
                for c in value["classes"]:
                    if value["records"]:
                        assert c["rate"] == pytest.approx(c["reference_rate"], abs=2e-6)
                assert sum(c["predicted"] for c in value["classes"]) == value["records"]
    else:
        mean = float(np.mean([a["prediction"] for a in served]))
        assert pred["mean_prediction"] == pytest.approx(mean, rel=1e-9)
        assert pred["reference_mean_prediction"] == pytest.approx(mean, rel=1e-5)
        for group in body["slices"]:
            for value in group["values"]:
                if value["records"]:
                    assert value["mean_prediction"] == pytest.approx(
                        value["reference_mean_prediction"], rel=1e-5, abs=1e-5
                    )


@pytest.mark.parametrize("task", TASKS)
def test_records_counted_one_by_one_or_in_a_batch_give_the_same_counts(
    task_model, task, tmp_path
):
    model, pairs = task_model(task)
    profile = read_profile(model)
    records = [r for r, _ in pairs]
    client = serve(model, None, monitoring_enabled=False)
    served = answers(client, records)
    # The batch counts go to a worker's file, as under gunicorn (a regression's: floats).
    one, many = DriftCounter(profile, 0.5), DriftCounter(profile, 0.5, str(tmp_path))
    if task == "multiclass":
        scores = [one.score(a["prediction"], a["probability"]) for a in served]
    else:
        scores = [one.score(None, None, a["prediction"]) for a in served]
    for record, score in zip(records, scores):
        one.count_one(record, score)
    many.count_many(records, np.asarray(scores, dtype=float))
    assert list(tmp_path.iterdir()), "no count file written"
    np.testing.assert_allclose(one.store.total(), many.store.total(), rtol=1e-12)


@pytest.mark.parametrize("task", TASKS)
def test_the_metrics_page_shows_the_task_s_prediction_drift_and_slices(
    task_model, task, tmp_path
):
    model, pairs = task_model(task)
    client = serve(model, tmp_path)
    served = answers(client, [r for r, _ in pairs])
    text = client.get("/metrics").get_data(as_text=True)
    ns = model.metadata.project.slug
    samples = {
        family.name: family.samples for family in text_string_to_metric_families(text)
    }
    bins = samples[f"{ns}_prediction_bin_records"]
    assert sum(s.value for s in bins) == len(served)
    assert f"{ns}_prediction_drift_psi" in samples
    records = {
        (s.labels["feature"], s.labels["value"]): s.value
        for s in samples[f"{ns}_slice_records"]
    }
    if task == "multiclass":
        assert {s.labels["bin"] for s in bins} == set(model.metadata.target.class_names)
        per_slice: dict = {}
        for s in samples[f"{ns}_slice_class_predicted"]:
            key = (s.labels["feature"], s.labels["value"])
            per_slice[key] = per_slice.get(key, 0) + s.value
        assert per_slice == records
        assert samples[f"{ns}_slice_class_rate"]
        assert samples[f"{ns}_slice_reference_class_rate"]
    else:
        (mean,) = samples[f"{ns}_prediction_mean"]
        assert mean.value == pytest.approx(np.mean([a["prediction"] for a in served]))
        assert samples[f"{ns}_slice_mean_prediction"]
    assert f"{ns}_slice_positive_rate" not in samples


@pytest.mark.parametrize("task", TASKS)
def test_capture_and_make_monitor_with_labels_give_the_task_s_metrics(
    task_model, task, tmp_path, capsys
):
    model, pairs = task_model(task)
    capture = tmp_path / "capture.jsonl"
    client = serve(
        model, tmp_path, capture_enabled=True, capture_destination=str(capture)
    )
    served = answers(client, [r for r, _ in pairs], "batch-1")
    lines = [json.loads(line) for line in capture.read_text().splitlines()]
    assert len(lines) == len(pairs)
    for line, answer in zip(lines, served):
        assert {k: line[k] for k in answer} == answer  # as /predict/batch answered
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["request_id", "row", "label"])
        writer.writerows(("batch-1", i, y) for i, (_, y) in enumerate(pairs))
    out = tmp_path / "report"
    code = report.main(
        [str(capture), "--labels", str(labels), "--model", str(model.path)]
        + ["--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    text = (out / "MONITORING.md").read_text()
    target = model.metadata.target
    if task == "multiclass":
        names = dict(zip(map(str, target.classes), target.class_names))
        right = [a["prediction"] == names[y] for a, (_, y) in zip(served, pairs)]
        expected = {"accuracy": float(np.mean(right))}
    else:
        errors = [a["prediction"] - float(y) for a, (_, y) in zip(served, pairs)]
        expected = {
            "rmse": math.sqrt(float(np.mean(np.square(errors)))),
            "mae": float(np.mean(np.abs(errors))),
        }
    for name, value in expected.items():
        trained = model.metadata.metrics[name]
        assert f"- {name}: live {value:.4f}, held-out training {trained:.4f}" in text
    assert (out / "prediction.png").exists() and (out / "slice_rates.png").exists()


@pytest.mark.parametrize("task", TASKS)
def test_make_monitor_refuses_a_capture_of_a_class_the_model_does_not_have(
    task_model, task, tmp_path, capsys
):
    model, pairs = task_model(task)
    answer = {"prediction": "no such class", "probability": 0.9}
    line = {"type": "capture", "request_id": "r", "record": pairs[0][0], **answer}
    capture = tmp_path / "capture.jsonl"
    capture.write_text(json.dumps(line) + "\n")
    code = report.main([str(capture), "--model", str(model.path), "--out", "x"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"the capture holds an answer this {task} model does not give" in err


@pytest.mark.parametrize("task", TASKS)
def test_make_alerts_writes_promtool_valid_rules_on_metrics_the_task_exposes(
    task_model, task, tmp_path
):
    promtool = required("promtool", find_or_install("promtool"))
    model, pairs = task_model(task)
    assert alerts.main(["--model", str(model.path), "--out", str(tmp_path)]) == 0
    done = subprocess.run(
        [promtool, "check", "rules", "alerts.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    client = serve(model, tmp_path)
    answers(client, [r for r, _ in pairs[:20]])
    ns = model.metadata.project.slug
    exposed = {
        f.name + ("_total" if f.type == "counter" else "")
        for f in text_string_to_metric_families(
            client.get("/metrics").get_data(as_text=True)
        )
    }
    rule_set = yaml.safe_load((tmp_path / "alerts.yml").read_text())
    board = json.loads((tmp_path / "dashboard.json").read_text())
    exprs = [r["expr"] for g in rule_set["groups"] for r in g["rules"]]
    exprs += alerts.queries(board)
    import re

    used = set().union(*(re.findall(rf"\b{ns}_[a-z_]+", e) for e in exprs))
    # No shadow runs here: its row shows no data (test_alert_rules.py runs one).
    used = {u for u in used if not u.endswith("_bucket") and "_shadow_" not in u}
    assert used and used <= exposed, sorted(used - exposed)
    names = {r.get("alert") for g in rule_set["groups"] for r in g["rules"]}
    slice_alert = {"multiclass": "ModelSliceClassRate", "regression": None}[task]
    assert "ModelSlicePositiveRate" not in names
    assert slice_alert is None or slice_alert in names


@pytest.mark.task("binary")  # the configured data set's profile
def test_a_binary_profile_is_written_as_before_other_tasks_had_one(profile):
    data = json.loads(profile.to_bytes())
    assert set(data) == {
        "rows",
        "features",
        "prediction",
        "prediction_rows",
        "positive_rate",
        "slices",
        "slice_rules",
    }
    assert set(data["prediction"]) == {"name", "edges", "shares"}
    for group in data["slices"]:
        assert "class_rates" not in group and "mean_prediction" not in group
        assert len(group["positive_rate"]) == len(group["values"])
