"""`make bench`: every benchmark once, then one table with the machine facts.

    python -m bench.run_all [--seconds 10]

Bounded: about 7 minutes on 2 cores (HTTP runs are `--seconds` each, 4 of them; gevent
vs sync workers about 1 minute; shadow on/off about 1 minute; the three task models of
bench/tasks.py about 1 minute; the Spark job about 1 minute).
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import (
    coldstart,
    http,
    inference,
    machine,
    memory,
    monitoring,
    scoring,
    shadow,
    slowclients,
    spark,
    tasks,
)


def http_rows(seconds: int) -> list[tuple[str, str, str]]:
    """HTTP figures with their goals, production server vs validation-only server."""
    connections, batch_conns = 16, 4
    results = http.measure("default", seconds, connections, batch_conns)
    goals = [">= 3,000 req/s, p99 <= 20 ms", "", ">= 70%", ">= 50,000 records/s", ""]
    out = [
        (figure, value, goal)
        for (figure, value), goal in zip(
            http.rows(results, connections, batch_conns), goals
        )
    ]
    return out + [(*http.sequential_row(http.measure_sequential()), ">= 70%")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per HTTP run")
    args = parser.parse_args(argv)
    http.ensure_wrk()
    started = time.perf_counter()
    steps = [
        ("in-process", inference.run),
        ("one record per task: binary, multiclass, regression", tasks.run_in_temp),
        ("HTTP (wrk)", lambda: http_rows(args.seconds)),
        ("monitoring on/off (wrk)", lambda: monitoring.run(args.seconds)),
        ("shadow model at 10% on/off (wrk)", lambda: shadow.run(args.seconds)),
        ("gevent vs sync workers, slow clients", lambda: slowclients.run(args.seconds)),
        ("memory", memory.run),
        ("cold start", coldstart.run),
        ("batch scoring CLI, CSV and Parquet, x1 and x10", scoring.run),
        ("batch scoring on Spark, local mode", spark.run),
    ]
    rows = []
    for name, step in steps:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        rows += step()
    print("\n| machine | |\n|---|---|")
    machine.print_facts()
    print("\n| figure | measured | goal |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n(bench took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
