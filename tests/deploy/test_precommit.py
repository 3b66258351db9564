"""pre-commit runs offline from the venv: the tree passes, a staged private key is blocked."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from testkit.slug import checkout_files, copy_files

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home")}
    return subprocess.run(
        [str(VENV / "bin" / "pre-commit"), "run", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git repo holding this checkout's files, with the project's venv linked in."""
    if not (VENV / "bin" / "pre-commit").exists():
        pytest.skip("no .venv with pre-commit: run `make install`")
    repo = copy_files(ROOT, checkout_files(), tmp_path_factory.mktemp("pc") / "repo")
    (repo / ".venv").symlink_to(VENV)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    return repo


def test_every_hook_passes_on_the_whole_tree(repo):
    done = pre_commit(repo, "--all-files")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_staged_private_key_is_blocked(repo):
    key = repo / "deploy_key"
    # Assembled here so this file itself does not trip the hook.
    header = "-----BEGIN OPENSSH " + "PRIVATE KEY-----"
    key.write_text(f"{header}\nb3BlbnNzaC1rZXk=\n")
    git(repo, "add", "deploy_key")
    try:
        done = pre_commit(repo, "detect-private-key")
        assert done.returncode == 1
        assert "Private key found: deploy_key" in done.stdout
    finally:
        git(repo, "rm", "-q", "--cached", "deploy_key")
        key.unlink()


def test_an_import_against_the_layering_is_blocked(repo):
    """The import contract: monitoring is below the service, so it may not import it."""
    module = repo / "monitoring" / "uses_the_app.py"
    module.write_text("from service import create_app  # noqa: F401\n")
    git(repo, "add", "monitoring/uses_the_app.py")
    try:
        done = pre_commit(repo, "import-contract")
        assert done.returncode == 1
        assert "monitoring.uses_the_app -> service" in done.stdout
    finally:
        git(repo, "rm", "-q", "--cached", "monitoring/uses_the_app.py")
        module.unlink()
