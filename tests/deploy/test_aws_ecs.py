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
    "API_TOKEN_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:token-AbCdEf",
    "ECS_CERTIFICATE_ARN": "arn:aws:acm:eu-west-1:123456789012:certificate/1234",
}


def settings(**overrides: str) -> DeploySettings:
    return DeploySettings.from_env({**BASE, **overrides})


def requests_of(s: DeploySettings) -> list[tuple[str, str, dict]]:
    """(service, operation, params) of every request the deploy builds."""
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/x/1"
    lb = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/1"
    task = "arn:aws:ecs:eu-west-1:123456789012:task-definition/census-service:1"
    listener = f"{lb.replace(':loadbalancer/', ':listener/')}/1"
    listeners = spec.listeners(s, lb, arn)
    return [
        ("ecr", "CreateRepository", spec.repository(s)),
        ("logs", "CreateLogGroup", spec.log_group(s)),
        ("logs", "PutRetentionPolicy", spec.log_retention(s)),
        ("ecs", "RegisterTaskDefinition", spec.task_definition(s, IMAGE)),
        ("elbv2", "CreateTargetGroup", spec.target_group(s)),
        ("elbv2", "ModifyTargetGroupAttributes", spec.target_group_attributes(arn)),
        ("elbv2", "CreateLoadBalancer", spec.load_balancer(s)),
        *[("elbv2", "CreateListener", request) for request in listeners],
        *[("elbv2", "ModifyListener", spec.modified_listener(listener, request))
          for request in listeners],  # fmt: skip
        ("ecs", "CreateService", spec.create_service(s, task, arn)),
        ("ecs", "UpdateService", spec.update_service(s, task)),
        ("application-autoscaling", "RegisterScalableTarget", spec.scalable_target(s)),
        ("application-autoscaling", "PutScalingPolicy", spec.scaling_policy(s)),
    ]


@pytest.mark.parametrize(
    "service, operation, params",
    requests_of(settings())
    + requests_of(settings(ECS_CERTIFICATE_ARN="", ECS_HTTP_ONLY="true")),
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


def test_the_task_keeps_dvc_credentials_and_the_api_token_out_of_its_definition():
    request = spec.task_definition(settings(), IMAGE)
    container = request["containerDefinitions"][0]
    names = {e["name"] for e in container["environment"]}
    assert not any("SECRET" in n or "ACCESS_KEY" in n or "TOKEN" in n for n in names)
    found = {s["name"]: s["valueFrom"] for s in container["secrets"]}
    assert found.pop("API_TOKEN") == BASE["API_TOKEN_ARN"]
    assert set(found) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert all(v.startswith(BASE["DVC_SECRET_ARN"] + ":") for v in found.values())


def test_the_api_token_comes_from_its_secret_even_without_dvc_keys():
    container = spec.task_definition(settings(DVC_SECRET_ARN=""), IMAGE)[
        "containerDefinitions"
    ][0]
    assert container["secrets"] == [
        {"name": "API_TOKEN", "valueFrom": BASE["API_TOKEN_ARN"]}
    ]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"ECS_CERTIFICATE_ARN": ""},
            "set ECS_CERTIFICATE_ARN .* or ECS_HTTP_ONLY=true",
        ),
        ({"API_TOKEN_ARN": ""}, "set API_TOKEN_ARN"),
        ({"API_TOKEN_ARN": "my-token"}, "API_TOKEN_ARN must be the ARN of a Secrets"),
        ({"ECS_HTTP_ONLY": "yes"}, "ECS_HTTP_ONLY is true or false"),
    ],
)
def test_a_deploy_without_tls_or_a_token_secret_is_refused_naming_the_setting(
    overrides, message
):
    with pytest.raises(SettingsError, match=message) as caught:
        settings(**overrides)
    assert "\n" not in str(caught.value)


def test_the_https_listener_holds_the_certificate_and_http_only_redirects_to_it():
    lb, group = "arn:lb", "arn:tg"
    https, http = spec.listeners(settings(), lb, group)
    assert (https["Protocol"], https["Port"]) == ("HTTPS", 443)
    assert https["Certificates"] == [{"CertificateArn": BASE["ECS_CERTIFICATE_ARN"]}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert https["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": group}]
    assert (http["Protocol"], http["Port"]) == ("HTTP", 80)
    (action,) = http["DefaultActions"]
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"] == {
        "Protocol": "HTTPS",
        "Port": "443",
        "StatusCode": "HTTP_301",
    }


def test_only_the_explicit_opt_out_serves_plain_http():
    s = settings(ECS_CERTIFICATE_ARN="", ECS_HTTP_ONLY="true")
    (http,) = spec.listeners(s, "arn:lb", "arn:tg")
    assert (http["Protocol"], http["Port"]) == ("HTTP", 80)
    assert http["DefaultActions"][0]["Type"] == "forward"


