"""What the ECS deploy asks AWS for, as plain request dictionaries (no AWS calls here).

Each function returns the keyword arguments of one boto3 call, so the tests check every
request against botocore's own service model, and deploy/aws/ecs.py only sends them.
The server command comes from the Procfile and the timings from the service's settings:
the task runs exactly what every other target runs.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from bundle.paths import ROOT

CONTAINER = "web"
CONTAINER_PORT = 8000
HEALTH_PATH = "/health"
# The server lets in-flight requests finish for 20 s after SIGTERM and the boot may pull
# for 40 s (service/settings.py); the platform must wait longer than each.
STOP_TIMEOUT = 30
HEALTH_CHECK_GRACE = 90
# An ALB target is drained this long before ECS stops the task: longer than the
# server's 25 s limit on one request.
DEREGISTRATION_DELAY = 30
# vCPU units -> the memory sizes (MiB) Fargate accepts with them.
FARGATE_SIZES = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
# TLS 1.3 and 1.2 only (AWS's recommended ALB policy).
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# Where ECS may read the API token from: a Secrets Manager secret or an SSM parameter.
TOKEN_ARN = re.compile(
    r"arn:aws[\w-]*:(secretsmanager|ssm):[\w-]+:\d{12}:(secret|parameter)[:/].+"
)


class SettingsError(ValueError):
    """A deploy setting is missing or not something AWS would accept."""


def server_command(root: Path = ROOT) -> list[str]:
    """The Procfile's web command: the one server command of every target."""
    for line in (root / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web":
            return shlex.split(command)
    raise SettingsError("the Procfile has no web process")


def _env(name: str, default: str | None = None) -> Any:
    """A field read from environment variable `name` (None: required); from_env
    converts the text to the field's type."""
    return field(default=default, metadata={"env": name})


@dataclass(frozen=True)
class DeploySettings:
    """The user's AWS settings (environment variables, see settings.example.env)."""

    region: str = _env("AWS_REGION")
    vpc_id: str = _env("ECS_VPC_ID")
    subnets: str = _env("ECS_SUBNETS")
    task_security_groups: str = _env("ECS_TASK_SECURITY_GROUPS")
    alb_security_groups: str = _env("ECS_ALB_SECURITY_GROUPS")
    execution_role_arn: str = _env("ECS_EXECUTION_ROLE_ARN")
    dvc_remote_url: str = _env("DVC_REMOTE_URL")
    api_token_arn: str = _env("API_TOKEN_ARN")
    certificate_arn: str = _env("ECS_CERTIFICATE_ARN", "")
    http_only: str = _env("ECS_HTTP_ONLY", "false")
    app: str = _env("ECS_APP", "census-service")
    cluster: str = _env("ECS_CLUSTER", "census")
    task_role_arn: str = _env("ECS_TASK_ROLE_ARN", "")
    dvc_secret_arn: str = _env("DVC_SECRET_ARN", "")
    dvc_secret_keys: str = _env(
        "DVC_SECRET_KEYS", "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY"
    )
    desired_count: int = _env("ECS_DESIRED_COUNT", "2")
    max_count: int = _env("ECS_MAX_COUNT", "6")
    cpu: int = _env("ECS_CPU", "1024")
    memory: int = _env("ECS_MEMORY", "2048")
    web_concurrency: int = _env("WEB_CONCURRENCY", "2")
    target_cpu: float = _env("ECS_TARGET_CPU", "60")
    assign_public_ip: str = _env("ECS_ASSIGN_PUBLIC_IP", "ENABLED")
    log_retention_days: int = _env("ECS_LOG_RETENTION_DAYS", "30")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "DeploySettings":
        """Every field from its environment variable; SettingsError names what is
        missing or invalid (all of them at once)."""
        environ = os.environ if environ is None else environ
        values, missing = {}, []
        for f in fields(cls):
            raw = environ.get(f.metadata["env"]) or f.default
            if raw is None:
                missing.append(f.metadata["env"])
                continue
            values[f.name] = int(raw) if f.type == "int" else raw
            if f.type == "float":
                values[f.name] = float(raw)
        if missing:
            raise SettingsError(
                "set " + ", ".join(missing) + " (deploy/aws/settings.example.env)"
            )
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse what AWS would refuse only after the image was pushed."""
        if self.memory not in FARGATE_SIZES.get(self.cpu, ()):
            sizes = FARGATE_SIZES.get(self.cpu)
            allowed = f"{sizes[0]}-{sizes[-1]} MiB" if sizes else "none"
            raise SettingsError(
                f"Fargate has no task size cpu={self.cpu} memory={self.memory}: "
                f"cpu {self.cpu} takes {allowed}; cpu is one of "
                f"{', '.join(map(str, FARGATE_SIZES))}"
            )
        if not 1 <= self.desired_count <= self.max_count:
            raise SettingsError("need 1 <= ECS_DESIRED_COUNT <= ECS_MAX_COUNT")
        if len(self.subnet_ids) < 2:
            raise SettingsError("an ALB needs ECS_SUBNETS in at least two zones")
        if not TOKEN_ARN.fullmatch(self.api_token_arn):
            raise SettingsError(
                "API_TOKEN_ARN must be the ARN of a Secrets Manager secret or an SSM "
                f"parameter holding the API token, not {self.api_token_arn!r}"
            )
        if self.http_only not in ("true", "false"):
            raise SettingsError(
                f"ECS_HTTP_ONLY is true or false, not {self.http_only!r}"
            )
        if not self.certificate_arn and not self.plain_http:
            raise SettingsError(
                "set ECS_CERTIFICATE_ARN (an ACM certificate for the HTTPS listener), "
                "or ECS_HTTP_ONLY=true for a test deployment without TLS"
            )

    @property
    def plain_http(self) -> bool:
        """The documented opt-out: one HTTP listener, no TLS (test deployments only)."""
        return self.http_only == "true" and not self.certificate_arn

    @property
    def subnet_ids(self) -> list[str]:
        return [s.strip() for s in self.subnets.split(",") if s.strip()]

    def groups(self, which: str) -> list[str]:
        return [g.strip() for g in getattr(self, which).split(",") if g.strip()]

    @property
    def log_group(self) -> str:
        return f"/ecs/{self.app}"

    @property
    def resource_id(self) -> str:
        """The service's id in Application Auto Scaling."""
        return f"service/{self.cluster}/{self.app}"


def repository(s: DeploySettings) -> dict:
    return {
        "repositoryName": s.app,
        "imageScanningConfiguration": {"scanOnPush": True},
        "imageTagMutability": "IMMUTABLE",
    }


def log_group(s: DeploySettings) -> dict:
    return {"logGroupName": s.log_group}


def log_retention(s: DeploySettings) -> dict:
    return {"logGroupName": s.log_group, "retentionInDays": s.log_retention_days}


def container_health_check() -> dict:
    """The Dockerfile's HEALTHCHECK, for ECS (which ignores the image's)."""
    probe = (
        "import os, urllib.request; urllib.request.urlopen("
        f"'http://127.0.0.1:%s{HEALTH_PATH}' % os.environ.get('PORT', '8000'), "
        "timeout=4)"
    )
    return {
        "command": ["CMD", "python", "-c", probe],
        "interval": 30,
        "timeout": 5,
        "retries": 3,
        "startPeriod": 60,
    }


def secrets(s: DeploySettings) -> list[dict]:
    """API_TOKEN from its secret or parameter, and DVC's credentials from one Secrets
    Manager secret (JSON keys), or none (a task role that may read the bucket needs no
    keys). ECS reads them with the execution role; the task definition holds no value.
    """
    token = [{"name": "API_TOKEN", "valueFrom": s.api_token_arn}]
    if not s.dvc_secret_arn:
        return token
    keys = [k.strip() for k in s.dvc_secret_keys.split(",") if k.strip()]
    return token + [{"name": k, "valueFrom": f"{s.dvc_secret_arn}:{k}::"} for k in keys]


def task_definition(s: DeploySettings, image: str, root: Path = ROOT) -> dict:
    environment = {
        "PORT": str(CONTAINER_PORT),
        "WEB_CONCURRENCY": str(s.web_concurrency),
        "PULL_MODEL": "1",
        "DVC_REMOTE_URL": s.dvc_remote_url,
    }
    container = {
        "name": CONTAINER,
        "image": image,
        "essential": True,
        "command": server_command(root),
        "portMappings": [{"containerPort": CONTAINER_PORT, "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in environment.items()],
        "secrets": secrets(s),
        "healthCheck": container_health_check(),
        "stopTimeout": STOP_TIMEOUT,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": s.log_group,
                "awslogs-region": s.region,
                "awslogs-stream-prefix": CONTAINER,
            },
        },
    }
    request = {
        "family": s.app,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(s.cpu),
        "memory": str(s.memory),
        "executionRoleArn": s.execution_role_arn,
        "runtimePlatform": {
            "operatingSystemFamily": "LINUX",
            "cpuArchitecture": "X86_64",
        },
        "containerDefinitions": [container],
    }
    if s.task_role_arn:
        request["taskRoleArn"] = s.task_role_arn
    return request


def target_group(s: DeploySettings) -> dict:
    return {
        "Name": s.app[:32],
        "Protocol": "HTTP",
        "Port": CONTAINER_PORT,
        "VpcId": s.vpc_id,
        "TargetType": "ip",
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPath": HEALTH_PATH,
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 3,
        "Matcher": {"HttpCode": "200"},
    }


def target_group_attributes(target_group_arn: str) -> dict:
    return {
        "TargetGroupArn": target_group_arn,
        "Attributes": [
            {
                "Key": "deregistration_delay.timeout_seconds",
                "Value": str(DEREGISTRATION_DELAY),
            }
        ],
    }


def load_balancer(s: DeploySettings) -> dict:
    return {
        "Name": s.app[:32],
        "Subnets": s.subnet_ids,
        "SecurityGroups": s.groups("alb_security_groups"),
        "Scheme": "internet-facing",
        "Type": "application",
        "IpAddressType": "ipv4",
    }


def listeners(
    s: DeploySettings, load_balancer_arn: str, target_group_arn: str
) -> list[dict]:
    """HTTPS :443 with the certificate, forwarding to the tasks, and HTTP :80 answering
    with a permanent redirect to it; only with ECS_HTTP_ONLY, one HTTP :80 forward."""
    forward = [{"Type": "forward", "TargetGroupArn": target_group_arn}]
    http = {"LoadBalancerArn": load_balancer_arn, "Protocol": "HTTP", "Port": 80}
    if s.plain_http:
        return [{**http, "DefaultActions": forward}]
    redirect = {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
    https = {
        "LoadBalancerArn": load_balancer_arn,
        "Protocol": "HTTPS",
        "Port": 443,
        "SslPolicy": SSL_POLICY,
        "Certificates": [{"CertificateArn": s.certificate_arn}],
        "DefaultActions": forward,
    }
    return [
        https,
        {**http, "DefaultActions": [{"Type": "redirect", "RedirectConfig": redirect}]},
    ]


def modified_listener(listener_arn: str, wanted: dict) -> dict:
    """ModifyListener's request turning an existing listener into `wanted`."""
    request = {k: v for k, v in wanted.items() if k != "LoadBalancerArn"}
    return {"ListenerArn": listener_arn, **request}


def deployment_configuration() -> dict:
    """Rolling: new tasks first (200%), never below the desired count (100%); a
    deployment whose tasks keep failing stops and rolls back to the last good one."""
    return {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }


def network(s: DeploySettings) -> dict:
    return {
        "awsvpcConfiguration": {
            "subnets": s.subnet_ids,
            "securityGroups": s.groups("task_security_groups"),
            "assignPublicIp": s.assign_public_ip,
        }
    }


def create_service(s: DeploySettings, task_arn: str, target_group_arn: str) -> dict:
    return {
        "cluster": s.cluster,
        "serviceName": s.app,
        "taskDefinition": task_arn,
        "desiredCount": s.desired_count,
        "launchType": "FARGATE",
        "networkConfiguration": network(s),
        "loadBalancers": [
            {
                "targetGroupArn": target_group_arn,
                "containerName": CONTAINER,
                "containerPort": CONTAINER_PORT,
            }
        ],
        "healthCheckGracePeriodSeconds": HEALTH_CHECK_GRACE,
        "deploymentConfiguration": deployment_configuration(),
        "deploymentController": {"type": "ECS"},
        "propagateTags": "SERVICE",
    }


def update_service(s: DeploySettings, task_arn: str) -> dict:
    """A rolling deploy of the new revision. desiredCount is left to autoscaling."""
    return {
        "cluster": s.cluster,
        "service": s.app,
        "taskDefinition": task_arn,
        "networkConfiguration": network(s),
        "healthCheckGracePeriodSeconds": HEALTH_CHECK_GRACE,
        "deploymentConfiguration": deployment_configuration(),
    }


def scalable_target(s: DeploySettings) -> dict:
    return {
        "ServiceNamespace": "ecs",
        "ResourceId": s.resource_id,
        "ScalableDimension": "ecs:service:DesiredCount",
        "MinCapacity": s.desired_count,
        "MaxCapacity": s.max_count,
    }


def scaling_policy(s: DeploySettings) -> dict:
    return {
        "PolicyName": f"{s.app}-cpu",
        "ServiceNamespace": "ecs",
        "ResourceId": s.resource_id,
        "ScalableDimension": "ecs:service:DesiredCount",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": s.target_cpu,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
            },
            "ScaleOutCooldown": 60,
            "ScaleInCooldown": 300,
        },
    }
