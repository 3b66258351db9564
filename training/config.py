"""Paths and parameters shared by every stage, and the checks a configuration must pass.

Paths are anchored at the project root, never the working directory, so a stage runs the
same from `make`, from DVC and from a test. `params.yaml` is the one training config;
`FeatureSpec` is its typed `project:` + `features:` view, refused early (one line naming
the problem) when it cannot work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bundle.errors import ConfigError
from bundle.paths import ROOT

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

    @classmethod
    def from_params(cls, params: dict) -> "FeatureSpec":
        """The typed spec, or ConfigError naming the first problem found."""
        f = params.get("features")
        if not isinstance(f, dict):
            raise ConfigError("params.yaml: no `features:` section")
        for key in ("target", "positive_label"):
            if key not in f:
                raise ConfigError(f"params.yaml: features.{key} is not set")
        project = params.get("project") or {}
        names = project.get("class_names") or {}
        spec = cls(
            target=str(f["target"]),
            positive_label=f["positive_label"],
            numeric=dict(f.get("numeric") or {}),
            categorical=[str(c) for c in f.get("categorical") or []],
            name=str(project.get("name") or "model"),
            description=str(
                project.get("description") or f"the value of {f['target']!r}"
            ),
            class_names=(names.get("negative"), names.get("positive")),
        )
        spec.check()
        return spec

    def check(self) -> None:
        """What params.yaml alone can show to be wrong."""
        if not isinstance(self.positive_label, SCALARS):
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

    @property
    def columns(self) -> list[str]:
        """Model input columns in a fixed order: numeric first, then categorical."""
        return list(self.numeric) + self.categorical

    def kind(self, col: str) -> str:
        """integer, number or category: how the API types the feature."""
        if col in self.numeric:
            return self.numeric[col].get("type", "number")
        return "category"
