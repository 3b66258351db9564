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

from bundle.format import Metadata, Role
from bundle.store import load_bundle, write_bundle


def recover(model_dir: Path) -> None:
    """Put back the previous bundle if a publish stopped between its two renames."""
    previous = model_dir.with_name(model_dir.name + ".previous")
    if previous.exists() and not model_dir.exists():
        previous.rename(model_dir)
    elif previous.exists():
        shutil.rmtree(previous)


def publish_bundle(model_dir: Path, meta: Metadata, blobs: dict[Role, bytes]) -> Path:
    """Stage, verify and atomically swap a new bundle into `model_dir`."""
    recover(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=model_dir.parent, prefix=f".{model_dir.name}."))
    try:
        write_bundle(staging, meta, blobs)
        load_bundle(staging)  # the service's own checks, before anything is replaced
        staging.chmod(0o755)  # mkdtemp makes 0700; the bundle is read by other users
        previous = model_dir.with_name(model_dir.name + ".previous")
        if model_dir.exists():
            model_dir.rename(previous)
        staging.rename(model_dir)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return model_dir
