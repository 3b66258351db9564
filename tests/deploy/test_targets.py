"""One source of truth across deploy targets: every target runs the Procfile's command,
on the same PORT, checks the same health path, and waits longer than the server does.

The secure choice is every target's default: the API token from the platform's secret
store, TLS in front, an image pinned by tag, a read-only root where the platform offers it.

Targets: Procfile (Heroku Git), Dockerfile (any container platform), heroku.yml (Heroku
container stack), render.yaml (Render), the ECS task definition and ALB (AWS), the
Kubernetes Deployment. The timings come from the service's settings defaults.
"""

from __future__ import annotations

import json
import re
import tomllib
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from bundle.paths import DEFAULT_MODEL_DIR
from deploy.aws import spec
from service import __version__
from deploy.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
HEALTH = "/health"
PORT = 8000
DEFAULTS = ServerSettings()
AWS_ENV = {
    "AWS_REGION": "eu-west-1",
    "ECS_VPC_ID": "vpc-1",
    "ECS_SUBNETS": "subnet-1,subnet-2",
    "ECS_TASK_SECURITY_GROUPS": "sg-1",
    "ECS_ALB_SECURITY_GROUPS": "sg-2",
    "ECS_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/exec",
    "DVC_REMOTE_URL": "s3://bucket/census",
    "API_TOKEN_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:token-AbCdEf",
    "ECS_CERTIFICATE_ARN": "arn:aws:acm:eu-west-1:123456789012:certificate/1234",
}


