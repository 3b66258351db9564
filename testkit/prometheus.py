"""A real Prometheus for the tests: Debian's package, installed when missing; a server
on 127.0.0.1 with a config of the test's own; its HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from testkit.servers import free_port, stop


def find_or_install(tool: str = "promtool") -> str | None:
    """Path to a tool of Debian's `prometheus` package, installing it when possible
    (root with apt-get)."""
    found = shutil.which(tool)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    install = ["apt-get", "install", "-y", "-qq", "prometheus"]
    if subprocess.run(install, check=False, timeout=600, **quiet).returncode:
        subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=300, **quiet)
        subprocess.run(install, check=False, timeout=600, **quiet)
    return shutil.which(tool)


def api(url: str, path: str, **params: str) -> Any:
    """GET one Prometheus HTTP API endpoint; its `data`."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{url}{path}{query}", timeout=5) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus {path}: {body}")
    return body["data"]


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def prometheus(
    binary: str, config: Path, workdir: Path, timeout: float = 30.0
) -> Iterator[str]:
    """A Prometheus server on 127.0.0.1 for the block; its base URL. Stopped after."""
    port = free_port()
    log = open(workdir / "prometheus.log", "w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "Prometheus did not start: "
                    + (workdir / "prometheus.log").read_text()[-2000:]
                )
            time.sleep(0.1)
        yield url
    finally:
        stop(proc)
