"""The batch scoring CLI, file to file, against the model's own in-process speed.

    python -m bench.scoring [--times 1 10] [--repeats 3]

On the processed test split repeated 1 and `--times` times, as CSV and as Parquet: the
CLI's rows/s (a whole `python -m batch.score` run, start-up included) against
`predict_many`'s records/s on 10,000 records in this process, and the CLI's peak RSS at
each size (flat memory: the largest within 10% of the smallest). Each figure is the best
of `--repeats` runs, the in-process one too, so a busy machine hurts both alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_CSV = ROOT / "data" / "processed" / "test.csv"
IN_PROCESS_BATCH = 10_000


def model_dir() -> Path:
    from service.settings import Settings

    return Settings.from_env().model_path


def in_process_rate(repeats: int) -> float:
    """predict_many's records/s on 10,000 API records of the test split (best run)."""
    from bundle.store import load_bundle
    from testkit.batchfiles import api_records

    model = load_bundle(model_dir())
    rules = model.features
    records = api_records(TEST_CSV, rules)
    records = [{r.name: r.load(rec[r.name]) for r in rules} for rec in records]
    batch = (records * (IN_PROCESS_BATCH // len(records) + 1))[:IN_PROCESS_BATCH]
    model.predictor.predict_many(batch)  # warm-up
    best = float("inf")
    for _ in range(max(repeats, 3) * 2):
        start = time.perf_counter()
        model.predictor.predict_many(batch)
        best = min(best, time.perf_counter() - start)
    return IN_PROCESS_BATCH / best


def cli_run(source: Path, target: Path) -> tuple[float, int]:
    """(seconds, peak RSS in kB) of one `python -m batch.score` run."""
    command = [sys.executable, "-m", "batch.score", str(source), str(target), "--quiet"]
    command += ["--model-dir", str(model_dir())]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"batch.score failed: {stderr}")
    return seconds, usage.ru_maxrss


def inputs(folder: Path, times: int) -> tuple[int, dict[str, Path]]:
    """The test split `times` over, as CSV and as typed Parquet: (rows, format -> path)."""
    from bundle.format import read_metadata
    from testkit.batchfiles import repeat_csv, typed_parquet

    rules = read_metadata(model_dir()).features
    csv_path = folder / f"test-x{times}.csv"
    rows = repeat_csv(TEST_CSV, csv_path, times)
    parquet = typed_parquet(csv_path, folder / f"test-x{times}.parquet", rules)
    return rows, {"CSV": csv_path, "Parquet": parquet}


def measure(times: tuple[int, ...], repeats: int) -> dict:
    """{(format, times): (rows, best seconds, peak kB)} and the in-process rate."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        for n in times:
            rows, paths = inputs(Path(tmp), n)
            for fmt, source in paths.items():
                target = Path(tmp) / f"out-{n}{source.suffix}"
                runs = [cli_run(source, target) for _ in range(repeats)]
                results[fmt, n] = (
                    rows,
                    min(s for s, _ in runs),
                    max(k for _, k in runs),
                    source.stat().st_size,
                )
    return {"cli": results, "in_process": in_process_rate(repeats)}


def rows_of(measured: dict, times: tuple[int, ...]) -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for the report."""
    base = measured["in_process"]
    out = [
        (
            "predict_many in process, 10,000 records (the reference)",
            f"{base:,.0f} records/s",
            "",
        )
    ]
    for (fmt, n), (rows, seconds, peak, size) in measured["cli"].items():
        rate = rows / seconds
        out.append(
            (
                f"score CLI, {fmt} file to file, test split x{n} "
                f"({rows:,} rows, {size / 1e6:.1f} MB)",
                f"{rate:,.0f} rows/s = {rate / base:.2f} of predict_many, "
                f"peak RSS {peak / 1024:.0f} MB",
                ">= 0.80 of predict_many" if n == times[-1] else "",
            )
        )
    for fmt in ("CSV", "Parquet"):
        peaks = [measured["cli"][fmt, n][2] for n in times]
        out.append(
            (
                f"score CLI peak RSS, {fmt}, x{times[-1]} vs x{times[0]}",
                f"{peaks[-1] / peaks[0] - 1:+.1%}",
                "within 10%",
            )
        )
    return out


def run(
    times: tuple[int, ...] = (1, 10), repeats: int = 3
) -> list[tuple[str, str, str]]:
    return rows_of(measure(times, repeats), times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--times", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for row in run(tuple(args.times), args.repeats):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
