"""Inputs for the benchmarks: API records from the processed test split."""

from __future__ import annotations

import csv
from pathlib import Path

from service.config import from_env
from service.model_store import load_model
from service.score import cell_value

ROOT = Path(__file__).resolve().parent.parent
TEST_CSV = ROOT / "data" / "processed" / "test.csv"


def model():
    """The bundle at MODEL_DIR (verified), as the service loads it."""
    return load_model(Path(from_env()["MODEL_DIR"]))


def api_records(n: int, path: Path = TEST_CSV) -> list[dict]:
    """The first `n` rows of a census CSV as API records (cycled if the file is shorter)."""
    features = model().features
    kinds = [(f["name"], f["kind"] == "numeric") for f in features]
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        {name: cell_value(rows[i % len(rows)][name], num) for name, num in kinds}
        for i in range(n)
    ]
