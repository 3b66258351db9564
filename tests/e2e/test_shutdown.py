"""A SIGTERM to the server's master alone (docker stop, a supervisor) stops it promptly."""

from __future__ import annotations

import signal
import time

import pytest

from testkit.servers import start_server, stop, wait_healthy, wait_workers
from testkit.slowclients import SlowClients

pytestmark = pytest.mark.slow


def terminate(proc) -> tuple[int, float]:
    """SIGTERM the server; its exit code and the seconds it took to exit."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    return code, time.monotonic() - started


def test_sigterm_to_the_master_alone_stops_the_server_well_inside_the_grace(model_dir):
    proc, url = start_server(model_dir)
    try:
        wait_healthy(url, proc)
        code, seconds = terminate(proc)
    finally:
        stop(proc)
    assert code == 0
    # graceful_timeout is 20 s: stopping near it would mean a worker hung on exit.
    assert seconds < 10


def terminate_as_the_workers_appear(model_dir, **start) -> tuple[int, float]:
    """Start the server, SIGTERM it the moment both workers exist: (exit code, seconds
    to exit)."""
    proc, _ = start_server(model_dir, **start)
    try:
        workers = wait_workers(proc, 2, timeout=60)
        assert len(workers) == 2
        return terminate(proc)
    finally:
        stop(proc)


def test_sigterm_while_the_workers_boot_stops_the_server_well_inside_the_grace(
    model_dir,
):
    # Sent the moment both workers exist, before they serve: a worker must not lose the
    # signal while it boots (and then linger until SIGKILLed at graceful_timeout).
    code, seconds = terminate_as_the_workers_appear(model_dir)
    print(f"SIGTERM while the workers boot: exit {code} in {seconds:.2f} s")
    assert code == 0
    assert seconds < 10


def test_sigterm_between_a_worker_s_fork_and_its_boot_stops_the_server_inside_the_grace(
    model_dir,
):
    # Each worker sits 1 s between its fork and its own code (a loaded machine takes
    # that long there): the SIGTERM reaches both in that stretch, where the master's
    # handler, copied by the fork, used to swallow it (a 20 s stop ending in SIGKILL).
    slow_boot = 1.0
    code, seconds = terminate_as_the_workers_appear(
        model_dir, module="testkit.slowboot", SLOW_BOOT=str(slow_boot)
    )
    print(
        f"SIGTERM while the workers wait {slow_boot} s to boot: exit {code} in "
        f"{seconds:.2f} s"
    )
    assert code == 0
    assert seconds < 10


def test_a_client_still_sending_its_body_holds_a_stop_no_longer_than_the_grace(
    model_dir,
):
    graceful = 3
    proc, url = start_server(model_dir, GUNICORN_GRACEFUL_TIMEOUT=str(graceful))
    try:
        wait_healthy(url, proc)
        with SlowClients(url, count=2, interval=0.5):
            time.sleep(1.0)  # both connected, one inside its body
            code, seconds = terminate(proc)
    finally:
        stop(proc)
    print(f"SIGTERM with a slow body in progress: exit {code} in {seconds:.2f} s")
    assert code == 0
    assert seconds < graceful + 2
