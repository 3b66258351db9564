"""The promoted model in git and DVC: `record` after `make promote`, `rollback` to go
back, each one command.

record: `dvc commit` (dvc.lock names the promoted data, Pipeline, bundle and reports),
`dvc push` to the remote, a git commit of dvc.lock, reports/ and MODEL_CARD.md, and the
tag `model-<version>`. rollback: the tag's dvc.lock, reports and card (`git checkout
<tag> -- ...`), the model they name from the DVC remote (`dvc pull`), the bundle loaded
and checked to be that version, and a git commit saying so. CD then ships either like
any code change. `python -m training.release record | rollback [--to VERSION]`
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bundle.paths import ROOT
from bundle.registry import promotion
from bundle.store import load_bundle
from training.config import ConfigError, Paths

TAG_PREFIX = "model-"
# What git keeps of a model version (DVC keeps the rest, by dvc.lock).
TRACKED = ("dvc.lock", "reports", "MODEL_CARD.md")


def tag(version: str) -> str:
    return f"{TAG_PREFIX}{version}"


def run(root: Path, *args: str) -> str:
    """A git or dvc command in `root`; a failure is a ConfigError with its last line."""
    command = [sys.executable, "-m", "dvc", *args[1:]] if args[0] == "dvc" else args
    # DVC runs stage commands with the interpreter it was started with first on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        said = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise ConfigError(f"{' '.join(args)} failed: {said[-1]}")
    return done.stdout


def record(root: Path = ROOT) -> str:
    """dvc commit + push, git commit and tag of the model in `root`/model; its tag."""
    version = load_bundle(Paths(root=root).model_dir).version
    run(root, "dvc", "commit", "--force", "--quiet")
    run(root, "dvc", "push", "--quiet")
    run(root, "git", "add", "--", *TRACKED)
    run(root, "git", "commit", "--quiet", "--allow-empty", "-m", f"Model {version}")
    run(root, "git", "tag", tag(version))
    return tag(version)


def previous_version(root: Path) -> str:
    """The version the served one replaced, from its registry entry."""
    model = load_bundle(Paths(root=root).model_dir)
    entry = promotion(model.path, model.version)
    if not entry or not entry.get("previous"):
        raise ConfigError(
            f"model {model.version} has no previous version in its registry: "
            f"name one, make rollback TO=<version> (git tag -l '{TAG_PREFIX}*')"
        )
    return entry["previous"]


def rollback(root: Path = ROOT, to: str | None = None) -> str:
    """The model of version `to` (default: the one the served model replaced) back in
    `root`, from its tag and the DVC remote, committed; the version."""
    to = to or previous_version(root)
    if not run(root, "git", "tag", "-l", tag(to)).strip():
        raise ConfigError(f"no tag {tag(to)}: git tag -l '{TAG_PREFIX}*' lists them")
    run(root, "git", "checkout", tag(to), "--", *TRACKED)
    run(root, "dvc", "pull", "--quiet", "--force")
    served = load_bundle(Paths(root=root).model_dir).version
    if served != to:
        raise ConfigError(f"after the pull model/ holds {served}, not {to}")
    run(root, "git", "commit", "--quiet", "-m", f"Roll back to model {to}")
    return to


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=("record", "rollback"))
    parser.add_argument("--to", help="rollback: the version (default: the previous)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.action == "record":
        print(f"recorded and tagged {record()}")
    else:
        version = rollback(to=args.to)
        took = time.perf_counter() - start
        print(f"model/ is {version} again ({took:.1f} s); push to ship it")
    return 0


if __name__ == "__main__":
    from training.stage import run_stage

    sys.exit(run_stage("release", main))
