"""Faults against a real gunicorn on 127.0.0.1, under bounded load.

- kill -9 one worker mid-load: the master replaces it and only the requests in flight on
  the connections that worker held are lost (at most one per client);
- SIGTERM mid-load: every request already sent completes, the master exits in time;
- SIGTERM with connections queued that no worker has accepted yet: they are answered too;
- 50 slow clients (slowloris): /health and /predict still answer within 1 s, and each
  slow connection is cut at its deadline;
- a missing, truncated, tampered or incompatible model: boot stops fast, non-zero,
  with one clear line.

Counting is strict: every request sent is counted, no retries. A request that fails to
connect (the listener is gone) was never sent and is reported separately.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from testkit.servers import start_server, stop, wait_healthy, wait_workers
from testkit.slowclients import SlowClients, probe

pytestmark = pytest.mark.slow


def worker_pids(master: int) -> set[int]:
    """gunicorn's workers: the master's child processes."""
    path = Path(f"/proc/{master}/task/{master}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


class Load:
    """Client threads posting to the server until told to stop or a budget runs out."""

    def __init__(self, url: str, body: dict, threads: int, budget: int, seconds: float):
        self.url, self.body = url, json.dumps(body)
        self.budget, self.deadline = budget, time.monotonic() + seconds
        self.outcomes: Counter = Counter()
        self.finished: list[tuple[float, str]] = []  # (start time, outcome)
        self.running: dict[int, float] = {}  # thread -> start of its current request
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]

    def take(self) -> bool:
        with self.lock:
            if (
                self.budget <= 0
                or self.stop.is_set()
                or time.monotonic() > self.deadline
            ):
                return False
            self.budget -= 1
            return True

    def one(self, session: requests.Session) -> str:
        try:
            r = session.post(
                self.url,
                data=self.body,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
        except requests.RequestException as exc:
            # urllib3 reports a refused connect as NewConnectionError: nothing was sent.
            # Anything else (reset, cut mid-response, timeout) lost a sent request.
            text = repr(exc)
            return "not sent" if "NewConnectionError" in text else "dropped"
        return (
            "ok"
            if r.status_code == 200 and "prediction" in r.text
            else f"http {r.status_code}"
        )

    def run(self) -> None:
        me = threading.get_ident()
        with requests.Session() as session:
            while self.take():
                start = self.running[me] = time.monotonic()
                outcome = self.one(session)
                with self.lock:
                    del self.running[me]
                    self.outcomes[outcome] += 1
                    self.finished.append((start, outcome))

    def all_busy_for(self, seconds: float) -> list[float] | None:
        """Start times of every thread's request if all have run `seconds` or more."""
        with self.lock:
            starts = list(self.running.values())
        now = time.monotonic()
        if len(starts) == len(self.threads) and all(now - t >= seconds for t in starts):
            return starts
        return None

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def sent(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome != "not sent")


@pytest.fixture
def server(model_dir, tmp_path):
    """Start a server (output to a file); stopped at the end whatever happened."""
    procs = []

    def start(**env):
        proc, url = start_server(
            model_dir, log=tmp_path / f"server-{len(procs)}.log", **env
        )
        procs.append(proc)
        wait_healthy(url, proc)
        return proc, url

    yield start
    for proc in procs:
        stop(proc)


