"""Inputs for the benchmarks: API records from the processed test split."""

from __future__ import annotations

import csv
from pathlib import Path

from bundle.store import LoadedBundle, load_bundle
from bundle.paths import ROOT, configured_model_dir

TEST_CSV = ROOT / "data" / "processed" / "test.csv"


def model() -> LoadedBundle:
    """The bundle at MODEL_DIR (verified), as the service loads it."""
    return load_bundle(configured_model_dir())


def api_records(n: int, path: Path = TEST_CSV) -> list[dict]:
    """The first `n` rows of the test CSV as API records (cycled if it is shorter)."""
    rules = model().features
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        {r.name: r.load(r.from_text(rows[i % len(rows)][r.name])) for r in rules}
        for i in range(n)
    ]
