"""The batch scoring CLI, file to file, against the model's own in-process speed.

    python -m bench.scoring [--times 1 10] [--repeats 3]

On the processed test split repeated 1 and 10 times, as CSV and as Parquet: the CLI's
rows/s (a whole `python -m batch.score` run, start-up included) against `predict_many`'s
records/s on the same rows in this process (validated API records, 10,000 per call), and
the CLI's peak RSS at each size (flat memory: x10 within 10% of x1). Each figure is the
best of `--repeats` runs, interleaved, so that a busy machine weighs on both alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bundle.paths import ROOT, configured_model_dir

TEST_CSV = ROOT / "data" / "processed" / "test.csv"
IN_PROCESS_BATCH = 10_000


def model_dir() -> Path:
    return configured_model_dir()


class InProcess:
    """predict_many on the test split's API records, validated, in process."""

    def __init__(self) -> None:
        from bundle.store import load_bundle
        from testkit.batchfiles import api_records

        self.model = load_bundle(model_dir())
        rules = self.model.features
        records = api_records(TEST_CSV, rules)
        self.records = [{r.name: r.load(rec[r.name]) for r in rules} for rec in records]
        self.model.predictor.predict_many(self.records[:IN_PROCESS_BATCH])  # warm-up

    def seconds(self, times: int) -> float:
        """Seconds to score the records `times` over, 10,000 per predict_many call."""
        predict_many, records = self.model.predictor.predict_many, self.records
        start = time.perf_counter()
        for _ in range(times):
            for i in range(0, len(records), IN_PROCESS_BATCH):
                predict_many(records[i : i + IN_PROCESS_BATCH])
        return time.perf_counter() - start


# Runs the CLI and reports its peak RSS as the kernel counts it for this program alone
# (VmHWM): ru_maxrss of a child also counts the memory of the process that forked it.
RUNNER = """
import runpy, sys
sys.argv[0] = "batch.score"
try:
    runpy.run_module("batch.score", run_name="__main__", alter_sys=True)
finally:
    with open("/proc/self/status") as fh:
        peak = next(line.split()[1] for line in fh if line.startswith("VmHWM"))
    sys.stderr.write(f"\\npeak-rss-kb {peak}\\n")
"""


def cli_run(source: Path, target: Path) -> tuple[float, int]:
    """(seconds, peak RSS in kB) of one `python -m batch.score` run."""
    command = [sys.executable, "-c", RUNNER, str(source), str(target), "--quiet"]
    command += ["--model-dir", str(model_dir())]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = proc.stderr.strip().splitlines()
    if proc.returncode not in (0, 1) or not lines[-1].startswith("peak-rss-kb "):
        raise RuntimeError(f"batch.score failed: {proc.stderr.strip()}")
    return seconds, int(lines[-1].split()[1])


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
    """Best seconds of each (format, times) CLI run and of predict_many on the same
    rows, the runs interleaved so that a busy machine weighs on both alike."""
    reference = InProcess()
    cli, in_process = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        for n in times:
            rows, paths = inputs(Path(tmp), n)
            for _ in range(repeats):
                best = in_process.get(n, (rows, float("inf")))[1]
                in_process[n] = (rows, min(best, reference.seconds(n)))
                for fmt, source in paths.items():
                    target = Path(tmp) / f"out-{n}{source.suffix}"
                    seconds, peak = cli_run(source, target)
                    _, best, top, _ = cli.get((fmt, n), (0, float("inf"), 0, 0))
                    size = source.stat().st_size
                    cli[fmt, n] = (rows, min(best, seconds), max(top, peak), size)
    return {"cli": cli, "in_process": in_process}


def rows_of(measured: dict, times: tuple[int, ...]) -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for the report."""
    out = []
    for n in times:
        rows, seconds = measured["in_process"][n]
        base = rows / seconds
        out.append(
            (
                f"predict_many in process, test split x{n} in 10,000-record calls",
                f"{base:,.0f} records/s",
                "",
            )
        )
        for fmt in ("CSV", "Parquet"):
            rows, seconds, peak, size = measured["cli"][fmt, n]
            rate = rows / seconds
            out.append(
                (
                    f"score CLI, {fmt} file to file, test split x{n} "
                    f"({rows:,} rows, {size / 1e6:.1f} MB), start-up included",
                    f"{rate:,.0f} rows/s = {rate / base:.2f} of predict_many, "
                    f"peak RSS {peak / 1024:.0f} MB",
                    ">= 0.80 of predict_many" if n == times[-1] else "",
                )
            )
    out.append(
        (
            "machine load (1-minute average) after the runs, on "
            f"{os.cpu_count()} cores",
            f"{os.getloadavg()[0]:.1f}",
            "",
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
