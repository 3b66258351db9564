"""The published model (model/, from `make model` or `make train`): the quality targets
of params.yaml (`evaluate.targets`) are met and it is exactly the model dvc.lock names.

`make test` gets the model first (pulled from the DVC remote, or reproduced and pushed),
so in CI these always run; in a checkout without model/ they skip, saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import yaml

from training.config import ROOT, Paths
from training.params import Params
from testkit.markers import needs_model, not_for_this_data

PATHS = Paths()


@pytest.fixture(scope="module")
def configured(full_params) -> Params:
    return Params.from_dict(full_params)


@pytest.fixture(scope="module")
@needs_model
def published(configured) -> dict:
    meta = PATHS.model_dir / "metadata.json"
    if not meta.exists() or not PATHS.metrics.exists():
        if os.environ.get("CI"):
            pytest.fail("CI runs `make test`, which must get the model first")
        pytest.skip("no published model (run `make model` or `make train`)")
    published = json.loads(meta.read_text())
    name = configured.features.name
    if published["project"]["name"] != name:
        not_for_this_data(f"model/ holds {published['project']['name']}, not {name}")
    return published


def lock_outs(stage: str) -> dict[str, dict]:
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    return {o["path"]: o for o in lock["stages"][stage]["outs"]}


def test_the_published_model_meets_the_quality_targets(published, configured):
    """A score reaches its floor, an error or loss (rmse, log_loss) stays under its
    ceiling: evaluate.targets of the model's task."""
    metrics = json.loads(PATHS.metrics.read_text())
    ev = configured.evaluate
    if (
        not ev.targets
    ):  # as make init writes it: no floor is known before the first train
        not_for_this_data(
            "params.yaml sets no evaluate.targets; set them below what "
            "reports/metrics.json shows the model reaches"
        )
    assert ev.missed(metrics) == []
    # A multiclass evaluation adds each class's precision and recall to the bundle's.
    headline = {k: metrics[k] for k in published["metrics"]}
    assert headline == pytest.approx(published["metrics"], abs=1e-12)


def test_the_metrics_are_the_ones_dvc_lock_records(published):
    recorded = lock_outs("evaluate")[str(PATHS.metrics.relative_to(ROOT))]["md5"]
    actual = hashlib.md5(PATHS.metrics.read_bytes()).hexdigest()
    assert actual == recorded, "reports/metrics.json differs from the run in dvc.lock"


def test_model_and_reports_are_what_dvc_lock_names(published):
    """dvc status: no stage's code, params, data or outputs differ from dvc.lock."""
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json", "fit", "export", "evaluate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    changed = json.loads(out.stdout or "{}")
    assert changed == {}, f"stale: run `make train` and commit dvc.lock: {changed}"
