"""make challenger, make compare and make promote: a candidate trained into its own
folder from the current params (and new data), judged against the served model on the
same held-out rows by the gate of params.yaml `promote:`, and made the model only when it
passed. Each task's made-up data set (testkit/tasks.py): the served model is trained on
it, the data then shifts (the target's relation changes in one slice), and a challenger
trained on the shifted data must beat it."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import urllib.request
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
import yaml

from bundle.files import sha256_file
from bundle.store import load_bundle
from monitoring import report as monitor
from service import create_app
from service.capture import Capture
from service.settings import Settings
from testkit.servers import serving
from testkit.slug import ROOT, TRAINED, checkout_files, copy_files
from testkit.tasks import quick_params, task_frame, trained_task
from training import compare, release
from training.challenger import challenger_params, train_challenger
from training.clean import clean_and_report
from training.config import ConfigError, Paths
from training.labelled import add_labelled
from training.metrics import classification_metrics, metric
from training.params import LOWER_IS_BETTER, Params, PromoteParams
from training.promote import check_result, promote, read_result

# A slice of 30-odd test rows moves by a few points of F1 between two fits of the same
# data: the test's gate allows that much.
NOISY_SLICES = {"slice_margin": 0.15}
NOW = datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)


def shifted_frame(task: str, **options):
    """The task's data with the target's relation changed for one colour: the served
    model is wrong there, a model trained on this data is not."""
    frame = task_frame(task, **options)
    red = frame["colour"] == "red"
    if task == "binary":
        frame.loc[red, "answer"] = frame.loc[red, "answer"].map(
            {"yes": "no", "no": "yes"}
        )
    else:
        frame.loc[red, "answer"] = frame.loc[red, "answer"] - 3000
    return frame


def fingerprint(folder) -> dict:
    """Each file of a folder by its SHA-256."""
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module", params=["binary", "regression"])
def served(request, tmp_path_factory):
    """A project trained on the task's data (the champion in model/), its quick params
    with the test's gate, and the data shifted as a CSV."""
    task = request.param
    root = tmp_path_factory.mktemp(task)
    paths = trained_task(root, task)
    raw = quick_params(yaml.safe_load((root / "params.yaml").read_text()))
    raw["promote"] = NOISY_SLICES
    shifted = root / "shifted.csv"
    shifted_frame(task).to_csv(shifted, index=False)
    return task, paths, raw, shifted


@pytest.mark.slow
def test_a_challenger_of_shifted_data_passes_the_gate_and_promote_makes_it_the_model(
    served, capsys
):
    task, paths, raw, shifted = served
    before = fingerprint(paths.model_dir)
    challenger = train_challenger(
        paths.root / "build" / "challenger",
        challenger_params(raw, shifted, paths.root),
    )
    assert fingerprint(paths.model_dir) == before
    assert challenger.model_dir.is_dir() and challenger.metrics.is_file()
    (paths.root / "params.yaml").write_text(yaml.safe_dump(raw))
    out = paths.root / "build" / "compare"
    status = compare.main(
        [
            f"--champion={paths.model_dir}",
            f"--challenger={challenger.model_dir}",
            f"--params={paths.root / 'params.yaml'}",
            f"--out={out}",
        ]
    )
    report = json.loads((out / "compare.json").read_text())
    assert status == 0, capsys.readouterr().err
    assert report["passed"] and report["rows"]["path"] == str(challenger.test_csv)
    assert [c["name"] for c in report["checks"]] == [
        "metric",
        "slices",
        "fairness",
        "latency",
        "parity",
    ]
    metric = raw["train"]["selection_metric"]
    d = report["difference"]
    assert d["low"] <= d["value"] <= d["high"]
    gain = -d["value"] if metric in LOWER_IS_BETTER else d["value"]
    assert gain > 0, "the shifted data's model is the better one on the shifted rows"
    assert report["slices"], "the slices both models measure are compared"
    assert "**Gate: PASSED" in (out / "report.md").read_text()
    assert (out / "figures" / "slices.png").stat().st_size > 0

    champion = load_bundle(paths.model_dir).version
    record = promote(paths, challenger, report, NOW)
    # As a platform's restart would: the model folder loaded again.
    served_now = load_bundle(paths.model_dir)
    assert served_now.version == report["versions"]["challenger"] != champion
    assert record["previous"] == champion
    assert fingerprint(paths.staged_bundle) == fingerprint(challenger.staged_bundle)
    assert paths.metrics.read_text() == challenger.metrics.read_text()
    app = create_app({"TESTING": True}, model=served_now, settings=Settings())
    cited = app.test_client().get("/health").get_json()["model"]["promotion"]
    assert cited["previous"] == champion and cited["promoted_at"] == NOW.isoformat()
    assert set(cited["gate"]) == {"metric", "slices", "fairness", "latency", "parity"}
    # The published card cites the registry's entry; the challenger's own did not.
    card = paths.model_card.read_text()
    assert "## Promotion" not in challenger.model_card.read_text()
    section = card.split("\n## Promotion\n")[1].split("\n## ")[0]
    assert f"| Version | {served_now.version} |" in section
    assert f"| Promoted at (UTC) | {NOW.isoformat()} |" in section
    assert f"| Previous version | {champion} |" in section
    assert all(f"- {line}" in section for line in cited["gate"].values())
    # One writer: less that section, the card is the challenger's, byte for byte.
    unpromoted = card.replace("\n## Promotion\n" + section, "")
    assert unpromoted == challenger.model_card.read_text()


