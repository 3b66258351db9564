"""A data set nobody here has seen, brought in with only the README's steps, trains,
serves and passes smoke_test.py.

The README's steps: put a CSV (header row, an integer 0/1 target) in the repo, point
`data.source` at it, describe the columns under `features:` (and say what is predicted
under `project:`). Nothing else changes.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from testkit.sample import train_project
from training.clean import clean_splits, to_csv_text
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
    region = rng.choice(["north", "south", "east", ""], rows)
    score = 0.08 * tenure - 0.05 * (load - 50) + (plan == "pro") * 1.5 - 1.0
    churned = (score + rng.normal(0, 1, rows) < 0).astype(int)
    df = pd.DataFrame(
        {
            "tenure_months": tenure,
            "weekly_load": load,
            "plan": plan,
            "region": region,
            "churned": churned,
        }
    )
    return df.to_csv(index=False)


PARAMS = {
    "project": {"name": "churn-demo", "description": "whether a subscriber churns"},
    "data": {"source": "mine/subscribers.csv", "test_size": 0.3, "seed": 1},
    "features": {
        "target": "churned",
        "positive_label": 1,
        "numeric": {
            "tenure_months": {"type": "integer", "min": 0, "max": 600},
            "weekly_load": {"type": "number", "min": -100, "max": 200},
        },
        "categorical": ["plan", "region"],
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


@pytest.fixture(scope="module")
@needs_model
def own_project(tmp_path_factory, params):
    """The unseen CSV fetched, cleaned, fitted and exported by the pipeline's stages."""
    root = tmp_path_factory.mktemp("own")
    (root / "mine").mkdir()
    (root / "mine" / "subscribers.csv").write_text(unseen_csv())
    own = copy.deepcopy(PARAMS)
    own["train"] = copy.deepcopy(params["train"])
    paths, typed = Paths(root=root), Params.from_dict(own)
    assert fetch(paths, typed) == {"all": paths.raw / "data.csv"}
    splits = clean_splits(paths, typed)
    paths.processed.mkdir(parents=True)
    for name, df in splits.items():
        paths.split(name).write_text(to_csv_text(df))
    return train_project(paths, own), own


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
    assert set(fields) == {"tenure_months", "weekly_load", "plan", "region"}
    assert fields["weekly_load"]["type"] == "number"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "churn_demo_http_requests_total" in metrics
    r = client.post(
        "/predict", json={**model.metadata.examples.positive.record, "plan": "gold"}
    )
    assert r.status_code == 422 and "plan" in r.get_json()["errors"]["json"]


@pytest.mark.slow
def test_the_unseen_data_sets_model_passes_the_smoke_test_behind_the_real_server(
    own_project, tmp_path
):
    import smoke_test
    from testkit.servers import serving

    paths, _ = own_project
    with serving(paths.model_dir, log=tmp_path / "server.log") as (url, _):
        assert smoke_test.run(url, attempts=3, delay=0.5) == 0
