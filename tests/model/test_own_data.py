"""A data set nobody here has seen, brought in with only the README's steps, trains,
serves and passes smoke_test.py.

The README's steps: put a CSV (header row, an integer 0/1 target) in the repo, point
`data.source` at it, describe the columns under `features:` (and say what is predicted
under `project:`). Nothing else changes. The CSV is real data as it comes: `NA` for
missing (listed in `data.missing`), whole numbers written `12.0` in an integer column, a
category of numeric codes.

The same CSV carries a multiclass target (a subscriber's next plan move, three texts) and
a regression one (the monthly spend): declared with `features.task`, each trains, serves
its task's answers, batch-scores its own source and passes smoke_test.py too.
"""

from __future__ import annotations

import copy
import csv
import json

import numpy as np
import pandas as pd
import pytest

from testkit.sample import train_project
from training.clean import clean_stage
from training.config import Paths
from training.fetch import fetch
from training.params import Params
from testkit.markers import needs_model


def unseen_csv(rows: int = 600) -> str:
    """Made-up loan-free, census-free data: a 0/1 target driven by two columns."""
    rng = np.random.default_rng(7)
    tenure = rng.integers(0, 40, rows)
    load = rng.normal(50.0, 15.0, rows).round(2)
    plan = rng.choice(["basic", "plus", "pro", "max"], rows)
    region = rng.choice(["north", "south", "east", "", "NA"], rows)
    zone = rng.choice([0, 1, 2], rows)
    score = 0.08 * tenure - 0.05 * (load - 50) + (plan == "pro") * 1.5 - 1.0
    noise = rng.normal(0, 1, rows)
    churned = (score + noise < 0).astype(int)
    move = np.select(
        [score + noise < -0.5, score + noise < 1.0], ["down", "stay"], "up"
    )
    spend = (20 + 0.6 * tenure + (plan == "pro") * 15 + 2 * noise).round(2)
    df = pd.DataFrame(
        {
            # Every third whole number written as an export tool does: 12.0.
            "tenure_months": [
                f"{t}.0" if i % 3 else str(t) for i, t in enumerate(tenure)
            ],
            "weekly_load": load,
            "plan": plan,
            "region": region,
            "zone": zone,
            "churned": churned,
            "next_move": move,
            "monthly_spend": spend,
        }
    )
    return df.to_csv(index=False)


PARAMS = {
    "project": {"name": "churn-demo", "description": "whether a subscriber churns"},
    "data": {
        "source": "mine/subscribers.csv",
        "test_size": 0.3,
        "seed": 1,
        "missing": ["", "NA"],
    },
    "features": {
        "target": "churned",
        "positive_label": 1,
        "numeric": {
            "tenure_months": {"type": "integer", "min": 0, "max": 600},
            "weekly_load": {"type": "number", "min": -100, "max": 200},
        },
        "categorical": ["plan", "region", "zone"],
    },
    # Slices and the audit name this data's columns (clean refuses any it lacks).
    "evaluate": {
        "threshold": 0.5,
        "slices": {
            "min_support": 20,
            "f1_margin": 0.1,
            "bands": {"tenure_months": [0, 12, 24, 601]},
        },
        "bias": {
            "attributes": ["plan", "tenure_months-band"],
            "fair_band": [0.8, 1.25],
        },
    },
}