@pytest.mark.slow
def test_a_one_feature_challenger_is_refused_with_a_line_naming_each_failed_check(
    served, capsys, tmp_path
):
    task, paths, raw, _ = served
    one = yaml.safe_load(yaml.safe_dump(raw))
    weakest = "age"  # testkit/tasks.py: the least informative column
    one["features"]["numeric"] = {weakest: one["features"]["numeric"][weakest]}
    one["features"]["categorical"] = []
    one["evaluate"]["slices"]["bands"] = {}
    weak = train_challenger(tmp_path / "weak", challenger_params(one, base=paths.root))
    assert Params.from_dict(one).features.columns == [weakest]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    status = compare.main(
        [
            f"--champion={paths.model_dir}",
            f"--challenger={weak.model_dir}",
            f"--rows={paths.test_csv}",
            f"--params={tmp_path / 'params.yaml'}",
            f"--out={tmp_path / 'compare'}",
        ]
    )
    refused = capsys.readouterr().err.splitlines()
    assert status == 1
    metric = raw["train"]["selection_metric"]
    assert any(line.startswith(f"refused: {metric}: challenger") for line in refused)
    assert any(line.startswith("refused: slices: ") for line in refused)
    report = (tmp_path / "compare" / "report.md").read_text()
    assert "**Gate: REFUSED**" in report and f"- FAIL: {metric}:" in report

    before = fingerprint(paths.model_dir)
    result = read_result(tmp_path / "compare" / "compare.json")
    with pytest.raises(ConfigError, match=r"failed the gate \(metric, slices"):
        promote(paths, weak, result, NOW)
    assert fingerprint(paths.model_dir) == before


def captured_with_labels(folder, model_dir, frame):
    """`frame`'s records scored by the served model and captured as the service
    captures them (service/capture.py), and their true labels joined by request ID and
    row, as `make monitor LABELS=...` reads them."""
    model = load_bundle(model_dir)
    names, target = model.metadata.feature_names, model.metadata.target.column
    records = frame[names].to_dict("records")
    capture = folder / "capture.jsonl"
    writer = Capture(str(capture), 1.0, 10**8, model.version)
    assert writer.write("live", records, model.predictor.predict_many(records)) == len(
        records
    )
    labels = folder / "labels.csv"
    with open(labels, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["request_id", "row", target])
        out.writerows(["live", i, y] for i, y in enumerate(frame[target]))
    return capture, labels


