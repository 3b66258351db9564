"""The rule for a program a test needs (Chromium, Prometheus, HAProxy, a container
engine): the test installs it itself where it can; in CI a program that is still missing
fails the test, anywhere else it skips, saying why."""

from __future__ import annotations

import os

import pytest


def required(name: str, path: str | None, why: str = "") -> str:
    """`path` if the program was found or installed; otherwise fail in CI, else skip."""
    if path is not None:
        return path
    reason = why or f"{name} is not installed and cannot be installed here"
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI and could not be installed: {reason}")
    pytest.skip(reason)
