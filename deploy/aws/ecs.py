"""Deploy the image to AWS: ECR repository, ECS Fargate service of N tasks behind an ALB.

`make deploy-aws` (or `python -m deploy.aws.ecs --image URI`): every step creates what is
missing and updates what exists, so a second run is a new rolling deploy:

1. the ECR repository (scan on push, immutable tags); the image is pushed by the caller
   (`make deploy-aws` builds and pushes it with docker first);
2. the CloudWatch log group the tasks write to;
3. a new task-definition revision (awsvpc, Fargate size, awslogs, health check, stop
   timeout above the server's graceful timeout; API_TOKEN and DVC's credentials from
   Secrets Manager or SSM, never in the definition);
4. the ALB target group (type ip, /health, deregistration delay), the ALB and its
   listeners: HTTPS :443 with the certificate, HTTP :80 redirecting to it (existing
   listeners are brought to that too);
5. the ECS cluster and service (created with N tasks, or updated to the new revision:
   a rolling deploy with circuit breaker and rollback);
6. target-tracking autoscaling on the service's CPU.

The requests themselves are built in deploy/aws/spec.py.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from deploy.aws import spec
from deploy.aws.spec import DeploySettings, SettingsError

SETTINGS_FILE = Path(__file__).resolve().parent / "settings.env"
CLIENTS = (
    "ecr",
    "logs",
    "ecs",
    "elbv2",
    "application-autoscaling",
    "secretsmanager",
    "ssm",
)


@dataclass
class Deployed:
    """What one run created or updated."""

    repository_uri: str
    task_definition_arn: str
    target_group_arn: str
    load_balancer_dns: str
    service_arn: str
    created_service: bool


def clients(region: str, session: Any = None) -> dict[str, Any]:
    """One boto3 client per AWS service the deploy talks to."""
    import boto3

    session = session or boto3.session.Session(region_name=region)
    return {name: session.client(name, region_name=region) for name in CLIENTS}


def ensure_repository(ecr: Any, s: DeploySettings) -> str:
    """The repository's URI, creating the repository if missing."""
    try:
        found = ecr.describe_repositories(repositoryNames=[s.app])["repositories"]
        return found[0]["repositoryUri"]
    except ecr.exceptions.RepositoryNotFoundException:
        return ecr.create_repository(**spec.repository(s))["repository"][
            "repositoryUri"
        ]


def ensure_log_group(logs: Any, s: DeploySettings) -> None:
    found = logs.describe_log_groups(logGroupNamePrefix=s.log_group)["logGroups"]
    if not any(g["logGroupName"] == s.log_group for g in found):
        logs.create_log_group(**spec.log_group(s))
    logs.put_retention_policy(**spec.log_retention(s))


def check_secrets(aws: dict[str, Any], s: DeploySettings) -> None:
    """The API token's secret or parameter and the DVC credentials' secret exist (their
    values are never read here)."""
    if ":ssm:" in s.api_token_arn:
        # A hierarchical name's ARN drops its leading slash: look for either.
        name = s.api_token_arn.split(":parameter/", 1)[1]
        found = aws["ssm"].describe_parameters(
            ParameterFilters=[{"Key": "Name", "Values": [name, "/" + name]}]
        )["Parameters"]
        if not found:
            raise SettingsError(f"no SSM parameter {name} (API_TOKEN_ARN)")
    else:
        aws["secretsmanager"].describe_secret(SecretId=s.api_token_arn)
    if s.dvc_secret_arn:
        aws["secretsmanager"].describe_secret(SecretId=s.dvc_secret_arn)


