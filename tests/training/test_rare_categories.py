"""High-cardinality categories and IDs: rare categories are grouped, an unseen category
gets its feature's declared treatment, refusals stay short, and an ID-like feature warns.

A CSV of its own (a 200-level `shop` column, most levels seen once; an `order_id` text
distinct in every row; a 12-level `region`) is trained once by the real stages (fetch,
clean, fit, export).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from batch.columnar import ColumnarScorer
from bundle.rules import AS_MISSING, GROUP, OTHER, REFUSE, FeatureRule
from bundle.store import load_bundle
from testkit.sample import train_project
from training import fitted
from training.config import RARE_MIN_COUNT, Paths
from training.params import Params

FREQUENT = [f"shop-{i:03d}" for i in range(20)]  # 31 rows each
RARE = [f"shop-{i:03d}" for i in range(20, 200)]  # one row each
ROWS = 31 * len(FREQUENT) + len(RARE)
UNSEEN = {"shop": GROUP, "order_id": GROUP}  # region: refused, as by default


def shops_csv() -> str:
    rng = np.random.default_rng(0)
    shop = np.array(FREQUENT * 31 + RARE)
    rng.shuffle(shop)
    width = rng.integers(1, 50, ROWS)
    lean = np.isin(shop, FREQUENT[:10]).astype(int)
    label = ((width > 25).astype(int) + lean + rng.integers(0, 2, ROWS)) >= 2
    frame = pd.DataFrame(
        {
            "order_id": [f"order-{i:05d}" for i in rng.permutation(ROWS)],
            "width": width,
            "shop": shop,
            "region": rng.choice([f"region-{i}" for i in range(12)], ROWS),
            "label": label.astype(int),
        }
    )
    return frame.to_csv(index=False)


def shops_params(source: str, unseen: dict) -> dict:
    return {
        "project": {"name": "shops", "description": "a toy label"},
        "data": {"source": source, "test_size": 0.25, "seed": 0},
        "features": {
            "target": "label",
            "positive_label": 1,
            "numeric": {"width": {"type": "integer", "min": 0, "max": 100}},
            "categorical": ["shop", "order_id", "region"],
            "unseen": unseen,
        },
        "train": {
            "seed": 0,
            "cv_folds": 2,
            "selection_metric": "roc_auc",
            "candidates": {"lr": {"estimator": "logistic_regression"}},
            "parity_tolerance": 1e-5,
        },
        "evaluate": {
            "threshold": 0.5,
            "slices": {"min_support": 5, "f1_margin": 0.1},
            "bias": {"attributes": ["shop"], "fair_band": [0.8, 1.25]},
        },
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The shops data trained and published (shop and order_id: unseen grouped; region:
    refused), and fit's stderr."""
    from training.clean import clean_stage
    from training.fetch import fetch

    root = tmp_path_factory.mktemp("shops")
    (root / "shops.csv").write_text(shops_csv())
    params = shops_params(str(root / "shops.csv"), UNSEEN)
    paths, typed = Paths(root=root), Params.from_dict(params)
    fetch(paths, typed)
    clean_stage(paths, typed)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        train_project(paths, params)
    return paths, load_bundle(paths.model_dir), err.getvalue()


@pytest.fixture(scope="module")
def slices(trained) -> list[dict]:
    """The evaluate stage's slice table for the trained shops model."""
    import json

    from training.evaluate import evaluate

    paths = trained[0]
    params = shops_params(str(paths.root / "shops.csv"), UNSEEN)
    evaluate(paths, Params.from_dict(params))
    return json.loads(paths.slices_json.read_text())


def rules_of(model) -> dict[str, FeatureRule]:
    return {r.name: r for r in model.features}


def train_counts(paths: Paths) -> pd.Series:
    return pd.read_csv(paths.train_csv, dtype=str)["shop"].value_counts()


