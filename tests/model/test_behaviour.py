"""Behavioural checks of the census model the session trains: minimum functionality,
invariance and directional expectations (Ribeiro et al., CheckList). They name census
columns, so they run only on the census data set."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.dataset("census-income")

HIGH = {
    "age": 47,
    "workclass": "Private",
    "fnlgt": 180000,
    "education": "Masters",
    "education-num": 14,
    "marital-status": "Married-civ-spouse",
    "occupation": "Exec-managerial",
    "relationship": "Husband",
    "race": "White",
    "sex": "Male",
    "capital-gain": 15024,
    "capital-loss": 0,
    "hours-per-week": 55,
    "native-country": "United-States",
}
LOW = {
    **HIGH,
    "age": 19,
    "education": "11th",
    "education-num": 7,
    "marital-status": "Never-married",
    "occupation": "Handlers-cleaners",
    "relationship": "Own-child",
    "capital-gain": 0,
    "hours-per-week": 20,
}


def proba(model, record) -> float:
    return model.predictor.predict_one(record).probability


def test_a_clearly_high_income_profile_scores_above_a_clearly_low_one(loaded_model):
    assert proba(loaded_model, HIGH) > 0.5 > proba(loaded_model, LOW)


@pytest.mark.parametrize("delta", [-5000, -100, 100, 5000])
def test_a_small_change_of_fnlgt_does_not_flip_the_prediction(loaded_model, delta):
    for record in (HIGH, LOW):
        before = loaded_model.predictor.predict_one(record).label
        moved = {**record, "fnlgt": record["fnlgt"] + delta}
        assert loaded_model.predictor.predict_one(moved).label == before


def test_more_capital_gain_never_lowers_the_probability(loaded_model):
    ps = [
        proba(loaded_model, {**LOW, "capital-gain": g}) for g in (0, 5000, 15000, 50000)
    ]
    assert ps == sorted(ps)


def test_more_education_num_never_lowers_the_probability_much(loaded_model):
    base = {**HIGH, "capital-gain": 0}
    ps = [
        proba(loaded_model, {**base, "education-num": n}) for n in (9, 10, 13, 14, 16)
    ]
    assert all(b >= a - 0.02 for a, b in zip(ps, ps[1:])), ps
    assert ps[-1] > ps[0]
