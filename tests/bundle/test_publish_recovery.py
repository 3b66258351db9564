"""An interrupted publish never stops the service from starting, and what it left is
removed by the next one (training/publish.py, bundle/store.py)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bundle.format import ROLES, read_metadata
from bundle.store import load_bundle
from training import publish


def dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def bundle_parts(model_dir):
    """The metadata and the files of a bundle, as an export hands them to publish."""
    meta = read_metadata(model_dir)
    blobs = {ROLES[k]: (model_dir / e.file).read_bytes() for k, e in meta.files.items()}
    return meta, blobs


@pytest.fixture
def stopped_between_renames(model_dir, tmp_path):
    """A folder as a publish killed between its two renames leaves it: model/ moved to
    model.previous/, the new bundle still in its staging folder."""
    shutil.copytree(model_dir, tmp_path / "model.previous")
    shutil.copytree(model_dir, tmp_path / f".model.{dead_pid()}.k1ll3d00")
    return tmp_path / "model"


def test_the_loader_serves_the_previous_bundle_when_a_publish_stopped_between_renames(
    stopped_between_renames, loaded_model
):
    loaded = load_bundle(stopped_between_renames)
    assert loaded.version == loaded_model.version
    assert loaded.path.name == "model.previous"


def test_the_next_publish_puts_the_bundle_back_and_removes_the_staging_left(
    stopped_between_renames, model_dir, tmp_path
):
    publish.publish_bundle(stopped_between_renames, *bundle_parts(model_dir))
    assert names(tmp_path) == ["model"]
    assert load_bundle(stopped_between_renames).path == stopped_between_renames


def test_the_next_publish_removes_staging_of_killed_exports_but_not_of_live_ones(
    model_dir, tmp_path
):
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    killed = tmp_path / f".model.{dead_pid()}.k1ll3d00"
    shutil.copytree(model_dir, killed)
    live = tmp_path / f".model.{os.getppid()}.l1v3l1v3"  # pytest's parent runs
    live.mkdir()
    publish.publish_bundle(target, *bundle_parts(model_dir))
    assert names(tmp_path) == sorted(["model", live.name])
