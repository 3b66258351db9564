"""The monitoring package and the service's module that wires it into Flask keep apart
names (what monitoring may import is the import contract's: pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_service_and_the_monitoring_package_share_no_module_name():
    service = {p.stem for p in (ROOT / "service").glob("*.py")}
    assert "monitoring" not in service
    assert service & {p.stem for p in (ROOT / "monitoring").glob("*.py")} <= {
        "__init__"
    }
