"""The GitHub workflow: CI on every push and PR, CD to Heroku only after CI on main."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


@pytest.fixture(scope="module")
def ci() -> dict:
    return load(ROOT / ".github" / "workflows" / "ci.yml")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_parses_and_has_jobs(path):
    assert load(path)["jobs"]


def test_ci_runs_on_push_and_pull_request(ci):
    assert {"push", "pull_request"} <= set(ci["on"])


def test_ci_lints_with_pre_commit_audits_and_runs_the_readme_test_command(ci):
    job = ci["jobs"]["test"]
    commands = runs(job)
    for command in ("make install", "make precommit", "make audit", "make test"):
        assert command in commands
    setup = next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["cache"] == "pip"


def test_deploy_runs_only_after_ci_passed_on_main(ci):
    deploy = ci["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]


def test_deploy_pushes_with_the_heroku_api_key_then_smoke_tests_the_live_app(ci):
    deploy = ci["jobs"]["deploy"]
    assert deploy["env"]["HEROKU_API_KEY"] == "${{ secrets.HEROKU_API_KEY }}"
    commands = runs(deploy)
    push = commands.index("git.heroku.com")
    assert push < commands.index("python smoke_test.py")
