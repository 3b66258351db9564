"""The quick validation path decides exactly as the marshmallow schema does.

Both derive from the same rules (bundle/rules.py): `accepts` in the quick path, `error`
in the schema. Each input goes through the served schema (quick check first) and through
the same schema built without the quick check (marshmallow alone); the outcomes, loaded
values or error messages, must be identical. A table pins the edge cases, hypothesis
explores the rest. Fields are picked by role, so this holds for any data set.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from bundle.rules import FeatureRule
from service.fast_validation import batch_check, record_check
from service.schemas import batch_schema, record_schema
from testkit.records import Roles

LIMIT = 3
# A non-integer numeric feature, so StrictNumber's path is covered too.
RATIO = FeatureRule("ratio", "number", minimum=0, maximum=1.5)
# And a nullable category, so that path is covered whatever the data set.
SHADE = FeatureRule("shade", "category", categories=("dark", "light"), nullable=True)
# And a number the model imputes, so null for a number is covered whatever the data set.
GAP = FeatureRule(
    "gap", "integer", minimum=0, maximum=9, nullable=True, imputed="filled with 4"
)
# And codes that look like numbers, which a client may send as JSON numbers.
CODE = FeatureRule("code", "category", categories=("0", "1", "2.5", "01"))


@pytest.fixture(scope="module")
def features(loaded_model) -> list[FeatureRule]:
    return list(loaded_model.features) + [RATIO, SHADE, GAP, CODE]


@pytest.fixture(scope="module")
def valid_record(loaded_model) -> dict:
    record = loaded_model.metadata.examples.record
    return {**record, "ratio": 0.5, "shade": "dark", "gap": 4, "code": "1"}


@pytest.fixture(scope="module")
def schemas(features):
    """(served record, reference record, served batch, reference batch) instances."""
    fast, slow = record_schema(features), record_schema(features, fast=False)
    return fast(), slow(), batch_schema(fast, LIMIT)(), batch_schema(slow, LIMIT)()


def outcome(schema, data):
    """("ok", loaded) or ("error", messages): everything a client could see."""
    try:
        return ("ok", schema.load(data))
    except ValidationError as exc:
        return ("error", exc.messages)


def assert_same(fast, slow, data):
    got, want = outcome(fast, data), outcome(slow, data)
    assert got == want
    if got[0] == "ok":  # same values and same Python types (1 vs 1.0 vs True)
        assert [type(v) for v in got[1].values()] == [type(v) for v in want[1].values()]


def test_quick_check_accepts_a_valid_record_so_the_fast_path_is_taken(
    features, valid_record
):
    assert record_check(features)(valid_record) == valid_record
    batch = batch_check(record_check(features), LIMIT)
    assert batch({"records": [valid_record] * LIMIT}) == {
        "records": [valid_record] * LIMIT
    }


def test_quick_check_loads_a_whole_number_ratio_as_a_float_like_the_schema(
    features, valid_record, schemas
):
    record = {**valid_record, "ratio": 1}
    loaded = record_check(features)(record)
    assert loaded["ratio"] == 1.0 and type(loaded["ratio"]) is float
    assert_same(schemas[0], schemas[1], record)


def test_a_code_sent_as_a_number_loads_as_its_text_on_both_paths(valid_record, schemas):
    for value, text in ((1, "1"), (2.5, "2.5"), ("01", "01")):
        record = {**valid_record, "code": value}
        assert outcome(schemas[0], record)[1]["code"] == text
        assert_same(schemas[0], schemas[1], record)
    assert outcome(schemas[0], {**valid_record, "code": 3})[0] == "error"


def test_a_whole_float_for_an_integer_loads_as_an_int_on_both_paths(
    features, valid_record, schemas
):
    integer = Roles.of(features).integer
    if integer is None:
        pytest.skip("the model has no integer feature")
    record = {**valid_record, integer.name: float(integer.minimum)}
    loaded = outcome(schemas[0], record)[1][integer.name]
    assert loaded == integer.minimum and type(loaded) is int
    assert_same(schemas[0], schemas[1], record)


def edits(features: list[FeatureRule]) -> list[tuple[str, object]]:
    """(field, value) edge cases for each kind of rule the features have."""
    roles = Roles.of(features)
    found = [
        ("ratio", 0),
        ("ratio", 1.5),
        ("ratio", 1.5000001),
        ("ratio", math.nan),
        ("ratio", math.inf),
        ("ratio", -math.inf),
        ("ratio", False),
        ("ratio", "0.5"),
        ("ratio", 10**400),
        ("shade", None),
        ("shade", "Dark"),
        ("shade", b"dark"),
        ("gap", None),
        ("gap", 4.0),
        ("gap", 10),
        ("gap", math.nan),
        ("code", 1),
        ("code", 0),
        ("code", 1.0),
        ("code", 2.5),
        ("code", 3),
        ("code", True),
        ("code", math.nan),
        ("code", 10**5000),
    ]
    if roles.integer:
        name, low, high = (
            roles.integer.name,
            int(roles.integer.minimum),
            int(roles.integer.maximum),
        )
        found += [(name, low), (name, high), (name, low - 1), (name, high + 1)]
        found += [(name, True), (name, str(low)), (name, float(low))]
        found += [(name, low + 0.5), (name, None), (name, 10**400)]
        found += [(name, float(high)), (name, high + 1.0), (name, math.inf)]
    if roles.category:
        name, first = roles.category.name, roles.category.categories[0]
        found += [(name, None), (name, "Nope"), (name, ""), (name, 3), (name, [first])]
        found += [(name, first.lower() + "_"), (name, first.encode())]
    return found


def test_quick_path_and_schema_agree_on_one_changed_field(
    schemas, valid_record, features
):
    cases = edits(features)
    assert len(cases) > 12
    for field, value in cases:
        assert_same(schemas[0], schemas[1], {**valid_record, field: value})


@pytest.mark.parametrize(
    "change",
    ["drop first", "drop last", "add extra", "empty", "not a dict", "list"],
)
def test_quick_path_and_schema_agree_on_the_shape_of_a_record(
    schemas, valid_record, change
):
    record = dict(valid_record)
    if change == "drop first":
        del record[next(iter(record))]
    elif change == "drop last":
        del record[list(record)[-1]]
    elif change == "add extra":
        record["not_a_feature"] = "x"
    elif change == "empty":
        record = {}
    elif change == "not a dict":
        record = "a=40"
    else:
        record = [valid_record]
    assert_same(schemas[0], schemas[1], record)


@pytest.mark.parametrize(
    "body",
    [
        {"records": []},
        {"records": "x"},
        {"records": None},
        {"records": {"a": 40}},
        {},
        {"records": [], "extra": 1},
        [],
        None,
    ],
)
def test_quick_path_and_schema_agree_on_malformed_batches(schemas, body):
    assert_same(schemas[2], schemas[3], body)


def test_quick_path_and_schema_agree_on_batch_size_limits(schemas, valid_record):
    for n in (1, LIMIT, LIMIT + 1):
        assert_same(schemas[2], schemas[3], {"records": [valid_record] * n})


def valid_values(rule: FeatureRule):
    """Values the schema accepts for one feature."""
    if rule.numeric:
        low, high = rule.minimum, rule.maximum
        if rule.kind == "integer":  # 181 or 181.0
            whole = st.integers(int(low), int(high))
            values = st.one_of(whole, whole.map(float))
        else:
            whole = st.integers(math.ceil(low), math.floor(high))
            values = st.one_of(whole, st.floats(low, high))
        return st.one_of(values, st.none()) if rule.nullable else values
    allowed = list(rule.categories) + list(rule.number_codes)
    return st.sampled_from(allowed + ([None] if rule.nullable else []))


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.integers(-3, 3),
    st.lists(st.integers(), max_size=1),
)


@st.composite
def records(draw, features):
    """A valid record, then 0 to 2 fields spoiled, now and then one missing or extra."""
    record = {f.name: draw(valid_values(f)) for f in features}
    for name in draw(st.lists(st.sampled_from(sorted(record)), max_size=2)):
        record[name] = draw(JUNK)
    if draw(st.integers(0, 20)) == 0:
        del record[draw(st.sampled_from(sorted(record)))]
    if draw(st.integers(0, 20)) == 0:
        record[draw(st.text(min_size=1, max_size=8))] = 1
    return record


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_quick_path_and_schema_agree_on_generated_records(schemas, features, data):
    assert_same(schemas[0], schemas[1], data.draw(records(features)))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_quick_path_and_schema_agree_on_generated_batches(
    schemas, features, valid_record, data
):
    good = st.just(valid_record)
    items = data.draw(st.lists(st.one_of(good, good, records(features)), max_size=5))
    assert_same(schemas[2], schemas[3], {"records": items})


@pytest.mark.parametrize("fast", [True, False])
def test_a_feature_named_with_a_dot_is_loaded_and_refused_under_its_own_name(fast):
    # pandas names a CSV's second `priors_count` `priors_count.1`, and a dotted name
    # was a nested key to marshmallow: a 500 beside `priors_count`.
    rules = [
        FeatureRule("count", "integer", minimum=0, maximum=9),
        FeatureRule("count.1", "integer", minimum=0, maximum=9),
    ]
    schema = record_schema(rules, fast=fast)()
    assert schema.load({"count": 1, "count.1": 2.0}) == {"count": 1, "count.1": 2}
    with pytest.raises(ValidationError) as caught:
        schema.load({"count": 1, "count.1": "x"})
    assert caught.value.messages == {"count.1": ["Not a valid integer."]}
