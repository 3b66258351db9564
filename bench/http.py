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

from bench.servers import BASELINE, PRODUCTION, gunicorn
from bench.workload import api_records

LUA = Path(__file__).resolve().parent / "post.lua"
BATCH_SIZE = 1000

# Server variants for tuning runs: gunicorn args and env on top of gunicorn.conf.py.
VARIANTS: dict[str, tuple[tuple, dict]] = {
    "default": ((), {}),
    "no-accesslog": ((), {"GUNICORN_ACCESSLOG": "/dev/null"}),
    "gthread-4": (("--worker-class", "gthread", "--threads", "4"), {}),
    "no-preload": (("--config", "bench/gunicorn_nopreload.py"), {}),
    "gc-freeze": (("--config", "bench/gunicorn_gcfreeze.py"), {}),
    "keepalive-0": ((), {"GUNICORN_KEEPALIVE": "0"}),
}


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


def run_wrk(url: str, body: bytes, connections: int, seconds: int) -> dict:
    """One wrk run POSTing `body`; its summary (requests, seconds, latency percentiles)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as fh:
        fh.write(body)
        fh.flush()
        threads = str(min(2, connections))
        out = subprocess.run(
            [ensure_wrk(), "-t", threads, "-c", str(connections), "-d", f"{seconds}s"]
            + ["--latency", "-s", str(LUA), url],
            env={**os.environ, "BODY_FILE": fh.name},
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


def measure(variant: str, seconds: int, connections: int, batch_conns: int) -> dict:
    """Single-record and batch throughput for the production and the baseline app."""
    args, env = VARIANTS[variant]
    one, batch = bodies()
    results: dict = {}
    for name, entry in (("model", PRODUCTION), ("baseline", BASELINE)):
        with gunicorn(entry, args, env) as (url, _):
            run_wrk(f"{url}/predict", one, connections, 1)  # warm-up
            results[f"{name}_one"] = run_wrk(
                f"{url}/predict", one, connections, seconds
            )
            results[f"{name}_batch"] = run_wrk(
                f"{url}/predict/batch", batch, batch_conns, seconds
            )
    for key in ("model_batch", "baseline_batch"):
        results[key]["records_per_s"] = results[key]["rps"] * BATCH_SIZE
    results["ratio_one"] = results["model_one"]["rps"] / results["baseline_one"]["rps"]
    return results


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
        ("POST /predict: model / validation-only ratio", f"{results['ratio_one']:.0%}"),
        (
            f"POST /predict/batch (1000 records), c={batch_conns}: model",
            f"{mb['records_per_s']:,.0f} records/s, p99 {mb['p99_us'] / 1000:.0f} ms"
            f"{errors(mb)}",
        ),
        (
            f"POST /predict/batch (1000 records), c={batch_conns}: validation only",
            f"{bb['records_per_s']:,.0f} records/s, p99 {bb['p99_us'] / 1000:.0f} ms"
            f"{errors(bb)}",
        ),
    ]


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
