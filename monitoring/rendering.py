"""What the model card and the monitoring report share in how they look: numbers in
text, markdown tables, figure colours and PNG files written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bundle.files import write_bytes_atomic

DPI = 120
FLAG_COLOR = "tab:red"
BAR_COLOR = "tab:blue"


def plain(value: Any) -> Any:
    """numpy scalars as Python scalars, so they print without a type wrapper."""
    return value.item() if isinstance(value, np.generic) else value


def number(value: Any, digits: int = 4) -> str:
    """A number with fixed decimals; blanks and non-numbers as text."""
    value = plain(value)
    if value is None:
        return "n/a"
    if isinstance(value, float) and value != value:
        return "n/a"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return str(value)


def cell(text: Any) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A markdown table as lines."""
    lines = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def save_figure(fig: Figure, path: Path) -> Path:
    """Render fig to PNG bytes, then write them atomically to path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return write_bytes_atomic(Path(path), buf.getvalue())
