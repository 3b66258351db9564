"""The real server (`python -m deploy.serve`) on a free 127.0.0.1 port, and its stop."""

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

from bundle.paths import ROOT

SERVER = "deploy.serve"


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
    """Seconds until GET /health is 200; raises if the process dies or it stalls."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before /health")
        if health_ok(url):
            return time.monotonic() - start
        time.sleep(0.02)
    raise TimeoutError(f"{url}/health not healthy after {timeout} s")


def start_server(
    model_dir: Path | None = None,
    port: int = 0,
    log: Path | None = None,
    module: str = SERVER,
    args: tuple[str, ...] = (),
    **env: str,
) -> tuple[subprocess.Popen, str]:
    """The server as the Procfile starts it, on 127.0.0.1; (process, base URL).

    Output goes to the file `log`, else to /dev/null: a server under load writes a line
    per request, and a pipe nobody reads fills up and stalls it.
    """
    port = port or free_port()
    environ = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    environ.setdefault("WEB_CONCURRENCY", "2")
    if model_dir is not None:
        environ["MODEL_DIR"] = str(model_dir)
    environ.update(env)
    output = open(log, "w") if log is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    finally:
        if log is not None:
            output.close()
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM the master (it stops its workers), then wait; SIGKILL only if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@contextmanager
def serving(
    model_dir: Path | None = None, **kwargs
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A healthy server with all its workers forked, for the duration of the block:
    (base URL, master process)."""
    proc, url = start_server(model_dir, **kwargs)
    try:
        wait_healthy(url, proc)
        wait_workers(
            proc,
            int(kwargs.get("WEB_CONCURRENCY", os.environ.get("WEB_CONCURRENCY", "2"))),
        )
        yield url, proc
    finally:
        stop(proc)


def wait_workers(
    proc: subprocess.Popen, count: int, timeout: float = 10.0
) -> list[int]:
    """The master's worker pids once all `count` are forked. /health answers as soon as
    the first worker is up: a caller that measures every worker (CPU, memory) must not
    read the list before the last one exists."""
    deadline = time.monotonic() + timeout
    while True:
        pids = worker_pids(proc.pid)
        if len(pids) >= count or time.monotonic() > deadline:
            return pids
        time.sleep(0.02)


def worker_pids(master: int) -> list[int]:
    """The server's workers: children of the master process."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]
