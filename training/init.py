"""`make init DATA=path.csv TARGET=column`: a params.yaml for a CSV of your own, from the file.

Reads the CSV as the csv loader will (text cells, the same missing markers) and infers each
column's role: numeric (bounds = the values seen, widened by a margin), categorical (text,
or whole numbers with few distinct values: codes), or left out with a comment saying why
(an identifier, free text, one value only); a numeric column with gaps gets `missing:
median` (the model fills them). The task comes from the target (two values: binary, whose
positive label is the minority class as the data writes it; text with more: multiclass;
numbers: regression, or multiclass when they are whole numbers with few values, said in a
printed line with how to change it; --task decides). Slices band up to two numeric
columns at quartiles.
The file is checked by loading it as the stages do (training/params.py) before it is
written, atomically; an existing params.yaml is replaced only with --force (FORCE=1).
`python -m training.init DATA TARGET [--out params.yaml] [--delimiter ;] [--task T] [--force]`
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bundle.files import write_text_atomic
from training.clean import MISSING_MARKERS, strip_cells, to_csv_text
from bundle.rules import OTHER
from training.config import PARAMS_FILE, RARE_MIN_COUNT, ROOT, ConfigError
from training.datasets import csv as csv_loader
from bundle.format import BINARY, MULTICLASS, REGRESSION, TASKS
from training.features import (
    DEFAULT_IMPUTATION,
    counts_rows,
    distinct_per_row,
    target_values,
)
from training.params import DATA_DEFAULTS, Params
from training.stage import run_stage

# Whole numbers with at most this many distinct values are codes (categories).
CODE_MAX = 20
# Text with more distinct values than this is free text or an identifier, not a category.
CATEGORY_MAX = 100
# Bounds: the values seen, widened on each side by this share of their range.
MARGIN = 0.10
BANDED_MAX = 2
# Rows repeating another row exactly in this share of the file (or more) are data, not
# accidents (a table of counts per category, answers on a few scales): keep them.
REPEATED_SHARE = 0.10
MIN_CLASS_ROWS = 10
DELIMITERS = ",;\t|"
# Texts other tools write for a missing value (R's NA, pandas' NaN, SQL's NULL): one that
# stands among numbers in a column means missing in the whole file (data.missing).
GAP_TEXTS = ("NA", "N/A", "NaN", "nan", "NULL", "null", "None")
# What the template trains today (params.yaml): the same candidates for your data.
CANDIDATES = {
    "logistic_regression": {
        "estimator": "logistic_regression",
        "params": {"C": 1.0, "max_iter": 2000},
    },
    "gradient_boosting": {
        "estimator": "gradient_boosting",
        "params": {
            "n_estimators": 200,
            "max_depth": 5,
            "learning_rate": 0.1,
            "subsample": 1.0,
        },
    },
}
# The candidates and the selection metric written for the other tasks.
TASK_CANDIDATES = {
    BINARY: CANDIDATES,
    MULTICLASS: CANDIDATES,
    REGRESSION: {
        "ridge": {"estimator": "ridge", "params": {"alpha": 1.0}},
        "gradient_boosting": CANDIDATES["gradient_boosting"],
    },
}
SELECTION_METRIC = {BINARY: "roc_auc", MULTICLASS: "log_loss", REGRESSION: "rmse"}
# A text target with more classes than this is refused (an identifier or free text).
CLASSES_MAX = 50
CV_FOLDS = 5
# Below this share of minority rows, a 0.5 threshold predicts the minority class for few
# records (high accuracy, little recall): the threshold is chosen for the highest F1.
RARE_SHARE = 0.2


@dataclass
class Column:
    """One column's inferred role: numeric (with bounds), categorical, or left out."""

    name: str
    role: str
    why: str = ""
    bounds: dict[str, Any] = field(default_factory=dict)
    values: pd.Series | None = None


def sniff(path: Path) -> tuple[str, str]:
    """The delimiter (",", ";", tab or "|") and quote character of the file's first
    lines, else the defaults."""
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        sample = fh.read(1 << 16)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        return DATA_DEFAULTS["delimiter"], DATA_DEFAULTS["quotechar"]
    return dialect.delimiter, dialect.quotechar


def read_table(path: Path, delimiter: str, quotechar: str) -> pd.DataFrame:
    """The CSV as the csv loader sees it: text cells, blanks stripped, markers missing."""
    name = f"DATA {path.name}"
    csv_loader.check_delimiter(path, delimiter, name)
    raw = csv_loader.read(path, delimiter, name, quotechar)
    return strip_cells(raw, MISSING_MARKERS)


