"""The feature contract: which columns the model takes, their types, and the preprocessing.

Everything here is derived from `params.yaml` (`features:`) and the training data, so a new
data set only needs a new `features:` block.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from bundle.format import Target
from bundle.rules import FeatureRule, number_value
from training.config import ConfigError, FeatureSpec

# What the categorical imputer writes for a missing value; a category of its own.
MISSING_CATEGORY = "missing"


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
    """Features in contract order (missing categories as NaN) and the 0/1 target.

    Column names and categories are interned Python strings in object columns: the
    fitted Pipeline's file records which of its strings are one object, and pandas'
    string storage (pyarrow when installed, else Python) would make that, and so the
    file's bytes and the model version, depend on whether pyarrow is installed."""
    X = df[spec.columns].copy()
    X.columns = pd.Index([sys.intern(str(c)) for c in X.columns], dtype=object)
    for col in spec.categorical:
        texts = X[col].astype(object).where(X[col].notna(), np.nan)
        X[col] = texts.map(sys.intern, na_action="ignore").astype(object)
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
        values = X[col].dropna().astype(str)
        rules.append(
            FeatureRule(
                name=col,
                kind="category",
                categories=tuple(sorted(values.unique().tolist())),
                nullable=bool(X[col].isna().any()),
            )
        )
    return tuple(rules)


def frame_to_columns(X: pd.DataFrame, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Column arrays as the predictor takes them (None for a missing category)."""
    cols = {c: X[c].to_numpy(dtype=np.float64) for c in spec.numeric}
    for c in spec.categorical:
        cols[c] = X[c].astype(object).where(X[c].notna(), None).to_numpy()
    return cols
