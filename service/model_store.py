"""Find, verify and load the model bundle the service serves.

A bundle is a folder with `metadata.json` and the ONNX file it names. The ONNX file is
checked against the SHA-256 recorded at training time before it is parsed, and the loaded
model must reproduce the recorded probability of the bundled example record, so the
service never serves a file it did not verify. ONNX is data, not code: loading it runs
nothing it did not ship.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.predictor import Predictor

METADATA_FILE = "metadata.json"
BUNDLE_FORMAT = 1
# float32 inference on another onnxruntime build may differ in the last bits, not more.
SELF_CHECK_TOLERANCE = 1e-5


class ModelError(RuntimeError):
    """The model bundle is missing, damaged, tampered with or unusable."""


@dataclass(frozen=True)
class LoadedModel:
    """A verified model: its predictor and what the bundle says about it."""

    predictor: Predictor
    metadata: dict[str, Any]
    path: Path

    @property
    def version(self) -> str:
        return self.metadata["version"]

    @property
    def sha256(self) -> str:
        return self.metadata["onnx"]["sha256"]

    @property
    def features(self) -> list[dict[str, Any]]:
        return self.metadata["features"]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_metadata(model_dir: Path) -> dict[str, Any]:
    """Parse metadata.json, naming the file in every error."""
    path = model_dir / METADATA_FILE
    if not path.is_file():
        raise ModelError(f"no model at {model_dir}: {METADATA_FILE} not found")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ModelError(
            f"{path}: bundle format {found!r}, this service reads {BUNDLE_FORMAT}"
        )
    return meta


def verified_onnx_bytes(model_dir: Path, meta: dict[str, Any]) -> bytes:
    """The ONNX file's bytes, only if they hash to the recorded SHA-256."""
    return verified_bytes(model_dir, meta["onnx"])


def verified_bytes(model_dir: Path, entry: dict[str, Any]) -> bytes:
    """The bytes of the bundle file `entry` names, only if they hash to its SHA-256."""
    path = model_dir / entry["file"]
    if not path.is_file():
        raise ModelError(f"model file {path} not found")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry["sha256"]:
        raise ModelError(
            f"model file {path} failed its integrity check: SHA-256 {actual} "
            f"!= recorded {entry['sha256']} (truncated, replaced or tampered)"
        )
    return data


def dense_scorer(model_dir: Path, meta: dict[str, Any]) -> tuple[Any, Any] | None:
    """(session, encoder) for the bundle's classifier-only graph, if it has one."""
    from service.encoding import DenseEncoder

    dense = meta.get("dense")
    if dense is None:
        return None
    session = make_session(verified_bytes(model_dir, dense), model_dir)
    return session, DenseEncoder(dense["encoding"])


def make_session(onnx_bytes: bytes, source: Path) -> Any:
    """An onnxruntime session pinned to one thread: gunicorn workers are the parallelism."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            onnx_bytes, options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(
            f"onnxruntime {ort.__version__} cannot load {source}: {exc}"
        ) from exc


def self_check(predictor: Predictor, meta: dict[str, Any]) -> None:
    """The loaded model must reproduce the probability recorded for the example."""
    example = meta["example"]
    got = predictor.predict_one(example["record"]).probability
    want = example["probability"]
    if not math.isfinite(got) or abs(got - want) > SELF_CHECK_TOLERANCE:
        raise ModelError(
            f"model self-check failed: example scored {got:.6f}, recorded {want:.6f}"
        )


def load_model(model_dir: Path) -> LoadedModel:
    """Load and verify the bundle in `model_dir`, or raise ModelError saying why."""
    model_dir = Path(model_dir)
    meta = read_metadata(model_dir)
    try:
        session = make_session(verified_onnx_bytes(model_dir, meta), model_dir)
        predictor = Predictor(
            session,
            meta["features"],
            (meta["labels"]["negative"], meta["labels"]["positive"]),
            meta.get("threshold", 0.5),
            dense_scorer(model_dir, meta),
        )
        self_check(predictor, meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{model_dir / METADATA_FILE} is incomplete: {exc!r}") from exc
    return LoadedModel(predictor, meta, model_dir)
