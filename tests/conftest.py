"""Shared fixtures: a tiny model trained by the real pipeline code, the app, its client.

The suite runs on the data set params.yaml configures, or on another with
`pytest --params examples/german_credit/params.yaml` (`make test-example`). The model is
trained once per session on a sample of that data (testkit/sample.py) with small
hyperparameters: the same code path as `make train`, in seconds. Tests that only hold
for one data set carry `@pytest.mark.dataset("<project name>")` and are skipped on others.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.markers import NEEDS_MODEL, needs_model, task_skip_reason
from testkit.markers import pytest_runtest_makereport  # noqa: F401 (CI: no silent skip)
from testkit.sample import sample_project, tiny_params, train_project
from training.config import Paths, load_params
from training.params import Params, load


def configured_params(config) -> dict:
    return load_params(config.getoption("--params"))


def proves_a_deploy_target(item) -> bool:
    """A test of tests/deploy/ proves a target, unless its module says it tests plain code."""
    module = getattr(item, "module", None)
    return "tests/deploy/" in item.nodeid and getattr(module, "PLATFORM", True)


def pytest_collection_modifyitems(config, items):
    features = load(config.getoption("--params")).features
    name = features.name
    for item in items:
        if NEEDS_MODEL & set(item.fixturenames):
            item.add_marker(pytest.mark.needs_model)
        if "tests/data/" in item.nodeid:
            item.add_marker(pytest.mark.needs_data)
        if proves_a_deploy_target(item):
            item.add_marker(pytest.mark.platform)
        for mark in item.iter_markers("task"):
            reason = task_skip_reason(mark.args, features.task)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
        for mark in item.iter_markers("dataset"):
            if name not in mark.args:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"holds for {', '.join(mark.args)}, not {name}"
                    )
                )


@pytest.fixture(scope="session")
def full_params(pytestconfig) -> dict:
    """The configured params as they are."""
    return configured_params(pytestconfig)


@pytest.fixture(scope="session")
def params(full_params) -> dict:
    """The configured params with quick training settings."""
    return tiny_params(full_params)


@pytest.fixture(scope="session")
def typed(params) -> Params:
    """The quick training params, typed as the stages take them."""
    return Params.from_dict(params)


@pytest.fixture(scope="session")
@needs_model
def sampled(tmp_path_factory, params) -> Paths:
    """A project tree whose processed data is a sample of the configured data set."""
    return sample_project(tmp_path_factory.mktemp("project"), params)


@pytest.fixture(scope="session")
def trained(sampled, params) -> Paths:
    """The sample project with a model trained on it (build/fitted, model/, reports/)."""
    return train_project(sampled, params)


@pytest.fixture(scope="session")
@needs_model
def task_models(tmp_path_factory):
    """The bundle dir of a model trained on testkit/tasks.py's made-up CSV of a task
    (multiclass, regression), by make init's params and the real stages; once each."""
    from testkit.tasks import trained_task

    made: dict[str, Path] = {}

    def model_of(task: str) -> Path:
        if task not in made:
            root = tmp_path_factory.mktemp(task)
            made[task] = trained_task(root, task).model_dir
        return made[task]

    return model_of


@pytest.fixture(scope="session")
def model_dir(trained) -> Path:
    return trained.model_dir


@pytest.fixture(scope="session")
def loaded_model(model_dir):
    from bundle.store import load_bundle

    return load_bundle(model_dir)


@pytest.fixture(scope="session")
def example_record(loaded_model) -> dict:
    """A record the model scores: the positive example's (binary), else the task's first."""
    return dict(loaded_model.metadata.examples.record)


@pytest.fixture
def app(loaded_model):
    from service import create_app
    from service.settings import Settings

    return create_app(
        {"TESTING": True, "BATCH_LIMIT": 50}, model=loaded_model, settings=Settings()
    )


@pytest.fixture
def client(app):
    return app.test_client()
