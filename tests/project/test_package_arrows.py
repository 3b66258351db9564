"""What the import contract (tests/project/test_import_contract.py) cannot see: the project
root and the configuration error are defined once, in `bundle/`; the training modules
import each other without a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from bundle.paths import ROOT

PACKAGES = ("bundle", "training", "service", "deploy", "batch", "monitoring")
PACKAGES += ("testkit", "bench")  # the helpers and benchmarks use the same root


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module and `module.name` that `path` imports, at any depth (lazy imports
    included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_project_root_and_the_configuration_error_are_defined_once():
    defined: dict[str, list[str]] = {"ROOT": [], "ConfigError": []}
    for package in PACKAGES:
        for path in modules(package):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and node.name in defined:
                    defined[node.name].append(str(path.relative_to(ROOT)))
                targets = node.targets if isinstance(node, ast.Assign) else []
                for target in targets:
                    if isinstance(target, ast.Name) and target.id in defined:
                        defined[target.id].append(str(path.relative_to(ROOT)))
    assert defined == {"ROOT": ["bundle/paths.py"], "ConfigError": ["bundle/errors.py"]}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_training_modules_import_each_other_without_a_cycle():
    graph = {module_name(p): imported(p) for p in modules("training")}
    edges = {
        name: {m for m in graph if m != name and any(i == m or i.startswith(m + ".")
               for i in names)}  # fmt: skip
        for name, names in graph.items()
    }
    done: set[str] = set()

    def cycle_from(name: str, path: tuple[str, ...]) -> tuple[str, ...]:
        if name in path:
            return path[path.index(name) :] + (name,)
        if name in done:
            return ()
        for target in sorted(edges[name]):
            found = cycle_from(target, path + (name,))
            if found:
                return found
        done.add(name)
        return ()

    assert [c for c in (cycle_from(n, ()) for n in sorted(edges)) if c] == []
