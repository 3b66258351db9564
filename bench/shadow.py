"""What shadow scoring costs: the production server with a shadow model at 10% sampling
and without one, side by side, measured in turns with wrk in one run.

    python -m bench.shadow [--seconds 12] [--connections 16] [--shadow DIR]

Goal: POST /predict throughput with the shadow on >= 95% of off. A third server scores
the shadow on a greenlet instead of service/shadow.py's OS thread (bench/serve.py
`--shadow-greenlet`): the choice the thread was measured against. Each server is measured
in several short rounds, alternating which goes first, and the best round of each is
kept (the least disturbed on a shared machine); the workers' CPU time per request over
all rounds, p99 latency, and what the shadow scored and dropped are reported too. The
shadow is the served bundle itself unless `--shadow` names another: the same graph costs
what a challenger of its size costs. Bounded in time; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request

from bench import http
from bundle.paths import resolve_model_dir
from testkit.servers import serving, worker_pids

ROUNDS = 6  # each of the three servers goes first twice
GOAL = 0.95
SAMPLE_RATE = "0.1"


def shadow_figures(url: str) -> dict:
    """The server's GET /monitoring `shadow` figures."""
    with urllib.request.urlopen(f"{url}/monitoring", timeout=10) as response:
        return json.load(response)["shadow"]


def measure(seconds: int = 12, connections: int = 16, shadow_dir: str = "") -> dict:
    """Best-round throughput, p99 and CPU per request, shadow on vs off."""
    one, _ = http.bodies()
    runs: dict = {}
    per_round = max(seconds // ROUNDS, 1)
    shadow_env = {
        "SHADOW_MODEL_DIR": str(shadow_dir or resolve_model_dir()),
        "SHADOW_SAMPLE_RATE": SAMPLE_RATE,
    }
    greenlet_args = ("--shadow-greenlet",)
    with (
        http.server(**shadow_env) as (on_url, on_proc),
        http.server() as (off_url, off_proc),
        serving(module="bench.serve", args=greenlet_args, **shadow_env) as (
            greenlet_url,
            greenlet_proc,
        ),
    ):
        servers = [
            ("on", on_url, worker_pids(on_proc.pid)),
            ("off", off_url, worker_pids(off_proc.pid)),
            ("greenlet", greenlet_url, worker_pids(greenlet_proc.pid)),
        ]
        for _, url, _ in servers:
            http.run_wrk(f"{url}/predict", one, connections, 1)  # warm-up
        for i in range(ROUNDS):
            turn = i % len(servers)  # each goes first in turn
            for name, url, pids in servers[turn:] + servers[:turn]:
                before = http.cpu_seconds(pids)
                result = http.run_wrk(f"{url}/predict", one, connections, per_round)
                result["cpu_s"] = http.cpu_seconds(pids) - before
                runs.setdefault(name, []).append(result)
        shadow = shadow_figures(on_url)
    results = {key: http.best_of(value) for key, value in runs.items()}
    for key, value in runs.items():
        requests = sum(r["requests"] for r in value)
        results[key]["cpu_us"] = 1e6 * sum(r["cpu_s"] for r in value) / max(requests, 1)
        results[key]["all_requests"] = requests
    results["ratio"] = results["on"]["rps"] / results["off"]["rps"]
    results["greenlet_ratio"] = results["greenlet"]["rps"] / results["off"]["rps"]
    results["shadow"] = shadow
    return results


def rows(r: dict, connections: int = 16) -> list[tuple[str, str, str]]:
    """Report lines (figure, measured, goal)."""
    on, off, shadow, greenlet = r["on"], r["off"], r["shadow"], r["greenlet"]
    handled = shadow["records_scored"] + shadow["records_dropped"]
    mean = shadow["latency_seconds"]["mean"]
    return [
        (
            f"POST /predict, c={connections}: shadow at {SAMPLE_RATE} / no shadow "
            "throughput",
            f"{r['ratio']:.1%} ({on['rps']:,.0f} vs {off['rps']:,.0f} req/s; p99 "
            f"{on['p99_us'] / 1000:.1f} vs {off['p99_us'] / 1000:.1f} ms; worker CPU "
            f"{on['cpu_us']:.0f} vs {off['cpu_us']:.0f} us/request)",
            f">= {GOAL:.0%}",
        ),
        (
            "the same, the shadow on a greenlet instead of an OS thread",
            f"{r['greenlet_ratio']:.1%} ({greenlet['rps']:,.0f} req/s; p99 "
            f"{greenlet['p99_us'] / 1000:.1f} ms; worker CPU "
            f"{greenlet['cpu_us']:.0f} us/request)",
            "",
        ),
        (
            "shadow: records scored, dropped (queue full), of requests answered",
            f"{shadow['records_scored']:,}, {shadow['records_dropped']:,} of "
            f"{on['all_requests']:,} ({handled / max(on['all_requests'], 1):.1%} "
            f"sampled; {mean * 1e6 if mean else 0:.0f} us/record in the shadow)",
            f"~{float(SAMPLE_RATE):.0%} sampled",
        ),
    ]


def run(seconds: int = 12) -> list[tuple[str, str, str]]:
    return rows(measure(seconds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=12, help="per server")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--shadow", default="", help="shadow bundle (default: MODEL_DIR's)"
    )
    args = parser.parse_args(argv)
    http.ensure_wrk()
    results = measure(args.seconds, args.connections, args.shadow)
    print("| figure | measured | goal |\n|---|---|---|")
    for row in rows(results, args.connections):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
