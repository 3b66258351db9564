"""Live drift in the service: records counted into the reference bins, PSI per feature,
slice positive rates, on /monitoring and /metrics, for whichever data set is configured.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from bundle.format import BundleError
from monitoring.profile import NumericBins
from monitoring.stability import psi
from bundle.store import load_bundle
from service import create_app
from monitoring.counts import DriftCounter
from service.settings import Settings
from testkit.traffic import NO_DRIFT, prediction_tolerance
from testkit.markers import not_for_this_data

# These assert a binary model's figures (positive rates); every task's drift, capture and
# make monitor are tested in tests/monitoring/test_task_monitoring.py.
pytestmark = pytest.mark.task("binary")

BATCH = 500


def make_app(model, **settings):
    config = {"TESTING": True}
    return create_app(config, model=model, settings=Settings(**settings))


def send(client, records: list[dict], headers=None) -> None:
    for start in range(0, len(records), BATCH):
        body = {"records": records[start : start + BATCH]}
        response = client.post("/predict/batch", json=body, headers=headers)
        assert response.status_code == 200, response.json


def drift_by_feature(client, headers=None) -> dict[str, float]:
    body = client.get("/monitoring", headers=headers).json
    return {f["name"]: f["psi"] for f in body["features"]}


def test_shifted_traffic_moves_that_feature_above_0_2_and_no_other_above_0_1(
    loaded_model, drifted, moved
):
    client = make_app(loaded_model).test_client()
    send(client, drifted)
    drift = drift_by_feature(client)
    rule, amount = moved
    others = {k: round(v, 4) for k, v in drift.items() if k != rule.name}
    print(
        f"\n{rule.name} shifted ({amount}): PSI {drift[rule.name]:.3f}; others {others}"
    )
    assert drift[rule.name] > 0.2
    assert max(others.values()) < 0.1, others


def test_in_distribution_traffic_keeps_every_feature_below_0_1(
    loaded_model, held_out, profile
):
    client = make_app(loaded_model).test_client()
    send(client, held_out)
    body = client.get("/monitoring").json
    drift = {f["name"]: f["psi"] for f in body["features"]}
    print(f"\nin-distribution PSI: { {k: round(v, 4) for k, v in drift.items()} }")
    assert body["records"] == len(held_out)
    assert max(drift.values()) < NO_DRIFT, drift
    assert body["prediction"]["psi"] < prediction_tolerance(profile)


def test_single_records_and_batches_are_counted_alike(loaded_model, profile, drifted):
    records = drifted[:300]
    proba = loaded_model.predictor.proba_records(records).astype(np.float64)
    one, many = DriftCounter(profile, 0.5), DriftCounter(profile, 0.5)
    for record, p in zip(records, proba):
        one.count_one(record, float(p))
    many.count_many(records[:100], proba[:100])
    many.count_many(records[100:], proba[100:])
    assert one.store.total().tolist() == many.store.total().tolist()
    assert one.figures()["records"] == 300


def test_a_missing_number_is_counted_alike_singly_and_in_a_batch(
    loaded_model, profile, held_out
):
    numeric = [b.name for b in profile.features if isinstance(b, NumericBins)]
    if not numeric:
        not_for_this_data("it has no numeric feature")
    records = [
        {**r, numeric[0]: None} if i % 3 == 0 else r
        for i, r in enumerate(held_out[:60])
    ]
    proba = loaded_model.predictor.proba_records(held_out[:60]).astype(np.float64)
    one, many = DriftCounter(profile, 0.5), DriftCounter(profile, 0.5)
    for record, p in zip(records, proba):
        one.count_one(record, float(p))
    many.count_many(records, proba)
    assert one.store.total().tolist() == many.store.total().tolist()
    last = next(f for f in many.figures()["features"] if f["name"] == numeric[0])
    assert last["bins"][-1]["records"] >= 20  # numpy sorts NaN last


def test_every_worker_process_is_counted_in_the_total(
    loaded_model, profile, held_out, tmp_path
):
    drift = DriftCounter(profile, 0.5, str(tmp_path))
    records = held_out[:50]
    proba = loaded_model.predictor.proba_records(records)
    pid = os.fork()
    if pid == 0:  # a second "worker": counts into a file of its own, then leaves
        drift.count_many(records, proba)
        os._exit(0)
    os.waitpid(pid, 0)
    drift.count_one(records[0], float(proba[0]))
    assert len(list(tmp_path.iterdir())) == 2
    assert drift.figures()["records"] == 51


def test_reference_bins_reproduce_the_training_shares(trained, profile):
    train = pd.read_csv(trained.processed / "train.csv")
    for bins in profile.features:
        if isinstance(bins, NumericBins):
            counts = np.bincount(
                bins.bins(train[bins.name]), minlength=len(bins.shares)
            )
            assert counts / len(train) == pytest.approx(bins.shares, abs=1e-6)
    assert profile.rows == len(train)


def test_psi_is_zero_for_the_reference_itself_and_grows_with_a_shift():
    shares = [0.25, 0.25, 0.25, 0.25]
    assert psi(shares, [250, 250, 250, 250], 1000) == pytest.approx(0.0, abs=1e-9)
    small = psi(shares, [300, 250, 250, 200], 1000)
    large = psi(shares, [700, 100, 100, 100], 1000)
    assert 0 < small < 0.1 < 0.2 < large
    assert psi(shares, [0, 0, 0, 0], 1000) is None


def test_metrics_carry_drift_gauges_and_slice_rates_named_after_the_project(
    loaded_model, held_out
):
    client = make_app(loaded_model).test_client()
    send(client, held_out[:BATCH])
    text = client.get("/metrics").get_data(as_text=True)
    ns = loaded_model.metadata.project.slug
    for rule in loaded_model.features:
        assert f'{ns}_feature_drift_psi{{feature="{rule.name}"}}' in text
    assert f"{ns}_monitored_records_total {float(BATCH)}" in text
    assert f"{ns}_prediction_drift_psi " in text
    assert f"{ns}_slice_positive_rate{{feature=" in text
    assert f"{ns}_slice_reference_positive_rate{{feature=" in text


def test_monitoring_needs_the_token_when_auth_is_on(loaded_model):
    client = make_app(loaded_model, api_token="s3cret").test_client()
    assert client.get("/monitoring").status_code == 401
    ok = client.get("/monitoring", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json["records"] == 0


def test_monitoring_switched_off_adds_no_route_and_no_metric(loaded_model, held_out):
    client = make_app(loaded_model, monitoring_enabled=False).test_client()
    send(client, held_out[:10])
    assert client.get("/monitoring").status_code == 404
    assert "drift_psi" not in client.get("/metrics").get_data(as_text=True)


def test_a_tampered_reference_profile_stops_the_bundle_loading(model_dir, tmp_path):
    copy = shutil.copytree(model_dir, tmp_path / "model")
    reference = copy / "reference.json"
    reference.write_text(reference.read_text().replace('"rows": ', '"rows": 1'))
    with pytest.raises(BundleError, match="reference.json failed its integrity check"):
        load_bundle(copy)


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a small tmpfs filled to the last byte (mounting needs root)."""
    mount = tmp_path / "full"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)]
    if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, bytes(4096)):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_under_the_drift_counts_fails_no_prediction(
    loaded_model, held_out, full_disk
):
    app = make_app(
        loaded_model, metrics_enabled=False, prometheus_multiproc_dir=str(full_disk)
    )
    pid = os.fork()
    if pid == 0:  # a server worker: it makes its count file on its first record
        code = 1
        try:
            client = app.test_client()
            ones = [client.post("/predict", json=r).status_code for r in held_out[:3]]
            batch = client.post("/predict/batch", json={"records": held_out[3:6]})
            code = 0 if ones == [200] * 3 and batch.status_code == 200 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert not os.WIFSIGNALED(status), f"killed by signal {os.WTERMSIG(status)}"
    assert os.WEXITSTATUS(status) == 0
    assert app.test_client().get("/monitoring").json["records"] == 0
