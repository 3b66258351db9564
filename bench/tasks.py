"""In-process cost of one record per task: binary vs multiclass vs regression.

Trains a model of each task on testkit/tasks.py's made-up CSV (the same three features,
so only the task differs), then times, per task, `predict_one` and a whole POST /predict
through the Flask test client (validation, scoring, the answer's JSON), and reports each
median against the binary one's (the issue's goal: at most 1.5x).

python -m bench.tasks [--root DIR]   (DIR: where the three projects are trained)
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from pathlib import Path

from bench.inference import timings
from bench.machine import print_rows

TASKS = ("binary", "multiclass", "regression")
GOAL = 1.5


def medians(model_dir: Path, calls: int) -> tuple[float, float]:
    """Median seconds of predict_one and of a POST /predict, for the bundle's examples."""
    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings

    model = load_bundle(model_dir)
    records = [e.record for e in model.metadata.examples.scored()]
    items = [records[i % len(records)] for i in range(calls)]
    core = timings(model.predictor.predict_one, items)
    # Drift counting is off for all three: the cost of the model alone.
    settings = Settings(monitoring_enabled=False)
    client = create_app({"TESTING": True}, model=model, settings=settings).test_client()
    http = timings(lambda r: client.post("/predict", json=r), items[: calls // 4])
    return statistics.median(core), statistics.median(http)


def run(root: Path, calls: int = 20_000) -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for the report."""
    from testkit.tasks import trained_task

    logging.disable(logging.WARNING)  # the access log line of every request
    found = {}
    for task in TASKS:
        model_dir = root / task / "model"
        if not (model_dir / "metadata.json").is_file():
            (root / task).mkdir(parents=True, exist_ok=True)
            trained_task(root / task, task)
        found[task] = medians(model_dir, calls)
    base_core, base_http = found["binary"]
    rows = []
    for task, (core, http) in found.items():
        rows.append(
            (
                f"{task}: predict_one, median (x binary)",
                f"{core * 1e6:.1f} us ({core / base_core:.2f}x)",
                f"<= {GOAL}x",
            )
        )
        rows.append(
            (
                f"{task}: POST /predict in process, median (x binary)",
                f"{http * 1e6:.1f} us ({http / base_http:.2f}x)",
                f"<= {GOAL}x",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="default: a temporary folder")
    args = parser.parse_args(argv)
    if args.root is not None:
        print_rows(run(args.root))
        return 0
    with tempfile.TemporaryDirectory() as root:
        print_rows(run(Path(root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
