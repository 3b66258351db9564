"""The facts a benchmark number depends on: CPU, cores, load, Python and library versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

PACKAGES = ("flask", "flask-smorest", "marshmallow", "gunicorn", "onnxruntime", "numpy")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wrk_version() -> str:
    """`wrk -v`'s first line, or "absent"."""
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    except OSError:
        return "absent"
    return out.split(" [")[0].strip() or "unknown"


def facts() -> dict[str, str]:
    """Machine and software facts, as strings for the report."""
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in PACKAGES)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "load average (1, 5, 15 min)": load,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": versions,
        "load generator": wrk_version(),
    }


def print_facts() -> None:
    """Print the facts as a two-column table."""
    for key, value in facts().items():
        print(f"| {key} | {value} |")


def print_rows(rows) -> None:
    """Print (figure, measured, goal) rows as markdown table lines."""
    for row in rows:
        print("| " + " | ".join(row) + " |")
