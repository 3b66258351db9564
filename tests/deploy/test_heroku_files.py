"""The files Heroku and Docker read agree with each other and keep what the dyno needs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.slug import checkout_files, slug_files, slugignored

ROOT = Path(__file__).resolve().parents[2]


def procfile_web() -> list[str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    web = [line.split(":", 1)[1] for line in lines if line.startswith("web:")]
    assert len(web) == 1, "Procfile needs exactly one web process"
    return shlex.split(web[0])


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def docker_instructions(name: str) -> list[str]:
    """Arguments of every `name` instruction, continuation lines joined."""
    text = dockerfile().replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", text, re.M)]


def python_version_files() -> dict[str, str]:
    """major.minor named by each file that pins the Python version."""
    found = {".python-version": (ROOT / ".python-version").read_text().strip()}
    runtime = ROOT / "runtime.txt"
    if runtime.exists():
        found["runtime.txt"] = runtime.read_text().strip().removeprefix("python-")
    # The first FROM names the base image; the other stages start from it.
    base = docker_instructions("FROM")[0]
    found["Dockerfile"] = re.fullmatch(r"python:([\d.]+)-slim AS base", base).group(1)
    return {k: ".".join(v.split(".")[:2]) for k, v in found.items()}


def test_every_file_naming_the_python_version_names_the_same_one():
    versions = python_version_files()
    assert len(set(versions.values())) == 1, versions
    assert re.fullmatch(r"3\.\d+", versions[".python-version"])


def test_the_procfile_web_process_runs_the_server_start_sequence_on_the_dyno_port():
    # The dyno's python is the slug's, first on PATH; a PORT it cannot bind is refused
    # by the start sequence's first step, in one line, before anything listens.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "DYNO": "web.1", "PORT": "http"}
    done = subprocess.run(
        procfile_web(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        "model-service: refusing to start: PORT='http' is not valid: "
        "invalid literal for int() with base 10: 'http'"
    ]


# The Dockerfile's command, user, health check and build context: tests/deploy/
# test_targets.py (same command and port as every target) and test_container_image.py
# (built and booted for real).


@pytest.mark.parametrize("platform", ["DYNO", "RENDER"])
def test_server_settings_fit_the_platform_router_and_shutdown_limits(platform):
    from deploy.serve import gunicorn_options
    from deploy.settings import ServerSettings
    from service.settings import Settings

    env = {platform: "web.1", "PORT": "5123", "WEB_CONCURRENCY": "3"}
    conf = gunicorn_options(ServerSettings.from_env(env), Settings.from_env(env))
    assert conf["bind"] == "0.0.0.0:5123"
    assert conf["workers"] == 3 and conf["preload_app"] is True
    assert conf["timeout"] < 30 and conf["graceful_timeout"] < 30


def test_slugignore_uses_no_negation():
    lines = (ROOT / ".slugignore").read_text().splitlines()
    assert not [line for line in lines if line.strip().startswith("!")]


@pytest.mark.parametrize(
    "needed",
    [
        "Procfile",
        "requirements.txt",
        ".python-version",
        "dvc.yaml",
        "dvc.lock",
        ".dvc/config",
        "params.yaml",
    ],
)
def test_the_slug_keeps_what_the_dyno_boots_with(needed):
    assert needed in slug_files()


@pytest.mark.parametrize("package", ["bundle", "deploy", "service"])
def test_the_slug_keeps_every_module_the_server_imports(package):
    modules = {f for f in checkout_files() if f.startswith(f"{package}/")}
    assert modules and modules <= set(slug_files())


def test_the_slug_leaves_out_tests_training_code_and_dev_files():
    dropped = slugignored()
    for name in (
        "tests/conftest.py",
        "testkit/servers.py",
        "training/fit.py",
        "examples/german_credit/dataset.py",
        "batch/score.py",
        "requirements/dev.txt",
        "requirements/pull-s3.txt",
        "pyproject.toml",
        "smoke_test.py",
    ):
        assert name in dropped


def test_dvc_reaches_the_dyno_from_requirements_txt_so_no_aptfile_is_shipped():
    pins = (ROOT / "requirements.txt").read_text().split()
    assert any(re.fullmatch(r"dvc==[\d.]+", p) for p in pins)
    aptfile = ROOT / "Aptfile"
    assert not aptfile.exists() or aptfile.read_text().strip()
