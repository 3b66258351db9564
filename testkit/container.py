"""Build and run the project's image without a Docker engine: Debian's buildah and podman.

Used by the container test (tests/deploy/test_container_image.py) and by `make
bench-image`. No registry is reachable here, so the base image (`python:3.11-slim`) is
replaced by a stand-in built locally: a minimal Debian bookworm from debootstrap with
Debian's Python 3.11 and venv, substituted for the Dockerfile's first FROM with `buildah
bud --from`. Everything runs as root (buildah/podman with overlay storage); `sudo -n` is
used when the caller is not root and may.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ("buildah", "podman", "runc", "skopeo", "debootstrap")
# Ubuntu (GitHub's runners) needs Debian's archive key to debootstrap bookworm.
EXTRA_PACKAGES = ("debian-archive-keyring", "uidmap")
SUITE = "bookworm"
INCLUDE = "python3,python3-venv,python3-pip"
STANDIN_REPO = "localhost/census-stand-in"
# Kept between runs (/var/tmp survives reboots, /tmp may not); keyed by a hash.
CACHE = Path(os.environ.get("CENSUS_CONTAINER_CACHE", "/var/tmp/census-service"))
# What podman needs on these machines: no systemd (cgroupfs), runc as the runtime, and
# limits no higher than the sandbox's own (podman's defaults are refused).
RUN_FLAGS = (
    "--runtime",
    "runc",
    "--cgroup-manager",
    "cgroupfs",
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=4096:4096",
)
# Trust the same certificate authorities as this machine (a proxy's CA included), so pip
# inside the build reaches the package index the way the host does.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class EngineUnavailable(RuntimeError):
    """buildah/podman cannot be used here (not root, no apt-get, install failed)."""


def as_root() -> list[str]:
    """The command prefix that runs as root: nothing, or `sudo -n`."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"]).returncode == 0:
        return ["sudo", "-n"]
    raise EngineUnavailable("buildah and podman need root here (or sudo -n)")


