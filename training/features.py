"""The feature contract: which columns the model takes, their types, and the preprocessing.

Everything here is derived from `params.yaml` (`features:`) and the training data, so a new
data set only needs a new `features:` block.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from bundle.format import Target
from bundle.rules import GROUP, OTHER, FeatureRule, number_value
from training.config import ConfigError, FeatureSpec

# What the categorical imputer writes for a missing value; a category of its own.
MISSING_CATEGORY = "missing"
# A column distinct in this share of its rows (or more) identifies rows: an ID; whole
# numbers only when they also nearly fill their range (amounts such as incomes do not).
ID_SHARE = 0.95
ID_SPREAD = 1.1


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
        if parsed.isna().any():
            raise ConfigError(
                f"numeric feature {col!r} has {int(parsed.isna().sum())} missing "
                f"value(s) in {name or 'the'} data; the model takes none: fill them "
                "or drop those rows in the data set's loader"
            )
        df[col] = parsed.astype("float64")
    return df


def target_values(target: pd.Series) -> list[Any]:
    """The target's distinct values as Python scalars, sorted (missing left out)."""
    values = [v.item() if isinstance(v, np.generic) else v for v in target.dropna()]
    return sorted(set(values), key=lambda v: (str(type(v)), v))


def split_xy(df: pd.DataFrame, spec: FeatureSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """Features in contract order (missing categories as NaN) and the 0/1 target."""
    X = df[spec.columns].copy()
    for col in spec.categorical:
        X[col] = X[col].astype(object).where(X[col].notna(), np.nan)
    y = (df[spec.target] == spec.positive_label).astype(int).to_numpy()
    return X, y


def target_of(df: pd.DataFrame, spec: FeatureSpec, threshold: float) -> Target:
    """The bundle's target: both values as the data has them, and their display names."""
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


def build_preprocessor(spec: FeatureSpec, scale_numeric: bool) -> ColumnTransformer:
    """One-hot categoricals (missing is its own category); optionally scale numerics."""
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    numeric = StandardScaler() if scale_numeric else "passthrough"
    return ColumnTransformer(
        [("num", numeric, list(spec.numeric)), ("cat", categorical, spec.categorical)]
    )


def feature_rules(X: pd.DataFrame, spec: FeatureSpec) -> tuple[FeatureRule, ...]:
    """The rules stored with the model: type and bounds, or the categories seen."""
    rules = [
        FeatureRule(
            name=col,
            kind=spec.kind(col),
            minimum=bounds["min"],
            maximum=bounds["max"],
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
