"""Measure the simulated Heroku dyno: seconds from start to a healthy /health, slug size.

`python -m bench.dyno_boot` (or `make bench-dyno`): builds the slug from this checkout the
way the dyno simulation test does (testkit/slug.py), installs requirements.txt with
bytecode compiled (as Heroku's buildpack does), pushes this checkout's model/ to a
temporary DVC remote, boots fresh dynos on 127.0.0.1 (each pulls the model itself), and
prints the median boot time, the smoke test, and the compressed slug size.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bundle.paths import ROOT
from testkit.servers import free_port
from testkit.slug import (
    boot,
    build_slug,
    compressed_size,
    dyno_env,
    install_requirements,
    push_model,
    seconds_to_healthy,
    terminate,
)


def fresh_boot(slug: Path, venv: Path, remote: Path, smoke: bool) -> float:
    """One new dyno: nothing pulled yet; seconds from start to healthy."""
    for leftover in ("model", ".dvc/cache", ".dvc/tmp"):
        shutil.rmtree(slug / leftover, ignore_errors=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = boot(slug, dyno_env(venv, port, DVC_REMOTE_URL=str(remote)))
    try:
        seconds = seconds_to_healthy(url, proc, limit=60)
        if smoke:
            subprocess.run(
                [sys.executable, str(ROOT / "smoke_test.py"), url], check=True
            )
    finally:
        code, stop = terminate(proc)
    print(
        f"  boot: healthy after {seconds:.2f} s; SIGTERM -> exit {code} in {stop:.1f} s"
    )
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=3, help="fresh dynos to time")
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="a trained project (model/ etc.)"
    )
    args = parser.parse_args(argv)
    if not (args.project / "model" / "metadata.json").is_file():
        parser.error(f"no model in {args.project}: run `make model` first")
    with tempfile.TemporaryDirectory(prefix="heroku-sim-") as tmp:
        base = Path(tmp)
        slug = build_slug(base / "app")
        remote = base / "dvc-remote"
        (slug / "dvc.lock").write_text(push_model(args.project, remote))
        started = time.monotonic()
        venv = install_requirements(slug, base / "python", compile_bytecode=True)
        print(
            f"build: requirements.txt installed in {time.monotonic() - started:.0f} s"
        )
        times = [fresh_boot(slug, venv, remote, i == 0) for i in range(args.boots)]
        for leftover in ("model", ".dvc/cache", ".dvc/tmp"):
            shutil.rmtree(slug / leftover, ignore_errors=True)
        size = compressed_size(slug, venv)
    print(
        f"start -> healthy /health: median {statistics.median(times):.2f} s "
        f"over {len(times)} fresh dynos (min {min(times):.2f}, max {max(times):.2f}); "
        "Heroku's limit is 60 s"
    )
    print(f"compressed slug (tar.gz of app + site-packages): {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
