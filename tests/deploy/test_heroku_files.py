"""The files Heroku and Docker read agree with each other and keep what the dyno needs."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.slug import checkout_files, slug_files, slugignored

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


def test_the_procfile_web_process_is_gunicorn_with_the_shared_config():
    assert procfile_web() == [
        "gunicorn",
        "--config",
        "gunicorn.conf.py",
        "service.wsgi:app",
    ]


# The Dockerfile's command, user, health check and build context: tests/deploy/
# test_targets.py (same command and port as every target) and test_container_image.py
# (built and booted for real).


def test_gunicorn_config_fits_heroku_s_router_and_shutdown_limits():
    code = (
        "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: c[k] for k in "
        "('bind', 'workers', 'preload_app', 'timeout', 'graceful_timeout')}))"
    )
    env = {"DYNO": "web.1", "PORT": "5123", "WEB_CONCURRENCY": "3", "PATH": "/usr/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    conf = json.loads(out.stdout)
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
        "gunicorn.conf.py",
        "dvc.yaml",
        "dvc.lock",
        ".dvc/config",
        "params.yaml",
    ],
)
def test_the_slug_keeps_what_the_dyno_boots_with(needed):
    assert needed in slug_files()


def test_the_slug_keeps_every_service_module():
    service = {f for f in checkout_files() if f.startswith("service/")}
    assert service and service <= set(slug_files())


def test_the_slug_leaves_out_tests_training_code_and_dev_files():
    dropped = slugignored()
    for name in (
        "tests/conftest.py",
        "training/train.py",
        "requirements-dev.txt",
        "smoke_test.py",
    ):
        assert name in dropped


def test_dvc_reaches_the_dyno_from_requirements_txt_so_no_aptfile_is_shipped():
    pins = (ROOT / "requirements.txt").read_text().split()
    assert any(re.fullmatch(r"dvc==[\d.]+", p) for p in pins)
    aptfile = ROOT / "Aptfile"
    assert not aptfile.exists() or aptfile.read_text().strip()