def ensure_target_group(elbv2: Any, s: DeploySettings) -> str:
    try:
        found = elbv2.describe_target_groups(Names=[spec.target_group(s)["Name"]])
        arn = found["TargetGroups"][0]["TargetGroupArn"]
    except elbv2.exceptions.TargetGroupNotFoundException:
        created = elbv2.create_target_group(**spec.target_group(s))
        arn = created["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(**spec.target_group_attributes(arn))
    return arn


def ensure_load_balancer(elbv2: Any, s: DeploySettings, target_group_arn: str) -> str:
    """The ALB's DNS name; the ALB if missing, and its listeners as spec.listeners says
    (created, or modified: an earlier deploy's plain HTTP forward becomes a redirect).
    """
    request = spec.load_balancer(s)
    try:
        lb = elbv2.describe_load_balancers(Names=[request["Name"]])
    except elbv2.exceptions.LoadBalancerNotFoundException:
        lb = elbv2.create_load_balancer(**request)
    balancer = lb["LoadBalancers"][0]
    arn = balancer["LoadBalancerArn"]
    existing = {
        listener["Port"]: listener["ListenerArn"]
        for listener in elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
    }
    for wanted in spec.listeners(s, arn, target_group_arn):
        if wanted["Port"] in existing:
            elbv2.modify_listener(
                **spec.modified_listener(existing[wanted["Port"]], wanted)
            )
        else:
            elbv2.create_listener(**wanted)
    return balancer["DNSName"]


def ensure_service(
    ecs: Any, s: DeploySettings, task_arn: str, target_group_arn: str
) -> tuple[str, bool]:
    """(service ARN, created?): create the service, or roll it to `task_arn`."""
    ecs.create_cluster(clusterName=s.cluster)
    found = ecs.describe_services(cluster=s.cluster, services=[s.app])["services"]
    if any(svc["status"] == "ACTIVE" for svc in found):
        updated = ecs.update_service(**spec.update_service(s, task_arn))
        return updated["service"]["serviceArn"], False
    created = ecs.create_service(**spec.create_service(s, task_arn, target_group_arn))
    return created["service"]["serviceArn"], True


def ensure_autoscaling(autoscaling: Any, s: DeploySettings) -> None:
    autoscaling.register_scalable_target(**spec.scalable_target(s))
    autoscaling.put_scaling_policy(**spec.scaling_policy(s))


def deploy(
    s: DeploySettings,
    image: str,
    aws: dict[str, Any],
    say: Callable[[str], None] = print,
) -> Deployed:
    """Every step in order; returns what was created or updated."""
    uri = ensure_repository(aws["ecr"], s)
    say(f"ECR repository {uri}")
    ensure_log_group(aws["logs"], s)
    check_secrets(aws, s)
    registered = aws["ecs"].register_task_definition(**spec.task_definition(s, image))
    task_arn = registered["taskDefinition"]["taskDefinitionArn"]
    say(f"task definition {task_arn}")
    group = ensure_target_group(aws["elbv2"], s)
    dns = ensure_load_balancer(aws["elbv2"], s, group)
    service, created = ensure_service(aws["ecs"], s, task_arn, group)
    say(f"service {service} {'created' if created else 'rolling to the new revision'}")
    ensure_autoscaling(aws["application-autoscaling"], s)
    scheme = "http" if s.plain_http else "https"
    say(f"{scheme}://{dns}/health answers once the tasks are healthy")
    return Deployed(uri, task_arn, group, dns, service, created)


def wait_stable(ecs: Any, s: DeploySettings, minutes: int = 15) -> None:
    """Until the rolling deploy is done (or the circuit breaker rolled it back)."""
    waiter = ecs.get_waiter("services_stable")
    waiter.wait(
        cluster=s.cluster,
        services=[s.app],
        WaiterConfig={"Delay": 15, "MaxAttempts": minutes * 4},
    )


def read_settings(path: Path) -> dict[str, str]:
    """KEY=value lines of a settings file, with the environment over them."""
    values = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip()
    values.update({k: v for k, v in os.environ.items() if v})
    return values


def docker_login(ecr: Any, repository_uri: str) -> None:
    """`docker login` to the repository's registry with a token ECR hands out."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":")
    registry = repository_uri.split("/")[0]
    subprocess.run(
        ["docker", "login", "--username", user, "--password-stdin", registry],
        input=password,
        text=True,
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=Path, default=SETTINGS_FILE)
    parser.add_argument("--image", help="image URI to deploy (already pushed)")
    parser.add_argument(
        "--repository-uri",
        action="store_true",
        help="only create the ECR repository if needed, log docker in, print its URI",
    )
    parser.add_argument("--wait", action="store_true", help="wait until stable")
    args = parser.parse_args(argv)
    try:
        settings = DeploySettings.from_env(read_settings(args.settings))
    except SettingsError as exc:
        print(f"deploy-aws: {exc}", file=sys.stderr)
        return 2
    aws = clients(settings.region)
    if args.repository_uri:
        uri = ensure_repository(aws["ecr"], settings)
        docker_login(aws["ecr"], uri)
        print(uri)
        return 0
    if not args.image:
        parser.error("--image is required")
    try:
        deploy(settings, args.image, aws)
    except SettingsError as exc:
        print(f"deploy-aws: {exc}", file=sys.stderr)
        return 2
    if args.wait:
        wait_stable(aws["ecs"], settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
