"""The feature contract: which columns the model takes, their types, and the preprocessing.

Everything here is derived from `params.yaml` (`features:`) and the training data, so a new
data set only needs a new `features:` block.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from bundle.format import BINARY, MULTICLASS, Target
from bundle.rules import GROUP, OTHER, FeatureRule, number_value
from training.config import REFUSE, ConfigError, FeatureSpec

# What the categorical imputer writes for a missing value; a category of its own.
MISSING_CATEGORY = "missing"
# A column distinct in this share of its rows (or more) identifies rows: an ID; whole
# numbers only when they also nearly fill their range (amounts such as incomes do not).
ID_SHARE = 0.95
ID_SPREAD = 1.1
# The policy of a numeric column with missing values in training that declares none.
DEFAULT_IMPUTATION = "median"
# The ColumnTransformer's names: numerics taken as they are, each imputed numeric
# (IMPUTED + its position), the categoricals.
NUMERIC, IMPUTED, CATEGORICAL = "num", "imputed", "cat"


def read_processed(source: Any, spec: FeatureSpec, name: str = "") -> pd.DataFrame:
    """A processed CSV: categoricals as strings, numerics as float64, target as parsed.

    The target keeps pandas' own parse of the column (integers, booleans or text), which
    is what `features.positive_label` is compared with. Only an empty cell is missing
    (not pandas' "NA", "null"...), and a number is read by `number_value`, as scoring does.
    """
    text = {c: "string" for c in [*spec.categorical, *spec.numeric]}
    df = pd.read_csv(source, dtype=text, keep_default_na=False, na_values=[""])
    for col in spec.numeric:
        numbers = df[col].astype(object).map(number_value, na_action="ignore")
        parsed = pd.to_numeric(numbers, errors="coerce").astype("float64")
        bad = df[col].notna() & parsed.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ConfigError(
                f"numeric feature {col!r}: {df[col].iloc[row]!r} in {name or 'the'} "
                f"data (row {row + 1}) does not parse as a number"
            )
        if spec.kind(col) == "integer" and (parsed.dropna() % 1 != 0).any():
            raise ConfigError(
                f"numeric feature {col!r} is declared type: integer but holds "
                f"fractions; declare it type: number"
            )
        if parsed.isna().any() and spec.missing_policy(col) == REFUSE:
            raise ConfigError(
                f"numeric feature {col!r} has {int(parsed.isna().sum())} missing "
                f"value(s) in {name or 'the'} data and is declared missing: refuse; "
                f"fill them, or declare features.numeric.{col}.missing: median"
            )
        df[col] = parsed.astype("float64")
    return df


def target_values(target: pd.Series) -> list[Any]:
    """The target's distinct values as Python scalars, sorted (missing left out)."""
    values = [v.item() if isinstance(v, np.generic) else v for v in target.dropna()]
    return sorted(set(values), key=lambda v: (str(type(v)), v))


def split_xy(
    df: pd.DataFrame, spec: FeatureSpec, classes: list | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features in contract order (missing categories as NaN) and the target: 0/1
    (binary), the class's index in `classes` (multiclass; default: the values of `df`),
    or the value as a float (regression).

    Column names and categories are interned Python strings in object columns: the
    fitted Pipeline's file records which of its strings are one object, and pandas'
    string storage (pyarrow when installed, else Python) would make that, and so the
    file's bytes and the model version, depend on whether pyarrow is installed."""
    X = df[spec.columns].copy()
    X.columns = pd.Index([sys.intern(str(c)) for c in X.columns], dtype=object)
    for col in spec.categorical:
        texts = X[col].astype(object).where(X[col].notna(), np.nan)
        X[col] = texts.map(sys.intern, na_action="ignore").astype(object)
    if spec.task == MULTICLASS:
        index = {v: i for i, v in enumerate(classes or target_values(df[spec.target]))}
        values = [v.item() if isinstance(v, np.generic) else v for v in df[spec.target]]
        return X, np.array([index.get(v, -1) for v in values], dtype=int)
    if spec.task != BINARY:
        return X, df[spec.target].astype("float64").to_numpy()
    y = (df[spec.target] == spec.positive_label).astype(int).to_numpy()
    return X, y


def target_of(df: pd.DataFrame, spec: FeatureSpec, threshold: float) -> Target:
    """The bundle's target: binary, both values as the data has them and their display
    names; multiclass, every class in the model's column order (sorted) with its text;
    regression, the column alone."""
    if spec.task == MULTICLASS:
        classes = target_values(df[spec.target])
        return Target(
            column=spec.target,
            task=spec.task,
            classes=tuple(classes),
            class_names=tuple(str(c) for c in classes),
        )
    if spec.task != BINARY:
        return Target(column=spec.target, task=spec.task)
    negative = next(
        v for v in target_values(df[spec.target]) if v != spec.positive_label
    )
    neg_name, pos_name = spec.class_names
    return Target(
        column=spec.target,
        positive=spec.positive_label,
        negative=negative,
        positive_name=str(pos_name if pos_name is not None else spec.positive_label),
        negative_name=str(neg_name if neg_name is not None else negative),
        threshold=float(threshold),
    )


@dataclass(frozen=True)
class Imputation:
    """How the fitted Pipeline fills one numeric feature's missing values."""

    strategy: str  # median, mean or constant (SimpleImputer's strategies)
    fill: float | None = None  # the constant's value
    indicator: bool = False  # a 0/1 "was missing" column next to the value

    def describe(self, fill: float) -> str:
        """The policy in words, with the fitted fill value, for /docs and the card."""
        if self.strategy == "constant":
            how = f"the constant {fill:g}"
        else:
            how = f"the training data's {self.strategy} ({fill:g})"
        indicator = (
            ", and the model also sees that it was missing" if self.indicator else ""
        )
        return f"filled with {how}{indicator}"


def imputations(spec: FeatureSpec, X: pd.DataFrame) -> dict[str, Imputation]:
    """The numeric features the Pipeline imputes, by the declared policy; undeclared,
    a feature with missing values in `X` (the training split) gets the median, one
    without is refused. The indicator is added where `X` has missing values."""
    out = {}
    for col in spec.numeric:
        gaps = bool(X[col].isna().any())
        policy = spec.missing_policy(col) or (DEFAULT_IMPUTATION if gaps else REFUSE)
        if policy == REFUSE:
            continue
        if X[col].isna().all():
            raise ConfigError(
                f"numeric feature {col!r} has no value in the training data: nothing "
                "to learn or impute from; drop it from features.numeric"
            )
        wanted = spec.numeric[col].get("indicator", True)
        fill = spec.numeric[col].get("fill")
        out[col] = Imputation(policy, fill, indicator=wanted and gaps)
    return out


def check_unimputed(spec: FeatureSpec, train: pd.DataFrame, test: pd.DataFrame):
    """A numeric feature missing in the test split but never in training (so refused,
    undeclared) stops the run: the model would meet a gap it was not built for."""
    imputed = imputations(spec, train)
    for col in spec.numeric:
        gaps = int(test[col].isna().sum())
        if gaps and col not in imputed:
            raise ConfigError(
                f"numeric feature {col!r} has {gaps} missing value(s) in the test "
                "data but none in the training data; declare "
                f"features.numeric.{col}.missing: median (or fill them)"
            )


def imputer(imputation: Imputation, scale: bool) -> Pipeline:
    """One numeric feature's fill (and its indicator), then its optional scaling."""
    fill = SimpleImputer(strategy=imputation.strategy, fill_value=imputation.fill)
    step = fill
    if imputation.indicator:
        missing = MissingIndicator(features="all")
        step = FeatureUnion([("value", fill), ("missing", missing)])
    steps = [("impute", step)]
    return Pipeline(steps + ([("scale", StandardScaler())] if scale else []))


def build_preprocessor(
    spec: FeatureSpec,
    scale_numeric: bool,
    imputed: Mapping[str, Imputation] | None = None,
) -> ColumnTransformer:
    """One-hot categoricals (missing is its own category); optionally scale numerics;
    each imputed numeric filled by its policy. A role without columns is left out."""
    imputed = imputed or {}
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    plain = [c for c in spec.numeric if c not in imputed]
    numeric = StandardScaler() if scale_numeric else "passthrough"
    parts = [(NUMERIC, numeric, plain)] if plain else []
    parts += [
        (f"{IMPUTED}{i}", imputer(imputed[c], scale_numeric), [c])
        for i, c in enumerate(spec.numeric)
        if c in imputed
    ]
    if spec.categorical:
        parts.append((CATEGORICAL, categorical, spec.categorical))
    return ColumnTransformer(parts)


def fitted_fills(pipeline: Pipeline) -> dict[str, float]:
    """Each imputed numeric's fill value, as the fitted Pipeline learned it."""
    out = {}
    for part, step, columns in pipeline.named_steps["preprocess"].transformers_:
        if part.startswith(IMPUTED):
            impute = step.named_steps["impute"]
            if isinstance(impute, FeatureUnion):
                impute = dict(impute.transformer_list)["value"]
            out[columns[0]] = float(impute.statistics_[0])
    return out


def feature_rules(
    X: pd.DataFrame, spec: FeatureSpec, fills: Mapping[str, float] | None = None
) -> tuple[FeatureRule, ...]:
    """The rules stored with the model: type and bounds, or the categories seen; a
    numeric the Pipeline imputes may be null (its policy in words, with the fitted
    value from `fills`)."""
    imputed, fills = imputations(spec, X), fills or {}
    rules = [
        FeatureRule(
            name=col,
            kind=spec.kind(col),
            minimum=bounds["min"],
            maximum=bounds["max"],
            nullable=col in imputed,
            imputed=(
                imputed[col].describe(fills[col])
                if col in imputed and col in fills
                else ""
            ),
        )
        for col, bounds in spec.numeric.items()
    ]
    for col in spec.categorical:
        counts = X[col].dropna().astype(str).value_counts()
        rare = counts[counts < spec.rare_min_count]
        policy = spec.unseen_policy(col)
        if OTHER in counts and (len(rare) or policy == GROUP):
            raise ConfigError(
                f"categorical feature {col!r} has a category {OTHER!r}, the value rare "
                "and unseen categories are grouped as: rename it in the data"
            )
        rules.append(
            FeatureRule(
                name=col,
                kind="category",
                categories=tuple(sorted(counts.index.tolist())),
                nullable=bool(X[col].isna().any()),
                grouped=tuple(sorted(rare.index.tolist())),
                unseen=policy,
            )
        )
    return tuple(rules)


def model_frame(X: pd.DataFrame, rules: tuple[FeatureRule, ...]) -> pd.DataFrame:
    """`X` as the Pipeline is fitted on and scores it: each category as its model value
    (`FeatureRule.model_value`: rare ones grouped), the serving's own mapping."""
    out = X.copy()
    for rule in rules:
        if rule.remaps:
            values = out[rule.name].map(rule.model_value, na_action="ignore")
            out[rule.name] = values.where(values.notna(), np.nan)
    return out


def distinct_per_row(distinct: int, rows: int) -> bool:
    """Whether `distinct` values in `rows` rows are (nearly) one per row."""
    return distinct >= ID_SHARE * rows


def counts_rows(nums: pd.Series, distinct: int) -> bool:
    """Whole numbers that nearly fill their range (1, 2, 3, ...): counters, not amounts."""
    return float(nums.max() - nums.min()) < ID_SPREAD * distinct


def id_reason(column: pd.Series, numeric: bool) -> str | None:
    """Why a feature looks like a row identifier, else None: a different category in
    (nearly) every row, or whole numbers counting the rows."""
    values = column.dropna()
    distinct, rows = values.nunique(), len(column)
    if distinct < 2 or not distinct_per_row(distinct, rows):
        return None
    if not numeric:
        return f"a different value in {distinct} of its {rows} rows"
    if (values % 1 == 0).all() and counts_rows(values, distinct):
        return f"whole numbers counting its {rows} rows"
    return None


def id_warnings(X: pd.DataFrame, spec: FeatureSpec) -> list[str]:
    """One line per feature that looks like an ID, naming it and what to do."""
    lines = []
    for col in spec.columns:
        why = id_reason(X[col], col in spec.numeric)
        if why is not None:
            lines.append(
                f"warning: feature {col!r} looks like an ID ({why}): it cannot "
                "generalise to new rows; remove it from params.yaml features "
                "(make init leaves IDs out)"
            )
    return lines


def frame_to_columns(X: pd.DataFrame, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Column arrays as the predictor takes them (None for a missing category)."""
    cols = {c: X[c].to_numpy(dtype=np.float64) for c in spec.numeric}
    for c in spec.categorical:
        cols[c] = X[c].astype(object).where(X[c].notna(), None).to_numpy()
    return cols