def metric_total(url: str, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{url}/metrics", timeout=5).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_killing_a_worker_under_load_loses_at_most_the_requests_it_held(
    server, example_record, loaded_model
):
    proc, url = server()
    deadline = time.monotonic() + 10
    while len(worker_pids(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    before = worker_pids(proc.pid)
    assert len(before) == 2
    threads = 8
    with Load(
        f"{url}/predict", example_record, threads=threads, budget=3000, seconds=40
    ) as load:
        while sum(load.outcomes.values()) < 1000 and time.monotonic() < load.deadline:
            time.sleep(0.01)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        for t in load.threads:
            t.join(60)
    sent, ok = load.sent(), load.outcomes["ok"]
    print(f"worker kill: sent {sent}, succeeded {ok}, outcomes {dict(load.outcomes)}")
    assert sent >= 2900
    # A gevent worker holds several clients' connections at once, each with at most one
    # request in flight: killed, it loses those (a sync worker held one connection).
    assert sent - ok <= threads, dict(load.outcomes)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(worker_pids(proc.pid) - {victim}) < 2:
        time.sleep(0.1)
    after = worker_pids(proc.pid)
    assert (
        victim not in after and len(after) == 2
    ), "the master did not replace the worker"
    assert requests.get(f"{url}/health", timeout=5).status_code == 200
    # /metrics sums every worker's files, the dead one's included.
    name = f"{loaded_model.metadata.project.slug}_http_requests_total"
    counted = metric_total(url, name, route="/predict", status="200")
    assert ok <= counted <= ok + (sent - ok)


def test_sigterm_under_load_finishes_requests_in_flight_and_exits_in_time(
    server, example_record
):
    graceful = 10
    proc, url = server(GUNICORN_GRACEFUL_TIMEOUT=str(graceful))
    # 1000 records take tens of ms: a request that has run 1 ms is in a worker's hands,
    # not waiting in the listen backlog (2 client threads, 2 workers).
    batch = {"records": [example_record] * 1000}
    with Load(
        f"{url}/predict/batch", batch, threads=2, budget=2000, seconds=30
    ) as load:
        time.sleep(1.0)
        deadline = time.monotonic() + 10
        while (in_flight := load.all_busy_for(0.001)) is None:
            assert time.monotonic() < deadline, "never caught both workers busy"
            time.sleep(0.0002)
        term_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(graceful + 5)
        exited_in = time.monotonic() - term_at
    by_start = dict(load.finished)
    done_before = [o for start, o in load.finished if start < term_at]
    after = Counter(o for start, o in load.finished if start >= term_at)
    print(
        f"SIGTERM: {len(in_flight)} requests in flight at the signal: "
        f"{[by_start.get(t) for t in in_flight]}; {len(done_before)} sent before it, "
        f"outcomes {dict(Counter(done_before))}; sent after it {dict(after)}; "
        f"master exited in {exited_in:.2f} s"
    )
    assert [by_start.get(t) for t in in_flight] == ["ok"] * len(in_flight)
    assert set(done_before) == {"ok"}
    assert proc.returncode == 0
    assert exited_in < graceful
    # After the signal the listener closes: connections are refused (not sent) or, if
    # one slipped into the backlog, dropped; never answered with an error status.
    assert set(after) <= {"ok", "not sent", "dropped"}


def send_request(url: str, body: bytes) -> socket.socket:
    """A connection with one complete POST /predict sent on it, its answer not read."""
    host, port = url.rsplit("/", 1)[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    sock.sendall(
        f"POST /predict HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def answer(sock: socket.socket) -> str:
    """The status line of the answer on `sock` with a prediction in it, or what went
    wrong."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except OSError as exc:
        return type(exc).__name__
    finally:
        sock.close()
    text = b"".join(chunks).decode(errors="replace")
    if not text:
        return "closed without an answer"
    status = text.split("\r\n", 1)[0]
    return status if '"prediction"' in text else f"{status} without a prediction"


def test_sigterm_answers_connections_queued_but_not_yet_accepted(
    server, example_record
):
    proc, url = server()
    workers = wait_workers(proc, 2)
    assert len(workers) == 2
    body = json.dumps(example_record).encode()
    # Stopped workers accept nothing: the kernel completes each handshake and queues the
    # connection, request and all, in the listen backlog, as under a burst.
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        queued = [send_request(url, body) for _ in range(10)]
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the master has closed its listener and signalled the workers
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    answers = [answer(sock) for sock in queued]
    code = proc.wait(15)
    print(f"queued at SIGTERM: {Counter(answers)}; master exit {code}")
    assert answers == ["HTTP/1.1 200 OK"] * len(queued)
    assert code == 0


def test_fifty_slow_clients_do_not_delay_health_or_predict_and_are_cut_in_time(
    server, example_record
):
    keepalive, timeout = 2, 4
    proc, url = server(GUNICORN_KEEPALIVE=str(keepalive), GUNICORN_TIMEOUT=str(timeout))
    with SlowClients(url, count=50, interval=1.0) as slow:
        time.sleep(1.5)  # every slow connection open and past its first piece
        latencies = probe(url, example_record, seconds=7)
    worst = {path: max(values) for path, values in latencies.items()}
    print(
        f"50 slow clients: worst latency {worst}, requests per path "
        f"{len(latencies['/health'])}; slow connections cut after (s): headers "
        f"{sorted(slow.lived['headers'])[-1:]}, body {sorted(slow.lived['body'])[-1:]}, "
        f"{len(slow.lived['headers'])} + {len(slow.lived['body'])} cut, "
        f"{slow.refused} refused"
    )
    assert worst["/health"] < 1.0 and worst["/predict"] < 1.0
    # Headers get GUNICORN_KEEPALIVE seconds, the rest of a request GUNICORN_TIMEOUT.
    assert len(slow.lived["headers"]) >= 25
    assert max(slow.lived["headers"]) < keepalive + 1.0
    assert len(slow.lived["body"]) >= 25
    assert max(slow.lived["body"]) < timeout + 1.0
    assert slow.refused == 0
    assert proc.poll() is None


# The graph the server scores with: the one it must parse.
SERVED = "classifier.onnx"


def damage_missing(bundle: Path) -> None:
    (bundle / SERVED).unlink()


def damage_truncated(bundle: Path) -> None:
    path = bundle / SERVED
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def damage_tampered(bundle: Path) -> None:
    path = bundle / SERVED
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def rerecord(bundle: Path, onnx_bytes: bytes) -> None:
    """Write an ONNX file and record its hash, as a bundle from another build would."""
    import hashlib

    (bundle / SERVED).write_bytes(onnx_bytes)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["files"]["classifier_graph"]["sha256"] = hashlib.sha256(onnx_bytes).hexdigest()
    (bundle / "metadata.json").write_text(json.dumps(meta))


def damage_future_ir_version(bundle: Path) -> None:
    import onnx

    model = onnx.load(bundle / SERVED)
    model.ir_version = 99  # made by an ONNX newer than this onnxruntime reads
    rerecord(bundle, model.SerializeToString())


def damage_future_bundle_format(bundle: Path) -> None:
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["format"] = 99
    (bundle / "metadata.json").write_text(json.dumps(meta))


def damage_garbled_metadata(bundle: Path) -> None:
    (bundle / "metadata.json").write_text('{"format": 3, "files": ')


BOOT_FAULTS = [
    (damage_missing, "classifier.onnx not found"),
    (damage_truncated, "failed its integrity check"),
    (damage_tampered, "failed its integrity check"),
    (damage_future_ir_version, "Unsupported model IR version"),
    (damage_future_bundle_format, "bundle format 99, this code reads 2"),
    (damage_garbled_metadata, "is not valid JSON"),
]


@pytest.mark.parametrize(
    "damage, message", BOOT_FAULTS, ids=lambda x: getattr(x, "__name__", "")
)
def test_a_bad_model_stops_the_boot_fast_with_a_clear_message(
    model_dir, tmp_path, damage, message
):
    bundle = shutil.copytree(model_dir, tmp_path / "model")
    damage(bundle)
    started = time.monotonic()
    log = tmp_path / "server.log"
    proc, _ = start_server(bundle, log=log)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop(proc)
        pytest.fail("the server kept running with a bad model")
    took = time.monotonic() - started
    out = log.read_text()
    [line] = [x for x in out.splitlines() if x.startswith("model-service: refusing")]
    print(f"{damage.__name__}: exit {proc.returncode} in {took:.1f} s: {line[:200]}")
    assert proc.returncode == 3
    assert message in line
    assert took < 15
    assert "Booting worker" not in out
