"""The model registry: every version `make promote` made the model, when, the gate's
figures and the version it replaced, in registry.json inside the bundle folder, so it
travels with the model wherever the model goes (DVC remote, image, slug) and /health and
the model card can cite it. A bundle trained by `make train` alone has none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bundle.format import BundleError

REGISTRY = "registry.json"


def registry_path(model_dir: Path) -> Path:
    return Path(model_dir) / REGISTRY


def read_registry(model_dir: Path) -> dict[str, Any]:
    """The registry of the bundle in `model_dir` (no versions when it has none)."""
    path = registry_path(model_dir)
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"versions": []}
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: cannot read it: {exc}") from exc
    if not isinstance(registry, dict) or not isinstance(registry.get("versions"), list):
        raise BundleError(f'{path}: expected {{"versions": [...]}}')
    return registry


def promotion(model_dir: Path, version: str) -> dict[str, Any] | None:
    """The registry's entry of `version` (the latest, if promoted twice), or None."""
    entries = [
        e for e in read_registry(model_dir)["versions"] if e.get("version") == version
    ]
    return entries[-1] if entries else None
