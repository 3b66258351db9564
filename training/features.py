"""The feature contract: which columns the model takes, their types, and the preprocessing.

Everything here is derived from `params.yaml` (`features:`) and the training data, so a new
data set only needs a new `features:` block.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

# What the categorical imputer writes for a missing value; a category of its own.
MISSING_CATEGORY = "missing"


@dataclass(frozen=True)
class FeatureSpec:
    """Column roles and API bounds, as declared in params.yaml."""

    target: str
    positive_label: str
    numeric: dict[str, dict]
    categorical: list[str]

    @classmethod
    def from_params(cls, params: dict) -> "FeatureSpec":
        f = params["features"]
        return cls(
            f["target"], f["positive_label"], f["numeric"], list(f["categorical"])
        )

    @property
    def columns(self) -> list[str]:
        """Model input columns in a fixed order: numeric first, then categorical."""
        return list(self.numeric) + self.categorical


def read_processed(path: Path, spec: FeatureSpec) -> pd.DataFrame:
    """A processed CSV with categorical columns kept as strings."""
    return pd.read_csv(path, dtype={c: "string" for c in spec.categorical})


def load_split(path: Path, spec: FeatureSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a processed CSV into (features frame, 0/1 target)."""
    return split_xy(read_processed(path, spec), spec)


def class_labels(target: pd.Series, positive: str) -> tuple[str, str]:
    """(negative, positive) label names; the target must have exactly two values."""
    values = sorted(set(target.astype(str)))
    if len(values) != 2 or positive not in values:
        raise ValueError(
            f"target must have two values including {positive!r}: {values}"
        )
    return next(v for v in values if v != positive), positive


def split_xy(df: pd.DataFrame, spec: FeatureSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """Features in contract order (missing categories as NaN) and the 0/1 target."""
    X = df[spec.columns].copy()
    for col in spec.numeric:
        X[col] = pd.to_numeric(X[col], errors="raise").astype("float64")
    for col in spec.categorical:
        X[col] = X[col].astype(object).where(X[col].notna(), np.nan)
    y = (df[spec.target].astype(str) == spec.positive_label).astype(int).to_numpy()
    return X, y


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


def describe_features(X: pd.DataFrame, spec: FeatureSpec) -> list[dict]:
    """The feature list stored with the model: type, bounds, known categories."""
    out: list[dict] = []
    for col, bounds in spec.numeric.items():
        out.append({"name": col, "kind": "numeric", **bounds})
    for col in spec.categorical:
        values = X[col].dropna().astype(str)
        out.append(
            {
                "name": col,
                "kind": "categorical",
                "categories": sorted(values.unique().tolist()),
                "nullable": bool(X[col].isna().any()),
            }
        )
    return out