# A quick candidate of each task.
LOGISTIC = {"estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 500}}
HIST = {
    "estimator": "hist_gradient_boosting",
    "params": {"max_iter": 30, "max_leaf_nodes": 8, "early_stopping": False},
}
QUICK = {
    "binary": LOGISTIC,
    "multiclass": LOGISTIC,
    "regression": {"estimator": "ridge", "params": {"alpha": 1.0}},
}


def task_params(task: str, train: dict) -> dict:
    """PARAMS for the multiclass or regression target of the same CSV: `train`'s CV
    with a quick candidate and the selection metric of the task."""
    own = copy.deepcopy(PARAMS)
    own["project"]["description"] = (
        "a subscriber's next plan move"
        if task == "multiclass"
        else "a subscriber's monthly spend"
    )
    features = own["features"]
    del features["positive_label"]
    features["task"] = task
    features["target"] = "next_move" if task == "multiclass" else "monthly_spend"
    quick = QUICK[task]
    own["train"] = {
        **copy.deepcopy(train),
        "candidates": {quick["estimator"]: quick},
        "selection_metric": "log_loss" if task == "multiclass" else "rmse",
    }
    return own


def trained_on_the_csv(root, own: dict) -> Paths:
    """The unseen CSV under `root`, fetched, cleaned, fitted and exported by `own`."""
    (root / "mine").mkdir()
    (root / "mine" / "subscribers.csv").write_text(unseen_csv())
    paths, typed = Paths(root=root), Params.from_dict(own)
    assert fetch(paths, typed) == {"all": paths.raw / "data.csv"}
    clean_stage(paths, typed)
    return train_project(paths, own)


@pytest.fixture(scope="module", params=["multiclass", "regression"])
@needs_model
def task_project(request, tmp_path_factory, params):
    """The unseen CSV's multiclass or regression target, through the same stages."""
    own = task_params(request.param, params["train"])
    root = tmp_path_factory.mktemp(request.param)
    return trained_on_the_csv(root, own), own


@pytest.fixture(scope="module")
@needs_model
def own_project(tmp_path_factory, params):
    """The unseen CSV fetched, cleaned, fitted and exported by the pipeline's stages."""
    own = copy.deepcopy(PARAMS)
    # The configured data set's CV, with the quick classifiers whatever its task.
    own["train"] = {
        **copy.deepcopy(params["train"]),
        "candidates": {"logistic_regression": LOGISTIC, "hist_gradient_boosting": HIST},
        "selection_metric": "roc_auc",
    }
    return trained_on_the_csv(tmp_path_factory.mktemp("own"), own), own


def test_the_split_is_stratified_on_the_integer_target(own_project):
    paths, _ = own_project
    rates = [pd.read_csv(paths.split(n))["churned"].mean() for n in ("train", "test")]
    assert abs(rates[0] - rates[1]) < 0.03


def test_the_model_speaks_the_new_data_sets_words(own_project):
    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings

    paths, _ = own_project
    model = load_bundle(paths.model_dir)
    assert (model.metadata.target.positive, model.metadata.target.negative) == (1, 0)
    client = create_app(
        {"TESTING": True}, model=model, settings=Settings()
    ).test_client()
    welcome = client.get("/").get_json()["message"]
    assert welcome.startswith("churn-demo: predicts whether a subscriber churns")
    spec = client.get("/openapi.json").get_json()
    fields = spec["components"]["schemas"]["Record"]["properties"]
    assert set(fields) == {"tenure_months", "weekly_load", "plan", "region", "zone"}
    assert fields["weekly_load"]["type"] == "number"
    # Codes that look like numbers: the doc says a string or a number is taken.
    assert fields["zone"]["anyOf"] == [{"type": "string"}, {"type": "number"}]
    assert {"0", "1", "2", 0, 1, 2} <= set(fields["zone"]["enum"])
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "churn_demo_http_requests_total" in metrics
    r = client.post(
        "/predict", json={**model.metadata.examples.positive.record, "plan": "gold"}
    )
    assert r.status_code == 422 and "plan" in r.get_json()["errors"]["json"]


def test_the_bundle_records_the_training_sets_missing_markers(own_project):
    from bundle.store import load_bundle

    paths, _ = own_project
    model = load_bundle(paths.model_dir)
    assert model.metadata.missing == ("", "NA")
    region = next(r for r in model.features if r.name == "region")
    assert "NA" not in region.categories and region.nullable
    assert region.from_text("NA") is None


def test_training_reads_a_processed_cell_as_the_batch_reader_does(own_project):
    import io

    from bundle.rules import FeatureRule
    from training.features import read_processed

    _, own = own_project
    spec = Params.from_dict(own).features
    text = (
        "tenure_months,weekly_load,plan,region,zone,churned\n"
        "181.0,50,NA,null,1,0\n"
        "7,1e1,basic,,2,1\n"
    )
    df = read_processed(io.StringIO(text), spec)
    # Only an empty cell is missing here: "NA" and "null" are text, as for the reader.
    assert df["plan"].tolist() == ["NA", "basic"]
    assert df["region"].iloc[0] == "null" and pd.isna(df["region"].iloc[1])
    assert df["tenure_months"].tolist() == [181.0, 7.0]
    assert df["weekly_load"].tolist() == [50.0, 10.0]
    reader = FeatureRule("plan", "category", categories=("NA",), missing=("",))
    assert (reader.from_text("NA"), reader.from_text("")) == ("NA", None)


def test_a_bundle_from_before_the_markers_loads_reading_only_an_empty_cell_as_missing(
    own_project, tmp_path
):
    import shutil

    from bundle.format import METADATA_FILE, BundleError
    from bundle.store import load_bundle

    paths, _ = own_project
    old = shutil.copytree(paths.model_dir, tmp_path / "old")
    meta = json.loads((old / METADATA_FILE).read_text())
    del meta["missing"]
    (old / METADATA_FILE).write_text(json.dumps(meta))
    model = load_bundle(old)
    assert model.metadata.missing == ("",)
    region = next(r for r in model.features if r.name == "region")
    assert (region.from_text(""), region.from_text("NA")) == (None, "NA")
    (old / METADATA_FILE).write_text(json.dumps({**meta, "missing": "NA"}))
    with pytest.raises(BundleError, match="missing must be a list of texts"):
        load_bundle(old)


@pytest.mark.parametrize("split", ["source", "train"])
def test_the_training_data_itself_batch_scores_with_no_rejected_row(
    own_project, tmp_path, split
):
    from batch.score import main

    paths, _ = own_project
    source = paths.raw / "data.csv" if split == "source" else paths.split("train")
    out, errors = tmp_path / "out.csv", tmp_path / "errors.csv"
    args = [str(source), str(out), "--model-dir", str(paths.model_dir), "--quiet"]
    assert main(args + ["--errors", str(errors)]) == 0
    assert errors.read_text().strip().count("\n") == 0  # the header line only
    scored = pd.read_csv(out)
    assert (
        len(scored) == len(pd.read_csv(source)) and scored["prediction"].notna().all()
    )


def test_a_row_of_the_source_csv_posted_as_json_is_scored(own_project):
    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings

    paths, _ = own_project
    model = load_bundle(paths.model_dir)
    client = create_app(
        {"TESTING": True}, model=model, settings=Settings()
    ).test_client()
    with open(paths.raw / "data.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # The CSV's own row as a client would write it: numbers as JSON numbers (12.0 for
    # an integer, 1 for a zone code), a missing cell as null.
    row = next(r for r in rows if r["tenure_months"].endswith(".0") and r["region"])
    names = set(model.metadata.feature_names)
    record = {
        k: None if v in ("", "NA") else json.loads(v) if v[0].isdigit() else v
        for k, v in row.items()
        if k in names
    }
    assert type(record["zone"]) is int and type(record["tenure_months"]) is float
    r = client.post("/predict", json=record)
    assert r.status_code == 200, r.get_json()
    # Where the CSV says NA, the JSON says null.
    r = client.post("/predict", json={**record, "region": None})
    assert r.status_code == 200, r.get_json()


def test_an_integer_target_is_labelled_alike_by_the_api_and_the_batch_files(
    own_project, tmp_path
):
    import pyarrow.parquet as pq

    from batch.score import main
    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings

    paths, _ = own_project
    model = load_bundle(paths.model_dir)
    record = model.metadata.examples.positive.record
    client = create_app(
        {"TESTING": True}, model=model, settings=Settings()
    ).test_client()
    answer = client.post("/predict", json=record).get_json()["prediction"]
    assert answer == "1"  # the target's value as text, as the CSV has it
    source = tmp_path / "one.csv"
    pd.DataFrame([record]).to_csv(source, index=False)
    args = [str(source), "--model-dir", str(paths.model_dir), "--quiet"]
    assert main([args[0], str(tmp_path / "out.csv"), *args[1:]]) == 0
    assert main([args[0], str(tmp_path / "out.parquet"), *args[1:]]) == 0
    line = (tmp_path / "out.csv").read_text().splitlines()[1]
    assert line.split(",")[:2] == ["1", answer]  # 1, not "1"
    table = pq.read_table(tmp_path / "out.parquet")
    assert str(table.schema.field("prediction").type) == "string"
    assert table.column("prediction").to_pylist() == [answer]


@pytest.mark.slow
def test_the_unseen_data_sets_model_passes_the_smoke_test_behind_the_real_server(
    own_project, tmp_path
):
    import smoke_test
    from testkit.servers import serving

    paths, _ = own_project
    with serving(paths.model_dir, log=tmp_path / "server.log") as (url, _):
        assert smoke_test.run(url, attempts=3, delay=0.5) == 0


def test_each_task_s_model_answers_in_the_new_data_sets_words(task_project):
    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings

    paths, own = task_project
    model = load_bundle(paths.model_dir)
    target = model.metadata.target
    assert (target.task, target.column) == (
        own["features"]["task"],
        own["features"]["target"],
    )
    client = create_app(
        {"TESTING": True}, model=model, settings=Settings()
    ).test_client()
    welcome = client.get("/").get_json()["message"]
    assert welcome.startswith(f"churn-demo: predicts {own['project']['description']}")
    records = [e.record for e in model.metadata.examples.scored()]
    answers = client.post("/predict/batch", json={"records": records}).get_json()
    if target.task == "multiclass":
        assert set(target.class_names) == {"down", "stay", "up"}
        assert {a["prediction"] for a in answers["predictions"]} <= {
            "down",
            "stay",
            "up",
        }
        assert all(
            sum(a["probabilities"].values()) == pytest.approx(1, abs=1e-5)
            for a in answers["predictions"]
        )
    else:
        values = [a["prediction"] for a in answers["predictions"]]
        assert all(isinstance(v, float) and np.isfinite(v) for v in values)
        published = [e.value for e in model.metadata.examples.scored()]
        assert values == pytest.approx(published, rel=1e-5)


def test_each_task_s_source_csv_batch_scores_with_no_rejected_row(
    task_project, tmp_path
):
    from testkit.batchfiles import score_with_no_rejected_row

    paths, own = task_project
    scored = score_with_no_rejected_row(
        paths.raw / "data.csv", paths.model_dir, tmp_path
    )
    if own["features"]["task"] == "regression":
        assert scored["prediction"].dtype == float


@pytest.mark.slow
def test_each_task_s_model_passes_the_smoke_test_behind_the_real_server(
    task_project, tmp_path
):
    import smoke_test
    from testkit.servers import serving

    paths, _ = task_project
    with serving(paths.model_dir, log=tmp_path / "server.log") as (url, _):
        assert smoke_test.run(url, attempts=3, delay=0.5) == 0
