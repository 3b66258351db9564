"""In-process cost of one record per task: binary vs multiclass vs regression.

Trains a model of each task on testkit/tasks.py's made-up CSV (the same three features,
so only the task differs), then times, per task, `predict_one` and a whole POST /predict
through the Flask test client (validation, scoring, the answer's JSON), the three tasks
in interleaved rounds, and reports each median against the binary one's (the issue's
goal: at most 1.5x).

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


def scorers(model_dir: Path) -> tuple[list, object, object]:
    """The bundle's example records, its predict_one and a POST /predict through the
    Flask test client (drift counting off: the cost of the model alone)."""
    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings

    model = load_bundle(model_dir)
    records = [e.record for e in model.metadata.examples.scored()]
    settings = Settings(monitoring_enabled=False)
    client = create_app({"TESTING": True}, model=model, settings=settings).test_client()
    return (
        records,
        model.predictor.predict_one,
        lambda r: client.post("/predict", json=r),
    )


def medians(
    model_dirs: dict[str, Path], calls: int, rounds: int = 5
) -> dict[str, tuple[float, float]]:
    """Median seconds of predict_one and of a POST /predict per task, the tasks timed in
    interleaved rounds, so that a change of load on the machine hits each alike."""
    prepared = {task: scorers(d) for task, d in model_dirs.items()}
    core: dict[str, list[float]] = {task: [] for task in prepared}
    http: dict[str, list[float]] = {task: [] for task in prepared}
    per_round = calls // rounds
    for _ in range(rounds):
        for task, (records, predict_one, post) in prepared.items():
            items = [records[i % len(records)] for i in range(per_round)]
            core[task] += timings(predict_one, items)
            http[task] += timings(post, items[: per_round // 4])
    return {
        task: (statistics.median(core[task]), statistics.median(http[task]))
        for task in prepared
    }


def run(root: Path, calls: int = 20_000) -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for the report."""
    from testkit.tasks import trained_task

    logging.disable(logging.WARNING)  # the access log line of every request
    model_dirs = {}
    for task in TASKS:
        model_dirs[task] = root / task / "model"
        if not (model_dirs[task] / "metadata.json").is_file():
            (root / task).mkdir(parents=True, exist_ok=True)
            trained_task(root / task, task)
    found = medians(model_dirs, calls)
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
    print_rows(run(args.root) if args.root is not None else run_in_temp())
    return 0


def run_in_temp() -> list[tuple[str, str, str]]:
    """`run` with the three models trained in a temporary folder (make bench)."""
    with tempfile.TemporaryDirectory() as root:
        return run(Path(root))


if __name__ == "__main__":
    sys.exit(main())
