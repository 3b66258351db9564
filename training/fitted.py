"""The fitted scikit-learn Pipeline as a file: skops (no pickle), byte-reproducible.

skops writes zip timestamps and names members after object ids, so the same Pipeline
saved twice gives different bytes (and DVC would record a new model each run). The bytes
are made canonical here: ids renumbered in order of appearance, members sorted, one fixed
timestamp. Loading checks a type allow-list and runs no pickled code.
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from typing import Any

import numpy as np

# Types skops does not trust by default that our fitted Pipelines legitimately hold (the
# tree ensembles' Tree, HistGradientBoosting's TreePredictor: arrays of nodes, and numpy
# dtypes). Anything else in a file is refused.
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
SCHEMA = "schema.json"
EPOCH = (1980, 1, 1, 0, 0, 0)
_ID_FILE = re.compile(r"^(\d+)(\.\w+)$")


class UntrustedArtifactError(RuntimeError):
    """A pipeline file holds types outside the allow-list."""


def _renumber(node: Any, ids: dict[int, int], files: dict[str, str]) -> Any:
    """The schema with object ids and id-named files replaced by their rank."""
    if isinstance(node, list):
        return [_renumber(item, ids, files) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "__id__" and isinstance(value, int):
            value = ids.setdefault(value, len(ids))
        elif key == "file" and isinstance(value, str) and _ID_FILE.match(value):
            stem, suffix = _ID_FILE.match(value).groups()
            value = files.setdefault(value, f"{len(files)}{suffix}")
        else:
            value = _renumber(value, ids, files)
        out[key] = value
    return out


def canonical(data: bytes) -> bytes:
    """skops bytes with ids renumbered, members sorted and timestamps fixed."""
    files: dict[str, str] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as zin:
        schema = _renumber(json.loads(zin.read(SCHEMA)), {}, files)
        members = {
            files.get(i.filename, i.filename): zin.read(i) for i in zin.infolist()
        }
    members[SCHEMA] = json.dumps(schema, indent=2).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zout:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.external_attr = 0o644 << 16
            zout.writestr(info, members[name])
    return out.getvalue()


def intern_strings(node: Any, seen: set[int] | None = None) -> None:
    """Make every equal text in the fitted objects one object (sys.intern), in place.

    skops writes a text once per object and refers back to it after: which texts are one
    object (categories shared by two features, say) would otherwise depend on how pandas
    happened to store the training strings (pyarrow or Python), and so the file's bytes.
    """
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, np.ndarray):
        if node.dtype == object:
            for i, value in enumerate(node.flat):
                if type(value) is str:
                    node.flat[i] = sys.intern(value)
                else:
                    intern_strings(value, seen)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if type(value) is str:
                node[i] = sys.intern(value)
            else:
                intern_strings(value, seen)
    elif isinstance(node, tuple):
        for value in node:
            intern_strings(value, seen)
    elif isinstance(node, dict):
        for key, value in list(node.items()):
            if type(value) is str:
                node[key] = sys.intern(value)
            else:
                intern_strings(value, seen)
    elif type(node).__module__.startswith("sklearn") and hasattr(node, "__dict__"):
        intern_strings(vars(node), seen)


def dumps(pipeline: Any) -> bytes:
    """The Pipeline as canonical skops bytes."""
    import skops.io as sio

    intern_strings(pipeline)
    return canonical(sio.dumps(pipeline))


def loads(data: bytes, source: Any) -> Any:
    """A Pipeline from skops bytes, reconstructing only allow-listed types."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return sio.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:
        raise UntrustedArtifactError(
            f"{source} holds types outside the allow-list: {exc}"
        ) from exc