def gap_markers(df: pd.DataFrame) -> list[str]:
    """The GAP_TEXTS the file writes among numbers: missing markers, not categories."""
    found: list[str] = []
    for col in df.columns:
        values = df[col].dropna()
        gaps = values.isin(GAP_TEXTS)
        numbers = pd.to_numeric(values[~gaps], errors="coerce")
        if gaps.any() and not gaps.all() and numbers.notna().all():
            found += [g for g in values[gaps].unique() if g not in found]
    return found


def step_for(span: float, integer: bool) -> float:
    """A round step two significant digits below the range (>= 1 for whole numbers)."""
    step = 10.0 ** (math.floor(math.log10(span)) - 1) if span > 0 else 1.0
    return max(1.0, step) if integer else step


def tidy(value: float, step: float, integer: bool) -> int | float:
    """A bound as YAML should show it: a whole number, or no float noise."""
    if integer:
        return int(round(value))
    return round(value, max(0, -math.floor(math.log10(step))))


def bounds_of(nums: pd.Series, integer: bool) -> dict[str, Any]:
    """The values seen widened by MARGIN of their range, rounded outward; >= 0 stays."""
    low, high = float(nums.min()), float(nums.max())
    span = high - low
    step = step_for(span, integer)
    wide_low = math.floor((low - MARGIN * span) / step) * step
    wide_high = math.ceil((high + MARGIN * span) / step) * step
    if low >= 0:
        wide_low = max(wide_low, 0.0)
    return {
        "type": "integer" if integer else "number",
        "min": tidy(wide_low, step, integer),
        "max": tidy(wide_high, step, integer),
    }


def classify(name: str, column: pd.Series) -> Column:
    """What a column is for the model, from its values alone."""
    values = column.dropna()
    rows, distinct = len(column), values.nunique()
    if distinct <= 1:
        shown = f" ({values.iloc[0]!r})" if distinct else ""
        return Column(name, "left out", f"one value only{shown}: it cannot inform")
    nums = pd.to_numeric(values, errors="coerce")
    if nums.notna().all():
        integer = bool((nums % 1 == 0).all())
        codes = values.str.fullmatch(r"0\d+").any()
        if integer and (distinct <= CODE_MAX or codes):
            return Column(name, "categorical")
        if integer and distinct_per_row(distinct, rows) and counts_rows(nums, distinct):
            return Column(
                name, "left out", "a different row number in every row: an ID"
            )
        bounds = bounds_of(nums, integer)
        if len(values) < rows:  # gaps: filled inside the model, said in the file
            bounds["missing"] = DEFAULT_IMPUTATION
        return Column(name, "numeric", bounds=bounds, values=nums)
    if distinct_per_row(distinct, len(values)):
        return Column(name, "left out", "a different text in every row: an identifier")
    if distinct > CATEGORY_MAX:
        return Column(
            name,
            "left out",
            f"{distinct} distinct texts: too many for a category (free text?)",
        )
    return Column(name, "categorical")


def typed_target(df: pd.DataFrame, target: str) -> pd.Series:
    """The target as the stages read it back (1, true or text), missing rows dropped."""
    text = to_csv_text(df[[target]].dropna())
    return pd.read_csv(io.StringIO(text))[target]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def infer_task(values: pd.Series, target: str) -> tuple[str, str]:
    """The task the target's values call for, and a line saying what was inferred and
    how to change it."""
    classes = target_values(values)
    shown = (
        f"({', '.join(map(repr, classes[:5]))}{', ...' if len(classes) > 5 else ''})"
    )
    if len(classes) < 2:
        raise ConfigError(
            f"TARGET {target!r} takes {len(classes)} value(s) {shown}; a model "
            "predicts one of two or more values, or a number"
        )
    change = "to change it, edit features.task in params.yaml or rerun with TASK="
    if len(classes) == 2:
        return BINARY, f"features.task: binary (TARGET {target!r} takes two values)"
    if all(is_number(v) for v in classes):
        whole = all(float(v).is_integer() for v in classes)
        if whole and len(classes) <= CODE_MAX:
            return MULTICLASS, (
                f"features.task: multiclass: TARGET {target!r} holds {len(classes)} "
                f"distinct whole numbers {shown}, read as classes; if they are "
                f"amounts to predict, set features.task: regression ({change}"
                "regression)"
            )
        return REGRESSION, (
            f"features.task: regression (TARGET {target!r} holds {len(classes)} "
            f"distinct numbers); {change}multiclass"
        )
    if len(classes) > CLASSES_MAX:
        raise ConfigError(
            f"TARGET {target!r} takes {len(classes)} distinct texts {shown}: more than "
            f"{CLASSES_MAX} classes (an identifier or free text?)"
        )
    return MULTICLASS, (
        f"features.task: multiclass (TARGET {target!r} takes {len(classes)} values)"
    )


