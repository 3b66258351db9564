"""The docs page as a person sees it: headless Chromium renders /docs from the server.

Chromium comes from Debian's `chromium` package; the fixture installs it when it is
missing and it can (root with apt-get). In CI (CI=true) the test must run, so a missing
browser is a failure there, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from testkit.tools import required

pytestmark = pytest.mark.slow
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=8000",
]


def find_or_install_chromium() -> str | None:
    """Path to chromium, installing Debian's package when possible."""
    found = shutil.which("chromium")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=300)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium"],
        env=env,
        check=False,
        timeout=600,
    )
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    return required(
        "Chromium",
        find_or_install_chromium(),
        "Chromium is not installed and cannot be installed here (not root/apt)",
    )


def run_chromium(
    chromium: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_docs_page_renders_the_predict_operation(
    chromium, live_server, tmp_path, loaded_model
):
    result = run_chromium(chromium, tmp_path, "--dump-dom", f"{live_server}/docs")
    dom = result.stdout
    assert "swagger-ui" in dom, result.stderr[-2000:]
    # Swagger UI rendered the spec it fetched from this server: the operations are there.
    assert 'data-path="/predict"' in dom
    assert 'data-path="/predict/batch"' in dom
    assert f"{loaded_model.metadata.project.name} API" in dom


def test_docs_page_screenshot_is_written(chromium, live_server, tmp_path):
    shot = tmp_path / "docs.png"
    run_chromium(
        chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,900",
        f"{live_server}/docs",
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