def test_the_deploy_command_names_a_missing_certificate_in_one_line(
    tmp_path, monkeypatch, capsys
):
    env = {k: v for k, v in BASE.items() if k != "ECS_CERTIFICATE_ARN"}
    (tmp_path / "settings.env").write_text(
        "".join(f"{k}={v}\n" for k, v in env.items())
    )
    for key in (*BASE, "ECS_HTTP_ONLY"):
        monkeypatch.delenv(key, raising=False)
    code = ecs.main(["--settings", str(tmp_path / "settings.env"), "--image", IMAGE])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("deploy-aws: set ECS_CERTIFICATE_ARN")


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
        secretsmanager = session.client("secretsmanager")
        secret = secretsmanager.create_secret(
            Name="dvc", SecretString='{"AWS_ACCESS_KEY_ID": "x"}'
        )["ARN"]
        token = secretsmanager.create_secret(Name="token", SecretString="t0ken")["ARN"]
        certificate = session.client("acm").request_certificate(
            DomainName="census.example.com"
        )["CertificateArn"]
        s = settings(
            ECS_VPC_ID=vpc,
            ECS_SUBNETS=",".join(subnets),
            ECS_ALB_SECURITY_GROUPS=groups[0],
            ECS_TASK_SECURITY_GROUPS=groups[1],
            DVC_SECRET_ARN=secret,
            API_TOKEN_ARN=token,
            ECS_CERTIFICATE_ARN=certificate,
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


def listeners_by_port(clients, s) -> dict[int, dict]:
    elbv2 = clients["elbv2"]
    (lb,) = elbv2.describe_load_balancers(Names=[s.app])["LoadBalancers"]
    found = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])
    return {listener["Port"]: listener for listener in found["Listeners"]}


def test_the_alb_serves_https_with_the_certificate_and_redirects_http(aws):
    s, clients, _ = aws
    done = ecs.deploy(s, IMAGE, clients, say=lambda _: None)
    found = listeners_by_port(clients, s)
    assert set(found) == {443, 80}
    assert found[443]["Protocol"] == "HTTPS"
    assert found[443]["Certificates"][0]["CertificateArn"] == s.certificate_arn
    assert found[443]["DefaultActions"][0]["TargetGroupArn"] == done.target_group_arn
    assert found[80]["DefaultActions"][0]["Type"] == "redirect"


def test_a_redeploy_turns_an_earlier_plain_http_listener_into_a_redirect(aws):
    s, clients, calls = aws
    plain = DeploySettings(**{**s.__dict__, "certificate_arn": "", "http_only": "true"})
    ecs.deploy(plain, IMAGE, clients, say=lambda _: None)
    assert listeners_by_port(clients, s)[80]["DefaultActions"][0]["Type"] == "forward"
    ecs.deploy(s, IMAGE, clients, say=lambda _: None)
    found = listeners_by_port(clients, s)
    assert set(found) == {443, 80} and "ModifyListener" in calls
    assert found[80]["DefaultActions"][0]["Type"] == "redirect"


def test_the_task_definition_aws_keeps_reads_the_token_from_its_secret(aws):
    s, clients, _ = aws
    done = ecs.deploy(s, IMAGE, clients, say=lambda _: None)
    task = clients["ecs"].describe_task_definition(
        taskDefinition=done.task_definition_arn
    )["taskDefinition"]
    found = {
        x["name"]: x["valueFrom"] for x in task["containerDefinitions"][0]["secrets"]
    }
    assert found["API_TOKEN"] == s.api_token_arn


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


@pytest.mark.parametrize("where", ["secretsmanager", "ssm"])
def test_a_missing_token_secret_stops_the_deploy_before_the_task_is_registered(
    aws, where
):
    s, clients, calls = aws
    arn = s.api_token_arn + "x"
    if where == "ssm":
        arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/census/missing"
    bad = DeploySettings(**{**s.__dict__, "api_token_arn": arn})
    with pytest.raises(Exception, match="ResourceNotFound|can't find|no SSM parameter"):
        ecs.deploy(bad, IMAGE, clients, say=lambda _: None)
    assert "RegisterTaskDefinition" not in calls


def test_a_token_in_an_ssm_parameter_is_found_by_its_arn(aws):
    s, clients, _ = aws
    clients["ssm"].put_parameter(Name="/census/token", Value="t", Type="SecureString")
    arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/census/token"
    good = DeploySettings(**{**s.__dict__, "api_token_arn": arn})
    done = ecs.deploy(good, IMAGE, clients, say=lambda _: None)
    assert done.created_service


def test_a_missing_dvc_secret_stops_the_deploy_before_the_task_is_registered(aws):
    s, clients, calls = aws
    bad = DeploySettings(**{**s.__dict__, "dvc_secret_arn": s.dvc_secret_arn + "x"})
    with pytest.raises(Exception, match="ResourceNotFound|can't find"):
        ecs.deploy(bad, IMAGE, clients, say=lambda _: None)
    assert "RegisterTaskDefinition" not in calls
