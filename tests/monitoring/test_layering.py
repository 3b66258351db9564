"""The monitoring package is the ground floor the service, the report and training
share: it imports the bundle and libraries, never the service, training or Flask."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"bundle", "monitoring", "service", "training", "batch", "deploy", "testkit"}
ALLOWED = {
    "monitoring": {"bundle", "monitoring"},
    "bundle": {"bundle"},
}


def imported(path: Path) -> set[str]:
    """The top-level names every import of a file reads, wherever it sits (a function
    body's too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def crossings(package: str) -> dict[str, set[str]]:
    """Per file of `package`, the project packages (and flask) it imports that its
    layer may not."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        wrong = (imported(path) & (PROJECT | {"flask"})) - ALLOWED[package]
        if wrong:
            found[str(path.relative_to(ROOT))] = wrong
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_lower_layer_imports_nothing_above_it(package):
    assert crossings(package) == {}


def test_the_service_and_the_monitoring_package_share_no_module_name():
    service = {p.stem for p in (ROOT / "service").glob("*.py")}
    assert "monitoring" not in service
    assert service & {p.stem for p in (ROOT / "monitoring").glob("*.py")} <= {
        "__init__"
    }