def test_a_200_level_column_trains_with_its_rare_categories_grouped(trained):
    paths, model, _ = trained
    shop = rules_of(model)["shop"]
    counts = train_counts(paths)
    assert len(shop.categories) == len(counts) > 150
    assert set(shop.grouped) == set(counts[counts < RARE_MIN_COUNT].index)
    assert set(FREQUENT) <= set(shop.categories) - set(shop.grouped)
    pipeline = fitted.loads(paths.pipeline.read_bytes(), paths.pipeline)
    encoder = pipeline.named_steps["preprocess"].named_transformers_["cat"]
    fitted_shops = set(encoder.named_steps["onehot"].categories_[0])
    assert OTHER in fitted_shops
    assert not fitted_shops & set(shop.grouped)


def record(model, **values) -> dict:
    return {**model.metadata.examples.positive.record, **values}


def test_rare_and_unseen_shops_score_as_the_group_they_were_declared(trained):
    _, model, _ = trained
    shop = rules_of(model)["shop"]
    rare_a, rare_b = shop.grouped[:2]
    scores = {
        value: model.predictor.proba_one(record(model, shop=value))
        for value in (rare_a, rare_b, "a shop opened after training")
    }
    assert len(set(scores.values())) == 1
    frequent = model.predictor.proba_one(record(model, shop=FREQUENT[0]))
    assert frequent != scores[rare_a]


def test_an_id_like_feature_warns_at_fit_naming_it_and_what_to_do(trained):
    _, _, stderr = trained
    lines = [line for line in stderr.splitlines() if "looks like an ID" in line]
    assert len(lines) == 1
    assert "'order_id'" in lines[0] and "remove it from params.yaml" in lines[0]
    assert "'shop'" not in stderr and "'width'" not in stderr


def test_a_refused_unseen_category_is_one_short_line_in_batch_scoring(trained):
    _, model, _ = trained
    row = record(model, region="region-99")
    batch = pa.RecordBatch.from_pylist(
        [{k: str(v) for k, v in row.items()}],
        schema=pa.schema([(k, pa.string()) for k in row]),
    )
    (_, field, message), *more = ColumnarScorer(model).check(batch)[1]
    assert not more and field == "region"
    assert message.startswith("Must be one of 12 known values, e.g. 'region-0', ")
    assert len(message) < 250


@pytest.mark.parametrize(
    "unseen, want",
    [(REFUSE, "a shop opened after training"), (GROUP, OTHER), (AS_MISSING, None)],
)
def test_an_unseen_category_gets_its_features_declared_model_value(unseen, want):
    rule = FeatureRule("shop", "category", categories=("a", "b", "c"), unseen=unseen)
    assert rule.model_value("a shop opened after training") == want
    assert rule.model_value("a") == "a"
    accepted = rule.error("a shop opened after training") is None
    assert accepted == (unseen != REFUSE)


def test_a_grouped_category_is_accepted_and_taken_as_the_group():
    rule = FeatureRule("shop", "category", categories=("a", "b", "c"), grouped=("c",))
    assert rule.error("c") is None and rule.model_value("c") == OTHER
    assert rule.error("d") == rule.choices_message
    assert FeatureRule.from_json(rule.to_json()) == rule


def test_a_refusal_names_a_few_known_values_and_their_count_not_all():
    categories = tuple(f"value-{i:03d}-" + "x" * 60 for i in range(200))
    message = FeatureRule("id", "category", categories=categories).error("new")
    assert message.startswith("Must be one of 200 known values, e.g. 'value-000-")
    assert len(message) < 200
    few = FeatureRule("size", "category", categories=("S", "M", "L")).error("XL")
    assert few == "Must be one of: S, M, L."


def test_a_data_category_spelled_as_the_group_value_is_refused_in_one_line():
    from training.config import ConfigError, FeatureSpec
    from training.features import feature_rules

    spec = FeatureSpec("label", 1, {}, ["shop"])
    X = pd.DataFrame({"shop": ["a"] * 20 + [OTHER] * 20 + ["rare"]})
    with pytest.raises(ConfigError, match=r"has a category '\(other\)'.*rename it"):
        feature_rules(X, spec)


def test_the_evaluation_slices_rare_and_unseen_categories_as_one_group(trained, slices):
    _, model, _ = trained
    shop = rules_of(model)["shop"]
    values = {r["value"] for r in slices if r["feature"] == "shop"}
    assert values == (set(shop.categories) - set(shop.grouped)) | {OTHER}
    # Every test order_id is unseen, scored (and sliced) as the group: one slice.
    assert [r["value"] for r in slices if r["feature"] == "order_id"] == [OTHER]


