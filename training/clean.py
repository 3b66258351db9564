"""Stage 2: turn the raw files into clean train/test CSVs, and refuse data that cannot work.

The data set's loader (training/datasets/) does the cleaning particular to its files; the
helpers here are what every loader shares. Before anything is written, the tables are
checked against params.yaml exactly as the next stage will read them: a missing feature, a
numeric column that does not parse, a positive label the target never takes, a categorical
feature with one value, a class too small for the CV folds, a column that `evaluate` or
`model_card` names but the data lacks each stop the stage with one line, before any fit.

What cleaning removes is counted, step by step (empty rows, rows without a target, exact
duplicates, training rows also in the test split): the stage prints the counts, writes
them to data/processed/cleaning.json (evaluate publishes it as reports/cleaning.json, the
model card cites it) and refuses, in one line, when they add up to more than
`data.max_dropped_share` of the rows read. `data.deduplicate: false` keeps repeated rows
(a table of counts per category repeats them legitimately) and the overlap with the test
split. The helpers take both from the `cleaning` context the stage opens, so a loader of
your own that uses them is counted and governed the same way.
`python -m training.clean`
"""

from __future__ import annotations

import argparse
import io
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import pandas as pd
import yaml

from bundle.files import write_json_atomic, write_text_atomic
from bundle.format import MULTICLASS, REGRESSION
from bundle.profile import BAND_SUFFIX
from bundle.rules import cell_text
from training.config import ConfigError, FeatureSpec, Paths
from training.datasets import dataset_for
from training.features import check_unimputed, read_processed, target_values
from training.params import DATA_DEFAULTS, Params, load, quote_hint
from training.stage import run_stage

MISSING_MARKERS = ("?", "")
# Why each cleaning step removes rows, as the report and the refusal say it.
REASONS = {
    "empty rows": "every cell missing",
    "no target": "the target is missing",
    "duplicates": "exact repeats of another row; data.deduplicate: false keeps them",
    "overlap": "training rows whose features are also in the test split: a leak",
}


@dataclass
class Cleaning:
    """The cleaning policy (`data.deduplicate`) and the rows each step removed."""

    deduplicate: bool = DATA_DEFAULTS["deduplicate"]
    removed: dict[str, int] = field(default_factory=dict)

    def note(self, step: str, rows: int) -> None:
        """Count `rows` removed by `step` (a step may run once per table)."""
        if rows:
            self.removed[step] = self.removed.get(step, 0) + int(rows)


_CURRENT: ContextVar[Cleaning | None] = ContextVar("cleaning", default=None)


@contextmanager
def cleaning(data: dict):
    """The `Cleaning` the helpers below use while a loader runs (`data`: the section)."""
    log = Cleaning(bool(data.get("deduplicate", DATA_DEFAULTS["deduplicate"])))
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        _CURRENT.reset(token)


def current() -> Cleaning:
    """The stage's open `Cleaning`, or a default one (a loader called on its own)."""
    return _CURRENT.get() or Cleaning()


def note_removed(step: str, rows: int) -> None:
    """For a loader's own steps: count rows it removed (add a REASONS-like word to
    its CLEANING_STEPS)."""
    current().note(step, rows)


def missing_markers(data: dict) -> tuple[str, ...]:
    """The cell texts that mean missing: `data.missing`, else an empty cell and "?"."""
    return tuple(data.get("missing", MISSING_MARKERS))


def strip_cells(raw: pd.DataFrame, markers=MISSING_MARKERS) -> pd.DataFrame:
    """Cells read as scoring reads them (stripped, a missing marker as missing, by
    bundle.rules.cell_text, which the bundle's readers share), empty rows gone."""
    df = raw.apply(lambda col: col.astype(str).map(lambda t: cell_text(t, markers)))
    return counted("empty rows", df, df.dropna(how="all"))


