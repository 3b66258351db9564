"""Paths and parameters shared by every stage, and the checks a configuration must pass.

Paths are anchored at the project root, never the working directory, so a stage runs the
same from `make`, from DVC and from a test. `params.yaml` is the one training config;
`FeatureSpec` is its typed `project:` + `features:` view, refused early (one line naming
the problem) when it cannot work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bundle.errors import ConfigError
from bundle.format import BINARY, TASKS
from bundle.paths import ROOT
from bundle.rules import REFUSE, UNSEEN_POLICIES

PARAMS_FILE = ROOT / "params.yaml"


class DataIntegrityError(RuntimeError):
    """Raw data whose checksum is not the one recorded in params.yaml."""


@dataclass(frozen=True)
class Paths:
    """Where each stage reads and writes, relative to one root."""

    root: Path = ROOT

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def fitted(self) -> Path:
        """The fit stage's output: the chosen, refitted scikit-learn Pipeline."""
        return self.root / "build" / "fitted"

    @property
    def staged_bundle(self) -> Path:
        """The export stage's verified bundle; evaluate publishes it with its reports."""
        return self.root / "build" / "bundle"

    @property
    def model_dir(self) -> Path:
        """The published bundle, the one the service loads."""
        return self.root / "model"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def figures(self) -> Path:
        return self.reports / "figures"

    def split(self, name: str) -> Path:
        """A clean split (train, test) as the clean stage writes it."""
        return self.processed / f"{name}.csv"

    @property
    def cleaning(self) -> Path:
        """What the clean stage removed, step by step (training/clean.py)."""
        return self.processed / "cleaning.json"

    @property
    def train_csv(self) -> Path:
        return self.split("train")

    @property
    def test_csv(self) -> Path:
        return self.split("test")

    @property
    def pipeline(self) -> Path:
        """The fitted Pipeline (canonical skops bytes)."""
        return self.fitted / "pipeline.skops"

    @property
    def cv_results(self) -> Path:
        """The fit stage's CV table (published as reports/cv_results.json)."""
        return self.fitted / "cv_results.json"

    @property
    def published_cv_results(self) -> Path:
        return self.reports / "cv_results.json"

    @property
    def published_cleaning(self) -> Path:
        """The clean stage's report of removed rows, published with the model."""
        return self.reports / "cleaning.json"

    @property
    def metrics(self) -> Path:
        return self.reports / "metrics.json"

    @property
    def slices_text(self) -> Path:
        return self.reports / "slice_output.txt"

    @property
    def slices_json(self) -> Path:
        return self.reports / "slice_output.json"

    @property
    def bias_json(self) -> Path:
        return self.reports / "bias_report.json"

    @property
    def bias_markdown(self) -> Path:
        return self.reports / "bias_report.md"

    def figure(self, name: str) -> Path:
        """One of the evaluation's PNGs (roc_curve, calibration, ...)."""
        return self.figures / f"{name}.png"

    @property
    def model_card(self) -> Path:
        return self.root / "MODEL_CARD.md"


