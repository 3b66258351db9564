"""End to end: the real server and a real Prometheus on 127.0.0.1, scraping it every
second with the generated rules (drift judged over the last 20 s instead of an hour).
In-distribution traffic fires no alert; then traffic with one feature shifted fires that
feature's drift alert and no other feature's (prediction drift may fire with it: the
predictions move when an input does).

Bounded: 4,000 records in 16 requests, every wait capped; both servers stopped after.
Prometheus comes from Debian's package (installed when missing and possible); in CI
(CI=true) a missing Prometheus fails the test rather than skipping it.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
import yaml

from monitoring import alerts
from testkit.prometheus import api, find_or_install, prometheus
from testkit.servers import serving
from testkit.tools import required

# These assert a binary model's alerts; every task's rules are checked with promtool in
# tests/monitoring/test_task_monitoring.py.
pytestmark = [pytest.mark.slow, pytest.mark.task("binary")]
BATCH = 500
DRIFT_ALERT = "ModelFeatureDrift"
# Drift is judged over the records of the last WINDOW (1h in production).
WINDOW = "20s"


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    return required("prometheus", find_or_install("prometheus"))


def post_batches(url: str, records: list[dict]) -> None:
    for start in range(0, len(records), BATCH):
        body = json.dumps({"records": records[start : start + BATCH]}).encode()
        request = urllib.request.Request(
            f"{url}/predict/batch",
            body,
            {"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200


def wait_for(check, timeout: float, what: str):
    """Poll `check` until it returns something truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what} not seen within {timeout} s")


def scraped(prom: str, ns: str) -> list:
    return api(prom, "/api/v1/query", query=f"{ns}_monitored_records_total")["result"]


def scraped_records(prom: str, ns: str) -> float:
    result = scraped(prom, ns)
    return float(result[0]["value"][1]) if result else 0.0


def active_alerts(prom: str) -> list[dict]:
    return api(prom, "/api/v1/alerts")["alerts"]


def drift_features(alert_list: list[dict], state: str = "firing") -> set[str]:
    return {
        a["labels"]["feature"]
        for a in alert_list
        if a["labels"]["alertname"] == DRIFT_ALERT and a["state"] == state
    }


def watch_drift(prom: str, timeout: float, after_firing: float) -> dict:
    """Every drift alert seen (pending, firing) and every other alert firing, polled
    until `after_firing` seconds past the first firing drift alert."""
    seen = {"firing": set(), "pending": set(), "others": set(), "first_firing": None}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = active_alerts(prom)
        seen["firing"] |= drift_features(now)
        seen["pending"] |= drift_features(now, "pending")
        seen["others"] |= {
            a["labels"]["alertname"]
            for a in now
            if a["state"] == "firing" and a["labels"]["alertname"] != DRIFT_ALERT
        }
        if seen["firing"] and seen["first_firing"] is None:
            seen["first_firing"] = time.monotonic()
            deadline = seen["first_firing"] + after_firing
        time.sleep(0.25)
    if seen["first_firing"] is None:
        raise AssertionError(f"no drift alert fired within {timeout} s")
    return seen


def test_prometheus_fires_the_drift_alert_of_the_shifted_feature_only(
    prometheus_binary, model_dir, loaded_model, held_out, drifted, moved, tmp_path
):
    ns, name = loaded_model.metadata.project.slug, loaded_model.metadata.project.name
    (tmp_path / "alerts.yml").write_text(
        yaml.safe_dump(alerts.rules(ns, name, pending="2s", window=WINDOW))
    )
    with serving(model_dir, log=tmp_path / "server.log") as (url, _):
        config = alerts.scrape_config(url.split("//")[1], "alerts.yml", interval="1s")
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        with prometheus(
            prometheus_binary, tmp_path / "prometheus.yml", tmp_path
        ) as prom:
            # The service runs before traffic comes: its counters are scraped at 0 first.
            wait_for(lambda: scraped(prom, ns), 20, "the first scrape")
            post_batches(url, held_out)
            wait_for(
                lambda: scraped_records(prom, ns) >= len(held_out), 20, "first scrape"
            )
            time.sleep(4)  # two evaluations past the 2 s pending time
            calm = [a for a in active_alerts(prom) if a["state"] == "firing"]
            assert calm == [], calm

            started = time.monotonic()
            post_batches(url, drifted)
            seen = watch_drift(prom, timeout=40, after_firing=3)
            seconds = seen["first_firing"] - started
            rule, amount = moved
            others = sorted(seen["others"])
            print(
                f"\n{rule.name} shifted ({amount}): drift alert firing {seconds:.1f} s after the "
                f"shifted traffic began; other alerts firing: {others or 'none'}"
            )
            assert seen["firing"] == {rule.name}
            assert seen["pending"] <= {rule.name}
