"""Properties of the record contract, with records generated from the model's feature list.

Any record inside the contract is accepted and scored; a record with exactly one field
broken is rejected with 422 naming that field and no other.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def valid_value(rule) -> st.SearchStrategy:
    """Any value the contract accepts for one feature (null where the feature takes a
    missing value: a category seen missing, a number the model fills)."""
    if rule.kind == "integer":  # 181, or 181.0 as a CSV export writes it
        whole = st.integers(int(rule.minimum), int(rule.maximum))
        values = st.one_of(whole, whole.map(float))
    elif rule.kind == "number":
        values = st.floats(rule.minimum, rule.maximum, allow_nan=False)
    else:
        values = st.sampled_from(rule.categories + rule.number_codes)
    return st.one_of(values, st.none()) if rule.nullable else values


def invalid_value(rule) -> st.SearchStrategy:
    """Values the contract refuses for one feature, of every kind of wrong."""
    wrong_type = st.one_of(
        st.booleans(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(), st.integers(), max_size=1),
    )
    if rule.numeric:
        out_of_range = st.one_of(
            st.integers(max_value=int(rule.minimum) - 1),
            st.integers(min_value=int(rule.maximum) + 1),
        )
        inside = st.integers(int(rule.minimum), int(rule.maximum))
        as_text = inside.map(str)
        if rule.kind == "integer":  # a fraction: 181.5 is no integer
            as_text = st.one_of(as_text, inside.map(lambda n: n + 0.5))
        bad = st.one_of(wrong_type, out_of_range, as_text)
    else:
        unknown = st.text(max_size=30).filter(lambda s: s not in rule.categories)
        not_a_code = st.integers().filter(lambda n: str(n) not in rule.categories)
        bad = st.one_of(wrong_type, unknown, not_a_code)
    return bad if rule.nullable else st.one_of(bad, st.none())


def records(features) -> st.SearchStrategy:
    return st.fixed_dictionaries({f.name: valid_value(f) for f in features})


def test_every_valid_record_is_accepted_and_scored(client, loaded_model):
    features = loaded_model.features

    @SETTINGS
    @given(record=records(features))
    def check(record):
        r = client.post("/predict", json=record)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        target = loaded_model.metadata.target
        if target.task == "regression":
            assert math.isfinite(body["prediction"])
        else:
            assert body["prediction"] in target.labels
            assert 0.0 <= body["probability"] <= 1.0

    check()


def test_a_record_with_one_broken_field_is_rejected_naming_that_field(
    client, loaded_model
):
    features = loaded_model.features

    @st.composite
    def broken(draw):
        record = draw(records(features))
        feature = draw(st.sampled_from(features))
        record[feature.name] = draw(invalid_value(feature))
        return feature.name, record

    @SETTINGS
    @given(case=broken())
    def check(case):
        name, record = case
        r = client.post("/predict", json=record)
        assert r.status_code == 422, (name, record[name], r.get_json())
        assert list(r.get_json()["errors"]["json"]) == [name]

    check()


def test_a_record_missing_one_field_or_with_one_extra_is_rejected_naming_it(
    client, loaded_model
):
    features = loaded_model.features
    names = [f.name for f in features]

    @SETTINGS
    @given(
        record=records(features),
        missing=st.sampled_from(names),
        extra=st.text(min_size=1, max_size=20).filter(lambda s: s not in names),
    )
    def check(record, missing, extra):
        without = {k: v for k, v in record.items() if k != missing}
        r = client.post("/predict", json=without)
        assert r.status_code == 422
        assert r.get_json()["errors"]["json"] == {
            missing: ["Missing data for required field."]
        }
        r = client.post("/predict", json={**record, extra: 1})
        assert r.status_code == 422
        assert r.get_json()["errors"]["json"] == {extra: ["Unknown field."]}

    check()
