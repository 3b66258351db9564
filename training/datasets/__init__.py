"""Data set loaders: where the raw files come from and how they become clean tables.

`data.loader` in params.yaml names one: `uci_adult` (the census example), `csv` (a CSV of
your own with a header row: `data.source` is its path), or the dotted path of a module of
your own, such as `examples.german_credit.dataset`. A loader module provides:

- `fetch(paths, data) -> {name: path}`: the raw files in data/raw, verified;
- `load(paths, params) -> {"train": frame, "test": frame}`: cleaned tables, target included
  (any other columns, such as an attribute kept only for the bias audit, may come along);
- `CLEANING_STEPS`: what `load` does, in words, for the model card;
- `describe(data) -> str`: the data's origin, in words, for the model card.

Without `data.loader`, a `data.source` that is a path means `csv` (the README's
"bring your own data" steps; training/params.py resolves it). A loader gets the `data:`
section and the params as mappings (`Params.data.options`, `Params.raw`): a loader of your
own may read keys of its own there.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from training.config import ConfigError

BUILT_IN = {"uci_adult": "training.datasets.uci_adult", "csv": "training.datasets.csv"}
REQUIRED = ("fetch", "load", "CLEANING_STEPS", "describe")


def dataset_for(name: str) -> ModuleType:
    """The loader module `data.loader` names, checked to provide what the stages call."""
    module_name = BUILT_IN.get(name, name)
    if "." not in module_name:
        raise ConfigError(
            f"data.loader {name!r} is not one of {', '.join(BUILT_IN)} "
            "nor a module path such as examples.german_credit.dataset"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"data.loader {name!r} cannot be imported: {exc}") from exc
    lacking = [attr for attr in REQUIRED if not hasattr(module, attr)]
    if lacking:
        raise ConfigError(f"data.loader {name!r} lacks {', '.join(lacking)}")
    return module
