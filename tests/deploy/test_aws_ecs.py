"""The ECS deploy, offline: requests checked by botocore's model, wiring run against moto.

moto runs no container and does not emulate deployments (rollouts, circuit breaker,
`services_stable`) or ALB health checks; these tests assert only what it does keep:
which resources exist, in which order they were asked for, which task-definition
revision the service was handed, and the autoscaling target's id.
"""

from __future__ import annotations

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from deploy.aws import ecs, spec
from deploy.aws.spec import DeploySettings, SettingsError

REGION = "eu-west-1"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/census-service:abc123"
BASE = {
    "AWS_REGION": REGION,
    "ECS_VPC_ID": "vpc-1",
    "ECS_SUBNETS": "subnet-1,subnet-2",
    "ECS_TASK_SECURITY_GROUPS": "sg-task",
    "ECS_ALB_SECURITY_GROUPS": "sg-alb",
    "ECS_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/exec",
    "DVC_REMOTE_URL": "s3://bucket/census",
    "DVC_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dvc-AbCdEf",
}


def settings(**overrides: str) -> DeploySettings:
    return DeploySettings.from_env({**BASE, **overrides})


def requests_of(s: DeploySettings) -> list[tuple[str, str, dict]]:
    """(service, operation, params) of every request the deploy builds."""
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1"
    lb = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/1"
    task = "arn:aws:ecs:eu-west-1:123456789012:task-definition/census-service:1"
    return [
        ("ecr", "CreateRepository", spec.repository(s)),
        ("logs", "CreateLogGroup", spec.log_group(s)),
        ("logs", "PutRetentionPolicy", spec.log_retention(s)),
        ("ecs", "RegisterTaskDefinition", spec.task_definition(s, IMAGE)),
        ("elbv2", "CreateTargetGroup", spec.target_group(s)),
        ("elbv2", "ModifyTargetGroupAttributes", spec.target_group_attributes(arn)),
        ("elbv2", "CreateLoadBalancer", spec.load_balancer(s)),
        ("elbv2", "CreateListener", spec.listener(lb, arn)),
        ("ecs", "CreateService", spec.create_service(s, task, arn)),
        ("ecs", "UpdateService", spec.update_service(s, task)),
        ("application-autoscaling", "RegisterScalableTarget", spec.scalable_target(s)),
        ("application-autoscaling", "PutScalingPolicy", spec.scaling_policy(s)),
    ]


@pytest.mark.parametrize(
    "service, operation, params",
    requests_of(settings()),
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_every_request_matches_botocore_s_model_of_the_operation(
    service, operation, params
):
    model = get_session().get_service_model(service).operation_model(operation)
    report = ParamValidator().validate(params, model.input_shape)
    assert not report.has_errors(), report.generate_report()


def test_botocore_s_validator_catches_a_wrong_request_shape():
    params = spec.task_definition(settings(), IMAGE)
    params["containerDefinitions"][0]["stopTimeout"] = "30"
    model = get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    assert ParamValidator().validate(params, shape).has_errors()


@pytest.mark.parametrize("cpu, memory", [("256", "4096"), ("1024", "1024"), ("3", "8")])
def test_a_task_size_fargate_does_not_offer_is_refused_before_anything_is_created(
    cpu, memory
):
    with pytest.raises(SettingsError, match="Fargate has no task size"):
        settings(ECS_CPU=cpu, ECS_MEMORY=memory)


def test_every_fargate_size_the_table_lists_is_accepted():
    for cpu, memories in spec.FARGATE_SIZES.items():
        for memory in (memories[0], memories[-1]):
            assert settings(ECS_CPU=str(cpu), ECS_MEMORY=str(memory)).memory == memory


def test_missing_settings_are_named_all_at_once():
    env = {k: v for k, v in BASE.items() if k not in ("ECS_VPC_ID", "ECS_SUBNETS")}
    with pytest.raises(SettingsError, match="ECS_VPC_ID, ECS_SUBNETS"):
        DeploySettings.from_env(env)


def test_the_task_keeps_dvc_credentials_out_of_its_definition():
    request = spec.task_definition(settings(), IMAGE)
    container = request["containerDefinitions"][0]
    names = {e["name"] for e in container["environment"]}
    assert not any("SECRET" in n or "ACCESS_KEY" in n for n in names)
    assert {s["name"] for s in container["secrets"]} == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    assert all(s["valueFrom"].startswith(BASE["DVC_SECRET_ARN"] + ":") for s in
               container["secrets"])  # fmt: skip


def test_the_task_runs_on_fargate_with_awsvpc_awslogs_and_a_health_check():
    request = spec.task_definition(settings(), IMAGE)
    container = request["containerDefinitions"][0]
    assert request["networkMode"] == "awsvpc"
    assert request["requiresCompatibilities"] == ["FARGATE"]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["healthCheck"]["command"][0] == "CMD"
    assert "/health" in container["healthCheck"]["command"][-1]


# ---- the wiring, against moto ---------------------------------------------------------


@pytest.fixture
def aws(monkeypatch):
    """moto's fake AWS with a VPC, two subnets, security groups and the DVC secret."""
    moto = pytest.importorskip("moto")
    import boto3

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        session = boto3.session.Session(region_name=REGION)
        ec2 = session.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}"
            )["Subnet"]["SubnetId"]
            for i, z in enumerate("ab")
        ]
        groups = [
            ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"]
            for n in ("alb", "task")
        ]
        secret = session.client("secretsmanager").create_secret(
            Name="dvc", SecretString='{"AWS_ACCESS_KEY_ID": "x"}'
        )["ARN"]
        s = settings(
            ECS_VPC_ID=vpc,
            ECS_SUBNETS=",".join(subnets),
            ECS_ALB_SECURITY_GROUPS=groups[0],
            ECS_TASK_SECURITY_GROUPS=groups[1],
            DVC_SECRET_ARN=secret,
        )
        clients = ecs.clients(REGION, session)
        calls: list[str] = []
        for client in clients.values():
            client.meta.events.register(
                "before-call.*.*",
                lambda model, **_: calls.append(model.name),
            )
        yield s, clients, calls


