"""Model artifacts load without running code they did not ship, and only when verified.

The served model is ONNX (data, not code) checked against its recorded SHA-256 before the
app exists; the skops Pipeline loads only with an explicit allow-list of types.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from bundle.files import sha256_bytes
from bundle.format import BundleError
from bundle.store import load_bundle
from training import fitted


@pytest.fixture
def bundle(model_dir, tmp_path):
    """A private copy of the session's bundle, free to damage."""
    return shutil.copytree(model_dir, tmp_path / "model")


@pytest.mark.task("binary", "multiclass")  # a classifier's predict_proba
def test_the_pipeline_loads_with_only_the_allow_listed_extra_types(bundle):
    pipeline = fitted.loads((bundle / "pipeline.skops").read_bytes(), "bundle")
    assert hasattr(pipeline, "predict_proba")
    extra = set(sio.get_untrusted_types(file=bundle / "pipeline.skops"))
    assert extra <= set(fitted.TRUSTED_TYPES)


def swap_pipeline(bundle, pipeline) -> bytes:
    """Replace pipeline.skops and re-record its hash, as an attacker with write access
    could."""
    data = sio.dumps(pipeline)
    (bundle / "pipeline.skops").write_bytes(data)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["files"]["fitted_pipeline"]["sha256"] = sha256_bytes(data)
    (bundle / "metadata.json").write_text(json.dumps(meta))
    return data


def test_a_pipeline_file_holding_an_unexpected_type_is_refused(bundle):
    data = swap_pipeline(bundle, Pipeline([("run", FunctionTransformer(os.system))]))
    with pytest.raises(fitted.UntrustedArtifactError, match="system"):
        fitted.loads(data, bundle / "pipeline.skops")


def test_a_pipeline_file_that_fails_its_hash_is_refused_with_the_bundle(bundle):
    path = bundle / "pipeline.skops"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(BundleError, match="pipeline.skops failed its integrity check"):
        load_bundle(bundle)


def test_the_onnx_hash_is_checked_before_onnxruntime_parses_it(bundle, monkeypatch):
    import bundle.store as store

    def never(*args, **kwargs):
        raise AssertionError("onnxruntime was handed an unverified file")

    monkeypatch.setattr(store, "make_session", never)
    onnx = bundle / "classifier.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    with pytest.raises(BundleError, match="integrity check"):
        load_bundle(bundle)


def test_the_server_cannot_start_with_an_unverified_model(bundle, capsys):
    from deploy.serve import REFUSED, start

    onnx = bundle / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    assert start({"MODEL_DIR": str(bundle), "METRICS_ENABLED": "false"}) == REFUSED
    err = capsys.readouterr().err.strip()
    assert err.startswith("model-service: refusing to start: model file")
    assert "SHA-256" in err and len(err.splitlines()) == 1