@pytest.mark.slow
def test_labelled_capture_joins_the_challengers_training_split_and_compare_scores_it(
    served, tmp_path, capsys
):
    task, paths, raw, shifted = served
    live = shifted_frame(task, rows=150, seed=17)  # records the data does not hold
    capture, labels = captured_with_labels(tmp_path, paths.model_dir, live)
    out = tmp_path / "monitoring"
    args = [str(capture), "--labels", str(labels), "--model", str(paths.model_dir)]
    assert monitor.main(args + ["--out", str(out)]) == 0
    labelled = out / monitor.LABELLED_FILE
    assert f"wrote {labelled}: 150 labelled records" in capsys.readouterr().out
    rows = pd.read_csv(labelled)
    model = load_bundle(paths.model_dir)
    assert list(rows.columns) == [*model.metadata.feature_names, "answer"]
    # The target as the data writes it: the raw labels, not 0/1.
    assert rows["answer"].tolist() == live["answer"].tolist()

    challenger = train_challenger(
        tmp_path / "challenger",
        challenger_params(raw, shifted, paths.root),
        labelled=labelled,
    )
    cleaning = json.loads(challenger.cleaning.read_text())
    # A made-up row may repeat one of the data's: cleaning drops it, as the data's own.
    added, dropped = cleaning["labelled"]["rows_added"], {
        r["step"]: r["rows"] for r in cleaning["labelled"]["removed"]
    }
    assert cleaning["labelled"]["rows_read"] == 150 == added + sum(dropped.values())
    assert added >= 140 and set(dropped) <= {"duplicates", "overlap"}
    trained_rows = load_bundle(challenger.model_dir).metadata.provenance["data"]
    assert trained_rows["train"]["rows"] == cleaning["rows_kept"]["train"] + added
    assert len(pd.read_csv(challenger.test_csv)) == cleaning["rows_kept"]["test"]
    assert (
        f"Labelled captured records added to the training split: {added} of the 150"
        in challenger.model_card.read_text()
    )

    # ROWS=labelled.csv: the gate on those rows; LABELLED=: a section beside it.
    result = compare.compare(
        paths.model_dir, challenger.model_dir, labelled, Params.from_dict(raw)
    )
    assert result["rows"]["count"] == 150 and len(result["checks"]) == 5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    compare.main(
        [
            f"--champion={paths.model_dir}",
            f"--challenger={challenger.model_dir}",
            f"--labelled={labelled}",
            f"--params={tmp_path / 'params.yaml'}",
            f"--out={tmp_path / 'compare'}",
        ]
    )
    report = json.loads((tmp_path / "compare" / "compare.json").read_text())
    section = report["labelled"]
    assert section["count"] == 150 and section["challenger_trained_on_it"]
    metric = raw["train"]["selection_metric"]
    assert section["metrics"]["champion"][metric] == pytest.approx(
        result["metrics"]["champion"][metric]
    )
    text = (tmp_path / "compare" / "report.md").read_text()
    assert "## Recent labelled capture (reported, not gated)" in text
    assert "The challenger was trained on these rows" in text


def bad_rows(task: str) -> dict[str, tuple[str, str]]:
    """A labelled row breaking one rule each, and the message naming it."""
    if task == "binary":
        label, named = "maybe", "label 'maybe' is not one of 'answer'"
    else:
        label, named = "lots", "label 'lots' of 'answer' is not a number"
    return {
        "a number that is not": ("ten", "'age': 'ten' is not a number"),
        "a fraction of an integer": ("2.5", "'age': '2.5' is not a whole number"),
        "an unknown label": (label, named),
        "no label": ("", "no label: the target 'answer' is empty"),
    }


def test_a_bad_labelled_row_is_refused_in_one_line_naming_the_file_and_its_line(
    served, tmp_path
):
    task, paths, raw, _ = served
    params = Params.from_dict(raw)
    frames, _ = clean_and_report(paths, params)
    good = frames["train"].head(3)
    for what, (cell, message) in bad_rows(task).items():
        bad = good.copy()
        column = "age" if "label" not in message else "answer"
        bad.loc[bad.index[1], column] = cell
        path = tmp_path / "labelled.csv"
        bad.to_csv(path, index=False)
        with pytest.raises(ConfigError) as refused:
            add_labelled(path, frames, params)
        line = str(refused.value)
        assert line.startswith(f"{path} line 3: ") and "\n" not in line, what
        assert message in line, what
    path.write_text("size,colour\n1,red\n")
    with pytest.raises(ConfigError, match=r"labelled.csv: no column 'age'"):
        add_labelled(path, frames, params)


def test_promote_refuses_a_comparison_of_other_versions():
    result = {
        "versions": {"champion": "a-1", "challenger": "b-2"},
        "passed": True,
        "checks": [],
    }
    check_result(result, "a-1", "b-2")
    with pytest.raises(
        ConfigError, match="judged b-2 against a-1, not c-3 against a-1"
    ):
        check_result(result, "a-1", "c-3")


