"""Fixtures of the batch scorer's tests: input files made from the session's sample data."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.batchfiles import break_rows


@pytest.fixture(scope="session")
def records_csv(trained) -> Path:
    """The sample test split of the configured data set (target column included)."""
    return trained.processed / "test.csv"


@pytest.fixture(scope="session")
def broken_csv(records_csv, loaded_model, tmp_path_factory) -> tuple[Path, list[int]]:
    """The sample test split with some rows broken on purpose, and their row numbers."""
    path = tmp_path_factory.mktemp("broken") / "broken.csv"
    return path, break_rows(records_csv, path, loaded_model.features)