def smallest_class(values: pd.Series, target: str, task: str) -> tuple[Any, int]:
    """The minority class (the last one on a tie) and its row count, checked large
    enough to train and test (a regression: no class, every row)."""
    if task == REGRESSION:
        return None, len(values)
    classes = target_values(values)
    if task == BINARY and len(classes) != 2:
        raise ConfigError(
            f"TARGET {target!r} takes {len(classes)} value(s) "
            f"({', '.join(map(repr, classes[:5]))}); the model predicts one of two"
        )
    counts = {v: int((values == v).sum()) for v in classes}
    label = min(reversed(classes), key=lambda v: counts[v])
    if counts[label] < MIN_CLASS_ROWS:
        raise ConfigError(
            f"TARGET {target!r}: class {label!r} has {counts[label]} row(s); a model "
            f"needs at least {MIN_CLASS_ROWS} of each class to train and test"
        )
    return label, counts[label]


def band_edges(col: Column) -> list[int | float]:
    """The quartiles, rounded like the bounds, as band edges between them; [] if few."""
    integer = col.bounds["type"] == "integer"
    step = step_for(float(col.values.max() - col.values.min()), integer)
    quartiles = col.values.quantile([0.25, 0.5, 0.75])
    inner = [tidy(round(q / step) * step, step, integer) for q in quartiles]
    edges = sorted({col.bounds["min"], *inner, col.bounds["max"]})
    return edges if len(edges) >= 3 else []


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def project_name(path: Path) -> str:
    """The file's name as a project name: lower case words joined by dashes."""
    name = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    return name or "model"


