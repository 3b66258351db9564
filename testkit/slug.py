"""Build a Heroku slug from this checkout and boot it like a dyno, on 127.0.0.1.

What Heroku does, step by step: take the pushed commit's files (no `.git`), delete what
`.slugignore` names, install `requirements.txt` (the hashed lock of `make lock`, so pip
checks every file's hash) into a fresh Python, then run the Procfile's
`web` command in the slug with `PORT` and `DYNO` set. The model is not in git: the boot
pulls it from the DVC remote that `make push` filled. Used by the dyno simulation test and
by `bench/dyno_boot.py` (`python -m bench.dyno_boot`), and by the container tests.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testkit.servers import ROOT, wait_healthy
from training.config import Paths


def git_files(root: Path, *args: str) -> list[str]:
    """`git ls-files` in `root`, as paths relative to it."""
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [p for p in out.split("\0") if p]


def checkout_files(root: Path = ROOT) -> list[str]:
    """The files a push would carry: tracked, plus new ones not ignored, that exist."""
    names = set(git_files(root, "--cached", "--others", "--exclude-standard"))
    return sorted(n for n in names if (root / n).is_file())


def slugignored(root: Path = ROOT) -> set[str]:
    """Checkout files `.slugignore` removes (gitignore-style patterns, no negation)."""
    import pathspec

    lines = (root / ".slugignore").read_text().splitlines()
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    return {n for n in checkout_files(root) if spec.match_file(n)}


def slug_files(root: Path = ROOT) -> list[str]:
    """What ends up in the slug: the checkout minus `.slugignore`."""
    dropped = slugignored(root)
    return [n for n in checkout_files(root) if n not in dropped]


def copy_files(root: Path, names: list[str], dest: Path) -> Path:
    """Copy `names` (relative to `root`) into `dest`, keeping their folders."""
    for name in names:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    return dest


def build_slug(dest: Path, root: Path = ROOT) -> Path:
    """The slug's source tree in `dest`: no .git, no slugignored files, no model."""
    return copy_files(root, slug_files(root), dest)


def install_requirements(slug: Path, venv: Path, compile_bytecode: bool) -> Path:
    """A fresh venv with the slug's requirements.txt installed (what the buildpack does).

    Plain `pip install -r`, as the buildpack runs it: the lock's hashes switch pip's hash
    checking on by themselves.
    """
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    cmd = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    cmd += ["install", "-q", "--disable-pip-version-check", "-r", "requirements.txt"]
    if not compile_bytecode:
        cmd.append("--no-compile")
    done = subprocess.run(cmd, cwd=slug, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip install -r requirements.txt failed:\n{done.stderr}")
    return venv


def dvc_env(config_dir: Path, remote_url: str) -> dict[str, str]:
    """Environment for running DVC outside git with a `bench` remote at `remote_url`."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config").write_text(
        "[core]\n    no_scm = true\n    analytics = false\n"
        f"['remote \"bench\"']\n    url = {remote_url}\n"
    )
    env = {**os.environ, "DVC_GLOBAL_CONFIG_DIR": str(config_dir)}
    env["DVC_NO_ANALYTICS"] = "1"
    return env


# What `dvc commit evaluate` needs besides the checkout: the stage's untracked deps and
# outs (the stage publishing model/ with its reports).
_AT = Paths(root=Path())
TRAINED = tuple(
    str(p)
    for p in (
        _AT.model_dir,
        _AT.processed,
        _AT.fitted,
        _AT.staged_bundle,
        _AT.reports,
        _AT.model_card,
    )
)


def push_model(project: Path, remote: Path, root: Path = ROOT) -> str:
    """As a developer would: record the model of the trained `project` folder in dvc.lock
    and push it to `remote`.

    Works in a scratch copy of the checkout (the evaluate stage's deps and outs must
    exist for `dvc commit`); returns the resulting dvc.lock text, which the slug then carries.
    """
    dvc = [sys.executable, "-m", "dvc"]
    with tempfile.TemporaryDirectory(prefix="model-dev-") as tmp:
        dev = copy_files(root, checkout_files(root), Path(tmp) / "checkout")
        for name in TRAINED:
            target = dev / name
            if (project / name).is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(project / name, target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(project / name, target)
        env = dvc_env(Path(tmp) / "dvc-config", str(remote))
        for args in (
            ["commit", "--force", "evaluate"],
            ["push", "-r", "bench", "evaluate"],
        ):
            subprocess.run(
                dvc + args, cwd=dev, env=env, check=True, capture_output=True
            )
        return (dev / "dvc.lock").read_text()


def procfile_command(slug: Path, process: str = "web") -> list[str]:
    """The Procfile's command for `process`, split as a shell would."""
    for line in (slug / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return shlex.split(command.strip())
    raise KeyError(f"Procfile has no {process!r} process")


def dyno_env(venv: Path, port: int, **extra: str) -> dict[str, str]:
    """A dyno's environment: little more than PATH, PORT and DYNO (plus config vars)."""
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PORT": str(port),
        "DYNO": "web.1",
        # Heroku listens on 0.0.0.0; here every server stays on loopback.
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
    }
    env.update(extra)
    return env


def boot(slug: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start the Procfile's web command in the slug, in a process group of its own."""
    return subprocess.Popen(
        procfile_command(slug),
        cwd=slug,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def seconds_to_healthy(url: str, proc: subprocess.Popen, limit: float = 60.0) -> float:
    """Seconds until GET /health is 200 (Heroku allows 60 to bind)."""
    return wait_healthy(url, proc, timeout=limit)


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig` to every process of the dyno (its process group)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def terminate(proc: subprocess.Popen, grace: float = 30.0) -> tuple[int | None, float]:
    """Stop a dyno like Heroku: SIGTERM to all its processes, SIGKILL after `grace` s.

    Returns the exit code (None if it had to be killed) and the seconds it took.
    """
    start = time.monotonic()
    signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(grace)
        return proc.returncode, time.monotonic() - start
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGKILL)
        proc.wait()
        return None, time.monotonic() - start


def compressed_size(slug: Path, venv: Path) -> int:
    """Bytes of a tar.gz of the slug plus the installed packages (roughly Heroku's)."""
    site = next((venv / "lib").glob("python3*/site-packages"))
    tar = subprocess.Popen(
        ["tar", "-czf", "-", "-C", str(slug), ".", "-C", str(site.parent), site.name],
        stdout=subprocess.PIPE,
    )
    size = 0
    assert tar.stdout is not None
    for chunk in iter(lambda: tar.stdout.read(1 << 20), b""):
        size += len(chunk)
    if tar.wait() != 0:
        raise RuntimeError("tar failed")
    return size
