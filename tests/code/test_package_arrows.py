"""The packages' arrows (docs/architecture.md): `service/` is the HTTP app only, so
`deploy/` reaches into it for the app factory alone and `batch/` and `training/` never
do; the project root and the configuration error are defined once, in `bundle/`."""

from __future__ import annotations

import ast
from pathlib import Path

from bundle.paths import ROOT

# deploy builds the app: the factory and the settings it takes (which the one generated
# list of settings, deploy/settings.py, also documents).
APP_FACTORY = {"service.create_app", "service.Settings"}
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


def into(package: str, names: set[str]) -> set[str]:
    return {n for n in names if n == package or n.startswith(package + ".")}


def test_batch_and_training_never_import_the_http_app():
    found = {
        str(path.relative_to(ROOT)): into("service", imported(path))
        for package in ("batch", "training")
        for path in modules(package)
    }
    assert {path: names for path, names in found.items() if names} == {}


def test_deploy_imports_from_the_http_app_only_its_factory_in_the_start_sequence():
    found = set().union(*(into("service", imported(p)) for p in modules("deploy")))
    assert found == APP_FACTORY


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


def test_evaluate_measures_the_bundle_without_importing_the_export_stage():
    assert into("training.export", imported(ROOT / "training" / "evaluate.py")) == set()
