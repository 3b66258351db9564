"""Publish a model bundle so that model/ always holds a complete, verified bundle, and
publish it with its reports, together or not at all.

The bundle is written into a staging folder beside model/, loaded back with the service's
own loader (hash and self-check included), and only then swapped in by renames. A crash
before the swap leaves the previous bundle untouched; the loader serves the previous
bundle in the one instant between the two renames, and the next publish's `recover` puts
it back. The staging folder is `.<model>.<pid>.<random>`: the next publish removes those
of exports that were killed.

Export publishes into build/bundle; evaluate measures that bundle, writes every report
into a staging tree (`staged_reports`) and only when all of it is written calls
`publish_with_reports`: the bundle is swapped into model/, then each report is renamed
over its old version. A failing evaluate leaves model/, reports/ and MODEL_CARD.md as
they were.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
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
    return swap_in(model_dir, lambda staging: write_bundle(staging, meta, blobs))


def publish_copy(source: Path, model_dir: Path) -> Path:
    """Stage a copy of the bundle in `source`, verify it and swap it into `model_dir`."""
    return swap_in(model_dir, lambda staging: copy_files(source, staging))


def copy_files(source: Path, folder: Path) -> None:
    """Every file of the folder `source` into `folder` (its bundle is flat)."""
    for path in sorted(source.iterdir()):
        shutil.copy2(path, folder / path.name)


def swap_in(model_dir: Path, write) -> Path:
    """`write(staging)` a bundle beside `model_dir`, verify it, swap it in."""
    recover(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(dir=model_dir.parent, prefix=temp_prefix(model_dir))
    )
    try:
        write(staging)
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


@contextmanager
def staged_reports(reports: Path):
    """A scratch project root beside `reports` to write the reports into (removed
    afterwards; a killed run's is removed by the next one)."""
    remove_stale_temps(reports)
    staging = Path(tempfile.mkdtemp(dir=reports.parent, prefix=temp_prefix(reports)))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish_with_reports(
    bundle: Path, model_dir: Path, staged: Path, root: Path
) -> None:
    """The verified bundle into `model_dir`, then every file under `staged` renamed
    over its namesake under `root` (each written atomically into `staged` before)."""
    publish_copy(bundle, model_dir)
    for path in sorted(p for p in staged.rglob("*") if p.is_file()):
        target = root / path.relative_to(staged)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
