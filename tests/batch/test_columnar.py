"""The columnar core against the scalar rule: same refusals, same messages, same scores."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from batch.columnar import ColumnarScorer
from bundle.rules import FeatureRule
from service.api import answer_for
from testkit.batchfiles import batch_answer

# CSV cells that a vectorised parse could read differently from FeatureRule.from_text.
TEXT_CELLS = [
    "", " ", "0", "-0", "+3", " 42 ", "\t7", "007", "4.0", "4.", ".5", "1e1", "1E-2",
    "12.5", "1_0", "0x10", "nan", "NaN", "inf", "-Infinity", "1e400", "forty", "٤٢",
    "9" * 15, "9" * 16, "9" * 19, "9" * 25, "-" + "9" * 20, "Private", "none", "null",
    "NA", " NA ", "?", "-1", "181.0", "7.000", "7.5e0", "1e3", "2.5", " 1 ",
]  # fmt: skip
# Typed values (Parquet): each Arrow type the core may meet.
TYPED = [
    pa.array([0, 1, -5, 40, None, 2**53, 2**53 + 1, -(2**63), 2**63 - 1], pa.int64()),
    pa.array([0, 7, 255, None], pa.uint8()),
    pa.array([2**64 - 1, 3], pa.uint64()),
    pa.array([0.0, 40.0, 40.5, -1.5, float("nan"), float("inf"), None], pa.float64()),
    pa.array([40.0, 1e30, None], pa.float32()),
    pa.array([True, False, None], pa.bool_()),
    pa.array(["40", "Private", "", None], pa.large_string()),
]


def cells_for(rule, loaded_model) -> list[str]:
    """The catalogue, plus this rule's own edges: bounds, just outside, each category."""
    cells = list(TEXT_CELLS)
    if rule.numeric:
        for bound in (rule.minimum, rule.maximum):
            cells += [str(bound), repr(float(bound)), str(bound - 1), str(bound + 1)]
            cells += [str(bound - 0.5), str(bound + 0.5)]
    else:
        cells += list(rule.categories) + [c.lower() for c in rule.categories]
        cells += [" " + rule.categories[0]]
    return cells


def batch_varying(loaded_model, name: str, column: pa.Array) -> pa.RecordBatch:
    """A batch of the example record, with `column` in feature `name`."""
    example = loaded_model.metadata.examples.record
    n = len(column)
    columns = {
        r.name: column if r.name == name else pa.array([example[r.name]] * n)
        for r in loaded_model.features
    }
    return pa.record_batch(list(columns.values()), names=list(columns))


def check_against_the_rule(loaded_model, rule, column, values) -> None:
    """Refused rows and messages as `rule.error` says; the rest scored as the API does."""
    scorer = ColumnarScorer(loaded_model)
    scored = scorer.score(batch_varying(loaded_model, rule.name, column), 1)
    got = {
        row - 1: message
        for row, _, message in map(dict.values, scored.rejected.to_pylist())
    }
    want = {i: rule.error(v) for i, v in enumerate(values) if rule.error(v)}
    assert got == want
    example = loaded_model.metadata.examples.record
    lines = scored.predictions.to_pylist()
    kept = [i for i in range(len(values)) if i not in want]
    records = [{**example, rule.name: rule.load(values[i])} for i in kept]
    # The same records as one batch: what POST /predict/batch would answer.
    target = loaded_model.metadata.target
    answer = answer_for(target)
    predicted = loaded_model.predictor.predict_many(records) if kept else []
    assert [batch_answer(lines[i], target) for i in kept] == list(
        map(answer, predicted)
    )


def test_csv_cells_are_refused_and_scored_exactly_as_the_api_reads_them(loaded_model):
    for rule in loaded_model.features:
        cells = cells_for(rule, loaded_model)
        values = [rule.from_text(c) for c in cells]
        check_against_the_rule(loaded_model, rule, pa.array(cells), values)


@pytest.mark.parametrize("column", TYPED, ids=lambda c: str(c.type))
def test_typed_values_are_refused_and_scored_exactly_as_the_api_takes_them(
    loaded_model, column
):
    for rule in loaded_model.features:
        values = column.to_pylist()
        if pa.types.is_large_string(column.type):
            values = [rule.from_text(v) for v in values]  # text is read as CSV text
        check_against_the_rule(loaded_model, rule, column, values)


def test_column_problems_never_clears_a_value_the_rule_refuses(loaded_model):
    for rule in loaded_model.features:
        for column in TYPED[:-1]:
            doubt = rule.column_problems(column)
            for value, flagged in zip(column.to_pylist(), doubt):
                if rule.error(value) is not None:
                    assert flagged, (rule.name, value)


def test_column_problems_clears_ordinary_valid_values_without_the_slow_path(
    loaded_model,
):
    for rule in loaded_model.features:
        if rule.kind == "integer":
            low, high = math.ceil(rule.minimum), math.floor(rule.maximum)
            column = pa.array(np.linspace(low, high, 50).round()).cast(pa.int64())
        elif rule.numeric:  # bounds such as 12.2: whole numbers could fall outside
            column = pa.array(np.linspace(rule.minimum, rule.maximum, 50))
        else:
            column = pa.array(list(rule.categories))
        assert not rule.column_problems(column).any()


