"""Pull the served model from the DVC remote when the server starts on a platform.

Heroku's slug (or a pull-at-boot image) holds the code, `dvc.yaml` and `dvc.lock` but never
the model (it is a DVC output, ignored by git). The start sequence (deploy/serve.py) runs
`dvc pull model` once, before the model is loaded and the workers fork, so every worker
shares one verified copy. A dyno has no
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

from bundle.format import BundleError
from bundle.paths import ROOT
from deploy.settings import ServerSettings

# The published bundle in dvc.yaml (an output of evaluate): all a server needs (no raw data).
PULL_TARGET = "model"
# The name given to a remote defined only by the DVC_REMOTE_URL config var.
URL_REMOTE_NAME = "env"


class ModelPullError(BundleError):
    """The model could not be pulled from the DVC remote."""


@dataclass(frozen=True)
class Remote:
    """A DVC remote: its name in the config and where it points."""

    name: str
    url: str


def read_dvc_config(root: Path) -> configparser.ConfigParser:
    """The repo's DVC config (.dvc/config, then .dvc/config.local over it)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read([root / ".dvc" / "config", root / ".dvc" / "config.local"])
    return parser


def configured_remote(root: Path, settings: ServerSettings) -> Remote:
    """The remote to pull from: DVC_REMOTE_URL, else DVC_REMOTE or the default remote."""
    url = settings.dvc_remote_url.strip()
    if url:
        if is_local(url):
            url = os.path.normpath(root.resolve() / url)
        return Remote(URL_REMOTE_NAME, url)
    config = read_dvc_config(root)
    name = settings.dvc_remote.strip() or config.get("core", "remote", fallback="")
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


def pull_model(
    root: Path, settings: ServerSettings, environ: Mapping[str, str] | None = None
) -> Remote:
    """`dvc pull model` from the configured remote, or raise ModelPullError naming it.

    `environ` is what DVC runs with (its credentials: AWS_*, AZURE_*, GOOGLE_*)."""
    environ = os.environ if environ is None else environ
    remote = configured_remote(root, settings)
    timeout = settings.dvc_pull_timeout
    where = f"DVC remote '{remote.name}' ({shown(remote.url)})"
    if is_local(remote.url) and not Path(remote.url).is_dir():
        raise ModelPullError(
            f"could not pull the model from {where}: no such directory "
            "(set DVC_REMOTE_URL to the remote `make push` wrote to)"
        )
    with tempfile.TemporaryDirectory(prefix="model-pull-") as tmp:
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


def pull_if_configured(settings: ServerSettings, root: Path = ROOT) -> str | None:
    """On a platform that asks for it, pull the model once; a line saying what was done."""
    if not settings.should_pull:
        return None
    started = time.monotonic()
    remote = pull_model(root, settings)
    return (
        f"pulled the model from DVC remote '{remote.name}' "
        f"({shown(remote.url)}) in {time.monotonic() - started:.1f} s"
    )
