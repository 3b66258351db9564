"""Labelled captured records (`make monitor LABELS=...` writes them as labelled.csv) as
training rows of a challenger: `make challenger LABELLED=labelled.csv`.

They join the training split only, after the data's own cleaning and split: the
held-out rows stay what the data alone gives, so `make compare` scores both models on
rows neither was trained on, and without `DATA=` on the same rows as the champion's
test split. Each row is read as cleaning reads a cell (bundle.rules.cell_text, the data's
missing markers) and checked as the fit stage will read it; the first bad row stops the
run with one line naming the file and its line. Rows that repeat a training row, or
whose features are in the test split (a leak), are dropped as cleaning drops them.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pandas as pd

from bundle.files import sha256_file
from bundle.format import REGRESSION
from bundle.rules import cell_text, number_value
from training.clean import (
    check_split,
    check_training_data,
    cleaning,
    drop_overlap,
    finish,
    missing_markers,
)
from training.config import REFUSE, ConfigError, FeatureSpec
from training.params import Params

BOOLEAN_TEXTS = ("true", "false")


def label_key(text: str) -> str:
    """A target text as its value: `True` and `true` are one boolean (pandas reads both)."""
    return text.lower() if text.lower() in BOOLEAN_TEXTS else text


def number_problem(col: str, text: str | None, spec: FeatureSpec, gaps: bool):
    """Why a numeric cell cannot train the model, or None."""
    if text is None:
        policy = spec.missing_policy(col)
        if policy == REFUSE or (policy is None and not gaps):
            return (
                f"{col!r} is missing, and the model fills no missing {col!r} "
                f"(declare features.numeric.{col}.missing to allow it)"
            )
        return None
    value = number_value(text)
    if value is None or not math.isfinite(value):
        return f"{col!r}: {text!r} is not a number"
    if spec.kind(col) == "integer" and value % 1:
        return f"{col!r}: {text!r} is not a whole number (declared type: integer)"
    return None


def row_problem(row: dict, spec: FeatureSpec, labels: dict, gaps: dict) -> str | None:
    """Why a labelled row cannot join the training data, or None."""
    target = row[spec.target]
    if target is None:
        return f"no label: the target {spec.target!r} is empty"
    if spec.task == REGRESSION:
        value = number_value(target)
        if value is None or not math.isfinite(value):
            return f"label {target!r} of {spec.target!r} is not a number"
    elif label_key(target) not in labels:
        return (
            f"label {target!r} is not one of {spec.target!r}'s values in the data "
            f"({', '.join(map(repr, sorted(set(labels.values()))))})"
        )
    for col in spec.numeric:
        problem = number_problem(col, row[col], spec, gaps[col])
        if problem:
            return problem
    return None


def read_rows(path: Path, columns: list[str], markers) -> list[tuple[int, dict]]:
    """Each row of the file with its line number, cells read as cleaning reads them;
    ConfigError for a file that is not a table of the data's columns."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            unknown = [c for c in header if c not in columns]
            if unknown:
                raise ConfigError(
                    f"{path}: column {unknown[0]!r} is not a column of the data "
                    f"({', '.join(columns)})"
                )
            rows = []
            for row in reader:
                if None in row or None in row.values():
                    raise ConfigError(
                        f"{path} line {reader.line_num}: not {len(header)} fields "
                        "as the header"
                    )
                cells = {k: cell_text(v, markers) for k, v in row.items()}
                rows.append((reader.line_num, cells))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise ConfigError(f"{path} line {reader.line_num}: {exc}") from None
    return rows


def labelled_frame(path: Path, frames: dict, params: Params) -> pd.DataFrame:
    """The file's rows in the data's columns, every one checked; ConfigError naming the
    file and the line of the first bad one."""
    spec, train = params.features, frames["train"]
    columns = [str(c) for c in train.columns]
    rows = read_rows(path, columns, missing_markers(params.data.options))
    needed = [*spec.columns, spec.target]
    lacking = [c for c in needed if rows and c not in rows[0][1]]
    if not rows:
        raise ConfigError(f"{path}: no labelled rows")
    if lacking:
        raise ConfigError(
            f"{path}: no column {lacking[0]!r}; a labelled file holds the features "
            f"and the target {spec.target!r} (make monitor LABELS=... writes one)"
        )
    known = train[spec.target].dropna().astype(str)
    labels = {label_key(t): t for t in known}
    gaps = {col: bool(train[col].isna().any()) for col in spec.numeric}
    for line, row in rows:
        problem = row_problem(row, spec, labels, gaps)
        if problem:
            raise ConfigError(f"{path} line {line}: {problem}")
        if spec.task != REGRESSION:  # the data's own spelling of the class
            row[spec.target] = labels[label_key(row[spec.target])]
    return pd.DataFrame([row for _, row in rows]).reindex(columns=train.columns)


def add_labelled(
    path: Path, frames: dict[str, pd.DataFrame], params: Params
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The training split with the file's rows added, cleaned as the data is; and what
    happened to them, for the cleaning report."""
    spec, train = params.features, frames["train"]
    rows = labelled_frame(path, frames, params)
    with cleaning(params.data.options) as log:
        joined = finish(pd.concat([train, rows], ignore_index=True), spec.target)
        joined = drop_overlap(joined, frames["test"], spec.target)
    check_training_data(check_split("train", joined, spec), spec, params.train.cv_folds)
    report = {
        "path": str(path),
        "sha256": sha256_file(path),
        "rows_read": len(rows),
        "rows_added": len(joined) - len(train),
        "removed": [{"step": k, "rows": n} for k, n in log.removed.items()],
    }
    return joined, report
