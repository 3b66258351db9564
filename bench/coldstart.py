"""Cold start: from launching the server to the first 200 from /health, model on disk.

python -m bench.coldstart
"""

from __future__ import annotations

import statistics
import sys
import time

from bench.machine import print_rows
from testkit.servers import start_server, stop, wait_healthy


def cold_start() -> float:
    """Seconds from Popen to /health 200 for one fresh server."""
    start = time.perf_counter()
    proc, url = start_server()
    try:
        wait_healthy(url, proc)
        return time.perf_counter() - start
    finally:
        stop(proc)


def run(times: int = 3) -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for the report."""
    seconds = [cold_start() for _ in range(times)]
    spread = ", ".join(f"{s:.2f}" for s in seconds)
    return [
        (
            f"cold start to /health 200, median of {times}",
            f"{statistics.median(seconds):.2f} s ({spread})",
            "<= 3 s",
        )
    ]


def main() -> int:
    print_rows(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
