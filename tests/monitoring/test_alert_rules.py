"""The generated alerting rules, unit-tested by `promtool test rules` on made-up series,
and the dashboard: both name only metrics the service exposes.

promtool comes from Debian's `prometheus` package, installed when missing and possible;
in CI (CI=true) a missing promtool fails the test rather than skipping it.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from bundle.format import Project
from monitoring import alerts
from testkit.prometheus import find_or_install
from testkit.tools import required

SERIES = 'job="svc", instance="a"'


@pytest.fixture(scope="module")
def promtool() -> str:
    return required("promtool", find_or_install("promtool"))


@pytest.fixture(scope="module")
def project(full_params) -> Project:
    p = full_params.get("project") or {}
    return Project(str(p.get("name") or "model"), "")


def annotations(rule_set: dict, name: str, **labels: str) -> dict[str, str]:
    """An alert's annotations with their {{ $labels.x }} filled in, as promtool expands
    them."""
    rule = next(
        r for g in rule_set["groups"] for r in g["rules"] if r.get("alert") == name
    )
    return {
        key: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        for key, text in rule["annotations"].items()
    }


def summary(rule_set: dict, name: str, **labels: str) -> str:
    """An alert's summary with its {{ $labels.x }} filled in, as promtool expands it."""
    return annotations(rule_set, name, **labels)["summary"]


def expected(rule_set, name: str, severity: str, **labels: str) -> dict:
    return {
        "exp_labels": {"severity": severity, "job": "svc", "instance": "a", **labels},
        "exp_annotations": annotations(rule_set, name, **labels),
    }


def test_the_drift_alerts_say_how_to_start_the_retraining_loop(project):
    rule_set = alerts.rules(project.slug, project.name)
    for name in ("ModelFeatureDrift", "ModelPredictionDrift"):
        assert (
            "make challenger" in annotations(rule_set, name, feature="f")["description"]
        )
    assert "description" not in annotations(rule_set, "ModelServiceErrorRate")


