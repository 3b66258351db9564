"""Files: atomic writes (a reader never sees a half-written artifact) and SHA-256.

A temporary file or folder is made beside its final name as `.<name>.<pid>.<random>`:
the process that made it is in its name, so a later run removes those whose process is
gone (killed with SIGKILL, out of memory, power cut) and never one still being written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any


def temp_prefix(path: Path) -> str:
    """The name prefix of this process's temporary files for `path`."""
    return f".{path.name}.{os.getpid()}."


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs here (one of another user's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files and folders left for `path` by processes that are
    gone; return them."""
    pattern = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.[^.]+(\.tmp)?")
    removed = []
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return removed  # no folder yet: nothing left in it
    for sibling in siblings:
        found = pattern.fullmatch(sibling.name)
        if found is None or process_alive(int(found.group(1))):
            continue
        try:
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling)
            else:
                sibling.unlink(missing_ok=True)
        except OSError:
            continue  # not ours to remove (another user's, say): the job goes on
        removed.append(sibling)
    return removed


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; artifacts are read by other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """Atomic text write (UTF-8)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, obj: Any) -> Path:
    """Atomic, stable (sorted keys, indented) JSON write."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
