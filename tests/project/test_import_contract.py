"""The packages' arrows are a contract (pyproject.toml [tool.importlinter]) that
`lint-imports` checks; docs/architecture.md draws the same picture. These tests run it and
keep it whole: a new package cannot sit outside the contract or the docs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from bundle.paths import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def contract() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def project_packages() -> set[str]:
    """Every top-level folder that is a Python package."""
    return {p.parent.name for p in ROOT.glob("*/__init__.py")}


def test_every_contract_is_kept():
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_every_package_of_the_project_has_its_place_in_the_layers():
    layers = next(c for c in contract()["contracts"] if c["id"] == "layers")
    placed = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    assert placed == project_packages() == set(contract()["root_packages"])


def test_the_architecture_doc_names_every_package():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert {p for p in project_packages() if f"`{p}/`" not in doc} == set()
