"""A small sample of the configured data set, and quick training parameters for it.

The test suite trains its model once per session on this sample with the real pipeline
code (fetch, clean, fit, export), so it holds for whichever data set params.yaml (or
`pytest --params FILE`) configures, in seconds.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pandas as pd

from bundle.files import write_json_atomic
from bundle.format import REGRESSION
from training.clean import to_csv_text
from training.config import ROOT, Paths
from training.params import Params

TRAIN_ROWS = 2000
TEST_ROWS = 800


def tiny_params(params: dict) -> dict:
    """The params (as read from the file) with a two-fold CV and small candidates of
    the task (seconds to train): a regression's are regressors."""
    params = copy.deepcopy(params)
    params["train"]["cv_folds"] = 2
    linear = {"estimator": "logistic_regression", "params": {"C": 1.0, "max_iter": 500}}
    if params["features"].get("task") == "regression":
        linear = {"estimator": "ridge", "params": {"alpha": 1.0}}
    params["train"]["candidates"] = {
        linear["estimator"]: linear,
        "hist_gradient_boosting": {
            "estimator": "hist_gradient_boosting",
            "params": {"max_iter": 30, "max_leaf_nodes": 8, "early_stopping": False},
        },
    }
    source = params["data"].get("source")
    if source:  # a CSV of your own: found from the project root, not the scratch one
        params["data"]["source"] = str((ROOT / source).resolve())
    return params


def sample(
    df: pd.DataFrame, target: str, rows: int, seed: int = 0, classes: bool = True
) -> pd.DataFrame:
    """At most `rows` rows in the original order: every class kept in proportion, or
    (`classes` false: a regression's target has no classes) a plain random sample."""
    if len(df) <= rows:
        return df
    if not classes:
        return df.sample(rows, random_state=seed).sort_index().reset_index(drop=True)
    share = rows / len(df)
    picked = df.groupby(target, group_keys=False).apply(
        lambda g: g.sample(max(int(round(len(g) * share)), 2), random_state=seed)
    )
    return df.loc[sorted(picked.index)].reset_index(drop=True)


def sample_project(root: Path, params: dict) -> Paths:
    """A project tree in `root` whose data/processed is a sample of the configured data.

    Raw files already verified in this checkout's data/raw are reused (no download).
    """
    from training.clean import clean_and_report
    from training.fetch import fetch

    typed = Params.from_dict(params)
    paths = Paths(root=root)
    if Paths().raw.is_dir():
        shutil.copytree(Paths().raw, paths.raw)
    fetch(paths, typed)
    frames, report = clean_and_report(paths, typed)
    paths.processed.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", TRAIN_ROWS), ("test", TEST_ROWS)):
        classes = typed.features.task != REGRESSION
        frame = sample(frames[name], typed.features.target, rows, classes=classes)
        text = to_csv_text(frame)
        paths.split(name).write_text(text, encoding="utf-8")
    write_json_atomic(paths.cleaning, report)  # of the whole data, before sampling
    return paths


def train_project(paths: Paths, params: dict) -> Paths:
    """Fit, export and evaluate in `paths`: the model in paths.model_dir, published with
    its reports as `make train` publishes them."""
    from training.evaluate import evaluate
    from training.export import export
    from training.fit import fit

    typed = Params.from_dict(params)
    fit(paths, typed)
    export(paths, typed)
    evaluate(paths, typed)
    return paths


def scratch_copy(trained: Paths, root: Path) -> Paths:
    """A copy of a trained project tree in `root` (data, build, model, reports), to
    retrain or re-evaluate in."""
    for part in ("data", "build", "model", "reports"):
        if (trained.root / part).is_dir():
            shutil.copytree(trained.root / part, root / part)
    return Paths(root=root)
