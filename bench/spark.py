"""The Spark job in local mode against the CLI, on the same CSV files.

    python -m bench.spark [--master local[2]] [--times 10 40]

Times the session start, then the job (batch/spark_job.py: read, number, score, write
Parquet) on the processed test split repeated `--times` over, and the CLI on the same
files. Two sizes separate Spark's fixed cost per job from its rows/s; from them, the rows
at which Spark on this machine would catch up with the CLI (if ever), and on paper with
more executors. Needs Java 17+.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.scoring import ROOT, TEST_CSV, model_dir


def cli_seconds(source: Path, target: Path) -> float:
    command = [sys.executable, "-m", "batch.score", str(source), str(target)]
    command += ["--quiet", "--model-dir", str(model_dir())]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=False, capture_output=True)
    return time.perf_counter() - start


def measure(master: str, times: tuple[int, ...]) -> dict:
    """Seconds of the session start, of each Spark job and of each CLI run."""
    from batch import spark_job
    from bundle.store import load_bundle
    from testkit.batchfiles import repeat_csv

    model = load_bundle(model_dir())
    out: dict = {"jobs": {}, "cli": {}}
    start = time.perf_counter()
    spark = spark_job.session(master, app="bench-spark")
    out["start"] = time.perf_counter() - start
    out["cores"] = spark.sparkContext.defaultParallelism
    try:
        with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
            warm = Path(tmp) / "warm.csv"
            repeat_csv(TEST_CSV, warm, 1)
            start = time.perf_counter()
            spark_job.score(spark, model, str(warm), "csv", f"{tmp}/w", f"{tmp}/we")
            out["first_job"] = time.perf_counter() - start
            for n in times:
                source = Path(tmp) / f"test-x{n}.csv"
                rows = repeat_csv(TEST_CSV, source, n)
                start = time.perf_counter()
                spark_job.score(
                    spark, model, str(source), "csv", f"{tmp}/o", f"{tmp}/e"
                )
                out["jobs"][n] = (rows, time.perf_counter() - start)
                out["cli"][n] = (rows, cli_seconds(source, Path(tmp) / "cli.csv"))
                shutil.rmtree(f"{tmp}/o", ignore_errors=True)
    finally:
        spark.stop()
    return out


def line(n1: tuple, n2: tuple) -> tuple[float, float]:
    """(fixed seconds, rows/s) of a run's time, from two sizes."""
    (r1, t1), (r2, t2) = n1, n2
    rate = (r2 - r1) / (t2 - t1)
    return t1 - r1 / rate, rate


def rows_of(m: dict, times: tuple[int, ...]) -> list[tuple[str, str, str]]:
    small, large = times[0], times[-1]
    spark_fixed, spark_rate = line(m["jobs"][small], m["jobs"][large])
    cli_fixed, cli_rate = line(m["cli"][small], m["cli"][large])
    fixed = m["start"] + spark_fixed  # a spark-submit run pays the session too
    out = [
        ("Spark session start (local mode, JVM up)", f"{m['start']:.1f} s", ""),
        (
            "Spark first job on the test split (Python workers start, bundle loads)",
            f"{m['first_job']:.1f} s",
            "",
        ),
    ]
    for n in times:
        (rows, s), (_, c) = m["jobs"][n], m["cli"][n]
        out.append(
            (
                f"Spark job vs CLI, CSV test split x{n} ({rows:,} rows), "
                f"{m['cores']} cores",
                f"Spark {rows / s:,.0f} rows/s ({s:.1f} s) vs CLI "
                f"{rows / c:,.0f} rows/s ({c:.1f} s)",
                "",
            )
        )
    out.append(
        (
            "per job: fixed cost and rate (from the two sizes)",
            f"Spark {spark_fixed:.1f} s + {spark_rate:,.0f} rows/s; "
            f"CLI {cli_fixed:.1f} s + {cli_rate:,.0f} rows/s",
            "",
        )
    )
    gain = 1 / cli_rate - 1 / spark_rate
    even = f"{fixed / gain:,.0f} rows" if gain > 0 else "never (Spark's rate is lower)"
    out.append((f"break-even vs the CLI on {m['cores']} cores", even, ""))
    per_core = spark_rate / m["cores"]
    for cores in (8, 32, 128):
        gain = 1 / cli_rate - 1 / (per_core * cores)
        even = f"{fixed / gain:,.0f} rows" if gain > 0 else "never"
        out.append(
            (
                f"on paper: {cores} executor cores ({per_core * cores:,.0f} rows/s "
                "if it scales linearly)",
                f"break-even {even}",
                "",
            )
        )
    return out


def run(master: str = "local[2]", times: tuple[int, ...] = (10, 40)) -> list:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return [("Spark job", "skipped: no Java (Spark needs Java 17+)", "")]
    return rows_of(measure(master, times), times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--times", type=int, nargs=2, default=[10, 40])
    args = parser.parse_args(argv)
    for row in run(args.master, tuple(args.times)):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
