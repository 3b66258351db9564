"""Replicas of the server behind HAProxy on 127.0.0.1, steady load, and the two events a
load-balanced deploy lives through: a rolling replacement and a crashed replica.

Used by tests/deploy/test_rolling_deploy.py (bounded, asserted) and bench/rolling.py
(longer, figures for docs/deploy.md). HAProxy comes from Debian's package; its runtime
API (a unix socket in the run's folder) drains and re-enables each server. Everything
listens on 127.0.0.1 and everything started is stopped.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from testkit.servers import free_port, start_server, stop, wait_healthy

BACKEND = "replicas"
# Active checks every 200 ms; 2 failures take a server out, 2 successes bring it back.
# A request whose connection failed or came back empty (a replica that died under it)
# is retried on another replica; that needs the request buffered whole first. Predictions
# are pure functions of the record, so answering one twice is harmless. Only errors are
# logged (HAProxy's log goes to haproxy.log in the run's folder).
CONFIG = """\
global
    maxconn 1000
    log stdout format raw local0 notice
    stats socket {socket} mode 600 level admin
defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch
    retry-on conn-failure empty-response
    option http-buffer-request
frontend web
    bind 127.0.0.1:{port}
    default_backend {backend}
backend {backend}
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter 200ms fall 2 rise 2
{servers}
"""


def haproxy_or_none() -> str | None:
    """Path to haproxy, installing Debian's package when possible (root or sudo -n)."""
    from testkit.container import EngineUnavailable, sh

    found = shutil.which("haproxy")
    if found or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        sh("apt-get", "update", "-qq", env=env)
        sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", "haproxy",
           env=env)  # fmt: skip
    except (EngineUnavailable, RuntimeError):
        return None
    return shutil.which("haproxy")


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen | None = None


class Balancer:
    """HAProxy in front of `count` replicas, all on 127.0.0.1."""

    def __init__(self, haproxy: str, workdir: Path, count: int = 3):
        self.haproxy, self.workdir = haproxy, workdir
        self.replicas = [Replica(f"r{i + 1}", free_port()) for i in range(count)]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket = workdir / "haproxy.sock"
        self.proc: subprocess.Popen | None = None

    def config(self) -> str:
        servers = "\n".join(
            f"    server {r.name} 127.0.0.1:{r.port} check" for r in self.replicas
        )
        return CONFIG.format(
            socket=self.socket, port=self.port, backend=BACKEND, servers=servers
        )

    def start_replica(self, replica: Replica, model_dir: Path) -> float:
        """Start the server for `replica` on its port; seconds until it is healthy."""
        log = self.workdir / f"{replica.name}-{time.monotonic_ns()}.log"
        replica.proc, url = start_server(
            model_dir, port=replica.port, log=log, WEB_CONCURRENCY="2"
        )
        return wait_healthy(url, replica.proc, timeout=60)

    def start(self, model_dir: Path) -> None:
        for replica in self.replicas:
            self.start_replica(replica, model_dir)
        path = self.workdir / "haproxy.cfg"
        path.write_text(self.config())
        self.proc = subprocess.Popen(
            [self.haproxy, "-db", "-f", str(path)],
            stdout=open(self.workdir / "haproxy.log", "w"),
            stderr=subprocess.STDOUT,
        )
        started = time.monotonic()
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() - started > 10:
                log = (self.workdir / "haproxy.log").read_text()
                raise RuntimeError(f"HAProxy did not start:\n{log}")
            time.sleep(0.02)
        self.wait_status({r.name: "UP" for r in self.replicas})

    def close(self) -> None:
        """Stop HAProxy and every replica (SIGTERM, SIGKILL if they linger)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        for replica in self.replicas:
            if replica.proc is not None:
                stop(replica.proc, timeout=30)

    # -- HAProxy's runtime API ------------------------------------------------------------
    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[str, dict[str, str]]:
        """`show stat` of the backend's servers: {server: {column: value}}."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(text.splitlines())
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == BACKEND and row["svname"] not in ("BACKEND",)
        }

    def wait_status(self, wanted: dict[str, str], limit: float = 30.0) -> float:
        """Seconds until each named server's status starts with the wanted one."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            stats = self.stats()
            if all(stats[n]["status"].startswith(s) for n, s in wanted.items()):
                return time.monotonic() - started
            time.sleep(0.02)
        raise TimeoutError(f"HAProxy never reported {wanted}: {self.stats()}")

    def drain(self, name: str, limit: float = 30.0) -> float:
        """No new requests to `name`; seconds until its in-flight ones are done."""
        self.command(f"set server {BACKEND}/{name} state drain")
        started = time.monotonic()
        while self.stats()[name]["scur"] != "0":
            if time.monotonic() - started > limit:
                raise TimeoutError(f"{name} still busy after {limit} s")
            time.sleep(0.01)
        self.command(f"set server {BACKEND}/{name} state maint")
        return time.monotonic() - started

    def replace(self, replica: Replica, model_dir: Path) -> dict[str, float]:
        """Drain `replica`, stop it, start it with `model_dir`, put it back."""
        drained = self.drain(replica.name)
        stop(replica.proc, timeout=30)
        booted = self.start_replica(replica, model_dir)
        self.command(f"set server {BACKEND}/{replica.name} state ready")
        back = self.wait_status({replica.name: "UP"})
        return {"drain_s": drained, "boot_s": booted, "back_in_rotation_s": back}

    def kill(self, replica: Replica) -> float:
        """kill -9 every process of `replica`; seconds until HAProxy marks it DOWN."""
        os.killpg(replica.proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        replica.proc.wait()
        self.wait_status({replica.name: "DOWN"})
        return time.monotonic() - killed


@dataclass
class Load:
    """Steady load: `clients` threads POSTing one record each, until stopped."""

    url: str
    record: dict
    clients: int = 4
    max_requests: int = 20000
    results: list[tuple[float, int | str, str | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set() and len(self.results) < self.max_requests:
                try:
                    answer = session.post(
                        f"{self.url}/predict", json=self.record, timeout=30
                    )
                    version = answer.json().get("model_version") if answer.ok else None
                    self.results.append((time.monotonic(), answer.status_code, version))
                except requests.RequestException as exc:
                    self.results.append((time.monotonic(), type(exc).__name__, None))

    def __enter__(self) -> "Load":
        for _ in range(self.clients):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def failed(self) -> list:
        return [r for r in self.results if r[1] != 200]

    def versions(self) -> set[str | None]:
        return {r[2] for r in self.results if r[1] == 200}
