"""Publish a model bundle so that model/ always holds a complete, verified bundle.

The bundle is written into a staging folder beside model/, loaded back with the service's
own loader (hash and self-check included), and only then swapped in by renames. A crash
before the swap leaves the previous bundle untouched; the loader serves the previous
bundle in the one instant between the two renames, and the next publish's `recover` puts
it back. The staging folder is `.<model>.<pid>.<random>`: the next publish removes those
of exports that were killed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bundle.files import remove_stale_temps, temp_prefix
from bundle.format import Metadata, Role
from bundle.store import load_bundle, previous_bundle, write_bundle


def recover(model_dir: Path) -> None:
    """Mend what an interrupted publish left: put back the previous bundle if it stopped
    between its two renames, and remove the staging folders of killed exports."""
    previous = previous_bundle(model_dir)
    if previous.exists() and not model_dir.exists():
        previous.rename(model_dir)
    elif previous.exists():
        shutil.rmtree(previous)
    remove_stale_temps(model_dir)


def publish_bundle(model_dir: Path, meta: Metadata, blobs: dict[Role, bytes]) -> Path:
    """Stage, verify and atomically swap a new bundle into `model_dir`."""
    recover(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(dir=model_dir.parent, prefix=temp_prefix(model_dir))
    )
    try:
        write_bundle(staging, meta, blobs)
        load_bundle(staging)  # the service's own checks, before anything is replaced
        staging.chmod(0o755)  # mkdtemp makes 0700; the bundle is read by other users
        previous = previous_bundle(model_dir)
        if model_dir.exists():
            model_dir.rename(previous)
        staging.rename(model_dir)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return model_dir
