"""`make monitor`: the report from a capture the running service wrote, with and without
a labels file joined by request ID and row."""

from __future__ import annotations

import csv
import dataclasses
import json
import urllib.request

import pandas as pd
import pytest

from monitoring import report
from monitoring.profile import read_profile
from testkit.servers import serving
from testkit.traffic import in_distribution_split, labelled_records, shift

# These assert a binary model's figures (positive rates); every task's drift, capture and
# make monitor are tested in tests/monitoring/test_task_monitoring.py.
pytestmark = [pytest.mark.slow, pytest.mark.task("binary")]
BATCH = 500
PNG = b"\x89PNG\r\n\x1a\n"


def post(url: str, path: str, body: dict, request_id: str) -> dict:
    request = urllib.request.Request(
        url + path,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "X-Request-ID": request_id},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def captured(tmp_path_factory, trained, model_dir, loaded_model, moved, profile):
    """A capture written by the real server (2 workers) for 2,000 records with one
    feature shifted, sent as batches and single records; and their true labels."""
    folder = tmp_path_factory.mktemp("capture")
    target = loaded_model.metadata.target.column
    split = in_distribution_split(trained.processed, profile)
    pairs = labelled_records(split, loaded_model.features, 2000, target)
    records = shift([r for r, _ in pairs], *moved)
    capture, ids = folder / "capture.jsonl", []
    env = {"CAPTURE_ENABLED": "true", "CAPTURE_DESTINATION": str(capture)}
    with serving(model_dir, log=folder / "server.log", **env) as (url, _):
        for start in range(0, 1900, BATCH):
            rid = f"batch-{start}"
            post(
                url, "/predict/batch", {"records": records[start : start + BATCH]}, rid
            )
            ids += [(rid, i) for i in range(len(records[start : start + BATCH]))]
        for i in range(len(ids), 2000):
            post(url, "/predict", records[i], f"one-{i}")
            ids.append((f"one-{i}", 0))
    labels = folder / "labels.csv"
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["request_id", "row", target])
        for (rid, row), (_, y) in zip(ids, pairs):
            writer.writerow([rid, row, y])
    # A log as `heroku logs` shows it: a prefix before each line, other lines between.
    log = folder / "heroku.log"
    log.write_text(
        "".join(
            f"2026-11-27T07:00:00+00:00 app[web.1]: {line}\nheroku[router]: at=info\n"
            for line in capture.read_text().splitlines()
        )
    )
    return {"capture": capture, "labels": labels, "heroku": log}


def test_the_report_from_a_service_capture_names_the_drifted_feature(
    captured, model_dir, moved, tmp_path
):
    out = tmp_path / "report"
    args = [str(captured["heroku"]), "--model", str(model_dir), "--out", str(out)]
    assert report.main(args) == 0
    text = (out / "MONITORING.md").read_text()
    rule, _ = moved
    assert "- Records: 2,000 (capture lines; 2,000 other lines skipped)" in text
    assert f"Drifted (PSI above 0.2): {rule.name}." in text
    assert "No labels file given" in text
    for name in ("drift.png", "prediction.png", "slice_rates.png"):
        assert (out / name).read_bytes()[:8] == PNG and f"]({name})" in text


def test_the_report_with_labels_recomputes_the_slice_metrics_on_live_data(
    captured, model_dir, loaded_model, tmp_path
):
    out = tmp_path / "report"
    args = [str(captured["capture"]), "--labels", str(captured["labels"])]
    assert report.main(args + ["--model", str(model_dir), "--out", str(out)]) == 0
    text = (out / "MONITORING.md").read_text()
    assert "- Records with a label: 2,000" in text
    assert "- Overall F1: live 0." in text
    assert "- Weak slices (F1 more than" in text
    assert (out / "slice_f1.png").read_bytes()[:8] == PNG
    # The joined records as rows of the training data, beside the report.
    rows = pd.read_csv(out / report.LABELLED_FILE, dtype=str, keep_default_na=False)
    labels = pd.read_csv(captured["labels"], dtype=str, keep_default_na=False)
    meta = loaded_model.metadata
    assert list(rows.columns) == [*meta.feature_names, meta.target.column]
    assert len(rows) == 2000
    assert sorted(rows[meta.target.column]) == sorted(labels[meta.target.column])


def test_a_labels_file_without_the_columns_it_needs_is_refused_in_one_line(
    captured, model_dir, tmp_path, capsys
):
    bad = tmp_path / "labels.csv"
    bad.write_text("id,y\nx,1\n")
    args = [str(captured["capture"]), "--labels", str(bad), "--model", str(model_dir)]
    assert report.main(args + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("monitor: ") and "needs a request_id column" in err
    assert "\n" not in err


def test_labels_are_read_as_the_data_spells_them_before_any_1_0_alias():
    from types import SimpleNamespace

    from bundle.format import Target

    coded = Target(
        "risk", positive=2, negative=1, positive_name="bad", negative_name="good"
    )
    model = SimpleNamespace(metadata=SimpleNamespace(target=coded))
    values = ["2", "1", "bad", "good", "0", "true", "maybe"]
    assert [report.label_value(v, model) for v in values] == [1, 0, 1, 0, 0, 1, None]


def test_a_joined_label_is_written_back_as_the_data_writes_the_target():
    from bundle.format import Target

    coded = Target(
        "risk", positive=2, negative=1, positive_name="bad", negative_name="good"
    )
    assert [report.cell(report.data_label(v, coded)) for v in (1, 0)] == ["2", "1"]
    three = Target(
        "kind", task="multiclass", classes=("a", 7, True), class_names=("A", "B", "C")
    )
    assert [report.cell(report.data_label(v, three)) for v in (0, 1, 2)] == [
        "a",
        "7",
        "True",
    ]
    number = Target("price", task="regression")
    assert report.cell(report.data_label(1234.5, number)) == "1234.5"
    assert [report.cell(v) for v in (None, 3, 2.0, "x y")] == ["", "3", "2.0", "x y"]


def test_the_labelled_slices_are_judged_by_the_rules_in_the_bundle_not_params_yaml(
    captured, model_dir, loaded_model, typed, tmp_path, monkeypatch
):
    def params_yaml_is_not_read():
        raise AssertionError("the report read today's params.yaml")

    monkeypatch.setattr("training.params.load", params_yaml_is_not_read)
    out = tmp_path / "report"
    args = [str(captured["capture"]), "--labels", str(captured["labels"])]
    assert report.main(args + ["--model", str(model_dir), "--out", str(out)]) == 0
    rules = read_profile(loaded_model).slice_rules
    trained = typed.evaluate.slices
    assert (rules.min_support, rules.f1_margin, rules.min_positives) == (
        trained.min_support,
        trained.f1_margin,
        trained.min_positives,
    )
    text = (out / "MONITORING.md").read_text()
    assert f"overall, support >= {rules.min_support})" in text


def test_labels_for_a_bundle_without_slice_rules_are_refused_in_one_line(
    loaded_model, monkeypatch
):
    older = dataclasses.replace(read_profile(loaded_model), slice_rules=None)
    monkeypatch.setattr(report, "read_profile", lambda model: older)
    frame = pd.DataFrame({"_y": [0, 1], "_pred": [0, 1]})
    with pytest.raises(report.ReportError, match="no slice rules") as caught:
        report.labelled_slices(loaded_model, frame)
    assert "\n" not in str(caught.value)
