"""Shadow scoring in tests: a second, different model of the session's data, and a wait
for the shadow's thread to have scored what it was given."""

from __future__ import annotations

import copy
import shutil
import time
from pathlib import Path

from training.config import Paths

CANDIDATES = ("logistic_regression", "hist_gradient_boosting")


def other_candidate(params: dict, served: str) -> dict:
    """The quick params with the one quick candidate the served model is not."""
    changed = copy.deepcopy(params)
    candidates = changed["train"]["candidates"]
    other = next(name for name in candidates if name != served)
    changed["train"]["candidates"] = {other: candidates[other]}
    return changed


def train_other_model(root: Path, sampled: Paths, params: dict, served: str) -> Path:
    """A bundle trained on the same sample by another candidate: a different model
    taking the same records."""
    from testkit.sample import train_project

    paths = Paths(root=root)
    shutil.copytree(sampled.processed, paths.processed)
    return train_project(paths, other_candidate(params, served)).model_dir


def wait_shadow_scored(client, records: int, timeout: float = 20.0) -> dict:
    """GET /monitoring's shadow figures once `records` are scored, dropped or failed."""
    deadline = time.monotonic() + timeout
    while True:
        shadow = client.get("/monitoring").get_json()["shadow"]
        keys = ("records_scored", "records_dropped", "records_failed")
        done = sum(shadow[k] for k in keys)
        if done >= records:
            return shadow
        if time.monotonic() > deadline:
            raise AssertionError(f"the shadow handled {done} of {records} records")
        time.sleep(0.05)
