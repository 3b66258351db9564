"""The Heroku path, offline: build the slug, install it, boot it like a dyno, smoke-test it.

No Heroku is reachable from here, so this does what the platform does (see
testkit/slug.py) on 127.0.0.1: the slug is this checkout minus `.slugignore`, with no
`.git` and no model; the session's trained model is pushed to a temporary DVC remote the
way `make push` would; the Procfile's web command must pull it, serve it, pass
smoke_test.py and stop cleanly on SIGTERM inside Heroku's 30 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from testkit.servers import free_port
from testkit.slug import (
    ROOT,
    boot,
    build_slug,
    dyno_env,
    install_requirements,
    push_model,
    seconds_to_healthy,
    terminate,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def heroku(tmp_path_factory, trained) -> SimpleNamespace:
    """A built slug with its own Python, and a DVC remote holding the session's model."""
    base = tmp_path_factory.mktemp("heroku")
    slug = build_slug(base / "app")
    remote = base / "dvc-remote"
    (slug / "dvc.lock").write_text(push_model(trained.root, remote))
    venv = install_requirements(slug, base / "python", compile_bytecode=False)
    return SimpleNamespace(base=base, slug=slug, remote=remote, venv=venv)


@pytest.fixture
def dyno(heroku) -> SimpleNamespace:
    """A new dyno: the slug as built, nothing pulled yet."""
    for leftover in ("model", ".dvc/cache", ".dvc/tmp"):
        shutil.rmtree(heroku.slug / leftover, ignore_errors=True)
    return heroku


def test_the_slug_has_no_git_no_model_and_no_tests(dyno):
    for absent in (".git", "model", "tests", "training", "data"):
        assert not (dyno.slug / absent).exists(), absent
    assert (dyno.slug / "Procfile").is_file()


def test_a_dyno_pulls_the_model_once_serves_it_and_stops_cleanly(dyno, loaded_model):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dyno_env(dyno.venv, port, DVC_REMOTE_URL=str(dyno.remote))
    proc = boot(dyno.slug, env)
    try:
        boot_seconds = seconds_to_healthy(url, proc, limit=60)
        smoke = subprocess.run(
            [sys.executable, str(ROOT / "smoke_test.py"), url, "--attempts", "3"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        code, stop_seconds = terminate(proc, grace=30)
    log = proc.stdout.read()
    print(f"\ndyno simulation: healthy {boot_seconds:.1f} s after start; ", end="")
    print(f"SIGTERM -> exit {code} in {stop_seconds:.1f} s\n{smoke.stdout}")
    assert smoke.returncode == 0, smoke.stdout + log
    assert loaded_model.version in smoke.stdout
    assert log.count("pulled the model from DVC remote 'env'") == 1, log
    assert log.count("Booting worker") == 2, log
    assert code == 0 and stop_seconds < 30, log


def boot_fails(dyno, remote_url: str) -> tuple[int, str, float]:
    """Boot with DVC_REMOTE_URL=remote_url; (exit code, output, seconds to exit)."""
    env = dyno_env(dyno.venv, free_port(), DVC_REMOTE_URL=remote_url)
    started = time.monotonic()
    proc = boot(dyno.slug, env)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        terminate(proc)
        pytest.fail("the dyno kept booting without a model")
    return proc.returncode, out, time.monotonic() - started


def test_an_unreachable_remote_stops_the_boot_fast_naming_the_remote(dyno):
    nowhere = dyno.base / "no-such-remote"
    code, out, seconds = boot_fails(dyno, str(nowhere))
    assert code != 0
    line = (
        f"refusing to start: could not pull the model from DVC remote 'env' ({nowhere})"
    )
    assert line in out
    assert seconds < 15
    assert not (dyno.slug / "model").exists()


def test_a_remote_without_this_model_stops_the_boot_saying_to_push(dyno):
    empty = dyno.base / "empty-remote"
    empty.mkdir(exist_ok=True)
    code, out, _ = boot_fails(dyno, str(empty))
    assert code != 0
    assert "is not on the remote; run `make push`" in out
