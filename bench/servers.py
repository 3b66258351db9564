"""Start and stop gunicorn for a benchmark: the repo's gunicorn.conf.py, 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = "service.wsgi:app"
BASELINE = "bench.baseline_wsgi:app"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_ok(url: str) -> bool:
    """Whether GET /health answers 200 right now."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> float:
    """Seconds from now until /health is 200; raises if the server dies or stalls."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        if health_ok(url):
            return time.perf_counter() - start
        time.sleep(0.01)
    raise TimeoutError(f"{url} not healthy after {timeout} s")


def popen_gunicorn(
    entry: str = PRODUCTION, port: int = 0, args: tuple = (), env: dict | None = None
) -> tuple[subprocess.Popen, str]:
    """gunicorn as the Procfile runs it, logs (access log too) to /dev/null; and its URL."""
    port = port or free_port()
    environ = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    environ.setdefault("WEB_CONCURRENCY", "2")
    environ.update(env or {})
    cmd = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", *args]
    proc = subprocess.Popen(
        cmd + [entry],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the master (it stops its workers), SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def gunicorn(
    entry: str = PRODUCTION, args: tuple = (), env: dict | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A healthy server for the duration of the block: (base URL, master process)."""
    proc, url = popen_gunicorn(entry, args=args, env=env)
    try:
        wait_healthy(url, proc)
        yield url, proc
    finally:
        stop(proc)


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers: children of the master process."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]
