"""Bring your own data: one parameter points the pipeline at a census.csv of yours, and
the trained model's API contract follows it."""

from __future__ import annotations

import copy

import pandas as pd

from tests.conftest import FIXTURES, tiny_params
from training.clean import clean_splits, to_csv_text
from training.config import Paths
from training.fetch import fetch


def test_a_csv_of_your_own_is_fetched_split_trained_and_served(tmp_path):
    from service import create_app
    from service.model_store import load_model
    from training.train import train

    own = pd.read_csv(FIXTURES / "train.csv", dtype=str)
    own = own[own["native-country"] != "Mexico"]  # so its categories differ from UCI's
    (tmp_path / "mine").mkdir()
    own.to_csv(tmp_path / "mine" / "census.csv", index=False)
    params = copy.deepcopy(tiny_params())
    params["data"]["source"] = "mine/census.csv"
    paths = Paths(root=tmp_path)

    raw = fetch(paths, params["data"])
    assert raw == {"all": paths.raw / "census.csv"}
    splits = clean_splits(paths, params)
    assert len(splits["test"]) == round(len(own) * params["data"]["test_size"])
    rates = [(df["salary"] == ">50K").mean() for df in splits.values()]
    assert abs(rates[0] - rates[1]) < 0.01  # stratified
    for name, df in splits.items():
        paths.processed.mkdir(parents=True, exist_ok=True)
        (paths.processed / f"{name}.csv").write_text(to_csv_text(df))

    train(paths, params)
    model = load_model(paths.model_dir)
    client = create_app({"TESTING": True}, model=model).test_client()
    record = {**model.metadata["example"]["record"], "native-country": "Mexico"}
    r = client.post("/predict", json=record)
    assert r.status_code == 422
    assert "native-country" in r.get_json()["errors"]["json"]