def test_the_bias_audit_groups_rare_categories_as_the_model_takes_them(trained, slices):
    import json

    paths, model, _ = trained
    shop = rules_of(model)["shop"]
    groups = json.loads(paths.bias_json.read_text())["attributes"]["shop"]["groups"]
    assert set(groups) <= (set(shop.categories) - set(shop.grouped)) | {OTHER}
    assert OTHER in groups and len(groups) <= len(FREQUENT) + 1


def test_a_feature_with_many_tiny_slices_has_them_counted_not_listed():
    from training.slicing import LISTED_SMALL, format_slices, slice_metrics

    n = LISTED_SMALL + 5
    frame = pd.DataFrame({"id": [f"id-{i}" for i in range(n)] + ["big"] * 40})
    y = [i % 2 for i in range(n + 40)]
    table = slice_metrics(frame, y, y, ["id"], min_support=30, f1_margin=0.1)
    text = format_slices(table, {"precision": 1.0, "recall": 1.0, "f1": 1.0})
    assert f"({n} more slices with support < 30 not listed;" in text
    assert "id-0" not in text and "  big " in text


@pytest.fixture(scope="module")
def client(trained):
    from service import create_app
    from service.settings import Settings

    app = create_app({"TESTING": True}, model=trained[1], settings=Settings())
    return app.test_client()


def test_the_api_scores_an_unseen_grouped_shop_and_refuses_a_new_region_briefly(
    trained, client
):
    _, model, _ = trained
    unseen = client.post("/predict", json=record(model, shop="shop-new"))
    rare = client.post(
        "/predict", json=record(model, shop=rules_of(model)["shop"].grouped[0])
    )
    assert unseen.status_code == rare.status_code == 200
    assert unseen.get_json()["probability"] == rare.get_json()["probability"]
    refused = client.post("/predict", json=record(model, region="region-99"))
    assert refused.status_code == 422
    [message] = refused.get_json()["errors"]["json"]["region"]
    assert message.startswith("Must be one of 12 known values") and len(message) < 200


def test_the_openapi_spec_gives_an_any_text_field_no_enum_and_says_so(client):
    spec = client.get("/openapi.json").get_json()
    fields = spec["components"]["schemas"]["Record"]["properties"]
    assert "enum" not in fields["shop"]
    assert fields["shop"]["description"].startswith("Any text: ")
    assert len(fields["region"]["enum"]) == 12


def test_the_batch_cli_scores_an_unseen_shop_and_rejects_a_new_region_in_one_line(
    trained, tmp_path, capsys
):
    from batch.score import main

    paths, model, _ = trained
    rows = [
        record(model, shop="shop-new"),
        record(model, region="region-99"),
        record(model),
    ]
    source, out, errors = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "e.csv"
    pd.DataFrame(rows).to_csv(source, index=False)
    argv = [str(source), str(out), "--model-dir", str(paths.model_dir), "--quiet"]
    assert main([*argv, "--errors", str(errors)]) == 1
    scored = pd.read_csv(out)
    assert scored["prediction"].notna().tolist() == [True, False, True]
    [(row, field, message)] = pd.read_csv(errors).itertuples(index=False)
    assert (row, field) == (2, "region") and len(message) < 200
    assert message.startswith("Must be one of 12 known values")
    assert f"row 2: region: {message}" in capsys.readouterr().err


def test_a_row_counter_warns_as_an_id_and_an_amount_or_a_code_does_not():
    from training.config import FeatureSpec
    from training.features import id_warnings

    spec = FeatureSpec(
        "label",
        1,
        {c: {"min": 0, "max": 10**6} for c in ("row", "amount")},
        ["code"],
    )
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "row": np.arange(1, 201, dtype=float),
            "amount": rng.choice(np.arange(0, 10**6, 7), 200, replace=False) * 1.0,
            "code": rng.choice(["a", "b", "c"], 200),
        }
    )
    [line] = id_warnings(X, spec)
    assert line.startswith(
        "warning: feature 'row' looks like an ID (whole numbers counting its 200 rows)"
    )
