"""How every stage's command line ends: one line naming the problem, never a traceback.

A stage refused for its configuration or its data exits 2 with `training <stage>: ...`;
nothing it would have written is half-written (every write is atomic) and the last good
model stays where it is.
"""

from __future__ import annotations

import sys
from typing import Callable

from bundle.format import BundleError
from training.config import ConfigError, DataIntegrityError


def run_stage(name: str, main: Callable[[], int]) -> int:
    """Run a stage's main; a refused configuration or data set is one line, exit 2."""
    try:
        return main()
    except (ConfigError, DataIntegrityError, BundleError) as exc:
        print(f"training {name}: {exc}", file=sys.stderr, flush=True)
        return 2
