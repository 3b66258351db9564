"""Made-up CSVs for each task (a text-labelled three-class target, a numeric one), and a
project trained on one through the real stages: init, fetch, clean, fit, export, evaluate.

The target depends on the features, so a model learns it and every class is predicted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from testkit.sample import tiny_params
from training.config import Paths
from training.params import Params

ROWS = 600


def task_frame(task: str, rows: int = ROWS, seed: int = 5) -> pd.DataFrame:
    """Two numeric features, one categorical, and `answer`: a species (multiclass),
    a price (regression) or yes/no (binary)."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(1, 10, rows).round(2)
    age = rng.integers(1, 60, rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    score = size + (colour == "red") * 3 - 0.05 * age + rng.normal(0, 0.8, rows)
    if task == "multiclass":
        answer = np.select([score < 3, score < 6], ["small fry", "mid"], "whale")
    elif task == "regression":
        answer = (1000 * score + 20 * age + rng.normal(0, 50, rows)).round(1)
    else:
        answer = np.where(score > 5, "yes", "no")
    return pd.DataFrame({"size": size, "age": age, "colour": colour, "answer": answer})


def task_csv(root: Path, task: str, **options) -> Path:
    """The task's frame as data_in/<task>.csv under `root`."""
    path = root / "data_in" / f"{task}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    task_frame(task, **options).to_csv(path, index=False)
    return path


def quick_params(params: dict) -> dict:
    """tiny_params for the file's task, its data section as written."""
    quick = tiny_params(params)
    quick["data"] = params["data"]
    return quick


def trained_task(root: Path, task: str) -> Paths:
    """`make init` on the task's CSV, then fetch, clean, fit, export and evaluate in
    `root` (evaluate publishes the bundle with its reports)."""
    from training.clean import clean_stage
    from training.evaluate import evaluate
    from training.export import export
    from training.fetch import fetch
    from training.fit import fit
    from training.init import init

    out = root / "params.yaml"
    init(task_csv(root, task), "answer", out, root=root)
    typed = Params.from_dict(quick_params(yaml.safe_load(out.read_text())))
    paths = Paths(root=root)
    fetch(paths, typed)
    clean_stage(paths, typed)
    fit(paths, typed)
    export(paths, typed)
    evaluate(paths, typed)
    return paths
