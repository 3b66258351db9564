"""Monitoring under the real server with two workers: /monitoring adds up every worker's
counts whether metrics are on or off, the shadow model's too, and a full disk under data
capture fails no prediction.

Bounded: batches of 100 records, 4 at a time, until both workers have spent CPU on
them (at most 20 rounds); the server is stopped after each test.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle, islice

import pytest

from bench.http import cpu_seconds
from deploy.serve import prepare_metrics_dir
from service.settings import Settings
from testkit.servers import serving, worker_pids

# These assert a binary model's figures (positive rates); every task's drift, capture and
# make monitor are tested in tests/monitoring/test_task_monitoring.py.
pytestmark = [pytest.mark.slow, pytest.mark.task("binary")]
BATCH = 100
PARALLEL = 4
ROUNDS = 20
BUSY = 0.03  # CPU seconds a worker spends once it has scored some batches


def post(url: str, path: str, body: dict) -> int:
    request = urllib.request.Request(
        f"{url}{path}",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def get(url: str, path: str) -> str:
    with urllib.request.urlopen(f"{url}{path}", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def load_every_worker(url: str, master: int, records: list[dict]) -> int:
    """Post batches, PARALLEL at a time, until every worker has answered some (each has
    spent CPU on them); the records sent, every one answered 200."""
    pids = worker_pids(master)
    assert len(pids) == 2, pids
    before = {pid: cpu_seconds([pid]) for pid in pids}
    source, sent = cycle(records), 0
    with ThreadPoolExecutor(PARALLEL) as pool:
        for _ in range(ROUNDS):
            batches = [list(islice(source, BATCH)) for _ in range(PARALLEL)]
            bodies = [{"records": batch} for batch in batches]
            statuses = list(pool.map(lambda b: post(url, "/predict/batch", b), bodies))
            assert statuses == [200] * PARALLEL
            sent += PARALLEL * BATCH
            if all(cpu_seconds([pid]) - before[pid] >= BUSY for pid in pids):
                assert worker_pids(master) == pids  # no worker was replaced
                return sent
    raise AssertionError(f"a worker answered nothing in {ROUNDS} rounds")


@pytest.mark.parametrize("metrics", ["true", "false"])
def test_monitoring_counts_every_workers_records_with_metrics_on_or_off(
    model_dir, held_out, metrics, tmp_path
):
    env = {
        "METRICS_ENABLED": metrics,
        "MONITORING_ENABLED": "true",
        "PROMETHEUS_MULTIPROC_DIR": "",  # the server makes its own folder
        "WEB_CONCURRENCY": "2",
    }
    with serving(model_dir, log=tmp_path / "server.log", **env) as (url, proc):
        sent = load_every_worker(url, proc.pid, held_out)
        # Each ask may land on either worker: every one must see the sum.
        seen = {json.loads(get(url, "/monitoring"))["records"] for _ in range(6)}
    assert seen == {sent}, (sent, seen)


def test_the_shadow_scores_every_sampled_record_of_every_worker(
    model_dir, held_out, tmp_path
):
    env = {
        "MONITORING_ENABLED": "false",  # /monitoring shows the shadow alone
        "SHADOW_MODEL_DIR": str(model_dir),  # the model shadowing itself: agrees
        "SHADOW_SAMPLE_RATE": "1",
        "SHADOW_QUEUE_RECORDS": str(PARALLEL * BATCH * ROUNDS),
        "PROMETHEUS_MULTIPROC_DIR": "",
        "WEB_CONCURRENCY": "2",
    }
    with serving(model_dir, log=tmp_path / "server.log", **env) as (url, proc):
        sent = load_every_worker(url, proc.pid, held_out)
        deadline = time.monotonic() + 30
        while True:  # each worker's thread scores off the request path: wait for it
            shadow = json.loads(get(url, "/monitoring"))["shadow"]
            if shadow["records_scored"] >= sent or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert (shadow["records_scored"], shadow["records_dropped"]) == (sent, 0)
    assert shadow["records_failed"] == 0 and shadow["agreement_rate"] == 1.0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_disk_under_capture_fails_no_prediction_on_the_real_server(
    model_dir, held_out, loaded_model, tmp_path
):
    env = {
        "CAPTURE_ENABLED": "true",
        "CAPTURE_DESTINATION": "/dev/full",
        "PROMETHEUS_MULTIPROC_DIR": "",
        "WEB_CONCURRENCY": "2",
    }
    log = tmp_path / "server.log"
    with serving(model_dir, log=log, **env) as (url, proc):
        sent = load_every_worker(url, proc.pid, held_out)
        assert post(url, "/predict", {**held_out[0]}) == 200
        sent += 1
        get(url, "/health")
        monitoring = json.loads(get(url, "/monitoring"))
        metrics = get(url, "/metrics")
    ns = loaded_model.metadata.project.slug
    assert monitoring["records"] == sent
    assert f"{ns}_capture_dropped_records_total {float(sent)}" in metrics
    warnings = [line for line in log.read_text().splitlines() if "data capture" in line]
    assert 1 <= len(warnings) <= 2, warnings  # once a minute, per worker


def test_the_drift_counts_get_a_shared_folder_even_with_metrics_off(monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    made = prepare_metrics_dir(Settings(metrics_enabled=False))
    try:
        assert os.path.isdir(made.prometheus_multiproc_dir)
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # prometheus_client: off
    finally:
        os.rmdir(made.prometheus_multiproc_dir)
    both_off = Settings(metrics_enabled=False, monitoring_enabled=False)
    assert prepare_metrics_dir(both_off).prometheus_multiproc_dir == ""
