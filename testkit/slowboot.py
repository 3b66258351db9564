"""The server (`deploy.serve`) with each worker's boot held SLOW_BOOT seconds after its
fork, before any of the worker's own code runs: the stretch a loaded machine stretches.
`start_server(model_dir, module="testkit.slowboot", SLOW_BOOT="1")` starts it; a stop sent
then must still reach every worker (tests/e2e/test_shutdown.py)."""

from __future__ import annotations

import os
import sys
import time

from deploy.serve import start


def main() -> int:
    delay = float(os.environ["SLOW_BOOT"])
    return start(post_fork=lambda arbiter, worker: time.sleep(delay))


if __name__ == "__main__":
    sys.exit(main())