def cases(ns: str, rule_set: dict) -> list[dict]:
    """Made-up series over an hour, and which alerts must (not) fire when."""
    req, lat = f"{ns}_http_requests_total", f"{ns}_http_request_duration_seconds_bucket"
    # Two bins per feature, half the training data in each. f1 and the prediction move
    # to 90/10 from minute 10; f2 stays put. 50 records a minute.
    drift = [(f"{ns}_monitored_records_total{{{SERIES}}}", "0+50x65")]
    for what, key in (("feature", 'feature="f1", '), ("prediction", "")):
        drift += [
            (
                f'{ns}_{what}_bin_records_total{{{SERIES}, {key}bin="a"}}',
                "0+25x10 250+45x55",
            ),
            (
                f'{ns}_{what}_bin_records_total{{{SERIES}, {key}bin="b"}}',
                "0+25x10 250+5x55",
            ),
        ]
    drift += [
        (
            f'{ns}_feature_bin_records_total{{{SERIES}, feature="f2", bin="{b}"}}',
            "0+25x65",
        )
        for b in "ab"
    ]
    drift += [
        (f'{ns}_{what}_reference_share{{{SERIES}, {key}bin="{b}"}}', "0.5x65")
        for what, key in (
            ("feature", 'feature="f1", '),
            ("feature", 'feature="f2", '),
            ("prediction", ""),
        )
        for b in "ab"
    ]
    far = f'{SERIES}, feature="g", value="far"'
    few = f'{SERIES}, feature="g", value="few"'
    noisy = f'{SERIES}, feature="g", value="noisy"'
    slices = [
        (f"{ns}_slice_positive_rate{{{far}}}", "0.5x65"),
        (f"{ns}_slice_reference_positive_rate{{{far}}}", "0.3x65"),
        (f"{ns}_slice_positive_rate_z{{{far}}}", "6x65"),
        (f"{ns}_slice_records_total{{{far}}}", "0+20x65"),
        (f"{ns}_slice_positive_rate{{{few}}}", "0.5x65"),
        (f"{ns}_slice_reference_positive_rate{{{few}}}", "0.3x65"),
        (f"{ns}_slice_positive_rate_z{{{few}}}", "6x65"),
        (f"{ns}_slice_records_total{{{few}}}", "0+1x65"),
        (f"{ns}_slice_positive_rate{{{noisy}}}", "0.5x65"),
        (f"{ns}_slice_reference_positive_rate{{{noisy}}}", "0.3x65"),
        (f"{ns}_slice_positive_rate_z{{{noisy}}}", "2x65"),
        (f"{ns}_slice_records_total{{{noisy}}}", "0+20x65"),
    ]
    route = f'{SERIES}, method="POST", route="/predict"'
    # 100 requests a minute; from minute 20, 10 of them fail; from minute 20 they are
    # slow (all above 1 s).
    traffic = [
        (f'{req}{{{route}, status="200"}}', "0+100x20 2000+90x45"),
        (f'{req}{{{route}, status="500"}}', "0x20 0+10x45"),
        (f'{lat}{{{route}, status="200", le="0.1"}}', "0+100x20 2000x45"),
        (f'{lat}{{{route}, status="200", le="1.0"}}', "0+100x20 2000x45"),
        (f'{lat}{{{route}, status="200", le="+Inf"}}', "0+100x20 2000+90x45"),
    ]
    # Records scored for 10 minutes, then none.
    quiet = [(f"{ns}_monitored_records_total{{{SERIES}}}", "0+50x10 500x60")]
    series = lambda pairs: [{"series": s, "values": v} for s, v in pairs]  # noqa: E731
    e = lambda *a, **k: expected(rule_set, *a, **k)  # noqa: E731
    return [
        {
            "interval": "1m",
            "input_series": series(drift + slices + traffic),
            "alert_rule_test": [
                {"eval_time": "8m", "alertname": "ModelFeatureDrift", "exp_alerts": []},
                {
                    "eval_time": "30m",
                    "alertname": "ModelFeatureDrift",
                    "exp_alerts": [],
                },
                {
                    "eval_time": "45m",
                    "alertname": "ModelFeatureDrift",
                    "exp_alerts": [e("ModelFeatureDrift", "ticket", feature="f1")],
                },
                {
                    "eval_time": "45m",
                    "alertname": "ModelPredictionDrift",
                    "exp_alerts": [e("ModelPredictionDrift", "ticket")],
                },
                {
                    "eval_time": "40m",
                    "alertname": "ModelSlicePositiveRate",
                    "exp_alerts": [
                        e("ModelSlicePositiveRate", "ticket", feature="g", value="far")
                    ],
                },
                {
                    "eval_time": "15m",
                    "alertname": "ModelServiceErrorRate",
                    "exp_alerts": [],
                },
                {
                    "eval_time": "40m",
                    "alertname": "ModelServiceErrorRate",
                    "exp_alerts": [e("ModelServiceErrorRate", "page")],
                },
                {
                    "eval_time": "15m",
                    "alertname": "ModelServiceLatencyP99",
                    "exp_alerts": [],
                },
                {
                    "eval_time": "40m",
                    "alertname": "ModelServiceLatencyP99",
                    "exp_alerts": [
                        e("ModelServiceLatencyP99", "page", route="/predict")
                    ],
                },
                {
                    "eval_time": "60m",
                    "alertname": "ModelServiceNoTraffic",
                    "exp_alerts": [],
                },
            ],
        },
        {
            "interval": "1m",
            "input_series": series(quiet),
            "alert_rule_test": [
                {
                    "eval_time": "20m",
                    "alertname": "ModelServiceNoTraffic",
                    "exp_alerts": [],
                },
                {
                    "eval_time": "60m",
                    "alertname": "ModelServiceNoTraffic",
                    "exp_alerts": [e("ModelServiceNoTraffic", "ticket")],
                },
            ],
        },
    ]


