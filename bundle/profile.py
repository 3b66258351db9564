"""The names slices carry in the bundle: the missing-value slice and banded columns.

The evaluation, the bias audit and the reference profile (monitoring/profile.py) all
name a slice this way, so the names live on the ground floor every side imports.
"""

from __future__ import annotations

MISSING = "(missing)"
# The evaluation's name for a numeric column cut into bands: its slices, its bias audit
# attribute and its slice group in the reference profile all use it.
BAND_SUFFIX = "-band"


def band_column(col: str) -> str:
    """The banded column of numeric column `col` ("age" -> "age-band")."""
    return f"{col}{BAND_SUFFIX}"
