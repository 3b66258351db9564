"""Fixtures for the monitoring tests: the reference profile and live-like traffic."""

from __future__ import annotations

import pytest

from monitoring.profile import read_profile
from testkit.traffic import (
    csv_records,
    in_distribution_split,
    shift,
    shift_amount,
    shifted_feature,
)

RECORDS = 2000


@pytest.fixture(scope="session")
def profile(loaded_model):
    found = read_profile(loaded_model)
    assert found is not None, "the trained bundle has no reference profile"
    return found


@pytest.fixture(scope="session")
def held_out(trained, loaded_model, profile) -> list[dict]:
    """2,000 in-distribution records: the held-out split as API records (the training
    split when the held-out one is too small to read as undrifted)."""
    split = in_distribution_split(trained.processed, profile)
    return csv_records(split, loaded_model.features, RECORDS)


@pytest.fixture(scope="session")
def moved(loaded_model, profile):
    """The feature the drift tests shift, and by how much (or to which category)."""
    rule = shifted_feature(loaded_model.features, profile)
    return rule, shift_amount(rule, profile)


@pytest.fixture(scope="session")
def drifted(held_out, moved) -> list[dict]:
    """The same records with one feature shifted."""
    rule, amount = moved
    return shift(held_out, rule, amount)
