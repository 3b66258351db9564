"""HTTP throughput and latency with wrk: the production server against the same server
with a constant model (validation alone), single records and full batches.

    python -m bench.http [--seconds 10] [--connections 16] [--variant NAME ...]

wrk comes from Debian's package; it is installed (as root) when missing. Every run is
bounded in time and hits 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.serve import VARIANTS
from bench.workload import api_records
from testkit.servers import serving, worker_pids

LUA = Path(__file__).resolve().parent / "post.lua"
BATCH_SIZE = 1000


def server(variant: str = "default", baseline: bool = False, **env: str):
    """A healthy server of `variant` (bench/serve.py), the model's or the baseline."""
    args = ("--variant", variant) + (("--baseline",) if baseline else ())
    return serving(module="bench.serve", args=args, **env)


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian's packages if missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("bench: wrk is missing; install it: sudo apt-get install -y wrk")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "wrk"], env=env, **quiet).returncode:
        subprocess.run(["apt-get", "update"], env=env, check=True, **quiet)
        subprocess.run(
            ["apt-get", "install", "-y", "wrk"], env=env, check=True, **quiet
        )
    return shutil.which("wrk") or sys.exit("bench: could not install wrk")


def run_wrk(
    url: str, body: bytes, connections: int, seconds: int, close: bool = False
) -> dict:
    """One wrk run POSTing `body`; its summary (requests, seconds, latency percentiles).
    `close`: a new connection per request (`Connection: close`)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as fh:
        fh.write(body)
        fh.flush()
        threads = str(min(2, connections))
        out = subprocess.run(
            [ensure_wrk(), "-t", threads, "-c", str(connections), "-d", f"{seconds}s"]
            + ["--latency", "-s", str(LUA), url],
            env={**os.environ, "BODY_FILE": fh.name, "CONNECTION_CLOSE": str(close)},
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    result = json.loads(line[len("WRK_JSON ") :])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def bodies() -> tuple[bytes, bytes]:
    """A single-record body and a 1000-record batch body, from the test data."""
    records = api_records(BATCH_SIZE)
    return json.dumps(records[0]).encode(), json.dumps({"records": records}).encode()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def best_of(runs: list[dict]) -> dict:
    """The least disturbed of several runs (highest throughput) on a shared machine."""
    return max(runs, key=lambda r: r["rps"])


def measure(variant: str, seconds: int, connections: int, batch_conns: int) -> dict:
    """Single-record and batch throughput of the production and the baseline app.

    Both servers run side by side (idle when not measured) and are measured in turns,
    two rounds of seconds/2 each, so that load from elsewhere hits both alike; the best
    round of each is kept, and the workers' CPU time per request (all rounds) too.
    """
    one, batch = bodies()
    runs: dict = {}
    with (
        server(variant) as (model_url, model_proc),
        server(variant, True) as (
            base_url,
            base_proc,
        ),
    ):
        servers = {
            "model": (model_url, worker_pids(model_proc.pid)),
            "baseline": (base_url, worker_pids(base_proc.pid)),
        }
        for url, _ in servers.values():
            run_wrk(f"{url}/predict", one, connections, 1)  # warm-up
        for path, body, conns, kind in (
            ("/predict", one, connections, "one"),
            ("/predict/batch", batch, batch_conns, "batch"),
        ):
            for _ in range(2):
                for name, (url, pids) in servers.items():
                    before = cpu_seconds(pids)
                    result = run_wrk(url + path, body, conns, max(seconds // 2, 1))
                    result["cpu_s"] = cpu_seconds(pids) - before
                    runs.setdefault(f"{name}_{kind}", []).append(result)
    results = {key: best_of(value) for key, value in runs.items()}
    for key, value in runs.items():  # CPU per request over all rounds: steadier
        requests = sum(r["requests"] for r in value)
        results[key]["cpu_us"] = 1e6 * sum(r["cpu_s"] for r in value) / max(requests, 1)
    for key in ("model_batch", "baseline_batch"):
        results[key]["records_per_s"] = results[key]["rps"] * BATCH_SIZE
    results["ratio_one"] = results["model_one"]["rps"] / results["baseline_one"]["rps"]
    return results


def post_sequentially(port: int, body: bytes, n: int) -> None:
    """n POST /predict requests, one at a time, a new connection each (like wrk + sync)."""
    import http.client

    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()


def measure_sequential(rounds: int = 3, requests: int = 600) -> dict:
    """Worker CPU microseconds per POST /predict, one worker each, one request at a time,
    for the production and the validation-only server, in alternating rounds; the least
    disturbed (lowest) round of each is kept. Steadier than figures taken under load on a
    shared machine: it is what a request costs the server."""
    one, _ = bodies()
    env = {"WEB_CONCURRENCY": "1"}
    best: dict[str, float] = {}
    with (
        server(**env) as (model_url, model_proc),
        server(baseline=True, **env) as (
            base_url,
            base_proc,
        ),
    ):
        servers = {"model": (model_url, model_proc), "baseline": (base_url, base_proc)}
        for _ in range(rounds):
            for name, (url, proc) in servers.items():
                port, pids = int(url.rsplit(":", 1)[1]), worker_pids(proc.pid)
                post_sequentially(port, one, 100)
                before = cpu_seconds(pids)
                post_sequentially(port, one, requests)
                cost = 1e6 * (cpu_seconds(pids) - before) / requests
                best[name] = min(best.get(name, cost), cost)
    return {
        "model_us": best["model"],
        "baseline_us": best["baseline"],
        "ratio": best["baseline"] / best["model"],
    }


def rows(results: dict, connections: int, batch_conns: int) -> list[tuple[str, str]]:
    """Report lines (figure, value) for the summary table."""
    m, b = results["model_one"], results["baseline_one"]
    mb, bb = results["model_batch"], results["baseline_batch"]

    def errors(r: dict) -> str:
        bad = sum(
            r[k] for k in ("connect_errors", "read_errors", "timeouts", "non_2xx")
        )
        return f", {bad} errors" if bad else ""

    return [
        (
            f"POST /predict, c={connections}: model",
            f"{m['rps']:,.0f} req/s, p50 {m['p50_us'] / 1000:.2f} ms, "
            f"p99 {m['p99_us'] / 1000:.2f} ms{errors(m)}",
        ),
        (
            f"POST /predict, c={connections}: validation only (constant model)",
            f"{b['rps']:,.0f} req/s, p50 {b['p50_us'] / 1000:.2f} ms, "
            f"p99 {b['p99_us'] / 1000:.2f} ms{errors(b)}",
        ),
        (
            "POST /predict: model / validation-only throughput",
            f"{results['ratio_one']:.0%}",
        ),
        (
            f"POST /predict/batch (1000 records), c={batch_conns}: model",
            f"{mb['records_per_s']:,.0f} records/s, p99 {mb['p99_us'] / 1000:.0f} ms, "
            f"worker CPU {mb['cpu_us'] / 1000:.1f} ms/batch{errors(mb)}",
        ),
        (
            f"POST /predict/batch (1000 records), c={batch_conns}: validation only",
            f"{bb['records_per_s']:,.0f} records/s, p99 {bb['p99_us'] / 1000:.0f} ms, "
            f"worker CPU {bb['cpu_us'] / 1000:.1f} ms/batch{errors(bb)}",
        ),
    ]


def sequential_row(seq: dict) -> tuple[str, str]:
    """The report line for measure_sequential's result."""
    return (
        "worker CPU per POST /predict, 1 worker, sequential: model vs validation only",
        f"{seq['model_us']:.0f} vs {seq['baseline_us']:.0f} us "
        f"(validation only / model = {seq['ratio']:.0%})",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--variant", nargs="+", default=["default"], choices=VARIANTS)
    args = parser.parse_args(argv)
    for variant in args.variant:
        results = measure(
            variant, args.seconds, args.connections, args.batch_connections
        )
        print(f"## variant: {variant}")
        for figure, value in rows(results, args.connections, args.batch_connections):
            print(f"| {figure} | {value} |")
    seq = measure_sequential()
    print(f"| {sequential_row(seq)[0]} | {sequential_row(seq)[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
