"""Paths and parameters shared by every stage.

Paths are anchored at the project root, never the working directory, so a stage runs the
same from `make`, from DVC and from a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


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
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def figures(self) -> Path:
        return self.reports / "figures"


def load_params(path: Path | None = None) -> dict[str, Any]:
    """Read params.yaml (the one config source)."""
    with open(path or ROOT / "params.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)
