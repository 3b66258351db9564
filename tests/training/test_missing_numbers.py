"""Any mix of features trains and serves: a number may be missing (imputed inside the
fitted Pipeline by its declared policy), a data set may have no numeric or no categorical
feature, and preprocessing the fast encoding cannot express is served by the whole graph.

Each case writes a small CSV of its own, runs fetch and clean as `make train` does, then
fit and export (the parity gate included), and scores the bundle as the API and the batch
scorer do.
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pandas as pd
import pytest

from bundle.format import CLASSIFIER_GRAPH as CLASSIFIER
from testkit.sample import train_project
from training.clean import clean_splits, clean_stage
from training.config import ConfigError, Paths
from training.fetch import fetch
from training.params import Params

CANDIDATE = "logistic_regression"
CANDIDATES = {
    "logistic_regression": {"estimator": "logistic_regression"},
    "hist_gradient_boosting": {
        "estimator": "hist_gradient_boosting",
        "params": {"max_iter": 20, "max_leaf_nodes": 8, "early_stopping": False},
    },
}


def gappy_csv(rows: int = 400) -> str:
    """Made-up data: two numbers with gaps (written NA or left empty), one without, a
    category, and a 0/1 target the gaps say something about."""
    rng = np.random.default_rng(3)
    visits = rng.integers(0, 60, rows).astype(object)
    share = rng.uniform(0, 1, rows).round(3).astype(object)
    width = rng.integers(1, 50, rows)
    colour = rng.choice(["red", "blue", "green"], rows)
    gone = rng.random(rows) < 0.2
    odds = 0.05 * visits.astype(float) - 1.5 + np.where(gone, 1.0, 0.0)
    label = (odds + rng.normal(0, 1, rows) > 0).astype(int)
    visits[gone] = "NA"
    share[rng.random(rows) < 0.1] = ""
    frame = pd.DataFrame(
        {
            "visits": visits,
            "share": share,
            "width": width,
            "colour": colour,
            "label": label,
        }
    )
    return frame.to_csv(index=False)


PARAMS = {
    "project": {"name": "gaps", "description": "a toy label"},
    "data": {"source": "toy.csv", "test_size": 0.25, "seed": 0, "missing": ["", "NA"]},
    "features": {
        "target": "label",
        "positive_label": 1,
        "numeric": {
            # No policy declared: it has gaps, so the median and an indicator.
            "visits": {"type": "integer", "min": 0, "max": 100},
            "share": {
                "type": "number",
                "min": 0,
                "max": 1,
                "missing": "constant",
                "fill": 0,
                "indicator": False,
            },
            # No gaps, no policy: null stays refused.
            "width": {"type": "integer", "min": 0, "max": 100},
        },
        "categorical": ["colour"],
    },
    "train": {
        "seed": 0,
        "cv_folds": 2,
        "selection_metric": "roc_auc",
        "candidates": CANDIDATES,
        "parity_tolerance": 1e-5,
    },
    "evaluate": {
        "threshold": 0.5,
        "slices": {"min_support": 5, "f1_margin": 0.1, "bands": {}},
        "bias": {"attributes": [], "fair_band": [0.8, 1.25]},
    },
}


def project(root, text: str, params: dict, candidate: str) -> tuple[Paths, dict]:
    """The CSV fetched, cleaned, fitted with one candidate and exported in `root`."""
    params = copy.deepcopy(params)
    params["train"]["candidates"] = {candidate: CANDIDATES[candidate]}
    (root / "toy.csv").write_text(text)
    paths, typed = Paths(root=root), Params.from_dict(params)
    fetch(paths, typed)
    clean_stage(paths, typed)
    return train_project(paths, params), params


@pytest.fixture(scope="module", params=list(CANDIDATES))
def gappy(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"gaps-{request.param}")
    return project(root, gappy_csv(), PARAMS, request.param)


def client_of(paths: Paths):
    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings

    model = load_bundle(paths.model_dir)
    app = create_app({"TESTING": True}, model=model, settings=Settings())
    return model, app.test_client()


def test_missing_numbers_are_imputed_and_the_parity_gate_scores_rows_with_gaps(gappy):
    from bundle.format import read_metadata

    paths, _ = gappy
    meta = read_metadata(paths.model_dir)
    tested = len(pd.read_csv(paths.test_csv))
    train = pd.read_csv(paths.train_csv, keep_default_na=False, na_values=[""])
    gaps = int(train[["visits", "share", "width"]].isna().any(axis=1).sum())
    assert gaps > 0
    for graph in ("pipeline_graph", "classifier_graph"):
        assert meta.parity[graph]["rows"] == tested + gaps
        assert meta.parity[graph]["label_mismatches"] == 0
    numeric = {n["name"]: n for n in meta.encoding["numeric"]}
    assert numeric["visits"]["fill"] == float(train["visits"].median())
    assert "indicator" in numeric["visits"]
    assert numeric["share"]["fill"] == 0.0 and "indicator" not in numeric["share"]
    assert "fill" not in numeric["width"]


def test_the_api_takes_null_for_an_imputed_number_and_refuses_it_for_a_refused_one(
    gappy,
):
    paths, _ = gappy
    model, client = client_of(paths)
    record = model.metadata.examples.positive.record
    for name in ("visits", "share"):
        r = client.post("/predict", json={**record, name: None})
        assert r.status_code == 200, r.get_json()
    r = client.post("/predict", json={**record, "width": None})
    assert r.status_code == 422
    assert r.get_json()["errors"]["json"]["width"] == ["Field may not be null."]
    both = client.post(
        "/predict/batch", json={"records": [{**record, "visits": None}, record]}
    )
    assert both.status_code == 200, both.get_json()


def test_a_null_number_scores_as_the_pipeline_scores_a_missing_one(gappy):
    from training import fitted

    paths, params = gappy
    model, client = client_of(paths)
    pipeline = fitted.loads(paths.pipeline.read_bytes(), paths.pipeline)
    record = {**model.metadata.examples.negative.record, "visits": None}
    frame = pd.DataFrame([{k: np.nan if v is None else v for k, v in record.items()}])
    want = float(pipeline.predict_proba(frame)[:, 1][0])
    got = client.post("/predict", json=record).get_json()["probability"]
    assert got == pytest.approx(want, abs=1e-5)


def test_the_docs_say_which_numbers_may_be_null_and_how_they_are_filled(gappy):
    paths, _ = gappy
    _, client = client_of(paths)
    spec = client.get("/openapi.json").get_json()
    fields = spec["components"]["schemas"]["Record"]["properties"]
    assert fields["visits"]["nullable"] is True
    assert "median" in fields["visits"]["description"]
    assert "0" in fields["share"]["description"]
    assert "nullable" not in fields["width"]


def test_the_training_file_batch_scores_with_no_rejected_row(gappy, tmp_path):
    from testkit.batchfiles import score_with_no_rejected_row

    paths, _ = gappy
    score_with_no_rejected_row(paths.raw / "data.csv", paths.model_dir, tmp_path)


def cleaned(root, text: str, params: dict) -> dict:
    """fetch and clean as the stages do; the processed frames."""
    (root / "toy.csv").write_text(text)
    paths, typed = Paths(root=root), Params.from_dict(params)
    fetch(paths, typed)
    return clean_splits(paths, typed)


def test_a_number_declared_refuse_with_gaps_stops_clean_naming_it(tmp_path):
    params = copy.deepcopy(PARAMS)
    params["features"]["numeric"]["visits"]["missing"] = "refuse"
    with pytest.raises(ConfigError) as caught:
        cleaned(tmp_path, gappy_csv(), params)
    assert str(caught.value).startswith("numeric feature 'visits' has ")
    assert "declared missing: refuse" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_number_missing_only_in_the_test_split_stops_clean_saying_what_to_declare(
    tmp_path,
):
    text = gappy_csv()
    train = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    # width has no gap; give it one in a single row, which lands in one split only.
    train.loc[0, "width"] = ""
    with pytest.raises(ConfigError) as caught:
        for seed in range(20):  # a seed that puts that row in the test split
            params = copy.deepcopy(PARAMS)
            params["data"]["seed"] = seed
            root = tmp_path / str(seed)
            root.mkdir()
            cleaned(root, train.to_csv(index=False), params)
    assert str(caught.value) == (
        "numeric feature 'width' has 1 missing value(s) in the test data but none "
        "in the training data; declare features.numeric.width.missing: median "
        "(or fill them)"
    )


def one_kind_csv(kind: str, rows: int = 300) -> str:
    """Made-up data whose features are all categorical or all numeric."""
    rng = np.random.default_rng(5)
    colour = rng.choice(["red", "blue", "green", "grey", "pink"], rows)
    size = rng.choice(["s", "m", "l", "xl", "xxl"], rows)
    shape = rng.choice(["round", "flat", "tall", "thin", "wide"], rows)
    visits = rng.integers(0, 60, rows)
    width = rng.uniform(0, 10, rows).round(2)
    odds = (colour == "red") + (size == "xl") + (shape == "flat") - 1
    odds = odds + 0.03 * visits - 0.1 * width if kind == "numeric" else odds
    label = (odds + rng.normal(0, 1, rows) > 0).astype(int)
    columns = (
        {"colour": colour, "size": size, "shape": shape}
        if kind == "categorical"
        else {"visits": visits, "width": width}
    )
    return pd.DataFrame({**columns, "label": label}).to_csv(index=False)


def one_kind_params(kind: str) -> dict:
    params = copy.deepcopy(PARAMS)
    f = params["features"]
    if kind == "categorical":
        f["numeric"], f["categorical"] = {}, ["colour", "size", "shape"]
        # 125 combinations in 300 rows: repeats are the data (deduplicating drops 43%).
        params["data"]["deduplicate"] = False
    else:
        f["categorical"] = []
        f["numeric"] = {
            "visits": {"type": "integer", "min": 0, "max": 100},
            "width": {"type": "number", "min": 0, "max": 10},
        }
    return params


@pytest.mark.parametrize("candidate", list(CANDIDATES))
@pytest.mark.parametrize("kind", ["categorical", "numeric"])
def test_a_data_set_of_one_feature_kind_trains_exports_and_serves(
    tmp_path, kind, candidate
):
    paths, _ = project(tmp_path, one_kind_csv(kind), one_kind_params(kind), candidate)
    model, client = client_of(paths)
    assert model.metadata.entry(CLASSIFIER) is not None
    for example in model.metadata.examples.scored():
        r = client.post("/predict", json=example.record)
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["probability"] == pytest.approx(example.probability)


def refit_with_first_category_dropped(paths: Paths, params: dict) -> None:
    """The fitted Pipeline replaced by one whose one-hot encoder drops each feature's
    first category: a preprocessing the dense encoding does not express."""
    from bundle.files import write_bytes_atomic
    from training import fitted
    from training.features import read_processed, split_xy
    from training.fit import build_pipeline

    spec = Params.from_dict(params).features
    X, y = split_xy(read_processed(paths.train_csv, spec), spec)
    pipe = build_pipeline(spec, "logistic_regression", {}, 0)
    pipe.set_params(preprocess__cat__onehot__drop="first").fit(X, y)
    write_bytes_atomic(paths.pipeline, fitted.dumps(pipe))


def test_preprocessing_the_dense_encoding_cannot_express_is_served_by_the_whole_graph(
    tmp_path, capsys
):
    from training.evaluate import evaluate
    from training.export import export

    params = one_kind_params("categorical")
    paths, params = project(tmp_path, one_kind_csv("categorical"), params, CANDIDATE)
    capsys.readouterr()
    refit_with_first_category_dropped(paths, params)
    meta = export(paths, Params.from_dict(params))
    said = capsys.readouterr().err.strip().splitlines()
    evaluate(paths, Params.from_dict(params))  # publishes the bundle with its reports
    assert said == [
        "export: dense encoding supports a plain one-hot encoder only; publishing "
        "the whole-pipeline graph only (slower, same predictions)"
    ]
    assert meta.entry(CLASSIFIER) is None and meta.encoding is None
    assert list(meta.parity) == ["pipeline_graph"]
    evaluate(paths, Params.from_dict(params))  # publishes the bundle export staged
    model, client = client_of(paths)
    assert model.predictor.graph == "pipeline_graph"
    r = client.post("/predict", json=meta.examples.positive.record)
    assert r.status_code == 200
    assert r.get_json()["probability"] == pytest.approx(
        meta.examples.positive.probability
    )


def test_the_profile_counts_a_missing_number_in_its_missing_bin(gappy):
    from bundle.profile import MISSING
    from bundle.store import load_bundle
    from monitoring.counts import DriftCounter
    from monitoring.profile import read_profile

    paths, _ = gappy
    model = load_bundle(paths.model_dir)
    profile = read_profile(model)
    bins = {b.name: b for b in profile.features}
    train = pd.read_csv(paths.train_csv, keep_default_na=False, na_values=[""])
    assert bins["visits"].labels[-1] == MISSING
    assert bins["visits"].shares[-1] == pytest.approx(train["visits"].isna().mean())
    assert MISSING not in bins["width"].labels  # refused: null never reaches it
    record = {**model.metadata.examples.positive.record, "visits": None}
    one, many = DriftCounter(profile, 0.5), DriftCounter(profile, 0.5)
    one.count_one(record, 0.7)
    many.count_many([record, record], np.array([0.7, 0.7]))
    for counter, n in ((one, 1), (many, 2)):
        visits = next(f for f in counter.figures()["features"] if f["name"] == "visits")
        assert [b["records"] for b in visits["bins"] if b["records"]] == [n]
        assert visits["bins"][-1]["records"] == n


def test_a_number_with_no_value_in_training_stops_clean_saying_to_drop_it(tmp_path):
    text = gappy_csv()
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    frame["visits"] = "NA"
    with pytest.raises(ConfigError) as caught:
        cleaned(tmp_path, frame.to_csv(index=False), PARAMS)
    assert str(caught.value) == (
        "numeric feature 'visits' has no value in the training data: nothing to learn "
        "or impute from; drop it from features.numeric"
    )
