"""The image, built and run for real: the unchanged Dockerfile, buildah and podman.

No Docker engine and no registry here: the base image is a STAND-IN (debootstrap'd Debian
bookworm with Debian's Python 3.11, see testkit/container.py) substituted for the
Dockerfile's `FROM python:3.11-slim`. The build context is what a push would carry (the
checkout's files; `.dockerignore` filters it), with a dvc.lock naming the session's model,
which is pushed to a temporary DVC remote the way `make push` would. The pull-at-boot
image (S3 plugin) pulls it from there, serves it, passes smoke_test.py and its own
HEALTHCHECK, and stops on SIGTERM with in-flight requests answered; the baked image
serves its model with no DVC inside. The containers share the host's network but listen
on 127.0.0.1 only.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest
import requests

from testkit import container as engine
from testkit.servers import free_port
from testkit.slug import ROOT, checkout_files, copy_files, push_model
from testkit.tools import required

pytestmark = pytest.mark.slow
ABOVE_BASE_LIMIT = 300e6  # bytes the pull-at-boot image (S3 plugin) may add to its base
USER = "10001:10001"
WORKERS = 2
DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
_names = itertools.count()


def engine_or_skip() -> None:
    """Install the engine if needed; in CI a missing engine fails instead of skipping."""
    try:
        engine.ensure_engine()
    except engine.EngineUnavailable as exc:
        required("a container engine", None, str(exc))


@pytest.fixture(scope="module")
def images(tmp_path_factory, trained):
    """The stand-in base, the pull-at-boot image and the baked image, built once."""
    engine_or_skip()
    base_dir = tmp_path_factory.mktemp("image")
    context = copy_files(ROOT, checkout_files(), base_dir / "context")
    remote = base_dir / "dvc-remote"
    lock = push_model(trained.root, remote)
    (context / "dvc.lock").write_text(lock)
    copy_files(trained.model_dir, [p.name for p in trained.model_dir.iterdir()],
               context / "model")  # fmt: skip
    started = time.monotonic()
    base = engine.standin_base()
    base_seconds = time.monotonic() - started
    tag = f"localhost/census-test:{os.getpid()}"
    built = SimpleNamespace(base=base, remote=remote, pull=tag, baked=f"{tag}-baked")
    try:
        built.pull_seconds = engine.build(context, built.pull, base)
        built.baked_seconds = engine.build(context, built.baked, base, target="baked")
        print(f"\nSTAND-IN base {base} (not python:3.11-slim), ready in "
              f"{base_seconds:.0f} s; build: pull-at-boot {built.pull_seconds:.0f} s, "
              f"baked {built.baked_seconds:.0f} s (buildah --layers: reused layers "
              "make a rebuild faster)")  # fmt: skip
        yield built
    finally:
        engine.sh("podman", "rmi", "--force", built.pull, built.baked)


class Container:
    """One `podman run -d` of an image, removed when the test ends."""

    def __init__(self, image: str, *extra: str, network: str = "host", **env: str):
        self.name = f"census-test-{os.getpid()}-{next(_names)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {"WEB_CONCURRENCY": str(WORKERS), **env}
        flags = engine.run_flags(self.name, self.port, network, **env)
        engine.sh("podman", "run", "--detach", *flags, *extra, image)

    def state(self) -> dict:
        out = engine.sh("podman", "inspect", "--format", "{{json .State}}", self.name)
        return json.loads(out.stdout)

    def logs(self) -> str:
        done = subprocess.run(
            [*engine.as_root(), "podman", "logs", self.name],
            capture_output=True,
            text=True,
        )
        return done.stdout + done.stderr

    def wait_healthy(self, limit: float = 90) -> float:
        started = time.monotonic()
        while time.monotonic() - started < limit:
            if not self.state()["Running"]:
                pytest.fail(f"the container exited before /health:\n{self.logs()}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        pytest.fail(f"not healthy after {limit} s:\n{self.logs()}")

    def wait_exit(self, limit: float = 60) -> tuple[int, float]:
        started = time.monotonic()
        out = engine.sh("podman", "wait", self.name, timeout=limit).stdout
        return int(out.split()[-1]), time.monotonic() - started

    def remove(self) -> None:
        engine.remove(self.name)


@pytest.fixture
def run():
    started: list[Container] = []

    def start(image: str, *extra: str, **env: str) -> Container:
        started.append(Container(image, *extra, **env))
        return started[-1]

    yield start
    for container in started:
        container.remove()


def pulling(images, run) -> Container:
    mount = ["--volume", f"{images.remote}:/remote:ro", "--user", USER]
    return run(images.pull, *mount, DVC_REMOTE_URL="/remote")


def test_the_image_is_docker_v2_with_a_numeric_non_root_user_and_its_healthcheck(
    images,
):
    image = engine.inspect(images.pull)
    user = image["Config"]["User"].split(":")
    assert all(part.isdigit() for part in user) and int(user[0]) != 0
    # Heroku's registry takes Docker v2 schema 2 only; the OCI format drops HEALTHCHECK.
    assert image["ManifestType"] == DOCKER_V2
    check = image["Healthcheck"]["Test"]
    assert check[0] == "CMD" and "/health" in check[-1]


def test_the_pull_image_adds_at_most_300_mb_to_its_base_with_the_s3_plugin(images):
    report = engine.breakdown(images.pull, images.base)
    print(f"\n{report}\n{engine.breakdown(images.baked, images.base, top=5)}")
    sizes = engine.package_sizes(images.pull)
    assert "dvc-s3" in sizes and "dvc" in sizes
    assert engine.size(images.pull) - engine.size(images.base) <= ABOVE_BASE_LIMIT


def test_the_baked_image_has_its_model_and_no_dvc(images):
    sizes = engine.package_sizes(images.baked)
    assert "dvc" not in sizes and "onnxruntime" in sizes
    assert engine.size(images.baked) < engine.size(images.pull)


def test_the_image_holds_the_server_s_code_and_no_model_tests_or_training_code(
    images,
):
    listing = engine.sh(
        "podman", "run", "--rm", *engine.RUN_FLAGS, "--network", "none",
        "--entrypoint", "find", images.pull, "/app", "-maxdepth", "2",
    ).stdout.split()  # fmt: skip
    app = {path.removeprefix("/app/") for path in listing}
    assert {"service", "deploy/serve.py", "dvc.lock", "dvc.yaml", ".dvc/config"} <= app
    for absent in ("model", "tests", "training", "data", ".git", "bench", "reports"):
        assert absent not in app, absent


def test_the_image_pulls_its_model_serves_it_and_passes_the_smoke_test(
    images, run, loaded_model
):
    container = pulling(images, run)
    seconds = container.wait_healthy()
    smoke = subprocess.run(
        [sys.executable, str(ROOT / "smoke_test.py"), container.url, "--attempts", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    health = engine.sh("podman", "healthcheck", "run", container.name)
    logs = container.logs()
    print(f"\npull-at-boot image: healthy {seconds:.1f} s after `podman run`")
    assert smoke.returncode == 0, smoke.stdout + logs
    assert loaded_model.version in smoke.stdout
    assert health.returncode == 0
    assert logs.count("pulled the model from DVC remote 'env' (/remote)") == 1, logs
    uid = engine.sh("podman", "exec", container.name, "id", "-u").stdout.strip()
    assert uid == USER.split(":")[0]


def kubernetes_read_only_flags() -> tuple[list[str], dict[str, str]]:
    """podman flags reproducing the Kubernetes Deployment's filesystem: a read-only root
    with a tmpfs only at each of its volume mounts (no other writable place), and its
    environment's plain values."""
    import yaml

    doc = yaml.safe_load((ROOT / "deploy" / "k8s" / "deployment.yaml").read_text())
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    flags = ["--read-only", "--read-only-tmpfs=false"]
    for mount in container["volumeMounts"]:
        flags += ["--tmpfs", f"{mount['mountPath']}:rw,mode=1777"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    keep = ("HOME", "PROMETHEUS_MULTIPROC_DIR", "PULL_MODEL", "DVC_PULL_TIMEOUT")
    return flags, {k: env[k] for k in keep}


def test_the_pull_image_boots_on_the_kubernetes_read_only_root_and_serves(
    images, run, loaded_model
):
    flags, env = kubernetes_read_only_flags()
    mount = ["--volume", f"{images.remote}:/remote:ro", "--user", USER]
    container = run(images.pull, *mount, *flags, DVC_REMOTE_URL="/remote", **env)
    container.wait_healthy()
    health = requests.get(f"{container.url}/health", timeout=5).json()
    assert health["model"]["version"] == loaded_model.version
    metrics = requests.get(f"{container.url}/metrics", timeout=5)
    assert metrics.status_code == 200 and "_http_requests_total" in metrics.text
    probe = engine.sh("podman", "exec", container.name, "sh", "-c",
                      "touch /app/x 2>&1 || echo read-only")  # fmt: skip
    assert "read-only" in probe.stdout.lower()


def test_the_baked_image_serves_its_model_without_a_remote(images, run, loaded_model):
    container = run(images.baked)
    container.wait_healthy()
    health = requests.get(f"{container.url}/health", timeout=5).json()
    assert health["model"]["version"] == loaded_model.version
    assert "pulled the model" not in container.logs()


def load_until(url: str, body: dict, stop: threading.Event, log: list) -> None:
    """POST `body` again and again; log (start, end, status or error name)."""
    with requests.Session() as session:
        while not stop.is_set():
            start = time.monotonic()
            try:
                status = session.post(url, json=body, timeout=30).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            log.append((start, time.monotonic(), status))


def test_sigterm_answers_in_flight_requests_then_exits_zero(
    images, run, example_record
):
    container = run(images.baked)
    container.wait_healthy()
    body = {"records": [example_record] * 1000}
    stop, log = threading.Event(), []
    url = f"{container.url}/predict/batch"
    # One client per worker: a request queued behind a busy worker is still in the
    # listen backlog, not in flight, when the signal closes the socket.
    threads = [
        threading.Thread(target=load_until, args=(url, body, stop, log))
        for _ in range(WORKERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    signalled = time.monotonic()
    engine.sh("podman", "kill", "--signal", "TERM", container.name)
    code, seconds = container.wait_exit()
    stop.set()
    for thread in threads:
        thread.join()
    in_flight = [s for start, end, s in log if start < signalled < end]
    answered = [s for start, _, s in log if start < signalled]
    print(f"\nSIGTERM -> exit {code} in {seconds:.1f} s; {len(in_flight)} requests "
          f"in flight at the signal, {len(answered)} sent before it")  # fmt: skip
    assert code == 0, container.logs()
    assert in_flight and all(status == 200 for status in in_flight), in_flight
    assert all(status == 200 for status in answered)


def test_an_unreachable_remote_stops_the_container_with_one_line_naming_it(images, run):
    nowhere = "s3://census-no-such-bucket/model"
    container = run(
        images.pull,
        network="none",
        DVC_REMOTE_URL=nowhere,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
        DVC_PULL_TIMEOUT="20",
    )
    code, seconds = container.wait_exit(limit=60)
    logs = container.logs()
    reason = [line for line in logs.splitlines() if "refusing to start" in line]
    print(f"\nunreachable remote: exit {code} after {seconds:.1f} s: {reason}")
    assert code != 0
    assert len(reason) == 1, logs
    assert f"could not pull the model from DVC remote 'env' ({nowhere})" in reason[0]
    # The S3 plugin is in the image: DVC tried the remote instead of asking for it.
    assert "missing dependencies" not in logs
