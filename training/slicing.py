"""Slice-based evaluation: how the classifier does on each value of a feature.

The arithmetic (`add_bands`, `slice_metrics`) is monitoring/slices.py's, shared with the
monitoring report; here `format_slices` renders the table as text and `weakest_slices`
picks the worst judgeable slices.
"""

from __future__ import annotations

import pandas as pd

from monitoring.slices import add_bands, slice_metrics

__all__ = ["add_bands", "slice_metrics", "format_slices", "weakest_slices"]

TOO_SMALL = "too small to judge"
# A feature with more slices below min_support than this has them counted, not listed:
# an ID-like column would otherwise fill the report with hundreds of one-row slices.
LISTED_SMALL = 20
# Slice measures where higher is worse.
ERRORS = ("rmse", "mae")


def format_slices(table: pd.DataFrame, overall: dict[str, float]) -> str:
    """Plain-text slice report: overall scores, then one block per feature.

    The margin shown in FLAGGED markers comes from overall["f1_margin"] if given,
    else from table.attrs (set by slice_metrics).
    """
    margin = overall.get("f1_margin", table.attrs.get("f1_margin"))
    min_support = overall.get("min_support", table.attrs.get("min_support"))
    lines = [
        "Slice performance",
        f"Overall: precision {overall['precision']:.3f}  "
        f"recall {overall['recall']:.3f}  F1 {overall['f1']:.3f}",
    ]
    if margin is not None:
        rule = f"Flagged: F1 more than {margin:.3f} below overall F1"
        if min_support is not None:
            rule += f"; slices with support < {int(min_support)}"
            positives = table.attrs.get("min_positives")
            if positives:
                rule += f" or fewer than {int(positives)} positive labels"
            rule += " are too small to judge"
        lines.append(rule + ".")
    for feature, block in table.groupby("feature", sort=False):
        unlisted = 0
        if min_support is not None:
            below = block["support"] < int(min_support)
            if below.sum() > LISTED_SMALL:
                block, unlisted = block[~below], int(below.sum())
        values = [str(v) for v in block["value"]]
        width = max([len("value"), *(len(v) for v in values)])
        lines += [
            "",
            f"== {feature} ==",
            f"  {'value':<{width}}  {'support':>7}  {'precision':>9}  "
            f"{'recall':>6}  {'f1':>5}",
        ]
        for value, row in zip(values, block.itertuples(index=False)):
            line = (
                f"  {value:<{width}}  {row.support:>7d}  {row.precision:>9.3f}  "
                f"{row.recall:>6.3f}  {row.f1:>5.3f}"
            )
            if row.too_small:
                line += f"  {TOO_SMALL}"
            elif row.flagged:
                by = f"> {margin:.3f}" if margin is not None else "too much"
                line += f"  FLAGGED: F1 {row.f1:.3f} below overall by {by}"
            lines.append(line)
        if unlisted:
            lines.append(
                f"  ({unlisted} more slices with support < {int(min_support)} not "
                "listed; slice_output.json has them)"
            )
    return "\n".join(lines) + "\n"


def weakest_slices(table: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The n judgeable (not too_small) slices with the lowest F1, lowest first (or by
    table.attrs["rank_by"]: a multiclass table's f1_macro, a regression's rmse, whose
    highest is the weakest)."""
    judgeable = table[~table["too_small"].astype(bool)]
    by = table.attrs.get("rank_by", "f1")
    # Stable sort: ties keep the table's feature/value order, so output is repeatable.
    weakest = judgeable.sort_values(by, kind="stable", ascending=by not in ERRORS)
    return weakest.head(n).reset_index(drop=True)