@pytest.mark.parametrize(
    "text, numeric, value",
    [
        ("", True, None),
        ("", False, None),
        ("42", True, 42),
        (" 42", True, 42),
        ("-3", True, -3),
        ("4.5", True, 4.5),
        ("forty", True, "forty"),
        ("42", False, "42"),
        ("Private", False, "Private"),
        (" Private ", False, "Private"),
        ("181.0", True, 181.0),
        ("NA", True, None),
        (" NA ", False, None),
        ("?", False, "?"),
    ],
)
def test_cells_become_the_json_values_a_client_would_send(text, numeric, value):
    rule = (
        FeatureRule("n", "integer", minimum=0, maximum=1, missing=("", "NA"))
        if numeric
        else FeatureRule("c", "category", categories=("a",), missing=("", "NA"))
    )
    got = rule.from_text(text)
    assert got == value and type(got) is type(value)


def test_an_integer_feature_takes_a_whole_number_written_with_a_zero_fraction():
    rule = FeatureRule("n", "integer", minimum=0, maximum=200)
    assert rule.error(rule.from_text("181.0")) is None
    assert rule.load(rule.from_text("181.0")) == 181
    assert type(rule.load(181.0)) is int
    assert rule.error(181.5) == "Not a valid integer."
    column = pa.array([181.0, 181.5, 250.0, None])
    assert rule.column_problems(column).tolist() == [False, True, True, True]


def test_a_category_of_codes_takes_the_number_whose_text_is_a_code():
    rule = FeatureRule("k", "category", categories=("0", "1", "2.5", "01", "1.0"))
    assert [rule.load(v) for v in (0, 1, 2.5, 1.0)] == ["0", "1", "2.5", "1.0"]
    assert all(rule.error(v) is None for v in (0, 1, 2.5, 1.0))
    assert rule.error(3) == rule.choices_message
    assert rule.error(True) == "Not a valid string."
    assert rule.number_codes == (0, 1, 2.5, 1.0)  # "01" is text only
    assert not rule.accepts(1)  # the quick path leaves the conversion to `load`


def test_a_whole_float_is_the_code_of_its_whole_number_as_json_schema_equals_them():
    # schemathesis sends 4.0 for the OpenAPI enum [1, ..., 7] of anes96's codes.
    rule = FeatureRule("k", "category", categories=("1", "4", "1.0"))
    assert rule.error(4.0) is None and rule.load(4.0) == "4"
    assert rule.load(1.0) == "1.0" and rule.load(1) == "1"  # its own text first
    assert rule.error(4.5) == rule.choices_message


def test_a_parquet_column_of_codes_is_scored_as_the_api_takes_them(loaded_model):
    rule = FeatureRule("k", "category", categories=("0", "1"), nullable=True)
    scorer = ColumnarScorer(loaded_model)
    scorer.rules = (rule,)
    column = pa.array([0, 1, 2, None], pa.int64())
    columns, problems = scorer.check(pa.record_batch([column], ["k"]))
    assert problems == [(2, "k", rule.choices_message)]
    assert list(columns["k"][[0, 1, 3]]) == ["0", "1", None]


SYNTHETIC = (
    [
        FeatureRule("i", "integer", minimum=-5, maximum=10, nullable=nullable)
        for nullable in (False, True)
    ]
    + [
        FeatureRule("x", "number", minimum=0.5, maximum=1e6, nullable=nullable)
        for nullable in (False, True)
    ]
    + [
        FeatureRule("c", "category", categories=("a", "B c"), nullable=nullable)
        for nullable in (False, True)
    ]
    # The training set's own missing markers, a number among them.
    + [
        FeatureRule("m", "integer", minimum=-5, maximum=10, missing=("", "NA", "-1")),
        FeatureRule(
            "k",
            "category",
            categories=("0", "1", "2.5", "?"),
            nullable=True,
            missing=("", "NA"),
        ),
    ]
)


@pytest.mark.parametrize("rule", SYNTHETIC, ids=repr)
def test_every_kind_of_rule_nullable_or_not_refuses_what_the_api_refuses(
    loaded_model, rule
):
    cells = TEXT_CELLS + ["a", "B c", "b c", "10", "11", "-5", "0.5", "1e6", " a"]
    scorer = ColumnarScorer(loaded_model)
    scorer.rules = (rule,)
    for column in (pa.array(cells), pa.array(cells + [None])):
        values = [rule.from_text(c) for c in column.to_pylist()]
        model_columns, problems = scorer.check(pa.record_batch([column], [rule.name]))
        assert {(i, m) for i, _, m in problems} == {
            (i, rule.error(v)) for i, v in enumerate(values) if rule.error(v)
        }
        refused = {i for i, _, _ in problems}
        for i, v in enumerate(values):
            if i not in refused:
                got = model_columns[rule.name][i]
                want = rule.load(v)
                assert got == want or (want is None and (got is None or np.isnan(got)))
