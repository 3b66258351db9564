"""`make promote`: a challenger that passed `make compare` becomes the model.

Refused (one line, exit 2) unless build/compare/compare.json says the gate held for this
very challenger against the model now in model/. Then the challenger's data splits,
fitted Pipeline and staged bundle replace the project's (so dvc.lock can record them:
`dvc commit`), and its bundle, with the registry (bundle/registry.py) extended by this
promotion, is published with its reports and model card, together or not at all
(training/publish.py). The reports are written again by the evaluate stage's own writer
from the challenger's files and params, so the card gains its Promotion section citing
the registry's entry. `python -m training.promote`
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bundle.files import temp_prefix, write_json_atomic
from bundle.registry import registry_path, read_registry
from bundle.store import load_bundle
from training import publish
from training.challenger import CHALLENGER, PARAMS_NAME
from training.compare import COMPARE
from training.config import ConfigError, Paths
from training.evaluate import write_reports
from training.params import Params, load


def read_result(path: Path) -> dict[str, Any]:
    """compare.json, or ConfigError saying to run make compare."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: run make compare first") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON ({exc}): run make compare again") from None


def check_result(result: dict, champion: str | None, challenger: str) -> None:
    """The gate held, and for these two versions (not for an older comparison)."""
    versions = result.get("versions", {})
    if versions != {"champion": champion, "challenger": challenger}:
        raise ConfigError(
            f"the comparison judged {versions.get('challenger')} against "
            f"{versions.get('champion')}, not {challenger} against {champion}: "
            "run make compare again"
        )
    failed = [c["name"] for c in result.get("checks", []) if not c.get("passed")]
    if failed or not result.get("passed"):
        raise ConfigError(
            f"the challenger {challenger} failed the gate ({', '.join(failed)}): "
            "not promoting it (build/compare/report.md)"
        )


def entry(result: dict, now: datetime) -> dict[str, Any]:
    """The registry's record of this promotion."""
    return {
        "version": result["versions"]["challenger"],
        "previous": result["versions"]["champion"],
        "promoted_at": now.isoformat(timespec="seconds"),
        "selection_metric": result["selection_metric"],
        "metrics": result["metrics"]["challenger"],
        "difference": result["difference"],
        "gate": {c["name"]: c["line"] for c in result["checks"]},
    }


def replace_folder(source: Path, target: Path) -> None:
    """A copy of `source` in place of `target`: copied beside it, then renamed over."""
    if not source.is_dir():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix(target)))
    copy = staging / target.name
    shutil.copytree(source, copy)
    old = staging / "old"
    if target.exists():
        target.rename(old)
    copy.rename(target)
    shutil.rmtree(staging, ignore_errors=True)


def challenger_params(challenger: Paths) -> Params:
    """The params the challenger was trained with (make challenger keeps them)."""
    path = challenger.root / PARAMS_NAME
    if not path.is_file():
        raise ConfigError(f"{path} is missing: run make challenger again")
    return load(path)


def promote(paths: Paths, challenger: Paths, result: dict, now: datetime) -> dict:
    """Make the challenger the model of `paths`; return the registry entry."""
    current = load_bundle(paths.model_dir).version if paths.model_dir.exists() else None
    candidate = load_bundle(challenger.model_dir)
    check_result(result, current, candidate.version)
    params = challenger_params(challenger)
    registry = read_registry(paths.model_dir) if current else {"versions": []}
    record = entry(result, now)
    registry["versions"].append(record)
    write_json_atomic(registry_path(challenger.model_dir), registry)
    with publish.staged_reports(paths.reports) as staging:
        # Written before anything is replaced: a failure leaves the project as it was.
        write_reports(challenger, Paths(root=staging), params, record)
        for part in ("raw", "processed", "fitted", "staged_bundle"):
            replace_folder(getattr(challenger, part), getattr(paths, part))
        publish.publish_with_reports(
            challenger.model_dir, paths.model_dir, staging, paths.root
        )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--challenger", type=Path, default=CHALLENGER)
    parser.add_argument("--compare", type=Path, default=COMPARE / "compare.json")
    args = parser.parse_args(argv)
    now = datetime.now(timezone.utc)
    record = promote(
        Paths(), Paths(root=args.challenger), read_result(args.compare), now
    )
    print(
        f"promoted {record['version']} (was {record['previous']}) at {record['promoted_at']}"
    )
    return 0


if __name__ == "__main__":
    from training.stage import run_stage

    sys.exit(run_stage("promote", main))
