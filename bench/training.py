"""Training at scale: a synthetic 20-column CSV through the real stages of `make train`
(fetch, clean, fit, export, evaluate) in a scratch project, with the wall time and peak
memory of each stage.

    python -m bench.training [--rows 50000 500000] [--no-export]

The data is made up here (fixed seed; 12 numeric and 7 categorical columns, some missing
categories, a 0/1 target), so nothing assumes the census; the candidates, folds and seed
are this checkout's params.yaml `train:` block. Each stage runs in a process of its own
and its memory is the peak RSS of that process and its CV workers together.
"""

from __future__ import annotations

import argparse
import copy
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bench.machine import print_rows
from training.config import ROOT, load_params

STAGES = ("fetch", "clean", "fit", "export", "evaluate")
NUMERIC, CATEGORICAL = 12, 7
ERROR_LINE = re.compile(r"^[\w.]+(Error|Exception): ")


def synthetic_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` rows of 19 features and a 0/1 target that depends on some of them."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for i in range(NUMERIC):  # half integers, half two-decimal reals
        values = rng.gamma(2.0 + i, 10.0, rows)
        cols[f"num_{i}"] = values.round(0 if i % 2 == 0 else 2)
    for i in range(CATEGORICAL):
        levels = np.array([f"c{i}_{k}" for k in range(3 + 4 * i)] + [""])
        cols[f"cat_{i}"] = rng.choice(levels, rows)  # "" is a missing category
    score = (
        0.04 * (cols["num_0"] - 20)
        - 0.02 * (cols["num_3"] - 50)
        + 0.8 * (cols["cat_0"] == "c0_1")
        - 0.6 * np.isin(cols["cat_2"], ["c2_3", "c2_4", "c2_5"])
        + 0.3 * np.sin(cols["num_5"] / 7.0)
    )
    cols["target"] = (score + rng.logistic(0, 0.5, rows) > 0).astype(int)
    return pd.DataFrame(cols)


def project_params(source: Path, train: dict) -> dict:
    """params for the synthetic CSV, with this checkout's `train:` block."""
    numeric = {
        f"num_{i}": {
            "type": "integer" if i % 2 == 0 else "number",
            "min": 0,
            "max": 10**6,
        }
        for i in range(NUMERIC)
    }
    return {
        "project": {"name": "synthetic", "description": "a made-up 0/1 target"},
        "data": {"loader": "csv", "source": str(source), "test_size": 0.2, "seed": 1},
        "features": {
            "target": "target",
            "positive_label": 1,
            "numeric": numeric,
            "categorical": [f"cat_{i}" for i in range(CATEGORICAL)],
        },
        "train": copy.deepcopy(train),
        "evaluate": {
            "threshold": 0.5,
            "slices": {"min_support": 30, "f1_margin": 0.1},
            "bias": {"attributes": ["cat_0"], "fair_band": [0.8, 1.25]},
        },
    }


def run_stage(stage: str, root: Path) -> None:
    """One stage on the scratch project in `root` (the child process's work)."""
    from training.clean import clean_stage
    from training.config import Paths
    from training.evaluate import evaluate
    from training.export import export
    from training.fetch import fetch
    from training.fit import fit
    from training.params import load

    paths, params = Paths(root=root), load(root / "params.yaml")
    stages = {"fetch": fetch, "clean": clean_stage, "fit": fit, "export": export}
    stages["evaluate"] = evaluate
    stages[stage](paths, params)


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, in kB (0 once gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = next(
            (int(line.split()[1]) for line in status.splitlines() if "VmRSS" in line),
            0,
        )
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return rss + sum(tree_rss_kb(int(c)) for c in children)


def measured(stage: str, root: Path) -> dict:
    """Wall time, peak tree RSS and outcome of one stage run as a child process."""
    cmd = [sys.executable, "-m", "bench.training", "--stage", stage, str(root)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def watch() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    err_lines = []
    for line in proc.stderr:  # the stage's progress lines, passed on as they come
        if line.startswith("fit: ") or "Error" in line:
            print(f"  {line.rstrip()}", file=sys.stderr, flush=True)
        err_lines.append(line.rstrip())
    proc.wait()
    watcher.join()
    errors = [x.strip() for x in err_lines if ERROR_LINE.match(x.strip())]
    last = (errors or [f"exit status {proc.returncode}"])[-1]
    return {
        "seconds": time.perf_counter() - start,
        "peak_mb": peak[0] / 1024,
        "error": last if proc.returncode else "",
    }


def bench_rows(rows: int, stages: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for one data size, through every stage."""
    train = load_params(ROOT / "params.yaml")["train"]
    out = []
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        root = Path(tmp)
        source = root / "mine" / "data.csv"
        source.parent.mkdir()
        synthetic_frame(rows).to_csv(source, index=False)
        text = yaml.safe_dump(project_params(source, train), sort_keys=False)
        (root / "params.yaml").write_text(text)
        total = 0.0
        for stage in stages:
            print(f"bench: training {rows} rows, {stage} ...", file=sys.stderr)
            result = measured(stage, root)
            total += result["seconds"]
            value = f"{result['seconds']:.1f} s, peak {result['peak_mb']:.0f} MB"
            if result["error"]:
                out.append((f"{rows} rows: {stage}", f"FAILED: {result['error']}", ""))
                break
            out.append((f"{rows} rows: {stage}", value, ""))
        goal = "<= 600 s, <= 3 GB" if rows >= 500_000 else ""
        out.append((f"{rows} rows: all stages", f"{total:.0f} s", goal))
    return out


def run(sizes=(50_000,), export: bool = True) -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for each data size."""
    stages = STAGES if export else STAGES[: STAGES.index("fit") + 1]
    return [row for rows in sizes for row in bench_rows(rows, stages)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 500_000])
    parser.add_argument(
        "--no-export", action="store_true", help="stop after fit (no export, evaluate)"
    )
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("root", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        run_stage(args.stage, args.root)
        return 0
    print("| figure | measured | goal |\n|---|---|---|")
    print_rows(run(args.rows, not args.no_export))
    return 0


if __name__ == "__main__":
    sys.exit(main())
