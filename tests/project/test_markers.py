"""CI runs every test: a skip there fails, unless the test is for another data set or the
configured data set lacks what the test checks (testkit/markers.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from bundle.paths import ROOT

TESTS = """
import pytest
from testkit.markers import not_for_this_data

def test_needs_a_program_that_is_missing():
    pytest.skip("no such program here")

def test_about_a_feature_kind_the_data_lacks():
    not_for_this_data("it has no categorical feature")

@pytest.mark.skip(reason="for another data set")
@pytest.mark.dataset("another")
def test_of_another_data_set():
    pass
"""


def run(tmp_path, ci: bool) -> str:
    (tmp_path / "conftest.py").write_text(
        "from testkit.markers import pytest_runtest_makereport  # noqa: F401\n"
        "def pytest_configure(config):\n"
        "    config.addinivalue_line('markers', 'dataset(name): one data set')\n"
    )
    (tmp_path / "test_skips.py").write_text(TESTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]


def test_in_ci_only_a_skip_for_the_data_set_is_accepted(tmp_path):
    assert run(tmp_path, ci=True).startswith("1 failed, 2 skipped")


def test_outside_ci_every_skip_stays_a_skip(tmp_path):
    assert run(tmp_path, ci=False).startswith("3 skipped")


def test_a_test_of_a_task_is_skipped_on_another_task_s_data_set_as_ci_accepts():
    from testkit.markers import allowed_in_ci, task_skip_reason

    assert task_skip_reason(("binary",), "binary") is None
    assert task_skip_reason(("multiclass", "binary"), "binary") is None
    reason = task_skip_reason(("binary",), "regression")
    assert reason == (
        "not for this data set: the test holds for a binary model; this data set's "
        "task is regression"
    )
    assert allowed_in_ci(reason, dataset_mark=False)
