"""Shared fixtures: a tiny model trained by the real pipeline code, the app, its client.

The model is trained once per test session on tests/fixtures (2,000 + 800 rows of the
cleaned census data) with small hyperparameters: the same code path as `make train`,
in a few seconds.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from training.config import Paths, load_params

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def tiny_params() -> dict:
    """params.yaml with a two-fold CV and small candidates."""
    params = copy.deepcopy(load_params())
    params["train"]["cv_folds"] = 2
    params["train"]["candidates"] = {
        "logistic_regression": {
            "estimator": "logistic_regression",
            "params": {"C": 1.0, "max_iter": 500},
        },
        "gradient_boosting": {
            "estimator": "gradient_boosting",
            "params": {"n_estimators": 30, "max_depth": 3},
        },
    }
    return params


def sample_project(root: Path) -> Paths:
    """A project tree whose processed data is the test sample."""
    paths = Paths(root=root)
    paths.processed.mkdir(parents=True)
    for name in ("train", "test"):
        shutil.copy(FIXTURES / f"{name}.csv", paths.processed / f"{name}.csv")
    return paths


@pytest.fixture(scope="session")
def params() -> dict:
    return tiny_params()


@pytest.fixture(scope="session")
def trained(tmp_path_factory, params) -> Paths:
    """A project tree with a model trained on the sample (model/ and reports/)."""
    from training.train import train

    paths = sample_project(tmp_path_factory.mktemp("project"))
    train(paths, params)
    return paths


@pytest.fixture(scope="session")
def model_dir(trained) -> Path:
    return trained.model_dir


@pytest.fixture(scope="session")
def loaded_model(model_dir):
    from service.model_store import load_model

    return load_model(model_dir)


@pytest.fixture(scope="session")
def example_record(loaded_model) -> dict:
    return dict(loaded_model.metadata["example"]["record"])


@pytest.fixture
def app(loaded_model):
    from service import create_app

    return create_app({"TESTING": True, "BATCH_LIMIT": 50}, model=loaded_model)


@pytest.fixture
def client(app):
    return app.test_client()
