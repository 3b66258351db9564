"""Where the project is: the one root every package anchors its paths at, never the
working directory, so a stage, the server and a test find the same files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
# MODEL_DIR's default: the published bundle (the evaluate stage's output).
DEFAULT_MODEL_DIR = "model"


def resolve_model_dir(value: str | Path = "") -> Path:
    """MODEL_DIR as a path: a relative one is taken from the project root; empty is the
    default."""
    return ROOT / (value or DEFAULT_MODEL_DIR)


def configured_model_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The model folder the MODEL_DIR environment variable names, as the server reads it."""
    environ = os.environ if environ is None else environ
    return resolve_model_dir(environ.get("MODEL_DIR", ""))
