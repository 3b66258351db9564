"""What a test needs and when it may skip, declared where it arises.

- `@needs_model` on a fixture that fetches data or trains: every test using it, directly or
  through other fixtures, is marked `needs_model` (left out of `make test-fast`). The set
  is filled by the fixtures' own definitions, never kept by hand.
- `not_for_this_data(reason)`: the one skip a CI run accepts besides `dataset(...)`: the
  configured data set lacks what the test is about (no categorical feature, say). Every
  other skip fails a CI run (tests/conftest.py), so nothing is skipped silently there.
- `@pytest.mark.task("binary", ...)`: the test is about what a model of those tasks does
  (a binary model's threshold, say, or its positive-rate drift figures); on a data
  set of another task (`features.task`) it is skipped as not for this data set.
"""

from __future__ import annotations

import os
from typing import Callable, TypeVar

import pytest

NEEDS_MODEL: set[str] = set()
NOT_FOR_THIS_DATA = "not for this data set: "

F = TypeVar("F", bound=Callable)


def needs_model(fixture: F) -> F:
    """Register a fixture (put it under @pytest.fixture) as one that fetches or trains."""
    NEEDS_MODEL.add(fixture.__name__)
    return fixture


def not_for_this_data(reason: str) -> None:
    """Skip: the configured data set has nothing this test can check."""
    pytest.skip(NOT_FOR_THIS_DATA + reason)


def task_skip_reason(tasks: tuple[str, ...], task: str) -> str | None:
    """Why a test marked `task(*tasks)` is skipped on a data set of `task` (None: it runs)."""
    if task in tasks:
        return None
    return (
        f"{NOT_FOR_THIS_DATA}the test holds for a {' or '.join(tasks)} model; this data "
        f"set's task is {task}"
    )


def allowed_in_ci(skip_reason: str, dataset_mark: bool) -> bool:
    """Whether a skip is one CI accepts: a test of another data set, or data it lacks."""
    return dataset_mark or NOT_FOR_THIS_DATA in skip_reason


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true) a skip fails the test, unless the test is for another data set
    (`dataset(...)`) or the data set lacks what it checks (`not_for_this_data`): a
    missing program or file must be installed by the suite, not skipped. tests/conftest.py
    imports this hook."""
    outcome = yield
    report = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
    if not allowed_in_ci(reason, item.get_closest_marker("dataset") is not None):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"
