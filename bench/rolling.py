"""Rolling replacement and a kill -9 behind HAProxy, for longer than the test runs.

`make bench-rolling` (or `python -m bench.rolling --rounds 5`): three replicas of the
served model on 127.0.0.1 behind HAProxy, 4 clients of steady load; each round replaces
every replica one at a time (drained through HAProxy's runtime API) and then kills one
with SIGKILL. Prints requests, failures and timings per round; the figures in
docs/deploy.md come from here and from tests/deploy/test_rolling_deploy.py.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from testkit.balancer import Balancer, Load, haproxy_or_none


def one_round(rig: Balancer, model_dir: Path, record: dict, settle: int) -> dict:
    """Replace every replica, then kill one and let the load run `settle` requests."""
    with Load(rig.url, record, clients=4, max_requests=200000) as load:
        steps = [rig.replace(replica, model_dir) for replica in rig.replicas]
        rolled = len(load.results)
        rolled_failed = len(load.failed())
        down = rig.kill(rig.replicas[0])
        while len(load.results) < rolled + settle:
            pass
    rig.start_replica(rig.replicas[0], model_dir)
    rig.wait_status({rig.replicas[0].name: "UP"})
    return {
        "rolling_requests": rolled,
        "rolling_failed": rolled_failed,
        "boot_s": statistics.median(s["boot_s"] for s in steps),
        "kill_requests": len(load.results) - rolled,
        "kill_failed": len(load.failed()) - rolled_failed,
        "down_after_s": down,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("model"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=int, default=3000, help="requests after kill")
    args = parser.parse_args()
    haproxy = haproxy_or_none()
    if haproxy is None:
        raise SystemExit("bench-rolling needs haproxy (apt-get install haproxy)")
    from bundle.store import load_bundle

    record = dict(load_bundle(args.model_dir).metadata.examples.record)
    with tempfile.TemporaryDirectory(prefix="bench-rolling-") as tmp:
        rig = Balancer(haproxy, Path(tmp), count=3)
        try:
            rig.start(args.model_dir.resolve())
            for n in range(args.rounds):
                row = one_round(rig, args.model_dir.resolve(), record, args.settle)
                print(f"round {n + 1}: " + ", ".join(
                    f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in row.items()))  # fmt: skip
        finally:
            rig.close()


if __name__ == "__main__":
    main()
