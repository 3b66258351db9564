"""dvc.yaml's code dependencies are derived from the stages' imports, not kept by hand.

Each stage runs `python -m training.<stage>`. The project files that command imports
(statically, transitively, with the packages' __init__ modules that run on the way) are
read here with ast; every one must be listed in the stage's `deps`, itself or through a
folder holding it, and every listed code path must exist and be imported. Loaders that
`data.loader` names are imported dynamically: the stages list them by folder (examples).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from testkit.servers import ROOT

# The folders holding the code a stage may import; a dep under one of them is code.
CODE = ("training", "bundle", "monitoring", "service")


def module_file(root: Path, name: str) -> Path | None:
    """The project file of a dotted module name (a package's __init__.py), or None."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def runs_code(path: Path) -> bool:
    """Whether importing the file runs anything: an empty package marker does not."""
    body = ast.parse(path.read_text()).body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    ):
        body = body[1:]
    return bool(body)


def imported_names(path: Path, package: str) -> set[str]:
    """Every dotted module name the file imports, anywhere in it (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            anchor = (
                ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            )
            base = ".".join(filter(None, [anchor, node.module or ""]))
            # `from pkg import name`: name may be a submodule or an attribute.
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def closure(root: Path, module: str) -> set[str]:
    """The project files (relative to root) that importing `module` executes."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for end in range(1, len(parts) + 1):
            dotted = ".".join(parts[:end])
            path = module_file(root, dotted)
            if path is None or dotted in seen:
                continue
            seen[dotted] = path
            package = (
                dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]
            )
            todo.extend(imported_names(path, package))
    return {str(p.relative_to(root)) for p in seen.values() if runs_code(p)}


def covered(path: str, deps: list[str]) -> bool:
    """Whether a dep names the file or a folder holding it."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def missing_deps(needed: set[str], deps: list[str]) -> list[str]:
    """The imported files no dep covers."""
    return sorted(path for path in needed if not covered(path, deps))


def unneeded_deps(needed: set[str], deps: list[str]) -> list[str]:
    """Code deps that cover no imported file (stale after a refactor, or misspelt)."""
    code = [dep for dep in deps if dep.split("/")[0] in CODE]
    return [dep for dep in code if not any(covered(path, [dep]) for path in needed)]


def dep_paths(stage: dict) -> list[str]:
    """A stage's deps as paths; ${...} entries are DVC's, resolved from params.yaml."""
    deps = [next(iter(d)) if isinstance(d, dict) else d for d in stage.get("deps", [])]
    return [dep for dep in deps if "${" not in dep]


def outputs(stages: dict) -> set[str]:
    """Every path a stage writes: deps that need not exist before `dvc repro`."""
    paths = set()
    for stage in stages.values():
        for key in ("outs", "metrics", "plots"):
            paths |= {
                next(iter(o)) if isinstance(o, dict) else o for o in stage.get(key, [])
            }
    return paths


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
MODULES = {
    name: match.group(1)
    for name, stage in STAGES.items()
    if (match := re.fullmatch(r"python -m (training\.\w+)", stage["cmd"]))
}


def test_every_stage_is_a_python_module_of_training():
    assert MODULES and set(MODULES) == set(STAGES)


@pytest.mark.parametrize("stage", sorted(MODULES))
def test_each_stage_lists_every_project_file_its_module_imports(stage):
    needed = closure(ROOT, MODULES[stage])
    assert f"{MODULES[stage].replace('.', '/')}.py" in needed
    assert missing_deps(needed, dep_paths(STAGES[stage])) == []


@pytest.mark.parametrize("stage", sorted(MODULES))
def test_each_stage_lists_no_code_it_does_not_import_and_nothing_missing(stage):
    deps = dep_paths(STAGES[stage])
    assert unneeded_deps(closure(ROOT, MODULES[stage]), deps) == []
    made = outputs(STAGES)
    assert [dep for dep in deps if dep not in made and not (ROOT / dep).exists()] == []


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_closure_follows_imports_in_functions_from_imports_and_package_inits(
    tmp_path,
):
    root = write(
        tmp_path,
        {
            "app/__init__.py": '"""Marker only."""\n',
            "app/stage.py": "import json\nfrom app import helper\n"
            "def run():\n    from lib.deep import thing\n",
            "app/helper.py": "from .util import x\n",
            "app/util.py": "x = 1\n",
            "app/unused.py": "y = 2\n",
            "lib/__init__.py": "from lib.core import c\n",
            "lib/core.py": "c = 3\n",
            "lib/deep.py": "thing = 4\n",
        },
    )
    assert closure(root, "app.stage") == {
        "app/stage.py",
        "app/helper.py",
        "app/util.py",
        "lib/__init__.py",
        "lib/core.py",
        "lib/deep.py",
    }


def test_a_dep_list_lacking_an_imported_file_or_naming_unused_code_is_reported():
    needed = {"training/fit.py", "training/stage.py", "bundle/files.py"}
    deps = ["data/processed", "training/fit.py", "bundle", "training/clean.py"]
    assert missing_deps(needed, deps) == ["training/stage.py"]
    assert unneeded_deps(needed, deps) == ["training/clean.py"]
    assert missing_deps(needed, [*deps, "training"]) == []


def out_entries(stage: dict) -> dict[str, dict]:
    """A stage's outs and metrics by path, each with its options ({} when none)."""
    entries = {}
    for out in stage.get("outs", []) + stage.get("metrics", []):
        path, options = next(iter(out.items())) if isinstance(out, dict) else (out, {})
        entries[path] = options or {}
    return entries


def test_the_stage_that_publishes_the_model_publishes_every_report_and_keeps_them():
    """DVC deletes a stage's outputs before it runs unless they persist: evaluate's
    must, so a failing evaluate leaves the last good model, reports and card."""
    publishing = [n for n, s in STAGES.items() if "model" in out_entries(s)]
    assert publishing == ["evaluate"]
    outs = out_entries(STAGES["evaluate"])
    assert {"MODEL_CARD.md", "reports/metrics.json", "reports/cleaning.json"} <= set(
        outs
    )
    assert [p for p, o in outs.items() if not o.get("persist")] == []
