"""Loading a model writes nothing to the user's home: onnxruntime's telemetry is off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from training.config import ROOT

LOAD = "import sys; from bundle.store import load_bundle; load_bundle(sys.argv[1])"
APP = (
    "import sys; from bundle.store import load_bundle; from service import create_app; "
    "create_app(model=load_bundle(sys.argv[1]))"
)


def run_with_home(home, args: list[str]) -> None:
    """Run Python with `home` as HOME (no XDG cache folder set) from the project root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), METRICS_ENABLED="false")
    env.pop("ORT_DISABLE_TELEMETRY", None)  # the code must not rely on the caller
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode in (0, 1), done.stderr


def everything_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("entry", ["load_bundle", "the app", "the batch CLI"])
def test_loading_the_model_creates_nothing_in_an_empty_home(
    entry, trained, model_dir, tmp_path
):
    home = tmp_path / "home"
    home.mkdir()
    args = {
        "load_bundle": ["-c", LOAD, str(model_dir)],
        "the app": ["-c", APP, str(model_dir)],
        "the batch CLI": [
            "-m",
            "batch.score",
            str(trained.processed / "test.csv"),
            str(tmp_path / "out.csv"),
            "--model-dir",
            str(model_dir),
            "--quiet",
        ],
    }[entry]
    run_with_home(home, args)
    assert everything_under(home) == []
