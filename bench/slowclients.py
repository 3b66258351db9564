"""Slow clients: today's server (gevent workers) against the one before (sync workers).

    python -m bench.slowclients [--seconds 12] [--connections 16]

1. Single-record POST /predict throughput with no slow client, both servers side by
   side, measured with wrk in alternating rounds (which goes first alternates too); the
   best round of each is kept. Twice: with keep-alive connections (wrk's default; the
   sync worker closes every connection anyway) and with a new connection per request
   (`Connection: close`, as a proxy that does not reuse connections sends them). Goal:
   gevent / sync >= 95%.
2. /health and POST /predict latency while 50 slow clients (testkit/slowclients.py)
   dribble headers and bodies at each server. Goal: every answer within 1 s.

Bounded in time; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import math
import sys

from bench import http
from bench.workload import api_records
from testkit.servers import worker_pids
from testkit.slowclients import SlowClients, probe

ROUNDS = 4
GOAL = 0.95
SLOW = 50
SERVERS = ("gevent", "sync")  # bench/serve.py variants: "default" is gevent
VARIANT = {"gevent": "default", "sync": "sync"}


def measure_throughput(seconds: int, connections: int) -> dict:
    """Best-round requests/s per server and connection mode, and the ratios."""
    one, _ = http.bodies()
    runs: dict = {}
    per_round = max(seconds // ROUNDS, 1)
    with (
        http.server(VARIANT["gevent"]) as (gevent_url, gevent_proc),
        http.server(VARIANT["sync"]) as (sync_url, sync_proc),
    ):
        servers = [
            ("gevent", gevent_url, worker_pids(gevent_proc.pid)),
            ("sync", sync_url, worker_pids(sync_proc.pid)),
        ]
        for _, url, _ in servers:
            http.run_wrk(f"{url}/predict", one, connections, 1)  # warm-up
        for mode in ("keep-alive", "close"):
            for i in range(ROUNDS):
                for name, url, pids in servers if i % 2 == 0 else servers[::-1]:
                    before = http.cpu_seconds(pids)
                    result = http.run_wrk(
                        f"{url}/predict", one, connections, per_round, mode == "close"
                    )
                    result["cpu_s"] = http.cpu_seconds(pids) - before
                    runs.setdefault((name, mode), []).append(result)
    best = {key: http.best_of(value) for key, value in runs.items()}
    for key, value in runs.items():  # CPU per request over all rounds: steadier
        requests = sum(r["requests"] for r in value)
        best[key]["cpu_us"] = 1e6 * sum(r["cpu_s"] for r in value) / max(requests, 1)
    return {
        "best": best,
        "ratio": {
            mode: best[("gevent", mode)]["rps"] / best[("sync", mode)]["rps"]
            for mode in ("keep-alive", "close")
        },
    }


def measure_slow(seconds: float = 6.0) -> dict:
    """Worst /health and /predict latency (s; infinity: no answer within 5 s) under 50
    slow clients, per server, and how long the connections dribbling headers lived."""
    record = api_records(1)[0]
    out = {}
    for name in SERVERS:
        with http.server(VARIANT[name]) as (url, _):
            with SlowClients(url, count=SLOW, interval=1.0) as slow:
                latencies = probe(url, record, 1.5)  # the slow clients settle in
                latencies = probe(url, record, seconds)
            out[name] = {
                "worst": {path: max(values) for path, values in latencies.items()},
                "requests": sum(len(values) for values in latencies.values()),
                "lived": slow.lived["headers"],
            }
    return out


def seconds_text(value: float) -> str:
    return "no answer within 5 s" if math.isinf(value) else f"{value * 1000:.0f} ms"


def cut_text(lived: list[float]) -> str:
    """How the server ended the connections dribbling headers."""
    if not lived:
        return "no slow connection cut"
    return f"header dribblers cut after <= {max(lived):.1f} s"


def rows(throughput: dict, slow: dict, connections: int) -> list[tuple[str, str, str]]:
    """Report lines (figure, measured, goal)."""
    best, ratio = throughput["best"], throughput["ratio"]
    out = [
        (
            f"POST /predict, c={connections}, {mode}: gevent / sync workers throughput",
            f"{ratio[mode]:.1%} ({best[('gevent', mode)]['rps']:,.0f} vs "
            f"{best[('sync', mode)]['rps']:,.0f} req/s; worker CPU "
            f"{best[('gevent', mode)]['cpu_us']:.0f} vs "
            f"{best[('sync', mode)]['cpu_us']:.0f} us/request)",
            f">= {GOAL:.0%}" if mode == "keep-alive" else "",
        )
        for mode in ("keep-alive", "close")
    ]
    for name in SERVERS:
        s = slow[name]
        out.append(
            (
                f"{SLOW} slow clients, {name} workers: worst /health, /predict latency",
                f"{seconds_text(s['worst']['/health'])}, "
                f"{seconds_text(s['worst']['/predict'])} ({s['requests']} requests; "
                f"{cut_text(s['lived'])})",
                "< 1 s" if name == "gevent" else "",
            )
        )
    return out


def run(seconds: int = 12, connections: int = 16) -> list[tuple[str, str, str]]:
    return rows(measure_throughput(seconds, connections), measure_slow(), connections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=12, help="per server and mode")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    http.ensure_wrk()
    print("| figure | measured | goal |\n|---|---|---|")
    for row in run(args.seconds, args.connections):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