def source_of(path: Path, root: Path) -> str:
    """data.source: the path from the project root (absolute when outside it)."""
    path = path.resolve()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def infer(
    path: Path,
    target: str,
    delimiter: str | None,
    root: Path = ROOT,
    task: str | None = None,
):
    """The params mapping for the CSV at `path`, the columns left out (with why), the
    rows with a target and the line saying which task was inferred (`task` decides)."""
    if not path.is_file():
        raise ConfigError(f"DATA {path} is not a file")
    sniffed, quotechar = sniff(path)
    delimiter = delimiter or sniffed
    df = read_table(path, delimiter, quotechar)
    gaps = gap_markers(df)
    df = df.mask(df.isin(gaps))
    if target not in df.columns:
        raise ConfigError(
            f"TARGET {target!r} is not a column of {path.name} "
            f"(columns: {', '.join(map(str, df.columns))})"
        )
    values = typed_target(df, target)
    inferred, note = infer_task(values, target)
    if task is not None and task != inferred:
        note = f"features.task: {task} (TASK={task}; the values suggest {inferred})"
    task = task or inferred
    if task == REGRESSION and not all(is_number(v) for v in target_values(values)):
        raise ConfigError(f"TARGET {target!r} holds text: it cannot be a regression")
    label, minority = smallest_class(values, target, task)
    df = df.dropna(subset=[target])
    repeated = float(df.duplicated().mean()) if len(df) else 0.0
    columns = [classify(str(c), df[c]) for c in df.columns if c != target]
    numeric = [c for c in columns if c.role == "numeric"]
    if all(c.role == "left out" for c in columns):
        why = "; ".join(f"{c.name}: {c.why}" for c in columns) or "no other column"
        raise ConfigError(f"{path.name}: no column can be a feature ({why})")
    test_size, seed = DATA_DEFAULTS["test_size"], DATA_DEFAULTS["seed"]
    minority_train = int(minority * (1 - test_size))
    minority_test, rows_test = minority - minority_train, int(len(df) * test_size)
    bands = {c.name: band_edges(c) for c in numeric[:BANDED_MAX]}
    params = {
        "project": {
            "name": project_name(path),
            "description": f"the value of {target}",
        },
        "data": {
            "loader": "csv",
            "source": source_of(path, root),
            "delimiter": delimiter,
            **({"quotechar": quotechar} if quotechar != '"' else {}),
            **({"missing": [*MISSING_MARKERS, *gaps]} if gaps else {}),
            "test_size": test_size,
            "seed": seed,
            "deduplicate": repeated < REPEATED_SHARE,
            "max_dropped_share": DATA_DEFAULTS["max_dropped_share"],
        },
        "features": {
            "target": target,
            "task": task,
            **({"positive_label": label} if task == BINARY else {}),
            "numeric": {c.name: c.bounds for c in numeric},
            "categorical": [c.name for c in columns if c.role == "categorical"],
            "rare_category": {"min_count": RARE_MIN_COUNT},
            "unseen": {},
        },
        "train": {
            "seed": seed,
            "cv_folds": clamp(minority_train // 5, 2, CV_FOLDS),
            "selection_metric": SELECTION_METRIC[task],
            "candidates": TASK_CANDIDATES[task],
            "parity_tolerance": 1.0e-5,
        },
        "evaluate": {
            "threshold": threshold_for(minority / len(df)),
            "targets": {},
            "slices": {
                "min_support": clamp(rows_test // 20, 5, 30),
                "min_positives": clamp(minority_test // 10, 2, 10),
                "f1_margin": 0.10,
                "bands": {col: edges for col, edges in bands.items() if edges},
            },
            "bias": {"attributes": [], "reference": {}, "fair_band": [0.8, 1.25]},
        },
        "model_card": model_card(path, target, len(df)),
    }
    return params, [c for c in columns if c.role == "left out"], len(df), note


def threshold_for(share: float) -> float | dict[str, str]:
    """evaluate.threshold for a minority class of this share of the rows."""
    return {"rule": "max_f1"} if share < RARE_SHARE else 0.5


def model_card(path: Path, target: str, rows: int) -> dict[str, list[str]]:
    """Neutral words for the card, to be reviewed before the model is published."""
    return {
        "intended_use": [
            f"Estimating the value of {target} from the other columns of {path.name}; "
            "review and state the intended uses before publishing."
        ],
        "out_of_scope": [
            "Decisions about individual people without a human review of each case."
        ],
        "caveats": [
            f"Trained on {rows} rows of {path.name}: it describes that data as it was "
            "collected, not any other population or time."
        ],
        "sensitive_features": [],
    }


# Comments written above a key (by its dotted path), for the person who reviews the file.
COMMENTS = {
    "project": "What the model is about, for people (the API, /health, the model card).",
    "data": "Your CSV, read by the csv loader (training/datasets/csv.py).",
    "data.deduplicate": (
        "false when a tenth of the rows or more repeat another row exactly (repeats are "
        "then data: kept, and no overlap with the test split dropped); else true."
    ),
    "data.max_dropped_share": (
        "Cleaning that removes more of the rows read than this is refused."
    ),
    "features.task": (
        "binary, multiclass or regression: inferred from the target's values."
    ),
    "data.quotechar": "The file wraps cells (its header's names) in this character.",
    "data.missing": (
        "Cell texts that mean missing: the file writes these among numbers."
    ),
    "features.positive_label": "The minority class, as the data writes it.",
    "features.numeric": (
        f"Bounds the API accepts: the values seen, widened by {MARGIN:.0%} of their "
        f"range. missing: {DEFAULT_IMPUTATION} where the file has gaps: the model fills "
        "a missing value with the training median and sees that it was missing "
        "(mean, constant with fill: <number>, or refuse: docs/pipeline.md)."
    ),
    "features.categorical": (
        "Text columns, and whole numbers with few values (codes); allowed values are "
        "those seen in training."
    ),
    "features.rare_category": (
        f"A category seen fewer than min_count times in training is grouped with the "
        f"other rare ones as {OTHER}: too few rows to learn it from."
    ),
    "features.unseen": (
        "What a category unseen in training gets, per column: refuse (a 422, the "
        "default), group (scored as the rare ones) or missing (as a missing value)."
    ),
    "train.cv_folds": "5, or fewer when the minority class has under 25 training rows.",
    "evaluate.threshold": (
        f"0.5, or the highest out-of-fold F1 ({{rule: max_f1}}) when the minority class "
        f"is under {RARE_SHARE:.0%} of the rows; also {{rule: precision, at_least: "
        "0.8}} or {rule: recall, at_least: 0.7}."
    ),
    "evaluate.targets": (
        "Quality targets the published model must reach, test metrics of its task "
        "(binary roc_auc: 0.8, multiclass f1_macro: 0.8, regression r2: 0.5; rmse, "
        "mae, log_loss and brier are ceilings): set them once you know what it reaches."
    ),
    "evaluate.slices.bands": "Numeric columns sliced into bands at their quartiles.",
    "evaluate.bias.attributes": (
        "The columns to audit for fairness (a person's sex, age band as <column>-band, "
        "...): none chosen, since only you know which are sensitive."
    ),
    "model_card.sensitive_features": "Columns that are or stand in for sensitive traits.",
}


class FlowMap(dict):
    """A mapping YAML writes on one line: {type: integer, min: 0, max: 9}."""


class FlowList(list):
    """A list YAML writes on one line: [0, 25, 50]."""


class Dumper(yaml.SafeDumper):
    """yaml.safe_dump's dumper, writing FlowMap and FlowList on one line."""


Dumper.add_representer(
    FlowMap, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, True)
)
Dumper.add_representer(
    FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, True)
)


def flowing(value: Any, depth: int) -> Any:
    """Collections of scalars below a section's keys on one line, the rest as blocks."""
    if isinstance(value, dict):
        inner = {k: flowing(v, depth + 1) for k, v in value.items()}
        flat = depth > 1 and not any(
            isinstance(v, (dict, list)) for v in inner.values()
        )
        return FlowMap(inner) if flat else inner
    if isinstance(value, list):
        return FlowList(value) if depth > 1 else value
    return value


def dump_section(name: str, value: dict) -> list[str]:
    """One top-level section as YAML lines, each COMMENTS entry above its key."""
    # Unwrapped, so that every line is a key or a list item; the card's sentences are a
    # block list, one per line.
    tree = {name: value if name == "model_card" else flowing(value, 1)}
    text = yaml.dump(
        tree, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=1 << 20
    )
    lines, path = [], []
    for line in text.splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        if ":" in line and not line.lstrip().startswith("- "):
            path = path[:depth] + [line.strip().split(":", 1)[0]]
            comment = COMMENTS.get(".".join(path))
            if comment:
                lines.append(f"{'  ' * depth}# {comment}")
        lines.append(line)
    return lines


def render(params: dict, left_out: list[Column], source: str, rows: int) -> str:
    """params.yaml as text: every value dumped by YAML itself, comments for review."""
    lines = [
        f"# Written by `make init` from {source} ({rows} rows). Review it, then "
        "`make train`.",
        "# Every value was inferred from the file; params.yaml's keys: docs/pipeline.md.",
    ]
    for name, section in params.items():
        lines.append("")
        if name == "features" and left_out:
            lines.append(
                "# Left out of the features (list one under features to use it):"
            )
            lines += [f"#   {c.name}: {c.why}" for c in left_out]
        lines += dump_section(name, section)
    return "\n".join(lines) + "\n"


def init(
    data: Path,
    target: str,
    out: Path = PARAMS_FILE,
    delimiter: str | None = None,
    force: bool = False,
    root: Path = ROOT,
    task: str | None = None,
) -> Path:
    """Write params.yaml for the CSV at `data`, checked as the stages load it; print
    the task inferred (or given) and how to change it."""
    if out.exists() and not force:
        raise ConfigError(
            f"{out.name} exists: review or move it, or replace it with FORCE=1 "
            "(make init) or --force"
        )
    params, left_out, rows, note = infer(data, target, delimiter, root, task)
    text = render(params, left_out, params["data"]["source"], rows)
    Params.from_dict(yaml.safe_load(text), out.name)
    print(note)
    return write_text_atomic(out, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="your CSV (a header row)")
    parser.add_argument("target", help="the column to predict")
    parser.add_argument("--task", choices=TASKS, help="default: inferred from TARGET")
    parser.add_argument("--out", type=Path, default=PARAMS_FILE)
    parser.add_argument("--delimiter", help="the field delimiter (default: detected)")
    parser.add_argument("--force", action="store_true", help="replace --out")
    args = parser.parse_args(argv)
    path = init(
        args.data, args.target, args.out, args.delimiter, args.force, task=args.task
    )
    print(f"{path}: review it, then `make train`")
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("init", main))
