"""The columnar scoring core: Arrow record batches in, Arrow record batches out.

Shared by the single-machine CLI (batch/score.py) and the Spark job (batch/spark_job.py).
Each feature column is checked whole by its rule (`FeatureRule.column_problems`); only the
rows that check leaves in doubt are looked at one by one, by the API's own `rule.error`,
so a rejected row gets exactly the message `POST /predict` would give. Valid rows are
encoded and scored per batch by the bundle's engine, as `POST /predict/batch` does.

The predictions' columns follow the model's task (`predictions_schema`): `row`, the
answer `POST /predict/batch` gives (binary: `prediction`, `probability`; multiclass: those
and one `probability_<class>` column per class; regression: `prediction`, a number), then
`model_version`.

A text column (what a CSV reader gives) is read as training read its CSV
(`FeatureRule.from_text`: blanks stripped, the bundle's missing markers null, a number in a
numeric column a number, `181.0` an integer); a typed column (Parquet) holds the values as
they are (an integer, a float, a string, a null), read by the API's rule for JSON values.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bundle.format import MULTICLASS, REGRESSION, Target
from bundle.paths import configured_model_dir
from bundle.rules import FeatureRule
from bundle.store import LoadedBundle, load_bundle

# A binary model's predictions (predictions_schema gives each task's).
PREDICTIONS = pa.schema(
    [
        ("row", pa.int64()),
        ("prediction", pa.string()),
        ("probability", pa.float64()),
        ("model_version", pa.string()),
    ]
)
# What a class name keeps in its column's name: Spark, Parquet and CSV all take these.
UNSAFE = re.compile(r"[^0-9A-Za-z_]")
REJECTED = pa.schema(
    [("row", pa.int64()), ("field", pa.string()), ("message", pa.string())]
)
# CSV numbers the vectorised parse takes (ASCII, at most 15 digits before the point, so
# exact in float64); any other cell (spaced, "1_000", "nan"...) is read by
# FeatureRule.from_text, one at a time. An integer column takes them too: `181.0` is 181.
NUMBER_TEXT = r"^[+-]?([0-9]{1,15}(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"


def probability_columns(class_names: Sequence[str]) -> list[str]:
    """`probability_<class>` for each class, in class order: the name with every
    character other than an ASCII letter, digit or `_` as `_`. If two would differ in
    case only or not at all (Spark compares names ignoring case), each gets `_<position>`
    (1 = the first class) too."""
    slugs = [UNSAFE.sub("_", str(name)) for name in class_names]
    if len({s.lower() for s in slugs}) < len(slugs):
        slugs = [f"{s}_{i}" for i, s in enumerate(slugs, start=1)]
    return [f"probability_{s}" for s in slugs]


def predictions_schema(target: Target) -> pa.Schema:
    """The predictions' columns for the target's task (the module's docstring)."""
    if target.task == REGRESSION:
        answer = [("prediction", pa.float64())]
    else:
        answer = [("prediction", pa.string()), ("probability", pa.float64())]
    if target.task == MULTICLASS:
        answer += [(c, pa.float64()) for c in probability_columns(target.class_names)]
    return pa.schema([("row", pa.int64()), *answer, ("model_version", pa.string())])


def answer_arrays(predictor, target: Target, scores: np.ndarray, valid: np.ndarray):
    """The answer's columns of predictions_schema, null for the rows not valid; `scores`
    are the engine's (a probability, a row of them, or a value per row)."""
    null = ~valid
    if target.task == REGRESSION:
        return [pa.array(scores, pa.float64(), mask=null)]
    if target.task == MULTICLASS:
        best = np.argmax(scores, axis=1)  # the first of equals, as predict_many's max
        names = np.array(target.class_names, dtype=object)[best]
        top = scores[np.arange(len(scores)), best]
        return [
            pa.array(names, pa.string(), mask=null),
            pa.array(top, pa.float64(), mask=null),
            *(pa.array(column, pa.float64(), mask=null) for column in scores.T),
        ]
    labels = predictor.labels(scores)
    return [
        pa.array(labels, pa.string(), mask=null),
        pa.array(scores, pa.float64(), mask=null),
    ]


def is_text(array: pa.Array) -> bool:
    return pa.types.is_string(array.type) or pa.types.is_large_string(array.type)


def plain(array: pa.Array) -> pa.Array:
    """A dictionary-encoded column (Parquet categoricals) as its values."""
    if pa.types.is_dictionary(array.type):
        return array.dictionary_decode()
    return array


def mask(array: pa.Array, null: bool) -> np.ndarray:
    """A boolean Arrow array as numpy, nulls as `null`."""
    if array.null_count:
        array = pc.fill_null(array, null)
    return array.to_numpy(zero_copy_only=False)


@functools.lru_cache(maxsize=64)
def marker_set(missing: tuple[str, ...], kind: pa.DataType) -> pa.Array:
    return pa.array(sorted(set(missing) | {""}), kind)


def text_as_values(rule: FeatureRule, text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """CSV cells as the typed values a client would send, and the cells left to
    `from_text`: a missing marker in a category is a null; a cell with blanks around it,
    a marker in a number column, or a number the parse below does not take ("1_000",
    "nan"...) is left to `from_text`."""
    marked = mask(pc.is_in(text, value_set=marker_set(rule.missing, text.type)), False)
    unsure = mask(pc.not_equal(text, pc.utf8_trim_whitespace(text)), False)
    if not rule.numeric:
        if marked.any():
            text = pc.if_else(pa.array(marked), pa.scalar(None, text.type), text)
        return text, unsure
    parsed = mask(pc.match_substring_regex(text, NUMBER_TEXT), False) & ~marked
    unsure |= ~parsed
    if text.null_count:  # a null cell: the vectorised check knows what to do with it
        unsure &= text.is_valid().to_numpy(zero_copy_only=False)
    if not parsed.all():
        text = pc.if_else(pa.array(parsed), text, pa.scalar(None, text.type))
    return pc.cast(text, pa.float64()), unsure


def model_column(rule: FeatureRule, values: pa.Array) -> np.ndarray:
    """The column as the engine takes it: float64 (null as NaN) or objects (null None)."""
    if rule.numeric:
        if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            x = pc.cast(values, pa.float64(), safe=False)
            return x.to_numpy(zero_copy_only=False).copy()
        return np.full(len(values), np.nan)
    if not is_text(values):
        return np.full(len(values), None, dtype=object)
    choices, objects = category_table(rule.categories, values.type)
    index = pc.index_in(values, value_set=choices)  # null where unknown or null
    return objects[mask(index, len(choices))]


@functools.lru_cache(maxsize=256)
def category_table(categories: tuple[str, ...], kind: pa.DataType) -> tuple:
    """The categories as an Arrow array, and as objects with None after them: one
    string object per category is shared by all cells, none is made per cell."""
    return pa.array(categories, kind), np.array(list(categories) + [None], object)


def cell(array: pa.Array, text: bool, rule: FeatureRule, i: int) -> Any:
    """One value as the API would receive it."""
    value = array[i].as_py()
    return rule.from_text(value) if text else value


@dataclass
class Scored:
    """One scored batch: a prediction line per input row (null when rejected), and the
    rejected rows' (row, field, message) lines."""

    predictions: pa.RecordBatch
    rejected: pa.RecordBatch

    @property
    def rejected_rows(self) -> int:
        return len(set(self.rejected.column("row").to_pylist()))


class ColumnarScorer:
    """Validates and scores Arrow record batches with one verified bundle."""

    def __init__(self, model: LoadedBundle) -> None:
        self.rules = model.features
        self.predictor = model.predictor
        self.version = model.version
        self.target = model.metadata.target
        self.schema = predictions_schema(self.target)

    @property
    def feature_names(self) -> list[str]:
        return [r.name for r in self.rules]

    def missing(self, names: Sequence[str]) -> list[str]:
        """Feature columns absent from `names` (a file lacking any cannot be scored)."""
        present = set(names)
        return [r.name for r in self.rules if r.name not in present]

    def check(self, batch: pa.RecordBatch) -> tuple[dict, list[tuple[int, str, str]]]:
        """Model columns for every row, and (index, field, message) of each refusal."""
        columns, problems = {}, []
        for rule in self.rules:
            raw = plain(batch.column(rule.name))
            text = is_text(raw)
            values, unsure = text_as_values(rule, raw) if text else (raw, None)
            doubt = rule.column_problems(values)
            if unsure is not None:
                doubt |= unsure
            column = model_column(rule, values)
            for i in np.flatnonzero(doubt).tolist():
                value = cell(raw, text, rule, i)
                message = rule.error(value)
                if message is not None:
                    problems.append((i, rule.name, message))
                else:  # accepted by the exact rule (a spaced number, a null allowed)
                    loaded = rule.load(value)
                    column[i] = np.nan if loaded is None and rule.numeric else loaded
            columns[rule.name] = column
        problems.sort(key=lambda p: p[0])  # stable: a row's fields stay in rule order
        return columns, problems

    def score(self, batch: pa.RecordBatch, first_row: int) -> Scored:
        """Score `batch`, whose first row is number `first_row` (1 = the first)."""
        n = batch.num_rows
        columns, problems = self.check(batch)
        valid = np.ones(n, dtype=bool)
        valid[[i for i, _, _ in problems]] = False
        width = len(self.target.classes) if self.target.task == MULTICLASS else 0
        scores = np.full((n, width) if width else n, np.nan)
        if valid.all():
            scores = self.predictor.proba_columns(columns).astype(np.float64)
        elif valid.any():
            subset = {name: values[valid] for name, values in columns.items()}
            scores[valid] = self.predictor.proba_columns(subset)
        rows = np.arange(first_row, first_row + n, dtype=np.int64)
        predictions = pa.record_batch(
            [
                pa.array(rows),
                *answer_arrays(self.predictor, self.target, scores, valid),
                pa.array(np.full(n, self.version, dtype=object), pa.string()),
            ],
            schema=self.schema,
        )
        return Scored(predictions, rejected_batch(problems, first_row))


def rejected_batch(
    problems: list[tuple[int, str, str]], first_row: int
) -> pa.RecordBatch:
    """(row, field, message) lines as an Arrow batch."""
    return pa.record_batch(
        [
            pa.array([first_row + i for i, _, _ in problems], pa.int64()),
            pa.array([f for _, f, _ in problems], pa.string()),
            pa.array([m for _, _, m in problems], pa.string()),
        ],
        schema=REJECTED,
    )


def configured_bundle(model_dir: Path | None) -> LoadedBundle:
    """The bundle at `model_dir`, else at MODEL_DIR (as the server reads it), verified."""
    if model_dir is None:
        model_dir = configured_model_dir()
    return load_bundle(model_dir)