def sh(*cmd: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run `cmd` as root; output captured as text; raises on failure with its output."""
    done = subprocess.run(
        [*as_root(), *cmd], capture_output=True, text=True, timeout=timeout, **kw
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(
            f"{' '.join(cmd[:3])} ... failed ({done.returncode}):\n{tail}"
        )
    return done


def ensure_engine() -> None:
    """Install buildah, podman, runc, skopeo and debootstrap from apt when missing."""
    if all(shutil.which(name) for name in PACKAGES):
        as_root()
        return
    if not shutil.which("apt-get"):
        raise EngineUnavailable("no apt-get to install " + ", ".join(PACKAGES))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sh("apt-get", "update", "-qq", env=env)
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
    sh(*install, *PACKAGES, *EXTRA_PACKAGES, env=env)


def standin_key() -> str:
    """Hash of what the stand-in base is made of (suite, packages, trusted CAs)."""
    digest = hashlib.sha256(f"{SUITE}|{INCLUDE}|minbase".encode())
    if HOST_CA_BUNDLE.is_file():
        digest.update(HOST_CA_BUNDLE.read_bytes())
    return digest.hexdigest()[:12]


def image_exists(ref: str) -> bool:
    return (
        subprocess.run([*as_root(), "podman", "image", "exists", ref]).returncode == 0
    )


def standin_base() -> str:
    """The stand-in base image, built once and cached (storage, then a tarball)."""
    ref = f"{STANDIN_REPO}:{standin_key()}"
    if image_exists(ref):
        return ref
    tarball = CACHE / f"stand-in-{standin_key()}.tar"
    if not tarball.is_file():
        debootstrap_tarball(tarball)
    change = [
        "--change",
        f"ENV PIP_CERT={HOST_CA_BUNDLE}",
        "--change",
        'CMD ["python3"]',
    ]
    sh("podman", "import", "--quiet", *change, str(tarball), ref)
    return ref


def debootstrap_tarball(tarball: Path) -> None:
    """debootstrap a minimal bookworm with Python 3.11 + venv into `tarball`."""
    sh("mkdir", "-p", str(tarball.parent))
    with tempfile.TemporaryDirectory(prefix="stand-in-", dir=tarball.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        variant = ["--variant=minbase", f"--include={INCLUDE}"]
        sh("debootstrap", *variant, SUITE, str(rootfs), timeout=900)
        if HOST_CA_BUNDLE.is_file():
            sh("cp", str(HOST_CA_BUNDLE), str(rootfs / "etc/ssl/certs/"))
        partial = tarball.with_suffix(".partial")
        sh("tar", "-C", str(rootfs), "-cf", str(partial), ".")
        sh("mv", str(partial), str(tarball))
        sh("rm", "-rf", str(rootfs))


def build(
    context: Path,
    tag: str,
    base: str,
    target: str | None = None,
    build_args: dict[str, str] | None = None,
) -> float:
    """`buildah bud` the context's unchanged Dockerfile on `base`; seconds taken."""
    cmd = ["buildah", "bud", "--isolation", "chroot", "--pull-never", "--layers"]
    cmd += ["--from", base, "--format", "docker", "--tag", tag]
    if target:
        cmd += ["--target", target]
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    started = time.monotonic()
    sh(*cmd, str(context), timeout=1200)
    return time.monotonic() - started


def inspect(ref: str) -> dict:
    """`podman image inspect` of one image."""
    return json.loads(sh("podman", "image", "inspect", ref).stdout)[0]


def size(ref: str) -> int:
    """Bytes of the image (all its layers, uncompressed)."""
    return int(inspect(ref)["Size"])


def run_flags(name: str, port: int, network: str = "host", **env: str) -> list[str]:
    """`podman run` arguments: by default the host's network with the server bound to
    127.0.0.1:port (no port publishing, so nothing listens beyond loopback)."""
    flags = ["--name", name, *RUN_FLAGS, "--network", network]
    for key, value in {"HOST": "127.0.0.1", "PORT": str(port), **env}.items():
        flags += ["--env", f"{key}={value}"]
    return flags


def remove(name: str) -> None:
    """Remove a container, running or not; nothing if it is gone."""
    subprocess.run(
        [*as_root(), "podman", "rm", "--force", "--time", "0", name],
        capture_output=True,
    )


PACKAGE_SIZES = r"""
import importlib.metadata as md, json, os, sys, sysconfig
site = sysconfig.get_path("purelib")
seen, rows = set(), {}
for dist in md.distributions(path=[site]):
    total = 0
    for f in dist.files or []:
        path = os.path.realpath(os.path.join(site, f))
        if path not in seen and os.path.isfile(path):
            seen.add(path)
            total += os.path.getsize(path)
    rows[dist.metadata["Name"]] = total
for top, _, files in os.walk(sys.prefix):
    for f in files:
        path = os.path.realpath(os.path.join(top, f))
        if path not in seen and os.path.isfile(path):
            seen.add(path)
            rows["(venv: other files)"] = rows.get("(venv: other files)", 0) + os.path.getsize(path)
print(json.dumps(rows))
"""


def package_sizes(ref: str) -> dict[str, int]:
    """Bytes on disk per installed distribution in the image's venv (no network)."""
    out = sh(
        "podman", "run", "--rm", *RUN_FLAGS, "--network", "none", "--entrypoint",
        "python", ref, "-c", PACKAGE_SIZES,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def breakdown(ref: str, base: str, top: int = 12) -> str:
    """A few lines: size above the base, layers, and the biggest packages."""
    above = size(ref) - size(base)
    sizes = package_sizes(ref)
    lines = [f"{ref}: {above / 1e6:.0f} MB above the base ({size(base) / 1e6:.0f} MB)"]
    lines.append(f"  venv: {sum(sizes.values()) / 1e6:.0f} MB in {len(sizes)} packages")
    for name, nbytes in sorted(sizes.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {nbytes / 1e6:7.1f} MB  {name}")
    return "\n".join(lines)
