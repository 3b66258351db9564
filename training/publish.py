"""Publish a model bundle so that model/ always holds a complete, verified bundle.

The bundle is written into a staging folder beside model/, loaded back with the service's
own loader (hash and self-check included), and only then swapped in by renames. A crash
before the swap leaves the previous bundle untouched; `recover` mends the one instant
between the two renames.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from service.model_store import METADATA_FILE, load_model
from training.io import sha256_bytes, write_bytes_atomic, write_json_atomic

PIPELINE_FILE = "pipeline.skops"
# Types skops does not trust by default that our fitted Pipelines legitimately hold (the
# tree ensembles' Tree and numpy dtypes). Anything else in a file is refused: loading a
# skops file reconstructs only the types it is allowed to, and runs no pickled code.
TRUSTED_TYPES = ("numpy.dtype", "sklearn.tree._tree.Tree")


class UntrustedArtifactError(RuntimeError):
    """A pipeline file holds types outside the allow-list, or fails its hash."""


def load_pipeline(model_dir: Path) -> Any:
    """The bundle's scikit-learn Pipeline: hash-checked, then loaded with the allow-list."""
    import json

    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    meta = json.loads((model_dir / METADATA_FILE).read_text(encoding="utf-8"))
    path = model_dir / meta["pipeline"]["file"]
    data = path.read_bytes()
    if sha256_bytes(data) != meta["pipeline"]["sha256"]:
        raise UntrustedArtifactError(f"{path} does not match its recorded SHA-256")
    try:
        return sio.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:
        raise UntrustedArtifactError(
            f"{path} holds types outside the allow-list: {exc}"
        )


def recover(model_dir: Path) -> None:
    """Put back the previous bundle if a publish stopped between its two renames."""
    previous = model_dir.with_name(model_dir.name + ".previous")
    if previous.exists() and not model_dir.exists():
        previous.rename(model_dir)
    elif previous.exists():
        shutil.rmtree(previous)


def stage_bundle(
    staging: Path, onnx_bytes: bytes, pipeline: Any, meta: dict, extra=None
) -> None:
    """Write every file of the bundle into `staging` (`extra`: more name -> bytes)."""
    import skops.io as sio

    write_bytes_atomic(staging / meta["onnx"]["file"], onnx_bytes)
    for name, data in (extra or {}).items():
        write_bytes_atomic(staging / name, data)
    pipe_bytes = sio.dumps(pipeline)
    write_bytes_atomic(staging / PIPELINE_FILE, pipe_bytes)
    meta["pipeline"] = {"file": PIPELINE_FILE, "sha256": sha256_bytes(pipe_bytes)}
    write_json_atomic(staging / METADATA_FILE, meta)


def publish_bundle(
    model_dir: Path, onnx_bytes: bytes, pipeline: Any, meta: dict, extra=None
) -> Path:
    """Stage, verify and atomically swap a new bundle into `model_dir`."""
    recover(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=model_dir.parent, prefix=f".{model_dir.name}."))
    try:
        stage_bundle(staging, onnx_bytes, pipeline, meta, extra)
        load_model(staging)  # the service's own checks, before anything is replaced
        previous = model_dir.with_name(model_dir.name + ".previous")
        if model_dir.exists():
            model_dir.rename(previous)
        staging.rename(model_dir)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return model_dir