def test_the_gate_defaults_are_declared_once_and_a_wrong_key_is_one_line():
    raw = yaml.safe_load(Paths().root.joinpath("params.yaml").read_text())
    raw.pop("promote", None)
    assert Params.from_dict(raw).promote == PromoteParams()
    with pytest.raises(ConfigError, match="unknown key promote.tolerence; known: "):
        Params.from_dict({**raw, "promote": {"tolerence": 0.01}})
    with pytest.raises(ConfigError, match="promote.latency_ratio must be a number"):
        Params.from_dict({**raw, "promote": {"latency_ratio": 0.5}})


def test_new_data_replaces_the_source_of_the_csv_loader_only(tmp_path):
    raw = yaml.safe_load(Paths().root.joinpath("params.yaml").read_text())
    data = tmp_path / "new.csv"
    data.write_text("a\n1\n")
    if raw["data"].get("loader") != "csv":
        with pytest.raises(ConfigError, match="only the csv loader reads"):
            challenger_params(raw, data)
    with pytest.raises(ConfigError, match="no such file"):
        challenger_params({**raw, "data": {"loader": "csv"}}, tmp_path / "gone.csv")


def test_one_metric_is_the_one_the_task_metrics_report():
    rng = np.random.default_rng(3)
    y, proba = rng.integers(0, 2, 200), rng.random(200)
    every = classification_metrics(y, proba, 0.4)
    assert {k: metric("binary", k, y, proba, 0.4) for k in every} == every


def served_version(model_dir) -> str:
    """The version a freshly started server (the Procfile's command) answers on /health:
    what a platform's restart would serve."""
    with serving(model_dir, WEB_CONCURRENCY="1") as (url, _):
        with urllib.request.urlopen(f"{url}/health", timeout=10) as r:
            return json.loads(r.read())["model"]["version"]


def git(root, *args) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.slow
def test_a_promotion_is_pushed_committed_and_tagged_and_rollback_restores_the_old_one(
    tmp_path,
):
    # The served project, and a challenger of shifted data that passed the gate.
    project = trained_task(tmp_path / "project", "binary")
    raw = quick_params(yaml.safe_load((project.root / "params.yaml").read_text()))
    raw["promote"] = NOISY_SLICES
    shifted = tmp_path / "shifted.csv"
    shifted_frame("binary").to_csv(shifted, index=False)
    challenger = train_challenger(
        project.root / "build" / "challenger",
        challenger_params(raw, shifted, project.root),
    )
    result = compare.compare(
        project.model_dir,
        challenger.model_dir,
        challenger.test_csv,
        Params.from_dict(raw),
    )
    assert result["passed"]
    # A checkout under git and DVC, with a local remote, serving the champion.
    checkout = copy_files(ROOT, checkout_files(ROOT), tmp_path / "checkout")
    for name in ("data/raw", *TRAINED):
        source, target = project.root / name, checkout / name
        shutil.rmtree(target, ignore_errors=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    git(checkout, "init", "-q")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-qm", "the project")
    release.run(
        checkout, "dvc", "remote", "add", "-d", "--local", "t", str(tmp_path / "r")
    )
    champion = load_bundle(checkout / "model").version
    assert served_version(checkout / "model") == champion
    assert release.record(checkout) == f"model-{champion}"

    promote(Paths(root=checkout), challenger, result, NOW)
    assert release.record(checkout) == f"model-{result['versions']['challenger']}"
    # The server restarted, as a platform restarts it after CD ships the promotion.
    assert served_version(checkout / "model") == result["versions"]["challenger"]
    shutil.rmtree(checkout / ".dvc" / "cache")  # rollback must pull from the remote

    start = time.perf_counter()
    assert release.rollback(checkout) == champion
    # docs/lifecycle.md cites this figure (pytest -rP shows it).
    print(f"rollback: {time.perf_counter() - start:.1f} s")
    assert served_version(checkout / "model") == champion
    assert git(checkout, "log", "-1", "--format=%s").strip() == (
        f"Roll back to model {champion}"
    )
    assert git(checkout, "diff", f"model-{champion}", "--", *release.TRACKED) == ""
