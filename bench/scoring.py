"""The batch scoring CLI on the processed data (train + test) and on a file ten
times as large: throughput and peak RSS, to show memory stays flat.

    python -m bench.scoring [--times 1 10]
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
PROCESSED = ROOT / "data" / "processed"


def data_copies(path: Path, times: int) -> int:
    """Write the processed data (train then test) `times` over into `path`; return rows."""
    header, body = None, []
    for name in ("train", "test"):
        lines = (PROCESSED / f"{name}.csv").read_text().splitlines(keepends=True)
        header, body = lines[0], body + lines[1:]
    with open(path, "w") as fh:
        fh.write(header)
        for _ in range(times):
            fh.writelines(body)
    return len(body) * times


def score(source: Path, target: Path) -> tuple[float, int]:
    """(seconds, peak RSS in kB: ru_maxrss unit on Linux) of one CLI run."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch.score", str(source), str(target), "--quiet"],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"batch.score exited with {proc.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss


def run(times: tuple[int, ...] = (1, 10)) -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for the report."""
    rows = []
    peaks = []
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        for n in times:
            source, target = Path(tmp) / f"data-{n}x.csv", Path(tmp) / "out.csv"
            count = data_copies(source, n)
            seconds, peak = score(source, target)
            peaks.append(peak)
            size = source.stat().st_size / 1e6
            rows.append(
                (
                    f"score CLI, processed data x{n} ({count:,} rows, {size:.0f} MB)",
                    f"{count / seconds:,.0f} rows/s, peak RSS {peak / 1024:.0f} MB",
                    "memory flat" if n != times[0] else "",
                )
            )
            source.unlink()
    if len(peaks) > 1:
        growth = peaks[-1] / peaks[0] - 1
        rows.append(
            (
                f"score CLI peak RSS, x{times[-1]} vs x{times[0]}",
                f"{growth:+.0%}",
                "flat",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--times", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args(argv)
    for row in run(tuple(args.times)):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