def counted(step: str, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """`after`, with the rows it lacks against `before` noted as removed by `step`."""
    current().note(step, len(before) - len(after))
    return after


def finish(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows without a target dropped, and exact duplicates unless data.deduplicate is
    false."""
    if target not in df.columns:
        raise ConfigError(
            f"features.target {target!r} is not a column of the data "
            f"(columns: {', '.join(map(str, df.columns))})"
        )
    df = counted("no target", df, df.dropna(subset=[target]))
    if current().deduplicate:
        df = counted("duplicates", df, df.drop_duplicates())
    return df.reset_index(drop=True)


def drop_overlap(train: pd.DataFrame, test: pd.DataFrame, target: str) -> pd.DataFrame:
    """Training rows whose features also appear in the test split are dropped (leakage),
    unless data.deduplicate is false: then repeated rows are the data, not a leak."""
    if not current().deduplicate:
        return train.reset_index(drop=True)
    features = [c for c in train.columns if c != target]
    keys = pd.MultiIndex.from_frame(test[features].fillna("\0"))
    seen = pd.MultiIndex.from_frame(train[features].fillna("\0")).isin(keys)
    return counted("overlap", train, train[~seen]).reset_index(drop=True)


def split(
    df: pd.DataFrame, target: str, test_size: float, seed: int, stratify: bool = True
):
    """Train/test split of one table, stratified by class (not for a regression)."""
    from sklearn.model_selection import train_test_split

    if not stratify:
        return train_test_split(df, test_size=test_size, random_state=seed)
    counts = df[target].value_counts()
    if len(counts) >= 2 and counts.min() < 2:
        raise ConfigError(
            f"target {target!r}: class {counts.idxmin()!r} has {counts.min()} row; "
            "a stratified split needs at least 2"
        )
    return train_test_split(
        df, test_size=test_size, random_state=seed, stratify=df[target]
    )


def to_csv_text(df: pd.DataFrame) -> str:
    """CSV text with missing values as empty fields."""
    return df.to_csv(index=False, lineterminator="\n")


def check_split(name: str, df: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The processed table as the fit stage will read it, or ConfigError saying why not."""
    lacking = [c for c in spec.columns if c not in df.columns]
    if lacking:
        raise ConfigError(
            f"feature {lacking[0]!r} is not a column of the {name} data "
            f"(columns: {', '.join(map(str, df.columns))})"
        )
    return read_processed(io.StringIO(to_csv_text(df)), spec, name)


def label_hint(label, values: list) -> str:
    """How to write a positive label the target has in another form, or nothing."""
    same = [v for v in values if str(v) == str(label)]
    if same:
        return f" (write it as {same[0]!r})"
    if not isinstance(label, bool):
        return ""
    misread = [v for v in values if isinstance(v, str) and yaml_reads(v) is label]
    return f" ({quote_hint(misread[0])})" if misread else ""


def yaml_reads(text: str):
    """What YAML makes of `text` written unquoted (None if it cannot read it)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def check_references(frame: pd.DataFrame, params: Params) -> None:
    """Every column `evaluate` and `model_card` name is in the data, before any fit.

    Bands must parse as numbers; a reference group must be one of its attribute's groups.
    """
    from training.slicing import add_bands

    ev, columns = params.evaluate, [str(c) for c in frame.columns]
    named = [(f"evaluate.slices.bands.{c}", c) for c in ev.slices.bands]
    named += [
        (f"evaluate.bias.attributes: {a!r}", a)
        for a in ev.bias.attributes
        if not a.endswith(BAND_SUFFIX)
    ]
    named += [
        ("model_card.sensitive_features", c)
        for c in params.model_card.sensitive_features
    ]
    for key, col in named:
        if col not in columns:
            raise ConfigError(
                f"{key}: column {col!r} is not in the data (columns: "
                f"{', '.join(columns)}); change it or remove it before training"
            )
    numeric = frame[list(ev.slices.bands)].apply(pd.to_numeric, errors="coerce")
    for col in ev.slices.bands:
        bad = frame[col].notna() & numeric[col].isna()
        if bad.any():
            raise ConfigError(
                f"evaluate.slices.bands.{col}: column {col!r} holds "
                f"{frame[col][bad].iloc[0]!r}, not a number: only a numeric column "
                "can be banded"
            )
    bands = {col: list(edges) for col, edges in ev.slices.bands.items()}
    banded = add_bands(frame.assign(**numeric.to_dict("series")), bands)
    for attr, group in ev.bias.reference.items():
        groups = sorted({str(g) for g in banded[attr].dropna()})
        if str(group) not in groups:
            hint = f"; {quote_hint()}" if isinstance(group, bool) else ""
            raise ConfigError(
                f"evaluate.bias.reference.{attr}: group {group!r} is not one of "
                f"{attr!r}'s groups in the data ({', '.join(groups[:20])}){hint}"
            )


def check_target(values: list, spec: FeatureSpec) -> None:
    """The target's values fit features.task, or one line saying which task they fit."""
    shown = ", ".join(map(repr, values[:10]))
    change = "change features.task in params.yaml (or rerun make init)"
    if spec.task == REGRESSION:
        text = [v for v in values if isinstance(v, (str, bool))]
        if text:
            raise ConfigError(
                f"target {spec.target!r} holds {text[0]!r}, not a number: "
                f"features.task regression needs a numeric target; {change}"
            )
        if len(values) < 3:
            raise ConfigError(
                f"target {spec.target!r} takes {len(values)} value(s) ({shown}): too "
                f"few for features.task regression; {change}"
            )
    elif spec.task == MULTICLASS and len(values) < 3:
        raise ConfigError(
            f"target {spec.target!r} takes {len(values)} value(s) ({shown}): "
            f"features.task multiclass needs 3 or more; {change} (binary needs "
            "features.positive_label)"
        )
    elif spec.binary and len(values) != 2:
        raise ConfigError(
            f"target {spec.target!r} must take exactly two values for features.task "
            f"binary, found {len(values)}: {shown}; {change}"
        )


def check_training_data(train: pd.DataFrame, spec: FeatureSpec, folds: int) -> None:
    """Labels, categories and class sizes the fit stage needs, checked before any fit."""
    values = target_values(train[spec.target])
    check_target(values, spec)
    label = spec.positive_label
    if spec.binary and not any(v == label and type(v) is type(label) for v in values):
        raise ConfigError(
            f"features.positive_label {spec.positive_label!r} is not a value of "
            f"target {spec.target!r}; values found: "
            f"{', '.join(map(repr, values))}{label_hint(label, values)}"
        )
    for col in spec.categorical:
        seen = train[col].dropna().unique()
        if len(seen) < 2:
            raise ConfigError(
                f"categorical feature {col!r} has {len(seen)} value(s) in the training "
                "data: it cannot inform the model; drop it from features.categorical"
            )
    counts = train[spec.target].value_counts()
    if spec.task == REGRESSION:
        if len(train) < 2 * folds:
            raise ConfigError(
                f"target {spec.target!r} has {len(train)} training rows, too few for "
                f"train.cv_folds={folds}"
            )
    elif counts.min() < folds:
        raise ConfigError(
            f"class {counts.idxmin()!r} of target {spec.target!r} has {counts.min()} "
            f"training rows, fewer than train.cv_folds={folds}"
        )


def loss_report(log: Cleaning, frames: dict[str, pd.DataFrame], data: dict) -> dict:
    """What cleaning kept and removed (rows read = kept + removed), step by step."""
    kept = {name: len(df) for name, df in frames.items()}
    removed = sum(log.removed.values())
    read = sum(kept.values()) + removed
    return {
        "rows_read": read,
        "rows_kept": kept,
        "removed": [
            {"step": step, "rows": rows, "why": REASONS.get(step, step)}
            for step, rows in log.removed.items()
        ],
        "removed_share": round(removed / read, 6) if read else 0.0,
        "max_dropped_share": data["max_dropped_share"],
        "deduplicate": log.deduplicate,
    }


def loss_lines(report: dict) -> list[str]:
    """The report in words, one line per step that removed rows."""
    lines = [
        f"cleaning: {report['rows_read']} rows read, "
        f"{report['removed_share']:.1%} removed"
    ]
    lines += [
        f"  {r['step']}: {r['rows']} rows removed ({r['why']})"
        for r in report["removed"]
    ]
    return lines


def check_loss(report: dict) -> None:
    """Refuse, in one line, cleaning that removed more than data.max_dropped_share."""
    if report["removed_share"] <= report["max_dropped_share"]:
        return
    steps = ", ".join(f"{r['step']} {r['rows']}" for r in report["removed"])
    hint = (
        "; if the rows are legitimately repeated set data.deduplicate: false"
        if report["deduplicate"]
        else ""
    )
    raise ConfigError(
        f"cleaning removed {report['removed_share']:.1%} of the "
        f"{report['rows_read']} rows read ({steps}), more than "
        f"data.max_dropped_share={report['max_dropped_share']}{hint}; or raise "
        "data.max_dropped_share"
    )


def clean_splits(paths: Paths, params: Params) -> dict[str, pd.DataFrame]:
    """Clean, checked train/test tables from data/raw, by the configured loader."""
    return clean_and_report(paths, params)[0]


def clean_and_report(paths: Paths, params: Params):
    """The clean, checked train/test tables and the report of what cleaning removed."""
    spec, data = params.features, params.data.options
    with cleaning(data) as log:
        frames = dataset_for(params.data.loader).load(paths, params.raw)
    report = loss_report(log, frames, data)
    check_loss(report)
    checked = {name: check_split(name, df, spec) for name, df in frames.items()}
    check_training_data(checked["train"], spec, params.train.cv_folds)
    check_unimputed(spec, checked["train"], checked["test"])
    check_references(frames["test"], params)
    return frames, report


def clean_stage(paths: Paths, params: Params) -> tuple[dict[str, pd.DataFrame], dict]:
    """The stage: the clean train/test tables and the cleaning report, written to
    data/processed; returns both."""
    frames, report = clean_and_report(paths, params)
    paths.processed.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        write_text_atomic(paths.split(name), to_csv_text(df))
    write_json_atomic(paths.cleaning, report)
    return frames, report


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    paths = Paths()
    frames, report = clean_stage(paths, load())
    print("\n".join(loss_lines(report)))
    for name, df in frames.items():
        print(f"{name}: {len(df)} rows -> {paths.split(name)}")
    return 0


if __name__ == "__main__":
    # The loaders' helpers read the cleaning context of the module they import,
    # training.clean, not of this __main__ copy of it: run that module's main.
    from training import clean

    sys.exit(run_stage("clean", clean.main))
