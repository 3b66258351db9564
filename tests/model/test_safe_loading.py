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

from service.model_store import ModelError, load_model
from training import publish
from bundle.files import sha256_bytes


@pytest.fixture
def bundle(model_dir, tmp_path):
    """A private copy of the session's bundle, free to damage."""
    return shutil.copytree(model_dir, tmp_path / "model")


def test_the_pipeline_loads_with_only_the_allow_listed_extra_types(bundle):
    pipeline = publish.load_pipeline(bundle)
    assert hasattr(pipeline, "predict_proba")
    extra = set(sio.get_untrusted_types(file=bundle / "pipeline.skops"))
    assert extra <= set(publish.TRUSTED_TYPES)


def swap_pipeline(bundle, pipeline) -> None:
    """Replace pipeline.skops and re-record its hash, as an attacker with write access could."""
    data = sio.dumps(pipeline)
    (bundle / "pipeline.skops").write_bytes(data)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta["pipeline"]["sha256"] = sha256_bytes(data)
    (bundle / "metadata.json").write_text(json.dumps(meta))


def test_a_pipeline_file_holding_an_unexpected_type_is_refused(bundle):
    swap_pipeline(bundle, Pipeline([("run", FunctionTransformer(os.system))]))
    with pytest.raises(publish.UntrustedArtifactError, match="system"):
        publish.load_pipeline(bundle)


def test_a_pipeline_file_that_fails_its_hash_is_refused_before_parsing(bundle):
    path = bundle / "pipeline.skops"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(publish.UntrustedArtifactError, match="SHA-256"):
        publish.load_pipeline(bundle)


def test_the_onnx_hash_is_checked_before_onnxruntime_parses_it(bundle, monkeypatch):
    import service.model_store as store

    def never(*args, **kwargs):
        raise AssertionError("onnxruntime was handed an unverified file")

    monkeypatch.setattr(store, "make_session", never)
    onnx = bundle / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="integrity check"):
        load_model(bundle)


def test_the_app_cannot_be_built_from_an_unverified_model(bundle):
    from service import create_app

    onnx = bundle / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256"):
        create_app({"TESTING": True, "MODEL_DIR": str(bundle)})