def test_promtool_checks_the_generated_rules_and_their_unit_tests_pass(
    promtool, project, tmp_path
):
    rule_set = alerts.rules(project.slug, project.name)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rule_set))
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": cases(project.slug, rule_set),
    }
    (tmp_path / "alerts.test.yml").write_text(yaml.safe_dump(tests))
    for command in (
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ):
        done = subprocess.run(
            [promtool, *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def metric_names(expr: str, ns: str) -> set[str]:
    return set(re.findall(rf"\b{ns}_[a-z_]+", expr))


def exposed(client, ns: str) -> set[str]:
    text = client.get("/metrics").get_data(as_text=True)
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line.startswith(ns)
    }


# A binary model's positive-rate alerts; the tasks': test_task_monitoring.py.
@pytest.mark.task("binary")
@pytest.mark.parametrize("shadow", [False, True], ids=["no shadow", "a shadow"])
def test_rules_and_dashboard_query_only_metrics_the_service_exposes(
    loaded_model, held_out, shadow
):
    from service import create_app
    from service.settings import Settings
    from testkit.shadow import wait_shadow_scored

    ns, name = loaded_model.metadata.project.slug, loaded_model.metadata.project.name
    # The model shadowing itself exposes every shadow family.
    settings = Settings(
        shadow_model_dir=str(loaded_model.path) if shadow else "",
        shadow_sample_rate=1.0,
    )
    client = create_app(
        {"TESTING": True}, model=loaded_model, settings=settings
    ).test_client()
    client.post("/predict/batch", json={"records": held_out[:20]})
    client.post("/predict", json=held_out[0])
    if shadow:
        wait_shadow_scored(client, 21)
    names = exposed(client, ns)
    rule_exprs = [
        r["expr"] for g in alerts.rules(ns, name)["groups"] for r in g["rules"]
    ]
    board = alerts.dashboard(ns, name, shadow=shadow)
    # The shadow's row is always there: collapsed, unless opened for a running shadow.
    (row,) = [p for p in board["panels"] if p["type"] == "row"]
    assert row["title"] == alerts.SHADOW_ROW and row["collapsed"] is not shadow
    shown = [p for p in [*board["panels"], *row["panels"]] if p["type"] != "row"]
    assert sum("shadow" in p["title"].lower() for p in shown) == 4
    board_exprs = alerts.queries(board)
    assert board_exprs == [t["expr"] for p in shown for t in p["targets"]]
    used = set().union(*(metric_names(e, ns) for e in rule_exprs + board_exprs))
    unexposed = {n for n in used - names if not n.startswith(f"{ns}_shadow_")}
    assert used and not unexposed, sorted(unexposed)
    # Without a shadow, only its row's panels query what the service does not expose.
    assert (used <= names) == shadow, sorted(used - names)
    json.dumps(board)  # serialisable as the file Grafana imports


def class_rate_cases(ns: str, rule_set: dict) -> list[dict]:
    """A multiclass model's slice series: a class far from training over enough
    records fires; the same over too few records, or within 4 standard errors, does
    not, nor does another class of the far slice."""
    series = []
    for value, z, per_minute in (("far", 6, 20), ("few", 6, 1), ("noisy", 2, 20)):
        key = f'{SERIES}, feature="g", value="{value}"'
        series.append((f"{ns}_slice_records_total{{{key}}}", f"0+{per_minute}x65"))
        for cls, rate, z_of in (("whale", 0.5, z), ("mid", 0.3, 0)):
            labels = f'{key}, class="{cls}"'
            series += [
                (f"{ns}_slice_class_rate{{{labels}}}", f"{rate}x65"),
                (f"{ns}_slice_reference_class_rate{{{labels}}}", "0.3x65"),
                (f"{ns}_slice_class_rate_z{{{labels}}}", f"{z_of}x65"),
            ]
    fired = expected(
        rule_set,
        "ModelSliceClassRate",
        "ticket",
        feature="g",
        value="far",
        **{"class": "whale"},
    )
    return [
        {
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series],
            "alert_rule_test": [
                {
                    "eval_time": "5m",
                    "alertname": "ModelSliceClassRate",
                    "exp_alerts": [],
                },
                {
                    "eval_time": "40m",
                    "alertname": "ModelSliceClassRate",
                    "exp_alerts": [fired],
                },
            ],
        }
    ]


def test_promtool_fires_a_multiclass_class_rate_alert_only_where_far_over_enough_records(
    promtool, project, tmp_path
):
    rule_set = alerts.rules(project.slug, project.name, task="multiclass")
    names = {r.get("alert") for g in rule_set["groups"] for r in g["rules"]}
    assert "ModelSliceClassRate" in names and "ModelSlicePositiveRate" not in names
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rule_set))
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": class_rate_cases(project.slug, rule_set),
    }
    (tmp_path / "alerts.test.yml").write_text(yaml.safe_dump(tests))
    for command in (
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ):
        done = subprocess.run(
            [promtool, *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
