"""One catalogue of metric names: the service, the alert rules and the docs agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bundle.store import load_bundle
from monitoring import alerts
from monitoring.catalogue import CATALOGUE, HISTOGRAM, markdown_table, of_task
from service import create_app
from service.settings import Settings
from testkit.shadow import wait_shadow_scored

ROOT = Path(__file__).resolve().parents[2]
NS = "ns"


def test_the_monitoring_doc_lists_exactly_the_catalogue():
    doc = (ROOT / "docs" / "monitoring.md").read_text()
    assert markdown_table() in doc


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_metric_on_the_metrics_page_is_in_the_task_s_catalogue_and_back(
    request, task, tmp_path
):
    # Each task's own model (made-up data): the configured data set may be of any task.
    model = load_bundle(request.getfixturevalue("task_models")(task))
    settings = Settings(
        capture_enabled=True,
        capture_destination=str(tmp_path / "capture.jsonl"),
        shadow_model_dir=str(model.path),  # the model shadowing itself: every metric
        shadow_sample_rate=1.0,
    )
    app = create_app({"TESTING": True}, model=model, settings=settings)
    client = app.test_client()
    records = [e.record for e in model.metadata.examples.scored()]
    response = client.post("/predict/batch", json={"records": records})
    assert response.status_code == 200
    wait_shadow_scored(client, len(records))
    text = client.get("/metrics").get_data(as_text=True)
    namespace = model.metadata.project.slug
    # prometheus_client's own `*_created` timestamps are not metrics of the service.
    exposed = {
        (family.name, family.type, family.documentation)
        for family in text_string_to_metric_families(text)
        if not family.name.endswith("_created")
    }
    listed = {(m.name(namespace), m.kind, m.help) for m in of_task(task)}
    assert exposed == listed


def promql_names(text: str) -> set[str]:
    """The metric names a PromQL text reads, in namespace NS."""
    return set(re.findall(rf"\b{NS}_[a-z_]+", text))


def catalogue_series() -> set[str]:
    names = set()
    for m in CATALOGUE:
        parts = ("bucket", "sum", "count") if m.kind == HISTOGRAM else ("",)
        names |= {m.series(NS, part) for part in parts}
    return names


def test_the_alert_rules_and_dashboard_read_only_catalogue_metrics():
    text = yaml.safe_dump(alerts.rules(NS, "p")) + str(
        alerts.dashboard(NS, "p", shadow=True)
    )
    read = promql_names(text)
    assert read, "no metric found in the rules"
    assert read <= catalogue_series(), read - catalogue_series()
