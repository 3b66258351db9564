"""Memory of the server's workers (RSS, PSS, USS from /proc/<pid>/smaps_rollup): the
app and its model are built in the master and the workers forked from it, so most of
their memory is shared.

    python -m bench.memory
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from bench.machine import print_rows
from bench.workload import api_records
from testkit.servers import serving, worker_pids


def smaps(pid: int) -> dict[str, int]:
    """RSS, PSS and USS (private clean + dirty) of one process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    uss = fields["Private_Clean"] + fields["Private_Dirty"]
    return {"rss": fields["Rss"], "pss": fields["Pss"], "uss": uss}


def warm(url: str, requests: int = 200) -> None:
    """Send enough single and batch requests for both workers to touch their heaps."""
    records = api_records(1000)
    bodies = [("/predict", records[0]), ("/predict/batch", {"records": records})]
    for i in range(requests):
        path, body = bodies[i % 10 == 0]
        req = urllib.request.Request(
            url + path,
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=10).read()


def measure() -> dict:
    """Per-process memory of master and workers after warming the server."""
    with serving() as (url, proc):
        warm(url)
        workers = [smaps(pid) for pid in worker_pids(proc.pid)]
        master = smaps(proc.pid)
    total = {k: master[k] + sum(w[k] for w in workers) for k in ("pss", "uss")}
    return {"workers": workers, "master": master, "total": total}


def run() -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for the report."""
    pre = measure()
    return [
        ("RSS per worker", per_worker(pre, "rss"), "<= 150 MB"),
        ("USS per worker (private memory)", per_worker(pre, "uss"), ""),
        ("total PSS, master + 2 workers", f"{pre['total']['pss'] / 1024:.0f} MB", ""),
    ]


def per_worker(m: dict, key: str) -> str:
    """One memory figure of each worker, in MB."""
    return ", ".join(f"{w[key] / 1024:.0f}" for w in m["workers"]) + " MB"


def main() -> int:
    print_rows(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
