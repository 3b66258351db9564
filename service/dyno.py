"""Pull the served model from the DVC remote when the app boots on a dyno (or a container).

Heroku's slug holds the code, `dvc.yaml` and `dvc.lock` but never the model (it is a DVC
output, ignored by git). At boot the gunicorn master (preload_app) runs `dvc pull model`
once, before the app loads it, so every worker shares one verified copy. A dyno has no
`.git`, so DVC runs with `core.no_scm` from a throwaway global config: the slug's own DVC
config is never rewritten. The pull runs in a child process so the master (and the
workers forked from it) never import DVC.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

from service.model_store import ModelError

ROOT = Path(__file__).resolve().parent.parent
# The train stage's output in dvc.yaml: the only thing a dyno needs (no raw data).
PULL_TARGET = "model"
# Seconds; Heroku kills a web dyno that has not bound $PORT 60 s after start, and loading
# the model and forking the workers still have to fit after the pull.
DEFAULT_PULL_TIMEOUT = 40.0
# The name given to a remote defined only by the DVC_REMOTE_URL config var.
URL_REMOTE_NAME = "env"
TRUE = {"1", "true", "yes", "on"}


class ModelPullError(ModelError):
    """The model could not be pulled from the DVC remote."""


@dataclass(frozen=True)
class Remote:
    """A DVC remote: its name in the config and where it points."""

    name: str
    url: str


def should_pull(environ: Mapping[str, str]) -> bool:
    """PULL_MODEL decides when set; otherwise pull exactly when running on a dyno."""
    explicit = environ.get("PULL_MODEL", "").strip().lower()
    if explicit:
        return explicit in TRUE
    return bool(environ.get("DYNO"))


def read_dvc_config(root: Path) -> configparser.ConfigParser:
    """The repo's DVC config (.dvc/config, then .dvc/config.local over it)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    return parser


def configured_remote(root: Path, environ: Mapping[str, str]) -> Remote:
    """The remote to pull from: DVC_REMOTE_URL, else DVC_REMOTE or the default remote."""
    url = environ.get("DVC_REMOTE_URL", "").strip()
    if url:
        if is_local(url):
            url = os.path.normpath(root.resolve() / url)
        return Remote(URL_REMOTE_NAME, url)
    config = read_dvc_config(root)
    name = environ.get("DVC_REMOTE", "").strip() or config.get(
        "core", "remote", fallback=""
    )
    section = f"'remote \"{name}\"'"
    if not name or not config.has_option(section, "url"):
        raise ModelPullError(
            f"no DVC remote {name!r} in {root / '.dvc' / 'config'}; "
            "set DVC_REMOTE_URL (or DVC_REMOTE) to where `make push` put the model"
        )
    url = config.get(section, "url")
    if is_local(url) and not os.path.isabs(url):
        # DVC resolves a relative local remote against the config file's folder.
        url = os.path.normpath(root.resolve() / ".dvc" / url)
    return Remote(name, url)


def global_config(remote: Remote, site_cache: Path) -> str:
    """A DVC global config: no git, no analytics, and the DVC_REMOTE_URL remote if any."""
    lines = [
        "[core]",
        "    no_scm = true",
        "    analytics = false",
        f"    site_cache_dir = {site_cache}",
    ]
    if remote.name == URL_REMOTE_NAME:
        lines += [f"['remote \"{remote.name}\"']", f"    url = {remote.url}"]
    return "\n".join(lines) + "\n"


def shown(url: str) -> str:
    """The URL for logs, any password in it masked."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def pull_timeout(environ: Mapping[str, str]) -> float:
    """DVC_PULL_TIMEOUT in seconds, or the default."""
    raw = environ.get("DVC_PULL_TIMEOUT") or str(DEFAULT_PULL_TIMEOUT)
    try:
        return float(raw)
    except ValueError:
        raise ModelPullError(f"DVC_PULL_TIMEOUT={raw!r} is not a number of seconds")


def pull_failure_reason(output: str) -> str:
    """One line saying why `dvc pull` failed, from DVC's own output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if any("neither locally nor on remote" in line for line in lines):
        missing = [line for line in lines if line.startswith("md5:")]
        hashes = ", ".join(line.split()[-1] for line in missing) or "?"
        return (
            f"the model dvc.lock names ({hashes}) is not on the remote; "
            "run `make push` from the commit being deployed"
        )
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["dvc printed nothing"])[-1]


def is_local(url: str) -> bool:
    """A remote that is a plain directory (no scheme)."""
    return "://" not in url


def pull_model(root: Path, environ: Mapping[str, str]) -> Remote:
    """`dvc pull model` from the configured remote, or raise ModelPullError naming it."""
    remote = configured_remote(root, environ)
    timeout = pull_timeout(environ)
    where = f"DVC remote '{remote.name}' ({shown(remote.url)})"
    if is_local(remote.url) and not Path(remote.url).is_dir():
        raise ModelPullError(
            f"could not pull the model from {where}: no such directory "
            "(set DVC_REMOTE_URL to the remote `make push` wrote to)"
        )
    with tempfile.TemporaryDirectory(prefix="census-dvc-") as tmp:
        config_dir = Path(tmp) / "config"
        config_dir.mkdir()
        (config_dir / "config").write_text(global_config(remote, Path(tmp) / "site"))
        env = {**environ, "DVC_GLOBAL_CONFIG_DIR": str(config_dir)}
        env["DVC_NO_ANALYTICS"] = "1"
        cmd = [sys.executable, "-m", "dvc", "pull", "--remote", remote.name]
        try:
            done = subprocess.run(
                cmd + [PULL_TARGET],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise ModelPullError(
                f"could not pull the model from {where}: timed out after {timeout:g} s"
            ) from exc
    if done.returncode != 0:
        reason = pull_failure_reason(done.stderr + "\n" + done.stdout)
        password = urlsplit(remote.url).password
        if password:
            reason = reason.replace(password, "***")
        raise ModelPullError(f"could not pull the model from {where}: {reason}")
    return remote


def pull_model_at_boot(
    root: Path = ROOT, environ: Mapping[str, str] | None = None
) -> Remote | None:
    """On a dyno (or with PULL_MODEL=1), pull the model once; returns the remote used."""
    environ = os.environ if environ is None else environ
    if not should_pull(environ):
        return None
    started = time.monotonic()
    remote = pull_model(root, environ)
    print(
        f"census-service: pulled the model from DVC remote '{remote.name}' "
        f"({shown(remote.url)}) in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return remote