def load_params(path: Path | None = None) -> dict[str, Any]:
    """Read params.yaml (the one config source)."""
    path = Path(path or PARAMS_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            params = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping of sections")
    return params


SCALARS = (str, int, float, bool)
NUMERIC_TYPES = ("integer", "number")
# A category seen fewer times than this in training is grouped with the other rare ones
# (bundle/rules.py OTHER): too few rows to learn it from (features.rare_category).
RARE_MIN_COUNT = 10
# features.numeric.<col>.missing: how a missing value is filled inside the fitted
# Pipeline, or `refuse` (clean stops on one, the API answers 422 to null).
# (`refuse` is the one word bundle/rules.py defines for categories too.)
MISSING_POLICIES = ("median", "mean", "constant", REFUSE)


@dataclass(frozen=True)
class FeatureSpec:
    """Column roles and API bounds, as declared in params.yaml (`project`, `features`)."""

    target: str
    positive_label: Any
    numeric: dict[str, dict]
    categorical: list[str]
    name: str = "model"
    description: str = ""
    class_names: tuple[str | None, str | None] = (None, None)
    rare_min_count: int = RARE_MIN_COUNT
    # Categorical feature -> what an unseen category gets (bundle/rules.py); else refuse.
    unseen: dict[str, str] = field(default_factory=dict)
    # binary | multiclass | regression (bundle/format.py); absent means binary.
    task: str = BINARY

    @property
    def binary(self) -> bool:
        return self.task == BINARY

    @classmethod
    def from_params(cls, params: dict) -> "FeatureSpec":
        """The typed spec, or ConfigError naming the first problem found."""
        f = params.get("features")
        if not isinstance(f, dict):
            raise ConfigError("params.yaml: no `features:` section")
        task = f.get("task", BINARY)
        if task not in TASKS:
            raise ConfigError(
                f"params.yaml: features.task {task!r} is not one of {', '.join(TASKS)}"
            )
        if "target" not in f:
            raise ConfigError("params.yaml: features.target is not set")
        if (task == BINARY) != ("positive_label" in f):
            raise ConfigError(
                "params.yaml: features.positive_label is not set"
                if task == BINARY
                else f"params.yaml: features.positive_label is for task binary only; "
                f"remove it (features.task is {task})"
            )
        project = params.get("project") or {}
        names = project.get("class_names") or {}
        spec = cls(
            target=str(f["target"]),
            positive_label=f.get("positive_label"),
            numeric=dict(f.get("numeric") or {}),
            categorical=[str(c) for c in f.get("categorical") or []],
            name=str(project.get("name") or "model"),
            description=str(
                project.get("description") or f"the value of {f['target']!r}"
            ),
            class_names=(names.get("negative"), names.get("positive")),
            rare_min_count=(f.get("rare_category") or {}).get(
                "min_count", RARE_MIN_COUNT
            ),
            unseen={str(c): p for c, p in (f.get("unseen") or {}).items()},
            task=task,
        )
        spec.check()
        return spec

    def check(self) -> None:
        """What params.yaml alone can show to be wrong."""
        if not self.binary and self.class_names != (None, None):
            raise ConfigError(
                "project.class_names names a binary model's positive and negative "
                f"class; features.task is {self.task}: remove it (a {self.task} "
                "model answers with the target's values as the data writes them)"
            )
        if self.binary and not isinstance(self.positive_label, SCALARS):
            raise ConfigError(
                f"features.positive_label must be a single value (text, number or "
                f"true/false), not {self.positive_label!r}"
            )
        if not self.columns:
            raise ConfigError("features: no numeric or categorical features declared")
        if self.target in self.columns:
            raise ConfigError(
                f"features: the target {self.target!r} is also listed as a feature"
            )
        twice = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if twice:
            raise ConfigError(f"features: {twice[0]!r} is declared twice")
        for col, bounds in self.numeric.items():
            self._check_bounds(col, bounds)
        for col, policy in self.unseen.items():
            if col not in self.categorical:
                raise ConfigError(
                    f"features.unseen: {col!r} is not a categorical feature"
                )
            if policy not in UNSEEN_POLICIES:
                raise ConfigError(
                    f"features.unseen.{col}: {policy!r} is not one of "
                    f"{', '.join(UNSEEN_POLICIES)}"
                )

    def unseen_policy(self, col: str) -> str:
        """What a category of `col` unseen in training gets (refuse unless declared)."""
        return self.unseen.get(col, REFUSE)

    @staticmethod
    def _check_bounds(col: str, bounds: Any) -> None:
        if not isinstance(bounds, dict) or not {"min", "max"} <= set(bounds):
            raise ConfigError(
                f"features.numeric.{col}: give its bounds as {{type: integer, min: .., "
                "max: ..}}"
            )
        if bounds.get("type", "number") not in NUMERIC_TYPES:
            raise ConfigError(
                f"features.numeric.{col}.type: {bounds['type']!r} is not one of "
                f"{', '.join(NUMERIC_TYPES)}"
            )
        if not bounds["min"] <= bounds["max"]:
            raise ConfigError(f"features.numeric.{col}: min is above max")
        FeatureSpec._check_missing(col, bounds)

    @staticmethod
    def _check_missing(col: str, bounds: dict) -> None:
        """The declared missing-value policy: a known one, `fill` with `constant` only."""
        policy = bounds.get("missing")
        if policy is not None and policy not in MISSING_POLICIES:
            raise ConfigError(
                f"features.numeric.{col}.missing: {policy!r} is not one of "
                f"{', '.join(MISSING_POLICIES)}"
            )
        fill = bounds.get("fill")
        if (policy == "constant") != ("fill" in bounds):
            raise ConfigError(
                f"features.numeric.{col}: give fill: <number> with missing: constant, "
                "and only then"
            )
        if fill is not None and (
            isinstance(fill, bool) or not isinstance(fill, (int, float))
        ):
            raise ConfigError(
                f"features.numeric.{col}.fill must be a number, not {fill!r}"
            )
        indicator = bounds.get("indicator", True)
        if not isinstance(indicator, bool):
            raise ConfigError(
                f"features.numeric.{col}.indicator must be true or false, not "
                f"{indicator!r}"
            )
        if policy == REFUSE and "indicator" in bounds:
            raise ConfigError(
                f"features.numeric.{col}: indicator has no use with missing: refuse"
            )

    @property
    def columns(self) -> list[str]:
        """Model input columns in a fixed order: numeric first, then categorical."""
        return list(self.numeric) + self.categorical

    def missing_policy(self, col: str) -> str | None:
        """A numeric feature's declared `missing:` policy (None: not declared)."""
        return self.numeric[col].get("missing")

    def kind(self, col: str) -> str:
        """integer, number or category: how the API types the feature."""
        if col in self.numeric:
            return self.numeric[col].get("type", "number")
        return "category"