def test_a_first_deploy_creates_everything_in_order(aws):
    s, clients, calls = aws
    done = ecs.deploy(s, IMAGE, clients, say=lambda _: None)
    assert done.created_service
    order = [
        "CreateRepository",
        "CreateLogGroup",
        "RegisterTaskDefinition",
        "CreateTargetGroup",
        "CreateLoadBalancer",
        "CreateListener",
        "CreateService",
        "RegisterScalableTarget",
        "PutScalingPolicy",
    ]
    assert [c for c in calls if c in order] == order
    service = clients["ecs"].describe_services(cluster=s.cluster, services=[s.app])
    (svc,) = service["services"]
    assert svc["desiredCount"] == s.desired_count
    assert svc["taskDefinition"] == done.task_definition_arn
    assert svc["loadBalancers"][0]["targetGroupArn"] == done.target_group_arn
    group = clients["elbv2"].describe_target_groups(
        TargetGroupArns=[done.target_group_arn]
    )["TargetGroups"][0]
    assert group["TargetType"] == "ip" and group["HealthCheckPath"] == "/health"


def test_a_second_deploy_rolls_the_service_to_the_new_revision(aws):
    s, clients, calls = aws
    first = ecs.deploy(s, IMAGE, clients, say=lambda _: None)
    calls.clear()
    second = ecs.deploy(s, IMAGE.replace("abc123", "def456"), clients, say=print)
    assert not second.created_service
    assert first.task_definition_arn.endswith(":1")
    assert second.task_definition_arn.endswith(":2")
    assert "CreateService" not in calls and "CreateRepository" not in calls
    assert "CreateLoadBalancer" not in calls and "CreateTargetGroup" not in calls
    (svc,) = clients["ecs"].describe_services(cluster=s.cluster, services=[s.app])[
        "services"
    ]
    assert svc["taskDefinition"] == second.task_definition_arn
    task = clients["ecs"].describe_task_definition(
        taskDefinition=second.task_definition_arn
    )["taskDefinition"]
    assert task["containerDefinitions"][0]["image"].endswith(":def456")


def test_the_service_is_registered_for_autoscaling_by_its_resource_id(aws):
    s, clients, _ = aws
    ecs.deploy(s, IMAGE, clients, say=lambda _: None)
    autoscaling = clients["application-autoscaling"]
    (target,) = autoscaling.describe_scalable_targets(ServiceNamespace="ecs")[
        "ScalableTargets"
    ]
    assert target["ResourceId"] == f"service/{s.cluster}/{s.app}"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (
        s.desired_count,
        s.max_count,
    )
    (policy,) = autoscaling.describe_scaling_policies(ServiceNamespace="ecs")[
        "ScalingPolicies"
    ]
    assert policy["PolicyType"] == "TargetTrackingScaling"


def test_a_missing_dvc_secret_stops_the_deploy_before_the_task_is_registered(aws):
    s, clients, calls = aws
    bad = DeploySettings(**{**s.__dict__, "dvc_secret_arn": s.dvc_secret_arn + "x"})
    with pytest.raises(Exception, match="ResourceNotFound|can't find"):
        ecs.deploy(bad, IMAGE, clients, say=lambda _: None)
    assert "RegisterTaskDefinition" not in calls
