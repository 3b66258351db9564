"""A real gunicorn server (the Procfile's command) on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> float:
    """Seconds until GET /health is 200; fails if the process dies first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before /health")
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return time.monotonic() - start
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url}/health not healthy after {timeout} s")


def start_gunicorn(
    model_dir: Path, port: int, log: Path | None = None, **env: str
) -> subprocess.Popen:
    """gunicorn with gunicorn.conf.py and the WSGI entry, as the Procfile starts it.

    Output goes to a pipe, or to the file `log`: a server under load writes a log line
    per request, and a pipe nobody reads fills up and stalls it.
    """
    environ = {**os.environ, "MODEL_DIR": str(model_dir), "PORT": str(port)}
    environ.update(HOST="127.0.0.1", WEB_CONCURRENCY="2", **env)
    cmd = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"]
    output = open(log, "w") if log is not None else subprocess.PIPE
    try:
        return subprocess.Popen(
            cmd + ["service.wsgi:app"],
            cwd=ROOT,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        if log is not None:
            output.close()


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM, then wait; SIGKILL only if it overstays."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@pytest.fixture(scope="session")
def live_server(model_dir, tmp_path_factory):
    """Base URL of a running gunicorn serving the session's trained model."""
    port = free_port()
    log = tmp_path_factory.mktemp("live_server") / "gunicorn.log"
    proc = start_gunicorn(model_dir, port, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        stop(proc)