def procfile_web() -> list[str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    (web,) = [line.split(":", 1)[1] for line in lines if line.startswith("web:")]
    return shlex.split(web)


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage: {stage: [(INSTRUCTION, arguments)]}."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = re.match(r"^([A-Z]+)\s+(.*)$", line.strip())
        if not match:
            continue
        word, args = match.groups()
        if word == "FROM":
            name = args.split()[-1] if " AS " in args.upper() else args
            current = stages.setdefault(name, [])
        current.append((word, args.strip()))
    return stages


def final_stages() -> dict[str, list[tuple[str, str]]]:
    """The stages that are images to run: the ones with a CMD."""
    return {
        k: v for k, v in dockerfile_stages().items() if any(w == "CMD" for w, _ in v)
    }


def load_yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def render_service() -> dict:
    (service,) = load_yaml("render.yaml")["services"]
    return service


def k8s(kind: str) -> dict:
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc["kind"] == kind:
            return doc
    raise KeyError(kind)


def k8s_container() -> dict:
    (container,) = k8s("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def served_paths() -> set[str]:
    """The routes of the app the server builds (no model needed to list them)."""
    from service import create_app
    from service.settings import Settings

    return {
        r.rule for r in create_app(settings=Settings.from_env({})).url_map.iter_rules()
    }


def task_container() -> dict:
    settings = spec.DeploySettings.from_env(AWS_ENV)
    (container,) = spec.task_definition(settings, "image:tag")["containerDefinitions"]
    return container


def test_make_serve_runs_the_procfile_s_command_with_the_project_s_python():
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "serve"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The recipe's last line: HOST=... PORT=... <venv>/bin/python -m deploy.serve
    command = [w for w in shlex.split(out.splitlines()[-1]) if "=" not in w]
    assert (ROOT / command[0]).parent == BIN
    assert [Path(command[0]).name, *command[1:]] == procfile_web()


def test_every_target_runs_the_procfile_s_command():
    commands = {
        "heroku.yml": shlex.split(load_yaml("heroku.yml")["run"]["web"]),
        "render.yaml": shlex.split(render_service()["startCommand"]),
        "ecs task": task_container()["command"],
        "k8s deployment": k8s_container()["command"],
    }
    for stage, instructions in final_stages().items():
        (cmd,) = [args for word, args in instructions if word == "CMD"]
        commands[f"Dockerfile stage {stage}"] = json.loads(cmd)
    assert len(commands) >= 6
    assert {k: v for k, v in commands.items() if v != procfile_web()} == {}


def test_every_target_serves_on_the_same_port():
    assert DEFAULTS.port == PORT
    env = {e["name"]: e["value"] for e in task_container()["environment"]}
    assert env["PORT"] == str(PORT)
    assert task_container()["portMappings"][0]["containerPort"] == PORT
    assert spec.target_group(spec.DeploySettings.from_env(AWS_ENV))["Port"] == PORT
    (port,) = k8s_container()["ports"]
    assert port["containerPort"] == PORT
    k8s_env = {e["name"]: e.get("value") for e in k8s_container()["env"]}
    assert k8s_env["PORT"] == str(PORT)
    for stage, instructions in final_stages().items():
        assert ("EXPOSE", str(PORT)) in instructions, stage
    base_env = dockerfile_stages()["base"]
    assert any(w == "ENV" and f"PORT={PORT}" in a.split() for w, a in base_env)


def test_every_target_checks_the_same_health_path():
    paths = {
        "render.yaml": render_service()["healthCheckPath"],
        "alb target group": spec.target_group(spec.DeploySettings.from_env(AWS_ENV))[
            "HealthCheckPath"
        ],
    }
    container = k8s_container()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        paths[f"k8s {probe}"] = container[probe]["httpGet"]["path"]
    assert set(paths.values()) == {HEALTH}, paths
    assert HEALTH in served_paths(), f"{HEALTH} is no route of the app"
    assert HEALTH in task_container()["healthCheck"]["command"][-1]
    for stage, instructions in final_stages().items():
        (check,) = [a for w, a in instructions if w == "HEALTHCHECK"]
        assert f"{HEALTH}'" in check and "curl" not in check, stage


def test_every_platform_gives_the_model_pull_more_time_than_its_timeout():
    pull = DEFAULTS.dvc_pull_timeout
    assert spec.HEALTH_CHECK_GRACE > pull
    assert task_container()["healthCheck"]["startPeriod"] > pull
    startup = k8s_container()["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] > pull
    for stage, instructions in final_stages().items():
        (check,) = [a for w, a in instructions if w == "HEALTHCHECK"]
        start = re.search(r"--start-period=(\d+)s", check)
        assert start and int(start.group(1)) > pull, stage


def test_every_platform_waits_longer_than_the_graceful_shutdown_before_killing():
    graceful = DEFAULTS.gunicorn_graceful_timeout
    assert task_container()["stopTimeout"] > graceful
    pod = k8s("Deployment")["spec"]["template"]["spec"]
    pre_stop = k8s_container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pod["terminationGracePeriodSeconds"] > graceful + int(pre_stop[-1])
    # The ALB drains a target longer than one request may take.
    assert spec.DEREGISTRATION_DELAY > DEFAULTS.gunicorn_timeout


def test_the_images_run_as_a_numeric_non_root_user():
    for stage, instructions in final_stages().items():
        users = [a for w, a in instructions if w == "USER"]
        assert users and re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]), stage
    context = k8s("Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert context["runAsNonRoot"] is True
    image_user = int(users[-1].split(":")[0])
    assert context["runAsUser"] == image_user


def test_only_the_first_from_names_an_image_so_a_substituted_base_reaches_every_stage():
    names = list(dockerfile_stages())
    froms = [args for stage in dockerfile_stages().values() for w, args in stage
             if w == "FROM"]  # fmt: skip
    assert re.fullmatch(r"python:3\.\d+-slim AS base", froms[0])
    for args in froms[1:]:
        parent = args.split()[0]
        assert parent in names, f"FROM {args} names an image, not a stage"


def pip_installs(stage: str) -> list[str]:
    """The `pip install` commands of a Dockerfile stage's RUN instructions."""
    runs = [a for w, a in dockerfile_stages()[stage] if w == "RUN"]
    return [c.strip() for run in runs for c in run.split("&&") if "pip install" in c]


@pytest.mark.parametrize("stage", ["venv", "pull-venv"])
def test_each_image_stage_installs_only_a_hashed_lock_with_hash_checking(stage):
    copied = {
        a.split()[-1]: a.split()[-2]
        for w, a in dockerfile_stages()[stage]
        if w == "COPY"
    }
    (install,) = pip_installs(stage)
    assert "--require-hashes" in install
    files = re.findall(r"-r (\S+)", install)
    assert files and all(copied[f].startswith("requirements/") for f in files)
    assert "sed" not in " ".join(a for _, a in dockerfile_stages()[stage])


@pytest.mark.parametrize("kind", ["s3", "gs", "azure", "none"])
def test_each_remote_kind_builds_from_a_lock_the_build_context_lets_in(kind):
    import pathspec

    (copy,) = [a for w, a in dockerfile_stages()["pull-venv"] if w == "COPY"]
    lock = copy.split()[0].replace("${DVC_REMOTE_KIND}", kind)
    assert (ROOT / lock).is_file()
    ignore = pathspec.GitIgnoreSpec.from_lines(
        (ROOT / ".dockerignore").read_text().splitlines()
    )
    for needed in (lock, "requirements/serve.txt"):
        assert not ignore.match_file(needed), needed
    assert ignore.match_file("requirements/dev.txt")


def test_render_keeps_credentials_out_of_the_blueprint_and_pulls_the_model():
    env = {e["key"]: e for e in render_service()["envVars"]}
    for secret in ("DVC_REMOTE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[secret] == {"key": secret, "sync": False}
    assert env["PULL_MODEL"]["value"] == "1"
    # The build installs one hashed lock holding the server and the pull from S3.
    build = shlex.split(render_service()["buildCommand"])
    assert build[:2] == ["pip", "install"] and "--require-hashes" in build
    lock = (ROOT / build[build.index("-r") + 1]).read_text()
    pinned = set(re.findall(r"^([A-Za-z0-9_.-]+)==", lock, re.M))
    assert {"gunicorn", "dvc-s3"} <= pinned, pinned


def test_on_render_the_server_binds_all_interfaces_on_render_s_port():
    # Render sets RENDER=true and PORT (not DYNO); loopback would be unreachable there.
    settings = ServerSettings.from_env({"RENDER": "true", "PORT": "10000"})
    assert settings.bind == "0.0.0.0:10000"
    assert ServerSettings.from_env({"PORT": "10000"}).bind == "127.0.0.1:10000"


def test_the_kubernetes_manifests_pass_strict_schema_validation_offline():
    manifests = sorted(str(p) for p in (ROOT / "deploy" / "k8s").glob("*.yaml"))
    done = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", *manifests],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == len(manifests)


def test_strict_validation_rejects_a_misspelt_manifest_field(tmp_path):
    doc = k8s("Deployment")
    doc["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    bad = tmp_path / "deployment.yaml"
    bad.write_text(yaml.safe_dump(doc))
    done = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", str(bad)],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0


def test_every_github_workflow_matches_the_bundled_workflow_schema():
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
         *workflows],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_aws_workflow_deploys_only_after_ci_passed_on_a_push_to_main():
    doc = load_yaml(".github/workflows/deploy-aws.yml")
    trigger = doc.get("on", doc.get(True))["workflow_run"]
    assert trigger == {
        "workflows": ["ci"],
        "types": ["completed"],
        "branches": ["main"],
    }
    condition = doc["jobs"]["deploy"]["if"]
    assert "conclusion == 'success'" in condition and "event == 'push'" in condition
    checkout = doc["jobs"]["deploy"]["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"


def test_hadolint_finds_nothing_in_the_dockerfile():
    done = subprocess.run(
        [str(BIN / "hadolint"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout


def test_hadolint_flags_a_named_user(tmp_path):
    text = (ROOT / "Dockerfile").read_text().replace("USER 10001:10001", "USER census")
    (tmp_path / "Dockerfile").write_text(text)
    done = subprocess.run(
        [str(BIN / "hadolint"), str(tmp_path / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "DL3066" in done.stdout


def test_no_target_names_a_moving_image_tag_and_the_versions_agree():
    image = k8s_container()["image"]
    name, _, tag = image.rpartition(":")
    assert "@sha256:" in image or (tag == __version__ and "/" not in tag), image
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    assert k8s_container().get("imagePullPolicy") != "Always"


def test_every_target_takes_the_api_token_from_the_platform_s_secret_store():
    stores = {}
    (token,) = [e for e in k8s_container()["env"] if e["name"] == "API_TOKEN"]
    stores["k8s"] = token["valueFrom"]["secretKeyRef"]["key"] == "API_TOKEN"
    ecs = {s["name"]: s["valueFrom"] for s in task_container()["secrets"]}
    stores["ecs"] = ecs.get("API_TOKEN") == AWS_ENV["API_TOKEN_ARN"]
    render = {e["key"]: e for e in render_service()["envVars"]}
    stores["render"] = render["API_TOKEN"] in (
        {"key": "API_TOKEN", "sync": False},
        {"key": "API_TOKEN", "generateValue": True},
    )
    heroku_doc = (ROOT / "docs" / "heroku.md").read_text()
    stores["heroku"] = "heroku config:set API_TOKEN=" in heroku_doc
    assert all(stores.values()), stores
    # ... and no target writes a token value into its own file.
    assert "API_TOKEN" not in {e["name"] for e in task_container()["environment"]}
    assert "value" not in token
    assert "API_TOKEN" not in (ROOT / "heroku.yml").read_text()
    base_env = " ".join(a for w, a in dockerfile_stages()["base"] if w == "ENV")
    assert "API_TOKEN" not in base_env


def test_the_aws_load_balancer_serves_https_and_redirects_http_by_default():
    settings = spec.DeploySettings.from_env(AWS_ENV)
    by_port = {x["Port"]: x for x in spec.listeners(settings, "arn:lb", "arn:tg")}
    assert by_port[443]["Protocol"] == "HTTPS" and by_port[443]["Certificates"]
    assert by_port[80]["DefaultActions"][0]["Type"] == "redirect"
    without = {k: v for k, v in AWS_ENV.items() if k != "ECS_CERTIFICATE_ARN"}
    with pytest.raises(spec.SettingsError, match="ECS_CERTIFICATE_ARN"):
        spec.DeploySettings.from_env(without)


def test_the_kubernetes_pod_has_a_read_only_root_and_a_volume_wherever_it_writes():
    container = k8s_container()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = k8s("Deployment")["spec"]["template"]["spec"]["volumes"]
    empty = {v["name"] for v in volumes if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts.values()) <= empty
    env = {e["name"]: e.get("value") for e in container["env"]}
    workdir = [a for w, a in dockerfile_stages()["base"] if w == "WORKDIR"][-1]
    writes = {
        "temporary files": "/tmp/",
        "HOME (caches)": env["HOME"] + "/",
        "metrics": env["PROMETHEUS_MULTIPROC_DIR"] + "/",
        "the pulled model": f"{workdir}/{DEFAULT_MODEL_DIR}/",
        "DVC's cache": f"{workdir}/.dvc/cache/",
        "DVC's locks": f"{workdir}/.dvc/tmp/",
    }
    unmounted = {
        what: path
        for what, path in writes.items()
        if not any(path.startswith(m.rstrip("/") + "/") for m in mounts)
    }
    assert unmounted == {}
