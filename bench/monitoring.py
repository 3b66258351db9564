"""What drift monitoring costs: the production server with MONITORING_ENABLED on and off,
side by side, measured in turns with wrk in one run.

    python -m bench.monitoring [--seconds 12] [--connections 16]

Goal: POST /predict throughput with monitoring on >= 95% of off. Each server is measured
in several short rounds, alternating which goes first, and the best round of each is
kept (the least disturbed on a shared machine); the workers' CPU time per request over
all rounds is reported too. Bounded in time; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import sys

from bench import http
from testkit.servers import worker_pids

ROUNDS = 3
GOAL = 0.95


def measure(seconds: int = 12, connections: int = 16, batch_conns: int = 4) -> dict:
    """Best-round throughput and CPU per request, monitoring on vs off."""
    one, batch = http.bodies()
    runs: dict = {}
    per_round = max(seconds // ROUNDS, 1)
    with (
        http.server(MONITORING_ENABLED="true") as (on_url, on_proc),
        http.server(MONITORING_ENABLED="false") as (off_url, off_proc),
    ):
        servers = [
            ("on", on_url, worker_pids(on_proc.pid)),
            ("off", off_url, worker_pids(off_proc.pid)),
        ]
        for _, url, _ in servers:
            http.run_wrk(f"{url}/predict", one, connections, 1)  # warm-up
        for path, body, conns, kind in (
            ("/predict", one, connections, "one"),
            ("/predict/batch", batch, batch_conns, "batch"),
        ):
            for i in range(ROUNDS):
                for name, url, pids in servers if i % 2 == 0 else servers[::-1]:
                    before = http.cpu_seconds(pids)
                    result = http.run_wrk(url + path, body, conns, per_round)
                    result["cpu_s"] = http.cpu_seconds(pids) - before
                    runs.setdefault(f"{name}_{kind}", []).append(result)
    results = {key: http.best_of(value) for key, value in runs.items()}
    for key, value in runs.items():
        requests = sum(r["requests"] for r in value)
        results[key]["cpu_us"] = 1e6 * sum(r["cpu_s"] for r in value) / max(requests, 1)
    for kind in ("one", "batch"):
        results[f"ratio_{kind}"] = (
            results[f"on_{kind}"]["rps"] / results[f"off_{kind}"]["rps"]
        )
    return results


def rows(
    r: dict, connections: int = 16, batch_conns: int = 4
) -> list[tuple[str, str, str]]:
    """Report lines (figure, measured, goal)."""
    on, off, bon, boff = r["on_one"], r["off_one"], r["on_batch"], r["off_batch"]
    size = http.BATCH_SIZE
    return [
        (
            f"POST /predict, c={connections}: monitoring on / off throughput",
            f"{r['ratio_one']:.1%} ({on['rps']:,.0f} vs {off['rps']:,.0f} req/s; "
            f"worker CPU {on['cpu_us']:.0f} vs {off['cpu_us']:.0f} us/request)",
            f">= {GOAL:.0%}",
        ),
        (
            f"POST /predict/batch ({size} records), c={batch_conns}: monitoring on / off",
            f"{r['ratio_batch']:.1%} ({bon['rps'] * size:,.0f} vs "
            f"{boff['rps'] * size:,.0f} records/s; worker CPU "
            f"{bon['cpu_us'] / 1000:.1f} vs {boff['cpu_us'] / 1000:.1f} ms/batch)",
            "",
        ),
    ]


def run(seconds: int = 12) -> list[tuple[str, str, str]]:
    return rows(measure(seconds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=12, help="per server and body")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    http.ensure_wrk()
    results = measure(args.seconds, args.connections)
    print("| figure | measured | goal |\n|---|---|---|")
    for row in rows(results, args.connections):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
